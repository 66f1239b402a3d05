package ledger

import (
	"github.com/vitalchain/vitalchain/command"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/merklelog"
)

// Logs a cloud anchors.
const (
	LogRecords uint8 = 0 // the records log
	LogAccess  uint8 = 1 // the access log: every read and refused read
)

// MaxProofHashes bounds a consistency proof.
const MaxProofHashes = 128

// Anchor is a cloud's new checkpoint of one of its logs, with a consistency
// proof from its previous anchored checkpoint: the ledger verifies it, so no
// cloud can rewrite or drop what it anchored before. Only a cloud that is a
// member of a cluster anchors.
type Anchor struct {
	Log        uint8                `cbor:"1,keyasint"`
	Checkpoint merklelog.Checkpoint `cbor:"2,keyasint"`
	Proof      merklelog.Proof      `cbor:"3,keyasint"` // from the previous anchored checkpoint
	Sealed     int64                `cbor:"4,keyasint"` // when the cloud sealed the block, Unix ms
}

// TxType implements Body.
func (*Anchor) TxType() Type { return TypeAnchor }

func (a *Anchor) check(*Decoded) error {
	if a.Log != LogRecords && a.Log != LogAccess {
		return errorf(CodeMalformed, "unknown log %d", a.Log)
	}
	if a.Checkpoint.Size == 0 {
		return errorf(CodeMalformed, "anchor of an empty log")
	}
	if len(a.Proof) > MaxProofHashes {
		return errorf(CodeTooLarge, "consistency proof of %d hashes", len(a.Proof))
	}
	return nil
}

func (a *Anchor) apply(x *exec, d *Decoded) error {
	m, err := x.signer(d, identity.RoleCloud)
	if err != nil {
		return err
	}
	cloud := d.Tx.SignerID()
	if err := x.clusterCloud(cloud, m); err != nil {
		return err
	}
	latest := key(pAnchor, cloud[:], []byte{a.Log})
	var prev AnchorRecord
	if _, err := x.get(latest, &prev); err != nil {
		return err
	}
	if a.Checkpoint.Size <= prev.Checkpoint.Size {
		if a.Checkpoint == prev.Checkpoint {
			return errorf(CodeDuplicate, "checkpoint of size %d is already anchored", a.Checkpoint.Size)
		}
		return errorf(CodeConsistency, "checkpoint of size %d does not extend the anchored size %d", a.Checkpoint.Size, prev.Checkpoint.Size)
	}
	old := prev.Checkpoint
	if old.Size == 0 {
		old.Root = merklelog.EmptyRoot()
	}
	if err := merklelog.VerifyConsistency(old, a.Checkpoint, a.Proof); err != nil {
		return wrap(CodeConsistency, "anchor", err)
	}
	rec := AnchorRecord{Checkpoint: a.Checkpoint, Height: x.height, Time: x.now, Sealed: a.Sealed}
	if err := x.put(latest, &rec); err != nil {
		return err
	}
	if err := x.put(key(pAnchorAt, cloud[:], []byte{a.Log}, be64(a.Checkpoint.Size)), &rec); err != nil {
		return err
	}
	x.emit(EventAnchor, Attr{AttrCloud, cloud.Hex()}, Attr{AttrLog, itoa(int64(a.Log))},
		Attr{AttrSize, itoa(int64(a.Checkpoint.Size))}, Attr{AttrRoot, hexOf(a.Checkpoint.Root[:])},
		Attr{AttrPrevSize, itoa(int64(prev.Checkpoint.Size))})
	return nil
}

// Alert records that a stored record raised an alert, and notifies the
// contract's providers: the cloud posts it for a stored record. Only the
// cloud that keeps the patient's records, a cloud of the patient's home
// cluster, posts a patient's alerts (or the patient itself). It names no
// vital sign and no severity: those are for the providers, who decrypt the
// record.
type Alert struct {
	Patient  identity.ID `cbor:"1,keyasint"`
	Contract [32]byte    `cbor:"2,keyasint"`
	RecordID [32]byte    `cbor:"3,keyasint"`
	Time     int64       `cbor:"6,keyasint"` // the reading's time, Unix ms
}

// TxType implements Body.
func (*Alert) TxType() Type { return TypeAlert }

func (a *Alert) check(*Decoded) error { return nil }

