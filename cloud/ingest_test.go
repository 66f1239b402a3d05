package cloud

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/vitalchain/vitalchain/cloud/cloudapi"
	"github.com/vitalchain/vitalchain/codec"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/ledger"
	"github.com/vitalchain/vitalchain/record"
	"github.com/vitalchain/vitalchain/vital"
)

func TestIngestStores(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	provider := e.member(identity.RoleProvider, 1)
	raw, id := e.record(vital.HeartRate)
	// A provider's record about the patient: no epoch, no contract.
	ph := record.Header{Patient: e.patient.ID(), Time: e.clock.Now().UnixMilli(), Seq: 1}
	praw, pid := e.sealBy(provider, ph)

	acks := e.ingest(raw, praw)
	want := map[[32]byte][]byte{id: raw, pid: praw}
	seen := map[uint64]bool{}
	for i, a := range acks {
		if a.Duplicate || a.Error != "" {
			t.Errorf("ack %d: %+v", i, a)
		}
		if seen[a.Index] || a.Index > 1 {
			t.Errorf("ack %d: index %d reused or out of range", i, a.Index)
		}
		seen[a.Index] = true
		r, err := e.st.Record(a.ID)
		if err != nil {
			t.Fatal(err)
		}
		if r.Index != a.Index || r.Patient != e.patient.ID() || !bytes.Equal(r.Bytes, want[a.ID]) || r.Received == 0 {
			t.Errorf("stored record %d: %+v", i, r)
		}
	}
	if acks[0].ID != id || acks[1].ID != pid {
		t.Fatalf("acks out of order: %x %x", acks[0].ID[:4], acks[1].ID[:4])
	}
	if n := e.size(LogRecords); n != 2 {
		t.Fatalf("log size %d", n)
	}
	if got := e.metric("vitalchain_cloud_records_accepted_total"); got != 2 {
		t.Errorf("accepted = %v", got)
	}
	if got := e.metric("vitalchain_cloud_log_size", "log", "records"); got != 2 {
		t.Errorf("log_size{records} = %v", got)
	}
}

func TestIngestDuplicates(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()

	t.Run("sequential", func(t *testing.T) {
		raw, _ := e.record(vital.Glucose)
		a := e.ingest(raw)[0]
		b := e.ingest(raw)[0]
		if a.Duplicate || !b.Duplicate || a.Index != b.Index || a.ID != b.ID {
			t.Fatalf("acks %+v then %+v", a, b)
		}
	})
	t.Run("one upload", func(t *testing.T) {
		raw, _ := e.record(vital.Glucose)
		acks := e.ingest(raw, raw, raw)
		dups := 0
		for _, a := range acks {
			if a.Index != acks[0].Index {
				t.Fatalf("acks %+v", acks)
			}
			if a.Duplicate {
				dups++
			}
		}
		if dups != 2 {
			t.Fatalf("%d duplicates in %+v", dups, acks)
		}
	})
	t.Run("concurrent", func(t *testing.T) {
		raw, _ := e.record(vital.Glucose)
		const n = 16
		acks := make([]cloudapi.Ack, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { acks[i] = e.svc.Ingest(ctx, [][]byte{raw})[0] })
		}
		wg.Wait()
		dups := 0
		for _, a := range acks {
			if a.Code != "" || a.Index != acks[0].Index {
				t.Fatalf("acks %+v", acks)
			}
			if a.Duplicate {
				dups++
			}
		}
		if dups != n-1 {
			t.Fatalf("%d duplicates of %d uploads", dups, n)
		}
	})
	if n := e.size(LogRecords); n != 3 {
		t.Fatalf("log size %d, want 3 (each record once)", n)
	}
	if got := e.metric("vitalchain_cloud_records_duplicate_total"); got != 1+2+15 {
		t.Errorf("duplicates = %v, want 18", got)
	}
	if got := e.metric("vitalchain_cloud_records_accepted_total"); got != 3 {
		t.Errorf("accepted = %v, want 3", got)
	}
}

