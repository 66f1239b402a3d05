package identity_test

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"math/big"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/vitalchain/vitalchain/identity"
)

// encode builds a typed key encoding from the documented format, independently
// of the package: prefix ":" base64url(data || SHA-256(prefix || data)[:4]).
func encode(prefix string, data []byte) string {
	sum := sha256.Sum256(append([]byte(prefix), data...))
	return prefix + ":" + base64.RawURLEncoding.EncodeToString(append(slices.Clone(data), sum[:4]...))
}

func mustSigningKey(t testing.TB, role identity.Role) *identity.SigningKey {
	t.Helper()
	k, err := identity.GenerateSigningKey(role)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustDecryptionKey(t testing.TB, role identity.Role, suite identity.Suite) *identity.DecryptionKey {
	t.Helper()
	k, err := identity.GenerateDecryptionKey(role, suite)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var suites = []identity.Suite{identity.SuiteX25519, identity.SuiteMLKEM768X25519}

// RFC 8032, section 7.1, TEST 1.
const (
	rfcSeed = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
	rfcPub  = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
	rfcSig  = "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
)

func TestSigningKeyKnownAnswer(t *testing.T) {
	k, err := identity.NewSigningKey(identity.RoleDevice, mustHex(t, rfcSeed))
	if err != nil {
		t.Fatal(err)
	}
	v := k.Public()
	if got := hex.EncodeToString(v.Bytes()); got != rfcPub {
		t.Errorf("public key %s, want %s", got, rfcPub)
	}
	sig := k.Sign(nil)
	if got := hex.EncodeToString(sig); got != rfcSig {
		t.Errorf("signature %s, want %s", got, rfcSig)
	}
	if err := v.Verify(nil, sig); err != nil {
		t.Errorf("Verify: %v", err)
	}
	if !bytes.Equal(k.Seed(), mustHex(t, rfcSeed)) {
		t.Errorf("Seed() = %x", k.Seed())
	}
	if id := v.ID(); id != sha256.Sum256(mustHex(t, rfcPub)) {
		t.Errorf("ID = %x, want SHA-256 of the public key", id)
	}
	if id, got := v.ID(), v.ID().Hex(); got != hex.EncodeToString(id[:]) {
		t.Errorf("ID().Hex() = %s", got)
	}
	if got, want := v.ID().String(), v.ID().Hex()[:16]; got != want {
		t.Errorf("ID().String() = %s, want %s", got, want)
	}
	// The typed encodings follow the documented format.
	if got, want := v.String(), encode("vc-device-ed25519-pub", mustHex(t, rfcPub)); got != want {
		t.Errorf("VerifyingKey.String() = %s, want %s", got, want)
	}
	if got, want := k.String(), encode("vc-device-ed25519-sec", mustHex(t, rfcSeed)); got != want {
		t.Errorf("SigningKey.String() = %s, want %s", got, want)
	}
}

func TestSigningKeyRoundTrip(t *testing.T) {
	for _, role := range identity.Roles() {
		t.Run(role.String(), func(t *testing.T) {
			k := mustSigningKey(t, role)
			if k.Role() != role || k.Public().Role() != role {
				t.Fatalf("roles %s, %s", k.Role(), k.Public().Role())
			}
			s := k.String()
			if want := "vc-" + role.String() + "-ed25519-sec:"; !strings.HasPrefix(s, want) {
				t.Fatalf("SigningKey.String() = %q, want prefix %q", s, want)
			}
			k2, err := identity.ParseSigningKey(s)
			if err != nil {
				t.Fatalf("ParseSigningKey: %v", err)
			}
			if k2.Role() != role || !bytes.Equal(k2.Seed(), k.Seed()) || k2.String() != s {
				t.Fatalf("ParseSigningKey gave another key")
			}

			v := k.Public()
			vs := v.String()
			if want := "vc-" + role.String() + "-ed25519-pub:"; !strings.HasPrefix(vs, want) {
				t.Fatalf("VerifyingKey.String() = %q, want prefix %q", vs, want)
			}
			v2, err := identity.ParseVerifyingKey(vs)
			if err != nil {
				t.Fatalf("ParseVerifyingKey: %v", err)
			}
			if !v2.Equal(v) || v2.Role() != role || v2.ID() != v.ID() || v2.String() != vs {
				t.Fatalf("ParseVerifyingKey gave another key")
			}
			// Surrounding white space, as in a file, is ignored.
			if v3, err := identity.ParseVerifyingKey(" " + vs + "\n"); err != nil || !v3.Equal(v) {
				t.Fatalf("ParseVerifyingKey with spaces: %v", err)
			}
			v4, err := identity.NewVerifyingKey(role, v.Bytes())
			if err != nil || !v4.Equal(v) {
				t.Fatalf("NewVerifyingKey(Bytes()) = %v", err)
			}
			k3, err := identity.NewSigningKey(role, k.Seed())
			if err != nil || !k3.Public().Equal(v) {
				t.Fatalf("NewSigningKey(Seed()) = %v", err)
			}
		})
	}
}

func TestVerifyingKeyEqual(t *testing.T) {
	k := mustSigningKey(t, identity.RoleDevice)
	v := k.Public()
	same, _ := identity.NewVerifyingKey(identity.RoleDevice, v.Bytes())
	otherRole, _ := identity.NewVerifyingKey(identity.RoleCloud, v.Bytes())
	other := mustSigningKey(t, identity.RoleDevice).Public()
	if !v.Equal(same) || v.Equal(otherRole) || v.Equal(other) {
		t.Fatalf("Equal: same=%v otherRole=%v other=%v", v.Equal(same), v.Equal(otherRole), v.Equal(other))
	}
	if v.IsZero() || !(identity.VerifyingKey{}).IsZero() {
		t.Fatal("IsZero")
	}
	// Different roles share the ID: it names the key, not the role.
	if otherRole.ID() != v.ID() {
		t.Fatal("ID depends on the role")
	}
}

func TestKeyConstructorErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want error
	}{
		{"generate signing role 0", second(identity.GenerateSigningKey(0)), identity.ErrUnknownRole},
		{"generate signing role 6", second(identity.GenerateSigningKey(6)), identity.ErrUnknownRole},
		{"new signing role 0", second(identity.NewSigningKey(0, make([]byte, 32))), identity.ErrUnknownRole},
		{"new signing short seed", second(identity.NewSigningKey(identity.RoleDevice, make([]byte, 31))), identity.ErrBadKey},
		{"new signing long seed", second(identity.NewSigningKey(identity.RoleDevice, make([]byte, 64))), identity.ErrBadKey},
		{"new verifying role 0", second(identity.NewVerifyingKey(0, make([]byte, 32))), identity.ErrUnknownRole},
		{"new verifying short", second(identity.NewVerifyingKey(identity.RoleDevice, make([]byte, 31))), identity.ErrBadKey},
		{"new verifying long", second(identity.NewVerifyingKey(identity.RoleDevice, make([]byte, 33))), identity.ErrBadKey},
		{"generate decryption role 0", second(identity.GenerateDecryptionKey(0, identity.SuiteX25519)), identity.ErrUnknownRole},
		{"generate decryption bad suite", second(identity.GenerateDecryptionKey(identity.RolePatient, 0x10)), identity.ErrUnknownSuite},
		{"new decryption role 0", second(identity.NewDecryptionKey(0, identity.SuiteX25519, make([]byte, 32))), identity.ErrUnknownRole},
		{"new decryption bad suite", second(identity.NewDecryptionKey(identity.RolePatient, 0x10, make([]byte, 32))), identity.ErrUnknownSuite},
		{"new decryption x25519 short", second(identity.NewDecryptionKey(identity.RolePatient, identity.SuiteX25519, make([]byte, 31))), identity.ErrBadKey},
		{"new decryption hybrid short", second(identity.NewDecryptionKey(identity.RolePatient, identity.SuiteMLKEM768X25519, make([]byte, 31))), identity.ErrBadKey},
		{"new encryption role 0", second(identity.NewEncryptionKey(0, identity.SuiteX25519, make([]byte, 32))), identity.ErrUnknownRole},
		{"new encryption bad suite", second(identity.NewEncryptionKey(identity.RolePatient, 0x10, make([]byte, 32))), identity.ErrUnknownSuite},
		{"new encryption x25519 short", second(identity.NewEncryptionKey(identity.RolePatient, identity.SuiteX25519, make([]byte, 31))), identity.ErrBadKey},
		{"new encryption hybrid short", second(identity.NewEncryptionKey(identity.RolePatient, identity.SuiteMLKEM768X25519, make([]byte, 32))), identity.ErrBadKey},
		{"new encryption hybrid non-canonical", second(identity.NewEncryptionKey(identity.RolePatient, identity.SuiteMLKEM768X25519, bytes.Repeat([]byte{0xff}, 1216))), identity.ErrBadKey},
	} {
		if !errors.Is(tc.err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, tc.err, tc.want)
		}
	}
}

