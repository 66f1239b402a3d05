package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	neturl "net/url"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/sync/errgroup"

	"github.com/vitalchain/vitalchain/cloud"
	"github.com/vitalchain/vitalchain/cloud/cloudapi"
	"github.com/vitalchain/vitalchain/cloud/pebblestore"
	"github.com/vitalchain/vitalchain/cloud/pgstore"
	"github.com/vitalchain/vitalchain/codec"
	"github.com/vitalchain/vitalchain/envelope"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/internal/testbed"
	"github.com/vitalchain/vitalchain/record"
	"github.com/vitalchain/vitalchain/vital"
)

const ingestWarmUp = 2 * time.Second

// IngestOptions configure Ingest.
type IngestOptions struct {
	Duration   time.Duration // the measured window, after a warm-up
	WarmUp     time.Duration // before each store's first window (default 2 s); later turns warm up half as long
	Batch      int           // records per upload request, 1 to cloudapi.MaxUploadRecords
	Uploaders  int           // concurrent uploaders
	Patients   int           // patients whose records are uploaded
	Dir        string        // the ledger's and the cloud's data ("": a temporary directory, removed at the end)
	CPUProfile string        // a file for a CPU profile of the Pebble store's (first) measured window ("": none)
	Progress   io.Writer     // progress lines (nil: none)
	// Postgres, if not "", is a PostgreSQL database (a postgres:// URL) on
	// which the same records are uploaded to a second cloud, in turns with
	// the Pebble one; its figures are reported beside Pebble's. The run
	// uses a schema of its own in that database, dropped at the end.
	Postgres string
}

// IngestResult is what Ingest measured ('vitalchain bench ingest --json').
// Its first figures are the Pebble store's.
type IngestResult struct {
	DurationS         float64             `json:"duration_s"`
	RecordsPerS       float64             `json:"records_per_s"`
	AckLatencyMs      testbed.Percentiles `json:"ack_latency_ms"` // per upload request
	Records           int64               `json:"records"`
	Refused           int64               `json:"refused"`
	Ed25519VerifyPerS float64             `json:"ed25519_verify_per_s"`
	Ed25519VerifyCore float64             `json:"ed25519_verify_per_s_one_core"`
	Ratio             float64             `json:"ratio"` // records/s per Ed25519 verification/s
	Batch             int                 `json:"batch"`
	Uploaders         int                 `json:"uploaders"`
	Patients          int                 `json:"patients"`
	RecordBytes       int                 `json:"record_bytes"`
	Durable           bool                `json:"durable"`
	Anchored          uint64              `json:"anchored_at_end"`
	GoMaxProcs        int                 `json:"gomaxprocs"`
	// Postgres is the same run on PostgreSQL (IngestOptions.Postgres),
	// and PostgresRatio its records/s over Pebble's.
	Postgres      *StoreResult `json:"postgres,omitempty"`
	PostgresRatio float64      `json:"postgres_ratio,omitempty"`
}

// StoreResult is what Ingest measured on one store.
type StoreResult struct {
	Store        string              `json:"store"`
	DurationS    float64             `json:"duration_s"`
	RecordsPerS  float64             `json:"records_per_s"`
	AckLatencyMs testbed.Percentiles `json:"ack_latency_ms"` // per upload request
	Records      int64               `json:"records"`
	Refused      int64               `json:"refused"`
	Anchored     uint64              `json:"anchored_at_end"`
	// SynchronousCommit is the database's setting in the cloud's sessions.
	SynchronousCommit string `json:"synchronous_commit,omitempty"`
}

