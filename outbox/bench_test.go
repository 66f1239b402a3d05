package outbox

import (
	"encoding/binary"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/cockroachdb/pebble/v2"
)

// benchSize is about a gateway's sealed record: a 190-byte header, the
// encrypted signed reading and a signature.
const benchSize = 500

var benchOpts = Options{MaxItems: 1 << 30, MaxBytes: 1 << 40}

func benchItem(i uint64) Item {
	var id [32]byte
	binary.BigEndian.PutUint64(id[:], i)
	data := make([]byte, benchSize)
	copy(data, id[:])
	return Item{ID: id, Data: data, Enqueued: 1}
}

func openPebble(b *testing.B) *pebble.DB {
	cache := pebble.NewCache(DefaultCacheSize)
	defer cache.Unref()
	db, err := pebble.Open(b.TempDir(), &pebble.Options{Cache: cache, MemTableSize: 4 << 20, Logger: quietPebble{}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return db
}

// BenchmarkPebbleSyncedBatch is the primitive under Put: a batch of n
// items, encoded as the outbox stores them, committed with fsync.
func BenchmarkPebbleSyncedBatch(b *testing.B) {
	for _, n := range []int{1, 64} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			db := openPebble(b)
			it := benchItem(0)
			v := appendValue(nil, &it)
			var seq uint64
			for b.Loop() {
				batch := db.NewBatch()
				for range n {
					seq++
					binary.BigEndian.PutUint64(v[1:], seq) // the ID
					batch.Set(seqKey(seq), v, nil)
				}
				if err := batch.Commit(pebble.Sync); err != nil {
					b.Fatal(err)
				}
				batch.Close()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(seq), "ns/item")
		})
	}
}

// BenchmarkPut puts batches of n items of benchSize bytes.
func BenchmarkPut(b *testing.B) {
	for _, n := range []int{1, 64} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			o := open(b, b.TempDir(), benchOpts)
			its := make([]Item, n)
			for i := range its {
				its[i] = benchItem(0)
			}
			var seq uint64
			for b.Loop() {
				for i := range its {
					seq++
					binary.BigEndian.PutUint64(its[i].ID[:], seq)
				}
				if err := o.Put(its...); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(seq), "ns/item")
		})
	}
}

// BenchmarkPebbleSyncedBatchParallel: 8 goroutines per core each committing one
// value with fsync (Pebble's own group commit).
func BenchmarkPebbleSyncedBatchParallel(b *testing.B) {
	db := openPebble(b)
	it := benchItem(0)
	v := appendValue(nil, &it)
	var seq atomic.Uint64
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			batch := db.NewBatch()
			batch.Set(seqKey(seq.Add(1)), v, nil)
			if err := batch.Commit(pebble.Sync); err != nil {
				b.Error(err)
				return
			}
			batch.Close()
		}
	})
}

// BenchmarkPutParallel: 8 goroutines per core each putting one item (the outbox's
// group commit).
func BenchmarkPutParallel(b *testing.B) {
	o := open(b, b.TempDir(), benchOpts)
	var seq atomic.Uint64
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := o.Put(benchItem(seq.Add(1))); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

const benchRefill = 64 * 64

// BenchmarkPebbleScanDelete is the primitive under Peek+Ack: read the next
// 64 values from the head and delete them in a synced batch. ns/item is
// per value.
func BenchmarkPebbleScanDelete(b *testing.B) {
	db := openPebble(b)
	it := benchItem(0)
	v := appendValue(nil, &it)
	var head, tail, items uint64
	for b.Loop() {
		if head == tail {
			b.StopTimer()
			batch := db.NewBatch()
			for range benchRefill {
				binary.BigEndian.PutUint64(v[1:], tail) // the ID
				binary.BigEndian.PutUint64(v[valueHeader:], tail)
				batch.Set(seqKey(tail), v, nil)
				tail++
			}
			batch.Commit(pebble.Sync)
			batch.Close()
			b.StartTimer()
		}
		it, _ := db.NewIter(&pebble.IterOptions{LowerBound: seqKey(head), UpperBound: queueUpper})
		batch := db.NewBatch()
		n := 0
		for ok := it.First(); ok && n < 64; ok = it.Next() {
			val, _ := it.ValueAndErr()
			_ = append([]byte(nil), val...)
			batch.Delete(it.Key(), nil)
			n++
		}
		it.Close()
		if err := batch.Commit(pebble.Sync); err != nil {
			b.Fatal(err)
		}
		batch.Close()
		head += uint64(n)
		items += uint64(n)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(items), "ns/item")
}

// BenchmarkPeekAck peeks the 64 oldest items and acks them. ns/item is per
// item.
func BenchmarkPeekAck(b *testing.B) {
	o := open(b, b.TempDir(), benchOpts)
	var seq, items uint64
	refill := make([]Item, benchRefill)
	for b.Loop() {
		if o.Len() == 0 {
			b.StopTimer()
			for i := range refill {
				seq++
				refill[i] = benchItem(seq)
			}
			if err := o.Put(refill...); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
		its, err := o.Peek(64)
		if err != nil {
			b.Fatal(err)
		}
		if err := o.Ack(ids(its)...); err != nil {
			b.Fatal(err)
		}
		items += uint64(len(its))
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(items), "ns/item")
}
