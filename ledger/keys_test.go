package ledger

import (
	"bytes"
	"errors"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/vitalchain/vitalchain/envelope"
	"github.com/vitalchain/vitalchain/identity"
)

// envelopeOf queries the envelope of patient's key of epoch for recipient.
func (c *testChain) envelopeOf(patient identity.ID, epoch uint64, recipient identity.ID) (*envelope.Envelope, error) {
	var b []byte
	if err := c.query("envelope/"+patient.Hex()+"/"+strconv.FormatUint(epoch, 10)+"/"+recipient.Hex(), &b); err != nil {
		return nil, err
	}
	return envelope.ParseEnvelope(b)
}

// unwrapsTo checks that the stored envelope of patient's epoch for
// recipient opens, with recipient's key, to key.
func (c *testChain) unwrapsTo(patient *identity.Identity, epoch uint64, recipient *identity.Identity, key envelope.SessionKey) {
	c.t.Helper()
	e, err := c.envelopeOf(patient.ID(), epoch, recipient.ID())
	if err != nil {
		c.t.Fatalf("envelope of epoch %d for %s: %v", epoch, recipient.Role(), err)
	}
	want := envelope.SelfContext(patient.ID(), epoch, recipient.Decryption.Suite())
	if recipient.ID() != patient.ID() {
		want = envelope.GrantContext(patient.ID(), recipient.ID(), epoch, recipient.Decryption.Suite())
	}
	got, err := e.Unwrap(want, recipient.Decryption, patient.Signing.Public())
	if err != nil {
		c.t.Fatalf("unwrap epoch %d for %s: %v", epoch, recipient.Role(), err)
	}
	if got != key {
		c.t.Fatalf("epoch %d for %s: another key", epoch, recipient.Role())
	}
}

// wrapAs wraps key in ctx to the encryption key to, whoever it belongs to
// (an envelope whose context names someone else than its key's owner),
// signed by sender, the sender ctx names.
func wrapAs(t testing.TB, ctx envelope.Context, key envelope.SessionKey, to identity.EncryptionKey, sender *identity.Identity) []byte {
	t.Helper()
	e, err := envelope.Wrap(ctx, key, to)
	if err == nil {
		err = e.Sign(sender.Signing)
	}
	return envBytes(t, e, err)
}

// withDecryption returns id with another decryption key of suite: the same
// signer, an envelope of another suite than the one it registered.
func withDecryption(t testing.TB, id *identity.Identity, suite identity.Suite) *identity.Identity {
	t.Helper()
	dk, err := identity.GenerateDecryptionKey(id.Role(), suite)
	if err != nil {
		t.Fatal(err)
	}
	return &identity.Identity{Signing: id.Signing, Decryption: dk}
}

func TestSessionKey(t *testing.T) {
	t.Parallel()
	c := newTestChain(t, 1)
	pat := c.register(identity.RolePatient, nil)
	prov := c.register(identity.RoleProvider, nil)

	k3 := newSessionKey(t)
	c.fails(pat.Signing, sessionKeyBody(t, pat, 3, k3), CodeInvalid)
	c.fails(pat.Signing, sessionKeyBody(t, pat, 2, k3), CodeInvalid)
	var ps PatientState
	c.mustQuery("epoch/"+pat.ID().Hex(), &ps)
	if ps.Epoch != 0 {
		t.Fatalf("epoch %d before any session key", ps.Epoch)
	}

	k1 := newSessionKey(t)
	r := c.ok(pat.Signing, sessionKeyBody(t, pat, 1, k1))
	if got := attrs(r.Events, "session_key", "epoch"); len(got) != 1 || got[0] != "1" {
		t.Errorf("session key event %v", r.Events)
	}
	c.mustQuery("epoch/"+pat.ID().Hex(), &ps)
	if ps.Epoch != 1 {
		t.Errorf("epoch %d, want 1", ps.Epoch)
	}
	c.unwrapsTo(pat, 1, pat, k1)

	c.fails(pat.Signing, sessionKeyBody(t, pat, 1, newSessionKey(t)), CodeInvalid)
	c.fails(pat.Signing, sessionKeyBody(t, pat, 3, k3), CodeInvalid)
	c.unwrapsTo(pat, 1, pat, k1) // unchanged

	// Of a suite other than the patient's registered key.
	hybrid := withDecryption(t, pat, identity.SuiteMLKEM768X25519)
	c.fails(pat.Signing, sessionKeyBody(t, hybrid, 2, newSessionKey(t)), CodeEnvelope)
	// By a provider, or by a stranger.
	c.fails(prov.Signing, &SessionKey{Epoch: 2, Envelope: wrapAs(t, envelope.SelfContext(prov.ID(), 2, identity.SuiteX25519), k3, pat.Decryption.Public(), prov)}, CodeWrongRole)
	stranger := mustIdentity(t, identity.RolePatient)
	c.fails(stranger.Signing, sessionKeyBody(t, stranger, 1, k3), CodeUnknownSigner)

	k2 := newSessionKey(t)
	c.ok(pat.Signing, sessionKeyBody(t, pat, 2, k2))
	c.unwrapsTo(pat, 2, pat, k2)
	c.unwrapsTo(pat, 1, pat, k1)
}

