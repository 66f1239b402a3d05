package outbox

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

func TestPutPeekAck(t *testing.T) {
	now := time.UnixMilli(1_700_000_000_123)
	o := open(t, t.TempDir(), Options{Now: func() time.Time { return now }})
	checkItems(t, o, nil)

	its := items(1, 0, 5)
	its[2].Enqueued = 42
	mustPut(t, o, its[:3]...)
	mustPut(t, o, its[3:]...)
	checkItems(t, o, its)

	got, err := o.Peek(2)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != its[0].ID || got[1].ID != its[1].ID {
		t.Fatalf("Peek(2) = %d items, want the first two", len(got))
	}
	for i, want := range []int64{now.UnixMilli(), now.UnixMilli(), 42} {
		if all(t, o)[i].Enqueued != want {
			t.Errorf("item %d enqueued at %d, want %d", i, all(t, o)[i].Enqueued, want)
		}
	}
	// The items Peek returns are the caller's.
	got[0].Data[0] ^= 0xff
	if all(t, o)[0].Data[0] != its[0].Data[0] {
		t.Fatal("Peek returned the outbox's memory")
	}
	_ = append(got[0].Data, "overwrite"...)
	if string(got[1].Data) != string(its[1].Data) {
		t.Fatal("appending to one peeked item overwrote the next")
	}
	if got, err := o.Peek(0); err != nil || got != nil {
		t.Fatalf("Peek(0) = %v, %v", got, err)
	}

	// Ack out of order, twice, with an unknown ID.
	if err := o.Ack(its[1].ID, its[3].ID, item(9, 9).ID); err != nil {
		t.Fatal(err)
	}
	if err := o.Ack(its[1].ID); err != nil {
		t.Fatal(err)
	}
	checkItems(t, o, []Item{its[0], its[2], its[4]})
	if err := o.Ack(its[0].ID); err != nil {
		t.Fatal(err)
	}
	checkItems(t, o, []Item{its[2], its[4]})
	if err := o.Ack(); err != nil {
		t.Fatal(err)
	}
	if err := o.Put(); err != nil {
		t.Fatal(err)
	}
}

// TestLargeBatch puts more in one Put than bbolt's first memory map, in
// items larger than a page (which bbolt stores in overflow pages): the
// commit grows the file and maps it again.
func TestLargeBatch(t *testing.T) {
	dir := t.TempDir()
	o := open(t, dir, Options{})
	its := items(1, 0, 40)
	for i := range its {
		its[i].Data = append(its[i].Data, make([]byte, 100<<10)...)
	}
	mustPut(t, o, its...)
	checkItems(t, o, its)
	if err := o.Ack(ids(its[:20])...); err != nil {
		t.Fatal(err)
	}
	checkItems(t, o, its[20:])
	o.Close()
	o = open(t, dir, Options{})
	checkItems(t, o, its[20:])
	mustPut(t, o, its[:20]...)
	checkItems(t, o, append(its[20:], its[:20]...))
}

func TestReopen(t *testing.T) {
	dir := t.TempDir()
	o, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	its := items(1, 0, 10)
	mustPut(t, o, its[:6]...)
	mustPut(t, o, its[6:]...)
	if err := o.Ack(its[0].ID, its[4].ID, its[9].ID); err != nil {
		t.Fatal(err)
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}

	o = open(t, dir, Options{})
	want := []Item{its[1], its[2], its[3], its[5], its[6], its[7], its[8]}
	checkItems(t, o, want)
	// A pending ID is still recognised after reopening.
	mustPut(t, o, its[1], item(2, 0))
	want = append(want, item(2, 0))
	checkItems(t, o, want)

	// The sequence survives even an empty outbox: new items come after.
	if err := o.Ack(ids(want)...); err != nil {
		t.Fatal(err)
	}
	last := o.next
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	o = open(t, dir, Options{})
	checkItems(t, o, nil)
	if o.next != last {
		t.Fatalf("next sequence after reopening is %d, want %d", o.next, last)
	}
	mustPut(t, o, its[0])
	checkItems(t, o, its[:1])
}

