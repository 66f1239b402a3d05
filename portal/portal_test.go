package portal

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vitalchain/vitalchain/contract"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/merklelog"
	"github.com/vitalchain/vitalchain/provider"
	"github.com/vitalchain/vitalchain/reading"
	"github.com/vitalchain/vitalchain/record"
	"github.com/vitalchain/vitalchain/vital"
	"github.com/vitalchain/vitalchain/webhook"
)

// fakeClinician stands in for a provider: alerts are given by the test,
// grants are a set, Fetch returns a made-up verified record.
type fakeClinician struct {
	me identity.ID

	mu      sync.Mutex
	granted map[identity.ID]bool
	fetches int
	sent    []string
}

func (f *fakeClinician) ID() identity.ID { return f.me }
func (f *fakeClinician) Follow(ctx context.Context, from uint64, handle func(provider.Alert)) error {
	<-ctx.Done()
	return ctx.Err()
}
func (f *fakeClinician) Fetch(ctx context.Context, id [32]byte) (*provider.Fetched, error) {
	f.mu.Lock()
	f.fetches++
	f.mu.Unlock()
	if id[0] == 0xff {
		return nil, provider.ErrProof
	}
	r := reading.New(identity.ID{1}, identity.ID{9}, 1, time.UnixMilli(1_700_000_000_000), vital.Glucose, 55_000)
	return &provider.Fetched{ID: id, Header: record.Header{Patient: identity.ID{1}, Alert: true, Time: r.Time},
		Kind: vital.Glucose, Severity: contract.Critical,
		Reading: r, Index: 7, Checkpoint: merklelog.Checkpoint{Size: 9}, Anchored: true, Height: 42, Proof: merklelog.Proof{{1}, {2}}}, nil
}
func (f *fakeClinician) Granted(ctx context.Context, patient identity.ID) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.granted[patient], nil
}
func (f *fakeClinician) SendRecord(ctx context.Context, patient identity.ID, kind vital.Kind, plaintext []byte) ([32]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sent = append(f.sent, string(plaintext))
	return sha256.Sum256(plaintext), nil
}
func (f *fakeClinician) SetSamplingInterval(ctx context.Context, device identity.ID, iv time.Duration) error {
	return errors.New("not in this test")
}

func (f *fakeClinician) setGrant(p identity.ID, ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.granted[p] = ok
}

// testAlert is an alert of patient p, with severity sev, at reading time t.
func testAlert(p identity.ID, n byte, sev contract.Severity, t time.Time) provider.Alert {
	h := record.Header{Patient: p, Author: p, Epoch: 1, Contract: [32]byte{1}, Alert: true, Time: t.UnixMilli()}
	return provider.Alert{ID: [32]byte{p[0], n}, Header: h, Kind: vital.Glucose, Severity: sev, Received: t}
}

func TestTriageOrder(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	a, b, c, d := identity.ID{1}, identity.ID{2}, identity.ID{3}, identity.ID{4}
	tr := newTriage()
	tr.add(testAlert(a, 1, contract.Warning, now.Add(-10*time.Minute)))
	tr.add(testAlert(b, 1, contract.Critical, now.Add(-2*time.Minute)))
	tr.add(testAlert(c, 1, contract.Warning, now.Add(-20*time.Minute)))
	tr.add(testAlert(d, 1, contract.Info, now.Add(-time.Minute)))
	if tr.add(testAlert(d, 1, contract.Info, now.Add(-time.Minute))) {
		t.Error("a second delivery of an alert was added")
	}
	// d's only alert resolved: it goes after the patients with open ones.
	if !tr.transition([32]byte{4, 1}, Resolved, "x", now, time.Time{}) {
		t.Fatal("resolve refused")
	}
	for _, tc := range []struct {
		name string
		do   func()
		want []identity.ID
	}{
		{"severity first, then the oldest", func() {}, []identity.ID{b, c, a, d}},
		{"a snoozed patient goes with the quiet ones", func() {
			tr.transition([32]byte{2, 1}, Raised, "x", now, now.Add(time.Hour))
		}, []identity.ID{c, a, d, b}},
		{"acknowledged stays open", func() {
			tr.transition([32]byte{3, 1}, Acknowledged, "x", now, time.Time{})
		}, []identity.ID{c, a, d, b}},
		{"resolved leaves the top", func() {
			tr.transition([32]byte{3, 1}, Resolved, "x", now, time.Time{})
		}, []identity.ID{a, d, b, c}},
	} {
		tc.do()
		var got []identity.ID
		for _, r := range tr.rows(now, nil) {
			got = append(got, r.Patient)
		}
		if !equalIDs(got, tc.want) {
			t.Errorf("%s: order %v, want %v", tc.name, got, tc.want)
		}
	}
	if tr.transition([32]byte{3, 1}, Acknowledged, "x", now, time.Time{}) {
		t.Error("a resolved alert went back to acknowledged")
	}
	if rows := tr.rows(now, func(id identity.ID) bool { return id != a }); len(rows) != 3 {
		t.Errorf("filtered rows: %d, want 3", len(rows))
	}
}

