package cloud

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/vitalchain/vitalchain/cloud/cloudapi"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/ledger"
	"github.com/vitalchain/vitalchain/lifecycle"
	"github.com/vitalchain/vitalchain/vital"
)

// change signs a state change by key at the cloud's clock.
func (e *testEnv) change(key *identity.SigningKey, op string, alert [32]byte, from uint64, subject *identity.ID) []byte {
	e.t.Helper()
	b, err := cloudapi.NewSubjectRequest(key, e.svc.ID(), op, alert, from, subject, e.clock.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	return b
}

// states lists the alerts' states key may see, changed after from.
func (e *testEnv) states(key *identity.SigningKey, from uint64) map[[32]byte]lifecycle.Status {
	e.t.Helper()
	res, err := e.svc.AlertStates(context.Background(), e.request(key, cloudapi.OpStates, [32]byte{}, from))
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[[32]byte]lifecycle.Status{}
	for _, s := range res.States {
		out[s.Alert] = s
	}
	return out
}

// device registers a device of the env's patient.
func (e *testEnv) device() *identity.Identity {
	d := e.member(identity.RoleDevice, 1)
	pid := e.patient.ID()
	e.led.set(func(l *fakeLedger) { l.members[d.ID()].Patient = pid[:] })
	return d
}

// lifecycleEnv is a cloud with an alert of the patient's contract, which
// names providers a and b, both granted; c is a provider not on it.
func lifecycleEnv(t *testing.T, opts ...func(*Config)) (e *testEnv, alert [32]byte, a, b, c *identity.Identity) {
	e = newEnv(t, opts...)
	a, b, c = e.member(identity.RoleProvider, 1), e.member(identity.RoleProvider, 1), e.member(identity.RoleProvider, 1)
	e.deploy(true, a, b)
	e.grant(a, vital.Glucose)
	e.grant(b, vital.Glucose)
	e.grant(c, vital.Glucose)
	raw, id := e.record(vital.Glucose)
	e.ingest(raw)
	return e, id, a, b, c
}

// An acknowledgement by one provider is the state every party reads: the
// other provider, the patient, and a restarted cloud; it is in the
// patient's access log, signed, and verified as such.
func TestAlertStateShared(t *testing.T) {
	t.Parallel()
	e, alert, a, b, _ := lifecycleEnv(t)
	st, err := e.svc.ChangeAlert(context.Background(), e.change(a.Signing, cloudapi.OpAck, alert, 0, nil))
	if err != nil {
		t.Fatal(err)
	}
	if st.State != lifecycle.Acknowledged || st.By != a.ID() || len(st.Changes) != 1 {
		t.Fatalf("after the acknowledgement: %+v", st)
	}
	check := func(when string) {
		t.Helper()
		for name, key := range map[string]*identity.SigningKey{"the other provider": b.Signing, "the patient": e.patient.Signing} {
			got, ok := e.states(key, 0)[alert]
			if !ok || got.State != lifecycle.Acknowledged || got.By != a.ID() {
				t.Errorf("%s: %s reads %+v (listed %v)", when, name, got, ok)
			}
		}
	}
	check("at once")
	until := e.clock.Now().Add(time.Hour).UnixMilli()
	if _, err := e.svc.ChangeAlert(context.Background(), e.change(b.Signing, cloudapi.OpSnooze, alert, uint64(until), nil)); err != nil {
		t.Fatal(err)
	}
	e.restart()
	check("after a restart")
	got := e.states(a.Signing, 0)[alert]
	if got.Snoozed != until || len(got.Changes) != 2 {
		t.Errorf("after a restart, the snooze or the changes are lost: %+v", got)
	}
	// A listing from the last Seq lists nothing new.
	if n := len(e.states(a.Signing, got.Seq)); n != 0 {
		t.Errorf("from the last seq: %d states", n)
	}
	if _, err := e.svc.ChangeAlert(context.Background(), e.change(b.Signing, cloudapi.OpResolve, alert, 0, nil)); err != nil {
		t.Fatal(err)
	}
	var ops []string
	for _, en := range e.accessLog(e.patient) {
		if en.Op == cloudapi.AccessState {
			if en.Record != alert {
				t.Errorf("a state entry names %x", en.Record[:8])
			}
			r, _ := cloudapi.ParseRequest(en.Request)
			ops = append(ops, r.Op)
		}
	}
	if want := []string{cloudapi.OpAck, cloudapi.OpSnooze, cloudapi.OpResolve}; len(ops) != 3 || ops[0] != want[0] || ops[1] != want[1] || ops[2] != want[2] {
		t.Errorf("the patient's access log holds the changes %v, want %v", ops, want)
	}
	if n := e.metric("vitalchain_cloud_alert_changes_total", "outcome", "resolve"); n != 1 {
		t.Errorf("resolutions counted: %v", n)
	}
}

// Forged, replayed, unauthorised and illegal changes are refused with
// their own error, counted, and store nothing.
func TestAlertStateRefused(t *testing.T) {
	t.Parallel()
	e, alert, a, _, c := lifecycleEnv(t)
	revoked := e.member(identity.RoleProvider, 1)
	expired := e.member(identity.RoleProvider, 1)
	stranger := e.member(identity.RoleProvider, 2)
	e.deploy(true, a, revoked, expired)
	e.grant(revoked, vital.Glucose).Revoked = 7
	e.led.setGrant(e.patient.ID(), expired.ID(), &ledger.GrantRecord{Expiry: e.clock.Now().Add(-time.Minute).UnixMilli(), Epoch: 1, Height: 1})
	acked := e.change(a.Signing, cloudapi.OpAck, alert, 0, nil)
	forged := e.change(a.Signing, cloudapi.OpAck, alert, 0, nil)
	forged[len(forged)-70] ^= 1 // inside the signature
	if r, err := cloudapi.ParseRequest(forged); err != nil || r.Requester != a.ID() {
		t.Fatalf("the forged request does not parse as a's: %v", err)
	}
	for _, tc := range []struct {
		name string
		req  func() []byte
		err  error
		code string
	}{
		{"a forged signature", func() []byte { return forged }, ErrBadSignature, cloudapi.CodeBadSignature},
		{"a provider not on the contract", func() []byte { return e.change(c.Signing, cloudapi.OpAck, alert, 0, nil) }, ErrNoGrant, cloudapi.CodeNoGrant},
		{"a revoked provider", func() []byte { return e.change(revoked.Signing, cloudapi.OpAck, alert, 0, nil) }, ErrRevoked, cloudapi.CodeRevoked},
		{"an expired grant", func() []byte { return e.change(expired.Signing, cloudapi.OpResolve, alert, 0, nil) }, ErrExpired, cloudapi.CodeExpired},
		{"an unregistered provider", func() []byte {
			id, _ := identity.Generate(identity.RoleProvider, identity.SuiteX25519)
			return e.change(id.Signing, cloudapi.OpAck, alert, 0, nil)
		}, ErrUnknownSigner, cloudapi.CodeUnknownSigner},
		{"a provider of another cluster, no grant", func() []byte { return e.change(stranger.Signing, cloudapi.OpAck, alert, 0, nil) }, ErrNoGrant, cloudapi.CodeNoGrant},
		{"the patient acknowledging", func() []byte { return e.change(e.patient.Signing, cloudapi.OpAck, alert, 0, nil) }, ErrWrongRole, cloudapi.CodeWrongRole},
		{"a provider escalating", func() []byte { id := a.ID(); return e.change(a.Signing, cloudapi.OpEscalate, alert, 1, &id) }, ErrWrongRole, cloudapi.CodeWrongRole},
		{"an unknown alert", func() []byte { return e.change(a.Signing, cloudapi.OpAck, [32]byte{7}, 0, nil) }, ErrUnknownAlert, cloudapi.CodeUnknownAlert},
		{"a snooze of a day and more", func() []byte {
			return e.change(a.Signing, cloudapi.OpSnooze, alert, uint64(e.clock.Now().Add(25*time.Hour).UnixMilli()), nil)
		}, ErrIllegalTransition, cloudapi.CodeIllegalTransition},
		{"the acknowledgement", func() []byte { return acked }, nil, cloudapi.OpAck},
		{"the acknowledgement replayed", func() []byte { return acked }, ErrReplay, cloudapi.CodeReplay},
		{"a second acknowledgement", func() []byte { return e.change(a.Signing, cloudapi.OpAck, alert, 0, nil) }, ErrIllegalTransition, cloudapi.CodeIllegalTransition},
		{"an escalation of an acknowledged alert", func() []byte {
			id := a.ID()
			return e.change(e.patient.Signing, cloudapi.OpEscalate, alert, 1, &id)
		}, ErrIllegalTransition, cloudapi.CodeIllegalTransition},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := e.size(LogAccess)
			counted := e.metric("vitalchain_cloud_alert_changes_total", "outcome", tc.code)
			prev := e.states(e.patient.Signing, 0)[alert]
			after := e.size(LogAccess) // the listing above does not log; nothing else runs
			if after != before {
				t.Fatalf("listing the states logged %d entries", after-before)
			}
			_, err := e.svc.ChangeAlert(context.Background(), tc.req())
			if !errors.Is(err, tc.err) || (err == nil) != (tc.err == nil) {
				t.Fatalf("got %v, want %v", err, tc.err)
			}
			if n := e.metric("vitalchain_cloud_alert_changes_total", "outcome", tc.code); n != counted+1 {
				t.Errorf("counted %v times under %q, want %v", n, tc.code, counted+1)
			}
			if tc.err == nil {
				return
			}
			if n := e.size(LogAccess); n != before {
				t.Errorf("a refused change stored %d entries", n-before)
			}
			if got := e.states(e.patient.Signing, 0)[alert]; got.State != prev.State || len(got.Changes) != len(prev.Changes) {
				t.Errorf("a refused change changed the state: %+v, was %+v", got, prev)
			}
		})
	}
}

