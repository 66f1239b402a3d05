package device

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/vitalchain/vitalchain/contract"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/vital"
)

// testStart is 2025-01-01T00:00:00Z.
var testStart = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

func testPatientID() identity.ID {
	var id identity.ID
	for i := range id {
		id[i] = 0xa0 + byte(i)
	}
	return id
}

func mustPatient(t testing.TB, seed uint64, mix EpisodeMix) *Patient {
	t.Helper()
	p, err := NewPatient(NewProfile(seed), mix, seed)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func mustKit(t testing.TB, seed uint64) *Kit {
	t.Helper()
	k, err := DefaultKit(testPatientID(), seed)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustMix(t testing.TB, f float64) EpisodeMix {
	t.Helper()
	m, err := MixForAbnormalFraction(f)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

var defaultProgram = sync.OnceValues(func() (*contract.Program, error) {
	return contract.Compile(contract.DefaultRules())
})

// isAbnormal evaluates contract.DefaultRules on one value.
func isAbnormal(t testing.TB, k vital.Kind, v vital.Quantity) bool {
	t.Helper()
	p, err := defaultProgram()
	if err != nil {
		t.Fatal(err)
	}
	_, ok, err := p.Eval(k, v)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

// sample calls f for every reading a kit of StandardSpecs devices takes of
// p in [from, to), without signing.
func sample(p *Patient, from, to time.Time, f func(k vital.Kind, at time.Time, v vital.Quantity)) {
	for _, s := range StandardSpecs() {
		for at := from; at.Before(to); at = at.Add(s.Interval) {
			for _, k := range s.Kinds {
				f(k, at, p.Value(k, at))
			}
		}
	}
}

// spans answers "is an episode active at t?" for a list of episodes, fast.
type spans []Episode

// active reports whether an episode of s is active at t.
func (s spans) active(at time.Time) bool {
	i, _ := slices.BinarySearchFunc(s, at, func(e Episode, t time.Time) int {
		if e.Onset.After(t) {
			return 1
		}
		return -1
	})
	for j := i - 1; j >= 0 && !s[j].Onset.Before(at.Add(-MaxEpisodeDuration)); j-- {
		if s[j].Phase(at) != Outside {
			return true
		}
	}
	return false
}

// activeKinds returns the episodes active at t, by kind.
func activeKinds(p *Patient, at time.Time) map[EpisodeKind]Episode {
	m := map[EpisodeKind]Episode{}
	for _, e := range p.Episodes(at, at.Add(time.Millisecond)) {
		m[e.Kind] = e
	}
	return m
}
