package identity_test

import (
	"bytes"
	"crypto/hpke"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/vitalchain/vitalchain/identity"
)

func TestHPKEKeysRoundTrip(t *testing.T) {
	pubLen := map[identity.Suite]int{identity.SuiteX25519: 32, identity.SuiteMLKEM768X25519: 1216}
	for _, suite := range suites {
		for _, role := range identity.Roles() {
			t.Run(suite.String()+"/"+role.String(), func(t *testing.T) {
				dk := mustDecryptionKey(t, role, suite)
				ek := dk.Public()
				if dk.Role() != role || dk.Suite() != suite || ek.Role() != role || ek.Suite() != suite || ek.IsZero() {
					t.Fatalf("got %s %s / %s %s zero=%v", dk.Role(), dk.Suite(), ek.Role(), ek.Suite(), ek.IsZero())
				}
				if n := len(ek.Bytes()); n != pubLen[suite] {
					t.Errorf("public key of %d bytes, want %d", n, pubLen[suite])
				}

				es := ek.String()
				if want := "vc-" + role.String() + "-" + suite.String() + "-pub:"; !strings.HasPrefix(es, want) {
					t.Fatalf("EncryptionKey.String() = %.40q, want prefix %q", es, want)
				}
				ek2, err := identity.ParseEncryptionKey(es)
				if err != nil {
					t.Fatalf("ParseEncryptionKey: %v", err)
				}
				if ek2.Role() != role || ek2.Suite() != suite || !bytes.Equal(ek2.Bytes(), ek.Bytes()) || ek2.String() != es {
					t.Fatal("ParseEncryptionKey gave another key")
				}
				ek3, err := identity.NewEncryptionKey(role, suite, ek.Bytes())
				if err != nil || !bytes.Equal(ek3.Bytes(), ek.Bytes()) {
					t.Fatalf("NewEncryptionKey(Bytes()) = %v", err)
				}

				ds := dk.String()
				if want := "vc-" + role.String() + "-" + suite.String() + "-sec:"; !strings.HasPrefix(ds, want) {
					t.Fatalf("DecryptionKey.String() has prefix %.40q, want %q", ds, want)
				}
				dk2, err := identity.ParseDecryptionKey(ds)
				if err != nil {
					t.Fatalf("ParseDecryptionKey: %v", err)
				}
				if dk2.Role() != role || dk2.Suite() != suite || dk2.String() != ds ||
					!bytes.Equal(dk2.Public().Bytes(), ek.Bytes()) {
					t.Fatal("ParseDecryptionKey gave another key")
				}

				// A session key sealed to the parsed public key opens with
				// the parsed private key, with the suite's KDF and AEAD.
				secret := []byte("0123456789abcdef0123456789abcdef")
				info := []byte("vitalchain/test")
				ct, err := hpke.Seal(ek2.HPKE(), identity.KDF(), identity.AEAD(), info, secret)
				if err != nil {
					t.Fatalf("Seal: %v", err)
				}
				pt, err := hpke.Open(dk2.HPKE(), identity.KDF(), identity.AEAD(), info, ct)
				if err != nil || !bytes.Equal(pt, secret) {
					t.Fatalf("Open = %q, %v", pt, err)
				}
				if _, err := hpke.Open(mustDecryptionKey(t, role, suite).HPKE(), identity.KDF(), identity.AEAD(), info, ct); err == nil {
					t.Fatal("another key opened the ciphertext")
				}
			})
		}
	}
}

func TestZeroEncryptionKey(t *testing.T) {
	var k identity.EncryptionKey
	if !k.IsZero() || k.Bytes() != nil || k.HPKE() != nil {
		t.Fatalf("zero EncryptionKey: IsZero=%v Bytes=%x", k.IsZero(), k.Bytes())
	}
	// Its String does not parse as a key.
	if _, err := identity.ParseEncryptionKey(k.String()); err == nil {
		t.Fatalf("ParseEncryptionKey(%q) succeeded", k.String())
	}
}

