// Package capacity turns measured per-unit costs (CPU seconds per reading
// at a gateway, per record at the cloud, per transaction and per reading at
// an authority; a gateway's memory; the cloud store's writes per record;
// chain bytes per block) into the resources a deployment of a given size
// needs: `vitalchain plan`. The measured defaults are embedded (units.json,
// written by docs/evaluation/run.sh from `bench e2e --json`); each unit
// names the command that measured it.
package capacity

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"
)

// Unit is one measured per-unit cost and where it comes from.
type Unit struct {
	Value   float64 `json:"value"`
	Command string  `json:"command"` // the command that measured it
	Field   string  `json:"field"`   // the JSON field of that command's output
}

// Units are the per-unit costs a plan is made of.
type Units struct {
	// Measured says when and where (commit, date, machine).
	Measured                  string `json:"measured"`
	GatewayCPUSPerReading     Unit   `json:"gateway_cpu_s_per_reading"`
	GatewayMemoryMBPerPatient Unit   `json:"gateway_memory_mb_per_patient"`
	CloudCPUSPerRecord        Unit   `json:"cloud_cpu_s_per_record"`
	AuthorityCPUSPerTx        Unit   `json:"authority_cpu_s_per_tx"`
	AuthorityCPUSPerReading   Unit   `json:"authority_cpu_s_per_reading"`
	DBBatchesPerRecord        Unit   `json:"db_synced_batches_per_record"`
	DBWALBytesPerRecord       Unit   `json:"db_wal_bytes_per_record"`
	ChainBytesPerBlock        Unit   `json:"chain_bytes_per_block"`
}

//go:embed units.json
var defaultUnits []byte

// DefaultUnits returns the embedded measured units.
func DefaultUnits() Units {
	u, err := ParseUnits(defaultUnits)
	if err != nil {
		panic("capacity: the embedded units.json: " + err.Error())
	}
	return u
}

// ErrUnits is the error for units a plan cannot be made of.
var ErrUnits = errors.New("bad units")

// ParseUnits reads a units file (the form of units.json).
func ParseUnits(data []byte) (Units, error) {
	var u Units
	if err := json.Unmarshal(data, &u); err != nil {
		return Units{}, fmt.Errorf("%w: %v", ErrUnits, err)
	}
	return u, u.check()
}

func (u Units) named() []struct {
	name string
	u    Unit
} {
	return []struct {
		name string
		u    Unit
	}{
		{"gateway_cpu_s_per_reading", u.GatewayCPUSPerReading},
		{"gateway_memory_mb_per_patient", u.GatewayMemoryMBPerPatient},
		{"cloud_cpu_s_per_record", u.CloudCPUSPerRecord},
		{"authority_cpu_s_per_tx", u.AuthorityCPUSPerTx},
		{"authority_cpu_s_per_reading", u.AuthorityCPUSPerReading},
		{"db_synced_batches_per_record", u.DBBatchesPerRecord},
		{"db_wal_bytes_per_record", u.DBWALBytesPerRecord},
		{"chain_bytes_per_block", u.ChainBytesPerBlock},
	}
}

func (u Units) check() error {
	for _, n := range u.named() {
		if !(n.u.Value > 0) || math.IsInf(n.u.Value, 0) {
			return fmt.Errorf("%w: %s is %v, want a positive measured value", ErrUnits, n.name, n.u.Value)
		}
	}
	return nil
}

// Inputs describe a deployment.
type Inputs struct {
	Patients int
	// Wearables per patient, each sampling every Interval and giving
	// ReadingsPerSample readings a sample (the standard kit's 6 wearables
	// give 9 vital signs: 1.5).
	Wearables         int
	Interval          time.Duration
	ReadingsPerSample float64
	// Abnormal share of the readings: each abnormal reading is a record
	// at the cloud (one contract per patient).
	Abnormal float64
	// Seal is each cloud sequencer's seal interval: one anchor
	// transaction per sequencer per seal.
	Seal time.Duration
	// CoresPerMachine and Utilization size the cloud's and the
	// authorities' machines: a part is planned to use at most Utilization
	// of its cores.
	CoresPerMachine int
	Utilization     float64
	// MinAuthorities is the smallest set of authorities (4 tolerates one
	// faulty one).
	MinAuthorities int
}

