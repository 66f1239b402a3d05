package cloud

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/vitalchain/vitalchain/cloud/cloudapi"
	"github.com/vitalchain/vitalchain/codec"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/merklelog"
	"github.com/vitalchain/vitalchain/vital"
)

func (e *testEnv) server() *httptest.Server {
	srv := httptest.NewServer(e.svc.Handler(e.reg))
	e.t.Cleanup(srv.Close)
	return srv
}

// post sends body and returns the status and the decoded cloudapi.Problem, if any.
func post(t *testing.T, url string, body []byte) (int, []byte, *cloudapi.Problem) {
	t.Helper()
	resp, err := http.Post(url, "application/cbor", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode == http.StatusOK {
		return resp.StatusCode, b, nil
	}
	var p cloudapi.Problem
	if err := codec.UnmarshalLimit(b, 1<<20, &p); err != nil {
		t.Fatalf("status %d with a body that is no cloudapi.Problem: %q", resp.StatusCode, b)
	}
	return resp.StatusCode, b, &p
}

func TestHTTPUpload(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	srv := e.server()
	a, aid := e.record(vital.Glucose)
	b, bid := e.record(vital.HeartRate)
	body, err := codec.Marshal([][]byte{a, b, a, []byte("junk")})
	if err != nil {
		t.Fatal(err)
	}
	status, out, _ := post(t, srv.URL+"/v1/records", body)
	if status != http.StatusOK {
		t.Fatalf("status %d", status)
	}
	var res cloudapi.UploadResponse
	if err := codec.UnmarshalLimit(out, 1<<20, &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Acks) != 4 || res.Acks[0].ID != aid || res.Acks[1].ID != bid || res.Acks[2].Index != res.Acks[0].Index ||
		res.Acks[0].Code != "" || res.Acks[1].Code != "" || res.Acks[2].Code != "" || res.Acks[3].Code != "malformed" {
		t.Fatalf("acks %+v", res.Acks)
	}
	if !res.Acks[0].Duplicate && !res.Acks[2].Duplicate {
		t.Fatalf("no duplicate among %+v", res.Acks)
	}

	// The client does the same.
	cc := cloudapi.NewClient(srv.URL+"/", nil)
	c, _ := e.record(vital.Glucose)
	acks, err := cc.Upload(context.Background(), [][]byte{c, a})
	if err != nil || len(acks) != 2 || acks[0].Code != "" || !acks[1].Duplicate {
		t.Fatalf("client upload: %+v %v", acks, err)
	}

	big := make([][]byte, cloudapi.MaxUploadRecords+1)
	for i := range big {
		big[i] = []byte{1}
	}
	tooMany, _ := codec.Marshal(big)
	empty, _ := codec.Marshal([][]byte{})
	for _, tc := range []struct {
		name   string
		body   []byte
		status int
		code   string
	}{
		{"not cbor", []byte("{\"records\": []}"), http.StatusBadRequest, "malformed"},
		{"not an array of byte strings", []byte{0x81, 0x01}, http.StatusBadRequest, "malformed"},
		{"empty body", nil, http.StatusBadRequest, "malformed"},
		{"empty array", empty, http.StatusBadRequest, "malformed"},
		{"too many records", tooMany, http.StatusBadRequest, "malformed"},
		{"too many bytes", make([]byte, cloudapi.MaxUploadBytes+1), http.StatusRequestEntityTooLarge, "too_large"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := e.metric("vitalchain_cloud_records_refused_total", "reason", tc.code)
			status, _, p := post(t, srv.URL+"/v1/records", tc.body)
			if status != tc.status || p == nil || p.Code != tc.code || p.Message == "" {
				t.Fatalf("status %d, problem %+v; want %d %s", status, p, tc.status, tc.code)
			}
			if got := e.metric("vitalchain_cloud_records_refused_total", "reason", tc.code); got != before+1 {
				t.Errorf("refused{%s} went from %v to %v", tc.code, before, got)
			}
		})
	}
	if n := e.size(LogRecords); n != 3 {
		t.Fatalf("log size %d, want 3", n)
	}
	// The client reports a refused upload as a cloudapi.RequestError.
	_, err = cc.Upload(context.Background(), nil)
	var re *cloudapi.RequestError
	if !errors.As(err, &re) || re.Status != http.StatusBadRequest || re.Code != "malformed" || !strings.Contains(re.Error(), "malformed") {
		t.Fatalf("client upload of nothing: %v", err)
	}
}

