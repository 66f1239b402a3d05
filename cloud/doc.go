// Package cloud is VitalChain's cloud storage tier (the paper's section
// IV-B): it verifies the signature on everything it receives and discards
// what fails, stores records durably, groups them into blocks of an
// append-only Merkle log, and anchors each block's checkpoint on the ledger;
// it serves a record only to its patient and to providers whose grant on the
// ledger is active and covers it, with an inclusion proof into an anchored
// checkpoint; and it logs every read, and every refused read, in a second
// Merkle log that it anchors too.
//
// The parts:
//
//   - Service: ingest (verification, duplicate detection, group commit:
//     a record is acknowledged only once it is durably written), the
//     sealer that anchors checkpoints, reads and the access log.
//   - Store: the durable state behind a narrow interface. Its drivers
//     live in packages of their own, so that this package, and what
//     imports it only for Client (the patient's gateway), does not link
//     them: pebblestore, embedded, is the default; a PostgreSQL driver can
//     follow. MemStore is a Store in memory, not durable, for tests and
//     trials. Package storetest is the conformance suite every Store runs.
//   - Ledger: what the service needs from the chain, implemented over
//     package client.
//   - Handler: the HTTP API (CBOR for records, JSON for control),
//     /healthz and Prometheus /metrics.
package cloud
