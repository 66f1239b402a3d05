package cloud

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vitalchain/vitalchain/cloud/cloudapi"
	"github.com/vitalchain/vitalchain/codec"
	"github.com/vitalchain/vitalchain/envelope"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/ledger"
	"github.com/vitalchain/vitalchain/merklelog"
	"github.com/vitalchain/vitalchain/record"
	"github.com/vitalchain/vitalchain/vital"
)

// errLedgerDown is what the fake ledger answers when told to fail.
var errLedgerDown = errors.New("fake ledger: down")

// fakeLedger is an in-memory Ledger: members, grants, epochs and the
// anchored checkpoints of one cloud. Anchor checks what the real ledger
// checks (a larger checkpoint, a consistency proof from the previous one)
// and records every anchor it commits. It can be told to fail anchors, to
// hold them (a slow ledger), or to fail its queries.
type fakeLedger struct {
	mu        sync.Mutex
	members   map[identity.ID]*ledger.Member
	grants    map[[2]identity.ID]*ledger.GrantRecord
	epochs    map[identity.ID]uint64
	contracts map[[32]byte]*ledger.ContractRecord
	anchored  map[uint8]*ledger.AnchorRecord
	anchors   map[uint8][]ledger.Anchor // committed, in order
	calls     map[uint8]int             // Anchor calls, committed or not

	failAnchors int           // the next n Anchor calls fail (-1: all)
	gate        chan struct{} // if not nil, Anchor waits until it is closed
	queryErr    error         // if not nil, Member, Grant and Epoch fail with it
	grantErr    error         // if not nil, Grant fails with it
}

var _ Ledger = (*fakeLedger)(nil)

func newFakeLedger() *fakeLedger {
	return &fakeLedger{
		members:   map[identity.ID]*ledger.Member{},
		grants:    map[[2]identity.ID]*ledger.GrantRecord{},
		epochs:    map[identity.ID]uint64{},
		contracts: map[[32]byte]*ledger.ContractRecord{},
		anchored:  map[uint8]*ledger.AnchorRecord{},
		anchors:   map[uint8][]ledger.Anchor{},
		calls:     map[uint8]int{},
	}
}

func (l *fakeLedger) register(id *identity.Identity, cluster uint32) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.members[id.ID()] = &ledger.Member{Role: id.Role(), Verifying: id.Signing.Public().Bytes(), Cluster: cluster, Home: cluster}
}

func (l *fakeLedger) setGrant(patient, provider identity.ID, g *ledger.GrantRecord) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.grants[[2]identity.ID{patient, provider}] = g
}

func (l *fakeLedger) setEpoch(patient identity.ID, e uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.epochs[patient] = e
}

func (l *fakeLedger) set(f func(*fakeLedger)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f(l)
}

func (l *fakeLedger) Member(_ context.Context, id identity.ID) (*ledger.Member, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.queryErr != nil {
		return nil, l.queryErr
	}
	m, ok := l.members[id]
	if !ok {
		return nil, fmt.Errorf("%w: member %s", ErrNotFound, id)
	}
	c := *m
	return &c, nil
}

func (l *fakeLedger) Grant(_ context.Context, patient, provider identity.ID) (*ledger.GrantRecord, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.queryErr != nil {
		return nil, l.queryErr
	}
	if l.grantErr != nil {
		return nil, l.grantErr
	}
	g, ok := l.grants[[2]identity.ID{patient, provider}]
	if !ok {
		return nil, fmt.Errorf("%w: grant", ErrNotFound)
	}
	c := *g
	return &c, nil
}

func (l *fakeLedger) Contract(_ context.Context, id [32]byte) (*ledger.ContractRecord, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.queryErr != nil {
		return nil, l.queryErr
	}
	c, ok := l.contracts[id]
	if !ok {
		return nil, fmt.Errorf("%w: contract", ErrNotFound)
	}
	cc := *c
	return &cc, nil
}

