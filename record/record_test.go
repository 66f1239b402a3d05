package record_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"testing"

	"github.com/vitalchain/vitalchain/codec"
	"github.com/vitalchain/vitalchain/envelope"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/reading"
	"github.com/vitalchain/vitalchain/record"
	"github.com/vitalchain/vitalchain/vital"
)

// TestGatewayRecord is transactions 1 and 2 around a gateway's record: the
// patient seals an abnormal reading under its epoch key, publishes the key
// to itself and to a provider; the cloud verifies the record without any
// key; the patient and the provider each unwrap the key and decrypt, and the
// provider checks the device's signature end to end.
func TestGatewayRecord(t *testing.T) {
	for _, s := range suites {
		t.Run(s.String(), func(t *testing.T) {
			a := testActors(t, s)
			key := testKey(t)
			pt := signedReading(t, a)
			r := mustSeal(t, gatewayHeader(a.patient.ID(), 1), key, pt, a.patient.Signing)
			self, err := envelope.SelfEnvelope(a.patient, 2, key)
			if err != nil {
				t.Fatal(err)
			}
			grant, err := envelope.GrantEnvelope(a.patient, a.provider.Public(), 2, key)
			if err != nil {
				t.Fatal(err)
			}

			// The cloud.
			up, err := r.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			if len(up) > 540 {
				t.Errorf("record of a %d-byte reading is %d bytes", len(pt), len(up))
			}
			got, err := record.ParseRecord(up)
			if err != nil {
				t.Fatal(err)
			}
			h, err := got.Verify(a.patient.Signing.Public())
			if err != nil {
				t.Fatal(err)
			}
			want := gatewayHeader(a.patient.ID(), 1)
			want.Version, want.Author, want.Nonce, want.CiphertextHash = record.Version, a.patient.ID(), h.Nonce, sha256.Sum256(r.Ciphertext)
			want.KeyTag = record.KeyTag(key, want)
			if h != want {
				t.Fatalf("header %+v\nwant %+v", h, want)
			}
			if got.ID() != sha256.Sum256(r.HeaderBytes) || got.ID() != r.ID() {
				t.Fatal("record ID is not SHA-256 of the header bytes")
			}
			again, err := got.Marshal()
			if err != nil || !bytes.Equal(again, up) {
				t.Fatalf("re-encoding differs (%v)", err)
			}

			// The patient, from its self envelope.
			k1, err := self.Unwrap(envelope.SelfContext(h.Patient, h.Epoch, s), a.patient.Decryption, a.patient.Signing.Public())
			if err != nil {
				t.Fatal(err)
			}
			// The provider, from its grant.
			k2, err := grant.Unwrap(envelope.GrantContext(h.Patient, a.provider.ID(), h.Epoch, s), a.provider.Decryption, a.patient.Signing.Public())
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range []envelope.SessionKey{k1, k2} {
				out, err := got.Open(k)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(out.Body, pt) || out.Kind != vital.Glucose || out.Severity != 2 {
					t.Fatalf("payload %+v differs", out)
				}
			}
			// End to end: the device's own signature.
			rd, err := reading.Verify(pt, func(identity.ID) (identity.VerifyingKey, error) { return a.device.Signing.Public(), nil })
			if err != nil {
				t.Fatal(err)
			}
			if rd.Patient != h.Patient || rd.Time != h.Time {
				t.Fatal("reading does not match its header")
			}
		})
	}
}

// TestProviderRecord is transaction 3 for both suites.
func TestProviderRecord(t *testing.T) {
	for _, s := range suites {
		t.Run(s.String(), func(t *testing.T) {
			a := testActors(t, s)
			pt := []byte("Metformin 500 mg twice daily; recheck HbA1c in 3 months.")
			h := providerHeader(identity.ID{}, 1)
			r, env, err := record.ProviderRecord(a.provider, a.patient.Public(), h, pl(pt))
			if err != nil {
				t.Fatal(err)
			}
			// What the ledger checks: the envelope names this record.
			want := envelope.ProviderRecordContext(a.patient.ID(), a.provider.ID(), r.ID(), s)
			if err := env.Check(want); err != nil {
				t.Fatal(err)
			}
			rb, err := r.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			eb, err := env.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			r2, err := record.ParseRecord(rb)
			if err != nil {
				t.Fatal(err)
			}
			env2, err := envelope.ParseEnvelope(eb)
			if err != nil {
				t.Fatal(err)
			}
			got, out, err := record.OpenProviderRecord(r2, env2, a.patient, a.provider.Signing.Public())
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out.Body, pt) || out.Kind != vital.Glucose {
				t.Fatalf("payload %+v differs", out)
			}
			if got.Author != a.provider.ID() || got.Patient != a.patient.ID() || got.Epoch != 0 || got.KeyTag != ([record.KeyTagSize]byte{}) || got.Alert {
				t.Fatalf("header %+v", got)
			}
		})
	}
}

