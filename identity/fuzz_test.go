package identity_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/vitalchain/vitalchain/identity"
)

// FuzzParseVerifyingKey checks that ParseVerifyingKey never panics and that
// a key it accepts has exactly the text it was read from.
func FuzzParseVerifyingKey(f *testing.F) {
	k := mustSigningKey(f, identity.RoleDevice)
	for _, s := range []string{
		k.Public().String(), k.String(), "", ":", "vc-device-ed25519-pub:",
		"vc-device-ed25519-pub:AAAA", "vc----:", "vc-patient-x25519-pub:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := identity.ParseVerifyingKey(s)
		if err != nil {
			return
		}
		if got := v.String(); got != strings.TrimSpace(s) {
			t.Fatalf("ParseVerifyingKey(%q).String() = %q", s, got)
		}
		if !v.Role().Valid() || len(v.Bytes()) != 32 {
			t.Fatalf("accepted a key of role %s and %d bytes", v.Role(), len(v.Bytes()))
		}
	})
}

// FuzzParseEncryptionKey checks that ParseEncryptionKey never panics and
// that a key it accepts has exactly the text it was read from.
func FuzzParseEncryptionKey(f *testing.F) {
	for _, suite := range suites {
		dk := mustDecryptionKey(f, identity.RolePatient, suite)
		f.Add(dk.Public().String())
		f.Add(dk.String())
	}
	f.Add("vc-patient-mlkem768x25519-pub:")
	f.Add("vc-patient-x25519-pub:AAAA")
	f.Fuzz(func(t *testing.T, s string) {
		k, err := identity.ParseEncryptionKey(s)
		if err != nil {
			return
		}
		if got := k.String(); got != strings.TrimSpace(s) {
			t.Fatalf("ParseEncryptionKey(%q).String() = %q", s, got)
		}
		if k.IsZero() || !k.Role().Valid() || !k.Suite().Valid() {
			t.Fatalf("accepted an invalid key: %s %s zero=%v", k.Role(), k.Suite(), k.IsZero())
		}
	})
}

// FuzzParse checks that Parse never panics on a key file's text and that an
// identity it accepts writes out and reads back as the same keys.
func FuzzParse(f *testing.F) {
	created := time.Unix(0, 0)
	for _, role := range []identity.Role{identity.RolePatient, identity.RoleDevice} {
		f.Add(string(mustGenerate(f, role, identity.SuiteX25519).Marshal(created)))
	}
	f.Add(string(mustGenerate(f, identity.RoleProvider, identity.SuiteMLKEM768X25519).Marshal(created)))
	f.Add("")
	f.Add("# comment\n\n")
	f.Add("vc-device-ed25519-sec:AAAA\n")
	f.Fuzz(func(t *testing.T, text string) {
		id, err := identity.Parse(strings.NewReader(text))
		if err != nil {
			return
		}
		out := id.Marshal(created)
		id2, err := identity.Parse(bytes.NewReader(out))
		if err != nil {
			t.Fatalf("Parse(Marshal(Parse(text))): %v", err)
		}
		if !bytes.Equal(id2.Marshal(created), out) {
			t.Fatal("Marshal after a round trip differs")
		}
	})
}