// Each refusal has its code, its sentinel and its metric, and stores
// nothing.
func TestIngestRefusals(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	good, _ := e.record(vital.Glucose)
	provider := e.member(identity.RoleProvider, 1)
	device := e.member(identity.RoleDevice, 1)
	other := e.member(identity.RolePatient, 1)
	stranger, err := identity.Generate(identity.RolePatient, identity.SuiteX25519)
	if err != nil {
		t.Fatal(err)
	}
	far := e.member(identity.RolePatient, 2)
	e.led.setEpoch(far.ID(), 1)

	flip := func(b []byte, i int) []byte {
		b = bytes.Clone(b)
		b[i] ^= 0x01
		return b
	}
	tamperCiphertext := func(raw []byte) []byte {
		r, err := record.ParseRecord(raw)
		if err != nil {
			t.Fatal(err)
		}
		r2 := record.Record{HeaderBytes: r.HeaderBytes, Ciphertext: flip(r.Ciphertext, 3), Signature: r.Signature}
		b, _ := r2.Marshal()
		return b
	}
	id := func(raw []byte) *[32]byte {
		r, err := record.ParseRecord(raw)
		if err != nil {
			return nil
		}
		x := r.ID()
		return &x
	}
	strangerRec, _ := e.sealBy(stranger, func() record.Header { h := e.header(); h.Patient = stranger.ID(); return h }())
	farRec, _ := e.sealBy(far, func() record.Header { h := e.header(); h.Patient = far.ID(); return h }())
	deviceRec, _ := e.resign(good, device.Signing, func(h *record.Header) { h.Author = device.ID() })
	cloudRec, _ := e.resign(good, e.cloud.Signing, func(h *record.Header) { h.Author = e.cloud.ID() })
	mismatch, _ := e.resign(good, e.patient.Signing, func(h *record.Header) { h.Patient = other.ID() })
	forged, _ := e.resign(good, other.Signing, func(*record.Header) {}) // names the patient as author
	provForOther, _ := e.sealBy(provider, record.Header{Patient: device.ID(), Time: e.clock.Now().UnixMilli(), Seq: 1})
	provWithEpoch, _ := e.resign(good, provider.Signing, func(h *record.Header) { h.Author = provider.ID() })
	future, _ := e.sealBy(e.patient, func() record.Header {
		h := e.header()
		h.Time = e.clock.Now().Add(time.Hour).UnixMilli()
		return h
	}())
	ahead, _ := e.sealBy(e.patient, func() record.Header { h := e.header(); h.Epoch = 2; return h }())
	badVersion, _ := e.resign(good, e.patient.Signing, func(h *record.Header) { h.Version = 1 }) // the format that named the vital sign

	dupKey := bytes.Clone(good)
	dupKey[0]++                               // a map of one more pair...
	dupKey = append(dupKey, 0x01, 0x41, 0x00) // ...key 1 again
	for _, tc := range []struct {
		name  string
		raw   []byte
		code  string
		err   error
		cause error // the underlying error, if any
	}{
		{"empty", []byte{}, "malformed", ErrMalformed, codec.ErrMalformed},
		{"not cbor", []byte("not a record at all"), "malformed", ErrMalformed, nil},
		{"wrong type", []byte{0x83, 0x01, 0x02, 0x03}, "malformed", ErrMalformed, codec.ErrWrongType},
		{"truncated", good[:len(good)-7], "malformed", ErrMalformed, codec.ErrTruncated},
		{"trailing data", append(bytes.Clone(good), 0x00), "malformed", ErrMalformed, codec.ErrTrailingData},
		{"duplicate key", dupKey, "malformed", ErrMalformed, codec.ErrDuplicateKey},
		{"unknown header version", badVersion, "malformed", ErrMalformed, codec.ErrUnknownVersion},
		{"oversize", make([]byte, record.MaxRecordSize+1), "too_large", ErrTooLarge, nil},
		{"unknown author", strangerRec, "unknown_signer", ErrUnknownSigner, nil},
		{"device author", deviceRec, "wrong_role", ErrWrongRole, nil},
		{"cloud author", cloudRec, "wrong_role", ErrWrongRole, nil},
		{"bad signature", flip(good, len(good)-10), "bad_signature", ErrBadSignature, identity.ErrBadSignature},
		{"signed by another key", forged, "bad_signature", ErrBadSignature, identity.ErrBadSignature},
		{"tampered ciphertext", tamperCiphertext(good), "bad_header", ErrBadHeader, record.ErrCiphertextHash},
		{"author mismatch", mismatch, "bad_header", ErrBadHeader, record.ErrAuthorMismatch},
		{"provider record with an epoch", provWithEpoch, "bad_header", ErrBadHeader, record.ErrInvalidHeader},
		{"provider record of a non-patient", provForOther, "bad_header", ErrBadHeader, nil},
		{"wrong cluster", farRec, "wrong_cluster", ErrWrongCluster, nil},
		{"future time", future, "bad_header", ErrBadHeader, nil},
		{"epoch ahead", ahead, "bad_header", ErrBadHeader, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := e.svc.check(context.Background(), tc.raw)
			if !errors.Is(err, tc.err) {
				t.Errorf("check: %v, want %v", err, tc.err)
			}
			if tc.cause != nil && !errors.Is(err, tc.cause) {
				t.Errorf("check: %v, want it caused by %v", err, tc.cause)
			}
			before := e.metric("vitalchain_cloud_records_refused_total", "reason", tc.code)
			size := e.size(LogRecords)
			a := e.svc.Ingest(context.Background(), [][]byte{tc.raw})[0]
			if a.Code != tc.code || a.Error == "" || a.Duplicate {
				t.Errorf("ack %+v, want code %s", a, tc.code)
			}
			if got := e.metric("vitalchain_cloud_records_refused_total", "reason", tc.code); got != before+1 {
				t.Errorf("refused{%s} went from %v to %v", tc.code, before, got)
			}
			if n := e.size(LogRecords); n != size {
				t.Errorf("log grew from %d to %d", size, n)
			}
			if x := id(tc.raw); x != nil {
				if a.ID != *x {
					t.Errorf("ack ID %x, want the record's %x", a.ID[:4], x[:4])
				}
				if _, err := e.st.Record(*x); !errors.Is(err, ErrNotFound) {
					t.Errorf("refused record is stored: %v", err)
				}
			}
		})
	}
	if got := e.metric("vitalchain_cloud_records_accepted_total"); got != 0 {
		t.Errorf("accepted = %v", got)
	}
	// The good record is still accepted.
	e.ingest(good)
}

