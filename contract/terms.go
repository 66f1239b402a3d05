package contract

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/vitalchain/vitalchain/codec"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/vital"
)

// Version is the only Terms format version this package reads and writes.
const Version uint8 = 1

// Limits on Terms.
const (
	MaxProviders = 16  // providers per contract
	MaxRules     = 16  // rules per contract
	MaxExprLen   = 256 // bytes of one rule's expression
	MaxNameLen   = 64  // bytes of a contract's name

	// The compile budget: every gateway compiles its contracts, so
	// Compile bounds its work before it parses anything, with a scan that
	// costs a few nanoseconds a byte (see the package documentation).
	MaxRulesLen    = 2048 // bytes of all a contract's expressions together
	MaxExprTokens  = 64   // tokens of one expression
	MaxRulesTokens = 192  // tokens of all a contract's expressions together
	MaxNesting     = 8    // depth of brackets in one expression

	// MaxTermsSize bounds the encoding of Terms that ParseTerms accepts; the
	// largest valid Terms encode in less (see TestMaxTermsSize).
	MaxTermsSize = 8 << 10
)

// Errors about terms and rules, each wrapped with detail. Compile also
// returns vital.ErrUnknownKind, and Terms.Validate returns
// codec.ErrUnknownVersion and codec.ErrMissingField.
var (
	// ErrBadSeverity: a severity that is not Info, Warning or Critical.
	ErrBadSeverity = errors.New("unknown severity")
	// ErrProviders: no providers, too many, not in ascending order, repeated,
	// or including the patient.
	ErrProviders = errors.New("bad provider list")
	// ErrRules: no rules, or more than MaxRules.
	ErrRules = errors.New("bad rule list")
	// ErrTooLong: an expression longer than MaxExprLen or a name longer than
	// MaxNameLen bytes.
	ErrTooLong = errors.New("too long")
	// ErrBadName: a name that is not valid UTF-8.
	ErrBadName = errors.New("name is not valid utf-8")
	// ErrTooComplex: rules over the compile budget: an expression of more
	// than MaxExprTokens tokens or nested deeper than MaxNesting brackets,
	// or a contract whose expressions hold more than MaxRulesTokens tokens
	// or MaxRulesLen bytes together.
	ErrTooComplex = errors.New("rules too complex")

	// ErrCompile: an expression that does not parse or type-check in the
	// rule language; the error text includes the compiler's message.
	ErrCompile = errors.New("rule does not compile")
	// ErrNotBool: an expression whose result is not a bool.
	ErrNotBool = errors.New("rule does not return bool")
	// ErrCostLimit: an expression whose estimated worst-case cost exceeds
	// MaxCost, or whose evaluation exceeded it.
	ErrCostLimit = errors.New("rule exceeds cost limit")
	// ErrEval: an evaluation failed. The rule language has no run-time
	// errors, so this reports a bug; a Monitor treats the rule as matched.
	ErrEval = errors.New("rule evaluation failed")
)

// Rule decides, for one vital sign, whether a reading is abnormal.
type Rule struct {
	Kind     vital.Kind `cbor:"1,keyasint"`
	Expr     string     `cbor:"2,keyasint"` // CEL, see the package documentation
	Severity Severity   `cbor:"3,keyasint"`
	Cooldown uint32     `cbor:"4,keyasint"` // seconds between two alerts of this rule; 0 alerts on every match
}

// Terms are the content of an alert contract, which the patient signs and
// each provider accepts. Every field is always present on the wire.
type Terms struct {
	Version   uint8         `cbor:"1,keyasint"` // always Version
	Patient   identity.ID   `cbor:"2,keyasint"`
	Providers []identity.ID `cbor:"3,keyasint"` // ascending, unique, 1 to MaxProviders
	Rules     []Rule        `cbor:"4,keyasint"` // 1 to MaxRules, evaluated in order
	Name      string        `cbor:"5,keyasint"` // a human label, at most MaxNameLen bytes; may be empty
	// Escalation is how long, in seconds, an alert may stay
	// unacknowledged before it goes to the next provider of Providers
	// (the first is on call; package lifecycle); 0: never. NoData is how
	// long, in seconds, the patient's gateway or one of its devices may
	// be silent before a "no data" alert is raised; 0: never. Both are
	// omitted from the encoding when 0, so that terms made before they
	// existed encode, hash and commit as they did.
	Escalation uint32 `cbor:"6,keyasint,omitempty"`
	NoData     uint32 `cbor:"7,keyasint,omitempty"`
}

// MaxBound bounds Terms.Escalation and Terms.NoData: a week, in seconds.
const MaxBound = 7 * 24 * 3600

