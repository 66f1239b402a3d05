package envelope_test

import (
	"bytes"
	"fmt"
	"sync"
	"testing"

	"github.com/vitalchain/vitalchain/codec"
	"github.com/vitalchain/vitalchain/envelope"
	"github.com/vitalchain/vitalchain/identity"
)

var suites = []identity.Suite{identity.SuiteX25519, identity.SuiteMLKEM768X25519}

// actors holds the identities of the tests, generated once per suite.
type actors struct {
	patient, patient2, provider, provider2 *identity.Identity
}

var (
	actorsOnce sync.Once
	actorsBy   map[identity.Suite]*actors
)

func testActors(t testing.TB, suite identity.Suite) *actors {
	t.Helper()
	actorsOnce.Do(func() {
		actorsBy = make(map[identity.Suite]*actors)
		for _, s := range suites {
			actorsBy[s] = &actors{
				patient:   mustGenerate(identity.RolePatient, s),
				patient2:  mustGenerate(identity.RolePatient, s),
				provider:  mustGenerate(identity.RoleProvider, s),
				provider2: mustGenerate(identity.RoleProvider, s),
			}
		}
	})
	return actorsBy[suite]
}

func mustGenerate(role identity.Role, suite identity.Suite) *identity.Identity {
	id, err := identity.Generate(role, suite)
	if err != nil {
		panic(err)
	}
	return id
}

func testKey(t testing.TB) envelope.SessionKey {
	t.Helper()
	k, err := envelope.NewSessionKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func recordID(b byte) [32]byte {
	var id [32]byte
	for i := range id {
		id[i] = b + byte(i)
	}
	return id
}

// kv is one entry of a hand-built CBOR map.
type kv struct {
	k uint64
	v any
}

// rawMap encodes pairs as a CBOR map in the given order, allowing duplicate
// keys and any value types: the bad inputs a canonical encoder never makes.
func rawMap(t testing.TB, pairs ...kv) []byte {
	t.Helper()
	if len(pairs) >= 24 {
		t.Fatal("rawMap: too many pairs")
	}
	b := []byte{0xa0 + byte(len(pairs))}
	for _, p := range pairs {
		b = append(b, mustMarshal(t, p.k)...)
		b = append(b, mustMarshal(t, p.v)...)
	}
	return b
}

func mustMarshal(t testing.TB, v any) []byte {
	t.Helper()
	b, err := codec.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// envelopePairs returns e's fields as map entries in canonical order.
func envelopePairs(e *envelope.Envelope) []kv {
	return []kv{
		{1, e.Version}, {2, e.Kind}, {3, e.Patient}, {4, e.Epoch}, {5, e.Subject},
		{6, e.Sender}, {7, e.Recipient}, {8, e.Suite}, {9, e.Ciphertext}, {10, e.Sig},
	}
}

func replace(pairs []kv, k uint64, v any) []kv {
	out := append([]kv(nil), pairs...)
	for i := range out {
		if out[i].k == k {
			out[i].v = v
		}
	}
	return out
}

func without(pairs []kv, k uint64) []kv {
	var out []kv
	for _, p := range pairs {
		if p.k != k {
			out = append(out, p)
		}
	}
	return out
}

func mustMarshalEnvelope(t testing.TB, e *envelope.Envelope) []byte {
	t.Helper()
	b, err := e.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func sameBytes(t testing.TB, what string, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		t.Fatalf("%s:\n got %x\nwant %x", what, got, want)
	}
}

func name(s identity.Suite, rest ...any) string { return s.String() + "/" + fmt.Sprint(rest...) }
