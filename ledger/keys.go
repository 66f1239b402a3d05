package ledger

import (
	"bytes"
	"slices"

	"github.com/vitalchain/vitalchain/envelope"
	"github.com/vitalchain/vitalchain/identity"
)

// SessionKey is transaction 1: the patient starts epoch Epoch (the current
// epoch plus one) and publishes its session key wrapped to itself.
type SessionKey struct {
	Epoch    uint64 `cbor:"1,keyasint"`
	Envelope []byte `cbor:"2,keyasint"` // an envelope.Envelope of kind Self
}

// TxType implements Body.
func (*SessionKey) TxType() Type { return TypeSessionKey }

func (s *SessionKey) check(d *Decoded) error {
	me := d.Tx.SignerID()
	return checkEnvelope(s.Envelope, envSelf, me, s.Epoch, me, me, [32]byte{})
}

func (s *SessionKey) apply(x *exec, d *Decoded) error {
	p, err := x.signer(d, identity.RolePatient)
	if err != nil {
		return err
	}
	me := d.Tx.SignerID()
	ps, err := x.patient(me)
	if err != nil {
		return err
	}
	if ps.Erased != 0 {
		return errorf(CodeErased, "patient %s's data was erased at height %d: no new keys", me, ps.Erased)
	}
	if s.Epoch != ps.Epoch+1 {
		return errorf(CodeInvalid, "session key for epoch %d, but the next epoch is %d", s.Epoch, ps.Epoch+1)
	}
	if err := envelopeSuite(s.Envelope, p); err != nil {
		return err
	}
	ps.Epoch = s.Epoch
	if err := x.put(key(pPatient, me[:]), &ps); err != nil {
		return err
	}
	x.putRaw(key(pEnvelope, me[:], be64(s.Epoch), me[:]), s.Envelope)
	x.emit(EventSessionKey, Attr{AttrPatient, me.Hex()}, Attr{AttrEpoch, itoa(int64(s.Epoch))})
	return nil
}

// Grant is transaction 2: the patient gives a provider the keys of the
// current epoch for the vital signs of its scope, until Expiry (block time,
// Unix ms). A grant to a provider who has one replaces it. The scope is not
// on the chain: Envelope wraps the grant's own key (envelope.GrantKey),
// which opens Keys, the scope's keys sealed and padded to every vital sign
// (envelope.SealScope); the provider can decrypt the records of those vital
// signs only, and the ledger cannot tell which they are.
type Grant struct {
	Provider identity.ID `cbor:"1,keyasint"`
	Commands bool        `cbor:"3,keyasint"` // the provider may command the patient's devices
	Expiry   int64       `cbor:"4,keyasint"`
	Epoch    uint64      `cbor:"5,keyasint"`
	Envelope []byte      `cbor:"6,keyasint"` // an envelope.Envelope of kind Grant
	Keys     []byte      `cbor:"7,keyasint"` // envelope.SealScope's output
}

// TxType implements Body.
func (*Grant) TxType() Type { return TypeGrant }

func (g *Grant) check(d *Decoded) error {
	if err := checkScopeKeys(g.Keys); err != nil {
		return err
	}
	if g.Expiry <= 0 {
		return errorf(CodeMalformed, "grant without an expiry")
	}
	me := d.Tx.SignerID()
	if g.Provider == me {
		return errorf(CodeInvalid, "a patient does not grant to itself")
	}
	return checkEnvelope(g.Envelope, envGrant, me, g.Epoch, me, g.Provider, [32]byte{})
}

func (g *Grant) apply(x *exec, d *Decoded) error {
	if _, err := x.signer(d, identity.RolePatient); err != nil {
		return err
	}
	me := d.Tx.SignerID()
	prov, err := x.member(g.Provider, "provider")
	if err != nil {
		return err
	}
	if prov.Role != identity.RoleProvider {
		return errorf(CodeWrongRole, "grantee %s is a %s, not a provider", g.Provider, prov.Role)
	}
	if err := prov.ActsFor(me); err != nil {
		return err
	}
	if err := envelopeSuite(g.Envelope, prov); err != nil {
		return err
	}
	ps, err := x.patient(me)
	if err != nil {
		return err
	}
	if ps.Erased != 0 {
		return errorf(CodeErased, "patient %s's data was erased at height %d: no new grants", me, ps.Erased)
	}
	if ps.Epoch == 0 || g.Epoch != ps.Epoch {
		return errorf(CodeInvalid, "grant for epoch %d, but the current epoch is %d", g.Epoch, ps.Epoch)
	}
	if g.Expiry <= x.now {
		return errorf(CodeExpired, "grant expires at %d, before block time %d", g.Expiry, x.now)
	}
	var idx grantIndex
	if _, err := x.get(key(pGrantIdx, me[:]), &idx); err != nil {
		return err
	}
	if i, found := slices.BinarySearchFunc(idx.Providers, g.Provider, cmpID); !found {
		idx.Providers = slices.Insert(idx.Providers, i, g.Provider)
		if err := x.put(key(pGrantIdx, me[:]), &idx); err != nil {
			return err
		}
	}
	rec := GrantRecord{Commands: g.Commands, Expiry: g.Expiry, Epoch: g.Epoch, Height: x.height}
	if err := x.put(key(pGrant, me[:], g.Provider[:]), &rec); err != nil {
		return err
	}
	x.putRaw(key(pEnvelope, me[:], be64(g.Epoch), g.Provider[:]), g.Envelope)
	x.putRaw(key(pScope, me[:], be64(g.Epoch), g.Provider[:]), g.Keys)
	x.emit(EventGrant, Attr{AttrPatient, me.Hex()}, Attr{AttrProvider, g.Provider.Hex()},
		Attr{AttrEpoch, itoa(int64(g.Epoch))}, Attr{AttrExpiry, itoa(g.Expiry)})
	return nil
}

