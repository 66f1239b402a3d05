// Package relation keeps a patient's care team off the chain in a linkable
// form (issue 13). A provider appears in each patient's grants, revokes,
// scope keys, contracts, device commands and provider records under a key
// of that relationship only: a relation key, a signing and an HPKE key pair
// that the provider derives from its own signing key and the patient's ID
// (Derive), so it needs no keystore and two patients' relation keys of the
// same provider share nothing that the chain shows.
//
// The provider proves the relation key to the patient off the chain, with a
// Binding signed by its registered key (Bind). The patient's client checks
// it against the ledger's registration of the provider (Binding.Verify),
// then registers the relation key on the ledger as a provider bound to
// itself (ledger.Register with Patient set), with the binding sealed to its
// own encryption key (Seal): only the patient's key opens it (Open,
// Resolve), so that any of its clients shows the provider's real identity,
// and the chain does not.
//
// What the chain still shows: that a patient has a relation key (and so
// the size of its care team), and when each was registered. What an
// off-chain party can link: the cloud serves a provider's reads and alerts
// under its relation keys, and a provider that polls them all from one
// address, at once, lets the cloud's operator link them by traffic.
package relation

import (
	"bytes"
	"context"
	"crypto/hkdf"
	"crypto/hpke"
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/vitalchain/vitalchain/codec"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/ledger"
)

// Version is the Binding format version.
const Version uint8 = 1

// MaxSize bounds an encoded Binding (a hybrid one is about 1.4 KiB).
const MaxSize = 2 << 10

// Contexts of the signatures and of the sealing.
const (
	// SignContext is the context of the provider's signature of a Binding.
	SignContext = "relation-binding/v1"
	deriveSalt  = "vitalchain/relation-key/v1"
	sealLabel   = "vitalchain/relation-binding/v1"
)

// Errors of this package, each wrapped with detail.
var (
	// ErrBinding: a binding that does not decode, is not for this patient,
	// is not signed by the provider it names, or whose relation key is not
	// proved.
	ErrBinding = errors.New("invalid relation binding")
	// ErrNotRelation: a provider's registered key, not a relation key (a
	// grant made to it directly, which links the provider's patients).
	ErrNotRelation = errors.New("not a relation key")
)

// Derive returns provider's relation key for patient: role provider, with
// an HPKE key of the provider's suite. The same provider and patient give
// the same key; another patient, or another provider, an unrelated one.
func Derive(provider *identity.Identity, patient identity.ID) (*identity.Identity, error) {
	if provider == nil || provider.Signing == nil || provider.Decryption == nil {
		return nil, fmt.Errorf("relation: %w: no provider identity", identity.ErrBadKey)
	}
	if err := provider.Role().Want(identity.RoleProvider); err != nil {
		return nil, fmt.Errorf("relation: %w", err)
	}
	secret := provider.Signing.Seed()
	seed, err := hkdf.Key(sha256.New, secret, []byte(deriveSalt), "signing "+string(patient[:]), 32)
	if err != nil {
		return nil, fmt.Errorf("relation: derive: %w", err)
	}
	ikm, err := hkdf.Key(sha256.New, secret, []byte(deriveSalt), "hpke "+string(patient[:]), 32)
	if err != nil {
		return nil, fmt.Errorf("relation: derive: %w", err)
	}
	sk, err := identity.NewSigningKey(identity.RoleProvider, seed)
	if err != nil {
		return nil, fmt.Errorf("relation: %w", err)
	}
	dk, err := identity.DeriveDecryptionKey(identity.RoleProvider, provider.Decryption.Suite(), ikm)
	if err != nil {
		return nil, fmt.Errorf("relation: %w", err)
	}
	return &identity.Identity{Signing: sk, Decryption: dk}, nil
}

// Binding is a provider's statement that a relation key is its own for one
// patient. It travels off the chain, and on it only sealed to the patient.
type Binding struct {
	Version  uint8       `cbor:"1,keyasint"`
	Patient  identity.ID `cbor:"2,keyasint"`
	Provider identity.ID `cbor:"3,keyasint"` // the provider's registered ID
	// Keys are the relation key's public keys, as the ledger registers them.
	Keys ledger.MemberKeys `cbor:"4,keyasint"`
	// Proof is the relation key's proof of possession for its registration
	// (ledger.Register.Proof of Register()).
	Proof []byte `cbor:"5,keyasint"`
	// Sig is the provider's registered key's signature (SignContext) over
	// the binding's encoding without Sig.
	Sig []byte `cbor:"6,keyasint"`
}

