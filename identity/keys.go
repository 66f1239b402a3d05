package identity

import (
	"crypto/ed25519"
	"crypto/hpke"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"filippo.io/edwards25519"
	"github.com/hdevalence/ed25519consensus"
)

// Errors about keys and signatures.
var (
	ErrBadEncoding  = errors.New("bad key encoding")
	ErrBadChecksum  = errors.New("key checksum mismatch")
	ErrWrongKind    = errors.New("wrong kind of key")
	ErrUnknownSuite = errors.New("unknown hpke suite")
	ErrBadSignature = errors.New("bad signature")
	ErrBadKey       = errors.New("invalid key")
)

// Suite is an HPKE ciphersuite, named by its KEM. The KDF is always
// HKDF-SHA256 and the AEAD AES-256-GCM.
type Suite uint16

// The supported suites; their numbers are the RFC 9180 KEM identifiers.
const (
	SuiteX25519         Suite = 0x0020 // DHKEM(X25519, HKDF-SHA256)
	SuiteMLKEM768X25519 Suite = 0x647a // hybrid ML-KEM-768 + X25519

	// DefaultSuite is the suite new keys get unless told otherwise.
	DefaultSuite = SuiteMLKEM768X25519
)

// Valid reports whether s is a supported suite.
func (s Suite) Valid() bool { return s == SuiteX25519 || s == SuiteMLKEM768X25519 }

// String returns the suite's name as used in key encodings.
func (s Suite) String() string {
	switch s {
	case SuiteX25519:
		return "x25519"
	case SuiteMLKEM768X25519:
		return "mlkem768x25519"
	}
	return "suite(0x" + strconv.FormatUint(uint64(s), 16) + ")"
}

// ParseSuite returns the suite with the given name.
func ParseSuite(name string) (Suite, error) {
	for _, s := range []Suite{SuiteX25519, SuiteMLKEM768X25519} {
		if s.String() == name {
			return s, nil
		}
	}
	return 0, fmt.Errorf("%w: %q (want x25519 or mlkem768x25519)", ErrUnknownSuite, name)
}

// KEM returns the suite's HPKE KEM.
func (s Suite) KEM() (hpke.KEM, error) {
	switch s {
	case SuiteX25519:
		return hpke.DHKEM(ecdhX25519), nil
	case SuiteMLKEM768X25519:
		return hpke.MLKEM768X25519(), nil
	}
	return nil, fmt.Errorf("%w: %s", ErrUnknownSuite, s)
}

// KDF and AEAD of every VitalChain HPKE suite.
func KDF() hpke.KDF   { return hpke.HKDFSHA256() }
func AEAD() hpke.AEAD { return hpke.AES256GCM() }

// ID names an actor: the SHA-256 of its Ed25519 public key.
type ID [32]byte

// String returns the first 8 bytes of id in hex, enough to tell actors apart in logs.
func (id ID) String() string { return hex.EncodeToString(id[:8]) }

// Hex returns all of id in hex.
func (id ID) Hex() string { return hex.EncodeToString(id[:]) }

// ErrBadID is returned by ParseID for text that is not 64 hex digits.
var ErrBadID = errors.New("bad actor id")

// ParseID parses an ID written by Hex.
func ParseID(s string) (ID, error) {
	var id ID
	if len(s) != 2*len(id) {
		return id, fmt.Errorf("%w: %d characters, want %d hex digits", ErrBadID, len(s), 2*len(id))
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return id, fmt.Errorf("%w: %v", ErrBadID, err)
	}
	return id, nil
}

// SigningKey is an actor's Ed25519 private key.
type SigningKey struct {
	role Role
	priv ed25519.PrivateKey
}

// VerifyingKey is an actor's Ed25519 public key together with its role.
type VerifyingKey struct {
	role Role
	pub  [ed25519.PublicKeySize]byte
}

// GenerateSigningKey returns a new random signing key for role.
func GenerateSigningKey(role Role) (*SigningKey, error) {
	if !role.Valid() {
		return nil, fmt.Errorf("%w: %d", ErrUnknownRole, role)
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate ed25519 key: %w", err)
	}
	return &SigningKey{role: role, priv: priv}, nil
}

// NewSigningKey returns the signing key of role with the given 32-byte seed.
func NewSigningKey(role Role, seed []byte) (*SigningKey, error) {
	if !role.Valid() {
		return nil, fmt.Errorf("%w: %d", ErrUnknownRole, role)
	}
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("%w: ed25519 seed of %d bytes", ErrBadKey, len(seed))
	}
	return &SigningKey{role: role, priv: ed25519.NewKeyFromSeed(seed)}, nil
}

// Role returns the key's role.
func (k *SigningKey) Role() Role { return k.role }

// Seed returns the key's 32-byte seed. Keep it secret.
func (k *SigningKey) Seed() []byte { return k.priv.Seed() }

