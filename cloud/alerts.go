package cloud

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vitalchain/vitalchain/cloud/cloudapi"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/ledger"
	"github.com/vitalchain/vitalchain/record"
)

// AlertMemory is how many recent records a cloud keeps in memory for its
// providers' alerts requests; a restarted cloud reloads the last ones from
// its store, so that a provider that asks from where it left off misses
// nothing.
const AlertMemory = 1 << 16

// maxAlertsPerAnswer bounds one cloudapi.AlertBatch.
const maxAlertsPerAnswer = 512

// contractTTL is how long the cloud trusts a cached contract: a terminated
// contract stops its alerts within it.
const contractTTL = 5 * time.Second

// alertHub keeps the recent alerts, in record-index order, and wakes
// waiting requests when new ones arrive.
type alertHub struct {
	mu      sync.Mutex
	entries []hubEntry
	dropped uint64 // entries below this index were dropped from memory
	end     uint64 // the index after the last record published, alert or not
	wake    chan struct{}
	// waits counts the times an alerts request, having found nothing due
	// to it, began to wait for new alerts. Only tests read it: it tells
	// them that a request is parked in its long poll.
	waits atomic.Uint64
}

type hubEntry struct {
	alert    cloudapi.Alert
	id       [32]byte // the record's
	patient  identity.ID
	contract [32]byte
}

func newAlertHub() *alertHub { return &alertHub{wake: make(chan struct{})} }

// publish adds the patient records of a durable batch, made durable at
// stored (Unix ms; 0: when each was received).
func (h *alertHub) publish(recs []StoredRecord, stored int64) {
	var add []hubEntry
	for i := range recs {
		r, err := record.ParseRecord(recs[i].Bytes)
		if err != nil {
			continue // it was verified before it was stored: cannot happen
		}
		hd, err := r.Header()
		if err != nil || hd.Contract == ([32]byte{}) || hd.Author != hd.Patient || !hd.Alert {
			continue // a provider's record (transaction 3), or an abnormal reading whose alert the contract's cool-down withheld
		}
		at := stored
		if at == 0 {
			at = recs[i].Received
		}
		add = append(add, hubEntry{
			alert: cloudapi.Alert{Index: recs[i].Index, Header: r.HeaderBytes, Sig: r.Signature, Stored: at, Ciphertext: r.Ciphertext},
			id:    recs[i].ID, patient: hd.Patient, contract: hd.Contract,
		})
	}
	h.mu.Lock()
	if n := len(recs); n > 0 {
		h.end = max(h.end, recs[n-1].Index+1)
	}
	if len(add) == 0 {
		h.mu.Unlock()
		return
	}
	h.entries = append(h.entries, add...)
	if n := len(h.entries) - AlertMemory; n > 0 {
		h.dropped = h.entries[n].alert.Index
		// Not in place: requests hold slices of the entries they were given.
		h.entries = h.entries[n:]
	}
	close(h.wake)
	h.wake = make(chan struct{})
	h.mu.Unlock()
}

// forget drops the alerts of a patient's records (erased).
func (h *alertHub) forget(patient identity.ID) {
	h.mu.Lock()
	defer h.mu.Unlock()
	// Not in place: requests hold slices of the entries they were given.
	kept := make([]hubEntry, 0, len(h.entries))
	for _, e := range h.entries {
		if e.patient != patient {
			kept = append(kept, e)
		}
	}
	h.entries = kept
}

// reload fills an empty hub with the last AlertMemory records of a store
// whose records log has size entries.
func (h *alertHub) reload(st Store, size uint64) error {
	from := size - min(size, AlertMemory)
	recs, err := st.RecordsFrom(from, AlertMemory)
	if err != nil {
		return err
	}
	h.mu.Lock()
	h.dropped = from
	h.mu.Unlock()
	h.publish(recs, 0)
	return nil
}

// rebuild empties the hub and fills it again, as reload does, from a
// store whose records log has size entries: what it held may be stale
// (records erased since it published them).
func (h *alertHub) rebuild(st Store, size uint64) error {
	h.mu.Lock()
	h.entries, h.end, h.dropped = nil, 0, 0
	close(h.wake)
	h.wake = make(chan struct{})
	h.mu.Unlock()
	return h.reload(st, size)
}

// catchUp publishes the records of a store's records log of size entries
// that the hub has not seen: those another process stored while this one
// followed it. If more than AlertMemory are missing, the hub starts again
// from the last AlertMemory, as reload does.
func (h *alertHub) catchUp(st Store, size uint64) error {
	h.mu.Lock()
	from := h.end
	if size > from && size-from > AlertMemory {
		from = size - AlertMemory
		h.entries, h.end = nil, from
		h.dropped = max(h.dropped, from)
	}
	h.mu.Unlock()
	for from < size {
		recs, err := st.RecordsFrom(from, int(min(size-from, 1024)))
		if err != nil {
			return err
		}
		if len(recs) == 0 {
			return fmt.Errorf("the store lists no record at %d of %d", from, size)
		}
		h.publish(recs, 0)
		from = recs[len(recs)-1].Index + 1
	}
	return nil
}

// since returns the entries at or after index from, the index after the
// last record published (every record below it is either among the entries
// or not an alert), whether some after from were dropped, and a channel
// closed when more arrive.
func (h *alertHub) since(from uint64) ([]hubEntry, uint64, bool, <-chan struct{}) {
	h.mu.Lock()
	defer h.mu.Unlock()
	i := sort.Search(len(h.entries), func(i int) bool { return h.entries[i].alert.Index >= from })
	out := h.entries[i:len(h.entries):len(h.entries)]
	next := max(from, h.end)
	return out, next, from < h.dropped, h.wake
}

