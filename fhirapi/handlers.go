package fhirapi

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/vitalchain/vitalchain/identity"
)

// route is one interaction the server serves; the CapabilityStatement is
// made from the same table.
type route struct {
	Method, Path string // Path under Prefix
	Resource     string // the resource type, "" for the system
	// Interaction: a FHIR restful interaction ("read", "search-type",
	// "create", "delete", "capabilities") or "operation".
	Interaction string
	Op          string // the operation's name, for "operation"
	Perm        Perm   // the scope's permission it needs on Resource
	Params      []param
	Public      bool // served without a token (/metadata)
	// Part marks the routes that belong to an operation listed elsewhere
	// (the bulk export's status and files).
	Part string
	h    func(*call) error
}

// call is one request being served.
type call struct {
	route
	w        http.ResponseWriter
	r        *http.Request
	g        *grant
	q        query
	patients []string
}

func (c *call) touch(p identity.ID) {
	if h := p.Hex(); !slices.Contains(c.patients, h) {
		c.patients = append(c.patients, h)
	}
}

// httpError is an error with its status and OperationOutcome code.
type httpError struct {
	status int
	code   string
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func forbidden(msg string) error { return &httpError{http.StatusForbidden, "forbidden", msg} }
func notFound(msg string) error  { return &httpError{http.StatusNotFound, "not-found", msg} }
func invalid(msg string) error   { return &httpError{http.StatusBadRequest, "invalid", msg} }

func (s *Server) table() []route {
	rs := []route{
		{Method: "GET", Path: "/metadata", Interaction: "capabilities", Public: true, h: s.metadata},
		{Method: "GET", Path: "/Patient", Resource: "Patient", Interaction: "search-type", Perm: PermSearch, h: s.patientSearch},
		{Method: "GET", Path: "/Patient/{id}", Resource: "Patient", Interaction: "read", Perm: PermRead, h: s.patientSearch},
		{Method: "GET", Path: "/Device", Resource: "Device", Interaction: "search-type", Perm: PermSearch, h: s.deviceSearch},
		{Method: "GET", Path: "/Device/{id}", Resource: "Device", Interaction: "read", Perm: PermRead, h: s.deviceSearch},
		{Method: "GET", Path: "/Observation", Resource: "Observation", Interaction: "search-type", Perm: PermSearch, h: s.obsSearch},
		{Method: "GET", Path: "/Observation/{id}", Resource: "Observation", Interaction: "read", Perm: PermRead, h: s.obsSearch},
		{Method: "GET", Path: "/Observation/$lastn", Resource: "Observation", Interaction: "operation", Op: "lastn", Perm: PermSearch,
			Params: append(slices.Clone(searchParams["Observation"]), lastnParams...), h: s.obsSearch},
		{Method: "GET", Path: "/Provenance", Resource: "Provenance", Interaction: "search-type", Perm: PermSearch, h: s.provSearch},
		{Method: "GET", Path: "/Provenance/{id}", Resource: "Provenance", Interaction: "read", Perm: PermRead, h: s.provSearch},
		{Method: "GET", Path: "/Consent", Resource: "Consent", Interaction: "search-type", Perm: PermSearch, h: s.consentSearch},
		{Method: "GET", Path: "/Consent/{id}", Resource: "Consent", Interaction: "read", Perm: PermRead, h: s.consentSearch},
		{Method: "GET", Path: "/AuditEvent", Resource: "AuditEvent", Interaction: "search-type", Perm: PermSearch, h: s.auditSearch},
		{Method: "GET", Path: "/AuditEvent/{id}", Resource: "AuditEvent", Interaction: "read", Perm: PermRead, h: s.auditSearch},
		{Method: "GET", Path: "/Subscription", Resource: "Subscription", Interaction: "search-type", Perm: PermSearch, h: s.subSearch},
		{Method: "GET", Path: "/Subscription/{id}", Resource: "Subscription", Interaction: "read", Perm: PermRead, h: s.subSearch},
		{Method: "POST", Path: "/Subscription", Resource: "Subscription", Interaction: "create", Perm: PermCreate, h: s.subCreate},
		{Method: "GET", Path: "/Subscription/{id}/$status", Resource: "Subscription", Interaction: "operation", Op: "status", Perm: PermRead, h: s.subStatus},
		{Method: "DELETE", Path: "/Subscription/{id}", Resource: "Subscription", Interaction: "delete", Perm: PermDelete, h: s.subDelete},
		{Method: "GET", Path: "/$export", Interaction: "operation", Op: "export", Params: exportParams, h: s.exportKickoff},
		{Method: "GET", Path: "/Patient/$export", Resource: "Patient", Interaction: "operation", Op: "export", Params: exportParams, h: s.exportKickoff},
		{Method: "GET", Path: "/$export-status/{job}", Interaction: "operation", Part: "export", h: s.exportStatus},
		{Method: "DELETE", Path: "/$export-status/{job}", Interaction: "operation", Part: "export", h: s.exportCancel},
		{Method: "GET", Path: "/$export-file/{job}/{file}", Interaction: "operation", Part: "export", h: s.exportFile},
	}
	for i := range rs {
		if rs[i].Params == nil && rs[i].Interaction == "search-type" {
			rs[i].Params = searchParams[rs[i].Resource]
		}
	}
	return rs
}

// recorder holds an answer until the access log has the request.
type recorder struct {
	h      http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.h }
func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.body.Write(b)
}
func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
}