// Ingest starts a 1-authority ledger for a cloud's registry and anchors,
// and the cloud on a Pebble store with durable writes, seals records of
// the patients beforehand, then has o.Uploaders upload them in batches
// over the cloud's HTTP API. It reports the records stored per second and
// the latency of an upload's acknowledgement over the measured window.
// With o.Postgres, a second cloud on PostgreSQL takes the same uploads,
// measured alike: the two clouds run side by side and the uploaders drive
// each in turn, ingestRounds times, o.Duration/ingestRounds each, so that a
// drift in the machine's load weighs on both alike.
func Ingest(ctx context.Context, o IngestOptions) (*IngestResult, error) {
	if o.Duration <= 0 || o.Batch < 1 || o.Batch > cloudapi.MaxUploadRecords || o.Uploaders < 1 || o.Patients < 1 {
		return nil, fmt.Errorf("bench ingest: the duration must be positive, the batch 1 to %d, uploaders and patients at least 1", cloudapi.MaxUploadRecords)
	}
	if o.WarmUp <= 0 {
		o.WarmUp = ingestWarmUp
	}
	if o.Postgres != "" && !pgstore.IsURL(o.Postgres) {
		return nil, fmt.Errorf("bench ingest: %w: --store wants postgres://…", pgstore.ErrURL)
	}
	say := progress(o.Progress)
	say("measuring the raw Ed25519 verification rate…")
	all, one := VerifyRate(2 * time.Second)

	dir, removeDir, err := workDir(o.Dir, "vitalchain-bench-ingest-")
	if err != nil {
		return nil, fmt.Errorf("bench ingest: %w", err)
	}
	defer removeDir()
	say("starting a 1-authority ledger for the cloud's registry and anchors…")
	ch, err := testbed.StartChain(ctx, testbed.ChainOptions{Nodes: 1, Dir: filepath.Join(dir, "chain"), BlockInterval: 500 * time.Millisecond})
	if err != nil {
		return nil, fmt.Errorf("bench ingest: %w", err)
	}
	defer ch.Stop()
	say("registering %d patients…", o.Patients)
	ps := make([]sealer, o.Patients)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(registering)
	for i := range ps {
		g.Go(func() (err error) {
			ps[i].id, ps[i].key, err = registerPatient(gctx, ch, identity.SuiteX25519, 1)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, fmt.Errorf("bench ingest: %w", err)
	}

	// Records are sealed and signed before the clock starts: that is the
	// gateways' work, not the cloud's. The estimate is 2,500 uploads a
	// second, all uploaders together. Each store's cloud is new, so both
	// take the same records.
	perUploader := max(int(2500*o.Duration.Seconds()/float64(o.Uploaders)), 8)
	say("sealing %d records…", perUploader*o.Uploaders*o.Batch)
	bodies, recBytes, err := seal(ps, o.Uploaders, perUploader, o.Batch)
	if err != nil {
		return nil, fmt.Errorf("bench ingest: seal records: %w", err)
	}

	// The stores' clouds run side by side; the uploads go to one at a
	// time, in turns, so that both are measured under the same conditions
	// even when the machine's load drifts.
	pebble, err := startTarget(ctx, ch, "pebble", filepath.Join(dir, "cloud"), o)
	if err != nil {
		return nil, fmt.Errorf("bench ingest: pebble: %w", err)
	}
	defer pebble.close()
	targets := []*target{pebble}
	rounds := 1
	if o.Postgres != "" {
		pg, err := startTarget(ctx, ch, "postgres", o.Postgres, o)
		if err != nil {
			return nil, fmt.Errorf("bench ingest: postgres: %w", err)
		}
		defer pg.close()
		targets, rounds = append(targets, pg), ingestRounds
	}
	for r := range rounds {
		for _, tg := range targets {
			warm, profile := o.WarmUp, ""
			if r > 0 {
				warm = o.WarmUp / 2
			}
			if r == 0 && tg == pebble {
				profile = o.CPUProfile
			}
			if rounds > 1 {
				say("%s: round %d of %d", tg.kind, r+1, rounds)
			}
			if err := tg.drive(ctx, bodies, warm, o.Duration/time.Duration(rounds), profile, say); err != nil {
				return nil, fmt.Errorf("bench ingest: %s: %w", tg.kind, err)
			}
		}
	}
	pb := pebble.result()
	res := &IngestResult{
		DurationS: pb.DurationS, RecordsPerS: pb.RecordsPerS, AckLatencyMs: pb.AckLatencyMs,
		Records: pb.Records, Refused: pb.Refused, Ed25519VerifyPerS: all, Ed25519VerifyCore: one,
		Batch: o.Batch, Uploaders: o.Uploaders, Patients: o.Patients, RecordBytes: recBytes, Durable: true,
		Anchored: pb.Anchored, GoMaxProcs: runtime.GOMAXPROCS(0),
	}
	if all > 0 {
		res.Ratio = round(res.RecordsPerS/all, 3)
	}
	if len(targets) > 1 {
		res.Postgres = targets[1].result()
		if res.RecordsPerS > 0 {
			res.PostgresRatio = round(res.Postgres.RecordsPerS/res.RecordsPerS, 3)
		}
	}
	return res, nil
}

// ingestRounds is how many turns each store takes when two are measured.
const ingestRounds = 3

// target is a cloud under measurement, on one store.
type target struct {
	kind  string
	cl    *testbed.Cloud
	u     *uploads
	next  []int // per uploader, the next of its bodies to send
	res   StoreResult
	close func()
}

// startTarget starts a new cloud (registered now) on a new store of kind
// ("pebble": in the directory at; "postgres": in a new schema of the
// database at, with the sequencer's lease, as `vitalchain cloud` runs).
func startTarget(ctx context.Context, ch *testbed.Chain, kind, at string, o IngestOptions) (_ *target, err error) {
	cloudID, err := ch.Register(ctx, identity.RoleCloud, identity.DefaultSuite, 1)
	if err != nil {
		return nil, fmt.Errorf("register the cloud: %w", err)
	}
	tg := &target{kind: kind, res: StoreResult{Store: kind}, next: make([]int, o.Uploaders)}
	var closers []func()
	tg.close = func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	defer func() {
		if err != nil {
			tg.close()
		}
	}()
	var (
		st    cloud.Store
		lease cloud.Lease
	)
	switch kind {
	case "pebble":
		if st, err = pebblestore.Open(at); err != nil {
			return nil, err
		}
	default:
		url, drop, err := benchSchema(ctx, at)
		if err != nil {
			return nil, err
		}
		closers = append(closers, drop)
		pst, err := pgstore.Open(ctx, url)
		if err != nil {
			return nil, err
		}
		closers = append(closers, func() { pst.Close() })
		if tg.res.SynchronousCommit, err = pst.Setting(ctx, "synchronous_commit"); err != nil {
			return nil, err
		}
		st, lease = pst, pst
	}
	if kind == "pebble" {
		closers = append(closers, func() { st.Close() })
	}
	// The uploaders all come from loopback: no rate per address, which
	// would measure the limit rather than the cloud.
	limits := cloud.DefaultLimits()
	limits.AddressRate = 0
	tg.cl, err = testbed.StartCloud(ctx, testbed.CloudOptions{Key: cloudID, Store: st, Lease: lease, Clients: ch.Clients(0, 1),
		BlockRecords: 4096, BlockInterval: time.Second, Limits: limits})
	if err != nil {
		return nil, fmt.Errorf("start the cloud: %w", err)
	}
	closers = append(closers, func() { tg.cl.Close() })
	tg.u = &uploads{url: tg.cl.URL + "/v1/records", batch: o.Batch,
		hc: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: o.Uploaders}}}
	return tg, nil
}

