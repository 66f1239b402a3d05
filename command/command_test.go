package command

import (
	"errors"
	"testing"

	"github.com/vitalchain/vitalchain/identity"
)

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		name  string
		value int64
		want  error
	}{
		{SamplingInterval, MinSamplingInterval.Milliseconds(), nil},
		{SamplingInterval, 5000, nil},
		{SamplingInterval, MaxSamplingInterval.Milliseconds(), nil},
		{SamplingInterval, MinSamplingInterval.Milliseconds() - 1, ErrBadValue},
		{SamplingInterval, MaxSamplingInterval.Milliseconds() + 1, ErrBadValue},
		{SamplingInterval, -1, ErrBadValue},
		{"reboot", 1, ErrUnknown},
		{"", 0, ErrUnknown},
	} {
		if err := Check(tc.name, tc.value); !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Errorf("Check(%q, %d) = %v, want %v", tc.name, tc.value, err, tc.want)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	patient, _ := identity.Generate(identity.RolePatient, identity.SuiteX25519)
	other, _ := identity.Generate(identity.RolePatient, identity.SuiteX25519)
	dev := identity.ID{1}
	c := Command{Patient: patient.ID(), Device: dev, Command: SamplingInterval, Value: 5000, Height: 7}
	b, err := c.Sign(patient.Signing)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Parse(b, patient.Signing.Public(), dev)
	if err != nil || got.Value != 5000 || got.Height != 7 {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	signedByOther := c
	signedByOther.Patient = other.ID()
	ob, _ := signedByOther.Sign(other.Signing)
	forged := append([]byte(nil), b...)
	forged[len(forged)-2] ^= 1
	outOfRange := c
	outOfRange.Value = 1
	rb, _ := outOfRange.Sign(patient.Signing)
	unknown := c
	unknown.Command = "format_disk"
	ub, _ := unknown.Sign(patient.Signing)
	for _, tc := range []struct {
		name string
		b    []byte
		dev  identity.ID
		want error
	}{
		{"another device", b, identity.ID{2}, ErrNotForThis},
		{"another patient", ob, dev, ErrNotForThis},
		{"forged", forged, dev, identity.ErrBadSignature},
		{"garbage", []byte{0xff, 0x00}, dev, ErrMalformed},
		{"oversize", make([]byte, MaxSize+1), dev, ErrMalformed},
		{"value out of range, signed", rb, dev, ErrBadValue},
		{"unknown command, signed", ub, dev, ErrUnknown},
	} {
		if _, err := Parse(tc.b, patient.Signing.Public(), tc.dev); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestLatch(t *testing.T) {
	var l Latch
	for _, tc := range []struct {
		height int64
		want   error
	}{{5, nil}, {5, ErrStale}, {4, ErrStale}, {6, nil}} {
		if err := l.Accept(&Command{Height: tc.height}); !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Errorf("Accept(height %d) = %v, want %v", tc.height, err, tc.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	patient, _ := identity.Generate(identity.RolePatient, identity.SuiteX25519)
	dev := identity.ID{1}
	b, _ := Command{Patient: patient.ID(), Device: dev, Command: SamplingInterval, Value: 100, Height: 1}.Sign(patient.Signing)
	f.Add(b)
	f.Add([]byte{0xa0})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := Parse(b, patient.Signing.Public(), dev)
		if err == nil && (c.Patient != patient.ID() || c.Device != dev || Check(c.Command, c.Value) != nil) {
			t.Fatalf("accepted a command it should not have: %+v", c)
		}
	})
}
