package contract

import (
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

// BenchmarkCompileWorst compiles the most a contract may hold: MaxRules
// rules of MaxExprLen bytes near the cost limit, the ledger's worst case.
func BenchmarkCompileWorst(b *testing.B) {
	expr := strings.Repeat("value > 1.0 || ", 48) + "true"
	expr += strings.Repeat(" ", MaxExprLen-len(expr))
	rules := make([]Rule, MaxRules)
	for i := range rules {
		rules[i] = Rule{Kind: vital.Glucose, Expr: expr, Severity: Warning}
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compile(rules); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCompileRejectWorst compiles a maximal rule that fails with many
// errors, 32 times.
func BenchmarkCompileRejectWorst(b *testing.B) {
	expr := strings.Repeat("a>b||", MaxExprLen/5)
	b.ReportAllocs()
	for b.Loop() {
		for range MaxRules {
			if _, err := Compile([]Rule{{Kind: vital.Glucose, Expr: expr, Severity: Warning}}); err == nil {
				b.Fatal("compiled")
			}
		}
	}
}
