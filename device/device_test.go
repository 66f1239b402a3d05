package device

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/reading"
	"github.com/vitalchain/vitalchain/vital"
)

func testDevice(t testing.TB, s Spec, seed uint64) *Device {
	t.Helper()
	key, err := DeriveKey(seed, s.Name)
	if err != nil {
		t.Fatal(err)
	}
	d, err := NewDevice(s, key, testPatientID())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestNewDeviceErrors(t *testing.T) {
	good := Spec{"cuff", []vital.Kind{vital.Systolic, vital.Diastolic}, time.Minute}
	devKey, _ := DeriveKey(1, "cuff")
	patKey, _ := identity.NewSigningKey(identity.RolePatient, make([]byte, 32))
	tests := []struct {
		name    string
		spec    Spec
		key     *identity.SigningKey
		patient identity.ID
		want    error
	}{
		{"no name", Spec{"", good.Kinds, time.Minute}, devKey, testPatientID(), ErrBadDevice},
		{"no kinds", Spec{"x", nil, time.Minute}, devKey, testPatientID(), ErrBadDevice},
		{"unknown kind", Spec{"x", []vital.Kind{vital.Glucose, 42}, time.Minute}, devKey, testPatientID(), vital.ErrUnknownKind},
		{"kind twice", Spec{"x", []vital.Kind{vital.Glucose, vital.Glucose}, time.Minute}, devKey, testPatientID(), ErrBadDevice},
		{"interval too short", Spec{"x", good.Kinds, 99 * time.Millisecond}, devKey, testPatientID(), ErrBadInterval},
		{"interval too long", Spec{"x", good.Kinds, 25 * time.Hour}, devKey, testPatientID(), ErrBadInterval},
		{"nil key", good, nil, testPatientID(), identity.ErrBadKey},
		{"patient key", good, patKey, testPatientID(), identity.ErrWrongRole},
		{"no patient", good, devKey, identity.ID{}, ErrBadDevice},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewDevice(tt.spec, tt.key, tt.patient); !errors.Is(err, tt.want) {
				t.Fatalf("NewDevice: %v, want %v", err, tt.want)
			}
		})
	}
	for _, s := range StandardSpecs() {
		if err := s.Validate(); err != nil {
			t.Errorf("standard spec %s: %v", s.Name, err)
		}
	}
}

func TestSetInterval(t *testing.T) {
	d := testDevice(t, StandardSpecs()[0], 1)
	tests := []struct {
		iv time.Duration
		ok bool
	}{
		{0, false}, {-time.Second, false}, {99 * time.Millisecond, false}, {MinInterval, true},
		{time.Second, true}, {MaxInterval, true}, {MaxInterval + time.Nanosecond, false},
	}
	for _, tt := range tests {
		err := d.SetInterval(tt.iv)
		if tt.ok != (err == nil) || (!tt.ok && !errors.Is(err, ErrBadInterval)) {
			t.Errorf("SetInterval(%v): %v", tt.iv, err)
		}
		if tt.ok && d.Interval() != tt.iv {
			t.Errorf("SetInterval(%v): interval %v", tt.iv, d.Interval())
		}
	}
}

// TestMeasure: readings verify with the device's key, carry the patient's
// values at the time, and have sequence numbers 1, 2, 3, ...
func TestMeasure(t *testing.T) {
	p := mustPatient(t, 1, DefaultMix())
	d := testDevice(t, Spec{"cuff", []vital.Kind{vital.Systolic, vital.Diastolic}, time.Minute}, 1)
	other := testDevice(t, Spec{"other", []vital.Kind{vital.Glucose}, time.Minute}, 1)
	var seq uint64
	for i := range 5 {
		now := testStart.Add(time.Duration(i)*time.Minute + 123*time.Millisecond)
		msgs, err := d.Measure(now, p)
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) != 2 {
			t.Fatalf("%d readings, want 2", len(msgs))
		}
		for j, msg := range msgs {
			s, err := reading.Parse(msg)
			if err != nil {
				t.Fatal(err)
			}
			r, err := s.Verify(d.Public())
			if err != nil {
				t.Fatal(err)
			}
			seq++
			k, _ := r.Kind()
			if r.Seq != seq || r.Patient != testPatientID() || r.Device != d.ID() || r.Time != now.UnixMilli() ||
				k != d.Kinds()[j] || r.Value != p.Value(k, now) {
				t.Errorf("reading %+v, want seq %d, %s %s at %d", r, seq, d.Kinds()[j], p.Value(k, now), now.UnixMilli())
			}
			if _, err := s.Verify(other.Public()); !errors.Is(err, reading.ErrKeyMismatch) {
				t.Errorf("verified with another device's key: %v", err)
			}
		}
	}
	if d.Seq() != seq {
		t.Errorf("Seq() = %d, want %d", d.Seq(), seq)
	}
}

