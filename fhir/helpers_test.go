package fhir

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/reading"
	"github.com/vitalchain/vitalchain/vital"
)

// fixedID returns the ID b, b+1, ..., b+31.
func fixedID(b byte) identity.ID {
	var id identity.ID
	for i := range id {
		id[i] = b + byte(i)
	}
	return id
}

var (
	patientA = fixedID(0xa0)
	patientB = fixedID(0x60)
	cuff     = fixedID(0xd0) // a blood pressure cuff
	watch    = fixedID(0x10) // a wearable with several sensors
	meter    = fixedID(0x40) // a glucose meter
)

// t0 is 2025-03-14T09:26:53.589Z.
var t0 = time.UnixMilli(1741944413589)

func rd(device identity.ID, seq uint64, t time.Time, k vital.Kind, v string) reading.Reading {
	q, err := vital.ParseQuantity(v)
	if err != nil {
		panic(err)
	}
	return reading.New(patientA, device, seq, t, k, q)
}

// goldenReadings covers every vital sign, a blood pressure pair, an
// unpaired systolic reading and an exact duplicate, in no particular order.
func goldenReadings() []reading.Reading {
	return []reading.Reading{
		rd(watch, 44, t0.Add(time.Second), vital.BodyTemperature, "37.25"),
		rd(cuff, 9, t0.Add(time.Minute), vital.Systolic, "135.5"),
		rd(watch, 41, t0, vital.HeartRate, "72"),
		rd(meter, 3, t0.Add(-time.Hour), vital.Glucose, "212.5"),
		rd(cuff, 8, t0, vital.Diastolic, "80"),
		rd(watch, 45, t0.Add(24*time.Hour), vital.Steps, "8432"),
		rd(watch, 42, t0, vital.SpO2, "98"),
		rd(cuff, 7, t0, vital.Systolic, "120"),
		rd(watch, 43, t0.Add(time.Second), vital.RespiratoryRate, "16"),
		rd(watch, 41, t0, vital.HeartRate, "72"), // duplicate: exported once
	}
}

// Generic views of the output, decoded independently of the package's own
// types, with numbers kept as their text.

type jsonObject = map[string]any

func decodeJSON(t testing.TB, b []byte) jsonObject {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v jsonObject
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("invalid JSON: %v\n%s", err, b)
	}
	if dec.More() {
		t.Fatalf("trailing data after JSON value")
	}
	return v
}

func bundleResources(t testing.TB, b []byte) []jsonObject {
	t.Helper()
	bundle := decodeJSON(t, b)
	entries, _ := bundle["entry"].([]any)
	var out []jsonObject
	for _, e := range entries {
		out = append(out, e.(jsonObject)["resource"].(jsonObject))
	}
	return out
}

// Patterns of FHIR R4 primitive types, from fhir.schema.json
// (http://hl7.org/fhir/R4/fhir.schema.json), and of a lower-case UUID.
var (
	reID       = regexp.MustCompile(`^[A-Za-z0-9\-\.]{1,64}$`)
	reDecimal  = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$`)
	reDateTime = regexp.MustCompile(`^([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|3[0-1])(T([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00)))?)?)?$`)
	reURI      = regexp.MustCompile(`^\S*$`)
	reCode     = regexp.MustCompile(`^[^\s]+(\s[^\s]+)*$`)
	reUUID     = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	reUTCms    = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$`)
	reHexRef   = regexp.MustCompile(`^(Patient|Device)/[0-9a-f]{64}$`)
	reReadID   = regexp.MustCompile(`^[0-9a-f]{64}/[1-9][0-9]*$`)
)

// observationElements are the elements of an R4 Observation (the
// properties of Observation in fhir.schema.json, without the _primitive
// extension twins): anything else is not FHIR.
var observationElements = strings.Fields(`resourceType id meta implicitRules
language text contained extension modifierExtension identifier basedOn partOf
status category code subject focus encounter effectiveDateTime effectivePeriod
effectiveTiming effectiveInstant issued performer valueQuantity
valueCodeableConcept valueString valueBoolean valueInteger valueRange
valueRatio valueSampledData valueTime valueDateTime valuePeriod
dataAbsentReason interpretation note bodySite method specimen device
referenceRange hasMember derivedFrom component`)

