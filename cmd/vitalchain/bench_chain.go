package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/internal/bench"
	"github.com/vitalchain/vitalchain/internal/benchplot"
	"github.com/vitalchain/vitalchain/internal/cli"
)

func runBenchChain(args []string, stdout, stderr io.Writer) error {
	const synopsis = "bench chain [--json] [--baseline] [--plot DIR] [--duration D] [--patients N] [--in-flight N]"
	fs := cli.NewFlags("vitalchain", "bench chain", synopsis, stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: vitalchain %s\n", synopsis)
		fs.PrintDefaults()
		fmt.Fprint(stderr, benchChainFields)
	}
	asJSON := fs.Bool("json", false, "print the result as JSON")
	o := bench.ChainOptions{Progress: stderr}
	fs.DurationVar(&o.Duration, "duration", 20*time.Second, "how long to drive load (after a 3 s warm-up)")
	fs.IntVar(&o.Patients, "patients", 96, "`number` of patients sending grants")
	fs.IntVar(&o.InFlight, "in-flight", 32, "grants each patient keeps in flight (at most 63)")
	fs.DurationVar(&o.BlockInterval, "block-interval", 200*time.Millisecond, "CometBFT timeout_commit")
	suiteName := fs.String("suite", identity.DefaultSuite.String(), "providers' HPKE `suite`, which sets the size of a grant's key envelope: mlkem768x25519 (1,168 B) or x25519 (80 B)")
	fs.StringVar(&o.CPUProfile, "cpuprofile", "", "write a CPU profile of the measured period (the ledger's run) to `file`, and the baseline's to file.nullapp")
	fs.BoolVar(&o.Baseline, "baseline", false, "then drive the same load through a minimal ABCI application that only verifies each transaction's signature, on the same 4-validator CometBFT setup, and report ratio = tx/s ÷ its tx/s")
	plotDir := fs.String("plot", "", "write charts (throughput, commit latency; against the baseline with --baseline) into `dir`")
	plotFormat := fs.String("plot-format", "png", "chart format: png or svg")
	if err := cli.ParseFlags(fs, args); err != nil {
		return err
	}
	if *plotFormat != "png" && *plotFormat != "svg" {
		return fmt.Errorf("%w: --plot-format must be png or svg", cli.ErrUsage)
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
	if *plotDir != "" {
		files, err := benchplot.Chain(*plotDir, *plotFormat, res)
		if err != nil {
			return err
		}
		for _, f := range files {
			fmt.Fprintf(stderr, "wrote %s\n", f)
		}
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
	if b := res.Baseline; b != nil {
		fmt.Fprintf(stdout, "baseline (%s, same load, same run): %.0f tx/s, commit latency p50 %.0f ms, p99 %.0f ms; %.0f tx per block; %d refused\n",
			b.App, b.TxPerS, b.CommitLatencyMs.P50, b.CommitLatencyMs.P99, b.TxPerBlock, b.Refused)
		fmt.Fprintf(stdout, "ratio %.3f (ledger tx/s ÷ baseline tx/s)\n", res.Ratio)
	}
	return nil
}

// benchChainFields documents the fields of 'bench chain --json'.
const benchChainFields = `
JSON fields (--json):
  validators            authorities (CometBFT validators), all in this process
  duration_s            the measured window, after a 3 s warm-up
  tx_per_s              transactions committed per second in the window (grants and anchors)
  commit_latency_ms     broadcast to commit, as the submitting client saw it: p50, p99, max, mean, n
  block_interval_ms     between node 0's blocks in the window: p50, p99, max, mean, n
  blocks, tx_per_block  blocks in the window, transactions per block
  committed             transactions committed in the window: anchors + grants
  anchors, grants       of which anchors (one per cloud in flight) and grants
  refused               transactions refused in the window (should be 0)
  ed25519_verify_per_s  raw Ed25519 verifications per second on all cores
  ed25519_verify_per_s_one_core  the same on one core
  verify_share          tx_per_s × validators ÷ ed25519_verify_per_s: the verification capacity used
  cpu_ms_per_tx         CPU time of the whole process (4 nodes and the load) in the window ÷ committed
  cpu_bound_tx_per_s    gomaxprocs ÷ cpu_ms_per_tx: the rate if CPU were the only bound
  cpu_share             CPU time ÷ (window × gomaxprocs): near 1 CPU-bound, far below waiting or shared
  in_flight             grants in flight in all (patients × in-flight)
  suite                 the HPKE suite of the grants' key envelopes
  tx_bytes_mean         mean size of a grant, in bytes
  timeout_commit        CometBFT's timeout_commit
  gomaxprocs            GOMAXPROCS of the run
  baseline              (--baseline) the same load through package nullapp's application, after
                        the ledger's run in the same process: app, duration_s, tx_per_s,
                        commit_latency_ms, block_interval_ms, blocks, tx_per_block, committed,
                        anchors, grants, refused, tx_bytes_mean, verify_share, cpu_ms_per_tx,
                        cpu_bound_tx_per_s, cpu_share, as above
  ratio                 (--baseline) tx_per_s ÷ baseline.tx_per_s
`
