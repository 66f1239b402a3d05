package storetest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"

	"github.com/transparency-dev/merkle/compact"

	"github.com/vitalchain/vitalchain/cloud"
	"github.com/vitalchain/vitalchain/cloud/cloudapi"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/merklelog"
)

// Run runs the conformance suite on the stores open returns, one per
// subtest. open must return a new, empty store, and fail t if it cannot;
// Run closes the store when the subtest ends.
func Run(t *testing.T, open func(t *testing.T) cloud.Store) {
	t.Helper()
	for _, tc := range []struct {
		name string
		test func(*testing.T, cloud.Store)
	}{
		{"Empty", testEmpty},
		{"Records", testRecords},
		{"RecordsFrom", testRecordsFrom},
		{"Access", testAccess},
		{"Conflict", testConflict},
		{"Copies", testCopies},
		{"MerkleLog", testMerkleLog},
		{"Concurrent", testConcurrent},
		{"Nonces", testNonces},
		{"Erase", testErase},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := open(t)
			defer func() {
				if err := st.Close(); err != nil {
					t.Errorf("close: %v", err)
				}
			}()
			tc.test(t, st)
		})
	}
}

var (
	patient   = identity.ID{1}
	other     = identity.ID{2}
	requester = identity.ID{3}
	stranger  = identity.ID{9}
)

// recordID is the ID of the test record number i.
func recordID(i uint64) [32]byte {
	var id [32]byte
	id[0] = 0x5e
	binary.BigEndian.PutUint64(id[1:], i)
	return id
}

// newRecord is the test record number i, of patient p, at position i.
func newRecord(i uint64, p identity.ID) cloud.StoredRecord {
	return cloud.StoredRecord{ID: recordID(i), Index: i, Patient: p,
		Received: 1_700_000_000_000 + int64(i), Bytes: fmt.Appendf(nil, "record %d", i)}
}

// tree computes the Merkle nodes of a log's appends, as the Service's
// merklelog.Log does, so that appends bring the nodes of a real tree.
type tree struct {
	log   *merklelog.Log
	nodes *captureStore
}

// captureStore keeps the nodes of the last PutNodes.
type captureStore struct {
	*merklelog.MemStore
	last []merklelog.Node
}

func (c *captureStore) PutNodes(oldSize, newSize uint64, nodes []merklelog.Node) error {
	c.last = slices.Clone(nodes)
	return c.MemStore.PutNodes(oldSize, newSize, nodes)
}

func newTree() *tree {
	c := &captureStore{MemStore: merklelog.NewMemStore()}
	l, err := merklelog.Open(c)
	if err != nil {
		panic(err) // an empty MemStore
	}
	return &tree{log: l, nodes: c}
}

// add appends leaves and returns the nodes that the append brings.
func (tr *tree) add(leaves ...[merklelog.HashSize]byte) []merklelog.Node {
	if _, err := tr.log.AppendLeafHashes(leaves...); err != nil {
		panic(err) // a MemStore in step with the tree
	}
	return tr.nodes.last
}

// node returns the tree's hash of a node.
func (tr *tree) node(id compact.NodeID) [merklelog.HashSize]byte {
	hs, err := tr.nodes.GetNodes([]compact.NodeID{id})
	if err != nil {
		panic(err)
	}
	return hs[0]
}

// writer appends to a store's two logs. Each log may be written by one
// goroutine at a time, as the Service does.
type writer struct {
	st         cloud.Store
	recs, acc  *tree
	nrec, nacc uint64
	all        []merklelog.Node // every node of the records log
}

func newWriter(st cloud.Store) *writer {
	return &writer{st: st, recs: newTree(), acc: newTree()}
}

// appendRecords appends n new records of patient p.
func (w *writer) appendRecords(n int, p identity.ID) ([]cloud.StoredRecord, error) {
	recs := make([]cloud.StoredRecord, n)
	leaves := make([][merklelog.HashSize]byte, n)
	for i := range recs {
		recs[i] = newRecord(w.nrec+uint64(i), p)
		leaves[i] = merklelog.HashLeaf(recs[i].ID[:])
	}
	nodes := w.recs.add(leaves...)
	if err := w.st.AppendRecords(w.nrec, w.nrec+uint64(n), recs, nodes); err != nil {
		return nil, fmt.Errorf("append %d records at %d: %w", n, w.nrec, err)
	}
	w.nrec += uint64(n)
	w.all = append(w.all, nodes...)
	return recs, nil
}

