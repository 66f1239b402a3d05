package portal

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/lifecycle"
	"github.com/vitalchain/vitalchain/vital"
)

// Keeper is what the patient portal needs of the patient's gateway: the
// readings it keeps for the patient, the patient's contracts, grants and
// access log, and the patient's two actions on the ledger, each of which
// returns once its transaction is committed.
type Keeper interface {
	ID() identity.ID
	// Today returns a vital sign's readings since a time, per minute,
	// oldest first: the gateway's local history, never uploaded.
	Today(kind vital.Kind, since time.Time) []Minute
	Contracts(ctx context.Context) ([]Contract, error)
	Grants(ctx context.Context) ([]Grant, error)
	Grant(ctx context.Context, provider identity.ID, scope []vital.Kind, commands bool, expiry time.Time) error
	Revoke(ctx context.Context, provider identity.ID) error
	AccessLog(ctx context.Context) ([]Access, error)
}

// Minute is a minute of one vital sign's readings.
type Minute struct {
	Start          time.Time
	Min, Max, Last vital.Quantity
	N, Abnormal    int
}

// Contract is one of the patient's contracts, as the patient reads it.
type Contract struct {
	ID        [32]byte
	Name      string
	Providers []identity.ID
	Rules     []string // each rule, in words
}

// Grant is a provider's access.
type Grant struct {
	Provider identity.ID
	Scope    []vital.Kind
	Commands bool
	Expiry   time.Time
	Active   bool
}

// Access is one entry of the patient's access log.
type Access struct {
	Time      time.Time
	Requester identity.ID
	Record    [32]byte
	Allowed   bool
	What      string // what was done: "read", "alert", "list", "erase", and if refused, why
	Anchored  bool   // proven within the access log's checkpoint anchored on the ledger
}

// PatientConfig configures a patient portal.
type PatientConfig struct {
	Patient Keeper
	Secure  bool // served over TLS
	Log     *slog.Logger
	Now     func() time.Time
}

// Limits of the patient portal.
const (
	// MaxGrantDays is the longest grant the portal's form gives.
	MaxGrantDays = 366
)

// PatientPortal is a patient's web portal, served by the patient's own
// gateway: today's readings per vital sign from the gateway's local
// history, the patient's contracts, the care team and sharing (grant with
// scope and expiry, revoke), and the access log. Every action that
// changes the ledger says when it was committed.
type PatientPortal struct {
	site
	cfg PatientConfig
	mux *http.ServeMux
}

