package fhir

import (
	"bufio"
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"time"

	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/reading"
	"github.com/vitalchain/vitalchain/vital"
)

// IdentifierSystem is the system of every Observation.identifier this
// package emits; the value is "<device ID in hex>/<seq>". A FHIR server
// finds the Observation of a reading with the search parameter
// identifier=urn:vitalchain:reading|<device>/<seq>.
const IdentifierSystem = "urn:vitalchain:reading"

// ErrConflict is returned when two readings have the same device and
// sequence number but differ: the ledger never holds both, so the input is
// corrupt. Identical copies of a reading are exported once.
var ErrConflict = errors.New("two different readings with the same device and sequence number")

// The code systems and codes of what is emitted.
const (
	systemLOINC    = "http://loinc.org"
	systemUCUM     = "http://unitsofmeasure.org"
	systemCategory = "http://terminology.hl7.org/CodeSystem/observation-category"

	codeBPPanel    = "85354-9"
	displayBPPanel = "Blood pressure panel with all children optional"
	// The R4 oxygen saturation profile (oxygensat) requires this coding;
	// 59408-5, the pulse oximetry code a device sends, is the more
	// specific one next to it.
	codeO2Sat    = "2708-6"
	displayO2Sat = "Oxygen saturation in Arterial blood"
)

// maxTime is 9999-12-31T23:59:59.999Z in Unix ms, the last instant a FHIR
// dateTime (four-digit year) can hold.
const maxTime = 253402300799999

// The JSON shapes of what is emitted: FHIR R4 elements, in the order of the
// specification, with only the elements this package fills.

type coding struct {
	System  string `json:"system"`
	Code    string `json:"code"`
	Display string `json:"display"`
}

type codeableConcept struct {
	Coding []coding `json:"coding"`
}

type reference struct {
	Reference string `json:"reference"`
}

type identifier struct {
	System string `json:"system"`
	Value  string `json:"value"`
}

type quantity struct {
	Value  json.Number `json:"value"` // the decimal text of a vital.Quantity
	Unit   string      `json:"unit"`
	System string      `json:"system"`
	Code   string      `json:"code"`
}

type component struct {
	Code          codeableConcept `json:"code"`
	ValueQuantity quantity        `json:"valueQuantity"`
}

type observation struct {
	ResourceType      string            `json:"resourceType"`
	ID                string            `json:"id"`
	Identifier        []identifier      `json:"identifier"`
	Status            string            `json:"status"`
	Category          []codeableConcept `json:"category"`
	Code              codeableConcept   `json:"code"`
	Subject           reference         `json:"subject"`
	EffectiveDateTime string            `json:"effectiveDateTime"`
	ValueQuantity     *quantity         `json:"valueQuantity,omitempty"`
	Device            reference         `json:"device"`
	Component         []component       `json:"component,omitempty"`
}

// vitalSigns is the category of every Observation. Shared read-only.
var vitalSigns = []codeableConcept{{Coding: []coding{{
	System: systemCategory, Code: "vital-signs", Display: "Vital Signs",
}}}}

// kindCodes holds Observation.code of each vital.Kind, indexed by Kind.
// Shared read-only.
var kindCodes = func() []codeableConcept {
	ks := vital.Kinds()
	codes := make([]codeableConcept, int(slices.Max(ks))+1)
	for _, k := range ks {
		info := k.Info()
		c := []coding{{System: systemLOINC, Code: info.LOINC, Display: info.Display}}
		if k == vital.SpO2 {
			c = append(c, coding{System: systemLOINC, Code: codeO2Sat, Display: displayO2Sat})
		}
		codes[k] = codeableConcept{Coding: c}
	}
	return codes
}()

// kindByCode maps a LOINC code to its vital.Kind.
var kindByCode = func() map[string]vital.Kind {
	m := make(map[string]vital.Kind)
	for _, k := range vital.Kinds() {
		m[k.Info().LOINC] = k
	}
	return m
}()

var bpPanelCode = codeableConcept{Coding: []coding{{
	System: systemLOINC, Code: codeBPPanel, Display: displayBPPanel,
}}}

