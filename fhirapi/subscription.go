package fhirapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/provider"
	"github.com/vitalchain/vitalchain/webhook"
)

// ErrSubscription: a Subscription resource this server does not take.
var ErrSubscription = errors.New("fhirapi: bad subscription")

const (
	// SubscriptionsFile is the subscriptions' file name in the state
	// directory.
	SubscriptionsFile = "fhir-subscriptions.json"
	// MaxSubscriptions bounds the subscriptions.
	MaxSubscriptions = 256
	// SecretHeader is the response header of a created Subscription that
	// carries its notifications' signing secret, shown this once.
	SecretHeader = "X-Webhook-Secret"
)

// subscription is a Subscription as the server keeps it.
type subscription struct {
	ID       string    `json:"id"`
	Client   string    `json:"client"`
	Created  time.Time `json:"created"`
	Reason   string    `json:"reason"`
	Endpoint string    `json:"endpoint"`
	Secret   string    `json:"secret"` // whsec_…
	Filter   string    `json:"filter,omitempty"`
	Patients []string  `json:"patients,omitempty"` // from Filter
	Content  string    `json:"content"`            // "id-only" or "empty"
	Events   uint64    `json:"events"`             // notifications enqueued
	Patient  string    `json:"patient,omitempty"`  // the token's patient context
}

// subRequest is what a client POSTs: an R4 Subscription in the shape of
// the Subscriptions R5 Backport IG.
type subRequest struct {
	ResourceType string `json:"resourceType"`
	Status       string `json:"status"`
	Reason       string `json:"reason"`
	Criteria     string `json:"criteria"`
	CriteriaExt  *struct {
		Extension []struct {
			URL         string `json:"url"`
			ValueString string `json:"valueString"`
		} `json:"extension"`
	} `json:"_criteria"`
	Channel struct {
		Type       string   `json:"type"`
		Endpoint   string   `json:"endpoint"`
		Payload    string   `json:"payload"`
		Header     []string `json:"header"`
		PayloadExt *struct {
			Extension []struct {
				URL       string `json:"url"`
				ValueCode string `json:"valueCode"`
			} `json:"extension"`
		} `json:"_payload"`
	} `json:"channel"`
}

// ParseSubscription checks a Subscription a client posts and returns what
// the server keeps of it (without ID, client or secret): the topic must be
// TopicURL, the channel a rest-hook to an https URL (http only to a
// loopback address), the payload id-only or empty, and the filter, if any,
// "Observation?patient=…" (patients ORed).
func ParseSubscription(b []byte) (*subscription, error) {
	var r subRequest
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSubscription, err)
	}
	bad := func(f string, a ...any) error { return fmt.Errorf("%w: %s", ErrSubscription, fmt.Sprintf(f, a...)) }
	if r.ResourceType != "Subscription" {
		return nil, bad("want a Subscription")
	}
	if r.Status != "" && r.Status != "requested" && r.Status != "active" {
		return nil, bad("status %q: want requested", r.Status)
	}
	if r.Reason == "" || len(r.Reason) > 256 {
		return nil, bad("reason: 1 to 256 characters")
	}
	if r.Criteria != TopicURL {
		return nil, bad("criteria: the only topic is %s", TopicURL)
	}
	sub := &subscription{Reason: r.Reason, Content: "id-only"}
	if r.CriteriaExt != nil {
		for _, e := range r.CriteriaExt.Extension {
			if e.URL != filterCriteria {
				return nil, bad("criteria extension %q", e.URL)
			}
			if sub.Filter != "" {
				return nil, bad("one filter at most")
			}
			ps, err := parseFilter(e.ValueString)
			if err != nil {
				return nil, err
			}
			sub.Filter, sub.Patients = e.ValueString, ps
		}
	}
	ch := r.Channel
	if ch.Type != "rest-hook" {
		return nil, bad("channel.type %q: want rest-hook", ch.Type)
	}
	if len(ch.Header) > 0 {
		return nil, bad("channel.header is not supported: notifications are signed (Standard Webhooks, with the secret the creation returns)")
	}
	if ch.Payload != "" && ch.Payload != "application/fhir+json" && ch.Payload != "application/json" {
		return nil, bad("channel.payload %q: want application/fhir+json", ch.Payload)
	}
	if ch.PayloadExt != nil {
		for _, e := range ch.PayloadExt.Extension {
			if e.URL != payloadContent || (e.ValueCode != "id-only" && e.ValueCode != "empty") {
				return nil, bad("payload content: id-only or empty only (never the resources)")
			}
			sub.Content = e.ValueCode
		}
	}
	if err := checkEndpoint(ch.Endpoint); err != nil {
		return nil, err
	}
	sub.Endpoint = ch.Endpoint
	return sub, nil
}

