package reading

import (
	"errors"
	"testing"

	"github.com/vitalchain/vitalchain/codec"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/vital"
)

func TestKind(t *testing.T) {
	for _, k := range vital.Kinds() {
		r := New(testPatient(), identity.ID{1}, 1, testTime, k, 0)
		got, err := r.Kind()
		if err != nil || got != k {
			t.Errorf("%s: Kind() = %v, %v", k, got, err)
		}
	}
	for _, code := range []string{"", "glucose", "2339-1", "8867-4 "} {
		r := Reading{Code: code}
		if _, err := r.Kind(); !errors.Is(err, vital.ErrUnknownKind) {
			t.Errorf("Kind(%q) error = %v, want ErrUnknownKind", code, err)
		}
	}
}

func TestValidate(t *testing.T) {
	good := testReading(identity.ID{1})
	tests := []struct {
		name   string
		change func(*Reading)
		want   error
	}{
		{"ok", func(*Reading) {}, nil},
		{"version 0", func(r *Reading) { r.Version = 0 }, codec.ErrUnknownVersion},
		{"version 2", func(r *Reading) { r.Version = 2 }, codec.ErrUnknownVersion},
		{"no patient", func(r *Reading) { r.Patient = identity.ID{} }, codec.ErrMissingField},
		{"no device", func(r *Reading) { r.Device = identity.ID{} }, codec.ErrMissingField},
		{"seq 0", func(r *Reading) { r.Seq = 0 }, codec.ErrMissingField},
		{"no time", func(r *Reading) { r.Time = 0 }, codec.ErrMissingField},
		{"no code", func(r *Reading) { r.Code = "" }, codec.ErrMissingField},
		{"no unit", func(r *Reading) { r.Unit = "" }, codec.ErrMissingField},
		{"negative time", func(r *Reading) { r.Time = -1 }, ErrImplausible},
		{"short name as code", func(r *Reading) { r.Code = "glucose" }, vital.ErrUnknownKind},
		{"unknown code", func(r *Reading) { r.Code = "1234-5" }, vital.ErrUnknownKind},
		{"wrong unit", func(r *Reading) { r.Unit = "mmol/L" }, ErrWrongUnit},
		{"unit of another kind", func(r *Reading) { r.Unit = "/min" }, ErrWrongUnit},
		{"too high", func(r *Reading) { r.Value = 2000*vital.Unit + 1 }, ErrImplausible},
		{"negative", func(r *Reading) { r.Value = -1 }, ErrImplausible},
		{"max", func(r *Reading) { r.Value = 2000 * vital.Unit }, nil},
		{"zero", func(r *Reading) { r.Value = 0 }, nil},
		{"temperature too low", func(r *Reading) {
			*r = New(r.Patient, r.Device, 1, testTime, vital.BodyTemperature, 19*vital.Unit)
		}, ErrImplausible},
		{"spo2 over 100", func(r *Reading) {
			*r = New(r.Patient, r.Device, 1, testTime, vital.SpO2, 100*vital.Unit+1)
		}, ErrImplausible},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := good
			tt.change(&r)
			err := r.Validate()
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Validate() = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestEveryKindValid(t *testing.T) {
	for _, k := range vital.Kinds() {
		info := k.Info()
		for _, v := range []vital.Quantity{info.Min, info.Max, (info.Min + info.Max) / 2} {
			r := New(testPatient(), identity.ID{1}, 1, testTime, k, v)
			if err := r.Validate(); err != nil {
				t.Errorf("%s %s: %v", k, v, err)
			}
		}
	}
}

func TestTimestamp(t *testing.T) {
	r := testReading(identity.ID{1})
	if !r.Timestamp().Equal(testTime) {
		t.Errorf("Timestamp() = %v, want %v", r.Timestamp(), testTime)
	}
}

func TestSeqStep(t *testing.T) {
	for _, tc := range []struct {
		last, seq uint64
		want      bool
	}{
		{0, SeqOf(1, 1), true},
		{SeqOf(1, 5), SeqOf(1, 6), true},
		{SeqOf(1, 5), SeqOf(1, 5), false},             // a replay
		{SeqOf(1, 5), SeqOf(1, 4), false},             // older
		{SeqOf(1, 5), SeqOf(1, 5+MaxSeqStep), true},   // the widest step
		{SeqOf(1, 5), SeqOf(1, 6+MaxSeqStep), false},  // beyond it
		{SeqOf(1, 5), SeqOf(2, 1), true},              // a reboot
		{SeqOf(1, 5), SeqOf(1+MaxBootStep, 1), true},  // boots skipped
		{SeqOf(1, 5), SeqOf(2+MaxBootStep, 1), false}, // too many
		{SeqOf(1, 5), SeqOf(2, MaxSeqStep+1), false},  // a new boot far along
		{0, ^uint64(0), false},                        // the poison reading
		{SeqOf(3, 9), SeqOf(2, 1<<31), false},         // an earlier boot
		{0, 7, true},                                  // boot 0, as an old device counted
	} {
		if got := SeqStep(tc.last, tc.seq); got != tc.want {
			t.Errorf("SeqStep(%#x, %#x) = %v, want %v", tc.last, tc.seq, got, tc.want)
		}
	}
}
