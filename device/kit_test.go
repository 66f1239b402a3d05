package device

import (
	"bytes"
	"errors"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/reading"
)

// runKit samples k every simulated second from testStart for span and
// returns every message.
func runKit(t testing.TB, k *Kit, span time.Duration) [][]byte {
	t.Helper()
	var out [][]byte
	for now := testStart; now.Before(testStart.Add(span)); now = now.Add(time.Second) {
		samples, err := k.Measure(now)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range samples {
			if sr, err := reading.Parse(s.Msg); err != nil || sr.KeyID() != s.Device {
				t.Fatalf("a sample of device %s: %v", s.Device, err)
			}
			out = append(out, s.Msg)
		}
	}
	return out
}

// TestKitDeterministic: a kit of one seed produces the same bytes twice;
// another seed produces other bytes (other keys and other values).
func TestKitDeterministic(t *testing.T) {
	a := runKit(t, mustKit(t, 42), time.Hour)
	b := runKit(t, mustKit(t, 42), time.Hour)
	c := runKit(t, mustKit(t, 43), time.Hour)
	if len(a) != 322 {
		t.Errorf("%d readings in an hour, want 322", len(a))
	}
	if len(a) != len(b) {
		t.Fatalf("%d and %d readings", len(a), len(b))
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			t.Fatalf("reading %d differs between two runs of one seed", i)
		}
		if i < len(c) && bytes.Equal(a[i], c[i]) {
			t.Fatalf("reading %d identical under two seeds", i)
		}
	}
}

// TestKitReadings: every reading verifies through Kit.Lookup, is
// plausible, and each device's sequence numbers go 1, 2, 3, ...
func TestKitReadings(t *testing.T) {
	k := mustKit(t, 7)
	if err := k.SetPatient(mustPatient(t, 7, mustMix(t, 0.1))); err != nil {
		t.Fatal(err)
	}
	for _, d := range k.Devices() {
		if err := d.SetInterval(d.Interval() / 60); err != nil { // an accelerated demo
			t.Fatal(err)
		}
	}
	msgs := runKit(t, k, 2*time.Minute)
	last := map[identity.ID]uint64{}
	lastTime := map[identity.ID]int64{}
	for _, msg := range msgs {
		r, err := reading.Verify(msg, k.Lookup)
		if err != nil {
			t.Fatal(err)
		}
		kind, _ := r.Kind()
		if !kind.Plausible(r.Value) {
			t.Errorf("implausible %s %s", kind, r.Value)
		}
		if r.Seq != last[r.Device]+1 {
			t.Errorf("device %s: seq %d after %d", r.Device, r.Seq, last[r.Device])
		}
		if r.Time < lastTime[r.Device] {
			t.Errorf("device %s: time went back", r.Device)
		}
		last[r.Device], lastTime[r.Device] = r.Seq, r.Time
	}
	for _, d := range k.Devices() {
		if last[d.ID()] != d.Seq() || d.Seq() == 0 {
			t.Errorf("%s: last seq %d, device says %d", d.Name(), last[d.ID()], d.Seq())
		}
	}
	if len(msgs) != 2*322 {
		t.Errorf("%d readings in 2 minutes at 60 times the rate, want %d", len(msgs), 2*322)
	}
}

func TestKitLookup(t *testing.T) {
	k := mustKit(t, 1)
	d, ok := k.Device("cgm")
	if !ok {
		t.Fatal("no cgm")
	}
	if key, err := k.Lookup(d.ID()); err != nil || !key.Equal(d.Public()) {
		t.Errorf("Lookup(cgm) = %v, %v", key, err)
	}
	if _, err := k.Lookup(identity.ID{1}); !errors.Is(err, reading.ErrUnknownDevice) {
		t.Errorf("Lookup(unknown): %v, want reading.ErrUnknownDevice", err)
	}
	if _, ok := k.Device("toaster"); ok {
		t.Error("found a toaster")
	}
	// A reading of another kit's device does not verify here.
	msgs, err := d.Measure(testStart, k.Patient())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reading.Verify(msgs[0], mustKit(t, 2).Lookup); !errors.Is(err, reading.ErrUnknownDevice) {
		t.Errorf("Verify with another kit: %v, want reading.ErrUnknownDevice", err)
	}
}

func TestNewKitErrors(t *testing.T) {
	p := mustPatient(t, 1, nil)
	a := testDevice(t, StandardSpecs()[0], 1)
	b := testDevice(t, StandardSpecs()[1], 1)
	sameKey, err := NewDevice(Spec{"other", StandardSpecs()[0].Kinds, time.Minute}, a.key, testPatientID())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		patient *Patient
		devices []*Device
		want    error
	}{
		{"no patient", nil, []*Device{a}, ErrNoPatient},
		{"nil device", p, []*Device{a, nil}, ErrBadDevice},
		{"same name", p, []*Device{a, b, testDevice(t, StandardSpecs()[0], 2)}, ErrBadDevice},
		{"same key", p, []*Device{a, sameKey}, ErrBadDevice},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewKit(tt.patient, tt.devices...); !errors.Is(err, tt.want) {
				t.Fatalf("NewKit: %v, want %v", err, tt.want)
			}
		})
	}
	k, err := NewKit(p, a, b)
	if err != nil {
		t.Fatal(err)
	}
	if err := k.SetPatient(nil); !errors.Is(err, ErrNoPatient) {
		t.Errorf("SetPatient(nil): %v", err)
	}
}

