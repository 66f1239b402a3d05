package gateway

import (
	"testing"
	"time"

	"github.com/vitalchain/vitalchain/vital"
)

func TestHistoryKeepsMinutesForADay(t *testing.T) {
	g := &Gateway{}
	h := &g.hist
	t0 := time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)
	h.add(vital.Glucose, t0.Add(10*time.Second), 100_000, false)
	h.add(vital.Glucose, t0.Add(50*time.Second), 60_000, true)
	h.add(vital.Glucose, t0.Add(20*time.Second), 120_000, false) // late, same minute
	h.add(vital.Glucose, t0.Add(2*time.Minute), 90_000, false)
	h.add(vital.Glucose, t0.Add(time.Minute+5*time.Second), 95_000, false) // late, a minute of its own
	h.add(vital.HeartRate, t0, 70_000, false)
	ms := g.History(vital.Glucose, t0)
	if len(ms) != 3 {
		t.Fatalf("%d minutes, want 3: %+v", len(ms), ms)
	}
	m := ms[0]
	if m.N != 3 || m.Min != 60_000 || m.Max != 120_000 || m.Last != 60_000 || m.Abnormal != 1 {
		t.Errorf("first minute %+v", m)
	}
	if !ms[1].Start.Equal(t0.Add(time.Minute)) || !ms[2].Start.Equal(t0.Add(2*time.Minute)) {
		t.Errorf("minutes out of order: %v %v", ms[1].Start, ms[2].Start)
	}
	if got := g.History(vital.Glucose, t0.Add(90*time.Second)); len(got) != 2 {
		t.Errorf("since 08:01:30: %d minutes, want 2 (from 08:01)", len(got))
	}
	// A day later the oldest minutes are gone, and the count stays bounded.
	for i := range historyMinutes + 10 {
		g.hist.add(vital.Glucose, t0.Add(time.Duration(3+i)*time.Minute), 80_000, false)
	}
	ms = g.History(vital.Glucose, time.Time{})
	if len(ms) != historyMinutes || !ms[0].Start.After(t0.Add(2*time.Minute)) {
		t.Errorf("%d minutes kept from %v", len(ms), ms[0].Start)
	}
}
