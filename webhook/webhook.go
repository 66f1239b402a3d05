// Package webhook delivers events to HTTP endpoints, for paging systems and
// for FHIR subscriptions: each delivery is signed with HMAC-SHA256 as the
// Standard Webhooks specification (standardwebhooks.com) describes, kept
// in a bbolt file until the endpoint takes it or it expires, retried with
// exponential backoff, and resendable.
//
// Guarantees. Enqueue returns only once the event is durable, one delivery
// per endpoint. A delivery is tried until the endpoint answers 2xx or
// Config.MaxAge (at least an hour) has passed since the event. A delivery
// interrupted by a crash is tried again after a restart, with the same
// webhook-id, so that the endpoint can drop the copy: an event is never
// delivered twice under different IDs. Enqueueing an event whose ID was
// enqueued before is a no-op (ErrDuplicate), so that a producer that
// replays its history after a restart sends nothing twice.
//
// A payload should carry IDs and links, never health data: the package
// does not look inside it, but the endpoints of paging systems are outside
// the hospital's trust.
//
// Limits: payloads of at most MaxPayload bytes; MaxPending deliveries
// waiting (Enqueue refuses more with ErrFull); one delivery in flight per
// endpoint, each within Config.Timeout; event IDs remembered for SeenFor.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Errors of the outbox.
var (
	// ErrDuplicate: an event of this ID was enqueued before.
	ErrDuplicate = errors.New("webhook: event already enqueued")
	// ErrFull: MaxPending deliveries are waiting.
	ErrFull = errors.New("webhook: too many deliveries waiting")
	// ErrTooLarge: the payload exceeds MaxPayload.
	ErrTooLarge = errors.New("webhook: payload too large")
	// ErrSecret: a secret is not "whsec_" followed by base64 of 24 to 64 bytes.
	ErrSecret = errors.New("webhook: bad secret")
	// ErrUnknown: no delivery of that event is kept.
	ErrUnknown = errors.New("webhook: unknown event")
)

// Bounds.
const (
	MaxPayload = 64 << 10
	MaxPending = 100_000
	// SeenFor is how long an event's ID is remembered, against duplicates.
	SeenFor = 30 * 24 * time.Hour
	// minMaxAge is the shortest retry window Config.MaxAge may set.
	minMaxAge = time.Hour
)

// Secret is an endpoint's signing secret, written "whsec_" + base64, as
// Standard Webhooks writes them.
type Secret []byte

// NewSecret returns a random 32-byte secret.
func NewSecret() Secret {
	s := make(Secret, 32)
	rand.Read(s)
	return s
}

// ParseSecret parses "whsec_…".
func ParseSecret(s string) (Secret, error) {
	b64, ok := strings.CutPrefix(strings.TrimSpace(s), "whsec_")
	if !ok {
		return nil, fmt.Errorf("%w: want the prefix whsec_", ErrSecret)
	}
	b, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(b) < 24 || len(b) > 64 {
		return nil, fmt.Errorf("%w: want base64 of 24 to 64 bytes", ErrSecret)
	}
	return b, nil
}

func (s Secret) String() string { return "whsec_" + base64.StdEncoding.EncodeToString(s) }

