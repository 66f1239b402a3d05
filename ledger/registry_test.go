package ledger

import (
	"bytes"
	"errors"
	"testing"

	"github.com/vitalchain/vitalchain/identity"
)

func TestRegisterByHead(t *testing.T) {
	t.Parallel()
	c := newTestChain(t, 2)
	for _, role := range []identity.Role{identity.RolePatient, identity.RoleProvider, identity.RoleCloud, identity.RoleAuthority} {
		t.Run(role.String(), func(t *testing.T) {
			id := mustIdentity(t, role)
			r := c.ok(c.auths[0].Signing, c.registerBody(id, 1, identity.ID{}, id.Signing))
			if got := attrs(r.Events, "register", "id"); len(got) != 1 || got[0] != id.ID().Hex() {
				t.Errorf("register event ids %v", got)
			}
			if got := attrs(r.Events, "register", "role"); len(got) != 1 || got[0] != role.String() {
				t.Errorf("register event roles %v", got)
			}
			var m Member
			c.mustQuery("member/"+id.ID().Hex(), &m)
			if m.Role != role || m.Cluster != 1 || m.Height != c.height {
				t.Errorf("member %+v", m)
			}
			vk, err := m.VerifyingKey()
			if err != nil || vk.ID() != id.ID() {
				t.Errorf("member verifying key: %v", err)
			}
			if role.Receives() {
				ek, err := m.EncryptionKey()
				if err != nil || ek.Suite() != identity.SuiteX25519 {
					t.Errorf("member encryption key: %v", err)
				}
			}
			if role == identity.RoleAuthority && string(m.Consensus) != string(consensusKeyOf(id)) {
				t.Errorf("consensus key %x", m.Consensus)
			}
		})
	}
}

func TestRegisterRejects(t *testing.T) {
	t.Parallel()
	c := newTestChain(t, 2)
	patient := c.register(identity.RolePatient, nil)
	provider := c.register(identity.RoleProvider, nil)

	t.Run("non-head authority", func(t *testing.T) {
		id := mustIdentity(t, identity.RolePatient)
		c.fails(c.auths[1].Signing, c.registerBody(id, 1, identity.ID{}, id.Signing), CodeUnauthorized)
	})
	t.Run("eligible authority that heads nothing", func(t *testing.T) {
		elig := c.register(identity.RoleAuthority, nil)
		id := mustIdentity(t, identity.RolePatient)
		c.fails(elig.Signing, c.registerBody(id, 1, identity.ID{}, id.Signing), CodeUnauthorized)
	})
	t.Run("non-authority", func(t *testing.T) {
		id := mustIdentity(t, identity.RolePatient)
		c.fails(provider.Signing, c.registerBody(id, 1, identity.ID{}, id.Signing), CodeWrongRole)
	})
	t.Run("bad proof of possession", func(t *testing.T) {
		id := mustIdentity(t, identity.RolePatient)
		r := c.registerBody(id, 1, identity.ID{}, id.Signing)
		r.Cluster = 2 // the proof covered cluster 1
		c.fails(c.auths[1].Signing, r, CodeBadSignature)
		other := mustIdentity(t, identity.RolePatient)
		c.fails(c.auths[0].Signing, c.registerBody(id, 1, identity.ID{}, other.Signing), CodeBadSignature)
	})
	t.Run("duplicate", func(t *testing.T) {
		c.fails(c.auths[0].Signing, c.registerBody(patient, 1, identity.ID{}, patient.Signing), CodeDuplicate)
		// Nor in another cluster, by its head.
		c.fails(c.auths[1].Signing, c.registerBody(patient, 2, identity.ID{}, patient.Signing), CodeDuplicate)
		// Nor a genesis authority.
		a := c.auths[1]
		c.fails(c.auths[0].Signing, c.registerBody(a, 1, identity.ID{}, a.Signing), CodeDuplicate)
	})
	t.Run("unknown signer", func(t *testing.T) {
		stranger := mustIdentity(t, identity.RoleAuthority)
		id := mustIdentity(t, identity.RolePatient)
		c.fails(stranger.Signing, c.registerBody(id, 1, identity.ID{}, id.Signing), CodeUnknownSigner)
	})
	t.Run("no such cluster", func(t *testing.T) {
		id := mustIdentity(t, identity.RolePatient)
		c.fails(c.auths[0].Signing, c.registerBody(id, 99, identity.ID{}, id.Signing), CodeNotFound)
	})
	t.Run("device by its patient", func(t *testing.T) {
		dev := mustIdentity(t, identity.RoleDevice)
		r := c.ok(patient.Signing, c.registerBody(dev, 0, patient.ID(), dev.Signing))
		if got := attrs(r.Events, "register", "patient"); len(got) != 1 || got[0] != patient.ID().Hex() {
			t.Errorf("device event patient %v", got)
		}
		var m Member
		c.mustQuery("member/"+dev.ID().Hex(), &m)
		if m.Role != identity.RoleDevice || m.Cluster != 1 || identity.ID(m.Patient) != patient.ID() {
			t.Errorf("device %+v", m)
		}
		if _, err := m.EncryptionKey(); err == nil {
			t.Error("a device has an encryption key")
		}
		// A second time: duplicate.
		c.fails(patient.Signing, c.registerBody(dev, 0, patient.ID(), dev.Signing), CodeDuplicate)
	})
	t.Run("device by another patient", func(t *testing.T) {
		other := c.register(identity.RolePatient, nil)
		dev := mustIdentity(t, identity.RoleDevice)
		c.fails(other.Signing, c.registerBody(dev, 0, patient.ID(), dev.Signing), CodeUnauthorized)
	})
	t.Run("device by a provider naming itself", func(t *testing.T) {
		dev := mustIdentity(t, identity.RoleDevice)
		c.fails(provider.Signing, c.registerBody(dev, 0, provider.ID(), dev.Signing), CodeWrongRole)
	})
	t.Run("device by an unregistered patient", func(t *testing.T) {
		p := mustIdentity(t, identity.RolePatient)
		dev := mustIdentity(t, identity.RoleDevice)
		c.fails(p.Signing, c.registerBody(dev, 0, p.ID(), dev.Signing), CodeUnknownSigner)
	})
	t.Run("device by an authority", func(t *testing.T) {
		dev := mustIdentity(t, identity.RoleDevice)
		c.fails(c.auths[0].Signing, c.registerBody(dev, 1, c.auths[0].ID(), dev.Signing), CodeWrongRole)
	})
}

