package cloud

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/vitalchain/vitalchain/cloud/cloudapi"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/ledger"
	"github.com/vitalchain/vitalchain/lifecycle"
	"github.com/vitalchain/vitalchain/record"
)

// Alerts' lifecycle (package lifecycle), kept by the cloud beside the
// alerts, so that every provider of a contract, the patient's portal and
// the command line see one state, whichever process changed it.
//
// A change is a signed request (cloudapi.OpAck, OpResolve, OpSnooze by a
// provider with a live grant; OpEscalate and OpNoData by the patient's
// gateway). The cloud authenticates it as every signed request (its
// signature, its cloud, its time; its nonce is kept durably, so it does
// not replay), checks who may do it, checks the transition, logs it in
// the patient's access log (cloudapi.AccessState, durable before it is
// answered, anchored, and checked by the patient like any entry) and
// only then applies it. A refused change is counted
// (vitalchain_cloud_alert_changes_total by its code) and stores nothing.
//
// Each entry is logged twice: in the patient's access log, and under a
// journal ID of the cloud's (lifecycleJournal), which no patient lists;
// a cloud that starts replays the journal, and so knows every alert's
// state without scanning every patient's log.
//
// "No data": a patient's gateway raises a no-data alert for a silent
// device itself (OpNoData naming the device). A silent gateway cannot; so
// it sends signed heartbeats (OpHeartbeat), each carrying its contract's
// bound (from the terms, which the cloud cannot read; the bound is no
// health data), and when none has come for longer than the bound, the
// cloud raises the no-data alert itself, as a request signed with its
// own key, logged like the others. The first heartbeat after a start,
// or one with a new bound, is logged (AccessHeartbeat), so that a
// restarted cloud keeps watching, from its start.

// lifecycleJournal is the ID under which every lifecycle entry is logged
// a second time, for the cloud to replay at start.
var lifecycleJournal = identity.ID(sha256.Sum256([]byte("vitalchain/cloud/lifecycle-journal/v1")))

// Refusals of a state change.
var (
	ErrUnknownAlert      = errors.New("unknown alert")
	ErrIllegalTransition = errors.New("illegal transition")
)

// maxLifecycleAlerts bounds the alerts whose state the cloud keeps in
// memory (those changed at least once, and no-data alerts); when full,
// the resolved ones go first.
const maxLifecycleAlerts = 1 << 17

// maxWatched bounds the gateways whose silence the cloud watches.
const maxWatched = 1 << 17

type watchKey struct {
	patient  identity.ID
	contract [32]byte
}

// watch is the cloud's watch of one gateway's silence.
type watch struct {
	bound  time.Duration
	last   time.Time // the last heartbeat (or this process's start)
	raised bool      // a no-data alert is raised for the current silence
	logged bool      // this process logged the bound
}

// lifecycleState is every alert's state the cloud knows of. mu is held
// across a change's check, log and apply, so that changes of one alert
// apply in the order they were logged.
type lifecycleState struct {
	mu      sync.Mutex
	alerts  map[[32]byte]*lifecycle.Status
	seq     uint64
	watches map[watchKey]*watch
}

func newLifecycleState() *lifecycleState {
	return &lifecycleState{alerts: map[[32]byte]*lifecycle.Status{}, watches: map[watchKey]*watch{}}
}

// lifecycleReason is the metric label and API code of a lifecycle refusal.
func lifecycleReason(err error) string {
	switch {
	case errors.Is(err, ErrUnknownAlert):
		return cloudapi.CodeUnknownAlert
	case errors.Is(err, ErrIllegalTransition):
		return cloudapi.CodeIllegalTransition
	}
	return readReason(err)
}

// ChangeAlert serves a signed change of an alert's state (see above) and
// returns the alert's state after it.
func (s *Service) ChangeAlert(ctx context.Context, raw []byte) (*lifecycle.Status, error) {
	st, op, err := s.changeAlert(ctx, raw)
	if err != nil {
		s.m.alertChanges.WithLabelValues(lifecycleReason(err)).Inc()
		return nil, err
	}
	s.m.alertChanges.WithLabelValues(op).Inc()
	return st, nil
}

