package cloud

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vitalchain/vitalchain/cloud/cloudapi"
	"github.com/vitalchain/vitalchain/codec"
	"github.com/vitalchain/vitalchain/merklelog"
	"github.com/vitalchain/vitalchain/vital"
)

// memLease is a Lease in memory over a shared store, on the test's clock.
// A fenced append runs under the lease's lock, as PostgreSQL's runs under
// a share lock of the lease's row: a takeover waits for it.
type memLease struct {
	st  Store
	now func() time.Time

	mu      sync.Mutex
	epoch   uint64
	holder  string
	url     string
	expires time.Time
}

var _ Lease = (*memLease)(nil)

func (l *memLease) Acquire(_ context.Context, holder, url string, ttl time.Duration) (uint64, string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if l.holder != "" && l.holder != holder && !now.After(l.expires) {
		return 0, l.url, fmt.Errorf("%w: held by %s", ErrNotLeader, l.url)
	}
	l.epoch++
	l.holder, l.url, l.expires = holder, url, now.Add(ttl)
	return l.epoch, url, nil
}

func (l *memLease) Renew(_ context.Context, epoch uint64, ttl time.Duration) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if epoch != l.epoch {
		return fmt.Errorf("%w: the lease is at epoch %d", ErrNotLeader, l.epoch)
	}
	l.expires = l.now().Add(ttl)
	return nil
}

func (l *memLease) Release(_ context.Context, epoch uint64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if epoch == l.epoch {
		l.holder, l.url = "", ""
	}
	return nil
}

func (l *memLease) Leader(context.Context) (string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.holder == "" || l.now().After(l.expires) {
		return "", nil
	}
	return l.url, nil
}

func (l *memLease) Fenced(epoch uint64) Store { return &memFenced{Store: l.st, l: l, epoch: epoch} }

// memFenced is the shared store as the holder of epoch appends to it.
type memFenced struct {
	Store
	l     *memLease
	epoch uint64
}

func (f *memFenced) check() error {
	if f.l.epoch != f.epoch {
		return fmt.Errorf("%w: the lease is at epoch %d, not %d", ErrNotLeader, f.l.epoch, f.epoch)
	}
	return nil
}

func (f *memFenced) AppendRecords(oldSize, newSize uint64, recs []StoredRecord, nodes []merklelog.Node) error {
	f.l.mu.Lock()
	defer f.l.mu.Unlock()
	if err := f.check(); err != nil {
		return err
	}
	return f.Store.AppendRecords(oldSize, newSize, recs, nodes)
}

func (f *memFenced) AppendAccess(oldSize, newSize uint64, entries []cloudapi.AccessEntry, nodes []merklelog.Node) error {
	f.l.mu.Lock()
	defer f.l.mu.Unlock()
	if err := f.check(); err != nil {
		return err
	}
	return f.Store.AppendAccess(oldSize, newSize, entries, nodes)
}

func (f *memFenced) Close() error { return nil }

// lookupStore gives a store the batched lookup (BatchLookup).
type lookupStore struct{ Store }

func (s lookupStore) Lookup(ids [][32]byte) (map[[32]byte]uint64, error) {
	out := map[[32]byte]uint64{}
	for _, id := range ids {
		r, err := s.Record(id)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out[id] = r.Index
	}
	return out, nil
}

// leased makes the env's service one of several processes sharing its
// store through a memLease, at url. Its lease lasts a minute unrenewed:
// however loaded the machine, it does not lose it unless the test says.
func leased(url string) func(*Config) {
	return func(c *Config) {
		c.Store = lookupStore{c.Store}
		c.Lease = &memLease{st: c.Store, now: c.Now}
		c.URL = url
		c.LeaseTTL = time.Minute
	}
}

