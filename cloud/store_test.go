package cloud_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/transparency-dev/merkle/compact"

	"github.com/vitalchain/vitalchain/cloud"
	"github.com/vitalchain/vitalchain/cloud/storetest"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/merklelog"
)

func TestMemStore(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(*testing.T) cloud.Store { return cloud.NewMemStore() })
}

// leaves returns the nodes of a tree of n leaves, from leaf hashes of i.
func leaves(n int) []merklelog.Node {
	var nodes []merklelog.Node
	st := &nodeRecorder{MemStore: merklelog.NewMemStore(), nodes: &nodes}
	l, err := merklelog.Open(st)
	if err != nil {
		panic(err)
	}
	for i := range n {
		if _, err := l.Append([]byte{byte(i)}); err != nil {
			panic(err)
		}
	}
	return nodes
}

type nodeRecorder struct {
	*merklelog.MemStore
	nodes *[]merklelog.Node
}

func (r *nodeRecorder) PutNodes(oldSize, newSize uint64, nodes []merklelog.Node) error {
	*r.nodes = append(*r.nodes, nodes...)
	return r.MemStore.PutNodes(oldSize, newSize, nodes)
}

// A MemStore refuses appends that break the rules the Service keeps, and
// stores nothing of them.
func TestMemStoreRefuses(t *testing.T) {
	t.Parallel()
	rec := func(i uint64, id byte) cloud.StoredRecord {
		return cloud.StoredRecord{ID: [32]byte{id}, Index: i, Patient: identity.ID{1}}
	}
	for _, tc := range []struct {
		name             string
		oldSize, newSize uint64
		recs             []cloud.StoredRecord
		nodes            []merklelog.Node
		msg              string
	}{
		{"fewer rows than leaves", 0, 2, []cloud.StoredRecord{rec(0, 1)}, leaves(2), "append of 1 rows"},
		{"more rows than leaves", 0, 1, []cloud.StoredRecord{rec(0, 1), rec(1, 2)}, leaves(1), "append of 2 rows"},
		{"a row out of place", 0, 2, []cloud.StoredRecord{rec(0, 1), rec(2, 2)}, leaves(2), "has index 2"},
		{"a record twice", 0, 2, []cloud.StoredRecord{rec(0, 1), rec(1, 1)}, leaves(2), "already stored"},
		{"nodes of another size", 0, 2, []cloud.StoredRecord{rec(0, 1), rec(1, 2)}, leaves(3), "does not hold exactly"},
		{"nodes out of order", 0, 2, []cloud.StoredRecord{rec(0, 1), rec(1, 2)}, leaves(2)[1:], "not the next node"},
		{"no nodes", 0, 1, []cloud.StoredRecord{rec(0, 1)}, nil, "does not hold exactly"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := cloud.NewMemStore()
			defer st.Close()
			err := st.AppendRecords(tc.oldSize, tc.newSize, tc.recs, tc.nodes)
			if err == nil || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("AppendRecords: %v, want an error with %q", err, tc.msg)
			}
			if n, err := st.Size(cloud.LogRecords); err != nil || n != 0 {
				t.Fatalf("size after a refused append: %d, %v", n, err)
			}
			for _, r := range tc.recs {
				if _, err := st.Record(r.ID); !errors.Is(err, cloud.ErrNotFound) {
					t.Fatalf("record %x of a refused append: %v", r.ID[:1], err)
				}
			}
			if _, err := st.GetNodes(cloud.LogRecords, []compact.NodeID{compact.NewNodeID(0, 0)}); !errors.Is(err, merklelog.ErrNotFound) {
				t.Fatalf("node of a refused append: %v", err)
			}
		})
	}
}

// A closed MemStore has let go of its contents and fails every call.
func TestMemStoreClosed(t *testing.T) {
	t.Parallel()
	st := cloud.NewMemStore()
	r := cloud.StoredRecord{ID: [32]byte{1}}
	if err := st.AppendRecords(0, 1, []cloud.StoredRecord{r}, leaves(1)); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		call func() error
	}{
		{"Size", func() error { _, err := st.Size(cloud.LogRecords); return err }},
		{"GetNodes", func() error {
			_, err := st.GetNodes(cloud.LogRecords, []compact.NodeID{compact.NewNodeID(0, 0)})
			return err
		}},
		{"Record", func() error { _, err := st.Record(r.ID); return err }},
		{"RecordsFrom", func() error { _, err := st.RecordsFrom(0, 1); return err }},
		{"Access", func() error { _, err := st.Access(identity.ID{}, 0, 1); return err }},
		{"AppendRecords", func() error { return st.AppendRecords(1, 1, nil, nil) }},
		{"AppendAccess", func() error { return st.AppendAccess(0, 0, nil, nil) }},
	} {
		if err := c.call(); err == nil || !strings.Contains(err.Error(), "closed") {
			t.Errorf("%s after Close: %v", c.name, err)
		}
	}
}
