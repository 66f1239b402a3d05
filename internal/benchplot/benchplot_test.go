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
