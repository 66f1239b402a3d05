// Command vitalchain-gateway runs a patient's gateway: the same program as
// `vitalchain gateway`, in a binary that links neither CometBFT nor Pebble,
// for the patient's own small hardware (a home hub, a phone-class board).
//
// Usage:
//
//	vitalchain-gateway --key FILE --data DIR --ledger URL --cloud URL [--listen ADDR | --broker URL]
//
// Run 'vitalchain-gateway -h' for its flags, and see docs/device-protocol.md
// for what the wearables send it.
package main

import (
	"os"
	"runtime/debug"

	"github.com/vitalchain/vitalchain/internal/cli"
	"github.com/vitalchain/vitalchain/internal/gatewaycmd"
)

func main() {
	// A home hub has little memory, and the gateway makes little garbage:
	// the heap may grow by half its live size between collections, not by
	// all of it, unless GOGC says otherwise. In bench e2e (3 alternated
	// runs) that kept 26.3–28.0 MB RSS against 28.3–29.5, with the same CPU
	// per reading.
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(50)
	}
	err := gatewaycmd.Run("vitalchain-gateway", os.Args[1:], os.Stdout, os.Stderr)
	os.Exit(cli.Exit("vitalchain-gateway", err, os.Stderr))
}