// appendAccess appends entries, numbering them.
func (w *writer) appendAccess(entries ...cloudapi.AccessEntry) ([]cloudapi.AccessEntry, error) {
	entries = slices.Clone(entries)
	leaves := make([][merklelog.HashSize]byte, len(entries))
	for i := range entries {
		entries[i].Index = w.nacc + uint64(i)
		leaves[i] = merklelog.HashLeaf(binary.BigEndian.AppendUint64([]byte("access"), entries[i].Index))
	}
	nodes := w.acc.add(leaves...)
	if err := w.st.AppendAccess(w.nacc, w.nacc+uint64(len(entries)), entries, nodes); err != nil {
		return nil, fmt.Errorf("append %d access entries at %d: %w", len(entries), w.nacc, err)
	}
	w.nacc += uint64(len(entries))
	return entries, nil
}

func must[T any](t *testing.T) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func checkSizes(t *testing.T, st cloud.Store, records, access uint64) {
	t.Helper()
	for _, c := range []struct {
		log  uint8
		want uint64
	}{{cloud.LogRecords, records}, {cloud.LogAccess, access}} {
		if n, err := st.Size(c.log); err != nil || n != c.want {
			t.Errorf("Size(%d) = %d, %v; want %d", c.log, n, err, c.want)
		}
	}
}

func indices[T any](xs []T, index func(T) uint64) []uint64 {
	out := []uint64{}
	for _, x := range xs {
		out = append(out, index(x))
	}
	return out
}

// An empty store has empty logs and holds nothing.
func testEmpty(t *testing.T, st cloud.Store) {
	checkSizes(t, st, 0, 0)
	for _, log := range []uint8{cloud.LogRecords, cloud.LogAccess} {
		if _, err := st.GetNodes(log, []compact.NodeID{compact.NewNodeID(0, 0)}); !errors.Is(err, merklelog.ErrNotFound) {
			t.Errorf("GetNodes(%d) of an empty log: %v, want merklelog.ErrNotFound", log, err)
		}
	}
	if r, err := st.Record(recordID(0)); !errors.Is(err, cloud.ErrNotFound) {
		t.Errorf("Record of an empty store: %+v, %v; want cloud.ErrNotFound", r, err)
	}
	if rs, err := st.RecordsFrom(0, 10); err != nil || len(rs) != 0 {
		t.Errorf("RecordsFrom(0, 10) of an empty store: %+v, %v", rs, err)
	}
	if es, err := st.Access(patient, 0, 10); err != nil || len(es) != 0 {
		t.Errorf("Access of an empty store: %+v, %v", es, err)
	}
}

// Records and the records log's nodes go in with its size; the access log
// is apart.
func testRecords(t *testing.T, st cloud.Store) {
	w := newWriter(st)
	stored := must[[]cloud.StoredRecord](t)(w.appendRecords(2, patient))
	stored = append(stored, must[[]cloud.StoredRecord](t)(w.appendRecords(1, other))...)
	checkSizes(t, st, 3, 0)

	for _, want := range stored {
		got, err := st.Record(want.ID)
		if err != nil || !reflect.DeepEqual(*got, want) {
			t.Errorf("Record(%x) = %+v, %v; want %+v", want.ID[:8], got, err, want)
		}
	}
	if _, err := st.Record(recordID(3)); !errors.Is(err, cloud.ErrNotFound) {
		t.Errorf("Record of an absent record: %v, want cloud.ErrNotFound", err)
	}

	// Every node, asked for in any order.
	var ids []compact.NodeID
	var want [][merklelog.HashSize]byte
	for _, n := range w.all {
		ids, want = append(ids, n.ID), append(want, n.Hash)
	}
	slices.Reverse(ids)
	slices.Reverse(want)
	if hs, err := st.GetNodes(cloud.LogRecords, ids); err != nil || !slices.Equal(hs, want) {
		t.Errorf("GetNodes(%v) = %x, %v; want %x", ids, hs, err, want)
	}
	for _, c := range []struct {
		name string
		log  uint8
		ids  []compact.NodeID
	}{
		{"a leaf past the end", cloud.LogRecords, []compact.NodeID{compact.NewNodeID(0, 3)}},
		{"a stored node and an absent one", cloud.LogRecords, []compact.NodeID{compact.NewNodeID(0, 0), compact.NewNodeID(1, 1)}},
		{"a node of the other log", cloud.LogAccess, []compact.NodeID{compact.NewNodeID(0, 0)}},
	} {
		if hs, err := st.GetNodes(c.log, c.ids); !errors.Is(err, merklelog.ErrNotFound) {
			t.Errorf("GetNodes, %s: %x, %v; want merklelog.ErrNotFound", c.name, hs, err)
		}
	}
}