// ErrBound: an escalation or no-data time over MaxBound.
var ErrBound = errors.New("bound out of range")

// Hash returns the SHA-256 hash of t's encoding: what the parties sign to
// agree to exactly these terms.
func (t *Terms) Hash() ([32]byte, error) {
	b, err := codec.Marshal(t)
	if err != nil {
		return [32]byte{}, fmt.Errorf("contract: %w", err)
	}
	return sha256.Sum256(b), nil
}

// Marshal returns t's encoding, after checking it with Validate.
func (t *Terms) Marshal() ([]byte, error) {
	if err := t.Validate(); err != nil {
		return nil, err
	}
	b, err := codec.Marshal(t)
	if err != nil {
		return nil, fmt.Errorf("contract: %w", err)
	}
	return b, nil
}

// ParseTerms decodes terms from untrusted bytes (at most MaxTermsSize, in
// canonical encoding; codec's errors) and checks them with Validate. It does
// not compile the rules.
func ParseTerms(b []byte) (Terms, error) {
	var t Terms
	if err := codec.UnmarshalLimit(b, MaxTermsSize, &t); err != nil {
		return Terms{}, fmt.Errorf("contract: terms: %w", err)
	}
	if err := t.Validate(); err != nil {
		return Terms{}, err
	}
	return t, nil
}

// Validate checks t's structure: version (codec.ErrUnknownVersion), patient
// (codec.ErrMissingField), providers (ErrProviders), name (ErrTooLong,
// ErrBadName) and each rule with Rule.Validate. Compile checks the
// expressions themselves.
func (t *Terms) Validate() error {
	if err := codec.CheckVersion("contract terms", t.Version, Version); err != nil {
		return fmt.Errorf("contract: %w", err)
	}
	if t.Patient == (identity.ID{}) {
		return fmt.Errorf("contract: %w: patient", codec.ErrMissingField)
	}
	if err := checkProviders(t.Patient, t.Providers); err != nil {
		return err
	}
	if len(t.Name) > MaxNameLen {
		return fmt.Errorf("contract: name: %w: %d bytes, limit %d", ErrTooLong, len(t.Name), MaxNameLen)
	}
	if !utf8.ValidString(t.Name) {
		return fmt.Errorf("contract: %w", ErrBadName)
	}
	if err := checkRuleCount(len(t.Rules)); err != nil {
		return err
	}
	if t.Escalation > MaxBound || t.NoData > MaxBound {
		return fmt.Errorf("contract: %w: escalation %d s, no data %d s, at most %d s", ErrBound, t.Escalation, t.NoData, MaxBound)
	}
	for i := range t.Rules {
		if err := t.Rules[i].Validate(); err != nil {
			return fmt.Errorf("contract: rule %d: %w", i, err)
		}
	}
	return nil
}

func checkProviders(patient identity.ID, ps []identity.ID) error {
	if len(ps) == 0 || len(ps) > MaxProviders {
		return fmt.Errorf("contract: %w: %d providers, want 1 to %d", ErrProviders, len(ps), MaxProviders)
	}
	for i, p := range ps {
		switch {
		case p == identity.ID{}:
			return fmt.Errorf("contract: %w: provider %d is the zero id", ErrProviders, i)
		case p == patient:
			return fmt.Errorf("contract: %w: provider %d is the patient", ErrProviders, i)
		case i > 0 && string(ps[i-1][:]) >= string(p[:]):
			return fmt.Errorf("contract: %w: provider %d is not after provider %d (ascending, no repeats)", ErrProviders, i, i-1)
		}
	}
	return nil
}

func checkRuleCount(n int) error {
	if n == 0 || n > MaxRules {
		return fmt.Errorf("contract: %w: %d rules, want 1 to %d", ErrRules, n, MaxRules)
	}
	return nil
}

// Validate checks r's vital sign (vital.ErrUnknownKind), severity
// (ErrBadSeverity) and expression length (codec.ErrMissingField, ErrTooLong),
// but not whether the expression compiles.
func (r *Rule) Validate() error {
	if !r.Kind.Valid() {
		return fmt.Errorf("%w: %d", vital.ErrUnknownKind, uint8(r.Kind))
	}
	if !r.Severity.Valid() {
		return fmt.Errorf("%s: %w: %d", r.Kind, ErrBadSeverity, uint8(r.Severity))
	}
	if r.Expr == "" {
		return fmt.Errorf("%s: %w: expression", r.Kind, codec.ErrMissingField)
	}
	if len(r.Expr) > MaxExprLen {
		return fmt.Errorf("%s: expression %w: %d bytes, limit %d", r.Kind, ErrTooLong, len(r.Expr), MaxExprLen)
	}
	return nil
}
