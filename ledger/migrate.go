package ledger

import (
	"github.com/vitalchain/vitalchain/identity"
)

// MaxMigrateDevices bounds the devices one Migrate moves along.
const MaxMigrateDevices = 64

// Migrate moves its signer, a member, to another cluster: the overlay
// attached it to that cluster's head (a patient who moved house, a
// provider's laptop on another network), and the ledger's membership, the
// heads' lists of requesters and requestees, follows. The member's Home,
// the cluster that admitted it, stays: custody of a patient's records does
// not move with its radio.
//
// The member signs it: in the overlay, joining a cluster is the member's
// own choice (preferential attachment), and membership confers no right a
// head would have to grant. A patient names the devices that move with it
// (the ledger keeps no per-patient list it could walk). Authorities and
// clouds do not migrate: they are the clusters' fixed machines (which
// cluster an authority may take over, and whose records a cloud keeps, are
// settled when a head admits it); devices move only with their patient.
type Migrate struct {
	Cluster uint32        `cbor:"1,keyasint"`
	Devices []identity.ID `cbor:"2,keyasint,omitempty"` // ascending, no repeats
}

// TxType implements Body.
func (*Migrate) TxType() Type { return TypeMigrate }

func (m *Migrate) check(*Decoded) error {
	if len(m.Devices) > MaxMigrateDevices {
		return errorf(CodeMalformed, "migrate names %d devices, more than %d", len(m.Devices), MaxMigrateDevices)
	}
	for i := 1; i < len(m.Devices); i++ {
		if !idLess(m.Devices[i-1], m.Devices[i]) {
			return errorf(CodeMalformed, "devices must be ascending with no repeats")
		}
	}
	return nil
}

func (m *Migrate) apply(x *exec, d *Decoded) error {
	me, err := x.signer(d, identity.RolePatient, identity.RoleProvider)
	if err != nil {
		return err
	}
	if me.IsRelation() {
		return errorf(CodeWrongRole, "a relation key is in no cluster of its own: its provider migrates")
	}
	if len(m.Devices) > 0 && me.Role != identity.RolePatient {
		return errorf(CodeUnauthorized, "only a patient moves devices along")
	}
	id := d.Tx.SignerID()
	if me.Cluster == m.Cluster {
		return errorf(CodeDuplicate, "%s is already in cluster %d", id, m.Cluster)
	}
	if ok, err := x.has(key(pCluster, be32(m.Cluster))); err != nil || !ok {
		if err == nil {
			err = errorf(CodeNotFound, "cluster %d does not exist", m.Cluster)
		}
		return err
	}
	from := me.Cluster
	type move struct {
		id identity.ID
		m  *Member
	}
	moves := []move{{id, me}}
	for _, dev := range m.Devices {
		dm, err := x.member(dev, "device")
		if err != nil {
			return err
		}
		if dm.Role != identity.RoleDevice || identity.ID(dm.Patient) != id {
			return errorf(CodeUnauthorized, "%s is not a device of %s", dev, id)
		}
		moves = append(moves, move{dev, dm})
	}
	for _, mv := range moves {
		x.del(key(pClusterMem, be32(mv.m.Cluster), []byte{byte(mv.m.Role)}, mv.id[:]))
		mv.m.Cluster = m.Cluster
		if err := x.addMember(mv.id, mv.m); err != nil {
			return err
		}
	}
	attrs := []Attr{{AttrID, id.Hex()}, {AttrRole, me.Role.String()}, {AttrFrom, itoa(int64(from))}, {AttrTo, itoa(int64(m.Cluster))}}
	for _, dev := range m.Devices {
		attrs = append(attrs, Attr{AttrDevice, dev.Hex()})
	}
	x.emit(EventMigrate, attrs...)
	return nil
}