// The ledger down: uploads are refused as unavailable (and can be retried).
func TestIngestLedgerDown(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	raw, id := e.record(vital.Glucose)
	e.led.set(func(l *fakeLedger) { l.queryErr = errLedgerDown })
	if err := e.svc.check(context.Background(), raw); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("check: %v", err)
	}
	if a := e.svc.Ingest(context.Background(), [][]byte{raw})[0]; a.Code != "unavailable" || a.ID != id {
		t.Fatalf("ack %+v", a)
	}
	e.led.set(func(l *fakeLedger) { l.queryErr = nil })
	e.ingest(raw)
}

// Epochs: a record of the current epoch or an earlier one is accepted; a
// record of an epoch the ledger starts later is accepted once it does.
func TestIngestEpochs(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	seal := func(epoch uint64) []byte {
		h := e.header()
		h.Epoch = epoch
		raw, _ := e.sealBy(e.patient, h)
		return raw
	}
	e.led.setEpoch(e.patient.ID(), 3)
	e.ingest(seal(3), seal(1))
	three := seal(4)
	if a := e.svc.Ingest(context.Background(), [][]byte{three})[0]; a.Code != "bad_header" {
		t.Fatalf("epoch 4 of 3: %+v", a)
	}
	e.led.setEpoch(e.patient.ID(), 4)
	e.ingest(three)
}

