package merklelog

import (
	"fmt"
	"sync"

	"github.com/transparency-dev/merkle/compact"
)

// Node is the hash of one node of the tree: a leaf hash at level 0, or the
// root of a complete subtree of 2^Level leaves above.
type Node struct {
	ID   compact.NodeID
	Hash [HashSize]byte
}

// Store persists a Log's leaf hashes and complete-subtree hashes. Nodes are
// immutable once written: the log only ever adds nodes.
//
// Implementations must be safe for concurrent use: Size and GetNodes may be
// called while PutNodes runs, and must then see the state before or after
// that PutNodes, never part of it.
type Store interface {
	// Size returns the committed number of leaves, 0 for a new store.
	Size() (uint64, error)
	// GetNodes returns the hashes of the given nodes, in order, in a slice
	// the caller may keep. It fails with an error wrapping ErrNotFound if
	// one of them is not stored.
	GetNodes(ids []compact.NodeID) ([][HashSize]byte, error)
	// PutNodes atomically stores nodes and moves the committed size from
	// oldSize to newSize: after an error nothing is stored. If the committed
	// size is not oldSize it fails with an error wrapping ErrConflict. It
	// must not retain nodes.
	PutNodes(oldSize, newSize uint64, nodes []Node) error
}

// MemStore is a Store in memory. Its zero value is an empty store.
type MemStore struct {
	mu     sync.RWMutex
	size   uint64
	levels []memLevel // levels[l] holds the nodes (l, 0), (l, 1), ...
}

// memChunk is the unit of allocation of a memLevel: appending never copies
// stored hashes, and chunks hold no pointers for the GC to scan.
const memChunk = 1024

type memLevel struct {
	n      uint64
	chunks []*[memChunk][HashSize]byte
}

func (m *memLevel) get(i uint64) *[HashSize]byte {
	return &m.chunks[i/memChunk][i%memChunk]
}

func (m *memLevel) add(h *[HashSize]byte) {
	if m.n/memChunk == uint64(len(m.chunks)) {
		m.chunks = append(m.chunks, new([memChunk][HashSize]byte))
	}
	m.chunks[m.n/memChunk][m.n%memChunk] = *h
	m.n++
}

// NewMemStore returns an empty MemStore.
func NewMemStore() *MemStore { return new(MemStore) }

// Size implements Store.
func (s *MemStore) Size() (uint64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.size, nil
}

// GetNodes implements Store.
func (s *MemStore) GetNodes(ids []compact.NodeID) ([][HashSize]byte, error) {
	out := make([][HashSize]byte, len(ids))
	s.mu.RLock()
	defer s.mu.RUnlock()
	for i, id := range ids {
		if id.Level >= uint(len(s.levels)) || id.Index >= s.levels[id.Level].n {
			return nil, fmt.Errorf("memstore: node (level %d, index %d): %w", id.Level, id.Index, ErrNotFound)
		}
		out[i] = *s.levels[id.Level].get(id.Index)
	}
	return out, nil
}

// PutNodes implements Store. As the log is append-only, each level must grow
// by consecutive indices and the leaves must be exactly [oldSize, newSize).
func (s *MemStore) PutNodes(oldSize, newSize uint64, nodes []Node) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.size != oldSize {
		return fmt.Errorf("memstore: put from size %d: %w: store has size %d", oldSize, ErrConflict, s.size)
	}
	if newSize < oldSize {
		return fmt.Errorf("memstore: put from size %d to %d: size decreases", oldSize, newSize)
	}
	// Within each level, nodes arrive in index order, so each must be the
	// next of its level. On a bad node, undo the nodes added before it.
	for i := range nodes {
		n := &nodes[i]
		var next uint64
		if n.ID.Level < uint(len(s.levels)) {
			next = s.levels[n.ID.Level].n
		}
		if n.ID.Level >= 64 || n.ID.Index != next {
			for _, m := range nodes[:i] {
				s.levels[m.ID.Level].n--
			}
			return fmt.Errorf("memstore: put node (level %d, index %d): not the next node of its level", n.ID.Level, n.ID.Index)
		}
		for uint(len(s.levels)) <= n.ID.Level {
			s.levels = append(s.levels, memLevel{})
		}
		s.levels[n.ID.Level].add(&n.Hash)
	}
	if len(s.levels) == 0 && newSize != 0 || len(s.levels) > 0 && s.levels[0].n != newSize {
		for _, m := range nodes {
			s.levels[m.ID.Level].n--
		}
		return fmt.Errorf("memstore: put from size %d to %d: batch does not hold exactly those leaves", oldSize, newSize)
	}
	s.size = newSize
	return nil
}