// second starts another process of the env's cloud, at url, with its
// lease's TTL.
func (e *testEnv) second(url string, ttl time.Duration) *Service {
	e.t.Helper()
	cfg := e.cfg
	cfg.URL, cfg.LeaseTTL, cfg.Metrics = url, ttl, prometheus.NewRegistry()
	s, err := New(context.Background(), cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { s.Close() })
	return s
}

// upload posts raws to a service's HTTP API.
func upload(t *testing.T, s *Service, raws ...[]byte) (int, *cloudapi.Problem, *cloudapi.UploadResponse) {
	t.Helper()
	body, err := codec.Marshal(raws)
	if err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	s.Handler(nil).ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/v1/records", strings.NewReader(string(body))))
	if w.Code != http.StatusOK {
		var p cloudapi.Problem
		if err := codec.Unmarshal(w.Body.Bytes(), &p); err != nil {
			t.Fatalf("upload: %d, %v", w.Code, err)
		}
		return w.Code, &p, nil
	}
	var r cloudapi.UploadResponse
	if err := codec.Unmarshal(w.Body.Bytes(), &r); err != nil {
		t.Fatal(err)
	}
	return w.Code, nil, &r
}

// Two processes on one store: the first sequences, the second serves
// proofs and checkpoints from the store and refuses writes naming the
// first; when the first closes, the second takes over where it stopped,
// without storing a record twice, and anchors what the first left.
func TestFailoverOnClose(t *testing.T) {
	t.Parallel()
	e := newEnv(t, leased("http://a"))
	a := e.svc
	if !a.Sequencing() || a.Leader() != "http://a" {
		t.Fatalf("a lone process does not sequence: %v, leader %q", a.Sequencing(), a.Leader())
	}
	b := e.second("http://b", DefaultLeaseTTL) // it tries to take the lease every 0.5 s
	if b.Sequencing() || b.Leader() != "http://a" {
		t.Fatalf("the second process: sequencing %v, leader %q; want a follower naming http://a", b.Sequencing(), b.Leader())
	}
	raw1, id1 := e.record(vital.Glucose)
	raw2, _ := e.record(vital.Glucose)
	raw3, id3 := e.record(vital.Glucose)
	e.ingest(raw1, raw2)

	// The follower refuses writes, naming the sequencer.
	code, p, _ := upload(t, b, raw3)
	if code != http.StatusServiceUnavailable || p.Code != cloudapi.CodeNotLeader || p.Leader != "http://a" {
		t.Fatalf("upload to the follower: %d %+v; want 503 not_leader naming http://a", code, p)
	}
	if acks := b.Ingest(context.Background(), [][]byte{raw3}); acks[0].Code != cloudapi.CodeNotLeader {
		t.Fatalf("the follower's ingest: %+v, want not_leader", acks[0])
	}
	_, err := b.Read(context.Background(), e.request(e.patient.Signing, cloudapi.OpRead, id1, 0))
	var nl *NotLeaderError
	if !errors.As(err, &nl) || nl.Leader != "http://a" || readReason(err) != cloudapi.CodeNotLeader {
		t.Fatalf("a read from the follower: %v; want not_leader naming http://a", err)
	}
	// It serves what the store holds.
	eventually(t, "the follower sees both records", func() bool {
		rc, _, _, _ := b.Checkpoints()
		return rc.Size == 2
	})
	if pr, err := b.Proof(id1); err != nil || pr.Index != 0 {
		t.Fatalf("the follower's proof of record 0: %+v, %v", pr, err)
	}
	// Listings and alerts are logged: the follower refuses them too, before
	// it checks the request (whose nonce stays fresh for the sequencer).
	listReq := e.request(e.patient.Signing, cloudapi.OpAccess, [32]byte{}, 0)
	if l, err := b.AccessLog(context.Background(), listReq); !errors.As(err, &nl) || l != nil {
		t.Fatalf("the follower's access log: %+v, %v; want not_leader", l, err)
	}
	if l, err := a.AccessLog(context.Background(), listReq); err != nil || len(l.Entries) != 1 || l.Entries[0].Op != cloudapi.AccessList {
		t.Fatalf("the sequencer's access log, asked the same request: %+v, %v; want the listing", l, err)
	}

	// The sequencer closes: the follower takes over.
	a.Close()
	eventually(t, "the follower takes over", b.Sequencing)
	if b.Leader() != "http://b" {
		t.Fatalf("new sequencer's leader: %q", b.Leader())
	}
	acks := b.Ingest(context.Background(), [][]byte{raw1, raw3})
	if acks[0].Code != "" || !acks[0].Duplicate || acks[0].Index != 0 {
		t.Fatalf("a record stored by the first process, uploaded again: %+v; want a duplicate at 0", acks[0])
	}
	if acks[1].Code != "" || acks[1].Index != 2 {
		t.Fatalf("a new record after the takeover: %+v; want it at 2", acks[1])
	}
	e.led.waitAnchored(t, LogRecords, 3)
	if r, err := b.Read(context.Background(), e.request(e.patient.Signing, cloudapi.OpRead, id3, 0)); err != nil || r.Index != 2 {
		t.Fatalf("read from the new sequencer: %+v, %v", r, err)
	}
	checkPositions(t, e.st, 3)
}

