// Package contract implements VitalChain's alert contracts, the paper's
// "smart contracts" that decide which readings are abnormal.
//
// An alert contract is an agreement between one patient and one or more
// providers: its Terms list, per vital sign, Rules written as CEL expressions
// over the reading (for glucose in mg/dL: `value > 180.0 || value < 70.0`),
// each with a Severity and a cool-down. The patient signs the terms and every
// provider accepts exactly them by signing their commitment (Terms.Commit,
// a hash of the terms with a random salt, which is the contract's ID). The
// ledger stores the commitment and the terms sealed for the parties (Seal,
// Sealed: encrypted under a key of the contract alone, wrapped to each party
// in an envelope of kind Contract), so that nothing on the chain names a
// vital sign, a threshold, a severity or a label; it cannot read them. The
// patient's gateway opens them (Sealed.Open, which checks the commitment),
// compiles them and evaluates them on every reading (Program.Eval, or a
// Monitor that also applies the cool-downs).
//
// # The rule language
//
// A rule is a CEL expression (https://cel.dev) that must evaluate to a bool.
// It sees two variables:
//
//   - value, a double: the reading in whole units of its vital sign's UCUM
//     unit (vital.Quantity.Float64), so 37.25 Cel is 37.25;
//   - kind, a string: the vital sign's short name, "glucose".
//
// It may use literals, the logical operators (&&, ||, !, ?:), the comparisons
// (==, !=, <, <=, >, >=; a double compares with an int literal too, so
// `value > 180` works) and double arithmetic (+, -, *, /, unary -). Nothing
// else: no macros, no list, map or message literals, no field selection, no
// functions, and no extension library. So a rule cannot read a clock or a
// random source, allocate without bound, loop, or fail at run time (double
// arithmetic does not raise errors), and its cost is bounded by its length.
// A threshold with at most three decimals compares exactly with a Quantity,
// since both sides are the correctly rounded double of the same decimal.
//
// Compile checks a rule list once: first, without parsing, that it is
// within the compile budget, since every party compiles every contract
// deployed: at most MaxRules rules, MaxExprLen bytes and MaxExprTokens
// tokens per expression, brackets nested at most MaxNesting deep, and
// MaxRulesTokens tokens and MaxRulesLen bytes in all (ErrTooLong,
// ErrTooComplex); so no contract, accepted or refused, costs a gateway
// more than a few milliseconds (BenchmarkCompileWorst,
// BenchmarkCompileRejectWorst). Then length (ErrTooLong), vital sign
// (vital.ErrUnknownKind), syntax and types (ErrCompile), result type
// (ErrNotBool) and estimated worst-case cost (ErrCostLimit, limit MaxCost; the
// same limit is also enforced at run time). Its verdict and its error text
// depend only on the rules, never on the node or the run, so that every
// party to a contract reaches the same verdict.
//
// # Cool-down
//
// A Monitor applies each rule's cool-down: after a rule raises an alert, it
// raises no other for the same rule until Cooldown seconds of reading time
// have passed. The cool-down limits alerts only, never data: every reading
// that matches a rule is still abnormal (Verdict.Abnormal), and the gateway
// stores and uploads every abnormal reading, so a clinician misses no data
// but is not flooded with notifications; an alert counts the matches it
// follows that the cool-down withheld (Verdict.Suppressed).
package contract