// AlertWaits returns how many alerts requests have begun to wait (a long
// poll parked because nothing was due to its provider yet).
func (s *Service) AlertWaits() uint64 { return s.alertHub.waits.Load() }

// Alerts serves a provider's signed request (op cloudapi.OpAlerts, From the first
// record index wanted) for the alerts it is due: those of records whose
// contract is active and names it, of patients whose grant to it is
// active. The cloud does not know a record's vital sign, nor a grant's
// scope: a provider whose scope lacks the vital sign is alerted too, and
// cannot open the alert (its client counts it and shows nothing). It waits up to wait (at most cloudapi.MaxAlertWait)
// for a first one. Every alert it answers is logged first in the access
// log of its patient (cloudapi.AccessAlert), durably; so only the
// sequencer serves alerts, and a follower refuses them before it checks
// the request.
func (s *Service) Alerts(ctx context.Context, raw []byte, wait time.Duration) (*cloudapi.AlertBatch, error) {
	if err := s.checkSequencing(); err != nil {
		s.m.readsRefused.WithLabelValues(readReason(err)).Inc()
		return nil, err
	}
	r, err := cloudapi.ParseRequest(raw)
	if err == nil && r.Op != cloudapi.OpAlerts {
		err = fmt.Errorf("%w: not an alerts request", ErrBadRequest)
	}
	if err != nil {
		s.m.readsRefused.WithLabelValues(readReason(err)).Inc()
		return nil, err
	}
	who, err := s.authenticate(ctx, r)
	if err == nil && who.role != identity.RoleProvider {
		err = fmt.Errorf("%w: alerts go to providers", ErrWrongRole)
	}
	if err != nil {
		s.m.readsRefused.WithLabelValues(readReason(err)).Inc()
		return nil, err
	}
	wait = min(max(wait, 0), cloudapi.MaxAlertWait)
	timer := time.NewTimer(wait)
	defer timer.Stop()
	from := r.From
	gap := false
	for {
		entries, next, dropped, wake := s.alertHub.since(from)
		gap = gap || dropped
		b := &cloudapi.AlertBatch{Next: next, Gap: gap}
		grants := map[identity.ID]*ledger.GrantRecord{}
		var logged []cloudapi.AccessEntry
		for _, e := range entries {
			due, err := s.alertDue(ctx, who.id, e, grants)
			if err != nil {
				return nil, err
			}
			if due {
				b.Alerts = append(b.Alerts, e.alert)
				logged = append(logged, cloudapi.AccessEntry{Time: s.cfg.Now().UnixMilli(), Requester: who.id, Patient: e.patient,
					Record: e.id, Allowed: true, Op: cloudapi.AccessAlert, Request: raw})
				if len(b.Alerts) == maxAlertsPerAnswer {
					b.Next = e.alert.Index + 1
					break
				}
			}
		}
		if len(b.Alerts) > 0 {
			// No alert goes out that its patient's access log does not hold.
			if _, err := s.logAccessBatch(ctx, logged); err != nil {
				err = logRefusal(err)
				s.m.readsRefused.WithLabelValues(readReason(err)).Inc()
				return nil, err
			}
			s.m.alertsServed.Add(float64(len(b.Alerts)))
			return b, nil
		}
		from = next
		s.alertHub.waits.Add(1)
		select {
		case <-wake:
		case <-timer.C:
			return b, nil
		case <-ctx.Done():
			return b, nil
		case <-s.done:
			return b, nil
		}
	}
}

// alertDue reports whether an alert is due to a provider. grants caches
// the grant lookups of one answer.
func (s *Service) alertDue(ctx context.Context, provider identity.ID, e hubEntry, grants map[identity.ID]*ledger.GrantRecord) (bool, error) {
	c, err := s.contract(ctx, e.contract)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("%w: contract: %v", ErrUnavailable, err)
	}
	if !c.Active || c.Patient != e.patient || !slices.Contains(c.Providers, provider) {
		return false, nil
	}
	g, ok := grants[e.patient]
	if !ok {
		g, err = s.cfg.Ledger.Grant(ctx, e.patient, provider)
		switch {
		case errors.Is(err, ErrNotFound):
			g = nil
		case err != nil:
			return false, fmt.Errorf("%w: grant: %v", ErrUnavailable, err)
		}
		grants[e.patient] = g
	}
	// Neither the scope (sealed on the ledger) nor the vital sign (sealed in
	// the record) is the cloud's to know: a provider whose grant does not
	// cover the vital sign is alerted and cannot decrypt the record.
	return g != nil && g.Active(s.cfg.Now().UnixMilli()), nil
}

type cachedContract struct {
	c  *ledger.ContractRecord
	at time.Time
}

// contract returns a contract from the ledger, cached for contractTTL.
func (s *Service) contract(ctx context.Context, id [32]byte) (*ledger.ContractRecord, error) {
	s.contractsMu.Lock()
	cc, ok := s.contracts[id]
	s.contractsMu.Unlock()
	if ok && s.cfg.Now().Sub(cc.at) < contractTTL {
		return cc.c, nil
	}
	c, err := s.cfg.Ledger.Contract(ctx, id)
	if err != nil {
		return nil, err
	}
	s.contractsMu.Lock()
	if len(s.contracts) >= maxContracts {
		clear(s.contracts)
	}
	s.contracts[id] = cachedContract{c: c, at: s.cfg.Now()}
	s.contractsMu.Unlock()
	return c, nil
}

// maxContracts bounds the contract cache.
const maxContracts = 1 << 16
