package relation_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/ledger"
	"github.com/vitalchain/vitalchain/relation"
)

var suites = []identity.Suite{identity.SuiteX25519, identity.SuiteMLKEM768X25519}

func gen(t testing.TB, role identity.Role, suite identity.Suite) *identity.Identity {
	t.Helper()
	id, err := identity.Generate(role, suite)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestDeriveIsPerRelationship(t *testing.T) {
	for _, suite := range suites {
		t.Run(suite.String(), func(t *testing.T) {
			prov, other := gen(t, identity.RoleProvider, suite), gen(t, identity.RoleProvider, suite)
			p1, p2 := gen(t, identity.RolePatient, suite).ID(), gen(t, identity.RolePatient, suite).ID()
			a, err := relation.Derive(prov, p1)
			if err != nil {
				t.Fatal(err)
			}
			again, _ := relation.Derive(prov, p1)
			b, _ := relation.Derive(prov, p2)
			c, _ := relation.Derive(other, p1)
			if a.ID() != again.ID() || a.Decryption.String() != again.Decryption.String() {
				t.Error("the same provider and patient derived two relation keys")
			}
			keys := map[string]string{}
			for name, k := range map[string]*identity.Identity{"provider": prov, "patient 1": a, "patient 2": b, "other provider": c} {
				for _, v := range [][]byte{k.Signing.Public().Bytes(), k.Decryption.Public().Bytes()} {
					if prev, ok := keys[string(v)]; ok {
						t.Errorf("%s and %s share a public key", prev, name)
					}
					keys[string(v)] = name
				}
			}
			if a.Role() != identity.RoleProvider || a.Decryption.Suite() != suite {
				t.Errorf("relation key is a %s %s key", a.Role(), a.Decryption.Suite())
			}
		})
	}
	if _, err := relation.Derive(gen(t, identity.RolePatient, identity.SuiteX25519), identity.ID{1}); !errors.Is(err, identity.ErrWrongRole) {
		t.Errorf("a patient's relation key: %v, want ErrWrongRole", err)
	}
}

func TestBindVerify(t *testing.T) {
	prov := gen(t, identity.RoleProvider, identity.SuiteX25519)
	other := gen(t, identity.RoleProvider, identity.SuiteX25519)
	pat := gen(t, identity.RolePatient, identity.SuiteX25519)
	b, rel, err := relation.Bind(prov, pat.ID())
	if err != nil {
		t.Fatal(err)
	}
	if b.ID() != rel.ID() || b.Provider != prov.ID() || b.Patient != pat.ID() {
		t.Fatal("binding names other parties")
	}
	if err := b.Verify(pat.ID(), prov.Signing.Public()); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	raw, err := b.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	got, err := relation.Parse(raw)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if err := got.Verify(pat.ID(), prov.Signing.Public()); err != nil {
		t.Fatalf("parsed binding: %v", err)
	}

	forged, _, _ := relation.Bind(other, pat.ID())
	forged.Provider = prov.ID() // another provider's binding, claiming to be prov's
	tests := []struct {
		name    string
		b       *relation.Binding
		patient identity.ID
		key     identity.VerifyingKey
	}{
		{"another patient's", b, identity.ID{9}, prov.Signing.Public()},
		{"checked against another provider", b, pat.ID(), other.Signing.Public()},
		{"signed by another provider", forged, pat.ID(), prov.Signing.Public()},
		{"relation key swapped", func() *relation.Binding {
			c := *b
			o, _ := relation.Derive(prov, identity.ID{7})
			c.Keys = ledger.KeysOf(o.Public(), nil)
			return &c
		}(), pat.ID(), prov.Signing.Public()},
		{"proof of another key", func() *relation.Binding {
			c := *b
			o, _, _ := relation.Bind(prov, identity.ID{7})
			c.Proof = o.Proof
			return &c
		}(), pat.ID(), prov.Signing.Public()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.b.Verify(tc.patient, tc.key); !errors.Is(err, relation.ErrBinding) {
				t.Errorf("Verify = %v, want ErrBinding", err)
			}
		})
	}
}