// Rewrap gives a provider who keeps its grant the new epoch's keys of its
// scope, as a Grant does.
type Rewrap struct {
	Provider identity.ID `cbor:"1,keyasint"`
	Envelope []byte      `cbor:"2,keyasint"`
	Keys     []byte      `cbor:"3,keyasint"` // envelope.SealScope's output
}

// checkScopeKeys checks sealed scope keys' size, which is the same for
// every scope.
func checkScopeKeys(b []byte) error {
	if len(b) != envelope.SealedScopeSize {
		return errorf(CodeMalformed, "sealed scope keys of %d bytes, want %d", len(b), envelope.SealedScopeSize)
	}
	return nil
}

// Revoke ends a provider's grant and, in the same transaction, starts a new
// epoch: its session key wrapped to the patient (SelfEnvelope) and to every
// provider whose grant is still active (Rewraps, ascending by provider). The
// revoked provider never receives the new key, and the cloud refuses it at
// once.
type Revoke struct {
	Provider     identity.ID `cbor:"1,keyasint"`
	NewEpoch     uint64      `cbor:"2,keyasint"`
	SelfEnvelope []byte      `cbor:"3,keyasint"`
	Rewraps      []Rewrap    `cbor:"4,keyasint,omitempty"`
}

// TxType implements Body.
func (*Revoke) TxType() Type { return TypeRevoke }

func (r *Revoke) check(d *Decoded) error {
	me := d.Tx.SignerID()
	if err := checkEnvelope(r.SelfEnvelope, envSelf, me, r.NewEpoch, me, me, [32]byte{}); err != nil {
		return err
	}
	for i, w := range r.Rewraps {
		if i > 0 && !idLess(r.Rewraps[i-1].Provider, w.Provider) {
			return errorf(CodeMalformed, "rewraps must be ascending by provider with no repeats")
		}
		if w.Provider == r.Provider {
			return errorf(CodeInvalid, "revoke re-wraps the new key to the revoked provider")
		}
		if err := checkEnvelope(w.Envelope, envGrant, me, r.NewEpoch, me, w.Provider, [32]byte{}); err != nil {
			return err
		}
		if err := checkScopeKeys(w.Keys); err != nil {
			return err
		}
	}
	return nil
}

func (r *Revoke) apply(x *exec, d *Decoded) error {
	p, err := x.signer(d, identity.RolePatient)
	if err != nil {
		return err
	}
	me := d.Tx.SignerID()
	var g GrantRecord
	ok, err := x.get(key(pGrant, me[:], r.Provider[:]), &g)
	if err != nil {
		return err
	}
	if !ok {
		return errorf(CodeNotFound, "no grant to provider %s", r.Provider)
	}
	if g.Revoked != 0 {
		return errorf(CodeInvalid, "grant to provider %s is already revoked", r.Provider)
	}
	ps, err := x.patient(me)
	if err != nil {
		return err
	}
	if r.NewEpoch != ps.Epoch+1 {
		return errorf(CodeInvalid, "revoke starts epoch %d, but the next epoch is %d", r.NewEpoch, ps.Epoch+1)
	}
	if err := envelopeSuite(r.SelfEnvelope, p); err != nil {
		return err
	}
	// The rewraps must cover exactly the other active grants.
	var want []identity.ID
	if err := x.iterateGrants(me, func(prov identity.ID, g *GrantRecord) {
		if prov != r.Provider && g.Active(x.now) {
			want = append(want, prov)
		}
	}); err != nil {
		return err
	}
	got := make([]identity.ID, len(r.Rewraps))
	for i, w := range r.Rewraps {
		got[i] = w.Provider
	}
	if !slices.Equal(got, want) {
		return errorf(CodeInvalid, "revoke re-wraps the new key to %d providers, but %d other grants are active: every one needs the new key", len(got), len(want))
	}
	g.Revoked = x.height
	if err := x.put(key(pGrant, me[:], r.Provider[:]), &g); err != nil {
		return err
	}
	ps.Epoch = r.NewEpoch
	if err := x.put(key(pPatient, me[:]), &ps); err != nil {
		return err
	}
	x.putRaw(key(pEnvelope, me[:], be64(r.NewEpoch), me[:]), r.SelfEnvelope)
	for _, w := range r.Rewraps {
		prov, err := x.member(w.Provider, "provider")
		if err != nil {
			return err
		}
		if err := envelopeSuite(w.Envelope, prov); err != nil {
			return err
		}
		var og GrantRecord
		if _, err := x.get(key(pGrant, me[:], w.Provider[:]), &og); err != nil {
			return err
		}
		og.Epoch = r.NewEpoch
		if err := x.put(key(pGrant, me[:], w.Provider[:]), &og); err != nil {
			return err
		}
		x.putRaw(key(pEnvelope, me[:], be64(r.NewEpoch), w.Provider[:]), w.Envelope)
		x.putRaw(key(pScope, me[:], be64(r.NewEpoch), w.Provider[:]), w.Keys)
	}
	x.emit(EventRevoke, Attr{AttrPatient, me.Hex()}, Attr{AttrProvider, r.Provider.Hex()}, Attr{AttrEpoch, itoa(int64(r.NewEpoch))})
	return nil
}

