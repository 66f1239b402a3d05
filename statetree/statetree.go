// Package statetree commits the ledger's state in one hash, the app hash
// that CometBFT's headers carry, and proves single keys against it: that a
// key holds a value (membership) or that it holds none (absence).
//
// It is a sparse Merkle tree of github.com/pokt-network/smt (the Pocket
// Network's, audited), with SHA-256: a key's path is SHA-256(key), a leaf
// commits SHA-256(0x01 ‖ value). (The prefix byte lets an empty value, which
// the ledger stores for index keys, be proved present: the library reads an
// empty value as absence.) The tree keeps only hashes; the values stay in
// the ledger's store, and a proof carries the value it proves.
//
// The library's own proof encoding is encoding/gob, which is no format for
// untrusted bytes. A Proof here travels as deterministic CBOR (package
// codec), decoded strictly and bounded (DecodeProof): at most 256 side
// nodes of 32 bytes, a value of at most MaxValue bytes, one encoding per
// proof.
//
// A Tree is not safe for concurrent use; a Proof's Verify is.
package statetree

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/pokt-network/smt"
	"github.com/pokt-network/smt/kvstore"

	"github.com/vitalchain/vitalchain/codec"
)

// ProofOpType names a Proof in an ABCI query's ProofOps.
const ProofOpType = "vitalchain/smt/v1"

// Sizes and bounds.
const (
	HashSize = sha256.Size
	// MaxValue bounds the value a Proof carries (the ledger's values are
	// far smaller: a transaction is at most 64 KiB).
	MaxValue = 1 << 20
	// MaxProofSize bounds an encoded Proof.
	MaxProofSize = MaxValue + 256*(HashSize+3) + 256
	maxDepth     = HashSize * 8
	leafSize     = 1 + 2*HashSize // the library's leaf: prefix, path, value hash
	proofVersion = 1
)

// Errors.
var (
	// ErrBadProof: a proof that does not decode, or does not prove its key
	// and value under the root.
	ErrBadProof = errors.New("bad state proof")
	// ErrMissingNode: the tree's store lacks a node it needs (a corrupt
	// or pruned store).
	ErrMissingNode = errors.New("state tree node missing")
)

// Nodes is where a Tree keeps its nodes (hash → encoding). Get returns nil
// and no error for a hash it does not hold.
type Nodes interface {
	Get(key []byte) ([]byte, error)
	Set(key, value []byte) error
	Delete(key []byte) error
}

// Tree is a sparse Merkle tree over a Nodes store. Set and Delete change
// it in memory; Commit writes the changed nodes to the store (and deletes
// those no longer reachable), so that a tree opened at the new root reads
// them.
type Tree struct {
	t *smt.SMT
}

// newTrie opens the library's trie, with a hasher of its own (a hash.Hash
// is stateful).
func newTrie(nodes kvstore.MapStore, root []byte) *smt.SMT {
	if len(root) == 0 || bytes.Equal(root, EmptyRoot[:]) {
		return smt.NewSparseMerkleTrie(nodes, sha256.New())
	}
	return smt.ImportSparseMerkleTrie(nodes, sha256.New(), root)
}

// EmptyRoot is the root of a tree that holds nothing.
var EmptyRoot [HashSize]byte

// Open returns the tree whose root is root (EmptyRoot, or nil, for a new
// tree), its nodes in nodes.
func Open(nodes Nodes, root []byte) *Tree {
	return &Tree{t: newTrie(mapStore{nodes}, root)}
}

// NewMemory returns an empty tree whose nodes are in memory.
func NewMemory() *Tree { return Open(NewMemNodes(), nil) }

func leafValue(v []byte) []byte {
	out := make([]byte, 1+len(v))
	out[0] = 1
	copy(out[1:], v)
	return out
}

// Set sets key to value (an empty value is a value: the key is present).
func (t *Tree) Set(key, value []byte) error {
	if len(key) == 0 {
		return errors.New("statetree: empty key")
	}
	if err := t.t.Update(key, leafValue(value)); err != nil {
		return fmt.Errorf("statetree: set %x: %w", key, err)
	}
	return nil
}

// Delete removes key; deleting a key that is absent does nothing.
func (t *Tree) Delete(key []byte) error {
	err := t.t.Delete(key)
	if err != nil && !errors.Is(err, smt.ErrKeyNotFound) {
		return fmt.Errorf("statetree: delete %x: %w", key, err)
	}
	return nil
}

// Root returns the tree's root hash.
func (t *Tree) Root() [HashSize]byte {
	var r [HashSize]byte
	copy(r[:], t.t.Root())
	return r
}

// Commit writes the nodes changed since the last Commit to the store.
func (t *Tree) Commit() error {
	if err := t.t.Commit(); err != nil {
		return fmt.Errorf("statetree: commit: %w", err)
	}
	return nil
}

