package main

import (
	"os/exec"
	"strings"
	"testing"
)

// The gateway runs on the patient's own small hardware: its binary must not
// link the authorities' consensus engine or the cloud's storage engine,
// which alone would put it over its memory budget (README, bench e2e).
func TestLinksNoConsensusNorPebble(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 50 {
		t.Fatalf("go list -deps gave %d packages: %s", len(deps), out)
	}
	for _, d := range deps {
		for _, banned := range []string{"github.com/cometbft/", "github.com/cockroachdb/pebble"} {
			if strings.HasPrefix(d, banned) {
				t.Errorf("vitalchain-gateway links %s", d)
			}
		}
	}
}