func (s *Service) changeAlert(ctx context.Context, raw []byte) (*lifecycle.Status, string, error) {
	if err := s.checkSequencing(); err != nil {
		return nil, "", err
	}
	r, err := cloudapi.ParseRequest(raw)
	if err == nil && !cloudapi.StateOps[r.Op] {
		err = fmt.Errorf("%w: not a change of an alert's state", ErrBadRequest)
	}
	if err != nil {
		return nil, "", err
	}
	who, err := s.authenticate(ctx, r)
	if err != nil {
		return nil, "", err
	}
	now := s.cfg.Now()
	lc := s.life
	lc.mu.Lock()
	defer lc.mu.Unlock()
	var next lifecycle.Status
	if r.Op == cloudapi.OpNoData {
		next, err = s.raiseNoData(ctx, who, r, now)
	} else {
		next, err = s.applyChange(ctx, who, r)
	}
	if err != nil {
		return nil, "", err
	}
	e := cloudapi.AccessEntry{Time: now.UnixMilli(), Requester: who.id, Patient: next.Patient, Record: next.Alert, Allowed: true,
		Op: cloudapi.AccessState, Request: raw}
	if err := s.logLifecycle(ctx, e); err != nil {
		return nil, "", err
	}
	s.commitStatus(next, raw)
	out := *lc.alerts[next.Alert]
	out.Changes = slices.Clone(out.Changes)
	return &out, r.Op, nil
}

// logLifecycle logs a lifecycle entry in its patient's access log and in
// the journal, durably.
func (s *Service) logLifecycle(ctx context.Context, e cloudapi.AccessEntry) error {
	j := e
	j.Patient = lifecycleJournal
	if _, err := s.logAccessBatch(ctx, []cloudapi.AccessEntry{e, j}); err != nil {
		return logRefusal(err)
	}
	return nil
}

// commitStatus stores an alert's new state, with the request that made
// it; lc.mu is held.
func (s *Service) commitStatus(next lifecycle.Status, raw []byte) {
	lc := s.life
	lc.seq++
	next.Seq = lc.seq
	next.Changes = append(slices.Clip(next.Changes), raw)
	if _, ok := lc.alerts[next.Alert]; !ok && len(lc.alerts) >= maxLifecycleAlerts {
		lc.evict()
	}
	lc.alerts[next.Alert] = &next
}

// evict drops the resolved alerts changed longest ago, a quarter of the
// map at most; lc.mu is held.
func (lc *lifecycleState) evict() {
	var resolved []*lifecycle.Status
	for _, a := range lc.alerts {
		if a.State == lifecycle.Resolved {
			resolved = append(resolved, a)
		}
	}
	slices.SortFunc(resolved, func(a, b *lifecycle.Status) int { return cmp.Compare(a.Seq, b.Seq) })
	for _, a := range resolved[:min(len(resolved), maxLifecycleAlerts/4)] {
		delete(lc.alerts, a.Alert)
	}
}

// status returns an alert's current state: the one the cloud keeps, or a
// raised one made from its stored record. lc.mu is held.
func (s *Service) status(id [32]byte) (lifecycle.Status, error) {
	if a := s.life.alerts[id]; a != nil {
		return *a, nil
	}
	return s.recordStatus(id)
}

// recordStatus returns a raised alert made from its stored record.
func (s *Service) recordStatus(id [32]byte) (lifecycle.Status, error) {
	rec, err := s.cfg.Store.Record(id)
	if errors.Is(err, ErrNotFound) {
		return lifecycle.Status{}, fmt.Errorf("%w: %x", ErrUnknownAlert, id[:8])
	}
	if err != nil {
		return lifecycle.Status{}, fmt.Errorf("%w: %v", ErrStore, err)
	}
	if rec.Erased {
		return lifecycle.Status{}, fmt.Errorf("%w: %x: its record was erased", ErrUnknownAlert, id[:8])
	}
	r, err := record.ParseRecord(rec.Bytes)
	if err != nil {
		return lifecycle.Status{}, fmt.Errorf("%w: %x: %v", ErrUnknownAlert, id[:8], err)
	}
	h, err := r.Header()
	if err != nil || h.Contract == ([32]byte{}) || h.Author != h.Patient {
		return lifecycle.Status{}, fmt.Errorf("%w: %x is not an alert's record", ErrUnknownAlert, id[:8])
	}
	return lifecycle.New(id, h.Patient, h.Contract, rec.Received), nil
}

