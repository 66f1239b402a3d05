package pebblestore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/transparency-dev/merkle/compact"

	"github.com/vitalchain/vitalchain/cloud"
	"github.com/vitalchain/vitalchain/cloud/cloudapi"
	"github.com/vitalchain/vitalchain/codec"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/merklelog"
)

// Store is a cloud.Store on Pebble, embedded in the cloud's process: every
// Append is one batch committed with fsync, so concurrent uploads share one
// sync (group commit). It is safe for concurrent use.
type Store struct {
	db  *pebble.DB
	mu  sync.Mutex // serialises Appends' size checks
	nmu sync.Mutex // serialises Nonce's check and write
	// life is held shared by every call and exclusively by Close, so that
	// a call racing Close (a request served while the process shuts down)
	// gets ErrClosed instead of Pebble's panic on a closed database.
	life   sync.RWMutex
	closed bool
	synced atomic.Uint64 // batches committed with fsync
}

// Metrics are the store's writes, for the benchmarks' units and the soak.
type Metrics struct {
	SyncedBatches       uint64 `json:"synced_batches"`        // batches committed with fsync by the logs' appends
	WALBytes            uint64 `json:"wal_bytes"`             // bytes written to the write-ahead log
	TableBytesFlushed   uint64 `json:"table_bytes_flushed"`   // memtables written as tables
	TableBytesCompacted uint64 `json:"table_bytes_compacted"` // tables rewritten by compactions
	Compactions         int64  `json:"compactions"`
	DiskBytes           uint64 `json:"disk_bytes"` // every file of the store, the WAL included
	// MemoryBytes is what the store holds outside the Go heap: memtables
	// (allocated, the current and those not yet freed) and block cache.
	MemoryBytes uint64 `json:"memory_bytes"`
}

// Metrics returns the store's writes since it was opened.
func (s *Store) Metrics() Metrics {
	s.life.RLock()
	defer s.life.RUnlock()
	if s.closed {
		return Metrics{}
	}
	m := s.db.Metrics()
	t := m.Total()
	return Metrics{SyncedBatches: s.synced.Load(), WALBytes: m.WAL.BytesWritten, TableBytesFlushed: t.TableBytesFlushed,
		TableBytesCompacted: t.TableBytesCompacted, Compactions: m.Compact.Count, DiskBytes: m.DiskSpaceUsage(),
		MemoryBytes: m.MemTable.Size + m.MemTable.ZombieSize + uint64(m.BlockCache.Size)}
}

// ErrClosed: the store was closed.
var ErrClosed = errors.New("cloud store closed")

// enter begins a call: it fails with ErrClosed once Close has begun. A
// call that entered must leave (s.life.RUnlock).
func (s *Store) enter() error {
	s.life.RLock()
	if s.closed {
		s.life.RUnlock()
		return ErrClosed
	}
	return nil
}

var _ cloud.Store = (*Store)(nil)

// Keys: one prefix byte, then fixed-width fields. Values are CBOR.
const (
	kRecord  = 'r' // r id → cloud.StoredRecord
	kNode    = 'n' // n log level(1) index(8) → hash
	kSize    = 's' // s log → size(8)
	kAccess  = 'a' // a index(8) → cloudapi.AccessEntry
	kPatient = 'p' // p patient index(8) → "" (a patient's access entries)
	kIndex   = 'x' // x index(8) → record id (the records log, in order)
	kNonce   = 'q' // q requester nonce(16) → expiry(8): signed requests seen
	kByPat   = 'i' // i patient index(8) → record id (a patient's records, for Erase)
	kMeta    = 'm' // m name → value: the store's own bookkeeping
)

// metaLayout names the version of the key layout; layout 2 added kByPat.
var metaLayout = []byte{kMeta, 'l'}

const layout = 2

// Open opens the store in dir, creating it if dir holds none. Only one
// process may have it open at a time.
func Open(dir string) (*Store, error) {
	// Bloom filters make the duplicate check of every new record (a miss)
	// cheap; without them each miss reads index blocks from every level.
	cache := pebble.NewCache(128 << 20)
	defer cache.Unref()
	opts := &pebble.Options{MemTableSize: 32 << 20, Logger: quietPebble{}, Cache: cache, Cleaner: deletingCleaner{}}
	opts.Levels[0].FilterPolicy = bloom.FilterPolicy(10)
	db, err := pebble.Open(dir, opts)
	if err != nil {
		return nil, fmt.Errorf("open cloud store %s: %w", dir, err)
	}
	st := &Store{db: db}
	if err := st.upgrade(); err != nil {
		db.Close()
		return nil, fmt.Errorf("open cloud store %s: %w", dir, err)
	}
	return st, nil
}