func TestMeasureErrors(t *testing.T) {
	p := mustPatient(t, 1, nil)
	d := testDevice(t, StandardSpecs()[1], 1)
	if _, err := d.Measure(testStart, nil); !errors.Is(err, ErrNoPatient) {
		t.Errorf("nil patient: %v, want ErrNoPatient", err)
	}
	if _, err := d.Measure(time.UnixMilli(-1000), p); !errors.Is(err, reading.ErrImplausible) {
		t.Errorf("time before 1970: %v, want reading.ErrImplausible", err)
	}
	if d.Seq() != 0 || !d.Next().IsZero() {
		t.Errorf("a failed Measure changed the device: seq %d, next %v", d.Seq(), d.Next())
	}
	if _, err := d.Measure(testStart, p); err != nil {
		t.Fatal(err)
	}
	if err := d.SetSeq(1); !errors.Is(err, ErrSeqRewind) {
		t.Errorf("SetSeq(1) after seq 2: %v, want ErrSeqRewind", err)
	}
	if err := d.SetSeq(1000); err != nil {
		t.Fatal(err)
	}
	msgs, err := d.Measure(testStart.Add(time.Minute), p)
	if err != nil {
		t.Fatal(err)
	}
	r, err := reading.Verify(msgs[0], func(identity.ID) (identity.VerifyingKey, error) { return d.Public(), nil })
	if err != nil || r.Seq != 1001 {
		t.Errorf("after SetSeq(1000): seq %d, %v", r.Seq, err)
	}
}

// TestSchedule: Due and Next keep an exact rhythm, skip ahead after a
// stall, ignore early measurements and follow SetInterval.
func TestSchedule(t *testing.T) {
	p := mustPatient(t, 1, nil)
	d := testDevice(t, Spec{"t", []vital.Kind{vital.BodyTemperature}, 10 * time.Second}, 1)
	at := func(s float64) time.Time { return testStart.Add(time.Duration(s * float64(time.Second))) }
	measure := func(s float64) {
		t.Helper()
		if _, err := d.Measure(at(s), p); err != nil {
			t.Fatal(err)
		}
	}
	steps := []struct {
		op       string // "due", "measure", "interval"
		at       float64
		want     bool    // for due
		wantNext float64 // seconds after testStart; -1: zero
	}{
		{"due", 0, true, -1},
		{"measure", 0, false, 10},
		{"due", 9.999, false, 10},
		{"due", 10, true, 10},
		{"measure", 10.5, false, 20}, // late, but keeps the rhythm
		{"measure", 12, false, 20},   // early (a command): no change
		{"measure", 45, false, 55},   // fell behind: restart from now
		{"interval", 30, false, 75},  // last sample at 45
		{"due", 74, false, 75},
		{"due", 75, true, 75},
	}
	for i, s := range steps {
		switch s.op {
		case "due":
			if got := d.Due(at(s.at)); got != s.want {
				t.Errorf("step %d: Due(%v) = %v", i, s.at, got)
			}
		case "measure":
			measure(s.at)
		case "interval":
			if err := d.SetInterval(time.Duration(s.at) * time.Second); err != nil {
				t.Fatal(err)
			}
		}
		want := time.Time{}
		if s.wantNext >= 0 {
			want = at(s.wantNext)
		}
		if !d.Next().Equal(want) {
			t.Errorf("step %d (%s %v): Next = %v, want %v", i, s.op, s.at, d.Next(), want)
		}
	}
}

func TestDeriveKey(t *testing.T) {
	a, _ := DeriveKey(1, "cgm")
	b, _ := DeriveKey(1, "cgm")
	c, _ := DeriveKey(2, "cgm")
	e, _ := DeriveKey(1, "cgm2")
	if !bytes.Equal(a.Seed(), b.Seed()) || bytes.Equal(a.Seed(), c.Seed()) || bytes.Equal(a.Seed(), e.Seed()) {
		t.Error("DeriveKey is not a function of (seed, name) alone")
	}
	if a.Role() != identity.RoleDevice {
		t.Errorf("role %s", a.Role())
	}
}
