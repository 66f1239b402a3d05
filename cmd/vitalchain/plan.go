package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/vitalchain/vitalchain/internal/capacity"
	"github.com/vitalchain/vitalchain/internal/cli"
)

// runPlan turns the measured per-unit costs into a deployment's resources.
func runPlan(args []string, stdout, stderr io.Writer) error {
	const synopsis = "plan --patients N [--wearables W] [--interval I] [--abnormal F] [--json] [--units FILE] [--write-units FILE]"
	fs := cli.NewFlags("vitalchain", "plan", synopsis, stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: vitalchain %s\n", synopsis)
		fs.PrintDefaults()
		fmt.Fprint(stderr, planFields)
	}
	var in capacity.Inputs
	fs.IntVar(&in.Patients, "patients", 0, "`number` of patients (required)")
	fs.IntVar(&in.Wearables, "wearables", 6, "wearables per patient")
	fs.DurationVar(&in.Interval, "interval", time.Minute, "each wearable's sampling interval")
	fs.Float64Var(&in.ReadingsPerSample, "readings-per-sample", 1.5, "readings a wearable gives per sample (the standard kit: 9 vital signs from 6 wearables)")
	fs.Float64Var(&in.Abnormal, "abnormal", 0.05, "share of abnormal readings (each one a record at the cloud)")
	fs.DurationVar(&in.Seal, "seal", 1250*time.Millisecond, "each cloud sequencer's seal interval (one anchor transaction per seal)")
	fs.IntVar(&in.CoresPerMachine, "cores", 8, "cores of a cloud sequencer's or an authority's machine")
	fs.Float64Var(&in.Utilization, "utilization", 0.5, "share of a machine's cores a part may use (headroom for bursts)")
	fs.IntVar(&in.MinAuthorities, "min-authorities", 4, "the smallest set of authorities (4 tolerates one faulty)")
	asJSON := fs.Bool("json", false, "print the plan as JSON")
	unitsFile := fs.String("units", "", "read the per-unit costs from `file`: a units file (the form of --write-units) or the output of 'bench e2e --json' (default: the measurement embedded in this binary)")
	unitsCmd := fs.String("units-command", "vitalchain bench e2e --baseline none,per-reading --json", "with --units of a bench e2e output: the command that produced it, recorded in the units")
	measured := fs.String("units-measured", "", "with --units of a bench e2e output: when and where it was measured, recorded in the units")
	writeUnits := fs.String("write-units", "", "write the units used to `file` (docs/evaluation/run.sh regenerates the embedded ones so)")
	if err := cli.ParseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("%w: plan takes flags only", cli.ErrUsage)
	}
	u := capacity.DefaultUnits()
	if *unitsFile != "" {
		data, err := os.ReadFile(*unitsFile)
		if err != nil {
			return err
		}
		if u, err = capacity.ParseUnits(data); err != nil {
			var err2 error
			if u, err2 = capacity.FromE2E(data, *unitsCmd, *measured); err2 != nil {
				return fmt.Errorf("--units %s: %w; %w", *unitsFile, err, err2)
			}
		}
	}
	if *writeUnits != "" {
		var b strings.Builder
		if err := writeJSON(&b, u); err != nil {
			return err
		}
		if err := os.WriteFile(*writeUnits, []byte(b.String()), 0o644); err != nil {
			return err
		}
		if in.Patients == 0 {
			return nil
		}
	}
	p, err := capacity.Make(in, u)
	if err != nil {
		return fmt.Errorf("%w: %v", cli.ErrUsage, err)
	}
	if *asJSON {
		return writeJSON(stdout, p)
	}
	fmt.Fprintf(stdout, "%d patients × %d wearables every %v (%.1f readings/s), %.1f%% abnormal (%.1f records/s)\n",
		in.Patients, in.Wearables, in.Interval, p.Load.ReadingsPerS, 100*in.Abnormal, p.Load.RecordsPerS)
	fmt.Fprintf(stdout, "  gateway (each home)  %.4f cores, %.0f MB\n", p.Gateway.CPUCores, p.Gateway.MemoryMB)
	fmt.Fprintf(stdout, "  cloud                %.2f cores: %d sequencer(s) of %d cores; %.1f synced DB batches/s, %.2f MB/s WAL, %.2f GB/day\n",
		p.Cloud.CPUCores, p.Cloud.Sequencers, in.CoresPerMachine, p.Cloud.DBSyncedBatchesPerS, p.Cloud.DBWALMBPerS, p.Cloud.StoreGBPerDay)
	fmt.Fprintf(stdout, "  authorities          %d of %d cores, %.2f cores each (%.3f for transactions, %.2f for reads in all)\n",
		p.Authorities.Count, in.CoresPerMachine, p.Authorities.CPUCoresEach, p.Authorities.TxCPUCoresEach, p.Authorities.ReadCPUCoresTotal)
	fmt.Fprintf(stdout, "  chain                %.1f transactions/s; %.1f MB/day, %.1f GB/year, %.3f bytes per reading\n",
		p.Load.ChainTxsPerS, p.Chain.BytesPerDay/1e6, p.Chain.GBPerYear, p.Chain.BytesPerReading)
	fmt.Fprintf(stdout, "  saturates first      %s, at %.0f patients per machine: %s\n", p.SaturatesFirst.Part, p.SaturatesFirst.AtPatients, p.SaturatesFirst.Why)
	fmt.Fprintf(stdout, "Units (%s):\n", u.Measured)
	for _, x := range []struct {
		name string
		u    capacity.Unit
	}{
		{"gateway CPU s per reading", u.GatewayCPUSPerReading}, {"gateway MB per patient", u.GatewayMemoryMBPerPatient},
		{"cloud CPU s per record", u.CloudCPUSPerRecord}, {"authority CPU s per transaction", u.AuthorityCPUSPerTx},
		{"authority CPU s per reading", u.AuthorityCPUSPerReading}, {"synced DB batches per record", u.DBBatchesPerRecord},
		{"DB WAL bytes per record", u.DBWALBytesPerRecord}, {"chain bytes per block", u.ChainBytesPerBlock},
	} {
		fmt.Fprintf(stdout, "  %-32s %.4g   from %s: %s\n", x.name, x.u.Value, x.u.Command, x.u.Field)
	}
	return nil
}

