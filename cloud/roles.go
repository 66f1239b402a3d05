package cloud

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/vitalchain/vitalchain/merklelog"
)

// A process sequences during a term: from the moment it holds the lease
// (or, without a Lease, from New) until it loses it or closes. The
// committers and sealers run only during a term.

// term is one period during which this process sequences.
type term struct {
	epoch  uint64 // the lease's epoch; 0 without a Lease
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu  sync.Mutex
	end error // why it ended: ErrNotLeader or ErrClosed
}

// why returns why the term ended.
func (t *term) why() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.end == nil {
		return ErrNotLeader
	}
	return t.end
}

// NotLeaderError is ErrNotLeader with the URL of the process that
// sequences, if known.
type NotLeaderError struct {
	Leader string // "" if not known (an election is under way)
}

func (e *NotLeaderError) Error() string {
	if e.Leader == "" {
		return "not the sequencer, and no process holds the lease now: retry shortly"
	}
	return "not the sequencer: writes go to " + e.Leader
}

// Is makes a NotLeaderError an ErrNotLeader.
func (e *NotLeaderError) Is(target error) bool { return target == ErrNotLeader }

// notLeader returns the refusal of a write by this process now.
func (s *Service) notLeader() error {
	select {
	case <-s.done:
		return ErrClosed
	default:
	}
	return &NotLeaderError{Leader: *s.leader.Load()}
}

// Sequencing reports whether this process sequences now: it holds the
// lease (always, without a Lease) and is not closed.
func (s *Service) Sequencing() bool {
	s.roleMu.RLock()
	defer s.roleMu.RUnlock()
	return s.term != nil
}

// Leader returns the URL of the process that sequences, as last known
// ("" if unknown; without a Lease, Config.URL).
func (s *Service) Leader() string { return *s.leader.Load() }

func (s *Service) setLeader(url string) { s.leader.Store(&url) }

// checkSequencing returns nil if this process sequences, and otherwise
// the refusal of a write.
func (s *Service) checkSequencing() error {
	if s.Sequencing() {
		return nil
	}
	return s.notLeader()
}

func newHolderID() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// startTerm starts sequencing at epoch: the logs' committers and sealers
// run until endTerm.
func (s *Service) startTerm(parent context.Context, epoch uint64) {
	t := &term{epoch: epoch}
	t.ctx, t.cancel = context.WithCancel(parent)
	// The alerts' states as the journal has them (another process may
	// have sequenced since this one last did), before any change is taken.
	if err := s.reloadLifecycle(); err != nil {
		s.log.Error("alerts' states not reloaded from the journal", "err", err)
	}
	s.roleMu.Lock()
	s.term = t
	s.roleMu.Unlock()
	if s.cfg.Lease == nil {
		s.setLeader(s.cfg.URL)
	}
	s.m.sequencer.Set(1)
	s.m.terms.Inc()
	for _, ls := range []*logState{s.records, s.access} {
		t.wg.Add(2)
		go s.commitLoop(t.ctx, ls, &t.wg)
		go s.sealLoop(t.ctx, ls, &t.wg)
	}
	t.wg.Add(1)
	go s.watchSilence(t.ctx, &t.wg)
}

// endTerm stops sequencing: writes are refused from now on, the
// committers finish the batch they hold, and what is still queued is
// answered with why (ErrNotLeader, or ErrClosed).
func (s *Service) endTerm(why error) {
	s.roleMu.RLock()
	t := s.term
	s.roleMu.RUnlock()
	if t == nil {
		return
	}
	t.mu.Lock()
	t.end = why
	t.mu.Unlock()
	t.cancel() // writers waiting on a full queue give up
	s.roleMu.Lock()
	s.term = nil // writers that come later are refused
	s.roleMu.Unlock()
	t.wg.Wait()
	s.m.sequencer.Set(0)
	for _, ls := range []*logState{s.records, s.access} {
		s.drain(ls, why)
	}
}

