package record

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/vitalchain/vitalchain/codec"
	"github.com/vitalchain/vitalchain/envelope"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/vital"
)

// Version is the only Header format version this package reads and writes.
// Version 1 carried the vital sign and the severity in the header; version
// 2 seals them in the payload, and the header carries a key tag and an
// alert bit instead.
const Version uint8 = 2

// Size limits.
const (
	// MaxRecordSize bounds an encoded Record.
	MaxRecordSize = 64 << 10
	// MaxHeaderSize bounds a Record's header bytes (a header is at most
	// 208 bytes).
	MaxHeaderSize = 256
	// MaxPlaintextSize bounds the plaintext of a record, so that any record
	// Seal makes fits in MaxRecordSize.
	MaxPlaintextSize = 63 << 10
	// NonceSize and TagSize are those of AES-256-GCM.
	NonceSize = 12
	TagSize   = 16
	// KeyTagSize is the size of a header's key tag.
	KeyTagSize = 16
)

// SignContext is the identity signing context of a record's header.
const SignContext = "record/v1"

// Errors returned by this package, each wrapped with detail.
var (
	// ErrAuthorMismatch: the header's Author is not the verifying key's ID,
	// or a patient's record names another patient.
	ErrAuthorMismatch = errors.New("record author mismatch")
	// ErrCiphertextHash: the ciphertext is not the one the header hashes.
	ErrCiphertextHash = errors.New("record ciphertext hash mismatch")
	// ErrDecrypt: AES-GCM refused the ciphertext: wrong key, or the
	// ciphertext or header was tampered with.
	ErrDecrypt = errors.New("record decryption failed")
	// ErrInvalidHeader: header fields that contradict each other or the
	// author's role, such as a provider's record with an epoch.
	ErrInvalidHeader = errors.New("invalid record header")
	// ErrWrongKey: the record's key tag is not the given key's: the record
	// is sealed under another key (another vital sign's, another epoch's),
	// or none of the given keys opens it.
	ErrWrongKey = errors.New("not the record's key")
)

// Header is a record's cleartext, signed header: what the cloud needs to
// store a record, check it and route its alert, and no more. It holds no
// health data, and names neither the vital sign nor the severity (they are
// in the Payload, under the vital sign's key).
type Header struct {
	Version uint8       `cbor:"1,keyasint"` // always Version
	Patient identity.ID `cbor:"2,keyasint"` // the patient's pseudonym: its actor ID
	Author  identity.ID `cbor:"3,keyasint"` // who signs: the patient (its gateway), or a provider
	// Epoch is the patient's key epoch (from 1) whose vital sign's key
	// encrypts a patient's record; 0 for a provider's record, whose key is
	// in an envelope of kind ProviderRecord for this record's ID.
	Epoch    uint64   `cbor:"4,keyasint"`
	Contract [32]byte `cbor:"5,keyasint"` // the alert contract that fired; zero for a provider's record
	// KeyTag tells a holder of the record's key that it is this key (see
	// KeyTag): set by Seal for a patient's record, zero for a provider's.
	// Without the key it is indistinguishable from random bytes.
	KeyTag [KeyTagSize]byte `cbor:"6,keyasint"`
	// Alert: the cloud is to alert the contract's providers. False for a
	// reading whose alert the rule's cool-down withheld, and for a
	// provider's record.
	Alert bool   `cbor:"7,keyasint"`
	Time  int64  `cbor:"8,keyasint"` // Unix ms of the underlying reading (or of a provider's record)
	Seq   uint64 `cbor:"9,keyasint"` // author-local, from 1, strictly increasing
	// Nonce is the AES-GCM nonce: random, or derived (SealDeterministic).
	Nonce [NonceSize]byte `cbor:"10,keyasint"`
	// CiphertextHash is SHA-256 of the ciphertext. It must stay the last
	// key: the associated data is the header bytes with it zeroed.
	CiphertextHash [32]byte `cbor:"11,keyasint"`
}