// checkEndpoint accepts an https URL, or http to a loopback address.
func checkEndpoint(s string) error {
	u, err := url.Parse(s)
	if err != nil || len(s) > 2048 || u.Host == "" || u.User != nil || u.Fragment != "" {
		return fmt.Errorf("%w: channel.endpoint: want an absolute http(s) URL", ErrSubscription)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if ip := net.ParseIP(u.Hostname()); (ip != nil && ip.IsLoopback()) || u.Hostname() == "localhost" {
			return nil
		}
	}
	return fmt.Errorf("%w: channel.endpoint: https, or http to a loopback address", ErrSubscription)
}

// parseFilter parses a filter criteria "Observation?patient=X[,Y]".
func parseFilter(f string) ([]string, error) {
	typ, q, _ := strings.Cut(f, "?")
	if typ != "Observation" || len(f) > 4096 {
		return nil, fmt.Errorf("%w: filter %q: want Observation?patient=…", ErrSubscription, f)
	}
	vals, err := url.ParseQuery(q)
	if err != nil {
		return nil, fmt.Errorf("%w: filter: %w", ErrSubscription, err)
	}
	var out []string
	for k, vs := range vals {
		if k != "patient" {
			return nil, fmt.Errorf("%w: filter: only patient", ErrSubscription)
		}
		for _, v := range vs {
			for _, one := range strings.Split(v, ",") {
				p, err := parsePatientRef(one)
				if err != nil {
					return nil, fmt.Errorf("%w: filter: %w", ErrSubscription, err)
				}
				if !slices.Contains(out, p.Hex()) {
					out = append(out, p.Hex())
				}
			}
		}
	}
	if len(out) > maxValues {
		return nil, fmt.Errorf("%w: filter: at most %d patients", ErrSubscription, maxValues)
	}
	return out, nil
}

// subStore keeps the subscriptions in a JSON file, replaced atomically.
type subStore struct {
	path string
	mu   sync.Mutex
	subs []*subscription
}

func openSubs(dir string) (*subStore, error) {
	st := &subStore{path: filepath.Join(dir, SubscriptionsFile)}
	b, err := os.ReadFile(st.path)
	if errors.Is(err, os.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, &st.subs); err != nil {
		return nil, fmt.Errorf("fhirapi: %s: %w", st.path, err)
	}
	return st, nil
}

func (st *subStore) count() int {
	st.mu.Lock()
	defer st.mu.Unlock()
	return len(st.subs)
}

func (st *subStore) list() []subscription {
	st.mu.Lock()
	defer st.mu.Unlock()
	out := make([]subscription, len(st.subs))
	for i, s := range st.subs {
		out[i] = *s
	}
	return out
}

// save writes the file; st.mu is held.
func (st *subStore) save() error {
	b, err := json.MarshalIndent(st.subs, "", "  ")
	if err != nil {
		return err
	}
	return writeAtomic(st.path, b)
}

func (st *subStore) add(s *subscription) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	if len(st.subs) >= MaxSubscriptions {
		return &httpError{http.StatusUnprocessableEntity, "too-costly", "too many subscriptions"}
	}
	st.subs = append(st.subs, s)
	if err := st.save(); err != nil {
		st.subs = st.subs[:len(st.subs)-1]
		return err
	}
	return nil
}

func (st *subStore) remove(id string) (bool, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	i := slices.IndexFunc(st.subs, func(s *subscription) bool { return s.ID == id })
	if i < 0 {
		return false, nil
	}
	st.subs = slices.Delete(st.subs, i, i+1)
	return true, st.save()
}

// counted adds one to a subscription's events and returns the number.
func (st *subStore) next(id string) (uint64, bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, s := range st.subs {
		if s.ID == id {
			return s.Events + 1, true
		}
	}
	return 0, false
}

func (st *subStore) counted(id string, n uint64) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, s := range st.subs {
		if s.ID == id && n > s.Events {
			s.Events = n
			return st.save()
		}
	}
	return nil
}

// resource renders a subscription as an R4 Subscription of the backport.
func (s *Server) subResource(sub subscription) obj {
	r := obj{"resourceType": "Subscription", "id": sub.ID,
		"meta":     obj{"profile": []string{backport + "backport-subscription"}},
		"status":   "active",
		"reason":   sub.Reason,
		"criteria": TopicURL,
		"channel": obj{"type": "rest-hook", "endpoint": sub.Endpoint, "payload": "application/fhir+json",
			"_payload": obj{"extension": []obj{{"url": payloadContent, "valueCode": sub.Content}}}},
	}
	if sub.Filter != "" {
		r["_criteria"] = obj{"extension": []obj{{"url": filterCriteria, "valueString": sub.Filter}}}
	}
	return r
}

