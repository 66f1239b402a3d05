package cloud

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/compact"

	"github.com/vitalchain/vitalchain/cloud/cloudapi"
	"github.com/vitalchain/vitalchain/merklelog"
	"github.com/vitalchain/vitalchain/vital"
)

// errInjected is the failure a faultStore injects.
var errInjected = errors.New("injected store fault")

// Operations a faultStore can fail.
type faultOp int

const (
	opAppendRecords faultOp = iota
	opAppendAccess
	opRecord
	opGetNodes
	opSize
	numOps
)

// faultStore is a Store double over another Store that fails
// operations on demand: the next n calls of an operation (or all of them),
// record appends beyond a log size (a full disk), or record appends that
// commit but report a failure (a lost acknowledgement, as when a database
// connection drops after COMMIT). A hook can run after a record append is
// durable and before it returns.
type faultStore struct {
	Store

	mu          sync.Mutex
	fail        [numOps]int // the next n calls fail; -1: every call
	calls       [numOps]int
	lostAcks    int    // the next n AppendRecords commit, then fail
	maxRecords  uint64 // if not 0, AppendRecords past this size fail
	afterAppend func(oldSize, newSize uint64)
	// beforeAppend runs when AppendRecords is called, before anything else.
	beforeAppend func()
}

var _ Store = (*faultStore)(nil)

func newFaultStore(st Store) *faultStore { return &faultStore{Store: st} }

// failNext makes the next n calls of op fail (n < 0: all; 0: none).
func (s *faultStore) failNext(op faultOp, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail[op] = n
}

func (s *faultStore) set(f func(*faultStore)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s)
}

func (s *faultStore) callCount(op faultOp) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[op]
}

// inject counts a call of op and reports whether it must fail.
func (s *faultStore) inject(op faultOp) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[op]++
	if s.fail[op] == 0 {
		return nil
	}
	if s.fail[op] > 0 {
		s.fail[op]--
	}
	return fmt.Errorf("%w (op %d)", errInjected, op)
}

func (s *faultStore) AppendRecords(oldSize, newSize uint64, recs []StoredRecord, nodes []merklelog.Node) error {
	s.mu.Lock()
	before := s.beforeAppend
	s.mu.Unlock()
	if before != nil {
		before()
	}
	if err := s.inject(opAppendRecords); err != nil {
		return err
	}
	s.mu.Lock()
	full := s.maxRecords != 0 && newSize > s.maxRecords
	lost := s.lostAcks > 0
	if lost {
		s.lostAcks--
	}
	after := s.afterAppend
	s.mu.Unlock()
	if full {
		return fmt.Errorf("%w: store full at %d records", errInjected, s.maxRecords)
	}
	if err := s.Store.AppendRecords(oldSize, newSize, recs, nodes); err != nil {
		return err
	}
	if after != nil {
		after(oldSize, newSize)
	}
	if lost {
		return fmt.Errorf("%w: commit outcome lost", errInjected)
	}
	return nil
}

func (s *faultStore) AppendAccess(oldSize, newSize uint64, entries []cloudapi.AccessEntry, nodes []merklelog.Node) error {
	if err := s.inject(opAppendAccess); err != nil {
		return err
	}
	return s.Store.AppendAccess(oldSize, newSize, entries, nodes)
}

func (s *faultStore) Record(id [32]byte) (*StoredRecord, error) {
	if err := s.inject(opRecord); err != nil {
		return nil, err
	}
	return s.Store.Record(id)
}

func (s *faultStore) Size(log uint8) (uint64, error) {
	if err := s.inject(opSize); err != nil {
		return 0, err
	}
	return s.Store.Size(log)
}

func (s *faultStore) GetNodes(log uint8, ids []compact.NodeID) ([][merklelog.HashSize]byte, error) {
	if err := s.inject(opGetNodes); err != nil {
		return nil, err
	}
	return s.Store.GetNodes(log, ids)
}

