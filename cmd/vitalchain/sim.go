package main

import (
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/vitalchain/vitalchain/internal/cli"
	"github.com/vitalchain/vitalchain/overlay/sim"
)

// runSim implements 'vitalchain sim overlay': the overlay's Cluster Head
// election on a simulated random geometric graph, against the lowest-ID
// baseline, with the alert overhead clustered against flat.
func runSim(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: sim needs a subject: overlay", cli.ErrUsage)
	}
	if args[0] != "overlay" {
		return fmt.Errorf("%w: unknown sim subject %q (want overlay)", cli.ErrUsage, args[0])
	}
	d := sim.DefaultConfig(1000)
	fs := cli.NewFlags("vitalchain", "sim overlay", "sim overlay [--nodes N] [--seed S] [--json] [--plot DIR] [flags]", stderr)
	nodes := fs.Int("nodes", d.Nodes, "number of nodes")
	seed := fs.Uint64("seed", d.Seed, "seed of the network, the channel and the failures")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	plotDir := fs.String("plot", "", "write charts (clusters, overhead against size) into `dir`")
	plotFormat := fs.String("plot-format", "png", "chart format: png or svg")
	sweep := fs.String("sweep", "100,300,1000,3000", "network sizes of the overhead chart (with --plot)")
	speeds := fs.String("speeds", "", "top speeds in m/s to sweep the election under mobility at, comma-separated (e.g. 0.5,1,2,5,10; with --plot, a chart of the orphans)")
	rng := fs.Float64("range", d.Range, "radio range in metres")
	degree := fs.Float64("degree", d.Degree, "target mean degree (sets the area unless --side is given)")
	side := fs.Float64("side", 0, "side of the square area in metres (0: from --degree)")
	eligible := fs.Float64("eligible", d.Eligible, "fraction of nodes that may be heads (authorities), in (0,1]")
	loss := fs.Float64("loss", d.Loss, "probability that a receiver misses a message")
	delayMin := fs.Duration("delay-min", d.DelayMin, "smallest message delay")
	delayMax := fs.Duration("delay-max", d.DelayMax, "largest message delay")
	period := fs.Duration("period", d.Period, "HELLO / heartbeat period")
	duration := fs.Duration("duration", d.Duration, "simulated time")
	speed := fs.Float64("speed", 0, "top speed of random-waypoint mobility in m/s (0: static)")
	pause := fs.Duration("pause", d.Pause, "pause at each waypoint")
	moveUntil := fs.Duration("move-until", 0, "stop moving at this time (0: never)")
	fail := fs.Float64("fail", 0, "fraction of nodes that crash at --fail-at")
	failHeads := fs.Int("fail-heads", 0, "number of heads that crash at --fail-at")
	failAt := fs.Duration("fail-at", 0, "time of the crashes (0: half of --duration)")
	alerts := fs.Int("alerts", d.Alerts, "patient alerts the overhead is averaged over")
	baseline := fs.Bool("baseline", true, "also run the lowest-ID baseline on the same network")
	bytes := fs.Bool("bytes", false, "encode every message to report bytes per node (slower)")
	if err := cli.ParseFlags(fs, args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected arguments %q", cli.ErrUsage, fs.Args())
	}
	if *plotFormat != "png" && *plotFormat != "svg" {
		return fmt.Errorf("%w: --plot-format must be png or svg", cli.ErrUsage)
	}
	sizes, err := parseSizes(*sweep)
	if err != nil {
		return err
	}
	var vs []float64
	if *speeds != "" {
		if vs, err = parseSpeeds(*speeds); err != nil {
			return err
		}
	}
	cfg := sim.Config{
		Nodes: *nodes, Seed: *seed, Range: *rng, Degree: *degree, Side: *side, Eligible: *eligible,
		Loss: *loss, DelayMin: *delayMin, DelayMax: *delayMax, Period: *period, Duration: *duration,
		Speed: *speed, Pause: *pause, MoveUntil: *moveUntil, Fail: *fail, FailHeads: *failHeads,
		FailAt: *failAt, Alerts: *alerts, Bytes: *bytes,
	}
	start := time.Now()
	rep, err := sim.Compare(cfg, *baseline)
	if err != nil {
		return fmt.Errorf("%w: %w", cli.ErrUsage, err)
	}
	if len(vs) > 0 {
		if rep.Speeds, err = sim.SpeedSweep(cfg, vs); err != nil {
			return fmt.Errorf("%w: %w", cli.ErrUsage, err)
		}
	}
	if *plotDir != "" {
		if err := os.MkdirAll(*plotDir, 0o755); err != nil {
			return err
		}
		if rep.Sweep, err = sim.Sweep(cfg, sizes); err != nil {
			return err
		}
		title := func(r *sim.Result) string {
			return fmt.Sprintf("%s election, %d nodes, seed %d: %d clusters", r.Policy, r.Nodes, *seed, r.Clusters)
		}
		charts := []struct {
			name string
			draw func(path string) error
		}{
			{"clusters", func(p string) error { return sim.PlotClusters(p, rep.Layout, title(&rep.Result)) }},
			{"overhead", func(p string) error { return sim.PlotOverhead(p, rep.Sweep) }},
		}
		if len(rep.Speeds) > 0 {
			charts = append(charts, struct {
				name string
				draw func(path string) error
			}{"orphans-speed", func(p string) error { return sim.PlotSpeeds(p, rep.Speeds) }})
		}
		if rep.Baseline != nil {
			charts = append(charts, struct {
				name string
				draw func(path string) error
			}{"clusters-baseline", func(p string) error { return sim.PlotClusters(p, rep.Baseline.Layout, title(rep.Baseline)) }})
		}
		for _, c := range charts {
			p := filepath.Join(*plotDir, c.name+"."+*plotFormat)
			if err := c.draw(p); err != nil {
				return fmt.Errorf("plot %s: %w", p, err)
			}
			fmt.Fprintf(stderr, "wrote %s\n", p)
		}
	}
	rep.ElapsedS = math.Round(time.Since(start).Seconds()*1000) / 1000
	if *asJSON {
		return writeJSON(stdout, rep)
	}
	return sim.WriteSummary(stdout, rep)
}

func parseSizes(s string) ([]int, error) {
	var sizes []int
	for f := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 2 {
			return nil, fmt.Errorf("%w: --sweep wants sizes of at least 2, comma-separated: %q", cli.ErrUsage, f)
		}
		sizes = append(sizes, n)
	}
	return sizes, nil
}

func parseSpeeds(s string) ([]float64, error) {
	var vs []float64
	for f := range strings.SplitSeq(s, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || v < 0 || v > 1000 || math.IsNaN(v) {
			return nil, fmt.Errorf("%w: --speeds wants speeds in m/s from 0 to 1000, comma-separated: %q", cli.ErrUsage, f)
		}
		vs = append(vs, v)
	}
	return vs, nil
}