func TestGrant(t *testing.T) {
	t.Parallel()
	c := newTestChain(t, 1)
	pat := c.register(identity.RolePatient, nil)
	other := c.register(identity.RolePatient, nil)
	a := c.register(identity.RoleProvider, nil)
	b := c.register(identity.RoleProvider, nil)
	cloud := c.register(identity.RoleCloud, nil)
	hyb := c.registerIn(identity.RoleProvider, identity.SuiteMLKEM768X25519, 1)
	unregistered := mustIdentity(t, identity.RoleProvider)
	exp := c.expiry(time.Hour)

	k0 := newSessionKey(t)
	c.fails(pat.Signing, grantBody(t, pat, a, 1, k0, false, exp), CodeInvalid) // no epoch yet

	k1 := c.startEpoch(pat, 1)
	otherKey := c.startEpoch(other, 1)
	x25519 := identity.SuiteX25519

	g := grantBody(t, pat, a, 1, k1, false, exp)
	r := c.ok(pat.Signing, g)
	if p := attrs(r.Events, "grant", "provider"); len(p) != 1 || p[0] != a.ID().Hex() {
		t.Errorf("grant event %v", r.Events)
	}
	var rec GrantRecord
	c.mustQuery("grant/"+pat.ID().Hex()+"/"+a.ID().Hex(), &rec)
	if rec.Commands || rec.Expiry != exp || rec.Epoch != 1 || rec.Height != c.height || rec.Revoked != 0 {
		t.Errorf("grant record %+v", rec)
	}
	if !rec.Active(c.now.UnixMilli()) || rec.Active(exp) {
		t.Errorf("grant record Active")
	}
	var sk []byte
	c.mustQuery(ScopePath(pat.ID(), 1, a.ID()), &sk)
	if !bytes.Equal(sk, g.Keys) {
		t.Errorf("the grant's scope keys are not stored")
	}
	c.unwrapsTo(pat, 1, a, k1)

	// The hybrid suite.
	c.ok(pat.Signing, grantBody(t, pat, hyb, 1, k1, true, exp))
	c.unwrapsTo(pat, 1, hyb, k1)

	tests := []struct {
		name   string
		signer *identity.SigningKey
		body   *Grant
		code   Code
	}{
		{"wrong epoch", pat.Signing, grantBody(t, pat, b, 2, k1, false, exp), CodeInvalid},
		{"expired", pat.Signing, grantBody(t, pat, b, 1, k1, false, c.now.UnixMilli()), CodeExpired},
		{"expires at the block time", pat.Signing, grantBody(t, pat, b, 1, k1, false, c.now.Add(time.Second).UnixMilli()), CodeExpired},
		{"to a patient", pat.Signing, &Grant{Provider: other.ID(), Keys: scopeKeysOf(t), Expiry: exp, Epoch: 1,
			Envelope: wrapAs(t, envelope.GrantContext(pat.ID(), other.ID(), 1, x25519), k1, b.Decryption.Public(), pat)}, CodeWrongRole},
		{"to a cloud", pat.Signing, &Grant{Provider: cloud.ID(), Keys: scopeKeysOf(t), Expiry: exp, Epoch: 1,
			Envelope: wrapAs(t, envelope.GrantContext(pat.ID(), cloud.ID(), 1, x25519), k1, b.Decryption.Public(), pat)}, CodeWrongRole},
		{"to an unregistered provider", pat.Signing, grantBody(t, pat, unregistered, 1, k1, false, exp), CodeNotFound},
		{"by a provider", a.Signing, &Grant{Provider: b.ID(), Keys: scopeKeysOf(t), Expiry: exp, Epoch: 1,
			Envelope: wrapAs(t, envelope.GrantContext(a.ID(), b.ID(), 1, x25519), k1, b.Decryption.Public(), a)}, CodeWrongRole},
		{"envelope for another provider", pat.Signing, func() *Grant {
			g := grantBody(t, pat, b, 1, k1, false, exp)
			g.Envelope = grantBody(t, pat, a, 1, k1, false, exp).Envelope
			return g
		}(), CodeEnvelope},
		{"envelope of another epoch", pat.Signing, func() *Grant {
			g := grantBody(t, pat, b, 1, k1, false, exp)
			g.Envelope = grantEnv(t, pat, b, 2, k1)
			return g
		}(), CodeEnvelope},
		{"envelope of another patient", pat.Signing, func() *Grant {
			g := grantBody(t, pat, b, 1, k1, false, exp)
			g.Envelope = grantEnv(t, other, b, 1, otherKey)
			return g
		}(), CodeEnvelope},
		{"envelope of another kind", pat.Signing, func() *Grant {
			g := grantBody(t, pat, b, 1, k1, false, exp)
			g.Envelope = sessionKeyBody(t, pat, 1, k1).Envelope
			return g
		}(), CodeEnvelope},
		{"envelope of another suite than the provider's key", pat.Signing, grantBody(t, pat, withDecryption(t, b, identity.SuiteMLKEM768X25519), 1, k1, false, exp), CodeEnvelope},
		{"envelope of X25519 to a hybrid provider", pat.Signing, grantBody(t, pat, withDecryption(t, hyb, x25519), 1, k1, false, exp), CodeEnvelope},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { c.fails(tc.signer, tc.body, tc.code) })
	}
	if _, err := c.envelopeOf(pat.ID(), 1, b.ID()); !errors.Is(err, ErrNotFound) {
		t.Errorf("envelope for b after refused grants: %v", err)
	}

	// A new grant to a provider replaces the old one.
	c.ok(pat.Signing, &Grant{Provider: a.ID(), Keys: g.Keys, Commands: true, Expiry: exp + 1, Epoch: 1, Envelope: g.Envelope})
	var list []GrantEntry
	c.mustQuery("grants/"+pat.ID().Hex(), &list)
	if len(list) != 2 {
		t.Fatalf("%d grants, want 2", len(list))
	}
	for i, e := range list {
		if i > 0 && !idLess(list[i-1].Provider, e.Provider) {
			t.Error("grants not ascending by provider")
		}
		switch e.Provider {
		case a.ID():
			if !e.Grant.Commands || e.Grant.Expiry != exp+1 {
				t.Errorf("replaced grant %+v", e.Grant)
			}
		case hyb.ID():
		default:
			t.Errorf("grant to %s", e.Provider)
		}
	}
	c.mustQuery("grants/"+other.ID().Hex(), &list)
	if len(list) != 0 {
		t.Errorf("other's grants %v", list)
	}
}