// Bind derives provider's relation key for patient and returns its binding,
// signed by the provider, with the relation key itself.
func Bind(provider *identity.Identity, patient identity.ID) (*Binding, *identity.Identity, error) {
	rel, err := Derive(provider, patient)
	if err != nil {
		return nil, nil, err
	}
	b := &Binding{Version: Version, Patient: patient, Provider: provider.ID(), Keys: ledger.KeysOf(rel.Public(), nil)}
	reg := b.Register()
	if err := reg.Prove(rel.Signing); err != nil {
		return nil, nil, fmt.Errorf("relation: prove: %w", err)
	}
	b.Proof = reg.Proof
	msg, err := b.signedBytes()
	if err != nil {
		return nil, nil, err
	}
	b.Sig = provider.Signing.SignContext(SignContext, msg)
	return b, rel, nil
}

// ID returns the relation key's actor ID: what the patient's grants name.
func (b *Binding) ID() identity.ID { return sha256.Sum256(b.Keys.Verifying) }

// Register returns the registration of the relation key, with its proof
// and without its sealed binding (the patient adds it: Seal).
func (b *Binding) Register() *ledger.Register {
	return &ledger.Register{Member: b.Keys, Patient: b.Patient, Proof: b.Proof}
}

func (b *Binding) signedBytes() ([]byte, error) {
	c := *b
	c.Sig = nil
	return codec.Marshal(&c)
}

// Marshal returns the binding's canonical encoding.
func (b *Binding) Marshal() ([]byte, error) { return codec.Marshal(b) }

// Parse decodes a binding from untrusted bytes and checks its form: the
// version, the relation key's keys (a provider's, with an encryption key),
// a patient and a provider. It checks no signature (Verify does).
func Parse(raw []byte) (*Binding, error) {
	var b Binding
	if err := codec.UnmarshalLimit(raw, MaxSize, &b); err != nil {
		return nil, fmt.Errorf("relation: %w: %w", ErrBinding, err)
	}
	if err := codec.CheckVersion("relation binding", b.Version, Version); err != nil {
		return nil, fmt.Errorf("relation: %w: %w", ErrBinding, err)
	}
	switch {
	case b.Patient == identity.ID{}:
		return nil, fmt.Errorf("relation: %w: %w: patient", ErrBinding, codec.ErrMissingField)
	case b.Provider == identity.ID{}:
		return nil, fmt.Errorf("relation: %w: %w: provider", ErrBinding, codec.ErrMissingField)
	case b.Keys.Role != identity.RoleProvider:
		return nil, fmt.Errorf("relation: %w: a %s's key, not a provider's", ErrBinding, b.Keys.Role)
	case len(b.Proof) != 64 || len(b.Sig) != 64:
		return nil, fmt.Errorf("relation: %w: signatures of %d and %d bytes, want 64", ErrBinding, len(b.Proof), len(b.Sig))
	case b.ID() == b.Provider:
		return nil, fmt.Errorf("relation: %w: the relation key is the provider's registered key", ErrBinding)
	}
	if err := b.Keys.Check(); err != nil {
		return nil, fmt.Errorf("relation: %w: %w", ErrBinding, err)
	}
	return &b, nil
}

// Verify checks that b binds a relation key for patient to the provider
// whose registered key is provider: the provider signed it, and the
// relation key proved its possession for its registration.
func (b *Binding) Verify(patient identity.ID, provider identity.VerifyingKey) error {
	if b.Patient != patient {
		return fmt.Errorf("relation: %w: a binding for patient %s, not %s", ErrBinding, b.Patient, patient)
	}
	if provider.Role() != identity.RoleProvider || provider.ID() != b.Provider {
		return fmt.Errorf("relation: %w: signed by %s (a %s), the binding names provider %s", ErrBinding, provider.ID(), provider.Role(), b.Provider)
	}
	msg, err := b.signedBytes()
	if err != nil {
		return err
	}
	if err := provider.VerifyContext(SignContext, msg, b.Sig); err != nil {
		return fmt.Errorf("relation: %w: provider's signature: %w", ErrBinding, err)
	}
	if err := b.Register().VerifyProof(); err != nil {
		return fmt.Errorf("relation: %w: relation key's proof: %w", ErrBinding, err)
	}
	return nil
}

