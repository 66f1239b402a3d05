package cloud

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/vitalchain/vitalchain/cloud/cloudapi"
	"github.com/vitalchain/vitalchain/identity"
)

// The patient's audit trail and erasure.
//
// Every access to a patient's data is an entry of the access log
// (cloudapi.AccessEntry), durable before the access is answered: a read of
// a record and a refused read, an alert delivered to a provider, the
// patient's own listing, an erasure. Each entry keeps the signed request
// that asked for it, so that the patient can check who asked without
// trusting the cloud. The access log is a Merkle log anchored on the
// ledger like the records log (log LogAccess), so once anchored an entry
// can be neither removed nor changed; listings carry inclusion proofs.
//
// Erasure deletes the ciphertexts of a patient's records and keeps their
// tombstones (see Store.Erase): the records log's leaves are hashes of the
// records' headers, which stay, so every checkpoint, anchor and proof of
// the log still verifies.

// ErrErased is the refusal of a read of an erased record.
var ErrErased = errors.New("record erased at its patient's request")

// ErasedError is ErrErased with the erased record's inclusion proof.
type ErasedError struct {
	ID    [32]byte
	Proof *cloudapi.ProofResult // nil if the proof could not be made
}

func (e *ErasedError) Error() string {
	return fmt.Sprintf("record %x: %v", e.ID[:8], ErrErased)
}

// Is makes an ErasedError an ErrErased.
func (e *ErasedError) Is(target error) bool { return target == ErrErased }

// erasedError returns the refusal of a read of an erased record.
func (s *Service) erasedError(rec *StoredRecord) error {
	p, err := s.prove(rec)
	if err != nil {
		s.log.Warn("no proof for an erased record", "record", fmt.Sprintf("%x", rec.ID[:8]), "err", err)
		p = nil
	}
	return &ErasedError{ID: rec.ID, Proof: p}
}

// logAccess appends an entry to the access log and waits until it is
// durable; it returns the entry's position.
func (s *Service) logAccess(ctx context.Context, e cloudapi.AccessEntry) (uint64, error) {
	idx, err := s.logAccessBatch(ctx, []cloudapi.AccessEntry{e})
	if err != nil {
		return 0, err
	}
	return idx[0], nil
}

// logAccessBatch appends entries to the access log, all in one commit
// (group commit with whatever else is queued), and waits until they are
// durable; it returns their positions. Either all are logged or none.
func (s *Service) logAccessBatch(ctx context.Context, es []cloudapi.AccessEntry) ([]uint64, error) {
	if len(es) == 0 {
		return nil, nil
	}
	// One pending for all: they commit in one batch, all or none, so that
	// a refused answer leaves none of its entries logged.
	done := make(chan ack, 1)
	s.roleMu.RLock()
	t := s.term
	if t == nil {
		s.roleMu.RUnlock()
		return nil, s.notLeader()
	}
	select {
	case s.access.queue <- &pending{entry: es[0], more: slices.Clone(es[1:]), done: done}:
	case <-ctx.Done():
		s.roleMu.RUnlock()
		return nil, ctx.Err()
	case <-t.ctx.Done():
		s.roleMu.RUnlock()
		return nil, t.why()
	}
	s.roleMu.RUnlock()
	a, err := s.await(ctx, done)
	if err == nil {
		err = a.err
	}
	if err != nil {
		return nil, err
	}
	idx := make([]uint64, len(es))
	for i := range idx {
		idx[i] = a.index + uint64(i)
	}
	return idx, nil
}

// logRefusal wraps the failure to log an access as the answer's refusal.
func logRefusal(err error) error {
	if errors.Is(err, ErrNotLeader) || errors.Is(err, ErrClosed) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("access log: %w", err)
	}
	return fmt.Errorf("%w: access log: %v", ErrStore, err)
}

// AccessLog serves a patient's signed request for its access log (op
// cloudapi.OpAccess): its entries from the request's From on, at most
// cloudapi.MaxListingEntries, each with its inclusion proof into the
// access log's current checkpoint, and the proof that this checkpoint
// extends the anchored one. The listing is itself logged first, so it is
// among the entries (the last, unless the page ends before it). Only the
// sequencer lists (it logs).
func (s *Service) AccessLog(ctx context.Context, raw []byte) (*cloudapi.AccessListing, error) {
	if err := s.checkSequencing(); err != nil {
		return nil, err
	}
	r, err := cloudapi.ParseRequest(raw)
	if err == nil && r.Op != cloudapi.OpAccess {
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
		// It names no patient but its requester, who has no access log.
		return nil, fmt.Errorf("%w: only a patient lists its access log", ErrWrongRole)
	}
	e := cloudapi.AccessEntry{Time: s.cfg.Now().UnixMilli(), Requester: who.id, Patient: who.id, Allowed: true,
		Op: cloudapi.AccessList, Request: raw}
	if _, err := s.logAccess(ctx, e); err != nil {
		return nil, logRefusal(err)
	}
	return s.listing(who.id, r.From)
}

