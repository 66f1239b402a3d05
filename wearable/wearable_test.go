package wearable_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/vitalchain/vitalchain/command"
	"github.com/vitalchain/vitalchain/device"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/mqtt"
	"github.com/vitalchain/vitalchain/reading"
	"github.com/vitalchain/vitalchain/wearable"
)

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// A kit on an embedded broker: its readings arrive signed on their
// devices' topics; a command signed by the patient is applied once, and a
// forged, replayed, foreign or out-of-range one is refused.
func TestWearables(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b, err := mqtt.StartBroker(mqtt.BrokerConfig{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	patient, _ := identity.Generate(identity.RolePatient, identity.SuiteX25519)
	other, _ := identity.Generate(identity.RolePatient, identity.SuiteX25519)
	kit, err := device.LoadKit(patient.ID(), 1, device.LoadOptions{Interval: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	got := map[identity.ID]int{} // readings per device, verified
	var bad []string
	if err := b.Subscribe(mqtt.ReadingsFilter(patient.ID()), func(topic string, payload []byte) {
		_, dev, _, err := mqtt.ParseTopic(topic)
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			bad = append(bad, err.Error())
			return
		}
		key, err := kit.Lookup(dev)
		if err == nil {
			var s *reading.Signed
			if s, err = reading.Parse(payload); err == nil {
				_, err = s.Verify(key)
			}
		}
		if err != nil {
			bad = append(bad, topic+": "+err.Error())
			return
		}
		got[dev]++
	}); err != nil {
		t.Fatal(err)
	}
	var applied []*command.Command
	w, err := wearable.Connect(ctx, wearable.Config{Kit: kit, Broker: b.URL(), Patient: patient.Signing.Public(),
		OnCommand: func(_ *device.Device, c *command.Command) { mu.Lock(); applied = append(applied, c); mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	rctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); w.Run(rctx) }()
	defer func() { stop(); <-done }()

	devs := kit.Devices()
	waitFor(t, "two readings of every device", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, d := range devs {
			if got[d.ID()] < 2*len(d.Kinds()) {
				return false
			}
		}
		return true
	})
	mu.Lock()
	if len(bad) > 0 {
		t.Fatalf("readings that did not verify: %v", bad)
	}
	mu.Unlock()

	dev := devs[1]
	sign := func(by *identity.Identity, c command.Command) []byte {
		b, err := c.Sign(by.Signing)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	good := command.Command{Patient: patient.ID(), Device: dev.ID(), Command: command.SamplingInterval, Value: 5000, Height: 10}
	forged := sign(patient, good)
	forged[len(forged)-1] ^= 1
	foreign := good
	foreign.Patient = other.ID()
	tooShort := good
	tooShort.Height, tooShort.Value = 11, 1
	for i, msg := range [][]byte{
		sign(patient, good),
		sign(patient, good), // replayed
		forged,
		sign(other, foreign),
		sign(patient, tooShort),
		[]byte("not a command"),
	} {
		if err := b.Publish(mqtt.CommandsTopic(patient.ID(), dev.ID()), msg); err != nil {
			t.Fatalf("command %d: %v", i, err)
		}
	}
	waitFor(t, "every command handled", func() bool { st := w.Stats(); return st.CommandsApplied+st.CommandsRefused == 6 })
	if st := w.Stats(); st.CommandsApplied != 1 || st.CommandsRefused != 5 {
		t.Fatalf("stats %+v: want 1 command applied and 5 refused", st)
	}
	if dev.Interval() != 5*time.Second {
		t.Fatalf("interval %v after the command, want 5s", dev.Interval())
	}
	mu.Lock()
	if len(applied) != 1 || applied[0].Provider != good.Provider || applied[0].Value != 5000 {
		t.Fatalf("OnCommand saw %+v", applied)
	}
	mu.Unlock()
	if st := w.Stats(); st.Published == 0 || st.Measured < st.Published {
		t.Fatalf("stats %+v: published readings must be measured ones", st)
	}
}

func TestConnectNeedsAKitAndABroker(t *testing.T) {
	if _, err := wearable.Connect(context.Background(), wearable.Config{}); err == nil {
		t.Fatal("Connect without a kit succeeded")
	}
}

// Across reboots, kept in its state directory: the wearables number their
// readings above every earlier boot's, and a command applied before the
// reboot is refused after it (a captured command does not replay).
func TestStateSurvivesReboots(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b, err := mqtt.StartBroker(mqtt.BrokerConfig{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	patient, _ := identity.Generate(identity.RolePatient, identity.SuiteX25519)
	keys := t.TempDir()
	state := t.TempDir()
	var captured []byte
	var lastSeq uint64
	for boot := uint32(1); boot <= 3; boot++ {
		kit, err := device.LoadKit(patient.ID(), 1, device.LoadOptions{Keys: device.KeyFiles(keys, true)})
		if err != nil {
			t.Fatal(err)
		}
		w, err := wearable.Connect(ctx, wearable.Config{Kit: kit, Broker: b.URL(), Patient: patient.Signing.Public(), State: state})
		if err != nil {
			t.Fatal(err)
		}
		if w.Boot() != boot {
			t.Fatalf("boot %d, want %d", w.Boot(), boot)
		}
		samples, err := kit.Measure(time.Now())
		if err != nil || len(samples) == 0 {
			t.Fatalf("measure: %v", err)
		}
		s, err := reading.Parse(samples[0].Msg)
		if err != nil {
			t.Fatal(err)
		}
		r, err := s.Verify(kit.Devices()[0].Public())
		if err != nil {
			t.Fatal(err)
		}
		if r.Seq <= lastSeq || r.Seq>>32 != uint64(boot) {
			t.Fatalf("boot %d: first reading numbered %#x, after %#x", boot, r.Seq, lastSeq)
		}
		lastSeq = r.Seq
		dev := kit.Devices()[0]
		topic := mqtt.CommandsTopic(patient.ID(), dev.ID())
		before := w.Stats()
		if boot == 1 {
			captured, _ = command.Command{Patient: patient.ID(), Device: dev.ID(), Command: command.SamplingInterval, Value: 7000, Height: 5}.Sign(patient.Signing)
		}
		if err := b.Publish(topic, captured); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the command handled", func() bool {
			st := w.Stats()
			return st.CommandsApplied+st.CommandsRefused > before.CommandsApplied+before.CommandsRefused
		})
		st := w.Stats()
		if boot == 1 && st.CommandsApplied != 1 {
			t.Fatalf("boot 1: the command was not applied: %+v", st)
		}
		if boot > 1 && st.CommandsRefused != 1 {
			t.Fatalf("boot %d: the command captured at boot 1 was not refused: %+v", boot, st)
		}
		w.Close()
	}
}
