package health

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestProbes(t *testing.T) {
	ok := Check{"store", func(context.Context) error { return nil }}
	down := Check{"ledger", func(context.Context) error { return errors.New("connection refused") }}
	// A check that ignores its context is cut at Timeout: Ready's ctx,
	// already ended here, makes that at once.
	hung := Check{"cloud", func(context.Context) error { select {} }}
	tests := []struct {
		name   string
		checks []Check
		path   string
		status int
		body   string
	}{
		{"live whatever the checks", []Check{down}, "/livez", 200, "ok\n"},
		{"ready", []Check{ok}, "/readyz", 200, "ok store\n"},
		{"no checks", nil, "/readyz", 200, ""},
		{"one down", []Check{ok, down}, "/readyz", 503, "ok store\nfail ledger: connection refused\n"},
		{"passed through", []Check{ok}, "/v1/other", 418, "next\n"},
	}
	next := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(418); io.WriteString(w, "next\n") })
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			Wrap(next, tc.checks...).ServeHTTP(rec, httptest.NewRequest("GET", tc.path, nil))
			if rec.Code != tc.status || rec.Body.String() != tc.body {
				t.Fatalf("GET %s: %d %q, want %d %q", tc.path, rec.Code, rec.Body.String(), tc.status, tc.body)
			}
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	lines, err := Ready(ctx, []Check{hung})
	if !errors.Is(err, ErrNotReady) || !strings.HasPrefix(lines[0], "fail cloud: no answer") {
		t.Fatalf("a hung check: %q %v", lines, err)
	}
}
