package outbox

import (
	"errors"
	"math/rand/v2"
	"sync"
	"testing"
)

// TestConcurrent runs several Putters, a reader and the Uploader (through
// outages and lost answers) together, under a bound that makes some Puts
// fail with ErrFull and retry: every item is delivered exactly once, and
// each Putter's items reach the cloud in order.
func TestConcurrent(t *testing.T) {
	const putters, perPutter = 4, 150
	o := open(t, t.TempDir(), Options{MaxItems: 64})
	cloud := newFakeCloud()
	cloud.down = func(call int) bool { return call%5 == 0 }
	cloud.lostAck = func(call int) bool { return call%7 == 0 }
	u := NewUploader(o, cloud, UploaderOptions{Clock: newFakeClock(), Batch: 16})
	runUploader(t, u)

	var wg sync.WaitGroup
	var full sync.Map
	for p := range putters {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(p), 3))
			for i := 0; i < perPutter; {
				n := min(1+r.IntN(8), perPutter-i)
				err := o.Put(items(p, i, n)...)
				if errors.Is(err, ErrFull) {
					full.Store(p, true)
					continue // backpressure: the uploader will make room
				}
				if err != nil {
					t.Error(err)
					return
				}
				i += n
			}
		})
	}
	stop := make(chan struct{})
	var rg sync.WaitGroup
	rg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			its, err := o.Peek(4)
			if err != nil {
				t.Error(err)
				return
			}
			if len(its) > 0 && o.Len() > 64 {
				t.Errorf("Len %d beyond the bound", o.Len())
			}
		}
	})
	wg.Wait()
	flush(t, u)
	close(stop)
	rg.Wait()

	var want []Item
	for p := range putters {
		want = append(want, items(p, 0, perPutter)...)
	}
	cloud.checkStoredOnce(t, want)
	last := map[int]int{}
	for _, id := range cloud.order {
		p, i := streamOf(id)
		if prev, ok := last[p]; ok && i != prev+1 {
			t.Fatalf("putter %d: item %d reached the cloud after item %d", p, i, prev)
		}
		last[p] = i
	}
	n := 0
	full.Range(func(any, any) bool { n++; return true })
	t.Logf("%d sends, %d duplicates, %d putters saw ErrFull", u.Stats().Sends, cloud.dups, n)
	checkItems(t, o, nil)
}