// A failed durable commit acknowledges nothing and stores nothing; the same
// upload, retried, is stored once.
func TestFailedCommitAcknowledgesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	raw, id := e.record(vital.Glucose)
	e.st.failNext(opAppendRecords, 1)
	// Hold the commit until a second upload of the record has joined it.
	entered, release := make(chan struct{}), make(chan struct{})
	e.st.set(func(s *faultStore) {
		s.beforeAppend = func() { close(entered); <-release }
	})
	acks := make([]cloudapi.Ack, 2)
	done := make(chan int, 2)
	go func() { acks[0] = e.svc.Ingest(context.Background(), [][]byte{raw})[0]; done <- 0 }()
	<-entered
	e.st.set(func(s *faultStore) { s.beforeAppend = nil })
	go func() { acks[1] = e.svc.Ingest(context.Background(), [][]byte{raw})[0]; done <- 1 }()
	eventually(t, "the second upload joins the commit", func() bool {
		return e.metric("vitalchain_cloud_records_duplicate_total") == 1
	})
	close(release)
	<-done
	<-done
	for i, a := range acks {
		if a.Code != "store" || a.ID != id || a.Duplicate {
			t.Errorf("ack %d of a failed commit: %+v, want code store with the record's ID", i, a)
		}
	}
	if _, err := e.st.Record(id); !errors.Is(err, ErrNotFound) {
		t.Fatalf("record of a failed commit: %v, want ErrNotFound", err)
	}
	if n := e.size(LogRecords); n != 0 {
		t.Fatalf("log size after a failed commit: %d", n)
	}
	if rc, _, _, _ := e.svc.Checkpoints(); rc.Size != 0 {
		t.Fatalf("in-memory log grew on a failed commit: %+v", rc)
	}
	if got := e.metric("vitalchain_cloud_records_refused_total", "reason", "store"); got != 2 {
		t.Errorf("refused{store} = %v, want 2", got)
	}
	if got := e.metric("vitalchain_cloud_records_accepted_total"); got != 0 {
		t.Errorf("accepted = %v after a failed commit", got)
	}

	// The retry is stored, once.
	acks = e.ingest(raw)
	if acks[0].Duplicate || acks[0].Index != 0 {
		t.Fatalf("retry: %+v", acks[0])
	}
	acks = e.ingest(raw)
	if !acks[0].Duplicate || acks[0].Index != 0 {
		t.Fatalf("second retry: %+v", acks[0])
	}
	if n := e.size(LogRecords); n != 1 {
		t.Fatalf("log size after retries: %d, want 1", n)
	}
	if _, err := e.st.Record(id); err != nil {
		t.Fatal(err)
	}
}

// A run of failures never wedges the committer: the next commit that the
// store lets through succeeds, at the right index.
func TestCommitterSurvivesFailures(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.st.failNext(opAppendRecords, 5)
	for range 5 {
		raw, _ := e.record(vital.Glucose)
		if a := e.svc.Ingest(context.Background(), [][]byte{raw})[0]; a.Code != "store" {
			t.Fatalf("ack with a failing store: %+v", a)
		}
	}
	for i := range 3 {
		raw, id := e.record(vital.Glucose)
		a := e.ingest(raw)[0]
		if a.Index != uint64(i) {
			t.Fatalf("index after failures: %d, want %d", a.Index, i)
		}
		if r, err := e.st.Record(id); err != nil || r.Index != uint64(i) {
			t.Fatalf("stored: %+v %v", r, err)
		}
	}
}

// A commit whose outcome is lost (written, but reported failed) is found
// durable by reading the store back: it is acknowledged, and the committer
// goes on.
func TestLostCommitOutcome(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	first, _ := e.record(vital.Glucose)
	e.ingest(first)
	raw, id := e.record(vital.Glucose)
	e.st.set(func(s *faultStore) { s.lostAcks = 1 })
	if a := e.ingest(raw)[0]; a.Index != 1 || a.Duplicate {
		t.Fatalf("ack of a lost commit: %+v", a)
	}
	if r, err := e.st.Record(id); err != nil || r.Index != 1 {
		t.Fatalf("lost commit's record: %+v %v", r, err)
	}
	checkLogHealthy(t, e, id, 2)
}

// A lost commit outcome that cannot even be checked (the store's size
// cannot be read either) is not acknowledged; the next commit finds the log
// behind the store, which is reopened: that commit fails, later ones do
// not, and retries of both are stored once.
func TestLostCommitOutcomeUnchecked(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	first, _ := e.record(vital.Glucose)
	e.ingest(first)
	lost, lostID := e.record(vital.Glucose)
	e.st.set(func(s *faultStore) { s.lostAcks = 1; s.fail[opSize] = 1 })
	if a := e.svc.Ingest(context.Background(), [][]byte{lost})[0]; a.Code != "store" || a.ID != lostID {
		t.Fatalf("ack of an unchecked lost commit: %+v", a)
	}
	conflicted, cid := e.record(vital.Glucose)
	if a := e.svc.Ingest(context.Background(), [][]byte{conflicted})[0]; a.Code != "store" {
		t.Fatalf("ack of the commit after it: %+v", a)
	}
	for i := range 3 {
		next, nid := e.record(vital.Glucose)
		a := e.svc.Ingest(context.Background(), [][]byte{next})[0]
		if a.Code != "" {
			t.Fatalf("upload %d after the lost commit: %+v", i, a)
		}
		if r, err := e.st.Record(nid); err != nil || r.Index != a.Index {
			t.Fatalf("upload %d: stored %+v %v, ack %+v", i, r, err, a)
		}
	}
	if a := e.ingest(lost)[0]; !a.Duplicate || a.Index != 1 {
		t.Fatalf("retry of the lost commit: %+v, want a duplicate at 1", a)
	}
	if a := e.ingest(conflicted)[0]; a.Duplicate || a.Index != 5 {
		t.Fatalf("retry of the conflicted commit: %+v, want a new record at 5", a)
	}
	checkLogHealthy(t, e, lostID, 6)
	checkLogHealthy(t, e, cid, 6)
}

