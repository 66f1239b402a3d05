package outbox

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// item returns a test item: its Data begins with its ID, so that a fake
// cloud can tell records apart.
func item(stream, i int) Item {
	var id [32]byte
	binary.BigEndian.PutUint32(id[:], uint32(stream))
	binary.BigEndian.PutUint64(id[4:], uint64(i))
	id[31] = 0xa5
	return Item{ID: id, Data: append(id[:], fmt.Sprintf(" record %d/%d", stream, i)...)}
}

func items(stream, from, n int) []Item {
	out := make([]Item, n)
	for i := range out {
		out[i] = item(stream, from+i)
	}
	return out
}

func idOf(data []byte) [32]byte { return [32]byte(data[:32]) }

func streamOf(id [32]byte) (stream, i int) {
	return int(binary.BigEndian.Uint32(id[:])), int(binary.BigEndian.Uint64(id[4:]))
}

func open(t testing.TB, dir string, opts Options) *Outbox {
	t.Helper()
	o, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Close() })
	return o
}

func mustPut(t testing.TB, o *Outbox, its ...Item) {
	t.Helper()
	if err := o.Put(its...); err != nil {
		t.Fatal(err)
	}
}

// all returns every pending item, oldest first.
func all(t testing.TB, o *Outbox) []Item {
	t.Helper()
	its, err := o.Peek(1 << 30)
	if err != nil {
		t.Fatal(err)
	}
	return its
}

func ids(its []Item) [][32]byte {
	out := make([][32]byte, len(its))
	for i := range its {
		out[i] = its[i].ID
	}
	return out
}

// checkItems fails unless o holds exactly want, in order.
func checkItems(t testing.TB, o *Outbox, want []Item) {
	t.Helper()
	got := all(t, o)
	if len(got) != len(want) {
		t.Fatalf("outbox holds %d items, want %d", len(got), len(want))
	}
	var size int64
	for i := range got {
		if got[i].ID != want[i].ID || string(got[i].Data) != string(want[i].Data) {
			t.Fatalf("item %d is %q, want %q", i, got[i].Data, want[i].Data)
		}
		size += int64(len(want[i].Data))
	}
	if o.Len() != len(want) || o.Bytes() != size {
		t.Fatalf("Len, Bytes = %d, %d; want %d, %d", o.Len(), o.Bytes(), len(want), size)
	}
}

// fakeClock fires every timer at once (or never, if hold), advancing its
// time, and records the waits asked of it.
type fakeClock struct {
	mu    sync.Mutex
	now   time.Time
	waits []time.Duration
	hold  bool
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.UnixMilli(1_700_000_000_000)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.waits = append(c.waits, d)
	ch := make(chan time.Time, 1)
	if !c.hold {
		c.now = c.now.Add(d)
		ch <- c.now
	}
	return ch
}

func (c *fakeClock) Waits() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.waits...)
}

var (
	errOutage  = errors.New("cloud down")
	errLostAck = errors.New("connection reset after the cloud stored the batch")
)

// fakeCloud is a Sender that stores records by ID and can fail: whole
// Sends (an outage), Sends whose answer is lost after storing, and chosen
// records transiently or for good.
type fakeCloud struct {
	mu        sync.Mutex
	calls     int
	down      func(call int) bool
	lostAck   func(call int) bool
	transient map[[32]byte]int    // transient refusals left per record
	permanent map[[32]byte]string // refusal code per record
	stored    map[[32]byte]int    // times each record was stored anew
	order     [][32]byte          // records in the order first stored
	dups      int
	hook      func(ctx context.Context, call int) error // runs first
}

func newFakeCloud() *fakeCloud {
	return &fakeCloud{transient: map[[32]byte]int{}, permanent: map[[32]byte]string{}, stored: map[[32]byte]int{}}
}

func (f *fakeCloud) Send(ctx context.Context, recs [][]byte) ([]Result, error) {
	f.mu.Lock()
	f.calls++
	call, hook := f.calls, f.hook
	f.mu.Unlock()
	if hook != nil {
		if err := hook(ctx, call); err != nil {
			return nil, err
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down != nil && f.down(call) {
		return nil, errOutage
	}
	res := make([]Result, len(recs))
	for i, r := range recs {
		id := idOf(r)
		switch {
		case f.permanent[id] != "":
			res[i] = Result{Permanent: true, Reason: f.permanent[id]}
		case f.transient[id] > 0:
			f.transient[id]--
			res[i] = Result{Reason: "unavailable"}
		case f.stored[id] > 0:
			f.dups++
			res[i] = Result{Stored: true, Reason: "duplicate"}
		default:
			f.stored[id]++
			f.order = append(f.order, id)
			res[i] = Result{Stored: true}
		}
	}
	if f.lostAck != nil && f.lostAck(call) {
		return nil, errLostAck
	}
	return res, nil
}

// checkStoredOnce fails unless the cloud stored exactly the records want,
// each once.
func (f *fakeCloud) checkStoredOnce(t testing.TB, want []Item) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.stored) != len(want) {
		t.Errorf("cloud stored %d records, want %d", len(f.stored), len(want))
	}
	for _, it := range want {
		if n := f.stored[it.ID]; n != 1 {
			t.Errorf("record %x stored %d times", it.ID[:12], n)
		}
	}
}

// runUploader runs u until stop is called or the test ends.
func runUploader(t testing.TB, u *Uploader) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- u.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; !errors.Is(err, context.Canceled) {
				t.Errorf("Run = %v, want context.Canceled", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func flush(t testing.TB, u *Uploader) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := u.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v (%d items left, stats %+v)", err, u.o.Len(), u.Stats())
	}
}
