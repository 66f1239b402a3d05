package vital_test

import (
	"errors"
	"math"
	"slices"
	"strconv"
	"testing"

	"github.com/vitalchain/vitalchain/vital"
)

func TestKinds(t *testing.T) {
	// Numbers, names, LOINC codes and UCUM units are part of the wire format
	// and of contracts: they never change.
	want := []struct {
		kind  vital.Kind
		num   uint8
		name  string
		loinc string
		unit  string
	}{
		{vital.Glucose, 1, "glucose", "2339-0", "mg/dL"},
		{vital.HeartRate, 2, "heart_rate", "8867-4", "/min"},
		{vital.SpO2, 3, "spo2", "59408-5", "%"},
		{vital.Systolic, 4, "systolic", "8480-6", "mm[Hg]"},
		{vital.Diastolic, 5, "diastolic", "8462-4", "mm[Hg]"},
		{vital.RespiratoryRate, 6, "respiratory_rate", "9279-1", "/min"},
		{vital.BodyTemperature, 7, "body_temperature", "8310-5", "Cel"},
		{vital.Steps, 8, "steps", "41950-7", "/(24.h)"},
	}
	ks := vital.Kinds()
	if len(ks) != len(want) {
		t.Fatalf("Kinds() = %v, want %d kinds", ks, len(want))
	}
	for i, w := range want {
		k := ks[i]
		if k != w.kind || uint8(k) != w.num || !k.Valid() || k.String() != w.name {
			t.Errorf("Kinds()[%d] = %d %q, want %d %q", i, k, k, w.num, w.name)
		}
		info := k.Info()
		if info.Name != w.name || info.LOINC != w.loinc || info.Unit != w.unit || info.Display == "" {
			t.Errorf("%s: Info() = %+v", k, info)
		}
		if info.Min >= info.Max || info.Min < 0 {
			t.Errorf("%s: range [%s, %s]", k, info.Min, info.Max)
		}
	}
	// Kinds returns a fresh slice each time.
	ks[0] = 0
	if vital.Kinds()[0] != vital.Glucose {
		t.Error("Kinds() shares its result")
	}
}

func TestParseKind(t *testing.T) {
	for _, k := range vital.Kinds() {
		info := k.Info()
		for _, s := range []string{info.Name, info.LOINC} {
			got, err := vital.ParseKind(s)
			if err != nil || got != k {
				t.Errorf("ParseKind(%q) = %v, %v; want %v", s, got, err, k)
			}
		}
	}
	for _, s := range []string{"", "Glucose", "GLUCOSE", " glucose", "glucose ", "2339", "2339-1", "1", "kind(1)", "heart rate", "Blood glucose", "2708-6"} {
		k, err := vital.ParseKind(s)
		if !errors.Is(err, vital.ErrUnknownKind) || k != 0 {
			t.Errorf("ParseKind(%q) = %v, %v; want ErrUnknownKind", s, k, err)
		}
	}
}

func TestInvalidKind(t *testing.T) {
	for _, k := range []vital.Kind{0, 9, 255} {
		if k.Valid() {
			t.Errorf("Kind(%d).Valid()", k)
		}
		if k.Plausible(0) {
			t.Errorf("Kind(%d).Plausible(0)", k)
		}
		if got, want := k.String(), "kind("+strconv.Itoa(int(k))+")"; got != want {
			t.Errorf("Kind(%d).String() = %q, want %q", uint8(k), got, want)
		}
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Kind(%d).Info() did not panic", uint8(k))
				}
			}()
			k.Info()
		}()
	}
}

func TestPlausible(t *testing.T) {
	for _, tc := range []struct {
		kind     vital.Kind
		min, max vital.Quantity
	}{
		{vital.Glucose, 0, 2000 * vital.Unit},
		{vital.HeartRate, 0, 400 * vital.Unit},
		{vital.SpO2, 0, 100 * vital.Unit},
		{vital.Systolic, 0, 400 * vital.Unit},
		{vital.Diastolic, 0, 300 * vital.Unit},
		{vital.RespiratoryRate, 0, 150 * vital.Unit},
		{vital.BodyTemperature, 20 * vital.Unit, 46 * vital.Unit},
		{vital.Steps, 0, 500000 * vital.Unit},
	} {
		k := tc.kind
		if info := k.Info(); info.Min != tc.min || info.Max != tc.max {
			t.Errorf("%s: range [%s, %s], want [%s, %s]", k, info.Min, info.Max, tc.min, tc.max)
		}
		for q, want := range map[vital.Quantity]bool{
			tc.min:                 true,
			tc.max:                 true,
			(tc.min + tc.max) / 2:  true,
			tc.min - 1:             false,
			tc.max + 1:             false,
			-1:                     tc.min <= -1,
			math.MinInt64:          false,
			math.MaxInt64:          false,
			tc.max + 1000*tc.max:   false,
			tc.min + vital.Unit/10: true,
		} {
			if got := k.Plausible(q); got != want {
				t.Errorf("%s.Plausible(%s) = %v, want %v", k, q, got, want)
			}
		}
	}
	// Readings a monitor really sends are plausible.
	for _, tc := range []struct {
		kind vital.Kind
		text string
	}{
		{vital.Glucose, "180"}, {vital.HeartRate, "72"}, {vital.SpO2, "97.5"},
		{vital.Systolic, "120"}, {vital.Diastolic, "80"}, {vital.RespiratoryRate, "16"},
		{vital.BodyTemperature, "37.25"}, {vital.Steps, "8042"},
	} {
		q, err := vital.ParseQuantity(tc.text)
		if err != nil || !tc.kind.Plausible(q) {
			t.Errorf("%s %s: plausible=%v, %v", tc.kind, tc.text, tc.kind.Plausible(q), err)
		}
	}
}

