package fhirapi

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/ledger"
	"github.com/vitalchain/vitalchain/provider"
	"github.com/vitalchain/vitalchain/vital"
)

// Systems and profiles of the resources.
const (
	// ActorSystem identifies an actor of the ledger by its ID in hex.
	ActorSystem = "urn:vitalchain:actor"
	// RecordSystem identifies a sealed record by its ID (SHA-256 of its
	// header) in hex.
	RecordSystem = "urn:vitalchain:record"
	// ClientSystem identifies a client of this API by the name its token
	// was issued to.
	ClientSystem = "urn:vitalchain:fhir-client"
	// ExtensionBase prefixes this server's extensions.
	ExtensionBase = "https://vitalchain.dev/fhir/StructureDefinition/"
	// ProofExtension carries a record's Merkle inclusion proof and its
	// anchor on a Provenance.
	ProofExtension = ExtensionBase + "merkle-inclusion-proof"
	// TopicURL is the canonical of the subscription topic of alerts.
	TopicURL = "https://vitalchain.dev/fhir/SubscriptionTopic/alert"

	profilePhg     = "http://hl7.org/fhir/uv/phd/StructureDefinition/PhgDevice"
	mdcSystem      = "urn:iso:std:iso:11073:10101"
	eui64System    = "urn:oid:1.2.840.10004.1.1.1.0.0.1.0.0.1.2680"
	backport       = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/"
	filterCriteria = backport + "backport-filter-criteria"
	payloadContent = backport + "backport-payload-content"
)

type obj = map[string]any

func ref(typ, id string) obj { return obj{"reference": typ + "/" + id} }

func coding(system, code, display string) obj {
	c := obj{"system": system, "code": code}
	if display != "" {
		c["display"] = display
	}
	return c
}

