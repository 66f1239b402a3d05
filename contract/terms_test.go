package contract

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/fxamacker/cbor/v2"

	"github.com/vitalchain/vitalchain/codec"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/vital"
)

func TestSeverity(t *testing.T) {
	for _, s := range []Severity{Info, Warning, Critical} {
		got, err := ParseSeverity(s.String())
		if err != nil || got != s {
			t.Errorf("ParseSeverity(%q) = %v, %v", s.String(), got, err)
		}
	}
	if s := Critical.String(); s != "critical" {
		t.Errorf("Critical.String() = %q", s)
	}
	for _, s := range []Severity{0, 4, 255} {
		if s.Valid() {
			t.Errorf("%d is Valid", s)
		}
		if got := s.String(); !strings.HasPrefix(got, "severity(") {
			t.Errorf("Severity(%d).String() = %q", s, got)
		}
	}
	for _, name := range []string{"", "Warning", "severe", "2"} {
		if _, err := ParseSeverity(name); !errors.Is(err, ErrBadSeverity) {
			t.Errorf("ParseSeverity(%q) = %v, want ErrBadSeverity", name, err)
		}
	}
}

func TestTermsValidate(t *testing.T) {
	if tm := testTerms(); tm.Validate() != nil {
		t.Fatalf("valid terms: %v", tm.Validate())
	}
	many := func(n int) []identity.ID {
		ids := make([]identity.ID, n)
		for i := range ids {
			ids[i] = testID(byte(i + 1))
		}
		return ids
	}
	tests := []struct {
		name   string
		change func(*Terms)
		want   error
	}{
		{"version 0", func(t *Terms) { t.Version = 0 }, codec.ErrUnknownVersion},
		{"version 2", func(t *Terms) { t.Version = 2 }, codec.ErrUnknownVersion},
		{"no patient", func(t *Terms) { t.Patient = identity.ID{} }, codec.ErrMissingField},
		{"no providers", func(t *Terms) { t.Providers = nil }, ErrProviders},
		{"too many providers", func(t *Terms) { t.Providers = many(MaxProviders + 1) }, ErrProviders},
		{"unsorted providers", func(t *Terms) { t.Providers = []identity.ID{testID(0x20), testID(0x10)} }, ErrProviders},
		{"repeated provider", func(t *Terms) { t.Providers = []identity.ID{testID(0x10), testID(0x10)} }, ErrProviders},
		{"zero provider", func(t *Terms) { t.Providers = []identity.ID{{}, testID(0x10)} }, ErrProviders},
		{"patient as provider", func(t *Terms) { t.Providers = []identity.ID{testID(0x10), t.Patient} }, ErrProviders},
		{"no rules", func(t *Terms) { t.Rules = nil }, ErrRules},
		{"too many rules", func(t *Terms) { t.Rules = make([]Rule, MaxRules+1) }, ErrRules},
		{"unknown kind", func(t *Terms) { t.Rules[1].Kind = 0 }, vital.ErrUnknownKind},
		{"kind out of range", func(t *Terms) { t.Rules[1].Kind = 200 }, vital.ErrUnknownKind},
		{"no severity", func(t *Terms) { t.Rules[1].Severity = 0 }, ErrBadSeverity},
		{"unknown severity", func(t *Terms) { t.Rules[1].Severity = 4 }, ErrBadSeverity},
		{"empty expression", func(t *Terms) { t.Rules[1].Expr = "" }, codec.ErrMissingField},
		{"expression too long", func(t *Terms) { t.Rules[1].Expr = longExpr(MaxExprLen + 1) }, ErrTooLong},
		{"name too long", func(t *Terms) { t.Name = strings.Repeat("x", MaxNameLen+1) }, ErrTooLong},
		{"name not utf-8", func(t *Terms) { t.Name = "\xff" }, ErrBadName},
		{"escalation over a week", func(t *Terms) { t.Escalation = MaxBound + 1 }, ErrBound},
		{"no-data bound over a week", func(t *Terms) { t.NoData = MaxBound + 1 }, ErrBound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tm := testTerms()
			tt.change(&tm)
			if err := tm.Validate(); !errors.Is(err, tt.want) {
				t.Errorf("Validate() = %v, want %v", err, tt.want)
			}
			if _, err := tm.Marshal(); !errors.Is(err, tt.want) {
				t.Errorf("Marshal() = %v, want %v", err, tt.want)
			}
		})
	}
	// The limits themselves are valid.
	tm := testTerms()
	tm.Providers = many(MaxProviders)
	tm.Rules = make([]Rule, MaxRules)
	for i := range tm.Rules {
		tm.Rules[i] = Rule{Kind: vital.Glucose, Expr: longExpr(MaxExprLen), Severity: Info}
	}
	tm.Name = strings.Repeat("é", MaxNameLen/2)
	if err := tm.Validate(); err != nil {
		t.Errorf("terms at every limit: %v", err)
	}
}

