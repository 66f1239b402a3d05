package gateway_test

import (
	"bytes"
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/vitalchain/vitalchain/cloud/cloudapi"
	"github.com/vitalchain/vitalchain/contract"
	"github.com/vitalchain/vitalchain/gateway"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/ledger"
	"github.com/vitalchain/vitalchain/lifecycle"
	"github.com/vitalchain/vitalchain/outbox"
	"github.com/vitalchain/vitalchain/vital"
)

// The memCloud is a gateway.AlertCloud too: requests signed now, served by
// the cloud in process.
func (c *memCloud) ChangeAlert(ctx context.Context, key *identity.SigningKey, op string, alert [32]byte, from uint64, subject *identity.ID) (*lifecycle.Status, error) {
	req, err := cloudapi.NewSubjectRequest(key, c.svc.ID(), op, alert, from, subject, time.Now())
	if err != nil {
		return nil, err
	}
	st, err := c.svc.ChangeAlert(ctx, req)
	if err != nil {
		return nil, &cloudapi.RequestError{Status: 409, Problem: cloudapi.Problem{Code: codeOf(err), Message: err.Error()}}
	}
	return st, nil
}

func codeOf(err error) string {
	if bytes.Contains([]byte(err.Error()), []byte("illegal transition")) {
		return cloudapi.CodeIllegalTransition
	}
	return cloudapi.CodeBadRequest
}

func (c *memCloud) AlertStates(ctx context.Context, key *identity.SigningKey, from uint64) (*cloudapi.AlertStates, error) {
	req, err := cloudapi.NewRequest(key, c.svc.ID(), cloudapi.OpStates, [32]byte{}, from, time.Now())
	if err != nil {
		return nil, err
	}
	return c.svc.AlertStates(ctx, req)
}

func (c *memCloud) Heartbeat(ctx context.Context, key *identity.SigningKey, contract [32]byte, bound time.Duration) (*cloudapi.HeartbeatResult, error) {
	req, err := cloudapi.NewRequest(key, c.svc.ID(), cloudapi.OpHeartbeat, contract, uint64(bound.Milliseconds()), time.Now())
	if err != nil {
		return nil, err
	}
	return c.svc.Heartbeat(ctx, req)
}

// fakeClock is a clock the test moves.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// The gateway's part of the lifecycle, on a fake clock: an alert left
// unacknowledged past the contract's escalation time goes to the next
// provider, then the next, never past the last; an acknowledged one
// stays; a device silent past the contract's no-data bound gets a no-data
// alert, once per silence; heartbeats carry the bound to the cloud.
// The escalation time and no-data bound of the on-call contract, seconds.
const escalation, noData = 60, 300

// onCall deploys a contract of three providers, in ID order, with an
// escalation time and a no-data bound.
func onCall(t *testing.T, w *memWorld) (dc *ledger.DeployContract, provs []*identity.Identity, ids []identity.ID) {
	t.Helper()
	p2 := w.admit(w.head, identity.RoleProvider, identity.ID{})
	p3 := w.admit(w.head, identity.RoleProvider, identity.ID{})
	provs = []*identity.Identity{w.provider, p2, p3}
	slices.SortFunc(provs, func(a, b *identity.Identity) int { a1, b1 := a.ID(), b.ID(); return bytes.Compare(a1[:], b1[:]) })
	ids = []identity.ID{provs[0].ID(), provs[1].ID(), provs[2].ID()}
	terms := contract.Terms{Version: contract.Version, Patient: w.patient.ID(), Providers: ids,
		Rules:      []contract.Rule{{Kind: vital.Glucose, Expr: "value > 180.0", Severity: contract.Critical}},
		Escalation: escalation, NoData: noData, Name: "on call"}
	dc, err := ledger.NewDeployContract(w.patient, terms, provs...)
	if err != nil {
		t.Fatal(err)
	}
	w.submit(w.patient.Signing, dc)
	return dc, provs, ids
}