// applyChange checks a change of an existing alert by who and returns the
// alert's state after it. lc.mu is held.
func (s *Service) applyChange(ctx context.Context, who *memberKey, r *cloudapi.Request) (lifecycle.Status, error) {
	st, err := s.status(r.Record)
	if err != nil {
		return st, err
	}
	c := lifecycle.Change{Action: lifecycle.Action(r.Op), Actor: who.id, Time: r.Time}
	switch r.Op {
	case cloudapi.OpEscalate:
		if who.role != identity.RolePatient || who.id != st.Patient {
			return st, fmt.Errorf("%w: only the alert's patient escalates it", ErrWrongRole)
		}
		copy(c.To[:], r.Subject)
		if r.From > 255 {
			return st, fmt.Errorf("%w: escalation level %d", ErrIllegalTransition, r.From)
		}
		c.Level = uint8(r.From)
		ct, err := s.contract(ctx, st.Contract)
		if err != nil {
			return st, fmt.Errorf("%w: contract: %v", ErrUnavailable, err)
		}
		if !slices.Contains(ct.Providers, c.To) {
			return st, fmt.Errorf("%w: provider %s is not on the alert's contract", ErrIllegalTransition, c.To)
		}
	default:
		if who.role != identity.RoleProvider {
			return st, fmt.Errorf("%w: a provider acknowledges, resolves or snoozes an alert", ErrWrongRole)
		}
		if err := s.checkCare(ctx, who.id, st); err != nil {
			return st, err
		}
		if r.Op == cloudapi.OpSnooze {
			c.Until = int64(r.From)
		}
	}
	st.Changes = slices.Clone(st.Changes)
	if err := st.Apply(c); err != nil {
		return st, fmt.Errorf("%w: %w", ErrIllegalTransition, err)
	}
	return st, nil
}

// checkCare checks that a provider may change an alert: its patient's
// grant to it is live, and the alert's contract names it.
func (s *Service) checkCare(ctx context.Context, provider identity.ID, st lifecycle.Status) error {
	g, err := s.cfg.Ledger.Grant(ctx, st.Patient, provider)
	switch {
	case errors.Is(err, ErrNotFound):
		return ErrNoGrant
	case err != nil:
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	case g.Revoked != 0:
		return fmt.Errorf("%w at height %d", ErrRevoked, g.Revoked)
	case g.Expiry <= s.cfg.Now().UnixMilli():
		return ErrExpired
	}
	ct, err := s.contract(ctx, st.Contract)
	if errors.Is(err, ErrNotFound) {
		return fmt.Errorf("%w: the alert's contract is not on the ledger", ErrNoGrant)
	}
	if err != nil {
		return fmt.Errorf("%w: contract: %v", ErrUnavailable, err)
	}
	if !slices.Contains(ct.Providers, provider) {
		return fmt.Errorf("%w: the alert's contract does not name provider %s", ErrNoGrant, provider)
	}
	return nil
}

// raiseNoData checks a patient's no-data alert for a silent device and
// returns it, raised. lc.mu is held.
func (s *Service) raiseNoData(ctx context.Context, who *memberKey, r *cloudapi.Request, now time.Time) (lifecycle.Status, error) {
	if who.role != identity.RolePatient {
		return lifecycle.Status{}, fmt.Errorf("%w: a patient's gateway raises a no-data alert for its device", ErrWrongRole)
	}
	var device identity.ID
	copy(device[:], r.Subject)
	if device == (identity.ID{}) || device == who.id {
		return lifecycle.Status{}, fmt.Errorf("%w: a no-data alert names the silent device", ErrBadRequest)
	}
	m, err := s.cfg.Ledger.Member(ctx, device)
	switch {
	case errors.Is(err, ErrNotFound):
		return lifecycle.Status{}, fmt.Errorf("%w: device %s is not registered", ErrBadRequest, device)
	case err != nil:
		return lifecycle.Status{}, fmt.Errorf("%w: %v", ErrUnavailable, err)
	case m.Role != identity.RoleDevice || !bytes.Equal(m.Patient, who.id[:]):
		return lifecycle.Status{}, fmt.Errorf("%w: %s is not a device of patient %s", ErrBadRequest, device, who.id)
	}
	if _, err := s.activeContract(ctx, who.id, r.Record); err != nil {
		return lifecycle.Status{}, err
	}
	if since := int64(r.From); since > now.Add(s.cfg.ClockSkew).UnixMilli() {
		return lifecycle.Status{}, fmt.Errorf("%w: silent since %d, after now", ErrBadRequest, since)
	}
	st := noDataStatus(who.id, device, r.Record, int64(r.From), now.UnixMilli())
	if _, ok := s.life.alerts[st.Alert]; ok {
		return lifecycle.Status{}, fmt.Errorf("%w: no-data alert %x is raised already", ErrIllegalTransition, st.Alert[:8])
	}
	for _, a := range s.life.alerts {
		if a.NoData && a.Patient == who.id && a.Device == device && a.State.Open() {
			return lifecycle.Status{}, fmt.Errorf("%w: device %s has an open no-data alert (%x)", ErrIllegalTransition, device, a.Alert[:8])
		}
	}
	return st, nil
}

