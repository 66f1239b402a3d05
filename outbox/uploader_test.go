package outbox

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// TestUploaderDeliversAll: through an outage, lost answers and transient
// refusals every record is stored exactly once and acked, the ones refused
// for good are reported and dropped, and the outbox ends empty.
func TestUploaderDeliversAll(t *testing.T) {
	o := open(t, t.TempDir(), Options{})
	cloud := newFakeCloud()
	cloud.down = func(call int) bool { return call >= 2 && call <= 5 } // an outage
	cloud.lostAck = func(call int) bool { return call == 7 || call == 9 }
	its := items(1, 0, 300)
	bad := map[[32]byte]string{its[3].ID: "bad_signature", its[150].ID: "malformed", its[299].ID: "wrong_role"}
	for id, code := range bad {
		cloud.permanent[id] = code
	}
	for _, i := range []int{0, 64, 100, 101, 250} {
		cloud.transient[its[i].ID] = 1 + i%3
	}
	var mu sync.Mutex
	dropped := map[[32]byte]Result{}
	clock := newFakeClock()
	u := NewUploader(o, cloud, UploaderOptions{
		Clock: clock, Batch: 32,
		OnDrop: func(it Item, r Result) {
			mu.Lock()
			defer mu.Unlock()
			if _, dup := dropped[it.ID]; dup {
				t.Errorf("item %x dropped twice", it.ID[:12])
			}
			dropped[it.ID] = r
		},
	})
	// Items put before and while the uploader runs.
	mustPut(t, o, its[:100]...)
	stop := runUploader(t, u)
	for i := 100; i < len(its); i += 50 {
		mustPut(t, o, its[i:i+50]...)
	}
	flush(t, u)
	stop()

	var good []Item
	for _, it := range its {
		if bad[it.ID] == "" {
			good = append(good, it)
		}
	}
	cloud.checkStoredOnce(t, good)
	if cloud.dups == 0 {
		t.Error("the lost answers caused no duplicate")
	}
	mu.Lock()
	if len(dropped) != len(bad) {
		t.Errorf("%d items dropped, want %d", len(dropped), len(bad))
	}
	for id, code := range bad {
		if r := dropped[id]; r.Reason != code || !r.Permanent {
			t.Errorf("item %x dropped with %+v, want %q", id[:12], r, code)
		}
	}
	mu.Unlock()
	st := u.Stats()
	if st.Stored != uint64(len(good)) || st.Dropped != uint64(len(bad)) || st.Failures != 6 || st.Refused == 0 {
		t.Errorf("stats %+v: want %d stored, %d dropped, 6 failures, some refused", st, len(good), len(bad))
	}
	if !st.LastStored.Equal(clock.Now()) && st.LastStored.After(clock.Now()) {
		t.Errorf("last stored at %v, after now %v", st.LastStored, clock.Now())
	}
	checkItems(t, o, nil)
}

// TestUploaderOrder: with no refusals the cloud receives the items in the
// order they were put.
func TestUploaderOrder(t *testing.T) {
	o := open(t, t.TempDir(), Options{})
	cloud := newFakeCloud()
	cloud.down = func(call int) bool { return call%3 == 0 }
	u := NewUploader(o, cloud, UploaderOptions{Clock: newFakeClock(), Batch: 7})
	its := items(1, 0, 100)
	mustPut(t, o, its[:40]...)
	runUploader(t, u)
	mustPut(t, o, its[40:]...)
	flush(t, u)
	if !slices.Equal(cloud.order, ids(its)) {
		t.Fatal("the cloud received the items out of order")
	}
}