// Public returns the verifying key of k.
func (k *SigningKey) Public() VerifyingKey {
	v := VerifyingKey{role: k.role}
	copy(v.pub[:], k.priv[32:])
	return v
}

// Sign signs msg as it is. Prefer SignContext for VitalChain's own messages.
func (k *SigningKey) Sign(msg []byte) []byte { return ed25519.Sign(k.priv, msg) }

// SignContext signs msg in the named context: the signature covers
// "vitalchain/"+context, a zero byte and msg, so that a signature made for one
// purpose is never valid for another.
func (k *SigningKey) SignContext(context string, msg []byte) []byte {
	return ed25519.Sign(k.priv, withContext(context, msg))
}

// String returns the secret key's typed encoding. Keep it secret.
func (k *SigningKey) String() string {
	return encodeKey(prefix(k.role, "ed25519", kindSecret), k.priv.Seed())
}

// NewVerifyingKey returns the verifying key of role with the given public key bytes.
func NewVerifyingKey(role Role, pub []byte) (VerifyingKey, error) {
	if !role.Valid() {
		return VerifyingKey{}, fmt.Errorf("%w: %d", ErrUnknownRole, role)
	}
	if len(pub) != ed25519.PublicKeySize {
		return VerifyingKey{}, fmt.Errorf("%w: ed25519 public key of %d bytes", ErrBadKey, len(pub))
	}
	v := VerifyingKey{role: role}
	copy(v.pub[:], pub)
	return v, nil
}

// Role returns the key's role.
func (v VerifyingKey) Role() Role { return v.role }

// IsZero reports whether v is the zero VerifyingKey.
func (v VerifyingKey) IsZero() bool { return v.role == 0 }

// Bytes returns the 32-byte Ed25519 public key.
func (v VerifyingKey) Bytes() []byte { return v.pub[:] }

// ID returns the actor's ID.
func (v VerifyingKey) ID() ID { return sha256.Sum256(v.pub[:]) }

// Equal reports whether v and w are the same key with the same role.
func (v VerifyingKey) Equal(w VerifyingKey) bool {
	return v.role == w.role && subtle.ConstantTimeCompare(v.pub[:], w.pub[:]) == 1
}

// String returns the key's typed encoding.
func (v VerifyingKey) String() string {
	return encodeKey(prefix(v.role, "ed25519", kindPublic), v.pub[:])
}

// Verify checks sig over msg as it is, under the ZIP-215 rules.
func (v VerifyingKey) Verify(msg, sig []byte) error {
	return Verify(v.pub[:], msg, sig)
}

// VerifyContext checks a signature made by SignContext with the same context.
func (v VerifyingKey) VerifyContext(context string, msg, sig []byte) error {
	return VerifyContext(v.pub[:], context, msg, sig)
}

// Verify checks an Ed25519 signature under the ZIP-215 rules, the one rule
// set VitalChain uses everywhere.
func Verify(pub, msg, sig []byte) error {
	if len(pub) != ed25519.PublicKeySize {
		return fmt.Errorf("%w: public key of %d bytes", ErrBadSignature, len(pub))
	}
	if len(sig) != ed25519.SignatureSize {
		return fmt.Errorf("%w: signature of %d bytes", ErrBadSignature, len(sig))
	}
	if !ed25519consensus.Verify(pub, msg, sig) {
		return ErrBadSignature
	}
	return nil
}

// VerifyContext checks, under the ZIP-215 rules, a signature that
// SigningKey.SignContext made over msg in context.
func VerifyContext(pub []byte, context string, msg, sig []byte) error {
	return Verify(pub, withContext(context, msg), sig)
}

func withContext(context string, msg []byte) []byte {
	b := make([]byte, 0, len("vitalchain/")+len(context)+1+len(msg))
	b = append(b, "vitalchain/"...)
	b = append(b, context...)
	b = append(b, 0)
	return append(b, msg...)
}

// ParseVerifyingKey parses a typed encoding made by VerifyingKey.String.
func ParseVerifyingKey(s string) (VerifyingKey, error) {
	role, alg, kind, data, err := decodeKey(s)
	if err != nil {
		return VerifyingKey{}, err
	}
	if alg != "ed25519" || kind != kindPublic {
		return VerifyingKey{}, fmt.Errorf("%w: %s %s key where an ed25519 public key is required", ErrWrongKind, alg, kind)
	}
	return NewVerifyingKey(role, data)
}

// ParseSigningKey parses a typed encoding made by SigningKey.String.
func ParseSigningKey(s string) (*SigningKey, error) {
	role, alg, kind, data, err := decodeKey(s)
	if err != nil {
		return nil, err
	}
	if alg != "ed25519" || kind != kindSecret {
		return nil, fmt.Errorf("%w: %s %s key where an ed25519 secret key is required", ErrWrongKind, alg, kind)
	}
	return NewSigningKey(role, data)
}

// Typed encodings: "vc-<role>-<alg>-<pub|sec>:" then base64url (no padding)
// of the key bytes followed by the first 4 bytes of SHA-256(prefix || bytes).

