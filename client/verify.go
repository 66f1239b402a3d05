package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vitalchain/vitalchain/codec"
	"github.com/vitalchain/vitalchain/ledger"
	"github.com/vitalchain/vitalchain/lightclient"
	"github.com/vitalchain/vitalchain/statetree"
)

// Errors of verified answers. Each is a node's to answer for: the Client
// counts it (Refusals) and asks the next node.
var (
	// ErrBadProof: an answer without a proof, or whose proof does not
	// verify against a header signed by more than 2/3 of the validators
	// (or whose header does not verify).
	ErrBadProof = errors.New("answer not proved")
	// ErrStale: an answer of a state older than the Client knows of (a
	// header it verified, a block that committed its own transaction),
	// beyond TrustOptions' bounds.
	ErrStale = errors.New("stale answer")
)

// TrustOptions are how a Client verifies answers (Trust).
type TrustOptions struct {
	// Light are the light client's options (trusting period, clock drift,
	// trust level).
	Light lightclient.Options
	// Store persists the trusted state, so that a restart resumes from
	// the last verified header rather than the root of trust (nil: kept
	// in memory only).
	Store TrustStore
	// MaxLag: an answer of the state after block h needs h+1 ≥ the highest
	// verified header − MaxLag, and h ≥ the height of the last block that
	// committed a transaction of this Client (default 2; −1: no bound).
	MaxLag int64
	// MaxAge: if set, an answer's header must be at most this old (by the
	// local clock). Off by default: the chain makes blocks only for
	// transactions, so an idle chain's last header may be old.
	MaxAge time.Duration
	// Wait bounds how long an answer of the state after block h waits
	// for header h+1, which carries its app hash (default 10 s).
	Wait time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// TrustStore keeps a Client's trusted state (lightclient.Trusted's
// encoding) across restarts. Whoever can write it can choose what the
// client trusts: keep it as the client keeps its keys.
type TrustStore interface {
	Load() ([]byte, error) // nil, nil when nothing was saved
	Save([]byte) error
}

// TrustFile is a TrustStore in a file, replaced atomically.
type TrustFile string

// Load implements TrustStore.
func (f TrustFile) Load() ([]byte, error) {
	b, err := os.ReadFile(string(f))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	return b, err
}

// Save implements TrustStore.
func (f TrustFile) Save(b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(string(f)), filepath.Base(string(f))+".*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := errors.Join(tmp.Sync(), tmp.Close()); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), string(f))
}

// Refusals counts the answers a Client refused, by reason, and how often
// it turned to another node.
type Refusals struct {
	BadProof, Forged, Stale, Unavailable, Failovers int64
}

// verifier is a Client's verification of answers.
type verifier struct {
	o     TrustOptions
	lc    *lightclient.Verifier // nil: roots from the node (TrustNodeRoots)
	saved atomic.Int64          // the trusted height last saved
	// floor is the height of the newest block that committed one of this
	// client's transactions: answers of an older state are stale.
	floor atomic.Int64

	mu    sync.Mutex
	saveT time.Time
}

// Trust makes the Client verify every answer to a query of one key (every
// query but the listings, see ledger.StateKey) before it returns it: the
// node must prove the key's value, or its absence, against the app hash of
// a header that root verifies (lightclient: signed by more than 2/3 of the
// validators, reached from root). root is the chain's genesis
// (lightclient.TrustGenesis) or a header known out of band; a trusted
// state saved in o.Store, of the same chain and later, takes its place.
// Listings are answered unverified: a caller that acts on an entry checks
// it with a query of its own key.
func (c *Client) Trust(root *lightclient.Trusted, o TrustOptions) error {
	if o.Store != nil {
		b, err := o.Store.Load()
		if err != nil {
			return fmt.Errorf("trust: load the trusted state: %w", err)
		}
		if b != nil {
			var t lightclient.Trusted
			if err := t.UnmarshalBinary(b); err != nil {
				return fmt.Errorf("trust: the saved trusted state: %w", err)
			}
			if t.ChainID == root.ChainID && t.Height > root.Height {
				root = &t
			}
		}
	}
	lc, err := lightclient.New(root, o.Light)
	if err != nil {
		return fmt.Errorf("trust: %w", err)
	}
	v := newVerifier(o)
	v.lc = lc
	v.saved.Store(root.Height)
	c.mu.Lock()
	c.verify = v
	c.mu.Unlock()
	return nil
}

// TrustOnFirstUse makes the Client verify answers as Trust does, rooted in
// the genesis its first node serves when it first needs one (it asks no
// node before): an honest first contact, then proofs from there on. A
// client that can read the genesis from a file (Trust) does not depend on
// its first node's honesty.
func (c *Client) TrustOnFirstUse(o TrustOptions) {
	c.mu.Lock()
	c.tofu = &o
	c.mu.Unlock()
}

// trustNow roots the trust on first use.
func (c *Client) trustNow(ctx context.Context, o TrustOptions) (*verifier, error) {
	c.log.Warn("trusting the ledger node's genesis on first use")
	g, err := c.Genesis(ctx)
	if err != nil {
		return nil, fmt.Errorf("the chain's genesis: %w", err)
	}
	root, err := GenesisTrust(g)
	if err != nil {
		return nil, fmt.Errorf("the chain's genesis: %w", err)
	}
	c.mu.Lock()
	v := c.verify
	c.mu.Unlock()
	if v != nil {
		return v, nil // another call did meanwhile
	}
	if err := c.Trust(root, o); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.verify, nil
}

// TrustNodeRoots makes the Client verify answers' proofs against the app
// hashes its nodes attest themselves (RootAttester): for tests over
// internal/memchain, which signs no headers. Never for a real node.
func (c *Client) TrustNodeRoots(o TrustOptions) {
	c.mu.Lock()
	c.verify = newVerifier(o)
	c.mu.Unlock()
}

func newVerifier(o TrustOptions) *verifier {
	if o.MaxLag == 0 {
		o.MaxLag = 2
	}
	if o.Wait <= 0 {
		o.Wait = 10 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &verifier{o: o}
}

// Refusals returns the counts of refused answers.
func (c *Client) Refusals() Refusals {
	return Refusals{BadProof: c.refused.badProof.Load(), Forged: c.refused.forged.Load(), Stale: c.refused.stale.Load(),
		Unavailable: c.refused.unavailable.Load(), Failovers: c.refused.failovers.Load()}
}

type refusalCounts struct{ badProof, forged, stale, unavailable, failovers atomic.Int64 }

func (r *refusalCounts) count(err error) {
	switch {
	case errors.Is(err, ErrForged):
		r.forged.Add(1)
	case errors.Is(err, ErrStale):
		r.stale.Add(1)
	case errors.Is(err, ErrBadProof):
		r.badProof.Add(1)
	default:
		r.unavailable.Add(1)
	}
}

// committedAt raises the floor of fresh answers to a block that committed
// one of this client's transactions.
func (v *verifier) committedAt(h int64) {
	for {
		f := v.floor.Load()
		if h <= f || v.floor.CompareAndSwap(f, h) {
			return
		}
	}
}

// errNotYet: the node has no block at that height yet.
var errNotYet = errors.New("no block at that height yet")

// verifiedQuery asks the nodes in turn, from the current one, for a proved
// answer to path, whose state key is key, until one verifies.
func (c *Client) verifiedQuery(ctx context.Context, v *verifier, path string, key []byte) (uint32, []byte, string, error) {
	var last error
	for i := range c.nodes.len() {
		n, idx := c.nodes.current()
		code, value, log, err := c.verifyOn(ctx, v, n, path, key)
		if err == nil {
			return code, value, log, nil
		}
		if ctx.Err() != nil {
			return 0, nil, "", err
		}
		c.refused.count(err)
		c.log.Warn("ledger answer refused", "path", path, "node", idx, "err", err)
		last = err
		if i+1 < c.nodes.len() {
			c.refused.failovers.Add(1)
			c.nodes.failover(idx)
		}
	}
	return 0, nil, "", last
}

// verifyOn asks node n for a proved answer and verifies it.
func (c *Client) verifyOn(ctx context.Context, v *verifier, n Node, path string, key []byte) (uint32, []byte, string, error) {
	var p *Proved
	var err error
	switch pn := n.(type) {
	case Prover:
		p, err = pn.ProvedQuery(ctx, path)
	case RootAttester:
		p, err = pn.ProvedQuery(ctx, path)
	default:
		return 0, nil, "", fmt.Errorf("%w: query %s: the node cannot prove its answers", ErrBadProof, path)
	}
	if err != nil {
		return 0, nil, "", fmt.Errorf("query %s: %w", path, err)
	}
	switch p.Code {
	case 0, 1: // an answer, or chain.QueryNotFound
	default:
		return 0, nil, "", fmt.Errorf("query %s: %s", path, p.Log)
	}
	if len(p.Proof) == 0 || !bytes.Equal(p.Key, key) {
		return 0, nil, "", fmt.Errorf("%w: query %s: no proof of its key", ErrBadProof, path)
	}
	proof, err := statetree.DecodeProof(p.Proof)
	if err != nil {
		return 0, nil, "", fmt.Errorf("%w: query %s: %w", ErrBadProof, path, err)
	}
	var raw []byte
	if proof.Present {
		raw = proof.Value
	}
	want, aerr := ledger.Answer(path, raw)
	switch {
	case errors.Is(aerr, ledger.ErrNotFound):
		if p.Code != 1 {
			return 0, nil, "", fmt.Errorf("%w: query %s: an answer where the proof says absent", ErrForged, path)
		}
	case aerr != nil:
		return 0, nil, "", fmt.Errorf("%w: query %s: %w", ErrBadProof, path, aerr)
	case p.Code != 0 || !bytes.Equal(p.Value, want):
		return 0, nil, "", fmt.Errorf("%w: query %s: the answer is not the value its proof proves", ErrForged, path)
	}
	if err := v.fresh(p.Height); err != nil {
		return 0, nil, "", fmt.Errorf("query %s: %w", path, err)
	}
	if err := c.verifyState(ctx, v, n, p.Height, func(root [32]byte) error {
		if err := proof.Verify(root, key); err != nil {
			return fmt.Errorf("%w: %w", ErrBadProof, err)
		}
		return nil
	}); err != nil {
		return 0, nil, "", fmt.Errorf("query %s: %w", path, err)
	}
	return p.Code, want, p.Log, nil
}

// fresh refuses an answer of the state after block h older than what the
// client knows.
func (v *verifier) fresh(h int64) error {
	if v.o.MaxLag < 0 {
		return nil
	}
	if f := v.floor.Load(); h < f {
		return fmt.Errorf("%w: state of height %d, but this client's transaction committed at %d", ErrStale, h, f)
	}
	if v.lc != nil {
		if top := v.lc.Trusted().Height; h+1 < top-v.o.MaxLag {
			return fmt.Errorf("%w: state of height %d, header %d verified already (lag at most %d)", ErrStale, h, top, v.o.MaxLag)
		}
	}
	return nil
}

// verifyState finds the verified app hash of the state after block h and
// checks check against it: header h+1's, or header h's when the proof
// holds under it (block h changed nothing), waiting for block h+1 at most
// TrustOptions.Wait.
func (c *Client) verifyState(ctx context.Context, v *verifier, n Node, h int64, check func([32]byte) error) error {
	if v.lc == nil {
		ra, ok := n.(RootAttester)
		if !ok {
			return fmt.Errorf("%w: the node attests no roots", ErrBadProof)
		}
		root, t, err := ra.AppHash(ctx, h)
		if err != nil {
			return err
		}
		if err := v.young(t); err != nil {
			return err
		}
		return check(root)
	}
	pn, ok := n.(Prover)
	if !ok {
		return fmt.Errorf("%w: the node serves no signed headers", ErrBadProof)
	}
	// Header h+1 verified already, or header h under which the proof holds.
	if hd, ok := v.lc.Header(h + 1); ok {
		return v.against(hd, check)
	}
	if hd, ok := v.lc.Header(h); ok && h > 0 && check(appHashOf(hd)) == nil {
		return v.young(hd.Time)
	}
	deadline := v.o.Now().Add(v.o.Wait)
	delay := 5 * time.Millisecond
	for {
		c.mu.Lock()
		next := c.blocks // a block delivered (if the Client follows the chain) ends the wait
		c.mu.Unlock()
		hd, err := c.verifyHeader(ctx, v, pn, h+1)
		if err == nil {
			return v.against(hd, check)
		}
		if !errors.Is(err, errNotYet) {
			return err
		}
		if h > 0 {
			if hd, err := c.verifyHeader(ctx, v, pn, h); err == nil && check(appHashOf(hd)) == nil {
				return v.young(hd.Time)
			}
		}
		if !v.o.Now().Before(deadline) {
			return fmt.Errorf("%w: no header %d within %v", ErrStale, h+1, v.o.Wait)
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-next:
		case <-t.C:
		}
		t.Stop()
		delay = min(2*delay, 100*time.Millisecond)
	}
}

func appHashOf(h *lightclient.Header) (r [32]byte) {
	copy(r[:], h.AppHash)
	return r
}

// against checks check under a verified header's app hash.
func (v *verifier) against(hd *lightclient.Header, check func([32]byte) error) error {
	if len(hd.AppHash) != 32 {
		return fmt.Errorf("%w: header %d has an app hash of %d bytes", ErrBadProof, hd.Height, len(hd.AppHash))
	}
	if err := check(appHashOf(hd)); err != nil {
		return err
	}
	return v.young(hd.Time)
}

// young applies MaxAge.
func (v *verifier) young(t time.Time) error {
	if v.o.MaxAge > 0 && v.o.Now().Sub(t) > v.o.MaxAge {
		return fmt.Errorf("%w: header of %v, more than %v ago", ErrStale, t.UTC().Format(time.RFC3339), v.o.MaxAge)
	}
	return nil
}

// flight is one verification of a header that concurrent callers share.
type flight struct {
	done chan struct{}
	hd   *lightclient.Header
	err  error
}

// verifyHeader fetches and verifies header height from node n (errNotYet
// if the node has no such block yet) and saves the trust now and then.
// Concurrent calls for one height share one verification.
func (c *Client) verifyHeader(ctx context.Context, v *verifier, n Prover, height int64) (*lightclient.Header, error) {
	if hd, ok := v.lc.Header(height); ok {
		return hd, nil
	}
	c.mu.Lock()
	f, ok := c.flights[height]
	if !ok {
		f = &flight{done: make(chan struct{})}
		c.flights[height] = f
	}
	c.mu.Unlock()
	if ok {
		select {
		case <-f.done:
			return f.hd, f.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	f.hd, f.err = c.verifyHeaderOnce(ctx, v, n, height)
	c.mu.Lock()
	delete(c.flights, height)
	c.mu.Unlock()
	close(f.done)
	return f.hd, f.err
}

func (c *Client) verifyHeaderOnce(ctx context.Context, v *verifier, n Prover, height int64) (*lightclient.Header, error) {
	fetch := func(h int64) (*lightclient.SignedHeader, *lightclient.ValidatorSet, error) {
		b, err := n.Commit(ctx, h)
		if err != nil {
			if strings.Contains(err.Error(), "must be less than or equal to the current blockchain height") {
				return nil, nil, fmt.Errorf("%w: %v", errNotYet, err)
			}
			return nil, nil, err
		}
		sh, err := lightclient.DecodeCommit(b)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %w", ErrBadProof, err)
		}
		var pages []*lightclient.ValidatorsPage
		for page, got := 1, 0; ; page++ {
			b, err := n.Validators(ctx, h, page)
			if err != nil {
				return nil, nil, err
			}
			p, err := lightclient.DecodeValidators(b)
			if err != nil {
				return nil, nil, fmt.Errorf("%w: %w", ErrBadProof, err)
			}
			pages = append(pages, p)
			if got += len(p.Validators); got >= p.Total || page >= lightclient.MaxValidators/lightclient.MaxPerPage+1 {
				break
			}
		}
		vals, err := lightclient.JoinPages(pages...)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %w", ErrBadProof, err)
		}
		return sh, vals, nil
	}
	if height <= v.lc.Trusted().Height {
		return c.verifyBack(v, height, fetch)
	}
	sh, err := v.lc.VerifyTo(v.o.Now(), height, fetch)
	switch {
	case errors.Is(err, errNotYet):
		return nil, err
	case errors.Is(err, lightclient.ErrOldHeader) && height+1 < v.lc.Trusted().Height-v.o.MaxLag:
		return nil, fmt.Errorf("%w: header %d: %w", ErrStale, height, err)
	case err != nil && !errors.Is(err, ErrBadProof):
		if isLightclient(err) {
			return nil, fmt.Errorf("%w: header %d: %w", ErrBadProof, height, err)
		}
		return nil, fmt.Errorf("header %d: %w", height, err)
	case err != nil:
		return nil, err
	}
	v.maybeSave(c)
	return sh.Header, nil
}

// verifyBack verifies a header at or below the trusted height: down from
// the nearest verified one above it, each the parent of the next (answers
// at heights that others overtook while they waited).
func (c *Client) verifyBack(v *verifier, height int64, fetch lightclient.Fetch) (*lightclient.Header, error) {
	if hd, ok := v.lc.Header(height); ok {
		return hd, nil
	}
	top := v.lc.Trusted().Height
	k := height + 1
	for ; k <= top; k++ {
		if _, ok := v.lc.Header(k); ok {
			break
		}
		if k-height > max(v.o.MaxLag, 0)+1 {
			return nil, fmt.Errorf("%w: header %d, the trusted one is %d", ErrStale, height, top)
		}
	}
	if k > top {
		return nil, fmt.Errorf("%w: header %d, none verified above it", ErrStale, height)
	}
	var hd *lightclient.Header
	for j := k - 1; j >= height; j-- {
		sh, _, err := fetch(j)
		if err != nil {
			return nil, err
		}
		if err := v.lc.Verify(v.o.Now(), sh, nil); err != nil {
			return nil, fmt.Errorf("%w: header %d: %w", ErrBadProof, j, err)
		}
		hd = sh.Header
	}
	return hd, nil
}

// isLightclient reports whether err is a verification's refusal.
func isLightclient(err error) bool {
	for _, e := range []error{lightclient.ErrMalformed, lightclient.ErrUnsupportedKey, lightclient.ErrInvalidHeader,
		lightclient.ErrInvalidValidators, lightclient.ErrChainID, lightclient.ErrOldHeader, lightclient.ErrFromFuture,
		lightclient.ErrExpired, lightclient.ErrValidatorsHash, lightclient.ErrInvalidCommit, lightclient.ErrSignature,
		lightclient.ErrNotEnoughPower, lightclient.ErrNotEnoughTrust, lightclient.ErrConflict} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// saveEvery bounds how often the trusted state is written.
const saveEvery = 10 * time.Second

// maybeSave persists the trusted state if it moved and was not saved for
// saveEvery.
func (v *verifier) maybeSave(c *Client) {
	if v.o.Store == nil {
		return
	}
	t := v.lc.Trusted()
	if t.Height <= v.saved.Load() {
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	now := v.o.Now()
	if now.Sub(v.saveT) < saveEvery && v.saved.Load() > 0 {
		return
	}
	v.saveT = now
	if err := v.save(t); err != nil {
		c.log.Warn("save the trusted state", "err", err)
	}
}

func (v *verifier) save(t *lightclient.Trusted) error {
	b, err := t.MarshalBinary()
	if err != nil {
		return err
	}
	if err := v.o.Store.Save(b); err != nil {
		return err
	}
	v.saved.Store(t.Height)
	return nil
}

// SaveTrust persists the trusted state now (on Close too).
func (c *Client) SaveTrust() error {
	c.mu.Lock()
	v := c.verify
	c.mu.Unlock()
	if v == nil || v.lc == nil || v.o.Store == nil {
		return nil
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.save(v.lc.Trusted())
}

// TrustedHeight returns the height of the last header the Client verified
// (0 without Trust).
func (c *Client) TrustedHeight() int64 {
	c.mu.Lock()
	v := c.verify
	c.mu.Unlock()
	if v == nil || v.lc == nil {
		return 0
	}
	return v.lc.Trusted().Height
}

// decodeAnswer decodes a query's CBOR answer.
func decodeAnswer(path string, value []byte, v any) error {
	if err := codec.UnmarshalLimit(value, 64<<20, v); err != nil {
		return fmt.Errorf("query %s: %w", path, err)
	}
	return nil
}

// GenesisTrust returns the root of trust in a chain from its genesis file
// (CometBFT's genesis.json, or a node's answer to /genesis): its
// validators must sign the first block.
func GenesisTrust(genesisJSON []byte) (*lightclient.Trusted, error) {
	g, err := lightclient.DecodeGenesis(genesisJSON)
	if err != nil {
		return nil, err
	}
	return lightclient.TrustGenesis(g)
}

// Genesis returns the current node's genesis (CometBFT's /genesis), if it
// serves one over JSON-RPC. Trusting it trusts that node: a client that
// can, reads the genesis from a file instead.
func (c *Client) Genesis(ctx context.Context) ([]byte, error) {
	n, _ := c.nodes.current()
	g, ok := n.(interface {
		Genesis(context.Context) ([]byte, error)
	})
	if !ok {
		return nil, errors.New("the node serves no genesis")
	}
	return g.Genesis(ctx)
}
