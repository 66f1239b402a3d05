package fhirapi

import (
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/vitalchain/vitalchain/cloud/cloudapi"
	"github.com/vitalchain/vitalchain/identity"
)

// A patient's verified access log exports as an R4 Bundle of AuditEvents:
// valid FHIR, one event an entry, each naming who did what to whose
// record, the outcome, and the entry's place in the anchored log.
func TestTrailBundle(t *testing.T) {
	ids := make([]identity.ID, 3)
	for i := range ids {
		k, err := identity.GenerateSigningKey(identity.RoleProvider)
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = k.Public().ID()
	}
	patient, prov, cloud := ids[0], ids[1], ids[2]
	at := time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC).UnixMilli()
	rec := [32]byte{1, 2, 3}
	trail := []cloudapi.VerifiedEntry{
		{AccessEntry: cloudapi.AccessEntry{Index: 4, Time: at, Requester: prov, Patient: patient, Record: rec, Allowed: true, Op: cloudapi.AccessAlert, Request: []byte("signed")}, Anchored: true, Signed: true},
		{AccessEntry: cloudapi.AccessEntry{Index: 7, Time: at + 1000, Requester: prov, Patient: patient, Record: rec, Allowed: true}, Anchored: true},
		{AccessEntry: cloudapi.AccessEntry{Index: 9, Time: at + 2000, Requester: prov, Patient: patient, Record: rec, Reason: "not_granted"}},
		{AccessEntry: cloudapi.AccessEntry{Index: 12, Time: at + 3000, Requester: patient, Patient: patient, Allowed: true, Op: cloudapi.AccessErase, Erased: 5}},
	}
	parties := map[identity.ID]Party{
		prov:    {ID: prov, Role: identity.RoleProvider, Display: "Dr. Example, cardiology"},
		patient: {ID: patient, Role: identity.RolePatient},
	}
	b := TrailBundle(trail, cloud, 42, func(id identity.ID) Party { return parties[id] })
	var bundle struct {
		ResourceType string
		Type         string
		Entry        []struct {
			FullURL  string          `json:"fullUrl"`
			Resource json.RawMessage `json:"resource"`
		}
	}
	if err := json.Unmarshal(b, &bundle); err != nil {
		t.Fatal(err)
	}
	validate(t, "the trail's Bundle", b)
	if bundle.ResourceType != "Bundle" || bundle.Type != "collection" || len(bundle.Entry) != len(trail) {
		t.Fatalf("bundle %s/%s with %d entries, want a collection of %d", bundle.ResourceType, bundle.Type, len(bundle.Entry), len(trail))
	}
	type event struct {
		ID          string
		Action      string
		Recorded    string
		Outcome     string
		OutcomeDesc string
		Subtype     []struct{ Code string }
		Agent       []struct {
			Who struct {
				Identifier struct{ Value string }
				Display    string
			}
		}
		Entity []struct {
			What struct {
				Identifier struct{ System, Value string }
			}
			Detail []struct {
				Type        string
				ValueString string
			}
		}
	}
	leaf, err := trail[0].Leaf()
	if err != nil {
		t.Fatal(err)
	}
	urls := map[string]bool{}
	for i, e := range bundle.Entry {
		validate(t, "AuditEvent "+e.FullURL, e.Resource)
		urls[e.FullURL] = true
		var ev event
		if err := json.Unmarshal(e.Resource, &ev); err != nil {
			t.Fatal(err)
		}
		v := trail[i]
		if len(ev.Agent) != 1 || ev.Agent[0].Who.Identifier.Value != v.Requester.Hex() {
			t.Errorf("entry %d: agent %+v, want %s", v.Index, ev.Agent, v.Requester.Hex())
		}
		if got, want := ev.Recorded, time.UnixMilli(v.Time).UTC().Format("2006-01-02T15:04:05.000Z"); got != want {
			t.Errorf("entry %d recorded %s, want %s", v.Index, got, want)
		}
		if len(ev.Entity) != 2 || ev.Entity[0].What.Identifier.Value != patient.Hex() {
			t.Fatalf("entry %d: entities %+v", v.Index, ev.Entity)
		}
		details := map[string]string{}
		for _, d := range ev.Entity[1].Detail {
			details[d.Type] = d.ValueString
		}
		if details["log-index"] != strings.TrimPrefix(ev.ID, "access-") {
			t.Errorf("entry %d: id %s, log-index %q", v.Index, ev.ID, details["log-index"])
		}
		if (details["anchor-height"] == "42") != v.Anchored {
			t.Errorf("entry %d (anchored %v): anchor height %q", v.Index, v.Anchored, details["anchor-height"])
		}
		if (v.Record != [32]byte{}) != (ev.Entity[1].What.Identifier.Value == hex.EncodeToString(v.Record[:])) {
			t.Errorf("entry %d: record entity %+v", v.Index, ev.Entity[1].What)
		}
		if i == 0 && details["leaf-hash"] != hex.EncodeToString(leaf[:]) {
			t.Errorf("entry 4: leaf hash %q, want %x", details["leaf-hash"], leaf)
		}
	}
	if len(urls) != len(trail) {
		t.Errorf("%d distinct fullUrls for %d entries", len(urls), len(trail))
	}
	var first, refused, erased event
	json.Unmarshal(bundle.Entry[0].Resource, &first)
	json.Unmarshal(bundle.Entry[2].Resource, &refused)
	json.Unmarshal(bundle.Entry[3].Resource, &erased)
	if first.Agent[0].Who.Display != "Dr. Example, cardiology" || first.Subtype[0].Code != "alert" || first.Outcome != "0" {
		t.Errorf("the alert's event: %+v", first)
	}
	if refused.Outcome != "4" || !strings.Contains(refused.OutcomeDesc, "not_granted") || refused.Subtype[0].Code != "read" {
		t.Errorf("the refused read's event: %+v", refused)
	}
	if erased.Action != "D" || !strings.Contains(erased.OutcomeDesc, "5 records erased") {
		t.Errorf("the erasure's event: %+v", erased)
	}
}
