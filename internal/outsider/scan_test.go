package outsider

import (
	"slices"
	"testing"

	"github.com/vitalchain/vitalchain/client"
	"github.com/vitalchain/vitalchain/codec"
	"github.com/vitalchain/vitalchain/command"
	"github.com/vitalchain/vitalchain/contract"
	"github.com/vitalchain/vitalchain/envelope"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/ledger"
	"github.com/vitalchain/vitalchain/relation"
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

// chainOf builds the transactions of a small chain: an authority admits
// a provider, two patients and a device each; then whatever the case adds.
type chainOf struct {
	t        *testing.T
	auth     *identity.Identity
	prov     *identity.Identity
	patients [2]*identity.Identity
	devices  [2]*identity.Identity
	txs      [][]byte
	seq      map[identity.ID]uint64
}

func gen(t *testing.T, role identity.Role) *identity.Identity {
	t.Helper()
	id, err := identity.Generate(role, identity.SuiteX25519)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func newChainOf(t *testing.T) *chainOf {
	c := &chainOf{t: t, auth: gen(t, identity.RoleAuthority), prov: gen(t, identity.RoleProvider), seq: map[identity.ID]uint64{}}
	c.register(c.auth, c.prov, identity.ID{})
	for i := range c.patients {
		c.patients[i] = gen(t, identity.RolePatient)
		c.register(c.auth, c.patients[i], identity.ID{})
		c.devices[i] = gen(t, identity.RoleDevice)
		c.register(c.patients[i], c.devices[i], c.patients[i].ID())
	}
	return c
}

func (c *chainOf) add(by *identity.Identity, b ledger.Body) {
	c.t.Helper()
	c.seq[by.ID()]++
	raw, err := ledger.NewTx("test", by.Signing, c.seq[by.ID()], b)
	if err != nil {
		c.t.Fatal(err)
	}
	c.txs = append(c.txs, raw)
}

func (c *chainOf) register(by, m *identity.Identity, patient identity.ID) {
	c.t.Helper()
	var cons []byte
	if m.Role() == identity.RoleAuthority {
		cons = make([]byte, 32)
	}
	r, err := ledger.NewRegister(m, 1, patient, cons)
	if err != nil {
		c.t.Fatal(err)
	}
	c.add(by, r)
}

// relate registers the provider's relation key for patient i, as its
// client does, and returns it.
func (c *chainOf) relate(i int) *identity.Identity {
	c.t.Helper()
	b, rel, err := relation.Bind(c.prov, c.patients[i].ID())
	if err != nil {
		c.t.Fatal(err)
	}
	r := b.Register()
	if r.Binding, err = relation.Seal(b, c.patients[i].Decryption.Public()); err != nil {
		c.t.Fatal(err)
	}
	c.add(c.patients[i], r)
	return rel
}

func (c *chainOf) grant(i int, to *identity.Identity) {
	c.t.Helper()
	k, _ := envelope.NewSessionKey()
	e, err := envelope.GrantEnvelope(c.patients[i], to.Public(), 1, k)
	if err != nil {
		c.t.Fatal(err)
	}
	eb, _ := e.Marshal()
	keys, err := envelope.SealScope(k, c.patients[i].ID(), to.ID(), 1, vital.Kinds())
	if err != nil {
		c.t.Fatal(err)
	}
	c.add(c.patients[i], &ledger.Grant{Provider: to.ID(), Expiry: 1, Epoch: 1, Envelope: eb, Keys: keys})
}

func (c *chainOf) record(i int, by *identity.Identity) {
	c.t.Helper()
	k, _ := envelope.NewSessionKey()
	rec := [32]byte{byte(i + 1)}
	e, err := envelope.ProviderRecordEnvelope(by, c.patients[i].Public(), rec, k)
	if err != nil {
		c.t.Fatal(err)
	}
	eb, _ := e.Marshal()
	c.add(by, &ledger.ProviderRecord{Patient: c.patients[i].ID(), RecordID: rec, Envelope: eb})
}

func (c *chainOf) contract(i int, with *identity.Identity) {
	c.t.Helper()
	terms := contract.Terms{Version: contract.Version, Patient: c.patients[i].ID(), Providers: []identity.ID{with.ID()},
		Rules: contract.DefaultRules(), Name: "x"}
	dc, err := ledger.NewDeployContract(c.patients[i], terms, with)
	if err != nil {
		c.t.Fatal(err)
	}
	c.add(c.patients[i], dc)
}

func (c *chainOf) scan() *Report {
	s := newScanner()
	s.block(&client.Block{Height: 1, Txs: c.txs, Results: make([]client.TxResult, len(c.txs))})
	return s.report()
}

// A provider's ID or key in two patients' transactions, in any field,
// links them; its relation keys, one per patient, do not.
func TestScanLinksProviders(t *testing.T) {
	tests := []struct {
		name   string
		build  func(c *chainOf)
		linked bool
	}{
		{"nothing but registrations", func(c *chainOf) {}, false},
		{"one patient's grant and contract", func(c *chainOf) { c.grant(0, c.prov); c.contract(0, c.prov) }, false},
		{"two patients' grants", func(c *chainOf) { c.grant(0, c.prov); c.grant(1, c.prov) }, true},
		{"two patients' contracts", func(c *chainOf) { c.contract(0, c.prov); c.contract(1, c.prov) }, true},
		{"a grant and a contract", func(c *chainOf) { c.grant(0, c.prov); c.contract(1, c.prov) }, true},
		{"provider records to two patients", func(c *chainOf) { c.record(0, c.prov); c.record(1, c.prov) }, true},
		{"device commands to two patients", func(c *chainOf) {
			for i := range c.devices {
				c.add(c.prov, &ledger.DeviceCommand{Device: c.devices[i].ID(), Command: command.SamplingInterval, Value: 1000})
			}
		}, true},
		{"relation keys", func(c *chainOf) {
			for i := range c.patients {
				rel := c.relate(i)
				c.grant(i, rel)
				c.contract(i, rel)
				c.record(i, rel)
				c.add(rel, &ledger.DeviceCommand{Device: c.devices[i].ID(), Command: command.SamplingInterval, Value: 1000})
			}
		}, false},
		{"a relation key used for another patient", func(c *chainOf) {
			rel := c.relate(0)
			c.grant(0, rel)
			c.record(1, rel)
		}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newChainOf(t)
			tc.build(c)
			r := c.scan()
			if r.Txs != len(c.txs) {
				t.Fatalf("scanned %d of %d transactions", r.Txs, len(c.txs))
			}
			for _, f := range r.Findings {
				if f.Category != LinkedProvider && f.Category != FreeText {
					t.Errorf("finding %s", f)
				}
			}
			if got := slices.Contains(r.Categories(), LinkedProvider); got != tc.linked {
				t.Errorf("linked %v, want %v (findings %v)", got, tc.linked, r.Findings)
			}
		})
	}
}
