package envelope_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/vitalchain/vitalchain/codec"
	"github.com/vitalchain/vitalchain/envelope"
	"github.com/vitalchain/vitalchain/identity"
)

// tx is one transaction's envelope as made by its sender, with what the
// recipient expects and its key.
type tx struct {
	name string
	env  *envelope.Envelope
	want envelope.Context
	dk   *identity.DecryptionKey
	from identity.VerifyingKey // the sender's key
}

func transactions(t *testing.T, s identity.Suite, key envelope.SessionKey) []tx {
	t.Helper()
	a := testActors(t, s)
	pat, prov := a.patient.ID(), a.provider.ID()
	e1, err := envelope.SelfEnvelope(a.patient, 3, key)
	if err != nil {
		t.Fatal(err)
	}
	e2, err := envelope.GrantEnvelope(a.patient, a.provider.Public(), 3, key)
	if err != nil {
		t.Fatal(err)
	}
	e3, err := envelope.ProviderRecordEnvelope(a.provider, a.patient.Public(), recordID(7), key)
	if err != nil {
		t.Fatal(err)
	}
	return []tx{
		{"tx1-self", e1, envelope.SelfContext(pat, 3, s), a.patient.Decryption, a.patient.Signing.Public()},
		{"tx2-grant", e2, envelope.GrantContext(pat, prov, 3, s), a.provider.Decryption, a.patient.Signing.Public()},
		{"tx3-provider-record", e3, envelope.ProviderRecordContext(pat, prov, recordID(7), s), a.patient.Decryption, a.provider.Signing.Public()},
	}
}

func TestTransactionsRoundTrip(t *testing.T) {
	for _, s := range suites {
		key := testKey(t)
		for _, x := range transactions(t, s, key) {
			t.Run(name(s, x.name), func(t *testing.T) {
				if x.env.Context != x.want {
					t.Fatalf("context %+v, want %+v", x.env.Context, x.want)
				}
				b := mustMarshalEnvelope(t, x.env)
				if len(b) > envelope.MaxSize {
					t.Fatalf("envelope of %d bytes over MaxSize", len(b))
				}
				e, err := envelope.ParseEnvelope(b)
				if err != nil {
					t.Fatal(err)
				}
				if !e.Equal(x.env) {
					t.Fatal("parsed envelope differs")
				}
				sameBytes(t, "re-encoding", mustMarshalEnvelope(t, e), b)
				if err := e.Check(x.want); err != nil {
					t.Fatal(err)
				}
				got, err := e.Unwrap(x.want, x.dk, x.from)
				if err != nil {
					t.Fatal(err)
				}
				if got != key {
					t.Fatal("unwrapped another key")
				}
			})
		}
	}
}

func TestCiphertextSize(t *testing.T) {
	// The sizes the package documents (and ParseEnvelope enforces).
	for s, n := range map[identity.Suite]int{identity.SuiteX25519: 80, identity.SuiteMLKEM768X25519: 1168} {
		e, err := envelope.SelfEnvelope(testActors(t, s).patient, 1, testKey(t))
		if err != nil {
			t.Fatal(err)
		}
		if len(e.Ciphertext) != n {
			t.Errorf("%s: ciphertext of %d bytes, want %d", s, len(e.Ciphertext), n)
		}
	}
}

