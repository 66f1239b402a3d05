package contract

import "fmt"

// checkBudget bounds the work of compiling rules before any of it is done:
// each expression's length, tokens and bracket depth, and the contract's
// bytes and tokens together. A contract within the budget compiles in a
// few milliseconds at worst (BenchmarkCompileWorst), accepted or refused.
// The verdict depends only on the rules.
func checkBudget(rules []Rule) error {
	var bytes, tokens int
	for i := range rules {
		r := &rules[i]
		if len(r.Expr) > MaxExprLen {
			return fmt.Errorf("contract: rule %d: %s: expression %w: %d bytes, limit %d", i, r.Kind, ErrTooLong, len(r.Expr), MaxExprLen)
		}
		n, depth := scanExpr(r.Expr)
		if n > MaxExprTokens {
			return fmt.Errorf("contract: rule %d: %s: %w: %d tokens, limit %d", i, r.Kind, ErrTooComplex, n, MaxExprTokens)
		}
		if depth > MaxNesting {
			return fmt.Errorf("contract: rule %d: %s: %w: brackets nested %d deep, limit %d", i, r.Kind, ErrTooComplex, depth, MaxNesting)
		}
		bytes += len(r.Expr)
		tokens += n
	}
	if bytes > MaxRulesLen {
		return fmt.Errorf("contract: %w: expressions of %d bytes together, limit %d", ErrTooComplex, bytes, MaxRulesLen)
	}
	if tokens > MaxRulesTokens {
		return fmt.Errorf("contract: %w: expressions of %d tokens together, limit %d", ErrTooComplex, tokens, MaxRulesTokens)
	}
	return nil
}

// scanExpr counts an expression's tokens and the deepest nesting of its
// brackets, without parsing it. The count is never below the number of
// tokens CEL's lexer finds, so that it bounds the parser's work: a token is
// a run of letters, digits and underscores (with the decimal point of a
// number; a letter after a digit starts another), one of the two-character
// operators, or any other single byte.
// String literals are not recognised, so each word and sign inside one
// counts: that overcounts, but no literal can hide tokens from the count.
func scanExpr(s string) (tokens, depth int) {
	d := 0
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			i++
			continue
		case isWord(c):
			// A digit followed by a letter ends a token ("1e5" counts
			// two): CEL's lexer may split there ("12abc" is a number and
			// an identifier).
			i++
			for i < len(s) && (isWord(s[i]) && !(isDigit(s[i-1]) && !isDigit(s[i])) ||
				s[i] == '.' && isDigit(s[i-1]) && i+1 < len(s) && isDigit(s[i+1])) {
				i++
			}
		case i+1 < len(s) && isPair(c, s[i+1]):
			i += 2
		default:
			switch c {
			case '(', '[', '{':
				d++
				depth = max(depth, d)
			case ')', ']', '}':
				d = max(d-1, 0)
			}
			i++
		}
		tokens++
	}
	return tokens, depth
}

func isWord(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || isDigit(c) || c == '_'
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// isPair reports whether a and b form one of CEL's two-character operators.
func isPair(a, b byte) bool {
	switch a {
	case '|', '&':
		return b == a
	case '=', '!', '<', '>':
		return b == '='
	}
	return false
}