func TestKitNext(t *testing.T) {
	k := mustKit(t, 1)
	if !k.Next().IsZero() {
		t.Errorf("Next before any sample = %v", k.Next())
	}
	if _, err := k.Measure(testStart); err != nil {
		t.Fatal(err)
	}
	if want := testStart.Add(time.Minute); !k.Next().Equal(want) {
		t.Errorf("Next = %v, want %v", k.Next(), want)
	}
	if msgs, err := k.Measure(testStart.Add(30 * time.Second)); err != nil || len(msgs) != 0 {
		t.Errorf("Measure between samples: %d readings, %v", len(msgs), err)
	}
}

// TestKitConcurrent is for the race detector: sampling, commands and
// patient changes at once.
func TestKitConcurrent(t *testing.T) {
	k := mustKit(t, 1)
	var wg sync.WaitGroup
	wg.Go(func() { runKit(t, k, 5*time.Minute) })
	wg.Go(func() {
		for i := range 20 {
			d, _ := k.Device("pulse-oximeter")
			if err := d.SetInterval(time.Duration(i+1) * time.Second); err != nil {
				t.Error(err)
			}
			_ = k.Next()
		}
	})
	wg.Go(func() {
		for range 5 {
			if err := k.SetPatient(mustPatient(t, 2, nil)); err != nil {
				t.Error(err)
			}
		}
	})
	wg.Wait()
}

func TestLoadKit(t *testing.T) {
	pid := identity.ID{9}
	for _, tc := range []struct {
		o       LoadOptions
		devices int
	}{
		{LoadOptions{}, 6},
		{LoadOptions{Devices: 3}, 3},
		{LoadOptions{Devices: 10, Interval: 2 * time.Second, AbnormalFraction: 0.05, Speedup: 120}, 10},
	} {
		k, err := LoadKit(pid, 3, tc.o)
		if err != nil {
			t.Fatalf("%+v: %v", tc.o, err)
		}
		devs := k.Devices()
		if len(devs) != tc.devices {
			t.Errorf("%+v: %d devices, want %d", tc.o, len(devs), tc.devices)
		}
		for _, d := range devs {
			if tc.o.Interval > 0 && d.Interval() != tc.o.Interval {
				t.Errorf("%+v: %s samples every %v", tc.o, d.Name(), d.Interval())
			}
			if d.Patient() != pid {
				t.Errorf("%s worn by %s", d.Name(), d.Patient())
			}
		}
		// The seed picks the physiology, not the keys: two kits of one seed
		// have other keys, unless they are derived from it.
		again, _ := LoadKit(pid, 3, tc.o)
		derived := tc.o
		derived.Keys = DerivedKeys(3)
		d1, _ := LoadKit(pid, 3, derived)
		d2, _ := LoadKit(pid, 3, derived)
		for i, d := range again.Devices() {
			if d.ID() == devs[i].ID() {
				t.Errorf("%+v: device %d has the same random key in two kits", tc.o, i)
			}
			if d1.Devices()[i].ID() != d2.Devices()[i].ID() {
				t.Errorf("%+v: device %d: derived keys differ", tc.o, i)
			}
		}
	}
	if _, err := LoadKit(pid, 3, LoadOptions{AbnormalFraction: 0.9}); !errors.Is(err, ErrBadMix) {
		t.Errorf("an impossible abnormal fraction: %v", err)
	}
}

func TestFasterKeepsTheDutyCycle(t *testing.T) {
	m := DefaultMix()
	f := m.Faster(60)
	for k, r := range m {
		if got, want := f[k].DutyCycle(), r.DutyCycle(); got < want*0.99 || got > want*1.01 {
			t.Errorf("%s: duty cycle %.4f, want %.4f", k, got, want)
		}
		if f[k].PerHour != 60*r.PerHour {
			t.Errorf("%s: %v per hour, want 60 × %v", k, f[k].PerHour, r.PerHour)
		}
	}
	if s := m.Faster(1); s[EpisodeKinds()[0]] != m[EpisodeKinds()[0]] {
		t.Error("a speedup of 1 changed the mix")
	}
}

// A kit's keys live in its devices' key files: made once, read after.
func TestKeyFiles(t *testing.T) {
	dir := t.TempDir()
	pid := identity.ID{4}
	if _, err := LoadKit(pid, 1, LoadOptions{Keys: KeyFiles(dir, false)}); err == nil {
		t.Fatal("a kit without key files loaded")
	}
	a, err := LoadKit(pid, 1, LoadOptions{Keys: KeyFiles(dir, true)})
	if err != nil {
		t.Fatal(err)
	}
	b, err := LoadKit(pid, 2, LoadOptions{Keys: KeyFiles(dir, false)})
	if err != nil {
		t.Fatal(err)
	}
	for i, d := range a.Devices() {
		if d.ID() != b.Devices()[i].ID() {
			t.Errorf("device %s: another key when read back", d.Name())
		}
		if st, err := os.Stat(KeyFile(dir, d.Name())); err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("key file of %s: %v %v", d.Name(), st.Mode(), err)
		}
	}
}
