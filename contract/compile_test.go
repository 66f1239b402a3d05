package contract

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/interpreter"

	"github.com/vitalchain/vitalchain/codec"
	"github.com/vitalchain/vitalchain/vital"
)

// badExprs are expressions Compile refuses, with the error each gets.
var badExprs = []struct {
	name, expr string
	want       error
}{
	{"syntax", "value >", ErrCompile},
	{"not utf-8", "value > 1.0 \xff", ErrCompile},
	{"unknown variable", "temperature > 39.0", ErrCompile},
	{"int arithmetic", "value > 1 / 0", ErrCompile},
	{"int overflow", "value > 9223372036854775807 + 1", ErrCompile},
	{"modulo", "value % 2.0 == 0.0", ErrCompile},
	{"string concatenation", "kind + 'x' == 'glucosex'", ErrCompile},
	{"function size", "size(kind) > 3", ErrCompile},
	{"function int", "int(value) > 180", ErrCompile},
	{"function timestamp", "timestamp('2025-01-01T00:00:00Z') < timestamp('2025-01-02T00:00:00Z')", ErrCompile},
	{"function matches", "kind.matches('^g')", ErrCompile},
	{"macro has", "has(value.x)", ErrCompile},
	{"macro exists", "[1.0, 2.0].exists(x, x > value)", ErrCompile},
	{"list literal", "[value] == [1.0]", ErrCompile},
	{"map literal", "{1: 2} == {1: 2}", ErrCompile},
	{"message literal", "google.protobuf.Int64Value{value: 1} == 1", ErrCompile},
	{"in", "value in [1.0]", ErrCompile},
	{"null comparison", "value == null", ErrCompile},
	{"int literal out of range", "value < 9223372036854775808", ErrCompile},
	{"double literal out of range", "value > 1e400", ErrCompile},
	{"too deeply nested", strings.Repeat("(", MaxNesting+1) + "true" + strings.Repeat(")", MaxNesting+1), ErrTooComplex},
	{"double", "value", ErrNotBool},
	{"string", "kind", ErrNotBool},
	{"arithmetic", "value * 2.0", ErrNotBool},
	{"conditional", "value > 1.0 ? 1.0 : 2.0", ErrNotBool},
	{"too many tokens", strings.Repeat("value > 1.0 || ", 16) + "true", ErrTooComplex},
	{"too long", longExpr(MaxExprLen + 1), ErrTooLong},
	{"empty", "", codec.ErrMissingField},
}

func TestCompileErrors(t *testing.T) {
	for _, tt := range badExprs {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Compile([]Rule{{Kind: vital.Glucose, Expr: tt.expr, Severity: Warning}})
			if !errors.Is(err, tt.want) {
				t.Fatalf("Compile(%q) = %v, want %v", tt.expr, err, tt.want)
			}
			if p != nil {
				t.Error("Compile returned a Program with an error")
			}
			if len(err.Error()) > maxErrorLen+200 {
				t.Errorf("error text is %d bytes", len(err.Error()))
			}
		})
	}
}

func TestCompileRuleErrors(t *testing.T) {
	ok := Rule{Kind: vital.Glucose, Expr: "true", Severity: Info}
	tests := []struct {
		name  string
		rules []Rule
		want  error
	}{
		{"no rules", nil, ErrRules},
		{"too many rules", make([]Rule, MaxRules+1), ErrRules},
		{"kind 0", []Rule{ok, {Kind: 0, Expr: "true", Severity: Info}}, vital.ErrUnknownKind},
		{"kind 9", []Rule{ok, {Kind: vital.Steps + 1, Expr: "true", Severity: Info}}, vital.ErrUnknownKind},
		{"severity 0", []Rule{ok, {Kind: vital.Glucose, Expr: "true"}}, ErrBadSeverity},
		{"severity 4", []Rule{ok, {Kind: vital.Glucose, Expr: "true", Severity: 4}}, ErrBadSeverity},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Compile(tt.rules); !errors.Is(err, tt.want) {
				t.Fatalf("Compile = %v, want %v", err, tt.want)
			}
		})
	}
	// The first failing rule decides, and the error names it.
	_, err := Compile([]Rule{ok, {Kind: vital.SpO2, Expr: "value", Severity: Info}, {Kind: 0}})
	if !errors.Is(err, ErrNotBool) || !strings.Contains(err.Error(), "rule 1 (spo2)") {
		t.Fatalf("Compile = %v, want rule 1's ErrNotBool", err)
	}
}

