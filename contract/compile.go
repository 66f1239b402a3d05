package contract

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common"
	"cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/cost"
	"cel.dev/cel-go/common/env"
	"cel.dev/cel-go/common/operators"
	"cel.dev/cel-go/common/overloads"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/interpreter"

	"github.com/vitalchain/vitalchain/vital"
)

// MaxCost bounds the estimated worst-case cost of one rule, in CEL cost
// units (about one per operator or variable). A rule like `value > 180.0 ||
// value < 70.0` costs 4. Within the compile budget (MaxExprTokens) no rule
// comes near it: it stays as a second fence.
const MaxCost = 100

// maxRecursion bounds the nesting of an expression's parse tree.
const maxRecursion = 32

// maxErrorLen bounds the compiler's message in an ErrCompile error.
const maxErrorLen = 512

// Names of the variables a rule sees.
const (
	varValue = "value"
	varKind  = "kind"
)

// ruleEnv is the CEL environment of the rule language. A cel.Env is
// immutable once built and safe for concurrent use.
var ruleEnv = mustEnv()

func mustEnv() *cel.Env {
	include := func(name string, overloadIDs ...string) *env.Function {
		var os []*env.Overload
		for _, id := range overloadIDs {
			os = append(os, &env.Overload{ID: id})
		}
		return env.NewFunction(name, os...)
	}
	subset := &env.LibrarySubset{
		DisableMacros: true,
		IncludeFunctions: []*env.Function{
			// Logic and comparisons, every overload: none fails at run time.
			include(operators.LogicalAnd),
			include(operators.LogicalOr),
			include(operators.LogicalNot),
			include(operators.Conditional),
			include(operators.Equals),
			include(operators.NotEquals),
			include(operators.Less),
			include(operators.LessEquals),
			include(operators.Greater),
			include(operators.GreaterEquals),
			// Arithmetic on doubles only: integer arithmetic can overflow or
			// divide by zero, which would be an error at run time.
			include(operators.Add, overloads.AddDouble),
			include(operators.Subtract, overloads.SubtractDouble),
			include(operators.Multiply, overloads.MultiplyDouble),
			include(operators.Divide, overloads.DivideDouble),
			include(operators.Negate, overloads.NegateDouble),
		},
	}
	e, err := cel.NewCustomEnv(
		cel.StdLib(cel.StdLibSubset(subset)),
		cel.ClearMacros(),
		cel.CrossTypeNumericComparisons(true),
		cel.ParserExpressionSizeLimit(MaxExprLen),
		cel.ParserRecursionLimit(maxRecursion),
		cel.Variable(varValue, cel.DoubleType),
		cel.Variable(varKind, cel.StringType),
	)
	if err != nil {
		panic("contract: building the CEL environment: " + err.Error())
	}
	return e
}

// Program is a compiled rule list, ready to evaluate. It is safe for
// concurrent use.
type Program struct {
	rules  []Rule
	byKind [][]compiled // indexed by vital.Kind: that kind's rules, in order
}

type compiled struct {
	index int // in Program.rules
	prg   cel.Program
}

// Compile type-checks rules and compiles them into a Program. A rule list
// of the wrong length gives ErrRules; rules over the compile budget (more
// than MaxExprTokens tokens or MaxNesting nested brackets in one
// expression, more than MaxRulesTokens tokens or MaxRulesLen bytes in all)
// ErrTooComplex, before anything is parsed; a rule of an unknown vital sign
// vital.ErrUnknownKind; of an unknown severity ErrBadSeverity; whose
// expression is empty codec.ErrMissingField, or longer than MaxExprLen bytes
// ErrTooLong; that does not parse or type-check in the rule language
// ErrCompile (the text includes the compiler's message); whose result is not
// a bool ErrNotBool; whose estimated cost exceeds MaxCost ErrCostLimit. The
// first failing rule decides the error, and the error and its text depend
// only on the rules, so they are the same on every node and every run.
func Compile(rules []Rule) (*Program, error) {
	if err := checkRuleCount(len(rules)); err != nil {
		return nil, err
	}
	if err := checkBudget(rules); err != nil {
		return nil, err
	}
	p := &Program{
		rules:  append([]Rule(nil), rules...),
		byKind: make([][]compiled, len(vital.Kinds())+1),
	}
	for i := range p.rules {
		r := &p.rules[i]
		if err := r.Validate(); err != nil {
			return nil, fmt.Errorf("contract: rule %d: %w", i, err)
		}
		prg, err := compileExpr(ruleEnv, r.Expr)
		if err != nil {
			return nil, fmt.Errorf("contract: rule %d (%s): %w", i, r.Kind, err)
		}
		p.byKind[r.Kind] = append(p.byKind[r.Kind], compiled{index: i, prg: prg})
	}
	return p, nil
}

