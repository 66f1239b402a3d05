package cloudapi

import (
	"bytes"
	"errors"
	"testing"

	"github.com/vitalchain/vitalchain/codec"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/merklelog"
)

// testTrail is an access log of n entries: entries at even positions are
// the patient's (reads by the provider), the odd ones another patient's.
type testTrail struct {
	log      *merklelog.Log
	entries  []AccessEntry
	patient  identity.ID
	provider *identity.SigningKey
	cloud    identity.ID
}

func newTestTrail(t testing.TB, n int) *testTrail {
	t.Helper()
	prov, err := identity.GenerateSigningKey(identity.RoleProvider)
	if err != nil {
		t.Fatal(err)
	}
	l, err := merklelog.Open(merklelog.NewMemStore())
	if err != nil {
		t.Fatal(err)
	}
	tr := &testTrail{log: l, patient: identity.ID{1}, provider: prov, cloud: identity.ID{4}}
	for i := range n {
		p := tr.patient
		if i%2 == 1 {
			p = identity.ID{2}
		}
		req, err := NewRequest(prov, tr.cloud, OpRead, [32]byte{byte(i)}, 0, testTime)
		if err != nil {
			t.Fatal(err)
		}
		e := AccessEntry{Index: uint64(i), Time: testTime.UnixMilli() + 1, Requester: prov.Public().ID(), Patient: p,
			Record: [32]byte{byte(i)}, Allowed: true, Op: AccessRead, Request: req}
		leaf, err := e.Leaf()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.AppendLeafHashes(leaf); err != nil {
			t.Fatal(err)
		}
		tr.entries = append(tr.entries, e)
	}
	return tr
}

// listing is the patient's listing at the log's current size, with
// anchored (a size) as the cloud's anchored checkpoint.
func (tr *testTrail) listing(t testing.TB, anchored uint64) *AccessListing {
	t.Helper()
	cp := tr.log.Checkpoint()
	l := &AccessListing{Checkpoint: cp, Anchored: tr.at(t, anchored)}
	for _, e := range tr.entries {
		if e.Patient != tr.patient {
			continue
		}
		p, err := tr.log.InclusionProof(e.Index, cp.Size)
		if err != nil {
			t.Fatal(err)
		}
		l.Entries, l.Proofs = append(l.Entries, e), append(l.Proofs, p)
	}
	if anchored > 0 && anchored < cp.Size {
		var err error
		if l.Consistency, err = tr.log.ConsistencyProof(anchored, cp.Size); err != nil {
			t.Fatal(err)
		}
	}
	return l
}

func (tr *testTrail) at(t testing.TB, size uint64) merklelog.Checkpoint {
	t.Helper()
	if size == 0 {
		return merklelog.Checkpoint{Root: merklelog.EmptyRoot()}
	}
	cp, err := tr.log.CheckpointAt(size)
	if err != nil {
		t.Fatal(err)
	}
	return cp
}

func (tr *testTrail) keyOf(id identity.ID) (identity.VerifyingKey, error) {
	if id != tr.provider.Public().ID() {
		return identity.VerifyingKey{}, errors.New("unknown")
	}
	return tr.provider.Public(), nil
}

// A listing verifies against the ledger's anchor wherever the anchor is:
// none, behind the listing's checkpoint (with the listing's own proof or
// another), at it, or ahead of it (with the proof the client fetches);
// and fails when the proof does not tie them.
func TestVerifyListingAnchors(t *testing.T) {
	tr := newTestTrail(t, 9)
	l := tr.listing(t, 5)
	p59, _ := tr.log.ConsistencyProof(5, 9)
	p39, _ := tr.log.ConsistencyProof(3, 9)
	for _, tc := range []struct {
		name     string
		anchor   uint64
		proof    merklelog.Proof
		anchored int // entries under the anchor
		ok       bool
	}{
		{"nothing anchored", 0, nil, 0, true},
		{"anchored behind, the listing's own proof", 5, nil, 3, true},
		{"anchored behind, a fetched proof", 3, p39, 2, true},
		{"anchored behind, no proof for it", 3, nil, 0, false},
		{"anchored behind, a proof of other sizes", 3, p59, 0, false},
		{"anchored at the checkpoint", 9, nil, 5, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vs, err := VerifyListing(l, ListingCheck{Patient: tr.patient, Cloud: tr.cloud, Anchor: tr.at(t, tc.anchor), AnchorProof: tc.proof, Key: tr.keyOf})
			if (err == nil) != tc.ok {
				t.Fatalf("VerifyListing: %v, want ok %v", err, tc.ok)
			}
			if err != nil {
				if !errors.Is(err, ErrBadListing) {
					t.Fatalf("%v is not ErrBadListing", err)
				}
				return
			}
			n := 0
			for _, v := range vs {
				if !v.Signed {
					t.Errorf("entry %d not signed", v.Index)
				}
				if v.Anchored {
					n++
				}
			}
			if len(vs) != 5 || n != tc.anchored {
				t.Fatalf("%d entries, %d anchored; want 5, %d", len(vs), n, tc.anchored)
			}
		})
	}
	// The anchor ahead of the listing: the proof from the listing to it.
	old := tr.listing(t, 0)
	for range 3 {
		leaf := merklelog.HashLeaf([]byte("later"))
		if _, err := tr.log.AppendLeafHashes(leaf); err != nil {
			t.Fatal(err)
		}
	}
	p912, _ := tr.log.ConsistencyProof(9, 12)
	c := ListingCheck{Patient: tr.patient, Cloud: tr.cloud, Anchor: tr.at(t, 12), AnchorProof: p912, Key: tr.keyOf}
	if vs, err := VerifyListing(old, c); err != nil || !vs[4].Anchored {
		t.Fatalf("the anchor ahead of the listing: %v", err)
	}
	c.AnchorProof = nil
	if _, err := VerifyListing(old, c); !errors.Is(err, ErrBadListing) {
		t.Fatalf("the anchor ahead of the listing, no proof: %v", err)
	}
}

