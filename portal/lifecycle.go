package portal

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/vitalchain/vitalchain/cloud/cloudapi"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/lifecycle"
	"github.com/vitalchain/vitalchain/provider"
	"github.com/vitalchain/vitalchain/record"
)

// Lifecycle is the alerts' lifecycle as the cloud keeps it, for every
// provider of a contract, the patient and the command line alike
// (*provider.Provider): the portal's actions are signed changes sent
// there, and the states it shows are read from there.
type Lifecycle interface {
	ChangeAlert(ctx context.Context, alert [32]byte, action lifecycle.Action, until time.Time) (*lifecycle.Status, error)
	AlertStates(ctx context.Context, from uint64) ([]lifecycle.Status, uint64, error)
}

// StatesTick is how often the portal reads the alerts' states from the
// cloud: a change made elsewhere (another provider, the command line, an
// escalation) shows within it.
const StatesTick = time.Second

// syncStates reads the alerts' states from the cloud every StatesTick
// into the triage list, until ctx ends.
func (p *ProviderPortal) syncStates(ctx context.Context) {
	var from uint64
	t := time.NewTicker(StatesTick)
	defer t.Stop()
	for {
		from = p.pullStates(ctx, from)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// pullStates reads the states changed after from into the triage list,
// and returns the from of the next call.
func (p *ProviderPortal) pullStates(ctx context.Context, from uint64) uint64 {
	states, next, err := p.cfg.Lifecycle.AlertStates(ctx, from)
	if err != nil && ctx.Err() == nil {
		p.log.Warn("portal: alerts' states unavailable", "err", err)
	}
	for _, s := range states {
		p.applyState(s)
	}
	return max(from, next)
}

// applyState puts an alert's state, as the cloud keeps it, on the triage
// list, and notifies the changes this portal has not seen: a no-data
// alert raised, an escalation to this provider, an acknowledgement or a
// resolution.
func (p *ProviderPortal) applyState(s lifecycle.Status) {
	// This provider's relation key with the patient is shown as this
	// provider; another provider's stays its relation key, which is all
	// the ledger tells of it.
	if s.By != (identity.ID{}) && p.isMe(s.Patient, s.By) {
		s.By = p.cfg.Provider.ID()
	}
	if s.Assigned != (identity.ID{}) && p.isMe(s.Patient, s.Assigned) {
		s.Assigned = p.cfg.Provider.ID()
	}
	prev, known := p.triage.alert(s.Alert)
	if !known && s.NoData {
		p.triage.addNoData(s)
	}
	if !p.triage.setState(s) {
		return // an alert this portal has not received (yet): its state waits for it
	}
	switch {
	case s.NoData && !known:
		p.notify(eventNoData, s.Alert, s.Patient)
	}
	if p.isMe(s.Patient, s.Assigned) && (!known || prev.Level < s.Level) {
		p.notify(eventEscalated(s.Level), s.Alert, s.Patient)
	}
	if known && AlertState(s.State) != prev.State {
		switch s.State {
		case lifecycle.Acknowledged:
			p.notify(eventAcknowledged, s.Alert, s.Patient)
		case lifecycle.Resolved:
			p.notify(eventResolved, s.Alert, s.Patient)
		}
	}
}

// setState sets an alert's lifecycle fields from the cloud's state, or
// keeps the state for the alert's arrival; it reports whether the alert
// is on the list.
func (t *triage) setState(s lifecycle.Status) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.alerts[s.Alert]
	if e == nil {
		if t.states == nil {
			t.states = map[[32]byte]lifecycle.Status{}
		}
		if len(t.states) < maxPatients {
			t.states[s.Alert] = s
		}
		return false
	}
	e.apply(s)
	t.bump()
	return true
}

// apply copies the cloud's state of an alert into its entry.
func (e *alertEntry) apply(s lifecycle.Status) {
	e.State = AlertState(s.State)
	if s.By != (identity.ID{}) {
		e.By = "provider " + short(s.By)
	}
	if s.At != 0 && s.State != lifecycle.Raised {
		e.Changed = time.UnixMilli(s.At)
	}
	e.Snoozed = time.Time{}
	if s.Snoozed != 0 {
		e.Snoozed = time.UnixMilli(s.Snoozed)
	}
	e.Level = s.Level
	e.Assigned = s.Assigned
	e.Synced = true
}

// pendingState applies a state the cloud gave before the alert arrived;
// t.mu is held.
func (t *triage) pendingState(e *alertEntry) {
	if s, ok := t.states[e.ID]; ok {
		e.apply(s)
		delete(t.states, e.ID)
	}
}

// addNoData puts a no-data alert on the list.
func (t *triage) addNoData(s lifecycle.Status) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.alerts[s.Alert]; ok {
		return
	}
	p := t.patients[s.Patient]
	if p == nil {
		if len(t.patients) >= maxPatients {
			return
		}
		p = &patientEntry{ID: s.Patient}
		t.patients[p.ID] = p
	}
	t.seq++
	a := provider.Alert{ID: s.Alert, Header: record.Header{Patient: s.Patient, Author: s.Patient, Contract: s.Contract, Time: s.Since},
		Stored: time.UnixMilli(s.Raised), Received: time.UnixMilli(s.Raised)}
	e := &alertEntry{Alert: a, Seq: t.seq, State: Raised, Changed: a.Received, NoData: true, Device: s.Device}
	p.alerts = append(p.alerts, e)
	t.alerts[s.Alert] = e
	t.bump()
}

// noDataSince returns the earliest time since which an open no-data alert
// of the patient has had no data.
func (t *triage) noDataSince(patient identity.ID) (time.Time, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.patients[patient]
	if p == nil {
		return time.Time{}, false
	}
	var since time.Time
	for _, e := range p.alerts {
		if e.NoData && e.State.Open() {
			if at := time.UnixMilli(e.Header.Time); since.IsZero() || at.Before(since) {
				since = at
			}
		}
	}
	return since, !since.IsZero()
}

// changeAtCloud sends an alert's state change to the cloud, puts the
// state it answers on the list, and answers the refusal, if any, as an
// HTTP status and a message.
func (p *ProviderPortal) changeAtCloud(ctx context.Context, id [32]byte, action lifecycle.Action, until time.Time) (int, string) {
	s, err := p.cfg.Lifecycle.ChangeAlert(ctx, id, action, until)
	if err != nil {
		var re *cloudapi.RequestError
		if errors.As(err, &re) {
			switch re.Code {
			case cloudapi.CodeIllegalTransition:
				return http.StatusConflict, "The cloud refused: " + re.Message
			case cloudapi.CodeNoGrant, cloudapi.CodeRevoked, cloudapi.CodeExpired, cloudapi.CodeWrongRole:
				return http.StatusForbidden, "The cloud refused: " + re.Message
			case cloudapi.CodeUnknownAlert:
				return http.StatusNotFound, "The cloud refused: " + re.Message
			}
		}
		return http.StatusBadGateway, "Not changed: " + err.Error()
	}
	p.applyState(*s)
	return http.StatusOK, ""
}

// isMe reports whether id is this portal's provider with patient: its
// registered ID, or its relation key's for that patient (what the
// patient's contracts and grants name, when the Clinician has relation
// keys).
func (p *ProviderPortal) isMe(patient, id identity.ID) bool {
	if id == p.cfg.Provider.ID() {
		return true
	}
	r, ok := p.cfg.Provider.(interface {
		RelationID(identity.ID) (identity.ID, error)
	})
	if !ok {
		return false
	}
	rel, err := r.RelationID(patient)
	return err == nil && rel == id
}
