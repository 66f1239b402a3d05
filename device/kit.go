package device

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/reading"
	"github.com/vitalchain/vitalchain/vital"
)

// Kit is a patient and the wearables measuring them. It is safe for
// concurrent use.
type Kit struct {
	devices []*Device

	mu      sync.Mutex
	patient *Patient
}

// NewKit returns the kit of devices measuring patient. The devices must
// have distinct names and keys (ErrBadDevice); patient must not be nil
// (ErrNoPatient).
func NewKit(patient *Patient, devices ...*Device) (*Kit, error) {
	if patient == nil {
		return nil, fmt.Errorf("device: kit: %w", ErrNoPatient)
	}
	for i, d := range devices {
		if d == nil {
			return nil, fmt.Errorf("device: kit: %w: device %d is nil", ErrBadDevice, i)
		}
		for _, e := range devices[:i] {
			if e.name == d.name || e.id == d.id {
				return nil, fmt.Errorf("device: kit: %w: %s and %s have the same name or key", ErrBadDevice, e.name, d.name)
			}
		}
	}
	return &Kit{devices: slices.Clone(devices), patient: patient}, nil
}

// DefaultKit returns the kit of the patient patientID with the devices of
// StandardSpecs, keys from DeriveKey(seed, name), and the patient
// NewPatient(NewProfile(seed), DefaultMix(), seed). The same arguments
// give the same kit, and so the same signed readings byte for byte.
func DefaultKit(patientID identity.ID, seed uint64) (*Kit, error) {
	p, err := NewPatient(NewProfile(seed), DefaultMix(), seed)
	if err != nil {
		return nil, err
	}
	var devs []*Device
	for _, s := range StandardSpecs() {
		d, err := derivedDevice(s, seed, patientID)
		if err != nil {
			return nil, err
		}
		devs = append(devs, d)
	}
	return NewKit(p, devs...)
}

// derivedDevice returns the device of spec s whose key derives from seed.
func derivedDevice(s Spec, seed uint64, patientID identity.ID) (*Device, error) {
	key, err := DeriveKey(seed, s.Name)
	if err != nil {
		return nil, err
	}
	return NewDevice(s, key, patientID)
}

// Patient returns the patient k measures.
func (k *Kit) Patient() *Patient {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.patient
}

