package cloud

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/vitalchain/vitalchain/cloud/cloudapi"
	"github.com/vitalchain/vitalchain/codec"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/merklelog"
	"github.com/vitalchain/vitalchain/record"
	"github.com/vitalchain/vitalchain/vital"
)

// Attacks on the audit trail and on erasure, each named after what it
// prevents.

// entriesOf returns the entries of a verified log of op.
func entriesOf(es []cloudapi.AccessEntry, op string) []cloudapi.AccessEntry {
	var out []cloudapi.AccessEntry
	for _, e := range es {
		if e.Op == op {
			out = append(out, e)
		}
	}
	return out
}

// A provider's read lands in the patient's log, attributed by the
// provider's own signed request, before the record is served; if it cannot
// be logged, it is not served.
func TestNoProviderReadMissingFromThePatientsLog(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	provider := e.member(identity.RoleProvider, 1)
	e.grant(provider, vital.Glucose)
	raw, id := e.record(vital.Glucose)
	e.ingest(raw)

	req := e.request(provider.Signing, cloudapi.OpRead, id, 0)
	if _, err := e.svc.Read(ctx, req); err != nil {
		t.Fatal(err)
	}
	reads := entriesOf(e.accessLog(e.patient), cloudapi.AccessRead)
	if len(reads) != 1 || reads[0].Requester != provider.ID() || reads[0].Record != id || !bytes.Equal(reads[0].Request, req) {
		t.Fatalf("the patient's log of reads: %+v; want the provider's read with its signed request", reads)
	}
	// The access log fails: the read is refused, nothing is served unlogged.
	e.st.failNext(opAppendAccess, 1)
	if res, err := e.svc.Read(ctx, e.request(provider.Signing, cloudapi.OpRead, id, 0)); !errors.Is(err, ErrStore) || res != nil {
		t.Fatalf("a read the access log could not hold: %v, %v; want a store refusal and no record", res, err)
	}
}

// Every alert delivered to a provider is in its patient's log, durably
// before the provider has it; an alert that cannot be logged is not
// delivered, and comes when the provider asks again.
func TestNoAlertDeliveredUnlogged(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	provider := e.member(identity.RoleProvider, 1)
	e.deploy(true, provider)
	e.grant(provider, vital.Glucose)
	raw1, id1 := e.record(vital.Glucose)
	raw2, id2 := e.record(vital.Glucose)
	e.ingest(raw1, raw2)

	e.st.failNext(opAppendAccess, 1)
	req := e.request(provider.Signing, cloudapi.OpAlerts, [32]byte{}, 0)
	if b, err := e.svc.Alerts(context.Background(), req, 0); !errors.Is(err, ErrStore) || b != nil {
		t.Fatalf("alerts the access log could not hold: %+v, %v; want a store refusal", b, err)
	}
	if got := entriesOf(e.accessLog(e.patient), cloudapi.AccessAlert); len(got) != 0 {
		t.Fatalf("alerts logged that were not delivered: %+v", got)
	}
	req = e.request(provider.Signing, cloudapi.OpAlerts, [32]byte{}, 0)
	b, err := e.svc.Alerts(context.Background(), req, 0)
	if err != nil || len(b.Alerts) != 2 {
		t.Fatalf("alerts asked again: %+v, %v", b, err)
	}
	got := entriesOf(e.accessLog(e.patient), cloudapi.AccessAlert)
	if len(got) != 2 {
		t.Fatalf("the patient's log holds %d alert deliveries, want 2: %+v", len(got), got)
	}
	for i, want := range [][32]byte{id1, id2} {
		if g := got[i]; g.Record != want || g.Requester != provider.ID() || !g.Allowed || !bytes.Equal(g.Request, req) {
			t.Errorf("alert entry %d: %+v; want record %x delivered to the provider on its request", i, g, want[:8])
		}
	}
}