// drain answers the rows left in a log's queue with err.
func (s *Service) drain(ls *logState, err error) {
	for {
		select {
		case p := <-ls.queue:
			if ls.id == LogRecords {
				ls.mu.Lock()
				for _, w := range ls.inflight[p.rec.ID] {
					w <- ack{err: err}
				}
				delete(ls.inflight, p.rec.ID)
				ls.mu.Unlock()
			} else {
				p.done <- ack{err: err}
			}
		default:
			return
		}
	}
}

// elect runs the election of a process with a Lease: it follows the store
// and tries to take the lease every LeaseTTL/6, and sequences while it
// holds it. first is closed after the first attempt.
func (s *Service) elect(ctx context.Context, first chan struct{}) {
	defer s.wg.Done()
	retry := s.cfg.LeaseTTL / 6
	var lastErr string
	defer closeOnce(first)
	for ctx.Err() == nil {
		epoch, leader, err := s.cfg.Lease.Acquire(ctx, s.holder, s.cfg.URL, s.cfg.LeaseTTL)
		if ctx.Err() != nil {
			if err == nil {
				s.release(epoch)
			}
			return
		}
		switch {
		case err == nil:
			if terr := s.takeOver(ctx, epoch); terr != nil {
				s.log.Error("cannot sequence: releasing the lease", "epoch", epoch, "err", terr)
				s.release(epoch)
				break
			}
			s.lead(ctx, epoch, first)
			continue
		case errors.Is(err, ErrNotLeader):
			s.setLeader(leader)
			lastErr = ""
		default:
			if err.Error() != lastErr { // once per distinct failure, not every retry
				s.log.Warn("cannot reach the lease", "err", err)
				lastErr = err.Error()
			}
		}
		s.follow(ctx)
		closeOnce(first)
		select {
		case <-ctx.Done():
			return
		case <-time.After(retry): // a follower's pace
		}
	}
}

func closeOnce(c chan struct{}) {
	select {
	case <-c:
	default:
		close(c)
	}
}

// release gives up the lease of epoch, briefly trying.
func (s *Service) release(epoch uint64) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := s.cfg.Lease.Release(ctx, epoch); err != nil {
		s.log.Warn("release the lease", "epoch", epoch, "err", err)
	}
}

// takeOver prepares this process to sequence at epoch: it reopens both
// logs from the store, fenced at epoch, as the previous sequencer left
// them, checks them against what the ledger has anchored, and rebuilds
// the alerts from the store.
func (s *Service) takeOver(ctx context.Context, epoch uint64) error {
	st := s.cfg.Lease.Fenced(epoch)
	type opened struct {
		ls       *logState
		store    *logStore
		log      *merklelog.Log
		anchored merklelog.Checkpoint
	}
	var all []opened
	for _, ls := range []*logState{s.records, s.access} {
		o := opened{ls: ls, store: &logStore{st: st, log: ls.id}}
		var err error
		if o.log, err = merklelog.Open(o.store); err != nil {
			return fmt.Errorf("open %s log: %w", logName(ls.id), err)
		}
		ls.mu.Lock()
		o.anchored = ls.anchored
		ls.mu.Unlock()
		a, err := s.cfg.Ledger.Anchored(ctx, ls.id)
		switch {
		case errors.Is(err, ErrNotFound):
		case err != nil:
			// The ledger is out of reach: what was anchored when it last
			// answered is a prefix of this log, which only grew since.
			s.log.Warn("taking over without the ledger's latest anchor", "log", logName(ls.id), "err", err)
		default:
			o.anchored = a.Checkpoint
		}
		if err := checkAnchored(ls.id, o.log, o.anchored); err != nil {
			return err
		}
		all = append(all, o)
	}
	for _, o := range all {
		ls := o.ls
		ls.store = o.store
		ls.log.Store(o.log)
		ls.mu.Lock()
		ls.anchored, ls.sealed = o.anchored, s.cfg.Now()
		ls.recent.reset() // duplicate checks begun before this term ask the store
		ls.mu.Unlock()
		s.m.logSize.WithLabelValues(logName(ls.id)).Set(float64(o.log.Size()))
	}
	// Rebuilt, not caught up: the sequencer may have erased records whose
	// alerts this process published while it followed.
	if err := s.alertHub.rebuild(s.cfg.Store, s.records.log.Load().Size()); err != nil {
		return fmt.Errorf("rebuild alerts: %w", err)
	}
	return nil
}

