// Package chain runs the ledger on CometBFT: the ABCI application around
// ledger.Machine with its state in Pebble, an in-process CometBFT node
// configured for a handful of authorities, and the files of a testnet.
//
// Why CometBFT and not Clique or Aura: the paper's own reference (De Angelis
// et al.) shows that Clique and Aura give up consistency under a partition;
// a health record's anchor must never be reorganised away, so VitalChain
// takes a BFT engine with instant finality. The price is that the chain
// tolerates f < N/3 faulty authorities instead of f < N/2. Each Proof-of-
// Authority notion of the paper maps onto it: the authorities are the
// Cluster Heads, all of equal voting power; the "mining rotation" is
// CometBFT's round-robin proposer; "each Cluster Head decides whether to keep
// the hash of a new block or passes it to another" is the proposer policy of
// PrepareProposal and ProcessProposal (see ledger.Machine.Prepare).
//
// The state's sparse Merkle tree (package statetree) lives in the same
// Pebble database as the state, its nodes under their own prefix, written
// in the same synced batch as the block's state changes: its root is the
// app hash. Queries read a Pebble snapshot, so that an answer, its height
// and its proof are of one state; with prove=true the answer to a query of
// one key carries one ProofOp of type statetree.ProofOpType (Key: the state
// key, Data: the proof of its value or absence), which verifies against
// the app hash in the header of the block after the answer's height. Only
// the latest state is kept: the tree's nodes that it no longer reaches are
// deleted at each commit.
package chain
