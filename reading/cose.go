package reading

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"

	"github.com/veraison/go-cose"

	"github.com/vitalchain/vitalchain/codec"
	"github.com/vitalchain/vitalchain/identity"
)

// MaxSize bounds a signed reading, in bytes. A real one is about 220 bytes.
const MaxSize = 1024

// Errors about the signed envelope, each wrapped with detail.
var (
	// ErrNotSign1: the message does not start with CBOR tag 18
	// (COSE_Sign1_Tagged) over a four-element array.
	ErrNotSign1 = errors.New("not a tagged cose_sign1 message")
	// ErrBadKeyID: the kid header is not a 32-byte device ID.
	ErrBadKeyID = errors.New("bad cose key id")
	// ErrWrongAlgorithm: the protected header does not say EdDSA (-8).
	ErrWrongAlgorithm = errors.New("wrong cose algorithm")
	// ErrKeyMismatch: the verifying key is not the one the message names in
	// its kid, or not the device the reading names; or the signing key is
	// not the reading's device.
	ErrKeyMismatch = errors.New("key does not match the device")
	// ErrUnknownDevice: the lookup passed to Verify knows no key for the kid.
	ErrUnknownDevice = errors.New("unknown device")
)

const (
	tagSign1 = 0xd2 // CBOR tag 18, COSE_Sign1_Tagged
	arrayOf4 = 0x84
	mapOf8   = 0xa8
	sigSize  = ed25519.SignatureSize
	idSize   = len(identity.ID{})
	algEdDSA = int64(cose.AlgorithmEdDSA)
	labelAlg = cose.HeaderLabelAlgorithm
)

// protectedEdDSA is the protected header as it appears in the message and in
// the Sig_structure: bstr(3) wrapping the map {1: -8}.
var protectedEdDSA = []byte{0x43, 0xa1, 0x01, 0x27}

// envelope is COSE_Sign1 (RFC 9052 section 4.2) as VitalChain accepts it.
type envelope struct {
	_           struct{} `cbor:",toarray"`
	Protected   []byte
	Unprotected unprotectedHeader
	Payload     []byte
	Signature   []byte
}

// unprotectedHeader accepts the kid and nothing else.
type unprotectedHeader struct {
	KeyID []byte `cbor:"4,keyasint,omitempty"`
}

// protectedHeader accepts alg and nothing else.
type protectedHeader struct {
	Alg int64 `cbor:"1,keyasint,omitempty"`
}

// coseSigner adapts an identity.SigningKey to cose.Signer. COSE signs the
// Sig_structure as it is (no VitalChain context prefix): the "Signature1"
// context string inside it already separates it from other uses.
type coseSigner struct{ key *identity.SigningKey }

func (s coseSigner) Algorithm() cose.Algorithm { return cose.AlgorithmEdDSA }

func (s coseSigner) Sign(_ io.Reader, content []byte) ([]byte, error) {
	return s.key.Sign(content), nil
}

// coseVerifier adapts an identity.VerifyingKey to cose.Verifier, so that
// signatures are checked with VitalChain's one rule set, ZIP-215, and not
// with crypto/ed25519's stricter rules that go-cose's own verifier uses.
type coseVerifier struct{ key identity.VerifyingKey }

func (v coseVerifier) Algorithm() cose.Algorithm { return cose.AlgorithmEdDSA }

func (v coseVerifier) Verify(content, sig []byte) error { return v.key.Verify(content, sig) }

var (
	_ cose.Signer   = coseSigner{}
	_ cose.Verifier = coseVerifier{}
)

// Sign validates r and returns it signed by key as a tagged COSE_Sign1
// message. key must have identity.RoleDevice and be r's device.
func Sign(r Reading, key *identity.SigningKey) ([]byte, error) {
	if key == nil {
		return nil, fmt.Errorf("reading: sign: %w: nil key", identity.ErrBadKey)
	}
	if err := key.Role().Want(identity.RoleDevice); err != nil {
		return nil, fmt.Errorf("reading: sign: %w", err)
	}
	if err := r.Validate(); err != nil {
		return nil, err
	}
	kid := key.Public().ID()
	if r.Device != kid {
		return nil, fmt.Errorf("reading: sign: %w: reading of device %s, key of %s", ErrKeyMismatch, r.Device, kid)
	}
	payload, err := codec.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("reading: sign: %w", err)
	}
	msg := cose.Sign1Message{
		Headers: cose.Headers{
			RawProtected: protectedEdDSA,
			Protected:    cose.ProtectedHeader{labelAlg: cose.AlgorithmEdDSA},
			// {4: kid}, already encoded: a1 04 58 20 kid.
			RawUnprotected: append([]byte{0xa1, 0x04, 0x58, byte(idSize)}, kid[:]...),
		},
		Payload: payload,
	}
	if err := msg.Sign(nil, nil, coseSigner{key}); err != nil {
		return nil, fmt.Errorf("reading: sign: %w", err)
	}
	out, err := msg.MarshalCBOR()
	if err != nil {
		return nil, fmt.Errorf("reading: sign: %w", err)
	}
	if len(out) > MaxSize {
		return nil, fmt.Errorf("reading: sign: %w: %d bytes, limit %d", codec.ErrTooLarge, len(out), MaxSize)
	}
	return out, nil
}

