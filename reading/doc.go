// Package reading is the wire format of a signed device reading: what a
// wearable publishes over MQTT to its patient's gateway, one measurement per
// message, and what the gateway verifies before it evaluates the patient's
// contracts.
//
// A message is a COSE_Sign1 (RFC 9052) signed with EdDSA by the device's
// Ed25519 key, whose payload is a Reading in core deterministic CBOR (RFC
// 8949 section 4.2.1). Exactly one encoding of each reading is accepted: a
// device must produce the bytes below exactly, and since Ed25519 is
// deterministic, signing the same reading twice gives the same message. The
// known-answer vectors in testdata/vectors.json let other implementations
// check themselves byte for byte.
//
// # The message
//
// The whole MQTT payload is the message, at most MaxSize (1,024) bytes; a
// real one is about 216 bytes. Byte by byte, in hex:
//
//	d2                  tag 18: COSE_Sign1_Tagged (required; see below)
//	84                  array of 4
//	43 a1 01 27         protected header: byte string of 3 bytes holding the
//	                    map {1: -8}, i.e. alg = EdDSA. Exactly these 4 bytes.
//	a1 04 58 20 <kid>   unprotected header: map {4: kid}, kid = byte string
//	                    of 32 bytes, the device ID (see below). Nothing else.
//	58 <n> <payload>    payload: byte string of n bytes, the Reading below
//	                    (n is between 24 and 255, so its length is one byte)
//	58 40 <signature>   signature: byte string of 64 bytes, Ed25519
//
// The device ID, and so the kid, is SHA-256 of the device's 32-byte Ed25519
// public key (identity.ID). The kid only tells the gateway which key to use:
// the same ID is inside the signed payload (field 3), and both must be the
// ID of the key that verifies.
//
// The tag 18 is required, and an untagged COSE_Sign1 is refused with
// ErrNotSign1: the tag makes a message self-describing on a shared broker,
// and accepting both forms would give two byte strings for one signed
// reading (and two hashes for one record).
//
// # The payload
//
// A CBOR map of exactly 8 entries, keys 1 to 8 in that order, every key
// present even when its value is zero:
//
//	a8                  map of 8
//	01 01               1 version:  uint, 1
//	02 58 20 <32 bytes> 2 patient:  byte string, the patient's actor ID
//	03 58 20 <32 bytes> 3 device:   byte string, the device ID (= kid)
//	04 <uint>           4 seq:      uint, per-device sequence number
//	05 <int>            5 time:     int, Unix time of the measurement, ms
//	06 <text>           6 code:     text, LOINC code of the vital sign
//	07 <int>            7 value:    int, the value in thousandths of unit
//	08 <text>           8 unit:     text, UCUM unit of the vital sign
//
// Integers use the shortest form: 0–23 in the initial byte (0x00–0x17);
// up to 0xff as 18 xx; up to 0xffff as 19 xxxx; up to 0xffffffff as 1a and 4
// bytes; otherwise 1b and 8 bytes, big-endian. A negative integer n is major
// type 1 (0x20 instead of 0x00) with argument -1-n. Texts of fewer than 24
// bytes are 0x60+length then UTF-8. So a time in 2025 is always 1b and 8
// bytes, and 180 mg/dL is 07 1a 00 02 bf 20 (180,000 thousandths). There are
// no floating-point numbers anywhere.
//
// The sequence number starts at 1 and must strictly increase for each device
// across reboots (persist it, or a block reservation, before sending): the
// gateway refuses a reading whose seq is not above the last one it accepted
// from that device. The time is the measurement's, not the send's.
//
// The codes, units and plausible ranges (package vital; a value outside its
// range is refused as malformed, ErrImplausible):
//
//	vital sign         code     unit     range
//	glucose            2339-0   mg/dL    0 to 2000
//	heart rate         8867-4   /min     0 to 400
//	SpO2               59408-5  %        0 to 100
//	systolic BP        8480-6   mm[Hg]   0 to 400
//	diastolic BP       8462-4   mm[Hg]   0 to 300
//	respiratory rate   9279-1   /min     0 to 150
//	body temperature   8310-5   Cel      20 to 46
//	steps in 24 h      41950-7  /(24.h)  0 to 500000
//
// # The signature
//
// The signature is pure Ed25519 (RFC 8032: no prehash, no context) over the
// COSE Sig_structure ["Signature1", protected, external_aad, payload] with an
// empty external_aad, which is:
//
//	84                              array of 4
//	6a 5369676e617475726531         text "Signature1"
//	43 a1 01 27                     the protected header, as in the message
//	40                              external_aad: empty byte string
//	58 <n> <payload>                the payload, as in the message
//
// so a device builds 84 6a "Signature1" 43 a1 01 27 40 58 n, appends its
// payload, signs that, and sends d2 84 43 a1 01 27 a1 04 58 20, its ID,
// 58 n, the payload, 58 40 and the signature.
//
// The gateway verifies with the ZIP-215 rules that VitalChain uses
// everywhere (see package identity); every signature a conforming RFC 8032
// signer makes passes them.
//
// # Receiving
//
// Parse takes untrusted bytes and refuses anything but the layout above,
// each class with a named error: over MaxSize (codec.ErrTooLarge), untagged
// or another tag (ErrNotSign1), truncated, trailing bytes, duplicate map keys,
// indefinite lengths, nested tags, non-shortest integers or lengths, extra
// header parameters (codec's ErrTruncated, ErrTrailingData, ErrDuplicateKey,
// ErrIndefiniteLength, ErrTagNotAllowed, ErrNotCanonical, ErrUnknownField),
// a kid that is not 32 bytes (ErrBadKeyID), a detached payload or missing
// kid (codec.ErrMissingField), a signature that is not 64 bytes
// (identity.ErrBadSignature). It does not hand the raw bytes to go-cose,
// whose decoder refuses duplicate keys, indefinite lengths and trailing bytes
// but accepts non-shortest lengths, non-canonical protected headers and any
// extra unprotected header, has no size limit, and so would let one
// signature stand for many different messages.
//
// Signed.Verify then checks the key (role device, ID = kid), the algorithm,
// the signature (computed over the Sig_structure by go-cose with an adapter
// to identity's ZIP-215 verifier), decodes the payload with codec.Unmarshal
// (canonical only), runs Reading.Validate and checks that the reading names
// the signing device. Replays (Seq) and clock skew (Time) are the gateway's
// to check, as they need state and a clock.
package reading