// planFields documents the fields of 'plan --json'.
const planFields = `
JSON fields (--json):
  inputs        patients, wearables, interval_s, readings_per_sample, abnormal, seal_s,
                cores_per_machine, utilization
  load          readings_per_s = patients × wearables × readings_per_sample ÷ interval;
                records_per_s = readings_per_s × abnormal; chain_txs_per_s = sequencers ÷ seal
                (one anchor per sequencer per seal); readings_per_day
  gateway       one home's gateway: readings_per_s, cpu_cores (× gateway_cpu_s_per_reading),
                memory_mb (gateway_memory_mb_per_patient)
  cloud         cpu_cores = records_per_s × cloud_cpu_s_per_record; sequencers = machines of
                cores × utilization; db_synced_batches_per_s, db_wal_mb_per_s, store_gb_per_day
                (WAL bytes per record × records per day)
  authorities   count (at least --min-authorities, enough that each one's share of the reads
                fits beside the transactions every one checks), cpu_cores_each,
                tx_cpu_cores_each (chain_txs_per_s × authority_cpu_s_per_tx),
                read_cpu_cores_total (readings_per_s × authority_cpu_s_per_reading)
  chain         bytes_per_day (every anchor in a block of its own × chain_bytes_per_block:
                an upper bound), gb_per_year, bytes_per_reading
  saturates_first  part, at_patients, why: the shared part that one machine outgrows first
  patients_per_machine  cloud_sequencer, authority: patients one machine serves at these rates
  units         the per-unit costs used, each {value, command, field}: the command that
                measured it and the field of its JSON output; measured (when, where)
`
