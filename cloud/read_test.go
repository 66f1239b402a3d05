package cloud

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/vitalchain/vitalchain/cloud/cloudapi"
	"github.com/vitalchain/vitalchain/codec"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/ledger"
	"github.com/vitalchain/vitalchain/merklelog"
	"github.com/vitalchain/vitalchain/record"
	"github.com/vitalchain/vitalchain/vital"
)

// checkRead checks a served record and its proof.
func checkRead(t *testing.T, res *cloudapi.ReadResult, raw []byte, id [32]byte) {
	t.Helper()
	if !bytes.Equal(res.Record, raw) {
		t.Fatal("served bytes differ from the uploaded ones")
	}
	if err := merklelog.VerifyInclusion(id[:], res.Index, res.Checkpoint, res.Proof); err != nil {
		t.Fatalf("inclusion proof: %v", err)
	}
	r, err := record.ParseRecord(res.Record)
	if err != nil || r.ID() != id {
		t.Fatalf("served record: %v", err)
	}
}

func TestReadServes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	gate := make(chan struct{})
	e.led.set(func(l *fakeLedger) { l.gate = gate }) // hold the first anchor
	provider := e.member(identity.RoleProvider, 1)
	e.grant(provider, vital.Glucose, vital.HeartRate)
	var raws [][]byte
	var ids [][32]byte
	for range 5 {
		raw, id := e.record(vital.Glucose)
		raws, ids = append(raws, raw), append(ids, id)
	}
	e.ingest(raws...)

	// Not anchored yet: the proof is into the current checkpoint.
	res, err := e.svc.Read(ctx, e.request(e.patient.Signing, cloudapi.OpRead, ids[2], 0))
	if err != nil {
		t.Fatal(err)
	}
	checkRead(t, res, raws[2], ids[2])
	rc, _, _, _ := e.svc.Checkpoints()
	if res.Anchored || res.Checkpoint != rc {
		t.Fatalf("unanchored read: anchored %v at %+v, log at %+v", res.Anchored, res.Checkpoint, rc)
	}

	close(gate)
	e.led.set(func(l *fakeLedger) { l.gate = nil })
	cp := e.led.waitAnchored(t, LogRecords, 5)
	eventually(t, "the service sees its anchor", func() bool { _, ra, _, _ := e.svc.Checkpoints(); return ra == cp })
	for _, who := range []*identity.Identity{e.patient, provider} {
		for i := range raws {
			res, err := e.svc.Read(ctx, e.request(who.Signing, cloudapi.OpRead, ids[i], 0))
			if err != nil {
				t.Fatalf("%s reads %d: %v", who.Role(), i, err)
			}
			checkRead(t, res, raws[i], ids[i])
			if !res.Anchored || res.Checkpoint != cp {
				t.Fatalf("anchored read: anchored %v at %+v, ledger at %+v", res.Anchored, res.Checkpoint, cp)
			}
		}
	}
	// A record stored after the anchor is served with the current checkpoint.
	raw, id := e.record(vital.HeartRate)
	e.ingest(raw)
	e.led.set(func(l *fakeLedger) { l.failAnchors = -1 })
	res, err = e.svc.Read(ctx, e.request(provider.Signing, cloudapi.OpRead, id, 0))
	if err != nil {
		t.Fatal(err)
	}
	checkRead(t, res, raw, id)
	if res.Checkpoint.Size != 6 {
		t.Fatalf("read of an unanchored record: checkpoint %+v", res.Checkpoint)
	}
	if got := e.metric("vitalchain_cloud_reads_total"); got != 12 {
		t.Errorf("reads = %v, want 12", got)
	}
}

