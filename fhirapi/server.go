package fhirapi

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/vitalchain/vitalchain/cloud/cloudapi"
	"github.com/vitalchain/vitalchain/fhir"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/ledger"
	"github.com/vitalchain/vitalchain/provider"
	"github.com/vitalchain/vitalchain/reading"
	"github.com/vitalchain/vitalchain/vital"
	"github.com/vitalchain/vitalchain/webhook"
)

// Prefix is where the API is served: its base URL is the server's
// address followed by Prefix.
const Prefix = "/fhir"

// Limits.
const (
	// GrantTTL is the longest the server trusts its last answer to "is
	// this patient's grant in force?".
	GrantTTL = 2 * time.Second
	// MaxRecordsPerPatient bounds the records (alerts) kept per patient:
	// the newest.
	MaxRecordsPerPatient = 2048
	// MaxPatients bounds the patients the server knows.
	MaxPatients = 16384
	maxBody     = 64 << 10
	maxFetched  = 32768
	fetchers    = 4
	// unanchoredTTL is how long a record fetched before its anchor is
	// trusted before it is fetched again.
	unanchoredTTL = 2 * time.Second
)

// Clinician is what the API needs of the provider's client
// (*provider.Provider).
type Clinician interface {
	ID() identity.ID
	Fetch(ctx context.Context, id [32]byte) (*provider.Fetched, error)
	Granted(ctx context.Context, patient identity.ID) (bool, error)
	// Scope returns the vital signs a patient's grant covers: the ledger
	// keeps them only sealed, for the provider's key.
	Scope(ctx context.Context, patient identity.ID) ([]vital.Kind, error)
	// KeyFor returns the key the provider is granted under by a patient:
	// its relation key for that patient (the chain never names the
	// provider's registered key in a patient's grant), or its registered
	// key for a grant made to it directly.
	KeyFor(ctx context.Context, patient identity.ID) (identity.ID, error)
}

// Ledger reads a patient's grant to a provider's key (*client.Client), for
// Consent.
type Ledger interface {
	Grant(ctx context.Context, patient, provider identity.ID) (*ledger.GrantRecord, error)
}

// Notifier delivers subscription notifications: a *webhook.Outbox, shared
// with the portal's webhooks.
type Notifier interface {
	EnqueueTo(ev webhook.Event, eps ...webhook.Endpoint) error
}

// Config configures a Server.
type Config struct {
	Provider Clinician
	Ledger   Ledger
	// Dir holds the server's state: the tokens, the access log and the
	// subscriptions.
	Dir string
	// Outbox delivers the subscriptions' notifications; without one, no
	// Subscription can be created.
	Outbox Notifier
	// URL is the server's address as its clients reach it (without
	// Prefix), for absolute references and links; default: relative.
	URL string
	// GrantTTL overrides the GrantTTL constant (at most it; negative: ask
	// the ledger every time).
	GrantTTL time.Duration
	Log      *slog.Logger
	Now      func() time.Time
}

// Server is the provider's FHIR R4 API. Observe feeds it the provider's
// alerts, whose records are the Observations it serves; Run delivers the
// subscriptions' notifications; Handler serves it.
type Server struct {
	cfg    Config
	me     identity.ID
	tokens *Tokens
	access *accessLog
	subs   *subStore
	mux    *http.ServeMux
	routes []route

	mu       sync.Mutex
	patients map[identity.ID][]rec
	byID     map[[32]byte]identity.ID
	fetched  map[[32]byte]fetchedAt
	grants   map[identity.ID]grantAnswer
	jobs     map[string]*exportJob
	pending  []provider.Alert // alerts to notify
	wake     chan struct{}
}

type rec struct {
	id     [32]byte
	index  uint64
	stored time.Time
}

type fetchedAt struct {
	f  *provider.Fetched
	at time.Time
}

type grantAnswer struct {
	ok bool
	at time.Time
}

