package gateway

import (
	"errors"
	"testing"

	"github.com/vitalchain/vitalchain/identity"
)

func TestCommandRoundTrip(t *testing.T) {
	patient, _ := identity.Generate(identity.RolePatient, identity.SuiteX25519)
	other, _ := identity.Generate(identity.RolePatient, identity.SuiteX25519)
	dev := identity.ID{1}
	c := Command{Patient: patient.ID(), Device: dev, Command: "sampling_interval_ms", Value: 5000, Height: 7}
	b, err := c.Sign(patient.Signing)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseCommand(b, patient.Signing.Public(), dev)
	if err != nil || got.Value != 5000 || got.Height != 7 {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	signedByOther := c
	signedByOther.Patient = other.ID()
	ob, _ := signedByOther.Sign(other.Signing)
	forged := append([]byte(nil), b...)
	forged[len(forged)-2] ^= 1
	for _, tc := range []struct {
		name string
		b    []byte
		dev  identity.ID
		want error
	}{
		{"another device", b, identity.ID{2}, ErrNotForDevice},
		{"another patient", ob, dev, ErrNotForDevice},
		{"forged", forged, dev, identity.ErrBadSignature},
		{"garbage", []byte{0xff, 0x00}, dev, ErrBadCommand},
		{"oversize", make([]byte, MaxCommandSize+1), dev, ErrBadCommand},
	} {
		if _, err := ParseCommand(tc.b, patient.Signing.Public(), tc.dev); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}

func FuzzParseCommand(f *testing.F) {
	patient, _ := identity.Generate(identity.RolePatient, identity.SuiteX25519)
	dev := identity.ID{1}
	b, _ := Command{Patient: patient.ID(), Device: dev, Command: "sampling_interval_ms", Value: 100, Height: 1}.Sign(patient.Signing)
	f.Add(b)
	f.Add([]byte{0xa0})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseCommand(b, patient.Signing.Public(), dev)
		if err == nil && (c.Patient != patient.ID() || c.Device != dev) {
			t.Fatalf("accepted a command for someone else: %+v", c)
		}
	})
}
