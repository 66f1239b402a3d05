package device

import (
	"errors"
	"math"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/vitalchain/vitalchain/vital"
)

func TestEpisodeKinds(t *testing.T) {
	primary := map[EpisodeKind]vital.Kind{
		Hyperglycaemia: vital.Glucose,
		Hypoglycaemia:  vital.Glucose,
		Tachycardia:    vital.HeartRate,
		Hypertension:   vital.Systolic,
		Desaturation:   vital.SpO2,
		Fever:          vital.BodyTemperature,
	}
	if got := len(EpisodeKinds()); got != len(primary) {
		t.Fatalf("%d episode kinds, want %d", got, len(primary))
	}
	for _, e := range EpisodeKinds() {
		if !e.Valid() || e.Affects()[0] != primary[e] {
			t.Errorf("%s: valid %v, affects %v", e, e.Valid(), e.Affects())
		}
		got, err := ParseEpisodeKind(e.String())
		if err != nil || got != e {
			t.Errorf("ParseEpisodeKind(%q) = %v, %v", e, got, err)
		}
	}
	for _, e := range []EpisodeKind{0, 7, 255} {
		if e.Valid() || e.Affects() != nil || e.String() != "episode("+strconv.Itoa(int(e))+")" {
			t.Errorf("invalid kind %d: valid %v, affects %v, %q", e, e.Valid(), e.Affects(), e)
		}
	}
	if _, err := ParseEpisodeKind("gout"); !errors.Is(err, ErrBadMix) {
		t.Errorf("ParseEpisodeKind(gout): %v, want ErrBadMix", err)
	}
}

func TestMixValidate(t *testing.T) {
	ok := EpisodeRate{PerHour: 0.1, MinDuration: time.Minute, MaxDuration: time.Hour}
	tests := []struct {
		name string
		mix  EpisodeMix
		ok   bool
	}{
		{"nil", nil, true},
		{"default", DefaultMix(), true},
		{"zero rate, no durations", EpisodeMix{Fever: {}}, true},
		{"good", EpisodeMix{Fever: ok}, true},
		{"max duration", EpisodeMix{Fever: {PerHour: 0.01, MinDuration: time.Second, MaxDuration: MaxEpisodeDuration}}, true},
		{"unknown kind", EpisodeMix{9: ok}, false},
		{"negative rate", EpisodeMix{Fever: {PerHour: -1, MinDuration: time.Minute, MaxDuration: time.Hour}}, false},
		{"NaN rate", EpisodeMix{Fever: {PerHour: math.NaN(), MinDuration: time.Minute, MaxDuration: time.Hour}}, false},
		{"infinite rate", EpisodeMix{Fever: {PerHour: math.Inf(1), MinDuration: time.Minute, MaxDuration: time.Hour}}, false},
		{"no duration", EpisodeMix{Fever: {PerHour: 0.1}}, false},
		{"min above max", EpisodeMix{Fever: {PerHour: 0.1, MinDuration: time.Hour, MaxDuration: time.Minute}}, false},
		{"too long", EpisodeMix{Fever: {PerHour: 0.001, MinDuration: time.Hour, MaxDuration: 25 * time.Hour}}, false},
		{"duty cycle", EpisodeMix{Fever: {PerHour: 1, MinDuration: time.Hour, MaxDuration: time.Hour}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.mix.Validate()
			if tt.ok && err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if !tt.ok && !errors.Is(err, ErrBadMix) {
				t.Fatalf("Validate: %v, want ErrBadMix", err)
			}
			if _, err2 := NewPatient(NewProfile(1), tt.mix, 1); (err2 == nil) != tt.ok {
				t.Fatalf("NewPatient: %v", err2)
			}
		})
	}
}

func TestRawRate(t *testing.T) {
	for _, r := range []EpisodeRate{
		{PerHour: 0.01, MinDuration: time.Hour, MaxDuration: 3 * time.Hour},
		{PerHour: 1, MinDuration: time.Minute, MaxDuration: 20 * time.Minute},
		{PerHour: 0.3, MinDuration: time.Hour, MaxDuration: time.Hour},
	} {
		x, m := rawRate(r), (r.MinDuration+r.MaxDuration).Hours()/2
		if got := x * math.Exp(-x*m); math.Abs(got-r.PerHour) > 1e-9*r.PerHour || x > 1/m {
			t.Errorf("rawRate(%+v) = %v, kept rate %v", r, x, got)
		}
	}
}

