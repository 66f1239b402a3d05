package identity

import (
	"crypto/ecdh"
	"crypto/hpke"
	"fmt"
)

var ecdhX25519 = ecdh.X25519()

// EncryptionKey is an actor's HPKE public key: session keys are wrapped to it.
type EncryptionKey struct {
	role  Role
	suite Suite
	pub   hpke.PublicKey
}

// DecryptionKey is an actor's HPKE private key.
type DecryptionKey struct {
	role  Role
	suite Suite
	priv  hpke.PrivateKey
}

// GenerateDecryptionKey returns a new HPKE key pair of the given suite for role.
func GenerateDecryptionKey(role Role, suite Suite) (*DecryptionKey, error) {
	if !role.Valid() {
		return nil, fmt.Errorf("%w: %d", ErrUnknownRole, role)
	}
	kem, err := suite.KEM()
	if err != nil {
		return nil, err
	}
	priv, err := kem.GenerateKey()
	if err != nil {
		return nil, fmt.Errorf("generate %s key: %w", suite, err)
	}
	return &DecryptionKey{role: role, suite: suite, priv: priv}, nil
}

// NewDecryptionKey parses the RFC 9180 serialization of a private key.
func NewDecryptionKey(role Role, suite Suite, b []byte) (*DecryptionKey, error) {
	if !role.Valid() {
		return nil, fmt.Errorf("%w: %d", ErrUnknownRole, role)
	}
	kem, err := suite.KEM()
	if err != nil {
		return nil, err
	}
	priv, err := kem.NewPrivateKey(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %s private key: %v", ErrBadKey, suite, err)
	}
	return &DecryptionKey{role: role, suite: suite, priv: priv}, nil
}

// Role returns the key's role.
func (k *DecryptionKey) Role() Role { return k.role }

// Suite returns the key's suite.
func (k *DecryptionKey) Suite() Suite { return k.suite }

// HPKE returns the key for use with crypto/hpke.
func (k *DecryptionKey) HPKE() hpke.PrivateKey { return k.priv }

// Public returns the matching encryption key.
func (k *DecryptionKey) Public() EncryptionKey {
	return EncryptionKey{role: k.role, suite: k.suite, pub: k.priv.PublicKey()}
}

// String returns the secret key's typed encoding. Keep it secret.
func (k *DecryptionKey) String() string {
	b, err := k.priv.Bytes()
	if err != nil {
		// Keys made by this package always serialize.
		panic(fmt.Sprintf("identity: serialize %s key: %v", k.suite, err))
	}
	return encodeKey(prefix(k.role, k.suite.String(), kindSecret), b)
}

// NewEncryptionKey parses the RFC 9180 serialization of a public key.
func NewEncryptionKey(role Role, suite Suite, b []byte) (EncryptionKey, error) {
	if !role.Valid() {
		return EncryptionKey{}, fmt.Errorf("%w: %d", ErrUnknownRole, role)
	}
	kem, err := suite.KEM()
	if err != nil {
		return EncryptionKey{}, err
	}
	pub, err := kem.NewPublicKey(b)
	if err != nil {
		return EncryptionKey{}, fmt.Errorf("%w: %s public key: %v", ErrBadKey, suite, err)
	}
	return EncryptionKey{role: role, suite: suite, pub: pub}, nil
}

// Role returns the key's role.
func (k EncryptionKey) Role() Role { return k.role }

// Suite returns the key's suite.
func (k EncryptionKey) Suite() Suite { return k.suite }

// IsZero reports whether k is the zero EncryptionKey.
func (k EncryptionKey) IsZero() bool { return k.pub == nil }

// HPKE returns the key for use with crypto/hpke.
func (k EncryptionKey) HPKE() hpke.PublicKey { return k.pub }

// Bytes returns the RFC 9180 serialization of the public key.
func (k EncryptionKey) Bytes() []byte {
	if k.pub == nil {
		return nil
	}
	return k.pub.Bytes()
}

// String returns the key's typed encoding.
func (k EncryptionKey) String() string {
	return encodeKey(prefix(k.role, k.suite.String(), kindPublic), k.Bytes())
}

// ParseEncryptionKey parses a typed encoding made by EncryptionKey.String.
func ParseEncryptionKey(s string) (EncryptionKey, error) {
	role, alg, kind, data, err := decodeKey(s)
	if err != nil {
		return EncryptionKey{}, err
	}
	suite, err := ParseSuite(alg)
	if err != nil || kind != kindPublic {
		return EncryptionKey{}, fmt.Errorf("%w: %s %s key where an hpke public key is required", ErrWrongKind, alg, kind)
	}
	return NewEncryptionKey(role, suite, data)
}

// ParseDecryptionKey parses a typed encoding made by DecryptionKey.String.
func ParseDecryptionKey(s string) (*DecryptionKey, error) {
	role, alg, kind, data, err := decodeKey(s)
	if err != nil {
		return nil, err
	}
	suite, err := ParseSuite(alg)
	if err != nil || kind != kindSecret {
		return nil, fmt.Errorf("%w: %s %s key where an hpke secret key is required", ErrWrongKind, alg, kind)
	}
	return NewDecryptionKey(role, suite, data)
}

// DeriveDecryptionKey returns the HPKE key pair of suite for role derived
// deterministically from ikm (RFC 9180 DeriveKeyPair): the same ikm gives
// the same key. ikm must be secret and at least 32 bytes.
func DeriveDecryptionKey(role Role, suite Suite, ikm []byte) (*DecryptionKey, error) {
	if !role.Valid() {
		return nil, fmt.Errorf("%w: %d", ErrUnknownRole, role)
	}
	if len(ikm) < 32 {
		return nil, fmt.Errorf("%w: derive %s key from %d bytes, want at least 32", ErrBadKey, suite, len(ikm))
	}
	kem, err := suite.KEM()
	if err != nil {
		return nil, err
	}
	priv, err := kem.DeriveKeyPair(ikm)
	if err != nil {
		return nil, fmt.Errorf("derive %s key: %w", suite, err)
	}
	return &DecryptionKey{role: role, suite: suite, priv: priv}, nil
}
