package fhirapi

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vitalchain/vitalchain/identity"
)

// exportTypes are the resource types $export writes, in this order.
var exportTypes = []string{"Patient", "Device", "Observation", "Provenance", "Consent"}

// Bounds of the bulk export.
const (
	MaxExportJobs = 16
	// ExportKept is how long a finished export's files are kept.
	ExportKept = time.Hour
)

// exportJob is one bulk export, run in the background.
type exportJob struct {
	id       string
	client   string
	request  string
	started  time.Time
	patients []identity.ID
	types    []string
	cancel   context.CancelFunc

	mu    sync.Mutex
	done  time.Time
	err   string
	files map[string][]byte // type → NDJSON
	count map[string]int
}

// exportKickoff starts a bulk export (the FHIR Bulk Data Access kick-off):
// 202 Accepted with the status URL in Content-Location.
func (s *Server) exportKickoff(c *call) error {
	types := c.q.Types
	if len(types) == 0 {
		types = exportTypes
	}
	var allowed []string
	for _, t := range types {
		if allows(c.g.scopes, t, PermRead) {
			allowed = append(allowed, t)
		}
	}
	if len(allowed) == 0 {
		return forbidden("scope: the token's scopes allow reading none of the exported types")
	}
	ps, err := s.patientsFor(c, nil)
	if err != nil {
		return err
	}
	now := s.cfg.Now()
	s.mu.Lock()
	for id, j := range s.jobs {
		j.mu.Lock()
		old := !j.done.IsZero() && now.Sub(j.done) > ExportKept
		j.mu.Unlock()
		if old {
			delete(s.jobs, id)
		}
	}
	if len(s.jobs) >= MaxExportJobs {
		s.mu.Unlock()
		c.w.Header().Set("Retry-After", "60")
		return &httpError{http.StatusTooManyRequests, "throttled", "too many exports: delete finished ones"}
	}
	var raw [16]byte
	rand.Read(raw[:])
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	j := &exportJob{id: hex.EncodeToString(raw[:]), client: c.g.client, request: s.Base() + strings.TrimPrefix(c.r.URL.RequestURI(), Prefix),
		started: now, patients: ps, types: allowed, cancel: cancel, files: map[string][]byte{}, count: map[string]int{}}
	s.jobs[j.id] = j
	s.mu.Unlock()
	go s.runExport(ctx, j, c.q.Since)
	c.w.Header().Set("Content-Location", s.Base()+"/$export-status/"+j.id)
	writeJSON(c.w, http.StatusAccepted, outcomeInfo("export started: poll "+s.Base()+"/$export-status/"+j.id))
	return nil
}

func outcomeInfo(msg string) obj {
	return obj{"resourceType": "OperationOutcome", "issue": []obj{{"severity": "information", "code": "informational", "diagnostics": msg}}}
}

func (s *Server) runExport(ctx context.Context, j *exportJob, since time.Time) {
	defer j.cancel()
	files := map[string]*bytes.Buffer{}
	count := map[string]int{}
	add := func(typ string, v any) {
		if files[typ] == nil {
			files[typ] = &bytes.Buffer{}
		}
		b, _ := json.Marshal(v)
		files[typ].Write(b)
		files[typ].WriteByte('\n')
		count[typ]++
	}
	has := func(t string) bool { return slices.Contains(j.types, t) }
	fail := func(err error) {
		j.mu.Lock()
		j.done, j.err = s.cfg.Now(), err.Error()
		j.mu.Unlock()
	}
	for _, p := range j.patients {
		v, err := s.viewOf(ctx, p)
		if err != nil {
			fail(err)
			return
		}
		if has("Patient") {
			add("Patient", patientResource(p))
		}
		if has("Device") {
			add("Device", gatewayResource(p))
			kinds, order := v.devices()
			for _, d := range order {
				add("Device", wearableResource(d, p, kinds[d]))
			}
		}
		if has("Observation") {
			for _, o := range v.obs {
				if since.IsZero() || !o.Time.Before(since) {
					add("Observation", json.RawMessage(o.JSON))
				}
			}
		}
		if has("Provenance") {
			for _, f := range v.fetched {
				if id := v.obsOf[f.ID]; id != "" && (since.IsZero() || !f.Reading.Timestamp().Before(since)) {
					add("Provenance", provenanceResource(f, id, s.proofLink(f.ID)))
				}
			}
		}
		if has("Consent") && s.cfg.Ledger != nil {
			key, err := s.cfg.Provider.KeyFor(ctx, p)
			if err != nil {
				fail(err)
				return
			}
			gr, err := s.cfg.Ledger.Grant(ctx, p, key)
			if err != nil {
				fail(err)
				return
			}
			scope, err := s.cfg.Provider.Scope(ctx, p)
			if err != nil {
				fail(err)
				return
			}
			add("Consent", consentResource(p, s.me, gr, scope, gr.Active(s.cfg.Now().UnixMilli())))
		}
	}
	j.mu.Lock()
	for t, b := range files {
		j.files[t] = b.Bytes()
	}
	j.count = count
	j.done = s.cfg.Now()
	j.mu.Unlock()
}

