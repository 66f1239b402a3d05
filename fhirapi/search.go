package fhirapi

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vitalchain/vitalchain/identity"
)

// ErrParam: a search or operation parameter is unknown, repeated where it
// may not be, or malformed.
var ErrParam = errors.New("fhirapi: bad parameter")

// Bounds of a search.
const (
	DefaultCount = 100  // entries of a searchset when _count is not given
	MaxCount     = 1000 // the most _count may ask for
	MaxLastN     = 100  // the most $lastn's max may ask for
	maxValues    = 32   // values of one parameter (comma-separated and repeated)
)

// param is a search parameter of a resource type, as the
// CapabilityStatement lists it.
type param struct {
	Name, Type, Doc string
}

// searchParams are the search parameters of each resource type.
var searchParams = map[string][]param{
	"Patient": {{"_id", "token", "the patient's ID (hex)"}},
	"Device":  {{"_id", "token", ""}, {"patient", "reference", "the device's patient"}},
	"Observation": {{"_id", "token", ""}, {"patient", "reference", ""}, {"subject", "reference", "as patient"},
		{"code", "token", "LOINC code, [system]|code"}, {"date", "date", "effective time, with prefixes eq ne lt le gt ge sa eb"},
		{"category", "token", "vital-signs"}},
	"Provenance":   {{"_id", "token", "the record's ID (hex)"}, {"patient", "reference", ""}, {"target", "reference", "Observation/<id>"}},
	"Consent":      {{"_id", "token", ""}, {"patient", "reference", ""}},
	"AuditEvent":   {{"_id", "token", ""}, {"patient", "reference", "entries that touched the patient"}, {"date", "date", "recorded"}},
	"Subscription": {{"_id", "token", ""}},
}

// lastnParams are the parameters of Observation/$lastn beyond a search's.
var lastnParams = []param{{"max", "integer", "observations per code and patient, 1 to 100 (default 1)"}}

// exportParams are the parameters of $export.
var exportParams = []param{{"_type", "string", "resource types, comma-separated"}, {"_since", "instant", "resources of records after this time"},
	{"_outputFormat", "string", "application/fhir+ndjson"}}

// tokenValue is a token search value: [system|]code.
type tokenValue struct {
	System    string
	HasSystem bool
	Code      string
}

func (t tokenValue) matches(system, code string) bool {
	return code == t.Code && (!t.HasSystem || system == t.System)
}

// dateValue is a date search value: its prefix and the range [Lo, Hi) its
// precision covers.
type dateValue struct {
	Prefix string
	Lo, Hi time.Time
}

// matches reports whether an instant matches.
func (d dateValue) matches(t time.Time) bool {
	in := !t.Before(d.Lo) && t.Before(d.Hi)
	switch d.Prefix {
	case "ne":
		return !in
	case "lt", "eb":
		return t.Before(d.Lo)
	case "le":
		return t.Before(d.Hi)
	case "gt", "sa":
		return !t.Before(d.Hi)
	case "ge":
		return !t.Before(d.Lo)
	}
	return in // eq, ap
}

// query is a parsed search: each field ANDed with the others; values in one
// slice are ORed, except Dates, a list of ORs ANDed.
type query struct {
	IDs      []string
	Patients []identity.ID
	Codes    []tokenValue
	Category []tokenValue
	Dates    [][]dateValue
	Targets  []string
	Count    int
	Max      int
	Types    []string
	Since    time.Time
}

// parseQuery parses the parameters of a search (or an operation) that
// accepts the given ones; _count, _format and _pretty are always
// accepted. Unknown parameters are refused (ErrParam), as with
// "Prefer: handling=strict".
func parseQuery(vals url.Values, accepted []param) (query, error) {
	q := query{Count: DefaultCount, Max: 1}
	for name, vs := range vals {
		base, modifier, _ := strings.Cut(name, ":")
		if modifier != "" {
			return q, fmt.Errorf("%w: %s: modifiers are not supported", ErrParam, name)
		}
		var values []string
		for _, v := range vs {
			values = append(values, strings.Split(v, ",")...)
		}
		if len(values) > maxValues {
			return q, fmt.Errorf("%w: %s: more than %d values", ErrParam, name, maxValues)
		}
		switch base {
		case "_format", "_pretty":
			continue
		case "_count":
			n, err := single(name, vs)
			if err != nil {
				return q, err
			}
			c, err := strconv.Atoi(n)
			if err != nil || c < 0 || c > MaxCount {
				return q, fmt.Errorf("%w: _count: want 0 to %d", ErrParam, MaxCount)
			}
			q.Count = c
			continue
		}
		if !slices.ContainsFunc(accepted, func(p param) bool { return p.Name == base }) {
			return q, fmt.Errorf("%w: %q is not a parameter here", ErrParam, base)
		}
		switch base {
		case "_id":
			for _, v := range values {
				if !validID(v) {
					return q, fmt.Errorf("%w: _id %q", ErrParam, v)
				}
				q.IDs = append(q.IDs, v)
			}
		case "patient", "subject":
			for _, v := range values {
				id, err := parsePatientRef(v)
				if err != nil {
					return q, err
				}
				q.Patients = append(q.Patients, id)
			}
		case "code", "category":
			for _, v := range values {
				t, err := parseToken(v)
				if err != nil {
					return q, fmt.Errorf("%w: %s: %w", ErrParam, base, err)
				}
				if base == "code" {
					q.Codes = append(q.Codes, t)
				} else {
					q.Category = append(q.Category, t)
				}
			}
		case "date":
			for _, v := range vs {
				var or []dateValue
				for _, one := range strings.Split(v, ",") {
					d, err := parseDate(one)
					if err != nil {
						return q, err
					}
					or = append(or, d)
				}
				q.Dates = append(q.Dates, or)
			}
		case "target":
			for _, v := range values {
				typ, id, ok := strings.Cut(v, "/")
				if !ok || typ != "Observation" || !validID(id) {
					return q, fmt.Errorf("%w: target %q: want Observation/<id>", ErrParam, v)
				}
				q.Targets = append(q.Targets, id)
			}
		case "max":
			n, err := single(name, vs)
			if err != nil {
				return q, err
			}
			m, err := strconv.Atoi(n)
			if err != nil || m < 1 || m > MaxLastN {
				return q, fmt.Errorf("%w: max: want 1 to %d", ErrParam, MaxLastN)
			}
			q.Max = m
		case "_type":
			for _, v := range values {
				if !slices.Contains(exportTypes, v) {
					return q, fmt.Errorf("%w: _type: %q is not exported", ErrParam, v)
				}
				if !slices.Contains(q.Types, v) {
					q.Types = append(q.Types, v)
				}
			}
		case "_since":
			s, err := single(name, vs)
			if err != nil {
				return q, err
			}
			t, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				return q, fmt.Errorf("%w: _since: want an instant", ErrParam)
			}
			q.Since = t
		case "_outputFormat":
			s, err := single(name, vs)
			if err != nil {
				return q, err
			}
			if s != "application/fhir+ndjson" && s != "application/ndjson" && s != "ndjson" {
				return q, fmt.Errorf("%w: _outputFormat: only NDJSON", ErrParam)
			}
		}
	}
	return q, nil
}

