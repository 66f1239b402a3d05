package device

import (
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/vitalchain/vitalchain/vital"
)

const (
	second = int64(time.Second / time.Millisecond)
	minute = 60 * second
	hour   = 60 * minute
	day    = 24 * hour

	// block is the span of Unix time whose episodes are generated together.
	// It is at least MaxEpisodeDuration, so an episode active at t started
	// in t's block or the one before.
	block = day
	// driftKnot is the interval between the targets of the slow drift.
	driftKnot = 30 * minute
)

// Patient is a simulated patient: a Profile, an EpisodeMix and a seed.
// Value is a pure function of them and its arguments. A Patient is safe for
// concurrent use.
type Patient struct {
	profile Profile
	phys    [len(profileRanges)]Physiology
	mix     EpisodeMix
	rates   [len(episodeSpecs)]blockRate
	seed    uint64
	offset  int64 // UTC offset, ms

	mu    sync.Mutex
	cache map[blockKey][]episode // the kept episodes of a block; see kept
}

// blockRate is an EpisodeRate as the schedule generator uses it.
type blockRate struct {
	raw            float64 // onsets per hour before thinning
	meanGapMs      float64 // mean gap between raw onsets
	minSec, maxSec int64   // durations in whole seconds
	ramp, recovery int64   // permille
	enabled        bool    // the rate is positive
}

type blockKey struct {
	kind EpisodeKind
	b    int64
}

// maxCache bounds the cached blocks; when full, the cache is emptied.
const maxCache = 512

// episode is an Episode in milliseconds.
type episode struct {
	kind                           EpisodeKind
	onset, ramp, plateau, recovery int64
	levels                         []Level
}

func (e *episode) end() int64 { return e.onset + e.ramp + e.plateau + e.recovery }

// weight returns how far into e the patient is at ms, in thousandths: 0
// outside, rising smoothly to 1000 over the ramp, 1000 on the plateau,
// falling smoothly back to 0 over the recovery.
func (e *episode) weight(ms int64) int64 {
	d := ms - e.onset
	switch {
	case d < 0 || d >= e.ramp+e.plateau+e.recovery:
		return 0
	case d < e.ramp:
		return smooth(d * 1000 / e.ramp)
	case d < e.ramp+e.plateau:
		return 1000
	}
	return 1000 - smooth((d-e.ramp-e.plateau)*1000/e.recovery)
}

func (e *episode) public() Episode {
	return Episode{
		Kind:     e.kind,
		Onset:    time.UnixMilli(e.onset).UTC(),
		Ramp:     time.Duration(e.ramp) * time.Millisecond,
		Plateau:  time.Duration(e.plateau) * time.Millisecond,
		Recovery: time.Duration(e.recovery) * time.Millisecond,
		Levels:   slices.Clone(e.levels),
	}
}

// NewPatient returns a patient with the given physiology and episodes,
// whose noise, day-to-day variation and episode schedule come from seed.
// It validates the profile (ErrBadProfile) and the mix (ErrBadMix), and
// keeps copies of both. Seeding NewProfile and NewPatient with the same
// seed is fine: they use it independently.
func NewPatient(profile Profile, mix EpisodeMix, seed uint64) (*Patient, error) {
	if err := profile.Validate(); err != nil {
		return nil, err
	}
	if err := mix.Validate(); err != nil {
		return nil, err
	}
	p := &Patient{
		profile: profile.clone(),
		mix:     mix.Clone(),
		seed:    seed,
		offset:  profile.UTCOffset.Milliseconds(),
		cache:   make(map[blockKey][]episode),
	}
	for _, k := range vital.Kinds() {
		p.phys[k] = profile.Vitals[k]
	}
	for e, r := range mix {
		if r.PerHour == 0 {
			continue
		}
		raw := rawRate(r)
		p.rates[e] = blockRate{
			raw:       raw,
			minSec:    int64(r.MinDuration / time.Second),
			maxSec:    int64(r.MaxDuration / time.Second),
			ramp:      episodeSpecs[e].ramp,
			recovery:  episodeSpecs[e].recovery,
			enabled:   true,
			meanGapMs: float64(hour) / raw,
		}
	}
	return p, nil
}