// An upload whose context ends before the commit is not acknowledged.
func TestIngestContextCanceled(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	raw, _ := e.record(vital.Glucose)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	a := e.svc.Ingest(ctx, [][]byte{raw})[0]
	if a.Code == "" {
		// The commit may have won the race; then it is durable.
		if _, err := e.st.Record(a.ID); err != nil {
			t.Fatalf("acknowledged but not stored: %v", err)
		}
		return
	}
	if a.Code != "unavailable" {
		t.Fatalf("ack %+v", a)
	}
}

// grant is a helper for read tests: an active grant for an hour (kinds,
// its scope, are the keys', which the cloud does not see).
func (e *testEnv) grant(provider *identity.Identity, kinds ...vital.Kind) *ledger.GrantRecord {
	g := &ledger.GrantRecord{Expiry: e.clock.Now().Add(time.Hour).UnixMilli(), Epoch: 1, Height: 1}
	e.led.setGrant(e.patient.ID(), provider.ID(), g)
	return g
}

// check verifies one uploaded record as Ingest does, without storing it.
func (s *Service) check(ctx context.Context, raw []byte) error {
	_, errs := s.checkBatch(ctx, [][]byte{raw}, &authorBudget{seen: map[identity.ID]bool{}})
	return errs[0]
}

// A large upload mixing good and bad records (batches of verifyBatch
// signatures, some failing): each record gets its own answer, in order.
func TestIngestMixedBatch(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const n = verifyBatch + 30
	raws := make([][]byte, n)
	bad := map[int]string{}
	for i := range raws {
		raws[i], _ = e.record(vital.Glucose)
		switch {
		case i%7 == 3:
			raws[i][len(raws[i])-10] ^= 1
			bad[i] = "bad_signature"
		case i%11 == 5:
			raws[i] = raws[i][:len(raws[i])/2]
			bad[i] = "malformed"
		}
	}
	acks := e.svc.Ingest(context.Background(), raws)
	seen := map[uint64]bool{}
	for i, a := range acks {
		if a.Code != bad[i] {
			t.Fatalf("record %d: %+v, want code %q", i, a, bad[i])
		}
		if a.Code == "" {
			if seen[a.Index] {
				t.Fatalf("index %d acknowledged twice", a.Index)
			}
			seen[a.Index] = true
			if r, err := e.st.Record(a.ID); err != nil || r.Index != a.Index || !bytes.Equal(r.Bytes, raws[i]) {
				t.Fatalf("record %d: stored %v", i, err)
			}
		}
	}
	if got := e.size(LogRecords); got != uint64(n-len(bad)) {
		t.Fatalf("stored %d, want %d", got, n-len(bad))
	}
}

// Custody follows the home cluster, not the overlay: a patient who
// migrated away still uploads to its home cluster's cloud, and a patient
// who migrated into the cloud's cluster does not.
func TestIngestAfterMigration(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	visitor := e.member(identity.RolePatient, 2)
	e.led.mu.Lock()
	e.led.members[e.patient.ID()].Cluster = 4 // home 1, now in cluster 4
	e.led.members[visitor.ID()].Cluster = 1   // home 2, now in cluster 1
	e.led.mu.Unlock()
	away, _ := e.sealBy(e.patient, e.header())
	if a := e.svc.Ingest(context.Background(), [][]byte{away})[0]; a.Code != "" {
		t.Fatalf("a migrated patient's record refused: %+v", a)
	}
	here, _ := e.sealBy(visitor, func() record.Header { h := e.header(); h.Patient = visitor.ID(); return h }())
	if a := e.svc.Ingest(context.Background(), [][]byte{here})[0]; a.Code != "wrong_cluster" {
		t.Fatalf("a visiting patient's record: %+v", a)
	}
}