// An entry logged without its request (before the cloud kept them)
// verifies as in the log, but not as signed; a request that is not the
// requester's, or without a key to check it, does not verify.
func TestVerifyListingRequests(t *testing.T) {
	tr := newTestTrail(t, 3)
	other, err := identity.GenerateSigningKey(identity.RoleProvider)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		change func(e *AccessEntry)
		key    func(identity.ID) (identity.VerifyingKey, error)
		signed bool
		ok     bool
	}{
		{"signed", func(*AccessEntry) {}, tr.keyOf, true, true},
		{"no request kept", func(e *AccessEntry) { e.Op, e.Request = "", nil }, tr.keyOf, false, true},
		{"no key lookup", func(*AccessEntry) {}, nil, false, false},
		{"the wrong key", func(*AccessEntry) {}, func(identity.ID) (identity.VerifyingKey, error) { return other.Public(), nil }, false, false},
		{"an alert logged as a read", func(e *AccessEntry) { e.Op = AccessAlert }, tr.keyOf, false, false},
		{"logged after the request expired", func(e *AccessEntry) { e.Time = testTime.Add(RequestLife).UnixMilli() + 1 }, tr.keyOf, false, false},
		{"garbage for a request", func(e *AccessEntry) { e.Request = []byte{0xff} }, tr.keyOf, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Relog the entry as changed, so that its proof is good.
			l, err := merklelog.Open(merklelog.NewMemStore())
			if err != nil {
				t.Fatal(err)
			}
			e := tr.entries[0]
			tc.change(&e)
			leaf, _ := e.Leaf()
			l.AppendLeafHashes(leaf)
			cp := l.Checkpoint()
			p, _ := l.InclusionProof(0, 1)
			lst := &AccessListing{Entries: []AccessEntry{e}, Proofs: []merklelog.Proof{p}, Checkpoint: cp}
			vs, err := VerifyListing(lst, ListingCheck{Patient: tr.patient, Cloud: tr.cloud, Anchor: cp, Key: tc.key})
			if (err == nil) != tc.ok {
				t.Fatalf("VerifyListing: %v, want ok %v", err, tc.ok)
			}
			if err == nil && vs[0].Signed != tc.signed {
				t.Fatalf("signed %v, want %v", vs[0].Signed, tc.signed)
			}
		})
	}
}

// Entries logged before AccessEntry gained its optional fields encode, and
// so hash, as they did: their leaves in existing logs still verify.
func TestAccessEntryEncodingUnchanged(t *testing.T) {
	e := AccessEntry{Index: 3, Time: 10, Requester: identity.ID{2}, Patient: identity.ID{1}, Record: [32]byte{5}, Reason: "no_grant"}
	type v1 struct {
		Index     uint64      `cbor:"1,keyasint"`
		Time      int64       `cbor:"2,keyasint"`
		Requester identity.ID `cbor:"3,keyasint"`
		Patient   identity.ID `cbor:"4,keyasint"`
		Record    [32]byte    `cbor:"5,keyasint"`
		Allowed   bool        `cbor:"6,keyasint"`
		Reason    string      `cbor:"7,keyasint"`
	}
	a, _ := codec.Marshal(&e)
	b, _ := codec.Marshal(&v1{3, 10, identity.ID{2}, identity.ID{1}, [32]byte{5}, false, "no_grant"})
	if !bytes.Equal(a, b) {
		t.Fatalf("an entry without the new fields encodes as %x, before as %x", a, b)
	}
}

func FuzzParseAccessListing(f *testing.F) {
	tr := newTestTrail(f, 5)
	for _, anchored := range []uint64{0, 2, 5} {
		b, err := codec.Marshal(tr.listing(f, anchored))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(b[:len(b)/2])
	}
	f.Add([]byte{0xa0})
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := ParseAccessListing(b)
		if err != nil {
			if !errors.Is(err, ErrBadListing) || l != nil {
				t.Fatalf("a refusal that is not ErrBadListing, or with a listing: %v", err)
			}
			return
		}
		if len(l.Entries) != len(l.Proofs) || len(l.Entries) > MaxListingEntries {
			t.Fatalf("accepted a listing of %d entries and %d proofs", len(l.Entries), len(l.Proofs))
		}
		// Whatever it says, verifying it never panics, and what verifies
		// is the patient's and in the checkpoint it names.
		vs, err := VerifyListing(l, ListingCheck{Patient: tr.patient, Cloud: tr.cloud, Anchor: l.Anchored, Key: tr.keyOf})
		if err != nil {
			return
		}
		for i, v := range vs {
			if v.Patient != tr.patient || v.Index >= l.Checkpoint.Size {
				t.Fatalf("verified entry %d: %+v", i, v)
			}
		}
	})
}