func TestParseHPKEKeyErrors(t *testing.T) {
	dk := mustDecryptionKey(t, identity.RolePatient, identity.SuiteX25519)
	ek := dk.Public()
	for _, tc := range []struct {
		name string
		err  error
		want error
	}{
		{"ed25519 public as encryption key", second(identity.ParseEncryptionKey(mustSigningKey(t, identity.RolePatient).Public().String())), identity.ErrWrongKind},
		{"ed25519 secret as decryption key", second(identity.ParseDecryptionKey(mustSigningKey(t, identity.RolePatient).String())), identity.ErrWrongKind},
		{"secret as public", second(identity.ParseEncryptionKey(dk.String())), identity.ErrWrongKind},
		{"public as secret", second(identity.ParseDecryptionKey(ek.String())), identity.ErrWrongKind},
		{"unknown suite", second(identity.ParseEncryptionKey(encode("vc-patient-p256-pub", ek.Bytes()))), identity.ErrWrongKind},
		{"x25519 short", second(identity.ParseEncryptionKey(encode("vc-patient-x25519-pub", ek.Bytes()[:31]))), identity.ErrBadKey},
		{"hybrid short", second(identity.ParseEncryptionKey(encode("vc-patient-mlkem768x25519-pub", ek.Bytes()))), identity.ErrBadKey},
		{"x25519 secret short", second(identity.ParseDecryptionKey(encode("vc-patient-x25519-sec", make([]byte, 31)))), identity.ErrBadKey},
		{"hybrid secret long", second(identity.ParseDecryptionKey(encode("vc-patient-mlkem768x25519-sec", make([]byte, 64)))), identity.ErrBadKey},
		{"unknown role", second(identity.ParseEncryptionKey(encode("vc-nurse-x25519-pub", ek.Bytes()))), identity.ErrUnknownRole},
		{"bad checksum", second(identity.ParseEncryptionKey(strings.Replace(ek.String(), "patient", "provider", 1))), identity.ErrBadChecksum},
		{"too long", second(identity.ParseEncryptionKey(ek.String() + strings.Repeat("A", 4096))), identity.ErrBadEncoding},
	} {
		if !errors.Is(tc.err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, tc.err, tc.want)
		}
	}
}

// TestParseKeyTrailingBits sets the unused low bits of the last base64
// character, which a lax decoder ignores: the key would then have a second
// text form. A hybrid public key (1,216 + 4 bytes) has two such bits.
func TestParseKeyTrailingBits(t *testing.T) {
	ek := mustDecryptionKey(t, identity.RoleProvider, identity.SuiteMLKEM768X25519).Public()
	s := ek.String()
	_, body, _ := strings.Cut(s, ":")
	if len(body)%4 != 3 {
		t.Fatalf("body of %d characters: want 2 unused bits", len(body))
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, s[len(s)-1])
	if last&3 != 0 {
		t.Fatalf("last character %q has unused bits set", s[len(s)-1])
	}
	for _, bits := range []int{1, 2, 3} {
		bad := s[:len(s)-1] + string(alphabet[last|bits])
		if raw, err := base64.RawURLEncoding.DecodeString(bad[strings.IndexByte(bad, ':')+1:]); err != nil ||
			!bytes.Equal(raw[:len(raw)-4], ek.Bytes()) {
			t.Fatal("test is wrong: lax decoding should give the same bytes")
		}
		if _, err := identity.ParseEncryptionKey(bad); !errors.Is(err, identity.ErrBadEncoding) {
			t.Errorf("unused bits %b set: %v, want ErrBadEncoding", bits, err)
		}
	}
}

func TestDeriveDecryptionKey(t *testing.T) {
	ikm := bytes.Repeat([]byte{7}, 32)
	other := bytes.Repeat([]byte{8}, 32)
	for _, suite := range suites {
		t.Run(suite.String(), func(t *testing.T) {
			a, err := identity.DeriveDecryptionKey(identity.RoleProvider, suite, ikm)
			if err != nil {
				t.Fatal(err)
			}
			b, err := identity.DeriveDecryptionKey(identity.RoleProvider, suite, ikm)
			if err != nil {
				t.Fatal(err)
			}
			c, err := identity.DeriveDecryptionKey(identity.RoleProvider, suite, other)
			if err != nil {
				t.Fatal(err)
			}
			if a.String() != b.String() {
				t.Error("the same ikm derived two keys")
			}
			if bytes.Equal(a.Public().Bytes(), c.Public().Bytes()) {
				t.Error("two ikms derived the same key")
			}
			if a.Suite() != suite || a.Role() != identity.RoleProvider {
				t.Errorf("derived a %s %s key", a.Role(), a.Suite())
			}
		})
	}
	if _, err := identity.DeriveDecryptionKey(identity.RoleProvider, identity.SuiteX25519, ikm[:31]); !errors.Is(err, identity.ErrBadKey) {
		t.Errorf("short ikm: %v, want ErrBadKey", err)
	}
}
