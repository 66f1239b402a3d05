package outsider

import (
	"slices"
	"testing"

	"github.com/vitalchain/vitalchain/client"
	"github.com/vitalchain/vitalchain/codec"
	"github.com/vitalchain/vitalchain/command"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/ledger"
	"github.com/vitalchain/vitalchain/vital"
)

func TestScanFinds(t *testing.T) {
	key, err := identity.GenerateSigningKey(identity.RoleCloud)
	if err != nil {
		t.Fatal(err)
	}
	tx := func(b ledger.Body) []byte {
		raw, err := ledger.NewTx("test", key, 1, b)
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	ev := func(k, v string) []client.TxResult {
		return []client.TxResult{{Events: []ledger.Event{{Type: "x", Attrs: []ledger.Attr{{Key: k, Value: v}}}}}}
	}
	tests := []struct {
		name    string
		tx      []byte
		results []client.TxResult
		want    []Category
	}{
		{"a device command", tx(&ledger.DeviceCommand{Device: identity.ID{1}, Command: command.SamplingInterval, Value: 1000}), nil, nil},
		{"an alert", tx(&ledger.Alert{Patient: identity.ID{1}, Time: 1}), nil, nil},
		{"garbage", []byte{0xff, 1, 2}, nil, []Category{Unreadable}},
		{"an event's kind", tx(&ledger.DeviceCommand{Device: identity.ID{1}, Command: command.SamplingInterval, Value: 1000}), ev(ledger.AttrKind, "glucose"), []Category{VitalSign}},
		{"an event's expression", tx(&ledger.DeviceCommand{Device: identity.ID{1}, Command: command.SamplingInterval, Value: 1000}), ev("rule", "value>3"), []Category{Threshold}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newScanner()
			res := tc.results
			if res == nil {
				res = []client.TxResult{{}}
			}
			s.block(&client.Block{Height: 1, Txs: [][]byte{tc.tx}, Results: res})
			got := s.report().Categories()
			if !slices.Equal(got, tc.want) {
				t.Errorf("categories %v, want %v (findings %v)", got, tc.want, s.r.Findings)
			}
		})
	}
}

func TestScanBody(t *testing.T) {
	inner, _ := codec.Marshal(map[int]any{1: []string{"heart rate"}})
	tests := []struct {
		name string
		body any
		want []Category
	}{
		{"numbers and bytes", map[int]any{1: 7, 2: []byte{1, 2, 3}}, nil},
		{"a free text", map[int]any{1: "my diabetes plan"}, []Category{FreeText}},
		{"a LOINC code", map[int]any{1: vital.Glucose.Info().LOINC}, []Category{FreeText, VitalSign}},
		{"an expression", map[int]any{1: "value < 70"}, []Category{FreeText, Threshold}},
		{"a severity", map[int]any{1: "critical"}, []Category{FreeText, Severity}},
		{"a name inside CBOR in bytes", map[int]any{1: inner}, []Category{FreeText, VitalSign}},
		{"an expression in raw bytes", map[int]any{1: []byte("\x00value >= 3\x01")}, []Category{Threshold}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := codec.Marshal(tc.body)
			if err != nil {
				t.Fatal(err)
			}
			s := newScanner()
			s.body(1, 0, "test", b)
			if got := s.report().Categories(); !slices.Equal(got, tc.want) {
				t.Errorf("categories %v, want %v (findings %v)", got, tc.want, s.r.Findings)
			}
		})
	}
}

// A provider key in two patients' grants links them.
func TestScanLinksProviders(t *testing.T) {
	s := newScanner()
	p := identity.ID{9}
	s.grantee(p, identity.ID{1})
	s.grantee(p, identity.ID{1})
	if r := s.report(); !r.Clean() {
		t.Fatalf("one patient: %v", r.Findings)
	}
	s = newScanner()
	s.grantee(p, identity.ID{1})
	s.grantee(p, identity.ID{2})
	if got := s.report().Categories(); !slices.Equal(got, []Category{LinkedProvider}) {
		t.Fatalf("two patients: %v", got)
	}
}