func second[T any](_ T, err error) error { return err }

// parser is one of the four typed-encoding parsers, as a function returning
// only the error.
type parser struct {
	name  string
	parse func(string) error
}

var parsers = []parser{
	{"ParseVerifyingKey", func(s string) error { return second(identity.ParseVerifyingKey(s)) }},
	{"ParseSigningKey", func(s string) error { return second(identity.ParseSigningKey(s)) }},
	{"ParseEncryptionKey", func(s string) error { return second(identity.ParseEncryptionKey(s)) }},
	{"ParseDecryptionKey", func(s string) error { return second(identity.ParseDecryptionKey(s)) }},
}

// TestParseKindMatrix parses every kind of key with every parser: only the
// matching parser accepts it, the others say ErrWrongKind.
func TestParseKindMatrix(t *testing.T) {
	sk := mustSigningKey(t, identity.RoleProvider)
	keys := []string{sk.Public().String(), sk.String()}
	for _, suite := range suites {
		dk := mustDecryptionKey(t, identity.RoleProvider, suite)
		keys = append(keys, dk.Public().String(), dk.String())
	}
	// keys[i] is right for parsers[i] (ed25519 pub, sec) and parsers[2], [3]
	// for both suites.
	right := func(key, parser int) bool {
		if key < 2 {
			return key == parser
		}
		return key%2+2 == parser
	}
	for i, key := range keys {
		for j, p := range parsers {
			err := p.parse(key)
			if right(i, j) {
				if err != nil {
					t.Errorf("%s(%.30s…) = %v", p.name, key, err)
				}
			} else if !errors.Is(err, identity.ErrWrongKind) {
				t.Errorf("%s(%.30s…) = %v, want ErrWrongKind", p.name, key, err)
			}
		}
	}
}

