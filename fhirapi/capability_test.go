package fhirapi

import (
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/vitalchain/vitalchain/identity"
)

// testCapability checks the CapabilityStatement against the server: every
// interaction and operation it lists is served (a request to it is
// answered by its route, not refused as unknown), and every route of the
// server is listed.
func testCapability(t *testing.T, c *client, srv *Server, tok string, pid identity.ID, subID string) {
	a := c.get("/metadata", "")
	want(t, "/metadata", a, http.StatusOK)
	var cs struct {
		ResourceType string `json:"resourceType"`
		FHIRVersion  string `json:"fhirVersion"`
		Rest         []struct {
			Resource []struct {
				Type        string `json:"type"`
				Interaction []struct {
					Code string `json:"code"`
				} `json:"interaction"`
				Operation []struct {
					Name string `json:"name"`
				} `json:"operation"`
			} `json:"resource"`
			Operation []struct {
				Name string `json:"name"`
			} `json:"operation"`
		} `json:"rest"`
	}
	if err := json.Unmarshal(a.body, &cs); err != nil || cs.ResourceType != "CapabilityStatement" || cs.FHIRVersion != "4.0.1" || len(cs.Rest) != 1 {
		t.Fatalf("not an R4 CapabilityStatement: %v %s", err, clip(a.body))
	}
	obs := c.get("/Observation?_count=1", tok).entries(t)
	if len(obs) == 0 {
		t.Fatal("no Observation")
	}
	srv.mu.Lock()
	rec := srv.patients[pid][0].id
	srv.mu.Unlock()
	ids := map[string]string{"Patient": pid.Hex(), "Device": gatewayID(pid), "Observation": obs[0]["id"].(string),
		"Provenance": hex.EncodeToString(rec[:]), "Consent": pid.Hex(), "AuditEvent": "1", "Subscription": subID}
	// served checks that a request reached a route of the interaction.
	served := func(what string, a answer, status int) {
		t.Helper()
		if a.status != status || strings.Contains(string(a.body), "not-supported") {
			t.Errorf("%s is listed but not served: %d %s", what, a.status, clip(a.body))
		}
	}
	listed := map[string]bool{}
	for _, r := range cs.Rest[0].Resource {
		for _, in := range r.Interaction {
			listed[r.Type+" "+in.Code] = true
			what := r.Type + " " + in.Code
			switch in.Code {
			case "read":
				served(what, c.get("/"+r.Type+"/"+ids[r.Type], tok), http.StatusOK)
			case "search-type":
				served(what, c.get("/"+r.Type, tok), http.StatusOK)
			case "create":
				served(what, c.do("POST", "/"+r.Type, tok, []byte(`{"resourceType":"`+r.Type+`"}`)), http.StatusBadRequest)
			case "delete":
				served(what, c.do("DELETE", "/"+r.Type+"/unknown", tok, nil), http.StatusNotFound)
			default:
				t.Errorf("%s: an interaction the test does not know", what)
			}
		}
		for _, op := range r.Operation {
			listed[r.Type+" $"+op.Name] = true
			what := r.Type + " $" + op.Name
			switch r.Type + " $" + op.Name {
			case "Observation $lastn":
				served(what, c.get("/Observation/$lastn", tok), http.StatusOK)
			case "Subscription $status":
				served(what, c.get("/Subscription/"+subID+"/$status", tok), http.StatusOK)
			case "Patient $export":
				served(what, c.get("/Patient/$export", tok), http.StatusAccepted)
			default:
				t.Errorf("%s: an operation the test does not know", what)
			}
		}
	}
	for _, op := range cs.Rest[0].Operation {
		listed[" $"+op.Name] = true
		if op.Name != "export" {
			t.Errorf("system operation $%s: not known to the test", op.Name)
			continue
		}
		served("$export", c.get("/$export", tok), http.StatusAccepted)
	}
	for _, r := range srv.routes {
		if r.Public || r.Part != "" {
			continue
		}
		key := r.Resource + " " + r.Interaction
		if r.Interaction == "operation" {
			key = r.Resource + " $" + r.Op
		}
		if !listed[key] {
			t.Errorf("route %s %s (%s) is not in the CapabilityStatement", r.Method, r.Path, key)
		}
	}
}
