package portal

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/lifecycle"
	"github.com/vitalchain/vitalchain/provider"
	"github.com/vitalchain/vitalchain/vital"
	"github.com/vitalchain/vitalchain/webhook"
)

// Clinician is what the provider portal needs of a provider's client
// (*provider.Provider): its alerts, its verified records, its grants, and
// its two actions on the ledger.
type Clinician interface {
	ID() identity.ID
	Follow(ctx context.Context, from uint64, handle func(provider.Alert)) error
	Fetch(ctx context.Context, id [32]byte) (*provider.Fetched, error)
	Granted(ctx context.Context, patient identity.ID) (bool, error)
	SendRecord(ctx context.Context, patient identity.ID, kind vital.Kind, plaintext []byte) ([32]byte, error)
	SetSamplingInterval(ctx context.Context, device identity.ID, iv time.Duration) error
}

// Notifier takes events for delivery beyond the browser: a
// *webhook.Outbox, which keeps them durably and retries.
type Notifier interface {
	Enqueue(webhook.Event) error
}

// The types of the events a provider portal notifies; an event's ID is its
// type and the alert's ID.
const (
	eventRaised       = "alert.raised"
	eventNoData       = "alert.no_data"
	eventAcknowledged = "alert.acknowledged"
	eventResolved     = "alert.resolved"
)

// eventEscalated is the type of an alert's escalation to level.
func eventEscalated(level uint8) string { return fmt.Sprintf("alert.escalated.%d", level) }

// resender is a Notifier that sends an event again, under its first ID,
// to a paging system that lost it (*webhook.Outbox is one).
type resender interface {
	Resend(eventID string) error
}

// ProviderConfig configures a provider portal.
type ProviderConfig struct {
	Provider Clinician
	// Notify, if set, gets an event for each new alert and each change of
	// an alert's state: IDs and a link, never health data. An event's ID is
	// its idempotency key, the same after a restart of the portal, so that
	// replaying the alerts at start sends nothing twice.
	Notify Notifier
	// URL is the portal's address as its users reach it, for the links of
	// the events (default: none, the links are paths).
	URL string
	// OnAlert, if set, gets every alert Run receives as well (another view
	// of the same feed, such as the FHIR API).
	OnAlert func(provider.Alert)
	// Lifecycle, if set, keeps the alerts' states at the cloud, shared by
	// every provider of a contract, the patient and the command line: the
	// portal's actions go there, and the states shown come from there.
	// Nil: the states live in this portal's memory alone.
	Lifecycle Lifecycle
	// Secure: the portal is served over TLS (session cookies are Secure).
	Secure bool
	Log    *slog.Logger
	Now    func() time.Time // the clock; time.Now by default
}

// Limits of the provider portal.
const (
	// GrantTTL is how long the portal trusts its last answer to "is this
	// patient's grant in force?": a revoked patient leaves the portal
	// within it.
	GrantTTL = 2 * time.Second
	// MaxStreams bounds the live (server-sent events) connections.
	MaxStreams = 64
	// MaxChartRecords is how many of a patient's newest records a patient
	// page fetches, decrypts and charts.
	MaxChartRecords = 60
	// maxFetched bounds the cache of verified records.
	maxFetched = 4096
	// maxForm bounds a posted form.
	maxForm = 64 << 10
	// tick re-renders the live list, so that ages stay right and a patient
	// whose grant ended leaves it; a stream sends the list only when it
	// changed.
	tick = GrantTTL
)

// ProviderPortal is a provider's web portal: the triage list of the
// patients who granted the provider access, live alerts, verified records
// with their proofs, a chart per vital sign, and the provider's actions.
// Records are decrypted in this process, with the provider's key.
type ProviderPortal struct {
	site
	cfg    ProviderConfig
	triage *triage
	mux    *http.ServeMux

	streams chan struct{} // one token per live stream

	mu      sync.Mutex
	grants  map[identity.ID]grantAnswer
	fetched map[[32]byte]*provider.Fetched
}

type grantAnswer struct {
	ok bool
	at time.Time
}