// activeContract returns a patient's active contract.
func (s *Service) activeContract(ctx context.Context, patient identity.ID, id [32]byte) (*ledger.ContractRecord, error) {
	c, err := s.contract(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("%w: contract %x is not on the ledger", ErrBadRequest, id[:8])
	}
	if err != nil {
		return nil, fmt.Errorf("%w: contract: %v", ErrUnavailable, err)
	}
	if !c.Active || c.Patient != patient {
		return nil, fmt.Errorf("%w: contract %x is not an active contract of patient %s", ErrBadRequest, id[:8], patient)
	}
	return c, nil
}

// noDataStatus is a raised no-data alert.
func noDataStatus(patient, device identity.ID, contract [32]byte, since, raised int64) lifecycle.Status {
	st := lifecycle.New(lifecycle.NoDataID(patient, device, since), patient, contract, raised)
	st.NoData, st.Device, st.Since = true, device, since
	return st
}

// AlertStates serves a signed request (cloudapi.OpStates) for the states
// of the requester's alerts changed after the request's From: a
// provider's (of patients whose grant to it is live, of contracts naming
// it), or a patient's own.
func (s *Service) AlertStates(ctx context.Context, raw []byte) (*cloudapi.AlertStates, error) {
	if err := s.checkSequencing(); err != nil {
		return nil, err
	}
	r, err := cloudapi.ParseRequest(raw)
	if err == nil && r.Op != cloudapi.OpStates {
		err = fmt.Errorf("%w: not an alert-states request", ErrBadRequest)
	}
	if err != nil {
		return nil, err
	}
	who, err := s.authenticate(ctx, r)
	if err != nil {
		return nil, err
	}
	lc := s.life
	lc.mu.Lock()
	var cands []lifecycle.Status
	for _, a := range lc.alerts {
		if a.Seq > r.From && (who.role == identity.RoleProvider || a.Patient == who.id) {
			cands = append(cands, *a)
		}
	}
	seq := lc.seq
	lc.mu.Unlock()
	slices.SortFunc(cands, func(a, b lifecycle.Status) int { return cmp.Compare(a.Seq, b.Seq) })
	out := &cloudapi.AlertStates{States: []lifecycle.Status{}, Seq: max(seq, r.From)}
	cared := map[[2][32]byte]bool{}
	for _, a := range cands {
		if who.role == identity.RoleProvider {
			k := [2][32]byte{a.Patient, a.Contract}
			ok, seen := cared[k]
			if !seen {
				err := s.checkCare(ctx, who.id, a)
				if errors.Is(err, ErrUnavailable) {
					return nil, err
				}
				ok = err == nil
				cared[k] = ok
			}
			if !ok {
				continue
			}
		}
		if len(out.States) == cloudapi.MaxStatesPerAnswer {
			out.More, out.Seq = true, out.States[len(out.States)-1].Seq
			break
		}
		out.States = append(out.States, a)
	}
	return out, nil
}

