package cloud

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/vitalchain/vitalchain/codec"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/merklelog"
	"github.com/vitalchain/vitalchain/record"
)

// Read refusals.
var (
	ErrBadRequest   = errors.New("malformed request")
	ErrStale        = errors.New("request time outside the allowed window")
	ErrReplay       = errors.New("request replayed")
	ErrRecordAbsent = errors.New("no such record")
	ErrNoGrant      = errors.New("no grant from the patient")
	ErrRevoked      = errors.New("grant revoked")
	ErrExpired      = errors.New("grant expired")
	ErrScope        = errors.New("grant does not cover this vital sign")
)

func readReason(err error) string {
	switch {
	case errors.Is(err, ErrStale):
		return "stale"
	case errors.Is(err, ErrReplay):
		return "replay"
	case errors.Is(err, ErrUnknownSigner):
		return "unknown_signer"
	case errors.Is(err, ErrWrongRole):
		return "wrong_role"
	case errors.Is(err, ErrBadSignature):
		return "bad_signature"
	case errors.Is(err, ErrRecordAbsent):
		return "not_found"
	case errors.Is(err, ErrNoGrant):
		return "no_grant"
	case errors.Is(err, ErrRevoked):
		return "revoked"
	case errors.Is(err, ErrExpired):
		return "expired"
	case errors.Is(err, ErrScope):
		return "out_of_scope"
	case errors.Is(err, ErrUnavailable):
		return "unavailable"
	case errors.Is(err, ErrStore):
		return "store"
	}
	return "bad_request"
}

// Request is a signed request to the cloud: a read of one record, or a
// patient's listing of its access log. The requester signs it (context
// "cloud-request/v1") with a fresh time and nonce: the cloud refuses a
// request older or newer than its clock skew, and one it has seen.
type Request struct {
	Version   uint8       `cbor:"1,keyasint"`
	Op        string      `cbor:"2,keyasint"` // "read", "access" or "alerts"
	Requester identity.ID `cbor:"3,keyasint"`
	Record    [32]byte    `cbor:"4,keyasint"` // read: the record
	From      uint64      `cbor:"5,keyasint"` // access: the first access-log index wanted; alerts: the first record index
	Time      int64       `cbor:"6,keyasint"` // Unix ms
	Nonce     [16]byte    `cbor:"7,keyasint"`
	Sig       []byte      `cbor:"8,keyasint"`
}

// MaxRequestSize bounds an encoded Request.
const MaxRequestSize = 512

const requestContext = "cloud-request/v1"

// Operations of a Request.
const (
	OpRead   = "read"
	OpAccess = "access"
)

// NewRequest signs a request of op by key at time now.
func NewRequest(key *identity.SigningKey, op string, rec [32]byte, from uint64, now time.Time) ([]byte, error) {
	r := Request{Version: 1, Op: op, Requester: key.Public().ID(), Record: rec, From: from, Time: now.UnixMilli()}
	if _, err := rand.Read(r.Nonce[:]); err != nil {
		return nil, err
	}
	msg, err := codec.Marshal(&r)
	if err != nil {
		return nil, err
	}
	r.Sig = key.SignContext(requestContext, msg)
	return codec.Marshal(&r)
}

// ParseRequest decodes a request from untrusted bytes, without verifying it.
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

// authenticate checks a request's time, nonce and signature and returns the
// requester.
func (s *Service) authenticate(ctx context.Context, r *Request) (*memberKey, error) {
	now := s.cfg.Now()
	if d := now.Sub(time.UnixMilli(r.Time)); d > s.cfg.ClockSkew || d < -s.cfg.ClockSkew {
		return nil, fmt.Errorf("%w: %s from the cloud's clock", ErrStale, d.Round(time.Second))
	}
	m, err := s.cfg.Ledger.Member(ctx, r.Requester)
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("%w: requester %s is not registered", ErrUnknownSigner, r.Requester)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	if m.Role != identity.RolePatient && m.Role != identity.RoleProvider {
		return nil, fmt.Errorf("%w: a %s does not read records", ErrWrongRole, m.Role)
	}
	c := *r
	c.Sig = nil
	msg, err := codec.Marshal(&c)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	if err := identity.VerifyContext(m.Verifying, requestContext, msg, r.Sig); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadSignature, err)
	}
	if !s.reads.add(r.Requester, r.Nonce, now) {
		return nil, ErrReplay
	}
	return &memberKey{id: r.Requester, role: m.Role}, nil
}

type memberKey struct {
	id   identity.ID
	role identity.Role
}

// ReadResult is a served record with its proof.
type ReadResult struct {
	Record     []byte               `cbor:"1,keyasint"` // the record as uploaded
	Index      uint64               `cbor:"2,keyasint"`
	Checkpoint merklelog.Checkpoint `cbor:"3,keyasint"` // what Proof proves into
	Anchored   bool                 `cbor:"4,keyasint"` // Checkpoint is anchored on the ledger
	Proof      merklelog.Proof      `cbor:"5,keyasint"`
}