// upgrade brings a store written by an older layout to the current one:
// layout 1 had no index of records by patient, which it builds.
func (s *Store) upgrade() error {
	v, err := s.get(metaLayout)
	switch {
	case err == nil && len(v) == 1 && v[0] == layout:
		return nil
	case err == nil && len(v) == 1 && v[0] > layout:
		return fmt.Errorf("key layout %d is newer than this binary's (%d)", v[0], layout)
	case err != nil && !errors.Is(err, cloud.ErrNotFound):
		return err
	}
	b := s.db.NewBatch()
	defer b.Close()
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{kRecord}, UpperBound: []byte{kRecord + 1}})
	if err != nil {
		return err
	}
	for ok := it.First(); ok; ok = it.Next() {
		var r cloud.StoredRecord
		if err := codec.UnmarshalLimit(it.Value(), 1<<20, &r); err != nil {
			it.Close()
			return fmt.Errorf("index records by patient: corrupt record at %x: %w", it.Key(), err)
		}
		if err := b.Set(byPatientKey(r.Patient, r.Index), r.ID[:], nil); err != nil {
			it.Close()
			return err
		}
	}
	if err := it.Close(); err != nil {
		return err
	}
	if err := b.Set(metaLayout, []byte{layout}, nil); err != nil {
		return err
	}
	return b.Commit(pebble.Sync)
}

func byPatientKey(patient identity.ID, index uint64) []byte {
	return binary.BigEndian.AppendUint64(append([]byte{kByPat}, patient[:]...), index)
}

// deletingCleaner deletes Pebble's obsolete files, as its default cleaner
// does, and keeps it from recycling write-ahead logs: a recycled log file
// keeps the writes it held until new ones overwrite them, and an erasure
// must leave no file holding an erased record. Pebble recycles no log for
// a cleaner that needs the files' contents, which it tells by an
// unexported method of ArchiveCleaner: embedded one level down, it lends
// that method, while DeleteCleaner's Clean, one level up, deletes the
// files rather than archive them. The price: each new log is a new file.
type deletingCleaner struct {
	pebble.DeleteCleaner
	noRecycling
}

type noRecycling struct{ pebble.ArchiveCleaner }

type quietPebble struct{}

func (quietPebble) Infof(string, ...any)  {}
func (quietPebble) Errorf(string, ...any) {}
func (quietPebble) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf("pebble: "+format, args...))
}

// Close closes the store, once the calls under way have returned; later
// calls fail with ErrClosed.
func (s *Store) Close() error {
	s.life.Lock()
	defer s.life.Unlock()
	if s.closed {
		return ErrClosed
	}
	s.closed = true
	return s.db.Close()
}

func nodeKey(log uint8, id compact.NodeID) []byte {
	k := []byte{kNode, log, byte(id.Level)}
	return binary.BigEndian.AppendUint64(k, id.Index)
}

func (s *Store) get(k []byte) ([]byte, error) {
	v, c, err := s.db.Get(k)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, cloud.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return bytes.Clone(v), nil
}

