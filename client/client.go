// Package client is how every other part of VitalChain talks to the ledger:
// it builds and signs transactions, submits them and waits for their commit,
// queries the state, and delivers the ledger's events (alerts for a
// provider, anchors, grants, revokes…) as they commit.
//
// It works over a Node: in process (package chain's) or over CometBFT's
// JSON-RPC on HTTP and a websocket against `vitalchain node` (Dial). It
// follows the chain through one subscription to new blocks, and fills any
// gap (a dropped event, a reconnect) by fetching the missed blocks, so a
// waiter or subscriber never misses a committed transaction. The package
// links nothing of CometBFT, so that a small program that uses it (the
// patient's gateway) stays small.
//
// # Verified answers
//
// A node's RPC is trusted for nothing. Told what to trust (Trust: the
// chain's genesis, GenesisTrust, or a header known out of band), a Client
// verifies every answer to a query of one key (ledger.StateKey) before it
// returns it: it asks with prove=true, checks that the node's value is the
// one the proof carries (ErrForged if not), fetches /commit and
// /validators at the answer's height + 1 and verifies the header with
// package lightclient (CometBFT's light-client rules: more than 2/3 of the
// validators signed, reached from the trusted header by adjacent or
// skipping verification), and checks the proof against the header's app
// hash (ErrBadProof). The answer of height h needs header h+1, which
// CometBFT makes right after a block that changed the state; until it
// comes, the answer checks against header h if block h changed nothing,
// else the Client waits for it (TrustOptions.Wait). An answer of a state
// older than a header the Client verified (beyond TrustOptions.MaxLag) or
// than a block that committed one of its own transactions is ErrStale.
// A refused answer is counted (Refusals) and the Client asks its next node
// (Dial of several addresses, NewMulti); the trusted state is kept in a
// TrustStore across restarts. Listings (grants/, contracts/, record3/,
// cluster/) are answered unverified: callers re-read an entry they act on
// by its own key. Events and blocks that the Client follows are not
// verified either: a party that acts on an event reads the state it names.
package client

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/vitalchain/vitalchain/ledger"
)

// Errors of the client.
var (
	ErrNotFound = errors.New("not found")
	// ErrForged: a node answered something that does not certify itself
	// (a member whose key is not the one its ID names).
	ErrForged = errors.New("forged answer")
	ErrClosed = errors.New("client closed")
)

// Committed is a transaction's result in a committed block.
type Committed struct {
	Hash   [32]byte
	Height int64
	Code   ledger.Code
	Log    string
	Events []ledger.Event
	Time   time.Time // the block's time
}

// Err returns the rejection as a *ledger.Error, or nil if the transaction
// succeeded. Submit returns only successful commits, whose Err is nil.
func (c *Committed) Err() error {
	if c.Code == ledger.CodeOK {
		return nil
	}
	return rejection(c.Code, c.Log)
}

// rejection is the *ledger.Error of a refused transaction. The node's log
// already names the code ("duplicate: …"): it is not named twice.
func rejection(code ledger.Code, log string) *ledger.Error {
	return &ledger.Error{Code: code, Err: errors.New(strings.TrimPrefix(log, code.String()+": "))}
}

// RejectedError is Submit's error for a transaction its block refused: the
// ledger's *ledger.Error, which it unwraps to, and the block's height.
type RejectedError struct {
	Height int64
	Err    *ledger.Error
}

func (e *RejectedError) Error() string {
	return fmt.Sprintf("refused in block %d: %v", e.Height, e.Err)
}

func (e *RejectedError) Unwrap() error { return e.Err }

// Event is a ledger event from a committed transaction.
type Event struct {
	ledger.Event
	Height int64
	TxHash [32]byte
	Time   time.Time
}

// Attr returns the first value of the event's attribute k.
func (e Event) Attr(k string) string {
	for _, a := range e.Attrs {
		if a.Key == k {
			return a.Value
		}
	}
	return ""
}

// Has reports whether the event has attribute k with value v.
func (e Event) Has(k, v string) bool {
	for _, a := range e.Attrs {
		if a.Key == k && a.Value == v {
			return true
		}
	}
	return false
}

