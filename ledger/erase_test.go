package ledger

import (
	"testing"

	"github.com/vitalchain/vitalchain/identity"
)

// An erasure ends the patient's grants and refuses it new keys and grants,
// once, from the patient alone.
func TestErase(t *testing.T) {
	t.Parallel()
	c := newTestChain(t, 1)
	pat := c.register(identity.RolePatient, nil)
	other := c.register(identity.RolePatient, nil)
	a := c.register(identity.RoleProvider, nil)
	b := c.register(identity.RoleProvider, nil)
	k1 := newSessionKey(t)
	exp := c.now.Add(24 * 3600e9).UnixMilli()
	c.ok(pat.Signing, sessionKeyBody(t, pat, 1, k1))
	c.ok(pat.Signing, grantBody(t, pat, a, 1, k1, true, exp))
	c.ok(pat.Signing, grantBody(t, pat, b, 1, k1, false, exp))
	c.ok(other.Signing, sessionKeyBody(t, other, 1, k1))

	c.fails(a.Signing, &Erase{}, CodeWrongRole)
	r := c.ok(pat.Signing, &Erase{})
	if got := attrs(r.Events, EventErase, AttrPatient); len(got) != 1 || got[0] != pat.ID().Hex() {
		t.Errorf("erase event %v", r.Events)
	}
	erasedAt := c.height
	var list []GrantEntry
	c.mustQuery("grants/"+pat.ID().Hex(), &list)
	if len(list) != 2 {
		t.Fatalf("%d grants, want 2", len(list))
	}
	for _, e := range list {
		if e.Grant.Revoked != erasedAt || e.Grant.Active(c.now.UnixMilli()) {
			t.Errorf("grant to %s after the erasure: %+v", e.Provider, e.Grant)
		}
	}

	tests := []struct {
		name   string
		signer *identity.SigningKey
		body   Body
		code   Code
	}{
		{"a new grant", pat.Signing, grantBody(t, pat, a, 1, k1, false, exp), CodeErased},
		{"a new epoch", pat.Signing, sessionKeyBody(t, pat, 2, newSessionKey(t)), CodeErased},
		{"a second erasure", pat.Signing, &Erase{}, CodeDuplicate},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { c.fails(tc.signer, tc.body, tc.code) })
	}
	// Another patient is not affected.
	c.ok(other.Signing, grantBody(t, other, a, 1, k1, false, exp))
}
