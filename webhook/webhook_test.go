package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// The Standard Webhooks specification's published test vector: a receiver
// can check our deliveries with any of that specification's libraries.
func TestSignStandardWebhooksVector(t *testing.T) {
	s, err := ParseSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"test": 2432232314}`)
	got := s.Sign("msg_p5jXN8AQM9LWM0D4loKWxJek", time.Unix(1614265330, 0), body)
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Fatalf("signature %s, want %s", got, want)
	}
	h := http.Header{}
	h.Set("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek")
	h.Set("webhook-timestamp", "1614265330")
	h.Set("webhook-signature", "v1,bm9wZQ== "+got)
	now := time.Unix(1614265330+60, 0)
	if err := s.Verify(h, body, now, 5*time.Minute); err != nil {
		t.Errorf("verify the vector: %v", err)
	}
	for name, f := range map[string]func(){
		"an altered body": func() { body = []byte(`{"test": 2432232315}`) },
		"too old":         func() { now = now.Add(time.Hour) },
		"another ID":      func() { h.Set("webhook-id", "msg_other") },
	} {
		b0, n0, id0 := body, now, h.Get("webhook-id")
		f()
		if err := s.Verify(h, body, now, 5*time.Minute); err == nil {
			t.Errorf("%s verified", name)
		}
		body, now = b0, n0
		h.Set("webhook-id", id0)
	}
}

func TestParseSecret(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", true},
		{NewSecret().String(), true},
		{"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", false}, // no prefix
		{"whsec_c2hvcnQ=", false},                   // 5 bytes
		{"whsec_not base64!", false},
	} {
		_, err := ParseSecret(tc.in)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrSecret)) {
			t.Errorf("ParseSecret(%q): %v", tc.in, err)
		}
	}
}

// receiver is an endpoint that fails while down, and records what it took.
type receiver struct {
	t         *testing.T
	secret    Secret
	tolerance time.Duration // of the timestamp (a minute if 0)
	mu        sync.Mutex
	down      bool
	tries     int
	got       []string // webhook-ids taken
	bodies    [][]byte
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.tries++
	tol := r.tolerance
	if tol == 0 {
		tol = time.Minute
	}
	if err := r.secret.Verify(req.Header, body, time.Now(), tol); err != nil {
		r.t.Errorf("a delivery that does not verify: %v", err)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if r.down {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	r.got = append(r.got, req.Header.Get("webhook-id"))
	r.bodies = append(r.bodies, body)
}

func (r *receiver) set(down bool) {
	r.mu.Lock()
	r.down = down
	r.mu.Unlock()
}

func (r *receiver) taken() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.got...)
}

func newReceiver(t *testing.T) (*receiver, *httptest.Server) {
	r := &receiver{t: t, secret: NewSecret()}
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return r, srv
}

func open(t *testing.T, path string, r *receiver, url string) *Outbox {
	t.Helper()
	o, err := Open(Config{Path: path, Endpoints: []Endpoint{{URL: url, Secret: r.secret}}, MinBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// run runs the outbox until stop is called.
func run(o *Outbox) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { o.Run(ctx); close(done) }()
	return func() { cancel(); <-done }
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("never: %s", what)
		}
	}
}

func event(id string) Event {
	return Event{ID: id, Type: "alert.raised", Payload: json.RawMessage(`{"alert":"` + id + `","link":"https://portal.example/alerts/` + id + `"}`)}
}

func TestDeliversSignedAndRetries(t *testing.T) {
	r, srv := newReceiver(t)
	o := open(t, filepath.Join(t.TempDir(), "w.db"), r, srv.URL)
	defer o.Close()
	r.set(true)
	stop := run(o)
	defer stop()
	if err := o.Enqueue(event("a1")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "three refused attempts", func() bool { return o.Stats().Failures >= 3 })
	r.set(false)
	waitFor(t, "the delivery", func() bool { return o.Stats().Delivered == 1 })
	if got := r.taken(); len(got) != 1 || got[0] != "a1" {
		t.Fatalf("taken %v", got)
	}
	var body struct {
		Type string          `json:"type"`
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(r.bodies[0], &body); err != nil || body.Type != "alert.raised" || !strings.Contains(string(body.Data), `"alert":"a1"`) {
		t.Errorf("body %s: %v", r.bodies[0], err)
	}
	if st := o.Stats(); st.Pending != 0 || st.Attempts < 4 {
		t.Errorf("stats %+v", st)
	}
}

// TestRestartLosesNothingDeliversOnce: deliveries waiting for an endpoint
// that is down survive a restart of the process; the producer replaying
// its history after the restart enqueues nothing twice; the endpoint gets
// each event once.
func TestRestartLosesNothingDeliversOnce(t *testing.T) {
	r, srv := newReceiver(t)
	path := filepath.Join(t.TempDir(), "w.db")
	r.set(true)
	o := open(t, path, r, srv.URL)
	stop := run(o)
	for _, id := range []string{"a1", "a2", "a3"} {
		if err := o.Enqueue(event(id)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "failed attempts", func() bool { return o.Stats().Failures >= 3 })
	stop()
	o.Close()

	o = open(t, path, r, srv.URL)
	defer o.Close()
	if st := o.Stats(); st.Pending != 3 {
		t.Fatalf("pending after the restart: %d, want 3", st.Pending)
	}
	for _, id := range []string{"a1", "a2", "a3"} {
		if err := o.Enqueue(event(id)); !errors.Is(err, ErrDuplicate) {
			t.Errorf("enqueue %s again after the restart: %v, want ErrDuplicate", id, err)
		}
	}
	if err := o.Enqueue(event("a4")); err != nil {
		t.Fatal(err)
	}
	r.set(false)
	stop = run(o)
	defer stop()
	waitFor(t, "every delivery", func() bool { return o.Stats().Delivered == 4 })
	if got := r.taken(); strings.Join(got, ",") != "a1,a2,a3,a4" {
		t.Errorf("taken %v, want a1..a4 once each, in order", got)
	}
	if err := o.Resend("a2"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the resent delivery", func() bool { return len(r.taken()) == 5 && o.Stats().Delivered == 5 })
	if got := r.taken(); got[4] != "a2" {
		t.Errorf("resent under the ID %q, want a2", got[4])
	}
	if err := o.Resend("never"); !errors.Is(err, ErrUnknown) {
		t.Errorf("resend of an unknown event: %v", err)
	}
	var b strings.Builder
	o.WriteMetrics(&b, "test")
	for _, want := range []string{"test_webhook_delivered_total 5", "test_webhook_duplicates_total 3", "test_webhook_pending 0"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("metrics lack %q:\n%s", want, b.String())
		}
	}
}

func TestExpiresAfterMaxAge(t *testing.T) {
	r, srv := newReceiver(t)
	r.set(true)
	r.tolerance = 24 * time.Hour // the outbox's clock runs ahead
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	o, err := Open(Config{Path: filepath.Join(t.TempDir(), "w.db"), Endpoints: []Endpoint{{URL: srv.URL, Secret: r.secret}},
		MaxAge: time.Hour, MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	if err := o.Enqueue(event("a1")); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := o.deliverDue(ctx); err != nil || o.Stats().Expired != 0 {
		t.Fatalf("expired at once: %v %+v", err, o.Stats())
	}
	mu.Lock()
	now = now.Add(59 * time.Minute)
	mu.Unlock()
	o.deliverDue(ctx)
	if o.Stats().Expired != 0 {
		t.Fatal("expired before an hour")
	}
	mu.Lock()
	now = now.Add(2 * time.Minute)
	mu.Unlock()
	o.deliverDue(ctx)
	if st := o.Stats(); st.Expired != 1 || st.Pending != 0 {
		t.Fatalf("after an hour: %+v", st)
	}
}

func TestEnqueueRefusals(t *testing.T) {
	r, srv := newReceiver(t)
	o := open(t, filepath.Join(t.TempDir(), "w.db"), r, srv.URL)
	defer o.Close()
	for _, tc := range []struct {
		name string
		ev   Event
		want error
	}{
		{"too large", Event{ID: "x", Type: "t", Payload: json.RawMessage(`"` + strings.Repeat("a", MaxPayload) + `"`)}, ErrTooLarge},
		{"not JSON", Event{ID: "y", Type: "t", Payload: json.RawMessage(`{`)}, nil},
		{"no ID", Event{Type: "t", Payload: json.RawMessage(`{}`)}, nil},
	} {
		err := o.Enqueue(tc.ev)
		if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	if st := o.Stats(); st.Enqueued != 0 || st.Pending != 0 {
		t.Errorf("refused events stored: %+v", st)
	}
	if _, err := Open(Config{Path: filepath.Join(t.TempDir(), "x.db"), MaxAge: time.Minute}); err == nil {
		t.Error("a retry window under an hour was accepted")
	}
	if _, err := Open(Config{Path: filepath.Join(t.TempDir(), "x.db"), Endpoints: []Endpoint{{URL: "ftp://x", Secret: NewSecret()}}}); err == nil {
		t.Error("a non-HTTP endpoint was accepted")
	}
}

// TestEnqueueToSurvivesRestart: a delivery to an endpoint given with the
// event (a FHIR subscription's), not configured, is signed with its own
// secret, carries its body bare with its Content-Type, and survives a
// restart of an outbox that does not know the endpoint.
func TestEnqueueToSurvivesRestart(t *testing.T) {
	r, srv := newReceiver(t)
	other, osrv := newReceiver(t) // the configured endpoint: gets nothing of it
	path := filepath.Join(t.TempDir(), "w.db")
	r.set(true)
	o := open(t, path, other, osrv.URL)
	stop := run(o)
	ev := Event{ID: "sub:1", Type: "fhir.notification", Payload: json.RawMessage(`{"resourceType":"Bundle","type":"history"}`), ContentType: "application/fhir+json"}
	if err := o.EnqueueTo(ev, Endpoint{URL: srv.URL, Secret: r.secret}); err != nil {
		t.Fatal(err)
	}
	if err := o.EnqueueTo(ev, Endpoint{URL: srv.URL, Secret: r.secret}); !errors.Is(err, ErrDuplicate) {
		t.Errorf("the same event again: %v", err)
	}
	if err := o.EnqueueTo(Event{ID: "sub:2", Type: "t", Payload: json.RawMessage(`{}`)}, Endpoint{URL: srv.URL, Secret: Secret("short")}); !errors.Is(err, ErrSecret) {
		t.Errorf("a short secret: %v", err)
	}
	waitFor(t, "a failed attempt", func() bool { return o.Stats().Failures >= 1 })
	stop()
	o.Close()

	o, err := Open(Config{Path: path, MinBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	r.set(false)
	stop = run(o)
	defer stop()
	waitFor(t, "the delivery after the restart", func() bool { return len(r.taken()) == 1 })
	if got := string(r.bodies[0]); got != string(ev.Payload) {
		t.Errorf("body %s, want the payload bare", got)
	}
	if n := len(other.taken()); n != 0 {
		t.Errorf("the configured endpoint got %d deliveries of an event for another", n)
	}
}
