package usage

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/pprof/profile"
)

func TestParseStatCPU(t *testing.T) {
	for _, tc := range []struct {
		name, stat string
		want       float64
		err        bool
	}{
		{"plain", "42 (vitalchain) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 9 0 100 0 0", 3, false},
		{"name with spaces and parens", "7 (a (b) c) R 1 7 7 0 -1 0 0 0 0 0 1 2 0 0 20 0 1 0 1 0 0", 0.03, false},
		{"no name", "7 a R 1", 0, true},
		{"too short", "7 (x) R 1 2 3", 0, true},
		{"not a number", "7 (x) R 1 7 7 0 -1 0 0 0 0 0 x 2 0 0", 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseStatCPU(tc.stat)
			if (err != nil) != tc.err {
				t.Fatalf("err = %v, want error %v", err, tc.err)
			}
			if math.Abs(got-tc.want) > 1e-9 {
				t.Errorf("cpu = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestReadProcSelf(t *testing.T) {
	p, err := ReadProc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if p.RSSMB <= 0 || p.OpenFiles < 1 || p.PeakRSSMB < p.RSSMB {
		t.Errorf("ReadProc(self) = %+v", p)
	}
	if _, err := ReadProc(-1); err == nil {
		t.Error("ReadProc(-1) succeeded")
	}
}

func TestSlope(t *testing.T) {
	for _, tc := range []struct {
		name   string
		xs, ys []float64
		want   float64
		ok     bool
	}{
		{"line", []float64{0, 1, 2, 3}, []float64{1, 3, 5, 7}, 2, true},
		{"flat", []float64{0, 10, 20}, []float64{5, 5, 5}, 0, true},
		{"noisy falling", []float64{0, 1, 2, 3}, []float64{4, 3.1, 1.9, 1}, -1.02, true},
		{"one point", []float64{1}, []float64{1}, 0, false},
		{"same x", []float64{2, 2}, []float64{1, 3}, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := Slope(tc.xs, tc.ys)
			if ok != tc.ok || math.Abs(got-tc.want) > 1e-9 {
				t.Errorf("Slope = %v, %v; want %v, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestComponentCPU(t *testing.T) {
	fn := &profile.Function{ID: 1, Name: "f"}
	loc := &profile.Location{ID: 1, Line: []profile.Line{{Function: fn}}}
	sample := func(ns int64, component string) *profile.Sample {
		s := &profile.Sample{Location: []*profile.Location{loc}, Value: []int64{1, ns}}
		if component != "" {
			s.Label = map[string][]string{LabelKey: {component}}
		}
		return s
	}
	p := &profile.Profile{
		SampleType:    []*profile.ValueType{{Type: "samples", Unit: "count"}, {Type: "cpu", Unit: "nanoseconds"}},
		DurationNanos: 10e9,
		Function:      []*profile.Function{fn},
		Location:      []*profile.Location{loc},
		Sample: []*profile.Sample{
			sample(3e9, "cloud"), sample(1e9, "cloud"), sample(2e9, "authority"), sample(2e9, ""),
		},
	}
	var buf bytes.Buffer
	if err := p.Write(&buf); err != nil {
		t.Fatal(err)
	}
	c, err := ComponentCPU(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if c.WallS != 10 || c.TotalS != 8 || c.ByComponent["cloud"] != 4 || c.ByComponent["authority"] != 2 || c.ByComponent[Unlabelled] != 2 {
		t.Errorf("ComponentCPU = %+v", c)
	}
	// 2 s unlabelled shared in proportion: the cloud's 4 of 6 labelled.
	if got := c.Share("cloud"); math.Abs(got-4*8.0/6) > 1e-9 {
		t.Errorf("Share(cloud) = %v", got)
	}
	if _, err := ComponentCPU([]byte("not a profile")); err == nil {
		t.Error("ComponentCPU accepted garbage")
	}
}

func TestDirBytes(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "a"), 0o755)
	os.WriteFile(filepath.Join(dir, "x"), make([]byte, 100), 0o644)
	os.WriteFile(filepath.Join(dir, "a", "y"), make([]byte, 23), 0o644)
	if got := DirBytes(dir); got != 123 {
		t.Errorf("DirBytes = %d, want 123", got)
	}
	if got := DirBytes(filepath.Join(dir, "missing")); got != 0 {
		t.Errorf("DirBytes(missing) = %d", got)
	}
}
