package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/vitalchain/vitalchain/chain"
	"github.com/vitalchain/vitalchain/client"
	"github.com/vitalchain/vitalchain/cloud"
	"github.com/vitalchain/vitalchain/cloud/cloudapi"
	"github.com/vitalchain/vitalchain/cloud/pebblestore"
	"github.com/vitalchain/vitalchain/envelope"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/internal/cli"
	"github.com/vitalchain/vitalchain/internal/testbed"
	"github.com/vitalchain/vitalchain/ledger"
	"github.com/vitalchain/vitalchain/record"
	"github.com/vitalchain/vitalchain/vital"
)

// ingestBench is the JSON that 'vitalchain bench ingest' prints.
type ingestBench struct {
	DurationS         float64             `json:"duration_s"`
	RecordsPerS       float64             `json:"records_per_s"`
	AckLatencyMs      testbed.Percentiles `json:"ack_latency_ms"`
	Records           int64               `json:"records"`
	Refused           int64               `json:"refused"`
	Ed25519VerifyPerS float64             `json:"ed25519_verify_per_s"`
	Ed25519VerifyCore float64             `json:"ed25519_verify_per_s_one_core"`
	Ratio             float64             `json:"ratio"`
	Batch             int                 `json:"batch"`
	Uploaders         int                 `json:"uploaders"`
	Patients          int                 `json:"patients"`
	RecordBytes       int                 `json:"record_bytes"`
	Durable           bool                `json:"durable"`
	Anchored          uint64              `json:"anchored_at_end"`
	GoMaxProcs        int                 `json:"gomaxprocs"`
}