func (l *fakeLedger) Epoch(_ context.Context, patient identity.ID) (uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.queryErr != nil {
		return 0, l.queryErr
	}
	return l.epochs[patient], nil
}

func (l *fakeLedger) Anchored(_ context.Context, log uint8) (*ledger.AnchorRecord, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	a, ok := l.anchored[log]
	if !ok {
		return nil, fmt.Errorf("%w: anchor of log %d", ErrNotFound, log)
	}
	c := *a
	return &c, nil
}

func (l *fakeLedger) Anchor(ctx context.Context, a *ledger.Anchor) error {
	l.mu.Lock()
	l.calls[a.Log]++
	gate := l.gate
	l.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.failAnchors != 0 {
		if l.failAnchors > 0 {
			l.failAnchors--
		}
		return errLedgerDown
	}
	var prev ledger.AnchorRecord
	if p, ok := l.anchored[a.Log]; ok {
		prev = *p
	}
	if a.Checkpoint.Size <= prev.Checkpoint.Size {
		if a.Checkpoint == prev.Checkpoint {
			return &ledger.Error{Code: ledger.CodeDuplicate, Err: errors.New("already anchored")}
		}
		return &ledger.Error{Code: ledger.CodeConsistency, Err: errors.New("does not extend the anchored checkpoint")}
	}
	old := prev.Checkpoint
	if old.Size == 0 {
		old.Root = merklelog.EmptyRoot()
	}
	if err := merklelog.VerifyConsistency(old, a.Checkpoint, a.Proof); err != nil {
		return &ledger.Error{Code: ledger.CodeConsistency, Err: err}
	}
	l.anchored[a.Log] = &ledger.AnchorRecord{Checkpoint: a.Checkpoint, Height: int64(len(l.anchors[a.Log]) + 1), Sealed: a.Sealed}
	l.anchors[a.Log] = append(l.anchors[a.Log], *a)
	return nil
}

// anchoredCP returns the anchored checkpoint of a log (size 0 if none).
func (l *fakeLedger) anchoredCP(log uint8) merklelog.Checkpoint {
	l.mu.Lock()
	defer l.mu.Unlock()
	if a, ok := l.anchored[log]; ok {
		return a.Checkpoint
	}
	return merklelog.Checkpoint{Root: merklelog.EmptyRoot()}
}

func (l *fakeLedger) committed(log uint8) []ledger.Anchor {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]ledger.Anchor(nil), l.anchors[log]...)
}

func (l *fakeLedger) anchorCalls(log uint8) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.calls[log]
}