// Each refused read has its sentinel; the authenticated ones of a stored
// record are in the patient's access log with their reason, as are the
// served reads.
func TestReadRefusals(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	raw, id := e.record(vital.Glucose)
	hraw, hid := e.record(vital.HeartRate)
	e.ingest(raw, hraw)

	granted := e.member(identity.RoleProvider, 1)
	e.grant(granted, vital.Glucose)
	ungranted := e.member(identity.RoleProvider, 1)
	revoked := e.member(identity.RoleProvider, 1)
	e.grant(revoked, vital.Glucose).Revoked = 7 // the ledger's copy
	e.led.setGrant(e.patient.ID(), revoked.ID(), &ledger.GrantRecord{Expiry: e.clock.Now().Add(time.Hour).UnixMilli(), Revoked: 7})
	expired := e.member(identity.RoleProvider, 1)
	e.led.setGrant(e.patient.ID(), expired.ID(), &ledger.GrantRecord{Expiry: e.clock.Now().Add(-time.Second).UnixMilli()})
	scoped := e.member(identity.RoleProvider, 1)
	e.grant(scoped, vital.HeartRate)
	other := e.member(identity.RolePatient, 1)
	device := e.member(identity.RoleDevice, 1)
	stranger, _ := identity.Generate(identity.RoleProvider, identity.SuiteX25519)

	sign := func(who *identity.Identity, rec [32]byte) []byte {
		return e.request(who.Signing, cloudapi.OpRead, rec, 0)
	}
	at := func(who *identity.Identity, d time.Duration) []byte {
		b, err := cloudapi.NewRequest(who.Signing, e.svc.ID(), cloudapi.OpRead, id, 0, e.clock.Now().Add(d))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	elsewhere, err := cloudapi.NewRequest(granted.Signing, identity.ID{7}, cloudapi.OpRead, id, 0, e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	longLived := func() []byte { // signed with a life longer than the cloud accepts
		r, _ := cloudapi.ParseRequest(sign(granted, id))
		r.Expires = r.Time + cloudapi.MaxRequestLife.Milliseconds() + 1
		msg, _ := r.SignedBytes()
		r.Sig = granted.Signing.SignContext(cloudapi.RequestContext, msg)
		b, _ := codec.Marshal(r)
		return b
	}()
	badSig := func() []byte {
		r, _ := cloudapi.ParseRequest(sign(granted, id))
		r.Sig[5] ^= 1
		b, _ := codec.Marshal(r)
		return b
	}()
	forged := func() []byte {
		r, _ := cloudapi.ParseRequest(sign(ungranted, id))
		r.Requester = granted.ID()
		b, _ := codec.Marshal(r)
		return b
	}()
	// A read of another vital sign than the grant's is served: the keys
	// enforce the scope, which the cloud does not know (the provider cannot
	// decrypt it).
	replayed := sign(granted, hid)
	if _, err := e.svc.Read(ctx, replayed); err != nil {
		t.Fatalf("first use of the replayed request: %v", err)
	}

	type want struct {
		requester identity.ID
		record    [32]byte
		reason    string
	}
	logged := []want{{granted.ID(), hid, ""}} // the replayed request's first use
	for _, tc := range []struct {
		name   string
		req    []byte
		err    error
		logged *want // nil: not in the access log
	}{
		{"malformed", []byte("junk"), ErrBadRequest, nil},
		{"truncated", sign(granted, id)[:20], ErrBadRequest, nil},
		{"oversize", make([]byte, cloudapi.MaxRequestSize+1), ErrBadRequest, nil},
		{"access op", e.request(e.patient.Signing, cloudapi.OpAccess, id, 0), ErrBadRequest, nil},
		{"unknown requester", sign(stranger, id), ErrUnknownSigner, nil},
		{"bad signature", badSig, ErrBadSignature, nil},
		{"forged requester", forged, ErrBadSignature, nil},
		{"stale", at(granted, -10*time.Minute), ErrStale, nil},
		{"just expired", at(granted, -cloudapi.RequestLife-time.Second), ErrStale, nil},
		{"meant for another cloud", elsewhere, ErrWrongCloud, nil},
		{"living too long", longLived, ErrBadRequest, nil},
		{"from the future", at(granted, 10*time.Minute), ErrStale, nil},
		{"replayed", replayed, ErrReplay, nil},
		{"device requester", sign(device, id), ErrWrongRole, nil},
		{"cloud requester", sign(e.cloud, id), ErrWrongRole, nil},
		{"record absent", sign(granted, [32]byte{9}), ErrRecordAbsent, nil},
		{"no grant", sign(ungranted, id), ErrNoGrant, &want{ungranted.ID(), id, "no_grant"}},
		{"another patient", sign(other, id), ErrNoGrant, &want{other.ID(), id, "no_grant"}},
		{"revoked grant", sign(revoked, id), ErrRevoked, &want{revoked.ID(), id, "revoked"}},
		{"expired grant", sign(expired, id), ErrExpired, &want{expired.ID(), id, "expired"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := e.metric("vitalchain_cloud_reads_refused_total", "reason", readReason(tc.err))
			res, err := e.svc.Read(ctx, tc.req)
			if !errors.Is(err, tc.err) || res != nil {
				t.Fatalf("got %v, %v; want %v", res, err, tc.err)
			}
			if got := e.metric("vitalchain_cloud_reads_refused_total", "reason", readReason(tc.err)); got != before+1 {
				t.Errorf("reads_refused{%s} went from %v to %v", readReason(tc.err), before, got)
			}
			if tc.logged != nil {
				logged = append(logged, *tc.logged)
			}
		})
	}
	// The allowed reads.
	for _, who := range []*identity.Identity{e.patient, granted} {
		if _, err := e.svc.Read(ctx, sign(who, id)); err != nil {
			t.Fatal(err)
		}
		logged = append(logged, want{who.ID(), id, ""})
	}
	if _, err := e.svc.Read(ctx, sign(scoped, hid)); err != nil {
		t.Fatal(err)
	}
	logged = append(logged, want{scoped.ID(), hid, ""})

	// The patient's access log holds exactly these, in order.
	es := e.accessLog(e.patient)
	if len(es) != len(logged) {
		t.Fatalf("access log has %d entries, want %d: %+v", len(es), len(logged), es)
	}
	for i, w := range logged {
		got := es[i]
		if got.Requester != w.requester || got.Record != w.record || got.Reason != w.reason ||
			got.Allowed != (w.reason == "") || got.Patient != e.patient.ID() || got.Index != uint64(i) || got.Time == 0 {
			t.Errorf("entry %d: %+v, want %+v", i, got, w)
		}
	}
	// Paging: from an index on.
	es2 := e.accessLogFrom(e.patient, 3)
	if len(es2) != len(es)-3 || !reflect.DeepEqual(es2[0], es[3]) {
		t.Fatalf("access log from 3: %d entries", len(es2))
	}
	// The other patient's log holds nothing of it.
	if es := e.accessLog(other); len(es) != 0 {
		t.Fatalf("another patient's access log: %+v", es)
	}
	// Every entry is the leaf at its index of the access log, which is anchored.
	cp := e.led.waitAnchored(t, LogAccess, uint64(len(es)))
	for _, en := range es {
		b, _ := codec.Marshal(&en)
		p, err := e.svc.access.log.Load().InclusionProof(en.Index, cp.Size)
		if err != nil {
			t.Fatal(err)
		}
		if err := merklelog.VerifyInclusion(b, en.Index, cp, p); err != nil {
			t.Fatalf("entry %d is not the access log's leaf: %v", en.Index, err)
		}
	}
	checkAnchors(t, e.led, LogAccess)
}

// The cloud's clock decides staleness; a request is good for ClockSkew
// either side of it.
func TestReadClock(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.ClockSkew = time.Minute })
	raw, id := e.record(vital.Glucose)
	e.ingest(raw)
	ctx := context.Background()
	req := e.request(e.patient.Signing, cloudapi.OpRead, id, 0)
	e.clock.advance(61 * time.Second)
	if _, err := e.svc.Read(ctx, req); !errors.Is(err, ErrStale) {
		t.Fatalf("a request 61 s old: %v", err)
	}
	e.clock.advance(-122 * time.Second)
	if _, err := e.svc.Read(ctx, req); !errors.Is(err, ErrStale) {
		t.Fatalf("a request 61 s ahead: %v", err)
	}
	e.clock.advance(31 * time.Second)
	if _, err := e.svc.Read(ctx, req); err != nil {
		t.Fatalf("a request 30 s ahead: %v", err)
	}
	if _, err := e.svc.Read(ctx, req); !errors.Is(err, ErrReplay) {
		t.Fatalf("replayed in the window: %v", err)
	}
	// Much later, with the nonce cache cleaned, the request is stale, not new.
	e.clock.advance(time.Hour)
	if _, err := e.svc.Read(ctx, e.request(e.patient.Signing, cloudapi.OpRead, id, 0)); err != nil {
		t.Fatal(err) // triggers the cache's cleaning
	}
	if _, err := e.svc.Read(ctx, req); !errors.Is(err, ErrStale) {
		t.Fatalf("a replay an hour later: %v", err)
	}
}

