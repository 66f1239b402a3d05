package contract

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/vitalchain/vitalchain/codec"
	"github.com/vitalchain/vitalchain/envelope"
	"github.com/vitalchain/vitalchain/identity"
)

// A contract's terms stay off the ledger's cleartext: the ledger holds a
// commitment to them (Commit: a hash of the terms with a random salt, which
// is the contract's ID) and the terms encrypted for the parties (Seal), the
// key wrapped to each in an envelope of kind Contract. The parties open them
// (Sealed.Open) and check the commitment; the ledger, which cannot, knows the
// patient, the providers and the commitment, and nothing of the rules.

// SaltSize is the size of a commitment's salt.
const SaltSize = 32

// MaxSealedSize bounds a sealed contract's ciphertext.
const MaxSealedSize = MaxTermsSize + SaltSize + 64

const commitLabel = "vitalchain/contract-commitment/v1"

// Errors of sealed terms.
var (
	// ErrCommitment: terms that do not open the commitment they came with.
	ErrCommitment = errors.New("terms do not match the contract's commitment")
	// ErrNotAParty: no envelope of the contract is for this key.
	ErrNotAParty = errors.New("not a party to the contract")
	// ErrSealed: a sealed contract that does not decrypt or decode.
	ErrSealed = errors.New("sealed terms do not open")
)

// opening is what a sealed contract decrypts to, and what its commitment
// hashes (with the label).
type opening struct {
	Label string         `cbor:"1,keyasint"`
	Salt  [SaltSize]byte `cbor:"2,keyasint"`
	Terms Terms          `cbor:"3,keyasint"`
}

// Commit returns the commitment to t with salt: the SHA-256 hash of the
// canonical CBOR map {1: "vitalchain/contract-commitment/v1", 2: salt,
// 3: t}. It is the contract's ID, what the providers accept, and it hides
// the terms from whoever does not know the salt, even terms as guessable
// as a standard rule set.
func (t *Terms) Commit(salt [SaltSize]byte) ([32]byte, error) {
	b, err := codec.Marshal(&opening{Label: commitLabel, Salt: salt, Terms: *t})
	if err != nil {
		return [32]byte{}, fmt.Errorf("contract: %w", err)
	}
	return sha256.Sum256(b), nil
}

// Sealed are a contract's terms as the ledger stores them.
type Sealed struct {
	Commitment [32]byte `cbor:"1,keyasint"` // Terms.Commit: the contract's ID
	// Ciphertext is AES-256-GCM under a key of this contract alone (so a
	// zero nonce), of the opening (label, salt, terms), with the
	// commitment as associated data.
	Ciphertext []byte `cbor:"2,keyasint"`
	// Envelopes wrap the key, each an envelope.Envelope of kind Contract
	// whose subject is the commitment: to the patient first, then to each
	// provider in the order of Terms.Providers.
	Envelopes [][]byte `cbor:"3,keyasint"`
}

// Seal validates t, draws a salt and a key, and seals t for the patient
// and its providers (the public identities of t.Providers, in any order).
// It returns the sealed terms and the salt, which the patient hands to the
// providers with the terms so that they can check the commitment before
// they accept it.
func Seal(patient *identity.Identity, providers []identity.Public, t Terms) (*Sealed, [SaltSize]byte, error) {
	var salt [SaltSize]byte
	if err := t.Validate(); err != nil {
		return nil, salt, err
	}
	if patient == nil || patient.ID() != t.Patient {
		return nil, salt, fmt.Errorf("contract: seal: %w: the terms' patient is not the sealer", ErrNotAParty)
	}
	if _, err := rand.Read(salt[:]); err != nil {
		return nil, salt, err
	}
	s, err := SealWith(patient, providers, t, salt)
	return s, salt, err
}