// Heartbeat serves a gateway's signed heartbeat (cloudapi.OpHeartbeat):
// the cloud watches its silence against the bound it carries.
func (s *Service) Heartbeat(ctx context.Context, raw []byte) (*cloudapi.HeartbeatResult, error) {
	res, err := s.heartbeat(ctx, raw)
	if err != nil {
		s.m.heartbeats.WithLabelValues(lifecycleReason(err)).Inc()
		return nil, err
	}
	s.m.heartbeats.WithLabelValues("ok").Inc()
	return res, nil
}

func (s *Service) heartbeat(ctx context.Context, raw []byte) (*cloudapi.HeartbeatResult, error) {
	if err := s.checkSequencing(); err != nil {
		return nil, err
	}
	r, err := cloudapi.ParseRequest(raw)
	if err == nil && r.Op != cloudapi.OpHeartbeat {
		err = fmt.Errorf("%w: not a heartbeat", ErrBadRequest)
	}
	if err != nil {
		return nil, err
	}
	bound := time.Duration(r.From) * time.Millisecond
	if bound < cloudapi.MinHeartbeatBound || bound > cloudapi.MaxHeartbeatBound {
		return nil, fmt.Errorf("%w: a bound of %s, want %s to %s", ErrBadRequest, bound, cloudapi.MinHeartbeatBound, cloudapi.MaxHeartbeatBound)
	}
	who, err := s.authenticate(ctx, r)
	if err != nil {
		return nil, err
	}
	if who.role != identity.RolePatient {
		return nil, fmt.Errorf("%w: a patient's gateway sends heartbeats", ErrWrongRole)
	}
	if _, err := s.activeContract(ctx, who.id, r.Record); err != nil {
		return nil, err
	}
	lc := s.life
	lc.mu.Lock()
	defer lc.mu.Unlock()
	k := watchKey{patient: who.id, contract: r.Record}
	w := lc.watches[k]
	if w == nil || !w.logged || w.bound != bound {
		if w == nil && len(lc.watches) >= maxWatched {
			return nil, fmt.Errorf("%w: %d gateways watched", ErrUnavailable, len(lc.watches))
		}
		e := cloudapi.AccessEntry{Time: s.cfg.Now().UnixMilli(), Requester: who.id, Patient: who.id, Allowed: true,
			Op: cloudapi.AccessHeartbeat, Request: raw}
		if err := s.logLifecycle(ctx, e); err != nil {
			return nil, err
		}
		if w == nil {
			w = &watch{}
			lc.watches[k] = w
		}
		w.bound, w.logged = bound, true
	}
	w.last, w.raised = s.cfg.Now(), false
	return &cloudapi.HeartbeatResult{Armed: true, Bound: uint64(bound.Milliseconds())}, nil
}

// CheckSilence raises a no-data alert, signed by the cloud, for each
// watched gateway silent for longer than its bound at the cloud's clock;
// it returns how many it raised. The sequencer calls it every
// silenceTick; tests call it on a fake clock.
func (s *Service) CheckSilence(ctx context.Context) (int, error) {
	if err := s.checkSequencing(); err != nil {
		return 0, err
	}
	now := s.cfg.Now()
	lc := s.life
	lc.mu.Lock()
	defer lc.mu.Unlock()
	keys := make([]watchKey, 0, len(lc.watches))
	for k := range lc.watches {
		keys = append(keys, k)
	}
	// In a fixed order: the same silences raise the same alerts in the same order.
	slices.SortFunc(keys, func(a, b watchKey) int {
		if c := bytes.Compare(a.patient[:], b.patient[:]); c != 0 {
			return c
		}
		return bytes.Compare(a.contract[:], b.contract[:])
	})
	n := 0
	for _, k := range keys {
		w := lc.watches[k]
		if w.raised || now.Sub(w.last) <= w.bound {
			continue
		}
		since := w.last.UnixMilli()
		// Signed by the cloud, its subject the patient: the silent one is
		// the gateway (the alert's device is zero).
		raw, err := cloudapi.NewSubjectRequest(s.cfg.Key, s.id, cloudapi.OpNoData, k.contract, uint64(since), &k.patient, now)
		if err != nil {
			return n, err
		}
		st := noDataStatus(k.patient, identity.ID{}, k.contract, since, now.UnixMilli())
		e := cloudapi.AccessEntry{Time: now.UnixMilli(), Requester: s.id, Patient: k.patient, Record: st.Alert, Allowed: true,
			Op: cloudapi.AccessState, Request: raw}
		if err := s.logLifecycle(ctx, e); err != nil {
			return n, err
		}
		s.commitStatus(st, raw)
		w.raised = true
		n++
		s.m.alertChanges.WithLabelValues("no_data_gateway").Inc()
		s.log.Warn("a gateway went silent: no-data alert raised", "patient", k.patient.Hex(), "since", w.last.UTC().Format(time.RFC3339))
	}
	return n, nil
}