// Sign returns the value of the webhook-signature header of a delivery:
// "v1," + base64(HMAC-SHA256(secret, id + "." + timestamp + "." + body)).
func (s Secret) Sign(id string, ts time.Time, body []byte) string {
	m := hmac.New(sha256.New, s)
	m.Write([]byte(id + "." + strconv.FormatInt(ts.Unix(), 10) + "."))
	m.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// Verify checks a delivery's headers and body, as an endpoint does: one of
// the signatures is right and the timestamp within tolerance of now.
func (s Secret) Verify(h http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	id, tsS := h.Get("webhook-id"), h.Get("webhook-timestamp")
	ts, err := strconv.ParseInt(tsS, 10, 64)
	if id == "" || err != nil {
		return errors.New("webhook: missing webhook-id or webhook-timestamp")
	}
	t := time.Unix(ts, 0)
	if d := now.Sub(t); d > tolerance || d < -tolerance {
		return fmt.Errorf("webhook: timestamp %s too far from now", t.UTC())
	}
	want := s.Sign(id, t, body)
	for _, sig := range strings.Fields(h.Get("webhook-signature")) {
		if hmac.Equal([]byte(sig), []byte(want)) {
			return nil
		}
	}
	return errors.New("webhook: no valid signature")
}

// Endpoint is where deliveries go.
type Endpoint struct {
	URL    string
	Secret Secret
}

// Event is what is delivered: Payload, a JSON object, is the body.
type Event struct {
	ID      string // unique: the idempotency key (webhook-id)
	Type    string // for example "alert.raised"
	Time    time.Time
	Payload json.RawMessage
	// ContentType, if set, makes Payload the body itself, sent with this
	// Content-Type (a FHIR notification Bundle, application/fhir+json),
	// rather than wrapped in {type, timestamp, data}.
	ContentType string
}

// Config configures an Outbox.
type Config struct {
	Path      string // the bbolt file
	Endpoints []Endpoint
	// MaxAge is how long a delivery is tried (default 24 h, at least 1 h).
	MaxAge time.Duration
	// Backoff: the first retry waits MinBackoff, each next one twice as
	// long, at most MaxBackoff (defaults 1 s and 10 min).
	MinBackoff, MaxBackoff time.Duration
	Timeout                time.Duration // per attempt (default 10 s)
	Client                 *http.Client
	Log                    *slog.Logger
	Now                    func() time.Time
}

// Stats are the outbox's counters.
type Stats struct {
	Enqueued, Duplicates, Delivered, Attempts, Failures, Expired, Resent uint64
	Pending                                                              int
}

// delivery is one event for one endpoint, as the file keeps it.
type delivery struct {
	Event    string `json:"event"`
	Type     string `json:"type"`
	Endpoint string `json:"endpoint"` // its URL
	// Secret signs a delivery to an endpoint given to EnqueueTo rather
	// than configured (a FHIR subscription's).
	Secret      []byte    `json:"secret,omitempty"`
	ContentType string    `json:"content_type,omitempty"` // of Body; application/json if empty
	Body        []byte    `json:"body"`
	Created     time.Time `json:"created"`
	Next        time.Time `json:"next"`
	Attempts    int       `json:"attempts"`
	Done        time.Time `json:"done,omitzero"`    // delivered at
	Expired     bool      `json:"expired,omitzero"` // given up
}

var (
	bucketPending = []byte("pending") // seq → delivery
	bucketSent    = []byte("sent")    // seq → delivery, delivered or expired, kept for resending
	bucketSeen    = []byte("seen")    // event ID → first enqueued (Unix ms)
)

// Outbox holds the deliveries and runs them.
type Outbox struct {
	cfg    Config
	db     *bolt.DB
	log    *slog.Logger
	pruned time.Time // the last prune (Run's goroutine only)
	wake   chan struct{}

	mu    sync.Mutex
	stats Stats
}

// Open opens (or creates) the outbox's file.
func Open(cfg Config) (*Outbox, error) {
	if cfg.MaxAge == 0 {
		cfg.MaxAge = 24 * time.Hour
	}
	if cfg.MaxAge < minMaxAge {
		return nil, fmt.Errorf("webhook: MaxAge %s: at least %s", cfg.MaxAge, minMaxAge)
	}
	if cfg.MinBackoff == 0 {
		cfg.MinBackoff = time.Second
	}
	if cfg.MaxBackoff == 0 {
		cfg.MaxBackoff = 10 * time.Minute
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	for _, e := range cfg.Endpoints {
		if !strings.HasPrefix(e.URL, "https://") && !strings.HasPrefix(e.URL, "http://") {
			return nil, fmt.Errorf("webhook: endpoint %q: want an http(s) URL", e.URL)
		}
		if len(e.Secret) < 24 {
			return nil, fmt.Errorf("webhook: endpoint %s: %w", e.URL, ErrSecret)
		}
	}
	db, err := bolt.Open(cfg.Path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return nil, fmt.Errorf("webhook: open %s: %w", cfg.Path, err)
	}
	o := &Outbox{cfg: cfg, db: db, log: cfg.Log, wake: make(chan struct{}, 1)}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketPending, bucketSent, bucketSeen} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		o.stats.Pending = tx.Bucket(bucketPending).Stats().KeyN
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("webhook: %w", err)
	}
	return o, nil
}

