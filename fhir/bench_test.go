package fhir

import (
	"bytes"
	"encoding/json"
	"io"
	"testing"
	"time"

	"github.com/vitalchain/vitalchain/reading"
	"github.com/vitalchain/vitalchain/vital"
)

// benchReadings returns n readings of one patient's day: a watch measuring
// heart rate, SpO2, respiratory rate and temperature in turn, and a cuff
// measuring blood pressure pairs (a fifth of the readings).
func benchReadings(n int) []reading.Reading {
	rs := make([]reading.Reading, 0, n)
	kinds := []vital.Kind{vital.HeartRate, vital.SpO2, vital.RespiratoryRate, vital.BodyTemperature}
	values := []vital.Quantity{72000, 97500, 16000, 36625}
	for i := 0; len(rs) < n; i++ {
		at := t0.Add(time.Duration(i) * time.Minute)
		if i%4 == 0 && len(rs)+2 <= n {
			rs = append(rs,
				reading.New(patientA, cuff, uint64(i+1), at, vital.Systolic, 121500),
				reading.New(patientA, cuff, uint64(i+2), at, vital.Diastolic, 79000))
			continue
		}
		rs = append(rs, reading.New(patientA, watch, uint64(i+1), at, kinds[i%len(kinds)], values[i%len(kinds)]))
	}
	return rs
}

// BenchmarkBundle1000 is the export of 1,000 readings as a Bundle.
func BenchmarkBundle1000(b *testing.B) {
	rs := benchReadings(1000)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Bundle(rs); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBaselineJSONBundle1000 is the raw primitive: encoding/json
// encoding the same, already built Observations into one buffer, so that
// Bundle1000 divided by it is this package's overhead (validation,
// sorting, pairing, ids, framing).
func BenchmarkBaselineJSONBundle1000(b *testing.B) {
	obs, err := observations(benchReadings(1000))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		var buf bytes.Buffer
		buf.Grow(64 + 1024*len(obs))
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		for i := range obs {
			if err := enc.Encode(&obs[i]); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkNDJSON1000 is the export of 1,000 readings as NDJSON.
func BenchmarkNDJSON1000(b *testing.B) {
	rs := benchReadings(1000)
	b.ReportAllocs()
	for b.Loop() {
		if err := NDJSON(io.Discard, rs); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBaselineJSONLines1000 is the raw primitive of NDJSON: encoding
// the already built Observations one per line.
func BenchmarkBaselineJSONLines1000(b *testing.B) {
	obs, err := observations(benchReadings(1000))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		enc := json.NewEncoder(io.Discard)
		enc.SetEscapeHTML(false)
		for i := range obs {
			if err := enc.Encode(&obs[i]); err != nil {
				b.Fatal(err)
			}
		}
	}
}