// Prove returns the proof that key holds value (present) or nothing (value
// nil, present false) in the tree as it is. The caller reads value from
// the state the tree commits; Prove checks that it is the one the tree
// holds, so that a node never serves a proof that does not verify.
func (t *Tree) Prove(key, value []byte, present bool) (*Proof, error) {
	p, err := t.t.Prove(key)
	if err != nil {
		return nil, fmt.Errorf("statetree: prove %x: %w", key, err)
	}
	spec := smt.NewTrieSpec(sha256.New(), false)
	cp, err := smt.CompactProof(p, &spec)
	if err != nil {
		return nil, fmt.Errorf("statetree: compact the proof of %x: %w", key, err)
	}
	out := &Proof{Present: present, SideNodes: cp.SideNodes, Leaf: cp.NonMembershipLeafData, BitMask: cp.BitMask, NumSideNodes: cp.NumSideNodes}
	if present {
		out.Value = bytes.Clone(value)
		if out.Value == nil {
			out.Value = []byte{}
		}
	}
	if err := out.Verify(t.Root(), key); err != nil {
		return nil, fmt.Errorf("statetree: the state does not match the tree at %x: %w", key, err)
	}
	return out, nil
}

// Proof proves that a key holds Value (Present) or that it holds nothing,
// under a root. It is the library's compact proof, with the value.
type Proof struct {
	Present      bool
	Value        []byte
	SideNodes    [][]byte // the side nodes that are not placeholders, from the leaf up
	Leaf         []byte   // absence: the other leaf where the key's path ends, if any
	BitMask      []byte   // bit i set: side node i is a placeholder
	NumSideNodes int
}

// wireProof is a Proof as it travels: deterministic CBOR.
type wireProof struct {
	Version      uint8    `cbor:"1,keyasint"`
	Present      bool     `cbor:"2,keyasint,omitempty"`
	Value        []byte   `cbor:"3,keyasint,omitempty"`
	SideNodes    [][]byte `cbor:"4,keyasint,omitempty"`
	Leaf         []byte   `cbor:"5,keyasint,omitempty"`
	BitMask      []byte   `cbor:"6,keyasint,omitempty"`
	NumSideNodes uint16   `cbor:"7,keyasint,omitempty"`
}

// Encode returns the proof's encoding (DecodeProof reads it).
func (p *Proof) Encode() ([]byte, error) {
	if err := p.check(); err != nil {
		return nil, err
	}
	w := wireProof{Version: proofVersion, Present: p.Present, SideNodes: p.SideNodes, Leaf: p.Leaf,
		BitMask: p.BitMask, NumSideNodes: uint16(p.NumSideNodes)}
	if p.Present {
		w.Value = p.Value
	}
	if len(w.SideNodes) == 0 {
		w.SideNodes = nil
	}
	if len(w.BitMask) == 0 {
		w.BitMask = nil
	}
	return codec.Marshal(&w)
}

// DecodeProof decodes a proof from untrusted bytes: bounded, strict (one
// encoding per proof), its shape checked; Verify checks the rest.
func DecodeProof(b []byte) (*Proof, error) {
	var w wireProof
	if err := codec.UnmarshalLimit(b, MaxProofSize, &w); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadProof, err)
	}
	if w.Version != proofVersion {
		return nil, fmt.Errorf("%w: version %d, want %d", ErrBadProof, w.Version, proofVersion)
	}
	if !w.Present && w.Value != nil {
		return nil, fmt.Errorf("%w: a value in a proof of absence", ErrBadProof)
	}
	p := &Proof{Present: w.Present, Value: w.Value, SideNodes: w.SideNodes, Leaf: w.Leaf, BitMask: w.BitMask, NumSideNodes: int(w.NumSideNodes)}
	if p.Present && p.Value == nil {
		p.Value = []byte{}
	}
	if err := p.check(); err != nil {
		return nil, err
	}
	return p, nil
}

// check checks the proof's shape: what the library would otherwise take
// on trust.
func (p *Proof) check() error {
	bits := 0
	for _, b := range p.BitMask {
		for ; b != 0; b &= b - 1 {
			bits++
		}
	}
	switch {
	case p.NumSideNodes < 0 || p.NumSideNodes > maxDepth:
		return fmt.Errorf("%w: %d side nodes, at most %d", ErrBadProof, p.NumSideNodes, maxDepth)
	case len(p.BitMask) != (p.NumSideNodes+7)/8:
		return fmt.Errorf("%w: a bit mask of %d bytes for %d side nodes", ErrBadProof, len(p.BitMask), p.NumSideNodes)
	case p.NumSideNodes%8 != 0 && p.BitMask[len(p.BitMask)-1]&(0xff>>(p.NumSideNodes%8)) != 0:
		return fmt.Errorf("%w: bits set past the side nodes", ErrBadProof)
	case len(p.SideNodes) != p.NumSideNodes-bits:
		return fmt.Errorf("%w: %d side nodes given, %d not placeholders", ErrBadProof, len(p.SideNodes), p.NumSideNodes-bits)
	case p.Present && p.Leaf != nil:
		return fmt.Errorf("%w: a proof of membership with another leaf", ErrBadProof)
	case p.Leaf != nil && len(p.Leaf) != leafSize:
		return fmt.Errorf("%w: a leaf of %d bytes, want %d", ErrBadProof, len(p.Leaf), leafSize)
	case len(p.Value) > MaxValue:
		return fmt.Errorf("%w: a value of %d bytes, at most %d", ErrBadProof, len(p.Value), MaxValue)
	}
	for i, n := range p.SideNodes {
		if len(n) != HashSize {
			return fmt.Errorf("%w: side node %d of %d bytes", ErrBadProof, i, len(n))
		}
	}
	return nil
}