// waitAnchored waits until the ledger anchors at least size entries of log.
func (l *fakeLedger) waitAnchored(t testing.TB, log uint8, size uint64) merklelog.Checkpoint {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		cp := l.anchoredCP(log)
		if cp.Size >= size {
			return cp
		}
		if time.Now().After(deadline) {
			t.Fatalf("log %d: anchored size %d after 10s, want %d", log, cp.Size, size)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// testClock is a clock that runs with real time, shifted by an offset the
// test moves.
type testClock struct{ offset atomic.Int64 }

func (c *testClock) Now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *testClock) advance(d time.Duration) { c.offset.Add(int64(d)) }

// testEnv is a cloud on a fault-injecting memory store and a fake ledger,
// with a registered patient (cluster 1, epoch 1).
type testEnv struct {
	t        testing.TB
	led      *fakeLedger
	st       *faultStore
	reg      *prometheus.Registry
	clock    *testClock
	cfg      Config
	svc      *Service
	cloud    *identity.Identity
	patient  *identity.Identity
	key      envelope.SessionKey
	contract [32]byte
	seq      atomic.Uint64
}

// testConfig is the default test configuration: anchors often.
func testConfig(c *Config) {
	c.BlockRecords = 1000
	c.BlockInterval = 30 * time.Millisecond
}

func newEnv(t testing.TB, opts ...func(*Config)) *testEnv {
	t.Helper()
	e := &testEnv{t: t, led: newFakeLedger(), clock: new(testClock)}
	e.cloud = e.member(identity.RoleCloud, 1)
	e.patient = e.member(identity.RolePatient, 1)
	e.led.setEpoch(e.patient.ID(), 1)
	var err error
	if e.key, err = envelope.NewSessionKey(); err != nil {
		t.Fatal(err)
	}
	e.contract[0], e.contract[31] = 0xc0, 0x01
	e.st = newFaultStore(NewMemStore())
	t.Cleanup(func() {
		if e.svc != nil {
			e.svc.Close()
		}
		e.st.Close()
	})
	e.cfg = Config{Key: e.cloud.Signing, Store: e.st, Ledger: e.led, Now: e.clock.Now}
	testConfig(&e.cfg)
	for _, o := range opts {
		o(&e.cfg)
	}
	e.start()
	return e
}

// start starts the service on the env's store, ledger and config, with a
// fresh metrics registry.
func (e *testEnv) start() {
	e.t.Helper()
	svc, err := e.open()
	if err != nil {
		e.t.Fatal(err)
	}
	e.svc = svc
}

func (e *testEnv) open() (*Service, error) {
	e.reg = prometheus.NewRegistry()
	cfg := e.cfg
	cfg.Metrics = e.reg
	return New(context.Background(), cfg)
}

// restart closes the service and starts a new one on the same store.
func (e *testEnv) restart() {
	e.t.Helper()
	e.svc.Close()
	e.svc = nil
	e.start()
}

// member makes a new identity and registers it in cluster.
func (e *testEnv) member(role identity.Role, cluster uint32) *identity.Identity {
	e.t.Helper()
	id, err := identity.Generate(role, identity.SuiteX25519)
	if err != nil {
		e.t.Fatal(err)
	}
	e.led.register(id, cluster)
	return id
}

// header is a valid header of one of the patient's records.
func (e *testEnv) header() record.Header {
	return record.Header{Patient: e.patient.ID(), Epoch: 1, Contract: e.contract, Alert: true,
		Time: e.clock.Now().UnixMilli(), Seq: e.seq.Add(1)}
}

// sealBy seals a glucose record by author (a patient or provider) with h.
func (e *testEnv) sealBy(author *identity.Identity, h record.Header) ([]byte, [32]byte) {
	e.t.Helper()
	return e.sealKind(author, h, vital.Glucose)
}

// sealKind seals a record of kind by author with h.
func (e *testEnv) sealKind(author *identity.Identity, h record.Header, kind vital.Kind) ([]byte, [32]byte) {
	e.t.Helper()
	r, err := record.Seal(h, e.key, record.Payload{Kind: kind, Severity: 1, Body: []byte("reading")}, author.Signing)
	if err != nil {
		e.t.Fatal(err)
	}
	b, err := r.Marshal()
	if err != nil {
		e.t.Fatal(err)
	}
	return b, r.ID()
}

// record seals a new record of the patient, of kind.
func (e *testEnv) record(kind vital.Kind) ([]byte, [32]byte) {
	return e.sealKind(e.patient, e.header(), kind)
}

// resign rewrites a sealed record's header with mod and signs it with
// signer, whatever its role: records record.Seal would refuse to make.
func (e *testEnv) resign(raw []byte, signer *identity.SigningKey, mod func(*record.Header)) ([]byte, [32]byte) {
	e.t.Helper()
	r, err := record.ParseRecord(raw)
	if err != nil {
		e.t.Fatal(err)
	}
	h, err := r.Header()
	if err != nil {
		e.t.Fatal(err)
	}
	mod(&h)
	out := record.Record{Ciphertext: r.Ciphertext}
	if out.HeaderBytes, err = codec.Marshal(&h); err != nil {
		e.t.Fatal(err)
	}
	out.Signature = signer.SignContext(record.SignContext, out.HeaderBytes)
	b, err := out.Marshal()
	if err != nil {
		e.t.Fatal(err)
	}
	return b, out.ID()
}

// ingest ingests raws and fails the test on any refusal.
func (e *testEnv) ingest(raws ...[]byte) []cloudapi.Ack {
	e.t.Helper()
	acks := e.svc.Ingest(context.Background(), raws)
	for i, a := range acks {
		if a.Code != "" {
			e.t.Fatalf("record %d refused: %s: %s", i, a.Code, a.Error)
		}
	}
	return acks
}

// size returns the stored size of a log.
func (e *testEnv) size(log uint8) uint64 {
	e.t.Helper()
	n, err := e.st.Size(log)
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

// request signs a request by key at the cloud's current time.
func (e *testEnv) request(key *identity.SigningKey, op string, rec [32]byte, from uint64) []byte {
	e.t.Helper()
	b, err := cloudapi.NewRequest(key, e.svc.ID(), op, rec, from, e.clock.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	return b
}

// accessLog lists the patient's access log, verifies it as the patient's
// client does (against the ledger's anchor), and returns its entries but
// the listings.
func (e *testEnv) accessLog(patient *identity.Identity) []cloudapi.AccessEntry {
	e.t.Helper()
	return e.accessLogFrom(patient, 0)
}

// accessLogFrom is accessLog from index from on.
func (e *testEnv) accessLogFrom(patient *identity.Identity, from uint64) []cloudapi.AccessEntry {
	e.t.Helper()
	vs, err := e.verifiedLog(patient, from)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []cloudapi.AccessEntry
	for _, v := range vs {
		if !v.Signed {
			e.t.Fatalf("access entry %d carries no signed request", v.Index)
		}
		if v.Op != cloudapi.AccessList {
			out = append(out, v.AccessEntry)
		}
	}
	return out
}

// verifiedLog lists a page of the patient's access log and verifies it
// against the ledger's anchor.
func (e *testEnv) verifiedLog(patient *identity.Identity, from uint64) ([]cloudapi.VerifiedEntry, error) {
	l, err := e.svc.AccessLog(context.Background(), e.request(patient.Signing, cloudapi.OpAccess, [32]byte{}, from))
	if err != nil {
		return nil, err
	}
	return verifyListing(e, l, patient.ID())
}

// verifyListing verifies a listing for patient as its client does.
func verifyListing(e *testEnv, l *cloudapi.AccessListing, patient identity.ID) ([]cloudapi.VerifiedEntry, error) {
	e.t.Helper()
	c := cloudapi.ListingCheck{Patient: patient, Cloud: e.svc.ID(), Anchor: e.led.anchoredCP(LogAccess), Key: e.keyOf}
	if a := c.Anchor; a.Size != 0 && a.Size != l.Checkpoint.Size && (a.Size > l.Checkpoint.Size || l.Anchored != a) {
		_, _, p, err := e.svc.Consistency(LogAccess, min(a.Size, l.Checkpoint.Size), max(a.Size, l.Checkpoint.Size))
		if err != nil {
			return nil, err
		}
		c.AnchorProof = p
	}
	return cloudapi.VerifyListing(l, c)
}

// keyOf returns a member's verifying key from the ledger.
func (e *testEnv) keyOf(id identity.ID) (identity.VerifyingKey, error) {
	m, err := e.led.Member(context.Background(), id)
	if err != nil {
		return identity.VerifyingKey{}, err
	}
	return m.VerifyingKey()
}

// metric returns the value of a counter or gauge in the env's registry
// (summed over the series whose labels include labels), 0 if absent.
func (e *testEnv) metric(name string, labels ...string) float64 {
	e.t.Helper()
	mfs, err := e.reg.Gather()
	if err != nil {
		e.t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue series
				}
			}
			switch {
			case m.Counter != nil:
				sum += m.GetCounter().GetValue()
			case m.Gauge != nil:
				sum += m.GetGauge().GetValue()
			case m.Histogram != nil:
				sum += float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return sum
}

// eventually polls cond until it holds, failing after 10 s.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