// TestUploaderBatchBytes: a Send carries at most BatchBytes of records, but
// at least one record.
func TestUploaderBatchBytes(t *testing.T) {
	o := open(t, t.TempDir(), Options{})
	var sizes []int
	cloud := newFakeCloud()
	cloud.hook = func(context.Context, int) error { return nil }
	size := int64(len(item(1, 0).Data))
	its := items(1, 0, 10)
	its[5].Data = append(its[5].Data, make([]byte, 10*size)...)
	mustPut(t, o, its...)
	rec := &recordingSender{Sender: cloud, sizes: &sizes}
	u := NewUploader(o, rec, UploaderOptions{Clock: newFakeClock(), BatchBytes: 3 * size})
	runUploader(t, u)
	flush(t, u)
	if want := []int{3, 2, 1, 3, 1}; !slices.Equal(sizes, want) {
		t.Fatalf("batches of %v records, want %v", sizes, want)
	}
}

type recordingSender struct {
	Sender
	mu    sync.Mutex
	sizes *[]int
}

func (r *recordingSender) Send(ctx context.Context, recs [][]byte) ([]Result, error) {
	r.mu.Lock()
	*r.sizes = append(*r.sizes, len(recs))
	r.mu.Unlock()
	return r.Sender.Send(ctx, recs)
}

// TestUploaderBackoff: the wait doubles from MinBackoff after each failure,
// is capped at MaxBackoff, and starts over after a success.
func TestUploaderBackoff(t *testing.T) {
	o := open(t, t.TempDir(), Options{})
	cloud := newFakeCloud()
	var mu sync.Mutex
	failing := 8
	cloud.down = func(int) bool {
		mu.Lock()
		defer mu.Unlock()
		failing--
		return failing >= 0
	}
	clock := newFakeClock()
	u := NewUploader(o, cloud, UploaderOptions{Clock: clock, MinBackoff: time.Second, MaxBackoff: 16 * time.Second, NoJitter: true})
	mustPut(t, o, item(1, 0))
	stop := runUploader(t, u)
	flush(t, u)
	stop()
	s := time.Second
	want := []time.Duration{s, 2 * s, 4 * s, 8 * s, 16 * s, 16 * s, 16 * s, 16 * s}
	if got := clock.Waits(); !slices.Equal(got, want) {
		t.Fatalf("waits %v, want %v", got, want)
	}
	if b := u.Stats().Backoff; b != 0 {
		t.Fatalf("backoff after a success is %v", b)
	}
	// A transient refusal backs off too, from the start again.
	mu.Lock()
	failing = 1
	mu.Unlock()
	cloud.mu.Lock()
	cloud.transient[item(1, 1).ID] = 2
	cloud.mu.Unlock()
	mustPut(t, o, item(1, 1))
	runUploader(t, u)
	flush(t, u)
	want = append(want, s, 2*s, 4*s)
	if got := clock.Waits(); !slices.Equal(got, want) {
		t.Fatalf("waits %v, want %v", got, want)
	}
	cloud.checkStoredOnce(t, items(1, 0, 2))
}

// TestUploaderJitter: with jitter, each wait is between half the backoff
// and the backoff.
func TestUploaderJitter(t *testing.T) {
	o := open(t, t.TempDir(), Options{})
	cloud := newFakeCloud()
	cloud.down = func(call int) bool { return call <= 30 }
	clock := newFakeClock()
	u := NewUploader(o, cloud, UploaderOptions{Clock: clock, MinBackoff: time.Second, MaxBackoff: 8 * time.Second})
	mustPut(t, o, item(1, 0))
	runUploader(t, u)
	flush(t, u)
	waits := clock.Waits()
	if len(waits) != 30 {
		t.Fatalf("%d waits, want 30", len(waits))
	}
	distinct := map[time.Duration]bool{}
	for i, d := range waits {
		b := min(time.Second<<i, 8*time.Second)
		if d < b/2 || d > b {
			t.Errorf("wait %d is %v, want between %v and %v", i, d, b/2, b)
		}
		distinct[d] = true
	}
	if len(distinct) < 10 {
		t.Errorf("only %d distinct waits in 30: no jitter?", len(distinct))
	}
}

