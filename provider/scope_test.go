package provider_test

import (
	"errors"
	"testing"
	"time"

	"github.com/vitalchain/vitalchain/contract"
	"github.com/vitalchain/vitalchain/envelope"
	"github.com/vitalchain/vitalchain/provider"
	"github.com/vitalchain/vitalchain/record"
	"github.com/vitalchain/vitalchain/vital"
)

// A provider granted heart rate only cannot decrypt a glucose record,
// however it obtains it: the cloud serves it (the scope is not on the
// ledger, so the cloud does not know it), and no key the provider can get
// from the ledger opens it.
func TestScopeEnforcedByKeys(t *testing.T) {
	w := getWorld(t)
	ctx := timeout(t, 60*time.Second)
	aID, a := w.newProvider(t)
	p := w.newPatient(t, aID)
	p.grant(aID, false, vital.HeartRate)
	ids, _ := w.upload(t, p.abnormal(vital.HeartRate, 150*vital.Unit), p.abnormal(vital.Glucose, 250*vital.Unit))

	if scope, err := a.Scope(ctx, p.id.ID()); err != nil || len(scope) != 1 || scope[0] != vital.HeartRate {
		t.Fatalf("the provider's own view of its scope: %v, %v", scope, err)
	}
	if f, err := a.Fetch(ctx, ids[0]); err != nil || f.Reading.Value != 150*vital.Unit {
		t.Fatalf("the heart rate record, in scope: %v", err)
	}
	if _, err := a.Fetch(ctx, ids[1]); !errors.Is(err, provider.ErrOutOfScope) {
		t.Fatalf("the glucose record through the cloud: %v, want ErrOutOfScope", err)
	}

	// Any route: the record's bytes straight from the cloud's store, and
	// every key the provider's identity opens on the ledger.
	stored, err := w.cloud.Store.Record(ids[1])
	if err != nil {
		t.Fatal(err)
	}
	rec, err := record.ParseRecord(stored.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	envB, err := w.clients[0].Envelope(ctx, p.id.ID(), p.epoch, aID.ID())
	if err != nil {
		t.Fatal(err)
	}
	env, err := envelope.ParseEnvelope(envB)
	if err != nil {
		t.Fatal(err)
	}
	gk, err := env.Unwrap(envelope.GrantContext(p.id.ID(), aID.ID(), p.epoch, aID.Decryption.Suite()), aID.Decryption, p.id.Signing.Public())
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := w.clients[0].ScopeKeys(ctx, p.id.ID(), p.epoch, aID.ID())
	if err != nil {
		t.Fatal(err)
	}
	keys, err := envelope.OpenScope(gk, p.id.ID(), aID.ID(), p.epoch, sealed)
	if err != nil {
		t.Fatal(err)
	}
	if got := envelope.Scope(keys); len(got) != 1 || got[0] != vital.HeartRate {
		t.Fatalf("the provider's scope %v", got)
	}
	tries := []envelope.SessionKey{gk, envelope.KindKey(gk, p.id.ID(), p.epoch, vital.Glucose)}
	for _, k := range keys {
		tries = append(tries, k, envelope.KindKey(k, p.id.ID(), p.epoch, vital.Glucose))
	}
	for i, k := range tries {
		if _, err := rec.Open(k); err == nil {
			t.Fatalf("key %d the provider holds opens the glucose record", i)
		}
	}
	// The patient's own key of glucose does: the record is sound.
	if _, err := rec.Open(envelope.KindKey(p.key, p.id.ID(), p.epoch, vital.Glucose)); err != nil {
		t.Fatalf("the patient's glucose key: %v", err)
	}
}

// A provider reads the terms of its contract off the ledger, where they are
// sealed, and they are the terms the patient deployed.
func TestContractTerms(t *testing.T) {
	w := getWorld(t)
	ctx := timeout(t, 30*time.Second)
	aID, a := w.newProvider(t)
	_, b := w.newProvider(t)
	p := w.newPatient(t, aID)
	tm, err := a.ContractTerms(ctx, p.contract)
	if err != nil {
		t.Fatal(err)
	}
	if tm.Patient != p.id.ID() || len(tm.Rules) != 1 || tm.Rules[0].Kind != vital.Glucose || tm.Name != "test" {
		t.Fatalf("terms %+v", tm)
	}
	if _, err := b.ContractTerms(ctx, p.contract); !errors.Is(err, contract.ErrNotAParty) {
		t.Fatalf("a provider not party to the contract: %v, want contract.ErrNotAParty", err)
	}
}

// A provider that holds no key of a record's vital sign learns neither the
// vital sign nor the severity of the record, whether it gets it as an alert
// (the cloud alerts every provider of the contract: it cannot tell) or
// fetches it: a glucose record of severity warning and an SpO2 record of
// severity critical, both outside its heart-rate grant, reach it as headers
// of the same fields and sizes and ciphertexts of the same size, none of its
// keys opens either (ErrWrongKey, before any decryption), and its client
// counts both alerts as out of scope and hands on neither.
func TestOutOfScopeLearnsNothing(t *testing.T) {
	w := getWorld(t)
	ctx := timeout(t, 60*time.Second)
	aID, a := w.newProvider(t)
	p := w.newPatient(t, aID)
	p.grant(aID, false, vital.HeartRate)
	at := time.Now()
	glucose := p.seal(vital.Glucose, at, p.reading(vital.Glucose, 250*vital.Unit, at))
	spo2, err := record.Seal(record.Header{Patient: p.id.ID(), Epoch: p.epoch, Contract: p.contract, Alert: true, Time: at.UnixMilli(), Seq: p.seq + 1},
		envelope.KindKey(p.key, p.id.ID(), p.epoch, vital.SpO2),
		record.Payload{Kind: vital.SpO2, Severity: uint8(contract.Critical), Body: p.reading(vital.SpO2, 80*vital.Unit, at)}, p.id.Signing)
	if err != nil {
		t.Fatal(err)
	}
	ids, idx := w.upload(t, glucose, spo2)

	// As alerts: verified, counted, not handed on.
	before := a.Stats()
	alerts, next, err := a.Poll(ctx, idx[0], time.Second)
	for err == nil && next <= idx[1] {
		var more []provider.Alert
		more, next, err = a.Poll(ctx, next, time.Second)
		alerts = append(alerts, more...)
	}
	if err != nil {
		t.Fatal(err)
	}
	after := a.Stats()
	if len(alerts) != 0 || after.AlertsOutOfScope-before.AlertsOutOfScope != 2 || after.AlertsForged != before.AlertsForged {
		t.Fatalf("%d alerts handed on, stats %+v", len(alerts), after)
	}

	// Fetched: the same refusal for both.
	for _, id := range ids {
		if _, err := a.Fetch(ctx, id); !errors.Is(err, provider.ErrOutOfScope) {
			t.Fatalf("fetch %x: %v, want ErrOutOfScope", id[:8], err)
		}
	}

	// What it holds: the two records' bytes and its heart-rate key.
	keys := map[vital.Kind]envelope.SessionKey{vital.HeartRate: envelope.KindKey(p.key, p.id.ID(), p.epoch, vital.HeartRate)}
	var shapes [][2]int
	for _, r := range []*record.Record{glucose, spo2} {
		if _, err := r.OpenWith(keys); !errors.Is(err, record.ErrWrongKey) {
			t.Fatalf("its heart-rate key on record %x: %v, want ErrWrongKey", r.ID(), err)
		}
		shapes = append(shapes, [2]int{len(r.HeaderBytes), len(r.Ciphertext)})
	}
	if shapes[0] != shapes[1] {
		t.Fatalf("a glucose and an SpO2 record differ in size (header, ciphertext): %v", shapes)
	}
	// Their headers name no vital sign and no severity: the same fields,
	// only the patient's seq, tags, nonces and hashes differ.
	g, s := mustHeaderOf(t, glucose), mustHeaderOf(t, spo2)
	g.Seq, g.KeyTag, g.Nonce, g.CiphertextHash = s.Seq, s.KeyTag, s.Nonce, s.CiphertextHash
	if g != s {
		t.Fatalf("headers differ beyond seq, tag, nonce and hash:\n%+v\n%+v", g, s)
	}
}

func mustHeaderOf(t *testing.T, r *record.Record) record.Header {
	t.Helper()
	h, err := r.Header()
	if err != nil {
		t.Fatal(err)
	}
	return h
}