// Verify checks that the proof proves its key under root: Value present,
// or absent. Any failure is ErrBadProof.
func (p *Proof) Verify(root [HashSize]byte, key []byte) error {
	if err := p.check(); err != nil {
		return err
	}
	spec := smt.NewTrieSpec(sha256.New(), false)
	full, err := smt.DecompactProof(&smt.SparseCompactMerkleProof{SideNodes: p.SideNodes, NonMembershipLeafData: p.Leaf,
		BitMask: p.BitMask, NumSideNodes: p.NumSideNodes}, &spec)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadProof, err)
	}
	var value []byte // nil: absence
	if p.Present {
		value = leafValue(p.Value)
	}
	ok, err := smt.VerifyProof(full, root[:], key, value, &spec)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadProof, err)
	}
	if !ok {
		what := "absence"
		if p.Present {
			what = "membership"
		}
		return fmt.Errorf("%w: the %s of %x does not hash to root %x", ErrBadProof, what, key, root)
	}
	return nil
}

// mapStore adapts Nodes to the library's store.
type mapStore struct{ n Nodes }

func (m mapStore) Get(k []byte) ([]byte, error) {
	v, err := m.n.Get(k)
	if err != nil {
		return nil, err
	}
	if v == nil {
		return nil, fmt.Errorf("%w: %x", ErrMissingNode, k)
	}
	return v, nil
}
func (m mapStore) Set(k, v []byte) error { return m.n.Set(k, v) }
func (m mapStore) Delete(k []byte) error { return m.n.Delete(k) }
func (m mapStore) Len() (int, error)     { return 0, errors.New("statetree: Len not supported") }
func (m mapStore) ClearAll() error       { return errors.New("statetree: ClearAll not supported") }

var _ kvstore.MapStore = mapStore{}

// MemNodes keeps a tree's nodes in memory.
type MemNodes map[string][]byte

// NewMemNodes returns an empty in-memory node store.
func NewMemNodes() MemNodes { return MemNodes{} }

// Get implements Nodes.
func (m MemNodes) Get(k []byte) ([]byte, error) { return m[string(k)], nil }

// Set implements Nodes.
func (m MemNodes) Set(k, v []byte) error { m[string(k)] = bytes.Clone(v); return nil }

// Delete implements Nodes.
func (m MemNodes) Delete(k []byte) error { delete(m, string(k)); return nil }

// Pending is a Nodes over a committed store that keeps writes aside until
// Flush hands them over, in order: a Tree commits into it, and the caller
// writes them in the same atomic batch as the state they commit.
type Pending struct {
	base Nodes
	w    map[string][]byte // nil value: deleted
	ord  []string
}

// NewPending returns a Pending over base.
func NewPending(base Nodes) *Pending { return &Pending{base: base, w: map[string][]byte{}} }

// Get implements Nodes.
func (p *Pending) Get(k []byte) ([]byte, error) {
	if v, ok := p.w[string(k)]; ok {
		return v, nil
	}
	return p.base.Get(k)
}

// Set implements Nodes.
func (p *Pending) Set(k, v []byte) error { p.put(string(k), bytes.Clone(v)); return nil }

// Delete implements Nodes.
func (p *Pending) Delete(k []byte) error { p.put(string(k), nil); return nil }

func (p *Pending) put(k string, v []byte) {
	if _, ok := p.w[k]; !ok {
		p.ord = append(p.ord, k)
	}
	p.w[k] = v
}

// Flush calls fn for each pending write in the order of first write (value
// nil: delete), and forgets them if every call succeeds.
func (p *Pending) Flush(fn func(key, value []byte) error) error {
	for _, k := range p.ord {
		if err := fn([]byte(k), p.w[k]); err != nil {
			return err
		}
	}
	p.Reset()
	return nil
}

// Reset forgets the pending writes.
func (p *Pending) Reset() {
	clear(p.w)
	p.ord = p.ord[:0]
}
