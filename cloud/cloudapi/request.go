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
// patient's listing of its access log, or a provider's request for its
// alerts. The requester signs it (context RequestContext) with a fresh time
// and nonce: the cloud refuses a request older or newer than its clock
// skew, and one it has seen.
type Request struct {
	Version   uint8       `cbor:"1,keyasint"`
	Op        string      `cbor:"2,keyasint"` // OpRead, OpAccess or OpAlerts
	Requester identity.ID `cbor:"3,keyasint"`
	Record    [32]byte    `cbor:"4,keyasint"` // read: the record
	From      uint64      `cbor:"5,keyasint"` // access: the first access-log index wanted; alerts: the first record index
	Time      int64       `cbor:"6,keyasint"` // Unix ms
	Nonce     [16]byte    `cbor:"7,keyasint"`
	Sig       []byte      `cbor:"8,keyasint"`
}

// MaxRequestSize bounds an encoded Request.
const MaxRequestSize = 512

// RequestContext is the signing context of a Request.
const RequestContext = "cloud-request/v1"

// Operations of a Request.
const (
	OpRead   = "read"
	OpAccess = "access"
	OpAlerts = "alerts"
)

// NewRequest signs a request of op by key at time now.
func NewRequest(key *identity.SigningKey, op string, rec [32]byte, from uint64, now time.Time) ([]byte, error) {
	r := Request{Version: 1, Op: op, Requester: key.Public().ID(), Record: rec, From: from, Time: now.UnixMilli()}
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
	if err := codec.CheckVersion("request", r.Version, 1); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	if r.Op != OpRead && r.Op != OpAccess && r.Op != OpAlerts {
		return nil, fmt.Errorf("%w: unknown operation %q", ErrBadRequest, r.Op)
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
