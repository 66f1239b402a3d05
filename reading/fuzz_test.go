package reading

import (
	"bytes"
	"testing"

	"github.com/veraison/go-cose"

	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/vital"
)

// FuzzParse feeds untrusted bytes to Parse and, when they parse, to Verify
// with a fixed device key. Invariants: no panic; Parse's fast path agrees
// with its strict decoder; a parsed message is one that go-cose also decodes to the same kid, payload and signature; and a
// verified message is byte for byte what Sign makes of its reading (so the
// format has exactly one encoding per reading).
func FuzzParse(f *testing.F) {
	key := testKey(f, identity.RoleDevice, 0)
	pub := key.Public()
	kid := pub.ID()
	for i, k := range vital.Kinds() {
		info := k.Info()
		r := New(testPatient(), kid, uint64(i+1)<<(4*i), testTime, k, info.Max)
		msg, err := Sign(r, key)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(msg)
		// Mutations: truncated, trailing, untagged, flipped, bad alg, no kid.
		f.Add(msg[:len(msg)/2])
		f.Add(append(bytes.Clone(msg), 0))
		f.Add(msg[1:])
		flipped := bytes.Clone(msg)
		flipped[len(msg)/2] ^= 0x80
		f.Add(flipped)
		payload := mustMarshal(f, r)
		f.Add(signRaw(key, protES256, payload))
		f.Add(assemble(protEdDSA, []byte{0xa0}, payload, msg[len(msg)-64:]))
		f.Add(cat([]byte{0xd2, 0x84}, bstr(protEdDSA), unprotKid(kid[:]), []byte{0x59, 0x00, byte(len(payload))}, payload, msg[len(msg)-66:]))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		s, err := Parse(msg)
		if err != nil {
			if s != nil {
				t.Fatal("Parse returned a message and an error")
			}
			return
		}
		strict, err := parseStrict(msg)
		if err != nil {
			t.Fatalf("Parse accepted what parseStrict refuses: %v", err)
		}
		if strict.kid != s.kid || strict.alg != s.alg || !bytes.Equal(strict.payload, s.payload) || !bytes.Equal(strict.signature, s.signature) {
			t.Fatal("parseFast and parseStrict disagree")
		}
		var m cose.Sign1Message
		if err := m.UnmarshalCBOR(msg); err != nil {
			// go-cose refuses some messages Parse accepts only if it
			// parses the payload or headers differently; report it.
			t.Fatalf("Parse accepted what go-cose refuses: %v", err)
		}
		if got, _ := m.Headers.Unprotected[cose.HeaderLabelKeyID].([]byte); !bytes.Equal(got, s.kid[:]) ||
			!bytes.Equal(m.Payload, s.payload) || !bytes.Equal(m.Signature, s.signature) {
			t.Fatal("Parse and go-cose disagree on the content")
		}
		r, err := s.Verify(pub)
		if err != nil {
			return
		}
		again, err := Sign(r, key)
		if err != nil {
			t.Fatalf("verified reading does not sign: %v", err)
		}
		if !bytes.Equal(again, msg) {
			t.Fatalf("verified message is not the canonical one:\n got %x\nwant %x", msg, again)
		}
	})
}