// Close closes the file; Run must have returned.
func (o *Outbox) Close() error { return o.db.Close() }

// Stats returns the counters.
func (o *Outbox) Stats() Stats {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.stats
}

func (o *Outbox) count(f func(*Stats)) {
	o.mu.Lock()
	f(&o.stats)
	o.mu.Unlock()
}

func seqKey(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }

// Enqueue makes ev durable, one delivery per endpoint, and wakes Run. An
// ID seen before is ErrDuplicate, and nothing is stored.
func (o *Outbox) Enqueue(ev Event) error { return o.enqueue(ev, o.cfg.Endpoints, false) }

// EnqueueTo is Enqueue to the given endpoints instead of the configured
// ones (a FHIR subscription's rest-hook): each delivery keeps its
// endpoint's secret in the file, so that it is signed and retried after a
// restart like the others.
func (o *Outbox) EnqueueTo(ev Event, eps ...Endpoint) error {
	for _, e := range eps {
		if !strings.HasPrefix(e.URL, "https://") && !strings.HasPrefix(e.URL, "http://") {
			return fmt.Errorf("webhook: endpoint %q: want an http(s) URL", e.URL)
		}
		if len(e.Secret) < 24 {
			return fmt.Errorf("webhook: endpoint %s: %w", e.URL, ErrSecret)
		}
	}
	return o.enqueue(ev, eps, true)
}

func (o *Outbox) enqueue(ev Event, eps []Endpoint, keepSecret bool) error {
	if ev.ID == "" || ev.Type == "" {
		return errors.New("webhook: an event needs an ID and a type")
	}
	if len(ev.Payload) > MaxPayload {
		return fmt.Errorf("%w: %d bytes, at most %d", ErrTooLarge, len(ev.Payload), MaxPayload)
	}
	if !json.Valid(ev.Payload) {
		return errors.New("webhook: the payload is not JSON")
	}
	now := o.cfg.Now()
	if ev.Time.IsZero() {
		ev.Time = now
	}
	body := []byte(ev.Payload)
	if ev.ContentType == "" {
		b, err := json.Marshal(struct {
			Type      string          `json:"type"`
			Timestamp time.Time       `json:"timestamp"`
			Data      json.RawMessage `json:"data"`
		}{ev.Type, ev.Time.UTC(), ev.Payload})
		if err != nil {
			return err
		}
		body = b
	}
	err := o.db.Update(func(tx *bolt.Tx) error {
		seen := tx.Bucket(bucketSeen)
		if seen.Get([]byte(ev.ID)) != nil {
			return ErrDuplicate
		}
		pend := tx.Bucket(bucketPending)
		if pend.Stats().KeyN+len(eps) > MaxPending {
			return ErrFull
		}
		if err := seen.Put([]byte(ev.ID), binary.BigEndian.AppendUint64(nil, uint64(now.UnixMilli()))); err != nil {
			return err
		}
		for _, e := range eps {
			n, err := pend.NextSequence()
			if err != nil {
				return err
			}
			dl := delivery{Event: ev.ID, Type: ev.Type, Endpoint: e.URL, Body: body, ContentType: ev.ContentType, Created: now, Next: now}
			if keepSecret {
				dl.Secret = e.Secret
			}
			d, err := json.Marshal(dl)
			if err != nil {
				return err
			}
			if err := pend.Put(seqKey(n), d); err != nil {
				return err
			}
		}
		return nil
	})
	if errors.Is(err, ErrDuplicate) {
		o.count(func(s *Stats) { s.Duplicates++ })
		return err
	}
	if err != nil {
		return err
	}
	o.count(func(s *Stats) { s.Enqueued++; s.Pending += len(eps) })
	o.poke()
	return nil
}