// The patient escalates an unacknowledged alert to a provider on its
// contract, one level at a time; the cloud refuses an escalation twice, to
// a provider not on the contract, or of another patient's alert.
func TestAlertEscalation(t *testing.T) {
	t.Parallel()
	e, alert, a, b, c := lifecycleEnv(t)
	other := e.member(identity.RolePatient, 1)
	bid, cid := b.ID(), c.ID()
	for _, tc := range []struct {
		name string
		req  []byte
		err  error
	}{
		{"to a provider not on the contract", e.change(e.patient.Signing, cloudapi.OpEscalate, alert, 1, &cid), ErrIllegalTransition},
		{"by another patient", e.change(other.Signing, cloudapi.OpEscalate, alert, 1, &bid), ErrWrongRole},
		{"skipping a level", e.change(e.patient.Signing, cloudapi.OpEscalate, alert, 2, &bid), ErrIllegalTransition},
		{"to the next provider", e.change(e.patient.Signing, cloudapi.OpEscalate, alert, 1, &bid), nil},
		{"the same level again", e.change(e.patient.Signing, cloudapi.OpEscalate, alert, 1, &bid), ErrIllegalTransition},
	} {
		_, err := e.svc.ChangeAlert(context.Background(), tc.req)
		if !errors.Is(err, tc.err) || (err == nil) != (tc.err == nil) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.err)
		}
	}
	got := e.states(b.Signing, 0)[alert]
	if got.Level != 1 || got.Assigned != bid || got.State != lifecycle.Raised {
		t.Errorf("the escalated alert reads %+v", got)
	}
	if _, err := e.svc.ChangeAlert(context.Background(), e.change(b.Signing, cloudapi.OpAck, alert, 0, nil)); err != nil {
		t.Fatal(err)
	}
	if got := e.states(a.Signing, 0)[alert]; got.State != lifecycle.Acknowledged || got.By != bid {
		t.Errorf("after the escalated provider acknowledged: %+v", got)
	}
}