// lifecycleGateway starts a gateway whose lifecycle runs only when the
// test calls CheckLifecycle, on clock.
func lifecycleGateway(t *testing.T, w *memWorld, dir string, clock *fakeClock) *gateway.Gateway {
	t.Helper()
	g, err := gateway.New(w.ctx, gateway.Config{Patient: w.patient, Chain: w.cl, Cloud: w.cloud, Dir: dir, Now: clock.Now,
		LifecycleTick: -1, Uploader: outbox.UploaderOptions{MinBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// patientState is an alert's state at the cloud, as the patient reads it.
func patientState(t *testing.T, w *memWorld, id [32]byte) lifecycle.Status {
	t.Helper()
	res, err := w.cloud.AlertStates(w.ctx, w.patient.Signing, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range res.States {
		if s.Alert == id {
			return s
		}
	}
	return lifecycle.Status{State: lifecycle.Raised}
}

// onCallAlerts returns the records of contract dc at the cloud.
func onCallAlerts(t *testing.T, w *memWorld, dc *ledger.DeployContract) [][32]byte {
	t.Helper()
	var alerts [][32]byte
	recs, _ := w.cloud.store.RecordsFrom(0, 100)
	for i, h := range w.cloud.headers(t) {
		if h.Contract == dc.ID() {
			alerts = append(alerts, recs[i].ID)
		}
	}
	return alerts
}

func TestLifecycleEscalationAndNoData(t *testing.T) {
	w := newMemWorld(t)
	ctx := w.ctx
	dc, provs, ids := onCall(t, w)
	// The gateway's clock runs an hour behind the cloud's, which checks
	// the signed requests' times against its own.
	clock := &fakeClock{now: time.Now().Add(-time.Hour)}
	g := lifecycleGateway(t, w, t.TempDir(), clock)
	defer g.Close()
	if err := g.Patient().Grant(ctx, ids[0], []vital.Kind{vital.Glucose}, false, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	// Two alerts of the on-call contract (and two of the other, which has
	// no escalation time).
	for _, v := range []int64{250, 260} {
		w.seq++
		if err := g.HandleReading(ctx, w.readingOf(w.device, w.patient.ID(), w.seq, clock.Now(), v)); err != nil {
			t.Fatal(err)
		}
	}
	if err := g.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	alerts := onCallAlerts(t, w, dc)
	if len(alerts) != 2 {
		t.Fatalf("%d alerts of the on-call contract, want 2", len(alerts))
	}
	// The first provider acknowledges the second alert.
	if _, err := w.cloud.ChangeAlert(ctx, provs[0].Signing, cloudapi.OpAck, alerts[1], 0, nil); err != nil {
		t.Fatal(err)
	}
	state := func(id [32]byte) lifecycle.Status { t.Helper(); return patientState(t, w, id) }
	round := func() {
		t.Helper()
		if err := g.CheckLifecycle(ctx); err != nil {
			t.Fatal(err)
		}
	}
	round()
	if s := state(alerts[0]); s.Level != 0 {
		t.Fatalf("escalated before its time: %+v", s)
	}
	if st := g.LifecycleStats(); st.Heartbeats != 1 {
		t.Errorf("heartbeats: %d, want 1", st.Heartbeats)
	}
	for i, want := range []struct {
		level uint8
		to    identity.ID
	}{{1, ids[1]}, {2, ids[2]}, {2, ids[2]}} {
		clock.advance(escalation * time.Second)
		round()
		s := state(alerts[0])
		if s.Level != want.level || s.Assigned != want.to || s.State != lifecycle.Raised {
			t.Fatalf("after %d escalation times: level %d to %s, want %d to %s", i+1, s.Level, s.Assigned, want.level, want.to)
		}
		if a := state(alerts[1]); a.Level != 0 || a.State != lifecycle.Acknowledged {
			t.Fatalf("the acknowledged alert: %+v", a)
		}
	}
	if st := g.LifecycleStats(); st.Escalated != 2 || st.Watched != 0 {
		t.Errorf("escalations %d (want 2), alerts still watched %d (want 0)", st.Escalated, st.Watched)
	}

	// The device has been silent for 3 escalation times; past the no-data
	// bound it gets its alert, once.
	if st := g.LifecycleStats(); st.NoData != 0 {
		t.Fatalf("a no-data alert before the bound: %+v", st)
	}
	clock.advance(noData * time.Second)
	round()
	round()
	if st := g.LifecycleStats(); st.NoData != 1 {
		t.Fatalf("no-data alerts: %d, want 1", st.NoData)
	}
	res, err := w.cloud.AlertStates(ctx, w.patient.Signing, 0)
	if err != nil {
		t.Fatal(err)
	}
	var noDataAlert [32]byte
	for _, s := range res.States {
		if s.NoData && s.Device == w.device.Public().ID() && s.Contract == dc.ID() {
			noDataAlert = s.Alert
		}
	}
	if noDataAlert == ([32]byte{}) {
		t.Fatalf("the cloud holds no no-data alert of the device: %+v", res.States)
	}
	// Resolved by the provider; the device speaks again, then falls
	// silent again: a new alert.
	if _, err := w.cloud.ChangeAlert(ctx, provs[0].Signing, cloudapi.OpResolve, noDataAlert, 0, nil); err != nil {
		t.Fatal(err)
	}
	w.seq++
	if err := g.HandleReading(ctx, w.readingOf(w.device, w.patient.ID(), w.seq, clock.Now(), 100)); err != nil {
		t.Fatal(err)
	}
	clock.advance(noData*time.Second - time.Second)
	round()
	if st := g.LifecycleStats(); st.NoData != 1 {
		t.Fatalf("no-data alerts before the second silence's bound: %d, want 1", st.NoData)
	}
	clock.advance(2 * time.Second)
	round()
	if st := g.LifecycleStats(); st.NoData != 2 {
		t.Fatalf("no-data alerts after a second silence: %d, want 2", st.NoData)
	}
}

// An alert raised before the gateway restarts is escalated after it: the
// gateway keeps what it watches with its records (it forgot them once,
// and an alert raised just before a restart never escalated).
func TestEscalationSurvivesRestart(t *testing.T) {
	w := newMemWorld(t)
	ctx := w.ctx
	dc, provs, ids := onCall(t, w)
	clock := &fakeClock{now: time.Now().Add(-time.Hour)}
	dir := t.TempDir()
	g := lifecycleGateway(t, w, dir, clock)
	if err := g.Patient().Grant(ctx, ids[0], []vital.Kind{vital.Glucose}, false, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	w.seq++
	if err := g.HandleReading(ctx, w.readingOf(w.device, w.patient.ID(), w.seq, clock.Now(), 250)); err != nil {
		t.Fatal(err)
	}
	if err := g.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	alerts := onCallAlerts(t, w, dc)
	if len(alerts) != 1 {
		t.Fatalf("%d alerts of the on-call contract, want 1", len(alerts))
	}

	g = lifecycleGateway(t, w, dir, clock)
	defer g.Close()
	if st := g.LifecycleStats(); st.Watched != 1 {
		t.Fatalf("the restarted gateway watches %d alerts, want 1", st.Watched)
	}
	clock.advance(escalation * time.Second)
	if err := g.CheckLifecycle(ctx); err != nil {
		t.Fatal(err)
	}
	if s := patientState(t, w, alerts[0]); s.Level != 1 || s.Assigned != ids[1] {
		t.Fatalf("after the escalation time: level %d to %s, want 1 to %s", s.Level, s.Assigned, ids[1])
	}
	// Acknowledged: no longer watched, and not after another restart.
	if _, err := w.cloud.ChangeAlert(ctx, provs[0].Signing, cloudapi.OpAck, alerts[0], 0, nil); err != nil {
		t.Fatal(err)
	}
	if err := g.CheckLifecycle(ctx); err != nil {
		t.Fatal(err)
	}
	if st := g.LifecycleStats(); st.Watched != 0 {
		t.Fatalf("an acknowledged alert still watched: %+v", st)
	}
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	g = lifecycleGateway(t, w, dir, clock)
	defer g.Close()
	if st := g.LifecycleStats(); st.Watched != 0 {
		t.Fatalf("an acknowledged alert watched again after a restart: %+v", st)
	}
}
