package bench

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/vitalchain/vitalchain/cloud/pgstore"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/internal/pgtest"
)

func TestBenchVerifyRate(t *testing.T) {
	all, one := VerifyRate(50 * time.Millisecond)
	if all <= 0 || one <= 0 {
		t.Errorf("VerifyRate = %v, %v; want positive rates", all, one)
	}
}

func TestBenchOptionsRefused(t *testing.T) {
	ctx := context.Background()
	if _, err := Chain(ctx, ChainOptions{Duration: time.Second, Patients: 1, InFlight: 64, BlockInterval: time.Second}); err == nil {
		t.Error("Chain accepted 64 grants in flight")
	}
	if _, err := Ingest(ctx, IngestOptions{Duration: time.Second, Batch: 0, Uploaders: 1, Patients: 1}); err == nil {
		t.Error("Ingest accepted a batch of 0")
	}
}

func TestBenchChain(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a chain")
	}
	profile := filepath.Join(t.TempDir(), "cpu.prof")
	res, err := Chain(context.Background(), ChainOptions{Duration: 2 * time.Second, Patients: 4, InFlight: 4,
		BlockInterval: 100 * time.Millisecond, Suite: identity.SuiteX25519, Dir: t.TempDir(), Progress: t.Output(), Baseline: true,
		CPUProfile: profile})
	if err != nil {
		t.Fatal(err)
	}
	// A profile of each run: the ledger's and the baseline's.
	for _, f := range []string{profile, profile + ".nullapp"} {
		if st, err := os.Stat(f); err != nil || st.Size() == 0 {
			t.Errorf("CPU profile %s: %v", f, err)
		}
	}
	// The CPU time per transaction and the rate it bounds agree.
	if procs := float64(res.GoMaxProcs); res.CPUMsPerTx <= 0 || res.CPUShare <= 0 ||
		math.Abs(res.CPUBoundTxPerS-procs*1000/res.CPUMsPerTx) > 0.01*res.CPUBoundTxPerS {
		t.Errorf("%g CPU ms per tx, %g tx/s bound on %g cores, CPU share %g: want positive and consistent",
			res.CPUMsPerTx, res.CPUBoundTxPerS, procs, res.CPUShare)
	}
	if b := res.Baseline; b == nil {
		t.Error("no baseline run")
	} else {
		t.Logf("baseline %+v", *b)
		switch {
		case b.App != "nullapp" || b.Grants == 0 || b.Anchors == 0 || b.Refused != 0:
			t.Errorf("baseline: %d grants, %d anchors, %d refused on %q; want grants and anchors, none refused", b.Grants, b.Anchors, b.Refused, b.App)
		case b.Committed != b.Grants+b.Anchors || b.CommitLatencyMs.N != int(b.Committed):
			t.Errorf("baseline: committed %d, grants + anchors %d, latencies %d", b.Committed, b.Grants+b.Anchors, b.CommitLatencyMs.N)
		case math.Abs(b.TxBytesMean-res.TxBytesMean) > 0.01*res.TxBytesMean:
			t.Errorf("baseline grants of %.1f bytes, the ledger's %.1f: not the same load", b.TxBytesMean, res.TxBytesMean)
		case b.CPUMsPerTx <= 0 || b.CPUShare <= 0 || b.CPUBoundTxPerS <= 0:
			t.Errorf("baseline: CPU figures missing: %+v", b)
		case res.Ratio != round(res.TxPerS/b.TxPerS, 3):
			t.Errorf("ratio %v, want %v ÷ %v", res.Ratio, res.TxPerS, b.TxPerS)
		}
	}
	switch {
	case res.Grants == 0 || res.Anchors == 0:
		t.Errorf("%d grants and %d anchors committed; want both", res.Grants, res.Anchors)
	case res.Committed != res.Grants+res.Anchors:
		t.Errorf("committed %d, want grants + anchors = %d", res.Committed, res.Grants+res.Anchors)
	case res.Refused != 0:
		t.Errorf("%d refused", res.Refused)
	case res.CommitLatencyMs.N != int(res.Committed):
		t.Errorf("%d latencies for %d commits", res.CommitLatencyMs.N, res.Committed)
	case res.Blocks == 0 || res.BlockIntervalMs.N != res.Blocks-1:
		t.Errorf("%d blocks, %d intervals", res.Blocks, res.BlockIntervalMs.N)
	case res.Validators != 4 || res.InFlight != 16 || res.Suite != "x25519" || res.TimeoutCommit != "100ms":
		t.Errorf("the set-up is not reported as run: %+v", res)
	case res.TxPerS <= 0 || res.TxBytesMean <= 0 || res.Ed25519VerifyPerS <= 0 || res.VerifyShare <= 0:
		t.Errorf("figures missing: %+v", res)
	}
	checkJSON(t, res, []string{"validators", "duration_s", "tx_per_s", "commit_latency_ms", "block_interval_ms", "blocks",
		"tx_per_block", "committed", "anchors", "grants", "refused", "ed25519_verify_per_s", "ed25519_verify_per_s_one_core",
		"verify_share", "in_flight", "suite", "tx_bytes_mean", "timeout_commit", "gomaxprocs", "baseline", "ratio",
		"cpu_ms_per_tx", "cpu_bound_tx_per_s", "cpu_share"})
}

