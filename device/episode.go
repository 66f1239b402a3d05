package device

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/vitalchain/vitalchain/vital"
)

// ErrBadMix is returned for an EpisodeMix with an unknown kind, a negative
// or non-finite rate, bad durations or too high a duty cycle, and by
// MixForAbnormalFraction for a fraction it cannot produce.
var ErrBadMix = errors.New("bad episode mix")

// EpisodeKind is a kind of clinical episode. The zero EpisodeKind is invalid.
type EpisodeKind uint8

// The episodes a Patient can have.
const (
	// Hyperglycaemia: glucose 200–350 mg/dL.
	Hyperglycaemia EpisodeKind = iota + 1
	// Hypoglycaemia: glucose 45–65 mg/dL, heart rate up 10–20 /min
	// (adrenergic response).
	Hypoglycaemia
	// Tachycardia: heart rate 130–170 /min, respiratory rate 20–26 /min.
	Tachycardia
	// Hypertension, a hypertensive crisis: blood pressure 180–210 over
	// 110–125 mm[Hg].
	Hypertension
	// Desaturation: SpO2 82–89 %, heart rate up 15–30 /min, respiratory
	// rate 22–32 /min.
	Desaturation
	// Fever: body temperature 39.2–40.5 Cel, heart rate up 20–35 /min,
	// respiratory rate up 3–6 /min.
	Fever
)

// effect is how an episode moves one vital sign: at the plateau, to a level
// in [lo, hi], or to the profile's baseline plus [lo, hi] if relative. One
// severity in [0, 1] is drawn per episode and places every level in its
// range, so that a severe fever is also a fast heart.
type effect struct {
	kind     vital.Kind
	lo, hi   vital.Quantity
	relative bool
}

// episodeSpec describes a kind of episode.
type episodeSpec struct {
	name    string
	effects []effect // the primary vital sign first
	// ramp and recovery are the permille of the duration spent reaching the
	// plateau and coming back from it.
	ramp, recovery int64
	// The defaults for DefaultMix.
	rate     float64 // per hour
	min, max time.Duration
}

const u = vital.Unit

var episodeSpecs = [...]episodeSpec{
	Hyperglycaemia: {"hyperglycaemia", []effect{
		{vital.Glucose, 200 * u, 350 * u, false},
	}, 300, 300, 1.0 / 24, time.Hour, 4 * time.Hour},
	Hypoglycaemia: {"hypoglycaemia", []effect{
		{vital.Glucose, 45 * u, 65 * u, false},
		{vital.HeartRate, 10 * u, 20 * u, true},
	}, 300, 200, 1.0 / 72, 20 * time.Minute, time.Hour},
	Tachycardia: {"tachycardia", []effect{
		{vital.HeartRate, 130 * u, 170 * u, false},
		{vital.RespiratoryRate, 20 * u, 26 * u, false},
	}, 100, 150, 1.0 / 48, 10 * time.Minute, 45 * time.Minute},
	Hypertension: {"hypertension", []effect{
		{vital.Systolic, 180 * u, 210 * u, false},
		{vital.Diastolic, 110 * u, 125 * u, false},
	}, 250, 250, 1.0 / 72, 30 * time.Minute, 2 * time.Hour},
	Desaturation: {"desaturation", []effect{
		{vital.SpO2, 82 * u, 89 * u, false},
		{vital.HeartRate, 15 * u, 30 * u, true},
		{vital.RespiratoryRate, 22 * u, 32 * u, false},
	}, 200, 200, 1.0 / 48, 5 * time.Minute, 30 * time.Minute},
	Fever: {"fever", []effect{
		{vital.BodyTemperature, 39200, 40500, false},
		{vital.HeartRate, 20 * u, 35 * u, true},
		{vital.RespiratoryRate, 3 * u, 6 * u, true},
	}, 250, 300, 1.0 / 240, 4 * time.Hour, 12 * time.Hour},
}

// EpisodeKinds lists every EpisodeKind in numeric order.
func EpisodeKinds() []EpisodeKind {
	ks := make([]EpisodeKind, 0, len(episodeSpecs)-1)
	for k := 1; k < len(episodeSpecs); k++ {
		ks = append(ks, EpisodeKind(k))
	}
	return ks
}

