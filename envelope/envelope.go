package envelope

import (
	"bytes"
	"crypto/hpke"
	"errors"
	"fmt"
	"strconv"

	"github.com/vitalchain/vitalchain/codec"
	"github.com/vitalchain/vitalchain/identity"
)

// Version is the only Envelope format version this package reads and
// writes. Version 1 was not signed by its sender.
const Version uint8 = 2

// SignContext is the context of an envelope's sender's signature.
const SignContext = "key-envelope/v2"

// MaxSize bounds an encoded Envelope; a hybrid one is about 1,330 bytes.
const MaxSize = 2 << 10

// Label is the first entry of the HPKE info of every envelope.
const Label = "vitalchain/key-envelope/v1"

// Errors returned by this package, each wrapped with detail.
var (
	// ErrUnknownKind: the kind is not one of the three transaction kinds.
	ErrUnknownKind = errors.New("unknown envelope kind")
	// ErrInvalidContext: the context's fields contradict its kind, for
	// example a grant whose recipient is the patient.
	ErrInvalidContext = errors.New("invalid envelope context")
	// ErrContextMismatch: the envelope declares another context than the
	// one the recipient expects; the message names the field.
	ErrContextMismatch = errors.New("envelope context mismatch")
	// ErrWrongSuite: the envelope, the expected context or the key are of
	// different HPKE suites.
	ErrWrongSuite = errors.New("wrong hpke suite")
	// ErrDecrypt: HPKE refused the ciphertext: it was tampered with, wrapped
	// to another key, or its declared context was rewritten.
	ErrDecrypt = errors.New("envelope decryption failed")
	// ErrZeroKey: an all-zero session key, which is never wrapped or accepted.
	ErrZeroKey = errors.New("all-zero session key")
	// ErrSender: the envelope is not signed by the sender it names (anyone
	// can wrap a key to a public key; only its sender can sign it).
	ErrSender = errors.New("envelope not signed by its sender")
)

// Kind is the transaction an envelope belongs to. Its numbers are part of
// the wire format.
type Kind uint8

// The kinds of envelope, one per transaction type of the paper.
const (
	KindSelf           Kind = 1 // transaction 1: an epoch key wrapped to the patient itself
	KindGrant          Kind = 2 // transaction 2: an epoch key wrapped to a provider
	KindProviderRecord Kind = 3 // transaction 3: a provider record's fresh key wrapped to the patient
	KindContract       Kind = 4 // a contract's terms key wrapped by the patient to a party (itself or a provider)
)

// Valid reports whether k is a known kind.
func (k Kind) Valid() bool { return k >= KindSelf && k <= KindContract }