func TestProviderRecordErrors(t *testing.T) {
	a := testActors(t, identity.SuiteX25519)
	pt := pl([]byte("note"))
	r, env, err := record.ProviderRecord(a.provider, a.patient.Public(), providerHeader(a.patient.ID(), 1), pt)
	if err != nil {
		t.Fatal(err)
	}
	r2, env2, err := record.ProviderRecord(a.provider, a.patient.Public(), providerHeader(a.patient.ID(), 2), pt)
	if err != nil {
		t.Fatal(err)
	}
	rOther, envOther, err := record.ProviderRecord(a.provider2, a.patient.Public(), providerHeader(a.patient.ID(), 1), pt)
	if err != nil {
		t.Fatal(err)
	}
	withEpoch := providerHeader(a.patient.ID(), 3)
	withEpoch.Epoch = 1
	otherPatient := providerHeader(a.patient2.ID(), 3)
	prov := a.provider.Signing.Public()
	tests := []struct {
		name string
		do   func() error
		err  error
	}{
		{"by-patient", func() error {
			_, _, err := record.ProviderRecord(a.patient2, a.patient.Public(), providerHeader(a.patient.ID(), 1), pt)
			return err
		}, identity.ErrWrongRole},
		{"to-provider", func() error {
			_, _, err := record.ProviderRecord(a.provider, a.provider2.Public(), providerHeader(a.patient.ID(), 1), pt)
			return err
		}, identity.ErrWrongRole},
		{"nil-provider", func() error {
			_, _, err := record.ProviderRecord(nil, a.patient.Public(), providerHeader(a.patient.ID(), 1), pt)
			return err
		}, identity.ErrBadKey},
		{"header-for-other-patient", func() error {
			_, _, err := record.ProviderRecord(a.provider, a.patient.Public(), otherPatient, pt)
			return err
		}, record.ErrInvalidHeader},
		{"header-with-epoch", func() error {
			_, _, err := record.ProviderRecord(a.provider, a.patient.Public(), withEpoch, pt)
			return err
		}, record.ErrInvalidHeader},
		{"open-with-patient-key-as-author", func() error {
			_, _, err := record.OpenProviderRecord(r, env, a.patient, a.patient2.Signing.Public())
			return err
		}, identity.ErrWrongRole},
		{"open-by-other-patient", func() error {
			_, _, err := record.OpenProviderRecord(r, env, a.patient2, prov)
			return err
		}, envelope.ErrContextMismatch},
		{"open-with-envelope-of-other-record", func() error {
			_, _, err := record.OpenProviderRecord(r, env2, a.patient, prov)
			return err
		}, envelope.ErrContextMismatch},
		{"open-with-envelope-of-other-provider", func() error {
			_, _, err := record.OpenProviderRecord(rOther, envOther, a.patient, prov)
			return err
		}, record.ErrAuthorMismatch},
		{"open-with-forged-subject", func() error {
			forged := *env
			forged.Subject = r2.ID()
			_, _, err := record.OpenProviderRecord(r2, &forged, a.patient, prov)
			return err
		}, envelope.ErrSender}, // the subject is signed: a changed one fails before decryption
		{"open-without-identity", func() error {
			_, _, err := record.OpenProviderRecord(r, env, nil, prov)
			return err
		}, identity.ErrBadKey},
		{"open-with-other-record's-key", func() error {
			k, err := env2.Unwrap(env2.Context, a.patient.Decryption, prov)
			if err != nil {
				return err
			}
			_, err = r.Open(k)
			return err
		}, record.ErrDecrypt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.do(); !errors.Is(err, tt.err) {
				t.Fatalf("got %v, want %v", err, tt.err)
			}
		})
	}
}