// A sequencer that stops renewing (paused) is deposed once its lease
// expires; when it wakes, its appends are refused by the fence in the
// store, answered not_leader, and it steps down; nothing is stored twice.
func TestDeposedSequencerIsFenced(t *testing.T) {
	t.Parallel()
	e := newEnv(t, leased("http://a"))
	e.cfg.LeaseTTL = time.Hour // the first process renews only every 20 minutes: "paused"
	e.restart()
	a := e.svc
	b := e.second("http://b", DefaultLeaseTTL)
	raw1, _ := e.record(vital.Glucose)
	raw2, id2 := e.record(vital.Glucose)
	e.ingest(raw1)
	if b.Sequencing() {
		t.Fatal("the second process sequences while the first holds the lease")
	}

	e.clock.advance(2 * time.Hour) // the first process's lease expires
	eventually(t, "the second process takes the expired lease", b.Sequencing)
	if !a.Sequencing() {
		t.Fatal("the paused process noticed; the test wants it to find out from the fence")
	}
	acks := a.Ingest(context.Background(), [][]byte{raw2})
	if acks[0].Code != cloudapi.CodeNotLeader {
		t.Fatalf("an upload to the deposed process: %+v; want not_leader", acks[0])
	}
	if _, err := e.st.Record(id2); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the deposed process stored the record: %v", err)
	}
	eventually(t, "the deposed process steps down", func() bool { return !a.Sequencing() })
	eventually(t, "the deposed process follows the new one", func() bool { return a.Leader() == "http://b" })
	if acks := b.Ingest(context.Background(), [][]byte{raw2}); acks[0].Code != "" || acks[0].Index != 1 {
		t.Fatalf("the upload retried at the new sequencer: %+v; want it at 1", acks[0])
	}
	e.led.waitAnchored(t, LogRecords, 2)
	checkPositions(t, e.st, 2)
}

// checkPositions checks that the store's records log holds n records, at
// positions 0…n-1, each once.
func checkPositions(t *testing.T, st Store, n uint64) {
	t.Helper()
	if size, err := st.Size(LogRecords); err != nil || size != n {
		t.Fatalf("records log size %d, %v; want %d", size, err, n)
	}
	rs, err := st.RecordsFrom(0, int(n)+10)
	if err != nil || uint64(len(rs)) != n {
		t.Fatalf("%d records listed, %v; want %d", len(rs), err, n)
	}
	seen := map[[32]byte]bool{}
	for i, r := range rs {
		if r.Index != uint64(i) || seen[r.ID] {
			t.Fatalf("record %x at %d (listed %d), seen before: %v", r.ID[:4], r.Index, i, seen[r.ID])
		}
		seen[r.ID] = true
	}
}