// TestReplay moves each transaction's envelope into another context: the
// recipient, stating the context it expects, gets ErrContextMismatch naming
// the field (and ErrWrongSuite for the suite), before any decryption.
func TestReplay(t *testing.T) {
	for _, s := range suites {
		other := identity.SuiteX25519
		if s == other {
			other = identity.SuiteMLKEM768X25519
		}
		a := testActors(t, s)
		pat, pat2, prov, prov2 := a.patient.ID(), a.patient2.ID(), a.provider.ID(), a.provider2.ID()
		txs := transactions(t, s, testKey(t))
		self, grant, prec := txs[0], txs[1], txs[2]
		tests := []struct {
			name  string
			x     tx
			want  envelope.Context
			dk    *identity.DecryptionKey
			field string
			err   error
		}{
			{"self/other-epoch", self, envelope.SelfContext(pat, 4, s), a.patient.Decryption, "epoch", nil},
			{"self/other-patient", self, envelope.SelfContext(pat2, 3, s), a.patient2.Decryption, "patient", nil},
			{"self/other-kind", self, envelope.ProviderRecordContext(pat, prov, recordID(7), s), a.patient.Decryption, "kind", nil},
			{"self/other-suite", self, envelope.SelfContext(pat, 3, other), a.patient.Decryption, "suite", envelope.ErrWrongSuite},
			{"grant/other-epoch", grant, envelope.GrantContext(pat, prov, 2, s), a.provider.Decryption, "epoch", nil},
			{"grant/other-patient", grant, envelope.GrantContext(pat2, prov, 3, s), a.provider.Decryption, "patient", nil},
			{"grant/other-recipient", grant, envelope.GrantContext(pat, prov2, 3, s), a.provider2.Decryption, "recipient", nil},
			{"grant/other-kind", grant, envelope.SelfContext(pat, 3, s), a.patient.Decryption, "kind", nil},
			{"grant/other-suite", grant, envelope.GrantContext(pat, prov, 3, other), a.provider.Decryption, "suite", envelope.ErrWrongSuite},
			{"provider-record/other-record", prec, envelope.ProviderRecordContext(pat, prov, recordID(8), s), a.patient.Decryption, "subject", nil},
			{"provider-record/other-sender", prec, envelope.ProviderRecordContext(pat, prov2, recordID(7), s), a.patient.Decryption, "sender", nil},
			{"provider-record/other-patient", prec, envelope.ProviderRecordContext(pat2, prov, recordID(7), s), a.patient2.Decryption, "patient", nil},
			{"provider-record/other-kind", prec, envelope.SelfContext(pat, 3, s), a.patient.Decryption, "kind", nil},
		}
		for _, tt := range tests {
			t.Run(name(s, tt.name), func(t *testing.T) {
				_, err := tt.x.env.Unwrap(tt.want, tt.dk, tt.x.from)
				if !errors.Is(err, envelope.ErrContextMismatch) {
					t.Fatalf("got %v, want ErrContextMismatch", err)
				}
				if tt.err != nil && !errors.Is(err, tt.err) {
					t.Fatalf("got %v, want %v", err, tt.err)
				}
				if !strings.Contains(err.Error(), tt.field+" is") {
					t.Fatalf("error %q does not name the field %s", err, tt.field)
				}
				if err := tt.x.env.Check(tt.want); !errors.Is(err, envelope.ErrContextMismatch) {
					t.Fatalf("Check: got %v, want ErrContextMismatch", err)
				}
			})
		}
	}
}