// Validate checks what a header must satisfy whoever wrote it: the version
// (codec.ErrUnknownVersion); Patient, Author, Time, Seq, Nonce and
// CiphertextHash present (codec.ErrMissingField); a time after 1970
// (ErrInvalidHeader). The rules that depend on the author's role are
// checked by Record.Verify.
func (h Header) Validate() error {
	if err := codec.CheckVersion("record header", h.Version, Version); err != nil {
		return err
	}
	var zero identity.ID
	switch {
	case h.Patient == zero:
		return fmt.Errorf("record: %w: patient", codec.ErrMissingField)
	case h.Author == zero:
		return fmt.Errorf("record: %w: author", codec.ErrMissingField)
	case h.Time == 0:
		return fmt.Errorf("record: %w: time", codec.ErrMissingField)
	case h.Seq == 0:
		return fmt.Errorf("record: %w: seq (sequence numbers start at 1)", codec.ErrMissingField)
	case h.Nonce == [NonceSize]byte{}:
		return fmt.Errorf("record: %w: nonce", codec.ErrMissingField)
	case h.CiphertextHash == [32]byte{}:
		return fmt.Errorf("record: %w: ciphertext hash", codec.ErrMissingField)
	}
	if h.Time < 0 {
		return fmt.Errorf("record: %w: time %d before 1970", ErrInvalidHeader, h.Time)
	}
	return nil
}

// checkRole checks the header rules that depend on the author's role.
func (h Header) checkRole(role identity.Role) error {
	switch role {
	case identity.RolePatient:
		switch {
		case h.Author != h.Patient:
			return fmt.Errorf("record: %w: patient %s signs a record of patient %s", ErrAuthorMismatch, h.Author, h.Patient)
		case h.Epoch == 0:
			return fmt.Errorf("record: %w: epoch (epochs start at 1)", codec.ErrMissingField)
		case h.Contract == [32]byte{}:
			return fmt.Errorf("record: %w: contract", codec.ErrMissingField)
		case h.KeyTag == [KeyTagSize]byte{}:
			return fmt.Errorf("record: %w: key tag", codec.ErrMissingField)
		}
	case identity.RoleProvider:
		switch {
		case h.Author == h.Patient:
			return fmt.Errorf("record: %w: provider %s names itself as the patient", ErrInvalidHeader, h.Author)
		case h.Epoch != 0:
			return fmt.Errorf("record: %w: provider record with epoch %d (its key is its own)", ErrInvalidHeader, h.Epoch)
		case h.Contract != [32]byte{}:
			return fmt.Errorf("record: %w: provider record with a contract", ErrInvalidHeader)
		case h.KeyTag != [KeyTagSize]byte{}:
			return fmt.Errorf("record: %w: provider record with a key tag (its key is in its envelope)", ErrInvalidHeader)
		case h.Alert:
			return fmt.Errorf("record: %w: provider record that raises an alert", ErrInvalidHeader)
		}
	default:
		return authorRole(role)
	}
	return nil
}

func authorRole(role identity.Role) error {
	return fmt.Errorf("record: %w: a %s cannot author records (patient or provider only)", identity.ErrWrongRole, role)
}

// Record is a sealed record as uploaded to the cloud.
type Record struct {
	// HeaderBytes is the canonical encoding of the Header: exactly the
	// bytes that are signed.
	HeaderBytes []byte `cbor:"1,keyasint"`
	Ciphertext  []byte `cbor:"2,keyasint"` // AES-256-GCM ciphertext and tag
	Signature   []byte `cbor:"3,keyasint"` // Ed25519, context SignContext, over HeaderBytes

	// decoded is the header ParseRecord decoded from HeaderBytes,
	// used only while HeaderBytes still holds the same bytes. It is set
	// when the Record is made and never written after, so a Record is
	// safe for concurrent readers.
	decoded *decodedHeader
}

type decodedHeader struct {
	raw []byte // a private copy of the bytes h was decoded from
	h   Header
}

// HeaderAuthor returns the author named in the record's header (zero if the
// header does not decode). It is not verified: use Verify for that.
func (r *Record) HeaderAuthor() identity.ID {
	h, err := r.Header()
	if err != nil {
		return identity.ID{}
	}
	return h.Author
}

// ID returns the record's ID, SHA-256(HeaderBytes), which is also its leaf
// data in the cloud's Merkle log (see the package documentation).
func (r *Record) ID() [32]byte { return sha256.Sum256(r.HeaderBytes) }

// Marshal returns the record's canonical CBOR encoding.
func (r *Record) Marshal() ([]byte, error) {
	return codec.Marshal(r)
}