const (
	kindPublic = "pub"
	kindSecret = "sec"
)

func prefix(role Role, alg, kind string) string {
	return "vc-" + role.String() + "-" + alg + "-" + kind
}

func checksum(prefix string, data []byte) []byte {
	h := sha256.New()
	h.Write([]byte(prefix))
	h.Write(data)
	return h.Sum(nil)[:4]
}

func encodeKey(prefix string, data []byte) string {
	b := append(append([]byte(nil), data...), checksum(prefix, data)...)
	return prefix + ":" + base64.RawURLEncoding.EncodeToString(b)
}

// maxEncodedKey bounds the length of an encoded key (a hybrid public key is
// 1,216 bytes, about 1,650 characters encoded).
const maxEncodedKey = 4096

func decodeKey(s string) (role Role, alg, kind string, data []byte, err error) {
	s = strings.TrimSpace(s)
	if len(s) > maxEncodedKey {
		return 0, "", "", nil, fmt.Errorf("%w: %d characters", ErrBadEncoding, len(s))
	}
	pre, body, ok := strings.Cut(s, ":")
	if !ok {
		return 0, "", "", nil, fmt.Errorf("%w: no ':' after the prefix", ErrBadEncoding)
	}
	parts := strings.Split(pre, "-")
	if len(parts) != 4 || parts[0] != "vc" {
		return 0, "", "", nil, fmt.Errorf("%w: prefix %q is not vc-ROLE-ALG-pub|sec", ErrBadEncoding, pre)
	}
	role, err = ParseRole(parts[1])
	if err != nil {
		return 0, "", "", nil, err
	}
	alg, kind = parts[2], parts[3]
	if kind != kindPublic && kind != kindSecret {
		return 0, "", "", nil, fmt.Errorf("%w: prefix %q is not vc-ROLE-ALG-pub|sec", ErrBadEncoding, pre)
	}
	// Strict, and no line breaks (which the decoder would skip): a key has
	// exactly one encoding.
	if strings.ContainsAny(body, "\r\n") {
		return 0, "", "", nil, fmt.Errorf("%w: line break in key", ErrBadEncoding)
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(body)
	if err != nil {
		return 0, "", "", nil, fmt.Errorf("%w: %v", ErrBadEncoding, err)
	}
	if len(raw) < 4 {
		return 0, "", "", nil, fmt.Errorf("%w: too short", ErrBadEncoding)
	}
	data, sum := raw[:len(raw)-4], raw[len(raw)-4:]
	if subtle.ConstantTimeCompare(sum, checksum(pre, data)) != 1 {
		return 0, "", "", nil, ErrBadChecksum
	}
	return role, alg, kind, data, nil
}

// ErrWeakKey is returned for an Ed25519 public key of small order (or not a
// point at all). Under the ZIP-215 rules a small-order key has signatures
// that verify for every message, so no such key is ever registered.
var ErrWeakKey = errors.New("weak ed25519 public key")

// CheckPublicKey refuses an Ed25519 public key that does not decode to a
// curve point or whose point has small order.
func CheckPublicKey(pub []byte) error {
	if len(pub) != ed25519.PublicKeySize {
		return fmt.Errorf("%w: %d bytes", ErrBadKey, len(pub))
	}
	p, err := new(edwards25519.Point).SetBytes(pub)
	if err != nil {
		return fmt.Errorf("%w: not a curve point", ErrWeakKey)
	}
	if new(edwards25519.Point).MultByCofactor(p).Equal(edwards25519.NewIdentityPoint()) == 1 {
		return fmt.Errorf("%w: small order", ErrWeakKey)
	}
	return nil
}

// BatchVerifier checks many signatures at once, about twice as fast per
// signature as one by one, under the same ZIP-215 rules as Verify: a batch
// passes exactly when every signature in it would pass alone.
type BatchVerifier struct {
	bv  ed25519consensus.BatchVerifier
	n   int
	bad bool // an entry was malformed: the batch fails
}

// NewBatchVerifier returns an empty batch.
func NewBatchVerifier() *BatchVerifier {
	return &BatchVerifier{bv: ed25519consensus.NewBatchVerifier()}
}

// AddContext adds a signature that SigningKey.SignContext made over msg in context.
func (b *BatchVerifier) AddContext(pub []byte, context string, msg, sig []byte) {
	b.n++
	if len(pub) != ed25519.PublicKeySize || len(sig) != ed25519.SignatureSize {
		b.bad = true
		return
	}
	b.bv.Add(pub, withContext(context, msg), sig)
}

// Len returns the number of signatures added.
func (b *BatchVerifier) Len() int { return b.n }

// Verify reports whether every signature in the batch is valid. An empty
// batch is valid.
func (b *BatchVerifier) Verify() bool {
	if b.bad {
		return false
	}
	if b.n == 0 {
		return true
	}
	return b.bv.Verify()
}
