// Package cloudapi is the cloud's HTTP API as its clients see it: the wire
// types (CBOR), the signed requests, the refusal codes, and a Client. The
// gateway, the provider and the command line use it without linking the
// cloud service (its store, its Merkle log, its metrics).
//
// Records and requests travel as CBOR (Content-Type application/cbor);
// control answers are JSON.
//
//	POST /v1/records    body: CBOR array of records (byte strings), at most MaxUploadRecords
//	                    answer: CBOR UploadResponse, one Ack per record, once every accepted one is durable,
//	                    and a signed Receipt of the stored ones
//	POST /v1/read       body: a signed Request (op OpRead); answer: CBOR ReadResult
//	POST /v1/access     body: a signed Request (op OpAccess); answer: CBOR AccessListing, the
//	                    patient's entries of the access log with their inclusion proofs (see VerifyListing)
//	POST /v1/erase      body: a signed Request (op OpErase) of a patient; answer: CBOR EraseResult
//	POST /v1/alerts?wait=D
//	                    body: a signed Request (op OpAlerts); answer: CBOR AlertBatch
//	POST /v1/alert-state, /v1/alert-states, /v1/heartbeat
//	                    an alert's lifecycle: signed state changes, the states, a
//	                    gateway's heartbeats (see lifecycle.go)
//	GET  /v1/proof?id=RECORD
//	                    answer: CBOR ProofResult, the record's inclusion proof (no content)
//	GET  /v1/checkpoint answer: JSON of each log's current and anchored checkpoint
//	GET  /v1/consistency?log=L&from=A&to=B
//	                    answer: CBOR ConsistencyResult: both checkpoints and the proof
//	                    that the log at size A is a prefix of it at size B
//	GET  /healthz       200 "ok"
//	GET  /metrics       Prometheus
//
// A refused request gets a 4xx (5xx if the cloud or the ledger failed) and a
// CBOR Problem with a code (one of the Code constants, also the cloud's
// metric label) and a message.
//
// A cloud may run as several processes on one PostgreSQL database: one
// sequences (stores uploads, serves the signed requests: reads, alerts,
// access-log listings and erasures, each of which it logs), the others
// serve the rest from the database (checkpoints, proofs, consistency) and
// answer uploads and signed requests 503 CodeNotLeader with the
// sequencer's URL in the Problem's Leader. A Client given several URLs
// follows it.
package cloudapi

import (
	"time"

	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/merklelog"
)

// Bounds of an upload.
const (
	MaxUploadRecords = 1024
	MaxUploadBytes   = 8 << 20
)

// Refusal codes: an Ack's Code, a Problem's Code.
const (
	CodeMalformed     = "malformed"      // the record or body does not decode
	CodeTooLarge      = "too_large"      // over a size bound
	CodeUnknownSigner = "unknown_signer" // the author or requester is not registered (yet)
	CodeWrongRole     = "wrong_role"     // registered, but not in a role that may do this
	CodeWrongCluster  = "wrong_cluster"  // the patient's home is another cluster's cloud
	CodeBadSignature  = "bad_signature"
	CodeBadHeader     = "bad_header" // a record header the cloud refuses (time, epoch, contract…)
	CodeUnavailable   = "unavailable"
	CodeStore         = "store"
	CodeBadRequest    = "bad_request"
	CodeStale         = "stale"        // a request's time outside the cloud's clock skew
	CodeReplay        = "replay"       // a request seen before
	CodeWrongCloud    = "wrong_cloud"  // a request meant for another cloud
	CodeRateLimited   = "rate_limited" // the client's address or signer is over its rate: retry later
	CodeBusy          = "busy"         // the cloud serves as many requests as it may: retry later
	CodeNotFound      = "not_found"
	CodeNoGrant       = "no_grant"
	CodeRevoked       = "revoked"
	CodeExpired       = "expired"
	CodeOutOfScope    = "out_of_scope"
	// CodeErased: the record was erased at its patient's request; the
	// Problem's Erased proves that it was in the records log, whose leaf
	// (the record's ID) the cloud keeps.
	CodeErased = "erased"
	// CodeNotLeader: the cloud runs as several processes on one database
	// and this one does not sequence; the Problem's Leader names the one
	// that does, if known (otherwise an election is under way: retry
	// shortly). Uploads and reads go there.
	CodeNotLeader = "not_leader"
)

// permanent are the refusal codes of an upload that no retry can change.
// Not among them: CodeUnknownSigner and CodeWrongCluster, which a
// registration the cloud has not seen yet, or a gateway pointed at the
// wrong cloud and then corrected, can turn into a success.
var permanent = map[string]bool{
	CodeMalformed:    true,
	CodeTooLarge:     true,
	CodeBadSignature: true,
	CodeBadHeader:    true,
	CodeWrongRole:    true,
}

// Permanent reports whether an Ack's refusal code is permanent. The
// transient ones (CodeUnavailable, CodeStore) and any code it does not know
// are not: when in doubt, a record is kept and retried.
func Permanent(code string) bool { return permanent[code] }

// MaxAlertWait bounds how long an alerts request waits for a first alert
// (its wait parameter).
const MaxAlertWait = 25 * time.Second