// A patient's gateway raises a no-data alert for its silent device: once
// per silence; the providers see it; a device not the patient's is refused.
func TestNoDataByDevice(t *testing.T) {
	t.Parallel()
	e, _, a, _, _ := lifecycleEnv(t)
	dev := e.device()
	strange := e.member(identity.RoleDevice, 1) // no patient's
	did, sid := dev.ID(), strange.ID()
	since := uint64(e.clock.Now().Add(-time.Hour).UnixMilli())
	st, err := e.svc.ChangeAlert(context.Background(), e.change(e.patient.Signing, cloudapi.OpNoData, e.contract, since, &did))
	if err != nil {
		t.Fatal(err)
	}
	want := lifecycle.NoDataID(e.patient.ID(), did, int64(since))
	if st.Alert != want || !st.NoData || st.Device != did || st.Since != int64(since) || st.State != lifecycle.Raised {
		t.Fatalf("the no-data alert: %+v", st)
	}
	for _, tc := range []struct {
		name string
		req  []byte
		err  error
	}{
		{"the same again", e.change(e.patient.Signing, cloudapi.OpNoData, e.contract, since, &did), ErrIllegalTransition},
		{"another while it is open", e.change(e.patient.Signing, cloudapi.OpNoData, e.contract, since+1, &did), ErrIllegalTransition},
		{"a device not the patient's", e.change(e.patient.Signing, cloudapi.OpNoData, e.contract, since, &sid), ErrBadRequest},
		{"another contract", e.change(e.patient.Signing, cloudapi.OpNoData, [32]byte{5}, since, &did), ErrBadRequest},
		{"by a provider", e.change(a.Signing, cloudapi.OpNoData, e.contract, since, &did), ErrWrongRole},
	} {
		_, err := e.svc.ChangeAlert(context.Background(), tc.req)
		if !errors.Is(err, tc.err) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.err)
		}
	}
	got, ok := e.states(a.Signing, 0)[want]
	if !ok || !got.NoData || got.Device != did {
		t.Fatalf("the provider does not see the no-data alert: %+v", got)
	}
	// Acknowledged and resolved like any alert; then the device may be
	// reported silent again.
	for _, op := range []string{cloudapi.OpAck, cloudapi.OpResolve} {
		if _, err := e.svc.ChangeAlert(context.Background(), e.change(a.Signing, op, want, 0, nil)); err != nil {
			t.Fatal(op, err)
		}
	}
	if _, err := e.svc.ChangeAlert(context.Background(), e.change(e.patient.Signing, cloudapi.OpNoData, e.contract, since+1, &did)); err != nil {
		t.Errorf("a new silence after the resolution: %v", err)
	}
	e.accessLog(e.patient) // every entry verifies
}