// The patient's listing is itself an entry, and a listing whose entries
// the cloud altered, dropped from the log, moved, or attributed to someone
// who did not ask does not verify on the patient's side.
func TestNoForgedOrAlteredEntryVerifies(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	provider := e.member(identity.RoleProvider, 1)
	bystander := e.member(identity.RoleProvider, 1)
	e.grant(provider, vital.Glucose)
	raw, id := e.record(vital.Glucose)
	e.ingest(raw)
	if _, err := e.svc.Read(ctx, e.request(provider.Signing, cloudapi.OpRead, id, 0)); err != nil {
		t.Fatal(err)
	}
	e.led.waitAnchored(t, LogAccess, 1)
	eventually(t, "the service sees the access log's anchor", func() bool { _, _, _, aa := e.svc.Checkpoints(); return aa.Size >= 1 })
	good, err := e.svc.AccessLog(ctx, e.request(e.patient.Signing, cloudapi.OpAccess, [32]byte{}, 0))
	if err != nil {
		t.Fatal(err)
	}
	if len(good.Entries) != 2 || good.Entries[0].Op != cloudapi.AccessRead || good.Entries[1].Op != cloudapi.AccessList {
		t.Fatalf("listing: %+v; want the read and the listing", good.Entries)
	}
	if _, err := verifyListing(e, good, e.patient.ID()); err != nil {
		t.Fatalf("the honest listing: %v", err)
	}
	// A request the bystander signed, for another record: the cloud holds
	// it (a captured request, say) and would blame the bystander.
	framed := e.request(bystander.Signing, cloudapi.OpRead, [32]byte{7}, 0)
	for _, tc := range []struct {
		name   string
		tamper func(l *cloudapi.AccessListing)
	}{
		{"requester swapped", func(l *cloudapi.AccessListing) { l.Entries[0].Requester = bystander.ID() }},
		{"request of someone else", func(l *cloudapi.AccessListing) {
			l.Entries[0].Requester, l.Entries[0].Request = bystander.ID(), framed
		}},
		{"request of another record", func(l *cloudapi.AccessListing) { l.Entries[0].Record = [32]byte{7} }},
		{"time changed", func(l *cloudapi.AccessListing) { l.Entries[0].Time -= 3_600_000 }},
		{"allowed read turned into a refusal", func(l *cloudapi.AccessListing) { l.Entries[0].Allowed = false }},
		{"request's signature broken", func(l *cloudapi.AccessListing) {
			r, err := cloudapi.ParseRequest(l.Entries[0].Request)
			if err != nil {
				t.Fatal(err)
			}
			r.Sig[0] ^= 1
			l.Entries[0].Request, _ = codec.Marshal(r)
		}},
		{"entry moved", func(l *cloudapi.AccessListing) { l.Entries[0].Index++ }},
		{"another patient's entry", func(l *cloudapi.AccessListing) { l.Entries[0].Patient = identity.ID{9} }},
		{"proof of another leaf", func(l *cloudapi.AccessListing) { l.Proofs[0] = l.Proofs[1] }},
		{"checkpoint not the anchored log's", func(l *cloudapi.AccessListing) { l.Checkpoint.Root[0] ^= 1 }},
		{"a proof missing", func(l *cloudapi.AccessListing) { l.Proofs = l.Proofs[:1] }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var l cloudapi.AccessListing
			b, _ := codec.Marshal(good)
			if err := codec.Unmarshal(b, &l); err != nil {
				t.Fatal(err)
			}
			tc.tamper(&l)
			if _, err := verifyListing(e, &l, e.patient.ID()); !errors.Is(err, cloudapi.ErrBadListing) {
				t.Fatalf("a tampered listing verifies: %v", err)
			}
		})
	}
}

// secondPatient registers another patient of the cloud's cluster.
func (e *testEnv) secondPatient() *identity.Identity {
	p := e.member(identity.RolePatient, 1)
	e.led.setEpoch(p.ID(), 1)
	return p
}

// recordOf seals a record of patient p.
func (e *testEnv) recordOf(p *identity.Identity, kind vital.Kind) ([]byte, [32]byte) {
	h := e.header()
	h.Patient = p.ID()
	return e.sealKind(p, h, kind)
}

// ciphertext returns a sealed record's ciphertext.
func ciphertext(t *testing.T, raw []byte) []byte {
	t.Helper()
	r, err := record.ParseRecord(raw)
	if err != nil {
		t.Fatal(err)
	}
	return r.Ciphertext
}

