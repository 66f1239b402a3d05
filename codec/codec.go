// Package codec is VitalChain's one encoding for bytes that are hashed or
// signed: CBOR (RFC 8949) in its core deterministic form (section 4.2.1), so
// that the same value always has the same bytes on every node.
//
// Decoding takes untrusted bytes. It bounds the input's size, nesting depth,
// array and map lengths; it rejects duplicate map keys, unknown struct fields,
// indefinite lengths, tags, trailing bytes and any encoding that is not the
// canonical one; and each failure is reported with a named error that callers
// check with errors.Is.
package codec

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/fxamacker/cbor/v2"
)

// Limits applied by Unmarshal.
const (
	// DefaultMaxSize bounds the input of Unmarshal, in bytes.
	DefaultMaxSize = 64 << 10
	// MaxDepth bounds the nesting of arrays and maps.
	MaxDepth = 16
	// MaxElements bounds the length of any one array or map.
	MaxElements = 4096
)

// Errors returned by Unmarshal, each wrapped with detail.
var (
	ErrTooLarge         = errors.New("cbor input too large")
	ErrTooDeep          = errors.New("cbor nesting too deep")
	ErrTooManyElements  = errors.New("cbor array or map too long")
	ErrDuplicateKey     = errors.New("cbor duplicate map key")
	ErrUnknownField     = errors.New("cbor unknown field")
	ErrWrongType        = errors.New("cbor wrong type")
	ErrMalformed        = errors.New("malformed cbor")
	ErrTrailingData     = errors.New("cbor trailing data")
	ErrIndefiniteLength = errors.New("cbor indefinite length not allowed")
	ErrTagNotAllowed    = errors.New("cbor tag not allowed")
	ErrNotCanonical     = errors.New("cbor not in core deterministic encoding")
	ErrUnknownVersion   = errors.New("unknown format version")
	ErrMissingField     = errors.New("required field missing")
	ErrTruncated        = errors.New("cbor input truncated")
	ErrBadTarget        = errors.New("cbor invalid unmarshal target")
)

var (
	encMode cbor.EncMode
	decMode cbor.DecMode
)

func init() {
	var err error
	encMode, err = cbor.CoreDetEncOptions().EncMode()
	if err != nil {
		panic(err)
	}
	decMode, err = cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		IndefLength:       cbor.IndefLengthForbidden,
		TagsMd:            cbor.TagsForbidden,
		MaxNestedLevels:   MaxDepth,
		MaxArrayElements:  MaxElements,
		MaxMapPairs:       MaxElements,
		ExtraReturnErrors: cbor.ExtraDecErrorUnknownField,
		UTF8:              cbor.UTF8RejectInvalid,
		IntDec:            cbor.IntDecConvertSigned,
	}.DecMode()
	if err != nil {
		panic(err)
	}
}

// Marshal returns the core deterministic CBOR encoding of v.
func Marshal(v any) ([]byte, error) {
	b, err := encMode.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("cbor encode %T: %w", v, err)
	}
	return b, nil
}

// Unmarshal decodes data into v, which must be a non-nil pointer, accepting
// at most DefaultMaxSize bytes.
func Unmarshal(data []byte, v any) error {
	return UnmarshalLimit(data, DefaultMaxSize, v)
}

// UnmarshalLimit decodes data into v accepting at most max bytes. It accepts
// only the canonical encoding of the decoded value: a value re-encoded by
// Marshal must give back data exactly, so that one value has one hash.
func UnmarshalLimit(data []byte, max int, v any) error {
	if len(data) > max {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(data), max)
	}
	if len(data) == 0 {
		return fmt.Errorf("%w: empty input", ErrMalformed)
	}
	if err := decMode.Unmarshal(data, v); err != nil {
		return classify(err)
	}
	// v is a non-nil pointer (decMode refused anything else); it encodes as
	// the value it points to, without copying that value into an interface.
	again, err := encMode.Marshal(v)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if !bytes.Equal(again, data) {
		return ErrNotCanonical
	}
	return nil
}

// UnmarshalTrusted decodes bytes this node encoded itself and kept (its own
// store): the same limits and strictness as Unmarshal except the canonical
// check, which would only re-encode what Marshal wrote, at twice the cost.
// Never use it on bytes from the network.
func UnmarshalTrusted(data []byte, v any) error {
	if err := decMode.Unmarshal(data, v); err != nil {
		return classify(err)
	}
	return nil
}

// classify maps the CBOR library's errors to this package's sentinels.
func classify(err error) error {
	var (
		dup     *cbor.DupMapKeyError
		unknown *cbor.UnknownFieldError
		typ     *cbor.UnmarshalTypeError
		nest    *cbor.MaxNestedLevelError
		arr     *cbor.MaxArrayElementsError
		pairs   *cbor.MaxMapPairsError
		indef   *cbor.IndefiniteLengthError
		tags    *cbor.TagsMdError
		extra   *cbor.ExtraneousDataError
		syntax  *cbor.SyntaxError
		sem     *cbor.SemanticError
		invalid *cbor.InvalidUnmarshalError
		mapKey  *cbor.InvalidMapKeyTypeError
	)
	var sentinel error
	switch {
	case errors.As(err, &dup):
		sentinel = ErrDuplicateKey
	case errors.As(err, &unknown):
		sentinel = ErrUnknownField
	case errors.As(err, &typ), errors.As(err, &mapKey):
		sentinel = ErrWrongType
	case errors.As(err, &nest):
		sentinel = ErrTooDeep
	case errors.As(err, &arr), errors.As(err, &pairs):
		sentinel = ErrTooManyElements
	case errors.As(err, &indef):
		sentinel = ErrIndefiniteLength
	case errors.As(err, &tags):
		sentinel = ErrTagNotAllowed
	case errors.As(err, &extra):
		sentinel = ErrTrailingData
	case errors.As(err, &invalid):
		sentinel = ErrBadTarget
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		sentinel = ErrTruncated
	case errors.As(err, &syntax), errors.As(err, &sem):
		sentinel = ErrMalformed
	default:
		sentinel = ErrMalformed
	}
	return fmt.Errorf("%w: %v", sentinel, err)
}

// CheckVersion returns an ErrUnknownVersion error naming what for if got is
// not want.
func CheckVersion(what string, got, want uint8) error {
	if got != want {
		return fmt.Errorf("%s: %w %d (want %d)", what, ErrUnknownVersion, got, want)
	}
	return nil
}
