package cloud

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/compact"

	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/merklelog"
	"github.com/vitalchain/vitalchain/vital"
)

// testStoreContract checks what the Service needs of a Store; a PostgreSQL
// driver can run it too.
func testStoreContract(t *testing.T, open func() Store) {
	st := open()
	patient, other := identity.ID{1}, identity.ID{2}

	// Rows and nodes go in with the size, atomically.
	recs := []StoredRecord{
		{ID: [32]byte{0xa}, Index: 0, Patient: patient, Kind: vital.Glucose, Received: 1, Bytes: []byte("a")},
		{ID: [32]byte{0xb}, Index: 1, Patient: patient, Kind: vital.HeartRate, Received: 2, Bytes: []byte("b")},
	}
	nodes := []merklelog.Node{
		{ID: compact.NewNodeID(0, 0), Hash: [32]byte{1}},
		{ID: compact.NewNodeID(0, 1), Hash: [32]byte{2}},
		{ID: compact.NewNodeID(1, 0), Hash: [32]byte{3}},
	}
	if err := st.AppendRecords(0, 2, recs, nodes); err != nil {
		t.Fatal(err)
	}
	if err := st.AppendRecords(0, 1, recs[:1], nodes[:1]); !errors.Is(err, merklelog.ErrConflict) {
		t.Fatalf("append at a stale size: %v, want merklelog.ErrConflict", err)
	}
	entries := []AccessEntry{
		{Index: 0, Time: 10, Requester: other, Patient: patient, Record: [32]byte{0xa}, Allowed: true},
		{Index: 1, Time: 11, Requester: other, Patient: other, Record: [32]byte{0xc}, Reason: "no_grant"},
		{Index: 2, Time: 12, Requester: patient, Patient: patient, Record: [32]byte{0xb}, Allowed: true},
	}
	if err := st.AppendAccess(0, 3, entries, []merklelog.Node{{ID: compact.NewNodeID(0, 0)}, {ID: compact.NewNodeID(0, 1)}, {ID: compact.NewNodeID(0, 2)}}); err != nil {
		t.Fatal(err)
	}
	if err := st.AppendAccess(2, 3, nil, nil); !errors.Is(err, merklelog.ErrConflict) {
		t.Fatalf("access append at a stale size: %v", err)
	}

	check := func(st Store) {
		t.Helper()
		for log, want := range map[uint8]uint64{LogRecords: 2, LogAccess: 3} {
			if n, err := st.Size(log); err != nil || n != want {
				t.Fatalf("size of log %d: %d %v", log, n, err)
			}
		}
		hs, err := st.GetNodes(LogRecords, []compact.NodeID{compact.NewNodeID(1, 0), compact.NewNodeID(0, 1)})
		if err != nil || hs[0] != ([32]byte{3}) || hs[1] != ([32]byte{2}) {
			t.Fatalf("nodes %v %v", hs, err)
		}
		if _, err := st.GetNodes(LogRecords, []compact.NodeID{compact.NewNodeID(0, 2)}); !errors.Is(err, merklelog.ErrNotFound) {
			t.Fatalf("absent node: %v, want merklelog.ErrNotFound", err)
		}
		if _, err := st.GetNodes(LogAccess, []compact.NodeID{compact.NewNodeID(1, 0)}); !errors.Is(err, merklelog.ErrNotFound) {
			t.Fatalf("a node of the other log: %v", err)
		}
		r, err := st.Record([32]byte{0xb})
		if err != nil || r.Index != 1 || r.Kind != vital.HeartRate || string(r.Bytes) != "b" || r.Patient != patient {
			t.Fatalf("record %+v %v", r, err)
		}
		if _, err := st.Record([32]byte{0xc}); !errors.Is(err, ErrNotFound) {
			t.Fatalf("absent record: %v", err)
		}
		es, err := st.Access(patient, 0, 10)
		if err != nil || len(es) != 2 || es[0] != entries[0] || es[1] != entries[2] {
			t.Fatalf("patient's access %+v %v", es, err)
		}
		if es, _ := st.Access(patient, 1, 10); len(es) != 1 || es[0] != entries[2] {
			t.Fatalf("patient's access from 1: %+v", es)
		}
		if es, _ := st.Access(patient, 0, 1); len(es) != 1 || es[0] != entries[0] {
			t.Fatalf("patient's access, limit 1: %+v", es)
		}
		if es, _ := st.Access(identity.ID{9}, 0, 10); len(es) != 0 {
			t.Fatalf("a stranger's access: %+v", es)
		}
	}
	check(st)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st = open() // durable
	defer st.Close()
	check(st)
}

func TestPebbleStore(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	testStoreContract(t, func() Store {
		st, err := OpenPebble(dir)
		if err != nil {
			t.Fatal(err)
		}
		return st
	})
	// A directory that cannot hold a store.
	if _, err := OpenPebble("/dev/null/store"); err == nil {
		t.Fatal("opened a store under /dev/null")
	}
}

// New checks its key and the cloud's registration.
func TestNewRefuses(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	provider := e.member(identity.RoleProvider, 1)
	unregistered, _ := identity.Generate(identity.RoleCloud, identity.SuiteX25519)
	misregistered, _ := identity.Generate(identity.RoleCloud, identity.SuiteX25519)
	e.led.set(func(l *fakeLedger) {
		m := *l.members[provider.ID()]
		l.members[misregistered.ID()] = &m // registered as a provider
	})
	for _, tc := range []struct {
		name string
		key  *identity.SigningKey
		err  error
		msg  string
	}{
		{"not a cloud key", provider.Signing, identity.ErrWrongRole, ""},
		{"not registered", unregistered.Signing, ErrNotFound, ""},
		{"registered with another role", misregistered.Signing, nil, "registered as a provider"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := e.cfg
			cfg.Key = tc.key
			s, err := New(ctx, cfg)
			if err == nil {
				s.Close()
				t.Fatal("New accepted it")
			}
			if tc.err != nil && !errors.Is(err, tc.err) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("New: %v", err)
			}
		})
	}
	if e.svc.ID() != e.cloud.ID() {
		t.Fatal("ID")
	}
	// Closing twice is harmless.
	done := make(chan struct{})
	go func() { e.svc.Close(); e.svc.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close hangs")
	}
	e.svc = nil
}
