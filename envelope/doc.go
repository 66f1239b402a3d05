// Package envelope holds VitalChain's session keys and the key envelopes of
// the paper's three transaction types (Dwivedi et al. 2019, section V).
//
// A SessionKey is a random AES-256-GCM key. A patient has one per epoch:
// epochs count from 1, and every revoke starts a new epoch whose key the
// revoked provider never receives. A provider sending the patient a new
// record (transaction 3) uses a fresh key for that record alone.
//
// An Envelope is a session key wrapped with HPKE (RFC 9180, base mode,
// single-shot) to one recipient's public key, in the recipient's suite
// (DHKEM(X25519) or MLKEM768X25519; always HKDF-SHA256 and AES-256-GCM).
// Envelopes are what the ledger stores: ciphertext and a cleartext Context,
// never a key in the clear.
//
// # Transactions
//
//	kind            paper  sender    recipient  Epoch  Subject
//	Self            tx 1   patient   patient    >= 1   zero
//	Grant           tx 2   patient   provider   >= 1   zero
//	ProviderRecord  tx 3   provider  patient    0      the record's ID
//	Contract        –      patient   a party    0      the contract's commitment
//
// Self publishes the epoch's key to the patient itself, so that any of the
// patient's nodes can recover it from the chain; Grant gives it to a
// provider; ProviderRecord wraps the fresh key of one provider record (see
// package record, whose ProviderRecord seals the record and makes this
// envelope) to the patient, and names the record by its ID in Subject since
// such a key belongs to no epoch. Contract wraps the fresh key that
// encrypts one contract's terms (package contract's Seal) to each party, the
// patient and every provider, so that the ledger holds the terms without
// being able to read them.
//
// # Binding
//
// Every field of the Context (kind, patient, epoch, subject, sender,
// recipient, suite) is bound into the HPKE key schedule through the info
// parameter, which is the core deterministic CBOR map
//
//	{1: "vitalchain/key-envelope/v1", 2: kind, 3: patient, 4: epoch,
//	 5: subject, 6: sender, 7: recipient, 8: suite}
//
// So an envelope cannot be replayed into another context: a recipient that
// states the context it expects (Unwrap's want) gets ErrContextMismatch
// naming the field if the envelope declares another one, and ErrDecrypt if
// someone rewrote the declared context to match, because the info no longer
// matches the one the ciphertext was sealed under. The label makes the info
// unlike any other HPKE use of the same keys, and versions the binding.
//
// # Wire format
//
// An Envelope is the CBOR map {1: version, 2..8: the Context as above,
// 9: ciphertext}, every key always present even when its value is zero. The
// ciphertext is HPKE's enc followed by the sealed key and tag: 80 bytes for
// X25519 and 1,168 for MLKEM768X25519, so an envelope is about 240 or 1,330
// bytes. ParseEnvelope refuses more than MaxSize bytes (codec.ErrTooLarge),
// CBOR that is not the canonical encoding, an absent key included (codec's
// errors), an unknown version (codec.ErrUnknownVersion), kind
// (ErrUnknownKind) or suite (identity.ErrUnknownSuite), a zero required
// field (codec.ErrMissingField), a context whose fields contradict its kind
// (ErrInvalidContext) and a ciphertext of the wrong length for its suite
// (codec.ErrMalformed). The ledger checks an envelope's context with Check,
// which needs no key.
package envelope
