package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/vitalchain/vitalchain/internal/testbed"
)

// The README's main command, end to end: a real 4-authority chain, a real
// cloud, gateways with real MQTT brokers, wearables and providers, playing
// the paper's scenario. Every invariant must hold and every step happen.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the whole system")
	}
	out := filepath.Join(t.TempDir(), "out.json")
	var stdout, stderr bytes.Buffer
	code := run([]string{"demo", "--duration", "20s", "--patients", "3", "--json", out, "--dir", t.TempDir()}, &stdout, &stderr)
	t.Log(stdout.String())
	if code != 0 {
		t.Fatalf("demo exited %d: %s", code, stderr.String())
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var s testbed.Summary
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	for k, ok := range s.Invariants {
		if !ok {
			t.Errorf("invariant %s broken", k)
		}
	}
	checks := []struct {
		name string
		ok   bool
	}{
		{"readings", s.Readings > 100},
		{"abnormal readings", s.Abnormal > 0},
		{"every abnormal reading stored, plus the provider's record", s.RecordsStored == s.Abnormal+1},
		{"every record anchored", s.RecordsAnchored == s.RecordsStored},
		{"alerts delivered", s.AlertsDelivered > 0},
		{"no alert misdelivered", s.AlertsMisdelivered == 0},
		{"proofs verified", s.ProofsVerified > 0 && s.ProofsFailed == 0},
		{"read after revoke refused", s.ReadsAfterRevokeRefused == 1 && s.ReadsAfterRevokeAllowed == 0},
		{"the three forgeries refused (broker, gateway, cloud)", s.ForgedRefused == 3 && s.ForgedAccepted == 0},
		{"transaction 3 opened by the patient", s.ProviderRecords == 1},
		{"device command applied", s.CommandsApplied == 1},
		{"chain growth measured", s.ChainBytes > 0 && s.ChainHeight > 0},
		{"the stopped head re-elected and handed over", s.Reelections == 1},
		{"the visiting patient moved to cluster 4 on the ledger", s.Migrations == 1 && s.Invariants["membership_follows_overlay"]},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("%s: summary %s", c.name, b)
		}
	}
}