func (s *Server) visibleSubs(c *call) []subscription {
	var out []subscription
	keep := idFilter(c)
	for _, sub := range s.subs.list() {
		if sub.Client == c.g.client && keep(sub.ID) {
			out = append(out, sub)
		}
	}
	return out
}

func (s *Server) subSearch(c *call) error {
	var es []entry
	for _, sub := range s.visibleSubs(c) {
		es = append(es, entry{"Subscription", sub.ID, mustJSON(s.subResource(sub))})
	}
	return s.answer(c, es)
}

func (s *Server) subCreate(c *call) error {
	if s.cfg.Outbox == nil {
		return &httpError{http.StatusNotImplemented, "not-supported", "this server delivers no notifications (no outbox)"}
	}
	b, err := io.ReadAll(io.LimitReader(c.r.Body, maxBody+1))
	if err != nil {
		return invalid("the body could not be read")
	}
	if len(b) > maxBody {
		return &httpError{http.StatusRequestEntityTooLarge, "too-costly", "the body is too large"}
	}
	sub, err := ParseSubscription(b)
	if err != nil {
		return err
	}
	for _, h := range sub.Patients {
		p, _ := identity.ParseID(h)
		if err := s.allow(c, p); err != nil {
			return err
		}
	}
	var raw [16]byte
	rand.Read(raw[:])
	sub.ID = hex.EncodeToString(raw[:])
	sub.Client = c.g.client
	sub.Created = s.cfg.Now().UTC()
	sub.Secret = webhook.NewSecret().String()
	if c.g.patient != nil {
		sub.Patient = c.g.patient.Hex()
	}
	if err := s.subs.add(sub); err != nil {
		return err
	}
	c.w.Header().Set("Location", s.Base()+"/Subscription/"+sub.ID)
	c.w.Header().Set(SecretHeader, sub.Secret)
	writeJSON(c.w, http.StatusCreated, s.subResource(*sub))
	return nil
}

func (s *Server) subDelete(c *call) error {
	if len(s.visibleSubs(c)) == 0 {
		return notFound("no such Subscription")
	}
	if _, err := s.subs.remove(c.r.PathValue("id")); err != nil {
		return err
	}
	c.w.WriteHeader(http.StatusNoContent)
	return nil
}

// Run delivers the subscriptions' notifications of the alerts Observe
// gets, until ctx ends: for each alert, each subscription that started
// before the cloud stored it, whose filter and patient context take its
// patient, gets an id-only notification through the outbox, once the
// patient's grant is checked and the record read (for its Observation's
// id). An alert whose record cannot be read yet is tried again; after a
// restart the alerts come again (the provider follows from the start) and
// the outbox drops the ones it already has (the event's ID names the
// subscription and the record). A subscription whose client no longer
// holds a token in force (revoked, expired) is not notified.
func (s *Server) Run(ctx context.Context) error {
	backoff := 100 * time.Millisecond
	for {
		s.mu.Lock()
		batch := s.pending
		s.pending = nil
		s.mu.Unlock()
		var retry []provider.Alert
		for _, a := range batch {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if err := s.notify(ctx, a); err != nil {
				s.cfg.Log.Warn("fhirapi: notification not enqueued, will retry", "record", hex.EncodeToString(a.ID[:]), "err", err)
				retry = append(retry, a)
			}
		}
		var wait <-chan time.Time
		var t *time.Timer
		if len(retry) > 0 {
			s.mu.Lock()
			s.pending = append(retry, s.pending...)
			s.mu.Unlock()
			t = time.NewTimer(backoff)
			wait = t.C
			backoff = min(backoff*2, 10*time.Second)
		} else {
			backoff = 100 * time.Millisecond
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.wake:
		case <-wait:
		}
		if t != nil {
			t.Stop()
		}
	}
}