func TestHTTPReadAndAccess(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	srv := e.server()
	cc := cloudapi.NewClient(srv.URL, nil)
	ctx := context.Background()
	raw, id := e.record(vital.Glucose)
	e.ingest(raw)
	provider := e.member(identity.RoleProvider, 1)
	ungranted := e.member(identity.RoleProvider, 1)
	e.grant(provider, vital.Glucose)
	e.led.waitAnchored(t, LogRecords, 1)

	for _, who := range []*identity.Identity{e.patient, provider} {
		res, err := cc.Read(ctx, who.Signing, id)
		if err != nil {
			t.Fatalf("%s: %v", who.Role(), err)
		}
		if !bytes.Equal(res.Record, raw) || !res.Anchored {
			t.Fatalf("%s: %+v", who.Role(), res)
		}
		if err := merklelog.VerifyInclusion(id[:], res.Index, res.Checkpoint, res.Proof); err != nil {
			t.Fatal(err)
		}
	}
	stranger, _ := identity.Generate(identity.RoleProvider, identity.SuiteX25519)
	replay := e.request(provider.Signing, cloudapi.OpRead, id, 0)
	if _, err := cc.ReadRaw(ctx, replay); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		body   []byte
		status int
		code   string
	}{
		{"malformed", []byte("junk"), http.StatusBadRequest, "bad_request"},
		{"oversize", make([]byte, cloudapi.MaxRequestSize+1), http.StatusRequestEntityTooLarge, "too_large"},
		{"unknown requester", e.request(stranger.Signing, cloudapi.OpRead, id, 0), http.StatusUnauthorized, "unknown_signer"},
		{"replayed", replay, http.StatusUnauthorized, "replay"},
		{"absent", e.request(provider.Signing, cloudapi.OpRead, [32]byte{5}, 0), http.StatusNotFound, "not_found"},
		{"no grant", e.request(ungranted.Signing, cloudapi.OpRead, id, 0), http.StatusForbidden, "no_grant"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, _, p := post(t, srv.URL+"/v1/read", tc.body)
			if status != tc.status || p == nil || p.Code != tc.code {
				t.Fatalf("status %d, problem %+v; want %d %s", status, p, tc.status, tc.code)
			}
			if tc.status == http.StatusNotFound || tc.status == http.StatusForbidden {
				return // the same bytes again would be a replay
			}
			// The client gives the same as a cloudapi.RequestError.
			_, err := cc.ReadRaw(ctx, tc.body)
			var re *cloudapi.RequestError
			if !errors.As(err, &re) || re.Status != tc.status || re.Code != tc.code {
				t.Fatalf("client: %v", err)
			}
		})
	}

	// The access log, by the patient only.
	l, err := cc.AccessLog(ctx, e.patient.Signing, 0)
	if err != nil {
		t.Fatal(err)
	}
	es := l.Entries
	if _, err := verifyListing(e, l, e.patient.ID()); err != nil {
		t.Fatalf("the listing does not verify: %v", err)
	}
	// The reads, then the listing itself.
	if len(es) != 5 || !es[0].Allowed || es[3].Reason != "no_grant" || es[4].Op != cloudapi.AccessList {
		t.Fatalf("access log: %+v", es)
	}
	other := e.member(identity.RolePatient, 1)
	if l, err := cc.AccessLog(ctx, other.Signing, 0); err != nil || len(l.Entries) != 1 || l.Entries[0].Op != cloudapi.AccessList {
		t.Fatalf("an access log with its listing only: %+v %v", l, err)
	}
	_, err = cc.AccessLog(ctx, provider.Signing, 0)
	var re *cloudapi.RequestError
	if !errors.As(err, &re) || re.Status != http.StatusForbidden || re.Code != "wrong_role" {
		t.Fatalf("a provider's access-log request: %v", err)
	}
	status, _, p := post(t, srv.URL+"/v1/access", make([]byte, cloudapi.MaxRequestSize+1))
	if status != http.StatusRequestEntityTooLarge || p.Code != "too_large" {
		t.Fatalf("oversize access request: %d %+v", status, p)
	}
}

func TestHTTPControl(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	srv := e.server()
	raw, _ := e.record(vital.Glucose)
	e.ingest(raw)
	anchored := e.led.waitAnchored(t, LogRecords, 1)
	eventually(t, "the service sees its anchor", func() bool { _, ra, _, _ := e.svc.Checkpoints(); return ra.Size == 1 })

	get := func(path string) (*http.Response, []byte) {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	resp, b := get("/v1/checkpoint")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("checkpoint: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var cps struct {
		Cloud   string
		Records checkpointJSON
		Access  checkpointJSON
		Time    string
	}
	if err := json.Unmarshal(b, &cps); err != nil {
		t.Fatal(err)
	}
	if cps.Cloud != e.cloud.ID().Hex() || cps.Records.Size != 1 || cps.Records.Anchored != 1 ||
		!bytes.Equal(cps.Records.Root, anchored.Root[:]) || cps.Access.Size != 0 || cps.Time == "" {
		t.Fatalf("checkpoint: %s", b)
	}

	resp, b = get("/healthz")
	if resp.StatusCode != http.StatusOK || string(b) != "ok\n" {
		t.Fatalf("healthz: %d %q", resp.StatusCode, b)
	}
	resp, b = get("/metrics")
	if resp.StatusCode != http.StatusOK || !bytes.Contains(b, []byte("vitalchain_cloud_records_accepted_total 1")) {
		t.Fatalf("metrics: %d\n%s", resp.StatusCode, b)
	}
	if resp, _ := get("/v1/records"); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("GET /v1/records: %d", resp.StatusCode)
	}
	// Without a gatherer there is no /metrics.
	noMetrics := httptest.NewServer(e.svc.Handler(nil))
	defer noMetrics.Close()
	r, err := http.Get(noMetrics.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusNotFound {
		t.Fatalf("/metrics without a gatherer: %d", r.StatusCode)
	}
}

func TestHTTPConsistency(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var raws [][]byte
	for range 5 {
		raw, _ := e.record(vital.Glucose)
		raws = append(raws, raw)
	}
	e.ingest(raws...)
	srv := httptest.NewServer(e.svc.Handler(nil))
	defer srv.Close()
	c := cloudapi.NewClient(srv.URL, nil)
	res, err := c.Consistency(context.Background(), LogRecords, 2, 5)
	if err != nil {
		t.Fatal(err)
	}
	if res.Old.Size != 2 || res.New.Size != 5 {
		t.Fatalf("consistency %d..%d", res.Old.Size, res.New.Size)
	}
	for _, q := range []string{"log=2&from=0&to=1", "log=0&from=3&to=2", "log=0&from=0&to=99", "log=x"} {
		resp, err := http.Get(srv.URL + "/v1/consistency?" + q)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400", q, resp.StatusCode)
		}
	}
}