// drive has the uploaders upload to the target for warm, then for d with
// the window open.
func (tg *target) drive(ctx context.Context, bodies [][][]byte, warm, d time.Duration, cpuprofile string, say func(string, ...any)) error {
	u := tg.u
	var wg sync.WaitGroup
	defer wg.Wait()
	stop := make(chan struct{})
	stopOnce := sync.OnceFunc(func() { close(stop) })
	defer stopOnce()
	for i, b := range bodies {
		wg.Go(func() { u.run(stop, b, &tg.next[i]) })
	}
	say("%s: warming up for %s…", tg.kind, warm)
	if err := sleep(ctx, warm); err != nil {
		return err
	}
	say("%s: uploading for %s…", tg.kind, d)
	if err := u.w.measure(ctx, d, cpuprofile); err != nil {
		return err
	}
	stopOnce()
	wg.Wait() // what completed in the window is counted by now
	if e := u.w.firstError(); e != "" {
		say("%s: note: %s", tg.kind, e)
	}
	return nil
}

// result returns what was measured on the target.
func (tg *target) result() *StoreResult {
	r := tg.res
	_, anchored, _, _ := tg.cl.Service.Checkpoints()
	elapsed := tg.u.w.seconds()
	n := tg.u.stored.Load()
	r.DurationS, r.RecordsPerS, r.AckLatencyMs = round(elapsed, 2), round(float64(n)/elapsed, 1), tg.u.w.latencies()
	r.Records, r.Refused, r.Anchored = n, tg.u.refused.Load(), anchored.Size
	return &r
}

