package cloudapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vitalchain/vitalchain/codec"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/merklelog"
)

// Client talks to a cloud's HTTP API. It is safe for concurrent use.
//
// A cloud may run as several processes (see the package comment): given
// their URLs, a Client sends its requests to the one that sequences. It
// follows a not_leader refusal to the process it names, and when the
// process it talks to cannot be reached, it tries the next.
type Client struct {
	bases []string
	http  *http.Client

	mu    sync.Mutex
	cloud identity.ID // whom signed requests name; zero until known
	cur   string      // where requests go: the sequencer, as last known
}

// NewClient returns a client of the cloud at base (http://host:port), or
// of the cloud's processes at several URLs, comma-separated. The cloud's
// ID, which every signed request names, is asked of the cloud on first use
// (GET /v1/checkpoint) unless Expect gives it.
func NewClient(base string, hc *http.Client) *Client {
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	c := &Client{http: hc}
	for _, b := range strings.Split(base, ",") {
		if b = strings.TrimRight(strings.TrimSpace(b), "/"); b != "" {
			c.bases = append(c.bases, b)
		}
	}
	if len(c.bases) == 0 {
		c.bases = []string{""} // requests fail with a clear error
	}
	c.cur = c.bases[0]
	return c
}

// Current returns the URL requests go to now: the process that sequences,
// as last known.
func (c *Client) Current() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cur
}

// ErrNoCloud is returned when none of a Client's URLs can be reached.
var ErrNoCloud = errors.New("no cloud process answers")

// route sends a request to the process that sequences, as last known, and
// returns its answer's status, body (at most limit bytes) and Retry-After.
// It follows a not_leader refusal that names another process, and moves
// on to the next URL when a process refuses the connection (so that the
// request was not received); other failures are returned, and the next
// request goes to the next URL.
func (c *Client) route(ctx context.Context, method, path string, body []byte, limit int64) (int, []byte, time.Duration, error) {
	base := c.Current()
	tried := map[string]bool{}
	var (
		lastErr  error
		refused  []byte // a not_leader refusal, returned if nothing better comes
		attempts = 2*len(c.bases) + 2
	)
	for range attempts {
		tried[base] = true
		status, b, after, err := c.once(ctx, method, base+path, body, limit)
		if err != nil {
			if ctx.Err() != nil {
				return 0, nil, 0, err
			}
			next := c.advance(base)
			var op *net.OpError
			if errors.As(err, &op) && op.Op == "dial" && !tried[next] {
				lastErr, base = err, next // never received: another process may take it
				continue
			}
			if refused != nil {
				return http.StatusServiceUnavailable, refused, 0, nil
			}
			if lastErr != nil {
				return 0, nil, 0, fmt.Errorf("%w: %w; before that: %w", ErrNoCloud, err, lastErr)
			}
			return 0, nil, 0, err
		}
		if status == http.StatusServiceUnavailable {
			var p Problem
			if codec.UnmarshalLimit(b, 1<<20, &p) == nil && p.Code == CodeNotLeader {
				refused = b
				if l := strings.TrimRight(p.Leader, "/"); validBase(l) && !tried[l] {
					c.follow(l)
					base = l
					continue
				}
				if next := c.advance(base); !tried[next] && p.Leader == "" {
					base = next // an election is under way: perhaps another knows
					continue
				}
			}
		}
		return status, b, after, nil
	}
	if refused != nil {
		return http.StatusServiceUnavailable, refused, 0, nil
	}
	return 0, nil, 0, fmt.Errorf("%w: the cloud's processes keep sending the request elsewhere", ErrNoCloud)
}

// validBase reports whether a leader URL a process names can be followed.
func validBase(u string) bool {
	return strings.HasPrefix(u, "http://") || strings.HasPrefix(u, "https://")
}

// follow makes requests go to url from now on.
func (c *Client) follow(url string) {
	c.mu.Lock()
	c.cur = url
	c.mu.Unlock()
}

// advance makes requests go to the URL after from among the client's, and
// returns it.
func (c *Client) advance(from string) string {
	next := c.bases[0]
	for i, b := range c.bases {
		if b == from {
			next = c.bases[(i+1)%len(c.bases)]
		}
	}
	c.mu.Lock()
	if c.cur == from {
		c.cur = next
	}
	c.mu.Unlock()
	return next
}

// Expect sets the ID of the cloud (as the ledger has it), which signed
// requests name; a server that is another cloud refuses them. It returns c.
func (c *Client) Expect(cloud identity.ID) *Client {
	c.mu.Lock()
	c.cloud = cloud
	c.mu.Unlock()
	return c
}

