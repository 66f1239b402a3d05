// Package ledger is VitalChain's replicated state machine: the Proof-of-Authority
// chain of Cluster Heads that the paper's overlay network keeps.
//
// It holds no health data. Its state is the registry of actors (members of
// clusters, with their roles and public keys; each Cluster Head's requesters
// and requestees, which follow the overlay as members migrate), alert contracts, grants and revocations, session-key
// envelopes per patient epoch (the paper's transactions 1, 2 and 3), the
// clouds' anchored checkpoints, alert headers, device commands, and the votes
// and handovers that change the set of authorities.
//
// The package does no I/O of its own, in the manner of go.etcd.io/raft: a
// block's transactions and the committed state come in through Store, and the
// block's results, state writes, events, validator updates and app hash come
// out. It is deterministic: time comes only from the block header, iteration
// is in sorted order, no floating point is kept in state, and the same
// transactions give the same app hash on every node. Package chain wires it to
// CometBFT; package client builds and submits its transactions.
//
// Every transaction is signed by the party it speaks for and carries a
// per-signer sequence number; a sequence number already used (or too old to
// tell) is a replay. The signature covers the chain ID that genesis names
// (CometBFT's chain_id, kept in the state, queried as QueryChainID), so
// that a transaction made for one chain (a test network) is refused on any
// other that knows the same keys (CodeWrongChain). CheckTx checks a transaction statelessly (encoding,
// signature, field sanity); FinalizeBlock checks it against the state. A
// rejection carries a Code and a log that names its reason.
package ledger