// Profile returns a copy of p's profile.
func (p *Patient) Profile() Profile { return p.profile.clone() }

// Mix returns a copy of p's episode mix.
func (p *Patient) Mix() EpisodeMix { return p.mix.Clone() }

// Seed returns p's seed.
func (p *Patient) Seed() uint64 { return p.seed }

// Value returns the true value of kind at t, as a device measuring it at t
// reads it: rounded to the profile's resolution and within the vital
// sign's plausible range. It depends only on p and its arguments, to the
// millisecond. An invalid kind has the value 0.
func (p *Patient) Value(kind vital.Kind, t time.Time) vital.Quantity {
	if !kind.Valid() {
		return 0
	}
	ms := t.UnixMilli()
	if kind == vital.Steps {
		return p.steps(ms)
	}
	ph := &p.phys[kind]
	v := int64(p.base(kind, ph, ms))
	v += p.episodeShift(kind, ms, v)
	v += int64(ph.Noise) * normalMilli(hash(p.seed, domNoise, uint64(kind), uint64(ms))) / 1000
	return quantise(kind, v, int64(ph.Resolution))
}

// quantise rounds v to a multiple of res (half away from zero) and clamps
// it to kind's plausible range.
func quantise(kind vital.Kind, v, res int64) vital.Quantity {
	v = floorDiv(v+res/2, res) * res
	info := kind.Info()
	return min(max(vital.Quantity(v), info.Min), info.Max)
}

// base returns kind's value at ms without noise and episodes.
func (p *Patient) base(kind vital.Kind, ph *Physiology, ms int64) vital.Quantity {
	local := ms + p.offset
	v := int64(ph.Baseline)
	v += int64(ph.Amplitude) * cosDay(floorDiv(local, second)-int64(ph.Peak/time.Second)) / 1000
	v += p.drift(kind, int64(ph.Drift), ms)
	switch kind {
	case vital.Glucose:
		v += p.meals(local)
	case vital.HeartRate:
		v += int64(p.profile.ActivityHR) * p.intensity(local) / 1000
	}
	return vital.Quantity(v)
}

// drift returns a smooth random curve within ±bound: a new uniform target
// every driftKnot, joined by smoothstep. Diastolic pressure drifts with
// systolic.
func (p *Patient) drift(kind vital.Kind, bound, ms int64) int64 {
	if kind == vital.Diastolic {
		kind = vital.Systolic
	}
	i := floorDiv(ms, driftKnot)
	f := (ms - i*driftKnot) * 1000 / driftKnot
	a := uniform(hash(p.seed, domDrift, uint64(kind), uint64(i)), -bound, bound)
	b := uniform(hash(p.seed, domDrift, uint64(kind), uint64(i+1)), -bound, bound)
	return a + (b-a)*smooth(f)/1000
}

// activityPattern is the permille of the maximum activity that each local
// hour of the day may reach.
var activityPattern = [24]int64{
	0, 0, 0, 0, 0, 0, 100, 400, 700, 600, 500, 600,
	800, 600, 500, 500, 600, 900, 800, 600, 400, 250, 100, 0,
}

// hourActivity returns the activity of local hour h (counted from the
// epoch), in permille: the day's pattern times a random 20–100 %.
func (p *Patient) hourActivity(h int64) int64 {
	return activityPattern[floorMod(h, 24)] * uniform(hash(p.seed, domActivity, uint64(h)), 200, 1000) / 1000
}

// intensity returns the activity at local ms in permille, joining the
// hours' activities smoothly between the middles of the hours.
func (p *Patient) intensity(local int64) int64 {
	u := local - hour/2
	h := floorDiv(u, hour)
	f := (u - h*hour) * 1000 / hour
	a, b := p.hourActivity(h), p.hourActivity(h+1)
	return a + (b-a)*smooth(f)/1000
}