// Client talks to the ledger through a node, and turns to the next of its
// nodes when one fails or answers what does not verify.
type Client struct {
	node  Node     // nodes, through the current one
	nodes *nodeSet // the nodes, the current one first
	log   *slog.Logger

	refused refusalCounts
	life    context.Context // ends at Close
	end     context.CancelFunc

	// c.mu is never held across a call to the node.
	mu       sync.Mutex
	waiters  map[[32]byte][]chan *Committed
	subs     map[int]*subscription
	nextSub  int
	height   int64     // the last block delivered
	handed   int64     // the last block whose outcomes deliver has handed to their waiters
	chainID  string    // the node's chain, once known
	starting *starting // the attempt to follow the chain under way, if any
	started  bool      // following: the loop runs until Close
	closed   bool
	verify   *verifier     // nil: answers are not verified (see Trust)
	tofu     *TrustOptions // TrustOnFirstUse's, until the first verified query
	blocks   chan struct{} // closed when a block is delivered (then replaced)
	flights  map[int64]*flight
	done     chan struct{} // closed when the loop returns
	kick     chan struct{} // asks the loop to catch up now

	// rebroadcast is how long Submit waits before it sends a transaction
	// again, to learn whether the mempool dropped it.
	rebroadcast time.Duration
}

// starting is an attempt to start following the chain; err is set before
// done is closed.
type starting struct {
	done chan struct{}
	err  error
}

type subscription struct {
	filter func(Event) bool
	ch     chan Event
}

// New returns a client over a node (for example chain.Node.Local's, in
// process), or several of the same chain (NewMulti).
func New(node Node, log *slog.Logger) *Client { return NewMulti([]Node{node}, log) }

// NewMulti returns a client over several nodes of one chain: it talks to
// the first until it fails or answers what does not verify (Trust), then
// to the next.
func NewMulti(nodes []Node, log *slog.Logger) *Client {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	life, end := context.WithCancel(context.Background())
	ns := &nodeSet{nodes: nodes}
	return &Client{node: ns, nodes: ns, log: log, blocks: make(chan struct{}), flights: map[int64]*flight{}, life: life, end: end, waiters: map[[32]byte][]chan *Committed{}, subs: map[int]*subscription{},
		done: make(chan struct{}), kick: make(chan struct{}, 1), rebroadcast: 3 * time.Second}
}

// Dial returns a client of a node's RPC address (http://host:port,
// https://host:port or tcp://host:port), or of several separated by
// commas (see NewMulti), over CometBFT's JSON-RPC on HTTP and a websocket.
// It contacts a node only when first used.
func Dial(addr string, log *slog.Logger, opts ...NodeOption) (*Client, error) {
	var nodes []Node
	for _, a := range strings.Split(addr, ",") {
		if a = strings.TrimSpace(a); a == "" {
			continue
		}
		n, err := NewHTTPNode(a, log, opts...)
		if err != nil {
			return nil, fmt.Errorf("dial: %w", err)
		}
		nodes = append(nodes, n)
	}
	if len(nodes) == 0 {
		return nil, fmt.Errorf("dial: no node address in %q", addr)
	}
	return NewMulti(nodes, log), nil
}

// Close stops following the chain, and ends an attempt to start under
// way. Submit and Subscribe return ErrClosed afterwards.
func (c *Client) Close() error {
	c.mu.Lock()
	c.closed = true
	started := c.started
	c.mu.Unlock()
	c.end()
	if started {
		<-c.done
	}
	return c.SaveTrust()
}

// follow returns once the client follows the chain. The first caller
// starts an attempt bounded by its ctx; callers meanwhile wait for it, or
// for their own ctx. A failed attempt is made again by the next caller,
// and by those that waited for another's.
func (c *Client) follow(ctx context.Context) error {
	for {
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return ErrClosed
		}
		if c.started {
			c.mu.Unlock()
			return nil
		}
		s, mine := c.starting, false
		if s == nil {
			s, mine = &starting{done: make(chan struct{})}, true
			c.starting = s
			go c.start(ctx, s)
		}
		c.mu.Unlock()
		select {
		case <-s.done:
			if mine && s.err != nil {
				return s.err
			}
		case <-ctx.Done():
			return fmt.Errorf("follow the chain: %w", ctx.Err())
		case <-c.life.Done():
			return ErrClosed
		}
	}
}

