package merklelog

import (
	"bytes"
	"fmt"
	"sync"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
)

// maxKeptBatch bounds the node buffer a Log keeps between Appends.
const maxKeptBatch = 1 << 14

// Log is an append-only RFC 6962 Merkle log whose nodes live in a Store.
//
// A Log is safe for one writer (Append, AppendLeafHashes) and any number of
// concurrent readers; writers are serialised with each other. Readers see
// the log as of the last completed Append and are not blocked by the Store
// write of an Append in progress.
type Log struct {
	store Store

	// Writer state, guarded by wmu.
	wmu   sync.Mutex
	w     *compact.Range // working range [0, w.End()); equals the published state outside Append
	batch []Node         // nodes of the Append in progress
	visit compact.VisitFn

	// Published state, guarded by mu: written by the writer holding wmu and
	// mu, read by readers holding mu.RLock and by the writer holding wmu.
	mu    sync.RWMutex
	size  uint64
	roots [][]byte // compact range hashes of [0, size); the byte slices are never modified
}

// Open returns the Log stored in store, empty if the store is new. It reads
// the store's size and the at most 64 hashes of the compact range.
func Open(store Store) (*Log, error) {
	size, err := store.Size()
	if err != nil {
		return nil, fmt.Errorf("open log: %w", err)
	}
	roots, err := loadRange(store, size)
	if err != nil {
		return nil, fmt.Errorf("open log at size %d: %w", size, err)
	}
	w, err := factory.NewRange(0, size, cloneHashes(roots))
	if err != nil {
		return nil, fmt.Errorf("open log at size %d: %w", size, err)
	}
	l := &Log{store: store, w: w, size: size, roots: roots}
	l.visit = func(id compact.NodeID, hash []byte) {
		l.batch = append(l.batch, Node{ID: id, Hash: [HashSize]byte(hash)})
	}
	return l, nil
}

// loadRange reads the compact range hashes of [0, size) from store.
func loadRange(store Store, size uint64) ([][]byte, error) {
	ids := compact.RangeNodes(0, size, nil)
	if len(ids) == 0 {
		return nil, nil
	}
	hashes, err := store.GetNodes(ids)
	if err != nil {
		return nil, err
	}
	if len(hashes) != len(ids) {
		return nil, fmt.Errorf("store returned %d hashes for %d nodes", len(hashes), len(ids))
	}
	roots := make([][]byte, len(hashes))
	for i := range hashes {
		roots[i] = hashes[i][:]
	}
	return roots, nil
}

func cloneHashes(h [][]byte) [][]byte {
	c := make([][]byte, len(h), 64)
	copy(c, h)
	return c
}

// Append adds leaves with the given data, in order, and returns the index of
// the first. It hashes each with HashLeaf and stores the batch with one
// Store.PutNodes call. If that fails, the log is unchanged. Appending no
// leaves returns Size() and does not write.
func (l *Log) Append(leafData ...[]byte) (firstIndex uint64, err error) {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	first := l.w.End()
	for _, d := range leafData {
		// The range keeps the hash slice, so it must be fresh: HashLeaf's is.
		if err := l.w.Append(hasher.HashLeaf(d), l.visit); err != nil {
			l.rollback()
			return 0, fmt.Errorf("append at %d: %w", first, err)
		}
	}
	return l.commit(first)
}

// AppendLeafHashes is Append for leaves given by their leaf hashes (HashLeaf
// of their data).
func (l *Log) AppendLeafHashes(leafHashes ...[HashSize]byte) (firstIndex uint64, err error) {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	first := l.w.End()
	for i := range leafHashes {
		if err := l.w.Append(bytes.Clone(leafHashes[i][:]), l.visit); err != nil {
			l.rollback()
			return 0, fmt.Errorf("append at %d: %w", first, err)
		}
	}
	return l.commit(first)
}

// commit stores the batch appended to l.w since size first and publishes
// the new state, or rolls l.w back. The caller holds wmu.
func (l *Log) commit(first uint64) (uint64, error) {
	end := l.w.End()
	if end == first {
		return first, nil
	}
	err := l.store.PutNodes(first, end, l.batch)
	clear(l.batch) // let the hashes go
	l.batch = l.batch[:0]
	if cap(l.batch) > maxKeptBatch {
		l.batch = nil
	}
	if err != nil {
		l.rollback()
		return 0, fmt.Errorf("append %d leaves at %d: %w", end-first, first, err)
	}
	l.mu.Lock()
	l.size = end
	l.roots = append(l.roots[:0], l.w.Hashes()...)
	l.mu.Unlock()
	return first, nil
}

// rollback resets l.w to the published state. The caller holds wmu.
func (l *Log) rollback() {
	l.batch = l.batch[:0]
	w, err := factory.NewRange(0, l.size, cloneHashes(l.roots))
	if err != nil {
		panic("merklelog: published compact range is inconsistent: " + err.Error())
	}
	l.w = w
}

// Size returns the number of leaves in the log.
func (l *Log) Size() uint64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.size
}

// Checkpoint returns the log's current checkpoint. It reads nothing from the
// Store.
func (l *Log) Checkpoint() Checkpoint {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return rootOf(l.size, l.roots)
}

