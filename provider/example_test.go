package provider_test

import (
	"fmt"
	"os"
	"time"

	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/provider"
	"github.com/vitalchain/vitalchain/reading"
	"github.com/vitalchain/vitalchain/vital"
)

// Export writes the verified readings of fetched records as FHIR. Here the
// records are made up; in use they come from Provider.Fetch.
func ExampleExport() {
	patient := identity.ID{0xa0}
	cgm := identity.ID{0xd0} // a glucose monitor's device ID
	at := time.UnixMilli(1741944413589)
	fetched := []*provider.Fetched{
		{Reading: reading.New(patient, cgm, 41, at, vital.Glucose, 250*vital.Unit)},
	}
	if err := provider.Export(os.Stdout, fetched, provider.FormatNDJSON); err != nil {
		fmt.Println(err)
	}
	fmt.Println(provider.Export(os.Stdout, fetched, "csv"))
	// Output:
	// {"resourceType":"Observation","id":"624debde-a0a7-8bb0-8509-1236992c45e1","identifier":[{"system":"urn:vitalchain:reading","value":"d000000000000000000000000000000000000000000000000000000000000000/41"}],"status":"final","category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"vital-signs","display":"Vital Signs"}]}],"code":{"coding":[{"system":"http://loinc.org","code":"2339-0","display":"Glucose [Mass/volume] in Blood"}]},"subject":{"reference":"Patient/a000000000000000000000000000000000000000000000000000000000000000"},"effectiveDateTime":"2025-03-14T09:26:53.589Z","valueQuantity":{"value":250,"unit":"mg/dL","system":"http://unitsofmeasure.org","code":"mg/dL"},"device":{"reference":"Device/d000000000000000000000000000000000000000000000000000000000000000"}}
	// provider: export: unknown export format "csv" (want bundle or ndjson)
}