// longExpr returns a valid expression of exactly n bytes (n >= 4).
func longExpr(n int) string { return "true" + strings.Repeat(" ", n-4) }

// TestMaxTermsSize checks that the largest valid terms encode within
// MaxTermsSize, and parse.
func TestMaxTermsSize(t *testing.T) {
	tm := testTerms()
	tm.Providers = make([]identity.ID, MaxProviders)
	for i := range tm.Providers {
		tm.Providers[i] = testID(byte(i + 1))
	}
	tm.Rules = make([]Rule, MaxRules)
	for i := range tm.Rules {
		tm.Rules[i] = Rule{Kind: 255, Expr: strings.Repeat("x", MaxExprLen), Severity: 255, Cooldown: ^uint32(0)}
	}
	tm.Name = strings.Repeat("x", MaxNameLen)
	tm.Escalation, tm.NoData = MaxBound, MaxBound
	b, err := codec.Marshal(&tm)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > MaxTermsSize {
		t.Fatalf("largest terms encode in %d bytes, MaxTermsSize is %d", len(b), MaxTermsSize)
	}
	t.Logf("largest terms: %d bytes of %d", len(b), MaxTermsSize)
	for i := range tm.Rules {
		tm.Rules[i].Kind, tm.Rules[i].Severity = vital.Steps, Critical
	}
	if b, err = tm.Marshal(); err != nil {
		t.Fatal(err)
	}
	if _, err := ParseTerms(b); err != nil {
		t.Fatalf("ParseTerms of the largest valid terms: %v", err)
	}
}

// TestTermsHash pins the encoding: a change to it changes every contract's
// ID on the ledger, so it must be deliberate.
func TestTermsHash(t *testing.T) {
	tm := testTerms()
	tm.Rules = tm.Rules[:1]
	b, err := tm.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	h, err := tm.Hash()
	if err != nil {
		t.Fatal(err)
	}
	if h != sha256.Sum256(b) {
		t.Error("Hash is not SHA-256 of the encoding")
	}
	wantEnc := "a501010258" + "20a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf" +
		"03825820101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f" +
		"5820202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f" +
		"0481a4010102781d" + hexOf("value > 180.0 || value < 70.0") + "030204190384" +
		"056f" + hexOf("home monitoring")
	if got := hex.EncodeToString(b); got != wantEnc {
		t.Errorf("encoding\n got %s\nwant %s", got, wantEnc)
	}
	const wantHash = "2d02f67a8ae91832795a23159fb0826b34d67629e77780bedc30b7987dea0410"
	if got := hex.EncodeToString(h[:]); got != wantHash {
		t.Errorf("Hash() = %s, want %s", got, wantHash)
	}
	// Every field is covered by the hash.
	changes := []func(*Terms){
		func(t *Terms) { t.Patient[31] ^= 1 },
		func(t *Terms) { t.Providers[1][0] ^= 1 },
		func(t *Terms) { t.Rules[0].Kind = vital.HeartRate },
		func(t *Terms) { t.Rules[0].Expr += " " },
		func(t *Terms) { t.Rules[0].Severity = Critical },
		func(t *Terms) { t.Rules[0].Cooldown++ },
		func(t *Terms) { t.Name = "" },
	}
	for i, change := range changes {
		c := testTerms()
		c.Rules = c.Rules[:1]
		c.Providers = append([]identity.ID(nil), c.Providers...)
		change(&c)
		if h2, _ := c.Hash(); h2 == h {
			t.Errorf("change %d does not change the hash", i)
		}
	}
}

func hexOf(s string) string { return hex.EncodeToString([]byte(s)) }