// RecordsFrom lists the records log in order, from a position, at most limit.
func testRecordsFrom(t *testing.T, st cloud.Store) {
	w := newWriter(st)
	stored := must[[]cloud.StoredRecord](t)(w.appendRecords(2, patient))
	stored = append(stored, must[[]cloud.StoredRecord](t)(w.appendRecords(3, other))...)
	for _, c := range []struct {
		from  uint64
		limit int
		want  []uint64
	}{
		{0, 10, []uint64{0, 1, 2, 3, 4}},
		{0, 5, []uint64{0, 1, 2, 3, 4}},
		{2, 10, []uint64{2, 3, 4}},
		{1, 2, []uint64{1, 2}},
		{4, 10, []uint64{4}},
		{5, 10, []uint64{}},
		{9, 10, []uint64{}},
		{0, 0, []uint64{}},
	} {
		rs, err := st.RecordsFrom(c.from, c.limit)
		if err != nil {
			t.Errorf("RecordsFrom(%d, %d): %v", c.from, c.limit, err)
			continue
		}
		if got := indices(rs, func(r cloud.StoredRecord) uint64 { return r.Index }); !slices.Equal(got, c.want) {
			t.Errorf("RecordsFrom(%d, %d) gives records %v, want %v", c.from, c.limit, got, c.want)
			continue
		}
		for _, r := range rs {
			if !reflect.DeepEqual(r, stored[r.Index]) {
				t.Errorf("RecordsFrom(%d, %d): record %d is %+v, want %+v", c.from, c.limit, r.Index, r, stored[r.Index])
			}
		}
	}
}

// Access lists a patient's entries of the access log in order, from an
// index of the log, at most limit.
func testAccess(t *testing.T, st cloud.Store) {
	w := newWriter(st)
	entries := must[[]cloudapi.AccessEntry](t)(w.appendAccess(
		cloudapi.AccessEntry{Time: 10, Requester: requester, Patient: patient, Record: recordID(0), Allowed: true},
		cloudapi.AccessEntry{Time: 11, Requester: requester, Patient: other, Record: recordID(1), Reason: "no_grant"},
		cloudapi.AccessEntry{Time: 12, Requester: patient, Patient: patient, Record: recordID(2), Allowed: true,
			Op: cloudapi.AccessAlert, Request: []byte("a signed request")},
	))
	entries = append(entries, must[[]cloudapi.AccessEntry](t)(w.appendAccess(
		cloudapi.AccessEntry{Time: 13, Requester: other, Patient: other, Record: recordID(1), Allowed: true},
		cloudapi.AccessEntry{Time: 14, Requester: requester, Patient: patient, Record: recordID(0), Reason: "expired"},
		cloudapi.AccessEntry{Time: 15, Requester: patient, Patient: patient, Allowed: true, Op: cloudapi.AccessErase,
			Request: []byte("another signed request"), Erased: 7},
	))...)
	checkSizes(t, st, 0, 6)
	for _, c := range []struct {
		who   identity.ID
		from  uint64
		limit int
		want  []uint64
	}{
		{patient, 0, 10, []uint64{0, 2, 4, 5}},
		{patient, 1, 10, []uint64{2, 4, 5}},
		{patient, 2, 10, []uint64{2, 4, 5}},
		{patient, 3, 10, []uint64{4, 5}},
		{patient, 6, 10, []uint64{}},
		{patient, 0, 2, []uint64{0, 2}},
		{patient, 0, 0, []uint64{}},
		{other, 0, 10, []uint64{1, 3}},
		{requester, 0, 10, []uint64{}}, // the requester of reads, not the patient
		{stranger, 0, 10, []uint64{}},
	} {
		es, err := st.Access(c.who, c.from, c.limit)
		if err != nil {
			t.Errorf("Access(%x, %d, %d): %v", c.who[:1], c.from, c.limit, err)
			continue
		}
		if got := indices(es, func(e cloudapi.AccessEntry) uint64 { return e.Index }); !slices.Equal(got, c.want) {
			t.Errorf("Access(%x, %d, %d) gives entries %v, want %v", c.who[:1], c.from, c.limit, got, c.want)
			continue
		}
		for _, e := range es {
			if !reflect.DeepEqual(e, entries[e.Index]) {
				t.Errorf("Access(%x, %d, %d): entry %d is %+v, want %+v", c.who[:1], c.from, c.limit, e.Index, e, entries[e.Index])
			}
		}
	}
	if _, err := st.GetNodes(cloud.LogAccess, []compact.NodeID{compact.NewNodeID(2, 0)}); err != nil {
		t.Errorf("a node of the access log: %v", err)
	}
}