// sealer is a registered patient whose records the benchmark seals.
type sealer struct {
	id  *identity.Identity
	key envelope.SessionKey
}

// seal makes perUploader upload bodies of batch records for each uploader,
// the patients' records in turn, and returns them with a record's size.
func seal(ps []sealer, uploaders, perUploader, batch int) (bodies [][][]byte, recBytes int, err error) {
	bodies = make([][][]byte, uploaders)
	var seq atomic.Uint64
	var size atomic.Int64
	var g errgroup.Group
	for u := range bodies {
		g.Go(func() error {
			for range perUploader {
				recs := make([][]byte, 0, batch)
				for range batch {
					n := seq.Add(1)
					p := ps[n%uint64(len(ps))]
					h := record.Header{Patient: p.id.ID(), Epoch: 1, Contract: [32]byte{1}, Alert: true,
						Time: time.Now().UnixMilli(), Seq: n}
					pl := record.Payload{Kind: vital.Glucose, Severity: 2, Body: []byte(`{"code":"2339-0","value":212.5,"unit":"mg/dL","t":1795718400000}`)}
					r, err := record.Seal(h, p.key, pl, p.id.Signing)
					if err != nil {
						return err
					}
					b, err := r.Marshal()
					if err != nil {
						return err
					}
					size.Store(int64(len(b)))
					recs = append(recs, b)
				}
				body, err := codec.Marshal(recs)
				if err != nil {
					return err
				}
				bodies[u] = append(bodies[u], body)
			}
			return nil
		})
	}
	err = g.Wait()
	return bodies, int(size.Load()), err
}

// uploads posts sealed upload bodies to the cloud and counts what is
// acknowledged in its window.
type uploads struct {
	url   string
	batch int
	hc    *http.Client
	w     window

	stored, refused atomic.Int64
}

// run posts bodies one after the other, from *next on, until stop is
// closed; *next is then the first not posted.
func (u *uploads) run(stop <-chan struct{}, bodies [][]byte, next *int) {
	for ; ; *next++ {
		i := *next
		select {
		case <-stop:
			return
		default:
		}
		if i >= len(bodies) {
			u.w.fail(errors.New("ran out of sealed records; raise the estimate"))
			return
		}
		t0 := time.Now()
		acks, err := u.post(bodies[i])
		if !u.w.open() {
			continue
		}
		if err != nil {
			u.refused.Add(int64(u.batch))
			u.w.fail(err)
			continue
		}
		d := time.Since(t0)
		for _, a := range acks {
			if a.Code != "" {
				u.refused.Add(1)
				u.w.fail(errors.New(a.Error))
			} else {
				u.stored.Add(1)
			}
		}
		u.w.took(d)
	}
}

// post uploads one body of encoded records and returns the cloud's acks.
func (u *uploads) post(body []byte) ([]cloudapi.Ack, error) {
	resp, err := u.hc.Post(u.url, "application/cbor", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("upload: %s: %s", resp.Status, b)
	}
	var r cloudapi.UploadResponse
	if err := codec.UnmarshalLimit(b, 64<<20, &r); err != nil {
		return nil, fmt.Errorf("upload: %w", err)
	}
	return r.Acks, nil
}

// benchSchema makes a new schema in the PostgreSQL database at url for one
// run, and returns the URL of the database with that schema first in its
// search_path, and a function that drops it.
func benchSchema(ctx context.Context, url string) (string, func(), error) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return "", nil, fmt.Errorf("connect to PostgreSQL: %w", err)
	}
	defer conn.Close(ctx)
	var b [6]byte
	rand.Read(b[:])
	schema := "vitalchain_bench_" + hex.EncodeToString(b[:])
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		return "", nil, fmt.Errorf("create schema %s: %w", schema, err)
	}
	drop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if c, err := pgx.Connect(ctx, url); err == nil {
			c.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE")
			c.Close(ctx)
		}
	}
	u, err := neturl.Parse(url)
	if err != nil {
		drop()
		return "", nil, fmt.Errorf("%w: %w", pgstore.ErrURL, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), drop, nil
}
