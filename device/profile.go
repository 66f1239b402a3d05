package device

import (
	"errors"
	"fmt"
	"time"

	"github.com/vitalchain/vitalchain/vital"
)

// ErrBadProfile is returned by Profile.Validate and NewPatient for a
// profile that lacks a vital sign or has out-of-range parameters.
var ErrBadProfile = errors.New("bad patient profile")

// Physiology is how one vital sign of one patient behaves outside episodes.
// The value at time t is
//
//	Baseline + Amplitude·cos(2π·(local time of day − Peak)/24 h)
//	         + drift(t) + meals(t) + activity(t) + noise(t)
//
// rounded to a multiple of Resolution and clamped to the vital sign's
// plausible range. drift is a smooth random curve within ±Drift (new target
// every half hour) and noise is approximately normal with standard
// deviation Noise, bounded at ±3.47·Noise; meals apply to glucose only and
// activity to the heart rate only.
//
// For steps only Baseline counts: the mean number of steps per day.
type Physiology struct {
	Baseline   vital.Quantity // mean value
	Noise      vital.Quantity // standard deviation of the measurement noise
	Drift      vital.Quantity // bound of the slow drift
	Amplitude  vital.Quantity // circadian amplitude: half the daily swing
	Peak       time.Duration  // local time of day of the circadian maximum
	Resolution vital.Quantity // readings are multiples of it: 1000 is whole units
}

// Meal is a meal eaten every day, which raises glucose by about Rise for
// about three hours: up over 45 minutes, then back down over 135.
type Meal struct {
	At   time.Duration  // local time of day; varies by up to ±30 minutes from day to day
	Rise vital.Quantity // peak rise of glucose; varies from 70% to 110% from day to day
}

// Profile is one patient's physiology. The zero Profile is invalid; use
// NewProfile, and change fields as needed before NewPatient.
type Profile struct {
	// Vitals holds the physiology of every vital sign in vital.Kinds.
	Vitals map[vital.Kind]Physiology
	// Meals raise glucose.
	Meals []Meal
	// ActivityHR is how much the heart rate rises in the most active hour
	// of the day (activity follows a day pattern: none from 23:00 to 06:00).
	ActivityHR vital.Quantity
	// UTCOffset is the patient's local time minus UTC; it places the
	// circadian rhythm, the meals and the day's activity.
	UTCOffset time.Duration
	// StepsSinceMidnight, if set, makes steps count from local midnight
	// instead of over the last 24 hours (see the package documentation).
	StepsSinceMidnight bool
}

// physRange is a range NewProfile draws a parameter from.
type physRange struct{ lo, hi int64 }

// profileRanges are the ranges NewProfile draws from, in thousandths
// (Quantity) or, for peaks, in minutes of the day. They are chosen so that
// every value outside episodes stays within contract.DefaultRules: for
// example the lowest systolic pressure is 105 − 6 − 3 − 3.47·1.5 ≈ 90.8
// mm[Hg], above the alert threshold of 90.
var profileRanges = [...]struct {
	baseline, amplitude, peakMin physRange
	noise, drift, resolution     int64
}{
	vital.Glucose:         {physRange{85000, 110000}, physRange{2000, 4000}, physRange{5 * 60, 7 * 60}, 1200, 4000, 1000},
	vital.HeartRate:       {physRange{55000, 80000}, physRange{3000, 5000}, physRange{14 * 60, 17 * 60}, 1500, 3000, 1000},
	vital.SpO2:            {physRange{95000, 99000}, physRange{0, 500}, physRange{12 * 60, 18 * 60}, 400, 500, 1000},
	vital.Systolic:        {physRange{105000, 130000}, physRange{3000, 6000}, physRange{9 * 60, 11 * 60}, 1500, 3000, 1000},
	vital.Diastolic:       {physRange{65000, 85000}, physRange{2000, 5000}, physRange{9 * 60, 11 * 60}, 1500, 3000, 1000},
	vital.RespiratoryRate: {physRange{12000, 18000}, physRange{500, 1000}, physRange{14 * 60, 17 * 60}, 500, 1000, 1000},
	vital.BodyTemperature: {physRange{36300, 37100}, physRange{200, 400}, physRange{17 * 60, 19 * 60}, 50, 100, 100},
	vital.Steps:           {physRange{4000_000, 12000_000}, physRange{}, physRange{}, 0, 0, 1000},
}

