package testbed

import (
	"context"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vitalchain/vitalchain/identity"
)

// ours returns the stacks of running goroutines that are in the project's
// code other than this test's.
func ours() []string {
	buf := make([]byte, 1<<22)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "github.com/vitalchain/vitalchain/") && !strings.Contains(g, "testbed.ours") &&
			!strings.Contains(g, "testing.tRunner") && !strings.Contains(g, "testing.(*M)") {
			out = append(out, g)
		}
	}
	return out
}

// A small system runs, drains with every invariant holding, and Stop ends
// every goroutine of the project that it started.
func TestSystemRunsAndStops(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 4-authority network")
	}
	if n := len(ours()); n != 0 {
		t.Fatalf("goroutines of the project before the test: %v", ours())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	// Episodes are laid out on the wall clock's days: at a speedup of 480
	// the 4 s run plays 32 minutes of them, enough for some abnormal
	// readings whenever it runs (at 120, some 8-minute windows had none).
	s, err := Start(ctx, Options{Dir: t.TempDir(), Patients: 2, Providers: 2, Devices: 6, Interval: 200 * time.Millisecond,
		AbnormalFraction: 0.1, Speedup: 480, BlockInterval: 100 * time.Millisecond, CloudSeal: 500 * time.Millisecond,
		Suite: identity.SuiteX25519, Seed: 3, FetchEvery: 1})
	if err != nil {
		t.Fatal(err)
	}
	sum, err := s.Run(ctx, nil, 4*time.Second, false)
	if err != nil {
		s.Stop()
		t.Fatal(err)
	}
	// The latencies measured are the summary's, and every part's state
	// is under the directories Dirs names.
	alert, anchor := s.Latencies()
	if len(alert) != sum.AlertLatencyMs.N || len(anchor) != sum.AnchorLatencyMs.N {
		t.Errorf("Latencies: %d alerts, %d anchors; the summary has %d, %d", len(alert), len(anchor), sum.AlertLatencyMs.N, sum.AnchorLatencyMs.N)
	}
	dirs := s.Dirs()
	for _, part := range []string{"authority", "cloud", "gateway"} {
		if len(dirs[part]) == 0 {
			t.Errorf("Dirs names no directory of the %s", part)
		}
		for _, d := range dirs[part] {
			if _, err := os.Stat(d); err != nil {
				t.Errorf("the %s's directory: %v", part, err)
			}
		}
	}
	if len(dirs["gateway"]) != 2 {
		t.Errorf("Dirs: %d gateways' directories for 2 patients", len(dirs["gateway"]))
	}
	s.Stop()
	if len(sum.Failures) > 0 {
		t.Errorf("failures: %v", sum.Failures)
	}
	if sum.Readings == 0 || sum.RecordsStored == 0 || sum.RecordsAnchored != sum.RecordsStored || sum.AlertsDelivered == 0 {
		t.Errorf("summary %+v: want readings, records all anchored, alerts", sum)
	}
	// Stopped goroutines may still be unwinding for a moment.
	deadline := time.Now().Add(10 * time.Second)
	for len(ours()) > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if left := ours(); len(left) > 0 {
		t.Fatalf("%d goroutines of the project left after Stop:\n%s", len(left), strings.Join(left, "\n\n"))
	}
}