// serve wraps a route: the bearer token, the scope, the parameters, the
// handler, then the access log, and only then the answer.
func (s *Server) serve(rt route) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		rec := &recorder{h: http.Header{}}
		c := &call{route: rt, w: rec, r: r}
		err := s.authorize(c)
		if err == nil {
			err = rt.h(c)
		}
		if err != nil {
			retry := rec.h.Get("Retry-After")
			rec = &recorder{h: http.Header{}}
			if retry != "" {
				rec.h.Set("Retry-After", retry)
			}
			var he *httpError
			switch {
			case errors.As(err, &he):
			case errors.Is(err, ErrToken):
				he = &httpError{http.StatusUnauthorized, "login", err.Error()}
				rec.h.Set("WWW-Authenticate", `Bearer realm="vitalchain", error="invalid_token"`)
			case errors.Is(err, ErrParam), errors.Is(err, ErrSubscription):
				he = &httpError{http.StatusBadRequest, "invalid", err.Error()}
			default:
				s.cfg.Log.Warn("fhirapi: request failed", "path", r.URL.Path, "err", err)
				he = &httpError{http.StatusBadGateway, "transient", "the ledger or the cloud could not be read: " + err.Error()}
			}
			if he.status == http.StatusForbidden && c.g != nil && strings.HasPrefix(he.msg, "scope") {
				rec.h.Set("WWW-Authenticate", `Bearer realm="vitalchain", error="insufficient_scope"`)
			}
			writeOutcome(rec, he.status, he.code, he.msg)
		}
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		if err := s.log(w, r, c, rec.status); err != nil {
			s.cfg.Log.Error("fhirapi: access log", "err", err)
			writeOutcome(w, http.StatusInternalServerError, "exception", "the access log could not be written")
			return
		}
		for k, v := range rec.h {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.status)
		w.Write(rec.body.Bytes())
	}
}

// log writes a request to the access log.
func (s *Server) log(w http.ResponseWriter, r *http.Request, c *call, status int) error {
	a := Access{Time: s.cfg.Now().UTC(), Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery,
		Interaction: c.Interaction, Resource: c.Resource, Patients: c.patients, Status: status, Remote: r.RemoteAddr}
	if len(a.Query) > 2048 {
		a.Query = a.Query[:2048]
	}
	if c.g != nil {
		a.Client, a.Token = c.g.client, c.g.hash[:16]
	}
	return s.access.add(a)
}

