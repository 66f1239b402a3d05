package reading

import (
	"crypto/ed25519"
	"testing"
	"time"

	"github.com/vitalchain/vitalchain/codec"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/vital"
)

// testSeed returns a fixed 32-byte seed b, b+1, ..., b+31.
func testSeed(b byte) []byte {
	s := make([]byte, ed25519.SeedSize)
	for i := range s {
		s[i] = b + byte(i)
	}
	return s
}

func testKey(t testing.TB, role identity.Role, b byte) *identity.SigningKey {
	t.Helper()
	k, err := identity.NewSigningKey(role, testSeed(b))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func testPatient() identity.ID {
	var id identity.ID
	for i := range id {
		id[i] = 0xa0 + byte(i)
	}
	return id
}

// testTime is 2025-01-01T00:00:00Z.
var testTime = time.UnixMilli(1735689600000)

func testReading(device identity.ID) Reading {
	return New(testPatient(), device, 1, testTime, vital.Glucose, 180*vital.Unit)
}

// bstr returns the CBOR byte string header and b, in the shortest form.
func bstr(b []byte) []byte { return append(head(0x40, uint64(len(b))), b...) }

// head returns a CBOR head of the major type in mt (0x00, 0x20, ... 0xe0)
// with argument n in the shortest form.
func head(mt byte, n uint64) []byte {
	switch {
	case n < 24:
		return []byte{mt | byte(n)}
	case n <= 0xff:
		return []byte{mt | 24, byte(n)}
	case n <= 0xffff:
		return []byte{mt | 25, byte(n >> 8), byte(n)}
	case n <= 0xffffffff:
		return []byte{mt | 26, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}
	}
	return []byte{mt | 27, byte(n >> 56), byte(n >> 48), byte(n >> 40), byte(n >> 32), byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}
}

func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// Header byte strings used to assemble messages by hand.
var (
	protEdDSA = []byte{0xa1, 0x01, 0x27} // {1: -8}
	protES256 = []byte{0xa1, 0x01, 0x26} // {1: -7}
)

func unprotKid(kid []byte) []byte { return cat([]byte{0xa1, 0x04}, bstr(kid)) }

// sigStructure builds the COSE Sig_structure by hand, as the package
// documentation describes it, independently of go-cose.
func sigStructure(protected, payload []byte) []byte {
	return cat([]byte{0x84, 0x6a}, []byte("Signature1"), bstr(protected), []byte{0x40}, bstr(payload))
}

// assemble builds a tagged COSE_Sign1 message by hand.
func assemble(protected, unprotected, payload, sig []byte) []byte {
	return cat([]byte{0xd2, 0x84}, bstr(protected), unprotected, bstr(payload), bstr(sig))
}

// signRaw signs an arbitrary payload under an arbitrary protected header,
// assembling the message by hand, so that tests can put bad content behind
// a good signature.
func signRaw(key *identity.SigningKey, protected, payload []byte) []byte {
	kid := key.Public().ID()
	sig := key.Sign(sigStructure(protected, payload))
	return assemble(protected, unprotKid(kid[:]), payload, sig)
}

func mustMarshal(t testing.TB, v any) []byte {
	t.Helper()
	b, err := codec.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
