package device

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/vitalchain/vitalchain/vital"
)

// TestValueDeterministic: values depend only on (seed, kind, time), not on
// the order or concurrency of the calls nor on the cache; other seeds give
// other values.
func TestValueDeterministic(t *testing.T) {
	mix := mustMix(t, 0.05)
	a, b, c := mustPatient(t, 11, mix), mustPatient(t, 11, mix), mustPatient(t, 12, mix)
	var times []time.Time
	for i := range 2000 {
		times = append(times, testStart.Add(time.Duration(i)*7*time.Minute+time.Duration(i)*time.Millisecond))
	}
	want := map[string]vital.Quantity{}
	key := func(k vital.Kind, at time.Time) string { return fmt.Sprint(k, at.UnixMilli()) }
	for _, at := range times {
		for _, k := range vital.Kinds() {
			want[key(k, at)] = a.Value(k, at)
		}
	}
	// b: backwards, from several goroutines.
	var wg sync.WaitGroup
	var mu sync.Mutex
	mismatches := 0
	for g := range 4 {
		wg.Go(func() {
			for i := len(times) - 1 - g; i >= 0; i -= 4 {
				for _, k := range vital.Kinds() {
					if b.Value(k, times[i]) != want[key(k, times[i])] {
						mu.Lock()
						mismatches++
						mu.Unlock()
					}
				}
			}
		})
	}
	wg.Wait()
	if mismatches > 0 {
		t.Errorf("%d values differ between two patients of one seed", mismatches)
	}
	// a again, after the cache has been emptied by a far-away span.
	a.Episodes(testStart.AddDate(-3, 0, 0), testStart.AddDate(-1, 0, 0))
	same := 0
	for _, at := range times {
		for _, k := range vital.Kinds() {
			if a.Value(k, at) != want[key(k, at)] {
				t.Fatalf("%s at %v changed after the cache was emptied", k, at)
			}
			if c.Value(k, at) == want[key(k, at)] {
				same++
			}
		}
	}
	if total := len(times) * len(vital.Kinds()); same > total/2 {
		t.Errorf("seeds 11 and 12 agree on %d of %d values", same, total)
	}
}

func TestValueInvalidKind(t *testing.T) {
	p := mustPatient(t, 1, nil)
	for _, k := range []vital.Kind{0, 9, 200} {
		if v := p.Value(k, testStart); v != 0 {
			t.Errorf("Value(%d) = %s, want 0", k, v)
		}
	}
}

// TestValuesPlausibleAndNormal runs patients of many seeds through a week
// each, with frequent episodes: every value is plausible and a multiple of
// its resolution, and outside episodes no value is abnormal under
// contract.DefaultRules.
func TestValuesPlausibleAndNormal(t *testing.T) {
	mix := mustMix(t, 0.1)
	var n, outside, outsideAbnormal int
	for seed := range uint64(5) {
		p := mustPatient(t, seed, mix)
		from := testStart.AddDate(0, 0, int(seed)*13)
		to := from.AddDate(0, 0, 3)
		eps := spans(p.Episodes(from, to))
		sample(p, from, to, func(k vital.Kind, at time.Time, v vital.Quantity) {
			if !k.Plausible(v) {
				t.Fatalf("seed %d: %s %s at %v implausible", seed, k, v, at)
			}
			if v%p.profile.Vitals[k].Resolution != 0 {
				t.Fatalf("seed %d: %s %s not a multiple of %s", seed, k, v, p.profile.Vitals[k].Resolution)
			}
			active := eps.active(at)
			if n++; n%97 == 0 && active != (len(activeKinds(p, at)) > 0) {
				t.Fatalf("spans.active(%v) = %v, Episodes disagrees", at, active)
			}
			if active {
				return
			}
			outside++
			if isAbnormal(t, k, v) {
				outsideAbnormal++
				t.Errorf("seed %d: %s %s at %v abnormal outside episodes", seed, k, v, at)
			}
		})
	}
	if outside < 10000 {
		t.Fatalf("only %d readings outside episodes", outside)
	}
	if f := float64(outsideAbnormal) / float64(outside); f > 0.005 {
		t.Errorf("%.3f%% of %d readings outside episodes abnormal", 100*f, outside)
	}
}

// TestEpisodesShow: on the plateau of every kind of episode, its primary
// vital sign is abnormal in more than 80% of readings, and the secondary
// ones have moved the right way.
func TestEpisodesShow(t *testing.T) {
	mix := EpisodeMix{}
	for _, e := range EpisodeKinds() {
		mix[e] = EpisodeRate{PerHour: 0.05, MinDuration: 30 * time.Minute, MaxDuration: 2 * time.Hour}
	}
	type tally struct{ n, abnormal, up, down int }
	got := map[EpisodeKind]map[vital.Kind]*tally{}
	for seed := range uint64(4) {
		p := mustPatient(t, seed, mix)
		for _, ep := range p.Episodes(testStart, testStart.AddDate(0, 0, 30)) {
			for at := ep.Onset.Add(ep.Ramp); at.Before(ep.Onset.Add(ep.Ramp + ep.Plateau)); at = at.Add(time.Minute) {
				if len(activeKinds(p, at)) > 1 {
					continue // another episode moves the same signs
				}
				for i, k := range ep.Kind.Affects() {
					if got[ep.Kind] == nil {
						got[ep.Kind] = map[vital.Kind]*tally{}
					}
					c := got[ep.Kind][k]
					if c == nil {
						c = new(tally)
						got[ep.Kind][k] = c
					}
					v := p.Value(k, at)
					c.n++
					if i == 0 && isAbnormal(t, k, v) {
						c.abnormal++
					}
					if base := p.profile.Vitals[k].Baseline; v > base {
						c.up++
					} else if v < base {
						c.down++
					}
				}
			}
		}
	}
	for _, e := range EpisodeKinds() {
		for i, k := range e.Affects() {
			c := got[e][k]
			if c == nil || c.n < 100 {
				t.Fatalf("%s: too few plateau readings of %s", e, k)
			}
			if i == 0 {
				if f := float64(c.abnormal) / float64(c.n); f < 0.8 {
					t.Errorf("%s: %.1f%% of %d %s readings abnormal on the plateau, want > 80%%", e, 100*f, c.n, k)
				}
			}
			wantDown := e == Hypoglycaemia && k == vital.Glucose || e == Desaturation && k == vital.SpO2
			dir := c.up
			if wantDown {
				dir = c.down
			}
			if float64(dir) < 0.95*float64(c.n) {
				t.Errorf("%s: %s moved the wrong way in %d of %d readings", e, k, c.n-dir, c.n)
			}
		}
	}
}