// TestUploaderCancelMidBatch stops Run while a Send is in flight, both
// before and after the cloud stored the batch: nothing leaves the outbox,
// and a later Uploader delivers every item exactly once.
func TestUploaderCancelMidBatch(t *testing.T) {
	for _, storedFirst := range []bool{false, true} {
		name := map[bool]string{false: "before storing", true: "after storing"}[storedFirst]
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			o, err := Open(dir, Options{})
			if err != nil {
				t.Fatal(err)
			}
			its := items(1, 0, 20)
			mustPut(t, o, its...)
			cloud := newFakeCloud()
			ctx, cancel := context.WithCancel(context.Background())
			inSend := make(chan struct{})
			block := func(ctx context.Context, call int) error {
				if call == 1 {
					close(inSend)
					<-ctx.Done()
					return ctx.Err()
				}
				return nil
			}
			if storedFirst {
				// The cloud stores the batch, then the answer never comes.
				cloud.hook = nil
				inner := cloud
				sender := SenderFunc(func(ctx context.Context, recs [][]byte) ([]Result, error) {
					if _, err := inner.Send(ctx, recs); err != nil {
						return nil, err
					}
					return nil, block(ctx, 1)
				})
				u := NewUploader(o, sender, UploaderOptions{Clock: newFakeClock(), Batch: 8})
				done := make(chan error, 1)
				go func() { done <- u.Run(ctx) }()
				<-inSend
				cancel()
				if err := <-done; !errors.Is(err, context.Canceled) {
					t.Fatalf("Run = %v, want context.Canceled", err)
				}
			} else {
				cloud.hook = block
				u := NewUploader(o, cloud, UploaderOptions{Clock: newFakeClock(), Batch: 8})
				done := make(chan error, 1)
				go func() { done <- u.Run(ctx) }()
				<-inSend
				cancel()
				if err := <-done; !errors.Is(err, context.Canceled) {
					t.Fatalf("Run = %v, want context.Canceled", err)
				}
			}
			checkItems(t, o, its)
			if err := o.Close(); err != nil {
				t.Fatal(err)
			}

			o = open(t, dir, Options{})
			checkItems(t, o, its)
			cloud.hook = nil
			u := NewUploader(o, cloud, UploaderOptions{Clock: newFakeClock(), Batch: 8})
			runUploader(t, u)
			flush(t, u)
			cloud.checkStoredOnce(t, its)
			if want := map[bool]int{false: 0, true: 8}[storedFirst]; cloud.dups != want {
				t.Errorf("%d duplicates, want %d", cloud.dups, want)
			}
		})
	}
}

// SenderFunc adapts a function to Sender (tests only).
type SenderFunc func(context.Context, [][]byte) ([]Result, error)

func (f SenderFunc) Send(ctx context.Context, recs [][]byte) ([]Result, error) { return f(ctx, recs) }

// TestUploaderWrongResults: a Sender answering the wrong number of results
// is a failed Send; nothing is acked and the batch is retried.
func TestUploaderWrongResults(t *testing.T) {
	o := open(t, t.TempDir(), Options{})
	cloud := newFakeCloud()
	calls := 0
	sender := SenderFunc(func(ctx context.Context, recs [][]byte) ([]Result, error) {
		calls++
		res, err := cloud.Send(ctx, recs)
		if calls <= 2 {
			return res[:len(res)-1], err
		}
		return res, err
	})
	u := NewUploader(o, sender, UploaderOptions{Clock: newFakeClock()})
	mustPut(t, o, items(1, 0, 5)...)
	stop := runUploader(t, u)
	flush(t, u)
	stop()
	if st := u.Stats(); st.Failures != 2 || st.Stored != 5 || st.Sends != 3 {
		t.Fatalf("stats %+v, want 2 failures, 5 stored in 3 sends", st)
	}
	cloud.checkStoredOnce(t, items(1, 0, 5))
}