// TestSequenceSurvives: whichever items were acked, the sequence goes on
// after reopening, so that new items come after every item ever put.
func TestSequenceSurvives(t *testing.T) {
	a, b, c := item(1, 0), item(1, 1), item(1, 2)
	tests := []struct {
		name string
		ops  func(o *Outbox) error
		want []Item
	}{
		{"nothing acked", func(o *Outbox) error { return o.Put(a, b) }, []Item{a, b}},
		{"head acked", func(o *Outbox) error { o.Put(a, b); return o.Ack(a.ID) }, []Item{b}},
		{"tail acked", func(o *Outbox) error { o.Put(a, b); return o.Ack(b.ID) }, []Item{a}},
		{"all acked", func(o *Outbox) error { o.Put(a, b); return o.Ack(b.ID, a.ID) }, nil},
		{"all acked, then put", func(o *Outbox) error { o.Put(a); o.Ack(a.ID); return o.Put(b) }, []Item{b}},
		{"tail acked, then put and acked", func(o *Outbox) error {
			o.Put(a, b)
			o.Ack(b.ID)
			o.Put(c)
			return o.Ack(c.ID)
		}, []Item{a}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			o, err := Open(dir, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if err := tt.ops(o); err != nil {
				t.Fatal(err)
			}
			next := o.next
			o.Close()
			o = open(t, dir, Options{})
			if o.next != next {
				t.Fatalf("next sequence %d after reopening, want %d", o.next, next)
			}
			checkItems(t, o, tt.want)
			d := item(2, 0)
			mustPut(t, o, d)
			checkItems(t, o, append(tt.want, d))
		})
	}
}

func TestDuplicatePut(t *testing.T) {
	dir := t.TempDir()
	o := open(t, dir, Options{})
	a, b := item(1, 1), item(1, 2)
	mustPut(t, o, a)
	mustPut(t, o, a, b, b, a)
	dupData := a
	dupData.Data = []byte("other bytes, same ID")
	mustPut(t, o, dupData)
	checkItems(t, o, []Item{a, b})

	// Once acked, the ID may be queued again, at the end.
	if err := o.Ack(a.ID); err != nil {
		t.Fatal(err)
	}
	mustPut(t, o, a)
	checkItems(t, o, []Item{b, a})
	o.Close()
	o = open(t, dir, Options{})
	mustPut(t, o, b, a)
	checkItems(t, o, []Item{b, a})
}

func TestBounds(t *testing.T) {
	size := int64(len(item(0, 0).Data))
	tests := []struct {
		name    string
		opts    Options
		fill    int    // items put first
		put     []Item // then this
		wantErr error
	}{
		{"items: fits exactly", Options{MaxItems: 4}, 2, items(2, 0, 2), nil},
		{"items: one too many", Options{MaxItems: 4}, 3, items(2, 0, 2), ErrFull},
		{"items: full", Options{MaxItems: 4}, 4, items(2, 0, 1), ErrFull},
		{"items: duplicates need no room", Options{MaxItems: 4}, 4, items(1, 2, 2), nil},
		{"items: only new ones count", Options{MaxItems: 4}, 3, append(items(1, 0, 3), item(2, 0)), nil},
		{"bytes: fits exactly", Options{MaxBytes: 4 * size}, 2, items(2, 0, 2), nil},
		{"bytes: one byte over", Options{MaxBytes: 4*size - 1}, 2, items(2, 0, 2), ErrFull},
		{"bytes: full", Options{MaxBytes: 4 * size}, 4, items(2, 0, 1), ErrFull},
		{"bytes: item larger than the outbox", Options{MaxBytes: size - 1}, 0, items(2, 0, 1), ErrTooLarge},
		{"bytes: item larger than the outbox in a batch", Options{MaxBytes: 4 * size}, 0,
			[]Item{item(2, 0), {ID: [32]byte{1}, Data: make([]byte, 4*size+1)}}, ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			o := open(t, dir, tt.opts)
			fill := items(1, 0, tt.fill)
			mustPut(t, o, fill...)
			err := o.Put(tt.put...)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Put = %v, want %v", err, tt.wantErr)
			}
			want := fill
			if err == nil {
				seen := map[[32]byte]bool{}
				for _, it := range fill {
					seen[it.ID] = true
				}
				for _, it := range tt.put {
					if !seen[it.ID] {
						want = append(want, it)
						seen[it.ID] = true
					}
				}
			}
			checkItems(t, o, want)
			o.Close()
			checkItems(t, open(t, dir, tt.opts), want)
		})
	}
}