// scanMemStore fails t if any byte string the memory store holds
// contains secret: records, access entries and their requests.
func scanMemStore(t *testing.T, st *MemStore, secret []byte, what string) {
	t.Helper()
	st.mu.RLock()
	defer st.mu.RUnlock()
	for _, r := range st.records {
		if bytes.Contains(r.Bytes, secret) {
			t.Errorf("the store still holds %s in record %x", what, r.ID[:8])
		}
	}
	for _, e := range st.access {
		if b, _ := codec.Marshal(&e); bytes.Contains(b, secret) {
			t.Errorf("the store still holds %s in access entry %d", what, e.Index)
		}
	}
}

// After a patient's erasure no byte of its ciphertexts can be had, from
// the API or from the store; the records log, its old checkpoints and
// every other record's proof still verify; another patient's records are
// untouched; and the erasure is in the patient's log.
func TestNoCiphertextSurvivesErasure(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	provider := e.member(identity.RoleProvider, 1)
	e.deploy(true, provider)
	e.grant(provider, vital.Glucose, vital.HeartRate)
	other := e.secondPatient()
	var (
		mine, theirs       [][]byte
		mineIDs, theirsIDs [][32]byte
	)
	for range 3 {
		raw, id := e.record(vital.Glucose)
		mine, mineIDs = append(mine, raw), append(mineIDs, id)
		raw, id = e.recordOf(other, vital.HeartRate)
		theirs, theirsIDs = append(theirs, raw), append(theirsIDs, id)
		e.ingest(mine[len(mine)-1], theirs[len(theirs)-1])
	}
	// The provider read one before the erasure (its copy is beyond reach).
	if _, err := e.svc.Read(ctx, e.request(provider.Signing, cloudapi.OpRead, mineIDs[0], 0)); err != nil {
		t.Fatal(err)
	}
	oldCP := e.led.waitAnchored(t, LogRecords, 6)
	eventually(t, "the service sees its anchor", func() bool { _, ra, _, _ := e.svc.Checkpoints(); return ra == oldCP })

	srv := httptest.NewServer(e.svc.Handler(nil))
	defer srv.Close()
	cc := cloudapi.NewClient(srv.URL, nil)
	res, err := cc.Erase(ctx, e.patient.Signing)
	if err != nil || res.Erased != 3 {
		t.Fatalf("erase: %+v, %v; want 3 records erased", res, err)
	}
	if got := e.metric("vitalchain_cloud_erasures_total", "outcome", "erased"); got != 1 {
		t.Errorf("erasures counted: %v, want 1", got)
	}

	// Through the API: every read is refused "erased", with the leaf's
	// proof into the anchored checkpoint, to the patient and the provider alike.
	for _, who := range []*identity.Identity{e.patient, provider} {
		for i, id := range mineIDs {
			_, err := cc.Read(ctx, who.Signing, id)
			var re *cloudapi.RequestError
			if !errors.As(err, &re) || re.Status != http.StatusGone || re.Code != cloudapi.CodeErased || re.Erased == nil {
				t.Fatalf("%s reads erased record %d: %v; want 410 erased with a proof", who.Role(), i, err)
			}
			if p := re.Erased; p.Index != uint64(2*i) || !p.Erased || p.Checkpoint != oldCP {
				t.Fatalf("erased record %d: proof %+v, want at %d into the anchored checkpoint", i, p, 2*i)
			} else if err := merklelog.VerifyInclusion(id[:], p.Index, p.Checkpoint, p.Proof); err != nil {
				t.Fatalf("erased record %d: its leaf's proof: %v", i, err)
			}
			if bytes.Contains([]byte(re.Message), ciphertext(t, mine[i])) {
				t.Fatal("the refusal carries the ciphertext")
			}
		}
	}
	for _, id := range mineIDs {
		if p, err := cc.Proof(ctx, id); err != nil || !p.Erased {
			t.Fatalf("the proof of an erased record: %+v, %v", p, err)
		}
	}
	// Uploaded again (a gateway's retry), an erased record is a duplicate:
	// its ciphertext does not come back.
	if acks := e.ingest(mine[1]); !acks[0].Duplicate {
		t.Fatalf("an erased record uploaded again: %+v, want a duplicate", acks[0])
	}
	// The store holds no byte of the erased ciphertexts.
	mem := e.st.Store.(*MemStore)
	for i, raw := range mine {
		scanMemStore(t, mem, ciphertext(t, raw), "an erased ciphertext")
		if r, err := e.st.Record(mineIDs[i]); err != nil || !r.Erased || r.Bytes != nil {
			t.Fatalf("erased record %d in the store: %+v, %v; want a tombstone", i, r, err)
		}
	}
	// The other patient's records are whole, and served with proofs.
	for i, id := range theirsIDs {
		res, err := cc.Read(ctx, other.Signing, id)
		if err != nil {
			t.Fatalf("the other patient's record %d: %v", i, err)
		}
		checkRead(t, res, theirs[i], id)
	}
	// The log did not change: the old anchored checkpoint is the log's at
	// its size, every anchor still chains, and the log goes on.
	if cp, err := e.svc.records.log.Load().CheckpointAt(oldCP.Size); err != nil || cp != oldCP {
		t.Fatalf("the log at the anchored size: %+v, %v; want %+v", cp, err, oldCP)
	}
	raw, id := e.recordOf(other, vital.HeartRate)
	e.ingest(raw)
	newCP := e.led.waitAnchored(t, LogRecords, 7)
	if _, err := cc.Consistency(ctx, LogRecords, oldCP.Size, newCP.Size); err != nil {
		t.Fatalf("consistency from the anchor before the erasure: %v", err)
	}
	checkAnchors(t, e.led, LogRecords)
	if res, err := cc.Read(ctx, other.Signing, id); err != nil {
		t.Fatal(err)
	} else {
		checkRead(t, res, raw, id)
	}
	// No alert of an erased record goes out any more.
	if b := e.alerts(provider, 0, 0); len(b.Alerts) != 0 {
		t.Fatalf("alerts of erased records delivered: %d", len(b.Alerts))
	}
	// The patient's log holds the erasure, and the refused reads.
	log := e.accessLog(e.patient)
	erasures := entriesOf(log, cloudapi.AccessErase)
	if len(erasures) != 1 || erasures[0].Erased != 3 || erasures[0].Requester != e.patient.ID() {
		t.Fatalf("erasures logged: %+v", erasures)
	}
	refused := 0
	for _, en := range entriesOf(log, cloudapi.AccessRead) {
		if en.Reason == cloudapi.CodeErased {
			refused++
		}
	}
	if refused != 2*len(mineIDs) {
		t.Errorf("%d reads refused as erased are logged, want %d", refused, 2*len(mineIDs))
	}
}