// checkLogHealthy checks that the log, of size n, is anchored and proves id.
func checkLogHealthy(t *testing.T, e *testEnv, id [32]byte, n uint64) {
	t.Helper()
	if got := e.size(LogRecords); got != n {
		t.Fatalf("log size %d, want %d", got, n)
	}
	e.led.waitAnchored(t, LogRecords, n)
	checkAnchors(t, e.led, LogRecords)
	res, err := e.svc.Read(context.Background(), e.request(e.patient.Signing, cloudapi.OpRead, id, 0))
	if err != nil {
		t.Fatal(err)
	}
	if err := merklelog.VerifyInclusion(id[:], res.Index, res.Checkpoint, res.Proof); err != nil {
		t.Fatal(err)
	}
}

// A full store: exactly the acknowledged records are stored, at their
// acknowledged indices.
func TestStoreFull(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.st.set(func(s *faultStore) { s.maxRecords = 3 })
	var raws [][]byte
	var ids [][32]byte
	for range 6 {
		raw, id := e.record(vital.Glucose)
		raws, ids = append(raws, raw), append(ids, id)
	}
	acks := e.svc.Ingest(context.Background(), raws)
	ok := 0
	for i, a := range acks {
		r, err := e.st.Record(ids[i])
		switch a.Code {
		case "":
			ok++
			if err != nil || r.Index != a.Index {
				t.Errorf("acknowledged record %d: stored %+v %v, ack %+v", i, r, err, a)
			}
		case "store":
			if !errors.Is(err, ErrNotFound) {
				t.Errorf("refused record %d is stored: %v", i, err)
			}
		default:
			t.Errorf("record %d: %+v", i, a)
		}
	}
	if n := e.size(LogRecords); n != uint64(ok) || ok > 3 {
		t.Fatalf("stored %d records, acknowledged %d (limit 3)", n, ok)
	}
}

// Store read failures are refusals with ErrStore, never panics: an upload
// whose duplicate check fails, a read whose record or proof cannot be read,
// a read whose access-log entry cannot be written (nothing is served).
func TestStoreReadFailures(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	raw, id := e.record(vital.Glucose)
	sibling, _ := e.record(vital.Glucose)
	e.ingest(raw, sibling) // a log of two: the proof needs a stored node
	ctx := context.Background()

	other, _ := e.record(vital.Glucose)
	e.st.failNext(opRecord, 1)
	if a := e.svc.Ingest(ctx, [][]byte{other})[0]; a.Code != "store" {
		t.Errorf("upload with a failing duplicate check: %+v", a)
	}

	for _, tc := range []struct {
		name string
		op   faultOp
	}{
		{"record", opRecord},
		{"proof nodes", opGetNodes},
		{"access log", opAppendAccess},
	} {
		before := len(e.accessLog(e.patient))
		e.st.failNext(tc.op, -1)
		res, err := e.svc.Read(ctx, e.request(e.patient.Signing, cloudapi.OpRead, id, 0))
		e.st.failNext(tc.op, 0)
		if !errors.Is(err, ErrStore) || res != nil {
			t.Errorf("%s fails: read gives %v, %v; want ErrStore", tc.name, res, err)
		}
		if got := e.metric("vitalchain_cloud_reads_refused_total", "reason", "store"); got == 0 {
			t.Errorf("%s fails: reads_refused{store} not counted", tc.name)
		}
		after := e.accessLog(e.patient)
		if tc.op == opAppendAccess && len(after) != before {
			t.Errorf("access log grew on a failed access-log write")
		}
		if tc.op == opGetNodes && (len(after) != before+1 || after[len(after)-1].Allowed) {
			t.Errorf("a read refused for a store failure is logged as %+v", after[len(after)-1:])
		}
	}
	// And everything works again.
	if _, err := e.svc.Read(ctx, e.request(e.patient.Signing, cloudapi.OpRead, id, 0)); err != nil {
		t.Fatal(err)
	}
}