// An append at a size other than the log's fails with
// merklelog.ErrConflict and stores nothing: no row, no node, no size.
func testConflict(t *testing.T, st cloud.Store) {
	w := newWriter(st)
	must[[]cloud.StoredRecord](t)(w.appendRecords(2, patient))
	must[[]cloudapi.AccessEntry](t)(w.appendAccess(cloudapi.AccessEntry{Requester: requester, Patient: patient}))
	bad := [merklelog.HashSize]byte{0xff}
	for _, c := range []struct {
		name    string
		log     uint8
		oldSize uint64
	}{
		{"records at 0 of 2", cloud.LogRecords, 0},
		{"records at 1 of 2", cloud.LogRecords, 1},
		{"records at 3 of 2", cloud.LogRecords, 3},
		{"access at 0 of 1", cloud.LogAccess, 0},
		{"access at 2 of 1", cloud.LogAccess, 2},
	} {
		nodes := []merklelog.Node{{ID: compact.NewNodeID(0, c.oldSize), Hash: bad}}
		var err error
		if c.log == cloud.LogRecords {
			err = st.AppendRecords(c.oldSize, c.oldSize+1, []cloud.StoredRecord{newRecord(100+c.oldSize, stranger)}, nodes)
		} else {
			e := cloudapi.AccessEntry{Index: c.oldSize, Requester: requester, Patient: stranger}
			err = st.AppendAccess(c.oldSize, c.oldSize+1, []cloudapi.AccessEntry{e}, nodes)
		}
		if !errors.Is(err, merklelog.ErrConflict) {
			t.Errorf("append %s: %v, want merklelog.ErrConflict", c.name, err)
		}
		checkSizes(t, st, 2, 1)
		if _, err := st.Record(recordID(100 + c.oldSize)); !errors.Is(err, cloud.ErrNotFound) {
			t.Errorf("append %s stored its record: %v", c.name, err)
		}
		if es, err := st.Access(stranger, 0, 10); err != nil || len(es) != 0 {
			t.Errorf("append %s stored its access entry: %+v, %v", c.name, es, err)
		}
		// The node the append brought, if stored, is the log's own.
		tr, size := w.recs, uint64(2)
		if c.log == cloud.LogAccess {
			tr, size = w.acc, 1
		}
		id := compact.NewNodeID(0, c.oldSize)
		hs, err := st.GetNodes(c.log, []compact.NodeID{id})
		switch {
		case c.oldSize >= size && !errors.Is(err, merklelog.ErrNotFound):
			t.Errorf("append %s stored node %v: %x, %v", c.name, id, hs, err)
		case c.oldSize < size && (err != nil || hs[0] != tr.node(id)):
			t.Errorf("append %s: node %v is %x, %v; want %x", c.name, id, hs, err, tr.node(id))
		}
	}
	// The logs go on from where they were.
	must[[]cloud.StoredRecord](t)(w.appendRecords(1, patient))
	must[[]cloudapi.AccessEntry](t)(w.appendAccess(cloudapi.AccessEntry{Requester: requester, Patient: patient}))
	checkSizes(t, st, 3, 2)
}