func (o *Outbox) poke() {
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// Resend queues again, now, the deliveries of an event that were delivered
// or expired (a paging system that lost them asks for them again); the
// copies carry the same webhook-id.
func (o *Outbox) Resend(eventID string) error {
	now := o.cfg.Now()
	n := 0
	err := o.db.Update(func(tx *bolt.Tx) error {
		sent, pend := tx.Bucket(bucketSent), tx.Bucket(bucketPending)
		c := sent.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			var d delivery
			if json.Unmarshal(v, &d) != nil || d.Event != eventID {
				continue
			}
			d.Done, d.Expired, d.Attempts, d.Created, d.Next = time.Time{}, false, 0, now, now
			b, err := json.Marshal(d)
			if err != nil {
				return err
			}
			seq, err := pend.NextSequence()
			if err != nil {
				return err
			}
			if err := pend.Put(seqKey(seq), b); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("%w: %s", ErrUnknown, eventID)
	}
	o.count(func(s *Stats) { s.Resent += uint64(n); s.Pending += n })
	o.poke()
	return nil
}

// Run delivers until ctx ends, one delivery at a time, each endpoint's in
// the order of their enqueueing.
func (o *Outbox) Run(ctx context.Context) error {
	for {
		next, err := o.deliverDue(ctx)
		if err != nil {
			return err
		}
		wait := time.Minute
		if !next.IsZero() {
			wait = max(next.Sub(o.cfg.Now()), 10*time.Millisecond)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-o.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// deliverDue tries the due deliveries once each, per endpoint in order up
// to the first that fails, and returns when the next one falls due.
func (o *Outbox) deliverDue(ctx context.Context) (time.Time, error) {
	type item struct {
		key []byte
		d   delivery
	}
	var due []item
	var next time.Time
	now := o.cfg.Now()
	// Each endpoint gets its deliveries in the order of their enqueueing:
	// one waiting for its retry holds back the later ones.
	waiting := map[string]bool{}
	err := o.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketPending).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			var d delivery
			if err := json.Unmarshal(v, &d); err != nil {
				return fmt.Errorf("webhook: delivery %x: %w", k, err)
			}
			if waiting[d.Endpoint] {
				continue
			}
			if d.Next.After(now) {
				waiting[d.Endpoint] = true
				if next.IsZero() || d.Next.Before(next) {
					next = d.Next
				}
				continue
			}
			due = append(due, item{append([]byte(nil), k...), d})
		}
		return nil
	})
	if err != nil {
		return time.Time{}, err
	}
	failed := map[string]bool{} // endpoints that failed in this round
	for _, it := range due {
		if ctx.Err() != nil {
			return time.Time{}, nil
		}
		if failed[it.d.Endpoint] {
			continue // behind a delivery that failed: its retry comes first
		}
		ok := o.attempt(ctx, it.d)
		if ctx.Err() != nil {
			return time.Time{}, nil
		}
		d := it.d
		d.Attempts++
		at := o.cfg.Now()
		var done bool
		switch {
		case ok:
			d.Done, done = at, true
		case at.Sub(d.Created) >= o.cfg.MaxAge:
			d.Expired, done = true, true
		default:
			failed[d.Endpoint] = true
			d.Next = at.Add(o.backoff(d.Attempts))
			if next.IsZero() || d.Next.Before(next) {
				next = d.Next
			}
		}
		if err := o.settle(it.key, d, done); err != nil {
			return time.Time{}, err
		}
		o.count(func(s *Stats) {
			s.Attempts++
			switch {
			case ok:
				s.Delivered++
				s.Pending--
			case d.Expired:
				s.Failures++
				s.Expired++
				s.Pending--
			default:
				s.Failures++
			}
		})
		if d.Expired {
			o.log.Warn("webhook: delivery expired", "event", d.Event, "endpoint", d.Endpoint, "attempts", d.Attempts)
		}
	}
	return next, nil
}

// backoff is the wait after the n-th failed attempt.
func (o *Outbox) backoff(n int) time.Duration {
	d := o.cfg.MinBackoff
	for i := 1; i < n && d < o.cfg.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, o.cfg.MaxBackoff)
}

