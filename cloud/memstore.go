package cloud

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"sync"

	"github.com/transparency-dev/merkle/compact"

	"github.com/vitalchain/vitalchain/cloud/cloudapi"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/merklelog"
)

// errMemStoreClosed is returned by a MemStore's methods after Close.
var errMemStoreClosed = errors.New("memory store closed")

// MemStore is a Store in memory, for tests and trials: it is not durable,
// everything it holds is lost with the process. An Append is atomic (all
// of it or nothing is visible) and it copies what it is given and what it
// returns, as a database would.
//
// It is stricter than the Store contract requires: an Append must bring
// exactly newSize-oldSize rows, numbered oldSize on, and nodes that form
// the log's tree (see merklelog.MemStore); anything else is refused, so
// that a test catches a caller that breaks those rules.
type MemStore struct {
	mu        sync.RWMutex
	closed    bool
	nodes     map[uint8]*merklelog.MemStore // by log; sizes are theirs
	records   []StoredRecord                // by position in the records log
	byID      map[[32]byte]uint64           // record ID → position
	access    []cloudapi.AccessEntry        // by position in the access log
	byPatient map[identity.ID][]uint64      // patient → positions in access, ascending
	nonces    map[[48]byte]int64            // requester ‖ nonce → expiry
}

var _ Store = (*MemStore)(nil)

// NewMemStore returns an empty MemStore.
func NewMemStore() *MemStore {
	return &MemStore{
		nodes:     map[uint8]*merklelog.MemStore{},
		byID:      map[[32]byte]uint64{},
		byPatient: map[identity.ID][]uint64{},
		nonces:    map[[48]byte]int64{},
	}
}

// logNodes returns the node store of log, creating it if create is set;
// nil if it does not exist. The caller holds mu (for writing if create).
func (s *MemStore) logNodes(log uint8, create bool) *merklelog.MemStore {
	l := s.nodes[log]
	if l == nil && create {
		l = merklelog.NewMemStore()
		s.nodes[log] = l
	}
	return l
}

// Size implements Store.
func (s *MemStore) Size(log uint8) (uint64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return 0, errMemStoreClosed
	}
	l := s.logNodes(log, false)
	if l == nil {
		return 0, nil
	}
	return l.Size()
}

// GetNodes implements Store.
func (s *MemStore) GetNodes(log uint8, ids []compact.NodeID) ([][merklelog.HashSize]byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, errMemStoreClosed
	}
	l := s.logNodes(log, false)
	if l == nil {
		if len(ids) == 0 {
			return [][merklelog.HashSize]byte{}, nil
		}
		return nil, fmt.Errorf("%w: node %d/%d of log %d", merklelog.ErrNotFound, ids[0].Level, ids[0].Index, log)
	}
	hs, err := l.GetNodes(ids)
	if err != nil {
		return nil, fmt.Errorf("log %d: %w", log, err)
	}
	return hs, nil
}

// checkRows checks that an append from oldSize to newSize brings n rows
// whose indices, given by index, are oldSize, oldSize+1, ...
func checkRows(log uint8, oldSize, newSize uint64, n int, index func(int) uint64) error {
	if newSize < oldSize || newSize-oldSize != uint64(n) {
		return fmt.Errorf("memory store: append of %d rows moves log %d from %d to %d", n, log, oldSize, newSize)
	}
	for i := range n {
		if index(i) != oldSize+uint64(i) {
			return fmt.Errorf("memory store: row %d of an append to log %d at %d has index %d", i, log, oldSize, index(i))
		}
	}
	return nil
}

// AppendRecords implements Store.
func (s *MemStore) AppendRecords(oldSize, newSize uint64, recs []StoredRecord, nodes []merklelog.Node) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errMemStoreClosed
	}
	l := s.logNodes(LogRecords, true)
	if cur, _ := l.Size(); cur != oldSize {
		return fmt.Errorf("%w: log %d has size %d, not %d", merklelog.ErrConflict, LogRecords, cur, oldSize)
	}
	if err := checkRows(LogRecords, oldSize, newSize, len(recs), func(i int) uint64 { return recs[i].Index }); err != nil {
		return err
	}
	seen := make(map[[32]byte]bool, len(recs))
	for i := range recs {
		if _, ok := s.byID[recs[i].ID]; ok || seen[recs[i].ID] {
			return fmt.Errorf("memory store: record %x is already stored", recs[i].ID[:8])
		}
		seen[recs[i].ID] = true
	}
	if err := l.PutNodes(oldSize, newSize, nodes); err != nil {
		return fmt.Errorf("log %d: %w", LogRecords, err)
	}
	for _, r := range recs {
		r.Bytes = bytes.Clone(r.Bytes)
		s.byID[r.ID] = r.Index
		s.records = append(s.records, r)
	}
	return nil
}