// An erasure asked by anyone but the patient itself is refused and
// counted, and erases nothing and logs nothing: a provider, another
// patient (who erases only its own records), a device, a key posing as the
// patient, a replay of the patient's own request, a request of another op.
func TestNoErasureBySomeoneElse(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	provider := e.member(identity.RoleProvider, 1)
	device := e.member(identity.RoleDevice, 1)
	other := e.secondPatient()
	impostor, err := identity.Generate(identity.RolePatient, identity.SuiteX25519)
	if err != nil {
		t.Fatal(err)
	}
	raw, id := e.record(vital.Glucose)
	e.ingest(raw)

	// The patient's own request, captured once it was served.
	firstPatient := e.secondPatient()
	fraw, _ := e.recordOf(firstPatient, vital.Glucose)
	e.ingest(fraw)
	captured := e.request(firstPatient.Signing, cloudapi.OpErase, [32]byte{}, 0)
	if _, err := e.svc.Erase(ctx, captured); err != nil {
		t.Fatal(err)
	}
	// A request in the patient's name signed by another key.
	posing := func() []byte {
		b := e.request(impostor.Signing, cloudapi.OpErase, [32]byte{}, 0)
		r, err := cloudapi.ParseRequest(b)
		if err != nil {
			t.Fatal(err)
		}
		r.Requester = e.patient.ID()
		msg, _ := r.SignedBytes()
		r.Sig = impostor.Signing.SignContext(cloudapi.RequestContext, msg)
		out, _ := codec.Marshal(r)
		return out
	}()
	accessBefore := e.size(LogAccess)
	for _, tc := range []struct {
		name string
		req  []byte
		err  error
		code string
	}{
		{"provider", e.request(provider.Signing, cloudapi.OpErase, [32]byte{}, 0), ErrWrongRole, cloudapi.CodeWrongRole},
		{"device", e.request(device.Signing, cloudapi.OpErase, [32]byte{}, 0), ErrWrongRole, cloudapi.CodeWrongRole},
		{"the cloud", e.request(e.cloud.Signing, cloudapi.OpErase, [32]byte{}, 0), ErrWrongRole, cloudapi.CodeWrongRole},
		{"impostor", posing, ErrBadSignature, cloudapi.CodeBadSignature},
		{"unregistered", e.request(impostor.Signing, cloudapi.OpErase, [32]byte{}, 0), ErrUnknownSigner, cloudapi.CodeUnknownSigner},
		{"replayed", captured, ErrReplay, cloudapi.CodeReplay},
		{"another op", e.request(e.patient.Signing, cloudapi.OpRead, id, 0), ErrBadRequest, cloudapi.CodeBadRequest},
		{"malformed", []byte{0xa0}, ErrBadRequest, cloudapi.CodeBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := e.metric("vitalchain_cloud_erasures_total", "outcome", tc.code)
			if res, err := e.svc.Erase(ctx, tc.req); !errors.Is(err, tc.err) || res != nil {
				t.Fatalf("got %+v, %v; want %v", res, err, tc.err)
			}
			if got := e.metric("vitalchain_cloud_erasures_total", "outcome", tc.code); got != before+1 {
				t.Errorf("refusals counted %v, want %v", got, before+1)
			}
		})
	}
	// Another patient erases its own records, none of this patient's.
	if res, err := e.svc.Erase(ctx, e.request(other.Signing, cloudapi.OpErase, [32]byte{}, 0)); err != nil || res.Erased != 0 {
		t.Fatalf("another patient's erasure: %+v, %v; want nothing erased", res, err)
	}
	if got := e.size(LogAccess); got != accessBefore+1 {
		t.Errorf("the access log grew by %d, want 1 (the other patient's own erasure)", got-accessBefore)
	}
	r, err := e.st.Record(id)
	if err != nil || r.Erased || !bytes.Equal(r.Bytes, raw) {
		t.Fatalf("the patient's record after the refused erasures: %+v, %v", r, err)
	}
	res, err := e.svc.Read(ctx, e.request(e.patient.Signing, cloudapi.OpRead, id, 0))
	if err != nil {
		t.Fatal(err)
	}
	checkRead(t, res, raw, id)
	if es := entriesOf(e.accessLog(e.patient), cloudapi.AccessErase); len(es) != 0 {
		t.Fatalf("erasures in the patient's log: %+v", es)
	}
}

