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
// tell) is a replay. CheckTx checks a transaction statelessly (encoding,
// signature, field sanity); FinalizeBlock checks it against the state. A
// rejection carries a Code and a log that names its reason.
//
// # Authorities
//
// The validators are the authorities, one equal seat each, and the ledger
// keeps this invariant: no sequence of transactions signed by one authority
// (or by the authority-eligible members of its cluster, whom its head
// admits) gives it more than one validator's power; the validator set grows
// only by a Vote of more than half the authorities. The rules that keep it:
// a Handover moves its cluster's seat from the old head to the new one in a
// single validator update and never adds a seat (a head that a vote
// unseated hands over none); a cluster with a validator change pending
// takes no handover until the change is applied, nor a Vote for a candidate
// whose seat is changing; no two authorities share an identity or a
// consensus key. A handover needs the old head's attestation, or more
// than half of the authorities' (each counted once, under its own key; an
// authority voted out and waiting for its removal no longer counts), or the
// old head's absence; an attestation names the cluster's Term, so it serves
// one handover only. Absence is counted in commits, never in silence: the
// head's signature must be missing from Params.HeadAbsentCommits
// consecutive decided commits, the one the handover's own block carries
// included, the first of them at least Params.HeadAbsentMs of block time
// earlier. It is brought up to date before a block's transactions run, so a
// head that signed the latest commit is never absent, and time without
// blocks makes nobody absent: a standby that wants a stopped head's cluster
// retries, and each retry makes a block whose commit counts.
package ledger