// TestForgedContext rewrites an envelope's declared context to match what
// the recipient expects: its sender's signature no longer verifies
// (ErrSender); and if the sender itself signs the rewritten context, the
// HPKE info no longer matches (ErrDecrypt).
func TestForgedContext(t *testing.T) {
	for _, s := range suites {
		a := testActors(t, s)
		pat, pat2, prov, prov2 := a.patient.ID(), a.patient2.ID(), a.provider.ID(), a.provider2.ID()
		txs := transactions(t, s, testKey(t))
		self, grant, prec := txs[0], txs[1], txs[2]
		tests := []struct {
			name string
			x    tx
			to   envelope.Context
		}{
			{"self/epoch", self, envelope.SelfContext(pat, 4, s)},
			{"self/patient", self, envelope.SelfContext(pat2, 3, s)},
			{"self/kind", self, envelope.ProviderRecordContext(pat, prov, recordID(7), s)},
			{"grant/epoch", grant, envelope.GrantContext(pat, prov, 9, s)},
			{"grant/patient", grant, envelope.GrantContext(pat2, prov, 3, s)},
			{"grant/recipient", grant, envelope.GrantContext(pat, prov2, 3, s)},
			{"provider-record/subject", prec, envelope.ProviderRecordContext(pat, prov, recordID(8), s)},
			{"provider-record/sender", prec, envelope.ProviderRecordContext(pat, prov2, recordID(7), s)},
			{"provider-record/kind", prec, envelope.SelfContext(pat, 3, s)},
		}
		for _, tt := range tests {
			t.Run(name(s, tt.name), func(t *testing.T) {
				forged := *tt.x.env
				forged.Context = tt.to
				// Through the wire too: the forgery is well formed.
				e, err := envelope.ParseEnvelope(mustMarshalEnvelope(t, &forged))
				if err != nil {
					t.Fatal(err)
				}
				if _, err := e.Unwrap(tt.to, tt.x.dk, tt.x.from); !errors.Is(err, envelope.ErrSender) {
					t.Fatalf("got %v, want ErrSender", err)
				}
				if tt.to.Sender != tt.x.env.Sender {
					return // a sender can sign only as itself
				}
				resign(t, e, senderOf(t, s, tt.x))
				if _, err := e.Unwrap(tt.to, tt.x.dk, tt.x.from); !errors.Is(err, envelope.ErrDecrypt) {
					t.Fatalf("signed by its sender: got %v, want ErrDecrypt", err)
				}
			})
		}
	}
}

func TestTampered(t *testing.T) {
	for _, s := range suites {
		for _, x := range transactions(t, s, testKey(t)) {
			n := len(x.env.Ciphertext)
			for _, tt := range []struct {
				name   string
				mutate func([]byte) []byte
			}{
				{"enc", func(b []byte) []byte { b[0] ^= 1; return b }},
				{"sealed-key", func(b []byte) []byte { b[n-20] ^= 0x80; return b }},
				{"tag", func(b []byte) []byte { b[n-1] ^= 1; return b }},
				{"truncated", func(b []byte) []byte { return b[:n-1] }},
				{"extended", func(b []byte) []byte { return append(b, 0) }},
				{"empty", func([]byte) []byte { return nil }},
			} {
				t.Run(name(s, x.name, "/", tt.name), func(t *testing.T) {
					e := *x.env
					e.Ciphertext = tt.mutate(append([]byte(nil), x.env.Ciphertext...))
					if _, err := e.Unwrap(x.want, x.dk, x.from); !errors.Is(err, envelope.ErrSender) {
						t.Fatalf("got %v, want ErrSender", err)
					}
					resign(t, &e, senderOf(t, s, x))
					if _, err := e.Unwrap(x.want, x.dk, x.from); !errors.Is(err, envelope.ErrDecrypt) {
						t.Fatalf("signed by its sender: got %v, want ErrDecrypt", err)
					}
				})
			}
		}
	}
}

func TestWrongKey(t *testing.T) {
	for _, s := range suites {
		a := testActors(t, s)
		txs := transactions(t, s, testKey(t))
		// Each recipient's twin, of the same role and suite, claims to be
		// the recipient.
		for i, dk := range []*identity.DecryptionKey{a.patient2.Decryption, a.provider2.Decryption, a.patient2.Decryption} {
			x := txs[i]
			t.Run(name(s, x.name), func(t *testing.T) {
				if _, err := x.env.Unwrap(x.want, dk, x.from); !errors.Is(err, envelope.ErrDecrypt) {
					t.Fatalf("got %v, want ErrDecrypt", err)
				}
			})
		}
	}
}

