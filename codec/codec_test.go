package codec_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/vitalchain/vitalchain/codec"
)

// sample is a representative wire struct: integer keys, every kind of field
// the project uses, optional fields and nested values.
type sample struct {
	Version uint8            `cbor:"1,keyasint"`
	Device  [4]byte          `cbor:"2,keyasint"`
	Seq     uint64           `cbor:"3,keyasint"`
	Time    int64            `cbor:"4,keyasint"`
	Code    string           `cbor:"5,keyasint"`
	Value   int64            `cbor:"6,keyasint"`
	Data    []byte           `cbor:"7,keyasint,omitempty"`
	Labels  map[string]int64 `cbor:"8,keyasint,omitempty"`
	Inner   *inner           `cbor:"9,keyasint,omitempty"`
	List    []inner          `cbor:"10,keyasint,omitempty"`
	Flag    bool             `cbor:"-1,keyasint,omitempty"`
}

type inner struct {
	A uint64 `cbor:"1,keyasint,omitempty"`
	B string `cbor:"2,keyasint,omitempty"`
}

// opt is a struct whose fields are all optional, so that a map holding any
// subset of them is a complete value.
type opt struct {
	A uint64 `cbor:"1,keyasint,omitempty"`
	B int64  `cbor:"2,keyasint,omitempty"`
	C string `cbor:"3,keyasint,omitempty"`
	D []byte `cbor:"4,keyasint,omitempty"`
	E uint8  `cbor:"5,keyasint,omitempty"`
}

