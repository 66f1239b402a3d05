package command_test

import (
	"fmt"

	"github.com/vitalchain/vitalchain/command"
	"github.com/vitalchain/vitalchain/identity"
)

// A gateway signs a device command the ledger committed; the device checks
// it against its patient's key and applies only newer commands.
func ExampleParse() {
	patient, _ := identity.Generate(identity.RolePatient, identity.SuiteX25519)
	device := identity.ID{7}
	wire, _ := command.Command{Patient: patient.ID(), Device: device, Command: command.SamplingInterval, Value: 5000, Height: 42}.Sign(patient.Signing)

	// On the device:
	var latch command.Latch
	c, err := command.Parse(wire, patient.Signing.Public(), device)
	if err != nil {
		panic(err)
	}
	fmt.Println(c.Command, c.Value, latch.Accept(c) == nil)
	fmt.Println("replayed:", latch.Accept(c) != nil)
	// Output:
	// sampling_interval_ms 5000 true
	// replayed: true
}
