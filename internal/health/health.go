// Package health serves the two probes every long-running VitalChain
// process answers, as Kubernetes and systemd watchdogs expect them:
//
//	GET /livez   200 "ok": the process runs and serves HTTP
//	GET /readyz  200 when every readiness check passes, 503 otherwise,
//	             one line per check ("ok NAME" or "fail NAME: why")
//
// Liveness says nothing of the process's dependencies, so that a restart
// is not ordered for what a restart cannot fix; readiness says whether the
// process can do its job now (a node caught up with peers, a cloud whose
// store answers, a gateway whose broker, ledger and cloud answer).
package health

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Timeout bounds each readiness check.
const Timeout = 3 * time.Second

// ErrNotReady is what Ready's error wraps.
var ErrNotReady = errors.New("not ready")

// Check is one readiness check: nil when that part is ready.
type Check struct {
	Name string
	Func func(ctx context.Context) error
}

// Ready runs checks in parallel, each within Timeout, and returns their
// lines in order, and an error wrapping ErrNotReady naming those that
// failed.
func Ready(ctx context.Context, checks []Check) (lines []string, err error) {
	lines = make([]string, len(checks))
	errs := make([]error, len(checks))
	var wg sync.WaitGroup
	for i, c := range checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = run(ctx, c)
		}()
	}
	wg.Wait()
	var failed []string
	for i, c := range checks {
		if errs[i] != nil {
			lines[i] = fmt.Sprintf("fail %s: %v", c.Name, errs[i])
			failed = append(failed, lines[i][len("fail "):])
		} else {
			lines[i] = "ok " + c.Name
		}
	}
	if len(failed) > 0 {
		return lines, fmt.Errorf("%w: %s", ErrNotReady, strings.Join(failed, "; "))
	}
	return lines, nil
}

// run runs one check within Timeout; a check that ignores its context is
// reported as timed out (and left to finish on its own).
func run(ctx context.Context, c Check) error {
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- c.Func(ctx) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("no answer: %w", ctx.Err())
	}
}

// Mount adds /livez and /readyz to mux.
func Mount(mux *http.ServeMux, checks ...Check) {
	mux.HandleFunc("GET /livez", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		lines, err := Ready(r.Context(), checks)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		for _, l := range lines {
			io.WriteString(w, l+"\n")
		}
	})
}

// Wrap returns a handler that answers /livez and /readyz itself and passes
// every other request to next: for a server whose handler already routes
// (and limits) its API, so that the probes bypass its limits.
func Wrap(next http.Handler, checks ...Check) http.Handler {
	mux := http.NewServeMux()
	Mount(mux, checks...)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/livez" || r.URL.Path == "/readyz" {
			mux.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Serve serves /livez and /readyz (and whatever extra adds to the mux) on
// addr until the returned stop is called.
func Serve(addr string, extra func(*http.ServeMux), checks ...Check) (stop func(), err error) {
	mux := http.NewServeMux()
	Mount(mux, checks...)
	if extra != nil {
		extra(mux)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 5 * time.Second,
		WriteTimeout: Timeout + 5*time.Second, IdleTimeout: 30 * time.Second, MaxHeaderBytes: 8 << 10}
	ln, err := listen(addr)
	if err != nil {
		return nil, err
	}
	go srv.Serve(ln)
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}, nil
}