// lead sequences at epoch until the lease is lost or ctx ends (closing
// first once it does): it renews
// the lease every LeaseTTL/3, and ends the term if the lease has moved on,
// if a commit found it so, or if it could not renew it for 2/3 of the TTL
// (so that it stops before another process may take over).
func (s *Service) lead(ctx context.Context, epoch uint64, first chan struct{}) {
	ttl := s.cfg.LeaseTTL
	select { // a signal from an earlier term
	case <-s.fenced:
	default:
	}
	// Sequencing before naming itself the leader, and both before New
	// returns (first): a caller never sees this process named and not
	// sequencing.
	s.startTerm(ctx, epoch)
	s.setLeader(s.cfg.URL)
	closeOnce(first)
	s.log.Info("sequencing", "epoch", epoch, "url", s.cfg.URL)
	renewed := time.Now()
	tick := time.NewTicker(ttl / 3)
	defer tick.Stop()
	var why string
	for why == "" {
		select {
		case <-ctx.Done():
			s.endTerm(ErrClosed)
			s.release(epoch)
			return
		case <-s.fenced:
			why = "an append found that the lease has moved on"
		case <-tick.C:
			rctx, cancel := context.WithTimeout(ctx, ttl/3)
			err := s.cfg.Lease.Renew(rctx, epoch, ttl)
			cancel()
			switch {
			case err == nil:
				renewed = time.Now()
			case errors.Is(err, ErrNotLeader):
				why = err.Error()
			case time.Since(renewed) >= 2*ttl/3:
				why = "could not renew the lease in time: " + err.Error()
			default:
				s.log.Warn("renew the lease; will retry", "epoch", epoch, "err", err)
			}
		}
	}
	s.log.Warn("no longer sequencing", "epoch", epoch, "why", why)
	s.setLeader("")
	s.endTerm(ErrNotLeader)
	s.release(epoch)
	lctx, cancel := context.WithTimeout(ctx, time.Second)
	if url, err := s.cfg.Lease.Leader(lctx); err == nil {
		s.setLeader(url) // clients are sent there at once
	}
	cancel()
	select { // let another process take the lease
	case <-ctx.Done():
	case <-time.After(s.cfg.LeaseTTL / 6):
	}
}

// follow brings a follower's view up to the store and the ledger: each
// log reopened if it grew, its anchored checkpoint, the alerts.
func (s *Service) follow(ctx context.Context) {
	for _, ls := range []*logState{s.records, s.access} {
		a, aerr := s.cfg.Ledger.Anchored(ctx, ls.id)
		l := ls.log.Load()
		size, err := s.cfg.Store.Size(ls.id)
		if err != nil {
			s.log.Warn("follow the store", "log", logName(ls.id), "err", err)
			continue
		}
		if size != l.Size() {
			nl, err := merklelog.Open(&logStore{st: s.cfg.Store, log: ls.id})
			if err != nil {
				s.log.Warn("follow the store", "log", logName(ls.id), "err", err)
				continue
			}
			l = nl
			ls.log.Store(l)
			s.m.logSize.WithLabelValues(logName(ls.id)).Set(float64(l.Size()))
		}
		if aerr == nil {
			// Read before the log: the log holds at least what was anchored.
			if err := checkAnchored(ls.id, l, a.Checkpoint); err != nil {
				s.log.Error("the store disagrees with the ledger", "err", err)
				continue
			}
			ls.mu.Lock()
			ls.anchored = a.Checkpoint
			ls.mu.Unlock()
			s.m.anchorLag.WithLabelValues(logName(ls.id)).Set(float64(l.Size() - a.Checkpoint.Size))
		}
	}
	if err := s.alertHub.catchUp(s.cfg.Store, s.records.log.Load().Size()); err != nil {
		s.log.Warn("follow the store's alerts", "err", err)
	}
}