// TestTamper changes a sealed record in every way an attacker (or the
// cloud) might, and checks what Verify, which needs no key, and Open, which
// needs no signature, each say.
func TestTamper(t *testing.T) {
	a := testActors(t, identity.SuiteX25519)
	key := testKey(t)
	pt := signedReading(t, a)
	r := mustSeal(t, gatewayHeader(a.patient.ID(), 1), key, pt, a.patient.Signing)
	other := mustSeal(t, gatewayHeader(a.patient.ID(), 2), key, pt, a.patient.Signing)
	h := mustHeader(t, r)
	sk := a.patient.Signing
	copyOf := func(r *record.Record) *record.Record {
		return &record.Record{
			HeaderBytes: bytes.Clone(r.HeaderBytes),
			Ciphertext:  bytes.Clone(r.Ciphertext),
			Signature:   bytes.Clone(r.Signature),
		}
	}
	tests := []struct {
		name       string
		r          func() *record.Record
		verify     error // nil: Verify passes
		open       error // nil: Open passes
		openWithSk bool
	}{
		{"untouched", func() *record.Record { return copyOf(r) }, nil, nil, false},
		{"ciphertext-bit", func() *record.Record {
			c := copyOf(r)
			c.Ciphertext[3] ^= 1
			return c
		}, record.ErrCiphertextHash, record.ErrCiphertextHash, false},
		{"ciphertext-truncated", func() *record.Record {
			c := copyOf(r)
			c.Ciphertext = c.Ciphertext[:len(c.Ciphertext)-1]
			return c
		}, codec.ErrMalformed, record.ErrCiphertextHash, false},
		{"ciphertext-and-its-hash", func() *record.Record {
			// Without the author's key: the signature fails; Open,
			// which does not check it, fails the GCM tag.
			c := copyOf(r)
			c.Ciphertext[3] ^= 1
			hh := h
			hh.CiphertextHash = sha256.Sum256(c.Ciphertext)
			c.HeaderBytes = mustMarshal(t, hh)
			return c
		}, identity.ErrBadSignature, record.ErrDecrypt, false},
		{"signature-bit", func() *record.Record {
			c := copyOf(r)
			c.Signature[10] ^= 1
			return c
		}, identity.ErrBadSignature, nil, false},
		{"signature-of-other-record", func() *record.Record {
			c := copyOf(r)
			c.Signature = bytes.Clone(other.Signature)
			return c
		}, identity.ErrBadSignature, nil, false},
		{"header-field", func() *record.Record {
			c := copyOf(r)
			hh := h
			hh.Alert = false
			c.HeaderBytes = mustMarshal(t, hh)
			return c
		}, identity.ErrBadSignature, record.ErrDecrypt, false},
		{"header-bit-in-nonce", func() *record.Record {
			c := copyOf(r)
			hh := h
			hh.Nonce[0] ^= 1
			c.HeaderBytes = mustMarshal(t, hh)
			return c
		}, identity.ErrBadSignature, record.ErrDecrypt, false},
		// With the author's key (a buggy gateway): the signature is good,
		// but the ciphertext was sealed for another header, and the
		// associated data says so.
		{"resigned-other-time", func() *record.Record {
			hh := h
			hh.Time++
			return resign(t, r, hh, sk)
		}, nil, record.ErrWrongKey, true}, // the key tag covers the time
		{"resigned-without-alert", func() *record.Record {
			hh := h
			hh.Alert = false
			return resign(t, r, hh, sk)
		}, nil, record.ErrDecrypt, true},
		{"resigned-other-key-tag", func() *record.Record {
			hh := h
			hh.KeyTag[0] ^= 1
			return resign(t, r, hh, sk)
		}, nil, record.ErrWrongKey, true},
		{"ciphertext-of-other-record-resigned", func() *record.Record {
			c := copyOf(r)
			c.Ciphertext = bytes.Clone(other.Ciphertext)
			hh := h
			hh.CiphertextHash = sha256.Sum256(c.Ciphertext)
			return resign(t, c, hh, sk)
		}, nil, record.ErrDecrypt, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.r()
			if _, err := c.Verify(sk.Public()); !errors.Is(err, tt.verify) || (tt.verify == nil) != (err == nil) {
				t.Errorf("Verify: got %v, want %v", err, tt.verify)
			}
			out, err := c.Open(key)
			if !errors.Is(err, tt.open) || (tt.open == nil) != (err == nil) {
				t.Errorf("Open: got %v, want %v", err, tt.open)
			}
			if err == nil && !bytes.Equal(out.Body, pt) {
				t.Error("Open returned another plaintext")
			}
		})
	}
}