func TestParseKeyErrors(t *testing.T) {
	pub := mustSigningKey(t, identity.RolePatient).Public()
	good := pub.String()
	_, body, _ := strings.Cut(good, ":")

	// flip changes the character at i to another base64url character.
	flip := func(s string, i int) string {
		c := byte('A')
		if s[i] == 'A' {
			c = 'B'
		}
		return s[:i] + string(c) + s[i+1:]
	}

	for _, tc := range []struct {
		name string
		in   string
		want error
	}{
		{"empty", "", identity.ErrBadEncoding},
		{"no colon", strings.Replace(good, ":", "", 1), identity.ErrBadEncoding},
		{"no prefix", ":" + body, identity.ErrBadEncoding},
		{"bad magic", "xx" + good[2:], identity.ErrBadEncoding},
		{"upper case magic", "VC" + good[2:], identity.ErrBadEncoding},
		{"three parts", "vc-patient-ed25519:" + body, identity.ErrBadEncoding},
		{"five parts", "vc-patient-ed25519-pub-x:" + body, identity.ErrBadEncoding},
		{"bad kind", "vc-patient-ed25519-priv:" + body, identity.ErrBadEncoding},
		{"unknown role", encode("vc-doctor-ed25519-pub", pub.Bytes()), identity.ErrUnknownRole},
		{"role number", encode("vc-1-ed25519-pub", pub.Bytes()), identity.ErrUnknownRole},
		{"unknown alg", encode("vc-patient-ed448-pub", pub.Bytes()), identity.ErrWrongKind},
		{"std base64 '+'", "vc-patient-ed25519-pub:+" + body[1:], identity.ErrBadEncoding},
		{"std base64 '/'", "vc-patient-ed25519-pub:/" + body[1:], identity.ErrBadEncoding},
		{"bad base64 char", good[:len(good)-3] + "!" + good[len(good)-2:], identity.ErrBadEncoding},
		{"base64 padding", good + "=", identity.ErrBadEncoding},
		{"inner space", good[:30] + " " + good[30:], identity.ErrBadEncoding},
		{"inner newline", good[:30] + "\n" + good[30:], identity.ErrBadEncoding},
		{"inner carriage return", good[:30] + "\r" + good[30:], identity.ErrBadEncoding},
		{"too short", "vc-patient-ed25519-pub:AAAA", identity.ErrBadEncoding},
		{"empty body", "vc-patient-ed25519-pub:", identity.ErrBadEncoding},
		{"checksum of other prefix", "vc-provider-ed25519-pub:" + body, identity.ErrBadChecksum},
		{"flipped first", flip(good, len("vc-patient-ed25519-pub:")), identity.ErrBadChecksum},
		{"flipped last", flip(good, len(good)-1), identity.ErrBadChecksum},
		{"truncated", good[:len(good)-4], identity.ErrBadChecksum},
		{"wrong length 31", encode("vc-patient-ed25519-pub", pub.Bytes()[:31]), identity.ErrBadKey},
		{"wrong length 33", encode("vc-patient-ed25519-pub", append(pub.Bytes(), 0)), identity.ErrBadKey},
		{"no key bytes", encode("vc-patient-ed25519-pub", nil), identity.ErrBadKey},
		{"too long", good + strings.Repeat("A", 4096), identity.ErrBadEncoding},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := identity.ParseVerifyingKey(tc.in)
			if !errors.Is(err, tc.want) {
				t.Fatalf("ParseVerifyingKey(%.60q) = %v, want %v", tc.in, err, tc.want)
			}
		})
	}
}