// settle writes a delivery back: still pending, or moved to sent.
func (o *Outbox) settle(key []byte, d delivery, done bool) error {
	b, err := json.Marshal(d)
	if err != nil {
		return err
	}
	return o.db.Update(func(tx *bolt.Tx) error {
		pend := tx.Bucket(bucketPending)
		if !done {
			return pend.Put(key, b)
		}
		if err := pend.Delete(key); err != nil {
			return err
		}
		sent := tx.Bucket(bucketSent)
		seq, err := sent.NextSequence()
		if err != nil {
			return err
		}
		if err := sent.Put(seqKey(seq), b); err != nil {
			return err
		}
		return o.prune(tx)
	})
}

// pruneEvery spaces the prunes: each scans every remembered event ID.
const pruneEvery = time.Hour

// prune forgets sent deliveries and event IDs older than SeenFor, at most
// once every pruneEvery.
func (o *Outbox) prune(tx *bolt.Tx) error {
	now := o.cfg.Now()
	if now.Sub(o.pruned) < pruneEvery {
		return nil
	}
	o.pruned = now // only Run's goroutine settles, and so prunes
	cut := now.Add(-SeenFor)
	sent := tx.Bucket(bucketSent)
	c := sent.Cursor()
	for k, v := c.First(); k != nil; k, v = c.First() {
		var d delivery
		if json.Unmarshal(v, &d) == nil && d.Created.After(cut) {
			break
		}
		if err := c.Delete(); err != nil {
			return err
		}
	}
	seen := tx.Bucket(bucketSeen)
	var old [][]byte
	seen.ForEach(func(k, v []byte) error {
		if len(v) == 8 && int64(binary.BigEndian.Uint64(v)) < cut.UnixMilli() {
			old = append(old, append([]byte(nil), k...))
		}
		return nil
	})
	for _, k := range old {
		if err := seen.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// attempt POSTs one delivery and reports whether the endpoint took it.
func (o *Outbox) attempt(ctx context.Context, d delivery) bool {
	var ep *Endpoint
	if len(d.Secret) > 0 {
		ep = &Endpoint{URL: d.Endpoint, Secret: d.Secret}
	}
	for i := range o.cfg.Endpoints {
		if ep == nil && o.cfg.Endpoints[i].URL == d.Endpoint {
			ep = &o.cfg.Endpoints[i]
		}
	}
	if ep == nil {
		// The endpoint left the configuration: its deliveries wait for it
		// to come back, and expire.
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, o.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.URL, bytes.NewReader(d.Body))
	if err != nil {
		return false
	}
	ts := o.cfg.Now()
	ct := d.ContentType
	if ct == "" {
		ct = "application/json"
	}
	req.Header.Set("Content-Type", ct)
	req.Header.Set("webhook-id", d.Event)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(ts.Unix(), 10))
	req.Header.Set("webhook-signature", ep.Secret.Sign(d.Event, ts, d.Body))
	res, err := o.cfg.Client.Do(req)
	if err != nil {
		o.log.Debug("webhook: attempt failed", "event", d.Event, "endpoint", ep.URL, "err", err)
		return false
	}
	io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	res.Body.Close()
	return res.StatusCode/100 == 2
}

// WriteMetrics writes the counters in Prometheus's text format, with the
// given name prefix (for example "vitalchain_portal").
func (o *Outbox) WriteMetrics(w io.Writer, prefix string) error {
	st := o.Stats()
	var b strings.Builder
	metric := func(name, typ, help string, v uint64) {
		name = prefix + "_webhook_" + name
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n%s %d\n", name, help, name, typ, name, v)
	}
	metric("enqueued_total", "counter", "Events enqueued.", st.Enqueued)
	metric("duplicates_total", "counter", "Events refused as enqueued before.", st.Duplicates)
	metric("delivered_total", "counter", "Deliveries an endpoint took (2xx).", st.Delivered)
	metric("attempts_total", "counter", "Delivery attempts.", st.Attempts)
	metric("failures_total", "counter", "Attempts that failed.", st.Failures)
	metric("expired_total", "counter", "Deliveries given up after the retry window.", st.Expired)
	metric("resent_total", "counter", "Deliveries queued again on request.", st.Resent)
	metric("pending", "gauge", "Deliveries waiting.", uint64(max(st.Pending, 0)))
	_, err := io.WriteString(w, b.String())
	return err
}