// New returns a Server, opening its state in cfg.Dir.
func New(cfg Config) (*Server, error) {
	if cfg.Provider == nil || cfg.Dir == "" {
		return nil, errors.New("fhirapi: a provider and a state directory are needed")
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.GrantTTL == 0 || cfg.GrantTTL > GrantTTL {
		cfg.GrantTTL = GrantTTL
	}
	cfg.URL = strings.TrimSuffix(cfg.URL, "/")
	toks, err := OpenTokens(cfg.Dir)
	if err != nil {
		return nil, err
	}
	al, err := openAccessLog(cfg.Dir)
	if err != nil {
		return nil, err
	}
	subs, err := openSubs(cfg.Dir)
	if err != nil {
		al.close()
		return nil, err
	}
	s := &Server{cfg: cfg, me: cfg.Provider.ID(), tokens: toks, access: al, subs: subs,
		patients: map[identity.ID][]rec{}, byID: map[[32]byte]identity.ID{}, fetched: map[[32]byte]fetchedAt{},
		grants: map[identity.ID]grantAnswer{}, jobs: map[string]*exportJob{}, wake: make(chan struct{}, 1)}
	s.routes = s.table()
	s.mux = http.NewServeMux()
	for _, r := range s.routes {
		s.mux.HandleFunc(r.Method+" "+Prefix+r.Path, s.serve(r))
	}
	s.mux.HandleFunc(Prefix+"/", func(w http.ResponseWriter, r *http.Request) {
		s.log(w, r, &call{route: route{Interaction: "operation"}}, http.StatusNotFound)
		writeOutcome(w, http.StatusNotFound, "not-supported", "no such interaction: see "+Prefix+"/metadata")
	})
	return s, nil
}

// Close closes the access log.
func (s *Server) Close() error { return s.access.close() }

// Handler returns the API's handler, for the paths under Prefix.
func (s *Server) Handler() http.Handler { return s.mux }

// Base is the API's base URL (or Prefix, if Config.URL is not set).
func (s *Server) Base() string { return s.cfg.URL + Prefix }

// Observe records an alert the provider received: its record becomes an
// Observation (of its patient, while the grant is in force), and
// subscribers are notified.
func (s *Server) Observe(a provider.Alert) {
	p := a.Header.Patient
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.byID[a.ID]; ok {
		return
	}
	rs, known := s.patients[p]
	if !known && len(s.patients) >= MaxPatients {
		return
	}
	if len(rs) >= MaxRecordsPerPatient {
		delete(s.byID, rs[0].id)
		rs = rs[1:]
	}
	s.patients[p] = append(rs, rec{a.ID, a.Index, a.Stored})
	s.byID[a.ID] = p
	if s.subs.count() > 0 {
		s.pending = append(s.pending, a)
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

// granted answers "is this patient's grant in force?", trusting an answer
// for Config.GrantTTL at most.
func (s *Server) granted(ctx context.Context, p identity.ID) (bool, error) {
	now := s.cfg.Now()
	s.mu.Lock()
	g, ok := s.grants[p]
	s.mu.Unlock()
	if ok && s.cfg.GrantTTL > 0 && now.Sub(g.at) < s.cfg.GrantTTL {
		return g.ok, nil
	}
	yes, err := s.cfg.Provider.Granted(ctx, p)
	if err != nil {
		return false, err
	}
	s.mu.Lock()
	if len(s.grants) > MaxPatients {
		clear(s.grants)
	}
	s.grants[p] = grantAnswer{yes, now}
	s.mu.Unlock()
	return yes, nil
}

// fetch reads and verifies a record, from the cache if it was anchored
// (or fetched within unanchoredTTL).
func (s *Server) fetch(ctx context.Context, id [32]byte) (*provider.Fetched, error) {
	now := s.cfg.Now()
	s.mu.Lock()
	c, ok := s.fetched[id]
	s.mu.Unlock()
	if ok && (c.f.Anchored || now.Sub(c.at) < unanchoredTTL) {
		return c.f, nil
	}
	f, err := s.cfg.Provider.Fetch(ctx, id)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	if len(s.fetched) >= maxFetched {
		clear(s.fetched)
	}
	s.fetched[id] = fetchedAt{f, now}
	s.mu.Unlock()
	return f, nil
}

// observation is one Observation as package fhir renders it, with what a
// search looks at.
type observation struct {
	ID       string
	JSON     json.RawMessage
	Codes    []tokenValue
	Category []tokenValue
	Time     time.Time
	Records  [][32]byte
}

// view is what the server serves of one patient: the verified records and
// their Observations.
type view struct {
	patient identity.ID
	fetched []*provider.Fetched
	obs     []observation
	obsOf   map[[32]byte]string // record → Observation id
}

// skippable reports whether a record that failed to fetch is left out
// rather than failing the request: the cloud refused it (a vital sign
// outside the grant's scope, an erased record), or it is not a reading.
func skippable(err error) bool {
	var re *cloudapi.RequestError
	return errors.As(err, &re) || errors.Is(err, provider.ErrNotReading)
}

// viewOf fetches a patient's records (the grant must have been checked).
func (s *Server) viewOf(ctx context.Context, p identity.ID) (*view, error) {
	s.mu.Lock()
	rs := slices.Clone(s.patients[p])
	s.mu.Unlock()
	fs := make([]*provider.Fetched, len(rs))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(fetchers)
	for i, r := range rs {
		g.Go(func() error {
			f, err := s.fetch(gctx, r.id)
			if err != nil {
				if skippable(err) {
					s.cfg.Log.Debug("fhirapi: record left out", "record", hex.EncodeToString(r.id[:]), "err", err)
					return nil
				}
				if errors.Is(err, provider.ErrForged) || errors.Is(err, provider.ErrProof) {
					s.cfg.Log.Warn("fhirapi: record failed verification, left out", "record", hex.EncodeToString(r.id[:]), "err", err)
					return nil
				}
				return fmt.Errorf("record %x: %w", r.id[:8], err)
			}
			fs[i] = f
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	v := &view{patient: p, obsOf: map[[32]byte]string{}}
	var readings []reading.Reading
	recOf := map[string][32]byte{}
	for _, f := range fs {
		if f == nil || f.Reading.Patient != p {
			continue
		}
		v.fetched = append(v.fetched, f)
		readings = append(readings, f.Reading)
		recOf[fmt.Sprintf("%s/%d", f.Reading.Device.Hex(), f.Reading.Seq)] = f.ID
	}
	var buf bytes.Buffer
	if err := fhir.NDJSON(&buf, readings); err != nil {
		return nil, fmt.Errorf("fhirapi: render: %w", err)
	}
	for line := range bytes.Lines(buf.Bytes()) {
		line = bytes.TrimSpace(line)
		var o struct {
			ID         string `json:"id"`
			Identifier []struct {
				Value string `json:"value"`
			} `json:"identifier"`
			Category []struct {
				Coding []struct{ System, Code string } `json:"coding"`
			} `json:"category"`
			Code struct {
				Coding []struct{ System, Code string } `json:"coding"`
			} `json:"code"`
			Effective time.Time `json:"effectiveDateTime"`
		}
		if err := json.Unmarshal(line, &o); err != nil {
			return nil, fmt.Errorf("fhirapi: render: %w", err)
		}
		ob := observation{ID: o.ID, JSON: bytes.Clone(line), Time: o.Effective}
		for _, c := range o.Code.Coding {
			ob.Codes = append(ob.Codes, tokenValue{System: c.System, Code: c.Code})
		}
		for _, cat := range o.Category {
			for _, c := range cat.Coding {
				ob.Category = append(ob.Category, tokenValue{System: c.System, Code: c.Code})
			}
		}
		for _, id := range o.Identifier {
			if r, ok := recOf[id.Value]; ok {
				ob.Records = append(ob.Records, r)
				v.obsOf[r] = o.ID
			}
		}
		v.obs = append(v.obs, ob)
	}
	return v, nil
}

// kindsOf returns the vital signs a device measured in a view.
func (v *view) devices() (map[identity.ID][]vital.Kind, []identity.ID) {
	m := map[identity.ID][]vital.Kind{}
	var order []identity.ID
	for _, f := range v.fetched {
		k, err := f.Reading.Kind()
		d := f.Reading.Device
		if _, ok := m[d]; !ok {
			order = append(order, d)
			m[d] = nil
		}
		if err == nil && !slices.Contains(m[d], k) {
			m[d] = append(m[d], k)
		}
	}
	for _, ks := range m {
		slices.Sort(ks)
	}
	sort.Slice(order, func(i, j int) bool { return bytes.Compare(order[i][:], order[j][:]) < 0 })
	return m, order
}

// knownPatients returns the patients the server holds records of.
func (s *Server) knownPatients() []identity.ID {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]identity.ID, 0, len(s.patients))
	for p := range s.patients {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return bytes.Compare(out[i][:], out[j][:]) < 0 })
	return out
}

func (s *Server) patientOf(rec [32]byte) (identity.ID, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.byID[rec]
	return p, ok
}
