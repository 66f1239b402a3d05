// Package command is the format of a device command, shared by every side
// that handles one: what a provider asks of a patient's wearable through the
// ledger (paper, section V: "the physicians can also request to operate
// patients' healthcare devices"), as the patient's gateway signs it for the
// device and as the device checks it.
//
// The ledger commits a provider's request (ledger.DeviceCommand) only if
// Check accepts its name and value and the patient's grant allows commands;
// the gateway then sends the device a Command signed with the patient's
// key; the device verifies it with Parse and applies it only if its Latch
// has not seen a command as new. The package is small and does no I/O, so
// that a wearable links nothing of the gateway or the ledger.
package command

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/vitalchain/vitalchain/codec"
	"github.com/vitalchain/vitalchain/identity"
)

// SamplingInterval is the command that sets a device's sampling interval;
// its value is in milliseconds.
const SamplingInterval = "sampling_interval_ms"

// Names are the commands a device accepts.
var Names = []string{SamplingInterval}

// The range of a sampling interval: the ledger refuses a command outside
// it, and a device refuses to sample outside it.
const (
	MinSamplingInterval = 100 * time.Millisecond
	MaxSamplingInterval = 24 * time.Hour
)

// Context is the signing context of a Command.
const Context = "device-command/v1"

// MaxSize bounds an encoded Command.
const MaxSize = 512

// Errors of Check, Parse and Latch.Accept.
var (
	ErrUnknown    = errors.New("unknown device command")
	ErrBadValue   = errors.New("device command value out of range")
	ErrMalformed  = errors.New("malformed device command")
	ErrNotForThis = errors.New("device command for another device or patient")
	ErrStale      = errors.New("device command not newer than the last applied")
)

// Check reports whether name is a command a device accepts, with a value
// in its range.
func Check(name string, value int64) error {
	if !slices.Contains(Names, name) {
		return fmt.Errorf("%w: %q", ErrUnknown, name)
	}
	if name == SamplingInterval && (value < MinSamplingInterval.Milliseconds() || value > MaxSamplingInterval.Milliseconds()) {
		return fmt.Errorf("%w: sampling interval %d ms not in [%d, %d]", ErrBadValue, value,
			MinSamplingInterval.Milliseconds(), MaxSamplingInterval.Milliseconds())
	}
	return nil
}

// Command is what a gateway sends a device (MQTT topic
// vitalchain/<patient>/commands/<device>) after the ledger committed a
// provider's device command: a CBOR map with integer keys, signed by the
// patient's key in context Context over its encoding with Sig absent.
type Command struct {
	Version  uint8       `cbor:"1,keyasint"` // 1
	Patient  identity.ID `cbor:"2,keyasint"`
	Device   identity.ID `cbor:"3,keyasint"`
	Command  string      `cbor:"4,keyasint"` // one of Names
	Value    int64       `cbor:"5,keyasint"`
	Height   int64       `cbor:"6,keyasint"` // the block that committed it: orders commands
	Provider identity.ID `cbor:"7,keyasint"` // who asked
	Sig      []byte      `cbor:"8,keyasint,omitempty"`
}

// Sign signs c with the patient's key and returns its encoding.
func (c Command) Sign(patient *identity.SigningKey) ([]byte, error) {
	c.Version, c.Sig = 1, nil
	msg, err := codec.Marshal(&c)
	if err != nil {
		return nil, err
	}
	c.Sig = patient.SignContext(Context, msg)
	return codec.Marshal(&c)
}

// Parse decodes a command from untrusted bytes and verifies it: the
// patient's signature, that it is for device, and that Check accepts it.
// It does not check that it is newer than the last applied (see Latch).
func Parse(b []byte, patient identity.VerifyingKey, device identity.ID) (*Command, error) {
	var c Command
	if err := codec.UnmarshalLimit(b, MaxSize, &c); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if err := codec.CheckVersion("device command", c.Version, 1); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if c.Patient != patient.ID() || c.Device != device {
		return nil, ErrNotForThis
	}
	u := c
	u.Sig = nil
	msg, err := codec.Marshal(&u)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if err := patient.VerifyContext(Context, msg, c.Sig); err != nil {
		return nil, fmt.Errorf("device command: %w", err)
	}
	if err := Check(c.Command, c.Value); err != nil {
		return nil, err
	}
	return &c, nil
}

// Latch is a device's memory of the last command it applied: a replayed or
// older command is refused. The zero Latch accepts any first command. A
// device keeps its latches across reboots (Height, LatchAt), or a command
// captured before the reboot replays after it.
type Latch struct{ height int64 }

// LatchAt returns a latch that has applied the command of a block height.
func LatchAt(height int64) Latch { return Latch{height: height} }

// Height returns the block height of the last command the latch applied.
func (l *Latch) Height() int64 { return l.height }

// Accept reports whether c is newer than every command accepted before,
// and remembers it if so.
func (l *Latch) Accept(c *Command) error {
	if c.Height <= l.height {
		return fmt.Errorf("%w: height %d, last %d", ErrStale, c.Height, l.height)
	}
	l.height = c.Height
	return nil
}