// An access-log failure fails the reads it carried, and the access log's
// committer goes on.
func TestAccessLogCommitFailure(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	raw, id := e.record(vital.Glucose)
	e.ingest(raw)
	e.st.failNext(opAppendAccess, 2)
	ctx := context.Background()
	for range 2 {
		if _, err := e.svc.Read(ctx, e.request(e.patient.Signing, cloudapi.OpRead, id, 0)); !errors.Is(err, ErrStore) {
			t.Fatalf("read with a failing access log: %v", err)
		}
	}
	if _, err := e.svc.Read(ctx, e.request(e.patient.Signing, cloudapi.OpRead, id, 0)); err != nil {
		t.Fatal(err)
	}
	if es := e.accessLog(e.patient); len(es) != 1 || es[0].Index != 0 || !es[0].Allowed {
		t.Fatalf("access log: %+v", es)
	}
}

// A record durably written but not yet in the published log (its commit is
// in progress) is not served: its proof cannot be made yet.
func TestReadDuringCommit(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	raw, id := e.record(vital.Glucose)
	got := make(chan error, 1)
	e.st.set(func(s *faultStore) {
		s.afterAppend = func(_, _ uint64) {
			_, err := e.svc.Read(context.Background(), e.request(e.patient.Signing, cloudapi.OpRead, id, 0))
			got <- err
		}
	})
	e.ingest(raw)
	e.st.set(func(s *faultStore) { s.afterAppend = nil })
	if err := <-got; !errors.Is(err, ErrRecordAbsent) {
		t.Fatalf("read during the commit: %v, want ErrRecordAbsent", err)
	}
	if _, err := e.svc.Read(context.Background(), e.request(e.patient.Signing, cloudapi.OpRead, id, 0)); err != nil {
		t.Fatalf("read after the commit: %v", err)
	}
}

// New fails cleanly if the store cannot give the log's nodes.
func TestNewStoreFailure(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a, _ := e.record(vital.Glucose)
	b, _ := e.record(vital.Glucose)
	e.ingest(a, b)
	e.svc.Close()
	e.svc = nil
	e.st.failNext(opGetNodes, -1)
	if s, err := e.open(); err == nil {
		s.Close()
		t.Fatal("New on a store failing reads succeeded")
	}
	e.st.failNext(opGetNodes, 0)
	e.start()
}

// Close releases uploads and reads waiting for a committer that stopped,
// and uploads after Close are refused without hanging.
func TestCloseReleasesWaiters(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	release := make(chan struct{})
	var releaseOnce sync.Once
	free := func() { releaseOnce.Do(func() { close(release) }) }
	defer free() // a failed wait below must not leave Close (in the cleanup) stuck behind the commit
	entered := make(chan struct{}, 1)
	e.st.set(func(s *faultStore) {
		s.afterAppend = func(_, _ uint64) {
			select {
			case entered <- struct{}{}:
			default:
			}
			<-release
		}
	})
	first, firstID := e.record(vital.Glucose)
	done := make(chan []cloudapi.Ack, 2)
	go func() { done <- e.svc.Ingest(context.Background(), [][]byte{first}) }()
	<-entered // the committer is inside a commit
	second, _ := e.record(vital.Glucose)
	go func() { done <- e.svc.Ingest(context.Background(), [][]byte{second}) }()
	eventually(t, "the second upload is queued behind the commit", func() bool {
		return len(e.svc.records.queue) == 1
	})
	// Release the commit only once Close has cancelled the committers'
	// context: out of the commit, the committer finds it done with the
	// second upload still queued, and either commits it or stops (Go picks
	// either); Close must answer it in both cases.
	cancelled := make(chan struct{})
	cancel := e.svc.cancel
	e.svc.cancel = func() { cancel(); close(cancelled) }
	closed := make(chan struct{})
	go func() { e.svc.Close(); close(closed) }()
	select {
	case <-cancelled:
	case <-time.After(10 * time.Second):
		t.Fatal("Close does not stop the committers")
	}
	free()
	<-closed
	timeout := time.After(5 * time.Second)
	for range 2 {
		select {
		case acks := <-done:
			if a := acks[0]; a.Code != "" && a.Code != "unavailable" {
				t.Errorf("upload across Close: %+v", a)
			}
		case <-timeout:
			t.Fatal("an upload hangs after Close")
		}
	}
	third, _ := e.record(vital.Glucose)
	go func() { done <- e.svc.Ingest(context.Background(), [][]byte{third}) }()
	select {
	case acks := <-done:
		if acks[0].Code != "unavailable" {
			t.Errorf("upload after Close: %+v", acks[0])
		}
	case <-time.After(5 * time.Second):
		t.Fatal("an upload after Close hangs")
	}
	read := make(chan error, 1)
	go func() {
		_, err := e.svc.Read(context.Background(), e.request(e.patient.Signing, cloudapi.OpRead, firstID, 0))
		read <- err
	}()
	select {
	case err := <-read:
		if err == nil {
			t.Error("read after Close served")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a read after Close hangs")
	}
	e.svc = nil
}
