// Package wearable is what a patient's wearables do on the wire: they
// connect to the patient's gateway over MQTT, publish their signed
// readings when due, and receive, verify and apply the device commands the
// gateway relays (a provider's request the ledger committed), each device
// keeping a command latch so that a replayed or older command is refused.
//
// The readings come from a device.Kit (the simulated wearables); the wire
// protocol is in docs/device-protocol.md. The package links nothing of the
// gateway, the cloud or the ledger: a device knows its patient's public key
// and its broker, nothing more.
package wearable

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vitalchain/vitalchain/codec"
	"github.com/vitalchain/vitalchain/command"
	"github.com/vitalchain/vitalchain/device"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/mqtt"
	"github.com/vitalchain/vitalchain/reading"
)

// ErrNoKit is a Config without a kit or broker.
var ErrNoKit = errors.New("wearable: a kit and a broker are required")

// Config configures Connect.
type Config struct {
	Kit *device.Kit
	// Broker is the gateway's MQTT broker: mqtts://host:port. Each device
	// connects on its own, authenticated by its key (its client ID is its
	// ID), and accepts only a server that shows its patient's key
	// (mqtt.ClientTLS). mqtt:// is for brokers that authenticate nobody.
	Broker string
	// TLS, if set, gives each device's TLS configuration instead, for an
	// external broker (Mosquitto) that authenticates devices by client
	// certificates of its own CA and shows a certificate of that CA: the
	// device then trusts the CA, not the patient's key.
	TLS func(device identity.ID) (*tls.Config, error)
	// Patient is the patient's verifying key, whose signature every command
	// must carry. The zero key: the devices take no commands.
	Patient identity.VerifyingKey
	// OnCommand, if set, is called after a command was applied.
	OnCommand func(dev *device.Device, c *command.Command)
	// State is the directory where the wearables keep what must survive a
	// reboot (the file wearables.state): their boot count, which numbers
	// their readings, and their command latches. Empty: kept in memory, as
	// for a kit that boots once.
	State string
	Log   *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Stats counts what the wearables did.
type Stats struct {
	Measured        uint64 // readings signed by the devices
	Published       uint64 // readings published and acknowledged by the broker
	Busy            uint64 // publishes the gateway could not take, sent again
	CommandsApplied uint64
	CommandsRefused uint64 // commands that did not verify, were stale or not applicable
}

// Wearables are one patient's kit on the wire.
type Wearables struct {
	cfg     Config
	patient identity.ID
	conns   map[identity.ID]*mqtt.Client // by device

	mu      sync.Mutex // one command at a time, and the latches and state
	latches map[identity.ID]*command.Latch
	state   state

	measured, published, applied, refused, busy atomic.Uint64
}

// Connect connects the kit's wearables to their broker and, if cfg.Patient
// is set, subscribes them to their commands. It returns once connected, or
// when ctx ends.
func Connect(ctx context.Context, cfg Config) (*Wearables, error) {
	if cfg.Kit == nil || cfg.Broker == "" {
		return nil, ErrNoKit
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	devs := cfg.Kit.Devices()
	if len(devs) == 0 {
		return nil, fmt.Errorf("%w: the kit has no device", ErrNoKit)
	}
	w := &Wearables{cfg: cfg, patient: devs[0].Patient(), latches: map[identity.ID]*command.Latch{}}
	if err := w.boot(devs); err != nil {
		return nil, err
	}
	w.conns = map[identity.ID]*mqtt.Client{}
	for _, d := range devs {
		var tc *tls.Config
		var err error
		if cfg.TLS != nil {
			tc, err = cfg.TLS(d.ID())
		} else {
			tc, err = mqtt.ClientTLS(d.Identity().Signing, w.patient)
		}
		if err != nil {
			w.Close()
			return nil, err
		}
		mc := mqtt.ClientConfig{Broker: cfg.Broker, ClientID: d.ID().Hex(), TLS: tc, Logger: cfg.Log}
		if !cfg.Patient.IsZero() {
			mc.Subscriptions = []string{mqtt.CommandsTopic(w.patient, d.ID())}
			mc.Handler = w.handle
			l := command.LatchAt(w.state.Latches[d.ID()])
			w.latches[d.ID()] = &l
		}
		c, err := mqtt.Connect(ctx, mc)
		if err != nil {
			w.Close()
			return nil, fmt.Errorf("wearable %s of patient %s: %w", d.Name(), w.patient, err)
		}
		w.conns[d.ID()] = c
	}
	return w, nil
}

// handle verifies and applies one command message.
func (w *Wearables) handle(topic string, payload []byte) {
	err := w.apply(topic, payload)
	if err != nil {
		w.refused.Add(1)
		w.cfg.Log.Warn("device refused a command", "topic", topic, "err", err)
	}
}

func (w *Wearables) apply(topic string, payload []byte) error {
	_, devID, _, err := mqtt.ParseTopic(topic)
	if err != nil {
		return err
	}
	c, err := command.Parse(payload, w.cfg.Patient, devID)
	if err != nil {
		return err
	}
	var dev *device.Device
	for _, d := range w.cfg.Kit.Devices() {
		if d.ID() == devID {
			dev = d
		}
	}
	if dev == nil {
		return fmt.Errorf("no device %s in the kit", devID)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	l := w.latches[devID]
	was := *l
	if err := l.Accept(c); err != nil {
		return err
	}
	// Kept before it is applied: a command is applied at most once, even
	// across a reboot.
	w.state.Latches[devID] = l.Height()
	if err := w.save(); err != nil {
		*l = was
		w.state.Latches[devID] = was.Height()
		return fmt.Errorf("keeping the command latch: %w", err)
	}
	switch c.Command {
	case command.SamplingInterval:
		if err := dev.SetInterval(time.Duration(c.Value) * time.Millisecond); err != nil {
			return err
		}
	}
	w.applied.Add(1)
	w.cfg.Log.Info("device command applied", "device", dev.Name(), "command", c.Command, "value", c.Value, "by", c.Provider)
	if w.cfg.OnCommand != nil {
		w.cfg.OnCommand(dev, c)
	}
	return nil
}

// Run samples the kit's devices when due and publishes their readings,
// until ctx ends. A failed publish is logged and counted out; the device
// goes on with its next sample, as a real wearable would.
func (w *Wearables) Run(ctx context.Context) {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		samples, err := w.cfg.Kit.Measure(w.cfg.Now())
		if err != nil {
			w.cfg.Log.Warn("measure", "err", err)
		}
		w.measured.Add(uint64(len(samples)))
		for _, s := range samples {
			if !w.publish(ctx, s) {
				return
			}
		}
		t.Reset(max(0, w.cfg.Kit.Next().Sub(w.cfg.Now())))
	}
}

// publish publishes one reading; one the gateway could not take (ErrBusy)
// is published again, with backoff, until it is taken or ctx ends. Any
// other failure is logged and the reading given up, as a device with no
// more room would. It reports whether ctx is still live.
func (w *Wearables) publish(ctx context.Context, s device.Sample) bool {
	backoff := 50 * time.Millisecond
	for {
		err := w.conns[s.Device].Publish(ctx, mqtt.ReadingsTopic(w.patient, s.Device), s.Msg)
		switch {
		case err == nil:
			w.published.Add(1)
			return true
		case ctx.Err() != nil:
			return false
		case errors.Is(err, mqtt.ErrBusy):
			w.busy.Add(1)
			select {
			case <-ctx.Done():
				return false
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 2*time.Second)
		default:
			w.cfg.Log.Warn("publish", "device", s.Device, "err", err)
			return true
		}
	}
}

// Stats returns the counters.
func (w *Wearables) Stats() Stats {
	return Stats{Busy: w.busy.Load(), Measured: w.measured.Load(), Published: w.published.Load(), CommandsApplied: w.applied.Load(), CommandsRefused: w.refused.Load()}
}

// Close disconnects the wearables.
func (w *Wearables) Close() error {
	var errs []error
	for _, c := range w.conns {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}

// state is what the wearables keep across reboots.
type state struct {
	Boot    uint32                `cbor:"1,keyasint"` // boots so far
	Latches map[identity.ID]int64 `cbor:"2,keyasint"` // each device's last command's height
}

const stateFile = "wearables.state"

// boot counts this boot (kept before any reading is numbered with it) and
// makes the devices number their readings from it.
func (w *Wearables) boot(devs []*device.Device) error {
	w.state = state{Latches: map[identity.ID]int64{}}
	if w.cfg.State != "" {
		b, err := os.ReadFile(filepath.Join(w.cfg.State, stateFile))
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return fmt.Errorf("wearables: state: %w", err)
		default:
			if err := codec.UnmarshalLimit(b, 1<<20, &w.state); err != nil {
				return fmt.Errorf("wearables: state %s: %w", filepath.Join(w.cfg.State, stateFile), err)
			}
			if w.state.Latches == nil {
				w.state.Latches = map[identity.ID]int64{}
			}
		}
	}
	if w.state.Boot == ^uint32(0) {
		return errors.New("wearables: boot count exhausted")
	}
	w.state.Boot++
	if err := w.save(); err != nil {
		return fmt.Errorf("wearables: state: %w", err)
	}
	for _, d := range devs {
		if err := d.SetSeq(reading.SeqOf(w.state.Boot, 0)); err != nil {
			return fmt.Errorf("wearables: %w", err)
		}
	}
	return nil
}

// save writes the state durably (nothing without a State directory).
func (w *Wearables) save() error {
	if w.cfg.State == "" {
		return nil
	}
	b, err := codec.Marshal(&w.state)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(w.cfg.State, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(w.cfg.State, stateFile+".*")
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), filepath.Join(w.cfg.State, stateFile))
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

// Boot returns the wearables' boot count.
func (w *Wearables) Boot() uint32 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.state.Boot
}