func runBenchIngest(args []string, stdout, stderr io.Writer) error {
	fs := cli.NewFlags("vitalchain", "bench ingest", "bench ingest [--json] [--duration D] [--batch N] [--uploaders N]", stderr)
	asJSON := fs.Bool("json", false, "print the result as JSON")
	duration := fs.Duration("duration", 15*time.Second, "how long to drive uploads (after a 2 s warm-up)")
	batch := fs.Int("batch", 64, "records per upload request")
	uploaders := fs.Int("uploaders", 8, "concurrent uploaders")
	patients := fs.Int("patients", 16, "patients whose records are uploaded")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the measured period to `file`")
	if err := cli.ParseFlags(fs, args); err != nil {
		return err
	}
	if *batch < 1 || *batch > cloudapi.MaxUploadRecords || *uploaders < 1 || *patients < 1 {
		return fmt.Errorf("%w: --batch 1..%d, --uploaders and --patients positive", cli.ErrUsage, cloudapi.MaxUploadRecords)
	}
	progress := func(format string, a ...any) { fmt.Fprintf(stderr, format+"\n", a...) }
	progress("measuring the raw Ed25519 verification rate…")
	all, one := verifyRate(2 * time.Second)

	dir, err := os.MkdirTemp("", "vitalchain-bench-ingest-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	progress("starting a 1-authority ledger for the cloud's registry and anchors…")
	net1, err := chain.StartLocal(ctx, chain.TestnetOptions{Nodes: 1, Dir: filepath.Join(dir, "chain"), BlockInterval: 500 * time.Millisecond}, nil)
	if err != nil {
		return err
	}
	defer net1.Stop()
	lc := client.New(net1.Nodes[0].Local(), nil)
	defer lc.Close()
	head, err := lc.Signer(ctx, net1.Nodes[0].Authority().Signing)
	if err != nil {
		return err
	}
	register := func(id *identity.Identity) error {
		r, err := ledger.NewRegister(id, 1, identity.ID{}, nil)
		if err != nil {
			return err
		}
		tx, err := head.Sign(r)
		if err != nil {
			return err
		}
		_, err = lc.Submit(ctx, tx)
		return err
	}
	cloudID, err := identity.Generate(identity.RoleCloud, identity.DefaultSuite)
	if err != nil {
		return err
	}
	if err := register(cloudID); err != nil {
		return err
	}
	type benchPatient struct {
		id  *identity.Identity
		key envelope.SessionKey
	}
	var ps []benchPatient
	progress("registering %d patients…", *patients)
	for range *patients {
		id, err := identity.Generate(identity.RolePatient, identity.SuiteX25519)
		if err != nil {
			return err
		}
		if err := register(id); err != nil {
			return err
		}
		key, self, err := firstSessionKey(id)
		if err != nil {
			return err
		}
		s, err := lc.Signer(ctx, id.Signing)
		if err != nil {
			return err
		}
		if _, err := s.Submit(ctx, &ledger.SessionKey{Epoch: 1, Envelope: self}); err != nil {
			return err
		}
		ps = append(ps, benchPatient{id, key})
	}

	st, err := pebblestore.Open(filepath.Join(dir, "cloud"))
	if err != nil {
		return err
	}
	defer st.Close()
	svc, err := cloud.New(ctx, cloud.Config{
		Key: cloudID.Signing, Store: st, Ledger: cloud.NewChainLedger([]*client.Client{lc}, cloudID.Signing, 5*time.Second),
		BlockRecords: 4096, BlockInterval: time.Second,
	})
	if err != nil {
		return err
	}
	defer svc.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: svc.Handler(nil)}
	go srv.Serve(ln)
	defer srv.Close()

	// Records are sealed and signed before the clock starts: that is the
	// gateways' work, not the cloud's.
	perUploader := int(float64(*batch) * 2500 * duration.Seconds() / float64(*uploaders) / float64(*batch))
	perUploader = max(perUploader, 8)
	progress("sealing %d records…", perUploader**uploaders**batch)
	bodies := make([][][]byte, *uploaders)
	var recBytes int
	var seq atomic.Uint64
	var g errgroup.Group
	for u := range *uploaders {
		g.Go(func() error {
			for range perUploader {
				var recs [][]byte
				for range *batch {
					p := ps[int(seq.Add(1))%len(ps)]
					h := record.Header{Patient: p.id.ID(), Epoch: 1, Contract: [32]byte{1}, Kind: vital.Glucose, Severity: 2,
						Time: time.Now().UnixMilli(), Seq: seq.Load()}
					r, err := record.Seal(h, p.key, []byte(`{"code":"2339-0","value":212.5,"unit":"mg/dL","t":1795718400000}`), p.id.Signing)
					if err != nil {
						return err
					}
					b, err := r.Marshal()
					if err != nil {
						return err
					}
					recBytes = len(b)
					recs = append(recs, b)
				}
				body, err := codecMarshal(recs)
				if err != nil {
					return err
				}
				bodies[u] = append(bodies[u], body)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}

	url := "http://" + ln.Addr().String() + "/v1/records"
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *uploaders}}
	var (
		measuring          atomic.Bool
		stored, refused    atomic.Int64
		latMu              sync.Mutex
		lats               []time.Duration
		wg                 sync.WaitGroup
		stop               = make(chan struct{})
		firstErr           atomic.Value
		measureStart, done time.Time
	)
	for u := range *uploaders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if i >= len(bodies[u]) {
					firstErr.CompareAndSwap(nil, "ran out of sealed records; raise the estimate")
					return
				}
				t0 := time.Now()
				acks, err := postRecords(hc, url, bodies[u][i])
				if !measuring.Load() {
					continue
				}
				if err != nil {
					refused.Add(int64(*batch))
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				d := time.Since(t0)
				for _, a := range acks {
					if a.Code != "" {
						refused.Add(1)
						firstErr.CompareAndSwap(nil, a.Error)
					} else {
						stored.Add(1)
					}
				}
				latMu.Lock()
				lats = append(lats, d)
				latMu.Unlock()
			}
		}()
	}
	progress("warming up for 2 s…")
	time.Sleep(2 * time.Second)
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		pprof.StartCPUProfile(f)
	}
	measuring.Store(true)
	measureStart = time.Now()
	progress("uploading for %s…", *duration)
	time.Sleep(*duration)
	measuring.Store(false)
	done = time.Now()
	if *cpuprofile != "" {
		pprof.StopCPUProfile()
	}
	n := stored.Load()
	close(stop)
	wg.Wait()
	if e, ok := firstErr.Load().(string); ok {
		progress("note: %s", e)
	}
	_, anchored, _, _ := svc.Checkpoints()
	elapsed := done.Sub(measureStart).Seconds()
	res := ingestBench{
		DurationS: round(elapsed, 2), RecordsPerS: round(float64(n)/elapsed, 1), AckLatencyMs: testbed.PercentilesOf(lats),
		Records: n, Refused: refused.Load(), Ed25519VerifyPerS: all, Ed25519VerifyCore: one,
		Batch: *batch, Uploaders: *uploaders, Patients: *patients, RecordBytes: recBytes, Durable: true,
		Anchored: anchored.Size, GoMaxProcs: runtime.GOMAXPROCS(0),
	}
	if all > 0 {
		res.Ratio = round(res.RecordsPerS/all, 3)
	}
	if *asJSON {
		return writeJSON(stdout, res)
	}
	fmt.Fprintf(stdout, "%.0f records/s stored durably (%d in %.1f s, %d refused); ack latency p50 %.1f ms, p99 %.1f ms per %d-record upload\n",
		res.RecordsPerS, n, elapsed, res.Refused, res.AckLatencyMs.P50, res.AckLatencyMs.P99, *batch)
	fmt.Fprintf(stdout, "Ed25519 verify: %.0f/s on all cores (%.0f/s on one); ratio %.2f\n", all, one, res.Ratio)
	return nil
}

func postRecords(hc *http.Client, url string, body []byte) ([]cloudapi.Ack, error) {
	resp, err := hc.Post(url, "application/cbor", bytesReader(body))
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
	if err := codecUnmarshal(b, &r); err != nil {
		return nil, err
	}
	return r.Acks, nil
}