// TestParseKeyFlipEveryCharacter changes each character of the body of each
// kind of key in turn: every change is caught, by the checksum or as bad
// base64, and never read as another key.
func TestParseKeyFlipEveryCharacter(t *testing.T) {
	sk := mustSigningKey(t, identity.RoleDevice)
	keys := []struct {
		s     string
		parse func(string) error
	}{
		{sk.Public().String(), parsers[0].parse},
		{sk.String(), parsers[1].parse},
	}
	for _, suite := range suites {
		dk := mustDecryptionKey(t, identity.RolePatient, suite)
		keys = append(keys,
			struct {
				s     string
				parse func(string) error
			}{dk.Public().String(), parsers[2].parse},
			struct {
				s     string
				parse func(string) error
			}{dk.String(), parsers[3].parse})
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	for _, k := range keys {
		start := strings.Index(k.s, ":") + 1
		for i := start; i < len(k.s); i++ {
			// Replace by the next character of the alphabet.
			c := alphabet[(strings.IndexByte(alphabet, k.s[i])+1)%len(alphabet)]
			bad := k.s[:i] + string(c) + k.s[i+1:]
			err := k.parse(bad)
			if !errors.Is(err, identity.ErrBadChecksum) && !errors.Is(err, identity.ErrBadEncoding) {
				t.Fatalf("%.28s… with character %d changed: %v, want ErrBadChecksum", k.s, i, err)
			}
		}
	}
}

func TestSignVerify(t *testing.T) {
	k := mustSigningKey(t, identity.RoleDevice)
	v := k.Public()
	msg := []byte("heart_rate 72")
	sig := k.Sign(msg)
	if len(sig) != ed25519.SignatureSize {
		t.Fatalf("signature of %d bytes", len(sig))
	}
	if err := v.Verify(msg, sig); err != nil {
		t.Fatalf("VerifyingKey.Verify: %v", err)
	}
	if err := identity.Verify(v.Bytes(), msg, sig); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	// The signature is plain Ed25519: the standard library agrees.
	if !ed25519.Verify(v.Bytes(), msg, sig) {
		t.Fatal("crypto/ed25519 rejects the signature")
	}

	other := mustSigningKey(t, identity.RoleDevice).Public()
	for _, tc := range []struct {
		name          string
		pub, msg, sig []byte
	}{
		{"tampered message", v.Bytes(), flipBit(msg, 0), sig},
		{"longer message", v.Bytes(), append(slices.Clone(msg), 0), sig},
		{"empty message", v.Bytes(), nil, sig},
		{"tampered R", v.Bytes(), msg, flipBit(sig, 0)},
		{"tampered S", v.Bytes(), msg, flipBit(sig, 40)},
		{"S + L", v.Bytes(), msg, addL(sig)},
		{"S with high bits", v.Bytes(), msg, setBit(sig, 63*8+7)},
		{"other key", other.Bytes(), msg, sig},
		{"tampered key", flipBit(v.Bytes(), 3), msg, sig},
		{"zero signature", v.Bytes(), msg, make([]byte, 64)},
		{"short signature", v.Bytes(), msg, sig[:63]},
		{"long signature", v.Bytes(), msg, append(slices.Clone(sig), 0)},
		{"nil signature", v.Bytes(), msg, nil},
		{"short key", v.Bytes()[:31], msg, sig},
		{"long key", append(slices.Clone(v.Bytes()), 0), msg, sig},
		{"nil key", nil, msg, sig},
	} {
		if err := identity.Verify(tc.pub, tc.msg, tc.sig); !errors.Is(err, identity.ErrBadSignature) {
			t.Errorf("%s: Verify = %v, want ErrBadSignature", tc.name, err)
		}
	}
}

func flipBit(b []byte, bit int) []byte {
	c := slices.Clone(b)
	c[bit/8] ^= 1 << (bit % 8)
	return c
}

func setBit(b []byte, bit int) []byte {
	c := slices.Clone(b)
	c[bit/8] |= 1 << (bit % 8)
	return c
}

// addL returns sig with L, the order of the Ed25519 group, added to S: the
// same signature in a non-canonical (malleated) form, which both RFC 8032 and
// ZIP-215 refuse.
func addL(sig []byte) []byte {
	l, _ := new(big.Int).SetString("7237005577332262213973186563042994240857116359379907606001950938285454250989", 10)
	le := func(b []byte) []byte { // little-endian <-> big-endian
		c := slices.Clone(b)
		slices.Reverse(c)
		return c
	}
	s := new(big.Int).SetBytes(le(sig[32:]))
	s.Add(s, l)
	out := make([]byte, 32)
	s.FillBytes(out)
	return append(slices.Clone(sig[:32]), le(out)...)
}

func TestSignContext(t *testing.T) {
	k := mustSigningKey(t, identity.RoleDevice)
	v := k.Public()
	msg := []byte("payload")
	sig := k.SignContext("reading", msg)

	if err := v.VerifyContext("reading", msg, sig); err != nil {
		t.Fatalf("VerifyingKey.VerifyContext: %v", err)
	}
	if err := identity.VerifyContext(v.Bytes(), "reading", msg, sig); err != nil {
		t.Fatalf("VerifyContext: %v", err)
	}
	// The signed bytes are "vitalchain/" + context + 0x00 + msg.
	if err := v.Verify([]byte("vitalchain/reading\x00payload"), sig); err != nil {
		t.Fatalf("context signature is not over the documented bytes: %v", err)
	}

	for _, tc := range []struct {
		name string
		err  error
	}{
		{"other context", v.VerifyContext("session", msg, sig)},
		{"empty context", v.VerifyContext("", msg, sig)},
		{"context prefix", v.VerifyContext("read", msg, sig)},
		{"context moved into message", v.VerifyContext("readin", []byte("g\x00payload"), sig)},
		{"plain verify", v.Verify(msg, sig)},
		{"plain signature in a context", v.VerifyContext("reading", msg, k.Sign(msg))},
		{"tampered message", v.VerifyContext("reading", []byte("Payload"), sig)},
		{"tampered signature", v.VerifyContext("reading", msg, flipBit(sig, 100))},
		{"short key", identity.VerifyContext(v.Bytes()[:31], "reading", msg, sig)},
		{"short signature", identity.VerifyContext(v.Bytes(), "reading", msg, sig[:63])},
	} {
		if !errors.Is(tc.err, identity.ErrBadSignature) {
			t.Errorf("%s: %v, want ErrBadSignature", tc.name, tc.err)
		}
	}
	// Contexts a and b do not cross-verify, in either direction.
	a, b := k.SignContext("a", msg), k.SignContext("b", msg)
	if v.VerifyContext("a", msg, b) == nil || v.VerifyContext("b", msg, a) == nil {
		t.Fatal("signatures cross-verify between contexts")
	}
}

// TestZIP215 checks that Verify follows the ZIP-215 rules on the vectors of
// testdata/zip215.txt (from ed25519consensus): small-order and non-canonical
// encodings of A and R that ZIP-215 accepts. VitalChain verifies every
// signature with these rules, as CometBFT does, so that single and batch
// verification and every node agree on exactly which signatures are valid;
// crypto/ed25519 checks the cofactorless equation and refuses many of them.
func TestZIP215(t *testing.T) {
	f, err := os.Open("testdata/zip215.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	msg := []byte("Zcash")
	n, stdRejects := 0, 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		pubHex, sigHex, ok := strings.Cut(line, " ")
		if !ok {
			t.Fatalf("bad line %q", line)
		}
		pub, sig := mustHex(t, pubHex), mustHex(t, sigHex)
		n++
		if err := identity.Verify(pub, msg, sig); err != nil {
			t.Errorf("case %d (%s…, %s…): %v", n, pubHex[:8], sigHex[:8], err)
		}
		v, err := identity.NewVerifyingKey(identity.RoleDevice, pub)
		if err != nil {
			t.Fatal(err)
		}
		if err := v.Verify(msg, sig); err != nil {
			t.Errorf("case %d: VerifyingKey.Verify: %v", n, err)
		}
		if !ed25519.Verify(pub, msg, sig) {
			stdRejects++
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if n != 196 {
		t.Fatalf("read %d vectors, want 196", n)
	}
	// The vectors exist because the rule sets differ.
	if stdRejects == 0 {
		t.Fatal("crypto/ed25519 accepts every ZIP-215 vector; the test vectors do not test anything")
	}
	t.Logf("crypto/ed25519 rejects %d of the %d vectors that ZIP-215 accepts", stdRejects, n)
}

func TestParseID(t *testing.T) {
	id := identity.ID{0xab, 0x01, 31: 0xff}
	for _, tc := range []struct {
		in   string
		want error
	}{
		{id.Hex(), nil},
		{id.Hex()[:63], identity.ErrBadID},
		{id.Hex() + "00", identity.ErrBadID},
		{"zz" + id.Hex()[2:], identity.ErrBadID},
	} {
		got, err := identity.ParseID(tc.in)
		if !errors.Is(err, tc.want) || (err == nil && got != id) {
			t.Errorf("ParseID(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}
