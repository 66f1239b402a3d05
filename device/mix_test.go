package device

import (
	"errors"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/vitalchain/vitalchain/vital"
)

// TestDefaultBounds checks the copy of contract.DefaultRules's thresholds
// that MixForAbnormalFraction uses against the rules themselves.
func TestDefaultBounds(t *testing.T) {
	for _, k := range vital.Kinds() {
		b := defaultBounds[k]
		info := k.Info()
		for _, v := range []vital.Quantity{info.Min, b.lo - 1, b.lo, b.lo + 1, b.hi - 1, b.hi, b.hi + 1, info.Max} {
			if !k.Plausible(v) {
				continue
			}
			if got, want := abnormal(k, v), isAbnormal(t, k, v); got != want {
				t.Errorf("%s %s: abnormal %v, contract.DefaultRules say %v", k, v, got, want)
			}
		}
	}
}

// abnormalFraction returns the fraction of the readings of StandardSpecs
// devices of p in [from, to) that contract.DefaultRules flag.
func abnormalFraction(t testing.TB, p *Patient, from, to time.Time) float64 {
	var n, ab int
	sample(p, from, to, func(k vital.Kind, _ time.Time, v vital.Quantity) {
		n++
		if isAbnormal(t, k, v) {
			ab++
		}
	})
	return float64(ab) / float64(n)
}

// TestMixForAbnormalFraction: the benchmark load, 5 % abnormal, over one
// simulated day of a fixed patient is within ±2 points, and the mean over
// several patients within ±1 point.
func TestMixForAbnormalFraction(t *testing.T) {
	const target = 0.05
	mix := mustMix(t, target)
	day := func(seed uint64) float64 {
		return abnormalFraction(t, mustPatient(t, seed, mix), testStart, testStart.Add(24*time.Hour))
	}
	if got := day(1); math.Abs(got-target) > 0.02 {
		t.Errorf("seed 1: %.2f%% abnormal, want %.0f ± 2%%", 100*got, 100*target)
	}
	var sum float64
	const seeds = 8
	for seed := range uint64(seeds) {
		f := day(100 + seed)
		t.Logf("seed %d: %.2f%%", 100+seed, 100*f)
		sum += f
	}
	if mean := sum / seeds; math.Abs(mean-target) > 0.01 {
		t.Errorf("mean over %d patients %.2f%% abnormal, want %.0f ± 1%%", seeds, 100*mean, 100*target)
	}
	none := mustMix(t, 0)
	if len(none) != 0 {
		t.Errorf("mix for 0: %v", none)
	}
	if got := abnormalFraction(t, mustPatient(t, 1, none), testStart, testStart.Add(6*time.Hour)); got != 0 {
		t.Errorf("no episodes, %.2f%% abnormal", 100*got)
	}
}

func TestMixForAbnormalFractionErrors(t *testing.T) {
	for _, f := range []float64{math.NaN(), -0.01, 1, 2, 0.5, math.Inf(1)} {
		if _, err := MixForAbnormalFraction(f); !errors.Is(err, ErrBadMix) {
			t.Errorf("MixForAbnormalFraction(%v): %v, want ErrBadMix", f, err)
		}
	}
	for _, f := range []float64{0, 0.001, 0.05, 0.1} {
		m, err := MixForAbnormalFraction(f)
		if err != nil {
			t.Errorf("MixForAbnormalFraction(%v): %v", f, err)
			continue
		}
		if err := m.Validate(); err != nil {
			t.Errorf("MixForAbnormalFraction(%v): %v", f, err)
		}
	}
}

func TestKitMixForAbnormalFraction(t *testing.T) {
	k := mustKit(t, 1)
	got, err := k.MixForAbnormalFraction(0.05)
	if err != nil {
		t.Fatal(err)
	}
	if want := mustMix(t, 0.05); !reflect.DeepEqual(got, want) {
		t.Errorf("default kit: %v, want %v", got, want)
	}
	// A kit with only a glucose monitor: only glucose episodes.
	cgm, _ := k.Device("cgm")
	only, err := NewKit(k.Patient(), cgm)
	if err != nil {
		t.Fatal(err)
	}
	m, err := only.MixForAbnormalFraction(0.05)
	if err != nil {
		t.Fatal(err)
	}
	if len(m) != 2 || m[Hyperglycaemia].PerHour == 0 || m[Hypoglycaemia].PerHour == 0 {
		t.Errorf("glucose-only kit: %v", m)
	}
	// Checked end to end, over two days (a CGM takes 576 readings).
	if err := only.SetPatient(mustPatient(t, 3, m)); err != nil {
		t.Fatal(err)
	}
	var n, ab int
	p := only.Patient()
	for at := testStart; at.Before(testStart.Add(48 * time.Hour)); at = at.Add(cgm.Interval()) {
		n++
		if isAbnormal(t, vital.Glucose, p.Value(vital.Glucose, at)) {
			ab++
		}
	}
	if f := float64(ab) / float64(n); math.Abs(f-0.05) > 0.02 {
		t.Errorf("glucose-only kit: %.2f%% abnormal", 100*f)
	}
}

// TestMaxAbnormalFraction documents the largest fraction the standard kit
// supports.
func TestMaxAbnormalFraction(t *testing.T) {
	lo, hi := 0.0, 1.0
	for range 30 {
		mid := (lo + hi) / 2
		if _, err := MixForAbnormalFraction(mid); err == nil {
			lo = mid
		} else {
			hi = mid
		}
	}
	t.Logf("MixForAbnormalFraction works up to f = %.3f", lo)
	if lo < 0.12 {
		t.Errorf("the standard kit supports only %.3f abnormal", lo)
	}
}
