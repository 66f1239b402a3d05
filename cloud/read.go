package cloud

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/vitalchain/vitalchain/cloud/cloudapi"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/record"
)

// Read refusals.
var (
	ErrBadRequest   = cloudapi.ErrBadRequest
	ErrStale        = errors.New("request time outside the allowed window")
	ErrWrongCloud   = errors.New("request meant for another cloud")
	ErrReplay       = errors.New("request replayed")
	ErrRecordAbsent = errors.New("no such record")
	ErrNoGrant      = errors.New("no grant from the patient")
	ErrRevoked      = errors.New("grant revoked")
	ErrExpired      = errors.New("grant expired")
	ErrScope        = errors.New("grant does not cover this vital sign")
)

func readReason(err error) string {
	switch {
	case errors.Is(err, ErrNotLeader):
		return cloudapi.CodeNotLeader
	case errors.Is(err, ErrStale):
		return cloudapi.CodeStale
	case errors.Is(err, ErrReplay):
		return cloudapi.CodeReplay
	case errors.Is(err, ErrWrongCloud):
		return cloudapi.CodeWrongCloud
	case errors.Is(err, ErrRateLimited):
		return cloudapi.CodeRateLimited
	case errors.Is(err, ErrUnknownSigner):
		return cloudapi.CodeUnknownSigner
	case errors.Is(err, ErrWrongRole):
		return cloudapi.CodeWrongRole
	case errors.Is(err, ErrBadSignature):
		return cloudapi.CodeBadSignature
	case errors.Is(err, ErrRecordAbsent):
		return cloudapi.CodeNotFound
	case errors.Is(err, ErrNoGrant):
		return cloudapi.CodeNoGrant
	case errors.Is(err, ErrRevoked):
		return cloudapi.CodeRevoked
	case errors.Is(err, ErrExpired):
		return cloudapi.CodeExpired
	case errors.Is(err, ErrScope):
		return cloudapi.CodeOutOfScope
	case errors.Is(err, ErrErased):
		return cloudapi.CodeErased
	case errors.Is(err, ErrUnavailable), errors.Is(err, ErrClosed):
		return cloudapi.CodeUnavailable
	case errors.Is(err, ErrStore):
		return cloudapi.CodeStore
	}
	return cloudapi.CodeBadRequest
}

// authenticate checks a request's target, times, signature and nonce and
// returns the requester. The nonce is recorded durably (Store.Nonce) until
// the request expires, so that a captured request replays neither now nor
// after a restart.
func (s *Service) authenticate(ctx context.Context, r *cloudapi.Request) (*memberKey, error) {
	now := s.cfg.Now()
	if r.Cloud != s.id {
		return nil, fmt.Errorf("%w: the request is meant for cloud %s, this is %s", ErrWrongCloud, r.Cloud, s.id)
	}
	if life := r.Expires - r.Time; life <= 0 || life > cloudapi.MaxRequestLife.Milliseconds() {
		return nil, fmt.Errorf("%w: a request must expire within %s of its signing", ErrBadRequest, cloudapi.MaxRequestLife)
	}
	if d := now.Sub(time.UnixMilli(r.Time)); d < -s.cfg.ClockSkew {
		return nil, fmt.Errorf("%w: signed %s ahead of the cloud's clock", ErrStale, (-d).Round(time.Second))
	}
	if now.UnixMilli() > r.Expires {
		return nil, fmt.Errorf("%w: expired %s ago", ErrStale, now.Sub(time.UnixMilli(r.Expires)).Round(time.Second))
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
	msg, err := r.SignedBytes()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	if err := identity.VerifyContext(m.Verifying, cloudapi.RequestContext, msg, r.Sig); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadSignature, err)
	}
	if !s.signers.allow(string(r.Requester[:])) {
		return nil, fmt.Errorf("%w: requester %s", ErrRateLimited, r.Requester)
	}
	fresh, err := s.cfg.Store.Nonce(r.Requester, r.Nonce, r.Expires)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrStore, err)
	}
	if !fresh {
		return nil, ErrReplay
	}
	return &memberKey{id: r.Requester, role: m.Role}, nil
}

type memberKey struct {
	id   identity.ID
	role identity.Role
}

