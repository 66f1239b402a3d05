package fhirapi

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/ledger"
	"github.com/vitalchain/vitalchain/vital"
)

// TestResourcesValidate checks each resource builder against R4, and that
// the validator refuses each with a required element taken out.
func TestResourcesValidate(t *testing.T) {
	p, me, dev := identity.ID{1}, identity.ID{2}, identity.ID{3}
	scope := []vital.Kind{vital.Kinds()[0], vital.Kinds()[1]}
	g := &ledger.GrantRecord{Expiry: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli(), Epoch: 2, Height: 40}
	for _, tc := range []struct {
		name     string
		res      obj
		required string
	}{
		{"Patient", patientResource(p), "resourceType"},
		{"gateway", gatewayResource(p), "resourceType"},
		{"wearable", wearableResource(dev, p, vital.Kinds()[:2]), "resourceType"},
		{"Consent", consentResource(p, me, g, scope, true), "status"},
		{"AuditEvent", auditEventResource(Access{Seq: 3, Time: time.Now(), Client: "ehr", Token: "0123456789abcdef", Method: "GET",
			Path: "/fhir/Observation", Query: "code=1", Interaction: "search-type", Resource: "Observation", Patients: []string{p.Hex()}, Status: 403, Remote: "127.0.0.1:1"}, me), "recorded"},
		{"AuditEvent without a token", auditEventResource(Access{Seq: 4, Time: time.Now(), Method: "GET", Path: "/fhir/Patient", Interaction: "search-type", Status: 401}, me), "source"},
		{"OperationOutcome", outcome("forbidden", "no"), "issue"},
	} {
		b, _ := json.Marshal(tc.res)
		validate(t, tc.name, b)
		delete(tc.res, tc.required)
		b, _ = json.Marshal(tc.res)
		if _, err := r4().UnmarshalR4(b); err == nil {
			t.Errorf("%s without %s passed the validator", tc.name, tc.required)
		}
	}
}