// UploadResponse answers an upload: one Ack per record, and the cloud's
// signed Receipt (encoded) for the records it stored.
type UploadResponse struct {
	Acks    []Ack  `cbor:"1,keyasint"`
	Receipt []byte `cbor:"2,keyasint,omitempty"`
}

// Ack is the answer to one uploaded record.
type Ack struct {
	ID        [32]byte `cbor:"1,keyasint"`
	Index     uint64   `cbor:"2,keyasint"` // its position in the records log
	Duplicate bool     `cbor:"3,keyasint"` // it was stored before; nothing new was stored
	Code      string   `cbor:"4,keyasint"` // empty if stored; otherwise the refusal code
	Error     string   `cbor:"5,keyasint"` // the refusal, in words
}

// Problem is a refused request's answer.
type Problem struct {
	Code    string `cbor:"1,keyasint"`
	Message string `cbor:"2,keyasint"`
	// Leader is the base URL of the process that sequences, with
	// CodeNotLeader ("": not known).
	Leader string `cbor:"3,keyasint,omitempty"`
	// Erased is, with CodeErased, the erased record's inclusion proof.
	Erased *ProofResult `cbor:"4,keyasint,omitempty"`
}

// ReadResult is a served record with its proof.
type ReadResult struct {
	Record     []byte               `cbor:"1,keyasint"` // the record as uploaded
	Index      uint64               `cbor:"2,keyasint"`
	Checkpoint merklelog.Checkpoint `cbor:"3,keyasint"` // what Proof proves into
	Anchored   bool                 `cbor:"4,keyasint"` // Checkpoint is anchored on the ledger
	Proof      merklelog.Proof      `cbor:"5,keyasint"`
}

// AccessEntry is one access to a patient's data, allowed or refused: a
// read of a record, an alert delivered to a provider, a listing of the
// access log, an erasure. It holds no health data: who, when, what (a
// record's ID, a hash), and the signed request that asked for it. Its leaf
// in the access log is merklelog.HashLeaf of its encoding (LeafHash).
//
// The fields after Reason are omitted when empty, so that entries logged
// before they existed (reads, with no request kept) encode, and hash, as
// they did.
type AccessEntry struct {
	Index     uint64      `cbor:"1,keyasint"` // its position in the access log
	Time      int64       `cbor:"2,keyasint"` // Unix ms
	Requester identity.ID `cbor:"3,keyasint"`
	Patient   identity.ID `cbor:"4,keyasint"` // whose data
	Record    [32]byte    `cbor:"5,keyasint"` // the record read or alerted (zero for a listing or an erasure)
	Allowed   bool        `cbor:"6,keyasint"`
	Reason    string      `cbor:"7,keyasint"` // why it was refused (a Code); empty if allowed
	// Op is what was done: AccessRead (also when empty), AccessAlert,
	// AccessList or AccessErase.
	Op string `cbor:"8,keyasint,omitempty"`
	// Request is the signed Request, as the cloud received it, that asked
	// for this access: anyone with the requester's public key can check
	// that the requester asked (see VerifyListing).
	Request []byte `cbor:"9,keyasint,omitempty"`
	// Erased counts, for an erasure, the records whose ciphertexts it
	// deleted.
	Erased uint64 `cbor:"10,keyasint,omitempty"`
}

// What an AccessEntry records.
const (
	AccessRead  = "read"  // a record read, or a refused read
	AccessAlert = "alert" // an alert delivered to a provider
	AccessList  = "list"  // the patient listed its access log
	AccessErase = "erase" // the patient had its records erased
)

// Alert is a stored patient record whose header asks for an alert, pushed
// to the providers its contract names as soon as the record is durable
// (ARCHITECTURE §3.6): a clinician must not wait for a block to learn that a
// patient is hypoglycaemic. The cloud does not know of which vital sign or
// how severe (record format 2 seals both), so the alert carries the
// ciphertext too: the provider checks Sig, the gateway's signature over
// Header (record.SignContext), with the patient's key from the ledger, the
// ciphertext against the header's hash, and opens it with the key of its
// scope that the header's key tag names; a provider whose scope lacks the
// vital sign cannot open it. The record's ID is SHA-256(Header).
type Alert struct {
	Index      uint64 `cbor:"1,keyasint"` // the record's position in the records log
	Header     []byte `cbor:"2,keyasint"` // the record's header bytes, as signed
	Sig        []byte `cbor:"3,keyasint"` // the author's signature over Header
	Stored     int64  `cbor:"4,keyasint"` // when the record became durable, Unix ms
	Ciphertext []byte `cbor:"5,keyasint"` // the record's ciphertext
}

// AlertBatch answers an alerts request.
type AlertBatch struct {
	Alerts []Alert `cbor:"1,keyasint"`
	// Next is the From of the next request: every record below it has
	// been considered for this provider.
	Next uint64 `cbor:"2,keyasint"`
	// Gap reports that alerts between the request's From and the oldest the
	// cloud still holds in memory were dropped.
	Gap bool `cbor:"3,keyasint"`
}

// ConsistencyResult answers GET /v1/consistency.
type ConsistencyResult struct {
	Old   merklelog.Checkpoint `cbor:"1,keyasint"`
	New   merklelog.Checkpoint `cbor:"2,keyasint"`
	Proof merklelog.Proof      `cbor:"3,keyasint"`
}
