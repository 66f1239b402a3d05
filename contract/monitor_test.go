package contract

import (
	"errors"
	"math"
	"testing"

	"github.com/vitalchain/vitalchain/vital"
)

func TestMonitor(t *testing.T) {
	p := mustCompile(t, []Rule{
		{Kind: vital.Glucose, Expr: "value < 54.0", Severity: Critical, Cooldown: 300},
		{Kind: vital.Glucose, Expr: "value > 180.0 || value < 70.0", Severity: Warning, Cooldown: 900},
		{Kind: vital.HeartRate, Expr: "value > 120.0", Severity: Warning, Cooldown: 0},
	})
	const s = 1000 // one second in ms
	normal := Verdict{Rule: -1}
	type step struct {
		at    int64
		kind  vital.Kind
		value vital.Quantity
		want  Verdict
	}
	steps := []step{
		{0, vital.Glucose, 100 * vital.Unit, normal},
		{1 * s, vital.Glucose, 200 * vital.Unit, Verdict{Abnormal: true, Alert: true, Rule: 1, Severity: Warning}},
		{2 * s, vital.Glucose, 210 * vital.Unit, Verdict{Abnormal: true, Rule: 1, Severity: Warning}},
		{3 * s, vital.Glucose, 100 * vital.Unit, normal},
		// Rules cool down independently: rule 0 has not alerted yet.
		{4 * s, vital.Glucose, 50 * vital.Unit, Verdict{Abnormal: true, Alert: true, Rule: 0, Severity: Critical}},
		{5 * s, vital.Glucose, 50 * vital.Unit, Verdict{Abnormal: true, Rule: 0, Severity: Critical}},
		{6 * s, vital.Glucose, 60 * vital.Unit, Verdict{Abnormal: true, Rule: 1, Severity: Warning}},
		// Rule 0's cool-down ends exactly 300 s after its alert.
		{304*s - 1, vital.Glucose, 50 * vital.Unit, Verdict{Abnormal: true, Rule: 0, Severity: Critical}},
		{304 * s, vital.Glucose, 50 * vital.Unit, Verdict{Abnormal: true, Alert: true, Rule: 0, Severity: Critical, Suppressed: 2}},
		// A late reading, timed before the last alert, is in the cool-down.
		{2 * s, vital.Glucose, 50 * vital.Unit, Verdict{Abnormal: true, Rule: 0, Severity: Critical}},
		{901*s - 1, vital.Glucose, 300 * vital.Unit, Verdict{Abnormal: true, Rule: 1, Severity: Warning}},
		{901 * s, vital.Glucose, 300 * vital.Unit, Verdict{Abnormal: true, Alert: true, Rule: 1, Severity: Warning, Suppressed: 3}},
		// Cool-down 0 alerts on every match, in any order.
		{10 * s, vital.HeartRate, 130 * vital.Unit, Verdict{Abnormal: true, Alert: true, Rule: 2, Severity: Warning}},
		{10 * s, vital.HeartRate, 130 * vital.Unit, Verdict{Abnormal: true, Alert: true, Rule: 2, Severity: Warning}},
		{9 * s, vital.HeartRate, 130 * vital.Unit, Verdict{Abnormal: true, Alert: true, Rule: 2, Severity: Warning}},
		{11 * s, vital.HeartRate, 80 * vital.Unit, normal},
		// A kind without rules is normal.
		{12 * s, vital.SpO2, 50 * vital.Unit, normal},
	}
	m := NewMonitor(p)
	if m.Program() != p {
		t.Fatal("Program() is not the Program")
	}
	for i, st := range steps {
		got, err := m.Observe(st.at, st.kind, st.value)
		if err != nil || got != st.want {
			t.Errorf("step %d (%d ms, %s %s): got %+v, %v; want %+v", i, st.at, st.kind, st.value, got, err, st.want)
		}
	}
	if v, err := m.Observe(0, 0, 0); !errors.Is(err, vital.ErrUnknownKind) || v != normal {
		t.Errorf("Observe of kind 0 = %+v, %v; want ErrUnknownKind", v, err)
	}
}

