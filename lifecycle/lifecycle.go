// Package lifecycle is an alert's lifecycle, as a pure state machine shared
// by the cloud (which keeps every alert's state, durably), the portals and
// the command line (which show it) and the patient's gateway (which
// escalates): raised → acknowledged (by whom) → resolved, with snooze and
// escalation to the next provider of the contract.
//
// Transitions (Status.Apply):
//
//	from \ action   ack            resolve    snooze                  escalate
//	raised          acknowledged   resolved   raised, snoozed         raised, level+1
//	acknowledged    illegal        resolved   acknowledged, snoozed   illegal
//	resolved        illegal        illegal    illegal                 illegal
//
// A snooze hides an open alert from the top of a triage list until its
// time, at most MaxSnooze ahead, and holds its escalation until then. An
// escalation names the provider it goes to and the level it reaches, which
// must be the next one: the same escalation sent twice is refused, not
// applied twice. Who may do what (a provider with a live grant acknowledges,
// resolves and snoozes; the patient escalates) is the cloud's to check.
//
// An alert is of a record (its ID is the record's) or a "no data" alert
// (NoDataID): a patient's device, or its gateway, silent for longer than
// its contract allows.
package lifecycle

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/vitalchain/vitalchain/identity"
)

// State is where an alert is in its lifecycle.
type State uint8

// The states of an alert.
const (
	Raised       State = iota + 1 // not yet acknowledged by a clinician
	Acknowledged                  // a clinician took it
	Resolved                      // closed
)

func (s State) String() string {
	switch s {
	case Raised:
		return "raised"
	case Acknowledged:
		return "acknowledged"
	case Resolved:
		return "resolved"
	}
	return "unknown"
}

// Open reports whether the alert still wants a clinician.
func (s State) Open() bool { return s == Raised || s == Acknowledged }

// Action is a change asked of an alert.
type Action string

// The actions.
const (
	Ack      Action = "ack"
	Resolve  Action = "resolve"
	Snooze   Action = "snooze"
	Escalate Action = "escalate"
)

// MaxSnooze bounds how far ahead a snooze may reach.
const MaxSnooze = 24 * time.Hour

// MaxChanges bounds the changes an alert keeps: its raise, an
// acknowledgement, a resolution, and snoozes and escalations between.
const MaxChanges = 64

// Refusals of Apply.
var (
	// ErrIllegal: a transition the table does not allow (acknowledging
	// an acknowledged alert, anything on a resolved one…).
	ErrIllegal = errors.New("illegal transition")
	// ErrSnooze: a snooze that does not end after its time, or ends more
	// than MaxSnooze after it.
	ErrSnooze = errors.New("bad snooze")
	// ErrEscalation: an escalation that names no provider or not the next
	// level.
	ErrEscalation = errors.New("bad escalation")
	// ErrAction: an action this package does not know.
	ErrAction = errors.New("unknown action")
	// ErrFull: an alert with MaxChanges changes takes no more.
	ErrFull = errors.New("too many changes")
)

// Change is one signed change of an alert's state, as the cloud verified it.
type Change struct {
	Action Action
	Actor  identity.ID // who signed it
	Time   int64       // when it was signed, Unix ms
	Until  int64       // a snooze's end, Unix ms
	To     identity.ID // an escalation's provider
	Level  uint8       // an escalation's level (the current one + 1)
}

// Status is an alert's state as the cloud keeps it and serves it.
type Status struct {
	Alert    [32]byte    `cbor:"1,keyasint"` // the record's ID, or a no-data alert's NoDataID
	Patient  identity.ID `cbor:"2,keyasint"`
	Contract [32]byte    `cbor:"3,keyasint"`
	// NoData: a "no data" alert: Device (zero: the gateway itself) silent
	// since Since (Unix ms).
	NoData bool        `cbor:"4,keyasint,omitempty"`
	Device identity.ID `cbor:"5,keyasint"`
	Since  int64       `cbor:"6,keyasint,omitempty"`
	// Raised is when the alert was raised (a record's: when the cloud
	// stored it, if known; 0: not known to the cloud's lifecycle).
	Raised  int64       `cbor:"7,keyasint,omitempty"`
	State   State       `cbor:"8,keyasint"`
	By      identity.ID `cbor:"9,keyasint"`  // who acknowledged it, or resolved it
	At      int64       `cbor:"10,keyasint"` // when State last changed, Unix ms
	Snoozed int64       `cbor:"11,keyasint,omitempty"`
	// Level counts the escalations; Assigned is the provider the last one
	// went to.
	Level    uint8       `cbor:"12,keyasint,omitempty"`
	Assigned identity.ID `cbor:"13,keyasint"`
	// Seq is the cloud's change counter at the alert's last change.
	Seq uint64 `cbor:"14,keyasint"`
	// Changes are the signed requests that made the state, in order, as
	// the cloud received them (anyone with the signers' keys checks them).
	Changes [][]byte `cbor:"15,keyasint"`
}

