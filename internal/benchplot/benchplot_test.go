package benchplot

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/vitalchain/vitalchain/internal/bench"
	"github.com/vitalchain/vitalchain/internal/testbed"
)

func TestBarsRefuses(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name   string
		groups []string
		series []Series
		err    error
	}{
		{"no groups", nil, []Series{{"a", nil}}, ErrNothing},
		{"no series", []string{"x"}, nil, ErrNothing},
		{"values do not match groups", []string{"x", "y"}, []Series{{"a", []float64{1}}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Bars(filepath.Join(dir, "c.png"), "t", "y", tt.groups, tt.series)
			if err == nil || (tt.err != nil && !errors.Is(err, tt.err)) {
				t.Errorf("Bars: %v, want an error (%v)", err, tt.err)
			}
		})
	}
}

// isImage reports whether the file at p is a PNG or an SVG.
func isImage(t *testing.T, p string) bool {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.HasPrefix(b, []byte("\x89PNG")) || bytes.Contains(b[:min(len(b), 512)], []byte("<svg"))
}

func TestCharts(t *testing.T) {
	chain := &bench.ChainResult{Validators: 4, TxPerS: 900, InFlight: 64, Suite: "x25519", Ratio: 0.9,
		CommitLatencyMs: testbed.Percentiles{P50: 200, P99: 400},
		Baseline:        &bench.ChainRun{App: "nullapp", TxPerS: 1000, CommitLatencyMs: testbed.Percentiles{P50: 150, P99: 300}}}
	runs := []*testbed.Summary{
		{ReadingsPerS: 1000, OnchainBytesPerReading: 2.7, TxsPerReading: 0.002},
		{ReadingsPerS: 1000, OnchainBytesPerReading: 20, TxsPerReading: 0.05, Baseline: "per-record"},
		{ReadingsPerS: 1000, OnchainBytesPerReading: 300, TxsPerReading: 1, Baseline: "per-reading"},
	}
	for _, format := range []string{"png", "svg"} {
		t.Run(format, func(t *testing.T) {
			dir := t.TempDir()
			a, err := Chain(dir, format, chain)
			if err != nil {
				t.Fatal(err)
			}
			b, err := E2E(dir, format, runs)
			if err != nil {
				t.Fatal(err)
			}
			files := append(a, b...)
			if len(files) != 5 {
				t.Errorf("%d charts, want 5: %v", len(files), files)
			}
			for _, f := range files {
				if filepath.Ext(f) != "."+format || !isImage(t, f) {
					t.Errorf("%s is not a %s chart", f, format)
				}
			}
		})
	}
	if _, err := Chain(t.TempDir(), "gif", chain); err == nil {
		t.Error("a gif chart was written")
	}
	if _, err := E2E(t.TempDir(), "png", nil); !errors.Is(err, ErrNothing) {
		t.Errorf("E2E of no runs: %v, want ErrNothing", err)
	}
}

func TestLineCharts(t *testing.T) {
	pts := []SweepPoint{
		{TargetRate: 250, ReadingsPerS: 260, Patients: 5, SealMs: 500, RecordsPerS: 12, AlertP99Ms: 40, AnchorP99Ms: 500, BytesPerReading: 6, CloudCores: 0.02, GatewayProcMB: 10},
		{TargetRate: 500, ReadingsPerS: 510, Patients: 10, SealMs: 1250, RecordsPerS: 25, AlertP99Ms: 45, AnchorP99Ms: 900, BytesPerReading: 3, CloudCores: 0.03, GatewayProcMB: 11},
	}
	soak := SoakSeries{WarmupMin: 1, Minutes: []float64{0, 1, 2}, MainRSSMB: []float64{100, 110, 111}, MainHeapMB: []float64{50, 55, 54},
		GatewayRSSMB: []float64{30, 30, 30}, GatewayAnonMB: []float64{10, 10, 10}, MainFiles: []float64{50, 50, 51}, GatewayFiles: []float64{20, 20, 20},
		AuthorityDiskMB: []float64{1, 2, 3}, CloudDiskMB: []float64{0, 1, 2}, GatewayDiskMB: []float64{0, 0.1, 0.2}, CloudCompactedMB: []float64{0, 0, 0},
		AlertP99Ms: []float64{40, 50, 45}, AnchorP99Ms: []float64{800, 900, 850}}
	dir := t.TempDir()
	var files []string
	for _, setting := range []string{"rate", "patients", "seal"} {
		f, err := Sweep(dir, "png", setting, pts, 1250)
		if err != nil {
			t.Fatalf("sweep %s: %v", setting, err)
		}
		files = append(files, f...)
	}
	f, err := Soak(dir, "svg", soak)
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, f...)
	f, err = Peers(dir, "png", []string{"ledger", "clique"}, []float64{1000, 400}, []float64{1, 1.4}, []float64{2, 3})
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, f...)
	if len(files) != 12 {
		t.Errorf("%d charts, want 12: %v", len(files), files)
	}
	for _, f := range files {
		if !isImage(t, f) {
			t.Errorf("%s is not a chart", f)
		}
	}
	for name, err := range map[string]error{
		"unknown setting": func() error { _, err := Sweep(dir, "png", "speed", pts, 1250); return err }(),
		"no points":       func() error { _, err := Sweep(dir, "png", "rate", nil, 1250); return err }(),
		"no samples":      func() error { _, err := Soak(dir, "png", SoakSeries{}); return err }(),
		"uneven line":     Lines(filepath.Join(dir, "x.png"), "t", "x", "y", []Line{{"a", []float64{1, 2}, []float64{1}}}),
		"empty lines":     Lines(filepath.Join(dir, "x.png"), "t", "x", "y", []Line{{"a", nil, nil}}),
	} {
		if err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
