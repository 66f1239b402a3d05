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

	tm := terms(pat.ID(), contract.DefaultRules(), a.ID(), b.ID())
	r := c.ok(pat.Signing, deployBody(t, tm, a, b))
	id, err := tm.Hash()
	if err != nil {
		t.Fatal(err)
	}
	if got := attrs(r.Events, "contract", "id"); len(got) != 1 || got[0] != hexOf(id[:]) {
		t.Errorf("contract event id %v", got)
	}
	provs := attrs(r.Events, "contract", "provider")
	if !slices.Contains(provs, a.ID().Hex()) || !slices.Contains(provs, b.ID().Hex()) || len(provs) != 2 {
		t.Errorf("contract event providers %v", provs)
	}
	var rec ContractRecord
	c.mustQuery("contract/"+hexOf(id[:]), &rec)
	if !rec.Active || rec.Height != c.height || rec.EndHeight != 0 || rec.Terms.Patient != pat.ID() ||
		!sameIDs(rec.Terms.Providers, tm.Providers) || len(rec.Terms.Rules) != len(contract.DefaultRules()) {
		t.Errorf("contract record %+v", rec)
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
	c.fails(pat.Signing, deployBody(t, tm, a, b), CodeDuplicate)
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
	for _, tc := range []struct {
		name string
		expr string
		is   error
	}{
		{"does not compile", "value >", contract.ErrCompile},
		{"unknown variable", "pressure > 1.0", contract.ErrCompile},
		{"not bool", "value + 1.0", contract.ErrNotBool},
		{"over the compile budget", strings.Repeat("value > 1.0 || ", 16) + "true", contract.ErrTooComplex},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rules := rule(tc.expr)
			_, cerr := contract.Compile(rules)
			if !errors.Is(cerr, tc.is) {
				t.Fatalf("compile: %v, want %v", cerr, tc.is)
			}
			body := deployBody(t, terms(pat.ID(), rules, a.ID()), a)
			r := c.fails(pat.Signing, body, CodeContract)
			if !strings.Contains(r.Log, cerr.Error()) {
				t.Errorf("log %q does not contain the compiler's message %q", r.Log, cerr.Error())
			}
			tx, err := NewTx(testChainID, pat.Signing, 1, body)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := Decode(tx); !errors.Is(err, Rejected(CodeContract)) || !errors.Is(err, tc.is) {
				t.Errorf("Decode: %v", err)
			}
		})
	}

	tm := terms(pat.ID(), rule("value > 180.0"), a.ID(), b.ID())
	good := deployBody(t, tm, a, b)
	otherTerms := terms(pat.ID(), rule("value > 181.0"), a.ID(), b.ID())
	otherAcc := deployBody(t, otherTerms, a, b).Acceptances
	withAcc := func(acc ...Acceptance) *DeployContract { return &DeployContract{Terms: tm, Acceptances: acc} }
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
		{"acceptance of other terms", pat.Signing, withAcc(otherAcc...), CodeBadSignature},
		{"deployed by another patient", other.Signing, good, CodeUnauthorized},
		{"deployed by a provider", a.Signing, deployBody(t, terms(a.ID(), rule("value > 1.0"), b.ID()), b), CodeWrongRole},
		{"party is a patient", pat.Signing, deployBody(t, terms(pat.ID(), rule("value > 2.0"), other.ID()), other), CodeWrongRole},
		{"party is unregistered", pat.Signing, deployBody(t, terms(pat.ID(), rule("value > 3.0"), stranger.ID()), stranger), CodeNotFound},
		{"bad terms", pat.Signing, &DeployContract{Terms: terms(pat.ID(), nil, a.ID())}, CodeMalformed},
		{"patient among the providers", pat.Signing, &DeployContract{Terms: terms(pat.ID(), rule("true"), pat.ID())}, CodeMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { c.fails(tc.signer, tc.body, tc.code) })
	}
	// After all that, the good one deploys.
	c.ok(pat.Signing, good)
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