func TestOpenWrongKey(t *testing.T) {
	a := testActors(t, identity.SuiteX25519)
	r := mustSeal(t, gatewayHeader(a.patient.ID(), 1), testKey(t), []byte("x"), a.patient.Signing)
	if _, err := r.Open(testKey(t)); !errors.Is(err, record.ErrWrongKey) {
		t.Fatalf("other key: got %v, want ErrWrongKey", err)
	}
	if _, err := r.Open(envelope.SessionKey{}); !errors.Is(err, envelope.ErrZeroKey) {
		t.Fatalf("zero key: got %v, want envelope.ErrZeroKey", err)
	}
}

func TestVerifyKeys(t *testing.T) {
	a := testActors(t, identity.SuiteX25519)
	gw := mustSeal(t, gatewayHeader(a.patient.ID(), 1), testKey(t), []byte("x"), a.patient.Signing)
	pr := mustSeal(t, providerHeader(a.patient.ID(), 1), testKey(t), []byte("x"), a.provider.Signing)

	cloud := mustGenerate(identity.RoleCloud, identity.SuiteX25519)
	authority := mustGenerate(identity.RoleAuthority, identity.SuiteX25519)
	// The device's key bytes with a patient role claims the wrong ID.
	asPatient, err := identity.NewVerifyingKey(identity.RolePatient, a.device.Signing.Public().Bytes())
	if err != nil {
		t.Fatal(err)
	}
	// The patient's key bytes in the provider role: right ID, wrong rules.
	patientAsProvider, err := identity.NewVerifyingKey(identity.RoleProvider, a.patient.Signing.Public().Bytes())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		r    *record.Record
		key  identity.VerifyingKey
		err  error
	}{
		{"patient", gw, a.patient.Signing.Public(), nil},
		{"provider", pr, a.provider.Signing.Public(), nil},
		{"device-key", gw, a.device.Signing.Public(), identity.ErrWrongRole},
		{"cloud-key", gw, cloud.Signing.Public(), identity.ErrWrongRole},
		{"authority-key", gw, authority.Signing.Public(), identity.ErrWrongRole},
		{"zero-key", gw, identity.VerifyingKey{}, identity.ErrWrongRole},
		{"other-patient", gw, a.patient2.Signing.Public(), record.ErrAuthorMismatch},
		{"other-provider", pr, a.provider2.Signing.Public(), record.ErrAuthorMismatch},
		{"provider-for-gateway-record", gw, a.provider.Signing.Public(), record.ErrAuthorMismatch},
		{"unrelated-key-as-patient", gw, asPatient, record.ErrAuthorMismatch},
		{"patient-key-in-provider-role", gw, patientAsProvider, record.ErrInvalidHeader},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.r.Verify(tt.key)
			if !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
				t.Fatalf("got %v, want %v", err, tt.err)
			}
		})
	}
}

