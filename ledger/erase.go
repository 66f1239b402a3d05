package ledger

import "github.com/vitalchain/vitalchain/identity"

// Erase records that a patient had its data erased (the cloud deletes the
// ciphertexts, at the patient's signed request; the patient's gateway
// destroys its epoch keys). From then on the ledger ends every grant of the
// patient (as revoked at this height) and refuses new session keys and new
// grants for it (CodeErased): nobody receives a key to the patient's data
// again. What it cannot undo: keys and plaintext that providers already
// hold, and the patient's pseudonymous registration, contracts and past
// transactions, which stay on the chain.
type Erase struct{}

// TxType implements Body.
func (*Erase) TxType() Type { return TypeErase }

func (*Erase) check(*Decoded) error { return nil }

func (*Erase) apply(x *exec, d *Decoded) error {
	if _, err := x.signer(d, identity.RolePatient); err != nil {
		return err
	}
	me := d.Tx.SignerID()
	ps, err := x.patient(me)
	if err != nil {
		return err
	}
	if ps.Erased != 0 {
		return errorf(CodeDuplicate, "patient %s's data was already erased at height %d", me, ps.Erased)
	}
	ps.Erased = x.height
	if err := x.put(key(pPatient, me[:]), &ps); err != nil {
		return err
	}
	var idx grantIndex
	if _, err := x.get(key(pGrantIdx, me[:]), &idx); err != nil {
		return err
	}
	for _, p := range idx.Providers {
		var g GrantRecord
		ok, err := x.get(key(pGrant, me[:], p[:]), &g)
		if err != nil {
			return err
		}
		if !ok || g.Revoked != 0 {
			continue
		}
		g.Revoked = x.height
		if err := x.put(key(pGrant, me[:], p[:]), &g); err != nil {
			return err
		}
	}
	x.emit(EventErase, Attr{AttrPatient, me.Hex()})
	return nil
}
