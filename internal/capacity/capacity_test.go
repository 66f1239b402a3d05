package capacity

import (
	"errors"
	"math"
	"os"
	"testing"
	"time"
)

// units of round numbers, so that a plan's arithmetic can be checked by hand.
func roundUnits() Units {
	u := func(v float64) Unit { return Unit{Value: v, Command: "test", Field: "f"} }
	return Units{Measured: "test",
		GatewayCPUSPerReading: u(0.001), GatewayMemoryMBPerPatient: u(10), CloudCPUSPerRecord: u(0.002),
		AuthorityCPUSPerTx: u(0.01), AuthorityCPUSPerReading: u(0.0001), DBBatchesPerRecord: u(0.5),
		DBWALBytesPerRecord: u(1000), ChainBytesPerBlock: u(2000)}
}

func inputs(patients int) Inputs {
	return Inputs{Patients: patients, Wearables: 6, Interval: time.Minute, ReadingsPerSample: 1.5, Abnormal: 0.05,
		Seal: time.Second, CoresPerMachine: 8, Utilization: 0.5, MinAuthorities: 4}
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

func TestMake(t *testing.T) {
	for _, tc := range []struct {
		name                        string
		in                          Inputs
		readingsPerS, recordsPerS   float64
		cloudCores                  float64
		sequencers, authorities     int
		authEach, chainBytesPerDay  float64
		gatewayCores, dbBatchesPerS float64
		saturates                   string
		saturatesAt                 float64
	}{
		// 10,000 patients: 9 readings a minute each = 1,500/s; 75 records/s.
		{"10k", inputs(10_000), 1500, 75, 0.15, 1, 4, 0.01 + 0.15/4, 1 * 86400 * 2000, 0.15 * 0.001, 37.5,
			// a sequencer: 4 cores ÷ (0.15 × 0.05 × 0.002) = 266,667 patients;
			// the authorities: 4 × 4 ÷ (0.15 × 0.0001) = 1,066,667.
			"cloud sequencer", 4 / (0.15 * 0.05 * 0.002)},
		// 1,000,000 patients: 150,000 readings/s, 7,500 records/s = 15 cloud
		// cores = 4 sequencers (4 anchors/s); reads 15 cores over authorities
		// of 4 - 0.04 cores left for reads each: 4.
		{"1M", inputs(1_000_000), 150_000, 7_500, 15, 4, 4, 0.04 + 15.0/4, 4 * 86400 * 2000, 0.15 * 0.001, 3750,
			"cloud sequencer", 4 / (0.15 * 0.05 * 0.002)},
		// No abnormal readings: no records; the authorities' reads bound it.
		{"all normal", func() Inputs { in := inputs(10_000); in.Abnormal = 0; return in }(), 1500, 0, 0, 1, 4, 0.01 + 0.15/4, 86400 * 2000, 0.15 * 0.001, 0,
			"authorities", 4 * 4 / (0.15 * 0.0001)},
		// 2 cores at most half used, 2M patients: 30 sequencers anchor 30
		// times a second, 0.3 cores of each authority; reads need 30 cores,
		// 0.7 per authority left: 43 authorities.
		{"small machines", func() Inputs { in := inputs(2_000_000); in.CoresPerMachine = 2; return in }(), 300_000, 15_000, 30, 30, 43, 30*0.01 + 30.0/43, 30 * 86400 * 2000, 0.15 * 0.001, 7500,
			"cloud sequencer", 1 / (0.15 * 0.05 * 0.002)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Make(tc.in, roundUnits())
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range []struct {
				name      string
				got, want float64
			}{
				{"readings/s", p.Load.ReadingsPerS, tc.readingsPerS},
				{"records/s", p.Load.RecordsPerS, tc.recordsPerS},
				{"cloud cores", p.Cloud.CPUCores, tc.cloudCores},
				{"sequencers", float64(p.Cloud.Sequencers), float64(tc.sequencers)},
				{"authorities", float64(p.Authorities.Count), float64(tc.authorities)},
				{"authority cores each", p.Authorities.CPUCoresEach, tc.authEach},
				{"chain bytes/day", p.Chain.BytesPerDay, tc.chainBytesPerDay},
				{"gateway cores", p.Gateway.CPUCores, tc.gatewayCores},
				{"gateway MB", p.Gateway.MemoryMB, 10},
				{"synced batches/s", p.Cloud.DBSyncedBatchesPerS, tc.dbBatchesPerS},
				{"saturates at", p.SaturatesFirst.AtPatients, tc.saturatesAt},
			} {
				if !near(c.got, c.want) {
					t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
				}
			}
			if p.SaturatesFirst.Part != tc.saturates {
				t.Errorf("saturates first: %q, want %q", p.SaturatesFirst.Part, tc.saturates)
			}
			if !near(p.Chain.BytesPerReading, p.Chain.BytesPerDay/(tc.readingsPerS*86400)) {
				t.Errorf("bytes per reading %v", p.Chain.BytesPerReading)
			}
		})
	}
}

func TestMakeRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   func(*Inputs)
		u    func(*Units)
		want error
	}{
		{"no patients", func(in *Inputs) { in.Patients = 0 }, nil, ErrInputs},
		{"no wearables", func(in *Inputs) { in.Wearables = 0 }, nil, ErrInputs},
		{"zero interval", func(in *Inputs) { in.Interval = 0 }, nil, ErrInputs},
		{"abnormal above 1", func(in *Inputs) { in.Abnormal = 1.5 }, nil, ErrInputs},
		{"abnormal NaN", func(in *Inputs) { in.Abnormal = math.NaN() }, nil, ErrInputs},
		{"utilization 0", func(in *Inputs) { in.Utilization = 0 }, nil, ErrInputs},
		{"no cores", func(in *Inputs) { in.CoresPerMachine = 0 }, nil, ErrInputs},
		{"zero seal", func(in *Inputs) { in.Seal = 0 }, nil, ErrInputs},
		{"unmeasured unit", nil, func(u *Units) { u.CloudCPUSPerRecord.Value = 0 }, ErrUnits},
		{"negative unit", nil, func(u *Units) { u.ChainBytesPerBlock.Value = -1 }, ErrUnits},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in, u := inputs(1000), roundUnits()
			if tc.in != nil {
				tc.in(&in)
			}
			if tc.u != nil {
				tc.u(&u)
			}
			if p, err := Make(in, u); !errors.Is(err, tc.want) {
				t.Errorf("Make = %v, %v; want %v", p, err, tc.want)
			}
		})
	}
}

func TestDefaultUnits(t *testing.T) {
	u := DefaultUnits()
	for _, n := range u.named() {
		if n.u.Command == "" || n.u.Field == "" {
			t.Errorf("%s names no command or field: %+v", n.name, n.u)
		}
	}
}

func TestFromE2E(t *testing.T) {
	data, err := os.ReadFile("testdata/e2e-designs.json")
	if err != nil {
		t.Fatal(err)
	}
	u, err := FromE2E(data, "bench e2e --json", "now")
	if err != nil {
		t.Fatal(err)
	}
	// Everything from the paper's design but the cost per transaction,
	// from the design that committed the most.
	if u.CloudCPUSPerRecord.Value != 0.0008 || u.AuthorityCPUSPerTx.Value != 0.0002 || u.GatewayMemoryMBPerPatient.Value != 11 {
		t.Errorf("FromE2E = %+v", u)
	}
	if u.AuthorityCPUSPerTx.Field != "units.authority_cpu_s_per_tx (design per-reading)" {
		t.Errorf("field %q", u.AuthorityCPUSPerTx.Field)
	}
	for _, bad := range []string{`{}`, `[{"baseline":"per-reading","units":{}}]`, `not json`} {
		if _, err := FromE2E([]byte(bad), "c", "m"); !errors.Is(err, ErrUnits) {
			t.Errorf("FromE2E(%s) = %v, want ErrUnits", bad, err)
		}
	}
}