// TestMonitorTimeExtremes: the cool-down arithmetic does not overflow.
func TestMonitorTimeExtremes(t *testing.T) {
	p := mustCompile(t, []Rule{{Kind: vital.Steps, Expr: "true", Severity: Info, Cooldown: math.MaxUint32}})
	const cool = int64(math.MaxUint32) * 1000
	steps := []struct {
		at    int64
		alert bool
	}{
		{math.MinInt64, true},
		{math.MinInt64 + cool - 1, false},
		{math.MinInt64 + cool, true},
		{math.MaxInt64, true},
		{math.MinInt64, false},
		{math.MaxInt64 - 1, false},
	}
	m := NewMonitor(p)
	for i, st := range steps {
		v, err := m.Observe(st.at, vital.Steps, 0)
		if err != nil || !v.Abnormal || v.Alert != st.alert {
			t.Errorf("step %d at %d: %+v, %v; want alert %v", i, st.at, v, err, st.alert)
		}
	}
}

// TestMonitorSuppressedSaturates: the count of withheld matches stops at
// its maximum instead of wrapping.
func TestMonitorSuppressedSaturates(t *testing.T) {
	m := NewMonitor(mustCompile(t, []Rule{{Kind: vital.Steps, Expr: "true", Severity: Info, Cooldown: 10}}))
	if v, _ := m.Observe(0, vital.Steps, 0); !v.Alert {
		t.Fatal("first match does not alert")
	}
	m.state[0].suppressed = math.MaxUint32 - 1
	for range 3 {
		m.Observe(1, vital.Steps, 0)
	}
	if v, _ := m.Observe(10_000, vital.Steps, 0); !v.Alert || v.Suppressed != math.MaxUint32 {
		t.Errorf("got %+v, want an alert with Suppressed = MaxUint32", v)
	}
}

// TestMonitorFailSafe: a rule whose evaluation fails counts as matched.
func TestMonitorFailSafe(t *testing.T) {
	m := NewMonitor(failingProgram(t))
	v, err := m.Observe(0, vital.Glucose, 100*vital.Unit)
	if !errors.Is(err, ErrEval) || v != (Verdict{Abnormal: true, Alert: true, Rule: 0, Severity: Warning}) {
		t.Errorf("first failure: %+v, %v", v, err)
	}
	v, err = m.Observe(1000, vital.Glucose, 100*vital.Unit)
	if !errors.Is(err, ErrEval) || v != (Verdict{Abnormal: true, Rule: 0, Severity: Warning}) {
		t.Errorf("second failure, in the cool-down: %+v, %v", v, err)
	}
}

// Evaluate changes nothing: a verdict not recorded (its reading failed to
// be sealed) is given again, alert included; once recorded, the cool-down
// starts.
func TestEvaluateThenRecord(t *testing.T) {
	p := mustCompile(t, []Rule{{Kind: vital.Glucose, Expr: "value > 180.0", Severity: Warning, Cooldown: 60}})
	m := NewMonitor(p)
	for range 3 {
		if v, err := m.Evaluate(1000, vital.Glucose, 200*vital.Unit); err != nil || !v.Alert {
			t.Fatalf("an unrecorded verdict changed: %+v %v", v, err)
		}
	}
	v, _ := m.Evaluate(1000, vital.Glucose, 200*vital.Unit)
	m.Record(1000, v)
	if v, _ := m.Evaluate(2000, vital.Glucose, 200*vital.Unit); v.Alert || !v.Abnormal {
		t.Fatalf("after recording the alert: %+v, want abnormal within the cool-down", v)
	}
	m.Record(2000, Verdict{Rule: -1}) // a normal reading: nothing to record
	m.Record(2000, Verdict{Rule: 7})  // out of range: ignored
}
