package device

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/vitalchain/vitalchain/command"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/reading"
	"github.com/vitalchain/vitalchain/vital"
)

// Errors about devices and kits, each wrapped with detail.
var (
	// ErrBadInterval: a sampling interval outside [MinInterval, MaxInterval].
	ErrBadInterval = errors.New("sampling interval out of range")
	// ErrBadDevice: a device without a name, a patient or vital signs, or
	// measuring an unknown vital sign or one twice; or a kit with two
	// devices of the same name or key.
	ErrBadDevice = errors.New("bad device")
	// ErrNoPatient: Measure was given no Patient, or NewKit none.
	ErrNoPatient = errors.New("no patient")
	// ErrSeqRewind: SetSeq would make sequence numbers go back.
	ErrSeqRewind = errors.New("sequence number would go back")
)

// The range of sampling intervals SetInterval accepts: the range a device
// command may set.
const (
	MinInterval = command.MinSamplingInterval
	MaxInterval = command.MaxSamplingInterval
)

// Spec describes a kind of wearable: its name, the vital signs it measures
// at each sample, and its sampling interval.
type Spec struct {
	Name     string
	Kinds    []vital.Kind
	Interval time.Duration
}

// StandardSpecs returns the six wearables of DefaultKit with real-life
// sampling intervals: a continuous glucose monitor ("cgm", glucose every 5
// minutes), a pulse oximeter ("pulse-oximeter", heart rate and SpO2 every
// minute), an ambulatory blood-pressure cuff ("bp-cuff", systolic and
// diastolic every 30 minutes), a skin thermometer patch ("thermometer",
// every 10 minutes), an activity tracker ("activity-tracker", steps and heart
// rate every minute) and a respiratory band ("respiratory-band", every
// minute). That is 322 readings an hour.
func StandardSpecs() []Spec {
	return []Spec{
		{"cgm", []vital.Kind{vital.Glucose}, 5 * time.Minute},
		{"pulse-oximeter", []vital.Kind{vital.HeartRate, vital.SpO2}, time.Minute},
		{"bp-cuff", []vital.Kind{vital.Systolic, vital.Diastolic}, 30 * time.Minute},
		{"thermometer", []vital.Kind{vital.BodyTemperature}, 10 * time.Minute},
		{"activity-tracker", []vital.Kind{vital.Steps, vital.HeartRate}, time.Minute},
		{"respiratory-band", []vital.Kind{vital.RespiratoryRate}, time.Minute},
	}
}

// Validate checks s: a name, at least one vital sign, every one known and
// none twice (ErrBadDevice), and an interval in range (ErrBadInterval).
func (s Spec) Validate() error {
	if s.Name == "" {
		return fmt.Errorf("device: %w: no name", ErrBadDevice)
	}
	if len(s.Kinds) == 0 {
		return fmt.Errorf("device: %w: %s measures nothing", ErrBadDevice, s.Name)
	}
	for i, k := range s.Kinds {
		if !k.Valid() {
			return fmt.Errorf("device: %w: %s measures %w %s", ErrBadDevice, s.Name, vital.ErrUnknownKind, k)
		}
		if slices.Contains(s.Kinds[:i], k) {
			return fmt.Errorf("device: %w: %s measures %s twice", ErrBadDevice, s.Name, k)
		}
	}
	return checkInterval(s.Interval)
}

func checkInterval(d time.Duration) error {
	if d < MinInterval || d > MaxInterval {
		return fmt.Errorf("device: %w: %v not in [%v, %v]", ErrBadInterval, d, MinInterval, MaxInterval)
	}
	return nil
}

// DeriveKey returns the device key of the device named name in the kit
// seeded with seed: the Ed25519 key whose seed is SHA-256 of
// "vitalchain/device/key", a zero byte, seed (8 bytes, big-endian) and
// name. Anyone who knows seed and name can compute it: use it only for
// simulations, tests and demos.
func DeriveKey(seed uint64, name string) (*identity.SigningKey, error) {
	h := sha256.New()
	h.Write([]byte("vitalchain/device/key\x00"))
	h.Write(binary.BigEndian.AppendUint64(nil, seed))
	h.Write([]byte(name))
	return identity.NewSigningKey(identity.RoleDevice, h.Sum(nil))
}

// Device is one simulated wearable. It is safe for concurrent use: a
// sampling loop may call Due and Measure while a command handler calls
// SetInterval.
type Device struct {
	name    string
	key     *identity.SigningKey
	id      identity.ID
	patient identity.ID
	kinds   []vital.Kind

	mu       sync.Mutex
	interval time.Duration
	seq      uint64    // the last sequence number used; 0 before the first reading
	next     time.Time // when the next sample is due; zero: now
	last     time.Time // when the last sample was taken
	sampled  bool      // last is set
}

