package fhir_test

import (
	"fmt"
	"os"
	"time"

	"github.com/vitalchain/vitalchain/fhir"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/reading"
	"github.com/vitalchain/vitalchain/vital"
)

func Example() {
	patient := identity.ID{0xa0} // the patient's pseudonym (actor ID)
	cuff := identity.ID{0xd0}    // a blood pressure cuff's device ID
	at := time.UnixMilli(1741944413589)

	readings := []reading.Reading{
		// Taken together: exported as one blood pressure panel.
		reading.New(patient, cuff, 7, at, vital.Systolic, 120*vital.Unit),
		reading.New(patient, cuff, 8, at, vital.Diastolic, 80*vital.Unit),
		reading.New(patient, cuff, 9, at.Add(time.Minute), vital.HeartRate, 72500), // 72.5 /min
	}
	if err := fhir.NDJSON(os.Stdout, readings); err != nil {
		fmt.Println(err)
	}

	// An invalid reading fails the export and names its cause.
	bad := readings[2]
	bad.Unit = "/s"
	_, err := fhir.Bundle([]reading.Reading{bad})
	fmt.Println(err)
	// Output:
	// {"resourceType":"Observation","id":"a1fdcbb5-a5d8-84bb-b004-5a674be07c8e","identifier":[{"system":"urn:vitalchain:reading","value":"d000000000000000000000000000000000000000000000000000000000000000/7"},{"system":"urn:vitalchain:reading","value":"d000000000000000000000000000000000000000000000000000000000000000/8"}],"status":"final","category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"vital-signs","display":"Vital Signs"}]}],"code":{"coding":[{"system":"http://loinc.org","code":"85354-9","display":"Blood pressure panel with all children optional"}]},"subject":{"reference":"Patient/a000000000000000000000000000000000000000000000000000000000000000"},"effectiveDateTime":"2025-03-14T09:26:53.589Z","device":{"reference":"Device/d000000000000000000000000000000000000000000000000000000000000000"},"component":[{"code":{"coding":[{"system":"http://loinc.org","code":"8480-6","display":"Systolic blood pressure"}]},"valueQuantity":{"value":120,"unit":"mm[Hg]","system":"http://unitsofmeasure.org","code":"mm[Hg]"}},{"code":{"coding":[{"system":"http://loinc.org","code":"8462-4","display":"Diastolic blood pressure"}]},"valueQuantity":{"value":80,"unit":"mm[Hg]","system":"http://unitsofmeasure.org","code":"mm[Hg]"}}]}
	// {"resourceType":"Observation","id":"6b6f4c78-f5ce-8d87-b280-bc1e2977fc2a","identifier":[{"system":"urn:vitalchain:reading","value":"d000000000000000000000000000000000000000000000000000000000000000/9"}],"status":"final","category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"vital-signs","display":"Vital Signs"}]}],"code":{"coding":[{"system":"http://loinc.org","code":"8867-4","display":"Heart rate"}]},"subject":{"reference":"Patient/a000000000000000000000000000000000000000000000000000000000000000"},"effectiveDateTime":"2025-03-14T09:27:53.589Z","valueQuantity":{"value":72.5,"unit":"/min","system":"http://unitsofmeasure.org","code":"/min"},"device":{"reference":"Device/d000000000000000000000000000000000000000000000000000000000000000"}}
	// fhir: reading 0 (device d000000000000000 seq 9): reading: unit does not match the vital sign: heart_rate in "/s", want "/min"
}