// ErrInputs is the error for inputs no plan fits.
var ErrInputs = errors.New("bad plan inputs")

func (in Inputs) check() error {
	switch {
	case in.Patients < 1:
		return fmt.Errorf("%w: patients %d, want at least 1", ErrInputs, in.Patients)
	case in.Wearables < 1:
		return fmt.Errorf("%w: wearables %d, want at least 1", ErrInputs, in.Wearables)
	case in.Interval <= 0:
		return fmt.Errorf("%w: interval %v, want positive", ErrInputs, in.Interval)
	case !(in.ReadingsPerSample > 0):
		return fmt.Errorf("%w: readings per sample %v, want positive", ErrInputs, in.ReadingsPerSample)
	case !(in.Abnormal >= 0 && in.Abnormal <= 1):
		return fmt.Errorf("%w: abnormal share %v, want 0 to 1", ErrInputs, in.Abnormal)
	case in.Seal <= 0:
		return fmt.Errorf("%w: seal interval %v, want positive", ErrInputs, in.Seal)
	case in.CoresPerMachine < 1:
		return fmt.Errorf("%w: cores per machine %d, want at least 1", ErrInputs, in.CoresPerMachine)
	case !(in.Utilization > 0 && in.Utilization <= 1):
		return fmt.Errorf("%w: utilization %v, want more than 0, at most 1", ErrInputs, in.Utilization)
	case in.MinAuthorities < 1:
		return fmt.Errorf("%w: at least %d authorities, want 1 or more", ErrInputs, in.MinAuthorities)
	}
	return nil
}

// Plan is what a deployment needs ('vitalchain plan --json').
type Plan struct {
	Inputs struct {
		Patients          int     `json:"patients"`
		Wearables         int     `json:"wearables"`
		IntervalS         float64 `json:"interval_s"`
		ReadingsPerSample float64 `json:"readings_per_sample"`
		Abnormal          float64 `json:"abnormal"`
		SealS             float64 `json:"seal_s"`
		CoresPerMachine   int     `json:"cores_per_machine"`
		Utilization       float64 `json:"utilization"`
	} `json:"inputs"`
	Load struct {
		ReadingsPerS   float64 `json:"readings_per_s"`
		RecordsPerS    float64 `json:"records_per_s"`
		ChainTxsPerS   float64 `json:"chain_txs_per_s"` // anchors: one per sequencer per seal
		ReadingsPerDay float64 `json:"readings_per_day"`
	} `json:"load"`
	Gateway struct {
		ReadingsPerS float64 `json:"readings_per_s"`
		CPUCores     float64 `json:"cpu_cores"` // of one gateway (one patient's home)
		MemoryMB     float64 `json:"memory_mb"`
	} `json:"gateway"`
	Cloud struct {
		CPUCores            float64 `json:"cpu_cores"`
		Sequencers          int     `json:"sequencers"` // machines of cores_per_machine, each sequencing its own records log
		DBSyncedBatchesPerS float64 `json:"db_synced_batches_per_s"`
		DBWALMBPerS         float64 `json:"db_wal_mb_per_s"`
		StoreGBPerDay       float64 `json:"store_gb_per_day"` // WAL bytes per record × records per day
	} `json:"cloud"`
	Authorities struct {
		Count int `json:"count"`
		// CPUCoresEach: every authority checks every transaction
		// (TxCPUCoresEach) and serves its share of the reads of the
		// gateways and providers (ReadCPUCoresTotal ÷ Count).
		CPUCoresEach      float64 `json:"cpu_cores_each"`
		TxCPUCoresEach    float64 `json:"tx_cpu_cores_each"`
		ReadCPUCoresTotal float64 `json:"read_cpu_cores_total"`
	} `json:"authorities"`
	Chain struct {
		BytesPerDay     float64 `json:"bytes_per_day"`
		GBPerYear       float64 `json:"gb_per_year"`
		BytesPerReading float64 `json:"bytes_per_reading"`
	} `json:"chain"`
	// SaturatesFirst is the shared part that one machine of
	// cores_per_machine outgrows at the fewest patients, with that number.
	SaturatesFirst struct {
		Part       string  `json:"part"`
		AtPatients float64 `json:"at_patients"`
		Why        string  `json:"why"`
	} `json:"saturates_first"`
	// Limits are each shared part's patients per machine (cloud,
	// authorities) at the inputs' rates.
	Limits map[string]float64 `json:"patients_per_machine"`
	Units  Units              `json:"units"`
}