func compileExpr(e *cel.Env, expr string) (cel.Program, error) {
	if len(expr) > MaxExprLen {
		return nil, fmt.Errorf("expression %w: %d bytes, limit %d", ErrTooLong, len(expr), MaxExprLen)
	}
	// Parse and Check rather than Compile: Compile renders every issue with
	// a source snippet, which for a long bad expression costs megabytes.
	parsed, iss := e.Parse(expr)
	if len(iss.Errors()) > 0 {
		return nil, fmt.Errorf("%w: %s", ErrCompile, issuesText(iss))
	}
	checked, iss := e.Check(parsed)
	if len(iss.Errors()) > 0 {
		return nil, fmt.Errorf("%w: %s", ErrCompile, issuesText(iss))
	}
	if err := checkDialect(checked); err != nil {
		return nil, err
	}
	if t := checked.OutputType(); !t.IsExactType(types.BoolType) {
		return nil, fmt.Errorf("%w: it returns %s", ErrNotBool, t)
	}
	est, err := e.EstimateCost(checked, sizes{})
	if err != nil {
		return nil, fmt.Errorf("%w: estimating: %v", ErrCostLimit, err)
	}
	if est.Max > MaxCost {
		return nil, fmt.Errorf("%w: estimated cost up to %d, limit %d", ErrCostLimit, est.Max, MaxCost)
	}
	// No run-time cost limit: the dialect has no loops, macros or functions,
	// so the static estimate above bounds every evaluation, and tracking
	// cost at run time would make each evaluation 3.5 times slower.
	prg, err := e.Program(checked, cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCompile, err)
	}
	return prg, nil
}

// issuesText is the compiler's message on one line: its issues sorted by
// position, each as "line:column: message", capped at maxErrorLen bytes. It
// depends only on the expression.
func issuesText(iss *cel.Issues) string {
	errs := slices.Clone(iss.Errors())
	slices.SortStableFunc(errs, func(a, b *common.Error) int {
		return cmp.Or(cmp.Compare(a.Location.Line(), b.Location.Line()),
			cmp.Compare(a.Location.Column(), b.Location.Column()))
	})
	var sb strings.Builder
	for i, e := range errs {
		if i > 0 {
			sb.WriteString("; ")
		}
		if l := e.Location; l.Line() > 0 {
			fmt.Fprintf(&sb, "%d:%d: ", l.Line(), l.Column()+1)
		}
		sb.WriteString(strings.Join(strings.Fields(strings.ToValidUTF8(e.Message, "\uFFFD")), " "))
		if sb.Len() > maxErrorLen {
			break
		}
	}
	s := sb.String()
	if len(s) > maxErrorLen {
		cut := maxErrorLen
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "..."
	}
	return s
}

// checkDialect rejects the CEL constructs the rule language leaves out even
// though the checker accepts them: list, map and message literals, field
// selection and comprehensions. What remains is identifiers, literals and
// calls of the functions in ruleEnv.
func checkDialect(a *cel.Ast) error {
	var bad ast.Expr
	ast.PostOrderVisit(a.NativeRep().Expr(), ast.NewExprVisitor(func(e ast.Expr) {
		if bad != nil {
			return
		}
		switch e.Kind() {
		case ast.IdentKind, ast.LiteralKind, ast.CallKind:
		default:
			bad = e
		}
	}))
	if bad == nil {
		return nil
	}
	loc := a.NativeRep().SourceInfo().GetStartLocation(bad.ID())
	return fmt.Errorf("%w: %s at 1:%d is not allowed in a rule (only value, kind, literals and operators)",
		ErrCompile, exprKindName(bad.Kind()), loc.Column()+1)
}

