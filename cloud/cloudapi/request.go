package cloudapi

import (
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/vitalchain/vitalchain/codec"
	"github.com/vitalchain/vitalchain/identity"
)

// ErrBadRequest is a request that does not decode.
var ErrBadRequest = errors.New("malformed request")

// Request is a signed request to the cloud: a read of one record, a
// patient's listing of its access log, a provider's request for its
// alerts, or a patient's erasure of its records. The requester signs it (context RequestContext) for one cloud,
// with a fresh time, an expiry and a nonce: a cloud refuses a request meant
// for another, one whose time is off its clock by more than its skew, one
// that has expired or would live longer than MaxRequestLife, and one whose
// nonce it has seen (it remembers nonces durably until they expire, so a
// captured request does not replay after a restart either).
type Request struct {
	Version   uint8       `cbor:"1,keyasint"` // RequestVersion
	Op        string      `cbor:"2,keyasint"` // OpRead, OpAccess, OpAlerts or OpErase
	Requester identity.ID `cbor:"3,keyasint"`
	Record    [32]byte    `cbor:"4,keyasint"` // read: the record
	From      uint64      `cbor:"5,keyasint"` // access: the first access-log index wanted; alerts: the first record index
	Time      int64       `cbor:"6,keyasint"` // when it was signed, Unix ms
	Nonce     [16]byte    `cbor:"7,keyasint"`
	Sig       []byte      `cbor:"8,keyasint"`
	Cloud     identity.ID `cbor:"9,keyasint"`  // the cloud it is meant for
	Expires   int64       `cbor:"10,keyasint"` // Unix ms after which it is refused
	// Subject is, for an alert's state change, the provider an escalation
	// goes to or the device a no-data alert names (32 bytes); empty
	// otherwise, and then absent from the encoding, so that requests
	// signed before it existed encode as they did.
	Subject []byte `cbor:"11,keyasint,omitempty"`
}

// RequestVersion is the version of Request this package writes and reads.
// Version 1 named no cloud and no expiry.
const RequestVersion = 2

// RequestLife is how long a request NewRequest signs stays valid, and
// MaxRequestLife how long a cloud accepts a request to live.
const (
	RequestLife    = time.Minute
	MaxRequestLife = 2 * time.Minute
)

// MaxRequestSize bounds an encoded Request.
const MaxRequestSize = 512

// RequestContext is the signing context of a Request.
const RequestContext = "cloud-request/v1"

// Operations of a Request.
const (
	OpRead   = "read"
	OpAccess = "access"
	OpAlerts = "alerts"
	// OpErase: a patient asks the cloud to erase its records' ciphertexts.
	OpErase = "erase"
)

// NewRequest signs, by key at time now, a request of op for cloud, valid
// for RequestLife.
func NewRequest(key *identity.SigningKey, cloud identity.ID, op string, rec [32]byte, from uint64, now time.Time) ([]byte, error) {
	return NewSubjectRequest(key, cloud, op, rec, from, nil, now)
}

// NewSubjectRequest is NewRequest with a Subject (an alert's state
// changes: see lifecycle.go).
func NewSubjectRequest(key *identity.SigningKey, cloud identity.ID, op string, rec [32]byte, from uint64, subject *identity.ID, now time.Time) ([]byte, error) {
	r := Request{Version: RequestVersion, Op: op, Requester: key.Public().ID(), Record: rec, From: from,
		Time: now.UnixMilli(), Expires: now.Add(RequestLife).UnixMilli(), Cloud: cloud}
	if subject != nil {
		r.Subject = subject[:]
	}
	if _, err := rand.Read(r.Nonce[:]); err != nil {
		return nil, err
	}
	msg, err := r.SignedBytes()
	if err != nil {
		return nil, err
	}
	r.Sig = key.SignContext(RequestContext, msg)
	return codec.Marshal(&r)
}

// ParseRequest decodes a request from untrusted bytes, without verifying
// its signature (the verifier needs the requester's key: VerifyContext of
// SignedBytes under RequestContext).
func ParseRequest(b []byte) (*Request, error) {
	var r Request
	if err := codec.UnmarshalLimit(b, MaxRequestSize, &r); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	if err := codec.CheckVersion("request", r.Version, RequestVersion); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	if r.Op != OpRead && r.Op != OpAccess && r.Op != OpAlerts && r.Op != OpErase && !lifecycleOps[r.Op] {
		return nil, fmt.Errorf("%w: unknown operation %q", ErrBadRequest, r.Op)
	}
	if len(r.Subject) != 0 && (len(r.Subject) != len(identity.ID{}) || !lifecycleOps[r.Op]) {
		return nil, fmt.Errorf("%w: a subject of %d bytes in a %q request", ErrBadRequest, len(r.Subject), r.Op)
	}
	return &r, nil
}

// SignedBytes returns what the requester signs: the request's encoding
// without its signature.
func (r *Request) SignedBytes() ([]byte, error) {
	c := *r
	c.Sig = nil
	return codec.Marshal(&c)
}
