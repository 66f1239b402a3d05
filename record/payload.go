package record

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/vitalchain/vitalchain/codec"
	"github.com/vitalchain/vitalchain/vital"
)

// PayloadVersion is the only payload format version this package reads and
// writes.
const PayloadVersion uint8 = 1

// Payload sizes.
const (
	// PadSize: an encoded payload is padded with zeros to a multiple of
	// PadSize bytes, so that the ciphertext's length does not tell the
	// vital sign (a reading's LOINC code, unit and value differ in length
	// from one vital sign to another): every gateway record, whatever its
	// vital sign, severity or value, has a plaintext of one PadSize.
	PadSize = 256
	// payloadHead is the fixed part of an encoded payload: version, kind,
	// severity and the body's length (2 bytes).
	payloadHead = 5
	// MaxBodySize bounds a payload's body, so that the padded payload fits
	// in MaxPlaintextSize (a multiple of PadSize).
	MaxBodySize = MaxPlaintextSize - payloadHead
)

// ErrInvalidPayload: a decrypted payload that does not decode (see
// ParsePayload), or that contradicts the key that opened it or its record's
// header.
var ErrInvalidPayload = errors.New("invalid record payload")

// Payload is what a record seals: what the cloud must not learn about an
// abnormal reading (which vital sign, how severe) and the body. Only the
// holders of the record's key read it.
type Payload struct {
	// Kind is the vital sign: always one for a patient's record (its key is
	// that vital sign's, envelope.KindKey); 0 for a provider's record that
	// is not about one.
	Kind vital.Kind
	// Severity is the severity of the contract's rule that found the
	// reading abnormal (contract.Severity, from 1), also when the rule's
	// cool-down withheld the alert (the header's Alert is false then); 0
	// for a provider's record that has none.
	Severity uint8
	// Body is, for a gateway's record, the device's signed reading exactly
	// as the device sent it (package reading); for a provider's record
	// (transaction 3), whatever the provider sends. 1 to MaxBodySize bytes.
	Body []byte
}

// Marshal encodes p: a version byte (PayloadVersion), the kind, the
// severity, the body's length (2 bytes, big-endian), the body, then zero
// bytes up to the next multiple of PadSize. It checks the kind (0 or
// valid: vital.ErrUnknownKind) and the body's size (codec.ErrMissingField,
// codec.ErrTooLarge).
func (p Payload) Marshal() ([]byte, error) {
	switch {
	case p.Kind != 0 && !p.Kind.Valid():
		return nil, fmt.Errorf("record: payload: %w: %d", vital.ErrUnknownKind, p.Kind)
	case len(p.Body) == 0:
		return nil, fmt.Errorf("record: payload: %w: body", codec.ErrMissingField)
	case len(p.Body) > MaxBodySize:
		return nil, fmt.Errorf("record: payload: body: %w: %d bytes, limit %d", codec.ErrTooLarge, len(p.Body), MaxBodySize)
	}
	n := payloadHead + len(p.Body)
	b := make([]byte, (n+PadSize-1)/PadSize*PadSize)
	b[0], b[1], b[2] = PayloadVersion, byte(p.Kind), p.Severity
	binary.BigEndian.PutUint16(b[3:], uint16(len(p.Body)))
	copy(b[payloadHead:], p.Body)
	return b, nil
}

// ParsePayload decodes a payload (a record's plaintext: untrusted bytes,
// though only the holder of the record's key gets them) and accepts only
// what Marshal writes: a length that is a non-zero multiple of PadSize, at
// most MaxPlaintextSize (codec.ErrTooLarge), the known version
// (codec.ErrUnknownVersion), a kind that is 0 or valid
// (vital.ErrUnknownKind), a body of 1 byte or more that fits, and padding
// that is all zeros and shorter than PadSize (ErrInvalidPayload). The
// body is a copy.
func ParsePayload(b []byte) (Payload, error) {
	switch {
	case len(b) > MaxPlaintextSize:
		return Payload{}, fmt.Errorf("record: payload: %w: %d bytes, limit %d", codec.ErrTooLarge, len(b), MaxPlaintextSize)
	case len(b) == 0 || len(b)%PadSize != 0:
		return Payload{}, fmt.Errorf("record: %w: %d bytes, not a multiple of %d", ErrInvalidPayload, len(b), PadSize)
	}
	if err := codec.CheckVersion("record payload", b[0], PayloadVersion); err != nil {
		return Payload{}, err
	}
	p := Payload{Kind: vital.Kind(b[1]), Severity: b[2]}
	if p.Kind != 0 && !p.Kind.Valid() {
		return Payload{}, fmt.Errorf("record: payload: %w: %d", vital.ErrUnknownKind, p.Kind)
	}
	n := int(binary.BigEndian.Uint16(b[3:]))
	end := payloadHead + n
	switch {
	case n == 0:
		return Payload{}, fmt.Errorf("record: payload: %w: body", codec.ErrMissingField)
	case end > len(b):
		return Payload{}, fmt.Errorf("record: %w: a body of %d bytes in %d", ErrInvalidPayload, n, len(b))
	case len(b)-end >= PadSize:
		return Payload{}, fmt.Errorf("record: %w: %d bytes of padding", ErrInvalidPayload, len(b)-end)
	}
	for _, c := range b[end:] {
		if c != 0 {
			return Payload{}, fmt.Errorf("record: %w: padding that is not zeros", ErrInvalidPayload)
		}
	}
	p.Body = append([]byte(nil), b[payloadHead:end]...)
	return p, nil
}
