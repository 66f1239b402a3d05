package fhirapi

import (
	"slices"
	"strings"
)

// operationDefs are the canonical definitions of the operations served.
var operationDefs = map[string]string{
	"lastn":  "http://hl7.org/fhir/OperationDefinition/Observation-lastn",
	"export": "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export",
	"status": "http://hl7.org/fhir/uv/subscriptions-backport/OperationDefinition/backport-subscription-status",
}

// capability is the CapabilityStatement, made from the route table: each
// resource type with the interactions, search parameters and operations
// that have a route, and the system's operations.
func (s *Server) capability() obj {
	var resources []obj
	var sysOps []obj
	byType := map[string]obj{}
	var order []string
	for _, r := range s.routes {
		if r.Public || r.Part != "" {
			continue
		}
		if r.Resource == "" {
			if r.Op != "" {
				sysOps = append(sysOps, obj{"name": r.Op, "definition": operationDefs[r.Op]})
			}
			continue
		}
		res, ok := byType[r.Resource]
		if !ok {
			res = obj{"type": r.Resource}
			byType[r.Resource] = res
			order = append(order, r.Resource)
		}
		switch r.Interaction {
		case "operation":
			ops, _ := res["operation"].([]obj)
			res["operation"] = append(ops, obj{"name": r.Op, "definition": operationDefs[r.Op]})
		default:
			in, _ := res["interaction"].([]obj)
			res["interaction"] = append(in, obj{"code": r.Interaction})
			if r.Interaction == "search-type" {
				var sp []obj
				for _, p := range r.Params {
					e := obj{"name": p.Name, "type": p.Type}
					if p.Doc != "" {
						e["documentation"] = p.Doc
					}
					sp = append(sp, e)
				}
				if len(sp) > 0 {
					res["searchParam"] = sp
				}
			}
		}
	}
	for _, t := range order {
		res := byType[t]
		if t == "Subscription" {
			res["extension"] = []obj{{"url": "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/capabilitystatement-subscriptiontopic-canonical",
				"valueCanonical": TopicURL}}
		}
		if t == "Device" {
			res["supportedProfile"] = []string{profilePhg}
		}
		resources = append(resources, res)
	}
	slices.SortStableFunc(resources, func(a, b obj) int { return strings.Compare(a["type"].(string), b["type"].(string)) })
	rest := obj{"mode": "server",
		"documentation": "Patients with a grant in force to this provider; Observations are the records of the provider's alerts, decrypted and verified in the provider's process.",
		"security": obj{"cors": false,
			"service":     []obj{{"coding": []obj{coding("http://terminology.hl7.org/CodeSystem/restful-security-service", "SMART-on-FHIR", "SMART-on-FHIR")}}},
			"description": "Bearer tokens issued by `vitalchain provider token`, with SMART v2 scopes (patient/Observation.rs, patient/*.rs, user/*.rs…)."},
		"resource": resources,
	}
	if len(sysOps) > 0 {
		rest["operation"] = sysOps
	}
	impl := obj{"description": "VitalChain provider " + s.me.String()}
	if s.cfg.URL != "" {
		impl["url"] = s.Base()
	}
	return obj{"resourceType": "CapabilityStatement",
		"status":         "active",
		"date":           "2026-12-06",
		"publisher":      "VitalChain",
		"kind":           "instance",
		"instantiates":   []string{"http://hl7.org/fhir/uv/bulkdata/CapabilityStatement/bulk-data"},
		"software":       obj{"name": "VitalChain provider FHIR API"},
		"implementation": impl,
		"fhirVersion":    "4.0.1",
		"format":         []string{"application/fhir+json"},
		"rest":           []obj{rest},
	}
}