// dayTotal returns the number of steps on local day d: the profile's mean
// times a random 70–130 %.
func (p *Patient) dayTotal(d int64) int64 {
	return int64(p.phys[vital.Steps].Baseline) / 1000 * uniform(hash(p.seed, domDaySteps, uint64(d)), 700, 1300) / 1000
}

// stepsBy returns the steps taken on local day d up to tod ms after its
// midnight: the day's total spread over its hours by their activity.
func (p *Patient) stepsBy(d, tod int64) int64 {
	var done, all int64
	for h := range int64(24) {
		a := p.hourActivity(24*d + h)
		all += a * hour
		switch {
		case (h+1)*hour <= tod:
			done += a * hour
		case h*hour < tod:
			done += a * (tod - h*hour)
		}
	}
	if all == 0 {
		return 0
	}
	return p.dayTotal(d) * done / all
}

// steps returns the steps reading at ms: the steps in the last 24 hours,
// or since local midnight.
func (p *Patient) steps(ms int64) vital.Quantity {
	local := ms + p.offset
	d := floorDiv(local, day)
	tod := local - d*day
	n := p.stepsBy(d, tod)
	if !p.profile.StepsSinceMidnight {
		n += p.dayTotal(d-1) - p.stepsBy(d-1, tod)
	}
	return quantise(vital.Steps, n*int64(vital.Unit), int64(p.phys[vital.Steps].Resolution))
}

// meals returns the rise of glucose at local ms due to meals.
func (p *Patient) meals(local int64) int64 {
	const up, down = 45 * minute, 135 * minute
	d := floorDiv(local, day)
	var sum int64
	for dd := d - 1; dd <= d+1; dd++ {
		for i, m := range p.profile.Meals {
			h := hash(p.seed, domMeal, uint64(dd), uint64(i))
			at := dd*day + m.At.Milliseconds() + uniform(h, -30*minute, 30*minute)
			rise := int64(m.Rise) * uniform(mix64(h), 700, 1100) / 1000
			switch dt := local - at; {
			case dt < 0 || dt >= up+down:
			case dt < up:
				sum += rise * smooth(dt*1000/up) / 1000
			default:
				sum += rise * (1000 - smooth((dt-up)*1000/down)) / 1000
			}
		}
	}
	return sum
}

// effectRef names an effect: the index i in episode kind e's effects.
type effectRef struct {
	e EpisodeKind
	i int
}

// affecting lists, per vital sign, the effects that move it.
var affecting = func() (a [len(profileRanges)][]effectRef) {
	for _, e := range EpisodeKinds() {
		for i, ef := range episodeSpecs[e].effects {
			a[ef.kind] = append(a[ef.kind], effectRef{e, i})
		}
	}
	return a
}()

// episodeShift returns how far the active episodes move kind from base at
// ms: the weight of the episode times the distance from base to its level.
// Of several episodes, the one that moves it furthest wins.
func (p *Patient) episodeShift(kind vital.Kind, ms, base int64) int64 {
	var shift int64
	for _, a := range affecting[kind] {
		if !p.rates[a.e].enabled {
			continue
		}
		e := p.activeAt(a.e, ms)
		if e == nil {
			continue
		}
		d := e.weight(ms) * (int64(e.levels[a.i].Value) - base) / 1000
		if abs(d) > abs(shift) {
			shift = d
		}
	}
	return shift
}