// silenceTick is how often the sequencer looks for silent gateways, by
// default (Config.SilenceTick).
const silenceTick = 250 * time.Millisecond

// watchSilence calls CheckSilence every Config.SilenceTick until ctx ends.
func (s *Service) watchSilence(ctx context.Context, wg *sync.WaitGroup) {
	defer wg.Done()
	every := s.cfg.SilenceTick
	if every < 0 {
		return
	}
	if every == 0 {
		every = silenceTick
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, err := s.CheckSilence(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("no-data alert of a silent gateway not raised; will retry", "err", err)
		}
	}
}

// reloadLifecycle replays the journal into a new lifecycle state: every
// alert's state as it was logged, and the watches of the gateways whose
// heartbeats were logged, each from now.
func (s *Service) reloadLifecycle() error {
	lc := newLifecycleState()
	now := s.cfg.Now()
	for from := uint64(0); ; {
		es, err := s.cfg.Store.Access(lifecycleJournal, from, 1024)
		if err != nil {
			return err
		}
		for i := range es {
			s.replay(lc, &es[i], now)
		}
		if len(es) < 1024 {
			break
		}
		from = es[len(es)-1].Index + 1
	}
	// A gateway silent before the start, whose alert is still open, is
	// not alerted again.
	for _, a := range lc.alerts {
		if w := lc.watches[watchKey{patient: a.Patient, contract: a.Contract}]; w != nil && a.NoData && a.Device == (identity.ID{}) && a.State.Open() {
			w.raised = true
		}
	}
	s.life.mu.Lock()
	s.life.alerts, s.life.seq, s.life.watches = lc.alerts, lc.seq, lc.watches
	s.life.mu.Unlock()
	return nil
}

// replay applies one journal entry to lc.
func (s *Service) replay(lc *lifecycleState, e *cloudapi.AccessEntry, now time.Time) {
	r, err := cloudapi.ParseRequest(e.Request)
	if err != nil {
		s.log.Warn("lifecycle journal: an entry without its request", "index", e.Index, "err", err)
		return
	}
	var subject identity.ID
	copy(subject[:], r.Subject)
	patient := r.Requester
	switch r.Op {
	case cloudapi.OpHeartbeat:
		lc.watches[watchKey{patient: r.Requester, contract: r.Record}] = &watch{bound: time.Duration(r.From) * time.Millisecond, last: now}
		return
	case cloudapi.OpNoData:
		// Raised by the patient (a silent device), or by this cloud (a
		// silent gateway: the subject is the patient).
		device := subject
		if r.Requester == s.id {
			patient, device = subject, identity.ID{}
		}
		st := noDataStatus(patient, device, r.Record, int64(r.From), e.Time)
		lc.seq++
		st.Seq, st.Changes = lc.seq, [][]byte{e.Request}
		lc.alerts[st.Alert] = &st
		return
	}
	a := lc.alerts[r.Record]
	if a == nil {
		st, err := s.recordStatus(r.Record)
		if err != nil {
			return // erased since, or not an alert: nothing to keep
		}
		a = &st
	}
	c := lifecycle.Change{Action: lifecycle.Action(r.Op), Actor: r.Requester, Time: r.Time, Until: int64(r.From)}
	if r.Op == cloudapi.OpEscalate {
		c.To, c.Level, c.Until = subject, uint8(r.From), 0
	}
	if err := a.Apply(c); err != nil {
		s.log.Warn("lifecycle journal: a change that does not apply", "index", e.Index, "err", err)
		return
	}
	lc.seq++
	a.Seq, a.Changes = lc.seq, append(a.Changes, e.Request)
	lc.alerts[a.Alert] = a
}