// Bundle returns readings as a FHIR R4 Bundle of type collection, one entry
// per Observation (see the package documentation), as compact JSON
// followed by a newline. The same set of readings, in any order, gives the
// same bytes. A reading that is not valid (reading.Reading.Validate) fails the
// whole export with its error; so does ErrConflict.
func Bundle(readings []reading.Reading) ([]byte, error) {
	obs, err := observations(readings)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	buf.Grow(64 + 1024*len(obs))
	// The Bundle's framing is written here and each Observation by
	// encoding/json, all into one buffer: the bytes of a Bundle struct,
	// without building one.
	buf.WriteString(`{"resourceType":"Bundle","type":"collection"`)
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	for i := range obs {
		if i == 0 {
			buf.WriteString(`,"entry":[`)
		} else {
			buf.WriteByte(',')
		}
		buf.WriteString(`{"fullUrl":"urn:uuid:`)
		buf.WriteString(obs[i].ID) // hex digits and dashes: nothing to escape
		buf.WriteString(`","resource":`)
		if err := enc.Encode(&obs[i]); err != nil {
			return nil, fmt.Errorf("fhir: encode observation %d: %w", i, err)
		}
		buf.Truncate(buf.Len() - 1) // the newline Encode adds
		buf.WriteByte('}')
	}
	if len(obs) > 0 {
		buf.WriteByte(']')
	}
	buf.WriteString("}\n")
	return buf.Bytes(), nil
}