// Read serves a signed read request: to the record's patient, or to a
// provider whose grant on the ledger is active now (the cloud knows neither
// the grant's scope nor the record's vital sign: the keys enforce the
// scope), or, for a provider's record, to its author. Every read and every refused one is logged, durably, in the
// access log before the answer goes out; so a process that does not
// sequence refuses reads with ErrNotLeader, before it checks the request
// (whose nonce is then still fresh for the sequencer).
func (s *Service) Read(ctx context.Context, raw []byte) (*cloudapi.ReadResult, error) {
	if err := s.checkSequencing(); err != nil {
		s.m.readsRefused.WithLabelValues(readReason(err)).Inc()
		return nil, err
	}
	r, err := cloudapi.ParseRequest(raw)
	if err == nil && r.Op != cloudapi.OpRead {
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
	entry := cloudapi.AccessEntry{Time: s.cfg.Now().UnixMilli(), Requester: who.id, Patient: patient, Record: r.Record, Allowed: err == nil,
		Op: cloudapi.AccessRead, Request: raw}
	if err != nil {
		entry.Reason = readReason(err)
	}
	if patient != (identity.ID{}) {
		if _, lerr := s.logAccess(ctx, entry); errors.Is(lerr, ErrNotLeader) || errors.Is(lerr, ErrClosed) {
			s.m.readsRefused.WithLabelValues(readReason(lerr)).Inc()
			return nil, fmt.Errorf("access log: %w", lerr)
		} else if lerr != nil {
			s.m.readsRefused.WithLabelValues(cloudapi.CodeStore).Inc()
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

func (s *Service) read(ctx context.Context, who *memberKey, id [32]byte) (*cloudapi.ReadResult, identity.ID, error) {
	rec, err := s.cfg.Store.Record(id)
	if errors.Is(err, ErrNotFound) {
		return nil, identity.ID{}, fmt.Errorf("%w: %x", ErrRecordAbsent, id[:8])
	}
	if err != nil {
		return nil, identity.ID{}, fmt.Errorf("%w: %v", ErrStore, err)
	}
	if rec.Erased {
		// Its ciphertext is gone; its leaf stays, and proves that it was
		// stored. Whoever names it learns that it was erased, no more.
		return nil, rec.Patient, s.erasedError(rec)
	}
	author := rec.Patient
	if who.id != rec.Patient {
		r, perr := record.ParseRecord(rec.Bytes)
		if perr != nil {
			return nil, rec.Patient, fmt.Errorf("%w: stored record %x: %v", ErrStore, id[:8], perr)
		}
		author = r.HeaderAuthor()
	}
	if who.id != rec.Patient && author != rec.Patient {
		// A provider's record for the patient (transaction 3): its key is
		// wrapped to the patient alone, and no grant covers it. Its author
		// may read it back; nobody else.
		if author != who.id {
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
		}
		// The grant's scope is not on the ledger: the keys enforce it (the
		// provider holds the keys of its scope's vital signs only).
	}
	p, err := s.prove(rec)
	if err != nil {
		return nil, rec.Patient, err
	}
	return &cloudapi.ReadResult{Record: rec.Bytes, Index: p.Index, Checkpoint: p.Checkpoint, Anchored: p.Anchored, Proof: p.Proof}, rec.Patient, nil
}

// prove returns a stored record's inclusion proof into the latest anchored
// checkpoint, or into the current one if none covers it yet.
func (s *Service) prove(rec *StoredRecord) (*cloudapi.ProofResult, error) {
	ls := s.records
	log := ls.log.Load()
	ls.mu.Lock()
	cp := ls.anchored
	ls.mu.Unlock()
	res := &cloudapi.ProofResult{Index: rec.Index, Anchored: true, Erased: rec.Erased}
	if rec.Index >= cp.Size {
		cp, res.Anchored = log.Checkpoint(), false
	}
	if rec.Index >= cp.Size {
		// Written, but its commit has not returned: it is not acknowledged
		// and the log cannot prove it yet.
		return nil, fmt.Errorf("%w: %x is being committed", ErrRecordAbsent, rec.ID[:8])
	}
	p, err := log.InclusionProof(rec.Index, cp.Size)
	if err != nil {
		return nil, fmt.Errorf("%w: proof: %v", ErrStore, err)
	}
	res.Checkpoint, res.Proof = cp, p
	return res, nil
}

// Proof returns where a stored record is in the records log, with its
// inclusion proof (see prove). It reveals no content and needs no
// signature: a gateway asks it of the records it uploaded, before it lets
// them go.
func (s *Service) Proof(id [32]byte) (*cloudapi.ProofResult, error) {
	rec, err := s.cfg.Store.Record(id)
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("%w: %x", ErrRecordAbsent, id[:8])
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrStore, err)
	}
	return s.prove(rec)
}

// Receipt signs the receipt of the stored records among acks (none: nil),
// due to be anchored within Config.ReceiptBound.
func (s *Service) Receipt(acks []cloudapi.Ack) ([]byte, error) {
	r := cloudapi.Receipt{Cloud: s.id}
	for _, a := range acks {
		if a.Code == "" {
			r.Records = append(r.Records, cloudapi.ReceiptItem{ID: a.ID, Index: a.Index})
		}
	}
	if len(r.Records) == 0 {
		return nil, nil
	}
	now := s.cfg.Now()
	r.Stored, r.AnchorBy = now.UnixMilli(), now.Add(s.cfg.ReceiptBound).UnixMilli()
	return r.Sign(s.cfg.Key)
}
