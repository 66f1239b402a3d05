package outbox

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"

	bolt "go.etcd.io/bbolt"
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

// openBolt opens a raw bbolt database as the outbox does, with its bucket.
func openBolt(b *testing.B) *bolt.DB {
	db, err := bolt.Open(filepath.Join(b.TempDir(), fileName), 0o600, boltOptions())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	err = db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucketName)
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	return db
}

// BenchmarkBoltSyncedBatch is the primitive under Put: a transaction of n
// items, encoded as the outbox stores them, committed with fsync.
func BenchmarkBoltSyncedBatch(b *testing.B) {
	for _, n := range []int{1, 64} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			db := openBolt(b)
			it := benchItem(0)
			var seq uint64
			for b.Loop() {
				err := db.Update(func(tx *bolt.Tx) error {
					bk := tx.Bucket(bucketName)
					bk.FillPercent = fillPercent
					for range n {
						seq++
						v := appendValue(nil, &it)
						binary.BigEndian.PutUint64(v[1:], seq) // the ID
						if err := bk.Put(seqKey(seq), v); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
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

// BenchmarkBoltSyncedBatchParallel: 8 goroutines per core each committing
// one value with fsync (bbolt's own group commit, DB.Batch).
func BenchmarkBoltSyncedBatchParallel(b *testing.B) {
	db := openBolt(b)
	it := benchItem(0)
	v := appendValue(nil, &it)
	var seq atomic.Uint64
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			key := seqKey(seq.Add(1))
			err := db.Batch(func(tx *bolt.Tx) error {
				bk := tx.Bucket(bucketName)
				bk.FillPercent = fillPercent
				return bk.Put(key, v)
			})
			if err != nil {
				b.Error(err)
				return
			}
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

// BenchmarkBoltScanDelete is the primitive under Peek+Ack: read the next
// 64 values from the head and delete them in a synced transaction. ns/item
// is per value.
func BenchmarkBoltScanDelete(b *testing.B) {
	db := openBolt(b)
	it := benchItem(0)
	var head, tail, items uint64
	for b.Loop() {
		if head == tail {
			b.StopTimer()
			err := db.Update(func(tx *bolt.Tx) error {
				bk := tx.Bucket(bucketName)
				bk.FillPercent = fillPercent
				for range benchRefill {
					v := appendValue(nil, &it)
					binary.BigEndian.PutUint64(v[1:], tail) // the ID
					binary.BigEndian.PutUint64(v[valueHeader:], tail)
					if err := bk.Put(seqKey(tail), v); err != nil {
						return err
					}
					tail++
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
		var keys [][]byte
		db.View(func(tx *bolt.Tx) error {
			c := tx.Bucket(bucketName).Cursor()
			for k, v := c.Seek(seqKey(head)); bytes.HasPrefix(k, queueLower) && len(keys) < 64; k, v = c.Next() {
				_ = append([]byte(nil), v...)
				keys = append(keys, append([]byte(nil), k...))
			}
			return nil
		})
		err := db.Update(func(tx *bolt.Tx) error {
			bk := tx.Bucket(bucketName)
			for _, k := range keys {
				if err := bk.Delete(k); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		head += uint64(len(keys))
		items += uint64(len(keys))
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