// ParseRecord decodes a record from untrusted bytes and checks its form and
// its header (see Header); it does not check the signature (Verify).
func ParseRecord(b []byte) (*Record, error) {
	var r Record
	if err := codec.UnmarshalLimit(b, MaxRecordSize, &r); err != nil {
		return nil, fmt.Errorf("record: %w", err)
	}
	if err := r.checkForm(); err != nil {
		return nil, err
	}
	h, err := decodeHeader(r.HeaderBytes)
	if err != nil {
		return nil, err
	}
	r.decoded = &decodedHeader{raw: bytes.Clone(r.HeaderBytes), h: h}
	return &r, nil
}

func (r *Record) checkForm() error {
	switch {
	case len(r.HeaderBytes) == 0:
		return fmt.Errorf("record: %w: header", codec.ErrMissingField)
	case len(r.HeaderBytes) > MaxHeaderSize:
		return fmt.Errorf("record: header: %w: %d bytes, limit %d", codec.ErrTooLarge, len(r.HeaderBytes), MaxHeaderSize)
	case len(r.Ciphertext) == 0:
		return fmt.Errorf("record: %w: ciphertext", codec.ErrMissingField)
	case len(r.Ciphertext) > MaxPlaintextSize+TagSize:
		return fmt.Errorf("record: ciphertext: %w: %d bytes, limit %d", codec.ErrTooLarge, len(r.Ciphertext), MaxPlaintextSize+TagSize)
	case len(r.Ciphertext) < TagSize+PadSize || (len(r.Ciphertext)-TagSize)%PadSize != 0:
		return fmt.Errorf("record: %w: ciphertext of %d bytes does not hold a padded payload", codec.ErrMalformed, len(r.Ciphertext))
	case len(r.Signature) != ed25519.SignatureSize:
		return fmt.Errorf("record: %w: signature of %d bytes", identity.ErrBadSignature, len(r.Signature))
	}
	return nil
}

// Header decodes and validates the record's header: canonical CBOR of at
// most MaxHeaderSize bytes (codec's errors) that passes Header.Validate. It
// does not check the signature: use Verify for anything you act upon.
func (r *Record) Header() (Header, error) {
	if d := r.decoded; d != nil && bytes.Equal(d.raw, r.HeaderBytes) {
		return d.h, nil
	}
	return decodeHeader(r.HeaderBytes)
}

func decodeHeader(hb []byte) (Header, error) {
	var h Header
	if err := codec.UnmarshalLimit(hb, MaxHeaderSize, &h); err != nil {
		return Header{}, fmt.Errorf("record: header: %w", err)
	}
	if err := h.Validate(); err != nil {
		return Header{}, err
	}
	return h, nil
}

// Verify checks the record against its author's key and returns its header:
// the key's role is patient or provider (identity.ErrWrongRole), the record's
// form (as ParseRecord), the header (Header), its Author is the key's ID
// (ErrAuthorMismatch), the rules of the author's role (see the package
// documentation: ErrAuthorMismatch, codec.ErrMissingField,
// ErrInvalidHeader), the signature (identity.ErrBadSignature) and the
// ciphertext's hash (ErrCiphertextHash). It needs no session key.
func (r *Record) Verify(author identity.VerifyingKey) (Header, error) {
	if err := r.checkForm(); err != nil {
		return Header{}, err
	}
	h, err := r.Header()
	if err != nil {
		return Header{}, err
	}
	if err := r.verify(h, author); err != nil {
		return Header{}, err
	}
	return h, nil
}

func (r *Record) verify(h Header, author identity.VerifyingKey) error {
	return r.verifyWith(h, author, nil)
}

// verifyWith checks r; if bv is not nil the signature is added to the
// batch instead of being checked here.
func (r *Record) verifyWith(h Header, author identity.VerifyingKey, bv *identity.BatchVerifier) error {
	role := author.Role()
	if role != identity.RolePatient && role != identity.RoleProvider {
		return authorRole(role)
	}
	if id := author.ID(); h.Author != id {
		return fmt.Errorf("record: %w: header names author %s, key is %s", ErrAuthorMismatch, h.Author, id)
	}
	if err := h.checkRole(role); err != nil {
		return err
	}
	if sha256.Sum256(r.Ciphertext) != h.CiphertextHash {
		return fmt.Errorf("record %d of %s: %w", h.Seq, h.Author, ErrCiphertextHash)
	}
	if bv != nil {
		bv.AddContext(author.Bytes(), SignContext, r.HeaderBytes, r.Signature)
		return nil
	}
	if err := author.VerifyContext(SignContext, r.HeaderBytes, r.Signature); err != nil {
		return fmt.Errorf("record %d of %s: %w", h.Seq, h.Author, err)
	}
	return nil
}

