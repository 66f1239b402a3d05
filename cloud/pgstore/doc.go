// Package pgstore is the cloud's PostgreSQL storage driver: a cloud.Store
// in a PostgreSQL database (version 13 or later), on pgx, which several
// `vitalchain cloud` processes of one cloud can share, one of them
// sequencing at a time (cloud.Lease).
//
// Every append of the records or access log (its rows, the Merkle log's
// new nodes and the log's size) is one SQL transaction, sent as one
// pipeline (a single round trip) and committed with synchronous_commit
// on: the cloud acknowledges a batch of records only once its commit has
// returned, and concurrent uploads share that commit (group commit). A
// connection that asks for synchronous_commit off is refused
// (ErrNotDurable). The append checks the log's size in its transaction, so
// that two writers can never assign one position twice; a fenced append
// (Store.Fenced) also checks the sequencer's lease there.
//
// The schema lives in the search_path's first schema (set search_path in
// the URL to give the cloud a schema of its own), in tables named cloud_*.
// Its migrations are embedded in the binary, numbered, and applied at Open
// under an advisory lock, so that processes starting together migrate
// once; the table cloud_schema_version lists those applied. A database
// migrated by a newer binary is refused (ErrSchemaTooNew).
//
// Records and access entries are stored in columns, not encoded, so that
// an operator can query them; a record's body is the record as uploaded
// (its cleartext header and ciphertext). Erase empties the bodies of a
// patient's records and marks them erased (migration 2): no query returns
// them afterwards, but PostgreSQL keeps old row versions until VACUUM
// reclaims their space, and its write-ahead log, archives and backups as
// long as the operator keeps them.
//
// Package cloud does not import this package; the cloud's command opens a
// Store here when --store is a postgres:// URL and hands it to cloud.New.
package pgstore