func TestParseTerms(t *testing.T) {
	tm := testTerms()
	good, err := tm.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseTerms(good)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := got.Marshal(); !bytes.Equal(again, good) {
		t.Fatal("ParseTerms does not round-trip")
	}

	// raw encodes a map with integer keys as given, in the given order,
	// without canonicalising it.
	raw := func(kv ...any) []byte {
		var b []byte
		b = append(b, 0xa0|byte(len(kv)/2))
		for _, x := range kv {
			e, err := cbor.Marshal(x)
			if err != nil {
				t.Fatal(err)
			}
			b = append(b, e...)
		}
		return b
	}
	pat, p1, p2 := tm.Patient[:], tm.Providers[0][:], tm.Providers[1][:]
	rules, err := codec.Marshal([]Rule{{Kind: vital.Glucose, Expr: "value > 1.0", Severity: Warning}})
	if err != nil {
		t.Fatal(err)
	}
	provs := [][]byte{p1, p2}
	bad := func(t *Terms) []byte {
		b, err := codec.Marshal(t)
		if err != nil {
			panic(err)
		}
		return b
	}
	withVersion := tm
	withVersion.Version = 2
	unsorted := tm
	unsorted.Providers = []identity.ID{tm.Providers[1], tm.Providers[0]}
	badRule := tm
	badRule.Rules = []Rule{{Kind: 0, Expr: "true", Severity: Info}}

	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, codec.ErrMalformed},
		{"truncated", good[:len(good)-1], codec.ErrTruncated},
		{"trailing byte", append(append([]byte(nil), good...), 0), codec.ErrTrailingData},
		{"oversized", append(append([]byte(nil), good...), make([]byte, MaxTermsSize)...), codec.ErrTooLarge},
		{"not a map", []byte{0x80}, codec.ErrWrongType},
		{"wrong type of patient", raw(1, 1, 2, "patient", 3, provs, 4, cbor.RawMessage(rules), 5, ""), codec.ErrWrongType},
		{"wrong type of rules", raw(1, 1, 2, pat, 3, provs, 4, 7, 5, ""), codec.ErrWrongType},
		// The CBOR library fills a [32]byte from a shorter or longer byte
		// string; the canonical re-encoding check catches it.
		{"patient too short", raw(1, 1, 2, pat[:31], 3, provs, 4, cbor.RawMessage(rules), 5, ""), codec.ErrNotCanonical},
		{"patient too long", raw(1, 1, 2, append(pat, 0), 3, provs, 4, cbor.RawMessage(rules), 5, ""), codec.ErrNotCanonical},
		{"duplicate key", raw(1, 1, 1, 1, 2, pat, 3, provs, 4, cbor.RawMessage(rules)), codec.ErrDuplicateKey},
		{"unknown field", raw(1, 1, 2, pat, 3, provs, 4, cbor.RawMessage(rules), 5, "", 8, 0), codec.ErrUnknownField},
		// A bound of 0 is left out of the encoding, never written.
		{"a bound of 0 written", raw(1, 1, 2, pat, 3, provs, 4, cbor.RawMessage(rules), 5, "", 6, 0), codec.ErrNotCanonical},
		{"missing field", raw(1, 1, 2, pat, 3, provs, 4, cbor.RawMessage(rules)), codec.ErrNotCanonical},
		{"keys out of order", raw(2, pat, 1, 1, 3, provs, 4, cbor.RawMessage(rules), 5, ""), codec.ErrNotCanonical},
		{"unknown version", bad(&withVersion), codec.ErrUnknownVersion},
		{"unsorted providers", bad(&unsorted), ErrProviders},
		{"bad rule", bad(&badRule), vital.ErrUnknownKind},
		{"name not utf-8", raw(1, 1, 2, pat, 3, provs, 4, cbor.RawMessage(rules), 5, cbor.RawMessage{0x61, 0xff}), codec.ErrMalformed},
	}
	if _, err := ParseTerms(raw(1, 1, 2, pat, 3, provs, 4, cbor.RawMessage(rules), 5, "")); err != nil {
		t.Fatalf("raw terms: %v", err)
	}
	if tm, err := ParseTerms(raw(1, 1, 2, pat, 3, provs, 4, cbor.RawMessage(rules), 5, "", 6, 60, 7, 600)); err != nil || tm.Escalation != 60 || tm.NoData != 600 {
		t.Fatalf("raw terms with bounds: %+v %v", tm, err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseTerms(tt.in)
			if !errors.Is(err, tt.want) {
				t.Errorf("ParseTerms = %v, want %v", err, tt.want)
			}
			if got.Rules != nil || got.Providers != nil {
				t.Error("ParseTerms returned terms with an error")
			}
		})
	}
}