// NewPatient returns a patient portal.
func NewPatient(cfg PatientConfig) (*PatientPortal, error) {
	if cfg.Patient == nil {
		return nil, errors.New("portal: no patient")
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	p := &PatientPortal{site: site{name: "patient", who: short(cfg.Patient.ID()), access: newAccess("patient", cfg.Secure, cfg.Now), log: cfg.Log}, cfg: cfg}
	m := http.NewServeMux()
	p.mount(m)
	m.HandleFunc("GET /{$}", p.authed(p.today))
	m.HandleFunc("GET /sharing", p.authed(p.sharing))
	m.HandleFunc("POST /sharing/grant", p.authed(p.grant))
	m.HandleFunc("POST /sharing/revoke", p.authed(p.revoke))
	m.HandleFunc("GET /access", p.authed(p.accessLog))
	p.mux = m
	return p, nil
}

// Handler returns the portal's HTTP handler.
func (p *PatientPortal) Handler() http.Handler { return secureHeaders(p.mux) }

// todayView is the home page: a chart per vital sign, and the contracts.
type todayView struct {
	Charts    []chartView
	Contracts []contractView
	Alerts    []patientAlertView // the alerts someone changed, and the no-data ones, as the cloud keeps them
	Err       string
}

// AlertKeeper is what a Keeper may also do: read the patient's alerts'
// states at the cloud (package lifecycle), which the patient's portal
// shows beside the contracts.
type AlertKeeper interface {
	AlertStates(ctx context.Context) ([]lifecycle.Status, error)
}

// patientAlertView is one alert's state on the patient's Today page.
type patientAlertView struct {
	IDHex, What, State, Escalated string
}

// patientAlerts returns the patient's alerts' states, open ones first.
func patientAlerts(states []lifecycle.Status) []patientAlertView {
	slices.SortFunc(states, func(a, b lifecycle.Status) int {
		if a.State.Open() != b.State.Open() {
			if a.State.Open() {
				return -1
			}
			return 1
		}
		return int(b.Seq) - int(a.Seq)
	})
	var out []patientAlertView
	for _, s := range states {
		v := patientAlertView{IDHex: fmt.Sprintf("%x", s.Alert[:8]), What: "an abnormal reading", State: s.State.String()}
		if s.NoData {
			v.What = "no data from your gateway since " + time.UnixMilli(s.Since).Format("Jan 2 15:04")
			if s.Device != (identity.ID{}) {
				v.What = "no data from device " + short(s.Device) + " since " + time.UnixMilli(s.Since).Format("Jan 2 15:04")
			}
		}
		if s.By != (identity.ID{}) {
			v.State += " by provider " + short(s.By)
		}
		if s.Assigned != (identity.ID{}) {
			v.Escalated = "provider " + short(s.Assigned)
		}
		out = append(out, v)
	}
	return out
}

type contractView struct {
	Name      string
	IDHex     string
	Providers []string
	Rules     []string
}

func (p *PatientPortal) today(w http.ResponseWriter, r *http.Request, s *session) {
	now := p.cfg.Now()
	since := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, now.Location())
	var v todayView
	for _, k := range vital.Kinds() {
		ms := p.cfg.Patient.Today(k, since)
		if len(ms) == 0 {
			continue
		}
		sr := &series{Kind: k.Info().Display, Unit: k.Info().Unit}
		lo, hi := ms[0].Min, ms[0].Max
		n, abnormal := 0, 0
		for _, m := range ms {
			sr.T = append(sr.T, float64(m.Start.Unix()))
			sr.V = append(sr.V, float64(m.Last)/1000)
			lo, hi = min(lo, m.Min), max(hi, m.Max)
			n += m.N
			abnormal += m.Abnormal
		}
		c := chartView{Kind: sr.Kind, Unit: sr.Unit, ID: "chart-" + k.String(), Series: sr, Points: n,
			Min: lo.String(), Max: hi.String(), Last: ms[len(ms)-1].Last.String()}
		if abnormal > 0 {
			c.Abnormal = abnormal
		}
		v.Charts = append(v.Charts, c)
	}
	cs, err := p.cfg.Patient.Contracts(r.Context())
	if err != nil {
		v.Err = "The contracts could not be read from the ledger: " + err.Error()
	}
	for _, c := range cs {
		cv := contractView{Name: c.Name, IDHex: fmt.Sprintf("%x", c.ID[:8]), Rules: c.Rules}
		for _, id := range c.Providers {
			cv.Providers = append(cv.Providers, short(id))
		}
		v.Contracts = append(v.Contracts, cv)
	}
	if ak, ok := p.cfg.Patient.(AlertKeeper); ok {
		states, err := ak.AlertStates(r.Context())
		if err != nil {
			v.Err = "Your alerts' states could not be read from the cloud: " + err.Error()
		}
		v.Alerts = patientAlerts(states)
	}
	p.render(w, http.StatusOK, "today", p.page(s, "Today", v))
}

// sharingView is the care team: who may see what, until when.
type sharingView struct {
	Grants []grantView
	Kinds  []kindOption
	Err    string
}

type grantView struct {
	Provider, Short, Scope, Expiry string
	Commands, Active               bool
}

type kindOption struct{ Name, Display string }

func (p *PatientPortal) sharing(w http.ResponseWriter, r *http.Request, s *session) {
	p.render(w, http.StatusOK, "sharing", p.page(s, "Care team and sharing", p.sharingView(r.Context())))
}