func abs(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

// activeAt returns the episode of kind e active at ms, or nil.
func (p *Patient) activeAt(e EpisodeKind, ms int64) *episode {
	b := floorDiv(ms, block)
	for bb := b; bb >= b-1; bb-- {
		eps := p.kept(e, bb)
		for i := len(eps) - 1; i >= 0; i-- {
			if ep := &eps[i]; ep.onset <= ms {
				if ms < ep.end() {
					return ep
				}
				return nil // episodes of one kind do not overlap
			}
		}
	}
	return nil
}

// Episodes returns the episodes active at some time in [from, to), in order
// of onset (then of kind).
func (p *Patient) Episodes(from, to time.Time) []Episode {
	f, t := from.UnixMilli(), to.UnixMilli()
	var out []Episode
	for _, e := range EpisodeKinds() {
		if !p.rates[e].enabled {
			continue
		}
		for b := floorDiv(f, block) - 1; b <= floorDiv(t-1, block); b++ {
			for _, ep := range p.kept(e, b) {
				if ep.onset < t && ep.end() > f {
					out = append(out, ep.public())
				}
			}
		}
	}
	slices.SortStableFunc(out, func(a, b Episode) int {
		if c := a.Onset.Compare(b.Onset); c != 0 {
			return c
		}
		return int(a.Kind) - int(b.Kind)
	})
	return out
}

// rawOnsets returns the onsets of episodes of kind e in block b of the
// Poisson process before thinning, each with its duration and severity.
func (p *Patient) rawOnsets(e EpisodeKind, b int64) []rawOnset {
	r := &p.rates[e]
	g := newRNG(hash(p.seed, domEpisode, uint64(e), uint64(b)))
	start := b * block
	var out []rawOnset
	for off := g.exp(r.meanGapMs); off < float64(block); off += g.exp(r.meanGapMs) {
		out = append(out, rawOnset{
			onset:    start + int64(math.Floor(off)),
			dur:      g.between(r.minSec, r.maxSec) * second,
			severity: g.between(0, 1000),
		})
	}
	return out
}

type rawOnset struct{ onset, dur, severity int64 }

// kept returns the episodes of kind e that start in block b: the raw onsets
// that no earlier raw onset's episode covers (whether or not that one was
// kept itself), so that the decision looks back at most one block and
// episodes of one kind never overlap.
func (p *Patient) kept(e EpisodeKind, b int64) []episode {
	key := blockKey{e, b}
	p.mu.Lock()
	eps, ok := p.cache[key]
	p.mu.Unlock()
	if ok {
		return eps
	}
	prev, cur := p.rawOnsets(e, b-1), p.rawOnsets(e, b)
	all := append(prev, cur...)
	r := &p.rates[e]
	spec := &episodeSpecs[e]
	eps = []episode{}
	// An onset is dropped when any earlier one (kept or not) still lasts:
	// the latest end so far says so in one pass.
	lastEnd := int64(math.MinInt64)
	for j := range all {
		covered := lastEnd > all[j].onset
		lastEnd = max(lastEnd, all[j].onset+all[j].dur)
		if covered || j < len(prev) {
			continue
		}
		o := all[j]
		ramp := o.dur * r.ramp / 1000
		recovery := o.dur * r.recovery / 1000
		ep := episode{
			kind:     e,
			onset:    o.onset,
			ramp:     ramp,
			plateau:  o.dur - ramp - recovery,
			recovery: recovery,
			levels:   make([]Level, len(spec.effects)),
		}
		for i, ef := range spec.effects {
			v := ef.lo + (ef.hi-ef.lo)*vital.Quantity(o.severity)/1000
			if ef.relative {
				v += p.phys[ef.kind].Baseline
			}
			ep.levels[i] = Level{Kind: ef.kind, Value: quantise(ef.kind, int64(v), int64(p.phys[ef.kind].Resolution))}
		}
		eps = append(eps, ep)
	}
	p.mu.Lock()
	if len(p.cache) >= maxCache {
		clear(p.cache)
	}
	p.cache[key] = eps
	p.mu.Unlock()
	return eps
}

// String describes e briefly: "hyperglycaemia from 2025-01-01T10:00:00Z for 2h0m0s (glucose 250)".
func (e Episode) String() string {
	s := fmt.Sprintf("%s from %s for %v (", e.Kind, e.Onset.Format(time.RFC3339), e.Ramp+e.Plateau+e.Recovery)
	for i, l := range e.Levels {
		if i > 0 {
			s += ", "
		}
		s += l.Kind.String() + " " + l.Value.String()
	}
	return s + ")"
}
