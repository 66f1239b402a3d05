package fhirapi

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/fhir/go/fhirversion"
	"github.com/google/fhir/go/jsonformat"
)

// r4 is the validating JSON unmarshaller of github.com/google/fhir/go: it
// checks resources against the R4 definitions (required elements,
// cardinality, types, unknown elements), code we did not write.
var r4 = sync.OnceValue(func() *jsonformat.Unmarshaller {
	u, err := jsonformat.NewUnmarshaller("UTC", fhirversion.R4)
	if err != nil {
		panic(err)
	}
	return u
})

// validate checks one resource against R4.
func validate(t *testing.T, what string, b []byte) {
	t.Helper()
	if _, err := r4().UnmarshalR4(b); err != nil {
		t.Errorf("%s is not valid FHIR R4: %v\n%s", what, err, clip(b))
	}
}

func clip(b []byte) string {
	if len(b) > 1500 {
		return string(b[:1500]) + "…"
	}
	return string(b)
}

// client is a FHIR client of the test: every answer of a FHIR type is
// validated against R4.
type client struct {
	t    *testing.T
	base string
	http *http.Client
}

type answer struct {
	status int
	header http.Header
	body   []byte
}

func (a answer) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(a.body, &m); err != nil {
		t.Fatalf("answer is not JSON: %v\n%s", err, clip(a.body))
	}
	return m
}

// entries returns a searchset's resources.
func (a answer) entries(t *testing.T) []map[string]any {
	t.Helper()
	m := a.json(t)
	if m["resourceType"] != "Bundle" || m["type"] != "searchset" {
		t.Fatalf("want a searchset, got %s", clip(a.body))
	}
	var out []map[string]any
	es, _ := m["entry"].([]any)
	for _, e := range es {
		out = append(out, e.(map[string]any)["resource"].(map[string]any))
	}
	return out
}

func (c *client) do(method, path, token string, body []byte) answer {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, bytes.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/fhir+json")
	}
	res, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	ct := res.Header.Get("Content-Type")
	switch {
	case strings.HasPrefix(ct, "application/fhir+json"):
		validate(c.t, method+" "+path, b)
	case strings.HasPrefix(ct, "application/fhir+ndjson"):
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			validate(c.t, method+" "+path+" (a line)", sc.Bytes())
		}
	}
	return answer{res.StatusCode, res.Header, b}
}

func (c *client) get(path, token string) answer { c.t.Helper(); return c.do("GET", path, token, nil) }

// want checks a status, and that an error comes with an OperationOutcome.
func want(t *testing.T, what string, a answer, status int) {
	t.Helper()
	if a.status != status {
		t.Fatalf("%s: status %d, want %d: %s", what, a.status, status, clip(a.body))
	}
	if status >= 400 {
		var m map[string]any
		if json.Unmarshal(a.body, &m) != nil || m["resourceType"] != "OperationOutcome" {
			t.Fatalf("%s: a %d without an OperationOutcome: %s", what, status, clip(a.body))
		}
	}
}

// eventually polls cond until it holds, failing the test after a while:
// the system runs at its own pace, and the test waits for what it needs.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
