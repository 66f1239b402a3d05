package provider_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vitalchain/vitalchain/cloud/cloudapi"
	"github.com/vitalchain/vitalchain/codec"
	"github.com/vitalchain/vitalchain/command"
	"github.com/vitalchain/vitalchain/contract"
	"github.com/vitalchain/vitalchain/envelope"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/ledger"
	"github.com/vitalchain/vitalchain/merklelog"
	"github.com/vitalchain/vitalchain/provider"
	"github.com/vitalchain/vitalchain/reading"
	"github.com/vitalchain/vitalchain/record"
	"github.com/vitalchain/vitalchain/vital"
)

func timeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// refusal returns the cloud's refusal code in err, or "".
func refusal(err error) string {
	var re *cloudapi.RequestError
	if errors.As(err, &re) {
		return re.Code
	}
	return ""
}

// A glucose alert reaches the contract's provider within seconds; the
// provider fetches the record, decrypts it and verifies the device's
// reading and the proof, anchored once the ledger anchors it.
func TestAlertToVerifiedReading(t *testing.T) {
	w := getWorld(t)
	ctx := timeout(t, 90*time.Second)
	aID, a := w.newProvider(t)
	p := w.newPatient(t, aID)
	p.grant(aID, false, vital.Glucose)

	fctx, stop := context.WithCancel(ctx)
	defer stop()
	waits := w.cloud.Service.AlertWaits()
	got := make(chan provider.Alert, 16)
	followed := make(chan error, 1)
	go func() { followed <- a.Follow(fctx, 0, func(al provider.Alert) { got <- al }) }()
	anchors := make(chan uint64, 1024)
	go a.FollowAnchors(fctx, w.cloudID.ID(), func(size uint64, _ time.Time) { anchors <- size })

	// Once Follow's request waits in the cloud, the alert is pushed.
	for w.cloud.Service.AlertWaits() == waits {
		select {
		case <-ctx.Done():
			t.Fatal("Follow's request never waited in the cloud")
		case <-time.After(5 * time.Millisecond):
		}
	}
	uploaded := time.Now()
	ids, idx := w.upload(t,
		p.abnormal(vital.Glucose, 250*vital.Unit),
		p.abnormal(vital.HeartRate, 150*vital.Unit), // outside the grant's scope: alerted (the cloud knows neither the scope nor the vital sign), not opened
		p.abnormal(vital.Glucose, 42500),
	)
	for _, want := range []int{0, 2} {
		select {
		case al := <-got:
			t.Logf("alert %d: received %v after the upload began, %v after the cloud stored it", al.Index, al.Received.Sub(uploaded), al.Received.Sub(al.Stored))
			if al.ID != ids[want] || al.Index != idx[want] {
				t.Fatalf("alert %x at %d, want record %x at %d", al.ID[:8], al.Index, ids[want][:8], idx[want])
			}
			if al.Header.Patient != p.id.ID() || al.Header.Contract != p.contract || al.Kind != vital.Glucose || al.Severity != contract.Warning {
				t.Fatalf("alert %+v", al)
			}
			if al.Stored.IsZero() || al.Received.Before(uploaded) || al.Latency() <= 0 {
				t.Fatalf("alert times: stored %v received %v latency %v", al.Stored, al.Received, al.Latency())
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no alert for record %d within 10 s", want)
		}
	}
	// The heart-rate alert came, and was counted, not handed on.
	if st := a.Stats(); st.AlertsOutOfScope != 1 || st.AlertsForged != 0 || st.AlertsVerified != 2 {
		t.Fatalf("stats %+v: want 2 alerts verified, 1 out of scope, none forged", st)
	}

	f, err := a.Fetch(ctx, ids[0])
	if err != nil {
		t.Fatal(err)
	}
	if f.Reading.Value != 250*vital.Unit || f.Reading.Device != p.dev.ID() || f.Reading.Patient != p.id.ID() || f.Kind != vital.Glucose || f.Severity != contract.Warning {
		t.Fatalf("fetched %+v", f.Reading)
	}
	if r, err := reading.Parse(f.Signed); err != nil || r.KeyID() != p.dev.ID() {
		t.Fatalf("signed reading: %v", err)
	}

	// Once the ledger anchors the log past it, the record is anchored.
	deadline := time.After(30 * time.Second)
	for size := uint64(0); size <= idx[2]; {
		select {
		case size = <-anchors:
		case <-deadline:
			t.Fatalf("no anchor past record %d", idx[2])
		}
	}
	// The cloud learns that its anchor committed a moment after the ledger
	// announces it: until then it serves the proof as not yet anchored.
	var f2 *provider.Fetched
	for try := 0; f2 == nil || !f2.Anchored && try < 50; try++ {
		if f2, err = a.Fetch(ctx, ids[2]); err != nil {
			t.Fatal(err)
		}
		if !f2.Anchored {
			time.Sleep(50 * time.Millisecond)
		}
	}
	if !f2.Anchored || f2.Cloud != w.cloudID.ID() || f2.Reading.Value != 42500 {
		t.Fatalf("after the anchor: anchored %v by %s, value %s", f2.Anchored, f2.Cloud, f2.Reading.Value)
	}

	_, err = a.Fetch(ctx, ids[1])
	if !errors.Is(err, provider.ErrOutOfScope) || !errors.Is(err, provider.ErrNoKey) {
		t.Fatalf("fetch outside the grant's scope: %v, want ErrOutOfScope", err)
	}

	var ndjson bytes.Buffer
	if err := provider.Export(&ndjson, []*provider.Fetched{f, f2, f}, provider.FormatNDJSON); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(ndjson.String(), "\n"); n != 2 {
		t.Fatalf("ndjson export has %d lines, want 2:\n%s", n, ndjson.String())
	}
	var bundle bytes.Buffer
	if err := provider.Export(&bundle, []*provider.Fetched{f, f2}, provider.FormatBundle); err != nil {
		t.Fatal(err)
	}
	var b struct {
		ResourceType string `json:"resourceType"`
		Entry        []struct {
			Resource struct {
				Subject struct{ Reference string } `json:"subject"`
			} `json:"resource"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(bundle.Bytes(), &b); err != nil || b.ResourceType != "Bundle" || len(b.Entry) != 2 ||
		b.Entry[0].Resource.Subject.Reference != "Patient/"+p.id.ID().Hex() {
		t.Fatalf("bundle: %v %+v", err, b)
	}

	stop()
	if err := <-followed; !errors.Is(err, context.Canceled) {
		t.Fatalf("Follow returned %v after its context ended", err)
	}
	s := a.Stats()
	if s.AlertsVerified != 2 || s.AlertsOutOfScope != 1 || s.AlertsForged != 0 || s.Fetches < 2 {
		t.Fatalf("stats %+v", s)
	}
}

// fakeCloud answers alerts requests with whatever batch the test sets.
type fakeCloud struct {
	*httptest.Server
	mu    sync.Mutex
	batch cloudapi.AlertBatch
}

func newFakeCloud(t *testing.T) *fakeCloud {
	f := &fakeCloud{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		b, err := codec.Marshal(&f.batch)
		f.mu.Unlock()
		if err != nil || r.URL.Path != "/v1/alerts" {
			http.Error(w, "no", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/cbor")
		w.Write(b)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeCloud) set(b cloudapi.AlertBatch) {
	f.mu.Lock()
	f.batch = b
	f.mu.Unlock()
}

// An alert whose signature does not verify with the patient's key on the
// ledger is counted and never handled.
func TestForgedAlertsAreCountedNotHandled(t *testing.T) {
	w := getWorld(t)
	ctx := timeout(t, 60*time.Second)
	aID, _ := w.newProvider(t)
	p := w.newPatient(t, aID)
	q := w.member(t, identity.RolePatient) // another registered patient
	p.grant(aID, false, vital.Glucose)

	good := p.abnormal(vital.Glucose, 250*vital.Unit)
	alertOf := func(r *record.Record) cloudapi.Alert {
		return cloudapi.Alert{Index: 7, Header: bytes.Clone(r.HeaderBytes), Sig: bytes.Clone(r.Signature), Stored: time.Now().UnixMilli(),
			Ciphertext: bytes.Clone(r.Ciphertext)}
	}
	otherCiphertext := alertOf(good)
	otherCiphertext.Ciphertext = bytes.Clone(p.abnormal(vital.Glucose, 300*vital.Unit).Ciphertext)
	noCiphertext := alertOf(good)
	noCiphertext.Ciphertext = nil
	// Signed by the patient: a heart-rate payload under the glucose key.
	lh := record.Header{Patient: p.id.ID(), Epoch: p.epoch, Contract: p.contract, Alert: true, Time: time.Now().UnixMilli(), Seq: 1 << 50}
	lying, err := record.Seal(lh, envelope.KindKey(p.key, p.id.ID(), p.epoch, vital.Glucose),
		record.Payload{Kind: vital.HeartRate, Severity: 1, Body: []byte("x")}, p.id.Signing)
	if err != nil {
		t.Fatal(err)
	}
	flipped := alertOf(good)
	flipped.Sig[3] ^= 1
	byQ := alertOf(good)
	byQ.Sig = q.Signing.SignContext(record.SignContext, byQ.Header)
	stranger, _ := identity.Generate(identity.RolePatient, identity.SuiteX25519)
	sp := &patient{w: w, t: t, id: stranger, epoch: 1, contract: p.contract, key: p.key}
	fromStranger := alertOf(sp.seal(vital.Glucose, time.Now(), []byte("x")))
	prRec, _, err := record.ProviderRecord(aID, p.id.Public(), record.Header{Time: time.Now().UnixMilli(), Seq: 1}, record.Payload{Body: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	garbage := alertOf(good)
	garbage.Header = []byte{0xa1, 0x01, 0x02}

	fc := newFakeCloud(t)
	a := w.providerFor(t, aID, cloudapi.NewClient(fc.URL, nil).Expect(identity.ID{0xc1}))
	for i, tc := range []struct {
		name  string
		alert cloudapi.Alert
		ok    bool
	}{
		{"genuine", alertOf(good), true},
		{"signature flipped", flipped, false},
		{"signed by another patient", byQ, false},
		{"unregistered patient", fromStranger, false},
		{"a provider's record", alertOf(prRec), false},
		{"header not a header", garbage, false},
		{"ciphertext of another record", otherCiphertext, false},
		{"no ciphertext", noCiphertext, false},
		{"payload of another vital sign than its key", alertOf(lying), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.alert.Index = uint64(10 + i)
			fc.set(cloudapi.AlertBatch{Alerts: []cloudapi.Alert{tc.alert}, Next: tc.alert.Index + 1})
			before := a.Stats()
			alerts, next, err := a.Poll(ctx, tc.alert.Index, 0)
			if err != nil {
				t.Fatal(err)
			}
			after := a.Stats()
			if next != tc.alert.Index+1 {
				t.Errorf("next %d, want %d", next, tc.alert.Index+1)
			}
			if tc.ok != (len(alerts) == 1) {
				t.Fatalf("handed %d alerts, want ok=%v", len(alerts), tc.ok)
			}
			if tc.ok && alerts[0].ID != good.ID() {
				t.Fatalf("alert %x, want %x", alerts[0].ID[:8], good.ID())
			}
			if forged := after.AlertsForged - before.AlertsForged; forged != map[bool]uint64{true: 0, false: 1}[tc.ok] {
				t.Fatalf("forged count +%d", forged)
			}
		})
	}

	// A genuine alert of a contract that names another provider is refused
	// as misrouted.
	bID, _ := w.newProvider(t)
	b := w.providerFor(t, bID, cloudapi.NewClient(fc.URL, nil).Expect(identity.ID{0xc1}))
	misrouted := alertOf(good)
	misrouted.Index = 20
	fc.set(cloudapi.AlertBatch{Alerts: []cloudapi.Alert{misrouted}, Next: 21})
	if alerts, _, err := b.Poll(ctx, 20, 0); err != nil || len(alerts) != 0 || b.Stats().AlertsMisrouted != 1 {
		t.Fatalf("another provider's alert: %d handed, %v, stats %+v", len(alerts), err, b.Stats())
	}

	// Follow hands over the genuine alert alone, and counts the gap.
	batch := cloudapi.AlertBatch{Next: 40, Gap: true}
	for i, al := range []cloudapi.Alert{flipped, alertOf(good), byQ, garbage} {
		al.Index = uint64(30 + i)
		batch.Alerts = append(batch.Alerts, al)
	}
	fc.set(batch)
	before := a.Stats()
	fctx, stop := context.WithCancel(ctx)
	var handled []provider.Alert
	if err := a.Follow(fctx, 30, func(al provider.Alert) { handled = append(handled, al); stop() }); !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	after := a.Stats()
	if len(handled) != 1 || handled[0].Index != 31 || handled[0].ID != good.ID() {
		t.Fatalf("handled %+v", handled)
	}
	if after.AlertsForged-before.AlertsForged != 3 || after.Gaps-before.Gaps != 1 {
		t.Fatalf("stats before %+v after %+v", before, after)
	}
}

// proxy stands between a provider and the real cloud: it can fail alerts
// requests and rewrite read answers.
type proxy struct {
	*httptest.Server
	mu         sync.Mutex
	failAlerts int
	alerts     int // alerts requests seen
	tamper     func(*cloudapi.ReadResult)
}

func newProxy(t *testing.T, target string) *proxy {
	u, _ := url.Parse(target)
	rp := httputil.NewSingleHostReverseProxy(u)
	px := &proxy{}
	px.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		px.mu.Lock()
		tamper := px.tamper
		fail := false
		if r.URL.Path == "/v1/alerts" {
			px.alerts++
			if px.failAlerts > 0 {
				px.failAlerts--
				fail = true
			}
		}
		px.mu.Unlock()
		switch {
		case fail:
			http.Error(w, "cloud unreachable", http.StatusBadGateway) // a 503 or 429 the client would retry itself
		case r.URL.Path == "/v1/read" && tamper != nil:
			resp, err := http.Post(target+"/v1/read", "application/cbor", r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadGateway)
				return
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode == http.StatusOK {
				var res cloudapi.ReadResult
				if err := codec.UnmarshalLimit(b, 1<<20, &res); err != nil {
					http.Error(w, err.Error(), http.StatusBadGateway)
					return
				}
				tamper(&res)
				b, _ = codec.Marshal(&res)
			}
			w.WriteHeader(resp.StatusCode)
			w.Write(b)
		default:
			rp.ServeHTTP(w, r)
		}
	}))
	t.Cleanup(px.Close)
	return px
}

// A record the cloud altered, or one whose signed contents do not hold
// together, is refused with ErrForged or ErrProof, and counted.
func TestFetchRefusesWhatDoesNotVerify(t *testing.T) {
	w := getWorld(t)
	ctx := timeout(t, 90*time.Second)
	aID, _ := w.newProvider(t)
	p := w.newPatient(t, aID)
	p.grant(aID, false, vital.Glucose, vital.HeartRate)
	// A device registered to another patient.
	q := w.member(t, identity.RolePatient)
	qdev, _ := identity.Generate(identity.RoleDevice, identity.SuiteX25519)
	reg, _ := ledger.NewRegister(qdev, 0, q.ID(), nil)
	w.ok(t, q.Signing, reg)
	unregistered, _ := identity.Generate(identity.RoleDevice, identity.SuiteX25519)

	at := time.Now()
	signedBy := func(dev *identity.Identity) []byte {
		msg, err := reading.Sign(reading.New(p.id.ID(), dev.ID(), 1, at, vital.Glucose, 250*vital.Unit), dev.Signing)
		if err != nil {
			t.Fatal(err)
		}
		return msg
	}
	recs := []*record.Record{
		p.abnormal(vital.Glucose, 250*vital.Unit),                                        // 0 genuine
		p.abnormal(vital.Glucose, 260*vital.Unit),                                        // 1 genuine
		p.seal(vital.Glucose, at, []byte("not a reading")),                               // 2
		p.seal(vital.Glucose, at, signedBy(unregistered)),                                // 3
		p.seal(vital.Glucose, at, signedBy(qdev)),                                        // 4
		p.seal(vital.Glucose, at, p.reading(vital.HeartRate, 150000, at)),                // 5 a heart rate under a glucose header
		p.seal(vital.Glucose, at.Add(time.Second), p.reading(vital.Glucose, 250000, at)), // 6 another time
	}
	ids, idx := w.upload(t, recs...)
	w.waitAnchored(t, idx[len(idx)-1])
	raw1, _ := recs[1].Marshal()

	px := newProxy(t, w.cloud.URL)
	a := w.providerFor(t, aID, cloudapi.NewClient(px.URL, nil))
	for _, tc := range []struct {
		name   string
		record int
		tamper func(*cloudapi.ReadResult)
		want   error
	}{
		{"honest", 0, func(*cloudapi.ReadResult) {}, nil},
		{"proof hash flipped", 0, func(r *cloudapi.ReadResult) {
			if len(r.Proof) > 0 {
				r.Proof[0][0] ^= 1
			} else {
				r.Checkpoint.Root[0] ^= 1
			}
		}, provider.ErrProof},
		{"own tree claimed anchored", 0, func(r *cloudapi.ReadResult) {
			id := sha256Of(r.Record)
			r.Index, r.Proof, r.Anchored = 0, nil, true
			r.Checkpoint = merklelog.Checkpoint{Size: 1, Root: merklelog.HashLeaf(id[:])}
		}, provider.ErrProof},
		{"another record served", 0, func(r *cloudapi.ReadResult) { r.Record = raw1 }, provider.ErrForged},
		{"ciphertext flipped", 0, func(r *cloudapi.ReadResult) { r.Record[len(r.Record)-80] ^= 1 }, provider.ErrForged},
		{"plaintext not a reading", 2, nil, provider.ErrForged},
		{"unregistered device", 3, nil, provider.ErrForged},
		{"another patient's device", 4, nil, provider.ErrForged},
		{"reading of another vital sign", 5, nil, provider.ErrForged},
		{"reading of another time", 6, nil, provider.ErrForged},
	} {
		t.Run(tc.name, func(t *testing.T) {
			px.mu.Lock()
			px.tamper = tc.tamper
			px.mu.Unlock()
			f, err := a.Fetch(ctx, ids[tc.record])
			if !errors.Is(err, tc.want) || (tc.want == nil) != (f != nil) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if tc.want != nil && refusal(err) != "" {
				t.Fatalf("a cloud refusal: %v", err)
			}
		})
	}
	s := a.Stats()
	if s.Fetches != 1 || s.ProofsFailed != 2 || s.FetchForged != 7 || s.FetchErrors != 0 {
		t.Fatalf("stats %+v", s)
	}
}

func sha256Of(raw []byte) [32]byte {
	r, err := record.ParseRecord(raw)
	if err != nil {
		return [32]byte{}
	}
	return r.ID()
}

// Once the patient revokes a provider, the cloud refuses its reads at once;
// a provider never granted the record's epoch has no key for it.
func TestRevokedProviderIsRefused(t *testing.T) {
	w := getWorld(t)
	ctx := timeout(t, 60*time.Second)
	bID, b := w.newProvider(t)
	_, c := w.newProvider(t)
	dID, d := w.newProvider(t)
	p := w.newPatient(t, bID)
	p.grant(bID, false, vital.Glucose)
	ids, _ := w.upload(t, p.abnormal(vital.Glucose, 250*vital.Unit))

	if _, err := b.Fetch(ctx, ids[0]); err != nil {
		t.Fatalf("before the revoke: %v", err)
	}
	if _, err := c.Fetch(ctx, ids[0]); refusal(err) != "no_grant" {
		t.Fatalf("never granted: %v", err)
	}
	key2, _ := envelope.NewSessionKey()
	self2, _ := envelope.SelfEnvelope(p.id, 2, key2)
	sb, _ := self2.Marshal()
	w.ok(t, p.id.Signing, &ledger.Revoke{Provider: bID.ID(), NewEpoch: 2, SelfEnvelope: sb})
	_, err := b.Fetch(ctx, ids[0])
	if refusal(err) != "revoked" {
		t.Fatalf("after the revoke: %v", err)
	}
	// D is granted epoch 2 only: the cloud serves it, but it has no key of epoch 1.
	p.epoch, p.key = 2, key2
	p.grant(dID, false, vital.Glucose)
	if _, err := d.Fetch(ctx, ids[0]); !errors.Is(err, provider.ErrNoKey) {
		t.Fatalf("a record of an epoch never granted: %v", err)
	}
	if s := b.Stats(); s.Fetches != 1 || s.FetchRefused["revoked"] != 1 {
		t.Fatalf("B's stats %+v", s)
	}
	if s := c.Stats(); s.FetchRefused["no_grant"] != 1 {
		t.Fatalf("C's stats %+v", s)
	}
}

// Transaction 3: the provider's record is stored, its key is on the
// ledger, and the patient opens it.
func TestSendRecord(t *testing.T) {
	w := getWorld(t)
	ctx := timeout(t, 60*time.Second)
	aID, a := w.newProvider(t)
	p := w.newPatient(t)
	text := []byte("Metformin 500 mg twice daily with meals.")
	// Without the patient's grant, the ledger refuses the provider's record.
	if _, err := a.SendRecord(ctx, p.id.ID(), 0, text); !errors.Is(err, ledger.Rejected(ledger.CodeUnauthorized)) {
		t.Fatalf("a record without a grant: %v", err)
	}
	p.grant(aID, false, vital.Glucose)
	id, err := a.SendRecord(ctx, p.id.ID(), vital.Glucose, text) // the vital sign travels in the payload
	if err != nil {
		t.Fatal(err)
	}
	var ls []ledger.ProviderRecordListing
	if err := w.clients[1].Query(ctx, ledger.Record3Path(p.id.ID()), &ls); err != nil || len(ls) != 1 {
		t.Fatalf("the ledger's records for the patient: %v %+v", err, ls)
	}
	if ls[0].Record != id || ls[0].Entry.Provider != aID.ID() {
		t.Fatalf("listing %+v", ls[0])
	}
	env, err := envelope.ParseEnvelope(ls[0].Entry.Envelope)
	if err != nil {
		t.Fatal(err)
	}
	res, err := w.cc.Read(ctx, p.id.Signing, id)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := record.ParseRecord(res.Record)
	if err != nil {
		t.Fatal(err)
	}
	h, pt, err := record.OpenProviderRecord(rec, env, p.id, aID.Signing.Public())
	if err != nil || !bytes.Equal(pt.Body, text) || pt.Kind != vital.Glucose || h.Author != aID.ID() {
		t.Fatalf("the patient opens it: %v %+v %+v", err, pt, h)
	}
	// It is not a reading: its author cannot fetch it as one.
	if _, err := a.Fetch(ctx, id); !errors.Is(err, provider.ErrNotReading) {
		t.Fatalf("fetch of a provider's record: %v", err)
	}
	// A second record gets a higher Seq.
	id2, err := a.SendRecord(ctx, p.id.ID(), vital.Glucose, []byte("Check glucose before bed."))
	if err != nil || id2 == id {
		t.Fatal(err)
	}
	if _, err := a.SendRecord(ctx, p.id.ID(), vital.Kind(200), text); !errors.Is(err, vital.ErrUnknownKind) {
		t.Fatalf("unknown kind: %v", err)
	}
	stranger, _ := identity.Generate(identity.RolePatient, identity.SuiteX25519)
	if _, err := a.SendRecord(ctx, stranger.ID(), 0, text); err == nil {
		t.Fatal("a record for an unregistered patient was sent")
	}
	if _, err := a.SendRecord(ctx, aID.ID(), 0, text); !errors.Is(err, identity.ErrWrongRole) {
		t.Fatalf("a record for a provider: %v", err)
	}
	if s := a.Stats(); s.RecordsSent != 2 {
		t.Fatalf("stats %+v", s)
	}
}

// A device command commits only under a grant that allows commands.
func TestSetSamplingInterval(t *testing.T) {
	w := getWorld(t)
	ctx := timeout(t, 60*time.Second)
	aID, a := w.newProvider(t)
	p := w.newPatient(t, aID)
	p.grant(aID, false, vital.Glucose)
	if err := a.SetSamplingInterval(ctx, p.dev.ID(), 5*time.Second); !errors.Is(err, ledger.Rejected(ledger.CodeUnauthorized)) {
		t.Fatalf("without a commands grant: %v", err)
	}
	p.grant(aID, true, vital.Glucose)
	if err := a.SetSamplingInterval(ctx, p.dev.ID(), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	var cmd ledger.DeviceCommandRecord
	if err := w.clients[1].Query(ctx, ledger.CommandPath(p.dev.ID()), &cmd); err != nil {
		t.Fatal(err)
	}
	if cmd.Provider != aID.ID() || cmd.Command != command.SamplingInterval || cmd.Value != 5000 {
		t.Fatalf("command on the ledger: %+v", cmd)
	}
	for _, iv := range []time.Duration{0, 50 * time.Millisecond, 25 * time.Hour, 1500 * time.Microsecond} {
		if err := a.SetSamplingInterval(ctx, p.dev.ID(), iv); err == nil || errors.As(err, new(*ledger.Error)) {
			t.Errorf("interval %s: %v, want a refusal before the ledger", iv, err)
		}
	}
	if s := a.Stats(); s.Commands != 1 {
		t.Fatalf("stats %+v", s)
	}
}

// Follow rides out an unreachable cloud, and stops at once when the cloud
// refuses the provider for good.
func TestFollowRetries(t *testing.T) {
	w := getWorld(t)
	ctx := timeout(t, 60*time.Second)
	aID, _ := w.newProvider(t)
	p := w.newPatient(t, aID)
	p.grant(aID, false, vital.Glucose)
	ids, idx := w.upload(t, p.abnormal(vital.Glucose, 250*vital.Unit))

	px := newProxy(t, w.cloud.URL)
	px.failAlerts = 3
	a := w.providerFor(t, aID, cloudapi.NewClient(px.URL, nil))
	fctx, stop := context.WithCancel(ctx)
	var got []provider.Alert
	err := a.Follow(fctx, idx[0], func(al provider.Alert) { got = append(got, al); stop() })
	if !errors.Is(err, context.Canceled) || len(got) != 1 || got[0].ID != ids[0] {
		t.Fatalf("Follow: %v, %d alerts", err, len(got))
	}
	if s := a.Stats(); s.PollErrors != 3 {
		t.Fatalf("stats %+v", s)
	}

	// A cloud that is not there: the poll and the fetch fail, and say so.
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	d := w.providerFor(t, aID, cloudapi.NewClient(dead.URL, nil))
	if _, next, err := d.Poll(ctx, 5, 0); err == nil || next != 5 {
		t.Fatalf("poll of a dead cloud: next %d, %v", next, err)
	}
	if _, err := d.Fetch(ctx, ids[0]); err == nil || refusal(err) != "" {
		t.Fatalf("fetch from a dead cloud: %v", err)
	}
	if s := d.Stats(); s.PollErrors != 1 || s.FetchErrors != 1 {
		t.Fatalf("stats %+v", s)
	}

	stranger, _ := identity.Generate(identity.RoleProvider, identity.SuiteX25519)
	sp := w.providerFor(t, stranger, w.cc)
	if err := sp.Follow(ctx, 0, func(provider.Alert) {}); refusal(err) != "unknown_signer" {
		t.Fatalf("an unregistered provider's Follow: %v", err)
	}
}

// A patient who migrated to another cluster keeps its records with its
// home cluster's cloud, and providers find them there.
func TestFetchAfterMigration(t *testing.T) {
	w := getWorld(t)
	ctx := timeout(t, 60*time.Second)
	aID, a := w.newProvider(t)
	p := w.newPatient(t, aID)
	p.grant(aID, false, vital.Glucose)
	w.ok(t, p.id.Signing, &ledger.Migrate{Cluster: 2, Devices: []identity.ID{p.dev.ID()}})
	ids, idx := w.upload(t, p.abnormal(vital.Glucose, 250*vital.Unit))
	w.waitAnchored(t, idx[0])
	// The anchor is checked against the patient's home cloud once the
	// cloud serves the record as anchored, a moment after the ledger.
	var f *provider.Fetched
	for try := 0; f == nil || !f.Anchored && try < 50; try++ {
		var err error
		if f, err = a.Fetch(ctx, ids[0]); err != nil {
			t.Fatalf("fetch after the patient migrated: %v", err)
		}
		if !f.Anchored {
			time.Sleep(50 * time.Millisecond)
		}
	}
	if k, err := f.Reading.Kind(); err != nil || k != vital.Glucose || !f.Anchored || f.Cloud != w.cloudID.ID() {
		t.Fatalf("fetched a reading of %v (%v), anchored %v by %s", k, err, f.Anchored, f.Cloud)
	}
}
