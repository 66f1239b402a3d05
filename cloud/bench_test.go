package cloud

import (
	"context"
	"testing"

	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/record"
	"github.com/vitalchain/vitalchain/vital"
)

// benchRecords seals n records of the env's patient.
func benchRecords(e *testEnv, n int) [][]byte {
	raws := make([][]byte, n)
	for i := range raws {
		raws[i], _ = e.record(vital.Glucose)
	}
	return raws
}

// BenchmarkVerifyBatch is the baseline of BenchmarkCheckBatch: parsing and
// batch-verifying verifyBatch records, the primitive the cloud's checks wrap.
func BenchmarkVerifyBatch(b *testing.B) {
	e := newEnv(b)
	raws := benchRecords(e, verifyBatch)
	key := e.patient.Signing.Public()
	keys := make([]identity.VerifyingKey, len(raws))
	for i := range keys {
		keys[i] = key
	}
	b.ReportAllocs()
	for b.Loop() {
		recs := make([]*record.Record, len(raws))
		for i, raw := range raws {
			r, err := record.ParseRecord(raw)
			if err != nil {
				b.Fatal(err)
			}
			recs[i] = r
		}
		if _, errs := record.VerifyBatch(recs, keys); errs[0] != nil {
			b.Fatal(errs[0])
		}
	}
	b.ReportMetric(float64(b.N*len(raws))/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkCheckBatch is the cloud's verification of verifyBatch records:
// parsing, ledger lookups (an in-memory fake), batch verification and the
// header rules.
func BenchmarkCheckBatch(b *testing.B) {
	e := newEnv(b)
	raws := benchRecords(e, verifyBatch)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, errs := e.svc.checkBatch(ctx, raws, &authorBudget{seen: map[identity.ID]bool{}}); errs[0] != nil {
			b.Fatal(errs[0])
		}
	}
	b.ReportMetric(float64(b.N*len(raws))/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkIngest uploads 256 new records per operation, each upload
// acknowledged once committed, to a memory store: the service's own cost.
// What a durable commit adds is measured by the drivers' benchmarks
// (pebblestore's BenchmarkAppendRecords).
func BenchmarkIngest(b *testing.B) {
	e := newEnv(b, func(c *Config) { c.BlockRecords = 1 << 16 })
	ctx := context.Background()
	const n = 256
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		raws := benchRecords(e, n)
		b.StartTimer()
		for _, a := range e.svc.Ingest(ctx, raws) {
			if a.Code != "" {
				b.Fatal(a.Error)
			}
		}
	}
	b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "records/s")
}
