package faults

import (
	"context"
	"sync"
	"time"
)

// monitorEvery is how often the monitor asks every node its height: the
// resolution of the times the suite reports.
const monitorEvery = 100 * time.Millisecond

// sample is every node's height at one time (-1: no answer).
type sample struct {
	at      time.Time
	heights []int64
}

func (s sample) max() int64 {
	m := int64(-1)
	for _, h := range s.heights {
		m = max(m, h)
	}
	return m
}

// monitor samples the nodes' heights until its context ends.
type monitor struct {
	mu      sync.Mutex
	samples []sample
	first   map[int64]time.Time // when some node was first seen at each height
}

func newMonitor() *monitor { return &monitor{first: map[int64]time.Time{}} }

func (m *monitor) run(ctx context.Context, nodes []rpc) {
	t := time.NewTicker(monitorEvery)
	defer t.Stop()
	for {
		s := sample{heights: make([]int64, len(nodes))}
		var wg sync.WaitGroup
		for i, n := range nodes {
			wg.Go(func() {
				qctx, cancel := context.WithTimeout(ctx, monitorEvery*5)
				defer cancel()
				h, _, err := n.status(qctx)
				if err != nil {
					h = -1
				}
				s.heights[i] = h
			})
		}
		wg.Wait()
		s.at = time.Now()
		m.mu.Lock()
		prev := int64(0)
		if len(m.samples) > 0 {
			prev = m.samples[len(m.samples)-1].max()
		}
		for h := prev + 1; h <= s.max(); h++ {
			if _, ok := m.first[h]; !ok {
				m.first[h] = s.at
			}
		}
		m.samples = append(m.samples, s)
		m.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// maxAt returns the highest height seen by t.
func (m *monitor) maxAt(t time.Time) int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	best := int64(0)
	for _, s := range m.samples {
		if s.at.After(t) {
			break
		}
		best = max(best, s.max())
	}
	return best
}

// firstAbove returns when some node was first seen above height h at or
// after t.
func (m *monitor) firstAbove(t time.Time, h int64) (time.Time, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range m.samples {
		if !s.at.Before(t) && s.max() > h {
			return s.at, true
		}
	}
	return time.Time{}, false
}

// allAtLeast returns when every node in nodes was first seen at height h
// or above at or after t.
func (m *monitor) allAtLeast(t time.Time, h int64, nodes []int) (time.Time, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
next:
	for _, s := range m.samples {
		if s.at.Before(t) {
			continue
		}
		for _, i := range nodes {
			if s.heights[i] < h {
				continue next
			}
		}
		return s.at, true
	}
	return time.Time{}, false
}

// seen returns when height h was first seen.
func (m *monitor) seen(h int64) (time.Time, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t, ok := m.first[h]
	return t, ok
}
