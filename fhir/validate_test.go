package fhir

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/fhir/go/fhirversion"
	"github.com/google/fhir/go/jsonformat"
)

// TestExportValidatesAgainstR4 checks the export, as the golden files hold
// it, with a validator we did not write: the validating JSON unmarshaller
// of github.com/google/fhir/go (required elements, cardinality, types,
// unknown elements of the R4 definitions). It is a test dependency only.
func TestExportValidatesAgainstR4(t *testing.T) {
	u, err := jsonformat.NewUnmarshaller("UTC", fhirversion.R4)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join("testdata", "bundle.json"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := u.UnmarshalR4(b); err != nil {
		t.Errorf("bundle.json: %v", err)
	}
	nd, err := os.ReadFile(filepath.Join("testdata", "observations.ndjson"))
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(nd))
	sc.Buffer(nil, 1<<20)
	n := 0
	for sc.Scan() {
		n++
		if _, err := u.UnmarshalR4(sc.Bytes()); err != nil {
			t.Errorf("observations.ndjson line %d: %v", n, err)
		}
	}
	if n == 0 {
		t.Fatal("no Observation in observations.ndjson")
	}
	// The validator is not a yes-man: an Observation without its status
	// is refused.
	first, _, _ := bytes.Cut(nd, []byte("\n"))
	bad := bytes.Replace(first, []byte(`"status":"final",`), nil, 1)
	if _, err := u.UnmarshalR4(bad); err == nil {
		t.Errorf("the validator took an Observation without status: %s", bad)
	}
}