func TestQuantityString(t *testing.T) {
	for _, tc := range []struct {
		q    vital.Quantity
		text string
	}{
		{0, "0"},
		{1, "0.001"},
		{10, "0.01"},
		{100, "0.1"},
		{999, "0.999"},
		{1000, "1"},
		{1001, "1.001"},
		{1010, "1.01"},
		{1100, "1.1"},
		{180_000, "180"},
		{37_250, "37.25"},
		{-500, "-0.5"},
		{-1, "-0.001"},
		{-180_000, "-180"},
		{-37_250, "-37.25"},
		{1<<40*1000 - 1, "1099511627775.999"},
		{-(1<<40*1000 - 1), "-1099511627775.999"},
	} {
		if got := tc.q.String(); got != tc.text {
			t.Errorf("Quantity(%d).String() = %q, want %q", int64(tc.q), got, tc.text)
		}
		got, err := vital.ParseQuantity(tc.text)
		if err != nil || got != tc.q {
			t.Errorf("ParseQuantity(%q) = %d, %v; want %d", tc.text, got, err, tc.q)
		}
	}
	// The extremes of int64 format without overflow.
	if got := vital.Quantity(math.MaxInt64).String(); got != "9223372036854775.807" {
		t.Errorf("MaxInt64: %q", got)
	}
	if got := vital.Quantity(math.MinInt64).String(); got != "-9223372036854775.808" {
		t.Errorf("MinInt64: %q", got)
	}
}

func TestParseQuantityForms(t *testing.T) {
	// Forms that parse but are not what String writes.
	for _, tc := range []struct {
		text string
		q    vital.Quantity
	}{
		{"007", 7000},
		{"1.0", 1000},
		{"1.500", 1500},
		{"0.050", 50},
		{"-0", 0},
		{"-0.000", 0},
		{"00.5", 500},
	} {
		got, err := vital.ParseQuantity(tc.text)
		if err != nil || got != tc.q {
			t.Errorf("ParseQuantity(%q) = %d, %v; want %d", tc.text, got, err, tc.q)
		}
	}
}

func TestParseQuantityErrors(t *testing.T) {
	for _, s := range []string{
		"", "-", ".", "-.", ".5", "-.5", "5.", "-5.",
		"1.2345", "0.0001",
		"+5", "--5", "-+5", "+-5", " 5", "5 ", "5\n", "1 000", "1,5", "1_000", "0x10", "1e3", "1.5e3",
		"1.2.3", "1..2", "1.-5", "1.+5", "1.+50", "1. 5", "abc", "NaN", "Inf", "-Inf", "٣",
		"1099511627776",        // 2^40 whole units: out of range
		"18446744073709551616", // 2^64
	} {
		q, err := vital.ParseQuantity(s)
		if !errors.Is(err, vital.ErrBadQuantity) || q != 0 {
			t.Errorf("ParseQuantity(%q) = %d, %v; want ErrBadQuantity", s, q, err)
		}
	}
}

func TestQuantityFloat64(t *testing.T) {
	for q, f := range map[vital.Quantity]float64{0: 0, 1000: 1, 37_250: 37.25, -500: -0.5, 1: 0.001} {
		if got := q.Float64(); got != f {
			t.Errorf("Quantity(%d).Float64() = %v, want %v", int64(q), got, f)
		}
	}
}

// TestQuantityRoundTrip checks String and ParseQuantity are inverse over a
// spread of values, including every fractional part.
func TestQuantityRoundTrip(t *testing.T) {
	var qs []vital.Quantity
	for f := range vital.Quantity(1000) {
		qs = append(qs, f, 1000+f, 123_456_000+f)
	}
	for e := vital.Quantity(1); e < 1<<40*1000; e *= 7 {
		qs = append(qs, e)
	}
	for _, q := range slices.Clone(qs) {
		qs = append(qs, -q)
	}
	for _, q := range qs {
		got, err := vital.ParseQuantity(q.String())
		if err != nil || got != q {
			t.Fatalf("ParseQuantity(%q) = %d, %v; want %d", q.String(), got, err, q)
		}
	}
}

func FuzzParseQuantity(f *testing.F) {
	for _, s := range []string{"0", "180", "37.25", "-0.5", "1.2345", "+5", "1099511627775.999", "9.", ".9"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q, err := vital.ParseQuantity(s)
		if err != nil {
			if !errors.Is(err, vital.ErrBadQuantity) {
				t.Fatalf("ParseQuantity(%q) = %v, not ErrBadQuantity", s, err)
			}
			return
		}
		// What parses, formats and parses back to the same value.
		again, err := vital.ParseQuantity(q.String())
		if err != nil || again != q {
			t.Fatalf("ParseQuantity(%q) = %d; its String %q parses as %d, %v", s, q, q.String(), again, err)
		}
	})
}

func TestByLOINC(t *testing.T) {
	for _, k := range vital.Kinds() {
		if got, ok := vital.ByLOINC(k.Info().LOINC); !ok || got != k {
			t.Errorf("vital.ByLOINC(%q) = %v, %v; want %v", k.Info().LOINC, got, ok, k)
		}
	}
	if _, ok := vital.ByLOINC("glucose"); ok {
		t.Error("ByLOINC accepts a short name")
	}
}