func TestRevoke(t *testing.T) {
	t.Parallel()
	c := newTestChain(t, 1)
	pat := c.register(identity.RolePatient, nil)
	a := c.register(identity.RoleProvider, nil)
	b := c.register(identity.RoleProvider, nil)
	d := c.register(identity.RoleProvider, nil)
	short := c.register(identity.RoleProvider, nil)
	never := c.register(identity.RoleProvider, nil)

	k1 := c.startEpoch(pat, 1)
	long := c.expiry(time.Hour)
	c.ok(pat.Signing, grantBody(t, pat, a, 1, k1, false, long))
	c.ok(pat.Signing, grantBody(t, pat, b, 1, k1, false, long))
	c.ok(pat.Signing, grantBody(t, pat, d, 1, k1, false, long))
	c.ok(pat.Signing, grantBody(t, pat, short, 1, k1, false, c.expiry(2*time.Second)))
	c.block() // short's grant has now expired
	c.block()

	k2 := newSessionKey(t)
	self2 := sessionKeyBody(t, pat, 2, k2).Envelope
	rewrap := func(epoch uint64, key envelope.SessionKey, provs ...*identity.Identity) []Rewrap {
		var out []Rewrap
		for _, p := range provs {
			out = append(out, Rewrap{Provider: p.ID(), Envelope: grantEnv(t, pat, p, epoch, key), Keys: scopeKeysOf(t)})
		}
		slices.SortFunc(out, func(x, y Rewrap) int { return cmpID(x.Provider, y.Provider) })
		return out
	}
	revoke := func(p *identity.Identity, rw []Rewrap) *Revoke {
		return &Revoke{Provider: p.ID(), NewEpoch: 2, SelfEnvelope: self2, Rewraps: rw}
	}
	descending := rewrap(2, k2, b, d)
	descending[0], descending[1] = descending[1], descending[0]
	wrongEpoch := revoke(a, rewrap(2, k2, b, d))
	wrongEpoch.NewEpoch, wrongEpoch.SelfEnvelope = 3, sessionKeyBody(t, pat, 3, k2).Envelope
	wrongEpoch.Rewraps = rewrap(3, k2, b, d)

	tests := []struct {
		name string
		body *Revoke
		code Code
	}{
		{"no rewraps", revoke(a, nil), CodeInvalid},
		{"a rewrap missing", revoke(a, rewrap(2, k2, b)), CodeInvalid},
		{"a rewrap to an expired grant", revoke(a, rewrap(2, k2, b, d, short)), CodeInvalid},
		{"a rewrap to a provider without a grant", revoke(a, rewrap(2, k2, b, d, never)), CodeInvalid},
		{"rewrap to the revoked provider", revoke(a, rewrap(2, k2, a, b, d)), CodeInvalid},
		{"rewraps out of order", revoke(a, descending), CodeMalformed},
		{"rewrap of the old epoch", revoke(a, rewrap(1, k2, b, d)), CodeEnvelope},
		{"wrong new epoch", wrongEpoch, CodeInvalid},
		{"unknown grant", revoke(never, rewrap(2, k2, a, b, d)), CodeNotFound},
		{"rewrap of another suite", revoke(a, []Rewrap{
			{Provider: b.ID(), Envelope: grantEnv(t, pat, withDecryption(t, b, identity.SuiteMLKEM768X25519), 2, k2), Keys: scopeKeysOf(t)},
			{Provider: d.ID(), Envelope: grantEnv(t, pat, d, 2, k2), Keys: scopeKeysOf(t)},
		}), CodeEnvelope},
		{"rewrap without scope keys", revoke(a, func() []Rewrap { r := rewrap(2, k2, b, d); r[0].Keys = nil; return r }()), CodeMalformed},
	}
	// The other suite's rewraps in order, so that only their suite is wrong.
	for _, tc := range tests {
		if tc.name == "rewrap of another suite" {
			slices.SortFunc(tc.body.Rewraps, func(x, y Rewrap) int { return cmpID(x.Provider, y.Provider) })
		}
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { c.fails(pat.Signing, tc.body, tc.code) })
	}

	r := c.ok(pat.Signing, revoke(a, rewrap(2, k2, b, d)))
	if p := attrs(r.Events, "revoke", "provider"); len(p) != 1 || p[0] != a.ID().Hex() {
		t.Errorf("revoke event %v", r.Events)
	}
	var ps PatientState
	c.mustQuery("epoch/"+pat.ID().Hex(), &ps)
	if ps.Epoch != 2 {
		t.Errorf("epoch %d, want 2", ps.Epoch)
	}
	var ga, gb GrantRecord
	c.mustQuery("grant/"+pat.ID().Hex()+"/"+a.ID().Hex(), &ga)
	if ga.Revoked != c.height || ga.Active(c.now.UnixMilli()) || ga.Epoch != 1 {
		t.Errorf("revoked grant %+v", ga)
	}
	c.mustQuery("grant/"+pat.ID().Hex()+"/"+b.ID().Hex(), &gb)
	if gb.Revoked != 0 || gb.Epoch != 2 || !gb.Active(c.now.UnixMilli()) {
		t.Errorf("remaining grant %+v", gb)
	}
	c.unwrapsTo(pat, 2, pat, k2)
	c.unwrapsTo(pat, 2, b, k2)
	c.unwrapsTo(pat, 2, d, k2)
	c.unwrapsTo(pat, 1, a, k1) // the past is not unsent
	if _, err := c.envelopeOf(pat.ID(), 2, a.ID()); !errors.Is(err, ErrNotFound) {
		t.Errorf("revoked provider's envelope of the new epoch: %v", err)
	}

	// Revoking again is refused; revoking b needs only d's rewrap.
	k3 := newSessionKey(t)
	again := &Revoke{Provider: a.ID(), NewEpoch: 3, SelfEnvelope: sessionKeyBody(t, pat, 3, k3).Envelope, Rewraps: rewrap(3, k3, b, d)}
	c.fails(pat.Signing, again, CodeInvalid)
	c.ok(pat.Signing, &Revoke{Provider: b.ID(), NewEpoch: 3, SelfEnvelope: again.SelfEnvelope, Rewraps: rewrap(3, k3, d)})
	c.unwrapsTo(pat, 3, d, k3)

	// A revoked provider can be granted again, in the current epoch.
	c.ok(pat.Signing, grantBody(t, pat, a, 3, k3, false, c.expiry(time.Hour)))
	c.mustQuery("grant/"+pat.ID().Hex()+"/"+a.ID().Hex(), &ga)
	if ga.Revoked != 0 || ga.Epoch != 3 {
		t.Errorf("re-granted %+v", ga)
	}
}

