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
// # The app hash, and answers with proofs
//
// The app hash is the root of a sparse Merkle tree of the whole state
// (package statetree, over github.com/pokt-network/smt): Execute applies a
// block's writes to the Tree it is given and returns its root, so the hash
// commits to the state itself, not to its history, and a block that
// writes nothing leaves it as it was. Every query but the listings reads
// one key (StateKey), and its answer is Answer of that key's value or
// absence: a node proves it with the key's membership or absence proof
// against the app hash, which CometBFT's header of the next block carries,
// and a client (package client) checks the proof against a header signed
// by more than 2/3 of the validators before it acts on the answer. The
// listings (contracts/, grants/, record3/, cluster/) read many keys and come
// without a proof (ErrNotProvable): a client that acts on an entry reads it
// again by its own key (a grant, a contract, a member, head/N).
//
// Every transaction is signed by the party it speaks for and carries a
// per-signer sequence number; a sequence number already used (or too old to
// tell) is a replay. The signature covers the chain ID that genesis names
// (CometBFT's chain_id, kept in the state, queried as QueryChainID), so
// that a transaction made for one chain (a test network) is refused on any
// other that knows the same keys (CodeWrongChain). CheckTx checks a
// transaction statelessly (encoding, signature, field sanity), after cheap
// look-ups in the committed state and the mempool's view of sequence
// numbers; FinalizeBlock checks it against the state. A rejection carries
// a Code and a log that names its reason.
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
//
// # Attacks and the rules that stop them
//
// Each is a named test that fails without its rule.
//
//   - One Cluster Head chains handovers inside its cluster (head → A1 → A2
//     …), each adding a validator before the last is removed, until it
//     holds a third or half of the power: a handover swaps the old head for
//     the new one in a single validator update and never adds a seat, and a
//     cluster with a change pending takes no other. The invariant (no
//     sequence of one authority's transactions gives it more than one
//     validator's power) is checked after every block of a randomised run of
//     one or two hostile authorities. TestChainedHandoversGiveNoExtraPower,
//     TestHostileAuthoritiesRandom.
//   - A live head is replaced as absent after one commit without its
//     signature and a quiet chain: absence is counted in consecutive decided
//     commits (Params.HeadAbsentCommits) as well as block time, brought up to
//     date before the block's transactions. TestSilenceIsNotAbsence.
//   - An attestation is replayed for a later handover, or given by an
//     authority on its way out, or counted twice: it names the cluster's
//     Term; an outgoing authority's does not count; each authority counts
//     once. TestStaleAttestationIsWorthless, TestOutgoingAuthorityDoesNotAttest,
//     TestAttestationsCountOnce.
//   - Spoofed or replayed overlay HELLOs make a live head attest its own
//     replacement: package overlay/udp signs every datagram with the
//     sender's identity key and a counter persisted across restarts, drops
//     unknown keys, stale counters and keys the ledger does not list as
//     eligible in the cluster, and hands a cluster only to a successor the
//     ledger shows eligible. udp.TestSpoofedHelloCannotDethroneALiveHead,
//     udp.TestReplayedDatagramRefused, udp.TestUnknownKeyRefused,
//     udp.TestHandOffOnlyToALedgerEligibleHead.
//   - One key floods the mempool, then the blocks, with transactions that
//     reuse one sequence number (each refused in its block, after taking
//     its room): CheckTx refuses a sequence number used in the state or held
//     by a transaction waiting in the mempool (CodeReplay), and one signer
//     holds at most SeqWindow of the mempool (CodeOverCap); the recheck after
//     each block keeps that view exact. TestReusedSeqRefusedInCheckTx;
//     package chain's TestFloodDoesNotDelayOthers.
//   - One key fills blocks with valid transactions, delaying the others'
//     revokes and anchors: per block, a signer's transactions and bytes are
//     capped by its role (Params.Caps); over the cap CodeOverCap (it uses up
//     nothing: retry later), Prepare leaves it in the mempool, Process
//     rejects a proposal that holds it. TestOneKeyCannotFillABlock,
//     TestSignerCapBytes.
//   - A device key signs transactions: a device's cap is zero (CodeWrongRole
//     in CheckTx and in a block). TestOneKeyCannotFillABlock.
//   - A provider writes into any patient's history: a ProviderRecord needs
//     the patient's active grant (CodeUnauthorized).
//     TestProviderRecordNeedsAGrant.
//   - Any cloud posts alerts for any patient: only a cloud of the patient's
//     home cluster does (or the patient). TestAlertOnlyFromTheHomeCloud.
//   - A cloud outside every cluster anchors: only a cloud that is a member
//     of an existing cluster does. TestAnchorOnlyFromAClusterCloud.
//   - A test network's transaction replays on production keys: the
//     signature covers the chain ID (CodeWrongChain, before the signature is
//     verified; it uses up nothing; a proposal holding it is rejected).
//     TestForeignChainTxRefused.
//   - A contract costs every validator a long compile: the ledger holds
//     contracts' terms sealed (contract.Sealed) and never compiles them;
//     the gateway does, within package contract's compile budget, checked
//     before parsing. contract.TestContractCompileBounded.
//   - A chain observer reads a patient's conditions from the contracts'
//     rules: the chain holds a salted commitment to the terms and the
//     terms encrypted to the parties, nothing of the rules or the name.
//     outsider.TestChainRevealsNoHealthData.
//   - A chain observer links a provider's patients by the provider's key in
//     their grants, contracts, provider records and device commands: a
//     provider appears in each patient's transactions under a relation key
//     (package relation) that its patient registers bound to itself, and
//     that acts for that patient only (Member.ActsFor: CodeUnauthorized).
//     TestRelationKey, outsider.TestScanLinksProviders,
//     outsider.TestChainRevealsNoHealthData.
//   - A node's RPC (or whoever sits between it and a client) answers a
//     query with a value of its choosing: a patient's epoch that makes the
//     gateway seal with a revoked provider's key, a member's home that sends
//     the provider to another cloud, a revoked grant shown active to the
//     cloud; or an old state (a grant before its revoke): every answer a
//     client acts on carries the proof of its key against the app hash of a
//     header that the client's light client verified (client.ErrForged,
//     ErrBadProof; ErrStale for a state older than a header it verified or
//     its own committed transaction), and the client fails over to another
//     node. testbed.TestLyingNodeRefusedByGatewayProviderCloud,
//     client.TestLyingNodeRefused, client.TestStaleAnswerRefused.
package ledger