func instant(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// gatewayID is the Device id of a patient's gateway: a version 8 UUID of
// the patient's ID (a Device id holds at most 64 characters, a gateway's
// would otherwise need more than the patient's hex).
func gatewayID(patient identity.ID) string {
	return uuidOf("vitalchain fhirapi gateway", string(patient[:]))
}

// uuidOf is a version 8 UUID (RFC 9562) of SHA-256 of its parts.
func uuidOf(parts ...string) string {
	h := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	h[6] = h[6]&0x0f | 0x80
	h[8] = h[8]&0x3f | 0x80
	x := hex.EncodeToString(h[:16])
	return x[:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:32]
}

// eui64 is a stand-in EUI-64 for the gateway: the gateway has none of its
// own, so the first 8 bytes of SHA-256 of the patient's ID.
func eui64(patient identity.ID) string {
	h := sha256.Sum256(append([]byte("vitalchain eui-64\x00"), patient[:]...))
	var b []byte
	for i := range 8 {
		if i > 0 {
			b = append(b, '-')
		}
		b = append(b, fmt.Sprintf("%02X", h[i])...)
	}
	return string(b)
}

func patientResource(p identity.ID) obj {
	return obj{"resourceType": "Patient", "id": p.Hex(),
		"identifier": []obj{{"system": ActorSystem, "value": p.Hex()}},
		"active":     true,
	}
}

// gatewayResource is the patient's gateway as a PhgDevice (the HL7
// Personal Health Device IG): it receives the wearables' readings and
// seals the abnormal ones with the patient's key.
func gatewayResource(p identity.ID) obj {
	return obj{"resourceType": "Device", "id": gatewayID(p),
		"meta": obj{"profile": []string{profilePhg}},
		"identifier": []obj{
			{"system": eui64System, "value": eui64(p), "type": obj{"coding": []obj{coding("http://hl7.org/fhir/uv/phd/CodeSystem/ContinuaDeviceIdentifiers", "SYSID", "IEEE 11073 System Identifier")}}},
			{"system": ActorSystem, "value": p.Hex()},
		},
		"status":       "active",
		"manufacturer": "VitalChain",
		"deviceName":   []obj{{"name": "VitalChain gateway", "type": "user-friendly-name"}},
		"type":         obj{"coding": []obj{coding(mdcSystem, "531981", "MDC_MOC_VMS_MDS_AHD")}, "text": "Personal health gateway"},
		"patient":      ref("Patient", p.Hex()),
	}
}

// wearableResource is a patient's wearable, which signs its readings.
func wearableResource(device, patient identity.ID, kinds []vital.Kind) obj {
	names := []obj{{"name": "VitalChain wearable " + device.String(), "type": "user-friendly-name"}}
	d := obj{"resourceType": "Device", "id": device.Hex(),
		"identifier": []obj{{"system": ActorSystem, "value": device.Hex()}},
		"status":     "active",
		"deviceName": names,
		"type":       obj{"text": "Wearable"},
		"patient":    ref("Patient", patient.Hex()),
		"parent":     ref("Device", gatewayID(patient)),
	}
	var props []obj
	for _, k := range kinds {
		props = append(props, obj{"type": obj{"coding": []obj{coding("http://loinc.org", k.Info().LOINC, k.Info().Display)}, "text": "measures"}})
	}
	if len(props) > 0 {
		d["property"] = props
	}
	return d
}

// consentResource is a patient's grant to this provider, covering scope.
func consentResource(patient, me identity.ID, g *ledger.GrantRecord, scope []vital.Kind, active bool) obj {
	status := "active"
	if !active {
		status = "inactive"
	}
	var codes []obj
	for _, k := range scope {
		if k.Valid() {
			codes = append(codes, obj{"coding": []obj{coding("http://loinc.org", k.Info().LOINC, k.Info().Display)}})
		}
	}
	prov := obj{"type": "permit",
		"period": obj{"end": instant(time.UnixMilli(g.Expiry))},
		"actor": []obj{{"role": obj{"coding": []obj{coding("http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "IRCP", "information recipient")}},
			"reference": obj{"identifier": obj{"system": ActorSystem, "value": me.Hex()}, "display": "provider " + me.String()}}},
		"action": []obj{{"coding": []obj{coding("http://terminology.hl7.org/CodeSystem/consentaction", "access", "Access")}}},
	}
	if len(codes) > 0 {
		prov["code"] = codes
	}
	c := obj{"resourceType": "Consent", "id": patient.Hex(),
		"identifier": []obj{{"system": "urn:vitalchain:grant", "value": patient.Hex() + "/" + me.Hex() + "/" + strconv.FormatUint(g.Epoch, 10)}},
		"status":     status,
		"scope":      obj{"coding": []obj{coding("http://terminology.hl7.org/CodeSystem/consentscope", "patient-privacy", "Privacy Consent")}},
		"category":   []obj{{"coding": []obj{coding("http://loinc.org", "59284-0", "Patient Consent")}}},
		"patient":    ref("Patient", patient.Hex()),
		"policyRule": obj{"coding": []obj{coding("http://terminology.hl7.org/CodeSystem/v3-ActCode", "OPTIN", "opt-in")}},
		"provision":  prov,
		"extension": []obj{{"url": ExtensionBase + "grant-height", "valueString": strconv.FormatInt(g.Height, 10)},
			{"url": ExtensionBase + "grant-commands", "valueBoolean": g.Commands}},
	}
	return c
}

// provenanceResource says why an Observation can be trusted: the device's
// signature on the reading, the record that carries it, and the record's
// inclusion in the cloud's checkpoint anchored on the ledger.
func provenanceResource(f *provider.Fetched, obsID, proofLink string) obj {
	rec := hex.EncodeToString(f.ID[:])
	t := f.Reading.Timestamp()
	proof := []obj{
		{"url": "record", "valueString": rec},
		{"url": "index", "valueString": strconv.FormatUint(f.Index, 10)},
		{"url": "checkpointSize", "valueString": strconv.FormatUint(f.Checkpoint.Size, 10)},
		{"url": "checkpointRoot", "valueBase64Binary": base64.StdEncoding.EncodeToString(f.Checkpoint.Root[:])},
		{"url": "hashing", "valueString": "RFC 9162 (SHA-256); the leaf is the record's ID"},
		{"url": "anchored", "valueBoolean": f.Anchored},
	}
	for _, h := range f.Proof {
		proof = append(proof, obj{"url": "path", "valueBase64Binary": base64.StdEncoding.EncodeToString(h[:])})
	}
	if f.Anchored {
		proof = append(proof, obj{"url": "blockHeight", "valueString": strconv.FormatInt(f.Height, 10)},
			obj{"url": "cloud", "valueString": f.Cloud.Hex()})
	}
	if proofLink != "" {
		proof = append(proof, obj{"url": "rawProof", "valueUrl": proofLink})
	}
	dev := f.Reading.Device.Hex()
	return obj{"resourceType": "Provenance", "id": rec,
		"extension":        []obj{{"url": ProofExtension, "extension": proof}},
		"target":           []obj{ref("Observation", obsID)},
		"occurredDateTime": instant(t),
		"recorded":         instant(t),
		"agent": []obj{
			{"type": obj{"coding": []obj{coding("http://terminology.hl7.org/CodeSystem/provenance-participant-type", "author", "Author")}},
				"who": ref("Device", dev)},
			{"type": obj{"coding": []obj{coding("http://terminology.hl7.org/CodeSystem/provenance-participant-type", "assembler", "Assembler")}},
				"who": ref("Device", gatewayID(f.Header.Patient))},
		},
		"entity": []obj{{"role": "source", "what": obj{"identifier": obj{"system": RecordSystem, "value": rec},
			"display": "sealed record " + rec}}},
		"signature": []obj{{
			"type":      []obj{coding("urn:iso-astm:E1762-95:2013", "1.2.840.10065.1.12.1.5", "Verification Signature")},
			"when":      instant(t),
			"who":       ref("Device", dev),
			"sigFormat": "application/cose",
			"data":      base64.StdEncoding.EncodeToString(f.Signed),
		}},
	}
}

// auditEventResource is one entry of the access log.
func auditEventResource(a Access, me identity.ID) obj {
	action := "E"
	switch a.Interaction {
	case "read", "search-type", "capabilities":
		action = "R"
	case "create":
		action = "C"
	case "delete":
		action = "D"
	}
	outcome := "0"
	switch {
	case a.Status >= 500:
		outcome = "8"
	case a.Status >= 400:
		outcome = "4"
	}
	agent := obj{"requestor": true,
		"type": obj{"coding": []obj{coding("http://terminology.hl7.org/CodeSystem/extra-security-role-type", "datacollector", "data collector")}}}
	if a.Client != "" {
		agent["who"] = obj{"identifier": obj{"system": ClientSystem, "value": a.Client}, "display": a.Client}
		if a.Token != "" {
			agent["altId"] = a.Token
		}
	} else {
		agent["name"] = "no valid token"
	}
	if a.Remote != "" {
		agent["network"] = obj{"address": a.Remote, "type": "2"}
	}
	e := obj{"resourceType": "AuditEvent", "id": strconv.FormatUint(a.Seq, 10),
		"type":        coding("http://terminology.hl7.org/CodeSystem/audit-event-type", "rest", "RESTful Operation"),
		"subtype":     []obj{coding("http://hl7.org/fhir/restful-interaction", a.Interaction, "")},
		"action":      action,
		"recorded":    instant(a.Time),
		"outcome":     outcome,
		"outcomeDesc": "HTTP " + strconv.Itoa(a.Status),
		"agent":       []obj{agent},
		"source": obj{"observer": obj{"identifier": obj{"system": ActorSystem, "value": me.Hex()}, "display": "VitalChain FHIR API of provider " + me.String()},
			"type": []obj{coding("http://terminology.hl7.org/CodeSystem/security-source-type", "3", "Web Server")}},
	}
	var ents []obj
	for _, p := range a.Patients {
		ents = append(ents, obj{"what": ref("Patient", p), "type": coding("http://terminology.hl7.org/CodeSystem/audit-entity-type", "1", "Person"),
			"role": coding("http://terminology.hl7.org/CodeSystem/object-role", "1", "Patient")})
	}
	q := a.Method + " " + a.Path
	if a.Query != "" {
		q += "?" + a.Query
	}
	ents = append(ents, obj{"type": coding("http://terminology.hl7.org/CodeSystem/audit-entity-type", "2", "System Object"),
		"description": a.Resource, "query": base64.StdEncoding.EncodeToString([]byte(q))})
	e["entity"] = ents
	return e
}

// outcome is an OperationOutcome of one error issue.
func outcome(code, diagnostics string) obj {
	return obj{"resourceType": "OperationOutcome",
		"issue": []obj{{"severity": "error", "code": code, "diagnostics": diagnostics}}}
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
