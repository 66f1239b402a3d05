package gateway

import (
	"slices"
	"sync"
	"time"

	"github.com/vitalchain/vitalchain/vital"
)

// History bounds: the gateway keeps the patient's readings of the last
// HistoryFor, in minutes, per vital sign, in memory only. They are for the
// patient's own portal: never uploaded, never written to disk, and gone
// at a restart.
const (
	HistoryFor = 24 * time.Hour
	// historyMinutes is the number of one-minute buckets kept per vital
	// sign: about 60 KB each.
	historyMinutes = int(HistoryFor / time.Minute)
)

// Minute is what the gateway keeps of one minute of one vital sign.
type Minute struct {
	Start         time.Time      // the minute's start
	Min, Max      vital.Quantity // lowest and highest reading
	Last          vital.Quantity // the minute's last reading
	N             int            // readings
	Abnormal      int            // of which some contract found abnormal
	LastReadingAt time.Time      // time of Last
}

// history is the readings kept for the patient's portal.
type history struct {
	mu     sync.Mutex
	byKind map[vital.Kind][]Minute // oldest first
}

func (h *history) add(kind vital.Kind, t time.Time, v vital.Quantity, abnormal bool) {
	start := t.Truncate(time.Minute)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.byKind == nil {
		h.byKind = map[vital.Kind][]Minute{}
	}
	ms := h.byKind[kind]
	i := len(ms) - 1
	switch {
	case i >= 0 && ms[i].Start.Equal(start):
	case i < 0 || ms[i].Start.Before(start):
		ms = append(ms, Minute{Start: start, Min: v, Max: v})
		i = len(ms) - 1
	default:
		// A late reading of an earlier minute (a device's backlog).
		i, _ = slices.BinarySearchFunc(ms, start, func(m Minute, s time.Time) int { return m.Start.Compare(s) })
		if i == len(ms) || !ms[i].Start.Equal(start) {
			ms = slices.Insert(ms, i, Minute{Start: start, Min: v, Max: v})
		}
	}
	m := &ms[i]
	m.Min, m.Max, m.N = min(m.Min, v), max(m.Max, v), m.N+1
	if !t.Before(m.LastReadingAt) {
		m.Last, m.LastReadingAt = v, t
	}
	if abnormal {
		m.Abnormal++
	}
	if n := len(ms) - historyMinutes; n > 0 {
		ms = slices.Delete(ms, 0, n)
	}
	h.byKind[kind] = ms
}

// History returns the minutes of one vital sign since a time, oldest
// first, from the readings this gateway took (HistoryFor at most).
func (g *Gateway) History(kind vital.Kind, since time.Time) []Minute {
	g.hist.mu.Lock()
	defer g.hist.mu.Unlock()
	ms := g.hist.byKind[kind]
	i, _ := slices.BinarySearchFunc(ms, since.Truncate(time.Minute), func(m Minute, s time.Time) int { return m.Start.Compare(s) })
	return slices.Clone(ms[i:])
}