func TestClusterQuery(t *testing.T) {
	t.Parallel()
	c := newTestChain(t, 2)
	p1 := c.register(identity.RolePatient, nil)
	p2 := c.register(identity.RolePatient, nil)
	prov := c.register(identity.RoleProvider, nil)
	cloud := c.register(identity.RoleCloud, nil)
	elig := c.register(identity.RoleAuthority, nil)
	dev := c.register(identity.RoleDevice, p1)
	other := c.registerIn(identity.RoleProvider, identity.SuiteX25519, 2)

	var info ClusterInfo
	c.mustQuery("cluster/1", &info)
	sorted := func(ids ...identity.ID) []identity.ID {
		out := append([]identity.ID(nil), ids...)
		for i := range out {
			for j := i + 1; j < len(out); j++ {
				if idLess(out[j], out[i]) {
					out[i], out[j] = out[j], out[i]
				}
			}
		}
		return out
	}
	if info.Cluster.ID != 1 || info.Cluster.Head != c.auths[0].ID() {
		t.Errorf("cluster %+v", info.Cluster)
	}
	if !sameIDs(info.Requestees, sorted(p1.ID(), p2.ID())) {
		t.Errorf("requestees %v", info.Requestees)
	}
	if !sameIDs(info.Requesters, []identity.ID{prov.ID()}) {
		t.Errorf("requesters %v", info.Requesters)
	}
	if !sameIDs(info.Devices, []identity.ID{dev.ID()}) || !sameIDs(info.Clouds, []identity.ID{cloud.ID()}) {
		t.Errorf("devices %v clouds %v", info.Devices, info.Clouds)
	}
	if !sameIDs(info.Eligible, sorted(c.auths[0].ID(), elig.ID())) {
		t.Errorf("eligible %v", info.Eligible)
	}
	var info2 ClusterInfo
	c.mustQuery("cluster/2", &info2)
	if !sameIDs(info2.Requesters, []identity.ID{other.ID()}) || len(info2.Requestees) != 0 {
		t.Errorf("cluster 2 %+v", info2)
	}
}

// TestRegisterWeakKey refuses a small-order signing key, whose "proof of
// possession" anyone can forge: ZIP-215 accepts R = identity, S = 0 for the
// identity key and any message.
func TestRegisterWeakKey(t *testing.T) {
	t.Parallel()
	c := newTestChain(t, 1)
	weak := make([]byte, 32)
	weak[0] = 1 // the identity point
	trivial := append(bytes.Clone(weak), make([]byte, 32)...)
	r := &Register{Member: MemberKeys{Role: identity.RoleCloud, Verifying: weak}, Cluster: 1, Proof: trivial}
	msg, err := r.ProofMessage()
	if err != nil {
		t.Fatal(err)
	}
	if err := identity.VerifyContext(weak, registerContext, msg, trivial); err != nil {
		t.Skipf("the trivial forgery no longer verifies (%v)", err)
	}
	tx, err := NewTx(testChainID, c.auths[0].Signing, 1, r)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Decode(tx); !errors.Is(err, Rejected(CodeMalformed)) || !errors.Is(err, identity.ErrWeakKey) {
		t.Fatalf("Decode: %v", err)
	}
	c.fails(c.auths[0].Signing, r, CodeMalformed)
}
