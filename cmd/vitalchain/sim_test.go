package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"testing"

	"github.com/vitalchain/vitalchain/internal/cli"
)

// sim overlay --speeds sweeps the election under mobility, and every run
// reports the alert's hops through the heads, through the gateways and the
// bound through the patient's head.
func TestSimOverlaySpeeds(t *testing.T) {
	var out bytes.Buffer
	err := runSim([]string{"overlay", "--nodes", "80", "--duration", "15s", "--alerts", "10", "--speeds", "1,4", "--json"}, &out, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Overhead struct {
			Clustered struct {
				Hops float64 `json:"hops_to_provider"`
			} `json:"clustered"`
			Gateways struct {
				Hops float64 `json:"hops_to_provider"`
			} `json:"gateways"`
			Min float64 `json:"min_hops_to_provider"`
		} `json:"overhead"`
		Speeds []struct {
			Speed    float64  `json:"speed_m_per_s"`
			Orphans  *float64 `json:"orphans_mean"`
			Baseline *float64 `json:"baseline_orphans_mean"`
		} `json:"speeds"`
	}
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	o := rep.Overhead
	if o.Min <= 0 || o.Gateways.Hops < o.Min || o.Clustered.Hops < o.Gateways.Hops {
		t.Errorf("hops: through the heads %g, gateways %g, bound %g", o.Clustered.Hops, o.Gateways.Hops, o.Min)
	}
	if len(rep.Speeds) != 2 || rep.Speeds[0].Speed != 1 || rep.Speeds[1].Speed != 4 ||
		rep.Speeds[0].Orphans == nil || rep.Speeds[1].Baseline == nil {
		t.Errorf("speeds %+v: want 1 and 4 m/s with both elections' orphans", rep.Speeds)
	}
	for _, bad := range []string{"x", "-1", "1,,2"} {
		err := runSim([]string{"overlay", "--nodes", "10", "--speeds", bad}, io.Discard, io.Discard)
		if !errors.Is(err, cli.ErrUsage) {
			t.Errorf("--speeds %q: %v, want a usage error", bad, err)
		}
	}
}
