package main

import (
	"os"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/vitalchain/vitalchain/internal/cli"
	"github.com/vitalchain/vitalchain/internal/gatewaycmd"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"vitalchain": func() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) },
		"vitalchain-gateway": func() {
			err := gatewaycmd.Run("vitalchain-gateway", os.Args[1:], os.Stdout, os.Stderr)
			os.Exit(cli.Exit("vitalchain-gateway", err, os.Stderr))
		},
	})
}

// TestScript runs the command-line scenarios in testdata/script.
func TestScript(t *testing.T) {
	testscript.Run(t, testscript.Params{Dir: "testdata/script"})
}
