package fhirapi

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"time"

	"github.com/vitalchain/vitalchain/cloud/cloudapi"
	"github.com/vitalchain/vitalchain/identity"
)

// AccessOpSystem names what an entry of a cloud's access log records
// (cloudapi.AccessRead, AccessAlert, AccessList, AccessErase).
const AccessOpSystem = "urn:vitalchain:access-op"

// Party is who an entry of a patient's access log names, as the patient's
// client knows it: the ID the cloud logged, its role on the ledger (0 if
// unknown) and the name to show the patient (empty: the ID).
type Party struct {
	ID      identity.ID
	Role    identity.Role
	Display string
}

// TrailBundle renders a patient's access log at a cloud, as the patient's
// client verified it (cloudapi.Client.AuditTrail), as an R4 Bundle of type
// collection: one AuditEvent an entry (AccessAuditEvent). requester gives
// the party each entry's requester is; anchorHeight is the height of the
// block that anchored the checkpoint the entries were verified against.
func TrailBundle(trail []cloudapi.VerifiedEntry, cloud identity.ID, anchorHeight int64, requester func(identity.ID) Party) json.RawMessage {
	entries := make([]obj, 0, len(trail))
	for _, v := range trail {
		e := AccessAuditEvent(v, cloud, anchorHeight, requester(v.Requester))
		entries = append(entries, obj{"fullUrl": "urn:uuid:" + trailUUID(cloud, v.Index), "resource": e})
	}
	return mustJSON(obj{"resourceType": "Bundle", "type": "collection",
		"timestamp": instant(time.Now()), "entry": entries})
}

// AccessAuditEvent renders one verified entry of a patient's access log as
// an R4 AuditEvent: who (the requester, by its ledger ID and the name the
// patient knows it by) did what (read, alert, list or erase) to which
// patient's record, when, allowed or refused and why; the cloud that
// logged it as the source; and, as details of the record's entity, the
// entry's leaf hash and position in the access log, whether the anchored
// checkpoint covers it, and the requester's signed request, so that anyone
// can check the entry against the log's anchored root.
func AccessAuditEvent(v cloudapi.VerifiedEntry, cloud identity.ID, anchorHeight int64, who Party) obj {
	op := v.Op
	if op == "" {
		op = cloudapi.AccessRead
	}
	action, display := "R", "read of a record"
	switch op {
	case cloudapi.AccessAlert:
		display = "alert delivered"
	case cloudapi.AccessList:
		display = "listing of the access log"
	case cloudapi.AccessErase:
		action, display = "D", "erasure of the patient's records"
	}
	outcome, desc := "0", "allowed"
	if !v.Allowed {
		outcome, desc = "4", "refused: "+v.Reason
	}
	if op == cloudapi.AccessErase {
		desc += ", " + strconv.FormatUint(v.Erased, 10) + " records erased"
	}
	agent := obj{"requestor": true,
		"who": obj{"identifier": obj{"system": ActorSystem, "value": who.ID.Hex()}, "display": partyName(who)}}
	switch who.Role {
	case identity.RoleProvider:
		agent["type"] = obj{"coding": []obj{coding("http://terminology.hl7.org/CodeSystem/v3-RoleClass", "PROV", "healthcare provider")}}
	case identity.RolePatient:
		agent["type"] = obj{"coding": []obj{coding("http://terminology.hl7.org/CodeSystem/v3-RoleClass", "PAT", "patient")}}
	}
	leaf, err := v.Leaf()
	details := []obj{
		{"type": "log-index", "valueString": strconv.FormatUint(v.Index, 10)},
		{"type": "anchored", "valueString": strconv.FormatBool(v.Anchored)},
	}
	if err == nil {
		details = append(details, obj{"type": "leaf-hash", "valueString": hex.EncodeToString(leaf[:])})
	}
	if v.Anchored && anchorHeight > 0 {
		details = append(details, obj{"type": "anchor-height", "valueString": strconv.FormatInt(anchorHeight, 10)})
	}
	if v.Signed && len(v.Request) > 0 {
		details = append(details, obj{"type": "signed-request", "valueBase64Binary": base64.StdEncoding.EncodeToString(v.Request)})
	}
	entities := []obj{{
		"what": obj{"identifier": obj{"system": ActorSystem, "value": v.Patient.Hex()}, "display": "patient " + v.Patient.String()},
		"type": coding("http://terminology.hl7.org/CodeSystem/audit-entity-type", "1", "Person"),
		"role": coding("http://terminology.hl7.org/CodeSystem/object-role", "1", "Patient"),
	}}
	access := obj{
		"type":        coding("http://terminology.hl7.org/CodeSystem/audit-entity-type", "2", "System Object"),
		"description": "entry " + strconv.FormatUint(v.Index, 10) + " of the access log of cloud " + cloud.Hex(),
		"detail":      details,
	}
	if v.Record != ([32]byte{}) {
		access["what"] = obj{"identifier": obj{"system": RecordSystem, "value": hex.EncodeToString(v.Record[:])}}
	}
	entities = append(entities, access)
	return obj{"resourceType": "AuditEvent", "id": "access-" + strconv.FormatUint(v.Index, 10),
		"type":        coding("http://dicom.nema.org/resources/ontology/DCM", "110110", "Patient Record"),
		"subtype":     []obj{coding(AccessOpSystem, op, display)},
		"action":      action,
		"recorded":    instant(time.UnixMilli(v.Time)),
		"outcome":     outcome,
		"outcomeDesc": desc,
		"agent":       []obj{agent},
		"source": obj{"observer": obj{"identifier": obj{"system": ActorSystem, "value": cloud.Hex()}, "display": "VitalChain cloud " + cloud.String()},
			"type": []obj{coding("http://terminology.hl7.org/CodeSystem/security-source-type", "4", "Application Server")}},
		"entity": entities,
	}
}

func partyName(p Party) string {
	switch {
	case p.Display != "":
		return p.Display
	case p.Role != 0:
		return p.Role.String() + " " + p.ID.String()
	}
	return p.ID.String()
}

// trailUUID is a stable urn:uuid for an entry of a cloud's access log: a
// version 8 UUID of the cloud's ID and the entry's index.
func trailUUID(cloud identity.ID, index uint64) string {
	var b [16]byte
	copy(b[:8], cloud[:8])
	for i := 0; i < 8; i++ {
		b[8+i] = byte(index >> (56 - 8*i))
	}
	b[6] = b[6]&0x0f | 0x80
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