// A gateway whose heartbeats stop past its bound gets a no-data alert the
// cloud raises, once per silence, on the cloud's (fake) clock; a restarted
// cloud keeps watching.
func TestNoDataByGateway(t *testing.T) {
	t.Parallel()
	e, _, a, _, _ := lifecycleEnv(t, func(c *Config) { c.SilenceTick = -1 })
	const bound = time.Minute
	beat := func() {
		t.Helper()
		res, err := e.svc.Heartbeat(context.Background(), e.request(e.patient.Signing, cloudapi.OpHeartbeat, e.contract, uint64(bound.Milliseconds())))
		if err != nil || !res.Armed || res.Bound != uint64(bound.Milliseconds()) {
			t.Fatalf("heartbeat: %+v %v", res, err)
		}
	}
	silence := func(want int) {
		t.Helper()
		n, err := e.svc.CheckSilence(context.Background())
		if err != nil || n != want {
			t.Fatalf("CheckSilence raised %d (%v), want %d", n, err, want)
		}
	}
	noData := func() []lifecycle.Status {
		var out []lifecycle.Status
		for _, s := range e.states(a.Signing, 0) {
			if s.NoData && s.Device == (identity.ID{}) {
				out = append(out, s)
			}
		}
		return out
	}
	beat()
	last := e.clock.Now()
	e.clock.advance(bound / 2)
	silence(0)
	beat()
	size := e.size(LogAccess)
	beat() // only the first heartbeat (or a new bound) is logged
	last = e.clock.Now()
	if n := e.size(LogAccess); n != size {
		t.Errorf("a repeated heartbeat logged %d entries", n-size)
	}
	e.clock.advance(bound + time.Second)
	silence(1)
	silence(0) // once per silence
	got := noData()
	if len(got) != 1 || got[0].Patient != e.patient.ID() || got[0].Since < last.UnixMilli()-1000 || got[0].Since > last.UnixMilli() {
		t.Fatalf("the gateway's no-data alert: %+v (last heartbeat %d)", got, last.UnixMilli())
	}
	// After a restart the watch goes on from the start, and the open alert
	// is not raised again.
	e.restart()
	e.clock.advance(2 * bound)
	silence(0)
	if _, err := e.svc.ChangeAlert(context.Background(), e.change(a.Signing, cloudapi.OpResolve, got[0].Alert, 0, nil)); err != nil {
		t.Fatal(err)
	}
	e.restart()
	silence(0)
	e.clock.advance(bound + time.Second)
	silence(1)
	if n := len(noData()); n != 2 {
		t.Errorf("%d no-data alerts of the gateway, want 2", n)
	}
	// A heartbeat by a provider, or of a contract not the patient's, is refused.
	if _, err := e.svc.Heartbeat(context.Background(), e.request(a.Signing, cloudapi.OpHeartbeat, e.contract, 60000)); !errors.Is(err, ErrWrongRole) {
		t.Errorf("a provider's heartbeat: %v", err)
	}
	if _, err := e.svc.Heartbeat(context.Background(), e.request(e.patient.Signing, cloudapi.OpHeartbeat, [32]byte{3}, 60000)); !errors.Is(err, ErrBadRequest) {
		t.Errorf("a heartbeat of another contract: %v", err)
	}
	if _, err := e.svc.Heartbeat(context.Background(), e.request(e.patient.Signing, cloudapi.OpHeartbeat, e.contract, 1)); !errors.Is(err, ErrBadRequest) {
		t.Errorf("a heartbeat with a bound of 1 ms: %v", err)
	}
	e.accessLog(e.patient) // every entry verifies, the cloud's no-data alerts too
}
