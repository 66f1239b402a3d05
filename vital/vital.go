// Package vital names the vital signs VitalChain measures: each Kind has its
// LOINC code, its UCUM unit and a plausible physical range, and a Quantity is
// a value of that kind in fixed point (thousandths of the unit), so that no
// floating-point number is ever hashed, signed or kept in consensus state.
package vital

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Kind is a vital sign. The zero Kind is invalid.
type Kind uint8

// The vital signs VitalChain knows. Their numbers are part of the wire
// format: never renumber, only append.
const (
	Glucose         Kind = 1 // blood glucose, mg/dL
	HeartRate       Kind = 2 // beats per minute
	SpO2            Kind = 3 // oxygen saturation, %
	Systolic        Kind = 4 // systolic blood pressure, mm[Hg]
	Diastolic       Kind = 5 // diastolic blood pressure, mm[Hg]
	RespiratoryRate Kind = 6 // breaths per minute
	BodyTemperature Kind = 7 // Cel
	Steps           Kind = 8 // steps in 24 hours
)

// ErrUnknownKind is returned for a kind number or name VitalChain does not know.
var ErrUnknownKind = errors.New("unknown vital sign")

// ErrBadQuantity is returned by ParseQuantity for text that is not a decimal
// number with at most three fractional digits, or is out of range.
var ErrBadQuantity = errors.New("bad quantity")

// Info describes a Kind.
type Info struct {
	Name    string // short name used on the command line and in contracts: "glucose"
	Display string // human-readable name: "Blood glucose"
	LOINC   string // LOINC code of the observation
	Unit    string // UCUM unit code
	// Min and Max bound a physically plausible value; a reading outside them
	// is malformed, not abnormal.
	Min, Max Quantity
}

var infos = [...]Info{
	Glucose:         {"glucose", "Glucose [Mass/volume] in Blood", "2339-0", "mg/dL", 0, 2000 * Unit},
	HeartRate:       {"heart_rate", "Heart rate", "8867-4", "/min", 0, 400 * Unit},
	SpO2:            {"spo2", "Oxygen saturation in Arterial blood by Pulse oximetry", "59408-5", "%", 0, 100 * Unit},
	Systolic:        {"systolic", "Systolic blood pressure", "8480-6", "mm[Hg]", 0, 400 * Unit},
	Diastolic:       {"diastolic", "Diastolic blood pressure", "8462-4", "mm[Hg]", 0, 300 * Unit},
	RespiratoryRate: {"respiratory_rate", "Respiratory rate", "9279-1", "/min", 0, 150 * Unit},
	BodyTemperature: {"body_temperature", "Body temperature", "8310-5", "Cel", 20 * Unit, 46 * Unit},
	Steps:           {"steps", "Number of steps in 24 hour Measured", "41950-7", "/(24.h)", 0, 500000 * Unit},
}

// Kinds lists every known Kind in numeric order.
func Kinds() []Kind {
	ks := make([]Kind, 0, len(infos)-1)
	for k := range infos {
		if k != 0 {
			ks = append(ks, Kind(k))
		}
	}
	return ks
}

// Valid reports whether k is a known Kind.
func (k Kind) Valid() bool { return k != 0 && int(k) < len(infos) }

// Info returns the description of k; it panics if k is not Valid.
func (k Kind) Info() Info {
	if !k.Valid() {
		panic(fmt.Sprintf("vital: Info of invalid kind %d", uint8(k)))
	}
	return infos[k]
}

// String returns k's short name, or "kind(N)" for an unknown kind.
func (k Kind) String() string {
	if !k.Valid() {
		return "kind(" + strconv.Itoa(int(k)) + ")"
	}
	return infos[k].Name
}

// ParseKind returns the Kind with the given short name or LOINC code.
func ParseKind(s string) (Kind, error) {
	for k := Kind(1); int(k) < len(infos); k++ { // no allocation: every reading's code goes through here
		if infos[k].Name == s || infos[k].LOINC == s {
			return k, nil
		}
	}
	return 0, fmt.Errorf("%w: %q", ErrUnknownKind, s)
}

// ByLOINC returns the Kind whose LOINC code is code.
func ByLOINC(code string) (Kind, bool) {
	for k := Kind(1); int(k) < len(infos); k++ {
		if infos[k].LOINC == code {
			return k, true
		}
	}
	return 0, false
}

// Quantity is a value in thousandths of its Kind's unit: 180 mg/dL is 180000.
type Quantity int64

// Unit is one whole unit as a Quantity.
const Unit Quantity = 1000

// Float64 returns q in whole units.
func (q Quantity) Float64() float64 { return float64(q) / float64(Unit) }

// String formats q in whole units with no trailing zeros: "180", "37.25".
func (q Quantity) String() string {
	neg := q < 0
	u := uint64(q)
	if neg {
		u = uint64(-q)
	}
	s := strconv.FormatUint(u/1000, 10)
	if frac := u % 1000; frac != 0 {
		s += strings.TrimRight(fmt.Sprintf(".%03d", frac), "0")
	}
	if neg {
		s = "-" + s
	}
	return s
}

// ParseQuantity parses a decimal number of whole units with at most three
// fractional digits: "180", "37.25", "-0.5".
func ParseQuantity(s string) (Quantity, error) {
	whole, frac, hasFrac := strings.Cut(s, ".")
	neg := strings.HasPrefix(whole, "-")
	whole = strings.TrimPrefix(whole, "-")
	if whole == "" || (hasFrac && (frac == "" || len(frac) > 3)) {
		return 0, fmt.Errorf("vital: %w %q", ErrBadQuantity, s)
	}
	w, err := strconv.ParseUint(whole, 10, 40)
	if err != nil {
		return 0, fmt.Errorf("vital: %w %q", ErrBadQuantity, s)
	}
	var f uint64
	if hasFrac {
		f, err = strconv.ParseUint((frac + "00")[:3], 10, 16)
		if err != nil {
			return 0, fmt.Errorf("vital: %w %q", ErrBadQuantity, s)
		}
	}
	q := Quantity(w*1000 + f)
	if neg {
		q = -q
	}
	return q, nil
}

// Plausible reports whether q is physically possible for kind k.
func (k Kind) Plausible(q Quantity) bool {
	return k.Valid() && q >= infos[k].Min && q <= infos[k].Max
}
