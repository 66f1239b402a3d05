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
