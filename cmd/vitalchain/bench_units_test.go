package main

import (
	"math"
	"testing"

	"github.com/vitalchain/vitalchain/cloud/pebblestore"
	"github.com/vitalchain/vitalchain/internal/testbed"
	rusage "github.com/vitalchain/vitalchain/internal/usage"
)

func TestParseSweep(t *testing.T) {
	for _, tc := range []struct {
		in   string
		name string
		vals []float64
		err  bool
	}{
		{"", "", nil, false},
		{"rate=250,500", "rate", []float64{250, 500}, false},
		{"patients=5, 10,20", "patients", []float64{5, 10, 20}, false},
		{"seal=250ms,1.25s", "seal", []float64{250, 1250}, false},
		{"seal=10ms,1s", "", nil, true}, // under 50ms
		{"rate=250", "", nil, true},     // one value
		{"rate=-1,2", "", nil, true},
		{"patients=1.5,2", "", nil, true},
		{"speed=1,2", "", nil, true},
		{"rate", "", nil, true},
	} {
		sw, err := parseSweep(tc.in)
		if (err != nil) != tc.err {
			t.Errorf("parseSweep(%q) error %v, want error %v", tc.in, err, tc.err)
			continue
		}
		if sw.name != tc.name || len(sw.values) != len(tc.vals) {
			t.Errorf("parseSweep(%q) = %+v", tc.in, sw)
			continue
		}
		for i := range tc.vals {
			if sw.values[i] != tc.vals[i] {
				t.Errorf("parseSweep(%q) = %+v", tc.in, sw)
			}
		}
	}
}

func TestUnitsOf(t *testing.T) {
	r := &e2eResult{
		Summary: &testbed.Summary{Patients: 4, Readings: 4000, RecordsStored: 200, ChainTxs: 10, ChainBytes: 30000, ChainBlocksWithTxs: 10},
		// 10 CPU-s labelled, 2 unlabelled: each part's share × 12/10.
		CPU:           rusage.CPU{TotalS: 12, ByComponent: map[string]float64{"cloud": 1, "authority": 4, "gateway": 5, rusage.Unlabelled: 2}},
		CloudStore:    pebblestore.Metrics{SyncedBatches: 100, WALBytes: 200000},
		GatewayAnonMB: 11,
	}
	near := func(a, b float64) bool { return math.Abs(a-b) < 1e-12 }
	u := unitsOf(r, 2, true) // patient 0's process: 2 CPU-s for its 1,000 readings
	for _, c := range []struct {
		name      string
		got, want float64
	}{
		{"gateway per reading (process)", u.GatewayCPUSPerReading, 0.002},
		{"gateway memory", u.GatewayMemoryMB, 11},
		{"cloud per record", u.CloudCPUSPerRecord, 1.2 / 200},
		{"authority per tx", u.AuthorityCPUSPerTx, 4.8 / 4 / 10},
		{"authority per reading", u.AuthorityCPUSPerReading, 4.8 / 4 / 4000},
		{"batches per record", u.DBBatchesPerRecord, 0.5},
		{"WAL per record", u.DBWALBytesPerRecord, 1000},
		{"bytes per block", u.ChainBytesPerBlock, 3000},
	} {
		if !near(c.got, c.want) {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if u.GatewayCPUFrom != "process" {
		t.Errorf("gateway CPU from %q", u.GatewayCPUFrom)
	}
	// Without a gateway process: the in-process gateways' share.
	u = unitsOf(r, 0, false)
	if u.GatewayCPUFrom != "profile" || !near(u.GatewayCPUSPerReading, 6.0/4000) || u.GatewayMemoryMB != 0 {
		t.Errorf("in-process units: %+v", u)
	}
}