// checkObservation checks one Observation against the R4 base resource's
// primitive patterns, the R4 vital signs profile (vitalsigns, and bp,
// bodytemp, heartrate, resprate, oxygensat for their codes) and what this
// package promises. It returns every problem found.
func checkObservation(o jsonObject) []string {
	var errs []string
	fail := func(f string, a ...any) { errs = append(errs, fmt.Sprintf(f, a...)) }
	str := func(v any, name string, re *regexp.Regexp) string {
		s, ok := v.(string)
		if !ok || s == "" {
			fail("%s: missing or not a string: %v", name, v)
			return ""
		}
		if re != nil && !re.MatchString(s) {
			fail("%s: %q does not match %s", name, s, re)
		}
		return s
	}
	obj := func(v any, name string) jsonObject {
		m, ok := v.(jsonObject)
		if !ok {
			fail("%s: missing or not an object", name)
		}
		return m
	}
	arr := func(v any, name string) []any {
		a, ok := v.([]any)
		if !ok || len(a) == 0 {
			fail("%s: missing or empty array", name)
		}
		return a
	}

	for k := range o {
		if !containsString(observationElements, k) {
			fail("unknown element %q", k)
		}
	}
	if str(o["resourceType"], "resourceType", nil) != "Observation" {
		fail("resourceType is not Observation")
	}
	str(o["id"], "id", reID)
	str(o["id"], "id", reUUID)
	if str(o["status"], "status", reCode) != "final" {
		fail("status is not final")
	}

	// VSCat: a category coding vital-signs of observation-category.
	vsCat := false
	for _, c := range arr(o["category"], "category") {
		for _, cd := range arr(obj(c, "category[]")["coding"], "category.coding") {
			cd := obj(cd, "category.coding[]")
			if cd["system"] == systemCategory && cd["code"] == "vital-signs" {
				vsCat = true
			}
		}
	}
	if !vsCat {
		fail("no vital-signs category (slice VSCat)")
	}

	// code: LOINC codings with code and display.
	var codes []string
	for _, cd := range arr(obj(o["code"], "code")["coding"], "code.coding") {
		cd := obj(cd, "code.coding[]")
		if str(cd["system"], "code.coding.system", reURI) != systemLOINC {
			fail("code.coding.system is not LOINC")
		}
		codes = append(codes, str(cd["code"], "code.coding.code", reCode))
		str(cd["display"], "code.coding.display", nil)
	}
	if len(codes) == 0 {
		return errs
	}
	code := codes[0]

	str(obj(o["subject"], "subject")["reference"], "subject.reference", reHexRef)
	if s, _ := obj(o["subject"], "subject")["reference"].(string); !strings.HasPrefix(s, "Patient/") {
		fail("subject is not a Patient")
	}
	if s, _ := obj(o["device"], "device")["reference"].(string); !strings.HasPrefix(s, "Device/") || !reHexRef.MatchString(s) {
		fail("device.reference %q", s)
	}
	// vs-1: a dateTime to at least the day; ours are UTC with milliseconds.
	str(o["effectiveDateTime"], "effectiveDateTime", reDateTime)
	str(o["effectiveDateTime"], "effectiveDateTime", reUTCms)

	ids := arr(o["identifier"], "identifier")
	for _, id := range ids {
		id := obj(id, "identifier[]")
		if id["system"] != IdentifierSystem {
			fail("identifier.system %v", id["system"])
		}
		str(id["value"], "identifier.value", reReadID)
	}

	// Quantity per the profile: value, unit, system UCUM and code, 1..1 each.
	checkQuantity := func(v any, name, wantUnit string) {
		q := obj(v, name)
		if q == nil {
			return
		}
		n, ok := q["value"].(json.Number)
		if !ok || !reDecimal.MatchString(string(n)) {
			fail("%s.value: not a FHIR decimal: %v", name, q["value"])
		}
		str(q["unit"], name+".unit", nil)
		if str(q["system"], name+".system", reURI) != systemUCUM {
			fail("%s.system is not UCUM", name)
		}
		if c := str(q["code"], name+".code", reCode); wantUnit != "" && c != wantUnit {
			fail("%s.code %q, want %q", name, c, wantUnit)
		}
	}

	wantUnit := map[string]string{"8867-4": "/min", "9279-1": "/min", "8310-5": "Cel", "59408-5": "%", "8480-6": "mm[Hg]", "8462-4": "mm[Hg]"}
	if code == codeBPPanel {
		// bp: no value of its own, components systolic then diastolic.
		if _, ok := o["valueQuantity"]; ok {
			fail("blood pressure panel has a valueQuantity")
		}
		comps := arr(o["component"], "component")
		if len(comps) != 2 {
			fail("blood pressure panel has %d components", len(comps))
			return errs
		}
		for i, want := range []string{"8480-6", "8462-4"} {
			c := obj(comps[i], "component[]")
			cd := arr(obj(c["code"], "component.code")["coding"], "component.code.coding")
			if got := obj(cd[0], "component.code.coding[]")["code"]; got != want {
				fail("component %d code %v, want %s", i, got, want)
			}
			// vs-3: every component has a value.
			checkQuantity(c["valueQuantity"], "component.valueQuantity", "mm[Hg]")
		}
		if len(ids) != 2 {
			fail("blood pressure panel has %d identifiers, want 2", len(ids))
		}
		return errs
	}
	// vs-2: no component, so a value.
	if _, ok := o["component"]; ok {
		fail("single observation has components")
	}
	checkQuantity(o["valueQuantity"], "valueQuantity", wantUnit[code])
	if code == "59408-5" && !containsString(codes, codeO2Sat) {
		fail("SpO2 without the 2708-6 coding the oxygensat profile requires")
	}
	if len(ids) != 1 {
		fail("%d identifiers, want 1", len(ids))
	}
	return errs
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// checkBundle checks a Bundle of type collection with valid Observations,
// each under the urn:uuid of its id, all fullUrls distinct (bdl-7), and
// returns the resources.
func checkBundle(t testing.TB, b []byte) []jsonObject {
	t.Helper()
	bundle := decodeJSON(t, b)
	if bundle["resourceType"] != "Bundle" || bundle["type"] != "collection" {
		t.Errorf("bundle resourceType %v type %v", bundle["resourceType"], bundle["type"])
	}
	for k := range bundle {
		if k != "resourceType" && k != "type" && k != "entry" {
			t.Errorf("bundle has element %q", k)
		}
	}
	entries, _ := bundle["entry"].([]any)
	seen := map[string]bool{}
	var out []jsonObject
	for i, e := range entries {
		e := e.(jsonObject)
		o, _ := e["resource"].(jsonObject)
		if o == nil {
			t.Errorf("entry %d: no resource", i)
			continue
		}
		full, _ := e["fullUrl"].(string)
		if full != "urn:uuid:"+fmt.Sprint(o["id"]) {
			t.Errorf("entry %d: fullUrl %q for id %v", i, full, o["id"])
		}
		if seen[full] {
			t.Errorf("entry %d: duplicate fullUrl %q (bdl-7)", i, full)
		}
		seen[full] = true
		for _, err := range checkObservation(o) {
			t.Errorf("entry %d: %s", i, err)
		}
		out = append(out, o)
	}
	return out
}
