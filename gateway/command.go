package gateway

import (
	"errors"
	"fmt"

	"github.com/vitalchain/vitalchain/codec"
	"github.com/vitalchain/vitalchain/identity"
)

// CommandContext is the signing context of a Command.
const CommandContext = "device-command/v1"

// MaxCommandSize bounds an encoded Command.
const MaxCommandSize = 512

// Command errors.
var (
	ErrBadCommand   = errors.New("malformed device command")
	ErrNotForDevice = errors.New("device command for another device")
	ErrStaleCommand = errors.New("device command not newer than the last applied")
)

// Command is what a gateway sends a device (MQTT topic
// vitalchain/<patient>/commands/<device>) after the ledger committed a
// provider's device command: a CBOR map with integer keys, signed by the
// patient's key in context CommandContext over its encoding with Sig
// absent.
type Command struct {
	Version  uint8       `cbor:"1,keyasint"` // 1
	Patient  identity.ID `cbor:"2,keyasint"`
	Device   identity.ID `cbor:"3,keyasint"`
	Command  string      `cbor:"4,keyasint"` // a ledger.DeviceCommands name
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
	c.Sig = patient.SignContext(CommandContext, msg)
	return codec.Marshal(&c)
}

// ParseCommand decodes a command from untrusted bytes and verifies it: the
// patient's signature, and that it is for device. It does not check that it
// is newer than the last applied (see CommandLatch).
func ParseCommand(b []byte, patient identity.VerifyingKey, device identity.ID) (*Command, error) {
	var c Command
	if err := codec.UnmarshalLimit(b, MaxCommandSize, &c); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadCommand, err)
	}
	if err := codec.CheckVersion("device command", c.Version, 1); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadCommand, err)
	}
	if c.Patient != patient.ID() || c.Device != device {
		return nil, ErrNotForDevice
	}
	u := c
	u.Sig = nil
	msg, err := codec.Marshal(&u)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadCommand, err)
	}
	if err := patient.VerifyContext(CommandContext, msg, c.Sig); err != nil {
		return nil, fmt.Errorf("device command: %w", err)
	}
	return &c, nil
}

// CommandLatch is a device's memory of the last command it applied: a
// replayed or older command is refused.
type CommandLatch struct{ height int64 }

// Accept reports whether c is newer than every command accepted before,
// and remembers it if so.
func (l *CommandLatch) Accept(c *Command) error {
	if c.Height <= l.height {
		return fmt.Errorf("%w: height %d, last %d", ErrStaleCommand, c.Height, l.height)
	}
	l.height = c.Height
	return nil
}