func TestFullThenDrained(t *testing.T) {
	o := open(t, t.TempDir(), Options{MaxItems: 2})
	mustPut(t, o, items(1, 0, 2)...)
	if err := o.Put(item(1, 2)); !errors.Is(err, ErrFull) {
		t.Fatalf("Put = %v, want ErrFull", err)
	}
	if err := o.Ack(item(1, 0).ID); err != nil {
		t.Fatal(err)
	}
	mustPut(t, o, item(1, 2))
	checkItems(t, o, items(1, 1, 2))
}

func TestClosed(t *testing.T) {
	o, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	if err := o.Close(); err != nil {
		t.Fatalf("second Close = %v", err)
	}
	if err := o.Put(item(1, 1)); !errors.Is(err, ErrClosed) {
		t.Errorf("Put = %v, want ErrClosed", err)
	}
	if err := o.Ack(item(1, 1).ID); !errors.Is(err, ErrClosed) {
		t.Errorf("Ack = %v, want ErrClosed", err)
	}
	if _, err := o.Peek(1); !errors.Is(err, ErrClosed) {
		t.Errorf("Peek = %v, want ErrClosed", err)
	}
}

func TestOpenLocked(t *testing.T) {
	dir := t.TempDir()
	open(t, dir, Options{})
	_, err := Open(dir, Options{})
	if err == nil {
		t.Fatal("a second Open of the same directory succeeded")
	}
	if !errors.Is(err, bolterrors.ErrTimeout) {
		t.Fatalf("second Open = %v, want a lock timeout", err)
	}
}

// TestOpenPebbleDir: Open refuses a directory that holds an outbox of the
// earlier versions, in Pebble, rather than leave its items behind unseen.
func TestOpenPebbleDir(t *testing.T) {
	for _, name := range []string{"MANIFEST-000001", "OPTIONS-000003"} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, name), nil, 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := Open(dir, Options{}); err == nil {
				t.Fatal("Open of a Pebble directory succeeded")
			}
			if _, err := os.Stat(filepath.Join(dir, fileName)); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("Open created %s: %v", fileName, err)
			}
		})
	}
}

// TestOpenFile: the outbox is one file, readable by its owner only, in a
// directory Open creates.
func TestOpenFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "outbox")
	o := open(t, dir, Options{})
	mustPut(t, o, item(1, 0))
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 1 || ents[0].Name() != fileName {
		t.Fatalf("directory holds %v, want only %s", ents, fileName)
	}
	fi, err := os.Stat(filepath.Join(dir, fileName))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("%s has mode %v, want 0600", fileName, fi.Mode().Perm())
	}
}

