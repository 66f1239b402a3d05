package lifecycle

import (
	"errors"
	"testing"
	"time"

	"github.com/vitalchain/vitalchain/identity"
)

func TestApply(t *testing.T) {
	a, b := identity.ID{1}, identity.ID{2}
	const at = int64(1_000_000)
	acked := Status{State: Acknowledged, By: a, At: at}
	resolved := Status{State: Resolved, By: a, At: at}
	escalated := Status{State: Raised, Level: 1, Assigned: b}
	for _, tc := range []struct {
		name string
		from Status
		c    Change
		want Status
		err  error
	}{
		{"raised, acknowledged", Status{State: Raised}, Change{Action: Ack, Actor: a, Time: at}, Status{State: Acknowledged, By: a, At: at}, nil},
		{"raised, resolved", Status{State: Raised}, Change{Action: Resolve, Actor: b, Time: at}, Status{State: Resolved, By: b, At: at}, nil},
		{"acknowledged, resolved by another", acked, Change{Action: Resolve, Actor: b, Time: at + 1}, Status{State: Resolved, By: b, At: at + 1}, nil},
		{"acknowledged twice", acked, Change{Action: Ack, Actor: b, Time: at + 1}, acked, ErrIllegal},
		{"resolved, acknowledged", resolved, Change{Action: Ack, Actor: b}, resolved, ErrIllegal},
		{"resolved twice", resolved, Change{Action: Resolve, Actor: b}, resolved, ErrIllegal},
		{"resolved, snoozed", resolved, Change{Action: Snooze, Time: at, Until: at + 1}, resolved, ErrIllegal},
		{"raised, snoozed", Status{State: Raised}, Change{Action: Snooze, Actor: a, Time: at, Until: at + 60_000}, Status{State: Raised, Snoozed: at + 60_000}, nil},
		{"acknowledged, snoozed", acked, Change{Action: Snooze, Actor: a, Time: at, Until: at + 1}, Status{State: Acknowledged, By: a, At: at, Snoozed: at + 1}, nil},
		{"snoozed into the past", Status{State: Raised}, Change{Action: Snooze, Time: at, Until: at}, Status{State: Raised}, ErrSnooze},
		{"snoozed too long", Status{State: Raised}, Change{Action: Snooze, Time: at, Until: at + MaxSnooze.Milliseconds() + 1}, Status{State: Raised}, ErrSnooze},
		{"resolve ends a snooze", Status{State: Raised, Snoozed: at + 5}, Change{Action: Resolve, Actor: a, Time: at}, Status{State: Resolved, By: a, At: at}, nil},
		{"raised, escalated", Status{State: Raised}, Change{Action: Escalate, To: b, Level: 1}, escalated, nil},
		{"escalated again", escalated, Change{Action: Escalate, To: a, Level: 2}, Status{State: Raised, Level: 2, Assigned: a}, nil},
		{"the same escalation twice", escalated, Change{Action: Escalate, To: b, Level: 1}, escalated, ErrEscalation},
		{"an escalation skipping a level", Status{State: Raised}, Change{Action: Escalate, To: b, Level: 2}, Status{State: Raised}, ErrEscalation},
		{"an escalation to nobody", Status{State: Raised}, Change{Action: Escalate, Level: 1}, Status{State: Raised}, ErrEscalation},
		{"an acknowledged alert does not escalate", acked, Change{Action: Escalate, To: b, Level: 1}, acked, ErrIllegal},
		{"an unknown action", Status{State: Raised}, Change{Action: "delete"}, Status{State: Raised}, ErrAction},
		{"a full alert", Status{State: Raised, Changes: make([][]byte, MaxChanges)}, Change{Action: Ack, Actor: a}, Status{State: Raised, Changes: make([][]byte, MaxChanges)}, ErrFull},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.from
			err := s.Apply(tc.c)
			if !errors.Is(err, tc.err) || (err == nil) != (tc.err == nil) {
				t.Fatalf("Apply: %v, want %v", err, tc.err)
			}
			if s.State != tc.want.State || s.By != tc.want.By || s.At != tc.want.At || s.Snoozed != tc.want.Snoozed ||
				s.Level != tc.want.Level || s.Assigned != tc.want.Assigned {
				t.Errorf("after Apply: %+v, want %+v", s, tc.want)
			}
		})
	}
}

// Escalation, on a fake clock: one bound after the raise to the second
// provider, two bounds after to the third, never past the last, never
// while acknowledged or snoozed.
func TestEscalationDue(t *testing.T) {
	ps := []identity.ID{{1}, {2}, {3}}
	raised := time.UnixMilli(1_000_000)
	bound := 5 * time.Minute
	for _, tc := range []struct {
		name  string
		s     Status
		now   time.Time
		bound time.Duration
		to    identity.ID
		level uint8
		due   bool
	}{
		{"before the bound", Status{State: Raised}, raised.Add(bound - time.Millisecond), bound, identity.ID{}, 0, false},
		{"at the bound", Status{State: Raised}, raised.Add(bound), bound, ps[1], 1, true},
		{"escalated once, before the second bound", Status{State: Raised, Level: 1}, raised.Add(2*bound - 1), bound, identity.ID{}, 0, false},
		{"escalated once, at the second bound", Status{State: Raised, Level: 1}, raised.Add(2 * bound), bound, ps[2], 2, true},
		{"past the last provider", Status{State: Raised, Level: 2}, raised.Add(10 * bound), bound, identity.ID{}, 0, false},
		{"acknowledged", Status{State: Acknowledged}, raised.Add(10 * bound), bound, identity.ID{}, 0, false},
		{"resolved", Status{State: Resolved}, raised.Add(10 * bound), bound, identity.ID{}, 0, false},
		{"snoozed", Status{State: Raised, Snoozed: raised.Add(2 * bound).UnixMilli()}, raised.Add(bound), bound, identity.ID{}, 0, false},
		{"after the snooze", Status{State: Raised, Snoozed: raised.Add(2 * bound).UnixMilli()}, raised.Add(2 * bound), bound, ps[1], 1, true},
		{"no escalation time", Status{State: Raised}, raised.Add(10 * bound), 0, identity.ID{}, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			to, level, due := EscalationDue(tc.s, raised, tc.bound, ps, tc.now)
			if to != tc.to || level != tc.level || due != tc.due {
				t.Errorf("EscalationDue: %s %d %v, want %s %d %v", to, level, due, tc.to, tc.level, tc.due)
			}
		})
	}
}

func TestNoDataID(t *testing.T) {
	p, d := identity.ID{1}, identity.ID{2}
	ids := map[[32]byte]bool{NoDataID(p, d, 1): true, NoDataID(p, identity.ID{}, 1): true, NoDataID(p, d, 2): true, NoDataID(d, p, 1): true}
	if len(ids) != 4 || NoDataID(p, d, 1) != NoDataID(p, d, 1) {
		t.Error("no-data alert IDs collide or are not a function of their inputs")
	}
}