// TestEpisodeShape: a value rises through the ramp, holds on the plateau
// and comes back in the recovery.
func TestEpisodeShape(t *testing.T) {
	p := mustPatient(t, 5, EpisodeMix{Hyperglycaemia: {PerHour: 0.1, MinDuration: 2 * time.Hour, MaxDuration: 3 * time.Hour}})
	eps := p.Episodes(testStart, testStart.AddDate(0, 0, 5))
	if len(eps) == 0 {
		t.Fatal("no episode")
	}
	e := eps[len(eps)/2]
	level, _ := e.Level(vital.Glucose)
	at := func(d time.Duration) vital.Quantity { return p.Value(vital.Glucose, e.Onset.Add(d)) }
	before, rising, plateau, recovering, after := at(-time.Minute), at(e.Ramp/2), at(e.Ramp+e.Plateau/2),
		at(e.Ramp+e.Plateau+e.Recovery/2), at(e.End().Sub(e.Onset)+time.Minute)
	t.Logf("%s: %s %s %s %s %s", e, before, rising, plateau, recovering, after)
	if !(before < rising && rising < plateau && recovering < plateau && after < recovering) {
		t.Errorf("not a ramp, plateau and recovery: %s %s %s %s %s", before, rising, plateau, recovering, after)
	}
	if d := plateau - level; d < -5*vital.Unit || d > 5*vital.Unit {
		t.Errorf("plateau %s, level %s", plateau, level)
	}
	if before > 180*vital.Unit || after > 180*vital.Unit {
		t.Errorf("abnormal around the episode: %s, %s", before, after)
	}
}

func TestSteps(t *testing.T) {
	prof := NewProfile(2)
	p, err := NewPatient(prof, nil, 2)
	if err != nil {
		t.Fatal(err)
	}
	prof.StepsSinceMidnight = true
	q, err := NewPatient(prof, nil, 2)
	if err != nil {
		t.Fatal(err)
	}
	for d := range 3 {
		midnight := testStart.AddDate(0, 0, d)
		var prev vital.Quantity = -1
		for m := 0; m < 24*60; m += 10 {
			at := midnight.Add(time.Duration(m) * time.Minute)
			today := q.Value(vital.Steps, at)
			if today < prev {
				t.Fatalf("steps since midnight went down at %v: %s after %s", at, today, prev)
			}
			prev = today
			if m < 6*60 && today != 0 {
				t.Errorf("%s steps by %v, while asleep", today, at)
			}
			if last24 := p.Value(vital.Steps, at); last24 < 2800*vital.Unit || last24 > 15600*vital.Unit {
				t.Errorf("%s steps in the 24 hours to %v", last24, at)
			}
		}
		// The rolling count at midnight is the whole previous day.
		if got, want := p.Value(vital.Steps, midnight.AddDate(0, 0, 1)), q.Value(vital.Steps, midnight.AddDate(0, 0, 1).Add(-time.Millisecond)); got-want > vital.Unit || want-got > vital.Unit {
			t.Errorf("day %d: rolling count at midnight %s, day's count %s", d, got, want)
		}
	}
}

// TestUTCOffset: the rhythm follows local time.
func TestUTCOffset(t *testing.T) {
	prof := NewProfile(4)
	p, err := NewPatient(prof, nil, 4)
	if err != nil {
		t.Fatal(err)
	}
	prof.UTCOffset = -5 * time.Hour
	q, err := NewPatient(prof, nil, 4)
	if err != nil {
		t.Fatal(err)
	}
	// 09:00 UTC is 04:00 in UTC−5: asleep, no steps yet today.
	prof.StepsSinceMidnight = true
	r, _ := NewPatient(prof, nil, 4)
	if v := r.Value(vital.Steps, testStart.Add(9*time.Hour)); v != 0 {
		t.Errorf("%s steps at 04:00 local", v)
	}
	if p.Value(vital.HeartRate, testStart.Add(9*time.Hour)) == q.Value(vital.HeartRate, testStart.Add(9*time.Hour)) &&
		p.Value(vital.BodyTemperature, testStart.Add(18*time.Hour)) == q.Value(vital.BodyTemperature, testStart.Add(18*time.Hour)) {
		t.Error("the offset changes nothing")
	}
}