// notify enqueues the notifications of one alert.
func (s *Server) notify(ctx context.Context, a provider.Alert) error {
	p := a.Header.Patient
	var subs []subscription
	for _, sub := range s.subs.list() {
		if a.Stored.Before(sub.Created) || (len(sub.Patients) > 0 && !slices.Contains(sub.Patients, p.Hex())) ||
			(sub.Patient != "" && sub.Patient != p.Hex()) || !s.tokens.active(sub.Client, s.cfg.Now()) {
			continue
		}
		subs = append(subs, sub)
	}
	if len(subs) == 0 {
		return nil
	}
	ok, err := s.granted(ctx, p)
	if err != nil {
		return err
	}
	if !ok {
		return nil // not shown: no notification either
	}
	f, err := s.fetch(ctx, a.ID)
	if err != nil {
		if skippable(err) || errors.Is(err, provider.ErrForged) {
			return nil
		}
		return err
	}
	v, err := s.viewOf(ctx, p)
	if err != nil {
		return err
	}
	obsID := v.obsOf[f.ID]
	rec := hex.EncodeToString(a.ID[:])
	for _, sub := range subs {
		n, ok := s.subs.next(sub.ID)
		if !ok {
			continue // deleted meanwhile
		}
		secret, err := webhook.ParseSecret(sub.Secret)
		if err != nil {
			return err
		}
		body := mustJSON(s.notification(sub, n, a, obsID, rec))
		ev := webhook.Event{ID: "fhir-subscription:" + sub.ID + ":" + rec, Type: "fhir.notification", Time: s.cfg.Now(),
			Payload: body, ContentType: "application/fhir+json"}
		err = s.cfg.Outbox.EnqueueTo(ev, webhook.Endpoint{URL: sub.Endpoint, Secret: secret})
		if errors.Is(err, webhook.ErrDuplicate) {
			continue
		}
		if err != nil {
			return err
		}
		if err := s.subs.counted(sub.ID, n); err != nil {
			return err
		}
	}
	return nil
}

// notification is an id-only notification Bundle of the R4 backport.
func (s *Server) notification(sub subscription, n uint64, a provider.Alert, obsID, rec string) obj {
	base := s.Base()
	num := strconv.FormatUint(n, 10)
	event := []obj{{"name": "event-number", "valueString": num},
		{"name": "timestamp", "valueInstant": instant(a.Stored)}}
	if sub.Content == "id-only" && obsID != "" {
		event = append(event, obj{"name": "focus", "valueReference": obj{"reference": base + "/Observation/" + obsID}},
			obj{"name": "additional-context", "valueReference": obj{"reference": base + "/Provenance/" + rec}})
	}
	status := obj{"resourceType": "Parameters", "id": notificationID(sub.ID, rec, "status"),
		"meta": obj{"profile": []string{backport + "backport-subscription-status-r4"}},
		"parameter": []obj{
			{"name": "subscription", "valueReference": obj{"reference": base + "/Subscription/" + sub.ID}},
			{"name": "topic", "valueCanonical": TopicURL},
			{"name": "status", "valueCode": "active"},
			{"name": "type", "valueCode": "event-notification"},
			{"name": "events-since-subscription-start", "valueString": num},
			{"name": "notification-event", "part": event},
		}}
	entries := []obj{{"fullUrl": "urn:uuid:" + notificationID(sub.ID, rec, "status"), "resource": status,
		"request": obj{"method": "GET", "url": base + "/Subscription/" + sub.ID + "/$status"}, "response": obj{"status": "200"}}}
	if sub.Content == "id-only" && obsID != "" {
		entries = append(entries,
			obj{"fullUrl": base + "/Observation/" + obsID, "request": obj{"method": "POST", "url": "Observation"}, "response": obj{"status": "201"}},
			obj{"fullUrl": base + "/Provenance/" + rec, "request": obj{"method": "POST", "url": "Provenance"}, "response": obj{"status": "201"}})
	}
	return obj{"resourceType": "Bundle", "id": notificationID(sub.ID, rec, "bundle"),
		"meta":      obj{"profile": []string{backport + "backport-subscription-notification-r4"}},
		"type":      "history",
		"timestamp": instant(s.cfg.Now()),
		"entry":     entries,
	}
}

// notificationID is a UUID of a notification's parts, the same after a
// restart.
func notificationID(sub, rec, part string) string {
	return uuidOf("vitalchain fhirapi notification", sub, rec, part)
}

// statusResource is a subscription's status (the backport's $status).
func (s *Server) statusResource(sub subscription) obj {
	return obj{"resourceType": "Parameters",
		"meta": obj{"profile": []string{backport + "backport-subscription-status-r4"}},
		"parameter": []obj{
			{"name": "subscription", "valueReference": obj{"reference": s.Base() + "/Subscription/" + sub.ID}},
			{"name": "topic", "valueCanonical": TopicURL},
			{"name": "status", "valueCode": "active"},
			{"name": "type", "valueCode": "query-status"},
			{"name": "events-since-subscription-start", "valueString": strconv.FormatUint(sub.Events, 10)},
		}}
}

func (s *Server) subStatus(c *call) error {
	subs := s.visibleSubs(c)
	if len(subs) == 0 {
		return notFound("no such Subscription")
	}
	c.Interaction = "search-type" // answered as a searchset
	return s.answer(c, []entry{{"Subscription", subs[0].ID + "/$status", mustJSON(s.statusResource(subs[0]))}})
}