func fullSample() sample {
	return sample{
		Version: 1,
		Device:  [4]byte{0xde, 0xad, 0xbe, 0xef},
		Seq:     42,
		Time:    1_700_000_000_000,
		Code:    "2339-0",
		Value:   -180_500,
		Data:    []byte{1, 2, 3},
		Labels:  map[string]int64{"b": 2, "a": 1, "aa": -3},
		Inner:   &inner{A: 7, B: "x"},
		List:    []inner{{A: 1}, {B: "y"}},
		Flag:    true,
	}
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustMarshal(t testing.TB, v any) []byte {
	t.Helper()
	b, err := codec.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestMarshalKnownAnswer checks Marshal against hand-made RFC 8949 §4.2.1
// core deterministic encodings: shortest heads, definite lengths, and map keys
// sorted by the bytewise order of their encodings (so key 100, 0x1864, comes
// before key -1, 0x20, unlike the length-first order of RFC 7049 canonical
// CBOR).
func TestMarshalKnownAnswer(t *testing.T) {
	type kat struct {
		Neg   string `cbor:"-1,keyasint"`
		Big   int64  `cbor:"100,keyasint"`
		Value int64  `cbor:"3,keyasint"`
		Bytes []byte `cbor:"2,keyasint"`
		A     uint8  `cbor:"1,keyasint"`
	}
	for _, tc := range []struct {
		name string
		v    any
		want string
	}{
		{"struct", kat{Neg: "hi", Big: 1000, Value: -500, Bytes: []byte{1, 2}, A: 5},
			"a5 01 05 02 42 0102 03 39 01f3 18 64 19 03e8 20 62 6869"},
		{"empty struct", struct{}{}, "a0"},
		{"0", 0, "00"},
		{"23", 23, "17"},
		{"24", 24, "18 18"},
		{"255", 255, "18 ff"},
		{"256", 256, "19 0100"},
		{"65535", 65535, "19 ffff"},
		{"65536", 65536, "1a 00010000"},
		{"2^32-1", uint64(math.MaxUint32), "1a ffffffff"},
		{"2^32", uint64(1) << 32, "1b 0000000100000000"},
		{"max uint64", uint64(math.MaxUint64), "1b ffffffffffffffff"},
		{"-1", -1, "20"},
		{"-24", -24, "37"},
		{"-25", -25, "38 18"},
		{"min int64", int64(math.MinInt64), "3b 7fffffffffffffff"},
		{"bytes", []byte{0xaa}, "41 aa"},
		{"text", "a", "61 61"},
		{"array", []int{1, 2}, "82 01 02"},
		{"bool", true, "f5"},
		// Map keys sort bytewise on their encoding: 0x18 0x18 (24) before
		// 0x20 (-1) before 0x61 0x61 ("a").
		{"int map", map[int]int{-1: 0, 24: 0, 1: 0}, "a3 01 00 18 18 00 20 00"},
		{"text map", map[string]int{"b": 0, "aa": 0, "a": 0}, "a3 61 61 00 61 62 00 62 6161 00"},
		{"float shortest", 1.5, "f9 3e00"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := mustMarshal(t, tc.v)
			if want := mustHex(t, tc.want); !bytes.Equal(got, want) {
				t.Errorf("Marshal(%#v) = %x, want %x", tc.v, got, want)
			}
		})
	}
}

func TestRoundTrip(t *testing.T) {
	for _, in := range []sample{
		{},
		fullSample(),
		{Version: 255, Seq: math.MaxUint64, Time: math.MinInt64, Value: math.MaxInt64},
	} {
		b := mustMarshal(t, in)
		var out sample
		if err := codec.Unmarshal(b, &out); err != nil {
			t.Fatalf("Unmarshal(Marshal(%+v)): %v", in, err)
		}
		if again := mustMarshal(t, out); !bytes.Equal(again, b) {
			t.Errorf("round trip changed the encoding:\n got %x\nwant %x", again, b)
		}
	}
}

func TestUnmarshalErrors(t *testing.T) {
	valid := mustMarshal(t, fullSample())
	// Elements of a 4097-element array or map.
	zeros := bytes.Repeat([]byte{0}, 2*(codec.MaxElements+1))
	deep := append(bytes.Repeat([]byte{0x81}, codec.MaxDepth+1), 0x00)

	type target func() any
	anyT := func() any { return new(any) }
	sampleT := func() any { return new(sample) }
	optT := func() any { return new(opt) }

	for _, tc := range []struct {
		name   string
		in     []byte
		target target
		want   error
	}{
		// Size.
		{"too large", make([]byte, codec.DefaultMaxSize+1), anyT, codec.ErrTooLarge},
		{"empty", nil, sampleT, codec.ErrMalformed},
		{"empty slice", []byte{}, anyT, codec.ErrMalformed},

		// Truncation and trailing bytes.
		{"truncated struct", valid[:len(valid)-1], sampleT, codec.ErrTruncated},
		{"truncated head", mustHex(t, "19 01"), anyT, codec.ErrTruncated},
		{"truncated bytes", mustHex(t, "44 0102"), anyT, codec.ErrTruncated},
		{"truncated map", mustHex(t, "a2 01 01"), optT, codec.ErrTruncated},
		{"trailing byte", append(append([]byte(nil), valid...), 0x00), sampleT, codec.ErrTrailingData},
		{"two items", mustHex(t, "01 01"), anyT, codec.ErrTrailingData},

		// Maps and structs.
		{"duplicate key", mustHex(t, "a2 01 01 01 02"), optT, codec.ErrDuplicateKey},
		{"duplicate key in map", mustHex(t, "a2 61 61 00 61 61 01"), anyT, codec.ErrDuplicateKey},
		{"unknown int field", mustHex(t, "a1 0b 00"), optT, codec.ErrUnknownField},
		{"unknown text field", mustHex(t, "a1 61 78 00"), optT, codec.ErrUnknownField},
		// A keyasint field is matched by its integer key only.
		{"text key for int field", mustHex(t, "a1 61 31 01"), optT, codec.ErrUnknownField},

		// Types.
		{"text for uint", mustHex(t, "a1 01 61 61"), optT, codec.ErrWrongType},
		{"negative for uint", mustHex(t, "a1 01 20"), optT, codec.ErrWrongType},
		{"uint8 overflow", mustHex(t, "a1 05 19 012c"), optT, codec.ErrWrongType},
		{"int64 overflow", mustHex(t, "a1 02 1b 8000000000000000"), optT, codec.ErrWrongType},
		{"bytes for text", mustHex(t, "a1 03 41 61"), optT, codec.ErrWrongType},
		{"array for struct", mustHex(t, "80"), optT, codec.ErrWrongType},
		{"float for int", mustHex(t, "a1 02 f9 3c00"), optT, codec.ErrWrongType},
		{"float64 for int", mustHex(t, "a1 02 fb 3ff0000000000000"), optT, codec.ErrWrongType},
		{"map key of wrong type", mustHex(t, "a1 80 00"), anyT, codec.ErrWrongType},

		// Limits.
		{"too deep", deep, anyT, codec.ErrTooDeep},
		{"too deep in struct", append(mustHex(t, "a1 08"), deep...), sampleT, codec.ErrTooDeep},
		{"array too long", append(mustHex(t, "99 1001"), zeros[:codec.MaxElements+1]...), anyT, codec.ErrTooManyElements},
		{"map too long", append(mustHex(t, "b9 1001"), zeros...), anyT, codec.ErrTooManyElements},

		// Forbidden features.
		{"indefinite array", mustHex(t, "9f ff"), anyT, codec.ErrIndefiniteLength},
		{"indefinite map", mustHex(t, "bf ff"), optT, codec.ErrIndefiniteLength},
		{"indefinite bytes", mustHex(t, "5f 41 00 ff"), anyT, codec.ErrIndefiniteLength},
		{"indefinite text", mustHex(t, "7f 61 61 ff"), anyT, codec.ErrIndefiniteLength},
		{"tag", mustHex(t, "c1 00"), anyT, codec.ErrTagNotAllowed},
		{"tag on field", mustHex(t, "a1 01 d8 20 00"), optT, codec.ErrTagNotAllowed},
		{"self-describe tag", append(mustHex(t, "d9 d9f7"), valid...), sampleT, codec.ErrTagNotAllowed},

		// Not well-formed.
		{"reserved additional info", mustHex(t, "1c"), anyT, codec.ErrMalformed},
		{"break alone", mustHex(t, "ff"), anyT, codec.ErrMalformed},
		{"invalid utf-8", mustHex(t, "62 c328"), anyT, codec.ErrMalformed},
		{"two-byte simple value below 32", mustHex(t, "f8 14"), anyT, codec.ErrMalformed},

		// Well-formed but not the core deterministic encoding.
		{"non-minimal int", mustHex(t, "18 05"), anyT, codec.ErrNotCanonical},
		{"non-minimal int 16", mustHex(t, "19 00ff"), anyT, codec.ErrNotCanonical},
		{"non-minimal int 64", mustHex(t, "1b 00000000ffffffff"), anyT, codec.ErrNotCanonical},
		{"non-minimal negative", mustHex(t, "38 00"), anyT, codec.ErrNotCanonical},
		{"non-minimal field", mustHex(t, "a1 01 18 05"), optT, codec.ErrNotCanonical},
		{"non-minimal byte length", mustHex(t, "58 01 aa"), anyT, codec.ErrNotCanonical},
		{"non-minimal text length", mustHex(t, "78 01 61"), anyT, codec.ErrNotCanonical},
		{"non-minimal array length", mustHex(t, "98 01 00"), anyT, codec.ErrNotCanonical},
		{"non-minimal map length", mustHex(t, "b8 01 01 00"), optT, codec.ErrNotCanonical},
		{"non-minimal key", mustHex(t, "a1 18 01 00"), optT, codec.ErrNotCanonical},
		{"unsorted struct keys", mustHex(t, "a2 02 01 01 01"), optT, codec.ErrNotCanonical},
		{"unsorted map keys", mustHex(t, "a2 02 00 01 00"), anyT, codec.ErrNotCanonical},
		{"length-first key order", mustHex(t, "a2 20 00 18 64 00"), anyT, codec.ErrNotCanonical},
		{"unsorted text keys", mustHex(t, "a2 61 62 00 61 61 00"), anyT, codec.ErrNotCanonical},
		{"float64 not shortest", mustHex(t, "fb 3ff8000000000000"), anyT, codec.ErrNotCanonical},
		{"float32 not shortest", mustHex(t, "fa 3fc00000"), anyT, codec.ErrNotCanonical},
		{"zero value of omitempty field", mustHex(t, "a1 01 00"), optT, codec.ErrNotCanonical},
		{"empty bytes of omitempty field", mustHex(t, "a1 04 40"), optT, codec.ErrNotCanonical},
		{"required field missing", mustHex(t, "a0"), sampleT, codec.ErrNotCanonical},
		{"null for text", mustHex(t, "a1 03 f6"), optT, codec.ErrNotCanonical},
		{"null for int", mustHex(t, "a1 01 f6"), optT, codec.ErrNotCanonical},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := codec.Unmarshal(tc.in, tc.target())
			if !errors.Is(err, tc.want) {
				t.Fatalf("Unmarshal(%x) = %v, want %v", truncate(tc.in), err, tc.want)
			}
		})
	}
}