// NewProfile draws a plausible adult from seed: resting heart rate 55–80
// /min, fasting glucose 85–110 mg/dL, SpO2 95–99 %, blood pressure
// 105–130 over 65–85 mm[Hg], respiratory rate 12–18 /min, body temperature
// 36.3–37.1 Cel, 4,000–12,000 steps a day, three meals raising glucose by
// 20–33 mg/dL, and circadian rhythms with their usual peaks (glucose at
// dawn, blood pressure mid-morning, heart and respiratory rate in the
// afternoon, temperature in the early evening). UTCOffset is 0.
func NewProfile(seed uint64) Profile {
	r := newRNG(hash(seed, domProfile))
	p := Profile{Vitals: make(map[vital.Kind]Physiology, len(profileRanges))}
	var bpPeak time.Duration
	for _, k := range vital.Kinds() {
		pr := profileRanges[k]
		ph := Physiology{
			Baseline:   vital.Quantity(r.between(pr.baseline.lo, pr.baseline.hi)),
			Noise:      vital.Quantity(pr.noise),
			Drift:      vital.Quantity(pr.drift),
			Amplitude:  vital.Quantity(r.between(pr.amplitude.lo, pr.amplitude.hi)),
			Peak:       time.Duration(r.between(pr.peakMin.lo, pr.peakMin.hi)) * time.Minute,
			Resolution: vital.Quantity(pr.resolution),
		}
		// Quantise the baseline like a reading (steps to whole steps).
		ph.Baseline -= ph.Baseline % (ph.Resolution / 10)
		switch k {
		case vital.Systolic:
			bpPeak = ph.Peak
		case vital.Diastolic:
			ph.Peak = bpPeak // one blood pressure rhythm
		}
		p.Vitals[k] = ph
	}
	p.Meals = []Meal{
		{At: time.Duration(r.between(7*60, 8*60+30)) * time.Minute, Rise: vital.Quantity(r.between(20000, 33000))},
		{At: time.Duration(r.between(12*60, 13*60+30)) * time.Minute, Rise: vital.Quantity(r.between(20000, 33000))},
		{At: time.Duration(r.between(18*60, 19*60+30)) * time.Minute, Rise: vital.Quantity(r.between(20000, 33000))},
	}
	p.ActivityHR = vital.Quantity(r.between(10000, 20000))
	return p
}

// maxOffset bounds Profile.UTCOffset, as time zones do.
const maxOffset = 14 * time.Hour

// Validate checks that p has a physiology for every vital sign, with a
// plausible baseline, non-negative noise, drift and amplitude each at most
// the width of the plausible range, a peak within the day and a positive
// resolution; and that meals are within the day with a rise of at most
// 1000 mg/dL. Errors wrap ErrBadProfile.
func (p *Profile) Validate() error {
	for _, k := range vital.Kinds() {
		ph, ok := p.Vitals[k]
		if !ok {
			return fmt.Errorf("device: %w: no physiology for %s", ErrBadProfile, k)
		}
		info := k.Info()
		width := info.Max - info.Min
		switch {
		case !k.Plausible(ph.Baseline):
			return fmt.Errorf("device: %w: %s baseline %s outside [%s, %s]", ErrBadProfile, k, ph.Baseline, info.Min, info.Max)
		case ph.Noise < 0 || ph.Noise > width, ph.Drift < 0 || ph.Drift > width, ph.Amplitude < 0 || ph.Amplitude > width:
			return fmt.Errorf("device: %w: %s noise, drift and amplitude must be in [0, %s]", ErrBadProfile, k, width)
		case ph.Peak < 0 || ph.Peak >= 24*time.Hour:
			return fmt.Errorf("device: %w: %s peak %v not a time of day", ErrBadProfile, k, ph.Peak)
		case ph.Resolution <= 0 || ph.Resolution > width:
			return fmt.Errorf("device: %w: %s resolution %s must be in (0, %s]", ErrBadProfile, k, ph.Resolution, width)
		}
	}
	if len(p.Vitals) != len(vital.Kinds()) {
		return fmt.Errorf("device: %w: physiology for an unknown vital sign", ErrBadProfile)
	}
	for i, m := range p.Meals {
		if m.At < 0 || m.At >= 24*time.Hour || m.Rise < 0 || m.Rise > 1000*vital.Unit {
			return fmt.Errorf("device: %w: meal %d at %v rising %s", ErrBadProfile, i, m.At, m.Rise)
		}
	}
	if p.ActivityHR < 0 || p.ActivityHR > 200*vital.Unit {
		return fmt.Errorf("device: %w: activity heart rate %s outside [0, 200]", ErrBadProfile, p.ActivityHR)
	}
	if p.UTCOffset < -maxOffset || p.UTCOffset > maxOffset {
		return fmt.Errorf("device: %w: utc offset %v beyond ±%v", ErrBadProfile, p.UTCOffset, maxOffset)
	}
	return nil
}

// clone returns a deep copy of p.
func (p *Profile) clone() Profile {
	q := *p
	q.Vitals = make(map[vital.Kind]Physiology, len(p.Vitals))
	for k, v := range p.Vitals {
		q.Vitals[k] = v
	}
	q.Meals = append([]Meal(nil), p.Meals...)
	return q
}
