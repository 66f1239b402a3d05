package merklelog

import (
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

// HashSize is the size in bytes of every hash in the log (SHA-256).
const HashSize = 32

// MaxProofLen is the largest number of hashes in a well-formed proof. An
// inclusion proof has at most 64 hashes; a consistency proof has at most 65,
// which happens only for trees of more than 2^63 leaves. Longer proofs are
// malformed.
const MaxProofLen = 65

// Errors returned by this package, wrapped with context; test for them with
// errors.Is.
var (
	// ErrIndexOutOfRange: a leaf index is not below the tree size it refers to.
	ErrIndexOutOfRange = errors.New("leaf index out of range")
	// ErrSizeOutOfRange: a tree size is larger than the log.
	ErrSizeOutOfRange = errors.New("tree size out of range")
	// ErrProofMismatch: a proof is well-formed but the roots it leads to are
	// not the checkpoint's; the leaf, index, proof or checkpoint is wrong.
	ErrProofMismatch = errors.New("proof does not match checkpoint root")
	// ErrMalformedProof: a proof has the wrong number of hashes for the
	// indices and sizes it is checked against, or cannot be decoded.
	ErrMalformedProof = errors.New("malformed proof")
	// ErrShrink: a checkpoint is smaller than the one it should extend.
	ErrShrink = errors.New("checkpoint smaller than previous")
	// ErrNotFound: a Store has no hash for a node the log needs.
	ErrNotFound = errors.New("node not found")
	// ErrConflict: a Store's size is not the one the writer expected, so
	// another writer appended, or an earlier write whose result was lost did
	// succeed. The Log must be reopened.
	ErrConflict = errors.New("store size conflict")
)

var hasher = rfc6962.DefaultHasher

// factory builds every compact range of the package; ranges from different
// factories cannot be merged, so there is only one.
var factory = &compact.RangeFactory{Hash: hashChildren}

// hashChildren is RFC 6962's interior node hash, SHA-256(0x01 || l || r),
// as rfc6962.DefaultHasher.HashChildren computes it but without its
// allocations: a quarter of the cost of an append.
func hashChildren(l, r []byte) []byte {
	var b [1 + 2*HashSize]byte
	b[0] = 1
	copy(b[1:], l)
	copy(b[1+HashSize:], r)
	h := sha256.Sum256(b[:])
	return h[:]
}

// Checkpoint is the state of the log at one size: its number of leaves and
// the RFC 6962 root hash of those leaves. Checkpoints are what the chain
// anchors.
type Checkpoint struct {
	Size uint64         `cbor:"1,keyasint"`
	Root [HashSize]byte `cbor:"2,keyasint"`
}

// EmptyRoot returns the root of the empty tree, SHA-256 of the empty string.
func EmptyRoot() [HashSize]byte {
	return [HashSize]byte(hasher.EmptyRoot())
}

// HashLeaf returns the RFC 6962 leaf hash of data, SHA-256(0x00 || data).
func HashLeaf(data []byte) [HashSize]byte {
	return [HashSize]byte(hasher.HashLeaf(data))
}

// Proof is an inclusion or consistency proof: the hashes of RFC 9162 section
// 2.1.3 and 2.1.4, in order. Its wire form (Bytes, ParseProof) is the
// concatenation of the hashes.
type Proof [][HashSize]byte

// Bytes returns the hashes of p concatenated.
func (p Proof) Bytes() []byte {
	b := make([]byte, 0, len(p)*HashSize)
	for i := range p {
		b = append(b, p[i][:]...)
	}
	return b
}

// ParseProof decodes concatenated 32-byte hashes, as made by Proof.Bytes. It
// fails with ErrMalformedProof if the length of b is not a multiple of 32 or
// b holds more than MaxProofLen hashes. It does not retain b.
func ParseProof(b []byte) (Proof, error) {
	if len(b)%HashSize != 0 {
		return nil, fmt.Errorf("parse proof: %w: %d bytes is not a multiple of %d", ErrMalformedProof, len(b), HashSize)
	}
	n := len(b) / HashSize
	if n > MaxProofLen {
		return nil, fmt.Errorf("parse proof: %w: %d hashes, limit %d", ErrMalformedProof, n, MaxProofLen)
	}
	p := make(Proof, n)
	for i := range p {
		p[i] = [HashSize]byte(b[i*HashSize:])
	}
	return p, nil
}

// slices returns p as the library's [][]byte, sharing p's memory.
func (p Proof) slices() [][]byte {
	s := make([][]byte, len(p))
	for i := range p {
		s[i] = p[i][:]
	}
	return s
}

// VerifyInclusion checks that p shows the leaf with the given data at
// the given index in the tree of checkpoint cp. It returns nil on success,
// ErrIndexOutOfRange if index >= cp.Size, ErrMalformedProof if the proof has
// the wrong length, and ErrProofMismatch if it leads to another root.
func VerifyInclusion(leafData []byte, index uint64, cp Checkpoint, p Proof) error {
	return VerifyInclusionHash(HashLeaf(leafData), index, cp, p)
}

// VerifyInclusionHash is VerifyInclusion for a leaf given by its leaf hash
// (HashLeaf of its data).
func VerifyInclusionHash(leafHash [HashSize]byte, index uint64, cp Checkpoint, p Proof) error {
	if index >= cp.Size {
		return fmt.Errorf("verify inclusion of leaf %d at size %d: %w", index, cp.Size, ErrIndexOutOfRange)
	}
	if len(p) > MaxProofLen {
		return fmt.Errorf("verify inclusion of leaf %d at size %d: %w: %d hashes, limit %d", index, cp.Size, ErrMalformedProof, len(p), MaxProofLen)
	}
	err := proof.VerifyInclusion(hasher, index, cp.Size, leafHash[:], p.slices(), cp.Root[:])
	if err != nil {
		return proofError(fmt.Sprintf("verify inclusion of leaf %d at size %d", index, cp.Size), err)
	}
	return nil
}

// VerifyConsistency checks that p shows the tree of checkpoint newCP to
// extend the tree of checkpoint old, so that every leaf of old is in newCP at
// the same index. It returns nil on success and otherwise:
//
//   - ErrShrink if newCP.Size < old.Size;
//   - ErrMalformedProof if the proof has the wrong length; it must be empty
//     when old.Size is 0 or the sizes are equal;
//   - ErrProofMismatch if the proof leads to other roots, if the sizes are
//     equal but the roots differ, or if a checkpoint of size 0 does not have
//     the empty tree's root.
func VerifyConsistency(old, newCP Checkpoint, p Proof) error {
	ctx := fmt.Sprintf("verify consistency from size %d to %d", old.Size, newCP.Size)
	switch {
	case newCP.Size < old.Size:
		return fmt.Errorf("%s: %w", ctx, ErrShrink)
	case len(p) > MaxProofLen:
		return fmt.Errorf("%s: %w: %d hashes, limit %d", ctx, ErrMalformedProof, len(p), MaxProofLen)
	case old.Size == newCP.Size || old.Size == 0:
		if len(p) != 0 {
			return fmt.Errorf("%s: %w: %d hashes, want none", ctx, ErrMalformedProof, len(p))
		}
		if old.Size == 0 && old.Root != EmptyRoot() {
			return fmt.Errorf("%s: %w: size 0 without the empty root", ctx, ErrProofMismatch)
		}
		if old.Size == newCP.Size && old.Root != newCP.Root {
			return fmt.Errorf("%s: %w: equal sizes, different roots", ctx, ErrProofMismatch)
		}
		return nil
	}
	err := proof.VerifyConsistency(hasher, old.Size, newCP.Size, p.slices(), old.Root[:], newCP.Root[:])
	if err != nil {
		return proofError(ctx, err)
	}
	return nil
}

// proofError translates an error of the proof package, reached only after
// indices and sizes were checked, into ErrProofMismatch or ErrMalformedProof.
func proofError(ctx string, err error) error {
	var mismatch proof.RootMismatchError
	if errors.As(err, &mismatch) {
		return fmt.Errorf("%s: %w: computed root %x", ctx, ErrProofMismatch, mismatch.CalculatedRoot)
	}
	return fmt.Errorf("%s: %w: %v", ctx, ErrMalformedProof, err)
}
