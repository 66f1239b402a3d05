package contract

import (
	"bytes"
	"errors"
	"slices"
	"testing"

	"github.com/vitalchain/vitalchain/codec"
	"github.com/vitalchain/vitalchain/envelope"
	"github.com/vitalchain/vitalchain/identity"
)

func mustIdentity(t testing.TB, r identity.Role) *identity.Identity {
	t.Helper()
	id, err := identity.Generate(r, identity.SuiteX25519)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// sealParties returns a patient, two providers (ascending) and terms
// between them.
func sealParties(t *testing.T) (*identity.Identity, []*identity.Identity, Terms) {
	pat := mustIdentity(t, identity.RolePatient)
	ps := []*identity.Identity{mustIdentity(t, identity.RoleProvider), mustIdentity(t, identity.RoleProvider)}
	slices.SortFunc(ps, func(a, b *identity.Identity) int { x, y := a.ID(), b.ID(); return bytes.Compare(x[:], y[:]) })
	tm := testTerms()
	tm.Patient, tm.Providers = pat.ID(), []identity.ID{ps[0].ID(), ps[1].ID()}
	return pat, ps, tm
}

func pubs(ids []*identity.Identity) []identity.Public {
	out := make([]identity.Public, len(ids))
	for i, id := range ids {
		out[i] = id.Public()
	}
	return out
}

// Sealed terms open for every party, equal to what was sealed, and hold no
// byte of the terms in the clear.
func TestSealOpens(t *testing.T) {
	pat, ps, tm := sealParties(t)
	s, salt, err := Seal(pat, pubs(ps), tm)
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := tm.Commit(salt); c != s.Commitment {
		t.Fatal("the commitment is not Commit(salt)")
	}
	if len(s.Envelopes) != 3 {
		t.Fatalf("%d envelopes, want 3", len(s.Envelopes))
	}
	for _, party := range append([]*identity.Identity{pat}, ps...) {
		got, err := s.Open(party, pat.Signing.Public())
		if err != nil {
			t.Fatalf("%s: %v", party.Role(), err)
		}
		a, _ := codec.Marshal(&got)
		b, _ := codec.Marshal(&tm)
		if !bytes.Equal(a, b) {
			t.Fatalf("%s opened other terms", party.Role())
		}
	}
	enc, _ := codec.Marshal(s)
	for _, r := range tm.Rules {
		if bytes.Contains(enc, []byte(r.Expr)) {
			t.Fatalf("the sealed terms hold %q", r.Expr)
		}
	}
	if bytes.Contains(enc, []byte(tm.Name)) {
		t.Fatal("the sealed terms hold the name")
	}
	// The same terms sealed twice commit differently: the salt hides them.
	s2, _, err := Seal(pat, pubs(ps), tm)
	if err != nil {
		t.Fatal(err)
	}
	if s2.Commitment == s.Commitment {
		t.Fatal("two seals of the same terms have the same commitment")
	}
}

func TestSealRefuses(t *testing.T) {
	pat, ps, tm := sealParties(t)
	stranger := mustIdentity(t, identity.RoleProvider)
	if _, _, err := Seal(ps[0], pubs(ps), tm); !errors.Is(err, ErrNotAParty) {
		t.Errorf("sealed by another than the patient: %v", err)
	}
	if _, _, err := Seal(pat, pubs(ps[:1]), tm); err == nil {
		t.Error("sealed without a provider's keys")
	}
	bad := tm
	bad.Rules = nil
	if _, _, err := Seal(pat, pubs(ps), bad); !errors.Is(err, ErrRules) {
		t.Errorf("sealed invalid terms: %v", err)
	}

	good, _, err := Seal(pat, pubs(ps), tm)
	if err != nil {
		t.Fatal(err)
	}
	other, _, err := Seal(pat, pubs(ps), tm)
	if err != nil {
		t.Fatal(err)
	}
	with := func(f func(s *Sealed)) *Sealed {
		s := *good
		s.Envelopes = slices.Clone(good.Envelopes)
		s.Ciphertext = bytes.Clone(good.Ciphertext)
		f(&s)
		return &s
	}
	tests := []struct {
		name   string
		s      *Sealed
		as     *identity.Identity
		sender identity.VerifyingKey
		want   error
	}{
		{"a stranger", good, stranger, pat.Signing.Public(), ErrNotAParty},
		{"tampered ciphertext", with(func(s *Sealed) { s.Ciphertext[0] ^= 1 }), ps[0], pat.Signing.Public(), ErrSealed},
		{"another contract's ciphertext", with(func(s *Sealed) { s.Ciphertext = other.Ciphertext }), ps[0], pat.Signing.Public(), ErrSealed},
		{"another contract's envelopes", with(func(s *Sealed) { s.Envelopes = other.Envelopes }), ps[0], pat.Signing.Public(), envelope.ErrContextMismatch},
		{"another commitment", with(func(s *Sealed) { s.Commitment = other.Commitment }), ps[0], pat.Signing.Public(), envelope.ErrContextMismatch},
		{"another sender", good, ps[0], ps[1].Signing.Public(), envelope.ErrContextMismatch},
		{"an envelope that does not parse", with(func(s *Sealed) { s.Envelopes[0] = []byte{0xa0} }), ps[0], pat.Signing.Public(), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.s.Open(tc.as, tc.sender)
			if err == nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

// openTerms checks what a party decrypted against the commitment.
func TestOpenTermsChecksTheCommitment(t *testing.T) {
	tm := testTerms()
	salt := [SaltSize]byte{1}
	c, _ := tm.Commit(salt)
	pt, _ := codec.Marshal(&opening{Label: commitLabel, Salt: salt, Terms: tm})
	if _, err := openTerms(pt, c, tm.Patient); err != nil {
		t.Fatal(err)
	}
	otherName := tm
	otherName.Name = "other"
	ptOther, _ := codec.Marshal(&opening{Label: commitLabel, Salt: salt, Terms: otherName})
	ptLabel, _ := codec.Marshal(&opening{Label: "x", Salt: salt, Terms: tm})
	tests := []struct {
		name    string
		pt      []byte
		c       [32]byte
		patient identity.ID
		want    error
	}{
		{"other terms under the commitment", ptOther, c, tm.Patient, ErrCommitment},
		{"another salt", pt, func() [32]byte { c, _ := tm.Commit([SaltSize]byte{2}); return c }(), tm.Patient, ErrCommitment},
		{"terms of another patient", pt, c, testID(0x55), ErrCommitment},
		{"another label", ptLabel, c, tm.Patient, ErrSealed},
		{"not CBOR", []byte{0xff}, c, tm.Patient, ErrSealed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := openTerms(tc.pt, tc.c, tc.patient); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

// FuzzOpenTerms decodes arbitrary decrypted bytes (a patient may seal
// anything). Invariants: no panic; terms returned are valid and open the
// commitment.
func FuzzOpenTerms(f *testing.F) {
	tm := testTerms()
	salt := [SaltSize]byte{1}
	c, _ := tm.Commit(salt)
	pt, _ := codec.Marshal(&opening{Label: commitLabel, Salt: salt, Terms: tm})
	f.Add(pt)
	f.Add([]byte{0xa0})
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := openTerms(b, c, tm.Patient)
		if err != nil {
			return
		}
		if err := got.Validate(); err != nil {
			t.Fatalf("returned invalid terms: %v", err)
		}
		var o opening
		if codec.UnmarshalLimit(b, MaxSealedSize, &o) != nil {
			t.Fatal("returned terms from bytes that do not decode")
		}
		if gc, _ := got.Commit(o.Salt); gc != c {
			t.Fatal("returned terms that do not open the commitment")
		}
	})
}