// Make computes the plan of in from u.
func Make(in Inputs, u Units) (*Plan, error) {
	if err := in.check(); err != nil {
		return nil, err
	}
	if err := u.check(); err != nil {
		return nil, err
	}
	p := &Plan{Units: u, Limits: map[string]float64{}}
	p.Inputs.Patients, p.Inputs.Wearables, p.Inputs.IntervalS = in.Patients, in.Wearables, in.Interval.Seconds()
	p.Inputs.ReadingsPerSample, p.Inputs.Abnormal, p.Inputs.SealS = in.ReadingsPerSample, in.Abnormal, in.Seal.Seconds()
	p.Inputs.CoresPerMachine, p.Inputs.Utilization = in.CoresPerMachine, in.Utilization

	perPatient := float64(in.Wearables) * in.ReadingsPerSample / in.Interval.Seconds() // readings/s
	n := float64(in.Patients)
	p.Load.ReadingsPerS = n * perPatient
	p.Load.RecordsPerS = p.Load.ReadingsPerS * in.Abnormal
	p.Load.ReadingsPerDay = p.Load.ReadingsPerS * 86400

	p.Gateway.ReadingsPerS = perPatient
	p.Gateway.CPUCores = perPatient * u.GatewayCPUSPerReading.Value
	p.Gateway.MemoryMB = u.GatewayMemoryMBPerPatient.Value

	budget := float64(in.CoresPerMachine) * in.Utilization // cores a machine may use
	p.Cloud.CPUCores = p.Load.RecordsPerS * u.CloudCPUSPerRecord.Value
	p.Cloud.Sequencers = max(1, int(math.Ceil(p.Cloud.CPUCores/budget)))
	p.Cloud.DBSyncedBatchesPerS = p.Load.RecordsPerS * u.DBBatchesPerRecord.Value
	p.Cloud.DBWALMBPerS = p.Load.RecordsPerS * u.DBWALBytesPerRecord.Value / 1e6
	p.Cloud.StoreGBPerDay = p.Load.RecordsPerS * 86400 * u.DBWALBytesPerRecord.Value / 1e9

	p.Load.ChainTxsPerS = float64(p.Cloud.Sequencers) / in.Seal.Seconds()
	txEach := p.Load.ChainTxsPerS * u.AuthorityCPUSPerTx.Value
	p.Authorities.TxCPUCoresEach = txEach
	p.Authorities.ReadCPUCoresTotal = p.Load.ReadingsPerS * u.AuthorityCPUSPerReading.Value
	// Enough authorities that each one's share of the reads fits beside
	// the transactions every one of them checks.
	count := in.MinAuthorities
	if room := budget - txEach; room > 0 {
		count = max(count, int(math.Ceil(p.Authorities.ReadCPUCoresTotal/room)))
	}
	p.Authorities.Count = count
	p.Authorities.CPUCoresEach = txEach + p.Authorities.ReadCPUCoresTotal/float64(count)

	// Every anchor in a block of its own: an upper bound (anchors of
	// several sequencers may share a block).
	p.Chain.BytesPerDay = p.Load.ChainTxsPerS * 86400 * u.ChainBytesPerBlock.Value
	p.Chain.GBPerYear = p.Chain.BytesPerDay * 365 / 1e9
	p.Chain.BytesPerReading = p.Chain.BytesPerDay / p.Load.ReadingsPerDay

	// Patients one machine of each shared part serves at these rates.
	cloudPer := budget / (perPatient * in.Abnormal * u.CloudCPUSPerRecord.Value)
	authPer := budget / (perPatient * u.AuthorityCPUSPerReading.Value) // reads; MinAuthorities share them
	p.Limits["cloud_sequencer"] = cloudPer
	p.Limits["authority"] = authPer
	switch {
	case in.Abnormal > 0 && cloudPer*1 <= authPer*float64(in.MinAuthorities):
		p.SaturatesFirst.Part, p.SaturatesFirst.AtPatients = "cloud sequencer", cloudPer
		p.SaturatesFirst.Why = "one sequencer's cores at the planned utilization, sealing every abnormal reading's record"
	default:
		p.SaturatesFirst.Part, p.SaturatesFirst.AtPatients = "authorities", authPer*float64(in.MinAuthorities)
		p.SaturatesFirst.Why = fmt.Sprintf("the %d authorities' cores, serving the gateways' and providers' reads of the ledger", in.MinAuthorities)
	}
	return p, nil
}

