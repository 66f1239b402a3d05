package reading

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"testing"

	"github.com/veraison/go-cose"

	"github.com/vitalchain/vitalchain/codec"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/vital"
)

func TestSignVerifyEveryKind(t *testing.T) {
	key := testKey(t, identity.RoleDevice, 0)
	dev := key.Public().ID()
	for i, k := range vital.Kinds() {
		info := k.Info()
		r := New(testPatient(), dev, uint64(i+1), testTime, k, (info.Min+info.Max)/2)
		msg, err := Sign(r, key)
		if err != nil {
			t.Fatalf("%s: Sign: %v", k, err)
		}
		s, err := Parse(msg)
		if err != nil {
			t.Fatalf("%s: Parse: %v", k, err)
		}
		if s.KeyID() != dev {
			t.Fatalf("%s: KeyID() = %s, want %s", k, s.KeyID(), dev)
		}
		got, err := s.Verify(key.Public())
		if err != nil {
			t.Fatalf("%s: Verify: %v", k, err)
		}
		if got != r {
			t.Fatalf("%s: Verify() = %+v, want %+v", k, got, r)
		}
		again, err := Sign(got, key)
		if err != nil || !bytes.Equal(again, msg) {
			t.Fatalf("%s: signing twice gave different bytes", k)
		}
	}
}

func TestSignErrors(t *testing.T) {
	device := testKey(t, identity.RoleDevice, 0)
	other := testKey(t, identity.RoleDevice, 1)
	patient := testKey(t, identity.RolePatient, 0) // same seed, wrong role
	good := testReading(device.Public().ID())

	bad := good
	bad.Unit = "mmol/L"
	tests := []struct {
		name string
		r    Reading
		key  *identity.SigningKey
		want error
	}{
		{"patient key", good, patient, identity.ErrWrongRole},
		{"other device", good, other, ErrKeyMismatch},
		{"invalid reading", bad, device, ErrWrongUnit},
		{"zero reading", Reading{}, device, codec.ErrUnknownVersion},
		{"nil key", good, nil, identity.ErrBadKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg, err := Sign(tt.r, tt.key)
			if !errors.Is(err, tt.want) || msg != nil {
				t.Fatalf("Sign() = %x, %v, want %v", msg, err, tt.want)
			}
		})
	}
}

