// Package record is VitalChain's sealed record: what a patient's gateway
// uploads to the cloud for each abnormal reading, and what a provider sends a
// patient in the paper's transaction 3. A record is a cleartext Header, the
// Payload (the vital sign, the severity and the body) encrypted with a
// session key (package envelope), and the author's signature.
//
// # Header
//
// The Header carries no health data, only what the cloud needs to store a
// record, check it and route its alert without decrypting: the patient's
// pseudonym (actor ID), the author, the key epoch, the alert contract, a key
// tag, one bit that says whether to raise an alert, the time of the
// underlying reading, the author's sequence number (Author and Seq make
// retries idempotent: one (Author, Seq) is one record), the AES-GCM nonce
// and the SHA-256 of the ciphertext. It is a CBOR map with integer keys 1 to
// 11 in core deterministic encoding (package codec), about 205 bytes.
//
// The vital sign and the severity are not in the header (format version 1
// had them there, so the cloud learnt which vital sign each abnormal
// reading was, and how bad): they are in the Payload, under the key of that
// vital sign. Every field of a patient's header has the same encoded size
// whatever the vital sign and severity (the key tag is 16 bytes, the alert
// bit a CBOR true or false), and the padded payload makes every gateway
// record's ciphertext the same size too.
//
// The key tag (KeyTag) lets whoever holds the record's key find it among
// the keys it holds (a provider holds one per vital sign of its grant's
// scope) without decrypting, and without anyone else learning anything:
// without the key the tag looks random and differs from record to record.
// We chose a tag over trial decryption (try each key until AES-GCM
// accepts): a holder tells "not a vital sign of my scope" (no tag matches:
// ErrWrongKey, counted quietly) apart from a forged or damaged record (the
// tag matches and decryption fails: ErrDecrypt), and an HMAC commits to its
// key, so a record opens under one vital sign's key only. It costs 16 bytes
// of header and an HMAC per key tried.
//
// # Sealing
//
// Seal encrypts the encoded payload with AES-256-GCM under the session key, with a
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
// # Payload
//
// What a record encrypts is a Payload: the vital sign, the severity of the
// rule that fired, and the body, encoded in a fixed layout (a version byte,
// the kind, the severity, the body's length in 2 bytes, the body) padded
// with zeros to a multiple of PadSize (256) bytes; ParsePayload accepts
// exactly that. For a gateway's record the body is the device's signed
// reading exactly as the device sent it (package reading, a COSE_Sign1 of
// about 216 bytes), so that a provider who decrypts it can check the
// device's own signature end to end, not only the gateway's. For
// transaction 3 it is whatever the provider sends (a clinical document, a
// prescription…).
//
// # Authors
//
// A record is authored by a patient (its gateway, with the patient's own
// key: Author = Patient, Epoch >= 1, a Contract, a key tag, and a payload
// of one vital sign sealed under that vital sign's key of the epoch,
// envelope.KindKey) or by a provider (transaction 3: Author is the
// provider, Epoch 0, no Contract, no key tag and no alert, since the key is
// a fresh one for this record alone, wrapped to the patient in an envelope
// of kind ProviderRecord whose Subject is the record's ID; the payload's
// Kind may be 0 when the record is not about one vital sign).
// Record.Verify enforces the header's rules for the verifying key's role,
// Record.Open the payload's.
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
// oversized header, a ciphertext that is not the GCM tag plus a multiple of
// PadSize (codec.ErrMalformed) or is longer than MaxPlaintextSize plus the
// tag, a
// signature that is not 64 bytes (identity.ErrBadSignature), and a header
// that does not decode (codec's errors, canonical encoding only) or
// validate (Header.Validate). Record.Verify then checks the record against
// its author's key; Record.Open decrypts it.
package record