func TestBenchIngest(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a chain")
	}
	profile := filepath.Join(t.TempDir(), "cpu.pprof")
	// With PostgreSQL (when it answers), the same run on it too, beside.
	pg, why := pgtest.Try(t)
	if pg == "" {
		t.Logf("Pebble only: %s", why)
	}
	res, err := Ingest(context.Background(), IngestOptions{Duration: 2 * time.Second, WarmUp: 500 * time.Millisecond, Batch: 2, Uploaders: 2, Patients: 3,
		Dir: t.TempDir(), CPUProfile: profile, Progress: t.Output(), Postgres: pg})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", *res)
	switch {
	case res.Records == 0 || res.Refused != 0:
		t.Errorf("%d records stored, %d refused", res.Records, res.Refused)
	case res.AckLatencyMs.N == 0 || res.AckLatencyMs.N*res.Batch < int(res.Records):
		t.Errorf("%d acknowledged uploads of %d for %d records", res.AckLatencyMs.N, res.Batch, res.Records)
	case res.Batch != 2 || res.Uploaders != 2 || res.Patients != 3 || !res.Durable:
		t.Errorf("the set-up is not reported as run: %+v", res)
	case res.RecordsPerS <= 0 || res.RecordBytes <= 0 || res.Ed25519VerifyPerS <= 0 || res.Ratio <= 0:
		t.Errorf("figures missing: %+v", res)
	}
	if st, err := os.Stat(profile); err != nil || st.Size() == 0 {
		t.Errorf("no CPU profile of the measured window: %v", err)
	}
	fields := []string{"duration_s", "records_per_s", "ack_latency_ms", "records", "refused", "ed25519_verify_per_s",
		"ed25519_verify_per_s_one_core", "ratio", "batch", "uploaders", "patients", "record_bytes", "durable",
		"anchored_at_end", "gomaxprocs"}
	if pg != "" {
		p := res.Postgres
		switch {
		case p == nil:
			t.Fatal("no PostgreSQL figures")
		case p.Store != "postgres" || p.SynchronousCommit != "on":
			t.Errorf("the PostgreSQL run is not reported as run: %+v", p)
		case p.Records == 0 || p.Refused != 0 || p.RecordsPerS <= 0 || p.AckLatencyMs.N == 0:
			t.Errorf("PostgreSQL: %d records stored, %d refused, %v/s, %d acks", p.Records, p.Refused, p.RecordsPerS, p.AckLatencyMs.N)
		case res.PostgresRatio != round(p.RecordsPerS/res.RecordsPerS, 3):
			t.Errorf("ratio %v of %v and %v", res.PostgresRatio, p.RecordsPerS, res.RecordsPerS)
		}
		fields = append(fields, "postgres", "postgres_ratio")
	}
	checkJSON(t, res, fields)
}

// A database that is not PostgreSQL's is refused before anything runs.
func TestBenchIngestRefusesAStoreURL(t *testing.T) {
	_, err := Ingest(context.Background(), IngestOptions{Duration: time.Second, Batch: 1, Uploaders: 1, Patients: 1, Postgres: "mysql://db"})
	if !errors.Is(err, pgstore.ErrURL) {
		t.Fatalf("Ingest with a MySQL URL: %v, want pgstore.ErrURL", err)
	}
}

// checkJSON checks that res encodes to the fields want (those of the
// command's JSON before the runners moved here) and decodes back to res.
func checkJSON[T any](t *testing.T, res *T, want []string) {
	t.Helper()
	b, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		t.Fatal(err)
	}
	var got []string
	for k := range fields {
		got = append(got, k)
	}
	slices.Sort(got)
	want = slices.Sorted(slices.Values(want))
	if !slices.Equal(got, want) {
		t.Errorf("JSON fields %v, want %v", got, want)
	}
	back := new(T)
	if err := json.Unmarshal(b, back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, res) {
		t.Errorf("JSON round trip: %+v, want %+v", back, res)
	}
}