// Only a patient lists its access log.
func TestAccessLogRefusals(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	provider := e.member(identity.RoleProvider, 1)
	device := e.member(identity.RoleDevice, 1)
	stranger, _ := identity.Generate(identity.RolePatient, identity.SuiteX25519)
	replayed := e.request(e.patient.Signing, cloudapi.OpAccess, [32]byte{}, 0)
	if _, err := e.svc.AccessLog(ctx, replayed); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		req  []byte
		err  error
	}{
		{"provider", e.request(provider.Signing, cloudapi.OpAccess, [32]byte{}, 0), ErrWrongRole},
		{"device", e.request(device.Signing, cloudapi.OpAccess, [32]byte{}, 0), ErrWrongRole},
		{"cloud", e.request(e.cloud.Signing, cloudapi.OpAccess, [32]byte{}, 0), ErrWrongRole},
		{"unknown", e.request(stranger.Signing, cloudapi.OpAccess, [32]byte{}, 0), ErrUnknownSigner},
		{"read op", e.request(e.patient.Signing, cloudapi.OpRead, [32]byte{}, 0), ErrBadRequest},
		{"malformed", []byte{0xa0}, ErrBadRequest},
		{"replayed", replayed, ErrReplay},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if es, err := e.svc.AccessLog(ctx, tc.req); !errors.Is(err, tc.err) || es != nil {
				t.Fatalf("got %v, %v; want %v", es, err, tc.err)
			}
		})
	}
}

