package cloud

import (
	"bytes"
	"context"
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/vitalchain/vitalchain/cloud/cloudapi"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/ledger"
	"github.com/vitalchain/vitalchain/record"
	"github.com/vitalchain/vitalchain/vital"
)

// deploy records the env's contract on the fake ledger, naming providers.
func (e *testEnv) deploy(active bool, providers ...*identity.Identity) {
	var ps []identity.ID
	for _, p := range providers {
		ps = append(ps, p.ID())
	}
	e.led.set(func(l *fakeLedger) {
		l.contracts[e.contract] = &ledger.ContractRecord{Patient: e.patient.ID(), Providers: ps, Active: active, Height: 1}
	})
}

// alerts asks for provider's alerts from index from, without waiting.
func (e *testEnv) alerts(provider *identity.Identity, from uint64, wait time.Duration) *cloudapi.AlertBatch {
	e.t.Helper()
	b, err := e.svc.Alerts(context.Background(), e.request(provider.Signing, cloudapi.OpAlerts, [32]byte{}, from), wait)
	if err != nil {
		e.t.Fatal(err)
	}
	return b
}

// The alerts of a record go to the providers its contract names, with an
// active grant; to nobody else, with the record's ciphertext (the provider
// learns the vital sign and severity by opening it). Neither the grant's
// scope nor the record's vital sign is the cloud's to know: a provider
// whose grant does not cover the vital sign is alerted, and its keys do not
// open the record.
func TestAlertsGoToTheContractsProviders(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	named := e.member(identity.RoleProvider, 1)
	narrow := e.member(identity.RoleProvider, 1)  // named, its grant does not cover glucose: alerted all the same
	revoked := e.member(identity.RoleProvider, 1) // named, grant revoked
	other := e.member(identity.RoleProvider, 1)   // granted, not named
	e.deploy(true, named, narrow, revoked)
	e.grant(named, vital.Glucose)
	e.grant(narrow, vital.HeartRate)
	e.grant(revoked, vital.Glucose).Revoked = 5
	e.grant(other, vital.Glucose)

	raw1, id1 := e.record(vital.Glucose)
	raw2, id2 := e.record(vital.SpO2)
	e.ingest(raw1, raw2)

	b := e.alerts(named, 0, 0)
	if len(b.Alerts) != 2 || b.Next != 2 || b.Gap {
		t.Fatalf("named provider got %d alerts, next %d, gap %v; want 2, 2, false", len(b.Alerts), b.Next, b.Gap)
	}
	for i, want := range [][32]byte{id1, id2} {
		a := b.Alerts[i]
		r := record.Record{HeaderBytes: a.Header}
		if r.ID() != want || a.Index != uint64(i) {
			t.Fatalf("alert %d is record %x at %d, want %x at %d", i, r.ID(), a.Index, want, i)
		}
		if !bytes.Equal(a.Ciphertext, ciphertext(t, [][]byte{raw1, raw2}[i])) {
			t.Fatalf("alert %d does not carry its record's ciphertext", i)
		}
		if err := e.patient.Signing.Public().VerifyContext(record.SignContext, a.Header, a.Sig); err != nil {
			t.Fatalf("alert %d: the gateway's signature does not verify: %v", i, err)
		}
	}
	if b := e.alerts(named, 2, 0); len(b.Alerts) != 0 || b.Next != 2 {
		t.Fatalf("from 2: %d alerts, next %d", len(b.Alerts), b.Next)
	}
	if b := e.alerts(narrow, 0, 0); len(b.Alerts) != 2 {
		t.Fatalf("a provider of another scope got %d alerts, want 2", len(b.Alerts))
	}
	for _, p := range []*identity.Identity{revoked, other} {
		if b := e.alerts(p, 0, 0); len(b.Alerts) != 0 || b.Next != 2 {
			t.Fatalf("provider not due got %d alerts (next %d)", len(b.Alerts), b.Next)
		}
	}
	// A terminated contract stops its alerts (once its cache entry expires).
	e.deploy(false, named)
	e.clock.advance(contractTTL + time.Second)
	e.ingest(e.mustRecord(vital.Glucose))
	if b := e.alerts(named, 2, 0); len(b.Alerts) != 0 || b.Next != 3 {
		t.Fatalf("after termination: %d alerts, next %d", len(b.Alerts), b.Next)
	}
}