// Valid reports whether e is a known EpisodeKind.
func (e EpisodeKind) Valid() bool { return e != 0 && int(e) < len(episodeSpecs) }

// String returns e's name, "hyperglycaemia", or "episode(N)" if invalid.
func (e EpisodeKind) String() string {
	if !e.Valid() {
		return "episode(" + strconv.Itoa(int(e)) + ")"
	}
	return episodeSpecs[e].name
}

// ParseEpisodeKind returns the EpisodeKind with the given name.
func ParseEpisodeKind(s string) (EpisodeKind, error) {
	for _, e := range EpisodeKinds() {
		if e.String() == s {
			return e, nil
		}
	}
	return 0, fmt.Errorf("device: %w: unknown episode %q", ErrBadMix, s)
}

// Affects returns the vital signs e moves, the primary one first (the one
// whose alert rule the episode is meant to trigger). It returns nil if e is
// not Valid.
func (e EpisodeKind) Affects() []vital.Kind {
	if !e.Valid() {
		return nil
	}
	ks := make([]vital.Kind, len(episodeSpecs[e].effects))
	for i, ef := range episodeSpecs[e].effects {
		ks[i] = ef.kind
	}
	return ks
}

// Phase is where in an episode a moment falls.
type Phase uint8

// The phases of an episode.
const (
	Outside  Phase = iota // before the onset or after the recovery
	Onset                 // ramping up to the plateau
	Plateau               // at the episode's levels
	Recovery              // coming back to the patient's usual values
)

var phaseNames = [...]string{"outside", "onset", "plateau", "recovery"}

// String returns p's name.
func (p Phase) String() string {
	if int(p) < len(phaseNames) {
		return phaseNames[p]
	}
	return "phase(" + strconv.Itoa(int(p)) + ")"
}

// Level is the value an episode brings one vital sign to at its plateau.
type Level struct {
	Kind  vital.Kind
	Value vital.Quantity
}

// Episode is one episode of one patient.
type Episode struct {
	Kind     EpisodeKind
	Onset    time.Time     // the start of the ramp
	Ramp     time.Duration // from the onset to the plateau
	Plateau  time.Duration
	Recovery time.Duration // from the plateau back to usual values
	Levels   []Level       // per vital sign affected, in Kind.Affects order
}

// End returns the end of e's recovery.
func (e Episode) End() time.Time { return e.Onset.Add(e.Ramp + e.Plateau + e.Recovery) }

// Phase returns the phase of e at t.
func (e Episode) Phase(t time.Time) Phase {
	d := t.Sub(e.Onset)
	switch {
	case d < 0:
		return Outside
	case d < e.Ramp:
		return Onset
	case d < e.Ramp+e.Plateau:
		return Plateau
	case d < e.Ramp+e.Plateau+e.Recovery:
		return Recovery
	}
	return Outside
}

// Level returns e's plateau value of kind, if e affects it.
func (e Episode) Level(kind vital.Kind) (vital.Quantity, bool) {
	for _, l := range e.Levels {
		if l.Kind == kind {
			return l.Value, true
		}
	}
	return 0, false
}

// EpisodeRate is how often one kind of episode happens and how long it
// lasts.
type EpisodeRate struct {
	// PerHour is the mean number of onsets per hour, over a long time.
	PerHour float64
	// Each episode lasts, from onset to the end of its recovery, a time
	// drawn uniformly from [MinDuration, MaxDuration].
	MinDuration, MaxDuration time.Duration
}

// MaxEpisodeDuration bounds EpisodeRate.MaxDuration.
const MaxEpisodeDuration = 24 * time.Hour

// MaxDutyCycle bounds the fraction of time a patient spends in episodes of
// one kind, PerHour times the mean duration in hours. Episodes of one kind
// never overlap, and the schedule (a Poisson process thinned of overlaps)
// cannot exceed 1/e ≈ 0.37.
const MaxDutyCycle = 0.3

// DutyCycle returns the fraction of time spent in episodes at rate r.
func (r EpisodeRate) DutyCycle() float64 {
	return r.PerHour * (r.MinDuration + r.MaxDuration).Hours() / 2
}