// TestHeaderRules signs headers that break one rule each with the author's
// own key, so that only the rule can refuse them.
func TestHeaderRules(t *testing.T) {
	a := testActors(t, identity.SuiteX25519)
	key := testKey(t)
	gw := mustSeal(t, gatewayHeader(a.patient.ID(), 1), key, []byte("x"), a.patient.Signing)
	pr := mustSeal(t, providerHeader(a.patient.ID(), 1), key, []byte("x"), a.provider.Signing)
	gh, ph := mustHeader(t, gw), mustHeader(t, pr)
	psk, vsk := a.patient.Signing, a.provider.Signing
	type edit func(*record.Header)
	tests := []struct {
		name     string
		provider bool
		f        edit
		err      error
	}{
		{"version-0", false, func(h *record.Header) { h.Version = 0 }, codec.ErrUnknownVersion},
		{"version-1", false, func(h *record.Header) { h.Version = 1 }, codec.ErrUnknownVersion},
		{"version-3", false, func(h *record.Header) { h.Version = 3 }, codec.ErrUnknownVersion},
		{"zero-patient", true, func(h *record.Header) { h.Patient = identity.ID{} }, codec.ErrMissingField},
		{"zero-author", false, func(h *record.Header) { h.Author = identity.ID{} }, codec.ErrMissingField},
		{"zero-time", false, func(h *record.Header) { h.Time = 0 }, codec.ErrMissingField},
		{"zero-seq", false, func(h *record.Header) { h.Seq = 0 }, codec.ErrMissingField},
		{"zero-nonce", false, func(h *record.Header) { h.Nonce = [12]byte{} }, codec.ErrMissingField},
		{"zero-hash", false, func(h *record.Header) { h.CiphertextHash = [32]byte{} }, codec.ErrMissingField},
		{"negative-time", false, func(h *record.Header) { h.Time = -1 }, record.ErrInvalidHeader},
		{"patient/other-patient", false, func(h *record.Header) { h.Patient = a.patient2.ID() }, record.ErrAuthorMismatch},
		{"patient/epoch-0", false, func(h *record.Header) { h.Epoch = 0 }, codec.ErrMissingField},
		{"patient/no-contract", false, func(h *record.Header) { h.Contract = [32]byte{} }, codec.ErrMissingField},
		{"patient/no-key-tag", false, func(h *record.Header) { h.KeyTag = [record.KeyTagSize]byte{} }, codec.ErrMissingField},
		{"provider/key-tag", true, func(h *record.Header) { h.KeyTag = [record.KeyTagSize]byte{1} }, record.ErrInvalidHeader},
		{"provider/alert", true, func(h *record.Header) { h.Alert = true }, record.ErrInvalidHeader},
		{"provider/epoch", true, func(h *record.Header) { h.Epoch = 1 }, record.ErrInvalidHeader},
		{"provider/contract", true, func(h *record.Header) { h.Contract = testContract }, record.ErrInvalidHeader},
		{"provider/self-as-patient", true, func(h *record.Header) { h.Patient = h.Author }, record.ErrInvalidHeader},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, h, sk := gw, gh, psk
			if tt.provider {
				r, h, sk = pr, ph, vsk
			}
			tt.f(&h)
			bad := resign(t, r, h, sk)
			if _, err := bad.Verify(sk.Public()); !errors.Is(err, tt.err) {
				t.Fatalf("Verify: got %v, want %v", err, tt.err)
			}
			// Seal refuses to make such a header (it fills in Version,
			// Author, Nonce and the hash itself).
			switch tt.name {
			case "version-0", "version-1", "version-3", "zero-author", "zero-nonce", "zero-hash", "patient/no-key-tag", "provider/key-tag":
				return
			}
			if _, err := record.Seal(h, key, pl([]byte("x")), sk); !errors.Is(err, tt.err) {
				t.Fatalf("Seal: got %v, want %v", err, tt.err)
			}
		})
	}
}

