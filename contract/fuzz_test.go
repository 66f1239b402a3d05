package contract

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/vitalchain/vitalchain/codec"
	"github.com/vitalchain/vitalchain/vital"
)

// compileErrors are the errors Compile may return for one well-formed rule
// with any expression.
var compileErrors = []error{ErrCompile, ErrNotBool, ErrCostLimit, ErrTooLong, ErrTooComplex, codec.ErrMissingField}

// FuzzCompile compiles arbitrary expressions. Invariants: no panic; an
// error is one of the named ones and its text is the same on a second
// compile in a separately built environment; a compiled rule evaluates
// without error on any value.
func FuzzCompile(f *testing.F) {
	for _, r := range DefaultRules() {
		f.Add(r.Expr)
	}
	for _, tt := range badExprs {
		f.Add(tt.expr)
	}
	for _, s := range []string{
		"kind == 'glucose' && value >= -0.5", "!(value < 1e3) ? value / 0.0 > 1.0 : -value < -1.0",
		"b'\\xff' < b'\\x00'", "'é' < kind", "value != value", "1u < value", "(value > 1.0) == (value < 2.0)",
		"value > 1.0 " + strings.Repeat("&& value > 1.0 ", 40),
	} {
		f.Add(s)
	}
	other := mustEnv()
	values := []vital.Quantity{0, 1, -1, 180 * vital.Unit, 1 << 62, -1 << 63}
	f.Fuzz(func(t *testing.T, expr string) {
		p, err := Compile([]Rule{{Kind: vital.Glucose, Expr: expr, Severity: Warning}})
		if err != nil {
			if !isOneOf(err, compileErrors) {
				t.Fatalf("Compile(%q) = %v, not a named error", expr, err)
			}
			if len(expr) <= MaxExprLen && expr != "" && !errors.Is(err, ErrTooComplex) {
				if _, err2 := compileExpr(other, expr); err2 == nil || !strings.HasSuffix(err.Error(), err2.Error()) {
					t.Fatalf("Compile(%q) not deterministic:\n%v\n%v", expr, err, err2)
				}
			}
			return
		}
		for _, v := range values {
			if _, _, err := p.Eval(vital.Glucose, v); err != nil {
				t.Fatalf("Eval(%q, %s) = %v", expr, v, err)
			}
		}
	})
}

func isOneOf(err error, targets []error) bool {
	for _, t := range targets {
		if errors.Is(err, t) {
			return true
		}
	}
	return false
}

// termsErrors are the errors ParseTerms may return.
var termsErrors = []error{
	codec.ErrTooLarge, codec.ErrTooDeep, codec.ErrTooManyElements, codec.ErrDuplicateKey,
	codec.ErrUnknownField, codec.ErrWrongType, codec.ErrMalformed, codec.ErrTrailingData,
	codec.ErrIndefiniteLength, codec.ErrTagNotAllowed, codec.ErrNotCanonical, codec.ErrUnknownVersion,
	codec.ErrMissingField, codec.ErrTruncated,
	ErrProviders, ErrRules, ErrTooLong, ErrBadName, ErrBadSeverity, vital.ErrUnknownKind,
}

// FuzzParseTerms decodes arbitrary bytes as Terms. Invariants: no panic; an
// error is one of the named ones; parsed terms re-encode to exactly the
// input (one encoding per value) and compile without panicking, with a
// named error if they fail.
func FuzzParseTerms(f *testing.F) {
	tm := testTerms()
	good, err := tm.Marshal()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add(append(bytes.Clone(good), 0))
	tm.Rules = []Rule{{Kind: vital.SpO2, Expr: "value", Severity: Critical}}
	one, _ := tm.Marshal()
	f.Add(one)
	f.Add([]byte{0xa0})
	f.Fuzz(func(t *testing.T, b []byte) {
		tm, err := ParseTerms(b)
		if err != nil {
			if !isOneOf(err, termsErrors) {
				t.Fatalf("ParseTerms = %v, not a named error", err)
			}
			return
		}
		again, err := tm.Marshal()
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("parsed terms do not re-encode to the input: %v", err)
		}
		if _, err := Compile(tm.Rules); err != nil && !isOneOf(err, compileErrors) {
			t.Fatalf("Compile of parsed terms = %v, not a named error", err)
		}
	})
}