// Read serves a signed read request: to the record's patient, or to a
// provider whose grant on the ledger is active now and covers the record's
// vital sign. Every read and every refused one is logged, durably, in the
// access log before the answer goes out.
func (s *Service) Read(ctx context.Context, raw []byte) (*ReadResult, error) {
	r, err := ParseRequest(raw)
	if err == nil && r.Op != OpRead {
		err = fmt.Errorf("%w: not a read", ErrBadRequest)
	}
	if err != nil {
		s.m.readsRefused.WithLabelValues(readReason(err)).Inc()
		return nil, err
	}
	who, err := s.authenticate(ctx, r)
	if err != nil {
		// An unauthenticated request names nobody reliably: count it, log nothing.
		s.m.readsRefused.WithLabelValues(readReason(err)).Inc()
		return nil, err
	}
	res, patient, err := s.read(ctx, who, r.Record)
	entry := AccessEntry{Time: s.cfg.Now().UnixMilli(), Requester: who.id, Patient: patient, Record: r.Record, Allowed: err == nil}
	if err != nil {
		entry.Reason = readReason(err)
	}
	if patient != (identity.ID{}) {
		if lerr := s.logAccess(ctx, entry); lerr != nil {
			s.m.readsRefused.WithLabelValues("store").Inc()
			return nil, fmt.Errorf("%w: access log: %v", ErrStore, lerr)
		}
	}
	if err != nil {
		s.m.readsRefused.WithLabelValues(readReason(err)).Inc()
		return nil, err
	}
	s.m.reads.Inc()
	return res, nil
}

func (s *Service) read(ctx context.Context, who *memberKey, id [32]byte) (*ReadResult, identity.ID, error) {
	rec, err := s.cfg.Store.Record(id)
	if errors.Is(err, ErrNotFound) {
		return nil, identity.ID{}, fmt.Errorf("%w: %x", ErrRecordAbsent, id[:8])
	}
	if err != nil {
		return nil, identity.ID{}, fmt.Errorf("%w: %v", ErrStore, err)
	}
	if who.id != rec.Patient && rec.Kind == 0 {
		// A provider's record for the patient (transaction 3) names no vital
		// sign: its key is wrapped to the patient alone, and no grant covers
		// it. Its author may read it back; nobody else.
		if r, perr := record.ParseRecord(rec.Bytes); perr != nil || r.HeaderAuthor() != who.id {
			return nil, rec.Patient, fmt.Errorf("%w: a provider's record is for its patient and its author only", ErrScope)
		}
	} else if who.id != rec.Patient {
		if who.role != identity.RoleProvider {
			return nil, rec.Patient, fmt.Errorf("%w: only the patient and granted providers read a record", ErrNoGrant)
		}
		g, err := s.cfg.Ledger.Grant(ctx, rec.Patient, who.id)
		switch {
		case errors.Is(err, ErrNotFound):
			return nil, rec.Patient, ErrNoGrant
		case err != nil:
			return nil, rec.Patient, fmt.Errorf("%w: %v", ErrUnavailable, err)
		case g.Revoked != 0:
			return nil, rec.Patient, fmt.Errorf("%w at height %d", ErrRevoked, g.Revoked)
		case g.Expiry <= s.cfg.Now().UnixMilli():
			return nil, rec.Patient, ErrExpired
		case !g.Covers(rec.Kind):
			return nil, rec.Patient, fmt.Errorf("%w: %s", ErrScope, rec.Kind)
		}
	}
	ls := s.records
	log := ls.log.Load()
	ls.mu.Lock()
	cp := ls.anchored
	ls.mu.Unlock()
	res := &ReadResult{Record: rec.Bytes, Index: rec.Index, Anchored: true}
	if rec.Index >= cp.Size {
		cp, res.Anchored = log.Checkpoint(), false
	}
	if rec.Index >= cp.Size {
		// Written, but its commit has not returned: it is not acknowledged
		// and the log cannot prove it yet.
		return nil, rec.Patient, fmt.Errorf("%w: %x is being committed", ErrRecordAbsent, id[:8])
	}
	p, err := log.InclusionProof(rec.Index, cp.Size)
	if err != nil {
		return nil, rec.Patient, fmt.Errorf("%w: proof: %v", ErrStore, err)
	}
	res.Checkpoint, res.Proof = cp, p
	return res, rec.Patient, nil
}

// logAccess appends an entry to the access log and waits until it is durable.
func (s *Service) logAccess(ctx context.Context, e AccessEntry) error {
	done := make(chan ack, 1)
	select {
	case s.access.queue <- &pending{entry: e, done: done}:
	case <-ctx.Done():
		return ctx.Err()
	case <-s.done:
		return ErrClosed
	}
	a, err := s.await(ctx, done)
	if err != nil {
		return err
	}
	return a.err
}

// AccessLog serves a patient's signed request for its access log: who read
// (or was refused) which of its records, and when.
func (s *Service) AccessLog(ctx context.Context, raw []byte) ([]AccessEntry, error) {
	r, err := ParseRequest(raw)
	if err == nil && r.Op != OpAccess {
		err = fmt.Errorf("%w: not an access-log request", ErrBadRequest)
	}
	if err != nil {
		return nil, err
	}
	who, err := s.authenticate(ctx, r)
	if err != nil {
		return nil, err
	}
	if who.role != identity.RolePatient {
		return nil, fmt.Errorf("%w: only a patient lists its access log", ErrWrongRole)
	}
	entries, err := s.cfg.Store.Access(who.id, r.From, 1000)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrStore, err)
	}
	return entries, nil
}

// replayCache remembers request nonces for a while.
type replayCache struct {
	ttl  time.Duration
	mu   sync.Mutex
	seen map[[48]byte]time.Time
	last time.Time
}

func newReplayCache(ttl time.Duration) *replayCache {
	return &replayCache{ttl: ttl, seen: map[[48]byte]time.Time{}}
}

// add records a nonce and reports whether it was new.
func (c *replayCache) add(who identity.ID, nonce [16]byte, now time.Time) bool {
	var k [48]byte
	copy(k[:32], who[:])
	copy(k[32:], nonce[:])
	c.mu.Lock()
	defer c.mu.Unlock()
	if now.Sub(c.last) > c.ttl/4 {
		for k, t := range c.seen {
			if now.Sub(t) > c.ttl {
				delete(c.seen, k)
			}
		}
		c.last = now
	}
	if _, ok := c.seen[k]; ok {
		return false
	}
	c.seen[k] = now
	return true
}