// TestUploaderAckFault: when the outbox cannot ack, the items stay and are
// sent again; the cloud answers that they are duplicates.
func TestUploaderAckFault(t *testing.T) {
	o := open(t, t.TempDir(), Options{})
	commit := o.commit
	mustPut(t, o, items(1, 0, 4)...)
	errDisk := errors.New("injected fsync failure")
	cloud := newFakeCloud()
	var faults int
	cloud.hook = func(_ context.Context, call int) error {
		// Runs in the uploader's goroutine, between its Sends: the
		// committer is idle, so swapping commit is safe.
		if call == 1 {
			o.commit = func(*bolt.Tx) error { faults++; return errDisk }
		} else {
			o.commit = commit
		}
		return nil
	}
	u := NewUploader(o, cloud, UploaderOptions{Clock: newFakeClock()})
	stop := runUploader(t, u)
	flush(t, u)
	stop()
	if faults != 1 || cloud.dups != 4 || u.Stats().Stored != 4 || u.Stats().Failures != 1 {
		t.Fatalf("%d faults, %d duplicates, stats %+v", faults, cloud.dups, u.Stats())
	}
	cloud.checkStoredOnce(t, items(1, 0, 4))
}

// TestUploaderClosed: Run and Flush return ErrClosed when the outbox is
// closed.
func TestUploaderClosed(t *testing.T) {
	o, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	cloud := newFakeCloud()
	cloud.down = func(int) bool { return true }
	u := NewUploader(o, cloud, UploaderOptions{Clock: newFakeClock(), MinBackoff: time.Hour})
	mustPut(t, o, item(1, 0))
	done := make(chan error, 1)
	go func() { done <- u.Run(context.Background()) }()
	flushed := make(chan error, 1)
	go func() { flushed <- u.Flush(context.Background()) }()
	o.Close()
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Fatalf("Run = %v, want ErrClosed", err)
	}
	if err := <-flushed; !errors.Is(err, ErrClosed) {
		t.Fatalf("Flush = %v, want ErrClosed", err)
	}
}

// TestFlushCutsBackoff: a Flush does not wait for a long backoff to end.
func TestFlushCutsBackoff(t *testing.T) {
	o := open(t, t.TempDir(), Options{})
	cloud := newFakeCloud()
	cloud.down = func(call int) bool { return call == 1 }
	clock := newFakeClock()
	clock.hold = true // timers never fire
	u := NewUploader(o, cloud, UploaderOptions{Clock: clock, MinBackoff: time.Hour})
	mustPut(t, o, items(1, 0, 3)...)
	runUploader(t, u)
	for len(clock.Waits()) == 0 {
		time.Sleep(time.Millisecond) // the uploader is waiting out the outage
	}
	flush(t, u)
	cloud.checkStoredOnce(t, items(1, 0, 3))

	// A Flush that cannot finish returns when its context ends.
	cloud.down = nil
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	o2 := open(t, t.TempDir(), Options{})
	mustPut(t, o2, item(1, 0))
	if err := NewUploader(o2, cloud, UploaderOptions{}).Flush(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Flush = %v, want context.DeadlineExceeded", err)
	}
}

// TestUploaderStuckRecord: a record the cloud keeps refusing for a
// transient reason does not hold up the others: the Uploader backs off only
// when a Send stored nothing.
func TestUploaderStuckRecord(t *testing.T) {
	o := open(t, t.TempDir(), Options{})
	cloud := newFakeCloud()
	stuck := item(0, 0)
	cloud.transient[stuck.ID] = 1 << 30
	clock := newFakeClock()
	clock.hold = true // a backoff would never end
	u := NewUploader(o, cloud, UploaderOptions{Clock: clock, Batch: 16})
	mustPut(t, o, stuck)
	its := items(1, 0, 200)
	mustPut(t, o, its...)
	runUploader(t, u)
	deadline := time.Now().Add(10 * time.Second)
	for len(clock.Waits()) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no backoff after 10 s; %d items left", o.Len())
		}
		time.Sleep(time.Millisecond)
	}
	cloud.checkStoredOnce(t, its)
	checkItems(t, o, []Item{stuck})
	if w := clock.Waits(); len(w) != 1 {
		t.Fatalf("%d waits, want 1 (once only the stuck record was left)", len(w))
	}
}
