package portal

import (
	"cmp"
	"slices"
	"sync"
	"time"

	"github.com/vitalchain/vitalchain/contract"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/lifecycle"
	"github.com/vitalchain/vitalchain/provider"
)

// AlertState is where an alert is in its lifecycle (package lifecycle),
// whether the portal keeps it or the cloud does.
type AlertState = lifecycle.State

// The states of an alert.
const (
	Raised       = lifecycle.Raised       // not yet seen by a clinician
	Acknowledged = lifecycle.Acknowledged // a clinician took it
	Resolved     = lifecycle.Resolved     // closed
)

// maxAlertsPerPatient bounds the alerts the portal keeps per patient; the
// oldest resolved ones go first, then the oldest.
const maxAlertsPerPatient = 512

// maxPatients bounds the patients the triage list keeps: a provider's
// panel, with room to spare.
const maxPatients = 1 << 14

// alertEntry is one alert and its lifecycle.
type alertEntry struct {
	provider.Alert
	Seq     uint64 // the order in which the portal received it, from 1
	State   AlertState
	By      string    // who acknowledged or resolved it
	Changed time.Time // when State last changed
	Snoozed time.Time // hidden from the top of the list until then
	// The cloud's lifecycle (lifecycle.go): a no-data alert (its device,
	// zero for the gateway; Header.Time is when data stopped), the
	// escalations, and whether the state is the cloud's.
	NoData   bool
	Device   identity.ID
	Level    uint8
	Assigned identity.ID
	Synced   bool
}

// patientEntry is what the triage list knows of one patient.
type patientEntry struct {
	ID         identity.ID
	LastRecord time.Time // the reading time of the newest record seen
	alerts     []*alertEntry
}

// triage is the provider's list of patients and their alerts, fed by the
// alerts the provider receives. It does no I/O. It is safe for concurrent
// use; watchers learn of each change through changed.
type triage struct {
	mu       sync.Mutex
	patients map[identity.ID]*patientEntry
	alerts   map[[32]byte]*alertEntry
	changed  chan struct{} // closed at the next change
	version  uint64
	seq      uint64                        // the last alert's Seq
	recent   []*alertEntry                 // the last maxRecent alerts received, in order
	states   map[[32]byte]lifecycle.Status // states the cloud gave for alerts not received yet
}

// maxRecent bounds the alerts a live stream can be told of at once.
const maxRecent = 256

func newTriage() *triage {
	return &triage{patients: map[identity.ID]*patientEntry{}, alerts: map[[32]byte]*alertEntry{}, changed: make(chan struct{})}
}

// add records an alert (a second delivery of one is ignored) and reports
// whether it was new.
func (t *triage) add(a provider.Alert) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.alerts[a.ID]; ok {
		return false
	}
	p := t.patients[a.Header.Patient]
	if p == nil {
		if len(t.patients) >= maxPatients {
			return false
		}
		p = &patientEntry{ID: a.Header.Patient}
		t.patients[p.ID] = p
	}
	t.seq++
	e := &alertEntry{Alert: a, Seq: t.seq, State: Raised, Changed: a.Received}
	t.recent = append(t.recent, e)
	if len(t.recent) > maxRecent {
		t.recent = slices.Delete(t.recent, 0, len(t.recent)-maxRecent)
	}
	p.alerts = append(p.alerts, e)
	t.alerts[a.ID] = e
	t.pendingState(e)
	if rt := time.UnixMilli(a.Header.Time); rt.After(p.LastRecord) {
		p.LastRecord = rt
	}
	if len(p.alerts) > maxAlertsPerPatient {
		drop := slices.IndexFunc(p.alerts, func(e *alertEntry) bool { return !e.State.Open() })
		if drop < 0 {
			drop = 0
		}
		delete(t.alerts, p.alerts[drop].ID)
		p.alerts = slices.Delete(p.alerts, drop, drop+1)
	}
	t.bump()
	return true
}

// bump tells the watchers of a change; t.mu is held.
func (t *triage) bump() {
	t.version++
	close(t.changed)
	t.changed = make(chan struct{})
}

