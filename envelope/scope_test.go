package envelope_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/vitalchain/vitalchain/envelope"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/vital"
)

// A grant's scope keys give exactly the keys of its vital signs, and open
// only with that grant's key.
func TestScopeKeys(t *testing.T) {
	epochKey, _ := envelope.NewSessionKey()
	pat, prov, other := identity.ID{1}, identity.ID{2}, identity.ID{3}
	gk := envelope.GrantKey(epochKey, pat, prov, 4)
	tests := []struct {
		name  string
		scope []vital.Kind
	}{
		{"heart rate only", []vital.Kind{vital.HeartRate}},
		{"two", []vital.Kind{vital.Glucose, vital.SpO2}},
		{"every vital sign", vital.Kinds()},
		{"none", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sealed, err := envelope.SealScope(epochKey, pat, prov, 4, tc.scope)
			if err != nil {
				t.Fatal(err)
			}
			if len(sealed) != envelope.SealedScopeSize {
				t.Fatalf("%d bytes, want %d whatever the scope", len(sealed), envelope.SealedScopeSize)
			}
			keys, err := envelope.OpenScope(gk, pat, prov, 4, sealed)
			if err != nil {
				t.Fatal(err)
			}
			if got := envelope.Scope(keys); !slices.Equal(got, tc.scope) {
				t.Fatalf("scope %v, want %v", got, tc.scope)
			}
			for _, k := range vital.Kinds() {
				key, ok := keys[k]
				if ok != slices.Contains(tc.scope, k) {
					t.Fatalf("%s: a key %v", k, ok)
				}
				if ok && key != envelope.KindKey(epochKey, pat, 4, k) {
					t.Fatalf("%s: not the kind's key", k)
				}
			}
		})
	}
	sealed, _ := envelope.SealScope(epochKey, pat, prov, 4, []vital.Kind{vital.HeartRate})
	for _, tc := range []struct {
		name        string
		key         envelope.SessionKey
		patient, to identity.ID
		epoch       uint64
		sealed      []byte
	}{
		{"another provider's grant key", envelope.GrantKey(epochKey, pat, other, 4), pat, other, 4, sealed},
		{"another epoch's grant key", envelope.GrantKey(epochKey, pat, prov, 5), pat, prov, 5, sealed},
		{"moved to another provider", gk, pat, other, 4, sealed},
		{"tampered", gk, pat, prov, 4, func() []byte { b := slices.Clone(sealed); b[20] ^= 1; return b }()},
		{"truncated", gk, pat, prov, 4, sealed[:len(sealed)-1]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := envelope.OpenScope(tc.key, tc.patient, tc.to, tc.epoch, tc.sealed); !errors.Is(err, envelope.ErrScopeKeys) {
				t.Fatalf("got %v, want ErrScopeKeys", err)
			}
		})
	}
	if envelope.KindKey(epochKey, pat, 4, vital.Glucose) == envelope.KindKey(epochKey, pat, 4, vital.HeartRate) ||
		envelope.KindKey(epochKey, pat, 4, vital.Glucose) == envelope.KindKey(epochKey, pat, 5, vital.Glucose) ||
		envelope.GrantKey(epochKey, pat, prov, 4) == envelope.KindKey(epochKey, pat, 4, vital.Glucose) {
		t.Fatal("derived keys collide")
	}
	if _, err := envelope.SealScope(epochKey, pat, prov, 4, []vital.Kind{200}); !errors.Is(err, vital.ErrUnknownKind) {
		t.Fatalf("an unknown kind: %v", err)
	}
}

// FuzzOpenScope opens arbitrary bytes as scope keys (they come from the
// ledger). Invariants: no panic; an error is ErrScopeKeys.
func FuzzOpenScope(f *testing.F) {
	epochKey, _ := envelope.NewSessionKey()
	pat, prov := identity.ID{1}, identity.ID{2}
	sealed, _ := envelope.SealScope(epochKey, pat, prov, 1, []vital.Kind{vital.Glucose})
	f.Add(sealed)
	f.Add([]byte{})
	gk := envelope.GrantKey(epochKey, pat, prov, 1)
	f.Fuzz(func(t *testing.T, b []byte) {
		keys, err := envelope.OpenScope(gk, pat, prov, 1, b)
		if err != nil {
			if !errors.Is(err, envelope.ErrScopeKeys) {
				t.Fatalf("error %v is not ErrScopeKeys", err)
			}
			return
		}
		for k, v := range keys {
			if !k.Valid() || v.IsZero() {
				t.Fatalf("key %v for kind %d", v.IsZero(), k)
			}
		}
	})
}