// TestParseMalformed covers every class of malformed envelope, each with its
// specific error.
func TestParseMalformed(t *testing.T) {
	key := testKey(t, identity.RoleDevice, 0)
	kid := key.Public().ID()
	msg, err := Sign(testReading(kid), key)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Parse(msg)
	if err != nil {
		t.Fatal(err)
	}
	payload, sig := s.payload, s.signature
	good := assemble(protEdDSA, unprotKid(kid[:]), payload, sig)
	if !bytes.Equal(good, msg) {
		t.Fatalf("hand-assembled message differs from Sign's:\n%x\n%x", good, msg)
	}
	unprot := unprotKid(kid[:])
	body := msg[2:] // after d2 84

	tests := []struct {
		name string
		msg  []byte
		want error
	}{
		{"empty", nil, codec.ErrTruncated},
		{"tag only", []byte{0xd2}, codec.ErrTruncated},
		{"oversized", cat(msg, make([]byte, MaxSize)), codec.ErrTooLarge},
		{"untagged", msg[1:], ErrNotSign1},
		{"tag 98 (cose_sign)", cat([]byte{0xd8, 0x62}, msg[1:]), ErrNotSign1},
		{"tag 17 (cose_mac0)", cat([]byte{0xd1}, msg[1:]), ErrNotSign1},
		{"tag 18 in two bytes", cat([]byte{0xd8, 0x12}, msg[1:]), codec.ErrNotCanonical},
		{"double tag 18", cat([]byte{0xd2}, msg), codec.ErrTagNotAllowed},
		{"not cbor", []byte("hello, gateway"), ErrNotSign1},
		{"trailing byte", cat(msg, []byte{0x00}), codec.ErrTrailingData},
		{"trailing message", cat(msg, msg), codec.ErrTrailingData},
		{"tagged map", []byte{0xd2, 0xa0}, codec.ErrWrongType},
		{"array of 3", cat([]byte{0xd2, 0x83}, bstr(protEdDSA), unprot, bstr(payload)), codec.ErrWrongType},
		{"array of 5", cat([]byte{0xd2, 0x85}, body, []byte{0x00}), codec.ErrWrongType},
		{"indefinite array", cat([]byte{0xd2, 0x9f}, body, []byte{0xff}), codec.ErrIndefiniteLength},
		{"indefinite payload", cat([]byte{0xd2, 0x84}, bstr(protEdDSA), unprot,
			[]byte{0x5f}, bstr(payload[:10]), bstr(payload[10:]), []byte{0xff}, bstr(sig)), codec.ErrIndefiniteLength},
		{"indefinite unprotected", cat([]byte{0xd2, 0x84}, bstr(protEdDSA), []byte{0xbf, 0x04}, bstr(kid[:]), []byte{0xff},
			bstr(payload), bstr(sig)), codec.ErrIndefiniteLength},
		{"non-minimal payload length", cat([]byte{0xd2, 0x84}, bstr(protEdDSA), unprot,
			[]byte{0x59, 0x00, byte(len(payload))}, payload, bstr(sig)), codec.ErrNotCanonical},
		{"non-minimal kid label", cat([]byte{0xd2, 0x84}, bstr(protEdDSA), []byte{0xa1, 0x18, 0x04}, bstr(kid[:]),
			bstr(payload), bstr(sig)), codec.ErrNotCanonical},
		{"non-minimal alg", assemble([]byte{0xa1, 0x01, 0x38, 0x07}, unprot, payload, sig), codec.ErrNotCanonical},
		{"protected as empty map", assemble([]byte{0xa0}, unprot, payload, sig), codec.ErrNotCanonical},
		{"protected null", cat([]byte{0xd2, 0x84, 0xf6}, unprot, bstr(payload), bstr(sig)), codec.ErrWrongType},
		{"protected not a map", assemble([]byte{0x01}, unprot, payload, sig), codec.ErrWrongType},
		{"protected trailing", assemble([]byte{0xa1, 0x01, 0x27, 0x00}, unprot, payload, sig), codec.ErrTrailingData},
		{"protected extra label", assemble([]byte{0xa2, 0x01, 0x27, 0x03, 0x00}, unprot, payload, sig), codec.ErrUnknownField},
		{"protected crit", assemble([]byte{0xa2, 0x01, 0x27, 0x02, 0x81, 0x01}, unprot, payload, sig), codec.ErrUnknownField},
		{"protected duplicate alg", assemble([]byte{0xa2, 0x01, 0x27, 0x01, 0x27}, unprot, payload, sig), codec.ErrDuplicateKey},
		{"alg as text", assemble([]byte{0xa1, 0x01, 0x65, 'E', 'd', 'D', 'S', 'A'}, unprot, payload, sig), codec.ErrWrongType},
		{"protected tagged", assemble([]byte{0xa1, 0x01, 0xc1, 0x27}, unprot, payload, sig), codec.ErrTagNotAllowed},
		{"unprotected not a map", cat([]byte{0xd2, 0x84}, bstr(protEdDSA), bstr(kid[:]), bstr(payload), bstr(sig)), codec.ErrWrongType},
		{"unprotected duplicate kid", cat([]byte{0xd2, 0x84}, bstr(protEdDSA), []byte{0xa2, 0x04}, bstr(kid[:]), []byte{0x04}, bstr(kid[:]),
			bstr(payload), bstr(sig)), codec.ErrDuplicateKey},
		{"unprotected extra label", cat([]byte{0xd2, 0x84}, bstr(protEdDSA), []byte{0xa2, 0x04}, bstr(kid[:]), []byte{0x18, 0x63, 0x01},
			bstr(payload), bstr(sig)), codec.ErrUnknownField},
		{"unprotected text label", cat([]byte{0xd2, 0x84}, bstr(protEdDSA), []byte{0xa2, 0x04}, bstr(kid[:]), []byte{0x61, 'x', 0x01},
			bstr(payload), bstr(sig)), codec.ErrUnknownField},
		{"alg in unprotected", cat([]byte{0xd2, 0x84}, bstr(protEdDSA), []byte{0xa2, 0x01, 0x27, 0x04}, bstr(kid[:]),
			bstr(payload), bstr(sig)), codec.ErrUnknownField},
		{"kid missing", assemble(protEdDSA, []byte{0xa0}, payload, sig), codec.ErrMissingField},
		{"kid short", assemble(protEdDSA, unprotKid(kid[:31]), payload, sig), ErrBadKeyID},
		{"kid long", assemble(protEdDSA, unprotKid(cat(kid[:], []byte{0})), payload, sig), ErrBadKeyID},
		{"kid as text", cat([]byte{0xd2, 0x84}, bstr(protEdDSA), []byte{0xa1, 0x04, 0x78, 0x20}, bytes.Repeat([]byte("k"), 32), bstr(payload), bstr(sig)), codec.ErrWrongType},
		{"kid tagged", cat([]byte{0xd2, 0x84}, bstr(protEdDSA), []byte{0xa1, 0x04, 0xd8, 0x40}, bstr(kid[:]), bstr(payload), bstr(sig)), codec.ErrTagNotAllowed},
		{"payload null (detached)", cat([]byte{0xd2, 0x84}, bstr(protEdDSA), unprot, []byte{0xf6}, bstr(sig)), codec.ErrMissingField},
		{"payload empty", assemble(protEdDSA, unprot, nil, sig), codec.ErrMissingField},
		{"payload as text", cat([]byte{0xd2, 0x84}, bstr(protEdDSA), unprot, []byte{0x62, 'h', 'i'}, bstr(sig)), codec.ErrWrongType},
		{"payload tagged", cat([]byte{0xd2, 0x84}, bstr(protEdDSA), unprot, []byte{0xd8, 0x18}, bstr(payload), bstr(sig)), codec.ErrTagNotAllowed},
		{"signature short", assemble(protEdDSA, unprot, payload, sig[:63]), identity.ErrBadSignature},
		{"signature long", assemble(protEdDSA, unprot, payload, cat(sig, []byte{0})), identity.ErrBadSignature},
		{"signature empty", assemble(protEdDSA, unprot, payload, nil), identity.ErrBadSignature},
		{"signature null", cat([]byte{0xd2, 0x84}, bstr(protEdDSA), unprot, bstr(payload), []byte{0xf6}), identity.ErrBadSignature},
		{"deep nesting", cat([]byte{0xd2, 0x84}, bytes.Repeat([]byte{0x81}, 40), []byte{0x00}), codec.ErrTooDeep},
		{"huge declared length", cat([]byte{0xd2, 0x84}, bstr(protEdDSA), unprot, []byte{0x5b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}), codec.ErrTruncated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Parse(tt.msg)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Parse() error = %v, want %v", err, tt.want)
			}
			if s != nil {
				t.Fatal("Parse() returned a message with an error")
			}
		})
	}

	t.Run("every truncation", func(t *testing.T) {
		for n := range len(msg) {
			if _, err := Parse(msg[:n]); !errors.Is(err, codec.ErrTruncated) {
				t.Errorf("Parse(msg[:%d]) error = %v, want ErrTruncated", n, err)
			}
		}
	})
}