// NewDevice returns the device of spec s, with key (role device), worn by
// patient. Errors wrap ErrBadDevice, ErrBadInterval, identity.ErrBadKey (nil
// key) or identity.ErrWrongRole.
func NewDevice(s Spec, key *identity.SigningKey, patient identity.ID) (*Device, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	if key == nil {
		return nil, fmt.Errorf("device: %s: %w: nil key", s.Name, identity.ErrBadKey)
	}
	if err := key.Role().Want(identity.RoleDevice); err != nil {
		return nil, fmt.Errorf("device: %s: %w", s.Name, err)
	}
	if patient == (identity.ID{}) {
		return nil, fmt.Errorf("device: %w: %s has no patient", ErrBadDevice, s.Name)
	}
	return &Device{
		name:     s.Name,
		key:      key,
		id:       key.Public().ID(),
		patient:  patient,
		kinds:    slices.Clone(s.Kinds),
		interval: s.Interval,
	}, nil
}

// Name returns d's name.
func (d *Device) Name() string { return d.name }

// ID returns d's actor ID, the ID of its key.
func (d *Device) ID() identity.ID { return d.id }

// Public returns d's verifying key, which the gateway registers.
func (d *Device) Public() identity.VerifyingKey { return d.key.Public() }

// Identity returns d's identity, its key included: what the patient
// registers (ledger.NewRegister proves the key's possession with it).
func (d *Device) Identity() *identity.Identity { return &identity.Identity{Signing: d.key} }

// Patient returns the ID of the patient wearing d.
func (d *Device) Patient() identity.ID { return d.patient }

// Kinds returns the vital signs d measures, in the order of its readings.
func (d *Device) Kinds() []vital.Kind { return slices.Clone(d.kinds) }

// Interval returns d's sampling interval.
func (d *Device) Interval() time.Duration {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.interval
}

// SetInterval changes d's sampling interval, as a provider's device command
// does. The next sample is due one new interval after the last one (so at
// once if that is past). An interval outside [MinInterval, MaxInterval] is
// refused with ErrBadInterval.
func (d *Device) SetInterval(iv time.Duration) error {
	if err := checkInterval(iv); err != nil {
		return fmt.Errorf("%w (device %s)", err, d.name)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.interval = iv
	if d.sampled {
		d.next = d.last.Add(iv)
	}
	return nil
}

// Seq returns the last sequence number d used, 0 before its first reading.
func (d *Device) Seq() uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.seq
}

// SetSeq makes d continue after sequence number last, as a device restarted
// from a persisted counter does. It refuses to go back (ErrSeqRewind).
func (d *Device) SetSeq(last uint64) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if last < d.seq {
		return fmt.Errorf("device: %s: %w: from %d to %d", d.name, ErrSeqRewind, d.seq, last)
	}
	d.seq = last
	return nil
}

// Next returns when d's next sample is due; the zero time before the first.
func (d *Device) Next() time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.next
}

// Due reports whether a sample is due at now: always before the first, and
// then once per interval.
func (d *Device) Due(now time.Time) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return !now.Before(d.next)
}

// Measure samples patient at now: one reading of each vital sign d
// measures, all timed now (to the millisecond), each signed with d's key
// with the next sequence number. It measures whether or not a sample is
// due; if one is, the next is due one interval after the one due (so that
// a caller that samples at Next keeps an exact rhythm), or one interval
// after now if the caller fell a whole interval behind. On error, d's
// sequence number and schedule are unchanged. Errors wrap ErrNoPatient or
// the errors of reading.Sign (reading.ErrImplausible for a time before
// 1970).
func (d *Device) Measure(now time.Time, patient *Patient) ([][]byte, error) {
	if patient == nil {
		return nil, fmt.Errorf("device: %s: %w", d.name, ErrNoPatient)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([][]byte, len(d.kinds))
	for i, k := range d.kinds {
		r := reading.New(d.patient, d.id, d.seq+uint64(i)+1, now, k, patient.Value(k, now))
		msg, err := reading.Sign(r, d.key)
		if err != nil {
			return nil, fmt.Errorf("device: %s: %w", d.name, err)
		}
		out[i] = msg
	}
	d.seq += uint64(len(d.kinds))
	d.last, d.sampled = now, true
	if !now.Before(d.next) {
		if d.next.IsZero() {
			d.next = now
		}
		d.next = d.next.Add(d.interval)
		if !d.next.After(now) {
			d.next = now.Add(d.interval)
		}
	}
	return out, nil
}
