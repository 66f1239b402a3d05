package device

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/vitalchain/vitalchain/vital"
)

func TestNewProfileRanges(t *testing.T) {
	want := map[vital.Kind][2]string{
		vital.Glucose:         {"85", "110"},
		vital.HeartRate:       {"55", "80"},
		vital.SpO2:            {"95", "99"},
		vital.Systolic:        {"105", "130"},
		vital.Diastolic:       {"65", "85"},
		vital.RespiratoryRate: {"12", "18"},
		vital.BodyTemperature: {"36.3", "37.1"},
		vital.Steps:           {"4000", "12000"},
	}
	for seed := range uint64(200) {
		p := NewProfile(seed)
		if err := p.Validate(); err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		for k, r := range want {
			lo, _ := vital.ParseQuantity(r[0])
			hi, _ := vital.ParseQuantity(r[1])
			if b := p.Vitals[k].Baseline; b < lo || b > hi {
				t.Errorf("seed %d: %s baseline %s outside [%s, %s]", seed, k, b, lo, hi)
			}
		}
		if len(p.Meals) != 3 {
			t.Errorf("seed %d: %d meals", seed, len(p.Meals))
		}
		if p.Vitals[vital.Systolic].Peak != p.Vitals[vital.Diastolic].Peak {
			t.Errorf("seed %d: systolic and diastolic peak apart", seed)
		}
	}
}

func TestNewProfileDeterministic(t *testing.T) {
	a, b, c := NewProfile(7), NewProfile(7), NewProfile(8)
	if !reflect.DeepEqual(a, b) {
		t.Error("same seed, different profiles")
	}
	if reflect.DeepEqual(a, c) {
		t.Error("different seeds, same profile")
	}
}

func TestProfileValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(p *Profile)
	}{
		{"missing kind", func(p *Profile) { delete(p.Vitals, vital.SpO2) }},
		{"unknown kind", func(p *Profile) { p.Vitals[vital.Kind(99)] = p.Vitals[vital.SpO2] }},
		{"implausible baseline", func(p *Profile) { setPhys(p, vital.SpO2, func(ph *Physiology) { ph.Baseline = 101 * vital.Unit }) }},
		{"negative noise", func(p *Profile) { setPhys(p, vital.Glucose, func(ph *Physiology) { ph.Noise = -1 }) }},
		{"huge drift", func(p *Profile) { setPhys(p, vital.Glucose, func(ph *Physiology) { ph.Drift = 3000 * vital.Unit }) }},
		{"negative amplitude", func(p *Profile) { setPhys(p, vital.HeartRate, func(ph *Physiology) { ph.Amplitude = -1 }) }},
		{"peak past midnight", func(p *Profile) { setPhys(p, vital.HeartRate, func(ph *Physiology) { ph.Peak = 24 * time.Hour }) }},
		{"zero resolution", func(p *Profile) { setPhys(p, vital.Steps, func(ph *Physiology) { ph.Resolution = 0 }) }},
		{"meal at 25:00", func(p *Profile) { p.Meals[0].At = 25 * time.Hour }},
		{"negative meal", func(p *Profile) { p.Meals[1].Rise = -1 }},
		{"activity", func(p *Profile) { p.ActivityHR = 201 * vital.Unit }},
		{"offset", func(p *Profile) { p.UTCOffset = 15 * time.Hour }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := NewProfile(1)
			tt.change(&p)
			if err := p.Validate(); !errors.Is(err, ErrBadProfile) {
				t.Fatalf("Validate: %v, want ErrBadProfile", err)
			}
			if _, err := NewPatient(p, nil, 1); !errors.Is(err, ErrBadProfile) {
				t.Fatalf("NewPatient: %v, want ErrBadProfile", err)
			}
		})
	}
}

func setPhys(p *Profile, k vital.Kind, f func(*Physiology)) {
	ph := p.Vitals[k]
	f(&ph)
	p.Vitals[k] = ph
}

func TestPatientKeepsCopies(t *testing.T) {
	prof, mix := NewProfile(1), DefaultMix()
	p, err := NewPatient(prof, mix, 1)
	if err != nil {
		t.Fatal(err)
	}
	before := p.Value(vital.Glucose, testStart)
	setPhys(&prof, vital.Glucose, func(ph *Physiology) { ph.Baseline += 50 * vital.Unit })
	mix[Hyperglycaemia] = EpisodeRate{}
	if got := p.Value(vital.Glucose, testStart); got != before {
		t.Errorf("changing the profile after NewPatient changed a value: %s then %s", before, got)
	}
	if _, ok := p.Mix()[Hyperglycaemia]; !ok || p.Mix()[Hyperglycaemia].PerHour == 0 {
		t.Error("changing the mix after NewPatient changed the patient's")
	}
	got := p.Profile()
	setPhys(&got, vital.Glucose, func(ph *Physiology) { ph.Baseline = 0 })
	if p.Profile().Vitals[vital.Glucose].Baseline == 0 {
		t.Error("Profile returned the patient's own map")
	}
}