// iterateGrants calls fn for each of a patient's grants in ascending order of
// provider. The providers come from the patient's contracts and earlier
// grants, so it reads only keys it can name: the ledger never scans.
func (x *exec) iterateGrants(patient identity.ID, fn func(identity.ID, *GrantRecord)) error {
	var idx grantIndex
	if _, err := x.get(key(pGrantIdx, patient[:]), &idx); err != nil {
		return err
	}
	for _, prov := range idx.Providers {
		var g GrantRecord
		ok, err := x.get(key(pGrant, patient[:], prov[:]), &g)
		if err != nil {
			return err
		}
		if ok {
			fn(prov, &g)
		}
	}
	return nil
}

// ProviderRecord is transaction 3: a provider's new record for a patient,
// stored in the cloud under RecordID, its fresh session key wrapped to the
// patient. Only a provider the patient has granted (an active grant, of any
// scope) may write into the patient's history.
type ProviderRecord struct {
	Patient  identity.ID `cbor:"1,keyasint"`
	RecordID [32]byte    `cbor:"2,keyasint"`
	Envelope []byte      `cbor:"3,keyasint"` // an envelope.Envelope of kind ProviderRecord
}

// TxType implements Body.
func (*ProviderRecord) TxType() Type { return TypeProviderRecord }

func (r *ProviderRecord) check(d *Decoded) error {
	me := d.Tx.SignerID()
	return checkEnvelope(r.Envelope, envProviderRecord, r.Patient, 0, me, r.Patient, r.RecordID)
}

func (r *ProviderRecord) apply(x *exec, d *Decoded) error {
	me, err := x.signer(d, identity.RoleProvider)
	if err != nil {
		return err
	}
	if err := me.ActsFor(r.Patient); err != nil {
		return err
	}
	pat, err := x.member(r.Patient, "patient")
	if err != nil {
		return err
	}
	if pat.Role != identity.RolePatient {
		return errorf(CodeWrongRole, "recipient %s is a %s, not a patient", r.Patient, pat.Role)
	}
	prov := d.Tx.SignerID()
	var g GrantRecord
	ok, err := x.get(key(pGrant, r.Patient[:], prov[:]), &g)
	if err != nil {
		return err
	}
	if !ok || !g.Active(x.now) {
		return errorf(CodeUnauthorized, "provider %s has no active grant from patient %s", prov, r.Patient)
	}
	if err := envelopeSuite(r.Envelope, pat); err != nil {
		return err
	}
	k := key(pRecord3, r.Patient[:], r.RecordID[:])
	if ok, err := x.has(k); err != nil || ok {
		if ok {
			return errorf(CodeDuplicate, "record %x already sent", r.RecordID[:8])
		}
		return err
	}
	if err := x.put(k, &ProviderRecordEntry{Provider: d.Tx.SignerID(), Envelope: r.Envelope, Height: x.height}); err != nil {
		return err
	}
	x.emit(EventProviderRecord, Attr{AttrPatient, r.Patient.Hex()}, Attr{AttrProvider, d.Tx.SignerID().Hex()},
		Attr{AttrRecord, hexOf(r.RecordID[:])})
	return nil
}

func (x *exec) patient(id identity.ID) (PatientState, error) {
	var ps PatientState
	_, err := x.get(key(pPatient, id[:]), &ps)
	return ps, err
}

func idLess(a, b identity.ID) bool { return cmpID(a, b) < 0 }

func cmpID(a, b identity.ID) int { return bytes.Compare(a[:], b[:]) }
