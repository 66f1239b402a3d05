package contract

import (
	"errors"
	"strings"
	"testing"

	"github.com/vitalchain/vitalchain/vital"
)

// orChain is an expression of n comparisons joined by ||: 4n-1 tokens.
func orChain(n int) string {
	return strings.TrimSuffix(strings.Repeat("value > 1.0 || ", n), " || ")
}

// oldWorst is the costliest rule accepted before the compile budget:
// 1,024 bytes near the cost limit.
var oldWorst = func() string {
	e := strings.Repeat("value > 1.0 || ", 48) + "true"
	return e + strings.Repeat(" ", 1024-len(e))
}()

func rules(exprs ...string) []Rule {
	rs := make([]Rule, len(exprs))
	for i, e := range exprs {
		rs[i] = Rule{Kind: vital.Glucose, Expr: e, Severity: Warning}
	}
	return rs
}

func repeatRule(expr string, n int) []Rule {
	exprs := make([]string, n)
	for i := range exprs {
		exprs[i] = expr
	}
	return rules(exprs...)
}

// TestContractCompileBounded: a contract costs every validator a compile,
// so Compile refuses, before it parses anything, rules over the compile
// budget. Before the budget, a contract of 32 rules of 1,024 bytes each was
// accepted (and compiled in about 40-65 ms on the project's machine).
func TestContractCompileBounded(t *testing.T) {
	tests := []struct {
		name  string
		rules []Rule
		want  error // nil: accepted
	}{
		{"the old worst accepted: 32 rules of 1,024 bytes", repeatRule(oldWorst, 32), ErrRules},
		{"the old worst rule", rules(oldWorst), ErrTooLong},
		{"too many rules", repeatRule("true", MaxRules+1), ErrRules},
		{"an expression too long", rules(longExpr(MaxExprLen + 1)), ErrTooLong},
		{"an expression of too many tokens", rules(orChain(16) + " || true"), ErrTooComplex},
		{"tokens hidden in a string", rules("kind == '" + strings.Repeat("a ", 64) + "'"), ErrTooComplex},
		{"a number split from a name", rules(strings.Repeat("1a ", 33)), ErrTooComplex},
		{"brackets too deep", rules(strings.Repeat("(", MaxNesting+1) + "true" + strings.Repeat(")", MaxNesting+1)), ErrTooComplex},
		{"brackets of every kind", rules(strings.Repeat("([{", 3) + "true" + strings.Repeat("}])", 3)), ErrTooComplex},
		{"too many tokens together", repeatRule(orChain(12), MaxRulesTokens/47+1), ErrTooComplex},
		{"too many bytes together", repeatRule(longExpr(MaxExprLen), MaxRulesLen/MaxExprLen+1), ErrTooComplex},
		{"over budget after a bad rule", append(rules("value"), repeatRule(orChain(16), 4)...), ErrTooComplex},

		{"every limit at once", append(repeatRule(orChain(12), 3), // 141 tokens
			rules(strings.Repeat("(", MaxNesting)+"true"+strings.Repeat(")", MaxNesting), orChain(8), "true", "true", "true")...), nil}, // 51 more
		{"an expression of 64 tokens", rules(orChain(16)), nil},
		{"brackets at the limit", rules(strings.Repeat("(", MaxNesting) + "true" + strings.Repeat(")", MaxNesting)), nil},
		{"the default rules", DefaultRules(), nil},
		{"whitespace is free", rules("value" + strings.Repeat(" ", MaxExprLen-11) + " > 1.0"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compile(tt.rules)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Compile = %v, want it accepted", err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Compile = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestScanExpr(t *testing.T) {
	tests := []struct {
		expr          string
		tokens, depth int
	}{
		{"", 0, 0},
		{"value > 180.0 || value < 70.0", 7, 0},
		{"kind == 'glucose'", 5, 0},
		{"(value>1.0)&&!(value<=2)", 12, 1},
		{"1e5 1.5e-3 .5 a.b 0x1F 12abc", 16, 0},
		{"((a)[b]{c})", 11, 2},
		{"))((", 4, 2}, // a stray closing bracket does not hide an opening one,
		{"é", 2, 0},
		{" \t\n\r\f\v", 0, 0},
		{"a<=b>=c==d!=e||f&&g", 13, 0},
		{"a|b&c=d!e<f>g", 13, 0},
	}
	for _, tt := range tests {
		n, d := scanExpr(tt.expr)
		if n != tt.tokens || d != tt.depth {
			t.Errorf("scanExpr(%q) = %d tokens, depth %d; want %d, %d", tt.expr, n, d, tt.tokens, tt.depth)
		}
	}
}