// TestCompileErrorText pins the text of a few errors: the ledger reports
// them, so they must not vary, and a cel-go upgrade that changes them should
// be noticed.
func TestCompileErrorText(t *testing.T) {
	tests := []struct{ expr, want string }{
		{"value >", "contract: rule 0 (glucose): rule does not compile: 1:8: Syntax error: mismatched input '<EOF>' expecting {'[', '{', '(', '.', '-', '!', 'true', 'false', 'null', NUM_FLOAT, NUM_INT, NUM_UINT, STRING, BYTES, IDENTIFIER}"},
		{"a > 1.0 && b < c", "contract: rule 0 (glucose): rule does not compile: 1:1: undeclared reference to 'a'; 1:12: undeclared reference to 'b'; 1:16: undeclared reference to 'c'"},
		{"value > 'high'", "contract: rule 0 (glucose): rule does not compile: 1:7: found no matching overload for '_>_' applied to '(double, string)'"},
		{"[value] == [1.0]", "contract: rule 0 (glucose): rule does not compile: a list at 1:1 is not allowed in a rule (only value, kind, literals and operators)"},
		{"value", "contract: rule 0 (glucose): rule does not return bool: it returns double"},
		{strings.Repeat("value > 1.0 || ", 16) + "true", "contract: rule 0: glucose: rules too complex: 65 tokens, limit 64"},
		{"(((((((((value > 1.0)))))))))", "contract: rule 0: glucose: rules too complex: brackets nested 9 deep, limit 8"},
	}
	for _, tt := range tests {
		_, err := Compile([]Rule{{Kind: vital.Glucose, Expr: tt.expr, Severity: Warning}})
		if err == nil || err.Error() != tt.want {
			t.Errorf("Compile(%.40q)\n got %v\nwant %s", tt.expr, err, tt.want)
		}
	}
	// A long list of issues is cut.
	_, err := Compile([]Rule{{Kind: vital.Glucose, Expr: strings.Repeat("a>1||", 15) + "a", Severity: Warning}})
	if !errors.Is(err, ErrCompile) || !strings.HasSuffix(err.Error(), "...") {
		t.Errorf("long error not cut: %v", err)
	}
}

// TestCompileDeterministic compiles every bad expression several times, in
// this environment and in a freshly built one, and wants the same error text
// each time: the ledger compiles inside consensus.
func TestCompileDeterministic(t *testing.T) {
	other := mustEnv()
	for _, tt := range badExprs {
		var first string
		for i := range 8 {
			e := ruleEnv
			if i%2 == 1 {
				e = other
			}
			_, err := compileExpr(e, tt.expr)
			if i == 0 {
				first = fmt.Sprint(err)
			} else if got := fmt.Sprint(err); got != first {
				t.Errorf("%s: compile %d gave %q, compile 0 gave %q", tt.name, i, got, first)
			}
		}
	}
}

