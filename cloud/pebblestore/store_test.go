package pebblestore_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/transparency-dev/merkle/compact"

	"github.com/vitalchain/vitalchain/cloud"
	"github.com/vitalchain/vitalchain/cloud/cloudapi"
	"github.com/vitalchain/vitalchain/cloud/pebblestore"
	"github.com/vitalchain/vitalchain/cloud/storetest"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/merklelog"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) cloud.Store { return open(t, t.TempDir()) })
}

func open(t testing.TB, dir string) *pebblestore.Store {
	t.Helper()
	st, err := pebblestore.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func appendRecords(t testing.TB, log *merklelog.Log, ls *storetest.RecordsLog, n int, patient identity.ID) []cloud.StoredRecord {
	t.Helper()
	first := log.Size()
	ls.Recs = make([]cloud.StoredRecord, n)
	leaves := make([][merklelog.HashSize]byte, n)
	for i := range ls.Recs {
		idx := first + uint64(i)
		var id [32]byte
		binary.BigEndian.PutUint64(id[:], idx)
		ls.Recs[i] = cloud.StoredRecord{ID: id, Index: idx, Patient: patient,
			Received: int64(idx), Bytes: fmt.Appendf(nil, "record %d", idx)}
		leaves[i] = merklelog.HashLeaf(id[:])
	}
	if _, err := log.AppendLeafHashes(leaves...); err != nil {
		t.Fatal(err)
	}
	return ls.Recs
}

// What a store holds survives closing and reopening it, and its logs go
// on from where they were.
func TestReopen(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	patient := identity.ID{1}
	st := open(t, dir)
	ls := &storetest.RecordsLog{Store: st}
	log, err := merklelog.Open(ls)
	if err != nil {
		t.Fatal(err)
	}
	recs := appendRecords(t, log, ls, 3, patient)
	recs = append(recs, appendRecords(t, log, ls, 4, patient)...)
	entries := []cloudapi.AccessEntry{
		{Index: 0, Time: 10, Requester: identity.ID{2}, Patient: patient, Record: recs[0].ID, Allowed: true},
		{Index: 1, Time: 11, Requester: identity.ID{3}, Patient: patient, Record: recs[1].ID, Reason: "no_grant"},
	}
	leaf := func(i uint64) merklelog.Node {
		return merklelog.Node{ID: compact.NewNodeID(0, i), Hash: [merklelog.HashSize]byte{byte(i)}}
	}
	if err := st.AppendAccess(0, 2, entries, []merklelog.Node{leaf(0), leaf(1)}); err != nil {
		t.Fatal(err)
	}
	cp := log.Checkpoint()
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	st = open(t, dir)
	defer st.Close()
	for _, c := range []struct {
		log  uint8
		want uint64
	}{{cloud.LogRecords, 7}, {cloud.LogAccess, 2}} {
		if n, err := st.Size(c.log); err != nil || n != c.want {
			t.Fatalf("size of log %d after reopening: %d, %v; want %d", c.log, n, err, c.want)
		}
	}
	ls = &storetest.RecordsLog{Store: st}
	if log, err = merklelog.Open(ls); err != nil {
		t.Fatal(err)
	}
	if got := log.Checkpoint(); got != cp {
		t.Fatalf("checkpoint after reopening: %+v, want %+v", got, cp)
	}
	got, err := st.RecordsFrom(0, 100)
	if err != nil || !reflect.DeepEqual(got, recs) {
		t.Fatalf("records after reopening: %+v, %v; want %+v", got, err, recs)
	}
	if es, err := st.Access(patient, 0, 100); err != nil || !reflect.DeepEqual(es, entries) {
		t.Fatalf("access log after reopening: %+v, %v; want %+v", es, err, entries)
	}
	if err := st.AppendAccess(0, 1, entries[:1], []merklelog.Node{leaf(0)}); !errors.Is(err, merklelog.ErrConflict) {
		t.Fatalf("append at size 0 after reopening: %v, want merklelog.ErrConflict", err)
	}
	more := appendRecords(t, log, ls, 2, patient)
	if r, err := st.Record(more[1].ID); err != nil || r.Index != 8 {
		t.Fatalf("record appended after reopening: %+v, %v", r, err)
	}
}

func TestOpenFails(t *testing.T) {
	t.Parallel()
	if st, err := pebblestore.Open("/dev/null/store"); err == nil {
		st.Close()
		t.Fatal("opened a store under /dev/null")
	}
}

// BenchmarkAppendRecords appends 256 records per operation, each append
// one synced batch: what durability adds to the cloud's commit.
func BenchmarkAppendRecords(b *testing.B) {
	st := open(b, b.TempDir())
	defer st.Close()
	ls := &storetest.RecordsLog{Store: st}
	log, err := merklelog.Open(ls)
	if err != nil {
		b.Fatal(err)
	}
	const n = 256
	b.ReportAllocs()
	for b.Loop() {
		appendRecords(b, log, ls, n, identity.ID{1})
	}
	b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "records/s")
}

// A call that races Close (a request served while the process shuts down)
// gets ErrClosed, never Pebble's panic on a closed database.
func TestCallsAfterCloseFail(t *testing.T) {
	st, err := pebblestore.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	var id [32]byte
	_, nerr := st.Nonce(identity.ID{1}, [16]byte{2}, 1)
	_, rerr := st.Record(id)
	_, serr := st.Size(0)
	for i, err := range []error{nerr, rerr, serr, st.ForgetNonces(0), st.AppendRecords(0, 0, nil, nil), st.Close()} {
		if !errors.Is(err, pebblestore.ErrClosed) {
			t.Errorf("call %d after Close: %v, want ErrClosed", i, err)
		}
	}
}
