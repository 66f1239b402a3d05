package gateway_test

import (
	"errors"
	"testing"
	"time"

	"github.com/vitalchain/vitalchain/contract"
	"github.com/vitalchain/vitalchain/gateway"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/ledger"
	"github.com/vitalchain/vitalchain/relation"
	"github.com/vitalchain/vitalchain/vital"
)

// The same provider granted by two patients appears on the chain under two
// relation keys, neither its registered key; each patient's client shows
// the provider's real identity, from the binding it verified; grants,
// scopes and revokes by the provider's real ID reach its relation key.
func TestCareTeamUnlinkable(t *testing.T) {
	w := newMemWorld(t)
	ctx := w.ctx
	other := w.admit(w.head, identity.RolePatient, identity.ID{})
	p1, err := gateway.OpenPatient(ctx, w.patient, w.cl, nil)
	if err != nil {
		t.Fatal(err)
	}
	p2, err := gateway.OpenPatient(ctx, other, w.cl, nil)
	if err != nil {
		t.Fatal(err)
	}
	prov := w.provider
	var rels []identity.ID
	for _, p := range []*gateway.Patient{p1, p2} {
		b, _, err := relation.Bind(prov, p.ID())
		if err != nil {
			t.Fatal(err)
		}
		rel, err := p.Relate(ctx, b)
		if err != nil {
			t.Fatalf("relate: %v", err)
		}
		// Relating again is idempotent.
		if again, err := p.Relate(ctx, b); err != nil || again != rel {
			t.Fatalf("relate again: %s, %v", again, err)
		}
		if err := p.Grant(ctx, prov.ID(), []vital.Kind{vital.HeartRate}, true, time.Now().Add(time.Hour)); err != nil {
			t.Fatalf("grant: %v", err)
		}
		rels = append(rels, rel)
	}
	if rels[0] == rels[1] || rels[0] == prov.ID() || rels[1] == prov.ID() {
		t.Fatalf("relation keys %s and %s for provider %s", rels[0], rels[1], prov.ID())
	}
	for i, pid := range []identity.ID{w.patient.ID(), other.ID()} {
		gs, err := w.cl.Grants(ctx, pid)
		if err != nil {
			t.Fatal(err)
		}
		if len(gs) != 1 || gs[0].Provider != rels[i] {
			t.Fatalf("patient %d's grants on the chain name %v, want only relation key %s", i, gs, rels[i])
		}
	}
	for i, p := range []*gateway.Patient{p1, p2} {
		team, err := p.CareTeam(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(team) != 1 || team[0].Real != prov.ID() || team[0].Provider != rels[i] || team[0].Linkable {
			t.Fatalf("patient %d's care team %+v, want provider %s under %s", i, team, prov.ID(), rels[i])
		}
		// A fresh client of the same patient (no memory of the binding)
		// shows the same, from the binding sealed on the ledger.
		fresh, err := gateway.OpenPatient(ctx, []*identity.Identity{w.patient, other}[i], w.cl, nil)
		if err != nil {
			t.Fatal(err)
		}
		if real, linkable, err := fresh.ProviderOf(ctx, rels[i]); err != nil || real != prov.ID() || linkable {
			t.Fatalf("a fresh client of patient %d: provider %s linkable %v: %v", i, real, linkable, err)
		}
		if scope, err := fresh.Scope(ctx, prov.ID()); err != nil || len(scope) != 1 || scope[0] != vital.HeartRate {
			t.Fatalf("scope by the provider's ID: %v, %v", scope, err)
		}
	}
	// Patient 1 revokes by the provider's real ID: its relation key's grant ends.
	if err := p1.Revoke(ctx, prov.ID()); err != nil {
		t.Fatalf("revoke: %v", err)
	}
	g, err := w.cl.Grant(ctx, w.patient.ID(), rels[0])
	if err != nil || g.Revoked == 0 {
		t.Fatalf("the relation key's grant after the revoke: %+v, %v", g, err)
	}
	// A provider related for a contract, not granted yet: a fresh client
	// grants it by its real ID under its relation key, found in the
	// contract's parties.
	third := w.admit(w.head, identity.RolePatient, identity.ID{})
	p3, err := gateway.OpenPatient(ctx, third, w.cl, nil)
	if err != nil {
		t.Fatal(err)
	}
	b3, rel3, _ := relation.Bind(prov, third.ID())
	if _, err := p3.Relate(ctx, b3); err != nil {
		t.Fatal(err)
	}
	dc, err := ledger.NewDeployContract(third, contract.Terms{Version: contract.Version, Patient: third.ID(), Providers: []identity.ID{rel3.ID()},
		Rules: []contract.Rule{{Kind: vital.Glucose, Expr: "value > 180.0", Severity: contract.Warning}}, Name: "x"}, rel3)
	if err != nil {
		t.Fatal(err)
	}
	w.submit(third.Signing, dc)
	fresh3, err := gateway.OpenPatient(ctx, third, w.cl, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := fresh3.Grant(ctx, prov.ID(), []vital.Kind{vital.Glucose}, false, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if gs, err := w.cl.Grants(ctx, third.ID()); err != nil || len(gs) != 1 || gs[0].Provider != rel3.ID() {
		t.Fatalf("the third patient's grants name %v (%v), want its relation key %s", gs, err, rel3.ID())
	}

	// A binding for another patient, or signed by another provider, is refused.
	b, _, _ := relation.Bind(prov, other.ID())
	if _, err := p1.Relate(ctx, b); !errors.Is(err, relation.ErrBinding) {
		t.Errorf("relating another patient's binding: %v, want ErrBinding", err)
	}
	mallory := w.admit(w.head, identity.RoleProvider, identity.ID{})
	fb, _, _ := relation.Bind(mallory, w.patient.ID())
	fb.Provider = prov.ID()
	if _, err := p1.Relate(ctx, fb); !errors.Is(err, relation.ErrBinding) {
		t.Errorf("relating a binding in another provider's name: %v, want ErrBinding", err)
	}
}
