package fhirapi

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/internal/testbed"
	"github.com/vitalchain/vitalchain/ledger"
	"github.com/vitalchain/vitalchain/merklelog"
	"github.com/vitalchain/vitalchain/reading"
	"github.com/vitalchain/vitalchain/webhook"
)

// receiver is a subscriber's rest-hook endpoint: it records every attempt
// by webhook-id, answers 503 while down, and keeps what it took.
type receiver struct {
	mu       sync.Mutex
	down     bool
	attempts []string
	took     map[string][]byte
	headers  map[string]http.Header
}

func (rv *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	rv.mu.Lock()
	defer rv.mu.Unlock()
	id := r.Header.Get("webhook-id")
	rv.attempts = append(rv.attempts, id)
	if rv.down {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	rv.took[id], rv.headers[id] = b, r.Header.Clone()
}

// TestAPIOnARealSystem runs the API against a whole system (chain, cloud,
// gateway, wearables, the provider's client) and a FHIR client that
// validates every answer against R4 (github.com/google/fhir/go).
func TestAPIOnARealSystem(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	sys, err := testbed.Start(ctx, testbed.Options{Dir: t.TempDir(), Patients: 1, Providers: 1, Devices: 6, Interval: 100 * time.Millisecond,
		AbnormalFraction: 0.1, Speedup: 240, BlockInterval: 100 * time.Millisecond, CloudSeal: 500 * time.Millisecond,
		Suite: identity.SuiteX25519, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Stop()
	prov, patient := sys.Providers[0], sys.Patients[0]
	pid := patient.ID.ID()
	dir := t.TempDir()
	// The server's clock, which the test moves on past GrantTTL.
	var skew atomic.Int64
	now := func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }

	var current atomic.Pointer[Server]
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { current.Load().Handler().ServeHTTP(w, r) }))
	defer ts.Close()
	// open starts the server, its outbox and the alerts feed; the function
	// it returns stops them as a crash would leave them: nothing flushed
	// beyond what they made durable.
	open := func() (*Server, *webhook.Outbox, func()) {
		ob, err := webhook.Open(webhook.Config{Path: filepath.Join(dir, "webhooks.db"), MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		srv, err := New(Config{Provider: prov.P, Ledger: sys.Chain.Client(0), Dir: dir, Outbox: ob, URL: ts.URL, Now: now})
		if err != nil {
			t.Fatal(err)
		}
		current.Store(srv)
		rctx, rcancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		for _, run := range []func(context.Context) error{ob.Run, srv.Run, func(ctx context.Context) error { return prov.P.Follow(ctx, 0, srv.Observe) }} {
			wg.Add(1)
			go func() { defer wg.Done(); run(rctx) }()
		}
		return srv, ob, func() { rcancel(); wg.Wait(); srv.Close(); ob.Close() }
	}
	srv, _, stop := open()
	defer func() { stop() }()

	toks, err := OpenTokens(dir)
	if err != nil {
		t.Fatal(err)
	}
	issue := func(client, scope string, p *identity.ID) string {
		tok, err := toks.Issue(client, scope, p, time.Hour, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	all := issue("ehr", "patient/*.rs user/Subscription.crds", nil)
	obsOnly := issue("obs-app", "patient/Observation.rs", nil)
	patientOnly := issue("demographics", "patient/Patient.rs", nil)
	bound := issue("bound-app", "patient/*.rs", &pid)
	c := &client{t: t, base: ts.URL + Prefix, http: ts.Client()}

	// A subscriber, down at first.
	rv := &receiver{down: true, took: map[string][]byte{}, headers: map[string]http.Header{}}
	hook := httptest.NewServer(rv)
	defer hook.Close()
	subBody := fmt.Sprintf(`{"resourceType":"Subscription","status":"requested","reason":"alerts to the EHR","criteria":%q,
		"_criteria":{"extension":[{"url":%q,"valueString":"Observation?patient=Patient/%s"}]},
		"channel":{"type":"rest-hook","endpoint":%q,"payload":"application/fhir+json",
		"_payload":{"extension":[{"url":%q,"valueCode":"id-only"}]}}}`, TopicURL, filterCriteria, pid.Hex(), hook.URL, payloadContent)
	created := c.do("POST", "/Subscription", all, []byte(subBody))
	want(t, "create a Subscription", created, http.StatusCreated)
	subID := created.json(t)["id"].(string)
	secret, err := webhook.ParseSecret(created.header.Get(SecretHeader))
	if err != nil {
		t.Fatalf("the creation's secret: %v", err)
	}
	want(t, "create a Subscription with a scope that cannot", c.do("POST", "/Subscription", obsOnly, []byte(subBody)), http.StatusForbidden)

	if err := sys.StartWearables(ctx); err != nil {
		t.Fatal(err)
	}
	t.Run("Subscription delivery survives a restart", func(t *testing.T) {
		var first string
		eventually(t, "a notification tried while the subscriber is down", func() bool {
			rv.mu.Lock()
			defer rv.mu.Unlock()
			if len(rv.attempts) > 0 {
				first = rv.attempts[0]
			}
			return first != ""
		})
		stop()
		rv.mu.Lock()
		rv.down = false
		rv.mu.Unlock()
		srv, _, stop = open()
		eventually(t, "the notification delivered after the restart", func() bool {
			rv.mu.Lock()
			defer rv.mu.Unlock()
			return rv.took[first] != nil
		})
		rv.mu.Lock()
		body, h := rv.took[first], rv.headers[first]
		rv.mu.Unlock()
		if err := secret.Verify(h, body, time.Now(), time.Hour); err != nil {
			t.Errorf("the notification's signature: %v", err)
		}
		if ct := h.Get("Content-Type"); ct != "application/fhir+json" {
			t.Errorf("notification Content-Type %q", ct)
		}
		validate(t, "the notification", body)
		var n struct {
			Type  string `json:"type"`
			Entry []struct {
				FullURL  string          `json:"fullUrl"`
				Resource json.RawMessage `json:"resource"`
			} `json:"entry"`
		}
		json.Unmarshal(body, &n)
		if n.Type != "history" || len(n.Entry) != 3 {
			t.Fatalf("want a history Bundle of the status and two IDs, got %s", body)
		}
		for _, e := range n.Entry[1:] {
			if e.Resource != nil {
				t.Errorf("an id-only notification carries a resource: %s", e.Resource)
			}
		}
		if strings.Contains(string(body), "valueQuantity") || !strings.Contains(string(body), `"focus"`) {
			t.Errorf("not an id-only notification: %s", body)
		}
		obs := strings.TrimPrefix(n.Entry[1].FullURL, ts.URL+Prefix)
		// The restarted API learns the alert again from its feed, which the
		// outbox's first delivery may overtake.
		eventually(t, "the notified Observation readable", func() bool { return c.get(obs, all).status == http.StatusOK })
		want(t, "read the notified Observation", c.get(obs, all), http.StatusOK)
		want(t, "the subscription after the restart", c.get("/Subscription/"+subID, all), http.StatusOK)
		st := c.get("/Subscription/"+subID+"/$status", all)
		want(t, "$status", st, http.StatusOK)
		if !strings.Contains(string(st.body), "events-since-subscription-start") {
			t.Errorf("$status: %s", st.body)
		}
	})

	// The system stops making readings once there are a few alerts: what
	// follows sees a fixed set.
	eventually(t, "alerts", func() bool {
		s := current.Load()
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.patients[pid]) >= 8
	})
	sys.StopWearables()
	if err := sys.Drain(ctx); err != nil {
		t.Fatalf("drain: %v", err)
	}
	var allObs []map[string]any
	eventually(t, "a stable set of Observations", func() bool {
		a := c.get("/Observation?_count=1000", all).entries(t)
		time.Sleep(300 * time.Millisecond)
		b := c.get("/Observation?_count=1000", all).entries(t)
		allObs = b
		return len(a) == len(b) && len(b) >= 3
	})
	t.Logf("%d Observations", len(allObs))

	t.Run("tokens and scopes", func(t *testing.T) {
		want(t, "no token", c.get("/Observation", ""), http.StatusUnauthorized)
		want(t, "an unknown token", c.get("/Observation", "vct_"+strings.Repeat("A", 43)), http.StatusUnauthorized)
		want(t, "not a bearer token", c.do("GET", "/Observation", "", nil), http.StatusUnauthorized)
		a := c.get("/Observation", patientOnly)
		want(t, "a token without an Observation scope", a, http.StatusForbidden)
		if !strings.Contains(a.header.Get("WWW-Authenticate"), "insufficient_scope") {
			t.Errorf("WWW-Authenticate %q", a.header.Get("WWW-Authenticate"))
		}
		want(t, "that token's own scope", c.get("/Patient", patientOnly), http.StatusOK)
		want(t, "an Observation-only token on Patient", c.get("/Patient", obsOnly), http.StatusForbidden)
		want(t, "an Observation-only token on Observation", c.get("/Observation", obsOnly), http.StatusOK)
		for _, typ := range []string{"Patient", "Device", "Observation", "Provenance", "Consent", "AuditEvent"} {
			want(t, "patient/*.rs on "+typ, c.get("/"+typ, all), http.StatusOK)
		}
		// A token bound to the patient reads that patient, and no other.
		want(t, "the bound token", c.get("/Observation?patient="+pid.Hex(), bound), http.StatusOK)
		other := identity.ID{1, 2, 3}
		want(t, "the bound token on another patient", c.get("/Observation?patient="+other.Hex(), bound), http.StatusForbidden)
		want(t, "a patient without a grant", c.get("/Observation?patient="+other.Hex(), all), http.StatusForbidden)
		want(t, "an unknown parameter", c.get("/Observation?colour=red", all), http.StatusBadRequest)
		want(t, "a bad date", c.get("/Observation?date=yesterday", all), http.StatusBadRequest)
		unserved := c.do("PUT", "/Observation/x", all, []byte("{}"))
		want(t, "an unserved interaction", unserved, http.StatusNotFound)
		if !strings.Contains(string(unserved.body), "not-supported") {
			t.Errorf("an unserved interaction: %s", unserved.body)
		}
	})

	t.Run("search by code and date", func(t *testing.T) {
		type ob struct {
			id    string
			codes []string // system|code
			at    time.Time
		}
		var obs []ob
		for _, o := range allObs {
			var x ob
			x.id = o["id"].(string)
			x.at, _ = time.Parse(time.RFC3339Nano, o["effectiveDateTime"].(string))
			for _, cd := range o["code"].(map[string]any)["coding"].([]any) {
				m := cd.(map[string]any)
				x.codes = append(x.codes, m["system"].(string)+"|"+m["code"].(string))
			}
			obs = append(obs, x)
		}
		first, mid := obs[0], obs[len(obs)/2]
		c1 := strings.TrimPrefix(first.codes[0], "http://loinc.org|")
		c2 := strings.TrimPrefix(obs[len(obs)-1].codes[0], "http://loinc.org|")
		midSec := mid.at.Truncate(time.Second)
		has := func(code string) func(ob) bool {
			return func(o ob) bool {
				return slices.ContainsFunc(o.codes, func(s string) bool { return strings.HasSuffix(s, "|"+code) })
			}
		}
		cases := []struct {
			name, query string
			keep        func(ob) bool
		}{
			{"code", "code=" + c1, has(c1)},
			{"system|code", "code=http://loinc.org|" + c1, has(c1)},
			{"another system", "code=http://snomed.info/sct|" + c1, func(ob) bool { return false }},
			{"codes ORed", "code=" + c1 + "," + c2, func(o ob) bool { return has(c1)(o) || has(c2)(o) }},
			{"date ge, to the second", "date=ge" + midSec.Format("2006-01-02T15:04:05Z"), func(o ob) bool { return !o.at.Before(midSec) }},
			{"date lt, to the second", "date=lt" + midSec.Format("2006-01-02T15:04:05Z"), func(o ob) bool { return o.at.Before(midSec) }},
			{"date eq, an instant", "date=" + url.QueryEscape(mid.at.Format("2006-01-02T15:04:05.000Z07:00")), func(o ob) bool { return o.at.Equal(mid.at) }},
			{"a day", "date=" + mid.at.Format("2006-01-02"), func(o ob) bool { return o.at.Format("2006-01-02") == mid.at.Format("2006-01-02") }},
			{"a range ANDed", "date=ge" + first.at.Format("2006-01-02T15:04:05Z") + "&date=le" + midSec.Format("2006-01-02T15:04:05Z"),
				func(o ob) bool {
					return !o.at.Before(first.at.Truncate(time.Second)) && o.at.Before(midSec.Add(time.Second))
				}},
			{"patient and code", "patient=Patient/" + pid.Hex() + "&code=" + c1, has(c1)},
			{"category", "category=http://terminology.hl7.org/CodeSystem/observation-category|vital-signs", func(ob) bool { return true }},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				var wantIDs []string
				for _, o := range obs {
					if tc.keep(o) {
						wantIDs = append(wantIDs, o.id)
					}
				}
				a := c.get("/Observation?_count=1000&"+tc.query, all)
				want(t, tc.query, a, http.StatusOK)
				var got []string
				for _, e := range a.entries(t) {
					got = append(got, e["id"].(string))
				}
				slices.Sort(got)
				slices.Sort(wantIDs)
				if !slices.Equal(got, wantIDs) {
					t.Errorf("%s: got %d %v, want %d %v", tc.query, len(got), got, len(wantIDs), wantIDs)
				}
			})
		}
	})

	t.Run("$lastn", func(t *testing.T) {
		newest := map[string]map[string]any{}
		for _, o := range allObs { // oldest first
			cd := o["code"].(map[string]any)["coding"].([]any)[0].(map[string]any)["code"].(string)
			newest[cd] = o
		}
		a := c.get("/Observation/$lastn?patient="+pid.Hex(), all)
		want(t, "$lastn", a, http.StatusOK)
		es := a.entries(t)
		if len(es) != len(newest) {
			t.Fatalf("$lastn gave %d Observations for %d codes", len(es), len(newest))
		}
		for _, e := range es {
			cd := e["code"].(map[string]any)["coding"].([]any)[0].(map[string]any)["code"].(string)
			if newest[cd]["id"] != e["id"] {
				t.Errorf("$lastn for %s: %s, want the newest %s", cd, e["id"], newest[cd]["id"])
			}
		}
		if n := len(c.get("/Observation/$lastn?max=100", all).entries(t)); n != len(allObs) {
			t.Errorf("$lastn max=100 gave %d of %d", n, len(allObs))
		}
		want(t, "$lastn max=0", c.get("/Observation/$lastn?max=0", all), http.StatusBadRequest)
	})

	t.Run("Provenance proves the record", func(t *testing.T) {
		obsID := allObs[0]["id"].(string)
		a := c.get("/Provenance?target=Observation/"+obsID, all)
		want(t, "Provenance of an Observation", a, http.StatusOK)
		ps := a.entries(t)
		if len(ps) == 0 {
			t.Fatal("no Provenance for an Observation")
		}
		p := ps[0]
		ext := map[string][]string{}
		for _, e := range p["extension"].([]any)[0].(map[string]any)["extension"].([]any) {
			m := e.(map[string]any)
			for k, v := range m {
				if strings.HasPrefix(k, "value") {
					ext[m["url"].(string)] = append(ext[m["url"].(string)], fmt.Sprint(v))
				}
			}
		}
		rec, _ := hex.DecodeString(p["id"].(string))
		index, _ := strconv.ParseUint(ext["index"][0], 10, 64)
		size, _ := strconv.ParseUint(ext["checkpointSize"][0], 10, 64)
		var cp merklelog.Checkpoint
		cp.Size = size
		root, _ := base64.StdEncoding.DecodeString(ext["checkpointRoot"][0])
		copy(cp.Root[:], root)
		var proof merklelog.Proof
		for _, h := range ext["path"] {
			b, _ := base64.StdEncoding.DecodeString(h)
			proof = append(proof, [merklelog.HashSize]byte(b))
		}
		if err := merklelog.VerifyInclusion(rec, index, cp, proof); err != nil {
			t.Errorf("the Provenance's proof does not verify: %v", err)
		}
		if ext["anchored"][0] != "true" || len(ext["blockHeight"]) == 0 {
			t.Fatalf("after the drain the record is not anchored: %v", ext)
		}
		cloudID, _ := identity.ParseID(ext["cloud"][0])
		anchor, err := sys.Chain.Client(0).AnchorAt(ctx, cloudID, ledger.LogRecords, size)
		if err != nil || anchor.Checkpoint != cp || strconv.FormatInt(anchor.Height, 10) != ext["blockHeight"][0] {
			t.Errorf("the ledger's anchor at size %d: %+v, %v; the Provenance says root %x height %s", size, anchor, err, cp.Root, ext["blockHeight"][0])
		}
		if !strings.HasSuffix(ext["rawProof"][0], "/alerts/"+p["id"].(string)+"/proof") {
			t.Errorf("raw proof link %q", ext["rawProof"])
		}
		// The signature is the device's COSE_Sign1 over the reading.
		sig, _ := base64.StdEncoding.DecodeString(p["signature"].([]any)[0].(map[string]any)["data"].(string))
		r, err := reading.Verify(sig, func(id identity.ID) (identity.VerifyingKey, error) {
			m, err := sys.Chain.Client(0).Member(ctx, id)
			if err != nil {
				return identity.VerifyingKey{}, err
			}
			return m.VerifyingKey()
		})
		if err != nil || r.Patient != pid {
			t.Errorf("the Provenance's signature: %v (patient %s)", err, r.Patient)
		}
		want(t, "Provenance read", c.get("/Provenance/"+p["id"].(string), all), http.StatusOK)
	})

	t.Run("Patient, Device, Consent", func(t *testing.T) {
		want(t, "Patient read", c.get("/Patient/"+pid.Hex(), all), http.StatusOK)
		ds := c.get("/Device?patient="+pid.Hex(), all).entries(t)
		var gw bool
		for _, d := range ds {
			if strings.Contains(fmt.Sprint(d["meta"]), "PhgDevice") {
				gw = true
			}
		}
		if !gw || len(ds) < 2 {
			t.Errorf("devices: %d, a PhgDevice: %v", len(ds), gw)
		}
		cs := c.get("/Consent?patient="+pid.Hex(), all).entries(t)
		if len(cs) != 1 || cs[0]["status"] != "active" {
			t.Errorf("Consent: %v", cs)
		}
	})

	t.Run("$export as NDJSON", func(t *testing.T) {
		a := c.get("/$export?_type=Patient,Observation,Provenance", all)
		want(t, "$export kick-off", a, http.StatusAccepted)
		status := strings.TrimPrefix(a.header.Get("Content-Location"), ts.URL+Prefix)
		var m struct {
			Output []struct {
				Type  string `json:"type"`
				URL   string `json:"url"`
				Count int    `json:"count"`
			} `json:"output"`
		}
		eventually(t, "the export", func() bool {
			s := c.get(status, all)
			if s.status == http.StatusOK {
				json.Unmarshal(s.body, &m)
			}
			return s.status == http.StatusOK
		})
		got := map[string]int{}
		for _, o := range m.Output {
			f := c.get(strings.TrimPrefix(o.URL, ts.URL+Prefix), all)
			want(t, "an export file", f, http.StatusOK)
			if ct := f.header.Get("Content-Type"); ct != "application/fhir+ndjson" {
				t.Errorf("Content-Type %q", ct)
			}
			lines := strings.Split(strings.TrimSpace(string(f.body)), "\n")
			for _, l := range lines {
				var r map[string]any
				if json.Unmarshal([]byte(l), &r) != nil || r["resourceType"] != o.Type {
					t.Errorf("a line of the %s file: %s", o.Type, l)
				}
			}
			got[o.Type] = len(lines)
			if len(lines) != o.Count {
				t.Errorf("%s: %d lines, manifest says %d", o.Type, len(lines), o.Count)
			}
		}
		if got["Patient"] != 1 || got["Observation"] != len(allObs) || got["Provenance"] < len(allObs) {
			t.Errorf("exported %v, %d Observations searchable", got, len(allObs))
		}
		want(t, "another client's export", c.get(status, obsOnly), http.StatusNotFound)
		want(t, "an export nobody may read", c.get("/$export?_type=Consent", obsOnly), http.StatusForbidden)
	})

	t.Run("CapabilityStatement matches the routes", func(t *testing.T) {
		testCapability(t, c, srv, all, pid, subID)
	})

	t.Run("AuditEvent lists the accesses", func(t *testing.T) {
		es := c.get("/AuditEvent?_count=1000", all).entries(t)
		var refused, patientRefs bool
		for _, e := range es {
			if e["outcome"] == "4" {
				refused = true
			}
			if strings.Contains(fmt.Sprint(e["entity"]), "Patient/"+pid.Hex()) {
				patientRefs = true
			}
		}
		if len(es) < 20 || !refused || !patientRefs {
			t.Errorf("%d AuditEvents, a refusal among them: %v, naming the patient: %v", len(es), refused, patientRefs)
		}
		n := len(srv.access.list(func(Access) bool { return true }))
		if n < len(es) {
			t.Errorf("the access log holds %d, AuditEvent shows %d", n, len(es))
		}
	})

	t.Run("a revoked grant answers 403 at once", func(t *testing.T) {
		want(t, "before the revoke", c.get("/Observation?patient="+pid.Hex(), all), http.StatusOK)
		if err := patient.Gateway.Patient().Revoke(ctx, prov.ID.ID()); err != nil {
			t.Fatal(err)
		}
		skew.Add(int64(GrantTTL)) // the last answer about the grant is now too old
		for _, path := range []string{"/Observation?patient=" + pid.Hex(), "/Patient/" + pid.Hex(), "/Provenance/" + hex.EncodeToString(mustRecord(t, srv, pid)), "/Consent/" + pid.Hex()} {
			want(t, "after the revoke: "+path, c.get(path, all), http.StatusForbidden)
		}
		if n := len(c.get("/Observation", all).entries(t)); n != 0 {
			t.Errorf("a search without a patient still shows %d Observations", n)
		}
	})
}

func mustRecord(t *testing.T, s *Server, p identity.ID) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	rs := s.patients[p]
	if len(rs) == 0 {
		t.Fatal("no record")
	}
	return rs[0].id[:]
}