// SetPatient replaces the patient k measures, for instance by one with
// another EpisodeMix. The devices, their keys and counters stay.
func (k *Kit) SetPatient(p *Patient) error {
	if p == nil {
		return fmt.Errorf("device: kit: %w", ErrNoPatient)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.patient = p
	return nil
}

// Devices returns k's devices.
func (k *Kit) Devices() []*Device { return slices.Clone(k.devices) }

// Device returns k's device with the given name.
func (k *Kit) Device(name string) (*Device, bool) {
	for _, d := range k.devices {
		if d.name == name {
			return d, true
		}
	}
	return nil, false
}

// Lookup returns the verifying key of k's device id, or an error wrapping
// reading.ErrUnknownDevice. It has the signature reading.Verify wants.
func (k *Kit) Lookup(id identity.ID) (identity.VerifyingKey, error) {
	for _, d := range k.devices {
		if d.id == id {
			return d.Public(), nil
		}
	}
	return identity.VerifyingKey{}, fmt.Errorf("device: kit: %w %s", reading.ErrUnknownDevice, id)
}

// Next returns when the next sample of any of k's devices is due.
func (k *Kit) Next() time.Time {
	var next time.Time
	for i, d := range k.devices {
		if n := d.Next(); i == 0 || n.Before(next) {
			next = n
		}
	}
	return next
}

// Sample is a signed reading and the device that signed it (which a
// transport needs to address it, for example in an MQTT topic).
type Sample struct {
	Device identity.ID
	Msg    []byte
}

// Measure samples every device of k that is due at now, in the order of
// Devices, and returns their signed readings. On error it returns the
// readings of the devices sampled before, whose sequence numbers are used.
func (k *Kit) Measure(now time.Time) ([]Sample, error) {
	p := k.Patient()
	var out []Sample
	for _, d := range k.devices {
		if !d.Due(now) {
			continue
		}
		msgs, err := d.Measure(now, p)
		if err != nil {
			return out, err
		}
		for _, m := range msgs {
			out = append(out, Sample{Device: d.ID(), Msg: m})
		}
	}
	return out, nil
}

// LoadOptions shape a simulated kit for a load: how many devices, how
// often they sample, what share of their readings is abnormal, and how
// much faster than life the episodes play.
type LoadOptions struct {
	// Devices: 0 or 6 gives the standard six; fewer keeps the first ones;
	// more adds pulse-oximeters (heart rate and SpO2) up to that number.
	Devices int
	// Interval, if positive, is every device's sampling interval.
	Interval time.Duration
	// AbnormalFraction of the readings, over a long run (see
	// MixForAbnormalFraction, computed for the kit's devices and intervals).
	AbnormalFraction float64
	// Speedup plays the episodes that many times faster, at the same share
	// of abnormal readings (EpisodeMix.Faster); at most 1 leaves them be.
	Speedup float64
	// Keys gives each device's key, by device name: a real kit's keys come
	// from its devices' key files. Nil: fresh random keys (GenerateKeys).
	// DerivedKeys gives DeriveKey's, for reproducible tests only.
	Keys func(name string) (*identity.SigningKey, error)
}

// GenerateKeys is a LoadOptions.Keys that makes a fresh random key for
// each device.
func GenerateKeys(string) (*identity.SigningKey, error) {
	return identity.GenerateSigningKey(identity.RoleDevice)
}

// DerivedKeys returns a LoadOptions.Keys of the keys DeriveKey derives from
// seed: anyone who knows the seed knows them.
func DerivedKeys(seed uint64) func(string) (*identity.SigningKey, error) {
	return func(name string) (*identity.SigningKey, error) { return DeriveKey(seed, name) }
}

// LoadSpecs returns the specs of a kit of n devices (0: the standard six;
// fewer: the first ones; more: pulse-oximeters, heart rate and SpO2, added).
func LoadSpecs(n int) []Spec {
	specs := StandardSpecs()
	for i := len(specs); i < n; i++ {
		specs = append(specs, Spec{Name: fmt.Sprintf("pulse-oximeter-%d", i), Kinds: []vital.Kind{vital.HeartRate, vital.SpO2}, Interval: time.Second})
	}
	if n > 0 && n < len(specs) {
		specs = specs[:n]
	}
	return specs
}

// LoadKit returns the kit of LoadSpecs(o.Devices) worn by patientID, with
// o.Keys's keys, measuring the patient of seed (its physiology, rhythm and
// episodes: NewProfile(seed)), shaped by o.
func LoadKit(patientID identity.ID, seed uint64, o LoadOptions) (*Kit, error) {
	if o.Keys == nil {
		o.Keys = GenerateKeys
	}
	base, err := NewPatient(NewProfile(seed), DefaultMix(), seed)
	if err != nil {
		return nil, err
	}
	var devs []*Device
	for _, spec := range LoadSpecs(o.Devices) {
		key, err := o.Keys(spec.Name)
		if err != nil {
			return nil, fmt.Errorf("device: key of %s: %w", spec.Name, err)
		}
		d, err := NewDevice(spec, key, patientID)
		if err != nil {
			return nil, err
		}
		devs = append(devs, d)
	}
	if o.Interval > 0 {
		for _, d := range devs {
			if err := d.SetInterval(o.Interval); err != nil {
				return nil, err
			}
		}
	}
	kit, err := NewKit(base, devs...)
	if err != nil {
		return nil, err
	}
	mix, err := kit.MixForAbnormalFraction(o.AbnormalFraction)
	if err != nil {
		return nil, err
	}
	p, err := NewPatient(base.Profile(), mix.Faster(o.Speedup), seed)
	if err != nil {
		return nil, err
	}
	return kit, kit.SetPatient(p)
}

// KeyFile is the path of the key file of the device named name in dir.
func KeyFile(dir, name string) string { return filepath.Join(dir, name+".key") }

// KeyFiles is a LoadOptions.Keys that reads each device's key from its key
// file in dir (KeyFile), or, if create is set and the file does not exist,
// makes a random key and writes it there (mode 0600).
func KeyFiles(dir string, create bool) func(string) (*identity.SigningKey, error) {
	return func(name string) (*identity.SigningKey, error) {
		path := KeyFile(dir, name)
		id, err := identity.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) && create {
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return nil, err
			}
			if id, err = identity.Generate(identity.RoleDevice, identity.SuiteX25519); err != nil {
				return nil, err
			}
			err = identity.WriteFile(path, id)
		}
		if err != nil {
			return nil, err
		}
		if err := id.Role().Want(identity.RoleDevice); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return id.Signing, nil
	}
}
