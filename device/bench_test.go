package device

import (
	"crypto/ed25519"
	"testing"
	"time"

	"github.com/vitalchain/vitalchain/codec"
	"github.com/vitalchain/vitalchain/reading"
	"github.com/vitalchain/vitalchain/vital"
)

// BenchmarkMeasure samples a pulse oximeter (two readings per sample) and
// reports the cost per reading; compare with BenchmarkBaselineReadingSign
// (reading.Sign of one reading, what Measure wraps) and
// BenchmarkBaselineEd25519Sign (the raw signature).
func BenchmarkMeasure(b *testing.B) {
	p := mustPatient(b, 1, mustMix(b, 0.05))
	d := testDevice(b, StandardSpecs()[1], 1)
	now := testStart
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		msgs, err := d.Measure(now, p)
		if err != nil {
			b.Fatal(err)
		}
		n += len(msgs)
		now = now.Add(time.Second)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/reading")
}

func BenchmarkBaselineReadingSign(b *testing.B) {
	d := testDevice(b, StandardSpecs()[1], 1)
	r := reading.New(testPatientID(), d.ID(), 1, testStart, vital.HeartRate, 70*vital.Unit)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := reading.Sign(r, d.key); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBaselineEd25519Sign(b *testing.B) {
	d := testDevice(b, StandardSpecs()[1], 1)
	r := reading.New(testPatientID(), d.ID(), 1, testStart, vital.HeartRate, 70*vital.Unit)
	payload, err := codec.Marshal(r)
	if err != nil {
		b.Fatal(err)
	}
	// The COSE Sig_structure is about 18 bytes longer than the payload.
	tbs := append(make([]byte, 18), payload...)
	priv := ed25519.NewKeyFromSeed(d.key.Seed())
	b.ReportAllocs()
	for b.Loop() {
		ed25519.Sign(priv, tbs)
	}
}

// BenchmarkMeasureOverhead alternates Measure of a one-reading device and
// reading.Sign of the same reading in one loop, so that load from other
// processes hits both alike, and reports the simulator's overhead (the
// patient's value and the bookkeeping) in percent of reading.Sign.
func BenchmarkMeasureOverhead(b *testing.B) {
	p := mustPatient(b, 1, mustMix(b, 0.05))
	d := testDevice(b, StandardSpecs()[0], 1)
	now := testStart
	var ours, base time.Duration
	for b.Loop() {
		t0 := time.Now()
		msgs, err := d.Measure(now, p)
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		r := reading.New(testPatientID(), d.ID(), d.Seq(), now, vital.Glucose, 100*vital.Unit)
		if _, err := reading.Sign(r, d.key); err != nil {
			b.Fatal(err)
		}
		base += time.Since(t1)
		ours += t1.Sub(t0)
		now = now.Add(time.Second)
		_ = msgs
	}
	b.ReportMetric(100*float64(ours-base)/float64(base), "%overhead")
}

// BenchmarkValue is the cost of one simulated value, per vital sign.
func BenchmarkValue(b *testing.B) {
	p := mustPatient(b, 1, mustMix(b, 0.05))
	for _, k := range []vital.Kind{vital.Glucose, vital.HeartRate, vital.Steps} {
		b.Run(k.String(), func(b *testing.B) {
			now := testStart
			for b.Loop() {
				p.Value(k, now)
				now = now.Add(time.Second)
			}
		})
	}
}