// start is an attempt to follow the chain. Its calls to the node end with
// ctx (its first caller's) or Close; the loop it starts lives until Close.
func (c *Client) start(ctx context.Context, s *starting) {
	life, stop := context.WithCancel(c.life)
	abort := context.AfterFunc(ctx, stop)
	h, err := c.node.Height(life)
	if err != nil {
		err = fmt.Errorf("follow the chain: node height: %w", err)
	}
	var ch <-chan *Block
	if err == nil {
		if ch, err = c.node.NewBlocks(life); err != nil {
			err = fmt.Errorf("follow the chain: %w", err)
		}
	}
	if !abort() {
		err = fmt.Errorf("follow the chain: %w", ctx.Err())
	}
	c.mu.Lock()
	if c.closed {
		err = ErrClosed
	}
	c.starting, s.err = nil, err
	if err == nil {
		c.height, c.handed, c.started = h, h, true
		go c.loop(life, ch)
	}
	c.mu.Unlock()
	if err != nil {
		stop() // the node closes ch, if any
	}
	close(s.done)
}

func (c *Client) loop(ctx context.Context, ch <-chan *Block) {
	defer close(c.done)
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			if ch != nil {
				for range ch { // the node closes it
				}
			}
			return
		case b, ok := <-ch:
			if !ok {
				ch = nil // the node gave up; the ticker follows the chain
				continue
			}
			c.catchUp(ctx, b.Height-1)
			c.deliver(b)
		case <-c.kick:
			if h, err := c.node.Height(ctx); err == nil {
				c.catchUp(ctx, h)
			}
		case <-tick.C:
			// A dropped event or a lost websocket shows as a gap: fill it.
			if h, err := c.node.Height(ctx); err == nil {
				c.catchUp(ctx, h)
			}
		}
	}
}

// catchUp delivers every block after the last delivered one up to height.
func (c *Client) catchUp(ctx context.Context, height int64) {
	for {
		c.mu.Lock()
		next := c.height + 1
		c.mu.Unlock()
		if next > height {
			return
		}
		b, err := c.node.Block(ctx, next)
		if err != nil {
			c.log.Debug("fetch missed block", "height", next, "err", err)
			return
		}
		c.deliver(b)
	}
}

// deliver hands a block's results to waiters and subscribers, once per height.
func (c *Client) deliver(b *Block) {
	c.mu.Lock()
	if b.Height <= c.height {
		c.mu.Unlock()
		return
	}
	c.height = b.Height
	close(c.blocks) // wakes whoever waits for a new block
	c.blocks = make(chan struct{})
	subs := make([]*subscription, 0, len(c.subs))
	for _, s := range c.subs {
		subs = append(subs, s)
	}
	c.mu.Unlock()
	for i, tx := range b.Txs {
		if i >= len(b.Results) {
			break
		}
		r := b.Results[i]
		if ledger.Code(r.Code) == ledger.CodeOverCap {
			continue // not an outcome: it used up nothing, and Submit sends it again
		}
		cm := &Committed{Hash: sha256.Sum256(tx), Height: b.Height, Code: ledger.Code(r.Code), Log: r.Log, Time: b.Time, Events: r.Events}
		c.mu.Lock()
		ws := c.waiters[cm.Hash]
		delete(c.waiters, cm.Hash)
		c.mu.Unlock()
		for _, w := range ws {
			w <- cm
		}
		if cm.Code != ledger.CodeOK {
			continue
		}
		for _, le := range cm.Events {
			ev := Event{Event: le, Height: b.Height, TxHash: cm.Hash, Time: b.Time}
			for _, s := range subs {
				if s.filter(ev) {
					s.ch <- ev
				}
			}
		}
	}
	c.mu.Lock()
	c.handed = b.Height
	c.mu.Unlock()
}