func (a *Alert) apply(x *exec, d *Decoded) error {
	m, err := x.signer(d, identity.RoleCloud, identity.RolePatient)
	if err != nil {
		return err
	}
	if m.Role == identity.RolePatient && d.Tx.SignerID() != a.Patient {
		return errorf(CodeUnauthorized, "a patient posts only its own alerts")
	}
	if m.Role == identity.RoleCloud {
		if err := x.clusterCloud(d.Tx.SignerID(), m); err != nil {
			return err
		}
		pat, err := x.member(a.Patient, "patient")
		if err != nil {
			return err
		}
		if pat.Role != identity.RolePatient {
			return errorf(CodeWrongRole, "alert for %s, a %s, not a patient", a.Patient, pat.Role)
		}
		if pat.Home != m.Cluster {
			return errorf(CodeUnauthorized, "a cloud of cluster %d posts an alert for patient %s, whose home is cluster %d: only its home cluster's cloud may", m.Cluster, a.Patient, pat.Home)
		}
	}
	var c ContractRecord
	ok, err := x.get(key(pContract, a.Contract[:]), &c)
	if err != nil {
		return err
	}
	if !ok {
		return errorf(CodeNotFound, "contract %x does not exist", a.Contract[:8])
	}
	if !c.Active || c.Patient != a.Patient {
		return errorf(CodeInvalid, "contract %x is not an active contract of patient %s", a.Contract[:8], a.Patient)
	}
	k := key(pAlert, a.Patient[:], a.RecordID[:])
	if ok, err := x.has(k); err != nil || ok {
		if ok {
			return errorf(CodeDuplicate, "alert for record %x already posted", a.RecordID[:8])
		}
		return err
	}
	rec := AlertRecord{Contract: a.Contract, Time: a.Time, Height: x.height}
	if err := x.put(k, &rec); err != nil {
		return err
	}
	attrs := []Attr{{AttrPatient, a.Patient.Hex()}, {AttrRecord, hexOf(a.RecordID[:])},
		{AttrContract, hexOf(a.Contract[:])}}
	for _, p := range c.Providers {
		attrs = append(attrs, Attr{AttrProvider, p.Hex()})
	}
	x.emit(EventAlert, attrs...)
	return nil
}

// DeviceCommand is a provider's request to operate a patient's device (for
// example a new sampling interval). It commits only if the provider holds an
// active grant from the device's patient that allows commands; the patient's
// gateway executes it when it sees it committed.
type DeviceCommand struct {
	Device  identity.ID `cbor:"1,keyasint"`
	Command string      `cbor:"2,keyasint"`
	Value   int64       `cbor:"3,keyasint"`
}

// TxType implements Body.
func (*DeviceCommand) TxType() Type { return TypeDeviceCommand }

func (c *DeviceCommand) check(*Decoded) error {
	if err := command.Check(c.Command, c.Value); err != nil {
		return wrap(CodeMalformed, "device command", err)
	}
	return nil
}

func (c *DeviceCommand) apply(x *exec, d *Decoded) error {
	me, err := x.signer(d, identity.RoleProvider)
	if err != nil {
		return err
	}
	dev, err := x.member(c.Device, "device")
	if err != nil {
		return err
	}
	if dev.Role != identity.RoleDevice {
		return errorf(CodeWrongRole, "%s is a %s, not a device", c.Device, dev.Role)
	}
	var patient identity.ID
	copy(patient[:], dev.Patient)
	if err := me.ActsFor(patient); err != nil {
		return err
	}
	prov := d.Tx.SignerID()
	var g GrantRecord
	ok, err := x.get(key(pGrant, patient[:], prov[:]), &g)
	if err != nil {
		return err
	}
	if !ok || !g.Active(x.now) {
		return errorf(CodeUnauthorized, "provider %s has no active grant from patient %s", prov, patient)
	}
	if !g.Commands {
		return errorf(CodeUnauthorized, "provider %s's grant from patient %s does not allow device commands", prov, patient)
	}
	rec := DeviceCommandRecord{Provider: prov, Command: c.Command, Value: c.Value, Height: x.height}
	if err := x.put(key(pDeviceCmd, c.Device[:]), &rec); err != nil {
		return err
	}
	x.emit(EventDeviceCommand, Attr{AttrPatient, patient.Hex()}, Attr{AttrDevice, c.Device.Hex()},
		Attr{AttrProvider, prov.Hex()}, Attr{AttrCommand, c.Command}, Attr{AttrValue, itoa(c.Value)})
	return nil
}

// clusterCloud refuses a cloud that is not a member of an existing
// cluster. (Register admits a cloud only to an existing cluster, by its
// head, and clusters are never deleted: this holds the rule against a state
// that an older version, or a bug, left otherwise.)
func (x *exec) clusterCloud(id identity.ID, m *Member) error {
	ok, err := x.has(key(pCluster, be32(m.Cluster)))
	if err != nil {
		return err
	}
	if !ok {
		return errorf(CodeUnauthorized, "cloud %s is not a member of a cluster (cluster %d does not exist)", id, m.Cluster)
	}
	return nil
}
