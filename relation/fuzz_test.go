package relation_test

import (
	"errors"
	"testing"

	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/relation"
)

// FuzzParse: any bytes give a binding or ErrBinding, never a panic, and a
// binding that parses encodes back to what parses the same.
func FuzzParse(f *testing.F) {
	prov := gen(f, identity.RoleProvider, identity.SuiteX25519)
	b, _, err := relation.Bind(prov, identity.ID{1})
	if err != nil {
		f.Fatal(err)
	}
	raw, _ := b.Marshal()
	f.Add(raw)
	f.Add(raw[:len(raw)/2])
	f.Add([]byte{0xa0})
	f.Fuzz(func(t *testing.T, in []byte) {
		b, err := relation.Parse(in)
		if err != nil {
			if !errors.Is(err, relation.ErrBinding) {
				t.Fatalf("Parse error %v is not ErrBinding", err)
			}
			return
		}
		out, err := b.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		c, err := relation.Parse(out)
		if err != nil || c.ID() != b.ID() || c.Provider != b.Provider || c.Patient != b.Patient {
			t.Fatalf("re-encoded binding parses as %v, %v", c, err)
		}
	})
}