// NewProvider returns a provider portal; Run feeds it the provider's alerts
// and Handler serves it.
func NewProvider(cfg ProviderConfig) (*ProviderPortal, error) {
	if cfg.Provider == nil {
		return nil, errors.New("portal: no provider")
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	p := &ProviderPortal{site: site{name: "provider", who: short(cfg.Provider.ID()), access: newAccess("provider", cfg.Secure, cfg.Now), log: cfg.Log}, cfg: cfg, triage: newTriage(),
		streams: make(chan struct{}, MaxStreams), grants: map[identity.ID]grantAnswer{}, fetched: map[[32]byte]*provider.Fetched{}}
	p.routes()
	return p, nil
}

// Observe adds an alert the provider received to the triage list, and
// notifies it if it is new.
func (p *ProviderPortal) Observe(a provider.Alert) {
	if p.triage.add(a) {
		p.notify(eventRaised, a.ID, a.Header.Patient)
	}
}

// notify hands an event about an alert to the Notifier. Its ID names the
// alert and the change, so that the same change is the same event.
func (p *ProviderPortal) notify(typ string, alert [32]byte, patient identity.ID) {
	if p.cfg.Notify == nil {
		return
	}
	id := hex.EncodeToString(alert[:])
	payload, _ := json.Marshal(map[string]string{
		"alert":    id,
		"patient":  patient.Hex(),
		"provider": p.cfg.Provider.ID().Hex(),
		"link":     strings.TrimSuffix(p.cfg.URL, "/") + "/alerts/" + id,
	})
	err := p.cfg.Notify.Enqueue(webhook.Event{ID: typ + ":" + id, Type: typ, Time: p.cfg.Now(), Payload: payload})
	if err != nil && !errors.Is(err, webhook.ErrDuplicate) {
		p.log.Error("portal: event not enqueued", "type", typ, "alert", id, "err", err)
	}
}

// Run follows the provider's alerts from the start of the cloud's log into
// the triage list, and keeps the patients' grants fresh, until ctx ends.
func (p *ProviderPortal) Run(ctx context.Context) error {
	done := make(chan struct{})
	go func() { defer close(done); p.refreshGrants(ctx) }()
	defer func() { <-done }()
	if p.cfg.Lifecycle != nil {
		synced := make(chan struct{})
		go func() { defer close(synced); p.syncStates(ctx) }()
		defer func() { <-synced }()
	}
	return p.cfg.Provider.Follow(ctx, 0, func(a provider.Alert) {
		p.Observe(a)
		if p.cfg.OnAlert != nil {
			p.cfg.OnAlert(a)
		}
	})
}

// Handler returns the portal's HTTP handler.
func (p *ProviderPortal) Handler() http.Handler { return secureHeaders(p.mux) }

func (p *ProviderPortal) routes() {
	m := http.NewServeMux()
	p.mount(m)
	m.HandleFunc("GET /metrics", p.metrics)
	m.HandleFunc("GET /{$}", p.authed(p.home))
	m.HandleFunc("GET /events", p.authed(p.events))
	m.HandleFunc("GET /alerts/{id}", p.authed(p.alertPage))
	m.HandleFunc("GET /alerts/{id}/proof", p.authed(p.proof))
	m.HandleFunc("POST /alerts/{id}/state", p.authed(p.alertState))
	m.HandleFunc("POST /alerts/{id}/resend", p.authed(p.resend))
	m.HandleFunc("GET /patients/{id}", p.authed(p.patientPage))
	m.HandleFunc("GET /patients/{id}/fhir", p.authed(p.exportFHIR))
	m.HandleFunc("POST /patients/{id}/records", p.authed(p.sendRecord))
	m.HandleFunc("POST /patients/{id}/sampling", p.authed(p.sampling))
	p.mux = m
}

// metrics serves the portal's counters, and its Notifier's if it has
// some, in Prometheus's text format: counts only, nothing of a patient.
func (p *ProviderPortal) metrics(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	p.triage.mu.Lock()
	patients, alerts := len(p.triage.patients), len(p.triage.alerts)
	p.triage.mu.Unlock()
	fmt.Fprintf(w, "# HELP vitalchain_portal_patients Patients on the triage list, granted or not.\n# TYPE vitalchain_portal_patients gauge\nvitalchain_portal_patients %d\n", patients)
	fmt.Fprintf(w, "# HELP vitalchain_portal_alerts Alerts the portal keeps.\n# TYPE vitalchain_portal_alerts gauge\nvitalchain_portal_alerts %d\n", alerts)
	fmt.Fprintf(w, "# HELP vitalchain_portal_streams Live connections.\n# TYPE vitalchain_portal_streams gauge\nvitalchain_portal_streams %d\n", len(p.streams))
	if m, ok := p.cfg.Notify.(interface {
		WriteMetrics(io.Writer, string) error
	}); ok {
		m.WriteMetrics(w, "vitalchain_portal")
	}
}

// page is what every template receives.
type page struct {
	Title  string
	Who    string // the provider, short
	CSRF   string
	Portal string // "provider" or "patient"
	Data   any
}

// granted answers from the grant cache, asking the ledger when the answer
// is older than GrantTTL. An error counts as no grant.
func (p *ProviderPortal) granted(ctx context.Context, patient identity.ID) bool {
	p.mu.Lock()
	g, ok := p.grants[patient]
	p.mu.Unlock()
	if ok && p.cfg.Now().Sub(g.at) < GrantTTL {
		return g.ok
	}
	return p.checkGrant(ctx, patient)
}

// checkGrant asks the ledger whether a patient's grant is in force, and
// caches the answer. An error counts as no grant.
func (p *ProviderPortal) checkGrant(ctx context.Context, patient identity.ID) bool {
	now := p.cfg.Now()
	yes, err := p.cfg.Provider.Granted(ctx, patient)
	if err != nil {
		if ctx.Err() == nil {
			p.log.Warn("portal: grant check failed: the patient is hidden", "patient", patient, "err", err)
		}
		yes = false
	}
	p.mu.Lock()
	if len(p.grants) >= maxPatients {
		clear(p.grants)
	}
	p.grants[patient] = grantAnswer{ok: yes, at: now}
	p.mu.Unlock()
	return yes
}

// refreshGrants asks the ledger again, every half GrantTTL, about the
// grants of the patients on the triage list, so that a live stream answers
// from the cache rather than waiting for the ledger (a verified read can
// wait for the next block). A change of answer wakes the streams.
func (p *ProviderPortal) refreshGrants(ctx context.Context) {
	t := time.NewTicker(GrantTTL / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		p.triage.mu.Lock()
		ids := slices.Collect(maps.Keys(p.triage.patients))
		p.triage.mu.Unlock()
		changed := false
		for _, id := range ids {
			p.mu.Lock()
			before, known := p.grants[id]
			p.mu.Unlock()
			if now := p.checkGrant(ctx, id); !known || now != before.ok {
				changed = true
			}
		}
		if changed {
			p.triage.mu.Lock()
			p.triage.bump()
			p.triage.mu.Unlock()
		}
	}
}

// rowView is a triage row as the template shows it.
type rowView struct {
	Row
	Short     string
	Severity  string
	Age       string // of the oldest open alert
	Last      string // of the newest record
	Stale     bool   // no record for longer than staleAfter
	LatestHex string
}

// staleAfter: a patient whose newest record is older is shown "no data since".
const staleAfter = 10 * time.Minute

func (p *ProviderPortal) rowViews(ctx context.Context) []rowView {
	now := p.cfg.Now()
	rows := p.triage.rows(now, func(id identity.ID) bool { return p.granted(ctx, id) })
	out := make([]rowView, len(rows))
	for i, r := range rows {
		v := rowView{Row: r, Short: short(r.Patient), LatestHex: hex.EncodeToString(r.Latest[:]), Last: agoMinutes(now, r.LastRecord),
			Stale: now.Sub(r.LastRecord) > staleAfter}
		if since, ok := p.triage.noDataSince(r.Patient); ok {
			// A no-data alert raised by the patient's gateway (a silent
			// device) or by the cloud (a silent gateway).
			v.Stale, v.Row.LastRecord = true, since
		}
		if r.Worst.Valid() {
			v.Severity = r.Worst.String()
		}
		if !r.Oldest.IsZero() {
			v.Age = agoMinutes(now, r.Oldest)
		}
		out[i] = v
	}
	return out
}

func (p *ProviderPortal) home(w http.ResponseWriter, r *http.Request, s *session) {
	p.render(w, http.StatusOK, "triage", p.page(s, "Triage", p.rowViews(r.Context())))
}

// events streams the triage list's rows as server-sent events named
// "triage": at once, then whenever they change (looked at on each change
// of the alerts and every tick). Unchanged rows are not sent again, so
// that a screen reader does not read the list out for nothing. Before the
// rows, an event named "alerts" lists the alerts new since the last event.
func (p *ProviderPortal) events(w http.ResponseWriter, r *http.Request, _ *session) {
	select {
	case p.streams <- struct{}{}:
		defer func() { <-p.streams }()
	default:
		http.Error(w, "too many live connections", http.StatusServiceUnavailable)
		return
	}
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	// An event stream outlives the server's write timeout.
	rc.SetWriteDeadline(time.Time{})
	t := time.NewTicker(tick)
	defer t.Stop()
	var last []byte
	_, seen := p.triage.since(0) // the page already shows these
	for {
		changed := p.triage.watch()
		// The new alerts, by ID and reading time (Unix ms), one per line:
		// what a page or a script can time (bench e2e does). No health
		// data: the rows that follow show what the clinician sees.
		news, lastSeq := p.triage.since(seen)
		seen = lastSeq
		var ids bytes.Buffer
		for _, e := range news {
			if p.granted(r.Context(), e.Header.Patient) {
				fmt.Fprintf(&ids, "%x %d\n", e.ID, e.Header.Time)
			}
		}
		if ids.Len() > 0 {
			if err := writeEvent(w, "alerts", ids.Bytes()); err != nil {
				return
			}
		}
		var b bytes.Buffer
		if err := pages().ExecuteTemplate(&b, "rows", p.rowViews(r.Context())); err != nil {
			p.log.Error("portal: render rows", "err", err)
			return
		}
		if !bytes.Equal(b.Bytes(), last) {
			if err := writeEvent(w, "triage", b.Bytes()); err != nil {
				return
			}
			last = b.Bytes()
		}
		if err := rc.Flush(); err != nil {
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-changed:
		case <-t.C:
		}
	}
}

// writeEvent writes one server-sent event; each line of data is a data
// field, as the format requires.
func writeEvent(w http.ResponseWriter, name string, data []byte) error {
	var b bytes.Buffer
	b.WriteString("event: " + name + "\n")
	for _, line := range bytes.Split(bytes.TrimRight(data, "\n"), []byte("\n")) {
		b.WriteString("data: ")
		b.Write(line)
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	_, err := w.Write(b.Bytes())
	return err
}

// recordID parses the {id} of a path: a record's ID in hex.
func recordID(r *http.Request) ([32]byte, bool) {
	var id [32]byte
	b, err := hex.DecodeString(r.PathValue("id"))
	if err != nil || len(b) != len(id) {
		return id, false
	}
	copy(id[:], b)
	return id, true
}

// patientID parses the {id} of a path: a patient's actor ID.
func patientID(r *http.Request) (identity.ID, bool) {
	id, err := identity.ParseID(r.PathValue("id"))
	return id, err == nil
}

// grantedPatient parses the {id} of a patient's path and checks that the
// patient's grant to this provider is in force; otherwise it answers 404
// or 403 and reports false.
func (p *ProviderPortal) grantedPatient(w http.ResponseWriter, r *http.Request) (identity.ID, bool) {
	id, ok := patientID(r)
	if !ok {
		p.fail(w, r, http.StatusNotFound, "No such patient", "A patient's address ends with their ID, 64 hexadecimal digits.")
		return id, false
	}
	if !p.granted(r.Context(), id) {
		p.fail(w, r, http.StatusForbidden, "No grant in force", "This portal shows only patients whose grant to this provider is in force.")
		return id, false
	}
	return id, true
}

// fetch returns a record verified end to end, from the cache or the cloud.
func (p *ProviderPortal) fetch(ctx context.Context, id [32]byte) (*provider.Fetched, error) {
	p.mu.Lock()
	f := p.fetched[id]
	p.mu.Unlock()
	// A record proven into a checkpoint not yet anchored is fetched again,
	// so that its anchor shows once it is there.
	if f != nil && f.Anchored {
		return f, nil
	}
	f, err := p.cfg.Provider.Fetch(ctx, id)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	if len(p.fetched) >= maxFetched {
		clear(p.fetched)
	}
	p.fetched[id] = f
	p.mu.Unlock()
	return f, nil
}

// alertView is an alert's page.
type alertView struct {
	alertEntry
	IDHex    string
	Patient  string
	PatientS string
	Kind     string
	Severity string
	Age      string
	Fetched  *provider.Fetched
	Value    string // the reading, with its unit
	Device   string
	FetchErr string
	ProofErr bool // the record failed verification: shown as such
	// Escalated names the provider the alert was escalated to, if any;
	// Silent, for a no-data alert, what went silent.
	Escalated string
	Silent    string
	// Pagers: the portal has webhooks whose deliveries can be sent again.
	Pagers bool
}

func (p *ProviderPortal) alertPage(w http.ResponseWriter, r *http.Request, s *session) {
	id, ok := recordID(r)
	if !ok {
		p.fail(w, r, http.StatusNotFound, "No such alert", "An alert's address ends with its record's ID, 64 hexadecimal digits.")
		return
	}
	e, ok := p.triage.alert(id)
	if !ok {
		p.fail(w, r, http.StatusNotFound, "No such alert", "This portal has no alert of that ID.")
		return
	}
	if !p.granted(r.Context(), e.Header.Patient) {
		p.fail(w, r, http.StatusForbidden, "No grant in force", "The patient of this alert has no grant in force for this provider.")
		return
	}
	_, pagers := p.cfg.Notify.(resender)
	v := alertView{alertEntry: e, IDHex: hex.EncodeToString(id[:]), Patient: e.Header.Patient.Hex(), PatientS: short(e.Header.Patient),
		Age: ago(p.cfg.Now(), time.UnixMilli(e.Header.Time)), Pagers: pagers}
	if !e.NoData {
		v.Kind, v.Severity = e.Kind.Info().Display, e.Severity.String()
	}
	if e.Assigned != (identity.ID{}) {
		v.Escalated = "provider " + short(e.Assigned)
		if p.isMe(e.Header.Patient, e.Assigned) {
			v.Escalated += " (you)"
		}
	}
	if e.NoData {
		v.Kind, v.Severity = "No data", "warning"
		v.Silent = "the patient's gateway"
		if e.Device != (identity.ID{}) {
			v.Silent = "device " + short(e.Device)
		}
		p.render(w, http.StatusOK, "alert", p.page(s, "Alert: no data from patient "+v.PatientS, v))
		return
	}
	f, err := p.fetch(r.Context(), id)
	switch {
	case err == nil:
		v.Fetched = f
		v.Value = f.Reading.Value.String() + " " + f.Reading.Unit
		v.Device = short(f.Reading.Device)
	case errors.Is(err, provider.ErrProof), errors.Is(err, provider.ErrForged):
		v.ProofErr, v.FetchErr = true, err.Error()
	default:
		v.FetchErr = err.Error()
	}
	p.render(w, http.StatusOK, "alert", p.page(s, "Alert: "+v.Kind+" of "+v.PatientS, v))
}

// proofJSON is the raw proof of a record, for anyone to check again.
type proofJSON struct {
	Record     string `json:"record"`
	Index      uint64 `json:"index"`
	Checkpoint struct {
		Size uint64 `json:"size"`
		Root string `json:"root"`
	} `json:"checkpoint"`
	Proof    []string `json:"inclusion_proof"`
	Anchored bool     `json:"anchored"`
	Cloud    string   `json:"cloud,omitempty"`
	Height   int64    `json:"block_height,omitempty"`
	Hashing  string   `json:"hashing"`
}

func (p *ProviderPortal) proof(w http.ResponseWriter, r *http.Request, _ *session) {
	id, ok := recordID(r)
	e, known := p.triage.alert(id)
	if !ok || !known {
		http.Error(w, "no such record", http.StatusNotFound)
		return
	}
	if !p.granted(r.Context(), e.Header.Patient) {
		http.Error(w, "no grant in force", http.StatusForbidden)
		return
	}
	f, err := p.fetch(r.Context(), id)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	var out proofJSON
	out.Record = hex.EncodeToString(id[:])
	out.Index = f.Index
	out.Checkpoint.Size = f.Checkpoint.Size
	out.Checkpoint.Root = hex.EncodeToString(f.Checkpoint.Root[:])
	out.Proof = []string{}
	for _, h := range f.Proof {
		out.Proof = append(out.Proof, hex.EncodeToString(h[:]))
	}
	out.Anchored = f.Anchored
	if f.Anchored {
		out.Cloud, out.Height = f.Cloud.String(), f.Height
	}
	out.Hashing = "RFC 9162 (SHA-256); the leaf is the record's ID"
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(out)
}

// flash is a short message after an action.
type flash struct {
	Error bool
	Text  string
}

// grantedAlert returns the alert a form posts to, if the portal has it and
// its patient's grant to this provider is in force; if not, it answers so.
func (p *ProviderPortal) grantedAlert(w http.ResponseWriter, r *http.Request) ([32]byte, alertEntry, bool) {
	id, ok := recordID(r)
	e, known := p.triage.alert(id)
	if !ok || !known {
		p.fail(w, r, http.StatusNotFound, "No such alert", "")
		return id, e, false
	}
	if !p.granted(r.Context(), e.Header.Patient) {
		p.fail(w, r, http.StatusForbidden, "No grant in force", "")
		return id, e, false
	}
	return id, e, true
}

func (p *ProviderPortal) alertState(w http.ResponseWriter, r *http.Request, s *session) {
	id, e, ok := p.grantedAlert(w, r)
	if !ok {
		return
	}
	now := p.cfg.Now()
	who := "provider " + short(p.cfg.Provider.ID())
	var done bool
	if p.cfg.Lifecycle != nil {
		p.alertStateAtCloud(w, r, id)
		return
	}
	switch r.PostFormValue("action") {
	case "acknowledge":
		if done = p.triage.transition(id, Acknowledged, who, now, time.Time{}); done {
			p.notify(eventAcknowledged, id, e.Header.Patient)
		}
	case "resolve":
		if done = p.triage.transition(id, Resolved, who, now, time.Time{}); done {
			p.notify(eventResolved, id, e.Header.Patient)
		}
	case "snooze":
		m, err := strconv.Atoi(r.PostFormValue("minutes"))
		if err != nil || m < 1 || m > 24*60 {
			p.fail(w, r, http.StatusBadRequest, "Snooze refused", "snooze for 1 to 1440 minutes")
			return
		}
		done = p.triage.transition(id, e.State, who, now, now.Add(time.Duration(m)*time.Minute))
	default:
		p.fail(w, r, http.StatusBadRequest, "Refused", "unknown action")
		return
	}
	if !done {
		p.fail(w, r, http.StatusConflict, "Not changed", "the alert is already "+e.State.String())
		return
	}
	if r.Header.Get("HX-Request") == "true" {
		w.Header().Set("HX-Refresh", "true")
		p.flash(w, http.StatusOK, flash{Text: "Done."})
		return
	}
	http.Redirect(w, r, "/alerts/"+hex.EncodeToString(id[:]), http.StatusSeeOther)
}

// resend sends the alert's webhook events again, each under the ID it was
// first sent with, so that a paging system that lost them (or a pager
// that was off) gets them again and can tell them from new ones.
func (p *ProviderPortal) resend(w http.ResponseWriter, r *http.Request, s *session) {
	id, e, ok := p.grantedAlert(w, r)
	if !ok {
		return
	}
	rs, ok := p.cfg.Notify.(resender)
	if !ok {
		p.fail(w, r, http.StatusConflict, "No pagers", "This portal sends no webhooks (provider serve --webhook).")
		return
	}
	types := []string{eventRaised, eventNoData, eventAcknowledged, eventResolved}
	for level := 1; level <= int(e.Level); level++ {
		types = append(types, eventEscalated(uint8(level)))
	}
	var sent []string
	for _, typ := range types {
		err := rs.Resend(typ + ":" + hex.EncodeToString(id[:]))
		switch {
		case err == nil:
			sent = append(sent, typ)
		case errors.Is(err, webhook.ErrUnknown):
		default:
			p.log.Error("portal: resend", "alert", hex.EncodeToString(id[:8]), "err", err)
			p.fail(w, r, http.StatusInternalServerError, "Not resent", "The webhooks' outbox failed: "+err.Error())
			return
		}
	}
	if len(sent) == 0 {
		p.fail(w, r, http.StatusNotFound, "Nothing to resend", "No event of this alert has been delivered yet, or the outbox has forgotten it; events still being retried go out on their own.")
		return
	}
	text := "Sent again to the pagers: " + strings.Join(sent, ", ") + "."
	if r.Header.Get("HX-Request") == "true" {
		p.flash(w, http.StatusOK, flash{Text: text})
		return
	}
	http.Redirect(w, r, "/alerts/"+hex.EncodeToString(id[:]), http.StatusSeeOther)
}

// alertStateAtCloud changes an alert's state at the cloud.
func (p *ProviderPortal) alertStateAtCloud(w http.ResponseWriter, r *http.Request, id [32]byte) {
	var action lifecycle.Action
	var until time.Time
	switch r.PostFormValue("action") {
	case "acknowledge":
		action = lifecycle.Ack
	case "resolve":
		action = lifecycle.Resolve
	case "snooze":
		m, err := strconv.Atoi(r.PostFormValue("minutes"))
		if err != nil || m < 1 || m > 24*60 {
			p.fail(w, r, http.StatusBadRequest, "Snooze refused", "snooze for 1 to 1440 minutes")
			return
		}
		action, until = lifecycle.Snooze, p.cfg.Now().Add(time.Duration(m)*time.Minute)
	default:
		p.fail(w, r, http.StatusBadRequest, "Refused", "unknown action")
		return
	}
	if code, msg := p.changeAtCloud(r.Context(), id, action, until); code != http.StatusOK {
		p.fail(w, r, code, "Not changed", msg)
		return
	}
	if r.Header.Get("HX-Request") == "true" {
		w.Header().Set("HX-Refresh", "true")
		p.flash(w, http.StatusOK, flash{Text: "Done: signed, and kept by the cloud for every provider of the contract."})
		return
	}
	http.Redirect(w, r, "/alerts/"+hex.EncodeToString(id[:]), http.StatusSeeOther)
}

// series is one vital sign's chart: times (Unix seconds) and values.
type series struct {
	Kind string    `json:"kind"`
	Unit string    `json:"unit"`
	T    []float64 `json:"t"`
	V    []float64 `json:"v"`
}

// patientView is a patient's page.
type patientView struct {
	Patient  string
	Short    string
	Alerts   []alertRow
	Charts   []chartView
	Devices  []string
	Kinds    []string
	Failures int // records that could not be fetched or verified
}

type alertRow struct {
	IDHex, Kind, Severity, State, Age string
}

type chartView struct {
	Kind, Unit, ID string
	Series         *series // as the chart script reads it (JSON)
	Points         int
	Min, Max, Last string
	Abnormal       int // readings a contract found abnormal (the patient's charts)
}

func (p *ProviderPortal) patientPage(w http.ResponseWriter, r *http.Request, s *session) {
	id, ok := p.grantedPatient(w, r)
	if !ok {
		return
	}
	alerts, _ := p.triage.patientAlerts(id)
	now := p.cfg.Now()
	v := patientView{Patient: id.Hex(), Short: short(id)}
	for _, k := range vital.Kinds() {
		v.Kinds = append(v.Kinds, k.String())
	}
	for _, e := range alerts {
		row := alertRow{IDHex: hex.EncodeToString(e.ID[:]), State: e.State.String(), Age: ago(now, time.UnixMilli(e.Header.Time))}
		if e.NoData {
			row.Kind, row.Severity = "No data", "warning"
		} else {
			row.Kind, row.Severity = e.Kind.Info().Display, e.Severity.String()
		}
		v.Alerts = append(v.Alerts, row)
	}
	alerts = slices.DeleteFunc(alerts, func(e alertEntry) bool { return e.NoData }) // no record to chart
	byKind := map[vital.Kind]*series{}
	devices := map[identity.ID]bool{}
	for i := len(alerts) - 1; i >= 0; i-- {
		if len(alerts)-i > MaxChartRecords {
			break
		}
		f, err := p.fetch(r.Context(), alerts[i].ID)
		if err != nil {
			v.Failures++
			continue
		}
		k := f.Kind
		sr := byKind[k]
		if sr == nil {
			sr = &series{Kind: k.Info().Display, Unit: f.Reading.Unit}
			byKind[k] = sr
		}
		sr.T = append(sr.T, float64(f.Reading.Time)/1000)
		sr.V = append(sr.V, float64(f.Reading.Value)/1000)
		devices[f.Reading.Device] = true
	}
	for _, k := range slices.Sorted(maps.Keys(byKind)) {
		sr := byKind[k]
		c := chartView{Kind: sr.Kind, Unit: sr.Unit, ID: "chart-" + k.String(), Series: sr, Points: len(sr.V)}
		if n := len(sr.V); n > 0 {
			c.Min, c.Max, c.Last = num(slices.Min(sr.V)), num(slices.Max(sr.V)), num(sr.V[n-1])
		}
		v.Charts = append(v.Charts, c)
	}
	for d := range devices {
		v.Devices = append(v.Devices, d.Hex())
	}
	slices.Sort(v.Devices)
	p.render(w, http.StatusOK, "patient", p.page(s, "Patient "+v.Short, v))
}

func (p *ProviderPortal) exportFHIR(w http.ResponseWriter, r *http.Request, _ *session) {
	id, ok := p.grantedPatient(w, r)
	if !ok {
		return
	}
	alerts, _ := p.triage.patientAlerts(id)
	var fs []*provider.Fetched
	for _, e := range alerts {
		if e.NoData {
			continue
		}
		if f, err := p.fetch(r.Context(), e.ID); err == nil {
			fs = append(fs, f)
		}
	}
	var b bytes.Buffer
	if err := provider.Export(&b, fs, provider.FormatBundle); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/fhir+json")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="patient-%s.fhir.json"`, short(id)))
	w.Write(b.Bytes())
}

func (p *ProviderPortal) sendRecord(w http.ResponseWriter, r *http.Request, _ *session) {
	id, ok := p.grantedPatient(w, r)
	if !ok {
		return
	}
	text := strings.TrimSpace(r.PostFormValue("text"))
	if text == "" {
		p.flash(w, http.StatusBadRequest, flash{Error: true, Text: "Write the record's text first."})
		return
	}
	var kind vital.Kind
	if k := r.PostFormValue("kind"); k != "" {
		var err error
		if kind, err = vital.ParseKind(k); err != nil {
			p.flash(w, http.StatusBadRequest, flash{Error: true, Text: err.Error()})
			return
		}
	}
	rid, err := p.cfg.Provider.SendRecord(r.Context(), id, kind, []byte(text))
	if err != nil {
		p.flash(w, http.StatusBadGateway, flash{Error: true, Text: "Not sent: " + err.Error()})
		return
	}
	p.flash(w, http.StatusOK, flash{Text: fmt.Sprintf("Record %x stored, and its key committed on the ledger for the patient.", rid[:8])})
}

func (p *ProviderPortal) sampling(w http.ResponseWriter, r *http.Request, _ *session) {
	// The ledger checks that the device's patient granted this provider
	// commands; the page's patient is checked here as every page's is.
	_, ok := p.grantedPatient(w, r)
	if !ok {
		return
	}
	dev, err := identity.ParseID(r.PostFormValue("device"))
	if err != nil {
		p.flash(w, http.StatusBadRequest, flash{Error: true, Text: "Choose a device."})
		return
	}
	secs, err := strconv.ParseFloat(r.PostFormValue("seconds"), 64)
	if err != nil || secs <= 0 {
		p.flash(w, http.StatusBadRequest, flash{Error: true, Text: "The interval is a number of seconds."})
		return
	}
	iv := time.Duration(secs*1000) * time.Millisecond
	if err := p.cfg.Provider.SetSamplingInterval(r.Context(), dev, iv); err != nil {
		p.flash(w, http.StatusBadGateway, flash{Error: true, Text: "Refused: " + err.Error()})
		return
	}
	p.flash(w, http.StatusOK, flash{Text: fmt.Sprintf("Committed on the ledger: device %s samples every %s from now on.", short(dev), iv)})
}