func truncate(b []byte) []byte {
	if len(b) > 32 {
		return b[:32]
	}
	return b
}

// TestUnmarshalLimits checks that the limits themselves are accepted: only
// one past them is refused.
func TestUnmarshalLimits(t *testing.T) {
	t.Run("max size", func(t *testing.T) {
		b := mustMarshal(t, make([]byte, 100))
		var out []byte
		if err := codec.UnmarshalLimit(b, len(b), &out); err != nil {
			t.Fatalf("at the limit: %v", err)
		}
		if err := codec.UnmarshalLimit(b, len(b)-1, &out); !errors.Is(err, codec.ErrTooLarge) {
			t.Fatalf("one past the limit: %v, want ErrTooLarge", err)
		}
	})
	t.Run("max depth", func(t *testing.T) {
		// MaxDepth nested arrays holding a 0 is MaxDepth levels.
		b := append(bytes.Repeat([]byte{0x81}, codec.MaxDepth), 0x00)
		var out any
		if err := codec.Unmarshal(b, &out); err != nil {
			t.Fatalf("%d levels: %v", codec.MaxDepth, err)
		}
	})
	t.Run("max elements", func(t *testing.T) {
		a := mustMarshal(t, make([]int, codec.MaxElements))
		var arr []int
		if err := codec.Unmarshal(a, &arr); err != nil || len(arr) != codec.MaxElements {
			t.Fatalf("array of %d: %v", codec.MaxElements, err)
		}
		m := make(map[int]int, codec.MaxElements)
		for i := range codec.MaxElements {
			m[i] = 0
		}
		var mout map[int]int
		if err := codec.Unmarshal(mustMarshal(t, m), &mout); err != nil || len(mout) != codec.MaxElements {
			t.Fatalf("map of %d: %v", codec.MaxElements, err)
		}
	})
}

