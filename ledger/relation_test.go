package ledger

import (
	"bytes"
	"testing"

	"github.com/vitalchain/vitalchain/envelope"
	"github.com/vitalchain/vitalchain/identity"
)

// relationBody returns the registration of rel as a relation key bound to
// patient, with a stand-in for its sealed binding (the ledger only bounds
// its size; package relation makes real ones).
func (c *testChain) relationBody(rel *identity.Identity, patient identity.ID) *Register {
	c.t.Helper()
	r := c.registerBody(rel, 0, patient, rel.Signing)
	r.Binding = bytes.Repeat([]byte{0xb1}, 600)
	return r
}

// A provider's relation key is registered by its patient, and acts (grants,
// contracts, provider records, device commands) for that patient only.
func TestRelationKey(t *testing.T) {
	t.Parallel()
	c := newTestChain(t, 1)
	pat := c.register(identity.RolePatient, nil)
	other := c.register(identity.RolePatient, nil)
	dev := c.register(identity.RoleDevice, pat)
	otherDev := c.register(identity.RoleDevice, other)
	rel := mustIdentity(t, identity.RoleProvider)
	relOther := mustIdentity(t, identity.RoleProvider)

	reg := []struct {
		name   string
		signer *identity.SigningKey
		body   func() *Register
		code   Code
	}{
		{"by another patient", other.Signing, func() *Register { return c.relationBody(rel, pat.ID()) }, CodeUnauthorized},
		{"by a cluster head", c.auths[0].Signing, func() *Register { return c.relationBody(rel, pat.ID()) }, CodeUnauthorized},
		{"without its binding", pat.Signing, func() *Register { r := c.relationBody(rel, pat.ID()); r.Binding = nil; return r }, CodeMalformed},
		{"with an oversized binding", pat.Signing, func() *Register {
			r := c.relationBody(rel, pat.ID())
			r.Binding = make([]byte, MaxBindingSize+1)
			return r
		}, CodeMalformed},
		{"naming a cluster", pat.Signing, func() *Register {
			r := c.registerBody(rel, 1, pat.ID(), rel.Signing)
			r.Binding = []byte{1}
			return r
		}, CodeMalformed},
		{"without its proof", pat.Signing, func() *Register { r := c.relationBody(rel, pat.ID()); r.Proof = make([]byte, 64); return r }, CodeBadSignature},
		{"a binding on a patient's registration", c.auths[0].Signing, func() *Register {
			np := mustIdentity(t, identity.RolePatient)
			r := c.registerBody(np, 1, identity.ID{}, np.Signing)
			r.Binding = []byte{1}
			return r
		}, CodeMalformed},
		{"a cloud bound to a patient", pat.Signing, func() *Register {
			cl := mustIdentity(t, identity.RoleCloud)
			return c.registerBody(cl, 0, pat.ID(), cl.Signing)
		}, CodeMalformed},
	}
	for _, tc := range reg {
		t.Run("register "+tc.name, func(t *testing.T) {
			c.fails(tc.signer, tc.body(), tc.code)
		})
	}
	r := c.ok(pat.Signing, c.relationBody(rel, pat.ID()))
	if got := attrs(r.Events, EventRegister, AttrPatient); len(got) != 1 || got[0] != pat.ID().Hex() {
		t.Errorf("register event names patient %v", got)
	}
	c.ok(other.Signing, c.relationBody(relOther, other.ID()))
	var m Member
	c.mustQuery("member/"+rel.ID().Hex(), &m)
	if !m.IsRelation() || !bytes.Equal(m.Patient, func() []byte { id := pat.ID(); return id[:] }()) || len(m.Binding) != 600 || m.Cluster != 1 {
		t.Fatalf("relation key registered as %+v", m)
	}
	var ci ClusterInfo
	c.mustQuery("cluster/1", &ci)
	if len(ci.Requestees) != 2 || len(ci.Requesters) != 0 {
		t.Errorf("cluster 1 lists %d requesters and %d requestees, want 0 and 2 (relation keys are not listed)", len(ci.Requesters), len(ci.Requestees))
	}

	k := c.startEpoch(pat, 1)
	c.startEpoch(other, 1)
	exp := c.expiry(24 * 3600e9)
	// Its own patient grants it; another patient cannot.
	c.fails(other.Signing, grantBody(t, other, rel, 1, k, true, exp), CodeUnauthorized)
	c.ok(pat.Signing, grantBody(t, pat, rel, 1, k, true, exp))
	// It accepts its own patient's contracts only.
	c.deploy(pat, rel)
	c.fails(other.Signing, deployBody(t, other, terms(other.ID(), nil, rel.ID()), rel), CodeUnauthorized)
	// Provider records and device commands: its own patient's only.
	rec := func(to *identity.Identity, id [32]byte) *ProviderRecord {
		e, err := envelope.ProviderRecordEnvelope(rel, to.Public(), id, k)
		return &ProviderRecord{Patient: to.ID(), RecordID: id, Envelope: envBytes(t, e, err)}
	}
	c.ok(rel.Signing, rec(pat, [32]byte{1}))
	c.fails(rel.Signing, rec(other, [32]byte{2}), CodeUnauthorized)
	c.ok(rel.Signing, &DeviceCommand{Device: dev.ID(), Command: "sampling_interval_ms", Value: 5000})
	c.fails(rel.Signing, &DeviceCommand{Device: otherDev.ID(), Command: "sampling_interval_ms", Value: 5000}, CodeUnauthorized)
	// It does not migrate: it is in no cluster of its own.
	c.fails(rel.Signing, &Migrate{Cluster: 2}, CodeWrongRole)
	// Revoking it works as for any provider.
	k2 := newSessionKey(t)
	e, err := envelope.SelfEnvelope(pat, 2, k2)
	c.ok(pat.Signing, &Revoke{Provider: rel.ID(), NewEpoch: 2, SelfEnvelope: envBytes(t, e, err)})
	c.fails(rel.Signing, rec(pat, [32]byte{3}), CodeUnauthorized)
}
