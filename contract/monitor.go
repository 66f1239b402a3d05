package contract

import "github.com/vitalchain/vitalchain/vital"

// Verdict is what a Monitor decides about one reading.
type Verdict struct {
	// Abnormal: a rule matched. The gateway stores and uploads every
	// abnormal reading, whether or not it raises an alert.
	Abnormal bool
	// Alert: the matching rule's cool-down had passed, so the gateway
	// notifies the contract's providers.
	Alert bool
	// Rule is the index in the contract's rules of the matching rule, or -1.
	Rule int
	// Severity is the matching rule's severity, or 0.
	Severity Severity
	// Suppressed counts, when Alert is set, the matches of this rule that
	// the cool-down withheld since its previous alert.
	Suppressed uint32
}

// Monitor evaluates a Program on a patient's readings and applies each
// rule's cool-down: after a rule alerts, its later matches are abnormal but
// do not alert until Cooldown seconds after the reading that alerted. It does
// no I/O and has no clock: time is the reading's, passed in, so its
// decisions depend only on the readings it is given. A reading timed before
// the rule's last alert is within the cool-down (unless it is 0), so a
// backlog of old readings arriving late does not flood the providers either.
//
// A Monitor is not safe for concurrent use, and its state lives only in
// memory: after a restart, a rule's first match alerts again.
type Monitor struct {
	p     *Program
	act   activation
	state []ruleState // per rule
}

type ruleState struct {
	last       int64 // reading time of the last alert, Unix ms
	alerted    bool  // last is set
	suppressed uint32
}

// NewMonitor returns a Monitor for p with no alert yet.
func NewMonitor(p *Program) *Monitor {
	return &Monitor{p: p, state: make([]ruleState, len(p.rules))}
}

// Program returns the Program m evaluates.
func (m *Monitor) Program() *Program { return m.p }

// Observe evaluates the reading of kind taken at time at (Unix
// milliseconds) with the given value. An invalid kind is an error wrapping
// vital.ErrUnknownKind. If evaluating a rule fails (ErrEval, ErrCostLimit,
// which the rule language is built never to produce), Observe fails safe: it
// treats the rule as matched, applies its cool-down, and returns the error
// along with the Verdict.
func (m *Monitor) Observe(at int64, kind vital.Kind, value vital.Quantity) (Verdict, error) {
	v, err := m.Evaluate(at, kind, value)
	m.Record(at, v)
	return v, err
}

// Evaluate is Observe that changes nothing: the verdict Observe would give
// now. A caller that must first act on the verdict durably (the gateway
// seals the reading) calls Record once it has: if it fails, the reading,
// sent again, gets the same verdict, and its alert is not lost to a
// cool-down that its failed first attempt started.
func (m *Monitor) Evaluate(at int64, kind vital.Kind, value vital.Quantity) (Verdict, error) {
	i, err := m.p.eval(&m.act, kind, value)
	if i < 0 {
		return Verdict{Rule: -1}, err
	}
	r := &m.p.rules[i]
	v := Verdict{Abnormal: true, Rule: i, Severity: r.Severity}
	s := &m.state[i]
	if s.alerted && r.Cooldown > 0 && (at < s.last || uint64(at)-uint64(s.last) < uint64(r.Cooldown)*1000) {
		return v, err
	}
	v.Alert, v.Suppressed = true, s.suppressed
	return v, err
}

// Record applies a verdict Evaluate gave for a reading at time at: an alert
// starts its rule's cool-down, a withheld match is counted.
func (m *Monitor) Record(at int64, v Verdict) {
	if v.Rule < 0 || v.Rule >= len(m.state) {
		return
	}
	s := &m.state[v.Rule]
	if v.Alert {
		*s = ruleState{last: at, alerted: true}
	} else if v.Abnormal && s.suppressed < ^uint32(0) {
		s.suppressed++
	}
}
