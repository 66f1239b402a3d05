package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"

	"github.com/vitalchain/vitalchain/internal/cli"
	"github.com/vitalchain/vitalchain/internal/faults"
)

func runBenchFaults(args []string, stdout, stderr io.Writer) error {
	fs := cli.NewFlags("vitalchain", "bench faults", "bench faults [--json] [--scenarios NAME,…] [--before D] [--fault D] [--after D] [--keep DIR]", stderr)
	asJSON := fs.Bool("json", false, "print the result as JSON")
	list := fs.String("scenarios", "", "the `scenarios` to run, comma-separated (default all: "+strings.Join(faults.Names(), ", ")+")")
	o := faults.Options{Progress: stderr}
	fs.DurationVar(&o.Before, "before", 0, "load before each fault (default 5 s; wan 15 s)")
	fs.DurationVar(&o.Fault, "fault", 0, "each fault's duration (default: each scenario's own)")
	fs.DurationVar(&o.After, "after", 0, "load after each heal (default 10 s)")
	fs.BoolVar(&o.NoSpoof, "no-spoof", false, "run head_killed_overlay without its spoofer")
	keep := fs.String("keep", "", "keep the nodes' homes and logs in this `directory`")
	level := fs.String("log-level", "warn", "log `level` of the suite's own diagnostics")
	fs.StringVar(&o.NodeLogLevel, "node-log-level", "info", "the nodes' log `level` (their logs: node.log in the homes --keep keeps)")
	if err := cli.ParseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 || o.Before < 0 || o.Fault < 0 || o.After < 0 {
		return fmt.Errorf("%w: bench faults takes flags only, durations not negative", cli.ErrUsage)
	}
	if *list != "" {
		o.Scenarios = strings.Split(*list, ",")
	}
	if *keep != "" {
		o.Dir, o.Keep = *keep, true
	}
	var err error
	if o.Log, err = cli.NewLogger(stderr, *level); err != nil {
		return err
	}
	if o.Binary, err = os.Executable(); err != nil {
		return fmt.Errorf("bench faults: the nodes' binary: %w", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := faults.Run(ctx, o)
	if errors.Is(err, faults.ErrUnknownScenario) {
		return fmt.Errorf("%w: %v", cli.ErrUsage, err)
	}
	if errors.Is(err, faults.ErrPrivilege) {
		return fmt.Errorf("bench faults: %w; run it as root", err)
	}
	if res == nil {
		return fmt.Errorf("bench faults: %w", err)
	}
	if *asJSON {
		if werr := writeJSON(stdout, res); werr != nil {
			return werr
		}
	} else {
		printFaults(stdout, res)
	}
	if errors.Is(err, context.Canceled) {
		return errors.New("bench faults: interrupted; every namespace, link, process and directory it made is removed")
	}
	if err != nil {
		return fmt.Errorf("bench faults: %w", err)
	}
	if !res.Pass {
		return cli.ExitError{Code: 1}
	}
	return nil
}

// printFaults prints the result as a table, then the failed checks.
func printFaults(w io.Writer, res *faults.Result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\tfault s\tblocks during\tafter\tforks\tlost/acked\theal→block\tanchor p99\tverdict\t")
	for _, s := range res.Scenarios {
		heal := "–"
		if s.HealToBlockMs >= 0 {
			heal = fmt.Sprintf("%.1f s", float64(s.HealToBlockMs)/1000)
		}
		verdict := "pass"
		if !s.Pass {
			verdict = "FAIL"
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%d\t%d\t%d\t%d/%d\t%s\t%.2f s\t%s\t\n", s.Name, s.FaultS, s.BlocksDuring, s.BlocksAfter,
			s.Forks, s.Lost, s.Acked, heal, s.AnchorP99Ms/1000, verdict)
	}
	tw.Flush()
	fmt.Fprintf(w, "impairments applied by: %s\n", res.Impairment)
	for _, s := range res.Scenarios {
		for _, c := range s.Checks {
			if !c.OK {
				fmt.Fprintf(w, "%s: %s failed: %s\n", s.Name, c.Name, c.Detail)
			}
		}
		if s.RateRatio > 0 {
			fmt.Fprintf(w, "%s: %.1f blocks/min during, %.1f before (%.2f)\n", s.Name, s.BlocksPerMinDuring, s.BlocksPerMinBefore, s.RateRatio)
		}
	}
	if res.Dir != "" {
		fmt.Fprintf(w, "homes and logs kept in %s\n", res.Dir)
	}
}