func TestEpisodePhase(t *testing.T) {
	e := Episode{Kind: Fever, Onset: testStart, Ramp: time.Hour, Plateau: 2 * time.Hour, Recovery: time.Hour,
		Levels: []Level{{vital.BodyTemperature, 39500}}}
	tests := []struct {
		at   time.Duration
		want Phase
	}{
		{-time.Millisecond, Outside}, {0, Onset}, {59 * time.Minute, Onset}, {time.Hour, Plateau},
		{3*time.Hour - 1, Plateau}, {3 * time.Hour, Recovery}, {4*time.Hour - 1, Recovery}, {4 * time.Hour, Outside},
	}
	for _, tt := range tests {
		if got := e.Phase(testStart.Add(tt.at)); got != tt.want {
			t.Errorf("Phase(+%v) = %s, want %s", tt.at, got, tt.want)
		}
	}
	if !e.End().Equal(testStart.Add(4 * time.Hour)) {
		t.Errorf("End = %v", e.End())
	}
	if v, ok := e.Level(vital.BodyTemperature); !ok || v != 39500 {
		t.Errorf("Level(temperature) = %s, %v", v, ok)
	}
	if _, ok := e.Level(vital.Glucose); ok {
		t.Error("fever has a glucose level")
	}
	if s := Phase(9).String(); s != "phase(9)" {
		t.Errorf("Phase(9) = %q", s)
	}
}

// TestEpisodeSchedule checks over 400 simulated days that each kind
// happens at its rate, spends its duty cycle in episodes, never overlaps
// itself, and has durations and levels in range.
func TestEpisodeSchedule(t *testing.T) {
	mix := EpisodeMix{}
	for i, e := range EpisodeKinds() {
		mix[e] = EpisodeRate{
			PerHour:     0.02 * float64(i+1),
			MinDuration: 10 * time.Minute,
			MaxDuration: time.Duration(i+1) * 40 * time.Minute,
		}
		if mix[e].DutyCycle() > MaxDutyCycle {
			t.Fatalf("test mix: %s duty cycle %v", e, mix[e].DutyCycle())
		}
	}
	p := mustPatient(t, 3, mix)
	const days = 400
	from, to := testStart, testStart.Add(days*24*time.Hour)
	eps := p.Episodes(from, to)
	if !slices.IsSortedFunc(eps, func(a, b Episode) int { return a.Onset.Compare(b.Onset) }) {
		t.Error("Episodes not in order of onset")
	}
	count := map[EpisodeKind]float64{}
	busy := map[EpisodeKind]time.Duration{}
	last := map[EpisodeKind]Episode{}
	for _, e := range eps {
		r := mix[e.Kind]
		if d := e.End().Sub(e.Onset); d < r.MinDuration || d > r.MaxDuration {
			t.Errorf("%s lasts %v, not in [%v, %v]", e, d, r.MinDuration, r.MaxDuration)
		}
		if prev, ok := last[e.Kind]; ok && prev.End().After(e.Onset) {
			t.Errorf("%s overlaps %s", e, prev)
		}
		last[e.Kind] = e
		for i, l := range e.Levels {
			ef := episodeSpecs[e.Kind].effects[i]
			lo, hi := ef.lo, ef.hi
			if ef.relative {
				base := p.profile.Vitals[ef.kind].Baseline
				lo, hi = lo+base, hi+base
			}
			res := p.profile.Vitals[ef.kind].Resolution // levels are rounded
			lo, hi = lo-res/2, hi+res/2
			if l.Kind != ef.kind || l.Value < lo || l.Value > hi {
				t.Errorf("%s: level %s %s not in [%s, %s]", e, l.Kind, l.Value, lo, hi)
			}
		}
		if e.Onset.Before(from) || !e.Onset.Before(to) {
			continue // partly in the span: not counted
		}
		count[e.Kind]++
		busy[e.Kind] += e.End().Sub(e.Onset)
	}
	hours := to.Sub(from).Hours()
	for _, e := range EpisodeKinds() {
		want := mix[e].PerHour * hours
		// The thinned process is more regular than a Poisson one, so ±4
		// Poisson standard deviations is generous.
		if got := count[e]; math.Abs(got-want) > 4*math.Sqrt(want) {
			t.Errorf("%s: %v episodes in %v h, want %.0f ± %.0f", e, got, hours, want, 4*math.Sqrt(want))
		}
		duty := busy[e].Hours() / hours
		if want := mix[e].DutyCycle(); math.Abs(duty-want) > 0.15*want {
			t.Errorf("%s: duty cycle %.4f, want %.4f", e, duty, want)
		}
	}
}