// VerifyBatch verifies records, each against its author's key (authors[i]
// for recs[i]), as Record.Verify does one by one, but checks the signatures
// as one batch, about twice as fast. It returns one error per record, nil
// for the valid ones; when the batch fails, the records are checked one by
// one to say which.
func VerifyBatch(recs []*Record, authors []identity.VerifyingKey) ([]Header, []error) {
	hs := make([]Header, len(recs))
	errs := make([]error, len(recs))
	bv := identity.NewBatchVerifier()
	for i, r := range recs {
		if errs[i] = r.checkForm(); errs[i] != nil {
			continue
		}
		if hs[i], errs[i] = r.Header(); errs[i] != nil {
			continue
		}
		errs[i] = r.verifyWith(hs[i], authors[i], bv)
	}
	if bv.Verify() {
		return hs, errs
	}
	for i, r := range recs {
		if errs[i] == nil {
			errs[i] = r.verify(hs[i], authors[i])
		}
	}
	return hs, errs
}

// Verify parses a record from untrusted bytes, looks up its author's key
// with lookup, and verifies it (see Record.Verify); errors from lookup are
// returned wrapped.
func Verify(b []byte, lookup func(identity.ID) (identity.VerifyingKey, error)) (*Record, Header, error) {
	r, err := ParseRecord(b)
	if err != nil {
		return nil, Header{}, err
	}
	h, err := r.Header()
	if err != nil {
		return nil, Header{}, err
	}
	key, err := lookup(h.Author)
	if err != nil {
		return nil, Header{}, fmt.Errorf("record: author %s: %w", h.Author, err)
	}
	if err := r.verify(h, key); err != nil {
		return nil, Header{}, err
	}
	return r, h, nil
}

// Seal encodes the payload (Payload.Marshal: padded to a multiple of
// PadSize), encrypts it under key and signs the record with author's key,
// whose role must be patient or provider (identity.ErrWrongRole). It fills
// in h's Version, KeyTag (a patient's record only), Nonce and
// CiphertextHash, and Author if it is zero (if set, it must be author's
// ID: ErrAuthorMismatch); the other fields are the caller's and must pass
// Record.Verify's checks for author's role. A patient's record seals the
// payload of one vital sign (p.Kind) under that vital sign's key of the
// epoch (envelope.KindKey). The body must be 1 to MaxBodySize bytes
// (codec.ErrTooLarge).
func Seal(h Header, key envelope.SessionKey, p Payload, author *identity.SigningKey) (*Record, error) {
	return seal(h, key, p, author, false)
}

// SealDeterministic is Seal with a nonce derived from the key, the header
// and the plaintext (HMAC-SHA256, truncated to 96 bits) instead of a random
// one: sealing the same payload under the same header and key again gives
// the very same record, byte for byte (Ed25519 signatures are
// deterministic too), so that a gateway that seals a reading twice (a
// redelivery after a crash) uploads a duplicate the cloud recognises, not a
// second record. A nonce repeats only for the same header and plaintext,
// which then give the same ciphertext: what it reveals is that two records
// are one (the construction of SIV modes, RFC 5297).
func SealDeterministic(h Header, key envelope.SessionKey, p Payload, author *identity.SigningKey) (*Record, error) {
	return seal(h, key, p, author, true)
}

// Labels of the HMACs under a record's key.
const (
	nonceLabel  = "vitalchain/record-nonce/v1\x00"
	keyTagLabel = "vitalchain/record-key-tag/v2\x00"
)