// SealWith is Seal with a given salt.
func SealWith(patient *identity.Identity, providers []identity.Public, t Terms, salt [SaltSize]byte) (*Sealed, error) {
	commit, err := t.Commit(salt)
	if err != nil {
		return nil, err
	}
	pt, err := codec.Marshal(&opening{Label: commitLabel, Salt: salt, Terms: t})
	if err != nil {
		return nil, fmt.Errorf("contract: %w", err)
	}
	key, err := envelope.NewSessionKey()
	if err != nil {
		return nil, err
	}
	aead, err := newAEAD(key)
	if err != nil {
		return nil, err
	}
	s := &Sealed{Commitment: commit, Ciphertext: aead.Seal(nil, make([]byte, aead.NonceSize()), pt, commit[:])}
	parties := []identity.Public{patient.Public()}
	for _, id := range t.Providers {
		i := -1
		for j, p := range providers {
			if p.Verifying.ID() == id {
				i = j
			}
		}
		if i < 0 {
			return nil, fmt.Errorf("contract: seal: no public keys for provider %s", id)
		}
		parties = append(parties, providers[i])
	}
	for _, p := range parties {
		e, err := envelope.ContractEnvelope(patient, p, commit, key)
		if err != nil {
			return nil, fmt.Errorf("contract: seal: %w", err)
		}
		b, err := e.Marshal()
		if err != nil {
			return nil, err
		}
		s.Envelopes = append(s.Envelopes, b)
	}
	return s, nil
}

func newAEAD(key envelope.SessionKey) (cipher.AEAD, error) {
	blk, err := aes.NewCipher(key[:])
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(blk)
}

// Open decrypts the terms as party me (the patient, or one of the
// providers), whose envelope was sent by patient, and checks them: they
// must parse and validate, name patient, and open the commitment
// (ErrCommitment). ErrNotAParty if no envelope is for me, ErrSealed if the
// ciphertext does not decrypt.
func (s *Sealed) Open(me *identity.Identity, patient identity.VerifyingKey) (Terms, error) {
	if me == nil || me.Decryption == nil {
		return Terms{}, fmt.Errorf("contract: open: %w: no decryption key", identity.ErrBadKey)
	}
	var env *envelope.Envelope
	for _, b := range s.Envelopes {
		e, err := envelope.ParseEnvelope(b)
		if err != nil {
			return Terms{}, fmt.Errorf("contract: open: %w", err)
		}
		if e.Recipient == me.ID() {
			env = e
			break
		}
	}
	if env == nil {
		return Terms{}, fmt.Errorf("contract: open %x: %w", s.Commitment[:8], ErrNotAParty)
	}
	want := envelope.ContractContext(patient.ID(), me.ID(), s.Commitment, me.Decryption.Suite())
	key, err := env.Unwrap(want, me.Decryption, patient)
	if err != nil {
		return Terms{}, fmt.Errorf("contract: open %x: %w", s.Commitment[:8], err)
	}
	aead, err := newAEAD(key)
	if err != nil {
		return Terms{}, err
	}
	pt, err := aead.Open(nil, make([]byte, aead.NonceSize()), s.Ciphertext, s.Commitment[:])
	if err != nil {
		return Terms{}, fmt.Errorf("contract: open %x: %w", s.Commitment[:8], ErrSealed)
	}
	return openTerms(pt, s.Commitment, patient.ID())
}

// openTerms decodes a decrypted opening (untrusted bytes: the patient may
// have sealed anything) and checks it against the commitment.
func openTerms(pt []byte, commitment [32]byte, patient identity.ID) (Terms, error) {
	var o opening
	if err := codec.UnmarshalLimit(pt, MaxSealedSize, &o); err != nil {
		return Terms{}, fmt.Errorf("contract: %w: %w", ErrSealed, err)
	}
	if o.Label != commitLabel {
		return Terms{}, fmt.Errorf("contract: %w: label %q", ErrSealed, o.Label)
	}
	if err := o.Terms.Validate(); err != nil {
		return Terms{}, err
	}
	if o.Terms.Patient != patient {
		return Terms{}, fmt.Errorf("contract: %w: terms of patient %s, sealed by %s", ErrCommitment, o.Terms.Patient, patient)
	}
	c, err := o.Terms.Commit(o.Salt)
	if err != nil {
		return Terms{}, err
	}
	if c != commitment {
		return Terms{}, fmt.Errorf("contract: %w", ErrCommitment)
	}
	return o.Terms, nil
}

// CheckProviders checks a contract's provider list as Validate does
// (ErrProviders): 1 to MaxProviders, ascending, unique, not the patient.
func CheckProviders(patient identity.ID, ps []identity.ID) error { return checkProviders(patient, ps) }
