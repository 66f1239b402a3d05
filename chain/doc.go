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
package chain
