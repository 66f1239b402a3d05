package device

import (
	"math"
	"math/bits"
)

// Domains separate the uses of a seed, so that, say, the noise of a kind
// and the drift of the same kind are independent.
const (
	domProfile uint64 = iota + 1
	domNoise
	domDrift
	domActivity
	domDaySteps
	domMeal
	domEpisode
)

const golden = 0x9e3779b97f4a7c15

// mix64 is the SplitMix64 finaliser: a bijection of uint64 that mixes every
// input bit into every output bit.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// hash returns a well-mixed 64-bit hash of seed and vs.
func hash(seed uint64, vs ...uint64) uint64 {
	h := mix64(seed + golden)
	for _, v := range vs {
		h = mix64(h ^ mix64(v+golden) + golden)
	}
	return h
}

// rng is a SplitMix64 stream: small, fast, and good enough for simulation.
type rng struct{ s uint64 }

func newRNG(seed uint64) *rng { return &rng{s: seed} }

func (r *rng) next() uint64 {
	r.s += golden
	return mix64(r.s)
}

// between returns a uniform integer in [lo, hi]; hi < lo returns lo.
func (r *rng) between(lo, hi int64) int64 { return uniform(r.next(), lo, hi) }

// float returns a uniform float64 in [0, 1).
func (r *rng) float() float64 { return float64(r.next()>>11) / (1 << 53) }

// exp returns an exponentially distributed float64 with the given mean.
func (r *rng) exp(mean float64) float64 { return -mean * math.Log(1-r.float()) }

// uniform maps the random word x to an integer in [lo, hi].
func uniform(x uint64, lo, hi int64) int64 {
	if hi <= lo {
		return lo
	}
	n := uint64(hi-lo) + 1
	q, _ := bits.Mul64(x, n)
	return lo + int64(q)
}

// normalMilli maps the random word x to an approximately standard normal
// value in thousandths, the Irwin–Hall sum of its four 16-bit parts: its
// standard deviation is 1000 and it never leaves ±3464, so that noise is
// bounded and a profile's extremes can be reasoned about.
func normalMilli(x uint64) int64 {
	s := int64(x&0xffff) + int64(x>>16&0xffff) + int64(x>>32&0xffff) + int64(x>>48)
	// mean 4·65535/2, standard deviation 65536·sqrt(4/12) ≈ 37837.
	return (2*s - 4*0xffff) * 1000 / (2 * 37837)
}

// floorDiv returns a/b rounded towards minus infinity (b > 0).
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

// floorMod returns a - b·floorDiv(a, b), in [0, b) (b > 0).
func floorMod(a, b int64) int64 {
	m := a % b
	if m < 0 {
		m += b
	}
	return m
}

// smooth is the smoothstep 3f²-2f³ in thousandths, for f in [0, 1000].
func smooth(f int64) int64 {
	f = min(max(f, 0), 1000)
	return f * f * (3000 - 2*f) / 1_000_000
}

const daySeconds = 24 * 60 * 60

// cosDay returns, in thousandths, the cosine of 2π·sec/86400: a daily cycle
// that peaks at sec = 0. It uses Bhaskara I's approximation of the sine
// (error below 0.2%), in integers.
func cosDay(sec int64) int64 {
	const half = daySeconds / 2
	x := floorMod(sec+daySeconds/4, daySeconds) // cos θ = sin(θ + π/2)
	sign := int64(1)
	if x >= half {
		x -= half
		sign = -1
	}
	p := x * (half - x)
	return sign * 16 * 1000 * p / (5*half*half - 4*p)
}