// The ledger unreachable during a read: refused as unavailable, and logged.
func TestReadLedgerDown(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	raw, id := e.record(vital.Glucose)
	e.ingest(raw)
	provider := e.member(identity.RoleProvider, 1)
	e.grant(provider, vital.Glucose)
	ctx := context.Background()
	e.led.set(func(l *fakeLedger) { l.grantErr = errLedgerDown })
	if _, err := e.svc.Read(ctx, e.request(provider.Signing, cloudapi.OpRead, id, 0)); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("grant lookup fails: %v", err)
	}
	e.led.set(func(l *fakeLedger) { l.grantErr, l.queryErr = nil, errLedgerDown })
	if _, err := e.svc.Read(ctx, e.request(provider.Signing, cloudapi.OpRead, id, 0)); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("member lookup fails: %v", err)
	}
	e.led.set(func(l *fakeLedger) { l.queryErr = nil })
	es := e.accessLog(e.patient)
	if len(es) != 1 || es[0].Reason != "unavailable" || es[0].Allowed {
		t.Fatalf("access log: %+v", es)
	}
}

func TestParseRequest(t *testing.T) {
	t.Parallel()
	key, err := identity.GenerateSigningKey(identity.RoleProvider)
	if err != nil {
		t.Fatal(err)
	}
	now := time.UnixMilli(1_700_000_000_000)
	good, err := cloudapi.NewRequest(key, identity.ID{5}, cloudapi.OpRead, [32]byte{1}, 0, now)
	if err != nil {
		t.Fatal(err)
	}
	r, err := cloudapi.ParseRequest(good)
	if err != nil {
		t.Fatal(err)
	}
	if r.Version != cloudapi.RequestVersion || r.Cloud != (identity.ID{5}) || r.Expires != now.Add(cloudapi.RequestLife).UnixMilli() || r.Op != cloudapi.OpRead || r.Requester != key.Public().ID() || r.Record != ([32]byte{1}) || r.Time != now.UnixMilli() || len(r.Sig) != 64 || r.Nonce == ([16]byte{}) {
		t.Fatalf("parsed %+v", r)
	}
	again, _ := cloudapi.NewRequest(key, identity.ID{5}, cloudapi.OpRead, [32]byte{1}, 0, now)
	if r2, _ := cloudapi.ParseRequest(again); r2.Nonce == r.Nonce {
		t.Fatal("two requests share a nonce")
	}
	mod := func(f func(*cloudapi.Request)) []byte {
		c := *r
		f(&c)
		b, err := codec.Marshal(&c)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	dupKey := append([]byte{good[0] + 1}, good[1:]...) // one more pair than it has
	dupKey = append(dupKey, 0x01, 0x01)                // key 1 again
	for _, tc := range []struct {
		name string
		b    []byte
		err  error
	}{
		{"empty", nil, codec.ErrMalformed},
		{"truncated", good[:len(good)-1], codec.ErrTruncated},
		{"trailing", append(bytes.Clone(good), 0), codec.ErrTrailingData},
		{"oversize", append(bytes.Clone(good), make([]byte, cloudapi.MaxRequestSize)...), codec.ErrTooLarge},
		{"wrong type", []byte{0x80}, codec.ErrWrongType},
		{"duplicate key", dupKey, codec.ErrDuplicateKey},
		{"unknown field", []byte{0xa1, 0x18, 0x63, 0x01}, codec.ErrUnknownField},
		{"unknown version", mod(func(r *cloudapi.Request) { r.Version = 3 }), codec.ErrUnknownVersion},
		{"version 1, which named no cloud", mod(func(r *cloudapi.Request) { r.Version = 1 }), codec.ErrUnknownVersion},
		{"no version", mod(func(r *cloudapi.Request) { r.Version = 0 }), codec.ErrUnknownVersion},
		{"unknown op", mod(func(r *cloudapi.Request) { r.Op = "write" }), ErrBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := cloudapi.ParseRequest(tc.b)
			if !errors.Is(err, ErrBadRequest) {
				t.Fatalf("got %v, want ErrBadRequest", err)
			}
			if !errors.Is(err, tc.err) {
				t.Fatalf("got %v, want %v", err, tc.err)
			}
		})
	}
}

