// Package merklelog is VitalChain's append-only Merkle log: the cloud appends
// the hashes of patients' encrypted records to it, and the blockchain anchors
// its checkpoints so that the cloud cannot rewrite what it has stored.
//
// # Tree
//
// The tree is the one of RFC 6962 / RFC 9162 (section 2.1) with SHA-256:
// a leaf's hash is SHA-256(0x00 || data), an inner node's is
// SHA-256(0x01 || left || right), and the empty tree's root is SHA-256 of the
// empty string. Hashing, compact ranges and proof construction and checking
// come from github.com/transparency-dev/merkle; this package adds storage,
// fixed-size hash types, and named errors.
//
// # Blocks, checkpoints and anchors
//
// In the terms of the VitalChain design:
//
//   - A checkpoint (Checkpoint) is the pair (Size, Root): the number of leaves
//     in the log at some moment and the Merkle root of those leaves. It
//     commits to every leaf before Size and to their order.
//   - A block is the range of leaves appended since the previous checkpoint,
//     [previous.Size, current.Size). Each block ends in a checkpoint.
//   - An anchor is a checkpoint written on the blockchain together with a
//     consistency proof (Log.ConsistencyProof, VerifyConsistency) from the
//     previously anchored checkpoint. The chain accepts the anchor only if the
//     proof shows that the new tree extends the old one unchanged, so a log
//     that rewrote, removed or reordered any anchored leaf cannot anchor again.
//   - Anyone who holds a record and an anchored checkpoint can check that the
//     record is in the log with an inclusion proof (Log.InclusionProof,
//     VerifyInclusion); the verifiers need no access to the log.
//
// # Storage
//
// A Log keeps only the compact range of its tree in memory (at most 64
// hashes) and persists every leaf hash and every complete subtree's hash
// through a Store, one PutNodes call per Append. Proofs are read back from
// the Store, and Open rebuilds a Log from a Store after a restart. MemStore
// is the in-memory Store; the cloud can back the same interface with Pebble
// or PostgreSQL. After reopening, the cloud should compare CheckpointAt of
// its last anchored size with the anchor on the chain before appending.
//
// # Concurrency
//
// A Log is safe for concurrent use by one writer (Append, AppendLeafHashes)
// and any number of readers (Size, Checkpoint, CheckpointAt, LeafHash,
// InclusionProof, ConsistencyProof). Concurrent writers are serialised.
// Readers never wait for the Store write of an Append in progress: they see
// the log as of the last completed Append.
package merklelog
