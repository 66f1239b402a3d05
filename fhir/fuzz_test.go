package fhir

import (
	"bytes"
	"encoding/binary"
	"errors"
	"slices"
	"testing"

	"github.com/vitalchain/vitalchain/codec"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/reading"
	"github.com/vitalchain/vitalchain/vital"
)

// fuzzReadings turns data into readings, 6 bytes each: device (one of
// three), seq, time offset in ms, kind (0 and 9+ are unknown codes), value
// (16 bits, scaled into the kind's range when the top bit of the kind byte
// is clear). Small ranges make pairs, duplicates and conflicts likely.
func fuzzReadings(data []byte) []reading.Reading {
	devices := []identity.ID{cuff, watch, meter}
	kinds := vital.Kinds()
	var rs []reading.Reading
	for ; len(data) >= 6 && len(rs) < 64; data = data[6:] {
		r := reading.Reading{
			Version: reading.Version,
			Patient: patientA,
			Device:  devices[int(data[0])%len(devices)],
			Seq:     uint64(data[1]),
			Time:    t0.UnixMilli() + int64(data[2]),
			Code:    "0000-0",
			Unit:    "1",
			Value:   vital.Quantity(binary.BigEndian.Uint16(data[4:])),
		}
		if data[0] >= 128 {
			r.Patient = patientB
		}
		if i := int(data[3]&0x7f) - 1; i >= 0 && i < len(kinds) {
			info := kinds[i].Info()
			r.Code, r.Unit = info.LOINC, info.Unit
			if data[3] < 0x80 {
				r.Value = info.Min + r.Value%(info.Max-info.Min+1)
			}
		}
		rs = append(rs, r)
	}
	return rs
}

// FuzzExport checks that any input either fails with a documented error
// or gives a valid, order-independent export, the same in both formats.
// The last reading's fields come straight from the fuzzer (it is left
// out when the code is empty).
func FuzzExport(f *testing.F) {
	f.Add([]byte{0, 1, 0, 4, 0, 120, 0, 2, 0, 5, 0, 80}, "8310-5", "Cel", int64(37250), int64(1741944413589), uint64(3))
	f.Add([]byte{1, 1, 0, 1, 1, 1, 1, 1, 0, 1, 1, 2}, "41950-7", "/(24.h)", int64(0), int64(1), uint64(1))
	f.Add([]byte{2, 9, 0, 0x87, 0xff, 0xff}, "", "", int64(0), int64(0), uint64(0))
	f.Add([]byte{}, "59408-5", "%", int64(-1), int64(maxTime+1), uint64(0))
	f.Fuzz(func(t *testing.T, data []byte, code, unit string, value, ms int64, seq uint64) {
		rs := fuzzReadings(data)
		if code != "" { // an empty code lets the fuzzer drop this reading
			rs = append(rs, reading.Reading{
				Version: reading.Version, Patient: patientA, Device: watch,
				Seq: seq, Time: ms, Code: code, Unit: unit, Value: vital.Quantity(value),
			})
		}
		b, err := Bundle(rs)
		if err != nil {
			for _, want := range []error{codec.ErrMissingField, vital.ErrUnknownKind, reading.ErrWrongUnit, reading.ErrImplausible, ErrConflict} {
				if errors.Is(err, want) {
					return
				}
			}
			t.Fatalf("undocumented error: %v", err)
		}
		res := checkBundle(t, b)
		var nd bytes.Buffer
		if err := NDJSON(&nd, rs); err != nil {
			t.Fatalf("NDJSON fails where Bundle succeeds: %v", err)
		}
		if n := bytes.Count(nd.Bytes(), []byte("\n")); n != len(res) {
			t.Fatalf("%d NDJSON lines, %d bundle entries", n, len(res))
		}
		slices.Reverse(rs)
		b2, err := Bundle(rs)
		if err != nil || !bytes.Equal(b, b2) {
			t.Fatalf("export depends on input order (%v)", err)
		}
		// Every reading is in exactly one observation.
		unique := map[readingKey]bool{}
		for _, r := range rs {
			unique[readingKey{r.Device, r.Seq}] = true
		}
		n := 0
		for _, o := range res {
			n += len(o["identifier"].([]any))
		}
		if n != len(unique) {
			t.Fatalf("%d identifiers for %d readings", n, len(unique))
		}
	})
}

// TestFuzzReadingsPair checks that the first seed's readings form a blood
// pressure pair, so that the fuzzer starts from the panel path.
func TestFuzzReadingsPair(t *testing.T) {
	rs := fuzzReadings([]byte{0, 1, 0, 4, 0, 120, 0, 2, 0, 5, 0, 80})
	if len(rs) != 2 || rs[0].Time != rs[1].Time {
		t.Fatalf("seed readings %+v", rs)
	}
	b, err := Bundle(rs)
	if err != nil {
		t.Fatal(err)
	}
	if res := checkBundle(t, b); len(res) != 1 || len(res[0]["component"].([]any)) != 2 {
		t.Errorf("seed does not pair: %s", b)
	}
}
