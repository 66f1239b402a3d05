package main

import (
	"bytes"
	"encoding/json"
	"os/exec"
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