func exprKindName(k ast.ExprKind) string {
	switch k {
	case ast.ListKind:
		return "a list"
	case ast.MapKind:
		return "a map"
	case ast.StructKind:
		return "a message"
	case ast.SelectKind:
		return "a field selection"
	case ast.ComprehensionKind:
		return "a comprehension"
	}
	return "an expression"
}

// sizes gives the cost estimator the size of the rule's only variable-size
// input, kind.
type sizes struct{}

var maxKindLen = func() uint64 {
	var n int
	for _, k := range vital.Kinds() {
		n = max(n, len(k.String()))
	}
	return uint64(n)
}()

func (sizes) EstimateSize(n cost.AstNode) *cost.SizeEstimate {
	if p := n.Path(); len(p) == 1 && p[0] == varKind {
		return &cost.SizeEstimate{Min: 0, Max: maxKindLen}
	}
	return nil
}

func (sizes) EstimateCallCost(string, string, *cost.AstNode, []cost.AstNode) *cost.CallEstimate {
	return nil
}

// Rules returns a copy of the rules p was compiled from.
func (p *Program) Rules() []Rule { return append([]Rule(nil), p.rules...) }

// Eval evaluates p's rules for kind, in order, on value and returns the
// first that matches. A kind p has no rules for matches none; an invalid
// kind is an error wrapping vital.ErrUnknownKind. An evaluation that fails
// (ErrEval, ErrCostLimit) stops the search and returns its rule.
func (p *Program) Eval(kind vital.Kind, value vital.Quantity) (Rule, bool, error) {
	i, err := p.eval(new(activation), kind, value)
	if i < 0 {
		return Rule{}, false, err
	}
	return p.rules[i], err == nil, err
}

// eval returns the index of the first rule that matches or fails, or -1.
// It binds the variables in act, which callers may reuse.
func (p *Program) eval(act *activation, kind vital.Kind, value vital.Quantity) (int, error) {
	if !kind.Valid() {
		return -1, fmt.Errorf("contract: %w: %d", vital.ErrUnknownKind, uint8(kind))
	}
	if int(kind) >= len(p.byKind) || len(p.byKind[kind]) == 0 {
		return -1, nil
	}
	act.value, act.kind = types.Double(value.Float64()), kindNames[kind]
	for _, c := range p.byKind[kind] {
		out, _, err := c.prg.Eval(act)
		if err != nil {
			return c.index, evalError(c.index, kind, err)
		}
		if out == types.True {
			return c.index, nil
		}
	}
	return -1, nil
}

func evalError(i int, kind vital.Kind, err error) error {
	sentinel := ErrEval
	var cancel interpreter.EvalCancelledError
	if errors.As(err, &cancel) && cancel.Cause == interpreter.CostLimitExceeded {
		sentinel = ErrCostLimit
	}
	return fmt.Errorf("contract: rule %d (%s): %w: %v", i, kind, sentinel, err)
}

// kindNames holds each kind's name as a CEL value, boxed once.
var kindNames = func() []ref.Val {
	vs := make([]ref.Val, len(vital.Kinds())+1)
	for _, k := range vital.Kinds() {
		vs[k] = types.String(k.String())
	}
	return vs
}()

// activation supplies a rule's variables without building a map.
type activation struct {
	value ref.Val
	kind  ref.Val
}

func (a *activation) ResolveName(name string) (any, bool) {
	switch name {
	case varValue:
		return a.value, true
	case varKind:
		return a.kind, true
	}
	return nil, false
}

func (a *activation) Parent() interpreter.Activation { return nil }