// ID returns the ID of the cloud, asking it if neither Expect nor an
// earlier call has set it.
func (c *Client) ID(ctx context.Context) (identity.ID, error) {
	c.mu.Lock()
	id := c.cloud
	c.mu.Unlock()
	if id != (identity.ID{}) {
		return id, nil
	}
	status, b, _, err := c.route(ctx, http.MethodGet, "/v1/checkpoint", nil, 1<<16)
	if err != nil {
		return id, err
	}
	if status != http.StatusOK {
		return id, fmt.Errorf("cloud checkpoint: %d %s", status, http.StatusText(status))
	}
	var cp struct {
		Cloud string `json:"cloud"`
	}
	if err := json.Unmarshal(b, &cp); err != nil {
		return id, fmt.Errorf("cloud checkpoint: %w", err)
	}
	if id, err = identity.ParseID(cp.Cloud); err != nil {
		return id, fmt.Errorf("cloud checkpoint: %w", err)
	}
	c.Expect(id)
	return id, nil
}

// request signs a request of op for the cloud.
func (c *Client) request(ctx context.Context, key *identity.SigningKey, op string, rec [32]byte, from uint64) ([]byte, error) {
	cloud, err := c.ID(ctx)
	if err != nil {
		return nil, err
	}
	return NewRequest(key, cloud, op, rec, from, time.Now())
}

// RequestError is a request the cloud refused.
type RequestError struct {
	Status int
	Problem
}

func (e *RequestError) Error() string {
	return fmt.Sprintf("cloud refused (%d %s): %s", e.Status, e.Code, e.Message)
}

func (c *Client) post(ctx context.Context, path string, body []byte, out any) error {
	return c.do(ctx, http.MethodPost, path, body, 64<<20, out)
}

// Retries of a request the cloud refused for its load (429 rate_limited,
// 503 busy): such a refusal comes before the request is authenticated or
// stored, so the same bytes are sent again after the wait the cloud asks
// for (Retry-After), or a doubling one, as long as ctx allows.
const (
	MaxRetries   = 6
	retryInitial = 200 * time.Millisecond
	retryMax     = 2 * time.Second
)

// do sends a request (to the process that sequences: route) and decodes
// an answer of at most limit bytes into out, retrying refusals for load,
// and not_leader refusals while no process sequences (an election).
func (c *Client) do(ctx context.Context, method, path string, body []byte, limit int64, out any) error {
	wait := retryInitial
	for try := 0; ; try++ {
		status, b, after, err := c.route(ctx, method, path, body, limit)
		if err != nil {
			return err
		}
		if status == http.StatusOK {
			return codec.UnmarshalLimit(b, int(limit), out)
		}
		refused := refusal(status, b)
		if (status != http.StatusTooManyRequests && status != http.StatusServiceUnavailable) || try == MaxRetries {
			return refused
		}
		if after > 0 {
			wait = min(after, retryMax)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (then %w)", refused, ctx.Err())
		case <-t.C:
		}
		wait = min(2*wait, retryMax)
	}
}

// once makes one HTTP request to url.
func (c *Client) once(ctx context.Context, method, url string, body []byte, limit int64) (status int, b []byte, retryAfter time.Duration, err error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return 0, nil, 0, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/cbor")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, 0, err
	}
	defer resp.Body.Close()
	b, err = io.ReadAll(io.LimitReader(resp.Body, limit))
	if err != nil {
		return 0, nil, 0, err
	}
	if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && secs > 0 {
		retryAfter = time.Duration(secs) * time.Second
	}
	return resp.StatusCode, b, retryAfter, nil
}

// Upload sends encoded records (record.Record.Marshal) and returns one Ack
// each, once every accepted one is durable.
func (c *Client) Upload(ctx context.Context, records [][]byte) ([]Ack, error) {
	r, err := c.UploadWithReceipt(ctx, records)
	if err != nil {
		return nil, err
	}
	return r.Acks, nil
}

// UploadWithReceipt is Upload that also returns the cloud's receipt
// (unverified: see ParseReceipt).
func (c *Client) UploadWithReceipt(ctx context.Context, records [][]byte) (*UploadResponse, error) {
	body, err := codec.Marshal(records)
	if err != nil {
		return nil, err
	}
	var r UploadResponse
	if err := c.post(ctx, "/v1/records", body, &r); err != nil {
		return nil, err
	}
	if len(r.Acks) != len(records) {
		return nil, fmt.Errorf("cloud answered %d acks for %d records", len(r.Acks), len(records))
	}
	return &r, nil
}

// Read asks for a record with a request signed by key.
func (c *Client) Read(ctx context.Context, key *identity.SigningKey, id [32]byte) (*ReadResult, error) {
	req, err := c.request(ctx, key, OpRead, id, 0)
	if err != nil {
		return nil, err
	}
	var r ReadResult
	return &r, c.post(ctx, "/v1/read", req, &r)
}

// ReadRaw sends an already signed read request.
func (c *Client) ReadRaw(ctx context.Context, req []byte) (*ReadResult, error) {
	var r ReadResult
	return &r, c.post(ctx, "/v1/read", req, &r)
}