func (e *testEnv) mustRecord(kind vital.Kind) []byte {
	raw, _ := e.record(kind)
	return raw
}

// A waiting request returns as soon as a due alert is durable.
func TestAlertsLongPoll(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.member(identity.RoleProvider, 1)
	e.deploy(true, p)
	e.grant(p, vital.Glucose)
	got := make(chan *cloudapi.AlertBatch, 1)
	go func() {
		b, err := e.svc.Alerts(context.Background(), e.request(p.Signing, cloudapi.OpAlerts, [32]byte{}, 0), 20*time.Second)
		if err != nil {
			t.Error(err)
		}
		got <- b
	}()
	waits := func(n uint64) func() bool {
		return func() bool { return e.svc.alertHub.waits.Load() >= n }
	}
	eventually(t, "the request waits for an alert", waits(1))
	other, _ := e.resign(e.mustRecord(vital.Glucose), e.patient.Signing, func(h *record.Header) { h.Contract = [32]byte{9} })
	e.ingest(other) // of a contract that does not name p: keeps waiting
	eventually(t, "the request, woken by a record not due to it, waits again", waits(2))
	raw, _ := e.record(vital.Glucose)
	start := time.Now()
	e.ingest(raw)
	select {
	case b := <-got:
		if len(b.Alerts) != 1 || b.Alerts[0].Index != 1 || b.Next != 2 {
			t.Fatalf("got %d alerts, next %d", len(b.Alerts), b.Next)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("the waiting request did not return %v after the record was stored", time.Since(start))
	}
	// With nothing due, a request returns empty when its wait is over.
	if b := e.alerts(p, 2, 10*time.Millisecond); len(b.Alerts) != 0 || b.Next != 2 {
		t.Fatalf("empty poll: %d alerts, next %d", len(b.Alerts), b.Next)
	}
}

// Alerts are for providers, with fresh signed requests.
func TestAlertsRefusals(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.member(identity.RoleProvider, 1)
	ctx := context.Background()
	req := e.request(p.Signing, cloudapi.OpAlerts, [32]byte{}, 0)
	if _, err := e.svc.Alerts(ctx, req, 0); err != nil {
		t.Fatal(err)
	}
	stranger, _ := identity.Generate(identity.RoleProvider, identity.SuiteX25519)
	for _, tc := range []struct {
		name string
		req  []byte
		want error
	}{
		{"replay", req, ErrReplay},
		{"patient", e.request(e.patient.Signing, cloudapi.OpAlerts, [32]byte{}, 0), ErrWrongRole},
		{"read op", e.request(p.Signing, cloudapi.OpRead, [32]byte{}, 0), ErrBadRequest},
		{"unknown", e.request(stranger.Signing, cloudapi.OpAlerts, [32]byte{}, 0), ErrUnknownSigner},
		{"garbage", []byte{0xa1, 0x01}, ErrBadRequest},
	} {
		if _, err := e.svc.Alerts(ctx, tc.req, 0); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}

// The HTTP API and Client carry alerts.
func TestAlertsHTTP(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.member(identity.RoleProvider, 1)
	e.deploy(true, p)
	e.grant(p, vital.Glucose)
	e.ingest(e.mustRecord(vital.Glucose))
	srv := httptest.NewServer(e.svc.Handler(nil))
	defer srv.Close()
	c := cloudapi.NewClient(srv.URL, nil)
	b, err := c.Alerts(context.Background(), p.Signing, 0, time.Second)
	if err != nil || len(b.Alerts) != 1 {
		t.Fatalf("alerts over HTTP: %v, %+v", err, b)
	}
	var re *cloudapi.RequestError
	if _, err := c.Alerts(context.Background(), e.patient.Signing, 0, 0); !errors.As(err, &re) || re.Status != 403 || re.Code != "wrong_role" {
		t.Fatalf("patient asking for alerts: %v", err)
	}
}

// The hub keeps the last AlertMemory alerts and reports a gap below them.
func TestAlertHubMemory(t *testing.T) {
	h := newAlertHub()
	e := newEnv(t)
	raw, _ := e.record(vital.Glucose)
	recs := make([]StoredRecord, AlertMemory+10)
	for i := range recs {
		recs[i] = StoredRecord{Index: uint64(i), Bytes: raw}
	}
	h.publish(recs, 1)
	es, next, gap, _ := h.since(0)
	if len(es) != AlertMemory || next != AlertMemory+10 || !gap || es[0].alert.Index != 10 {
		t.Fatalf("since 0: %d entries from %d, next %d, gap %v", len(es), es[0].alert.Index, next, gap)
	}
	if _, _, gap, _ := h.since(10); gap {
		t.Fatal("gap reported from the oldest entry held")
	}
	// What a waiting request was given stays as it was while newer alerts
	// push the oldest out of memory.
	more := make([]StoredRecord, 2)
	for i := range more {
		more[i] = StoredRecord{Index: uint64(AlertMemory + 10 + i), Bytes: raw}
	}
	h.publish(more, 1)
	if es[0].alert.Index != 10 || es[len(es)-1].alert.Index != AlertMemory+9 {
		t.Fatalf("entries handed out changed: now from %d to %d", es[0].alert.Index, es[len(es)-1].alert.Index)
	}
}

// A restarted cloud reloads its recent alerts from the store: a provider
// that asks from where it left off misses none.
func TestAlertsSurviveRestart(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.member(identity.RoleProvider, 1)
	e.deploy(true, p)
	e.grant(p, vital.Glucose)
	e.ingest(e.mustRecord(vital.Glucose), e.mustRecord(vital.Glucose))
	if b := e.alerts(p, 0, 0); len(b.Alerts) != 2 {
		t.Fatalf("before the restart: %d alerts", len(b.Alerts))
	}
	e.ingest(e.mustRecord(vital.Glucose)) // not yet asked for
	e.restart()
	b := e.alerts(p, 2, 0)
	if len(b.Alerts) != 1 || b.Alerts[0].Index != 2 || b.Next != 3 || b.Gap {
		t.Fatalf("after the restart, from 2: %+v", b)
	}
	if b := e.alerts(p, 0, 0); len(b.Alerts) != 3 {
		t.Fatalf("after the restart, from 0: %d alerts", len(b.Alerts))
	}
}

// A record whose alert the contract's cool-down withheld (its header's
// Alert false) is stored and readable, but nobody is alerted.
func TestWithheldAlertsAreNotPushed(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.member(identity.RoleProvider, 1)
	e.deploy(true, p)
	e.grant(p, vital.Glucose)
	h := e.header()
	h.Alert = false
	withheld, id := e.sealBy(e.patient, h)
	e.ingest(withheld, e.mustRecord(vital.Glucose))
	b := e.alerts(p, 0, 0)
	if len(b.Alerts) != 1 || b.Alerts[0].Index != 1 || b.Next != 2 {
		t.Fatalf("alerts %+v: want only the record at index 1", b)
	}
	if _, err := e.svc.Read(context.Background(), e.request(p.Signing, cloudapi.OpRead, id, 0)); err != nil {
		t.Fatalf("the withheld alert's record is not readable: %v", err)
	}
}

// A record whose alert its contract's cool-down withheld (no Alert) is no
// alert, but the answer's Next moves past it: a provider's cursor reaches
// the end of the log, and a provider resuming from it asks for nothing old.
func TestAlertsNextPassesWithheldRecords(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.member(identity.RoleProvider, 1)
	e.deploy(true, p)
	e.grant(p, vital.Glucose)
	h := e.header()
	alert, _ := e.sealBy(e.patient, h)
	h.Seq, h.Alert = h.Seq+1, false
	withheld, _ := e.sealBy(e.patient, h)
	e.ingest(alert, withheld)
	if b := e.alerts(p, 0, 0); len(b.Alerts) != 1 || b.Next != 2 {
		t.Fatalf("%d alerts, next %d; want 1 alert, next 2", len(b.Alerts), b.Next)
	}
	if b := e.alerts(p, 1, 0); len(b.Alerts) != 0 || b.Next != 2 {
		t.Fatalf("from 1: %d alerts, next %d; want none, next 2", len(b.Alerts), b.Next)
	}
}
