package contract

import (
	"fmt"
	"strconv"
)

// Severity is how urgent an alert is. The zero Severity is invalid.
type Severity uint8

// The severities. Their numbers are part of the wire format.
const (
	Info     Severity = 1 // worth knowing, no action expected soon
	Warning  Severity = 2 // needs a clinician's attention
	Critical Severity = 3 // needs a clinician's attention now
)

var severityNames = [...]string{Info: "info", Warning: "warning", Critical: "critical"}

// Valid reports whether s is a known Severity.
func (s Severity) Valid() bool { return s != 0 && int(s) < len(severityNames) }

// String returns s's name, "warning", or "severity(N)" if s is not Valid.
func (s Severity) String() string {
	if !s.Valid() {
		return "severity(" + strconv.Itoa(int(s)) + ")"
	}
	return severityNames[s]
}

// ParseSeverity returns the Severity with the given name.
func ParseSeverity(name string) (Severity, error) {
	for s := Info; s.Valid(); s++ {
		if severityNames[s] == name {
			return s, nil
		}
	}
	return 0, fmt.Errorf("contract: %w: %q (want info, warning or critical)", ErrBadSeverity, name)
}