// EpisodeMix sets the rate of each kind of episode; a kind it does not
// list never happens. The nil EpisodeMix has no episodes.
type EpisodeMix map[EpisodeKind]EpisodeRate

// DefaultMix returns a mix for a patient with chronic conditions whose
// demo shows a bit of everything: per day about one hyperglycaemia (1–4 h),
// half a tachycardia (10–45 min) and half a desaturation (5–30 min); a
// hypoglycaemia (20–60 min) and a hypertensive crisis (30 min–2 h) every
// three days; a fever (4–12 h) every ten days.
func DefaultMix() EpisodeMix {
	m := make(EpisodeMix, len(episodeSpecs)-1)
	for _, e := range EpisodeKinds() {
		s := &episodeSpecs[e]
		m[e] = EpisodeRate{PerHour: s.rate, MinDuration: s.min, MaxDuration: s.max}
	}
	return m
}

// Validate checks m: known kinds; rates finite and not negative; for a
// positive rate, durations with 1 s ≤ MinDuration ≤ MaxDuration ≤
// MaxEpisodeDuration and a duty cycle of at most MaxDutyCycle. Errors wrap
// ErrBadMix.
func (m EpisodeMix) Validate() error {
	for _, e := range EpisodeKinds() {
		r, ok := m[e]
		if !ok {
			continue
		}
		switch {
		case math.IsNaN(r.PerHour) || math.IsInf(r.PerHour, 0) || r.PerHour < 0:
			return fmt.Errorf("device: %w: %s rate %v per hour", ErrBadMix, e, r.PerHour)
		case r.PerHour == 0:
			continue
		case r.MinDuration < time.Second || r.MaxDuration < r.MinDuration || r.MaxDuration > MaxEpisodeDuration:
			return fmt.Errorf("device: %w: %s durations [%v, %v] (want 1s ≤ min ≤ max ≤ %v)",
				ErrBadMix, e, r.MinDuration, r.MaxDuration, MaxEpisodeDuration)
		case r.DutyCycle() > MaxDutyCycle:
			return fmt.Errorf("device: %w: %s duty cycle %.3f above %v", ErrBadMix, e, r.DutyCycle(), MaxDutyCycle)
		}
	}
	for e := range m {
		if !e.Valid() {
			return fmt.Errorf("device: %w: unknown %s", ErrBadMix, e)
		}
	}
	return nil
}

// Clone returns a copy of m.
func (m EpisodeMix) Clone() EpisodeMix {
	if m == nil {
		return nil
	}
	c := make(EpisodeMix, len(m))
	for e, r := range m {
		c[e] = r
	}
	return c
}

// Faster returns m with its episodes played speedup times faster: onsets
// speedup times as often, durations speedup times shorter (at least a
// second), so the share of time in episodes stays the same. A speedup of
// at most 1 returns a copy of m.
func (m EpisodeMix) Faster(speedup float64) EpisodeMix {
	out := m.Clone()
	if speedup <= 1 {
		return out
	}
	for k, r := range out {
		r.PerHour *= speedup
		r.MinDuration = max(time.Second, time.Duration(float64(r.MinDuration)/speedup))
		r.MaxDuration = max(r.MinDuration, time.Duration(float64(r.MaxDuration)/speedup))
		out[k] = r
	}
	return out
}

// rawRate returns the rate of the Poisson process that, thinned of the
// onsets that fall inside an earlier onset's episode, leaves rate kept
// onsets per hour: the solution x ≤ 1/m of x·exp(−x·m) = rate, where m is
// the mean duration in hours (an onset survives if no earlier one covers
// it, which has probability exp(−x·m)).
func rawRate(r EpisodeRate) float64 {
	m := (r.MinDuration + r.MaxDuration).Hours() / 2
	f := func(x float64) float64 { return x * math.Exp(-x*m) }
	lo, hi := r.PerHour, 1/m
	for range 100 {
		mid := (lo + hi) / 2
		if f(mid) < r.PerHour {
			lo = mid
		} else {
			hi = mid
		}
	}
	return (lo + hi) / 2
}