// KeyTag returns the key tag of a patient's record whose header is h and
// whose key is key: HMAC-SHA256 under the key of a label and the header's
// patient, author, epoch, contract, time and seq, truncated to KeyTagSize
// bytes. Whoever holds the key recomputes it and so knows, before any
// decryption, that the record is sealed under this key (a provider holds
// one key per vital sign of its scope: the tag says which opens the record,
// or that none does). Without the key it is a pseudo-random value that
// differs from record to record, so it tells the cloud nothing of the vital
// sign, not even whether two records share one. Since HMAC commits to its
// key, a record's tag matches one key only: a record cannot be made to open
// as one vital sign's record for some readers and another's for others, as
// a bare AES-GCM ciphertext could (GCM is not key-committing).
func KeyTag(key envelope.SessionKey, h Header) [KeyTagSize]byte {
	mac := hmac.New(sha256.New, key[:])
	mac.Write([]byte(keyTagLabel))
	mac.Write(h.Patient[:])
	mac.Write(h.Author[:])
	binary.Write(mac, binary.BigEndian, h.Epoch)
	mac.Write(h.Contract[:])
	binary.Write(mac, binary.BigEndian, h.Time)
	binary.Write(mac, binary.BigEndian, h.Seq)
	var t [KeyTagSize]byte
	copy(t[:], mac.Sum(nil))
	return t
}

func seal(h Header, key envelope.SessionKey, p Payload, author *identity.SigningKey, derived bool) (*Record, error) {
	if author == nil {
		return nil, fmt.Errorf("record: seal: %w: no signing key", identity.ErrBadKey)
	}
	role := author.Role()
	if role != identity.RolePatient && role != identity.RoleProvider {
		return nil, authorRole(role)
	}
	if key.IsZero() {
		return nil, fmt.Errorf("record: seal: %w", envelope.ErrZeroKey)
	}
	if role == identity.RolePatient && p.Kind == 0 {
		return nil, fmt.Errorf("record: seal: %w: a patient's record is of one vital sign", codec.ErrMissingField)
	}
	plaintext, err := p.Marshal()
	if err != nil {
		return nil, err
	}
	id := author.Public().ID()
	if h.Author == (identity.ID{}) {
		h.Author = id
	} else if h.Author != id {
		return nil, fmt.Errorf("record: seal: %w: header names author %s, key is %s", ErrAuthorMismatch, h.Author, id)
	}
	h.Version = Version
	h.CiphertextHash = [32]byte{}
	h.Nonce = [NonceSize]byte{}
	h.KeyTag = [KeyTagSize]byte{}
	if role == identity.RolePatient {
		h.KeyTag = KeyTag(key, h)
	}
	if derived {
		hb, err := codec.Marshal(h) // nonce and hash zero
		if err != nil {
			return nil, err
		}
		mac := hmac.New(sha256.New, key[:])
		mac.Write([]byte(nonceLabel))
		binary.Write(mac, binary.BigEndian, uint64(len(hb)))
		mac.Write(hb)
		mac.Write(plaintext)
		copy(h.Nonce[:], mac.Sum(nil))
	} else if _, err := rand.Read(h.Nonce[:]); err != nil {
		return nil, fmt.Errorf("record: seal: nonce: %w", err)
	}
	// Validate with a placeholder hash, before any work is done.
	check := h
	check.CiphertextHash[0] = 1
	if err := check.Validate(); err != nil {
		return nil, err
	}
	if err := check.checkRole(role); err != nil {
		return nil, err
	}

	hb, err := codec.Marshal(h) // the associated data, until the hash is filled in
	if err != nil {
		return nil, err
	}
	if !hashLast(hb) {
		return nil, fmt.Errorf("record: seal: header encoding does not end in the ciphertext hash")
	}
	aead, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	ct := aead.Seal(make([]byte, 0, len(plaintext)+TagSize), h.Nonce[:], plaintext, hb)
	sum := sha256.Sum256(ct)
	copy(hb[len(hb)-32:], sum[:])
	return &Record{
		HeaderBytes: hb,
		Ciphertext:  ct,
		Signature:   author.SignContext(SignContext, hb),
	}, nil
}

// hashTrailer is how the canonical header encoding of CiphertextHash
// starts: key 11, then a byte string of 32 bytes.
var hashTrailer = []byte{0x0b, 0x58, 0x20}

// hashLast reports whether header bytes end with the CiphertextHash field.
func hashLast(hb []byte) bool {
	n := len(hb) - 32 - len(hashTrailer)
	return n > 0 && bytes.Equal(hb[n:n+len(hashTrailer)], hashTrailer)
}

// associatedData returns the header bytes with the ciphertext hash zeroed,
// the associated data under which the ciphertext was sealed. hb must be a
// validated header's encoding.
func associatedData(hb []byte) ([]byte, error) {
	if !hashLast(hb) {
		return nil, fmt.Errorf("record: %w: header does not end in the ciphertext hash", codec.ErrMalformed)
	}
	ad := bytes.Clone(hb)
	clear(ad[len(ad)-32:])
	return ad, nil
}