// Signed is a parsed, not yet verified, signed reading.
type Signed struct {
	kid       identity.ID
	alg       int64
	payload   []byte
	signature []byte
}

// KeyID returns the device ID the message names as its signer. It is not
// authenticated until Verify succeeds; use it only to look up the key.
func (s *Signed) KeyID() identity.ID { return s.kid }

// Parse decodes an untrusted signed reading without verifying it. It accepts
// exactly one encoding, the one Sign produces: CBOR tag 18 over the
// four-element array in core deterministic CBOR, a protected header holding
// only alg, an unprotected header holding only a 32-byte kid, an attached
// payload and a 64-byte signature. Errors wrap ErrNotSign1, ErrBadKeyID,
// identity.ErrBadSignature, codec.ErrMissingField or one of codec's decoding
// errors (codec.ErrTooLarge, ErrTruncated, ErrTrailingData, ErrDuplicateKey,
// ErrIndefiniteLength, ErrTagNotAllowed, ErrNotCanonical, ErrUnknownField,
// ErrWrongType, ErrMalformed).
func Parse(msg []byte) (*Signed, error) {
	if len(msg) > MaxSize {
		return nil, fmt.Errorf("reading: %w: %d bytes, limit %d", codec.ErrTooLarge, len(msg), MaxSize)
	}
	if s, ok := parseFast(msg); ok {
		return s, nil
	}
	return parseStrict(msg)
}

// prefix is the start of every message Sign writes, up to the kid's bytes:
// tag 18, array(4), bstr(3) {1: -8}, map(1) {4: bstr(32) ...}.
var prefix = []byte{tagSign1, arrayOf4, 0x43, 0xa1, 0x01, 0x27, 0xa1, 0x04, 0x58, byte(idSize)}

// parseFast recognises a message laid out exactly as Sign lays it out, with
// a payload of 24 to 255 bytes (every valid reading), without a CBOR
// decoder. Anything else, valid or not, is left to parseStrict, which
// accepts everything parseFast does (the fuzz test checks it).
func parseFast(msg []byte) (*Signed, bool) {
	const (
		kidAt     = 10             // len(prefix)
		payloadAt = kidAt + idSize // 58 LL payload
		overhead  = payloadAt + 2 + 2 + sigSize
	)
	if len(msg) < overhead+24 || !bytes.Equal(msg[:kidAt], prefix) || msg[payloadAt] != 0x58 {
		return nil, false
	}
	n := int(msg[payloadAt+1])
	if n < 24 || len(msg) != overhead+n {
		return nil, false
	}
	sigAt := payloadAt + 2 + n
	if msg[sigAt] != 0x58 || msg[sigAt+1] != sigSize {
		return nil, false
	}
	// One copy, so that the Signed does not alias the caller's buffer.
	buf := make([]byte, n+sigSize)
	copy(buf, msg[payloadAt+2:sigAt])
	copy(buf[n:], msg[sigAt+2:])
	s := &Signed{alg: algEdDSA, payload: buf[:n:n], signature: buf[n:]}
	copy(s.kid[:], msg[kidAt:payloadAt])
	return s, true
}

