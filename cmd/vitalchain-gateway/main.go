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

	"github.com/vitalchain/vitalchain/internal/cli"
	"github.com/vitalchain/vitalchain/internal/gatewaycmd"
)

func main() {
	err := gatewaycmd.Run("vitalchain-gateway", os.Args[1:], os.Stdout, os.Stderr)
	os.Exit(cli.Exit("vitalchain-gateway", err, os.Stderr))
}