func TestSealOpen(t *testing.T) {
	for _, suite := range suites {
		t.Run(suite.String(), func(t *testing.T) {
			prov := gen(t, identity.RoleProvider, suite)
			pat, eve := gen(t, identity.RolePatient, suite), gen(t, identity.RolePatient, suite)
			b, _, err := relation.Bind(prov, pat.ID())
			if err != nil {
				t.Fatal(err)
			}
			sealed, err := relation.Seal(b, pat.Decryption.Public())
			if err != nil {
				t.Fatal(err)
			}
			if len(sealed) > ledger.MaxBindingSize {
				t.Errorf("sealed binding of %d bytes, over the ledger's %d", len(sealed), ledger.MaxBindingSize)
			}
			if bytes.Contains(sealed, prov.Signing.Public().Bytes()) || bytes.Contains(sealed, func() []byte { id := prov.ID(); return id[:] }()) {
				t.Error("the sealed binding shows the provider")
			}
			got, err := relation.Open(sealed, pat.Decryption, b.ID())
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if got.Provider != prov.ID() {
				t.Error("opened another binding")
			}
			if _, err := relation.Open(sealed, eve.Decryption, b.ID()); !errors.Is(err, relation.ErrBinding) {
				t.Errorf("opened by another patient: %v, want ErrBinding", err)
			}
			if _, err := relation.Open(sealed, pat.Decryption, identity.ID{1}); !errors.Is(err, relation.ErrBinding) {
				t.Errorf("opened as another relation key's: %v, want ErrBinding", err)
			}
		})
	}
}

// members is a ledger's registry, in memory.
type members map[identity.ID]*ledger.Member

func (m members) Member(_ context.Context, id identity.ID) (*ledger.Member, error) {
	if x, ok := m[id]; ok {
		return x, nil
	}
	return nil, fmt.Errorf("member %s: not found", id)
}

func (m members) add(p identity.Public) {
	k := ledger.KeysOf(p, nil)
	m[p.Verifying.ID()] = &ledger.Member{Role: k.Role, Verifying: k.Verifying, Suite: k.Suite, Encryption: k.Encryption}
}

func (m members) addRelation(t *testing.T, b *relation.Binding, sealed []byte) {
	t.Helper()
	k := b.Keys
	m[b.ID()] = &ledger.Member{Role: k.Role, Verifying: k.Verifying, Suite: k.Suite, Encryption: k.Encryption, Patient: b.Patient[:], Binding: sealed}
}

func TestResolve(t *testing.T) {
	ctx := context.Background()
	prov := gen(t, identity.RoleProvider, identity.SuiteX25519)
	p1, p2 := gen(t, identity.RolePatient, identity.SuiteX25519), gen(t, identity.RolePatient, identity.SuiteX25519)
	reg := members{}
	reg.add(prov.Public())
	reg.add(p1.Public())
	reg.add(p2.Public())
	var rels []identity.ID
	for _, p := range []*identity.Identity{p1, p2} {
		b, _, err := relation.Bind(prov, p.ID())
		if err != nil {
			t.Fatal(err)
		}
		sealed, err := relation.Seal(b, p.Decryption.Public())
		if err != nil {
			t.Fatal(err)
		}
		reg.addRelation(t, b, sealed)
		rels = append(rels, b.ID())
	}
	if rels[0] == rels[1] {
		t.Fatal("one relation key for two patients")
	}
	// Both patients see the same real provider behind two relation keys.
	for i, p := range []*identity.Identity{p1, p2} {
		b, err := relation.Resolve(ctx, reg, p, rels[i])
		if err != nil {
			t.Fatalf("patient %d: %v", i, err)
		}
		if b.Provider != prov.ID() {
			t.Errorf("patient %d sees provider %s, want %s", i, b.Provider, prov.ID())
		}
	}
	if _, err := relation.Resolve(ctx, reg, p1, rels[1]); !errors.Is(err, relation.ErrBinding) {
		t.Errorf("another patient's relation key: %v, want ErrBinding", err)
	}
	if _, err := relation.Resolve(ctx, reg, p1, prov.ID()); !errors.Is(err, relation.ErrNotRelation) {
		t.Errorf("the provider's registered key: %v, want ErrNotRelation", err)
	}
	// A relation key whose binding names a provider that did not sign it.
	mallory := gen(t, identity.RoleProvider, identity.SuiteX25519)
	reg.add(mallory.Public())
	b, _, _ := relation.Bind(mallory, p1.ID())
	b.Provider = prov.ID()
	sealed, _ := relation.Seal(b, p1.Decryption.Public())
	reg.addRelation(t, b, sealed)
	if _, err := relation.Resolve(ctx, reg, p1, b.ID()); !errors.Is(err, relation.ErrBinding) {
		t.Errorf("a binding the named provider did not sign: %v, want ErrBinding", err)
	}
}