func TestProviderRecord(t *testing.T) {
	t.Parallel()
	c := newTestChain(t, 1)
	pat := c.register(identity.RolePatient, nil)
	other := c.register(identity.RolePatient, nil)
	a := c.register(identity.RoleProvider, nil)
	b := c.register(identity.RoleProvider, nil)
	hybPat := c.registerIn(identity.RolePatient, identity.SuiteMLKEM768X25519, 1)
	k := newSessionKey(t)
	body := func(prov *identity.Identity, to *identity.Identity, rec [32]byte) *ProviderRecord {
		e, err := envelope.ProviderRecordEnvelope(prov, to.Public(), rec, k)
		return &ProviderRecord{Patient: to.ID(), RecordID: rec, Envelope: envBytes(t, e, err)}
	}
	rec1, rec2 := [32]byte{1}, [32]byte{2}
	// A provider writes into a patient's history only with its grant.
	kp, kh := c.startEpoch(pat, 1), c.startEpoch(hybPat, 1)
	c.ok(pat.Signing, grantBody(t, pat, a, 1, kp, false, c.expiry(time.Hour)))
	c.ok(pat.Signing, grantBody(t, pat, b, 1, kp, false, c.expiry(time.Hour)))
	c.ok(hybPat.Signing, grantBody(t, hybPat, a, 1, kh, false, c.expiry(time.Hour)))

	r := c.ok(a.Signing, body(a, pat, rec1))
	if got := attrs(r.Events, "provider_record", "record"); len(got) != 1 || got[0] != hexOf(rec1[:]) {
		t.Errorf("provider record event %v", r.Events)
	}
	c.ok(b.Signing, body(b, pat, rec2))
	c.ok(a.Signing, body(a, hybPat, rec1)) // hybrid; record IDs are per patient

	var list []ProviderRecordListing
	c.mustQuery("record3/"+pat.ID().Hex(), &list)
	if len(list) != 2 || list[0].Record != rec1 || list[0].Entry.Provider != a.ID() || list[1].Entry.Provider != b.ID() {
		t.Fatalf("record3 listing %+v", list)
	}
	e, err := envelope.ParseEnvelope(list[0].Entry.Envelope)
	if err != nil {
		t.Fatal(err)
	}
	got, err := e.Unwrap(envelope.ProviderRecordContext(pat.ID(), a.ID(), rec1, identity.SuiteX25519), pat.Decryption, a.Signing.Public())
	if err != nil || got != k {
		t.Errorf("unwrap provider record: %v", err)
	}

	x := identity.SuiteX25519
	tests := []struct {
		name   string
		signer *identity.SigningKey
		body   *ProviderRecord
		code   Code
	}{
		{"duplicate", a.Signing, body(a, pat, rec1), CodeDuplicate},
		{"duplicate by another provider", b.Signing, body(b, pat, rec1), CodeDuplicate},
		{"by a patient", other.Signing, &ProviderRecord{Patient: pat.ID(), RecordID: [32]byte{3},
			Envelope: wrapAs(t, envelope.ProviderRecordContext(pat.ID(), other.ID(), [32]byte{3}, x), k, pat.Decryption.Public(), other)}, CodeWrongRole},
		{"to a provider", a.Signing, &ProviderRecord{Patient: b.ID(), RecordID: [32]byte{3},
			Envelope: wrapAs(t, envelope.ProviderRecordContext(b.ID(), a.ID(), [32]byte{3}, x), k, pat.Decryption.Public(), a)}, CodeWrongRole},
		{"to an unregistered patient", a.Signing, body(a, mustIdentity(t, identity.RolePatient), [32]byte{3}), CodeNotFound},
		{"of another suite than the patient's key", a.Signing, body(a, withDecryption(t, pat, identity.SuiteMLKEM768X25519), [32]byte{3}), CodeEnvelope},
		{"envelope of another record", a.Signing, func() *ProviderRecord {
			p := body(a, pat, [32]byte{4})
			p.RecordID = [32]byte{3}
			return p
		}(), CodeEnvelope},
		{"envelope of another patient", a.Signing, func() *ProviderRecord {
			p := body(a, other, [32]byte{3})
			p.Patient = pat.ID()
			return p
		}(), CodeEnvelope},
		{"envelope of another provider", a.Signing, body(b, pat, [32]byte{3}), CodeEnvelope},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { c.fails(tc.signer, tc.body, tc.code) })
	}
}