func TestWrongRole(t *testing.T) {
	for _, s := range suites {
		a := testActors(t, s)
		key := testKey(t)
		pat, prov := a.patient.ID(), a.provider.ID()
		device := mustGenerate(identity.RoleDevice, s)
		tests := []struct {
			name string
			do   func() error
		}{
			{"wrap-grant-to-patient", func() error {
				_, err := envelope.Wrap(envelope.GrantContext(pat, a.patient2.ID(), 1, s), key, a.patient2.Decryption.Public())
				return err
			}},
			{"wrap-self-to-provider", func() error {
				_, err := envelope.Wrap(envelope.SelfContext(pat, 1, s), key, a.provider.Decryption.Public())
				return err
			}},
			{"wrap-provider-record-to-provider", func() error {
				_, err := envelope.Wrap(envelope.ProviderRecordContext(pat, prov, recordID(1), s), key, a.provider2.Decryption.Public())
				return err
			}},
			{"self-by-provider", func() error {
				_, err := envelope.SelfEnvelope(a.provider, 1, key)
				return err
			}},
			{"grant-by-provider", func() error {
				_, err := envelope.GrantEnvelope(a.provider, a.provider2.Public(), 1, key)
				return err
			}},
			{"grant-to-patient", func() error {
				_, err := envelope.GrantEnvelope(a.patient, a.patient2.Public(), 1, key)
				return err
			}},
			{"grant-to-device", func() error {
				_, err := envelope.GrantEnvelope(a.patient, device.Public(), 1, key)
				return err
			}},
			{"provider-record-by-patient", func() error {
				_, err := envelope.ProviderRecordEnvelope(a.patient2, a.patient.Public(), recordID(1), key)
				return err
			}},
			{"provider-record-to-provider", func() error {
				_, err := envelope.ProviderRecordEnvelope(a.provider, a.provider2.Public(), recordID(1), key)
				return err
			}},
			{"unwrap-self-with-provider-key", func() error {
				e, err := envelope.SelfEnvelope(a.patient, 1, key)
				if err != nil {
					return err
				}
				_, err = e.Unwrap(envelope.SelfContext(pat, 1, s), a.provider.Decryption, a.patient.Signing.Public())
				return err
			}},
			{"unwrap-grant-with-patient-key", func() error {
				e, err := envelope.GrantEnvelope(a.patient, a.provider.Public(), 1, key)
				if err != nil {
					return err
				}
				_, err = e.Unwrap(envelope.GrantContext(pat, prov, 1, s), a.patient.Decryption, a.patient.Signing.Public())
				return err
			}},
		}
		for _, tt := range tests {
			t.Run(name(s, tt.name), func(t *testing.T) {
				if err := tt.do(); !errors.Is(err, identity.ErrWrongRole) {
					t.Fatalf("got %v, want identity.ErrWrongRole", err)
				}
			})
		}
	}
}

