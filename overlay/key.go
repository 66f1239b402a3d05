package overlay

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"

	"github.com/vitalchain/vitalchain/identity"
)

// ID names a node: the SHA-256 of its public key (identity.ID).
type ID = identity.ID

// ClusterID names a cluster. It is derived from the node that founded the
// cluster and stays the same when a successor takes the cluster over.
type ClusterID [32]byte

// String returns the first eight bytes of c in hexadecimal.
func (c ClusterID) String() string { return hex.EncodeToString(c[:8]) }

// IsZero reports whether c is the zero ClusterID (no cluster).
func (c ClusterID) IsZero() bool { return c == ClusterID{} }

// newClusterID derives the ID of a cluster founded by founder, seq being a
// value founder never reuses (its message sequence number).
func newClusterID(founder ID, seq uint64) ClusterID {
	h := sha256.New()
	h.Write([]byte("vitalchain/overlay/cluster\x00"))
	h.Write(founder[:])
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], seq)
	h.Write(b[:])
	var c ClusterID
	h.Sum(c[:0])
	return c
}

// RhoOne is the fixed-point scale of densities: a density of 1.0 is RhoOne.
const RhoOne = 1 << 10

// Rho returns the density |N1| * (1 + cc) of a node with degree neighbours,
// in fixed point (RhoOne is 1.0), rounded down. pairs counts the ordered
// pairs (u, w) of neighbours such that w is in u's neighbour list, that is
// twice the number of links among the neighbours when the lists agree; it
// is capped at degree*(degree-1). With cc = pairs / (degree*(degree-1)),
//
//	rho = degree * (1 + cc) = degree + pairs/(degree-1).
//
// Integer arithmetic makes the result the same on every node.
func Rho(degree, pairs int) uint32 {
	if degree <= 0 {
		return 0
	}
	if degree == 1 {
		return RhoOne
	}
	pairs = max(0, min(pairs, degree*(degree-1)))
	return uint32(degree*RhoOne + pairs*RhoOne/(degree-1))
}

// Key is a node's rank in elections. Under the density policy a key ranks
// above another when it covers more nodes that depend on it, then when its
// density is higher, then its degree, then its ID is lower; it is a total
// order because IDs are distinct. Cover counts the neighbours that may not be
// heads and have this node as their only eligible neighbour: such a node
// must lead for them to be in a cluster (it is 0 when every node is
// eligible, where the key is the plain (rho, degree, id)).
type Key struct {
	Cover  uint16
	Rho    uint32
	Degree uint16
	ID     ID
}

// Compare orders keys by priority: it is negative when a ranks above b,
// positive when b ranks above a, and zero when they are equal.
func Compare(a, b Key) int {
	switch {
	case a.Cover != b.Cover:
		if a.Cover > b.Cover {
			return -1
		}
		return 1
	case a.Rho != b.Rho:
		if a.Rho > b.Rho {
			return -1
		}
		return 1
	case a.Degree != b.Degree:
		if a.Degree > b.Degree {
			return -1
		}
		return 1
	}
	return compareID(a.ID, b.ID)
}

// Policy selects how nodes are ranked and how clusters are chosen.
type Policy uint8

const (
	// PolicyDensity is the SYSTAS-style election: density keys, preferential
	// attachment, ranked successors and migration with hysteresis.
	PolicyDensity Policy = iota
	// PolicyLowestID is the classic lowest-ID clustering (Lin and Gerla),
	// the baseline: the lowest ID wins, a node joins the lowest-ID head in
	// reach, there are no successors and no migration.
	PolicyLowestID
)

// String names the policy.
func (p Policy) String() string {
	switch p {
	case PolicyDensity:
		return "density"
	case PolicyLowestID:
		return "lowest-id"
	}
	return "unknown"
}

// compareKeys is Compare under policy p.
func compareKeys(p Policy, a, b Key) int {
	if p == PolicyLowestID {
		return compareID(a.ID, b.ID)
	}
	return Compare(a, b)
}

// compareID is bytes.Compare of two IDs, faster on the first eight bytes
// (where random IDs almost always differ).
func compareID(a, b ID) int {
	x, y := binary.BigEndian.Uint64(a[:8]), binary.BigEndian.Uint64(b[:8])
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return bytes.Compare(a[8:], b[8:])
}