// String returns the kind's name.
func (k Kind) String() string {
	switch k {
	case KindSelf:
		return "self"
	case KindGrant:
		return "grant"
	case KindProviderRecord:
		return "provider-record"
	case KindContract:
		return "contract"
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// RecipientRole returns the role the recipient of an envelope of kind k must
// have: patient for Self and ProviderRecord, provider for Grant. A Contract
// envelope goes to either (see RecipientRoleOK); RecipientRole says patient.
func (k Kind) RecipientRole() identity.Role {
	if k == KindGrant {
		return identity.RoleProvider
	}
	return identity.RolePatient
}

// RecipientRoleOK reports whether a recipient of role r may receive an
// envelope of kind k: the contract's patient or one of its providers for
// Contract, RecipientRole for the others.
func (k Kind) RecipientRoleOK(r identity.Role) bool {
	if k == KindContract {
		return r == identity.RolePatient || r == identity.RoleProvider
	}
	return r == k.RecipientRole()
}

// SenderRole returns the role the sender of an envelope of kind k must have:
// patient for Self and Grant, provider for ProviderRecord.
func (k Kind) SenderRole() identity.Role {
	if k == KindProviderRecord {
		return identity.RoleProvider
	}
	return identity.RolePatient
}

// Context is what an envelope is for. All of it is bound into the HPKE
// encryption, so an envelope opens only in the context it was made for.
// The CBOR keys continue those of Envelope, which embeds Context.
type Context struct {
	Kind    Kind        `cbor:"2,keyasint"`
	Patient identity.ID `cbor:"3,keyasint"` // whose key it is
	// Epoch is the patient's key epoch, from 1, for Self and Grant; 0 for
	// ProviderRecord, whose key belongs to one record and no epoch.
	Epoch uint64 `cbor:"4,keyasint"`
	// Subject is the ID of the record (record.Record.ID) for
	// ProviderRecord, the contract's commitment (its ID) for Contract, and
	// zero otherwise.
	Subject   [32]byte       `cbor:"5,keyasint"`
	Sender    identity.ID    `cbor:"6,keyasint"` // the patient for Self and Grant, the provider for ProviderRecord
	Recipient identity.ID    `cbor:"7,keyasint"` // whose encryption key the key is wrapped to
	Suite     identity.Suite `cbor:"8,keyasint"` // the recipient's HPKE suite
}

// SelfContext returns the context of transaction 1: patient's key of epoch
// wrapped to itself, whose encryption key is of suite.
func SelfContext(patient identity.ID, epoch uint64, suite identity.Suite) Context {
	return Context{Kind: KindSelf, Patient: patient, Epoch: epoch, Sender: patient, Recipient: patient, Suite: suite}
}

// GrantContext returns the context of transaction 2: patient's key of epoch
// wrapped to provider, whose encryption key is of suite.
func GrantContext(patient, provider identity.ID, epoch uint64, suite identity.Suite) Context {
	return Context{Kind: KindGrant, Patient: patient, Epoch: epoch, Sender: patient, Recipient: provider, Suite: suite}
}

// ProviderRecordContext returns the context of transaction 3: the key of
// provider's record recordID wrapped to patient, whose encryption key is of
// suite.
func ProviderRecordContext(patient, provider identity.ID, recordID [32]byte, suite identity.Suite) Context {
	return Context{Kind: KindProviderRecord, Patient: patient, Subject: recordID, Sender: provider, Recipient: patient, Suite: suite}
}

// ContractContext returns the context of a contract's terms key, wrapped by
// patient to recipient (the patient itself or one of the contract's
// providers), whose encryption key is of suite; commitment is the
// contract's commitment to its terms, its ID.
func ContractContext(patient, recipient identity.ID, commitment [32]byte, suite identity.Suite) Context {
	return Context{Kind: KindContract, Patient: patient, Subject: commitment, Sender: patient, Recipient: recipient, Suite: suite}
}

// Validate checks that c is well formed: a known kind (ErrUnknownKind) and
// suite (identity.ErrUnknownSuite), every required field present
// (codec.ErrMissingField), and fields consistent with the kind as in the
// package documentation's table (ErrInvalidContext).
func (c Context) Validate() error {
	if !c.Kind.Valid() {
		return fmt.Errorf("envelope: %w: %d", ErrUnknownKind, c.Kind)
	}
	if !c.Suite.Valid() {
		return fmt.Errorf("envelope: %w: %s", identity.ErrUnknownSuite, c.Suite)
	}
	var zero identity.ID
	switch {
	case c.Patient == zero:
		return fmt.Errorf("envelope: %w: patient", codec.ErrMissingField)
	case c.Sender == zero:
		return fmt.Errorf("envelope: %w: sender", codec.ErrMissingField)
	case c.Recipient == zero:
		return fmt.Errorf("envelope: %w: recipient", codec.ErrMissingField)
	}
	switch c.Kind {
	case KindSelf, KindGrant:
		if c.Epoch == 0 {
			return fmt.Errorf("envelope: %w: epoch (epochs start at 1)", codec.ErrMissingField)
		}
		if c.Subject != [32]byte{} {
			return fmt.Errorf("envelope: %w: %s envelope with a subject", ErrInvalidContext, c.Kind)
		}
		if c.Sender != c.Patient {
			return fmt.Errorf("envelope: %w: %s envelope sent by %s, not by patient %s", ErrInvalidContext, c.Kind, c.Sender, c.Patient)
		}
		if c.Kind == KindSelf && c.Recipient != c.Patient {
			return fmt.Errorf("envelope: %w: self envelope to %s, not to patient %s", ErrInvalidContext, c.Recipient, c.Patient)
		}
		if c.Kind == KindGrant && c.Recipient == c.Patient {
			return fmt.Errorf("envelope: %w: grant envelope to the patient itself", ErrInvalidContext)
		}
	case KindProviderRecord:
		if c.Subject == [32]byte{} {
			return fmt.Errorf("envelope: %w: subject (record id)", codec.ErrMissingField)
		}
		if c.Epoch != 0 {
			return fmt.Errorf("envelope: %w: provider-record envelope with epoch %d", ErrInvalidContext, c.Epoch)
		}
		if c.Recipient != c.Patient {
			return fmt.Errorf("envelope: %w: provider-record envelope to %s, not to patient %s", ErrInvalidContext, c.Recipient, c.Patient)
		}
		if c.Sender == c.Patient {
			return fmt.Errorf("envelope: %w: provider-record envelope sent by the patient", ErrInvalidContext)
		}
	case KindContract:
		if c.Subject == [32]byte{} {
			return fmt.Errorf("envelope: %w: subject (contract commitment)", codec.ErrMissingField)
		}
		if c.Epoch != 0 {
			return fmt.Errorf("envelope: %w: contract envelope with epoch %d", ErrInvalidContext, c.Epoch)
		}
		if c.Sender != c.Patient {
			return fmt.Errorf("envelope: %w: contract envelope sent by %s, not by patient %s", ErrInvalidContext, c.Sender, c.Patient)
		}
	}
	return nil
}

// info is the HPKE info of an envelope: the label and the context.
type info struct {
	Label string `cbor:"1,keyasint"`
	Context
}

func (c Context) info() ([]byte, error) {
	return codec.Marshal(info{Label: Label, Context: c})
}

// Envelope is a session key wrapped to one recipient in one Context.
type Envelope struct {
	Version uint8 `cbor:"1,keyasint"` // always Version
	Context
	// Ciphertext is hpke.Seal's output: the KEM's enc followed by the
	// sealed 32-byte key and the 16-byte tag.
	Ciphertext []byte `cbor:"9,keyasint"`
	// Sig is the sender's Ed25519 signature (context SignContext) over the
	// envelope's encoding without Sig: an envelope that a node hands over
	// proves its own author.
	Sig []byte `cbor:"10,keyasint,omitempty"`
}

// Sign signs e as its sender, whose key must be the one e names.
func (e *Envelope) Sign(sender *identity.SigningKey) error {
	if sender.Public().ID() != e.Sender {
		return fmt.Errorf("envelope: %w: signing key %s, sender %s", ErrSender, sender.Public().ID(), e.Sender)
	}
	e.Sig = nil
	msg, err := codec.Marshal(e)
	if err != nil {
		return err
	}
	e.Sig = sender.SignContext(SignContext, msg)
	return nil
}

// VerifySender checks that e is signed by sender, the sender it names.
func (e *Envelope) VerifySender(sender identity.VerifyingKey) error {
	if sender.ID() != e.Sender {
		return fmt.Errorf("envelope: %w: key %s, sender %s", ErrSender, sender.ID(), e.Sender)
	}
	u := *e
	u.Sig = nil
	msg, err := codec.Marshal(&u)
	if err != nil {
		return err
	}
	if err := sender.VerifyContext(SignContext, msg, e.Sig); err != nil {
		return fmt.Errorf("envelope: %w: %w", ErrSender, err)
	}
	return nil
}

// ciphertextSize returns the length of a wrapped session key in suite s:
// the KEM's enc (32 bytes for X25519; 1,088 + 32 for the hybrid), the key
// and the AES-256-GCM tag.
func ciphertextSize(s identity.Suite) int {
	const sealed = KeySize + 16
	if s == identity.SuiteX25519 {
		return 32 + sealed
	}
	return 1120 + sealed
}

// Wrap wraps key to the recipient's encryption key to in context ctx. The
// key's role must be the kind's recipient role (identity.ErrWrongRole) and
// its suite ctx.Suite (ErrWrongSuite). Wrap cannot check that to belongs to
// ctx.Recipient; the convenience constructors SelfEnvelope, GrantEnvelope
// and ProviderRecordEnvelope fill the context from the keys themselves.
func Wrap(ctx Context, key SessionKey, to identity.EncryptionKey) (*Envelope, error) {
	if err := ctx.Validate(); err != nil {
		return nil, err
	}
	if key.IsZero() {
		return nil, fmt.Errorf("envelope: wrap: %w", ErrZeroKey)
	}
	if to.IsZero() {
		return nil, fmt.Errorf("envelope: wrap: %w: no encryption key", identity.ErrBadKey)
	}
	if !ctx.Kind.RecipientRoleOK(to.Role()) {
		return nil, fmt.Errorf("envelope: wrap %s envelope: recipient: %w: a %s's key", ctx.Kind, identity.ErrWrongRole, to.Role())
	}
	if to.Suite() != ctx.Suite {
		return nil, fmt.Errorf("envelope: wrap: %w: %s key for a %s context", ErrWrongSuite, to.Suite(), ctx.Suite)
	}
	inf, err := ctx.info()
	if err != nil {
		return nil, err
	}
	ct, err := hpke.Seal(to.HPKE(), identity.KDF(), identity.AEAD(), inf, key[:])
	if err != nil {
		return nil, fmt.Errorf("envelope: wrap: hpke seal: %w", err)
	}
	return &Envelope{Version: Version, Context: ctx, Ciphertext: ct}, nil
}

// Check returns nil if e is a well-formed envelope of the current version
// whose context is want. Otherwise it returns codec.ErrUnknownVersion,
// the errors of Context.Validate, ErrWrongSuite if only the suite differs
// (wrapped together with ErrContextMismatch), or ErrContextMismatch naming
// the first field that differs. Check needs no key: the ledger uses it to
// refuse an envelope filed under another context than its own.
func (e *Envelope) Check(want Context) error {
	if err := codec.CheckVersion("envelope", e.Version, Version); err != nil {
		return err
	}
	if err := e.Context.Validate(); err != nil {
		return err
	}
	got := e.Context
	mismatch := func(field string, g, w any) error {
		return fmt.Errorf("envelope: %w: %s is %v, want %v", ErrContextMismatch, field, g, w)
	}
	switch {
	case got.Kind != want.Kind:
		return mismatch("kind", got.Kind, want.Kind)
	case got.Patient != want.Patient:
		return mismatch("patient", got.Patient, want.Patient)
	case got.Epoch != want.Epoch:
		return mismatch("epoch", got.Epoch, want.Epoch)
	case got.Subject != want.Subject:
		return mismatch("subject", fmt.Sprintf("%x", got.Subject[:8]), fmt.Sprintf("%x", want.Subject[:8]))
	case got.Sender != want.Sender:
		return mismatch("sender", got.Sender, want.Sender)
	case got.Recipient != want.Recipient:
		return mismatch("recipient", got.Recipient, want.Recipient)
	case got.Suite != want.Suite:
		return fmt.Errorf("envelope: %w: %w: suite is %s, want %s", ErrContextMismatch, ErrWrongSuite, got.Suite, want.Suite)
	}
	return nil
}

// Unwrap returns the session key in e, which the caller expects to be in
// context want and signed by sender (the key of want.Sender), with the
// recipient's decryption key dk. Besides Check's errors it returns
// ErrSender if sender did not sign it, ErrWrongSuite if dk is of another
// suite, identity.ErrWrongRole if dk's role is not the kind's recipient
// role, and ErrDecrypt if HPKE refuses the ciphertext (tampered, wrapped to
// another key, or sealed in another context than the declared one).
func (e *Envelope) Unwrap(want Context, dk *identity.DecryptionKey, sender identity.VerifyingKey) (SessionKey, error) {
	if err := e.Check(want); err != nil {
		return SessionKey{}, err
	}
	if dk == nil {
		return SessionKey{}, fmt.Errorf("envelope: unwrap: %w: no decryption key", identity.ErrBadKey)
	}
	if dk.Suite() != e.Suite {
		return SessionKey{}, fmt.Errorf("envelope: unwrap: %w: %s key for a %s envelope", ErrWrongSuite, dk.Suite(), e.Suite)
	}
	if !e.Kind.RecipientRoleOK(dk.Role()) {
		return SessionKey{}, fmt.Errorf("envelope: unwrap %s envelope: %w: a %s's key", e.Kind, identity.ErrWrongRole, dk.Role())
	}
	if err := e.VerifySender(sender); err != nil {
		return SessionKey{}, err
	}
	if n := ciphertextSize(e.Suite); len(e.Ciphertext) != n {
		return SessionKey{}, fmt.Errorf("envelope: %w: ciphertext of %d bytes, want %d", ErrDecrypt, len(e.Ciphertext), n)
	}
	inf, err := e.Context.info()
	if err != nil {
		return SessionKey{}, err
	}
	pt, err := hpke.Open(dk.HPKE(), identity.KDF(), identity.AEAD(), inf, e.Ciphertext)
	if err != nil {
		return SessionKey{}, fmt.Errorf("envelope: %w: %s envelope of patient %s: %v", ErrDecrypt, e.Kind, e.Patient, err)
	}
	if len(pt) != KeySize {
		return SessionKey{}, fmt.Errorf("envelope: %w: key of %d bytes", ErrDecrypt, len(pt))
	}
	k := SessionKey(pt)
	if k.IsZero() {
		return SessionKey{}, fmt.Errorf("envelope: unwrap: %w", ErrZeroKey)
	}
	return k, nil
}

// Marshal returns the envelope's canonical CBOR encoding.
func (e *Envelope) Marshal() ([]byte, error) {
	return codec.Marshal(e)
}

// ParseEnvelope decodes an envelope from untrusted bytes and checks its
// form (see the package documentation for the errors). It does not decrypt.
func ParseEnvelope(b []byte) (*Envelope, error) {
	var e Envelope
	if err := codec.UnmarshalLimit(b, MaxSize, &e); err != nil {
		return nil, fmt.Errorf("envelope: %w", err)
	}
	if err := codec.CheckVersion("envelope", e.Version, Version); err != nil {
		return nil, err
	}
	if err := e.Context.Validate(); err != nil {
		return nil, err
	}
	if n := ciphertextSize(e.Suite); len(e.Ciphertext) != n {
		return nil, fmt.Errorf("envelope: %w: %s ciphertext of %d bytes, want %d", codec.ErrMalformed, e.Suite, len(e.Ciphertext), n)
	}
	if len(e.Sig) != 64 {
		return nil, fmt.Errorf("envelope: %w: %w: a signature of %d bytes", codec.ErrMalformed, ErrSender, len(e.Sig))
	}
	return &e, nil
}

// Equal reports whether e and f are the same envelope.
func (e *Envelope) Equal(f *Envelope) bool {
	if e == nil || f == nil {
		return e == f
	}
	return e.Version == f.Version && e.Context == f.Context && bytes.Equal(e.Ciphertext, f.Ciphertext) && bytes.Equal(e.Sig, f.Sig)
}