func (s *Server) authorize(c *call) error {
	if c.Public {
		return nil
	}
	tok, err := ParseBearer(c.r.Header.Get("Authorization"))
	if err != nil {
		return err
	}
	g, err := s.tokens.lookup(tok, s.cfg.Now())
	if err != nil {
		return err
	}
	c.g = g
	if c.Perm != 0 && !allows(g.scopes, c.Resource, c.Perm) {
		return forbidden(fmt.Sprintf("scope: the token's scopes (%s) do not allow this on %s", joinScopes(g.scopes), c.Resource))
	}
	if c.r.Method == http.MethodGet {
		q, err := parseQuery(c.r.URL.Query(), c.Params)
		if err != nil {
			return err
		}
		c.q = q
	}
	return nil
}

func writeOutcome(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, outcome(code, msg))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, mustJSON(outcome("exception", "encoding failed"))
	}
	w.Header().Set("Content-Type", "application/fhir+json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// allow checks that the call may see a patient: inside the token's
// patient context, and the patient's grant in force now.
func (s *Server) allow(c *call, p identity.ID) error {
	c.touch(p)
	if c.g.patient != nil && *c.g.patient != p {
		return forbidden("the patient is outside the token's patient context")
	}
	ok, err := s.granted(c.r.Context(), p)
	if err != nil {
		return err
	}
	if !ok {
		return forbidden("no grant of patient " + p.String() + " to this provider is in force")
	}
	return nil
}

// patientsFor returns the patients a search covers: those it names, each
// of which must be allowed, or else every patient the server knows whose
// grant is in force, within the token's patient context.
func (s *Server) patientsFor(c *call, named []identity.ID) ([]identity.ID, error) {
	if len(named) > 0 {
		for _, p := range named {
			if err := s.allow(c, p); err != nil {
				return nil, err
			}
		}
		return named, nil
	}
	var out []identity.ID
	for _, p := range s.knownPatients() {
		if c.g.patient != nil && *c.g.patient != p {
			continue
		}
		ok, err := s.granted(c.r.Context(), p)
		if err != nil {
			return nil, err
		}
		if ok {
			c.touch(p)
			out = append(out, p)
		}
	}
	return out, nil
}

// entry is a resource of a searchset.
type entry struct {
	typ, id string
	res     json.RawMessage
}

// answer writes the resource of a read (one entry, or 404), or the
// searchset of a search.
func (s *Server) answer(c *call, es []entry) error {
	if c.Interaction == "read" {
		if len(es) == 0 {
			return notFound(c.Resource + "/" + c.r.PathValue("id") + " is not known, or not shown")
		}
		c.w.Header().Set("Content-Type", "application/fhir+json; charset=utf-8")
		c.w.WriteHeader(http.StatusOK)
		c.w.Write(append(bytes.Clone(es[0].res), '\n'))
		return nil
	}
	total := len(es)
	if len(es) > c.q.Count {
		es = es[:c.q.Count]
	}
	self := s.Base() + strings.TrimPrefix(c.r.URL.Path, Prefix)
	if c.r.URL.RawQuery != "" {
		self += "?" + c.r.URL.RawQuery
	}
	var buf bytes.Buffer
	fmt.Fprintf(&buf, `{"resourceType":"Bundle","type":"searchset","total":%d,"link":[{"relation":"self","url":%s}],"entry":[`, total, mustJSON(self))
	for i, e := range es {
		if i > 0 {
			buf.WriteByte(',')
		}
		fmt.Fprintf(&buf, `{"fullUrl":%s,"resource":%s,"search":{"mode":"match"}}`, mustJSON(s.Base()+"/"+e.typ+"/"+e.id), e.res)
	}
	buf.WriteString("]}\n")
	b := buf.Bytes()
	if len(es) == 0 { // "entry":[] is not valid FHIR: an empty array is not allowed
		b = bytes.Replace(b, []byte(`,"entry":[]}`), []byte(`}`), 1)
	}
	c.w.Header().Set("Content-Type", "application/fhir+json; charset=utf-8")
	c.w.WriteHeader(http.StatusOK)
	c.w.Write(b)
	return nil
}

// idFilter applies the path's id (a read) or _id (a search).
func idFilter(c *call) func(string) bool {
	if id := c.r.PathValue("id"); id != "" {
		return func(s string) bool { return s == id }
	}
	if len(c.q.IDs) > 0 {
		return func(s string) bool { return slices.Contains(c.q.IDs, s) }
	}
	return func(string) bool { return true }
}

func (s *Server) metadata(c *call) error {
	writeJSON(c.w, http.StatusOK, s.capability())
	return nil
}

// readPatient returns the patient a read names by a patient hex ID, or
// ok false if it is not one.
func readPatient(c *call) (identity.ID, bool) {
	if c.Interaction != "read" {
		return identity.ID{}, false
	}
	p, err := identity.ParseID(c.r.PathValue("id"))
	return p, err == nil
}

func (s *Server) patientSearch(c *call) error {
	var named []identity.ID
	if p, ok := readPatient(c); ok {
		named = []identity.ID{p}
	} else if c.Interaction == "read" {
		return notFound("no such patient")
	}
	for _, id := range c.q.IDs {
		p, err := identity.ParseID(id)
		if err != nil {
			return invalid("_id: not a patient ID")
		}
		named = append(named, p)
	}
	ps, err := s.patientsFor(c, named)
	if err != nil {
		return err
	}
	var es []entry
	for _, p := range ps {
		es = append(es, entry{"Patient", p.Hex(), mustJSON(patientResource(p))})
	}
	return s.answer(c, es)
}

// viewsFor returns the views of the patients a call covers.
func (s *Server) viewsFor(c *call, named []identity.ID) ([]*view, error) {
	ps, err := s.patientsFor(c, named)
	if err != nil {
		return nil, err
	}
	var vs []*view
	for _, p := range ps {
		v, err := s.viewOf(c.r.Context(), p)
		if err != nil {
			return nil, err
		}
		vs = append(vs, v)
	}
	return vs, nil
}

func (s *Server) deviceSearch(c *call) error {
	vs, err := s.viewsFor(c, c.q.Patients)
	if err != nil {
		return err
	}
	keep := idFilter(c)
	var es []entry
	for _, v := range vs {
		if id := gatewayID(v.patient); keep(id) {
			es = append(es, entry{"Device", id, mustJSON(gatewayResource(v.patient))})
		}
		kinds, order := v.devices()
		for _, d := range order {
			if keep(d.Hex()) {
				es = append(es, entry{"Device", d.Hex(), mustJSON(wearableResource(d, v.patient, kinds[d]))})
			}
		}
	}
	return s.answer(c, es)
}

func (s *Server) obsSearch(c *call) error {
	vs, err := s.viewsFor(c, c.q.Patients)
	if err != nil {
		return err
	}
	keep := idFilter(c)
	var es []entry
	for _, v := range vs {
		var match []observation
		for _, o := range v.obs {
			if keep(o.ID) && o.matches(c.q) {
				match = append(match, o)
			}
		}
		if c.Op == "lastn" {
			match = lastN(match, c.q.Max)
		}
		for _, o := range match {
			es = append(es, entry{"Observation", o.ID, o.JSON})
		}
	}
	return s.answer(c, es)
}

func (o observation) matches(q query) bool {
	if len(q.Codes) > 0 && !anyToken(q.Codes, o.Codes) {
		return false
	}
	if len(q.Category) > 0 && !anyToken(q.Category, o.Category) {
		return false
	}
	for _, or := range q.Dates {
		if !slices.ContainsFunc(or, func(d dateValue) bool { return d.matches(o.Time) }) {
			return false
		}
	}
	return true
}

func anyToken(want, have []tokenValue) bool {
	for _, w := range want {
		for _, h := range have {
			if w.matches(h.System, h.Code) {
				return true
			}
		}
	}
	return false
}

// lastN keeps the max newest Observations of each code (the first coding,
// the Observation's own), newest first within a code; obs are oldest first.
func lastN(obs []observation, max int) []observation {
	seen := map[tokenValue]int{}
	var out []observation
	for i := len(obs) - 1; i >= 0; i-- {
		if len(obs[i].Codes) == 0 {
			continue
		}
		k := obs[i].Codes[0]
		if seen[k] < max {
			seen[k]++
			out = append(out, obs[i])
		}
	}
	return out
}

func (s *Server) provSearch(c *call) error {
	named := c.q.Patients
	var only [32]byte
	if c.Interaction == "read" {
		b, err := hex.DecodeString(c.r.PathValue("id"))
		if err != nil || len(b) != 32 {
			return notFound("no such Provenance")
		}
		copy(only[:], b)
		p, ok := s.patientOf(only)
		if !ok {
			return notFound("no such Provenance")
		}
		named = []identity.ID{p}
	}
	vs, err := s.viewsFor(c, named)
	if err != nil {
		return err
	}
	keep := idFilter(c)
	var es []entry
	for _, v := range vs {
		for _, f := range v.fetched {
			obsID, id := v.obsOf[f.ID], hex.EncodeToString(f.ID[:])
			if !keep(id) || obsID == "" || (len(c.q.Targets) > 0 && !slices.Contains(c.q.Targets, obsID)) {
				continue
			}
			es = append(es, entry{"Provenance", id, mustJSON(provenanceResource(f, obsID, s.proofLink(f.ID)))})
		}
	}
	return s.answer(c, es)
}

// proofLink is the portal's page of a record's raw proof.
func (s *Server) proofLink(id [32]byte) string {
	if s.cfg.URL == "" {
		return ""
	}
	return s.cfg.URL + "/alerts/" + hex.EncodeToString(id[:]) + "/proof"
}

func (s *Server) consentSearch(c *call) error {
	if s.cfg.Ledger == nil {
		return s.answer(c, nil)
	}
	named := c.q.Patients
	if p, ok := readPatient(c); ok {
		named = []identity.ID{p}
	} else if c.Interaction == "read" {
		return notFound("no such Consent")
	}
	ps, err := s.patientsFor(c, named)
	if err != nil {
		return err
	}
	keep := idFilter(c)
	var es []entry
	for _, p := range ps {
		if !keep(p.Hex()) {
			continue
		}
		key, err := s.cfg.Provider.KeyFor(c.r.Context(), p)
		if err != nil {
			return fmt.Errorf("key for %s: %w", p, err)
		}
		g, err := s.cfg.Ledger.Grant(c.r.Context(), p, key)
		if err != nil {
			return fmt.Errorf("grant of %s: %w", p, err)
		}
		scope, err := s.cfg.Provider.Scope(c.r.Context(), p)
		if err != nil {
			return fmt.Errorf("scope of %s: %w", p, err)
		}
		es = append(es, entry{"Consent", p.Hex(), mustJSON(consentResource(p, s.me, g, scope, g.Active(s.cfg.Now().UnixMilli())))})
	}
	return s.answer(c, es)
}

func (s *Server) auditSearch(c *call) error {
	// A token bound to a patient sees the entries about that patient only.
	var want []string
	for _, p := range c.q.Patients {
		want = append(want, p.Hex())
	}
	if c.g.patient != nil {
		if len(want) > 0 && !slices.Contains(want, c.g.patient.Hex()) {
			return forbidden("the patient is outside the token's patient context")
		}
		want = []string{c.g.patient.Hex()}
	}
	keep := idFilter(c)
	as := s.access.list(func(a Access) bool {
		if !keep(strconv.FormatUint(a.Seq, 10)) {
			return false
		}
		if len(want) > 0 && !slices.ContainsFunc(a.Patients, func(p string) bool { return slices.Contains(want, p) }) {
			return false
		}
		for _, or := range c.q.Dates {
			if !slices.ContainsFunc(or, func(d dateValue) bool { return d.matches(a.Time) }) {
				return false
			}
		}
		return true
	})
	var es []entry
	for i := len(as) - 1; i >= 0; i-- { // newest first
		es = append(es, entry{"AuditEvent", strconv.FormatUint(as[i].Seq, 10), mustJSON(auditEventResource(as[i], s.me))})
	}
	return s.answer(c, es)
}