func (s *Server) job(c *call) (*exportJob, error) {
	s.mu.Lock()
	j, ok := s.jobs[c.r.PathValue("job")]
	s.mu.Unlock()
	if !ok || j.client != c.g.client {
		return nil, notFound("no such export")
	}
	return j, nil
}

// exportStatus answers 202 while the export runs, then its manifest.
func (s *Server) exportStatus(c *call) error {
	j, err := s.job(c)
	if err != nil {
		return err
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.done.IsZero() {
		c.w.Header().Set("X-Progress", "running")
		c.w.Header().Set("Retry-After", "1")
		c.w.WriteHeader(http.StatusAccepted)
		return nil
	}
	if j.err != "" {
		return &httpError{http.StatusInternalServerError, "exception", "export failed: " + j.err}
	}
	type out struct {
		Type  string `json:"type"`
		URL   string `json:"url"`
		Count int    `json:"count"`
	}
	m := struct {
		TransactionTime     string `json:"transactionTime"`
		Request             string `json:"request"`
		RequiresAccessToken bool   `json:"requiresAccessToken"`
		Output              []out  `json:"output"`
		Error               []out  `json:"error"`
	}{TransactionTime: instant(j.started), Request: j.request, RequiresAccessToken: true, Output: []out{}, Error: []out{}}
	for _, t := range exportTypes {
		if _, ok := j.files[t]; ok {
			m.Output = append(m.Output, out{t, s.Base() + "/$export-file/" + j.id + "/" + t + ".ndjson", j.count[t]})
		}
	}
	c.w.Header().Set("Content-Type", "application/json")
	c.w.WriteHeader(http.StatusOK)
	return json.NewEncoder(c.w).Encode(m)
}

// exportCancel deletes an export and its files.
func (s *Server) exportCancel(c *call) error {
	j, err := s.job(c)
	if err != nil {
		return err
	}
	j.cancel()
	s.mu.Lock()
	delete(s.jobs, j.id)
	s.mu.Unlock()
	c.w.WriteHeader(http.StatusAccepted)
	return nil
}

// exportFile serves one file of a finished export, if every patient in it
// still has a grant in force.
func (s *Server) exportFile(c *call) error {
	j, err := s.job(c)
	if err != nil {
		return err
	}
	typ, ok := strings.CutSuffix(c.r.PathValue("file"), ".ndjson")
	j.mu.Lock()
	b, have := j.files[typ]
	j.mu.Unlock()
	if !ok || !have {
		return notFound("no such file")
	}
	if !allows(c.g.scopes, typ, PermRead) {
		return forbidden("scope: the token's scopes do not allow reading " + typ)
	}
	for _, p := range j.patients {
		if err := s.allow(c, p); err != nil {
			return err
		}
	}
	c.w.Header().Set("Content-Type", "application/fhir+ndjson")
	c.w.WriteHeader(http.StatusOK)
	c.w.Write(b)
	return nil
}
