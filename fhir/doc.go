// Package fhir exports device readings as HL7 FHIR R4 Observations, for a
// provider to load into an electronic health record: Bundle gives a Bundle
// of type collection, NDJSON one Observation per line (the Bulk Data
// format). Both are compact JSON, byte for byte the same for the same set
// of readings in any order.
//
// # One reading, one Observation
//
//	resourceType       "Observation"
//	id                 a UUID of the device ID and seq (below)
//	identifier         [{system "urn:vitalchain:reading", value "<device hex>/<seq>"}]
//	status             "final"
//	category           [vital-signs of http://terminology.hl7.org/CodeSystem/observation-category]
//	code               LOINC (http://loinc.org): the reading's code, display from vital.Info.Display
//	subject            "Patient/<patient ID in hex>", the patient's pseudonym on the ledger
//	effectiveDateTime  the reading's time, RFC 3339 in UTC with milliseconds
//	valueQuantity      {value, unit, system http://unitsofmeasure.org, code}: the UCUM unit
//	                   as both unit and code; the value is the decimal text of the
//	                   fixed-point vital.Quantity ("37.25", "212.5", "98"), written as a
//	                   JSON number without ever passing through a float64
//	device             "Device/<device ID in hex>"
//
// This is what the R4 vital signs profile (observation-vitalsigns) asks
// for, and for their codes the bodytemp, heartrate, resprate and oxygensat
// profiles. The oxygensat profile requires the LOINC coding 2708-6 (oxygen
// saturation in arterial blood), so an SpO2 Observation carries it after
// the device's own, more specific 59408-5 (by pulse oximetry). Glucose and
// steps are exported with the same vital-signs category, as the codes are
// not in the profile's extensible value set but are vital signs to
// VitalChain.
//
// # Blood pressure
//
// The bp profile wants one panel Observation, LOINC 85354-9, with no value
// of its own and two components, systolic (8480-6) then diastolic
// (8462-4), each with a valueQuantity in mm[Hg]. A systolic and a
// diastolic reading are paired into such a panel when they have the same
// device, the same time (to the millisecond) and the same patient; among
// several candidates, readings pair in seq order. The panel has both
// readings' identifiers. A blood pressure reading without a partner is
// exported alone, with its own code and value: valid for the vital signs
// profile but not for bp, since half a blood pressure is all there is.
//
// # Idempotent re-exports
//
// An Observation's id is a version 8 UUID (RFC 9562, name-based with
// SHA-256) of a domain string, the device ID and the seq, or both seqs for
// a panel; Bundle entries have fullUrl "urn:uuid:<id>". Exporting a
// reading again gives the same id and identifier, so a server that
// updates by id (PUT Observation/<id>) or by identifier (a conditional
// update) updates rather than duplicates. A panel's id differs from its
// readings' single ids: an export that holds only one half of a pair
// exports it alone, and a later export holding both exports the panel
// under a new id. Exports cut at a time boundary keep pairs together,
// since the two readings of a pair have the same time.
//
// # Order and errors
//
// Observations are sorted by time, then device ID (bytes), then seq (the
// lower seq for a panel). Identical copies of a reading are exported once;
// two different readings with the same device and seq fail the export
// with ErrConflict. Every reading must pass reading.Reading.Validate, and
// its error (codec.ErrUnknownVersion, codec.ErrMissingField,
// vital.ErrUnknownKind, reading.ErrWrongUnit, reading.ErrImplausible) is
// returned wrapped with the reading's index, device and seq; a time after
// the year 9999, which a FHIR dateTime cannot hold, is
// reading.ErrImplausible too. Nothing is written for an invalid input.
//
// The Bundle has no timestamp, id or meta, so that the same readings give
// the same bytes; the Observations have no narrative (text), meta.profile,
// performer, interpretation or reference range.
//
// # Why hand-written types
//
// The JSON is built from small structs in this package, about fifteen
// fields for exactly the elements above, and encoding/json, rather than
// from github.com/samply/golang-fhir-models/fhir-models v0.3.2, the
// lighter of the two Go models of all of R4 (github.com/google/fhir/go
// pulls 313 modules and is untagged since 2022). The samply module is small as a
// dependency (one module) and its Quantity.value is a json.Number, so it
// could do the job; it lost on every other count:
//
//   - It has not been released since December 2022, and its issue #17
//     (Quantity.comparator does not round-trip) is open: a module to pin
//     and watch, for about 60 lines of structs here.
//   - It is 379 generated files (2.6 MB of source) for all of R4, of which
//     we would use nine types.
//   - Every element is a pointer or slice among some 45 Observation fields,
//     and its MarshalJSON re-marshals each resource to add resourceType, as
//     the last key: measured on this machine, 7.8 µs to marshal one
//     Observation against 0.8 µs for the structs here, which also put
//     resourceType first, as FHIR's own examples do.
//   - The golden files pin our output byte for byte, and the field order of
//     generated structs is the generator's to change.
//
// Reading FHIR back (importing a provider's records) would be a reason to
// take a full model; exporting a fixed shape is not.
package fhir