func single(name string, vs []string) (string, error) {
	if len(vs) != 1 {
		return "", fmt.Errorf("%w: %s given %d times", ErrParam, name, len(vs))
	}
	return vs[0], nil
}

// validID reports whether s is a FHIR id: 1 to 64 of A-Z a-z 0-9 - .
func validID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// parsePatientRef parses a patient reference: "<hex>", "Patient/<hex>"
// or an absolute URL ending in "Patient/<hex>".
func parsePatientRef(v string) (identity.ID, error) {
	if i := strings.LastIndex(v, "Patient/"); i >= 0 {
		if i > 0 && !strings.HasSuffix(v[:i], "/") {
			return identity.ID{}, fmt.Errorf("%w: patient %q", ErrParam, v)
		}
		v = v[i+len("Patient/"):]
	}
	id, err := identity.ParseID(v)
	if err != nil {
		return identity.ID{}, fmt.Errorf("%w: patient %q: %w", ErrParam, v, err)
	}
	return id, nil
}

func parseToken(v string) (tokenValue, error) {
	if v == "" || len(v) > 256 {
		return tokenValue{}, errors.New("empty or too long")
	}
	sys, code, ok := strings.Cut(v, "|")
	if !ok {
		return tokenValue{Code: v}, nil
	}
	if code == "" || strings.Contains(code, "|") {
		return tokenValue{}, fmt.Errorf("%q: want [system]|code", v)
	}
	return tokenValue{System: sys, HasSystem: true, Code: code}, nil
}

// parseDate parses a date search value: an optional prefix, then a FHIR
// date, dateTime or instant of any precision (a dateTime with a time needs
// its zone).
func parseDate(v string) (dateValue, error) {
	d := dateValue{Prefix: "eq"}
	if len(v) >= 2 && v[0] >= 'a' && v[0] <= 'z' {
		d.Prefix = v[:2]
		v = v[2:]
		switch d.Prefix {
		case "eq", "ne", "lt", "le", "gt", "ge", "sa", "eb", "ap":
		default:
			return d, fmt.Errorf("%w: date prefix %q", ErrParam, d.Prefix)
		}
	}
	bad := fmt.Errorf("%w: date %q: want YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm[:ss[.fff]] with a zone", ErrParam, v)
	switch len(v) {
	case 4, 7, 10:
		layout := "2006-01-02"[:len(v)]
		t, err := time.ParseInLocation(layout, v, time.UTC)
		if err != nil {
			return d, bad
		}
		d.Lo = t
		switch len(v) {
		case 4:
			d.Hi = t.AddDate(1, 0, 0)
		case 7:
			d.Hi = t.AddDate(0, 1, 0)
		default:
			d.Hi = t.AddDate(0, 0, 1)
		}
		return d, nil
	}
	if len(v) > 40 || !strings.Contains(v, "T") {
		return d, bad
	}
	// Precision: minutes, seconds, or fractions of a second.
	date, clock, _ := strings.Cut(v, "T")
	zone := ""
	for i, c := range clock {
		if c == 'Z' || c == '+' || c == '-' {
			clock, zone = clock[:i], clock[i:]
			break
		}
	}
	if zone == "" || len(date) != 10 {
		return d, bad
	}
	var layout string
	var step time.Duration
	switch {
	case len(clock) == 5:
		layout, step = "15:04", time.Minute
	case len(clock) == 8:
		layout, step = "15:04:05", time.Second
	case len(clock) > 9 && len(clock) <= 18 && clock[8] == '.':
		layout = "15:04:05." + strings.Repeat("0", len(clock)-9)
		step = time.Second
		for range len(clock) - 9 {
			step /= 10
		}
	default:
		return d, bad
	}
	t, err := time.Parse("2006-01-02T"+layout+"Z07:00", date+"T"+clock+zone)
	if err != nil {
		return d, bad
	}
	d.Lo, d.Hi = t, t.Add(step)
	return d, nil
}