// parseStrict decodes msg with package codec's strict rules and names what
// is wrong with it.
func parseStrict(msg []byte) (*Signed, error) {
	if len(msg) < 2 {
		return nil, fmt.Errorf("reading: %w: %d bytes", codec.ErrTruncated, len(msg))
	}
	switch {
	case msg[0] == tagSign1:
	case msg[0] == 0xd8 && msg[1] == 18:
		return nil, fmt.Errorf("reading: %w: tag 18 in two bytes", codec.ErrNotCanonical)
	case msg[0] == arrayOf4:
		return nil, fmt.Errorf("reading: %w: untagged (tag 18 is required)", ErrNotSign1)
	default:
		return nil, fmt.Errorf("reading: %w: starts with 0x%02x", ErrNotSign1, msg[0])
	}
	var env envelope
	if err := codec.UnmarshalLimit(msg[1:], MaxSize, &env); err != nil {
		return nil, fmt.Errorf("reading: cose_sign1: %w", err)
	}
	if msg[1] != arrayOf4 { // belt and braces: the decoder checks the length too
		return nil, fmt.Errorf("reading: %w: not an array of 4", ErrNotSign1)
	}
	if env.Protected == nil {
		return nil, fmt.Errorf("reading: %w: protected header is null", codec.ErrWrongType)
	}
	var ph protectedHeader
	if bytes.Equal(env.Protected, protectedEdDSA[1:]) {
		ph.Alg = algEdDSA // the one header Sign writes: skip decoding it
	} else if len(env.Protected) > 0 {
		if err := codec.UnmarshalLimit(env.Protected, MaxSize, &ph); err != nil {
			return nil, fmt.Errorf("reading: protected header: %w", err)
		}
		if ph.Alg == 0 { // {} or {1: 0}: an empty header must be h''
			return nil, fmt.Errorf("reading: %w: protected header is an empty map", codec.ErrNotCanonical)
		}
	}
	s := &Signed{alg: ph.Alg, payload: env.Payload, signature: env.Signature}
	switch len(env.Unprotected.KeyID) {
	case 0:
		return nil, fmt.Errorf("reading: %w: kid", codec.ErrMissingField)
	case idSize:
		copy(s.kid[:], env.Unprotected.KeyID)
	default:
		return nil, fmt.Errorf("reading: %w: %d bytes, want %d", ErrBadKeyID, len(env.Unprotected.KeyID), idSize)
	}
	if len(env.Payload) == 0 {
		return nil, fmt.Errorf("reading: %w: payload (detached payloads are not supported)", codec.ErrMissingField)
	}
	if len(env.Signature) != sigSize {
		return nil, fmt.Errorf("reading: %w: signature of %d bytes, want %d", identity.ErrBadSignature, len(env.Signature), sigSize)
	}
	return s, nil
}

// Verify checks s with the device's key and returns the reading. It checks,
// in order: key has identity.RoleDevice (identity.ErrWrongRole); the kid is
// key.ID() (ErrKeyMismatch); the algorithm is EdDSA (ErrWrongAlgorithm); the
// signature, under ZIP-215 rules (identity.ErrBadSignature); the payload is
// a canonical Reading (codec errors); Reading.Validate; and that the reading
// names this device (ErrKeyMismatch). It does not check Seq for replays.
func (s *Signed) Verify(key identity.VerifyingKey) (Reading, error) {
	if err := key.Role().Want(identity.RoleDevice); err != nil {
		return Reading{}, fmt.Errorf("reading: verify: %w", err)
	}
	id := key.ID()
	if s.kid != id {
		return Reading{}, fmt.Errorf("reading: verify: %w: message kid %s, key %s", ErrKeyMismatch, s.kid, id)
	}
	if s.alg != algEdDSA {
		return Reading{}, fmt.Errorf("reading: verify: %w: %d, want %d (EdDSA)", ErrWrongAlgorithm, s.alg, algEdDSA)
	}
	msg := cose.Sign1Message{
		Headers: cose.Headers{
			RawProtected: protectedEdDSA,
			Protected:    cose.ProtectedHeader{labelAlg: cose.AlgorithmEdDSA},
		},
		Payload:   s.payload,
		Signature: s.signature,
	}
	if err := msg.Verify(nil, coseVerifier{key}); err != nil {
		return Reading{}, fmt.Errorf("reading: verify: device %s: %w", id, err)
	}
	r, err := decodePayload(s.payload)
	if err != nil {
		return Reading{}, err
	}
	if err := r.Validate(); err != nil {
		return Reading{}, err
	}
	if r.Device != id {
		return Reading{}, fmt.Errorf("reading: verify: %w: reading names device %s, signed by %s", ErrKeyMismatch, r.Device, id)
	}
	return r, nil
}

// decodePayload decodes a canonical Reading, reporting an unknown version or
// a missing field by name before the generic decoding errors.
func decodePayload(p []byte) (Reading, error) {
	// Canonical encoding puts key 1 (version) first: a1..b7 01 VV.
	if len(p) >= 3 && p[0] >= 0xa1 && p[0] <= 0xb7 && p[1] == 0x01 && p[2] < 0x18 && p[2] != Version {
		return Reading{}, codec.CheckVersion("reading", p[2], Version)
	}
	if p[0] >= 0xa0 && p[0] < mapOf8 {
		return Reading{}, fmt.Errorf("reading: %w: payload has %d of 8 fields", codec.ErrMissingField, p[0]-0xa0)
	}
	var r Reading
	if err := codec.UnmarshalLimit(p, MaxSize, &r); err != nil {
		return Reading{}, fmt.Errorf("reading: payload: %w", err)
	}
	return r, nil
}

// Verify parses msg, looks up its device's key by kid and verifies it. A
// lookup error is reported wrapping both ErrUnknownDevice and the lookup's
// own error.
func Verify(msg []byte, lookup func(identity.ID) (identity.VerifyingKey, error)) (Reading, error) {
	s, err := Parse(msg)
	if err != nil {
		return Reading{}, err
	}
	key, err := lookup(s.kid)
	if err != nil {
		return Reading{}, fmt.Errorf("reading: %w %s: %w", ErrUnknownDevice, s.kid, err)
	}
	return s.Verify(key)
}
