package provider

import (
	"errors"
	"fmt"
	"io"

	"github.com/vitalchain/vitalchain/fhir"
	"github.com/vitalchain/vitalchain/reading"
)

// ErrFormat is an export format Export does not know.
var ErrFormat = errors.New("unknown export format")

// Export formats.
const (
	FormatBundle = "bundle" // a FHIR R4 Bundle of type collection (fhir.Bundle)
	FormatNDJSON = "ndjson" // one FHIR Observation per line (fhir.NDJSON)
)

// Export writes the verified readings of fetched records to w as FHIR R4
// Observations, in format FormatBundle or FormatNDJSON (see package fhir
// for the mapping; a record fetched twice is exported once). Nothing is
// written if a reading is invalid.
func Export(w io.Writer, fs []*Fetched, format string) error {
	rs := make([]reading.Reading, 0, len(fs))
	for _, f := range fs {
		if f != nil {
			rs = append(rs, f.Reading)
		}
	}
	switch format {
	case FormatBundle:
		b, err := fhir.Bundle(rs)
		if err != nil {
			return fmt.Errorf("provider: export: %w", err)
		}
		if _, err := w.Write(b); err != nil {
			return fmt.Errorf("provider: export: %w", err)
		}
		return nil
	case FormatNDJSON:
		if err := fhir.NDJSON(w, rs); err != nil {
			return fmt.Errorf("provider: export: %w", err)
		}
		return nil
	}
	return fmt.Errorf("provider: export: %w %q (want %s or %s)", ErrFormat, format, FormatBundle, FormatNDJSON)
}