func (p *PatientPortal) sharingView(ctx context.Context) sharingView {
	var v sharingView
	for _, k := range vital.Kinds() {
		v.Kinds = append(v.Kinds, kindOption{Name: k.String(), Display: k.Info().Display})
	}
	gs, err := p.cfg.Patient.Grants(ctx)
	if err != nil {
		v.Err = "The grants could not be read from the ledger: " + err.Error()
	}
	slices.SortFunc(gs, func(a, b Grant) int {
		if a.Active != b.Active {
			if a.Active {
				return -1
			}
			return 1
		}
		return a.Expiry.Compare(b.Expiry)
	})
	for _, g := range gs {
		gv := grantView{Provider: g.Provider.Hex(), Short: short(g.Provider), Commands: g.Commands, Active: g.Active,
			Expiry: g.Expiry.Format("2006-01-02 15:04")}
		for i, k := range g.Scope {
			if i > 0 {
				gv.Scope += ", "
			}
			gv.Scope += k.Info().Display
		}
		v.Grants = append(v.Grants, gv)
	}
	return v
}

func (p *PatientPortal) grant(w http.ResponseWriter, r *http.Request, _ *session) {
	prov, err := identity.ParseID(r.PostFormValue("provider"))
	if err != nil {
		p.flash(w, http.StatusBadRequest, flash{Error: true, Text: "The provider's ID is 64 hexadecimal digits."})
		return
	}
	var scope []vital.Kind
	for _, name := range r.PostForm["scope"] {
		k, err := vital.ParseKind(name)
		if err != nil {
			p.flash(w, http.StatusBadRequest, flash{Error: true, Text: err.Error()})
			return
		}
		scope = append(scope, k)
	}
	if len(scope) == 0 {
		p.flash(w, http.StatusBadRequest, flash{Error: true, Text: "Choose at least one vital sign to share."})
		return
	}
	days, err := strconv.Atoi(r.PostFormValue("days"))
	if err != nil || days < 1 || days > MaxGrantDays {
		p.flash(w, http.StatusBadRequest, flash{Error: true, Text: fmt.Sprintf("Share for 1 to %d days.", MaxGrantDays)})
		return
	}
	expiry := p.cfg.Now().Add(time.Duration(days) * 24 * time.Hour)
	if err := p.cfg.Patient.Grant(r.Context(), prov, scope, r.PostFormValue("commands") == "on", expiry); err != nil {
		p.flash(w, http.StatusBadGateway, flash{Error: true, Text: "Not granted: " + err.Error()})
		return
	}
	w.Header().Set("HX-Trigger", "ledger-changed")
	p.flash(w, http.StatusOK, flash{Text: fmt.Sprintf("Granted to provider %s until %s: committed on the ledger at %s.",
		short(prov), expiry.Format("2006-01-02 15:04"), p.cfg.Now().Format("15:04:05"))})
}

func (p *PatientPortal) revoke(w http.ResponseWriter, r *http.Request, _ *session) {
	prov, err := identity.ParseID(r.PostFormValue("provider"))
	if err != nil {
		p.flash(w, http.StatusBadRequest, flash{Error: true, Text: "The provider's ID is 64 hexadecimal digits."})
		return
	}
	if err := p.cfg.Patient.Revoke(r.Context(), prov); err != nil {
		p.flash(w, http.StatusBadGateway, flash{Error: true, Text: "Not revoked: " + err.Error()})
		return
	}
	w.Header().Set("HX-Trigger", "ledger-changed")
	p.flash(w, http.StatusOK, flash{Text: fmt.Sprintf("Revoked provider %s: committed on the ledger at %s, with a new key for your next records that this provider does not get.",
		short(prov), p.cfg.Now().Format("15:04:05"))})
}

// accessView is the access log, newest first.
type accessView struct {
	Entries []accessRow
	Err     string
}

type accessRow struct {
	Time, Who, Record, What string
	Allowed, Anchored       bool
}

func (p *PatientPortal) accessLog(w http.ResponseWriter, r *http.Request, s *session) {
	var v accessView
	es, err := p.cfg.Patient.AccessLog(r.Context())
	if err != nil {
		v.Err = "The access log could not be read or verified: " + err.Error()
	}
	for i := len(es) - 1; i >= 0; i-- {
		e := es[i]
		v.Entries = append(v.Entries, accessRow{Time: e.Time.Format("2006-01-02 15:04:05"), Who: short(e.Requester),
			Record: fmt.Sprintf("%x", e.Record[:8]), What: e.What, Allowed: e.Allowed, Anchored: e.Anchored})
	}
	p.render(w, http.StatusOK, "access", p.page(s, "Access log", v))
}