// sealInfo is the HPKE info of a sealed binding: it opens only as the
// binding of relation key rel.
func sealInfo(rel identity.ID) []byte { return append([]byte(sealLabel), rel[:]...) }

// Seal encrypts b to the patient's encryption key, for the ledger
// (ledger.Register.Binding).
func Seal(b *Binding, to identity.EncryptionKey) ([]byte, error) {
	if to.IsZero() || to.Role() != identity.RolePatient {
		return nil, fmt.Errorf("relation: seal: %w: not a patient's encryption key", identity.ErrBadKey)
	}
	pt, err := b.Marshal()
	if err != nil {
		return nil, err
	}
	ct, err := hpke.Seal(to.HPKE(), identity.KDF(), identity.AEAD(), sealInfo(b.ID()), pt)
	if err != nil {
		return nil, fmt.Errorf("relation: seal: %w", err)
	}
	return ct, nil
}

// Open decrypts the sealed binding of relation key rel with the patient's
// decryption key and parses it; it must be the binding of rel. The caller
// still verifies it (Verify; Resolve does both).
func Open(sealed []byte, dk *identity.DecryptionKey, rel identity.ID) (*Binding, error) {
	if dk == nil {
		return nil, fmt.Errorf("relation: open: %w: no decryption key", identity.ErrBadKey)
	}
	pt, err := hpke.Open(dk.HPKE(), identity.KDF(), identity.AEAD(), sealInfo(rel), sealed)
	if err != nil {
		return nil, fmt.Errorf("relation: %w: sealed binding of %s does not open: %v", ErrBinding, rel, err)
	}
	b, err := Parse(pt)
	if err != nil {
		return nil, err
	}
	if b.ID() != rel {
		return nil, fmt.Errorf("relation: %w: the binding of %s names relation key %s", ErrBinding, rel, b.ID())
	}
	return b, nil
}

// Members reads members from the ledger (a *client.Client does).
type Members interface {
	Member(ctx context.Context, id identity.ID) (*ledger.Member, error)
}

// Resolve returns the verified binding of provider key id in patient's
// care team: the relation key's registration on the ledger must be bound
// to patient, its sealed binding must open with patient's key and name
// that relation key, and the provider it names must be a registered
// provider (not a relation key) that signed it. For a provider's registered
// key it returns ErrNotRelation.
func Resolve(ctx context.Context, chain Members, patient *identity.Identity, id identity.ID) (*Binding, error) {
	m, err := chain.Member(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("relation: member %s: %w", id, err)
	}
	if m.Role != identity.RoleProvider {
		return nil, fmt.Errorf("relation: %s is a %s: %w", id, m.Role, ErrNotRelation)
	}
	if !m.IsRelation() {
		return nil, fmt.Errorf("relation: provider %s: %w", id, ErrNotRelation)
	}
	me := patient.ID()
	if !bytes.Equal(m.Patient, me[:]) {
		return nil, fmt.Errorf("relation: %w: relation key %s is another patient's", ErrBinding, id)
	}
	b, err := Open(m.Binding, patient.Decryption, id)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(b.Keys.Verifying, m.Verifying) || !bytes.Equal(b.Keys.Encryption, m.Encryption) || b.Keys.Suite != m.Suite {
		return nil, fmt.Errorf("relation: %w: the binding's keys are not those registered for %s", ErrBinding, id)
	}
	pm, err := chain.Member(ctx, b.Provider)
	if err != nil {
		return nil, fmt.Errorf("relation: provider %s of %s: %w", b.Provider, id, err)
	}
	if pm.Role != identity.RoleProvider || pm.IsRelation() {
		return nil, fmt.Errorf("relation: %w: %s names %s, not a registered provider", ErrBinding, id, b.Provider)
	}
	vk, err := pm.VerifyingKey()
	if err != nil {
		return nil, fmt.Errorf("relation: provider %s: %w", b.Provider, err)
	}
	if err := b.Verify(me, vk); err != nil {
		return nil, err
	}
	return b, nil
}