// TestDefaultRules checks each default rule just inside and just outside
// its thresholds (one thousandth of the unit apart), and at the ends of the
// plausible range.
func TestDefaultRules(t *testing.T) {
	rules := DefaultRules()
	if len(rules) != len(vital.Kinds()) {
		t.Fatalf("%d default rules for %d kinds", len(rules), len(vital.Kinds()))
	}
	for i, k := range vital.Kinds() {
		if rules[i].Kind != k {
			t.Errorf("rule %d is for %s, want %s", i, rules[i].Kind, k)
		}
	}
	p := mustCompile(t, rules)
	q := func(s string) vital.Quantity {
		v, err := vital.ParseQuantity(s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		kind     vital.Kind
		abnormal []string
		normal   []string
	}{
		{vital.Glucose, []string{"0", "69.999", "180.001", "2000"}, []string{"70", "100", "180"}},
		{vital.HeartRate, []string{"0", "39.999", "120.001", "400"}, []string{"40", "72", "120"}},
		{vital.SpO2, []string{"0", "89.999"}, []string{"90", "97.5", "100"}},
		{vital.Systolic, []string{"0", "89.999", "180.001", "400"}, []string{"90", "120", "180"}},
		{vital.Diastolic, []string{"0", "49.999", "120.001", "300"}, []string{"50", "80", "120"}},
		{vital.RespiratoryRate, []string{"0", "7.999", "30.001", "150"}, []string{"8", "16", "30"}},
		{vital.BodyTemperature, []string{"20", "34.999", "39.001", "46"}, []string{"35", "37", "39"}},
		{vital.Steps, []string{"0", "499.999"}, []string{"500", "8000", "500000"}},
	}
	for _, tt := range tests {
		for _, s := range tt.abnormal {
			r, ok, err := p.Eval(tt.kind, q(s))
			if err != nil || !ok || r.Kind != tt.kind {
				t.Errorf("%s %s: got %v %v %v, want abnormal", tt.kind, s, r, ok, err)
			}
		}
		for _, s := range tt.normal {
			if r, ok, err := p.Eval(tt.kind, q(s)); err != nil || ok {
				t.Errorf("%s %s: got %v %v %v, want normal", tt.kind, s, r, ok, err)
			}
		}
	}
}

func TestEval(t *testing.T) {
	p := mustCompile(t, []Rule{
		{Kind: vital.Glucose, Expr: "value < 54.0", Severity: Critical},
		{Kind: vital.HeartRate, Expr: "true", Severity: Info},
		{Kind: vital.Glucose, Expr: "value > 180 || value < 70", Severity: Warning},
		{Kind: vital.Glucose, Expr: "kind == 'glucose' && value == 123.456", Severity: Info},
	})
	tests := []struct {
		kind  vital.Kind
		value vital.Quantity
		ok    bool
		sev   Severity
	}{
		{vital.Glucose, 50 * vital.Unit, true, Critical}, // the first match wins
		{vital.Glucose, 60 * vital.Unit, true, Warning},  // int literals compare with value
		{vital.Glucose, 181 * vital.Unit, true, Warning},
		{vital.Glucose, 123456, true, Info}, // exact decimal comparison
		{vital.Glucose, 123457, false, 0},
		{vital.HeartRate, 0, true, Info},
		{vital.SpO2, 0, false, 0}, // no rules for the kind
	}
	for _, tt := range tests {
		r, ok, err := p.Eval(tt.kind, tt.value)
		if err != nil || ok != tt.ok || r.Severity != tt.sev || (ok && r.Kind != tt.kind) {
			t.Errorf("Eval(%s, %s) = %+v, %v, %v; want %v %s", tt.kind, tt.value, r, ok, err, tt.ok, tt.sev)
		}
	}
	for _, k := range []vital.Kind{0, vital.Steps + 1, 255} {
		if _, ok, err := p.Eval(k, 0); ok || !errors.Is(err, vital.ErrUnknownKind) {
			t.Errorf("Eval(kind %d) = %v, %v; want ErrUnknownKind", k, ok, err)
		}
	}
	// The Program keeps its own copy of the rules.
	rules := p.Rules()
	rules[0].Severity = Info
	if r, _, _ := p.Eval(vital.Glucose, 0); r.Severity != Critical {
		t.Error("changing Rules() changed the Program")
	}
}

// TestExactThresholds: a threshold with three decimals compares with a
// Quantity exactly as the integer comparison does.
func TestExactThresholds(t *testing.T) {
	for _, th := range []vital.Quantity{0, 1, 35999, 36000, 37125, 39001, 99999, 123456789} {
		lit := th.String()
		if !strings.Contains(lit, ".") {
			lit += ".0"
		}
		p := mustCompile(t, []Rule{{Kind: vital.BodyTemperature, Expr: "value > " + lit, Severity: Info}})
		for d := vital.Quantity(-3); d <= 3; d++ {
			_, ok, err := p.Eval(vital.BodyTemperature, th+d)
			if err != nil || ok != (d > 0) {
				t.Errorf("threshold %s, value %s: %v %v", th, th+d, ok, err)
			}
		}
	}
}

func TestEvalError(t *testing.T) {
	cancelled := interpreter.EvalCancelledError{Cause: interpreter.CostLimitExceeded, Message: "operation cancelled: actual cost limit exceeded"}
	if err := evalError(3, vital.SpO2, cancelled); !errors.Is(err, ErrCostLimit) || !strings.Contains(err.Error(), "rule 3 (spo2)") {
		t.Errorf("cost limit: %v", err)
	}
	if err := evalError(0, vital.SpO2, errors.New("no such overload")); !errors.Is(err, ErrEval) {
		t.Errorf("other: %v", err)
	}
	// A program that fails at run time (built outside the rule language).
	p := failingProgram(t)
	r, ok, err := p.Eval(vital.Glucose, 0)
	if !errors.Is(err, ErrEval) || ok || r.Kind != vital.Glucose {
		t.Errorf("Eval of a failing rule = %v, %v, %v", r, ok, err)
	}
}

// failingProgram returns a Program whose only rule, for glucose, fails at
// run time: the rule language cannot express one, so it is compiled in the
// full CEL environment.
func failingProgram(t testing.TB) *Program {
	t.Helper()
	e, err := cel.NewEnv(cel.Variable(varValue, cel.DoubleType))
	if err != nil {
		t.Fatal(err)
	}
	checked, iss := e.Compile("int(value) / 0 == 1")
	if iss.Err() != nil {
		t.Fatal(iss.Err())
	}
	prg, err := e.Program(checked)
	if err != nil {
		t.Fatal(err)
	}
	p := mustCompile(t, []Rule{{Kind: vital.Glucose, Expr: "true", Severity: Warning, Cooldown: 60}})
	p.byKind[vital.Glucose][0].prg = prg
	return p
}