// rootOf returns the checkpoint of the tree whose compact range [0, size)
// has the given hashes. It does not modify or retain hashes.
func rootOf(size uint64, hashes [][]byte) Checkpoint {
	if size == 0 {
		return Checkpoint{Size: 0, Root: EmptyRoot()}
	}
	r, err := factory.NewRange(0, size, hashes)
	if err != nil {
		panic("merklelog: compact range is inconsistent: " + err.Error())
	}
	root, err := r.GetRootHash(nil)
	if err != nil {
		panic("merklelog: compact range is inconsistent: " + err.Error())
	}
	return Checkpoint{Size: size, Root: [HashSize]byte(root)}
}

// CheckpointAt returns the checkpoint the log had when it held size leaves.
// It fails with ErrSizeOutOfRange if size > Size().
func (l *Log) CheckpointAt(size uint64) (Checkpoint, error) {
	l.mu.RLock()
	cur := l.size
	if size == cur {
		defer l.mu.RUnlock()
		return rootOf(l.size, l.roots), nil
	}
	l.mu.RUnlock()
	if size > cur {
		return Checkpoint{}, fmt.Errorf("checkpoint at size %d: %w: log size is %d", size, ErrSizeOutOfRange, cur)
	}
	hashes, err := loadRange(l.store, size)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("checkpoint at size %d: %w", size, err)
	}
	return rootOf(size, hashes), nil
}

// LeafHash returns the leaf hash of the leaf at index. It fails with
// ErrIndexOutOfRange if index >= Size().
func (l *Log) LeafHash(index uint64) ([HashSize]byte, error) {
	if cur := l.Size(); index >= cur {
		return [HashSize]byte{}, fmt.Errorf("leaf hash %d: %w: log size is %d", index, ErrIndexOutOfRange, cur)
	}
	h, err := l.store.GetNodes([]compact.NodeID{compact.NewNodeID(0, index)})
	if err != nil {
		return [HashSize]byte{}, fmt.Errorf("leaf hash %d: %w", index, err)
	}
	return h[0], nil
}

// InclusionProof returns the proof that the leaf at index is in the tree of
// the given size, for VerifyInclusion against CheckpointAt(size). It fails
// with ErrSizeOutOfRange if size > Size() and ErrIndexOutOfRange if
// index >= size.
func (l *Log) InclusionProof(index, size uint64) (Proof, error) {
	if cur := l.Size(); size > cur {
		return nil, fmt.Errorf("inclusion proof of leaf %d at size %d: %w: log size is %d", index, size, ErrSizeOutOfRange, cur)
	}
	if index >= size {
		return nil, fmt.Errorf("inclusion proof of leaf %d at size %d: %w", index, size, ErrIndexOutOfRange)
	}
	nodes, err := proof.Inclusion(index, size)
	if err != nil {
		return nil, fmt.Errorf("inclusion proof of leaf %d at size %d: %w", index, size, err)
	}
	p, err := l.build(nodes)
	if err != nil {
		return nil, fmt.Errorf("inclusion proof of leaf %d at size %d: %w", index, size, err)
	}
	return p, nil
}

// ConsistencyProof returns the proof that the tree of size2 extends the tree
// of size1, for VerifyConsistency. It is empty if size1 is 0 or size1 ==
// size2. It fails with ErrSizeOutOfRange if size2 > Size() and ErrShrink if
// size1 > size2.
func (l *Log) ConsistencyProof(size1, size2 uint64) (Proof, error) {
	if cur := l.Size(); size2 > cur {
		return nil, fmt.Errorf("consistency proof from size %d to %d: %w: log size is %d", size1, size2, ErrSizeOutOfRange, cur)
	}
	if size1 > size2 {
		return nil, fmt.Errorf("consistency proof from size %d to %d: %w", size1, size2, ErrShrink)
	}
	nodes, err := proof.Consistency(size1, size2)
	if err != nil {
		return nil, fmt.Errorf("consistency proof from size %d to %d: %w", size1, size2, err)
	}
	p, err := l.build(nodes)
	if err != nil {
		return nil, fmt.Errorf("consistency proof from size %d to %d: %w", size1, size2, err)
	}
	return p, nil
}

// build reads the nodes of a proof from the store and assembles the proof.
// All the nodes are below the published size, so they are stored and do not
// change.
func (l *Log) build(nodes proof.Nodes) (Proof, error) {
	if len(nodes.IDs) == 0 {
		return Proof{}, nil // not nil: encodes as an empty array, not null
	}
	stored, err := l.store.GetNodes(nodes.IDs)
	if err != nil {
		return nil, err
	}
	if len(stored) != len(nodes.IDs) {
		return nil, fmt.Errorf("store returned %d hashes for %d nodes", len(stored), len(nodes.IDs))
	}
	hashes, err := nodes.Rehash(Proof(stored).slices(), hashChildren)
	if err != nil {
		return nil, err
	}
	p := make(Proof, len(hashes))
	for i, h := range hashes {
		p[i] = [HashSize]byte(h)
	}
	return p, nil
}