// The store keeps copies of what it is given and hands out copies of what
// it holds.
func testCopies(t *testing.T, st cloud.Store) {
	rec := newRecord(0, patient)
	want := rec
	want.Bytes = slices.Clone(rec.Bytes)
	nodes := newTree().add(merklelog.HashLeaf(rec.ID[:]))
	if err := st.AppendRecords(0, 1, []cloud.StoredRecord{rec}, nodes); err != nil {
		t.Fatal(err)
	}
	rec.Bytes[0] ^= 0xff // the caller reuses its buffer
	nodes[0].Hash[0] ^= 0xff
	check := func(after string) {
		t.Helper()
		got, err := st.Record(rec.ID)
		if err != nil || !reflect.DeepEqual(*got, want) {
			t.Fatalf("Record after %s: %+v, %v; want %+v", after, got, err, want)
		}
		hs, err := st.GetNodes(cloud.LogRecords, []compact.NodeID{compact.NewNodeID(0, 0)})
		if err != nil || hs[0] != merklelog.HashLeaf(rec.ID[:]) {
			t.Fatalf("node after %s: %x, %v", after, hs, err)
		}
	}
	check("the caller changed what it appended")

	got, err := st.Record(rec.ID)
	if err != nil {
		t.Fatal(err)
	}
	got.Bytes[0] ^= 0xff
	check("the caller changed what Record returned")
	rs, err := st.RecordsFrom(0, 1)
	if err != nil || len(rs) != 1 {
		t.Fatalf("RecordsFrom: %+v, %v", rs, err)
	}
	rs[0].Bytes[0] ^= 0xff
	check("the caller changed what RecordsFrom returned")
	hs, err := st.GetNodes(cloud.LogRecords, []compact.NodeID{compact.NewNodeID(0, 0)})
	if err != nil {
		t.Fatal(err)
	}
	hs[0][0] ^= 0xff
	check("the caller changed what GetNodes returned")
}

