// Package benchplot draws the benchmarks' charts (`vitalchain bench chain
// --plot DIR`, `bench e2e --plot DIR`) with gonum/plot, as package
// overlay/sim draws the overlay's: grouped bars of the figures of runs
// measured in one process, one after the other.
package benchplot

import (
	"errors"
	"fmt"
	"image/color"
	"math"
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

// drawing is a chart to write: its file's name, without the extension,
// and how to draw it to a path.
type drawing interface {
	fileName() string
	draw(path string) error
}

func (c chart) fileName() string       { return c.name }
func (c chart) draw(path string) error { return Bars(path, c.title, c.yLabel, c.groups, c.series) }

// write draws each chart to DIR/NAME.FORMAT and returns the paths.
func write[C drawing](dir, format string, charts []C) ([]string, error) {
	if format != "png" && format != "svg" {
		return nil, fmt.Errorf("chart format %q: want png or svg", format)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("charts: %w", err)
	}
	var out []string
	for _, c := range charts {
		p := filepath.Join(dir, c.fileName()+"."+format)
		if err := c.draw(p); err != nil {
			return out, fmt.Errorf("plot %s: %w", p, err)
		}
		out = append(out, p)
	}
	return out, nil
}

// Line is one curve of a line chart: its legend and its points.
type Line struct {
	Name string
	X, Y []float64
}

// Lines draws curves with their points to path. A mark (at X or Y not
// NaN) draws a dashed vertical (X) or horizontal (Y) line with its legend:
// a default setting, a goal.
func Lines(path, title, xLabel, yLabel string, lines []Line, marks ...Mark) error {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = xLabel
	p.Y.Label.Text = yLabel
	n := 0
	for i, l := range lines {
		if len(l.X) != len(l.Y) {
			return fmt.Errorf("chart %q: line %q has %d x for %d y", title, l.Name, len(l.X), len(l.Y))
		}
		if len(l.X) == 0 {
			continue
		}
		pts := make(plotter.XYs, len(l.X))
		for j := range l.X {
			pts[j].X, pts[j].Y = l.X[j], l.Y[j]
		}
		ln, sc, err := plotter.NewLinePoints(pts)
		if err != nil {
			return fmt.Errorf("chart %q: %w", title, err)
		}
		ln.Color, sc.Color = palette[i%len(palette)], palette[i%len(palette)]
		p.Add(ln, sc)
		p.Legend.Add(l.Name, ln, sc)
		n++
	}
	if n == 0 {
		return fmt.Errorf("chart %q: %w", title, ErrNothing)
	}
	for _, m := range marks {
		var pts plotter.XYs
		switch {
		case !math.IsNaN(m.X):
			pts = plotter.XYs{{X: m.X, Y: p.Y.Min}, {X: m.X, Y: p.Y.Max}}
		case !math.IsNaN(m.Y):
			pts = plotter.XYs{{X: p.X.Min, Y: m.Y}, {X: p.X.Max, Y: m.Y}}
		default:
			continue
		}
		l, err := plotter.NewLine(pts)
		if err != nil {
			return fmt.Errorf("chart %q: %w", title, err)
		}
		l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		l.Color = color.RGBA{0x55, 0x55, 0x55, 0xff}
		p.Add(l)
		p.Legend.Add(m.Name, l)
	}
	p.Legend.Top = true
	p.Add(plotter.NewGrid())
	return p.Save(16*vg.Centimeter, 10*vg.Centimeter, path)
}

// Mark is a dashed line across a chart: vertical at X, or horizontal at
// Y (the other NaN).
type Mark struct {
	Name string
	X, Y float64
}

// SweepPoint is one run of a sweep (`bench e2e --sweep`).
type SweepPoint struct {
	TargetRate, ReadingsPerS, Patients, SealMs, RecordsPerS float64
	AlertP99Ms, AnchorP99Ms, AnchorP50Ms, BytesPerReading   float64
	// CPU cores used on average by each part of the process (profile).
	CloudCores, GatewayCores, AuthorityCores float64
	// Patient 0's gateway process: its own memory, its CPU per reading.
	GatewayProcMB, GatewayProcCPUPerReading float64
}

// Sweep writes the curves of a sweep of setting (rate, patients or seal)
// into dir; defaultSealMs marks the default on the seal's curves.
func Sweep(dir, format, setting string, pts []SweepPoint, defaultSealMs int64) ([]string, error) {
	if len(pts) == 0 {
		return nil, ErrNothing
	}
	col := func(f func(SweepPoint) float64) []float64 {
		out := make([]float64, len(pts))
		for i, p := range pts {
			out[i] = f(p)
		}
		return out
	}
	none := math.NaN()
	var cs []lineChart
	switch setting {
	case "rate":
		x := col(func(p SweepPoint) float64 { return p.ReadingsPerS })
		rec := col(func(p SweepPoint) float64 { return p.RecordsPerS })
		cs = []lineChart{
			{"sweep-rate-latency", "bench e2e --sweep rate: p99 latencies against load", "readings/s handled", "milliseconds (p99)", []Line{
				{"alert: reading → provider", x, col(func(p SweepPoint) float64 { return p.AlertP99Ms })},
				{"anchor: reading → Merkle root committed", x, col(func(p SweepPoint) float64 { return p.AnchorP99Ms })}},
				[]Mark{{"goal: alert p99 50 ms", none, 50}, {"goal: anchor p99 600 ms", none, 600}}},
			{"sweep-rate-cloud-cpu", "bench e2e --sweep rate: the cloud's CPU against records/s", "records/s stored", "CPU cores (profile share)", []Line{
				{"cloud", rec, col(func(p SweepPoint) float64 { return p.CloudCores })},
				{"authorities (4 nodes)", rec, col(func(p SweepPoint) float64 { return p.AuthorityCores })}}, nil},
		}
	case "patients":
		x := col(func(p SweepPoint) float64 { return p.Patients })
		cs = []lineChart{
			{"sweep-patients-gateway-memory", "bench e2e --sweep patients: a gateway's memory", "patients", "MB (patient 0's gateway process, RssAnon)", []Line{
				{"one gateway (own process)", x, col(func(p SweepPoint) float64 { return p.GatewayProcMB })}}, nil},
			{"sweep-patients-gateway-cpu", "bench e2e --sweep patients: gateways' CPU", "patients", "CPU cores", []Line{
				{"all in-process gateways (profile share)", x, col(func(p SweepPoint) float64 { return p.GatewayCores })},
				{"one gateway process (/proc) ×1000", x, col(func(p SweepPoint) float64 { return 1000 * p.GatewayProcCPUPerReading * p.ReadingsPerS / p.Patients })}}, nil},
		}
	case "seal":
		x := col(func(p SweepPoint) float64 { return p.SealMs })
		def := float64(defaultSealMs)
		cs = []lineChart{
			{"sweep-seal-latency", "bench e2e --sweep seal: anchoring latency against the seal interval", "seal interval (ms)", "milliseconds", []Line{
				{"anchor p99", x, col(func(p SweepPoint) float64 { return p.AnchorP99Ms })},
				{"anchor p50", x, col(func(p SweepPoint) float64 { return p.AnchorP50Ms })}},
				[]Mark{{fmt.Sprintf("default %.0f ms", def), def, none}, {"goal: p99 600 ms", none, 600}}},
			{"sweep-seal-bytes", "bench e2e --sweep seal: chain bytes per reading against the seal interval", "seal interval (ms)", "chain bytes per reading", []Line{
				{"bytes per reading", x, col(func(p SweepPoint) float64 { return p.BytesPerReading })}},
				[]Mark{{fmt.Sprintf("default %.0f ms", def), def, none}, {"goal: 3 B", none, 3}}},
		}
	default:
		return nil, fmt.Errorf("sweep of %q: want rate, patients or seal", setting)
	}
	return write(dir, format, cs)
}

// SoakSeries are a soak's samples (`bench e2e --sample`), by minute.
type SoakSeries struct {
	WarmupMin                                                     float64
	Minutes                                                       []float64
	MainRSSMB, MainHeapMB, GatewayRSSMB, GatewayAnonMB            []float64
	MainFiles, GatewayFiles                                       []float64
	AuthorityDiskMB, CloudDiskMB, GatewayDiskMB, CloudCompactedMB []float64
	AlertP99Ms, AnchorP99Ms                                       []float64
}

// Soak writes a soak's charts into dir: memory, open files, disk and the
// p99 latencies over time, the end of the warm-up marked.
func Soak(dir, format string, s SoakSeries) ([]string, error) {
	if len(s.Minutes) == 0 {
		return nil, ErrNothing
	}
	m := s.Minutes
	warm := []Mark{{"end of warm-up", s.WarmupMin, math.NaN()}}
	return write(dir, format, []lineChart{
		{"soak-memory", "bench e2e --sample: memory over time", "minutes", "MB", []Line{
			{"main process RSS", m, s.MainRSSMB}, {"main process Go heap, live after GC", m, s.MainHeapMB},
			{"gateway process RSS", m, s.GatewayRSSMB}, {"gateway process RssAnon", m, s.GatewayAnonMB}}, warm},
		{"soak-files", "bench e2e --sample: open files", "minutes", "open file descriptors", []Line{
			{"main process", m, s.MainFiles}, {"gateway process", m, s.GatewayFiles}}, warm},
		{"soak-disk", "bench e2e --sample: disk use by part", "minutes", "MB", []Line{
			{"authorities (4 nodes)", m, s.AuthorityDiskMB}, {"cloud store", m, s.CloudDiskMB},
			{"gateways", m, s.GatewayDiskMB}, {"cloud store: compactions written (cumulative)", m, s.CloudCompactedMB}}, warm},
		{"soak-latency", "bench e2e --sample: p99 latency per sample window", "minutes", "milliseconds (p99)", []Line{
			{"alert: reading → provider", m, s.AlertP99Ms}, {"anchor: reading → Merkle root committed", m, s.AnchorP99Ms}}, warm},
	})
}

type lineChart struct {
	name, title, xLabel, yLabel string
	lines                       []Line
	marks                       []Mark
}

func (c lineChart) fileName() string { return c.name }
func (c lineChart) draw(path string) error {
	return Lines(path, c.title, c.xLabel, c.yLabel, c.lines, c.marks...)
}

// Peers writes the charts of chains measured side by side (`bench
// peers`): throughput, and commit latency in seconds.
func Peers(dir, format string, names []string, txPerS, p50S, p99S []float64) ([]string, error) {
	return write(dir, format, []chart{
		{"peers-throughput", "the chains side by side, one machine, one session", "transactions committed per second", names, []Series{{"tx/s", txPerS}}},
		{"peers-latency", "the chains side by side: submission to commit", "seconds", names, []Series{{"p50", p50S}, {"p99", p99S}}},
	})
}
