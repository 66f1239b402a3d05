package ledger

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/vitalchain/vitalchain/contract"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/vital"
)

func TestDeployContract(t *testing.T) {
	t.Parallel()
	c := newTestChain(t, 1)
	pat := c.register(identity.RolePatient, nil)
	a := c.register(identity.RoleProvider, nil)
	b := c.register(identity.RoleProvider, nil)
	other := c.register(identity.RoleProvider, nil)

	tm := terms(pat.ID(), contract.DefaultRules(), a.ID(), b.ID())
	r := c.ok(pat.Signing, deployBody(t, pat, tm, a, b))
	id := contractID(t, tm)
	if got := attrs(r.Events, "contract", "id"); len(got) != 1 || got[0] != hexOf(id[:]) {
		t.Errorf("contract event id %v", got)
	}
	provs := attrs(r.Events, "contract", "provider")
	if !slices.Contains(provs, a.ID().Hex()) || !slices.Contains(provs, b.ID().Hex()) || len(provs) != 2 {
		t.Errorf("contract event providers %v", provs)
	}
	var rec ContractRecord
	c.mustQuery("contract/"+hexOf(id[:]), &rec)
	if !rec.Active || rec.Height != c.height || rec.EndHeight != 0 || rec.Patient != pat.ID() ||
		!sameIDs(rec.Providers, tm.Providers) || rec.Sealed.Commitment != id {
		t.Errorf("contract record %+v", rec)
	}
	// The ledger holds the terms sealed: every party opens them, and
	// checks them against the commitment; nobody else can.
	for _, party := range []*identity.Identity{pat, a, b} {
		got, err := rec.Sealed.Open(party, pat.Signing.Public())
		if err != nil {
			t.Fatalf("%s opens: %v", party.Role(), err)
		}
		if got.Name != tm.Name || len(got.Rules) != len(tm.Rules) || got.Rules[0] != tm.Rules[0] {
			t.Errorf("%s opened %+v", party.Role(), got)
		}
	}
	if _, err := rec.Sealed.Open(other, pat.Signing.Public()); !errors.Is(err, contract.ErrNotAParty) {
		t.Errorf("another provider opens: %v, want contract.ErrNotAParty", err)
	}

	id2 := c.deploy(pat, a)
	var list [][32]byte
	c.mustQuery("contracts/"+pat.ID().Hex(), &list)
	want := [][32]byte{id, id2}
	slices.SortFunc(want, func(x, y [32]byte) int { return strings.Compare(string(x[:]), string(y[:])) })
	if !slices.Equal(list, want) {
		t.Errorf("contracts %x, want %x", list, want)
	}
	c.mustQuery("contracts/"+a.ID().Hex(), &list)
	if len(list) != 0 {
		t.Errorf("a provider's contracts %x", list)
	}

	// The same terms again.
	c.fails(pat.Signing, deployBody(t, pat, tm, a, b), CodeDuplicate)
}