// A provider's record for the patient (transaction 3, no vital sign) is read
// by the patient and its author; a grant of another provider does not cover it.
func TestReadProviderRecord(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	author := e.member(identity.RoleProvider, 1)
	other := e.member(identity.RoleProvider, 1)
	e.grant(other, vital.Glucose)
	raw, id := e.sealBy(author, record.Header{Patient: e.patient.ID(), Time: e.clock.Now().UnixMilli(), Seq: 1})
	if acks := e.ingest(raw); acks[0].Code != "" {
		t.Fatalf("provider record refused: %+v", acks[0])
	}
	for _, who := range []*identity.Identity{e.patient, author} {
		if _, err := e.svc.Read(ctx, e.request(who.Signing, cloudapi.OpRead, id, 0)); err != nil {
			t.Errorf("%s reads the provider record: %v", who.Role(), err)
		}
	}
	if _, err := e.svc.Read(ctx, e.request(other.Signing, cloudapi.OpRead, id, 0)); !errors.Is(err, ErrScope) {
		t.Errorf("another granted provider: %v, want ErrScope", err)
	}
}

// A captured request does not replay after the cloud restarts: its nonce is
// kept in the store until the request expires, then forgotten.
func TestRequestReplayRefusedAfterRestart(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	raw, id := e.record(vital.Glucose)
	e.ingest(raw)
	req := e.request(e.patient.Signing, cloudapi.OpRead, id, 0)
	if _, err := e.svc.Read(ctx, req); err != nil {
		t.Fatal(err)
	}
	e.restart()
	if _, err := e.svc.Read(ctx, req); !errors.Is(err, ErrReplay) {
		t.Fatalf("the captured request after a restart: %v, want ErrReplay", err)
	}
	// Once it has expired the cloud forgets its nonce, and refuses it as stale.
	e.clock.advance(cloudapi.RequestLife + time.Second)
	if err := e.st.ForgetNonces(e.clock.Now().UnixMilli()); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Read(ctx, req); !errors.Is(err, ErrStale) {
		t.Fatalf("the expired request: %v, want ErrStale", err)
	}
}