// Subscribe delivers, in commit order, every event of a successful
// transaction that filter accepts, from the next block on, until ctx ends.
// The channel is closed then. A subscriber that does not keep up holds up
// the others: read promptly. If ctx ends before the client follows the
// chain, Subscribe returns ctx's error.
func (c *Client) Subscribe(ctx context.Context, filter func(Event) bool) (<-chan Event, error) {
	if err := c.follow(ctx); err != nil {
		return nil, err
	}
	s := &subscription{filter: filter, ch: make(chan Event, 4096)}
	c.mu.Lock()
	id := c.nextSub
	c.nextSub++
	c.subs[id] = s
	c.mu.Unlock()
	out := make(chan Event, 4096)
	go func() {
		defer close(out)
		for {
			select {
			case <-ctx.Done():
				c.mu.Lock()
				delete(c.subs, id)
				c.mu.Unlock()
				for { // drain so that deliver never blocks on a gone subscriber
					select {
					case <-s.ch:
					default:
						return
					}
				}
			case ev := <-s.ch:
				select {
				case out <- ev:
				case <-ctx.Done():
				}
			}
		}
	}()
	return out, nil
}

// Type returns a filter for events of the given type whose attributes
// include every key-value pair given (as k1, v1, k2, v2…).
func Type(typ string, kv ...string) func(Event) bool {
	return func(e Event) bool {
		if e.Type != typ {
			return false
		}
		for i := 0; i+1 < len(kv); i += 2 {
			if !e.Has(kv[i], kv[i+1]) {
				return false
			}
		}
		return true
	}
}

// Broadcast sends a transaction to the node's mempool and returns its hash
// once it passed CheckTx; a rejection is a *ledger.Error.
func (c *Client) Broadcast(ctx context.Context, tx []byte) ([32]byte, error) {
	code, log, err := c.node.BroadcastTx(ctx, tx)
	if err != nil {
		return [32]byte{}, fmt.Errorf("broadcast: %w", err)
	}
	if code != 0 {
		return [32]byte{}, rejection(ledger.Code(code), log)
	}
	return sha256.Sum256(tx), nil
}

// Submit broadcasts a transaction and waits for the block that commits it.
// It returns either the commit of a successful transaction or an error,
// never both. A transaction refused in CheckTx, in its block, or dropped
// from the mempool gives a *ledger.Error (check with errors.Is(err,
// ledger.Rejected(code)) or errors.As); a refusal in its block is a
// *RejectedError that carries the block's height. A transaction over its
// signer's cap (ledger.CodeOverCap), in CheckTx or in its block, is sent
// again until it commits or ctx ends. The end of ctx gives ctx's error,
// and Close ErrClosed.
func (c *Client) Submit(ctx context.Context, tx []byte) (*Committed, error) {
	if err := c.follow(ctx); err != nil {
		return nil, err
	}
	h := sha256.Sum256(tx)
	w := make(chan *Committed, 1)
	c.mu.Lock()
	c.waiters[h] = append(c.waiters[h], w)
	c.mu.Unlock()
	forget := func() {
		c.mu.Lock()
		ws := c.waiters[h]
		for i, x := range ws {
			if x == w {
				c.waiters[h] = append(ws[:i], ws[i+1:]...)
				break
			}
		}
		if len(c.waiters[h]) == 0 {
			delete(c.waiters, h)
		}
		c.mu.Unlock()
	}
	if _, err := c.Broadcast(ctx, tx); err != nil && !strings.Contains(err.Error(), errTxInCache) && !overCap(err) {
		forget()
		return nil, err
	}
	// A transaction the node already has (sent again through another node,
	// or retried) is waited for like a new one.
	//
	// A transaction in the mempool may yet be dropped from it: CometBFT
	// checks the mempool again after each block, and tells nobody. So
	// Submit sends it again now and then: the node answers that it has it,
	// or takes it back, or refuses it, and then, unless the refusal is
	// because it has just been committed, Submit returns the refusal.
	//
	// A transaction over its signer's cap (ledger.CodeOverCap: the signer
	// has its window's worth waiting in the node's mempool, or had its share
	// of a block) used up nothing: Submit sends it again, until ctx ends
	// (deliver does not count such a block as its outcome).
	t := time.NewTicker(c.rebroadcast)
	defer t.Stop()
	for {
		select {
		case cm := <-w:
			return c.outcome(cm)
		case <-ctx.Done():
			forget()
			return nil, fmt.Errorf("wait for commit of %x: %w", h[:8], ctx.Err())
		case <-c.life.Done():
			forget()
			return nil, ErrClosed
		case <-t.C:
		}
		_, err := c.Broadcast(ctx, tx)
		var le *ledger.Error
		if err == nil || !errors.As(err, &le) || le.Code == ledger.CodeOverCap {
			continue // back in the mempool, still there, the node unreachable, or no room yet
		}
		if cm, ok := c.settle(ctx, w); ok {
			return c.outcome(cm)
		}
		forget()
		return nil, fmt.Errorf("dropped from the mempool: %w", err)
	}
}