func TestSeal(t *testing.T) {
	a := testActors(t, identity.SuiteX25519)
	key := testKey(t)
	h := gatewayHeader(a.patient.ID(), 1)
	h.CiphertextHash = [32]byte{1} // ignored
	h.Version = 9                  // ignored
	r1 := mustSeal(t, h, key, []byte("x"), a.patient.Signing)
	r2 := mustSeal(t, h, key, []byte("x"), a.patient.Signing)
	h1, h2 := mustHeader(t, r1), mustHeader(t, r2)
	if h1.Nonce == h2.Nonce || bytes.Equal(r1.Ciphertext, r2.Ciphertext) {
		t.Fatal("two seals share a nonce")
	}
	if h1.Version != record.Version || h1.Author != a.patient.ID() {
		t.Fatalf("Seal did not fill in the header: %+v", h1)
	}

	other := h
	other.Author = a.patient2.ID()
	tests := []struct {
		name string
		h    record.Header
		key  envelope.SessionKey
		p    record.Payload
		sk   *identity.SigningKey
		err  error
	}{
		{"nil-signing-key", h, key, pl([]byte("x")), nil, identity.ErrBadKey},
		{"device-author", h, key, pl([]byte("x")), a.device.Signing, identity.ErrWrongRole},
		{"zero-session-key", h, envelope.SessionKey{}, pl([]byte("x")), a.patient.Signing, envelope.ErrZeroKey},
		{"empty-body", h, key, pl(nil), a.patient.Signing, codec.ErrMissingField},
		{"body-too-large", h, key, pl(make([]byte, record.MaxBodySize+1)), a.patient.Signing, codec.ErrTooLarge},
		{"patient-record-of-no-vital-sign", h, key, record.Payload{Severity: 2, Body: []byte("x")}, a.patient.Signing, codec.ErrMissingField},
		{"unknown-kind", h, key, record.Payload{Kind: 200, Body: []byte("x")}, a.patient.Signing, vital.ErrUnknownKind},
		{"other-author", other, key, pl([]byte("x")), a.patient.Signing, record.ErrAuthorMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := record.Seal(tt.h, tt.key, tt.p, tt.sk)
			if !errors.Is(err, tt.err) {
				t.Fatalf("got %v, want %v", err, tt.err)
			}
			if r != nil {
				t.Fatal("record returned with an error")
			}
		})
	}

	// The largest body makes a record that ParseRecord accepts.
	big := mustSeal(t, h, key, make([]byte, record.MaxBodySize), a.patient.Signing)
	b, err := big.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := record.ParseRecord(b); err != nil {
		t.Fatalf("largest record (%d bytes): %v", len(b), err)
	}
}

func TestParseRecordErrors(t *testing.T) {
	a := testActors(t, identity.SuiteX25519)
	r := mustSeal(t, gatewayHeader(a.patient.ID(), 1), testKey(t), []byte("hello"), a.patient.Signing)
	good, err := r.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	pairs := recordPairs(r)
	if !bytes.Equal(rawMap(t, pairs...), good) {
		t.Fatal("rawMap of the fields is not the encoding")
	}
	tests := []struct {
		name string
		b    []byte
		err  error
	}{
		{"empty", nil, codec.ErrMalformed},
		{"truncated", good[:len(good)-1], codec.ErrTruncated},
		{"trailing", append(bytes.Clone(good), 0xf6), codec.ErrTrailingData},
		{"oversized", rawMap(t, replace(pairs, 2, make([]byte, record.MaxRecordSize))...), codec.ErrTooLarge},
		{"duplicate-key", rawMap(t, append(pairs, kv{3, r.Signature})...), codec.ErrDuplicateKey},
		{"unknown-field", rawMap(t, append(pairs, kv{4, 0})...), codec.ErrUnknownField},
		{"wrong-type", rawMap(t, replace(pairs, 1, "header")...), codec.ErrWrongType},
		{"absent-signature", rawMap(t, without(pairs, 3)...), codec.ErrNotCanonical},
		{"unsorted", rawMap(t, pairs[1], pairs[0], pairs[2]), codec.ErrNotCanonical},
		{"indefinite", append([]byte{0xbf}, append(good[1:], 0xff)...), codec.ErrIndefiniteLength},
		{"tagged", append([]byte{0xd8, 0x18}, good...), codec.ErrTagNotAllowed},
		{"array", mustMarshal(t, [][]byte{r.HeaderBytes, r.Ciphertext, r.Signature}), codec.ErrWrongType},
		{"empty-header", rawMap(t, replace(pairs, 1, []byte{})...), codec.ErrMissingField},
		{"header-too-large", rawMap(t, replace(pairs, 1, make([]byte, record.MaxHeaderSize+1))...), codec.ErrTooLarge},
		{"empty-ciphertext", rawMap(t, replace(pairs, 2, []byte{})...), codec.ErrMissingField},
		{"ciphertext-only-tag", rawMap(t, replace(pairs, 2, make([]byte, record.TagSize))...), codec.ErrMalformed},
		{"ciphertext-unpadded", rawMap(t, replace(pairs, 2, make([]byte, record.TagSize+record.PadSize-1))...), codec.ErrMalformed},
		{"ciphertext-past-padding", rawMap(t, replace(pairs, 2, make([]byte, record.TagSize+record.PadSize+1))...), codec.ErrMalformed},
		{"ciphertext-too-large", rawMap(t, replace(pairs, 2, make([]byte, record.MaxPlaintextSize+record.TagSize+1))...), codec.ErrTooLarge},
		{"short-signature", rawMap(t, replace(pairs, 3, r.Signature[:63])...), identity.ErrBadSignature},
		{"long-signature", rawMap(t, replace(pairs, 3, append(bytes.Clone(r.Signature), 0))...), identity.ErrBadSignature},
		{"header-not-a-map", rawMap(t, replace(pairs, 1, []byte{0x01})...), codec.ErrWrongType},
		{"header-truncated", rawMap(t, replace(pairs, 1, r.HeaderBytes[:100])...), codec.ErrTruncated},
		{"header-version-1", rawMap(t, replace(pairs, 1, rawMap(t, replace(headerPairs(mustHeader(t, r)), 1, 1)...))...), codec.ErrUnknownVersion},
		{"header-zero-seq", rawMap(t, replace(pairs, 1, rawMap(t, replace(headerPairs(mustHeader(t, r)), 9, 0)...))...), codec.ErrMissingField},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := record.ParseRecord(tt.b)
			if !errors.Is(err, tt.err) {
				t.Fatalf("got %v, want %v", err, tt.err)
			}
			if r != nil {
				t.Fatal("record returned with an error")
			}
		})
	}
}