func TestDeployContractRejects(t *testing.T) {
	t.Parallel()
	c := newTestChain(t, 1)
	pat := c.register(identity.RolePatient, nil)
	other := c.register(identity.RolePatient, nil)
	a := c.register(identity.RoleProvider, nil)
	b := c.register(identity.RoleProvider, nil)
	stranger := mustIdentity(t, identity.RoleProvider)

	rule := func(expr string) []contract.Rule {
		return []contract.Rule{{Kind: vital.Glucose, Expr: expr, Severity: contract.Warning}}
	}
	tm := terms(pat.ID(), rule("value > 180.0"), a.ID(), b.ID())
	good := deployBody(t, pat, tm, a, b)
	otherTerms := terms(pat.ID(), rule("value > 181.0"), a.ID(), b.ID())
	otherDeploy := deployBody(t, pat, otherTerms, a, b)
	withAcc := func(acc ...Acceptance) *DeployContract {
		return &DeployContract{Providers: tm.Providers, Sealed: good.Sealed, Acceptances: acc}
	}
	with := func(f func(d *DeployContract)) *DeployContract {
		d := *good
		d.Providers = slices.Clone(good.Providers)
		d.Sealed.Envelopes = slices.Clone(good.Sealed.Envelopes)
		d.Acceptances = slices.Clone(good.Acceptances)
		f(&d)
		return &d
	}
	byKey := func(p *identity.Identity) int { return slices.Index(tm.Providers, p.ID()) }
	forged := slices.Clone(good.Acceptances)
	forged[byKey(a)].Sig = good.Acceptances[byKey(b)].Sig

	tests := []struct {
		name   string
		signer *identity.SigningKey
		body   *DeployContract
		code   Code
	}{
		{"no acceptances", pat.Signing, withAcc(), CodeUnauthorized},
		{"one acceptance missing", pat.Signing, withAcc(good.Acceptances[0]), CodeUnauthorized},
		{"an acceptance too many", pat.Signing, withAcc(append(slices.Clone(good.Acceptances), good.Acceptances[0])...), CodeUnauthorized},
		{"acceptances out of order", pat.Signing, withAcc(good.Acceptances[1], good.Acceptances[0]), CodeMalformed},
		{"acceptance from the wrong provider", pat.Signing, withAcc(good.Acceptances[0], good.Acceptances[0]), CodeMalformed},
		{"acceptance signed by another", pat.Signing, withAcc(forged...), CodeBadSignature},
		{"acceptance of other terms", pat.Signing, withAcc(otherDeploy.Acceptances...), CodeBadSignature},
		{"deployed by another patient", other.Signing, good, CodeEnvelope},
		{"party is a patient", pat.Signing, deployBody(t, pat, terms(pat.ID(), rule("value > 2.0"), other.ID()), other), CodeWrongRole},
		{"party is unregistered", pat.Signing, deployBody(t, pat, terms(pat.ID(), rule("value > 3.0"), stranger.ID()), stranger), CodeNotFound},
		{"no providers", pat.Signing, with(func(d *DeployContract) { d.Providers, d.Acceptances = nil, nil }), CodeMalformed},
		{"patient among the providers", pat.Signing, with(func(d *DeployContract) { d.Providers[0] = pat.ID() }), CodeMalformed},
		{"no commitment", pat.Signing, with(func(d *DeployContract) { d.Sealed.Commitment = [32]byte{} }), CodeMalformed},
		{"another commitment", pat.Signing, with(func(d *DeployContract) { d.Sealed.Commitment = otherDeploy.Sealed.Commitment }), CodeEnvelope},
		{"no ciphertext", pat.Signing, with(func(d *DeployContract) { d.Sealed.Ciphertext = nil }), CodeMalformed},
		{"ciphertext too large", pat.Signing, with(func(d *DeployContract) { d.Sealed.Ciphertext = make([]byte, contract.MaxSealedSize+1) }), CodeMalformed},
		{"an envelope missing", pat.Signing, with(func(d *DeployContract) { d.Sealed.Envelopes = d.Sealed.Envelopes[:2] }), CodeMalformed},
		{"envelopes swapped", pat.Signing, with(func(d *DeployContract) {
			d.Sealed.Envelopes[1], d.Sealed.Envelopes[2] = d.Sealed.Envelopes[2], d.Sealed.Envelopes[1]
		}), CodeEnvelope},
		{"an envelope of another contract", pat.Signing, with(func(d *DeployContract) { d.Sealed.Envelopes[0] = otherDeploy.Sealed.Envelopes[0] }), CodeEnvelope},
		{"an envelope that does not parse", pat.Signing, with(func(d *DeployContract) { d.Sealed.Envelopes[1] = []byte{0xa0} }), CodeMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { c.fails(tc.signer, tc.body, tc.code) })
	}
	// After all that, the good one deploys. The ledger cannot read the
	// rules, so it deploys terms whose rules do not compile too: the
	// parties' software refuses them (package gateway).
	c.ok(pat.Signing, good)
	c.ok(pat.Signing, deployBody(t, pat, terms(pat.ID(), rule("value >"), a.ID()), a))
}

func TestTerminateContract(t *testing.T) {
	t.Parallel()
	c := newTestChain(t, 1)
	pat := c.register(identity.RolePatient, nil)
	a := c.register(identity.RoleProvider, nil)
	b := c.register(identity.RoleProvider, nil)
	outsider := c.register(identity.RoleProvider, nil)
	cloud := c.register(identity.RoleCloud, nil)
	byPatient := c.deploy(pat, a, b)
	byProvider := c.deploy(pat, b)

	c.fails(outsider.Signing, &TerminateContract{ID: byPatient}, CodeUnauthorized)
	c.fails(a.Signing, &TerminateContract{ID: byProvider}, CodeUnauthorized) // not a party to this one
	c.fails(cloud.Signing, &TerminateContract{ID: byPatient}, CodeWrongRole)
	c.fails(pat.Signing, &TerminateContract{ID: [32]byte{1}}, CodeNotFound)

	r := c.ok(pat.Signing, &TerminateContract{ID: byPatient})
	if got := attrs(r.Events, "contract_terminated", "id"); len(got) != 1 || got[0] != hexOf(byPatient[:]) {
		t.Errorf("termination event %v", r.Events)
	}
	var rec ContractRecord
	c.mustQuery("contract/"+hexOf(byPatient[:]), &rec)
	if rec.Active || rec.EndHeight != c.height || identity.ID(rec.TerminedBy) != pat.ID() {
		t.Errorf("terminated record %+v", rec)
	}
	c.fails(pat.Signing, &TerminateContract{ID: byPatient}, CodeInvalid)
	c.fails(a.Signing, &TerminateContract{ID: byPatient}, CodeInvalid)

	c.ok(b.Signing, &TerminateContract{ID: byProvider})
	c.mustQuery("contract/"+hexOf(byProvider[:]), &rec)
	if rec.Active || identity.ID(rec.TerminedBy) != b.ID() {
		t.Errorf("terminated record %+v", rec)
	}
	c.fails(b.Signing, &TerminateContract{ID: byProvider}, CodeInvalid)
}
