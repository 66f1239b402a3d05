package fhir

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// TestGolden compares the export of goldenReadings with testdata byte for
// byte. Run `go test ./fhir -run Golden -update` after an intended change
// and review the diff.
func TestGolden(t *testing.T) {
	var nd bytes.Buffer
	if err := NDJSON(&nd, goldenReadings()); err != nil {
		t.Fatal(err)
	}
	b, err := Bundle(goldenReadings())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		file string
		got  []byte
	}{
		{"bundle.json", b},
		{"observations.ndjson", nd.Bytes()},
	} {
		path := filepath.Join("testdata", tc.file)
		if *update {
			if err := os.WriteFile(path, tc.got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run with -update to create it)", err)
		}
		if !bytes.Equal(tc.got, want) {
			i := 0
			for i < len(tc.got) && i < len(want) && tc.got[i] == want[i] {
				i++
			}
			t.Errorf("%s differs from the golden file at byte %d (run with -update and review the diff):\ngot:  …%s…\nwant: …%s…",
				tc.file, i, excerpt(tc.got, i), excerpt(want, i))
		}
	}
	// The golden files themselves must be valid exports.
	res := checkBundle(t, b)
	if len(res) != 8 {
		t.Errorf("%d observations, want 8 (9 unique readings, one pair)", len(res))
	}
}

// excerpt returns b around offset i.
func excerpt(b []byte, i int) []byte {
	return b[max(0, i-60):min(len(b), i+60)]
}