// The store, as a merklelog.Store, keeps the log the Service builds: a log
// reopened from it has the same checkpoint and proves every record.
func testMerkleLog(t *testing.T, st cloud.Store) {
	ls := &RecordsLog{Store: st}
	log, err := merklelog.Open(ls)
	if err != nil {
		t.Fatal(err)
	}
	var n uint64
	for _, batch := range []int{1, 2, 3, 5, 8, 13} {
		ls.Recs = nil
		var leaves [][merklelog.HashSize]byte
		for range batch {
			r := newRecord(n, patient)
			ls.Recs = append(ls.Recs, r)
			leaves = append(leaves, merklelog.HashLeaf(r.ID[:]))
			n++
		}
		if _, err := log.AppendLeafHashes(leaves...); err != nil {
			t.Fatal(err)
		}
	}
	cp := log.Checkpoint()
	reopened, err := merklelog.Open(&RecordsLog{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	if got := reopened.Checkpoint(); got != cp || got.Size != n {
		t.Fatalf("reopened log's checkpoint %+v, want %+v of size %d", got, cp, n)
	}
	for i := range n {
		p, err := reopened.InclusionProof(i, n)
		if err != nil {
			t.Fatalf("inclusion proof of %d: %v", i, err)
		}
		id := recordID(i)
		if err := merklelog.VerifyInclusion(id[:], i, cp, p); err != nil {
			t.Fatalf("inclusion proof of %d: %v", i, err)
		}
	}
	for _, old := range []uint64{1, 3, 6, 11, 19} {
		oldCP, err := reopened.CheckpointAt(old)
		if err != nil {
			t.Fatal(err)
		}
		p, err := reopened.ConsistencyProof(old, n)
		if err != nil {
			t.Fatalf("consistency proof from %d: %v", old, err)
		}
		if err := merklelog.VerifyConsistency(oldCP, cp, p); err != nil {
			t.Fatalf("consistency proof from %d: %v", old, err)
		}
	}
}

// RecordsLog is the records log of a Store as a merklelog.Store: PutNodes
// commits Recs with the nodes, as the cloud's Service does. Drivers' own
// tests use it to build a log on their store.
type RecordsLog struct {
	Store cloud.Store
	Recs  []cloud.StoredRecord // the rows the next PutNodes appends
}

// Size implements merklelog.Store.
func (l *RecordsLog) Size() (uint64, error) { return l.Store.Size(cloud.LogRecords) }

// GetNodes implements merklelog.Store.
func (l *RecordsLog) GetNodes(ids []compact.NodeID) ([][merklelog.HashSize]byte, error) {
	return l.Store.GetNodes(cloud.LogRecords, ids)
}

// PutNodes implements merklelog.Store.
func (l *RecordsLog) PutNodes(oldSize, newSize uint64, nodes []merklelog.Node) error {
	return l.Store.AppendRecords(oldSize, newSize, l.Recs, nodes)
}

// Readers running while the two logs are appended to, each by one
// goroutine, see every append whole: once Size gives a log's new size, its
// rows and nodes are there.
func testConcurrent(t *testing.T, st cloud.Store) {
	const appends = 20
	w := newWriter(st)
	var writers, readers sync.WaitGroup
	done := make(chan struct{})
	writers.Go(func() {
		for range appends {
			if _, err := w.appendRecords(3, patient); err != nil {
				t.Error(err)
				return
			}
		}
	})
	writers.Go(func() {
		for range appends {
			if _, err := w.appendAccess(
				cloudapi.AccessEntry{Requester: requester, Patient: patient, Allowed: true},
				cloudapi.AccessEntry{Requester: requester, Patient: other, Reason: "no_grant"},
			); err != nil {
				t.Error(err)
				return
			}
		}
	})
	read := func() error {
		n, err := st.Size(cloud.LogRecords)
		if err != nil {
			return err
		}
		rs, err := st.RecordsFrom(0, 1<<20)
		if err != nil {
			return err
		}
		if uint64(len(rs)) < n {
			return fmt.Errorf("records log of size %d lists %d records", n, len(rs))
		}
		if n > 0 {
			if _, err := st.Record(recordID(n - 1)); err != nil {
				return fmt.Errorf("last record of a log of size %d: %w", n, err)
			}
			if _, err := st.GetNodes(cloud.LogRecords, []compact.NodeID{compact.NewNodeID(0, n-1)}); err != nil {
				return fmt.Errorf("last leaf of a log of size %d: %w", n, err)
			}
		}
		m, err := st.Size(cloud.LogAccess)
		if err != nil {
			return err
		}
		es, err := st.Access(patient, 0, 1<<20)
		if err != nil {
			return err
		}
		if uint64(len(es)) < m/2 {
			return fmt.Errorf("access log of size %d lists %d of the patient's entries, want %d", m, len(es), m/2)
		}
		return nil
	}
	for range 2 {
		readers.Go(func() {
			for {
				if err := read(); err != nil {
					t.Error(err)
					return
				}
				select {
				case <-done:
					return
				default:
				}
			}
		})
	}
	writers.Wait()
	close(done)
	readers.Wait()
	checkSizes(t, st, 3*appends, 2*appends)
	if err := read(); err != nil {
		t.Error(err)
	}
}

// testNonces: a nonce is fresh once per requester, until it is forgotten
// after its expiry; concurrent calls with one nonce let one through.
func testNonces(t *testing.T, st cloud.Store) {
	n1, n2 := [16]byte{1}, [16]byte{2}
	for _, tc := range []struct {
		who   identity.ID
		nonce [16]byte
		want  bool
	}{
		{requester, n1, true},
		{requester, n1, false},
		{other, n1, true}, // another requester's nonce
		{requester, n2, true},
	} {
		if got, err := st.Nonce(tc.who, tc.nonce, 100); err != nil || got != tc.want {
			t.Fatalf("Nonce(%x, %x) = %v, %v; want %v", tc.who[:2], tc.nonce[:2], got, err, tc.want)
		}
	}
	if ok, err := st.Nonce(stranger, n1, 300); !ok || err != nil {
		t.Fatalf("a later nonce: %v %v", ok, err)
	}
	if err := st.ForgetNonces(200); err != nil {
		t.Fatal(err)
	}
	if ok, err := st.Nonce(requester, n1, 400); !ok || err != nil {
		t.Fatalf("a nonce forgotten after its expiry: %v %v", ok, err)
	}
	if ok, err := st.Nonce(stranger, n1, 500); ok || err != nil {
		t.Fatalf("a nonce not yet expired when others were forgotten: %v %v", ok, err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	fresh := 0
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := st.Nonce(requester, [16]byte{7}, 100)
			if err != nil {
				t.Error(err)
			}
			if ok {
				mu.Lock()
				fresh++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if fresh != 1 {
		t.Fatalf("%d of 8 concurrent calls with one nonce saw it fresh, want 1", fresh)
	}
}

// secret is the ciphertext of test record i in testErase: bytes found
// nowhere else.
func secret(i uint64) []byte {
	return fmt.Appendf(nil, "ciphertext of record %03d: %016x", i, i*0x9e3779b97f4a7c15)
}

// Erase turns a patient's records into tombstones, and touches nothing
// else: not another patient's records, not the records log.
func testErase(t *testing.T, st cloud.Store) {
	w := newWriter(st)
	owners := []identity.ID{patient, other, patient, other, patient}
	for i, p := range owners {
		// One append of one record each, so that records come in several batches.
		if _, err := w.appendRecs(withBytes(newRecord(uint64(i), p), secret(uint64(i)))); err != nil {
			t.Fatal(err)
		}
	}
	before, err := st.RecordsFrom(0, 10)
	if err != nil || len(before) != len(owners) {
		t.Fatalf("RecordsFrom: %d records, %v", len(before), err)
	}
	ids, err := st.Erase(patient)
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(ids, func(a, b [32]byte) int { return slices.Compare(a[:], b[:]) })
	if want := [][32]byte{recordID(0), recordID(2), recordID(4)}; !slices.Equal(ids, want) {
		t.Fatalf("Erase erased %x, want %x", ids, want)
	}
	checkSizes(t, st, uint64(len(owners)), 0)
	check := func(when string) {
		t.Helper()
		all, err := st.RecordsFrom(0, 10)
		if err != nil || len(all) != len(owners) {
			t.Fatalf("%s: RecordsFrom: %d records, %v", when, len(all), err)
		}
		for i, r := range all {
			byID, err := st.Record(r.ID)
			if err != nil {
				t.Fatalf("%s: Record(%x): %v", when, r.ID[:8], err)
			}
			if !reflect.DeepEqual(*byID, r) {
				t.Errorf("%s: Record(%x) = %+v, RecordsFrom gives %+v", when, r.ID[:8], *byID, r)
			}
			want := before[i]
			if owners[i] == patient {
				want.Bytes, want.Erased = nil, true
			}
			if !reflect.DeepEqual(r, want) {
				t.Errorf("%s: record %d is %+v, want %+v", when, i, r, want)
			}
		}
		// Nothing the store returns holds an erased ciphertext.
		for i, p := range owners {
			if p != patient {
				continue
			}
			for _, r := range all {
				if bytes.Contains(r.Bytes, secret(uint64(i))) {
					t.Errorf("%s: the ciphertext of erased record %d is still returned", when, i)
				}
			}
		}
		// The records log is as it was: every node, the size.
		var nids []compact.NodeID
		var hs [][merklelog.HashSize]byte
		for _, n := range w.all {
			nids, hs = append(nids, n.ID), append(hs, n.Hash)
		}
		if got, err := st.GetNodes(cloud.LogRecords, nids); err != nil || !slices.Equal(got, hs) {
			t.Errorf("%s: the records log's nodes changed: %v", when, err)
		}
	}
	check("after the erasure")
	for _, who := range []identity.ID{patient, stranger} {
		if ids, err := st.Erase(who); err != nil || len(ids) != 0 {
			t.Errorf("Erase of %x with nothing left to erase: %x, %v", who[:1], ids, err)
		}
	}
	check("after erasing again")
	// The log goes on; a record stored after the erasure is kept whole.
	rs, err := w.appendRecs(withBytes(newRecord(uint64(len(owners)), patient), secret(99)))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := st.Record(rs[0].ID); err != nil || !reflect.DeepEqual(*got, rs[0]) {
		t.Errorf("a record stored after the erasure: %+v, %v; want %+v", got, err, rs[0])
	}
}

func withBytes(r cloud.StoredRecord, b []byte) cloud.StoredRecord {
	r.Bytes = b
	return r
}

// appendRecs appends recs, whose positions must follow the log's.
func (w *writer) appendRecs(recs ...cloud.StoredRecord) ([]cloud.StoredRecord, error) {
	leaves := make([][merklelog.HashSize]byte, len(recs))
	for i := range recs {
		leaves[i] = merklelog.HashLeaf(recs[i].ID[:])
	}
	nodes := w.recs.add(leaves...)
	if err := w.st.AppendRecords(w.nrec, w.nrec+uint64(len(recs)), recs, nodes); err != nil {
		return nil, fmt.Errorf("append %d records at %d: %w", len(recs), w.nrec, err)
	}
	w.nrec += uint64(len(recs))
	w.all = append(w.all, nodes...)
	return recs, nil
}