func TestWrongSuite(t *testing.T) {
	x, h := testActors(t, identity.SuiteX25519), testActors(t, identity.SuiteMLKEM768X25519)
	key := testKey(t)
	pat := x.patient.ID()
	// A context of one suite, a key of the other.
	if _, err := envelope.Wrap(envelope.SelfContext(pat, 1, identity.SuiteX25519), key, h.patient.Decryption.Public()); !errors.Is(err, envelope.ErrWrongSuite) {
		t.Fatalf("wrap: got %v, want ErrWrongSuite", err)
	}
	e, err := envelope.SelfEnvelope(x.patient, 1, key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Unwrap(envelope.SelfContext(pat, 1, identity.SuiteX25519), h.patient.Decryption, x.patient.Signing.Public()); !errors.Is(err, envelope.ErrWrongSuite) {
		t.Fatalf("unwrap: got %v, want ErrWrongSuite", err)
	}
	if errors.Is(err, envelope.ErrContextMismatch) {
		t.Fatal("a key of the wrong suite is not a context mismatch")
	}
	// The declared suite rewritten: refused before HPKE sees it.
	forged := *e
	forged.Suite = identity.SuiteMLKEM768X25519
	if _, err := forged.Unwrap(forged.Context, x.patient.Decryption, x.patient.Signing.Public()); !errors.Is(err, envelope.ErrWrongSuite) {
		t.Fatalf("forged suite: got %v, want ErrWrongSuite", err)
	}
}

func TestZeroKey(t *testing.T) {
	a := testActors(t, identity.SuiteX25519)
	if _, err := envelope.SelfEnvelope(a.patient, 1, envelope.SessionKey{}); !errors.Is(err, envelope.ErrZeroKey) {
		t.Fatalf("got %v, want ErrZeroKey", err)
	}
}

func TestMissingKeys(t *testing.T) {
	a := testActors(t, identity.SuiteX25519)
	key := testKey(t)
	ctx := envelope.SelfContext(a.patient.ID(), 1, identity.SuiteX25519)
	if _, err := envelope.Wrap(ctx, key, identity.EncryptionKey{}); !errors.Is(err, identity.ErrBadKey) {
		t.Fatalf("wrap to zero key: got %v, want identity.ErrBadKey", err)
	}
	e, err := envelope.Wrap(ctx, key, a.patient.Decryption.Public())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Unwrap(ctx, nil, a.patient.Signing.Public()); !errors.Is(err, identity.ErrBadKey) {
		t.Fatalf("unwrap with nil key: got %v, want identity.ErrBadKey", err)
	}
	if _, err := envelope.SelfEnvelope(nil, 1, key); !errors.Is(err, identity.ErrBadKey) {
		t.Fatalf("nil identity: got %v, want identity.ErrBadKey", err)
	}
	noDecrypt := &identity.Identity{Signing: a.patient.Signing}
	if _, err := envelope.SelfEnvelope(noDecrypt, 1, key); !errors.Is(err, identity.ErrBadKey) {
		t.Fatalf("no decryption key: got %v, want identity.ErrBadKey", err)
	}
	pub := a.provider.Public()
	pub.Encryption = identity.EncryptionKey{}
	if _, err := envelope.GrantEnvelope(a.patient, pub, 1, key); !errors.Is(err, identity.ErrBadKey) {
		t.Fatalf("no encryption key: got %v, want identity.ErrBadKey", err)
	}
}

func TestContextValidate(t *testing.T) {
	var (
		p, q = identity.ID{1}, identity.ID{2}
		s    = identity.SuiteX25519
		rid  = recordID(1)
	)
	with := func(c envelope.Context, f func(*envelope.Context)) envelope.Context { f(&c); return c }
	self, grant, prec := envelope.SelfContext(p, 1, s), envelope.GrantContext(p, q, 1, s), envelope.ProviderRecordContext(p, q, rid, s)
	ctr := envelope.ContractContext(p, q, rid, s)
	tests := []struct {
		name string
		c    envelope.Context
		err  error
	}{
		{"self", self, nil},
		{"grant", grant, nil},
		{"provider-record", prec, nil},
		{"kind-0", with(self, func(c *envelope.Context) { c.Kind = 0 }), envelope.ErrUnknownKind},
		{"contract", ctr, nil},
		{"contract-to-patient", envelope.ContractContext(p, p, rid, s), nil},
		{"contract-no-subject", with(ctr, func(c *envelope.Context) { c.Subject = [32]byte{} }), codec.ErrMissingField},
		{"contract-epoch", with(ctr, func(c *envelope.Context) { c.Epoch = 1 }), envelope.ErrInvalidContext},
		{"contract-by-other", with(ctr, func(c *envelope.Context) { c.Sender = q }), envelope.ErrInvalidContext},
		{"kind-5", with(self, func(c *envelope.Context) { c.Kind = 5 }), envelope.ErrUnknownKind},
		{"suite-0", with(self, func(c *envelope.Context) { c.Suite = 0 }), identity.ErrUnknownSuite},
		{"suite-p256", with(self, func(c *envelope.Context) { c.Suite = 0x10 }), identity.ErrUnknownSuite},
		{"no-patient", with(grant, func(c *envelope.Context) { c.Patient = identity.ID{} }), codec.ErrMissingField},
		{"no-sender", with(prec, func(c *envelope.Context) { c.Sender = identity.ID{} }), codec.ErrMissingField},
		{"no-recipient", with(grant, func(c *envelope.Context) { c.Recipient = identity.ID{} }), codec.ErrMissingField},
		{"self-epoch-0", with(self, func(c *envelope.Context) { c.Epoch = 0 }), codec.ErrMissingField},
		{"grant-epoch-0", with(grant, func(c *envelope.Context) { c.Epoch = 0 }), codec.ErrMissingField},
		{"provider-record-no-subject", with(prec, func(c *envelope.Context) { c.Subject = [32]byte{} }), codec.ErrMissingField},
		{"self-subject", with(self, func(c *envelope.Context) { c.Subject = rid }), envelope.ErrInvalidContext},
		{"self-to-other", with(self, func(c *envelope.Context) { c.Recipient = q }), envelope.ErrInvalidContext},
		{"self-by-other", with(self, func(c *envelope.Context) { c.Sender = q }), envelope.ErrInvalidContext},
		{"grant-to-patient", with(grant, func(c *envelope.Context) { c.Recipient = p }), envelope.ErrInvalidContext},
		{"grant-by-other", with(grant, func(c *envelope.Context) { c.Sender = q }), envelope.ErrInvalidContext},
		{"grant-subject", with(grant, func(c *envelope.Context) { c.Subject = rid }), envelope.ErrInvalidContext},
		{"provider-record-epoch", with(prec, func(c *envelope.Context) { c.Epoch = 1 }), envelope.ErrInvalidContext},
		{"provider-record-to-other", with(prec, func(c *envelope.Context) { c.Recipient = q }), envelope.ErrInvalidContext},
		{"provider-record-by-patient", with(prec, func(c *envelope.Context) { c.Sender = p }), envelope.ErrInvalidContext},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.c.Validate()
			if tt.err == nil && err != nil || !errors.Is(err, tt.err) {
				t.Fatalf("got %v, want %v", err, tt.err)
			}
		})
	}
}

