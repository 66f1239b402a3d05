package gateway_test

import (
	"fmt"

	"github.com/vitalchain/vitalchain/gateway"
	"github.com/vitalchain/vitalchain/identity"
)

// A gateway signs a device command the ledger committed; the device checks
// it against its patient's key and applies only newer commands.
func ExampleParseCommand() {
	patient, _ := identity.Generate(identity.RolePatient, identity.SuiteX25519)
	device := identity.ID{7}
	wire, _ := gateway.Command{Patient: patient.ID(), Device: device, Command: "sampling_interval_ms", Value: 5000, Height: 42}.Sign(patient.Signing)

	// On the device:
	var latch gateway.CommandLatch
	c, err := gateway.ParseCommand(wire, patient.Signing.Public(), device)
	if err != nil {
		panic(err)
	}
	fmt.Println(c.Command, c.Value, latch.Accept(c) == nil)
	fmt.Println("replayed:", latch.Accept(c) != nil)
	// Output:
	// sampling_interval_ms 5000 true
	// replayed: true
}
