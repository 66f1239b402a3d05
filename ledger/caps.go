package ledger

import (
	"fmt"

	"github.com/vitalchain/vitalchain/identity"
)

// SignerCap bounds one signer's transactions in one block.
type SignerCap struct {
	Txs   uint32 `cbor:"1,keyasint"` // transactions; 0: the role signs none
	Bytes uint32 `cbor:"2,keyasint"` // their encoded bytes together
}

// SignerCaps are the caps of each role. A block holds at most Txs
// transactions, of at most Bytes together, from one signer: those beyond are
// refused with CodeOverCap (and use up nothing, so that the signer sends
// them again later), an honest proposer leaves them in the mempool for the
// next block (Prepare), and a proposal over a cap is rejected (Process).
// The role is the signer's in the committed state at the start of the
// block; a signer not registered then is not capped (its transactions are
// refused as from an unknown signer, which CheckTx does not admit).
type SignerCaps struct {
	Patient   SignerCap `cbor:"1,keyasint"`
	Provider  SignerCap `cbor:"2,keyasint"`
	Device    SignerCap `cbor:"3,keyasint"`
	Cloud     SignerCap `cbor:"4,keyasint"`
	Authority SignerCap `cbor:"5,keyasint"`
}

// DefaultCaps are the caps unless genesis sets others. A patient grants a
// handful at a time (bench chain's keep 32 grants in flight); a cloud
// anchors each of its two logs once a seal (every 1.25 s in the demo); a
// head admits its cluster's members, a few dozen at a time; a device signs
// no transactions (its patient registers it). Every role that signs has
// room for at least one transaction of MaxTxSize.
func DefaultCaps() SignerCaps {
	return SignerCaps{
		Patient:   SignerCap{Txs: 32, Bytes: 128 << 10},
		Provider:  SignerCap{Txs: 32, Bytes: 128 << 10},
		Cloud:     SignerCap{Txs: 32, Bytes: 256 << 10},
		Authority: SignerCap{Txs: 64, Bytes: 256 << 10},
	}
}

// Of returns the cap of role (an unknown role signs nothing).
func (c SignerCaps) Of(role identity.Role) SignerCap {
	switch role {
	case identity.RolePatient:
		return c.Patient
	case identity.RoleProvider:
		return c.Provider
	case identity.RoleDevice:
		return c.Device
	case identity.RoleCloud:
		return c.Cloud
	case identity.RoleAuthority:
		return c.Authority
	}
	return SignerCap{}
}

func (c SignerCaps) validate() error {
	for _, r := range []identity.Role{identity.RolePatient, identity.RoleProvider, identity.RoleDevice, identity.RoleCloud, identity.RoleAuthority} {
		if cp := c.Of(r); cp.Txs > 0 && cp.Bytes < MaxTxSize {
			return fmt.Errorf("invalid caps: a %s may sign %d transactions a block but has only %d bytes, less than one transaction of %d", r, cp.Txs, cp.Bytes, MaxTxSize)
		}
	}
	return nil
}

// caps returns the caps in force: DefaultCaps if the parameters set none.
func (p *Params) caps() SignerCaps {
	if p.Caps == (SignerCaps{}) {
		return DefaultCaps()
	}
	return p.Caps
}

// quota counts each signer's transactions and bytes in one block against
// its role's cap. Execute, Prepare and Process count the same transactions
// (those that decode and are signed for this chain) in the same way, so
// that a proposal Prepare makes passes Process and commits without a
// transaction over a cap.
type quota struct {
	st   Store // the committed state: roles as they were at the start of the block
	caps SignerCaps
	used map[identity.ID]*use
}

type use struct {
	role       identity.Role
	cap        SignerCap
	capped     bool // the signer was registered at the start of the block
	txs, bytes uint32
}

func newQuota(st Store, p *Params) *quota {
	return &quota{st: st, caps: p.caps(), used: map[identity.ID]*use{}}
}

// admit counts a transaction of size bytes, or returns why it does not fit:
// CodeWrongRole for a role that signs nothing, CodeOverCap for a signer
// that has used its share of the block.
func (q *quota) admit(d *Decoded, size int) error {
	id := d.Tx.SignerID()
	u, ok := q.used[id]
	if !ok {
		u = &use{}
		var m Member
		found, err := getCBOR(q.st, key(pMember, id[:]), &m)
		if err != nil {
			return err
		}
		if found {
			u.role, u.cap, u.capped = m.Role, q.caps.Of(m.Role), true
		}
		q.used[id] = u
	}
	if !u.capped {
		return nil
	}
	if u.cap.Txs == 0 {
		return errorf(CodeWrongRole, "a %s signs no transactions", u.role)
	}
	if u.txs >= u.cap.Txs {
		return errorf(CodeOverCap, "signer %s has %d transactions in this block, its cap: send it again later", id, u.txs)
	}
	if uint64(u.bytes)+uint64(size) > uint64(u.cap.Bytes) {
		return errorf(CodeOverCap, "signer %s has %d bytes in this block, and %d more would pass its cap of %d: send it again later", id, u.bytes, size, u.cap.Bytes)
	}
	u.txs++
	u.bytes += uint32(size)
	return nil
}