// TestHeaderDecodeErrors puts malformed header bytes in an otherwise good
// record: Header, Verify and Open each refuse them with the codec's error.
func TestHeaderDecodeErrors(t *testing.T) {
	a := testActors(t, identity.SuiteX25519)
	key := testKey(t)
	r := mustSeal(t, gatewayHeader(a.patient.ID(), 1), key, []byte("hello"), a.patient.Signing)
	h := mustHeader(t, r)
	pairs := headerPairs(h)
	if !bytes.Equal(rawMap(t, pairs...), r.HeaderBytes) {
		t.Fatal("rawMap of the header is not its encoding")
	}
	nonShortest := append([]byte{r.HeaderBytes[0], 0x01, 0x18, 0x01}, r.HeaderBytes[3:]...)
	tests := []struct {
		name string
		hb   []byte
		err  error
	}{
		{"truncated", r.HeaderBytes[:len(r.HeaderBytes)-1], codec.ErrTruncated},
		{"trailing", append(bytes.Clone(r.HeaderBytes), 0), codec.ErrTrailingData},
		{"too-large", make([]byte, record.MaxHeaderSize+1), codec.ErrTooLarge},
		{"duplicate-key", rawMap(t, append(pairs, kv{7, false})...), codec.ErrDuplicateKey},
		{"unknown-field", rawMap(t, append(pairs, kv{12, 1})...), codec.ErrUnknownField},
		{"wrong-type-key-tag", rawMap(t, replace(pairs, 6, "glucose")...), codec.ErrWrongType},
		{"short-key-tag", rawMap(t, replace(pairs, 6, make([]byte, record.KeyTagSize-1))...), codec.ErrNotCanonical},
		{"alert-not-bool", rawMap(t, replace(pairs, 7, 1)...), codec.ErrWrongType},
		{"seq-negative", rawMap(t, replace(pairs, 9, -1)...), codec.ErrWrongType},
		{"absent-alert", rawMap(t, without(pairs, 7)...), codec.ErrNotCanonical},
		{"short-nonce", rawMap(t, replace(pairs, 10, make([]byte, 11))...), codec.ErrNotCanonical},
		{"long-hash", rawMap(t, replace(pairs, 11, make([]byte, 33))...), codec.ErrNotCanonical},
		{"non-shortest-int", nonShortest, codec.ErrNotCanonical},
		{"float-time", rawMap(t, replace(pairs, 8, 1.5)...), codec.ErrWrongType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bad := resign(t, r, record.Header{}, a.patient.Signing)
			bad.HeaderBytes = tt.hb
			bad.Signature = a.patient.Signing.SignContext(record.SignContext, tt.hb)
			if _, err := bad.Header(); !errors.Is(err, tt.err) {
				t.Fatalf("Header: got %v, want %v", err, tt.err)
			}
			if _, err := bad.Verify(a.patient.Signing.Public()); !errors.Is(err, tt.err) {
				t.Fatalf("Verify: got %v, want %v", err, tt.err)
			}
			if _, err := bad.Open(key); !errors.Is(err, tt.err) {
				t.Fatalf("Open: got %v, want %v", err, tt.err)
			}
		})
	}
}