func TestParseEnvelopeErrors(t *testing.T) {
	a := testActors(t, identity.SuiteX25519)
	e, err := envelope.GrantEnvelope(a.patient, a.provider.Public(), 1, testKey(t))
	if err != nil {
		t.Fatal(err)
	}
	good := mustMarshalEnvelope(t, e)
	pairs := envelopePairs(e)
	sameBytes(t, "rawMap of the fields", rawMap(t, pairs...), good)

	long := append([]byte(nil), e.Ciphertext...)
	long = append(long, make([]byte, envelope.MaxSize)...)
	swapped := append([]kv(nil), pairs...)
	swapped[1], swapped[2] = swapped[2], swapped[1]
	nonShortest := append([]byte(nil), good...)
	// Key 1, version 1 as 0x18 0x01 (a one-byte argument that fits in the head).
	nonShortest = append([]byte{nonShortest[0], 0x01, 0x18, 0x01}, nonShortest[3:]...)

	tests := []struct {
		name string
		b    []byte
		err  error
	}{
		{"empty", nil, codec.ErrMalformed},
		{"truncated", good[:len(good)-10], codec.ErrTruncated},
		{"trailing", append(append([]byte(nil), good...), 0), codec.ErrTrailingData},
		{"oversized", rawMap(t, replace(pairs, 9, long)...), codec.ErrTooLarge},
		{"duplicate-key", rawMap(t, append(pairs, kv{9, e.Ciphertext})...), codec.ErrDuplicateKey},
		{"unknown-field", rawMap(t, append(pairs, kv{11, 1})...), codec.ErrUnknownField},
		{"wrong-type-epoch", rawMap(t, replace(pairs, 4, "one")...), codec.ErrWrongType},
		{"wrong-type-ciphertext", rawMap(t, replace(pairs, 9, 7)...), codec.ErrWrongType},
		{"negative-epoch", rawMap(t, replace(pairs, 4, -1)...), codec.ErrWrongType},
		{"unsorted-keys", rawMap(t, swapped...), codec.ErrNotCanonical},
		{"non-shortest-int", nonShortest, codec.ErrNotCanonical},
		{"short-id", rawMap(t, replace(pairs, 3, make([]byte, 31))...), codec.ErrNotCanonical},
		{"indefinite-length", append([]byte{0xbf}, append(good[1:], 0xff)...), codec.ErrIndefiniteLength},
		{"tagged", append([]byte{0xd8, 0x18}, good...), codec.ErrTagNotAllowed},
		{"not-a-map", mustMarshal(t, []int{1, 2}), codec.ErrWrongType},
		{"version-0", rawMap(t, replace(pairs, 1, 0)...), codec.ErrUnknownVersion},
		{"version-1", rawMap(t, replace(pairs, 1, 1)...), codec.ErrUnknownVersion},
		// Every key is always present, even when zero: an absent one is
		// not the canonical encoding.
		{"absent-version", rawMap(t, without(pairs, 1)...), codec.ErrNotCanonical},
		{"absent-ciphertext", rawMap(t, without(pairs, 9)...), codec.ErrNotCanonical},
		{"kind-9", rawMap(t, replace(pairs, 2, 9)...), envelope.ErrUnknownKind},
		{"suite-unknown", rawMap(t, replace(pairs, 8, 0x12)...), identity.ErrUnknownSuite},
		{"zero-patient", rawMap(t, replace(pairs, 3, identity.ID{})...), codec.ErrMissingField},
		{"zero-epoch", rawMap(t, replace(pairs, 4, 0)...), codec.ErrMissingField},
		{"grant-to-self", rawMap(t, replace(pairs, 7, e.Patient)...), envelope.ErrInvalidContext},
		{"ciphertext-short", rawMap(t, replace(pairs, 9, e.Ciphertext[:79])...), codec.ErrMalformed},
		{"ciphertext-of-other-suite", rawMap(t, replace(pairs, 8, identity.SuiteMLKEM768X25519)...), codec.ErrMalformed},
		{"empty-ciphertext", rawMap(t, replace(pairs, 9, []byte{})...), codec.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := envelope.ParseEnvelope(tt.b)
			if !errors.Is(err, tt.err) {
				t.Fatalf("got %v, want %v", err, tt.err)
			}
			if e != nil {
				t.Fatal("envelope returned with an error")
			}
		})
	}
}