// AppendAccess implements Store.
func (s *MemStore) AppendAccess(oldSize, newSize uint64, entries []cloudapi.AccessEntry, nodes []merklelog.Node) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errMemStoreClosed
	}
	l := s.logNodes(LogAccess, true)
	if cur, _ := l.Size(); cur != oldSize {
		return fmt.Errorf("%w: log %d has size %d, not %d", merklelog.ErrConflict, LogAccess, cur, oldSize)
	}
	if err := checkRows(LogAccess, oldSize, newSize, len(entries), func(i int) uint64 { return entries[i].Index }); err != nil {
		return err
	}
	if err := l.PutNodes(oldSize, newSize, nodes); err != nil {
		return fmt.Errorf("log %d: %w", LogAccess, err)
	}
	for _, e := range entries {
		s.byPatient[e.Patient] = append(s.byPatient[e.Patient], e.Index)
		s.access = append(s.access, e)
	}
	return nil
}

// Record implements Store.
func (s *MemStore) Record(id [32]byte) (*StoredRecord, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, errMemStoreClosed
	}
	i, ok := s.byID[id]
	if !ok {
		return nil, fmt.Errorf("record %x: %w", id[:8], ErrNotFound)
	}
	r := s.records[i]
	r.Bytes = bytes.Clone(r.Bytes)
	return &r, nil
}

// RecordsFrom implements Store.
func (s *MemStore) RecordsFrom(from uint64, limit int) ([]StoredRecord, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, errMemStoreClosed
	}
	var out []StoredRecord
	for i := from; i < uint64(len(s.records)) && len(out) < limit; i++ {
		r := s.records[i]
		r.Bytes = bytes.Clone(r.Bytes)
		out = append(out, r)
	}
	return out, nil
}

// Erase implements Store.
func (s *MemStore) Erase(patient identity.ID) ([][32]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errMemStoreClosed
	}
	var ids [][32]byte
	for i := range s.records {
		r := &s.records[i]
		if r.Patient != patient || r.Erased {
			continue
		}
		clear(r.Bytes) // the only copy: the store hands out clones
		r.Bytes, r.Erased = nil, true
		ids = append(ids, r.ID)
	}
	return ids, nil
}

// Access implements Store.
func (s *MemStore) Access(patient identity.ID, from uint64, limit int) ([]cloudapi.AccessEntry, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, errMemStoreClosed
	}
	idx := s.byPatient[patient]
	var out []cloudapi.AccessEntry
	for _, i := range idx[sort.Search(len(idx), func(k int) bool { return idx[k] >= from }):] {
		if len(out) >= limit {
			break
		}
		out = append(out, s.access[i])
	}
	return out, nil
}

// Close implements Store: it drops everything the store holds; later calls
// fail.
func (s *MemStore) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	s.nodes, s.records, s.byID, s.access, s.byPatient = nil, nil, nil, nil, nil
	return nil
}

// Nonce implements Store.
func (s *MemStore) Nonce(requester identity.ID, nonce [16]byte, expires int64) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false, errMemStoreClosed
	}
	k := nonceKey(requester, nonce)
	if _, ok := s.nonces[k]; ok {
		return false, nil
	}
	s.nonces[k] = expires
	return true, nil
}

// ForgetNonces implements Store.
func (s *MemStore) ForgetNonces(now int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errMemStoreClosed
	}
	for k, exp := range s.nonces {
		if exp < now {
			delete(s.nonces, k)
		}
	}
	return nil
}

func nonceKey(requester identity.ID, nonce [16]byte) [48]byte {
	var k [48]byte
	copy(k[:32], requester[:])
	copy(k[32:], nonce[:])
	return k
}