// TestVerifyErrors covers messages that parse but must not verify, including
// bad content behind a good signature.
func TestVerifyErrors(t *testing.T) {
	key := testKey(t, identity.RoleDevice, 0)
	pub := key.Public()
	kid := pub.ID()
	other := testKey(t, identity.RoleDevice, 1)
	asPatient, err := identity.NewVerifyingKey(identity.RolePatient, pub.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	good := testReading(kid)
	msg, err := Sign(good, key)
	if err != nil {
		t.Fatal(err)
	}
	payload := mustMarshal(t, good)

	flip := func(b []byte, i int) []byte {
		c := bytes.Clone(b)
		c[i] ^= 0x01
		return c
	}
	withPayload := func(change func(*Reading)) []byte {
		r := good
		change(&r)
		return signRaw(key, protEdDSA, mustMarshal(t, r))
	}
	// a map of 9 fields: the reading plus key 9.
	extraField := cat([]byte{0xa9}, payload[1:], []byte{0x09, 0x00})
	// a map of 7 fields: the reading without the unit (key 8, last).
	unitAt := bytes.LastIndex(payload, []byte{0x08, 0x65})
	missingField := cat([]byte{0xa7}, payload[1:unitAt])
	// fields out of canonical order: unit (key 8) moved first.
	reordered := cat([]byte{0xa8}, payload[unitAt:], payload[1:unitAt])
	// version 1 encoded in two bytes.
	nonMinimal := cat([]byte{0xa8, 0x01, 0x18, 0x01}, payload[3:])
	// a 31-byte patient ID.
	shortID := cat([]byte{0xa8, 0x01, 0x01, 0x02}, bstr(good.Patient[:31]), payload[4+2+32:])
	// the version as text.
	versionText := cat([]byte{0xa8, 0x01, 0x61, '1'}, payload[3:])

	tests := []struct {
		name string
		msg  []byte
		key  identity.VerifyingKey
		want error
	}{
		{"ok", msg, pub, nil},
		{"patient role", msg, asPatient, identity.ErrWrongRole},
		{"zero key", msg, identity.VerifyingKey{}, identity.ErrWrongRole},
		{"other device's key", msg, other.Public(), ErrKeyMismatch},
		{"kid of another device", signRaw(other, protEdDSA, payload), other.Public(), ErrKeyMismatch},
		{"alg ES256", signRaw(key, protES256, payload), pub, ErrWrongAlgorithm},
		{"no alg", signRaw(key, nil, payload), pub, ErrWrongAlgorithm},
		{"tampered payload", flip(msg, len(msg)-66-2), pub, identity.ErrBadSignature},
		{"tampered signature", flip(msg, len(msg)-1), pub, identity.ErrBadSignature},
		{"tampered signature R", flip(msg, len(msg)-64), pub, identity.ErrBadSignature},
		{"signed by other key", assemble(protEdDSA, unprotKid(kid[:]), payload, other.Sign(sigStructure(protEdDSA, payload))), pub, identity.ErrBadSignature},
		{"signed without sig_structure", assemble(protEdDSA, unprotKid(kid[:]), payload, key.Sign(payload)), pub, identity.ErrBadSignature},
		{"signed with context", assemble(protEdDSA, unprotKid(kid[:]), payload, key.SignContext("reading", sigStructure(protEdDSA, payload))), pub, identity.ErrBadSignature},
		{"version 2", withPayload(func(r *Reading) { r.Version = 2 }), pub, codec.ErrUnknownVersion},
		{"version 0", withPayload(func(r *Reading) { r.Version = 0 }), pub, codec.ErrUnknownVersion},
		{"version as text", signRaw(key, protEdDSA, versionText), pub, codec.ErrWrongType},
		{"missing field", signRaw(key, protEdDSA, missingField), pub, codec.ErrMissingField},
		{"unknown field", signRaw(key, protEdDSA, extraField), pub, codec.ErrUnknownField},
		{"fields out of order", signRaw(key, protEdDSA, reordered), pub, codec.ErrNotCanonical},
		{"non-minimal int", signRaw(key, protEdDSA, nonMinimal), pub, codec.ErrNotCanonical},
		{"short id", signRaw(key, protEdDSA, shortID), pub, codec.ErrNotCanonical},
		{"payload trailing", signRaw(key, protEdDSA, cat(payload, []byte{0x00})), pub, codec.ErrTrailingData},
		{"payload truncated", signRaw(key, protEdDSA, payload[:len(payload)-1]), pub, codec.ErrTruncated},
		{"payload not a map", signRaw(key, protEdDSA, []byte{0x01}), pub, codec.ErrWrongType},
		{"payload tagged", signRaw(key, protEdDSA, cat([]byte{0xc0}, payload)), pub, codec.ErrTagNotAllowed},
		{"seq 0", withPayload(func(r *Reading) { r.Seq = 0 }), pub, codec.ErrMissingField},
		{"no patient", withPayload(func(r *Reading) { r.Patient = identity.ID{} }), pub, codec.ErrMissingField},
		{"unknown code", withPayload(func(r *Reading) { r.Code = "0000-0" }), pub, vital.ErrUnknownKind},
		{"wrong unit", withPayload(func(r *Reading) { r.Unit = "mmol/L" }), pub, ErrWrongUnit},
		{"implausible", withPayload(func(r *Reading) { r.Value = -5 }), pub, ErrImplausible},
		{"reading of another device", withPayload(func(r *Reading) { r.Device = other.Public().ID() }), pub, ErrKeyMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Parse(tt.msg)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			r, err := s.Verify(tt.key)
			if tt.want == nil {
				if err != nil || r != good {
					t.Fatalf("Verify() = %+v, %v", r, err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Verify() error = %v, want %v", err, tt.want)
			}
			if r != (Reading{}) {
				t.Fatalf("Verify() returned %+v with an error", r)
			}
		})
	}
}

func TestVerifyLookup(t *testing.T) {
	key := testKey(t, identity.RoleDevice, 0)
	r := testReading(key.Public().ID())
	msg, err := Sign(r, key)
	if err != nil {
		t.Fatal(err)
	}
	errNotFound := errors.New("no such device in the registry")
	registry := func(id identity.ID) (identity.VerifyingKey, error) {
		if id == key.Public().ID() {
			return key.Public(), nil
		}
		return identity.VerifyingKey{}, errNotFound
	}
	got, err := Verify(msg, registry)
	if err != nil || got != r {
		t.Fatalf("Verify() = %+v, %v", got, err)
	}

	other := testKey(t, identity.RoleDevice, 1)
	msg2, err := Sign(testReading(other.Public().ID()), other)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Verify(msg2, registry)
	if !errors.Is(err, ErrUnknownDevice) || !errors.Is(err, errNotFound) {
		t.Fatalf("Verify(unknown device) error = %v, want ErrUnknownDevice wrapping the lookup error", err)
	}
	called := false
	_, err = Verify(msg[1:], func(identity.ID) (identity.VerifyingKey, error) { called = true; return key.Public(), nil })
	if !errors.Is(err, ErrNotSign1) || called {
		t.Fatalf("Verify(malformed) error = %v, lookup called %v", err, called)
	}
	// A wrong-role key from the registry is refused.
	asCloud, _ := identity.NewVerifyingKey(identity.RoleCloud, key.Public().Bytes())
	_, err = Verify(msg, func(identity.ID) (identity.VerifyingKey, error) { return asCloud, nil })
	if !errors.Is(err, identity.ErrWrongRole) {
		t.Fatalf("Verify(cloud key) error = %v, want ErrWrongRole", err)
	}
}

// TestGoCoseInterop checks that a standard COSE library reads our messages:
// go-cose decodes them, finds the kid, and verifies them with its own
// (crypto/ed25519) verifier.
func TestGoCoseInterop(t *testing.T) {
	key := testKey(t, identity.RoleDevice, 0)
	kid := key.Public().ID()
	r := testReading(kid)
	msg, err := Sign(r, key)
	if err != nil {
		t.Fatal(err)
	}
	var m cose.Sign1Message
	if err := m.UnmarshalCBOR(msg); err != nil {
		t.Fatal(err)
	}
	if got, _ := m.Headers.Protected.Algorithm(); got != cose.AlgorithmEdDSA {
		t.Fatalf("alg = %v", got)
	}
	if got, _ := m.Headers.Unprotected[cose.HeaderLabelKeyID].([]byte); !bytes.Equal(got, kid[:]) {
		t.Fatalf("kid = %x, want %x", got, kid)
	}
	v, err := cose.NewVerifier(cose.AlgorithmEdDSA, ed25519.PublicKey(key.Public().Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Verify(nil, v); err != nil {
		t.Fatal(err)
	}
	var got Reading
	if err := codec.Unmarshal(m.Payload, &got); err != nil || got != r {
		t.Fatalf("payload = %+v, %v", got, err)
	}
	// The signature is over the Sig_structure as the package doc describes it.
	if err := key.Public().Verify(sigStructure(protEdDSA, m.Payload), m.Signature); err != nil {
		t.Fatalf("signature is not over the documented Sig_structure: %v", err)
	}
}

// TestGoCoseIsLax records why Parse does not hand raw bytes to go-cose: it
// accepts encodings that Parse must refuse (so one signature would be valid
// for many different messages). If go-cose becomes strict, this test says so.
func TestGoCoseIsLax(t *testing.T) {
	key := testKey(t, identity.RoleDevice, 0)
	kid := key.Public().ID()
	msg, err := Sign(testReading(kid), key)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := Parse(msg)
	lax := map[string][]byte{
		"non-minimal length": cat([]byte{0xd2, 0x84}, bstr(protEdDSA), unprotKid(kid[:]),
			[]byte{0x59, 0x00, byte(len(s.payload))}, s.payload, bstr(s.signature)),
		"extra unprotected header": cat([]byte{0xd2, 0x84}, bstr(protEdDSA), []byte{0xa2, 0x04}, bstr(kid[:]),
			[]byte{0x18, 0x63, 0x01}, bstr(s.payload), bstr(s.signature)),
	}
	v, _ := cose.NewVerifier(cose.AlgorithmEdDSA, ed25519.PublicKey(key.Public().Bytes()))
	for name, b := range lax {
		var m cose.Sign1Message
		if err := m.UnmarshalCBOR(b); err != nil {
			t.Logf("%s: go-cose now refuses it: %v", name, err)
			continue
		}
		if err := m.Verify(nil, v); err != nil {
			t.Errorf("%s: go-cose verify: %v", name, err)
		}
		if _, err := Parse(b); err == nil {
			t.Errorf("%s: Parse accepted a message go-cose accepts laxly", name)
		}
	}
}

// TestVerifyZIP215 checks that signatures are verified under ZIP-215, like
// everywhere else in VitalChain, and not under crypto/ed25519's stricter
// rules: a signature whose R is a non-canonical encoding passes ZIP-215 and
// fails crypto/ed25519.
func TestVerifyZIP215(t *testing.T) {
	pubBytes := make([]byte, 32)
	pubBytes[0] = 0x01 // the identity point, a small-order key
	pub, err := identity.NewVerifyingKey(identity.RoleDevice, pubBytes)
	if err != nil {
		t.Fatal(err)
	}
	kid := identity.ID(sha256.Sum256(pubBytes))
	if pub.ID() != kid {
		t.Fatal("ID is not SHA-256 of the public key")
	}
	// R = 2^255-18, a non-canonical encoding of the identity (y = p+1), s = 0.
	sig := make([]byte, 64)
	sig[0] = 0xee
	for i := 1; i < 31; i++ {
		sig[i] = 0xff
	}
	sig[31] = 0x7f
	payload := mustMarshal(t, testReading(kid))
	msg := assemble(protEdDSA, unprotKid(kid[:]), payload, sig)

	if ed25519.Verify(pubBytes, sigStructure(protEdDSA, payload), sig) {
		t.Fatal("crypto/ed25519 accepts the test signature: it no longer tells the rule sets apart")
	}
	s, err := Parse(msg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Verify(pub); err != nil {
		t.Fatalf("Verify under ZIP-215: %v", err)
	}
}

func TestKeyIDNotTrusted(t *testing.T) {
	// Parse returns the kid without verifying anything: a message can claim
	// any kid, and Verify with the claimed device's key must fail.
	victim := testKey(t, identity.RoleDevice, 0)
	attacker := testKey(t, identity.RoleDevice, 1)
	vid := victim.Public().ID()
	payload := mustMarshal(t, testReading(vid))
	msg := assemble(protEdDSA, unprotKid(vid[:]), payload, attacker.Sign(sigStructure(protEdDSA, payload)))
	s, err := Parse(msg)
	if err != nil {
		t.Fatal(err)
	}
	if s.KeyID() != vid {
		t.Fatal("wrong kid")
	}
	if _, err := s.Verify(victim.Public()); !errors.Is(err, identity.ErrBadSignature) {
		t.Fatalf("Verify() error = %v, want ErrBadSignature", err)
	}
}

// TestParseFastMatchesStrict checks that the decoder-free fast path and the
// strict decoder give the same result on valid messages, and that the fast
// path declines messages it does not recognise.
func TestParseFastMatchesStrict(t *testing.T) {
	key := testKey(t, identity.RoleDevice, 0)
	for i, k := range vital.Kinds() {
		r := New(testPatient(), key.Public().ID(), uint64(1)<<(8*i), testTime, k, k.Info().Max)
		msg, err := Sign(r, key)
		if err != nil {
			t.Fatal(err)
		}
		fast, ok := parseFast(msg)
		if !ok {
			t.Fatalf("%s: fast path declined a message Sign wrote", k)
		}
		strict, err := parseStrict(msg)
		if err != nil {
			t.Fatal(err)
		}
		if fast.kid != strict.kid || fast.alg != strict.alg || !bytes.Equal(fast.payload, strict.payload) || !bytes.Equal(fast.signature, strict.signature) {
			t.Fatalf("%s: fast %+v, strict %+v", k, fast, strict)
		}
		// The parsed message does not alias the caller's buffer.
		msg[len(msg)-1] ^= 1
		msg[20] ^= 1
		if !bytes.Equal(fast.signature, strict.signature) || fast.kid != strict.kid {
			t.Fatal("Parse result aliases its input")
		}
		for _, bad := range [][]byte{msg[:len(msg)-1], cat(msg, []byte{0}), msg[1:]} {
			if _, ok := parseFast(bad); ok {
				t.Fatalf("fast path accepted %x", bad)
			}
		}
	}
}