// Size implements cloud.Store.
func (s *Store) Size(log uint8) (uint64, error) {
	if err := s.enter(); err != nil {
		return 0, err
	}
	defer s.life.RUnlock()
	v, err := s.get([]byte{kSize, log})
	if errors.Is(err, cloud.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint64(v), nil
}

// GetNodes implements cloud.Store.
func (s *Store) GetNodes(log uint8, ids []compact.NodeID) ([][merklelog.HashSize]byte, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.life.RUnlock()
	out := make([][merklelog.HashSize]byte, len(ids))
	for i, id := range ids {
		v, err := s.get(nodeKey(log, id))
		if errors.Is(err, cloud.ErrNotFound) {
			return nil, fmt.Errorf("%w: node %d/%d of log %d", merklelog.ErrNotFound, id.Level, id.Index, log)
		}
		if err != nil {
			return nil, err
		}
		copy(out[i][:], v)
	}
	return out, nil
}

// append commits one log's rows and nodes in a synced batch.
func (s *Store) append(log uint8, oldSize, newSize uint64, nodes []merklelog.Node, rows func(*pebble.Batch) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, err := s.Size(log)
	if err != nil {
		return err
	}
	if cur != oldSize {
		return fmt.Errorf("%w: log %d has size %d, not %d", merklelog.ErrConflict, log, cur, oldSize)
	}
	b := s.db.NewBatch()
	defer b.Close()
	if err := rows(b); err != nil {
		return err
	}
	for _, n := range nodes {
		if err := b.Set(nodeKey(log, n.ID), n.Hash[:], nil); err != nil {
			return err
		}
	}
	if err := b.Set([]byte{kSize, log}, binary.BigEndian.AppendUint64(nil, newSize), nil); err != nil {
		return err
	}
	s.synced.Add(1)
	return b.Commit(pebble.Sync)
}

// AppendRecords implements cloud.Store.
func (s *Store) AppendRecords(oldSize, newSize uint64, recs []cloud.StoredRecord, nodes []merklelog.Node) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.life.RUnlock()
	return s.append(cloud.LogRecords, oldSize, newSize, nodes, func(b *pebble.Batch) error {
		for i := range recs {
			v, err := codec.Marshal(&recs[i])
			if err != nil {
				return err
			}
			if err := b.Set(append([]byte{kRecord}, recs[i].ID[:]...), v, nil); err != nil {
				return err
			}
			ik := binary.BigEndian.AppendUint64([]byte{kIndex}, recs[i].Index)
			if err := b.Set(ik, recs[i].ID[:], nil); err != nil {
				return err
			}
			if err := b.Set(byPatientKey(recs[i].Patient, recs[i].Index), recs[i].ID[:], nil); err != nil {
				return err
			}
		}
		return nil
	})
}

// AppendAccess implements cloud.Store.
func (s *Store) AppendAccess(oldSize, newSize uint64, entries []cloudapi.AccessEntry, nodes []merklelog.Node) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.life.RUnlock()
	return s.append(cloud.LogAccess, oldSize, newSize, nodes, func(b *pebble.Batch) error {
		for i := range entries {
			e := &entries[i]
			v, err := codec.Marshal(e)
			if err != nil {
				return err
			}
			idx := binary.BigEndian.AppendUint64(nil, e.Index)
			if err := b.Set(append([]byte{kAccess}, idx...), v, nil); err != nil {
				return err
			}
			pk := append(append([]byte{kPatient}, e.Patient[:]...), idx...)
			if err := b.Set(pk, nil, nil); err != nil {
				return err
			}
		}
		return nil
	})
}

// Record implements cloud.Store.
func (s *Store) Record(id [32]byte) (*cloud.StoredRecord, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.life.RUnlock()
	v, err := s.get(append([]byte{kRecord}, id[:]...))
	if err != nil {
		return nil, err
	}
	var r cloud.StoredRecord
	if err := codec.UnmarshalLimit(v, 1<<20, &r); err != nil {
		return nil, fmt.Errorf("corrupt record %x: %w", id[:8], err)
	}
	return &r, nil
}

// RecordsFrom implements cloud.Store.
func (s *Store) RecordsFrom(from uint64, limit int) ([]cloud.StoredRecord, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.life.RUnlock()
	it, err := s.db.NewIter(&pebble.IterOptions{
		LowerBound: binary.BigEndian.AppendUint64([]byte{kIndex}, from),
		UpperBound: []byte{kIndex + 1},
	})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out []cloud.StoredRecord
	for ok := it.First(); ok && len(out) < limit; ok = it.Next() {
		var id [32]byte
		if copy(id[:], it.Value()) != len(id) {
			return nil, fmt.Errorf("corrupt record index at %x", it.Key())
		}
		r, err := s.Record(id)
		if err != nil {
			return nil, err
		}
		out = append(out, *r)
	}
	return out, it.Error()
}

