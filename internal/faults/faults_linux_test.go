//go:build linux

package faults

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// TestFaultsShort runs a short kill_restart and partition_2_2 across real
// `vitalchain node` processes in network namespaces, and checks the
// invariants: no fork, no acknowledged transaction lost, the chain
// resumes after the heal and every node catches up. (The timing goals are
// `vitalchain bench faults`' to report.) It needs root: CI runs as root,
// and the test fails, saying so, where it cannot make namespaces.
func TestFaultsShort(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 4 node processes in network namespaces, twice")
	}
	if os.Geteuid() != 0 {
		t.Fatalf("the fault suite needs root to make network namespaces (uid %d): run the tests as root, as CI does", os.Geteuid())
	}
	bin := filepath.Join(t.TempDir(), "vitalchain")
	build := exec.Command("go", "build", "-o", bin, "github.com/vitalchain/vitalchain/cmd/vitalchain")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build vitalchain: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	want := []string{"kill_restart", "partition_2_2"}
	res, err := Run(ctx, Options{Binary: bin, Scenarios: want, Before: 2 * time.Second, Fault: 6 * time.Second, After: 3 * time.Second, Progress: testWriter{t}})
	if errors.Is(err, ErrPrivilege) {
		t.Fatalf("cannot run the fault suite here: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range res.Scenarios {
		got = append(got, s.Name)
		if s.Error != "" {
			t.Errorf("%s: %s", s.Name, s.Error)
		}
		for _, c := range s.Checks {
			if c.Invariant && !c.OK {
				t.Errorf("%s: %s: %s", s.Name, c.Name, c.Detail)
			}
		}
		if s.Acked == 0 {
			t.Errorf("%s: no transaction acknowledged", s.Name)
		}
		t.Logf("%s: %d blocks during, %d after, %d forks, %d/%d lost, first block %d ms after the heal",
			s.Name, s.BlocksDuring, s.BlocksAfter, s.Forks, s.Lost, s.Acked, s.HealToBlockMs)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("ran %v, want %v", got, want)
	}
	// Nothing of the suite is left on the host.
	if out, _ := exec.Command("ip", "-o", "link", "show").Output(); containsPrefix(string(out)) {
		t.Errorf("links left behind:\n%s", out)
	}
	if out, _ := exec.Command("ip", "netns", "list").Output(); containsPrefix(string(out)) {
		t.Errorf("namespaces left behind:\n%s", out)
	}
}

func containsPrefix(s string) bool {
	for _, f := range splitFields(s) {
		if len(f) > len(prefix) && f[:len(prefix)] == prefix {
			return true
		}
	}
	return false
}

func splitFields(s string) []string {
	var out []string
	start := -1
	for i, r := range s {
		sep := r == ' ' || r == '\n' || r == ':' || r == '@'
		if sep && start >= 0 {
			out = append(out, s[start:i])
			start = -1
		} else if !sep && start < 0 {
			start = i
		}
	}
	if start >= 0 {
		out = append(out, s[start:])
	}
	return out
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(string(b[:len(b)-1]))
	return len(b), nil
}

func TestNetemArgs(t *testing.T) {
	got := netemArgs(wanLink)
	want := []string{"qdisc", "replace", "dev", nsData, "root", "netem", "delay", "100ms", "20ms", "distribution", "normal", "loss", "2%"}
	if !slices.Equal(got, want) {
		t.Fatalf("netem args %v, want %v", got, want)
	}
}

func TestRunRefusesUnknownScenario(t *testing.T) {
	_, err := Run(context.Background(), Options{Binary: "/bin/true", Scenarios: []string{"meteor"}})
	if !errors.Is(err, ErrUnknownScenario) {
		t.Fatalf("an unknown scenario: %v, want an error naming it", err)
	}
}
