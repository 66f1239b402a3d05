// Package cloud is VitalChain's cloud storage tier (the paper's section
// IV-B): it verifies the signature on everything it receives and discards
// what fails, stores records durably, groups them into blocks of an
// append-only Merkle log, and anchors each block's checkpoint on the ledger;
// it serves a record only to its patient and to providers whose grant on the
// ledger is active and covers it, with an inclusion proof into an anchored
// checkpoint; it logs every access to a patient's data (reads and refused
// reads, alerts delivered, the patient's listings, erasures) in a second
// Merkle log that it anchors too, and lists it to the patient with proofs;
// it erases a patient's records at the patient's request; and it keeps
// the alerts' lifecycle (lifecycle.go: signed state changes, logged in
// the access log; gateways' heartbeats, and no-data alerts of silent
// gateways).
//
// The parts:
//
//   - Service: ingest (verification, duplicate detection, group commit:
//     a record is acknowledged only once it is durably written), the
//     sealer that anchors checkpoints, reads, alerts, the access log and
//     erasure.
//   - Store: the durable state behind a narrow interface. Its drivers
//     live in packages of their own, so that this package does not link
//     them: pebblestore, embedded, is the default; pgstore keeps it in
//     PostgreSQL. MemStore is a Store in memory, not durable, for tests and
//     trials. Package storetest is the conformance suite every Store runs.
//   - Lease: on a store that several processes share (PostgreSQL), the
//     election of the one that sequences. See "Several processes" below.
//   - Ledger: what the service needs from the chain, implemented over
//     package client.
//   - Handler: the HTTP API (CBOR for records, JSON for control),
//     /healthz and Prometheus /metrics; its wire types and a client are in
//     package cloudapi, which the gateway and the provider link instead.
//   - Server: the API served within Limits.
//
// # Limits
//
// What one client, or all of them, can make the cloud do is bounded
// (DefaultLimits):
//
//   - connections: 4,096 open; more are closed at once. A request's header
//     must come within 5 s, its body within 30 s; an answer is written
//     within 40 s (a long poll waits at most 25 s); an idle connection is
//     closed after 60 s. Headers are at most 16 KiB.
//   - requests: 256 served at once, and 1,024 long polls; more are answered
//     503 "busy" at once. 200 per second per client address (burst 400) and
//     20 signed requests per second per requester (burst 40); more are
//     answered 429 "rate_limited". /healthz is exempt.
//   - bodies: an upload is at most 8 MiB and 1,024 records (refused before
//     it is read if its length says more), read into one buffer and
//     decoded once; a signed request is at most 512 bytes. An upload names
//     at most MaxUploadAuthors distinct authors.
//   - the ledger: a member is cached 30 s, an unknown ID 5 s, so that
//     records signed by unknown keys cost no query each.
//   - requests: each names this cloud and expires within 2 minutes; its
//     nonce is kept in the store until then, so that it cannot be
//     replayed, even across a restart.
//
// # Several processes
//
// On PostgreSQL, a cloud (one key, one ID on the ledger) may run as several
// processes on one database (Config.Lease), so that the loss of a machine
// does not stop it. One process sequences: it holds a lease row whose
// epoch grows with each new holder, assigns log positions, seals and
// anchors. Every one of its appends checks, in the append's transaction,
// that the lease is still at its epoch (a fence), so a sequencer that was
// paused and deposed cannot append when it wakes: no position is assigned
// twice. The lease expires DefaultLeaseTTL (3 s) after its holder last
// renewed it (on the database's clock); the others try to take it every
// half second, and the one that does reopens the logs from the database,
// checks them against the ledger's anchors, and goes on where the
// sequencer stopped. A record the dead sequencer stored without
// acknowledging is found as a duplicate when the gateway sends it again.
//
// A follower serves what the database holds and needs no log entry:
// checkpoints, proofs, consistency proofs. It answers uploads and every
// signed request (reads, alerts, access-log listings, erasures: each is
// logged in the access log before it is answered) with 503 and the code
// not_leader, naming the sequencer's URL, before it checks the request
// (whose nonce then stays fresh for the sequencer); cloudapi.Client,
// given the processes' URLs, follows it.
//
// # Audit trail and erasure
//
// Every access to a patient's data is an entry of the access log
// (cloudapi.AccessEntry), durable before the access is answered: a read
// of a record or a refused one, each alert delivered to a provider, the
// patient's listing of its log, an erasure. An entry keeps the signed
// request that asked for it, and no health data. The patient lists its
// entries (Service.AccessLog) with an inclusion proof of each into the
// access log's checkpoint and the proof that it extends the anchored one;
// cloudapi.VerifyListing checks them, and each request's signature, on the
// patient's side. Requests that fail authentication name nobody reliably:
// they are counted, not logged.
//
// A patient's signed erasure request (Service.Erase) deletes the
// ciphertexts of its records (Store.Erase) and keeps tombstones: the
// records log's leaves are hashes of the records' IDs, so the log, its
// anchored checkpoints and every proof still verify. A read of an erased
// record is refused with ErrErased (API code erased, 410) and the leaf's
// inclusion proof. A request signed by anyone but the patient is refused,
// counted, and erases nothing. Copies providers already read, and the
// anchors on the chain (which reveal nothing), are beyond an erasure:
// docs/privacy.md says what it cannot undo, per store driver as well.
package cloud
