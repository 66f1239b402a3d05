// Package benchplot draws the benchmarks' charts (`vitalchain bench chain
// --plot DIR`, `bench e2e --plot DIR`) with gonum/plot, as package
// overlay/sim draws the overlay's: grouped bars of the figures of runs
// measured in one process, one after the other.
package benchplot

import (
	"errors"
	"fmt"
	"image/color"
	"os"
	"path/filepath"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"github.com/vitalchain/vitalchain/internal/bench"
	"github.com/vitalchain/vitalchain/internal/testbed"
)

// ErrNothing is the error for a chart with no data.
var ErrNothing = errors.New("nothing to plot")

var palette = []color.RGBA{
	{0x1f, 0x77, 0xb4, 0xff}, {0xff, 0x7f, 0x0e, 0xff}, {0x2c, 0xa0, 0x2c, 0xff}, {0xd6, 0x27, 0x28, 0xff},
}

// Series is one bar of every group: its legend and its values, one per group.
type Series struct {
	Name   string
	Values []float64
}

// Bars draws a grouped bar chart of series over groups to path; the
// extension (.png, .svg, .pdf) selects the format.
func Bars(path, title, yLabel string, groups []string, series []Series) error {
	if len(groups) == 0 || len(series) == 0 {
		return fmt.Errorf("chart %q: %w", title, ErrNothing)
	}
	p := plot.New()
	p.Title.Text = title
	p.Y.Label.Text = yLabel
	w := vg.Points(min(60, 240/float64(len(series)*len(groups))+8))
	for i, s := range series {
		if len(s.Values) != len(groups) {
			return fmt.Errorf("chart %q: series %q has %d values for %d groups", title, s.Name, len(s.Values), len(groups))
		}
		b, err := plotter.NewBarChart(plotter.Values(s.Values), w)
		if err != nil {
			return fmt.Errorf("chart %q: %w", title, err)
		}
		b.Color = palette[i%len(palette)]
		b.LineStyle.Width = 0
		b.Offset = vg.Length(float64(i)-float64(len(series)-1)/2) * w
		p.Add(b)
		if len(series) > 1 {
			p.Legend.Add(s.Name, b)
		}
	}
	p.NominalX(groups...)
	p.Legend.Top = true
	p.Add(plotter.NewGrid())
	return p.Save(16*vg.Centimeter, 10*vg.Centimeter, path)
}

// Chain writes the chain benchmark's charts into dir as format (png or
// svg): throughput and commit latency, of the ledger and, if it ran, of
// the baseline application. It returns the files written.
func Chain(dir, format string, r *bench.ChainResult) ([]string, error) {
	apps := []string{"vitalchain ledger"}
	tps := []float64{r.TxPerS}
	p50 := []float64{r.CommitLatencyMs.P50}
	p99 := []float64{r.CommitLatencyMs.P99}
	if b := r.Baseline; b != nil {
		apps = append(apps, "null app (signature only)")
		tps = append(tps, b.TxPerS)
		p50 = append(p50, b.CommitLatencyMs.P50)
		p99 = append(p99, b.CommitLatencyMs.P99)
	}
	title := fmt.Sprintf("bench chain: %d validators, %d in flight, %s", r.Validators, r.InFlight, r.Suite)
	if r.Baseline != nil {
		title += fmt.Sprintf("; ratio %.2f", r.Ratio)
	}
	return write(dir, format, []chart{
		{"chain-throughput", title, "transactions committed per second", apps, []Series{{"tx/s", tps}}},
		{"chain-latency", "bench chain: broadcast to commit", "milliseconds", apps, []Series{{"p50", p50}, {"p99", p99}}},
	})
}

// E2E writes the end-to-end benchmark's charts into dir as format (png or
// svg), one group per design run: chain bytes and transactions per
// reading, and latencies. It returns the files written.
func E2E(dir, format string, runs []*testbed.Summary) ([]string, error) {
	if len(runs) == 0 {
		return nil, ErrNothing
	}
	var designs []string
	var bytes, txs, alert, anchor, hash []float64
	for _, s := range runs {
		d := s.Baseline
		if d == "" {
			d = "paper (Merkle roots)"
		}
		designs = append(designs, d)
		bytes = append(bytes, s.OnchainBytesPerReading)
		txs = append(txs, s.TxsPerReading)
		alert = append(alert, s.AlertLatencyMs.P99)
		anchor = append(anchor, s.AnchorLatencyMs.P99)
		h := s.AnchorLatencyMs.P99 // the paper's design: a reading is on the chain when its block's root is
		if s.Baseline != "" {
			h = s.BaselineLatencyMs.P99
		}
		hash = append(hash, h)
	}
	rate := runs[0].ReadingsPerS
	return write(dir, format, []chart{
		{"e2e-bytes-per-reading", fmt.Sprintf("bench e2e, %.0f readings/s: chain growth", rate), "chain bytes per reading", designs, []Series{{"bytes", bytes}}},
		{"e2e-txs-per-reading", fmt.Sprintf("bench e2e, %.0f readings/s: transactions", rate), "ledger transactions per reading", designs, []Series{{"tx", txs}}},
		{"e2e-latency", fmt.Sprintf("bench e2e, %.0f readings/s: p99 latencies", rate), "milliseconds (p99)", designs, []Series{
			{"alert: reading → provider", alert}, {"anchor: reading → Merkle root committed", anchor}, {"reading → its hash committed", hash}}},
	})
}

type chart struct {
	name, title, yLabel string
	groups              []string
	series              []Series
}

func write(dir, format string, charts []chart) ([]string, error) {
	if format != "png" && format != "svg" {
		return nil, fmt.Errorf("chart format %q: want png or svg", format)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("charts: %w", err)
	}
	var out []string
	for _, c := range charts {
		p := filepath.Join(dir, c.name+"."+format)
		if err := Bars(p, c.title, c.yLabel, c.groups, c.series); err != nil {
			return out, fmt.Errorf("plot %s: %w", p, err)
		}
		out = append(out, p)
	}
	return out, nil
}