// e2eRun is what FromE2E reads of one run of `bench e2e --json`.
type e2eRun struct {
	Baseline string  `json:"baseline"`
	ChainTxs int     `json:"chain_txs"`
	Units    e2eUnit `json:"units"`
}

type e2eUnit struct {
	GatewayCPUSPerReading   float64 `json:"gateway_cpu_s_per_reading"`
	GatewayMemoryMB         float64 `json:"gateway_memory_mb_per_patient"`
	CloudCPUSPerRecord      float64 `json:"cloud_cpu_s_per_record"`
	AuthorityCPUSPerTx      float64 `json:"authority_cpu_s_per_tx"`
	AuthorityCPUSPerReading float64 `json:"authority_cpu_s_per_reading"`
	DBBatchesPerRecord      float64 `json:"db_synced_batches_per_record"`
	DBWALBytesPerRecord     float64 `json:"db_wal_bytes_per_record"`
	ChainBytesPerBlock      float64 `json:"chain_bytes_per_block"`
}

// FromE2E reads units from the output of `bench e2e --json` (one run or
// an array of designs), measured by command: every unit from the paper's
// design, except the CPU per transaction at an authority, from the run
// that committed the most transactions (a baseline's: the paper's design
// commits too few for the per-transaction cost to stand out from a
// block's).
func FromE2E(data []byte, command, measured string) (Units, error) {
	var runs []e2eRun
	if err := json.Unmarshal(data, &runs); err != nil {
		var one e2eRun
		if err1 := json.Unmarshal(data, &one); err1 != nil {
			return Units{}, fmt.Errorf("%w: not the output of bench e2e --json: %v", ErrUnits, err1)
		}
		runs = []e2eRun{one}
	}
	paper, busiest := -1, -1
	for i, r := range runs {
		if r.Baseline == "" && paper < 0 {
			paper = i
		}
		if busiest < 0 || r.ChainTxs > runs[busiest].ChainTxs {
			busiest = i
		}
	}
	if paper < 0 {
		return Units{}, fmt.Errorf("%w: no run of the paper's design (--baseline none)", ErrUnits)
	}
	p, b := runs[paper].Units, runs[busiest].Units
	unit := func(v float64, design, field string) Unit {
		return Unit{Value: v, Command: command, Field: fmt.Sprintf("units.%s (design %s)", field, design)}
	}
	name := func(i int) string {
		if runs[i].Baseline == "" {
			return "none"
		}
		return runs[i].Baseline
	}
	u := Units{Measured: measured,
		GatewayCPUSPerReading:     unit(p.GatewayCPUSPerReading, "none", "gateway_cpu_s_per_reading"),
		GatewayMemoryMBPerPatient: unit(p.GatewayMemoryMB, "none", "gateway_memory_mb_per_patient"),
		CloudCPUSPerRecord:        unit(p.CloudCPUSPerRecord, "none", "cloud_cpu_s_per_record"),
		AuthorityCPUSPerTx:        unit(b.AuthorityCPUSPerTx, name(busiest), "authority_cpu_s_per_tx"),
		AuthorityCPUSPerReading:   unit(p.AuthorityCPUSPerReading, "none", "authority_cpu_s_per_reading"),
		DBBatchesPerRecord:        unit(p.DBBatchesPerRecord, "none", "db_synced_batches_per_record"),
		DBWALBytesPerRecord:       unit(p.DBWALBytesPerRecord, "none", "db_wal_bytes_per_record"),
		ChainBytesPerBlock:        unit(p.ChainBytesPerBlock, "none", "chain_bytes_per_block"),
	}
	return u, u.check()
}