// since returns copies of the alerts received after the one of Seq seq
// (at most the last maxRecent), and the last Seq.
func (t *triage) since(seq uint64) ([]alertEntry, uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []alertEntry
	for _, e := range t.recent {
		if e.Seq > seq {
			out = append(out, *e)
		}
	}
	return out, t.seq
}

// watch returns a channel closed at the next change.
func (t *triage) watch() <-chan struct{} {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.changed
}

// transition moves an alert to state s by who, or snoozes it until
// snooze (if not zero). It reports false if the alert is unknown or the
// move goes backwards (a resolved alert stays resolved).
func (t *triage) transition(id [32]byte, s AlertState, who string, now, snooze time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.alerts[id]
	if e == nil || s < e.State || (s == e.State && snooze.IsZero()) || e.State == Resolved {
		return false
	}
	if s != e.State {
		e.State, e.By, e.Changed = s, who, now
	}
	e.Snoozed = snooze
	t.bump()
	return true
}

// alert returns a copy of an alert's entry.
func (t *triage) alert(id [32]byte) (alertEntry, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.alerts[id]
	if e == nil {
		return alertEntry{}, false
	}
	return *e, true
}

// patientAlerts returns copies of a patient's alerts, newest first.
func (t *triage) patientAlerts(id identity.ID) ([]alertEntry, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.patients[id]
	if p == nil {
		return nil, false
	}
	out := make([]alertEntry, 0, len(p.alerts))
	for i := len(p.alerts) - 1; i >= 0; i-- {
		out = append(out, *p.alerts[i])
	}
	return out, true
}

// Row is one patient's line in the triage list.
type Row struct {
	Patient    identity.ID
	Open       int               // alerts raised or acknowledged, snoozed ones included
	Raised     int               // of which nobody acknowledged yet
	Worst      contract.Severity // the highest severity among the open alerts not snoozed
	Oldest     time.Time         // reading time of the oldest open alert not snoozed
	LastRecord time.Time         // reading time of the newest record
	Latest     [32]byte          // the newest open alert not snoozed, or the newest alert
	Snoozed    bool              // every open alert is snoozed
}

// rows returns the triage list at now: patients with open alerts first, the
// worst severity first, then the oldest alert; then the others, the most
// recent record first. allowed filters the patients (nil: all).
func (t *triage) rows(now time.Time, allowed func(identity.ID) bool) []Row {
	t.mu.Lock()
	out := make([]Row, 0, len(t.patients))
	for _, p := range t.patients {
		if allowed != nil && !allowed(p.ID) {
			continue
		}
		r := Row{Patient: p.ID, LastRecord: p.LastRecord}
		awake := 0
		for _, e := range p.alerts {
			r.Latest = e.ID
			if !e.State.Open() {
				continue
			}
			r.Open++
			if e.State == Raised {
				r.Raised++
			}
			if now.Before(e.Snoozed) {
				continue
			}
			awake++
			sev := e.Severity
			rt := time.UnixMilli(e.Header.Time)
			r.Worst = max(r.Worst, sev)
			if r.Oldest.IsZero() || rt.Before(r.Oldest) {
				r.Oldest = rt
			}
		}
		for i := len(p.alerts) - 1; i >= 0 && awake > 0; i-- {
			if e := p.alerts[i]; e.State.Open() && !now.Before(e.Snoozed) {
				r.Latest = e.ID
				break
			}
		}
		r.Snoozed = r.Open > 0 && awake == 0
		out = append(out, r)
	}
	t.mu.Unlock()
	slices.SortFunc(out, func(a, b Row) int {
		aOpen, bOpen := a.Open > 0 && !a.Snoozed, b.Open > 0 && !b.Snoozed
		switch {
		case aOpen != bOpen:
			if aOpen {
				return -1
			}
			return 1
		case aOpen:
			if c := cmp.Compare(b.Worst, a.Worst); c != 0 {
				return c
			}
			if c := a.Oldest.Compare(b.Oldest); c != 0 {
				return c
			}
		}
		if c := b.LastRecord.Compare(a.LastRecord); c != 0 {
			return c
		}
		return slices.Compare(a.Patient[:], b.Patient[:])
	})
	return out
}