// NDJSON writes readings to w as newline-delimited JSON, one Observation per
// line (the FHIR Bulk Data format), in the same order and with the same
// content as Bundle. Invalid input is reported before anything is written;
// an error of w is returned wrapped.
func NDJSON(w io.Writer, readings []reading.Reading) error {
	obs, err := observations(readings)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	for i := range obs {
		if err := enc.Encode(&obs[i]); err != nil {
			return fmt.Errorf("fhir: write observation %d: %w", i, err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("fhir: write observations: %w", err)
	}
	return nil
}

type readingKey struct {
	device identity.ID
	seq    uint64
}

// observations validates and deduplicates readings, sorts them by time,
// device and seq, pairs blood pressure readings and builds the
// Observations in that order.
func observations(readings []reading.Reading) ([]observation, error) {
	seen := make(map[readingKey]int, len(readings))
	rs := make([]reading.Reading, 0, len(readings))
	for i, r := range readings {
		if err := check(r); err != nil {
			return nil, fmt.Errorf("fhir: reading %d (device %s seq %d): %w", i, r.Device, r.Seq, err)
		}
		k := readingKey{r.Device, r.Seq}
		if j, ok := seen[k]; ok {
			if rs[j] != r {
				return nil, fmt.Errorf("fhir: reading %d (device %s seq %d): %w", i, r.Device, r.Seq, ErrConflict)
			}
			continue
		}
		seen[k] = len(rs)
		rs = append(rs, r)
	}
	slices.SortFunc(rs, func(a, b reading.Reading) int {
		return cmp.Or(
			cmp.Compare(a.Time, b.Time),
			bytes.Compare(a.Device[:], b.Device[:]),
			cmp.Compare(a.Seq, b.Seq))
	})

	bd := newBuilder(len(rs))
	used := make([]bool, len(rs))
	for i := 0; i < len(rs); {
		// A group: the readings of one device at one instant, by seq.
		end := i + 1
		for end < len(rs) && rs[end].Time == rs[i].Time && rs[end].Device == rs[i].Device {
			end++
		}
		for j := i; j < end; j++ {
			if used[j] {
				continue
			}
			kj := kindByCode[rs[j].Code]
			if other := bpPartner(kj); other != 0 {
				if m := findPartner(rs, used, j+1, end, other, rs[j].Patient); m >= 0 {
					used[m] = true
					sys, dia := rs[j], rs[m]
					if kj == vital.Diastolic {
						sys, dia = dia, sys
					}
					bd.panel(sys, dia)
					continue
				}
			}
			bd.single(rs[j], kj)
		}
		i = end
	}
	return bd.out, nil
}

// check is reading.Validate plus what a FHIR dateTime can hold.
func check(r reading.Reading) error {
	if err := r.Validate(); err != nil {
		return err
	}
	if r.Time > maxTime {
		return fmt.Errorf("%w: time %d after year 9999", reading.ErrImplausible, r.Time)
	}
	return nil
}

// bpPartner returns the kind a blood pressure reading pairs with, or 0.
func bpPartner(k vital.Kind) vital.Kind {
	switch k {
	case vital.Systolic:
		return vital.Diastolic
	case vital.Diastolic:
		return vital.Systolic
	}
	return 0
}

// findPartner returns the index of the first unused reading of kind k and
// the given patient in rs[from:end], or -1.
func findPartner(rs []reading.Reading, used []bool, from, end int, k vital.Kind, patient identity.ID) int {
	for m := from; m < end; m++ {
		if !used[m] && rs[m].Patient == patient && kindByCode[rs[m].Code] == k {
			return m
		}
	}
	return -1
}

// A builder appends Observations, with the strings made of each actor ID
// computed once and the small slices of all Observations carved out of
// shared backing arrays (an export has few actors and many readings).
type builder struct {
	out         []observation
	actors      map[identity.ID]*actorStrings
	identifiers []identifier
	quantities  []quantity
}

type actorStrings struct {
	hex, patient, device string
}

func newBuilder(n int) *builder {
	return &builder{
		out:         make([]observation, 0, n),
		actors:      make(map[identity.ID]*actorStrings),
		identifiers: make([]identifier, 0, n),
		quantities:  make([]quantity, 0, n),
	}
}

func (bd *builder) actor(id identity.ID) *actorStrings {
	a, ok := bd.actors[id]
	if !ok {
		h := id.Hex()
		a = &actorStrings{hex: h, patient: "Patient/" + h, device: "Device/" + h}
		bd.actors[id] = a
	}
	return a
}

// identifier appends the identifiers of rs and returns them as one slice.
func (bd *builder) identifier(rs ...reading.Reading) []identifier {
	start := len(bd.identifiers)
	for _, r := range rs {
		bd.identifiers = append(bd.identifiers, identifier{
			System: IdentifierSystem,
			Value:  bd.actor(r.Device).hex + "/" + strconv.FormatUint(r.Seq, 10),
		})
	}
	return bd.identifiers[start:len(bd.identifiers):len(bd.identifiers)]
}

func (bd *builder) single(r reading.Reading, k vital.Kind) {
	bd.quantities = append(bd.quantities, valueQuantity(r))
	bd.out = append(bd.out, observation{
		ResourceType:      "Observation",
		ID:                observationID(domainReading, r.Device, r.Seq, 0),
		Identifier:        bd.identifier(r),
		Status:            "final",
		Category:          vitalSigns,
		Code:              kindCodes[k],
		Subject:           reference{bd.actor(r.Patient).patient},
		EffectiveDateTime: dateTime(r.Time),
		ValueQuantity:     &bd.quantities[len(bd.quantities)-1],
		Device:            reference{bd.actor(r.Device).device},
	})
}

// panel appends the blood pressure panel of a systolic and a diastolic
// reading of one patient, device and time.
func (bd *builder) panel(sys, dia reading.Reading) {
	bd.out = append(bd.out, observation{
		ResourceType:      "Observation",
		ID:                observationID(domainPanel, sys.Device, sys.Seq, dia.Seq),
		Identifier:        bd.identifier(sys, dia),
		Status:            "final",
		Category:          vitalSigns,
		Code:              bpPanelCode,
		Subject:           reference{bd.actor(sys.Patient).patient},
		EffectiveDateTime: dateTime(sys.Time),
		Device:            reference{bd.actor(sys.Device).device},
		Component: []component{
			{Code: kindCodes[vital.Systolic], ValueQuantity: valueQuantity(sys)},
			{Code: kindCodes[vital.Diastolic], ValueQuantity: valueQuantity(dia)},
		},
	})
}

// valueQuantity returns r's value as an exact decimal: the JSON number is
// the text of the fixed-point vital.Quantity, never a float64.
func valueQuantity(r reading.Reading) quantity {
	return quantity{Value: json.Number(r.Value.String()), Unit: r.Unit, System: systemUCUM, Code: r.Unit}
}

// dateTime formats Unix ms as an RFC 3339 UTC time with milliseconds.
func dateTime(ms int64) string {
	return time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z")
}

// The domains of observationID: a single reading, or a blood pressure
// panel. Both are 24 bytes so that the hashed input has a fixed layout.
const (
	domainReading = "vitalchain/fhir/reading\x00"
	domainPanel   = "vitalchain/fhir/bppanel\x00"
)

// observationID returns a UUID (RFC 9562 version 8, name-based with
// SHA-256) of SHA-256(domain || device || seq1 || seq2), the seqs as 8-byte
// big-endian numbers (seq2 is 0 for a single reading). The same reading, or
// pair, always gets the same id, and the id is a valid FHIR id and
// urn:uuid.
func observationID(domain string, device identity.ID, seq1, seq2 uint64) string {
	var in [24 + 32 + 16]byte
	copy(in[:24], domain)
	copy(in[24:56], device[:])
	binary.BigEndian.PutUint64(in[56:], seq1)
	binary.BigEndian.PutUint64(in[64:], seq2)
	sum := sha256.Sum256(in[:])
	u := sum[:16]
	u[6] = u[6]&0x0f | 0x80 // version 8
	u[8] = u[8]&0x3f | 0x80 // variant 10
	var s [36]byte
	hex.Encode(s[0:8], u[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], u[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], u[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], u[8:10])
	s[23] = '-'
	hex.Encode(s[24:36], u[10:16])
	return string(s[:])
}