// Erase implements cloud.Store. The tombstones are written in one synced
// batch; then the memtable is flushed and the erased records' key range
// compacted, so that the old values leave Pebble's tables as well (the
// write-ahead log that held them is then obsolete). That compaction may
// rewrite much of the records' table, once per erasure.
func (s *Store) Erase(patient identity.ID) ([][32]byte, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.life.RUnlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	lower := append([]byte{kByPat}, patient[:]...)
	upper := append(append([]byte{kByPat}, patient[:]...), bytes.Repeat([]byte{0xff}, 9)...)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return nil, err
	}
	b := s.db.NewBatch()
	defer b.Close()
	var ids [][32]byte
	var lo, hi []byte
	for ok := it.First(); ok; ok = it.Next() {
		var id [32]byte
		if copy(id[:], it.Value()) != len(id) {
			it.Close()
			return nil, fmt.Errorf("corrupt patient index at %x", it.Key())
		}
		k := append([]byte{kRecord}, id[:]...)
		v, err := s.get(k)
		if err != nil {
			it.Close()
			return nil, fmt.Errorf("record %x: %w", id[:8], err)
		}
		var r cloud.StoredRecord
		if err := codec.UnmarshalLimit(v, 1<<20, &r); err != nil {
			it.Close()
			return nil, fmt.Errorf("corrupt record %x: %w", id[:8], err)
		}
		clear(v)
		if r.Erased {
			continue
		}
		clear(r.Bytes)
		r.Bytes, r.Erased = nil, true
		nv, err := codec.Marshal(&r)
		if err != nil {
			it.Close()
			return nil, err
		}
		if err := b.Set(k, nv, nil); err != nil {
			it.Close()
			return nil, err
		}
		if lo == nil || bytes.Compare(k, lo) < 0 {
			lo = k
		}
		if hi == nil || bytes.Compare(k, hi) > 0 {
			hi = k
		}
		ids = append(ids, id)
	}
	if err := it.Close(); err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		return nil, nil
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return nil, err
	}
	if err := s.db.Flush(); err != nil {
		return ids, fmt.Errorf("erased, but flushing the erasure: %w", err)
	}
	if err := s.db.Compact(context.Background(), lo, append(bytes.Clone(hi), 0), true); err != nil {
		return ids, fmt.Errorf("erased, but compacting the erased records: %w", err)
	}
	return ids, nil
}

// Access implements cloud.Store.
func (s *Store) Access(patient identity.ID, from uint64, limit int) ([]cloudapi.AccessEntry, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.life.RUnlock()
	lower := append(append([]byte{kPatient}, patient[:]...), binary.BigEndian.AppendUint64(nil, from)...)
	upper := append(append([]byte{kPatient}, patient[:]...), bytes.Repeat([]byte{0xff}, 9)...)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out []cloudapi.AccessEntry
	for ok := it.First(); ok && len(out) < limit; ok = it.Next() {
		k := it.Key()
		v, err := s.get(append([]byte{kAccess}, k[len(k)-8:]...))
		if err != nil {
			return nil, err
		}
		var e cloudapi.AccessEntry
		if err := codec.UnmarshalLimit(v, 1<<20, &e); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, it.Error()
}

// Nonce implements cloud.Store.
func (s *Store) Nonce(requester identity.ID, nonce [16]byte, expires int64) (bool, error) {
	if err := s.enter(); err != nil {
		return false, err
	}
	defer s.life.RUnlock()
	k := append(append([]byte{kNonce}, requester[:]...), nonce[:]...)
	s.nmu.Lock()
	defer s.nmu.Unlock()
	_, closer, err := s.db.Get(k)
	if err == nil {
		closer.Close()
		return false, nil
	}
	if !errors.Is(err, pebble.ErrNotFound) {
		return false, err
	}
	return true, s.db.Set(k, binary.BigEndian.AppendUint64(nil, uint64(expires)), pebble.Sync)
}

// ForgetNonces implements cloud.Store.
func (s *Store) ForgetNonces(now int64) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.life.RUnlock()
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{kNonce}, UpperBound: []byte{kNonce + 1}})
	if err != nil {
		return err
	}
	b := s.db.NewBatch()
	defer b.Close()
	for ok := it.First(); ok; ok = it.Next() {
		if v := it.Value(); len(v) == 8 && int64(binary.BigEndian.Uint64(v)) < now {
			if err := b.Delete(it.Key(), nil); err != nil {
				it.Close()
				return err
			}
		}
	}
	if err := it.Close(); err != nil {
		return err
	}
	return b.Commit(pebble.NoSync)
}