// writeRaw writes key-value pairs into the outbox's bucket of a database
// in dir, as the outbox never would.
func writeRaw(t *testing.T, dir string, kvs ...[2][]byte) {
	t.Helper()
	db, err := bolt.Open(filepath.Join(dir, fileName), 0o600, boltOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketName)
		if err != nil {
			return err
		}
		for _, kv := range kvs {
			if err := b.Put(kv[0], kv[1]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestCorrupt writes what the outbox never writes and checks that Open
// refuses it.
func TestCorrupt(t *testing.T) {
	good := appendValue(nil, &Item{ID: [32]byte{1}, Data: []byte("x")})
	tests := []struct {
		name string
		kvs  [][2][]byte
	}{
		{"short item", [][2][]byte{{seqKey(1), good[:valueHeader-1]}}},
		{"empty item", [][2][]byte{{seqKey(1), nil}}},
		{"unknown version", [][2][]byte{{seqKey(1), append([]byte{2}, good[1:]...)}}},
		{"short key", [][2][]byte{{[]byte{kQueue, 1}, good}}},
		{"long key", [][2][]byte{{append(seqKey(1), 0), good}}},
		{"item stored twice", [][2][]byte{{seqKey(1), good}, {seqKey(2), good}}},
		{"short next sequence", [][2][]byte{{nextKey, []byte{1, 2, 3}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeRaw(t, dir, tt.kvs...)
			if _, err := Open(dir, Options{}); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Open = %v, want ErrCorrupt", err)
			}
		})
	}
}

// TestNextBehindQueue: a queue key beyond the stored next sequence (which
// the outbox never writes, but which costs nothing to survive) moves the
// sequence past it.
func TestNextBehindQueue(t *testing.T) {
	dir := t.TempDir()
	a := item(1, 0)
	writeRaw(t, dir, [2][]byte{nextKey, binary.BigEndian.AppendUint64(nil, 3)}, [2][]byte{seqKey(7), appendValue(nil, &a)})
	o := open(t, dir, Options{})
	mustPut(t, o, item(1, 1))
	checkItems(t, o, items(1, 0, 2))
}

// TestCommitFault fails the synced commit: the Put or Ack fails with the
// cause, and nothing changes, in memory or on disk.
func TestCommitFault(t *testing.T) {
	dir := t.TempDir()
	o := open(t, dir, Options{})
	errDisk := errors.New("injected fsync failure")
	commit := o.commit
	fail := func(*bolt.Tx) error { return errDisk }

	o.commit = fail
	if err := o.Put(items(1, 0, 3)...); !errors.Is(err, errDisk) {
		t.Fatalf("Put = %v, want the injected failure", err)
	}
	checkItems(t, o, nil)

	o.commit = commit
	mustPut(t, o, items(1, 0, 3)...)
	o.commit = fail
	if err := o.Ack(item(1, 0).ID); !errors.Is(err, errDisk) {
		t.Fatalf("Ack = %v, want the injected failure", err)
	}
	if err := o.Put(item(1, 3)); !errors.Is(err, errDisk) {
		t.Fatalf("Put = %v, want the injected failure", err)
	}
	checkItems(t, o, items(1, 0, 3))

	o.commit = commit
	mustPut(t, o, item(1, 3))
	checkItems(t, o, items(1, 0, 4))
	o.Close()
	checkItems(t, open(t, dir, Options{}), items(1, 0, 4))
}

// TestCommitFaultAfterWrite fails the commit after the database took it
// (as when its last fsync fails): the Put or Ack fails with the cause, and
// the outbox follows the database, so that putting the items again stores
// nothing new, acking them again is harmless, and the sequence goes on
// after them.
func TestCommitFaultAfterWrite(t *testing.T) {
	dir := t.TempDir()
	o := open(t, dir, Options{})
	errDisk := errors.New("injected fsync failure")
	commit := o.commit
	failLate := func(tx *bolt.Tx) error {
		if err := tx.Commit(); err != nil {
			return err
		}
		return errDisk
	}

	o.commit = failLate
	if err := o.Put(items(1, 0, 3)...); !errors.Is(err, errDisk) {
		t.Fatalf("Put = %v, want the injected failure", err)
	}
	checkItems(t, o, items(1, 0, 3))
	o.commit = commit
	mustPut(t, o, items(1, 0, 4)...) // only item 3 is new
	checkItems(t, o, items(1, 0, 4))

	o.commit = failLate
	if err := o.Ack(item(1, 0).ID, item(1, 3).ID); !errors.Is(err, errDisk) {
		t.Fatalf("Ack = %v, want the injected failure", err)
	}
	checkItems(t, o, items(1, 1, 2))
	o.commit = commit
	if err := o.Ack(item(1, 0).ID, item(1, 3).ID); err != nil {
		t.Fatal(err)
	}
	mustPut(t, o, item(1, 4))
	want := append(items(1, 1, 2), item(1, 4))
	checkItems(t, o, want)
	o.Close()
	checkItems(t, open(t, dir, Options{}), want)
}

// TestHead: Peek starts at the oldest pending item, whether the items
// before it were acked in order or not, and sees items put after
// everything was acked.
func TestHead(t *testing.T) {
	o := open(t, t.TempDir(), Options{})
	stuck := item(0, 0)
	mustPut(t, o, stuck)
	for round := range 10 {
		its := items(1, round*20, 20)
		mustPut(t, o, its...)
		if err := o.Ack(ids(its)...); err != nil {
			t.Fatal(err)
		}
		checkItems(t, o, []Item{stuck})
	}
	if h := o.head.Load(); h != 1 {
		t.Fatalf("head %d, want 1 (the stuck item)", h)
	}
	mustPut(t, o, item(2, 0))
	if err := o.Ack(stuck.ID); err != nil {
		t.Fatal(err)
	}
	checkItems(t, o, []Item{item(2, 0)})
	if h, want := o.head.Load(), o.nextPub.Load()-1; h != want {
		t.Fatalf("head %d, want %d", h, want)
	}
	if err := o.Ack(item(2, 0).ID); err != nil {
		t.Fatal(err)
	}
	if h, want := o.head.Load(), o.nextPub.Load(); h != want {
		t.Fatalf("head %d of an empty outbox, want %d", h, want)
	}
	mustPut(t, o, item(3, 0))
	checkItems(t, o, []Item{item(3, 0)})
}
