package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/vitalchain/vitalchain/internal/testbed"
)

// bench e2e with patient 0's gateway as a `vitalchain gateway` process of
// its own: the wearables reach it over MQTT on TCP, it talks to the chain
// over CometBFT's HTTP RPC and to the cloud over HTTP, like a deployed one.
func TestBenchE2E(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the whole system")
	}
	selfBinary = func() (string, error) { return exec.LookPath("vitalchain") }
	var stdout, stderr bytes.Buffer
	code := run([]string{"bench", "e2e", "--json", "--duration", "10s", "--rate", "200", "--patients", "3", "--devices", "6", "--abnormal", "0.1"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("bench e2e exited %d: %s", code, stderr.String())
	}
	var r struct {
		testbed.Summary
		GatewayAnonMB float64             `json:"gateway_rss_anon_mb"`
		Browser       testbed.Percentiles `json:"browser_alert_latency_ms"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
		t.Fatalf("%v: %s", err, stdout.String())
	}
	for k, ok := range r.Invariants {
		if !ok {
			t.Errorf("invariant %s broken", k)
		}
	}
	switch {
	case r.Readings == 0:
		// How fast is for the benchmark to report, not for a test to
		// assert: under the race detector this machine reaches 130-200.
		t.Errorf("no readings handled: %s", stdout.String())
	case r.RecordsStored == 0 || r.RecordsAnchored != r.RecordsStored:
		t.Errorf("records: %d stored, %d anchored", r.RecordsStored, r.RecordsAnchored)
	case r.AlertsDelivered == 0 || r.AlertsMisdelivered != 0:
		t.Errorf("alerts: %d delivered, %d misdelivered", r.AlertsDelivered, r.AlertsMisdelivered)
	case r.GatewayRSSMB <= 0 || r.GatewayAnonMB <= 0:
		t.Errorf("the external gateway's memory was not measured: %s", stdout.String())
	case r.OnchainBytesPerReading <= 0 || r.AlertLatencyMs.N == 0 || r.AnchorLatencyMs.N == 0 || r.Browser.N == 0:
		t.Errorf("figures missing: %s", stdout.String())
	}
}

// bench e2e with several designs runs each in turn, reports them in an
// array, and charts them side by side.
func TestBenchE2EDesigns(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the whole system twice")
	}
	plots := t.TempDir()
	var stdout, stderr bytes.Buffer
	code := run([]string{"bench", "e2e", "--json", "--duration", "4s", "--rate", "60", "--patients", "2", "--devices", "6", "--abnormal", "0.1",
		"--baseline", "none,per-reading", "--external-gateway=false", "--plot", plots}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("bench e2e exited %d: %s", code, stderr.String())
	}
	var rs []testbed.Summary
	if err := json.Unmarshal(stdout.Bytes(), &rs); err != nil {
		t.Fatalf("%v: %s", err, stdout.String())
	}
	if len(rs) != 2 {
		t.Fatalf("%d results, want 2: %s", len(rs), stdout.String())
	}
	paper, perReading := rs[0], rs[1]
	switch {
	case paper.Baseline != "" || perReading.Baseline != "per-reading":
		t.Errorf("designs %q and %q, want the paper's and per-reading", paper.Baseline, perReading.Baseline)
	case paper.Readings == 0 || perReading.Readings == 0:
		t.Errorf("no readings: %d and %d", paper.Readings, perReading.Readings)
	case perReading.BaselineTxs == 0 || perReading.TxsPerReading < 0.9:
		t.Errorf("per-reading: %d hashes, %.3f transactions per reading; want about one per reading", perReading.BaselineTxs, perReading.TxsPerReading)
	case paper.TxsPerReading >= perReading.TxsPerReading || paper.OnchainBytesPerReading >= perReading.OnchainBytesPerReading:
		t.Errorf("the paper's design puts %.3f tx and %.1f bytes per reading on the chain, per-reading %.3f and %.1f: want fewer",
			paper.TxsPerReading, paper.OnchainBytesPerReading, perReading.TxsPerReading, perReading.OnchainBytesPerReading)
	}
	for _, c := range []string{"e2e-bytes-per-reading.png", "e2e-txs-per-reading.png", "e2e-latency.png"} {
		if fi, err := os.Stat(filepath.Join(plots, c)); err != nil || fi.Size() == 0 {
			t.Errorf("chart %s: %v", c, err)
		}
	}
}
