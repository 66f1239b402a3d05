package contract

import (
	"slices"
	"strings"
	"testing"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"

	"github.com/vitalchain/vitalchain/vital"
)

const glucoseExpr = "value > 180.0 || value < 70.0"

var sinkBool bool

// benchValues cycle through normal and abnormal glucose readings.
var benchValues = [4]vital.Quantity{120 * vital.Unit, 250 * vital.Unit, 60 * vital.Unit, 150 * vital.Unit}

// BenchmarkEval evaluates the glucose rule, through Program.Eval.
func BenchmarkEval(b *testing.B) {
	p, err := Compile([]Rule{{Kind: vital.Glucose, Expr: glucoseExpr, Severity: Warning}})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		_, ok, err := p.Eval(vital.Glucose, benchValues[i&3])
		if err != nil {
			b.Fatal(err)
		}
		sinkBool = ok
	}
}

// BenchmarkEvalBaseline is the same rule written in Go: the floor.
func BenchmarkEvalBaseline(b *testing.B) {
	rule := func(value float64) bool { return value > 180.0 || value < 70.0 }
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		sinkBool = rule(benchValues[i&3].Float64())
	}
}

// BenchmarkEvalCEL is the raw cel-go primitive Eval wraps, with the same
// program options (cost limit included) and a reused activation.
func BenchmarkEvalCEL(b *testing.B) {
	benchCEL(b, cel.EvalOptions(cel.OptOptimize), cel.CostLimit(MaxCost))
}

// BenchmarkEvalCELNoCostLimit is the raw primitive without the run-time
// cost limit, to show what that second fence costs.
func BenchmarkEvalCELNoCostLimit(b *testing.B) {
	benchCEL(b, cel.EvalOptions(cel.OptOptimize))
}

func benchCEL(b *testing.B, opts ...cel.ProgramOption) {
	parsed, iss := ruleEnv.Parse(glucoseExpr)
	if iss.Err() != nil {
		b.Fatal(iss.Err())
	}
	checked, iss := ruleEnv.Check(parsed)
	if iss.Err() != nil {
		b.Fatal(iss.Err())
	}
	prg, err := ruleEnv.Program(checked, opts...)
	if err != nil {
		b.Fatal(err)
	}
	act := &activation{kind: kindNames[vital.Glucose]}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		act.value = types.Double(benchValues[i&3].Float64())
		out, _, err := prg.Eval(act)
		if err != nil {
			b.Fatal(err)
		}
		sinkBool = out == types.True
	}
}

// BenchmarkMonitor is one reading through a Monitor holding the default
// rules.
func BenchmarkMonitor(b *testing.B) {
	p, err := Compile(DefaultRules())
	if err != nil {
		b.Fatal(err)
	}
	m := NewMonitor(p)
	b.ReportAllocs()
	var at int64
	i := 0
	for b.Loop() {
		i++
		at += 1000
		v, err := m.Observe(at, vital.Glucose, benchValues[i&3])
		if err != nil {
			b.Fatal(err)
		}
		sinkBool = v.Alert
	}
}

// BenchmarkCompile compiles the default rules, as the ledger does for each
// contract deployed.
func BenchmarkCompile(b *testing.B) {
	rules := DefaultRules()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compile(rules); err != nil {
			b.Fatal(err)
		}
	}
}

// worstAccepted are the costliest contracts within the compile budget that
// compile, one per shape: a validator compiles each deployed contract.
// Many short rules cost more than few long ones (each rule has a fixed
// cost), and comparisons more than arithmetic.
func worstAccepted() map[string][]Rule {
	fill := func(expr string) []Rule { // as many rules of expr as the budget holds
		n, _ := scanExpr(expr)
		return repeatRule(expr, min(MaxRules, MaxRulesTokens/n))
	}
	return map[string][]Rule{
		"or-chains":     fill(orChain(4)),
		"long-rules":    fill(orChain(16)),
		"value-value":   fill("value > value || value < value || value >= value || value <= value"),
		"kind-compares": fill("kind > kind || kind < kind || kind >= kind || kind <= kind"),
		"int-compares":  fill("value > 1 || value < 2 || value >= 3 || value <= 4"),
		"arithmetic":    fill("value * 2.0 > value / 3.0 + value - 4.0"),
	}
}

// worstRefused are the costliest contracts within the compile budget that
// Compile refuses, one per shape: the rules before the bad one compile
// (as costly as the budget leaves room for), then the bad one fails as
// late and as verbosely as it can. A contract over the budget costs only
// the scan ("over-budget").
func worstRefused() map[string][]Rule {
	bad := func(expr string) []Rule {
		n, _ := scanExpr(expr)
		good := orChain(4)
		g, _ := scanExpr(good)
		return append(repeatRule(good, min(MaxRules-1, (MaxRulesTokens-n)/g)), rules(expr)...)
	}
	return map[string][]Rule{
		"undeclared":    bad(strings.Repeat("x>y||", 12) + "x>y"),
		"type-errors":   bad(strings.Repeat("kind>1.0||", 10) + "kind>1.0"),
		"syntax-errors": bad(strings.Repeat(">", MaxExprTokens)),
		"stray-bytes":   bad(strings.Repeat("\xff", MaxExprTokens)),
		"unterminated":  bad("'" + strings.Repeat("a", MaxExprLen-1)),
		"not-bool":      bad(orChain(13) + " ? 1.0 : 2.0"),
		"over-budget":   repeatRule(strings.Repeat("x>y||", 50)+"x>y", MaxRules),
	}
}

// BenchmarkCompileWorst compiles the costliest contracts Compile accepts:
// the ledger's worst case for a deployment that commits.
func BenchmarkCompileWorst(b *testing.B) {
	benchCompile(b, worstAccepted(), true)
}

// BenchmarkCompileRejectWorst compiles the costliest contracts Compile
// refuses: the ledger's worst case for a deployment it refuses.
func BenchmarkCompileRejectWorst(b *testing.B) {
	benchCompile(b, worstRefused(), false)
}

func benchCompile(b *testing.B, cases map[string][]Rule, accept bool) {
	names := make([]string, 0, len(cases))
	for n := range cases {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, name := range names {
		rs := cases[name]
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Compile(rs); (err == nil) != accept {
					b.Fatalf("Compile = %v", err)
				}
			}
		})
	}
}