func equalIDs(a, b []identity.ID) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestTriageBoundsAlertsPerPatient(t *testing.T) {
	tr := newTriage()
	p := identity.ID{1}
	now := time.Unix(1_700_000_000, 0)
	for i := range maxAlertsPerPatient + 10 {
		a := testAlert(p, 0, contract.Warning, now)
		a.ID = sha256.Sum256([]byte{byte(i), byte(i >> 8)})
		tr.add(a)
	}
	as, _ := tr.patientAlerts(p)
	if len(as) != maxAlertsPerPatient || len(tr.alerts) != maxAlertsPerPatient {
		t.Fatalf("%d alerts kept (%d indexed), want %d", len(as), len(tr.alerts), maxAlertsPerPatient)
	}
}

// testPortal starts a portal on a fake clinician and returns a logged-in
// HTTP client.
func testPortal(t *testing.T) (*ProviderPortal, *fakeClinician, *httptest.Server, *http.Client, string) {
	t.Helper()
	return testPortalWith(t, ProviderConfig{})
}

// testPortalWith is testPortal with cfg (its Provider set to the fake).
func testPortalWith(t *testing.T, cfg ProviderConfig) (*ProviderPortal, *fakeClinician, *httptest.Server, *http.Client, string) {
	t.Helper()
	f := &fakeClinician{me: identity.ID{0xaa}, granted: map[identity.ID]bool{}}
	cfg.Provider = f
	p, err := NewProvider(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(p.Handler())
	t.Cleanup(srv.Close)
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	res, err := c.Get(srv.URL + p.LoginPath())
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.Contains(string(body), "Triage") {
		t.Fatalf("login: %s\n%s", res.Status, body)
	}
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(string(body))
	if m == nil {
		t.Fatalf("no CSRF token in the page:\n%s", body)
	}
	return p, f, srv, c, m[1]
}

func get(t *testing.T, c *http.Client, u string) (int, string) {
	t.Helper()
	res, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func TestLoginLinkWorksOnce(t *testing.T) {
	p, _, srv, _, _ := testPortal(t)
	path := p.LoginPath()
	for i, want := range []int{http.StatusOK, http.StatusUnauthorized} {
		jar, _ := cookiejar.New(nil)
		c := &http.Client{Jar: jar}
		if code, _ := get(t, c, srv.URL+path); code != want {
			t.Errorf("login %d: %d, want %d", i+1, code, want)
		}
	}
	if code, body := get(t, http.DefaultClient, srv.URL+"/"); code != http.StatusUnauthorized || strings.Contains(body, "triage-rows") {
		t.Errorf("without a session: %d", code)
	}
	if code, _ := get(t, http.DefaultClient, srv.URL+"/login?token=forged"); code != http.StatusUnauthorized {
		t.Errorf("a forged token: %d", code)
	}
}

func TestSessionCookieIsHTTPOnlyAndStrict(t *testing.T) {
	for _, secure := range []bool{false, true} {
		a := newAccess("provider", secure, time.Now)
		id, err := a.login(a.newLogin())
		if err != nil {
			t.Fatal(err)
		}
		rec := httptest.NewRecorder()
		a.setCookie(rec, id)
		c := rec.Result().Cookies()[0]
		if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Secure != secure || c.Path != "/" {
			t.Errorf("secure=%v: cookie %+v", secure, c)
		}
		if secure && !strings.HasPrefix(c.Name, "__Host-") {
			t.Errorf("a TLS cookie named %q", c.Name)
		}
	}
}

func TestFormsNeedCSRFToken(t *testing.T) {
	p, f, srv, c, csrf := testPortal(t)
	pat := identity.ID{1}
	f.setGrant(pat, true)
	p.Observe(testAlert(pat, 1, contract.Critical, time.Now()))
	u := srv.URL + "/patients/" + pat.Hex() + "/records"
	for _, tc := range []struct {
		name   string
		form   url.Values
		origin string
		want   int
	}{
		{"no token", url.Values{"text": {"x"}}, "", http.StatusForbidden},
		{"a wrong token", url.Values{"text": {"x"}, "csrf": {"nope"}}, "", http.StatusForbidden},
		{"another origin", url.Values{"text": {"x"}, "csrf": {csrf}}, "http://evil.example", http.StatusForbidden},
		{"the session's token", url.Values{"text": {"take the evening dose"}, "csrf": {csrf}}, "", http.StatusOK},
	} {
		req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(tc.form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if tc.origin != "" {
			req.Header.Set("Origin", tc.origin)
		}
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, res.StatusCode, tc.want)
		}
	}
	if len(f.sent) != 1 || f.sent[0] != "take the evening dose" {
		t.Errorf("records sent: %q, want only the one with the token", f.sent)
	}
}

func TestPatientWithoutGrantIsNeverShown(t *testing.T) {
	p, f, srv, c, _ := testPortal(t)
	in, out := identity.ID{1}, identity.ID{2}
	f.setGrant(in, true)
	p.Observe(testAlert(in, 1, contract.Critical, time.Now()))
	p.Observe(testAlert(out, 1, contract.Critical, time.Now()))
	_, body := get(t, c, srv.URL+"/")
	if !strings.Contains(body, in.Hex()) || strings.Contains(body, out.Hex()) {
		t.Fatalf("triage list shows the wrong patients:\n%s", body)
	}
	outAlert := hex.EncodeToString([]byte{2, 1}) + strings.Repeat("00", 30)
	for _, path := range []string{"/patients/" + out.Hex(), "/alerts/" + outAlert, "/alerts/" + outAlert + "/proof", "/patients/" + out.Hex() + "/fhir"} {
		if code, body := get(t, c, srv.URL+path); code != http.StatusForbidden || strings.Contains(body, "55") {
			t.Errorf("%s of a patient without a grant: %d", path, code)
		}
	}
	if f.fetches != 0 {
		t.Errorf("%d records fetched for a patient without a grant", f.fetches)
	}
	// The grant ends: the patient leaves after GrantTTL.
	f.setGrant(in, false)
	p.mu.Lock()
	clear(p.grants)
	p.mu.Unlock()
	if _, body := get(t, c, srv.URL+"/"); strings.Contains(body, in.Hex()) {
		t.Error("a patient whose grant ended is still listed")
	}
}

func TestAlertPageShowsProofAndLifecycle(t *testing.T) {
	p, f, srv, c, csrf := testPortal(t)
	pat := identity.ID{1}
	f.setGrant(pat, true)
	a := testAlert(pat, 1, contract.Critical, time.Now())
	p.Observe(a)
	u := srv.URL + "/alerts/" + hex.EncodeToString(a.ID[:])
	_, body := get(t, c, u)
	for _, want := range []string{"Proof verified", "anchored on the ledger at block 42", "55 mg/dL", "raised"} {
		if !strings.Contains(body, want) {
			t.Errorf("alert page lacks %q:\n%s", want, body)
		}
	}
	code, proof := get(t, c, u+"/proof")
	if code != http.StatusOK || !strings.Contains(proof, `"block_height": 42`) || !strings.Contains(proof, `"inclusion_proof"`) {
		t.Errorf("raw proof: %d %s", code, proof)
	}
	post := func(action string) int {
		res, err := c.PostForm(u+"/state", url.Values{"csrf": {csrf}, "action": {action}})
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if code := post("acknowledge"); code != http.StatusOK {
		t.Fatalf("acknowledge: %d", code)
	}
	if _, body := get(t, c, u); !strings.Contains(body, "acknowledged by provider "+short(f.me)) {
		t.Errorf("the alert page does not say who acknowledged it:\n%s", body)
	}
	if code := post("acknowledge"); code != http.StatusConflict {
		t.Errorf("a second acknowledgement: %d, want 409", code)
	}
	if code := post("resolve"); code != http.StatusOK {
		t.Errorf("resolve: %d", code)
	}
	// A record that fails verification is shown as failed, not as verified.
	bad := testAlert(pat, 2, contract.Warning, time.Now())
	bad.ID[0] = 0xff
	p.Observe(bad)
	if _, body := get(t, c, srv.URL+"/alerts/"+hex.EncodeToString(bad.ID[:])); !strings.Contains(body, "Verification failed") || strings.Contains(body, "Proof verified") {
		t.Errorf("a record that failed its proof:\n%s", body)
	}
}

func TestEventsStreamNewAlerts(t *testing.T) {
	p, f, srv, c, _ := testPortal(t)
	pat := identity.ID{1}
	f.setGrant(pat, true)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/events", nil)
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if ct := res.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	events := make(chan string, 8)
	go func() {
		sc := bufio.NewScanner(res.Body)
		var ev strings.Builder
		for sc.Scan() {
			if sc.Text() == "" {
				events <- ev.String()
				ev.Reset()
				continue
			}
			ev.WriteString(sc.Text() + "\n")
		}
		close(events)
	}()
	first := <-events
	if !strings.HasPrefix(first, "event: triage\n") || !strings.Contains(first, "No patient") {
		t.Fatalf("first event:\n%s", first)
	}
	a := testAlert(pat, 1, contract.Critical, time.Now())
	p.Observe(a)
	// First the new alert, by ID and reading time; then the rows.
	for i, want := range []string{fmt.Sprintf("event: alerts\ndata: %x %d\n", a.ID, a.Header.Time), "data-patient=\"" + pat.Hex()} {
		select {
		case ev := <-events:
			if !strings.Contains(ev, want) {
				t.Fatalf("event %d after an alert, want %q:\n%s", i, want, ev)
			}
			for _, l := range strings.Split(strings.TrimSpace(ev), "\n") {
				if !strings.HasPrefix(l, "event: ") && !strings.HasPrefix(l, "data: ") {
					t.Errorf("a line that is not a field of the event: %q", l)
				}
			}
		case <-ctx.Done():
			t.Fatal("no event after an alert")
		}
	}
	// An alert of a patient without a grant is not told.
	p.Observe(testAlert(identity.ID{7}, 1, contract.Critical, time.Now()))
	p.Observe(testAlert(pat, 2, contract.Critical, time.Now()))
	select {
	case ev := <-events:
		if strings.Contains(ev, "0701") || !strings.Contains(ev, "0102") {
			t.Errorf("alerts event:\n%s", ev)
		}
	case <-ctx.Done():
		t.Fatal("no event after two alerts")
	}
}

func TestVendoredFilesArePinned(t *testing.T) {
	sums, err := os.ReadFile("static/vendor/SHA256SUMS")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, l := range strings.Split(strings.TrimSpace(string(sums)), "\n") {
		want, name, ok := strings.Cut(l, "  ")
		if !ok {
			t.Fatalf("bad line %q", l)
		}
		b, err := staticFS.ReadFile("static/vendor/" + name)
		if err != nil {
			t.Fatal(err)
		}
		if got := sha256.Sum256(b); hex.EncodeToString(got[:]) != want {
			t.Errorf("%s changed: sha256 %x, pinned %s", name, got, want)
		}
		n++
	}
	if n != 4 {
		t.Errorf("%d files pinned, want 4", n)
	}
}

// notes records the events a portal hands over.
type notes struct {
	mu     sync.Mutex
	events []webhook.Event
	seen   map[string]bool
}

func (n *notes) Enqueue(ev webhook.Event) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.seen[ev.ID] {
		return webhook.ErrDuplicate
	}
	n.seen[ev.ID] = true
	n.events = append(n.events, ev)
	return nil
}

func TestAlertEventsCarryIDsOnly(t *testing.T) {
	f := &fakeClinician{me: identity.ID{0xaa}, granted: map[identity.ID]bool{{1}: true}}
	n := &notes{seen: map[string]bool{}}
	p, err := NewProvider(ProviderConfig{Provider: f, Notify: n, URL: "https://portal.example/"})
	if err != nil {
		t.Fatal(err)
	}
	a := testAlert(identity.ID{1}, 1, contract.Critical, time.Now())
	p.Observe(a)
	p.Observe(a) // a replay after a restart
	srv := httptest.NewServer(p.Handler())
	defer srv.Close()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	_, body := get(t, c, srv.URL+p.LoginPath())
	csrf := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(body)[1]
	res, err := c.PostForm(srv.URL+"/alerts/"+hex.EncodeToString(a.ID[:])+"/state", url.Values{"csrf": {csrf}, "action": {"acknowledge"}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if len(n.events) != 2 || n.events[0].Type != "alert.raised" || n.events[1].Type != "alert.acknowledged" {
		t.Fatalf("events %+v", n.events)
	}
	id := hex.EncodeToString(a.ID[:])
	for _, ev := range n.events {
		var m map[string]string
		if err := json.Unmarshal(ev.Payload, &m); err != nil {
			t.Fatal(err)
		}
		if m["alert"] != id || m["link"] != "https://portal.example/alerts/"+id || len(m) != 4 {
			t.Errorf("payload %s", ev.Payload)
		}
		for _, health := range []string{"glucose", "critical", "severity", "mg/dl"} {
			if strings.Contains(strings.ToLower(string(ev.Payload)), health) {
				t.Errorf("payload %s carries %q", ev.Payload, health)
			}
		}
	}
}

// TestWebhooksSurviveRestart: alerts that reached a portal while the paging
// system was down are delivered after the portal's process restarts, and
// the alerts it replays at start are not delivered twice.
func TestWebhooksSurviveRestart(t *testing.T) {
	secret := webhook.NewSecret()
	var mu sync.Mutex
	down := true
	var got []string
	pager := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		if err := secret.Verify(r.Header, body, time.Now(), time.Minute); err != nil {
			t.Errorf("delivery: %v", err)
		}
		if down {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		got = append(got, r.Header.Get("webhook-id"))
	}))
	defer pager.Close()
	path := t.TempDir() + "/webhooks.db"
	f := &fakeClinician{me: identity.ID{0xaa}, granted: map[identity.ID]bool{}}
	start := func() (*ProviderPortal, *webhook.Outbox, func()) {
		out, err := webhook.Open(webhook.Config{Path: path, Endpoints: []webhook.Endpoint{{URL: pager.URL, Secret: secret}},
			MinBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		p, err := NewProvider(ProviderConfig{Provider: f, Notify: out})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { out.Run(ctx); close(done) }()
		return p, out, func() { cancel(); <-done; out.Close() }
	}
	now := time.Now()
	a1, a2, a3 := testAlert(identity.ID{1}, 1, contract.Critical, now), testAlert(identity.ID{1}, 2, contract.Warning, now), testAlert(identity.ID{2}, 1, contract.Info, now)
	p, out, stop := start()
	p.Observe(a1)
	p.Observe(a2)
	waitFor(t, "attempts refused by the pager", func() bool { return out.Stats().Failures >= 2 })
	stop()

	// The new process replays the alerts from the start of the cloud's log.
	p, out, stop = start()
	defer stop()
	mu.Lock()
	down = false
	mu.Unlock()
	for _, a := range []provider.Alert{a1, a2, a3} {
		p.Observe(a)
	}
	waitFor(t, "three deliveries", func() bool { return out.Stats().Delivered == 3 })
	if st := out.Stats(); st.Duplicates != 2 || st.Enqueued != 1 || st.Pending != 0 {
		t.Errorf("after the replay: %+v, want the 2 replayed alerts refused as duplicates", st)
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{"alert.raised:" + hex.EncodeToString(a1.ID[:]), "alert.raised:" + hex.EncodeToString(a2.ID[:]), "alert.raised:" + hex.EncodeToString(a3.ID[:])}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("delivered %v, want %v", got, want)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("never: %s", what)
		}
	}
}

// A paging system that lost an alert's events gets them again from the
// alert's page, under the IDs they were first sent with; a form without
// the session's token, an alert the portal does not have, and a portal
// without webhooks resend nothing.
func TestResendToThePagers(t *testing.T) {
	secret := webhook.NewSecret()
	var mu sync.Mutex
	var got []string
	pager := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := secret.Verify(r.Header, body, time.Now(), time.Minute); err != nil {
			t.Errorf("delivery: %v", err)
		}
		mu.Lock()
		got = append(got, r.Header.Get("webhook-id"))
		mu.Unlock()
	}))
	defer pager.Close()
	deliveries := func() []string { mu.Lock(); defer mu.Unlock(); return slices.Clone(got) }
	out, err := webhook.Open(webhook.Config{Path: t.TempDir() + "/webhooks.db", Endpoints: []webhook.Endpoint{{URL: pager.URL, Secret: secret}},
		MinBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { out.Run(ctx); close(done) }()
	defer func() { cancel(); <-done; out.Close() }()
	p, f, srv, c, csrf := testPortalWith(t, ProviderConfig{Notify: out})
	pat := identity.ID{1}
	f.setGrant(pat, true)
	a := testAlert(pat, 1, contract.Critical, time.Now())
	p.Observe(a)
	id := hex.EncodeToString(a.ID[:])
	waitFor(t, "the alert's event delivered", func() bool { return len(deliveries()) == 1 })
	if _, body := get(t, c, srv.URL+"/alerts/"+id); !strings.Contains(body, `id="resend"`) {
		t.Fatalf("the alert's page has no resend button:\n%s", body)
	}
	post := func(c *http.Client, base, alert, token string) int {
		t.Helper()
		res, err := c.PostForm(base+"/alerts/"+alert+"/resend", url.Values{"csrf": {token}})
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	for _, tc := range []struct {
		name, alert, token string
		want               int
	}{
		{"without the session's token", id, "nope", http.StatusForbidden},
		{"an alert the portal does not have", strings.Repeat("ab", 32), csrf, http.StatusNotFound},
		{"the alert", id, csrf, http.StatusOK},
	} {
		if code := post(c, srv.URL, tc.alert, tc.token); code != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, code, tc.want)
		}
	}
	waitFor(t, "the alert's event delivered again", func() bool { return len(deliveries()) == 2 })
	if d := deliveries(); d[0] != "alert.raised:"+id || d[1] != d[0] {
		t.Errorf("deliveries %v, want alert.raised:%s twice", d, id)
	}
	if st := out.Stats(); st.Resent != 1 {
		t.Errorf("resent %d, want 1", st.Resent)
	}

	// A portal without webhooks has no button, and refuses the form.
	p2, f2, srv2, c2, csrf2 := testPortal(t)
	f2.setGrant(pat, true)
	p2.Observe(a)
	if _, body := get(t, c2, srv2.URL+"/alerts/"+id); strings.Contains(body, `id="resend"`) {
		t.Errorf("a portal without webhooks shows a resend button")
	}
	if code := post(c2, srv2.URL, id, csrf2); code != http.StatusConflict {
		t.Errorf("resend without webhooks: %d, want %d", code, http.StatusConflict)
	}
}
