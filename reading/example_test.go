package reading_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/reading"
	"github.com/vitalchain/vitalchain/vital"
)

func Example() {
	// The wearable, with its device key (fixed here; generated at provisioning).
	device, _ := identity.NewSigningKey(identity.RoleDevice, make([]byte, 32))
	patient, _ := identity.NewSigningKey(identity.RolePatient, make([]byte, 32))

	r := reading.New(patient.Public().ID(), device.Public().ID(), 1,
		time.UnixMilli(1735689600000), vital.Glucose, 180*vital.Unit)
	msg, err := reading.Sign(r, device)
	if err != nil {
		panic(err)
	}
	fmt.Printf("%d bytes, starting %x\n", len(msg), msg[:10])

	// The gateway, which knows its patient's devices.
	registry := map[identity.ID]identity.VerifyingKey{device.Public().ID(): device.Public()}
	lookup := func(id identity.ID) (identity.VerifyingKey, error) {
		if k, ok := registry[id]; ok {
			return k, nil
		}
		return identity.VerifyingKey{}, errors.New("not registered")
	}
	got, err := reading.Verify(msg, lookup)
	if err != nil {
		panic(err)
	}
	k, _ := got.Kind()
	fmt.Println(got.Seq, k, got.Value, got.Unit, got.Timestamp().UTC().Format(time.RFC3339))

	msg[len(msg)-1] ^= 1 // tampered in transit
	_, err = reading.Verify(msg, lookup)
	fmt.Println(errors.Is(err, identity.ErrBadSignature))
	// Output:
	// 216 bytes, starting d28443a10127a1045820
	// 1 glucose 180 mg/dL 2025-01-01T00:00:00Z
	// true
}
