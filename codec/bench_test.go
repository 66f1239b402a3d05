package codec_test

import (
	"testing"

	"github.com/fxamacker/cbor/v2"

	"github.com/vitalchain/vitalchain/codec"
)

// reading mirrors the shape of a signed device reading: eight integer-keyed
// fields, two 32-byte IDs and two short strings.
type reading struct {
	Version uint8    `cbor:"1,keyasint"`
	Patient [32]byte `cbor:"2,keyasint"`
	Device  [32]byte `cbor:"3,keyasint"`
	Seq     uint64   `cbor:"4,keyasint"`
	Time    int64    `cbor:"5,keyasint"`
	Code    string   `cbor:"6,keyasint"`
	Value   int64    `cbor:"7,keyasint"`
	Unit    string   `cbor:"8,keyasint"`
}

var benchReading = reading{
	Version: 1, Patient: [32]byte{1, 2, 3}, Device: [32]byte{4, 5, 6}, Seq: 123456,
	Time: 1_700_000_000_000, Code: "2339-0", Value: 180_000, Unit: "mg/dL",
}

// Baseline: the CBOR library with the same options, without this package's
// size check and canonical round trip.
func rawModes(b *testing.B) (cbor.EncMode, cbor.DecMode) {
	em, err := cbor.CoreDetEncOptions().EncMode()
	if err != nil {
		b.Fatal(err)
	}
	dm, err := cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		IndefLength:       cbor.IndefLengthForbidden,
		TagsMd:            cbor.TagsForbidden,
		MaxNestedLevels:   codec.MaxDepth,
		MaxArrayElements:  codec.MaxElements,
		MaxMapPairs:       codec.MaxElements,
		ExtraReturnErrors: cbor.ExtraDecErrorUnknownField,
		UTF8:              cbor.UTF8RejectInvalid,
		IntDec:            cbor.IntDecConvertSigned,
	}.DecMode()
	if err != nil {
		b.Fatal(err)
	}
	return em, dm
}

func BenchmarkMarshal(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := codec.Marshal(&benchReading); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMarshalBaseline(b *testing.B) {
	em, _ := rawModes(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := em.Marshal(&benchReading); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUnmarshal(b *testing.B) {
	data := mustMarshal(b, benchReading)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		var r reading
		if err := codec.Unmarshal(data, &r); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUnmarshalBaseline(b *testing.B) {
	_, dm := rawModes(b)
	data := mustMarshal(b, benchReading)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		var r reading
		if err := dm.Unmarshal(data, &r); err != nil {
			b.Fatal(err)
		}
	}
}
