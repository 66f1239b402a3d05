package device

import (
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/vitalchain/vitalchain/vital"
)

// defaultBounds mirror contract.DefaultRules (a test checks it): a value
// above hi or below lo is abnormal.
var defaultBounds = [...]struct{ lo, hi vital.Quantity }{
	vital.Glucose:         {70 * u, 180 * u},
	vital.HeartRate:       {40 * u, 120 * u},
	vital.SpO2:            {90 * u, math.MaxInt64},
	vital.Systolic:        {90 * u, 180 * u},
	vital.Diastolic:       {50 * u, 120 * u},
	vital.RespiratoryRate: {8 * u, 30 * u},
	vital.BodyTemperature: {35 * u, 39 * u},
	vital.Steps:           {500 * u, math.MaxInt64},
}

func abnormal(k vital.Kind, v vital.Quantity) bool {
	b := defaultBounds[k]
	return v < b.lo || v > b.hi
}

// Load episodes are short, so that the fraction of abnormal readings is
// steady over an hour or so rather than over weeks.
const (
	loadMinDuration = 5 * time.Minute
	loadMaxDuration = 10 * time.Minute
)

// abnormalShare returns, per episode kind and effect, the expected fraction
// of an episode's duration during which the effect's vital sign is abnormal
// under contract.DefaultRules, for a typical patient (mid-range baselines,
// no noise), averaged over severities.
var abnormalShare = sync.OnceValue(func() [len(episodeSpecs)][]float64 {
	var out [len(episodeSpecs)][]float64
	const steps, severities = 1000, 33
	for _, e := range EpisodeKinds() {
		s := &episodeSpecs[e]
		out[e] = make([]float64, len(s.effects))
		ep := episode{ramp: s.ramp, recovery: s.recovery, plateau: 1000 - s.ramp - s.recovery}
		for i, ef := range s.effects {
			pr := profileRanges[ef.kind]
			base := vital.Quantity(pr.baseline.lo+pr.baseline.hi) / 2
			n := 0
			for sv := range int64(severities) {
				level := ef.lo + (ef.hi-ef.lo)*vital.Quantity(sv)/(severities-1)
				if ef.relative {
					level += base
				}
				for t := range int64(steps) {
					v := int64(base) + ep.weight(t)*int64(level-base)/1000
					if abnormal(ef.kind, quantise(ef.kind, v, pr.resolution)) {
						n++
					}
				}
			}
			out[e][i] = float64(n) / (steps * severities)
		}
	}
	return out
})

// MixForAbnormalFraction returns an EpisodeMix under which about the
// fraction f of the readings of a kit of StandardSpecs devices, at their
// standard intervals, are abnormal under contract.DefaultRules: the load
// the benchmarks need ("5 % abnormal" is f = 0.05). It gives every kind of
// episode the same duty cycle, computed from how long each kind keeps each
// vital sign abnormal and how many readings of that sign the kit takes, and
// makes episodes last 5 to 10 minutes (compressed: a load, not a clinical
// picture) so that the fraction is steady over hours rather than weeks:
// over one simulated day a patient's fraction is typically within ±1 point
// of f, and the mean over many patients within a few tenths.
//
// f = 0 gives the empty mix. f must be in [0, 1), and a fraction that needs
// a duty cycle above MaxDutyCycle (for the standard kit, f above about
// 0.16) is refused; both with ErrBadMix. Kit.MixForAbnormalFraction does
// the same for a kit's own devices and intervals.
func MixForAbnormalFraction(f float64) (EpisodeMix, error) {
	var perHour [len(profileRanges)]float64
	for _, s := range StandardSpecs() {
		for _, k := range s.Kinds {
			perHour[k] += float64(time.Hour) / float64(s.Interval)
		}
	}
	return mixFor(f, perHour)
}

// MixForAbnormalFraction is the package's MixForAbnormalFraction for k's
// devices at their current intervals.
func (k *Kit) MixForAbnormalFraction(f float64) (EpisodeMix, error) {
	var perHour [len(profileRanges)]float64
	for _, d := range k.devices {
		iv := d.Interval()
		for _, kind := range d.kinds {
			perHour[kind] += float64(time.Hour) / float64(iv)
		}
	}
	return mixFor(f, perHour)
}

// mixFor returns the mix for the fraction f of abnormal readings, given how
// many readings of each vital sign are taken per hour. Episodes of every
// kind that the readings can show get the same duty cycle c, so that
//
//	f · (readings per hour) = c · Σ_episode Σ_effect (readings of its vital sign per hour) · abnormalShare
func mixFor(f float64, perHour [len(profileRanges)]float64) (EpisodeMix, error) {
	if math.IsNaN(f) || f < 0 || f >= 1 {
		return nil, fmt.Errorf("device: %w: abnormal fraction %v not in [0, 1)", ErrBadMix, f)
	}
	share := abnormalShare()
	var total, abnormalPerHour float64
	for _, r := range perHour {
		total += r
	}
	for _, e := range EpisodeKinds() {
		for i, ef := range episodeSpecs[e].effects {
			abnormalPerHour += perHour[ef.kind] * share[e][i]
		}
	}
	m := EpisodeMix{}
	if f == 0 {
		return m, nil
	}
	if abnormalPerHour == 0 {
		return nil, fmt.Errorf("device: %w: no episode makes these readings abnormal", ErrBadMix)
	}
	duty := f * total / abnormalPerHour
	if duty > MaxDutyCycle {
		return nil, fmt.Errorf("device: %w: abnormal fraction %v needs a duty cycle of %.3f per episode kind, above %v (at most %.3f)",
			ErrBadMix, f, duty, MaxDutyCycle, MaxDutyCycle*abnormalPerHour/total)
	}
	mean := (loadMinDuration + loadMaxDuration).Hours() / 2
	for _, e := range EpisodeKinds() {
		shows := false
		for i, ef := range episodeSpecs[e].effects {
			shows = shows || perHour[ef.kind]*share[e][i] > 0
		}
		if shows {
			m[e] = EpisodeRate{PerHour: duty / mean, MinDuration: loadMinDuration, MaxDuration: loadMaxDuration}
		}
	}
	return m, nil
}