// listing returns a page of a patient's access entries with their proofs.
func (s *Service) listing(patient identity.ID, from uint64) (*cloudapi.AccessListing, error) {
	ls := s.access
	ls.mu.Lock()
	anchored := ls.anchored
	ls.mu.Unlock()
	log := ls.log.Load()
	cp := log.Checkpoint()
	entries, err := s.cfg.Store.Access(patient, from, cloudapi.MaxListingEntries+1)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrStore, err)
	}
	l := &cloudapi.AccessListing{Checkpoint: cp, Anchored: anchored, Next: from}
	for i, e := range entries {
		if i == cloudapi.MaxListingEntries || e.Index >= cp.Size {
			// Beyond the page, or committed after the checkpoint was taken.
			l.More, l.Next = true, e.Index
			break
		}
		p, err := log.InclusionProof(e.Index, cp.Size)
		if err != nil {
			return nil, fmt.Errorf("%w: proof of access entry %d: %v", ErrStore, e.Index, err)
		}
		l.Entries, l.Proofs = append(l.Entries, e), append(l.Proofs, p)
		l.Next = e.Index + 1
	}
	if anchored.Size > 0 && anchored.Size < cp.Size {
		if l.Consistency, err = log.ConsistencyProof(anchored.Size, cp.Size); err != nil {
			return nil, fmt.Errorf("%w: access log consistency: %v", ErrStore, err)
		}
	}
	return l, nil
}

// Erase serves a patient's signed erasure request (op cloudapi.OpErase):
// it erases the ciphertexts of every record of the requester stored so far
// (Store.Erase; records being committed wait for it, and those committed
// after it are not erased), forgets their alerts, and logs the erasure in
// the access log. Only the requester's own records: a request signed by
// anyone but a patient is refused, counted and changes nothing. Erasing
// again erases nothing more, and is logged again.
func (s *Service) Erase(ctx context.Context, raw []byte) (*cloudapi.EraseResult, error) {
	res, err := s.erase(ctx, raw)
	if err != nil {
		s.m.erasures.WithLabelValues(readReason(err)).Inc()
		return nil, err
	}
	s.m.erasures.WithLabelValues("erased").Inc()
	return res, nil
}

func (s *Service) erase(ctx context.Context, raw []byte) (*cloudapi.EraseResult, error) {
	if err := s.checkSequencing(); err != nil {
		return nil, err
	}
	r, err := cloudapi.ParseRequest(raw)
	if err == nil && r.Op != cloudapi.OpErase {
		err = fmt.Errorf("%w: not an erasure request", ErrBadRequest)
	}
	if err != nil {
		return nil, err
	}
	who, err := s.authenticate(ctx, r)
	if err != nil {
		return nil, err
	}
	if who.role != identity.RolePatient {
		return nil, fmt.Errorf("%w: only a patient erases, and only its own records", ErrWrongRole)
	}
	s.eraseMu.Lock()
	ids, err := s.cfg.Store.Erase(who.id)
	s.eraseMu.Unlock()
	switch {
	case err != nil && len(ids) == 0:
		return nil, fmt.Errorf("%w: erase: %v", ErrStore, err)
	case err != nil:
		// Erased (no live copy remains), but the driver's cleanup after it failed.
		s.log.Warn("records erased; the store's cleanup after the erasure failed", "patient", who.id.Hex(), "records", len(ids), "err", err)
	}
	s.alertHub.forget(who.id)
	s.log.Info("records erased at their patient's request", "patient", who.id.Hex(), "records", len(ids))
	e := cloudapi.AccessEntry{Time: s.cfg.Now().UnixMilli(), Requester: who.id, Patient: who.id, Allowed: true,
		Op: cloudapi.AccessErase, Request: raw, Erased: uint64(len(ids))}
	idx, err := s.logAccess(ctx, e)
	if err != nil {
		// Erased, but not logged: a new request erases nothing more and
		// is logged.
		return nil, logRefusal(err)
	}
	return &cloudapi.EraseResult{Erased: uint64(len(ids)), Entry: idx}, nil
}