// overCap reports whether err is a refusal for being over the signer's
// cap, which a later try may pass.
func overCap(err error) bool { return errors.Is(err, ledger.Rejected(ledger.CodeOverCap)) }

// outcome is Submit's answer for a commit.
func (c *Client) outcome(cm *Committed) (*Committed, error) {
	c.mu.Lock()
	v := c.verify
	c.mu.Unlock()
	if v != nil {
		v.committedAt(cm.Height) // read your writes: older answers are stale
	}
	if cm.Code != ledger.CodeOK {
		return nil, &RejectedError{Height: cm.Height, Err: rejection(cm.Code, cm.Log)}
	}
	return cm, nil
}

// settle waits until the client has delivered every block the node has
// committed, and returns the commit w got, if any.
func (c *Client) settle(ctx context.Context, w chan *Committed) (*Committed, bool) {
	h, err := c.node.Height(ctx)
	for err == nil {
		select {
		case c.kick <- struct{}{}:
		default:
		}
		// Handed, not only delivered: deliver counts a block delivered
		// before it gives its outcomes to their waiters.
		c.mu.Lock()
		done := c.handed >= h
		c.mu.Unlock()
		if done {
			break
		}
		select {
		case <-ctx.Done():
			err = ctx.Err()
		case <-c.life.Done():
			err = ErrClosed
		case <-time.After(20 * time.Millisecond):
		}
	}
	select {
	case cm := <-w:
		return cm, true
	default:
		return nil, false
	}
}

// Query runs a ledger query (see ledger.Query) and decodes its CBOR answer
// into v. A missing key is ErrNotFound. With Trust, the answer to a query of
// one key is verified (its absence too), and a node whose answer does not
// verify is refused (ErrBadProof, ErrForged, ErrStale) and the next one
// asked; a listing (ledger.ErrNotProvable) is answered unverified.
func (c *Client) Query(ctx context.Context, path string, v any) error {
	c.mu.Lock()
	ver, tofu := c.verify, c.tofu
	c.mu.Unlock()
	var (
		code  uint32
		value []byte
		log   string
		err   error
	)
	key, kerr := ledger.StateKey(path)
	if ver == nil && tofu != nil && kerr == nil {
		if ver, err = c.trustNow(ctx, *tofu); err != nil {
			return fmt.Errorf("query %s: %w", path, err)
		}
	}
	if ver != nil && kerr == nil {
		code, value, log, err = c.verifiedQuery(ctx, ver, path, key)
	} else {
		code, value, log, err = c.node.Query(ctx, path)
	}
	if err != nil {
		return fmt.Errorf("query %s: %w", path, err)
	}
	switch code {
	case 0:
	case 1: // chain.QueryNotFound
		return fmt.Errorf("%w: %s", ErrNotFound, path)
	default:
		return fmt.Errorf("query %s: %s", path, log)
	}
	return decodeAnswer(path, value, v)
}

// Verified reports whether the Client verifies answers (Trust,
// TrustOnFirstUse, TrustNodeRoots).
func (c *Client) Verified() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.verify != nil || c.tofu != nil
}

// Height returns the latest committed height.
func (c *Client) Height(ctx context.Context) (int64, error) {
	return c.node.Height(ctx)
}
