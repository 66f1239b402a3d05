package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/vitalchain/vitalchain/cloud/cloudapi"
	"github.com/vitalchain/vitalchain/internal/bench"
	"github.com/vitalchain/vitalchain/internal/cli"
)

func runBenchIngest(args []string, stdout, stderr io.Writer) error {
	fs := cli.NewFlags("vitalchain", "bench ingest", "bench ingest [--json] [--duration D] [--batch N] [--uploaders N] [--store postgres://…]", stderr)
	asJSON := fs.Bool("json", false, "print the result as JSON")
	o := bench.IngestOptions{Progress: stderr}
	fs.DurationVar(&o.Duration, "duration", 15*time.Second, "how long to measure each store's uploads (after a 2 s warm-up; with --store, in 3 turns, the stores alternating)")
	fs.IntVar(&o.Batch, "batch", 64, "records per upload request")
	fs.IntVar(&o.Uploaders, "uploaders", 8, "concurrent uploaders")
	fs.IntVar(&o.Patients, "patients", 16, "patients whose records are uploaded")
	fs.StringVar(&o.CPUProfile, "cpuprofile", "", "write a CPU profile of the measured period (Pebble's) to `file`")
	fs.StringVar(&o.Postgres, "store", "", "also measure a cloud on the PostgreSQL database at this `URL` (postgres://…, in a schema of its own, dropped after), beside the Pebble store")
	if err := cli.ParseFlags(fs, args); err != nil {
		return err
	}
	if o.Batch < 1 || o.Batch > cloudapi.MaxUploadRecords || o.Uploaders < 1 || o.Patients < 1 {
		return fmt.Errorf("%w: --batch 1..%d, --uploaders and --patients positive", cli.ErrUsage, cloudapi.MaxUploadRecords)
	}
	res, err := bench.Ingest(context.Background(), o)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(stdout, res)
	}
	fmt.Fprintf(stdout, "Pebble: %.0f records/s stored durably (%d in %.1f s, %d refused); ack latency p50 %.1f ms, p99 %.1f ms per %d-record upload\n",
		res.RecordsPerS, res.Records, res.DurationS, res.Refused, res.AckLatencyMs.P50, res.AckLatencyMs.P99, res.Batch)
	if p := res.Postgres; p != nil {
		fmt.Fprintf(stdout, "PostgreSQL (synchronous_commit %s): %.0f records/s (%d in %.1f s, %d refused); ack latency p50 %.1f ms, p99 %.1f ms; %.2f of Pebble's records/s\n",
			p.SynchronousCommit, p.RecordsPerS, p.Records, p.DurationS, p.Refused, p.AckLatencyMs.P50, p.AckLatencyMs.P99, res.PostgresRatio)
	}
	fmt.Fprintf(stdout, "Ed25519 verify: %.0f/s on all cores (%.0f/s on one); ratio %.2f\n",
		res.Ed25519VerifyPerS, res.Ed25519VerifyCore, res.Ratio)
	return nil
}
