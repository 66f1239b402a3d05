package cli

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestConfigure(t *testing.T) {
	const file = `# a cloud's settings
log-level = debug
listen = "127.0.0.1:9000"   
[cloud]
block-interval = 2s  # a comment
[gateway]
broker = mqtts://elsewhere
unknown-to-cloud = 1
`
	tests := []struct {
		name     string
		args     []string
		env      map[string]string
		file     string
		level    string
		listen   string
		interval time.Duration
		err      error
	}{
		{name: "defaults", level: "info", listen: "127.0.0.1:8420", interval: time.Second},
		{name: "file", args: []string{"--config", "F"}, file: file, level: "debug", listen: "127.0.0.1:9000", interval: 2 * time.Second},
		{name: "file from the environment", env: map[string]string{"VITALCHAIN_CONFIG": "F"}, file: file, level: "debug", listen: "127.0.0.1:9000", interval: 2 * time.Second},
		{name: "env over file", args: []string{"--config", "F"}, file: file, env: map[string]string{"VITALCHAIN_LOG_LEVEL": "warn", "VITALCHAIN_BLOCK_INTERVAL": "3s"},
			level: "warn", listen: "127.0.0.1:9000", interval: 3 * time.Second},
		{name: "flag over env over file", args: []string{"--config", "F", "--log-level", "error"}, file: file, env: map[string]string{"VITALCHAIN_LOG_LEVEL": "warn"},
			level: "error", listen: "127.0.0.1:9000", interval: 2 * time.Second},
		{name: "empty env is unset", env: map[string]string{"VITALCHAIN_LOG_LEVEL": ""}, level: "info", listen: "127.0.0.1:8420", interval: time.Second},
		{name: "bad env value", env: map[string]string{"VITALCHAIN_BLOCK_INTERVAL": "soon"}, err: ErrConfig},
		{name: "unknown flag in the command's section", args: []string{"--config", "F"}, file: "[cloud]\nlisen = x\n", err: ErrConfig},
		{name: "another command's flag before any section", args: []string{"--config", "F"}, file: "broker = x\nlisten = y\n", level: "info", listen: "y", interval: time.Second},
		{name: "bad value in the file", args: []string{"--config", "F"}, file: "block-interval = soon\n", err: ErrConfig},
		{name: "set twice in the file", args: []string{"--config", "F"}, file: "listen = a\n[cloud]\nlisten = b\n", err: ErrConfig},
		{name: "not name = value", args: []string{"--config", "F"}, file: "listen\n", err: ErrConfig},
		{name: "missing file", args: []string{"--config", "/nonexistent/vitalchain.conf"}, err: ErrConfig},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fs := NewFlags("vitalchain", "cloud", "cloud", io.Discard)
			level := fs.String("log-level", "info", "")
			listen := fs.String("listen", "127.0.0.1:8420", "")
			interval := fs.Duration("block-interval", time.Second, "")
			path := filepath.Join(t.TempDir(), "vitalchain.conf")
			if tc.file != "" {
				if err := os.WriteFile(path, []byte(tc.file), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			args := tc.args
			for i, a := range args {
				if a == "F" {
					args[i] = path
				}
			}
			env := func(k string) (string, bool) {
				v, ok := tc.env[k]
				if v == "F" {
					v = path
				}
				return v, ok
			}
			if err := fs.Parse(args); err != nil {
				t.Fatal(err)
			}
			err := Configure(fs, env)
			if tc.err != nil {
				if !errors.Is(err, tc.err) || !errors.Is(err, ErrUsage) {
					t.Fatalf("err %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if *level != tc.level || *listen != tc.listen || *interval != tc.interval {
				t.Fatalf("log-level %q listen %q block-interval %v; want %q %q %v", *level, *listen, *interval, tc.level, tc.listen, tc.interval)
			}
		})
	}
}

func TestEnvName(t *testing.T) {
	for in, want := range map[string]string{"log-level": "VITALCHAIN_LOG_LEVEL", "ca": "VITALCHAIN_CA", "drain-timeout": "VITALCHAIN_DRAIN_TIMEOUT"} {
		if got := EnvName(in); got != want {
			t.Errorf("EnvName(%q) = %q, want %q", in, got, want)
		}
	}
}