// Uploads of one set of records, overlapping and concurrent, through the
// batched duplicate check: each record is stored once, and every upload
// of it is acknowledged at that one position.
func TestBatchedDuplicateCheck(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.Store = lookupStore{c.Store} })
	const n = 300
	raws := make([][]byte, n)
	ids := make([][32]byte, n)
	for i := range raws {
		raws[i], ids[i] = e.record(vital.Glucose)
	}
	var mu sync.Mutex
	at := map[[32]byte]uint64{}
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for range 20 {
				lo := rng.IntN(n)
				hi := min(n, lo+1+rng.IntN(80))
				acks := e.svc.Ingest(context.Background(), raws[lo:hi])
				mu.Lock()
				for i, a := range acks {
					if a.Code != "" {
						t.Errorf("record %d refused: %s %s", lo+i, a.Code, a.Error)
						continue
					}
					if prev, ok := at[a.ID]; ok && prev != a.Index {
						t.Errorf("record %d acknowledged at %d and at %d", lo+i, prev, a.Index)
					}
					at[a.ID] = a.Index
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	e.ingest(raws...) // every one, at last
	checkPositions(t, e.st, n)
	for i, id := range ids {
		r, err := e.st.Record(id)
		if err != nil {
			t.Fatal(err)
		}
		if idx, ok := at[id]; ok && idx != r.Index {
			t.Fatalf("record %d acknowledged at %d, stored at %d", i, idx, r.Index)
		}
	}
}

// The recent commits remember the last ones, within maxRecent records,
// and settle a lookup only if they cover every commit since it began.
func TestRecentCommits(t *testing.T) {
	var r recentCommits
	id := func(i int) [32]byte { return [32]byte{byte(i >> 8), byte(i)} }
	before := &lookup{commits: r.commits, found: map[[32]byte]uint64{}}
	r.add([][32]byte{id(1), id(2)}, 0)
	r.add(nil, 0) // a failed commit
	r.add([][32]byte{id(3)}, 2)
	if i, ok, sure := before.stored(id(3), &r); !sure || !ok || i != 2 {
		t.Fatalf("a record committed after the lookup began: %d %v %v", i, ok, sure)
	}
	if _, ok, sure := before.stored(id(9), &r); !sure || ok {
		t.Fatalf("a record never committed: %v %v; want surely absent", ok, sure)
	}
	var nilLookup *lookup
	if _, _, sure := nilLookup.stored(id(1), &r); sure {
		t.Fatal("no lookup settles nothing")
	}
	// Fill beyond maxRecent: the oldest commits are forgotten, and a
	// lookup older than them is no longer settled.
	for c := range maxRecent/1000 + 2 {
		ids := make([][32]byte, 1000)
		for i := range ids {
			ids[i] = [32]byte{0xff, byte(c), byte(i >> 8), byte(i)}
		}
		r.add(ids, uint64(3+1000*c))
	}
	if r.n > maxRecent || len(r.index) != r.n {
		t.Fatalf("%d records remembered (index %d), bound %d", r.n, len(r.index), maxRecent)
	}
	if _, _, sure := before.stored(id(9), &r); sure {
		t.Fatal("a lookup older than the remembered commits was settled")
	}
	recent := &lookup{commits: r.commits, found: map[[32]byte]uint64{}}
	if _, ok, sure := recent.stored(id(9), &r); !sure || ok {
		t.Fatalf("a lookup after the last commit: %v %v", ok, sure)
	}
	r.reset()
	if _, _, sure := recent.stored(id(9), &r); sure {
		t.Fatal("a lookup begun before a reset was settled")
	}
	r.add(nil, 0)
	late := &lookup{commits: r.commits, found: map[[32]byte]uint64{}}
	if _, _, sure := late.stored(id(9), &r); !sure {
		t.Fatal("a lookup begun after the reset and the commits since is not settled")
	}
}