func TestVerifyLookup(t *testing.T) {
	a := testActors(t, identity.SuiteX25519)
	r := mustSeal(t, gatewayHeader(a.patient.ID(), 1), testKey(t), []byte("hello"), a.patient.Signing)
	b, err := r.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	errUnknown := errors.New("not registered")
	registry := map[identity.ID]identity.VerifyingKey{a.patient.ID(): a.patient.Signing.Public()}
	lookup := func(id identity.ID) (identity.VerifyingKey, error) {
		if k, ok := registry[id]; ok {
			return k, nil
		}
		return identity.VerifyingKey{}, errUnknown
	}
	got, h, err := record.Verify(b, lookup)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID() != r.ID() || h.Seq != 1 {
		t.Fatal("wrong record")
	}
	delete(registry, a.patient.ID())
	if _, _, err := record.Verify(b, lookup); !errors.Is(err, errUnknown) {
		t.Fatalf("unknown author: got %v", err)
	}
	registry[a.patient.ID()] = a.patient2.Signing.Public()
	if _, _, err := record.Verify(b, lookup); !errors.Is(err, record.ErrAuthorMismatch) {
		t.Fatalf("wrong key: got %v", err)
	}
	if _, _, err := record.Verify(b[:10], lookup); !errors.Is(err, codec.ErrTruncated) {
		t.Fatalf("truncated: got %v", err)
	}
}

// TestHeaderSize checks MaxHeaderSize against the largest header there is.
func TestHeaderSize(t *testing.T) {
	var id identity.ID
	for i := range id {
		id[i] = 0xff
	}
	h := record.Header{
		Version: 255, Patient: id, Author: id, Epoch: 1<<64 - 1, Contract: id, KeyTag: [record.KeyTagSize]byte{1},
		Alert: true, Time: -1 << 63, Seq: 1<<64 - 1, Nonce: [12]byte{1}, CiphertextHash: id,
	}
	if n := len(mustMarshal(t, h)); n > record.MaxHeaderSize || n != 208 {
		t.Fatalf("largest header is %d bytes", n)
	}
}

// SealDeterministic gives the same record for the same inputs, and
// different nonces for different headers or plaintexts.
func TestSealDeterministic(t *testing.T) {
	patient, err := identity.Generate(identity.RolePatient, identity.SuiteX25519)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := envelope.NewSessionKey()
	h := record.Header{Patient: patient.ID(), Epoch: 1, Contract: [32]byte{1}, Alert: true, Time: 1_700_000_000_000, Seq: 9}
	seal := func(h record.Header, pt string) *record.Record {
		t.Helper()
		r, err := record.SealDeterministic(h, key, pl([]byte(pt)), patient.Signing)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	a, b := seal(h, "reading"), seal(h, "reading")
	ab, _ := a.Marshal()
	bb, _ := b.Marshal()
	if !bytes.Equal(ab, bb) {
		t.Fatal("two deterministic seals of the same reading differ")
	}
	h2 := h
	h2.Seq++
	nonce := func(r *record.Record) [record.NonceSize]byte {
		hd, err := r.Header()
		if err != nil {
			t.Fatal(err)
		}
		return hd.Nonce
	}
	if nonce(a) == nonce(seal(h, "other")) || nonce(a) == nonce(seal(h2, "reading")) {
		t.Fatal("a derived nonce repeats for another plaintext or header")
	}
	if _, err := a.Verify(patient.Signing.Public()); err != nil {
		t.Fatal(err)
	}
	pt, err := a.Open(key)
	if err != nil || string(pt.Body) != "reading" {
		t.Fatalf("open: %q, %v", pt.Body, err)
	}
	r, _ := record.Seal(h, key, pl([]byte("reading")), patient.Signing)
	if nonce(r) == nonce(a) {
		t.Fatal("Seal's nonce is not random")
	}
}