func TestSessionKeyNotPrinted(t *testing.T) {
	k := testKey(t)
	hex := fmt.Sprintf("%x", k[:])
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%q"} {
		if out := fmt.Sprintf(verb, k); strings.Contains(strings.ToLower(out), hex[:16]) {
			t.Errorf("%s prints the key: %s", verb, out)
		}
	}
	if testKey(t) == k {
		t.Error("two session keys are equal")
	}
}

func TestKind(t *testing.T) {
	tests := []struct {
		k         envelope.Kind
		name      string
		sender    identity.Role
		recipient identity.Role
	}{
		{envelope.KindSelf, "self", identity.RolePatient, identity.RolePatient},
		{envelope.KindGrant, "grant", identity.RolePatient, identity.RoleProvider},
		{envelope.KindProviderRecord, "provider-record", identity.RoleProvider, identity.RolePatient},
		{envelope.KindContract, "contract", identity.RolePatient, identity.RolePatient},
	}
	for _, tt := range tests {
		if tt.k.String() != tt.name || tt.k.SenderRole() != tt.sender || tt.k.RecipientRole() != tt.recipient || !tt.k.Valid() {
			t.Errorf("kind %d: %s, sender %s, recipient %s", tt.k, tt.k, tt.k.SenderRole(), tt.k.RecipientRole())
		}
	}
	if envelope.Kind(0).Valid() || envelope.Kind(5).Valid() || envelope.Kind(5).String() != "kind(5)" {
		t.Error("kinds 0 and 5 are not kinds")
	}
	if !envelope.KindContract.RecipientRoleOK(identity.RoleProvider) || envelope.KindContract.RecipientRoleOK(identity.RoleCloud) ||
		envelope.KindGrant.RecipientRoleOK(identity.RolePatient) {
		t.Error("RecipientRoleOK: a contract's key goes to its patient or a provider, a grant's to a provider only")
	}
}

