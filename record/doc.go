// Package record is VitalChain's sealed record: what a patient's gateway
// uploads to the cloud for each abnormal reading, and what a provider sends a
// patient in the paper's transaction 3. A record is a cleartext Header, the
// plaintext encrypted with a session key (package envelope), and the
// author's signature.
//
// # Header
//
// The Header carries no health data, only what the cloud and the alerting
// need without decrypting: the patient's pseudonym (actor ID), the author,
// the key epoch, the alert contract, the vital sign (so that the cloud can
// check a grant's scope), a severity, the time of the underlying reading, the
// author's sequence number (Author and Seq make retries idempotent: one
// (Author, Seq) is one record), the AES-GCM nonce and the SHA-256 of the
// ciphertext. It is a CBOR map with integer keys 1 to 11 in core
// deterministic encoding (package codec), about 190 bytes.
//
// # Sealing
//
// Seal encrypts the plaintext with AES-256-GCM under the session key, with a
// 96-bit nonce (random, or derived: see below) and, as associated data, the header's canonical
// encoding with CiphertextHash set to 32 zero bytes. The hash is zeroed
// because it cannot be known before encrypting, and it needs no AEAD
// protection anyway: the GCM tag already authenticates the ciphertext it
// hashes. Every other header field is bound to the ciphertext, so anyone who
// holds the key (a provider, the patient) can tell that the ciphertext was
// made for this very header, even without checking the signature. Since
// CiphertextHash is the header's last key, the associated data is the signed
// header bytes with their last 32 bytes zeroed, and a reader rebuilds it
// without re-encoding.
//
// Seal then fills in CiphertextHash and signs the resulting header bytes
// (HeaderBytes, exactly the bytes that are signed and stored) with the
// author's Ed25519 key in the signing context "record/v1" (see
// identity.SigningKey.SignContext). The signature covers the ciphertext
// through its hash, so the cloud checks a record with one signature
// verification and one SHA-256 of the ciphertext, and never needs the key.
//
// The nonce is random, and a session key is used for at most one epoch of
// one patient, so at fewer than 2^32 records per key (NIST SP 800-38D) the
// chance of a nonce repeating is negligible. SealDeterministic derives the
// nonce instead, with HMAC-SHA256 under the key, from the header (nonce and
// hash zeroed) and the plaintext: the same record sealed twice is the same
// bytes, and a nonce repeats only with the same header and plaintext, which
// reveals only that the two are one record. The gateway seals this way, so
// that retries are idempotent.
//
// # Plaintext
//
// A record treats its plaintext as opaque bytes of at most MaxPlaintextSize.
// For a gateway's record it is the device's signed reading exactly as the
// device sent it (package reading, a COSE_Sign1 of about 216 bytes), so that
// a provider who decrypts it can check the device's own signature end to
// end, not only the gateway's. For transaction 3 it is whatever the provider
// sends (a clinical document, a prescription…).
//
// # Authors
//
// A record is authored by a patient (its gateway, with the patient's own
// key: Author = Patient, Epoch >= 1, a Contract and a vital sign Kind) or by
// a provider (transaction 3: Author is the provider, Epoch 0 and no Contract,
// since the key is a fresh one for this record alone, wrapped to the patient
// in an envelope of kind ProviderRecord whose Subject is the record's ID;
// Kind may be 0 when the record is not about one vital sign). Record.Verify
// enforces these rules for the verifying key's role.
//
// # Identity and the Merkle log
//
// A record's ID is SHA-256(HeaderBytes). It commits to every header field
// and, through CiphertextHash, to the ciphertext; it does not cover the
// signature, which anyone holding the author's key can check. The ID is the
// leaf data of the cloud's Merkle log (package merklelog): the cloud appends
// ID[:], so the leaf hash is SHA-256(0x00 || ID), and an inclusion proof can
// be checked by anyone who knows the 32-byte ID, which is also what alerts
// and transaction 3 on the ledger carry.
//
// # Wire format
//
// A Record is the CBOR map {1: header bytes, 2: ciphertext, 3: signature},
// every key always present, at most MaxRecordSize bytes; a gateway's record
// of a 216-byte reading is 481 bytes. ParseRecord refuses larger input
// (codec.ErrTooLarge), CBOR that is not the canonical encoding, an absent
// key included (codec's errors), an empty (codec.ErrMissingField) or
// oversized header, a ciphertext shorter than the GCM tag plus one byte
// (codec.ErrMalformed) or longer than MaxPlaintextSize plus the tag, a
// signature that is not 64 bytes (identity.ErrBadSignature), and a header
// that does not decode (codec's errors, canonical encoding only) or
// validate (Header.Validate). Record.Verify then checks the record against
// its author's key; Record.Open decrypts it.
package record
