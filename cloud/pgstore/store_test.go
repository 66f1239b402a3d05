package pgstore_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/transparency-dev/merkle/compact"

	"github.com/vitalchain/vitalchain/cloud"
	"github.com/vitalchain/vitalchain/cloud/cloudapi"
	"github.com/vitalchain/vitalchain/cloud/pgstore"
	"github.com/vitalchain/vitalchain/cloud/storetest"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/internal/pgtest"
	"github.com/vitalchain/vitalchain/merklelog"
)

// Each subtest has a schema of its own.
func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) cloud.Store { return open(t, pgtest.URL(t)) })
}

func open(t testing.TB, url string) *pgstore.Store {
	t.Helper()
	st, err := pgstore.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// exec runs SQL in the schema of url, as an operator would.
func exec(t testing.TB, url, sql string, args ...any) {
	t.Helper()
	ctx := context.Background()
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// record is test record i of the records log.
func record(i uint64) cloud.StoredRecord {
	return cloud.StoredRecord{ID: [32]byte{0xaa, byte(i >> 8), byte(i)}, Index: i, Patient: identity.ID{1},
		Received: 1_700_000_000_000 + int64(i), Bytes: []byte("sealed")}
}

// appendOne appends record n to a log of size n through st.
func appendOne(st cloud.Store, n uint64) error {
	r := record(n)
	leaf := merklelog.Node{ID: compact.NewNodeID(0, n), Hash: merklelog.HashLeaf(r.ID[:])}
	return st.AppendRecords(n, n+1, []cloud.StoredRecord{r}, []merklelog.Node{leaf})
}

// What is appended survives the store's closing; a reopened store finds
// its schema migrated and migrates nothing again.
func TestReopen(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	st := open(t, url)
	if st.SchemaVersion() != 2 {
		t.Fatalf("schema version %d, want 2", st.SchemaVersion())
	}
	ls := &storetest.RecordsLog{Store: st}
	log, err := merklelog.Open(ls)
	if err != nil {
		t.Fatal(err)
	}
	for i := range uint64(5) {
		r := record(i)
		ls.Recs = []cloud.StoredRecord{r}
		if _, err := log.AppendLeafHashes(merklelog.HashLeaf(r.ID[:])); err != nil {
			t.Fatal(err)
		}
	}
	cp := log.Checkpoint()
	st.Close()

	st = open(t, url)
	defer st.Close()
	reopened, err := merklelog.Open(&storetest.RecordsLog{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	if got := reopened.Checkpoint(); got != cp {
		t.Fatalf("reopened checkpoint %+v, want %+v", got, cp)
	}
	if r, err := st.Record(record(4).ID); err != nil || r.Index != 4 || string(r.Bytes) != "sealed" {
		t.Fatalf("record 4 after reopening: %+v, %v", r, err)
	}
	ctx := context.Background()
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var n int
	if err := c.QueryRow(ctx, "SELECT count(*) FROM cloud_schema_version").Scan(&n); err != nil || n != 2 {
		t.Fatalf("cloud_schema_version lists %d migrations (%v), want 2", n, err)
	}
}

// Processes that start together on a new database migrate it once.
func TestConcurrentOpen(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() {
			st, err := pgstore.Open(context.Background(), url)
			if err == nil {
				st.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
}

// A database a newer binary migrated is refused.
func TestSchemaTooNew(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	open(t, url).Close()
	exec(t, url, "INSERT INTO cloud_schema_version (version, name) VALUES (99, '0099_future.sql')")
	if _, err := pgstore.Open(context.Background(), url); !errors.Is(err, pgstore.ErrSchemaTooNew) {
		t.Fatalf("Open of a schema at version 99: %v, want ErrSchemaTooNew", err)
	}
}

// URLs that are not PostgreSQL's, or that ask for commits that are not
// durable, are refused before anything is written.
func TestOpenRefuses(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, c := range []struct {
		url  string
		want error
	}{
		{"/var/lib/cloud", pgstore.ErrURL},
		{"mysql://u@h/db", pgstore.ErrURL},
		{"postgres://u@h:notaport/db", pgstore.ErrURL},
		{"postgres://u@127.0.0.1:1/db?synchronous_commit=off", pgstore.ErrNotDurable},
		{"postgres://u@127.0.0.1:1/db?synchronous_commit=OFF", pgstore.ErrNotDurable},
	} {
		if st, err := pgstore.Open(ctx, c.url); !errors.Is(err, c.want) {
			if st != nil {
				st.Close()
			}
			t.Errorf("Open(%q): %v, want %v", c.url, err, c.want)
		}
	}
	if !pgstore.IsURL("postgresql://h/db") || pgstore.IsURL("./data") {
		t.Error("IsURL")
	}
}

// Migrations are named NNNN_what.sql and numbered without gaps.
func TestMigrationNames(t *testing.T) {
	for _, c := range []struct {
		files []string
		want  string // "" or a substring of the error
	}{
		{[]string{"0001_a.sql", "0002_b.sql"}, ""},
		{[]string{"0002_b.sql", "0001_a.sql"}, ""},
		{[]string{"0001_a.sql", "0003_c.sql"}, "without gaps"},
		{[]string{"0002_b.sql"}, "without gaps"},
		{[]string{"init.sql"}, "NNNN_what.sql"},
		{[]string{"0001_a.txt"}, "NNNN_what.sql"},
		{[]string{"0000_a.sql"}, "NNNN_what.sql"},
	} {
		fsys := fstest.MapFS{}
		for _, f := range c.files {
			fsys["m/"+f] = &fstest.MapFile{Data: []byte("SELECT 1")}
		}
		ms, err := pgstore.ParseMigrations(fsys, "m")
		switch {
		case c.want == "" && (err != nil || len(ms) != len(c.files)):
			t.Errorf("%v: %d migrations, %v", c.files, len(ms), err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%v: %v, want an error saying %q", c.files, err, c.want)
		}
	}
	if _, err := pgstore.Migrations(); err != nil {
		t.Errorf("the embedded migrations: %v", err)
	}
}

// The lease goes to one holder at a time; appends fenced at an epoch the
// lease has left are refused and store nothing.
func TestLease(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.URL(t)
	a, b := open(t, url), open(t, url)
	defer a.Close()
	defer b.Close()
	if l, err := a.Leader(ctx); err != nil || l != "" {
		t.Fatalf("leader of a new lease: %q, %v", l, err)
	}
	ea, _, err := a.Acquire(ctx, "A", "http://a", cloud.DefaultLeaseTTL)
	if err != nil {
		t.Fatal(err)
	}
	if _, leader, err := b.Acquire(ctx, "B", "http://b", cloud.DefaultLeaseTTL); !errors.Is(err, cloud.ErrNotLeader) || leader != "http://a" {
		t.Fatalf("B acquires A's lease: %q, %v; want ErrNotLeader and http://a", leader, err)
	}
	if l, err := b.Leader(ctx); err != nil || l != "http://a" {
		t.Fatalf("leader: %q, %v", l, err)
	}
	if err := a.Renew(ctx, ea, cloud.DefaultLeaseTTL); err != nil {
		t.Fatal(err)
	}
	fa := a.Fenced(ea)
	if err := appendOne(fa, 0); err != nil {
		t.Fatalf("the holder's fenced append: %v", err)
	}

	// A's lease expires (its process paused); B takes over.
	exec(t, url, "UPDATE cloud_lease SET expires = clock_timestamp() - interval '1 second'")
	if l, err := b.Leader(ctx); err != nil || l != "" {
		t.Fatalf("leader of an expired lease: %q, %v", l, err)
	}
	eb, _, err := b.Acquire(ctx, "B", "http://b", cloud.DefaultLeaseTTL)
	if err != nil || eb <= ea {
		t.Fatalf("B takes the expired lease: epoch %d, %v; want one above %d", eb, err, ea)
	}
	// A wakes up: its appends and renewals are refused.
	if err := appendOne(fa, 1); !errors.Is(err, cloud.ErrNotLeader) {
		t.Fatalf("a deposed holder's append: %v, want ErrNotLeader", err)
	}
	if err := a.Renew(ctx, ea, cloud.DefaultLeaseTTL); !errors.Is(err, cloud.ErrNotLeader) {
		t.Fatalf("a deposed holder's renewal: %v, want ErrNotLeader", err)
	}
	if n, err := a.Size(cloud.LogRecords); err != nil || n != 1 {
		t.Fatalf("size after a refused append: %d, %v; want 1", n, err)
	}
	if _, err := a.Record(record(1).ID); !errors.Is(err, cloud.ErrNotFound) {
		t.Fatalf("the refused append stored its record: %v", err)
	}
	if err := a.Release(ctx, ea); err != nil { // too late: nothing happens
		t.Fatal(err)
	}
	if l, _ := a.Leader(ctx); l != "http://b" {
		t.Fatalf("a deposed holder's release ended the new lease: leader %q", l)
	}
	fb := b.Fenced(eb)
	if err := appendOne(fb, 1); err != nil {
		t.Fatalf("the new holder's append: %v", err)
	}
	if err := fb.AppendAccess(0, 1, []cloudapi.AccessEntry{{Patient: identity.ID{1}}},
		[]merklelog.Node{{ID: compact.NewNodeID(0, 0)}}); err != nil {
		t.Fatalf("the new holder's access append: %v", err)
	}
	// B steps down; A takes the lease at once, at a later epoch.
	if err := b.Release(ctx, eb); err != nil {
		t.Fatal(err)
	}
	ea2, _, err := a.Acquire(ctx, "A", "http://a", cloud.DefaultLeaseTTL)
	if err != nil || ea2 <= eb {
		t.Fatalf("A takes a released lease: epoch %d, %v; want one above %d", ea2, err, eb)
	}
	if err := appendOne(fb, 2); !errors.Is(err, cloud.ErrNotLeader) {
		t.Fatalf("append at a released epoch: %v, want ErrNotLeader", err)
	}
	for _, ttl := range []time.Duration{0, -time.Second, 2 * time.Hour} {
		if _, _, err := a.Acquire(ctx, "A", "http://a", ttl); err == nil {
			t.Errorf("Acquire with a ttl of %d accepted", ttl)
		}
	}
}