// New returns a raised alert.
func New(alert [32]byte, patient identity.ID, contract [32]byte, raised int64) Status {
	return Status{Alert: alert, Patient: patient, Contract: contract, Raised: raised, State: Raised, At: raised}
}

// Apply applies a change, or returns why it may not be applied (and
// changes nothing).
func (s *Status) Apply(c Change) error {
	if s.State == 0 {
		s.State = Raised
	}
	if len(s.Changes) >= MaxChanges {
		return fmt.Errorf("%w: %d changes", ErrFull, len(s.Changes))
	}
	if s.State == Resolved {
		return fmt.Errorf("%w: the alert is resolved", ErrIllegal)
	}
	switch c.Action {
	case Ack:
		if s.State != Raised {
			return fmt.Errorf("%w: the alert is already %s", ErrIllegal, s.State)
		}
		s.State, s.By, s.At = Acknowledged, c.Actor, c.Time
	case Resolve:
		s.State, s.By, s.At = Resolved, c.Actor, c.Time
		s.Snoozed = 0
	case Snooze:
		if c.Until <= c.Time || c.Until-c.Time > MaxSnooze.Milliseconds() {
			return fmt.Errorf("%w: until %d, at %d: a snooze ends within %s", ErrSnooze, c.Until, c.Time, MaxSnooze)
		}
		s.Snoozed = c.Until
	case Escalate:
		if s.State != Raised {
			return fmt.Errorf("%w: an %s alert does not escalate", ErrIllegal, s.State)
		}
		if c.To == (identity.ID{}) || c.Level != s.Level+1 {
			return fmt.Errorf("%w: level %d to %s, the alert is at level %d", ErrEscalation, c.Level, c.To, s.Level)
		}
		s.Level, s.Assigned = c.Level, c.To
	default:
		return fmt.Errorf("%w: %q", ErrAction, c.Action)
	}
	return nil
}

// OnCall returns the provider an alert at level goes to: the contract's
// providers in order, the first at level 0; ok is false past the last.
func OnCall(providers []identity.ID, level uint8) (identity.ID, bool) {
	if int(level) >= len(providers) {
		return identity.ID{}, false
	}
	return providers[level], true
}

// EscalationDue reports whether an alert raised at raised, left
// unacknowledged, is due to escalate at now under a bound (the contract's
// escalation time): one bound after it was raised for the first step, two
// for the second, and so on, and not while it is snoozed. It returns the
// provider and level of the step. A bound of 0 never escalates.
func EscalationDue(s Status, raised time.Time, bound time.Duration, providers []identity.ID, now time.Time) (identity.ID, uint8, bool) {
	if bound <= 0 || s.State != Raised || now.UnixMilli() < s.Snoozed {
		return identity.ID{}, 0, false
	}
	next := s.Level + 1
	if now.Before(raised.Add(time.Duration(next) * bound)) {
		return identity.ID{}, 0, false
	}
	to, ok := OnCall(providers, next)
	if !ok {
		return identity.ID{}, 0, false
	}
	return to, next, true
}

// NoDataID is the ID of the "no data" alert of a patient's device (zero:
// the gateway itself) silent since since (Unix ms).
func NoDataID(patient, device identity.ID, since int64) [32]byte {
	h := sha256.New()
	h.Write([]byte("vitalchain/no-data-alert/v1\x00"))
	h.Write(patient[:])
	h.Write(device[:])
	binary.Write(h, binary.BigEndian, since)
	var id [32]byte
	h.Sum(id[:0])
	return id
}
