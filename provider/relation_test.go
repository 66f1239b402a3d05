package provider_test

import (
	"testing"
	"time"

	"github.com/vitalchain/vitalchain/contract"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/ledger"
	"github.com/vitalchain/vitalchain/relation"
	"github.com/vitalchain/vitalchain/vital"
)

// relate registers provider a's relation key for p, from the binding the
// provider hands over (as the patient's client does), deploys a glucose
// and heart-rate contract naming it and grants it heart rate; it returns
// the relation key.
func (p *patient) relate(b *relation.Binding, prov *identity.Identity) *identity.Identity {
	p.t.Helper()
	if err := b.Verify(p.id.ID(), prov.Signing.Public()); err != nil {
		p.t.Fatal(err)
	}
	reg := b.Register()
	var err error
	if reg.Binding, err = relation.Seal(b, p.id.Decryption.Public()); err != nil {
		p.t.Fatal(err)
	}
	p.w.ok(p.t, p.id.Signing, reg)
	rel, err := relation.Derive(prov, p.id.ID())
	if err != nil {
		p.t.Fatal(err)
	}
	terms := contract.Terms{Version: contract.Version, Patient: p.id.ID(), Name: "test", Providers: []identity.ID{rel.ID()},
		Rules: []contract.Rule{{Kind: vital.HeartRate, Expr: "value > 120.0", Severity: contract.Warning}}}
	dc, err := ledger.NewDeployContract(p.id, terms, rel)
	if err != nil {
		p.t.Fatal(err)
	}
	p.w.ok(p.t, p.id.Signing, dc)
	p.contract = dc.ID()
	p.grant(rel, true, vital.HeartRate)
	return rel
}

// A provider granted by two patients under two relation keys reads, is
// alerted, opens contracts and sends records under the key of each
// patient, never its registered key.
func TestRelationKeys(t *testing.T) {
	w := getWorld(t)
	ctx := timeout(t, 3*time.Minute) // a dozen transactions, each a block
	aID, a := w.newProvider(t)
	var pats []*patient
	var rels []*identity.Identity
	for range 2 {
		p := w.newPatient(t)
		b, err := a.Bind(p.id.ID())
		if err != nil {
			t.Fatal(err)
		}
		pats, rels = append(pats, p), append(rels, p.relate(b, aID))
	}
	if rels[0].ID() == rels[1].ID() {
		t.Fatal("one relation key for two patients")
	}
	for i, p := range pats {
		key, err := a.KeyFor(ctx, p.id.ID())
		if err != nil || key != rels[i].ID() || key == aID.ID() {
			t.Fatalf("patient %d: the provider acts under %s (%v), want its relation key %s", i, key, err, rels[i].ID())
		}
		if ok, err := a.Granted(ctx, p.id.ID()); !ok || err != nil {
			t.Fatalf("patient %d: granted %v, %v", i, ok, err)
		}
		if scope, err := a.Scope(ctx, p.id.ID()); err != nil || len(scope) != 1 || scope[0] != vital.HeartRate {
			t.Fatalf("patient %d: scope %v, %v", i, scope, err)
		}
		if tm, err := a.ContractTerms(ctx, p.contract); err != nil || tm.Providers[0] != rels[i].ID() {
			t.Fatalf("patient %d: contract terms %v, %v", i, tm.Providers, err)
		}
	}
	ids, idx := w.upload(t, pats[0].abnormal(vital.HeartRate, 150*vital.Unit), pats[1].abnormal(vital.HeartRate, 160*vital.Unit))
	got := map[[32]byte]bool{}
	from := idx[0]
	for len(got) < 2 {
		alerts, next, err := a.Poll(ctx, from, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		for _, al := range alerts {
			got[al.ID] = true
		}
		from = next
		if ctx.Err() != nil {
			t.Fatalf("alerts of %d records of 2", len(got))
		}
	}
	for i, id := range ids {
		if !got[id] {
			t.Fatalf("no alert of patient %d's record", i)
		}
		// Fetch signs the read with the relation key of the alert's patient.
		if f, err := a.Fetch(ctx, id); err != nil || f.Header.Patient != pats[i].id.ID() {
			t.Fatalf("fetch of patient %d's record: %v", i, err)
		}
	}
	// Transaction 3 and a device command go under the relation key: the
	// ledger checks them against its grant.
	if _, err := a.SendRecord(ctx, pats[0].id.ID(), 0, []byte("note")); err != nil {
		t.Fatalf("send record: %v", err)
	}
	if err := a.SetSamplingInterval(ctx, pats[1].dev.ID(), 2*time.Second); err != nil {
		t.Fatalf("device command: %v", err)
	}
	// The provider's registered key holds no grant of either patient.
	for i, p := range pats {
		if _, err := w.clients[0].Grant(ctx, p.id.ID(), aID.ID()); err == nil {
			t.Errorf("patient %d's grants name the provider's registered key", i)
		}
	}
}