// Duplicate checks in batches. A store whose every lookup costs a round
// trip (PostgreSQL) implements BatchLookup, and an upload's records are
// then looked up together before they are handed to the committer one by
// one. A record committed after the lookup began is not in its answer; the
// log remembers the records of its last commits to cover that window.

// BatchLookup is an optional method of a Store: the positions of those of
// ids that it holds.
type BatchLookup interface {
	Lookup(ids [][32]byte) (map[[32]byte]uint64, error)
}

// lookup is what a batched lookup found, and the commit count before it
// began.
type lookup struct {
	commits uint64
	found   map[[32]byte]uint64
}

// lookup looks up the accepted records of a verified batch, if the store
// can do it in one go.
func (s *Service) lookup(recs []*StoredRecord, errs []error) *lookup {
	bl, ok := s.cfg.Store.(BatchLookup)
	if !ok {
		return nil
	}
	var ids [][32]byte
	for i, r := range recs {
		if errs[i] == nil {
			ids = append(ids, r.ID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	ls := s.records
	ls.mu.Lock()
	k := &lookup{commits: ls.recent.commits}
	ls.mu.Unlock()
	var err error
	if k.found, err = bl.Lookup(ids); err != nil {
		return nil // each record is then looked up alone
	}
	return k
}

// stored reports, for a record not being committed, whether k and the
// recent commits settle whether it is stored (sure), and if so, whether
// and where. The caller holds the records log's mu.
func (k *lookup) stored(id [32]byte, recent *recentCommits) (index uint64, stored, sure bool) {
	if k == nil {
		return 0, false, false
	}
	if i, ok := k.found[id]; ok {
		return i, true, true
	}
	if i, ok := recent.index[id]; ok {
		return i, true, true
	}
	// Every commit since the lookup began is remembered: the record is new.
	return 0, false, recent.since() <= k.commits+1
}

// maxRecent bounds the records the recent commits keep (the last commit's
// are kept whatever their number).
const maxRecent = 1 << 14

// recentCommits are the records of the records log's last commits.
type recentCommits struct {
	commits uint64              // commits so far: the last one's number
	floor   uint64              // commits below it are not remembered, whatever order says (reset)
	index   map[[32]byte]uint64 // record → position
	order   [][][32]byte        // the records of the last len(order) commits, oldest first
	n       int                 // records in index
}

// since returns the number of the oldest commit remembered: every one
// from it on is.
func (r *recentCommits) since() uint64 {
	return max(r.floor, r.commits-uint64(len(r.order))+1)
}

// add remembers the records of the next commit (none if it failed), at
// positions first….
func (r *recentCommits) add(ids [][32]byte, first uint64) {
	r.commits++
	if r.index == nil {
		r.index = map[[32]byte]uint64{}
	}
	for i, id := range ids {
		r.index[id] = first + uint64(i)
	}
	r.order = append(r.order, ids)
	r.n += len(ids)
	for r.n > maxRecent && len(r.order) > 1 {
		for _, id := range r.order[0] {
			delete(r.index, id)
		}
		r.n -= len(r.order[0])
		r.order[0] = nil
		r.order = r.order[1:]
	}
}

// reset forgets every commit: lookups begun before now ask the store.
func (r *recentCommits) reset() {
	r.index, r.order, r.n = nil, nil, 0
	r.floor = r.commits + 2 // beyond every earlier lookup's commits+1
}