func TestUnmarshalBadTarget(t *testing.T) {
	b := mustMarshal(t, opt{A: 1})
	for _, tc := range []struct {
		name string
		v    any
	}{
		{"nil", nil},
		{"non-pointer", opt{}},
		{"nil pointer", (*opt)(nil)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := codec.Unmarshal(b, tc.v); !errors.Is(err, codec.ErrBadTarget) {
				t.Fatalf("Unmarshal into %T = %v, want ErrBadTarget", tc.v, err)
			}
		})
	}
}

func TestMarshalError(t *testing.T) {
	if _, err := codec.Marshal(make(chan int)); err == nil {
		t.Fatal("Marshal(chan) succeeded")
	}
}

func TestCheckVersion(t *testing.T) {
	if err := codec.CheckVersion("reading", 1, 1); err != nil {
		t.Fatalf("CheckVersion(1, 1) = %v", err)
	}
	for _, got := range []uint8{0, 2, 255} {
		err := codec.CheckVersion("reading", got, 1)
		if !errors.Is(err, codec.ErrUnknownVersion) {
			t.Fatalf("CheckVersion(%d, 1) = %v, want ErrUnknownVersion", got, err)
		}
		if !strings.HasPrefix(err.Error(), "reading: ") {
			t.Errorf("CheckVersion error %q does not name what", err)
		}
	}
}

// TestErrorsDistinct checks that every sentinel is its own error, so that
// errors.Is on one never matches another.
func TestErrorsDistinct(t *testing.T) {
	all := []error{
		codec.ErrTooLarge, codec.ErrTooDeep, codec.ErrTooManyElements,
		codec.ErrDuplicateKey, codec.ErrUnknownField, codec.ErrWrongType,
		codec.ErrMalformed, codec.ErrTrailingData, codec.ErrIndefiniteLength,
		codec.ErrTagNotAllowed, codec.ErrNotCanonical, codec.ErrUnknownVersion,
		codec.ErrMissingField, codec.ErrTruncated, codec.ErrBadTarget,
	}
	for i, a := range all {
		if msg := a.Error(); msg == "" || strings.ToLower(msg) != msg {
			t.Errorf("error %q: want a lower-case message", msg)
		}
		for j, b := range all {
			if i != j && errors.Is(a, b) {
				t.Errorf("errors.Is(%v, %v)", a, b)
			}
		}
	}
}
