package main

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/vitalchain/vitalchain/internal/cli"
	"github.com/vitalchain/vitalchain/internal/gatewaycmd"
)

// deployDir holds the systemd units and example configuration (deploy/).
const deployDir = "../../deploy"

// flagsOf returns the flags of a command ("node", "cloud", "gateway" for
// vitalchain-gateway), as its usage lists them.
func flagsOf(t *testing.T, command string) map[string]bool {
	t.Helper()
	var stderr bytes.Buffer
	if command == "gateway" {
		gatewaycmd.Run("vitalchain-gateway", []string{"-h"}, io.Discard, &stderr)
	} else {
		run([]string{command, "-h"}, io.Discard, &stderr)
	}
	flags := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^  -([a-z0-9-]+)`).FindAllStringSubmatch(stderr.String(), -1) {
		flags[m[1]] = true
	}
	if len(flags) == 0 {
		t.Fatalf("%s -h listed no flags:\n%s", command, stderr.String())
	}
	return flags
}

// TestDeployUnits checks deploy/ against the binary: every unit's
// ExecStart runs a command with flags it has, every setting of the example
// configuration and environment files is a flag of its command, and
// systemd-analyze (where installed) finds nothing to say about the units.
func TestDeployUnits(t *testing.T) {
	units := map[string]string{"vitalchain-node.service": "node", "vitalchain-cloud.service": "cloud", "vitalchain-gateway.service": "gateway"}
	all := map[string]bool{}
	for unit, command := range units {
		b, err := os.ReadFile(filepath.Join(deployDir, unit))
		if err != nil {
			t.Fatal(err)
		}
		flags := flagsOf(t, command)
		for f := range flags {
			all[f] = true
		}
		var exec []string
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "ExecStart="); ok {
				exec = strings.Fields(v)
			}
			if v, ok := strings.CutPrefix(line, "EnvironmentFile=-/etc/vitalchain/"); ok {
				checkEnvFile(t, filepath.Join(deployDir, v), flags)
			}
		}
		if len(exec) == 0 {
			t.Fatalf("%s: no ExecStart", unit)
		}
		args := exec[1:]
		switch command {
		case "gateway":
			if exec[0] != "/usr/local/bin/vitalchain-gateway" {
				t.Fatalf("%s runs %s", unit, exec[0])
			}
		default:
			if exec[0] != "/usr/local/bin/vitalchain" || len(args) == 0 || args[0] != command {
				t.Fatalf("%s runs %v, want vitalchain %s", unit, exec, command)
			}
			args = args[1:]
		}
		for _, a := range args {
			name, ok := strings.CutPrefix(a, "--")
			if !ok {
				continue // a flag's value
			}
			name, _, _ = strings.Cut(name, "=")
			if !flags[name] {
				t.Errorf("%s: ExecStart gives --%s, which %s does not have", unit, name, command)
			}
		}
	}
	checkConfFile(t, filepath.Join(deployDir, "vitalchain.conf"), all, func(section string) map[string]bool { return flagsOf(t, section) })

	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Log("systemd-analyze is not installed: the units' syntax was not verified by systemd")
		return
	}
	// systemd checks that ExecStart's program exists: point the copies at
	// one that does.
	dir := t.TempDir()
	var files []string
	for unit := range units {
		b, _ := os.ReadFile(filepath.Join(deployDir, unit))
		b = bytes.ReplaceAll(b, []byte("/usr/local/bin/vitalchain-gateway"), []byte("/bin/true"))
		b = bytes.ReplaceAll(b, []byte("/usr/local/bin/vitalchain"), []byte("/bin/true"))
		f := filepath.Join(dir, unit)
		if err := os.WriteFile(f, b, 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	out, err := exec.Command("systemd-analyze", append([]string{"verify", "--man=no"}, files...)...).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) != 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// checkEnvFile checks that each VITALCHAIN_ variable of an environment
// file (if deploy/ has an example of it) is a flag of the unit's command.
func checkEnvFile(t *testing.T, file string, flags map[string]bool) {
	t.Helper()
	b, err := os.ReadFile(file)
	if os.IsNotExist(err) {
		return // optional, and no example
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if line = strings.TrimSpace(line); line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, _, _ := strings.Cut(line, "=")
		found := false
		for f := range flags {
			if cli.EnvName(f) == name {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: %s names no flag of its command", file, name)
		}
	}
}

// checkConfFile checks that each setting of a configuration file is a flag:
// of its section's command, or (before any section) of some command.
func checkConfFile(t *testing.T, file string, any map[string]bool, flagsOf func(string) map[string]bool) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	flags := any
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "["):
			flags = flagsOf(strings.Trim(line, "[]"))
		default:
			name, _, _ := strings.Cut(line, "=")
			if name = strings.TrimSpace(name); !flags[name] {
				t.Errorf("%s: %q is not a flag of its command", file, line)
			}
		}
	}
}