// senderOf returns the identity that sent x.
func senderOf(t *testing.T, s identity.Suite, x tx) *identity.Identity {
	t.Helper()
	a := testActors(t, s)
	for _, id := range []*identity.Identity{a.patient, a.patient2, a.provider, a.provider2} {
		if id.ID() == x.env.Sender {
			return id
		}
	}
	t.Fatalf("no actor sent %s", x.name)
	return nil
}

// resign signs e again as sender, whatever it holds.
func resign(t *testing.T, e *envelope.Envelope, sender *identity.Identity) {
	t.Helper()
	if err := e.Sign(sender.Signing); err != nil {
		t.Fatal(err)
	}
}

// An envelope is signed by the sender it names: anyone can wrap a key to
// a recipient's public key, but a key wrapped by anyone else, or signed by
// another, is refused; and an unsigned envelope does not even parse.
func TestSenderSignature(t *testing.T) {
	for _, s := range suites {
		a := testActors(t, s)
		key := testKey(t)
		x := transactions(t, s, key)[0]
		// An attacker wraps a key of its choosing to the patient.
		evil, err := envelope.Wrap(x.want, testKey(t), a.patient.Decryption.Public())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := evil.Unwrap(x.want, x.dk, x.from); !errors.Is(err, envelope.ErrSender) {
			t.Fatalf("%s: an unsigned envelope: %v, want ErrSender", s, err)
		}
		if err := evil.Sign(a.patient2.Signing); !errors.Is(err, envelope.ErrSender) {
			t.Fatalf("%s: signing as another sender: %v", s, err)
		}
		if _, err := envelope.ParseEnvelope(mustMarshalEnvelope(t, evil)); !errors.Is(err, envelope.ErrSender) {
			t.Fatalf("%s: parsing an unsigned envelope: %v", s, err)
		}
		// Signed by its sender, but checked against another's key.
		if _, err := x.env.Unwrap(x.want, x.dk, a.patient2.Signing.Public()); !errors.Is(err, envelope.ErrSender) {
			t.Fatalf("%s: checked against another key: %v", s, err)
		}
	}
}

// A contract's terms key opens for the patient and for the provider it is
// wrapped to, and for nobody else or in another contract.
func TestContractEnvelope(t *testing.T) {
	for _, s := range suites {
		a := testActors(t, s)
		key, _ := envelope.NewSessionKey()
		c := recordID(7)
		for _, to := range []*identity.Identity{a.patient, a.provider} {
			e, err := envelope.ContractEnvelope(a.patient, to.Public(), c, key)
			if err != nil {
				t.Fatal(err)
			}
			want := envelope.ContractContext(a.patient.ID(), to.ID(), c, to.Decryption.Suite())
			got, err := e.Unwrap(want, to.Decryption, a.patient.Signing.Public())
			if err != nil || got != key {
				t.Fatalf("%s: unwrap: %v", to.Role(), err)
			}
			other := want
			other.Subject = recordID(8)
			if _, err := e.Unwrap(other, to.Decryption, a.patient.Signing.Public()); !errors.Is(err, envelope.ErrContextMismatch) {
				t.Fatalf("%s: another contract: got %v, want ErrContextMismatch", to.Role(), err)
			}
		}
		e, _ := envelope.ContractEnvelope(a.patient, a.provider.Public(), c, key)
		want := envelope.ContractContext(a.patient.ID(), a.provider.ID(), c, s)
		if _, err := e.Unwrap(want, a.provider2.Decryption, a.patient.Signing.Public()); !errors.Is(err, envelope.ErrDecrypt) {
			t.Fatalf("another provider's key: got %v, want ErrDecrypt", err)
		}
		if _, err := envelope.ContractEnvelope(a.provider, a.patient.Public(), c, key); !errors.Is(err, identity.ErrWrongRole) {
			t.Fatalf("sent by a provider: got %v, want identity.ErrWrongRole", err)
		}
	}
}
