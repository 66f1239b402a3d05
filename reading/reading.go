package reading

import (
	"errors"
	"fmt"
	"time"

	"github.com/vitalchain/vitalchain/codec"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/vital"
)

// Version is the only Reading format version this package reads and writes.
const Version uint8 = 1

// Errors about a reading's content, each wrapped with detail.
var (
	// ErrWrongUnit: the UCUM unit is not the unit of the reading's vital sign.
	ErrWrongUnit = errors.New("unit does not match the vital sign")
	// ErrImplausible: the value (or time) is physically impossible.
	ErrImplausible = errors.New("implausible reading")
)

// Reading is one measurement by one wearable device, the payload that the
// device signs. Every field is always present on the wire (see the package
// documentation for the byte layout).
type Reading struct {
	Version uint8          `cbor:"1,keyasint"` // always Version
	Patient identity.ID    `cbor:"2,keyasint"` // the patient's actor ID
	Device  identity.ID    `cbor:"3,keyasint"` // the device's actor ID (its key's ID)
	Seq     uint64         `cbor:"4,keyasint"` // per-device sequence number, from 1, strictly increasing
	Time    int64          `cbor:"5,keyasint"` // time of the measurement, Unix milliseconds
	Code    string         `cbor:"6,keyasint"` // LOINC code of the vital sign
	Value   vital.Quantity `cbor:"7,keyasint"` // thousandths of Unit
	Unit    string         `cbor:"8,keyasint"` // UCUM unit, the vital sign's own
}

// New returns a reading of kind k with the format version, LOINC code and
// UCUM unit filled in. It panics if k is not a valid vital.Kind.
func New(patient, device identity.ID, seq uint64, t time.Time, k vital.Kind, v vital.Quantity) Reading {
	info := k.Info()
	return Reading{
		Version: Version,
		Patient: patient,
		Device:  device,
		Seq:     seq,
		Time:    t.UnixMilli(),
		Code:    info.LOINC,
		Value:   v,
		Unit:    info.Unit,
	}
}

// Kind returns the vital sign named by r's LOINC code, or an error wrapping
// vital.ErrUnknownKind. Only LOINC codes are accepted, not short names.
func (r Reading) Kind() (vital.Kind, error) {
	if k, ok := vital.ByLOINC(r.Code); ok {
		return k, nil
	}
	return 0, fmt.Errorf("reading: %w: loinc code %q", vital.ErrUnknownKind, r.Code)
}

// Timestamp returns r.Time as a time.Time.
func (r Reading) Timestamp() time.Time { return time.UnixMilli(r.Time) }

// Validate checks r's content: format version (codec.ErrUnknownVersion),
// required fields (codec.ErrMissingField; Seq 0 counts as missing since
// sequence numbers start at 1), a known LOINC code (vital.ErrUnknownKind),
// the unit of that vital sign (ErrWrongUnit) and a plausible value and time
// (ErrImplausible). It does not check Seq against earlier readings or Time
// against a clock: that is the receiver's job.
func (r Reading) Validate() error {
	if err := codec.CheckVersion("reading", r.Version, Version); err != nil {
		return err
	}
	switch {
	case r.Patient == identity.ID{}:
		return fmt.Errorf("reading: %w: patient", codec.ErrMissingField)
	case r.Device == identity.ID{}:
		return fmt.Errorf("reading: %w: device", codec.ErrMissingField)
	case r.Seq == 0:
		return fmt.Errorf("reading: %w: seq (sequence numbers start at 1)", codec.ErrMissingField)
	case r.Time == 0:
		return fmt.Errorf("reading: %w: time", codec.ErrMissingField)
	case r.Code == "":
		return fmt.Errorf("reading: %w: code", codec.ErrMissingField)
	case r.Unit == "":
		return fmt.Errorf("reading: %w: unit", codec.ErrMissingField)
	}
	if r.Time < 0 {
		return fmt.Errorf("reading: %w: time %d before 1970", ErrImplausible, r.Time)
	}
	k, err := r.Kind()
	if err != nil {
		return err
	}
	info := k.Info()
	if r.Unit != info.Unit {
		return fmt.Errorf("reading: %w: %s in %q, want %q", ErrWrongUnit, k, r.Unit, info.Unit)
	}
	if !k.Plausible(r.Value) {
		return fmt.Errorf("reading: %w: %s %s %s outside [%s, %s]", ErrImplausible, k, r.Value, r.Unit, info.Min, info.Max)
	}
	return nil
}

// SeqOf returns the sequence number of a device's n-th reading of its
// boot-th boot: boot in the high 32 bits, n in the low ones. A device keeps
// its boot count across reboots, so that a reboot never reuses a number,
// and a gateway bounds how far a device's numbers may move (SeqStep).
func SeqOf(boot, n uint32) uint64 { return uint64(boot)<<32 | uint64(n) }

// SplitSeq returns the boot and count of a sequence number.
func SplitSeq(seq uint64) (boot, n uint32) { return uint32(seq >> 32), uint32(seq) }

// Bounds of how a device's sequence numbers may move (see SeqStep).
const (
	// MaxSeqStep is the most a device's count may move within a boot, or
	// start at in a new one.
	MaxSeqStep = 1 << 20
	// MaxBootStep is the most boots a device may skip.
	MaxBootStep = 16
)

// SeqStep reports whether seq may follow last, a device's previous
// reading: larger, and within MaxSeqStep of it in the same boot, or in one
// of the next MaxBootStep boots with a count up to MaxSeqStep. So that one
// signed reading with a huge number (2^64-1) cannot lock its device out.
func SeqStep(last, seq uint64) bool {
	if seq <= last {
		return false
	}
	lb, ln := SplitSeq(last)
	b, n := SplitSeq(seq)
	if b == lb {
		return n-ln <= MaxSeqStep
	}
	return b-lb <= MaxBootStep && n <= MaxSeqStep
}
