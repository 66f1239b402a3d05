package cloud_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/vitalchain/vitalchain/client"
	"github.com/vitalchain/vitalchain/cloud"
	"github.com/vitalchain/vitalchain/cloud/cloudapi"
	"github.com/vitalchain/vitalchain/cloud/pebblestore"
	"github.com/vitalchain/vitalchain/contract"
	"github.com/vitalchain/vitalchain/envelope"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/internal/testbed"
	"github.com/vitalchain/vitalchain/ledger"
	"github.com/vitalchain/vitalchain/merklelog"
	"github.com/vitalchain/vitalchain/record"
	"github.com/vitalchain/vitalchain/vital"
)

// world is a running 4-authority chain (the testbed's) with a patient
// holding its epoch-1 session key.
type world struct {
	t        *testing.T
	chain    *testbed.Chain
	clients  []*client.Client
	cloudID  *identity.Identity
	patient  *identity.Identity
	contract [32]byte
	key      envelope.SessionKey // the patient's epoch-1 session key
}

func newWorld(t *testing.T) *world {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	tc, err := testbed.StartChain(ctx, testbed.ChainOptions{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tc.Stop)
	w := &world{t: t, chain: tc, clients: tc.Clients(0, 4)}
	w.cloudID = w.register(identity.RoleCloud, 1)
	w.patient = w.register(identity.RolePatient, 1)
	w.key, _ = envelope.NewSessionKey()
	self, _ := envelope.SelfEnvelope(w.patient, 1, w.key)
	sb, _ := self.Marshal()
	w.ok(w.patient, &ledger.SessionKey{Epoch: 1, Envelope: sb})
	return w
}

// ok commits body signed by by, on every node.
func (w *world) ok(by *identity.Identity, body ledger.Body) *client.Committed {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cm, err := w.chain.Submit(ctx, by.Signing, body)
	if err != nil {
		w.t.Fatal(err)
	}
	return cm
}

// register admits a new actor to cluster (whose head is authority cluster-1).
func (w *world) register(role identity.Role, cluster uint32) *identity.Identity {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	id, err := w.chain.Register(ctx, role, identity.SuiteX25519, cluster)
	if err != nil {
		w.t.Fatal(err)
	}
	return id
}

// grant gives provider the epoch-1 key for kinds until expiry.
func (w *world) grant(provider *identity.Identity, expiry time.Time, kinds ...vital.Kind) {
	w.t.Helper()
	e, _ := envelope.GrantEnvelope(w.patient, provider.Public(), 1, w.key)
	b, _ := e.Marshal()
	keys, err := envelope.SealScope(w.key, w.patient.ID(), provider.ID(), 1, kinds)
	if err != nil {
		w.t.Fatal(err)
	}
	w.ok(w.patient, &ledger.Grant{Provider: provider.ID(), Keys: keys, Expiry: expiry.UnixMilli(), Epoch: 1, Envelope: b})
}

// seal makes one of the patient's records.
func (w *world) seal(seq uint64, kind vital.Kind, plaintext string) *record.Record {
	w.t.Helper()
	h := record.Header{Patient: w.patient.ID(), Epoch: 1, Contract: w.contract, Alert: true,
		Time: time.Now().UnixMilli(), Seq: seq}
	r, err := record.Seal(h, w.key, record.Payload{Kind: kind, Severity: uint8(contract.Warning), Body: []byte(plaintext)}, w.patient.Signing)
	if err != nil {
		w.t.Fatal(err)
	}
	return r
}

// tamperStore flips a byte of the ciphertext of the records it is told to.
type tamperStore struct {
	cloud.Store
	mu     sync.Mutex
	tamper map[[32]byte]bool
}

func (s *tamperStore) Record(id [32]byte) (*cloud.StoredRecord, error) {
	r, err := s.Store.Record(id)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil && s.tamper[id] {
		r.Bytes = bytes.Clone(r.Bytes)
		r.Bytes[len(r.Bytes)-80] ^= 0x01 // inside the ciphertext
	}
	return r, err
}

func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 4-authority network")
	}
	w := newWorld(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// A glucose contract between the patient and provider A.
	provA := w.register(identity.RoleProvider, 1)
	terms := contract.Terms{Version: contract.Version, Patient: w.patient.ID(), Providers: []identity.ID{provA.ID()},
		Rules: []contract.Rule{{Kind: vital.Glucose, Expr: "value > 180.0", Severity: contract.Warning}}, Name: "t"}
	dc, err := ledger.NewDeployContract(w.patient, terms, provA)
	if err != nil {
		t.Fatal(err)
	}
	w.ok(w.patient, dc)
	w.contract = dc.ID()
	provB := w.register(identity.RoleProvider, 1) // granted, then revoked
	provC := w.register(identity.RoleProvider, 1) // never granted
	provE := w.register(identity.RoleProvider, 1) // grant expires
	provS := w.register(identity.RoleProvider, 1) // grant of another scope
	w.grant(provA, time.Now().Add(time.Hour), vital.Glucose)
	w.grant(provB, time.Now().Add(time.Hour), vital.Glucose)
	// Long enough to outlast the steps before the revoke, which rewraps
	// the new key to E, on a loaded machine.
	w.grant(provE, time.Now().Add(12*time.Second), vital.Glucose)
	w.grant(provS, time.Now().Add(time.Hour), vital.HeartRate)

	// The cloud, with its store behind a tampering layer.
	pst, err := pebblestore.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer pst.Close()
	st := &tamperStore{Store: pst, tamper: map[[32]byte]bool{}}
	tcl, err := testbed.StartCloud(ctx, testbed.CloudOptions{Key: w.cloudID, Store: st, Clients: w.clients, BlockRecords: 8})
	if err != nil {
		t.Fatal(err)
	}
	defer tcl.Close()
	cc := tcl.Client()

	// Upload 20 records, one of them twice.
	var recs [][]byte
	var ids [][32]byte
	for i := range 20 {
		r := w.seal(uint64(i+1), vital.Glucose, fmt.Sprintf("reading %d", i))
		b, _ := r.Marshal()
		recs = append(recs, b)
		ids = append(ids, r.ID())
	}
	acks, err := cc.Upload(ctx, append(recs, recs[3]))
	if err != nil {
		t.Fatal(err)
	}
	for i, a := range acks {
		if a.Code != "" {
			t.Fatalf("record %d refused: %s", i, a.Error)
		}
	}
	if !acks[20].Duplicate || acks[20].Index != acks[3].Index {
		t.Fatalf("duplicate upload: %+v vs %+v", acks[20], acks[3])
	}

	// Anchored: the ledger holds a checkpoint covering all 20.
	var anchored *ledger.AnchorRecord
	for {
		anchored, err = w.clients[2].Anchor(ctx, w.cloudID.ID(), ledger.LogRecords)
		if err == nil && anchored.Checkpoint.Size >= 20 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("records never anchored: %v %+v", err, anchored)
		case <-time.After(100 * time.Millisecond):
		}
	}

	// Provider A reads record 5, verifies the proof against the ledger's
	// checkpoint, unwraps the key from its envelope on the ledger, and decrypts.
	res, err := cc.Read(ctx, provA.Signing, ids[5])
	if err != nil {
		t.Fatal(err)
	}
	if !res.Anchored {
		t.Fatal("read of an anchored record says it is not anchored")
	}
	onChain, err := w.clients[1].AnchorAt(ctx, w.cloudID.ID(), ledger.LogRecords, res.Checkpoint.Size)
	if err != nil || onChain.Checkpoint != res.Checkpoint {
		t.Fatalf("the proof's checkpoint is not the ledger's: %v %+v %+v", err, onChain, res.Checkpoint)
	}
	if err := merklelog.VerifyInclusion(ids[5][:], res.Index, res.Checkpoint, res.Proof); err != nil {
		t.Fatalf("inclusion proof: %v", err)
	}
	got, err := record.ParseRecord(res.Record)
	if err != nil || got.ID() != ids[5] {
		t.Fatalf("served record: %v", err)
	}
	envB, err := w.clients[3].Envelope(ctx, w.patient.ID(), 1, provA.ID())
	if err != nil {
		t.Fatal(err)
	}
	env, _ := envelope.ParseEnvelope(envB)
	key, err := env.Unwrap(envelope.GrantContext(w.patient.ID(), provA.ID(), 1, identity.SuiteX25519), provA.Decryption, w.patient.Signing.Public())
	if err != nil {
		t.Fatal(err)
	}
	pt, err := got.Open(key)
	if err != nil || string(pt.Body) != "reading 5" {
		t.Fatalf("decrypt: %v %q", err, pt.Body)
	}
	// The patient reads its own record.
	if _, err := cc.Read(ctx, w.patient.Signing, ids[0]); err != nil {
		t.Fatalf("patient's own read: %v", err)
	}

	refused := func(name string, err error, code string) {
		t.Helper()
		var re *cloudapi.RequestError
		if !errors.As(err, &re) || re.Code != code {
			t.Errorf("%s: got %v, want refusal %q", name, err, code)
		}
	}
	_, err = cc.Read(ctx, provC.Signing, ids[1])
	refused("no grant", err, "no_grant")
	// A grant of another scope: the cloud serves the record (it does not
	// know the scope, the keys enforce it).
	if _, err = cc.Read(ctx, provS.Signing, ids[1]); err != nil {
		t.Errorf("a read out of the grant's scope: %v", err)
	}
	req, _ := cloudapi.NewRequest(provA.Signing, w.cloudID.ID(), cloudapi.OpRead, ids[2], 0, time.Now())
	if _, err := cc.ReadRaw(ctx, req); err != nil {
		t.Fatal(err)
	}
	_, err = cc.ReadRaw(ctx, req)
	refused("replayed", err, "replay")
	forged, _ := cloudapi.NewRequest(provC.Signing, w.cloudID.ID(), cloudapi.OpRead, ids[2], 0, time.Now())
	p, _ := cloudapi.ParseRequest(forged)
	p.Requester = provA.ID() // C claims to be A
	forgedB, _ := codecMarshal(p)
	_, err = cc.ReadRaw(ctx, forgedB)
	refused("forged", err, "bad_signature")
	stale, _ := cloudapi.NewRequest(provA.Signing, w.cloudID.ID(), cloudapi.OpRead, ids[2], 0, time.Now().Add(-10*time.Minute))
	_, err = cc.ReadRaw(ctx, stale)
	refused("stale", err, "stale")
	stranger, _ := identity.Generate(identity.RoleProvider, identity.SuiteX25519)
	_, err = cc.Read(ctx, stranger.Signing, ids[2])
	refused("unknown requester", err, "unknown_signer")

	// Revoke B: the very next read is refused.
	if _, err := cc.Read(ctx, provB.Signing, ids[7]); err != nil {
		t.Fatalf("B before revoke: %v", err)
	}
	key2, _ := envelope.NewSessionKey()
	self2, _ := envelope.SelfEnvelope(w.patient, 2, key2)
	self2B, _ := self2.Marshal()
	var rewraps []ledger.Rewrap
	for _, p := range sortedIDs(provA, provE, provS) {
		e, _ := envelope.GrantEnvelope(w.patient, p.Public(), 2, key2)
		b, _ := e.Marshal()
		keys, _ := envelope.SealScope(key2, w.patient.ID(), p.ID(), 2, []vital.Kind{vital.Glucose})
		rewraps = append(rewraps, ledger.Rewrap{Provider: p.ID(), Envelope: b, Keys: keys})
	}
	w.ok(w.patient, &ledger.Revoke{Provider: provB.ID(), NewEpoch: 2, SelfEnvelope: self2B, Rewraps: rewraps})
	_, err = cc.Read(ctx, provB.Signing, ids[7])
	refused("revoked", err, "revoked")

	// E's grant expires.
	time.Sleep(time.Until(time.UnixMilli(mustGrant(t, w, provE).Expiry)) + 100*time.Millisecond)
	_, err = cc.Read(ctx, provE.Signing, ids[8])
	refused("expired", err, "expired")

	// A tampered stored ciphertext is caught by the reader: the header's
	// ciphertext hash no longer matches, and a header rewritten to match
	// changes the record's ID, so the inclusion proof fails.
	st.mu.Lock()
	st.tamper[ids[9]] = true
	st.mu.Unlock()
	res, err = cc.Read(ctx, provA.Signing, ids[9])
	if err != nil {
		t.Fatal(err)
	}
	bad, err := record.ParseRecord(res.Record)
	if err == nil {
		_, err = bad.Verify(w.patient.Signing.Public())
	}
	if !errors.Is(err, record.ErrCiphertextHash) {
		t.Fatalf("tampered ciphertext: %v", err)
	}
	if bad != nil {
		forgedID := bad.ID() // what a rewritten header would hash to
		forgedID[0] ^= 1
		if err := merklelog.VerifyInclusion(forgedID[:], res.Index, res.Checkpoint, res.Proof); !errors.Is(err, merklelog.ErrProofMismatch) {
			t.Fatalf("proof of a rewritten record: %v", err)
		}
	}

	// The patient sees who read what, allowed or not.
	l, err := cc.AccessLog(ctx, w.patient.Signing, 0)
	if err != nil {
		t.Fatal(err)
	}
	entries := l.Entries
	seen := map[string]int{}
	for _, e := range entries {
		who := "?"
		switch e.Requester {
		case provA.ID():
			who = "A"
		case provB.ID():
			who = "B"
		case provC.ID():
			who = "C"
		case w.patient.ID():
			who = "P"
		}
		seen[fmt.Sprintf("%s/%v/%s", who, e.Allowed, e.Reason)]++
	}
	for _, want := range []string{"A/true/", "P/true/", "C/false/no_grant", "B/true/", "B/false/revoked"} {
		if seen[want] == 0 {
			t.Errorf("access log lacks %s: %v", want, seen)
		}
	}
	_, err = cc.AccessLog(ctx, provA.Signing, 0)
	refused("a provider's access-log request", err, "wrong_role")

	// The access log is anchored too.
	for {
		a, err := w.clients[0].Anchor(ctx, w.cloudID.ID(), ledger.LogAccess)
		if err == nil && a.Checkpoint.Size > entries[len(entries)-1].Index {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("access log never anchored")
		case <-time.After(100 * time.Millisecond):
		}
	}
	// And the patient's client verifies its whole trail against the
	// ledger's anchor: every entry in the log, the anchored ones under the
	// anchor, each attributed by its requester's signature.
	a, err := w.clients[0].Anchor(ctx, w.cloudID.ID(), ledger.LogAccess)
	if err != nil {
		t.Fatal(err)
	}
	keyOf := func(id identity.ID) (identity.VerifyingKey, error) {
		m, err := w.clients[0].Member(ctx, id)
		if err != nil {
			return identity.VerifyingKey{}, err
		}
		return m.VerifyingKey()
	}
	trail, err := cc.AuditTrail(ctx, w.patient.Signing, 0, a.Checkpoint, keyOf)
	if err != nil {
		t.Fatal(err)
	}
	if len(trail) <= len(entries) {
		t.Fatalf("the verified trail has %d entries, the first listing %d (and the trail adds its own listing)", len(trail), len(entries))
	}
	for i, v := range trail {
		if !v.Signed || (i < len(entries) && !v.Anchored) {
			t.Errorf("trail entry %d: signed %v, anchored %v (anchor at size %d)", v.Index, v.Signed, v.Anchored, a.Checkpoint.Size)
		}
	}
}

func mustGrant(t *testing.T, w *world, p *identity.Identity) *ledger.GrantRecord {
	t.Helper()
	g, err := w.clients[0].Grant(context.Background(), w.patient.ID(), p.ID())
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func sortedIDs(ids ...*identity.Identity) []*identity.Identity {
	for i := range ids {
		for j := i + 1; j < len(ids); j++ {
			a, b := ids[i].ID(), ids[j].ID()
			if bytes.Compare(b[:], a[:]) < 0 {
				ids[i], ids[j] = ids[j], ids[i]
			}
		}
	}
	return ids
}