// AccessLog lists a page of the access log of the patient whose key
// signs, from index from on, with its proofs (checked for shape only: see
// VerifyListing and AuditTrail).
func (c *Client) AccessLog(ctx context.Context, key *identity.SigningKey, from uint64) (*AccessListing, error) {
	req, err := c.request(ctx, key, OpAccess, [32]byte{}, from)
	if err != nil {
		return nil, err
	}
	var l AccessListing
	if err := c.do(ctx, http.MethodPost, "/v1/access", req, MaxListingSize, &l); err != nil {
		return nil, err
	}
	if err := l.check(); err != nil {
		return nil, err
	}
	return &l, nil
}

// AuditTrail lists the whole access log of the patient whose key signs,
// from index from on, page by page, and verifies every page
// (VerifyListing) against anchor, the access log's checkpoint anchored on
// the ledger, with keyOf giving requesters' keys from the ledger. The
// consistency proofs it needs beyond the listing's own it asks of the
// cloud. Each page's listing is itself an entry of the log.
func (c *Client) AuditTrail(ctx context.Context, key *identity.SigningKey, from uint64, anchor merklelog.Checkpoint,
	keyOf func(identity.ID) (identity.VerifyingKey, error)) ([]VerifiedEntry, error) {
	cloud, err := c.ID(ctx)
	if err != nil {
		return nil, err
	}
	var out []VerifiedEntry
	for {
		l, err := c.AccessLog(ctx, key, from)
		if err != nil {
			return out, err
		}
		chk := ListingCheck{Patient: key.Public().ID(), Cloud: cloud, Anchor: anchor, Key: keyOf}
		if anchor.Size != 0 && anchor.Size != l.Checkpoint.Size && (anchor.Size > l.Checkpoint.Size || l.Anchored != anchor) {
			lo, hi := min(anchor.Size, l.Checkpoint.Size), max(anchor.Size, l.Checkpoint.Size)
			cr, err := c.Consistency(ctx, LogAccess, lo, hi)
			if err != nil {
				return out, fmt.Errorf("access log consistency %d..%d: %w", lo, hi, err)
			}
			chk.AnchorProof = cr.Proof
		}
		vs, err := VerifyListing(l, chk)
		if err != nil {
			return out, err
		}
		out = append(out, vs...)
		if !l.More || l.Next <= from {
			return out, nil
		}
		from = l.Next
	}
}

// Erase asks the cloud, with a request signed by the patient's key, to
// erase the ciphertexts of the patient's records.
func (c *Client) Erase(ctx context.Context, key *identity.SigningKey) (*EraseResult, error) {
	req, err := c.request(ctx, key, OpErase, [32]byte{}, 0)
	if err != nil {
		return nil, err
	}
	var r EraseResult
	return &r, c.post(ctx, "/v1/erase", req, &r)
}

// Alerts asks, with a request signed by the provider's key, for the alerts
// due to it from record index from on, waiting up to wait for a first one.
func (c *Client) Alerts(ctx context.Context, key *identity.SigningKey, from uint64, wait time.Duration) (*AlertBatch, error) {
	req, err := c.request(ctx, key, OpAlerts, [32]byte{}, from)
	if err != nil {
		return nil, err
	}
	var b AlertBatch
	return &b, c.post(ctx, "/v1/alerts?wait="+wait.String(), req, &b)
}

// Consistency fetches a proof that log (LogRecords or LogAccess) at size
// from is a prefix of it at size to, and verifies it.
func (c *Client) Consistency(ctx context.Context, log uint8, from, to uint64) (*ConsistencyResult, error) {
	var res ConsistencyResult
	if err := c.get(ctx, fmt.Sprintf("/v1/consistency?log=%d&from=%d&to=%d", log, from, to), 1<<20, &res); err != nil {
		return nil, err
	}
	if err := merklelog.VerifyConsistency(res.Old, res.New, res.Proof); err != nil {
		return nil, err
	}
	return &res, nil
}

// get fetches path and decodes its CBOR answer, of at most limit bytes.
func (c *Client) get(ctx context.Context, path string, limit int64, out any) error {
	return c.do(ctx, http.MethodGet, path, nil, limit, out)
}

// refusal is the RequestError of a refused request's answer.
func refusal(status int, b []byte) error {
	e := &RequestError{Status: status}
	if codec.UnmarshalLimit(b, 1<<20, &e.Problem) != nil {
		e.Code, e.Message = "http", strings.TrimSpace(string(b))
	}
	return e
}

// Proof fetches where a record is in the records log with its inclusion
// proof, and verifies the proof against the checkpoint it names (whether
// that checkpoint is anchored is for the caller to check on the ledger).
func (c *Client) Proof(ctx context.Context, id [32]byte) (*ProofResult, error) {
	var res ProofResult
	if err := c.get(ctx, fmt.Sprintf("/v1/proof?id=%x", id), 1<<20, &res); err != nil {
		return nil, err
	}
	if err := merklelog.VerifyInclusion(id[:], res.Index, res.Checkpoint, res.Proof); err != nil {
		return nil, fmt.Errorf("cloud proof of %x: %w", id[:8], err)
	}
	return &res, nil
}