func newGCM(key envelope.SessionKey) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key[:])
	if err != nil {
		return nil, fmt.Errorf("record: aes: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("record: gcm: %w", err)
	}
	return aead, nil
}

// Open decrypts the record with its session key and decodes its payload:
// the key of the payload's vital sign in h.Epoch for a patient's record
// (envelope.KindKey; see OpenWith to pick it among several), the key of
// its ProviderRecord envelope for a provider's. It decodes and validates
// the header (see Header) and checks the ciphertext hash
// (ErrCiphertextHash), but not the signature: Verify first if the author
// matters. A patient's record whose key tag is not key's gives ErrWrongKey
// before any decryption; a wrong key or a tampered header or ciphertext
// gives ErrDecrypt; a plaintext that is not a payload (ParsePayload's
// errors), or a patient's record with no vital sign, ErrInvalidPayload.
func (r *Record) Open(key envelope.SessionKey) (Payload, error) {
	if key.IsZero() {
		return Payload{}, fmt.Errorf("record: open: %w", envelope.ErrZeroKey)
	}
	h, err := r.Header()
	if err != nil {
		return Payload{}, err
	}
	if sha256.Sum256(r.Ciphertext) != h.CiphertextHash {
		return Payload{}, fmt.Errorf("record %d of %s: %w", h.Seq, h.Author, ErrCiphertextHash)
	}
	if h.KeyTag != ([KeyTagSize]byte{}) {
		if t := KeyTag(key, h); !hmac.Equal(t[:], h.KeyTag[:]) {
			return Payload{}, fmt.Errorf("record %d of %s: %w", h.Seq, h.Author, ErrWrongKey)
		}
	}
	ad, err := associatedData(r.HeaderBytes)
	if err != nil {
		return Payload{}, err
	}
	aead, err := newGCM(key)
	if err != nil {
		return Payload{}, err
	}
	if len(r.Ciphertext) < TagSize {
		return Payload{}, fmt.Errorf("record %d of %s: %w: ciphertext of %d bytes", h.Seq, h.Author, ErrDecrypt, len(r.Ciphertext))
	}
	pt, err := aead.Open(make([]byte, 0, len(r.Ciphertext)-TagSize), h.Nonce[:], r.Ciphertext, ad)
	if err != nil {
		return Payload{}, fmt.Errorf("record %d of %s: %w", h.Seq, h.Author, ErrDecrypt)
	}
	p, err := ParsePayload(pt)
	if err != nil {
		return Payload{}, fmt.Errorf("record %d of %s: %w: %w", h.Seq, h.Author, ErrInvalidPayload, err)
	}
	if h.Author == h.Patient && p.Kind == 0 {
		return Payload{}, fmt.Errorf("record %d of %s: %w: a patient's record of no vital sign", h.Seq, h.Author, ErrInvalidPayload)
	}
	return p, nil
}

// OpenWith opens a patient's record with whichever of keys (a provider's
// keys of one epoch, by vital sign) its key tag names, and checks that the
// payload is of that key's vital sign (ErrInvalidPayload). If none of them
// is the record's key it returns ErrWrongKey, having decrypted nothing:
// the record is of a vital sign whose key the caller does not hold, and
// it learns no more than that. Otherwise as Open.
func (r *Record) OpenWith(keys map[vital.Kind]envelope.SessionKey) (Payload, error) {
	h, err := r.Header()
	if err != nil {
		return Payload{}, err
	}
	for k, key := range keys {
		if key.IsZero() || h.KeyTag == ([KeyTagSize]byte{}) {
			continue
		}
		if t := KeyTag(key, h); !hmac.Equal(t[:], h.KeyTag[:]) {
			continue
		}
		p, err := r.Open(key)
		if err != nil {
			return Payload{}, err
		}
		if p.Kind != k {
			return Payload{}, fmt.Errorf("record %d of %s: %w: a %s payload under the key of %s", h.Seq, h.Author, ErrInvalidPayload, p.Kind, k)
		}
		return p, nil
	}
	return Payload{}, fmt.Errorf("record %d of %s: %w: none of %d keys", h.Seq, h.Author, ErrWrongKey, len(keys))
}