// A process that followed while its sequencer erased a patient's records
// had published their alerts; once it sequences, it delivers none of them.
func TestNoAlertOfAnErasedRecordAfterFailover(t *testing.T) {
	t.Parallel()
	e := newEnv(t, leased("http://a"))
	a := e.svc
	provider := e.member(identity.RoleProvider, 1)
	e.deploy(true, provider)
	e.grant(provider, vital.Glucose)
	b := e.second("http://b", DefaultLeaseTTL)
	raw, _ := e.record(vital.Glucose)
	e.ingest(raw)
	eventually(t, "the follower publishes the alert", func() bool {
		entries, _, _, _ := b.alertHub.since(0)
		return len(entries) == 1
	})
	if res, err := a.Erase(context.Background(), e.request(e.patient.Signing, cloudapi.OpErase, [32]byte{}, 0)); err != nil || res.Erased != 1 {
		t.Fatalf("erase: %+v, %v", res, err)
	}
	a.Close()
	eventually(t, "the follower takes over", b.Sequencing)
	got, err := b.Alerts(context.Background(), e.request(provider.Signing, cloudapi.OpAlerts, [32]byte{}, 0), 0)
	if err != nil || len(got.Alerts) != 0 {
		t.Fatalf("alerts from the new sequencer: %+v, %v; want none of the erased record", got, err)
	}
}
