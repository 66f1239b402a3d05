package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/internal/bench"
	"github.com/vitalchain/vitalchain/internal/cli"
)

func runBenchChain(args []string, stdout, stderr io.Writer) error {
	fs := cli.NewFlags("vitalchain", "bench chain", "bench chain [--json] [--duration D] [--patients N] [--in-flight N]", stderr)
	asJSON := fs.Bool("json", false, "print the result as JSON")
	o := bench.ChainOptions{Progress: stderr}
	fs.DurationVar(&o.Duration, "duration", 20*time.Second, "how long to drive load (after a 3 s warm-up)")
	fs.IntVar(&o.Patients, "patients", 96, "`number` of patients sending grants")
	fs.IntVar(&o.InFlight, "in-flight", 32, "grants each patient keeps in flight (at most 63)")
	fs.DurationVar(&o.BlockInterval, "block-interval", 200*time.Millisecond, "CometBFT timeout_commit")
	suiteName := fs.String("suite", identity.DefaultSuite.String(), "providers' HPKE `suite`, which sets the size of a grant's key envelope: mlkem768x25519 (1,168 B) or x25519 (80 B)")
	fs.StringVar(&o.CPUProfile, "cpuprofile", "", "write a CPU profile of the measured period to `file`")
	if err := cli.ParseFlags(fs, args); err != nil {
		return err
	}
	if o.InFlight < 1 || o.InFlight > 63 || o.Patients < 1 {
		return fmt.Errorf("%w: --in-flight must be 1..63 and --patients positive", cli.ErrUsage)
	}
	var err error
	if o.Suite, err = identity.ParseSuite(*suiteName); err != nil {
		return fmt.Errorf("%w: %v", cli.ErrUsage, err)
	}
	res, err := bench.Chain(context.Background(), o)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(stdout, res)
	}
	fmt.Fprintf(stdout, "%d validators, %.1f s: %.0f tx/s committed (%d anchors, %d grants, %d refused)\n",
		res.Validators, res.DurationS, res.TxPerS, res.Anchors, res.Grants, res.Refused)
	fmt.Fprintf(stdout, "commit latency p50 %.0f ms, p99 %.0f ms; block interval p50 %.0f ms; %.0f tx per block\n",
		res.CommitLatencyMs.P50, res.CommitLatencyMs.P99, res.BlockIntervalMs.P50, res.TxPerBlock)
	fmt.Fprintf(stdout, "Ed25519 verify: %.0f/s on all cores (%.0f/s on one); verification share %.0f%%\n",
		res.Ed25519VerifyPerS, res.Ed25519VerifyCore, 100*res.VerifyShare)
	return nil
}
