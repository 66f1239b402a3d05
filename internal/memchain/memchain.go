// Package memchain is a ledger in memory for tests: the real state machine
// (package ledger) behind a client.Node, with no CometBFT, no consensus and
// no network. Every transaction that passes CheckTx is committed at once in
// a block of its own, so that a test that needs a ledger but not a chain
// (the gateway's reading path, say) runs in milliseconds.
//
// It is not a chain: one process holds it, nothing is durable, and blocks
// are made on demand. Use package chain's LocalNet for what consensus does.
package memchain

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/vitalchain/vitalchain/client"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/ledger"
	"github.com/vitalchain/vitalchain/statetree"
)

// ErrStopped is returned by a stopped Chain.
var ErrStopped = errors.New("memchain: stopped")

// ChainID is the chain ID of every Chain: what its transactions sign.
const ChainID = "vitalchain-memchain"

// Query codes, as package chain answers them (client.Query reads them).
const (
	queryNotFound = 1
	queryBad      = 2
	queryFailed   = 3
)

// Chain is a ledger in memory; it implements client.Node.
type Chain struct {
	m   *ledger.Machine
	now func() time.Time

	mu      sync.Mutex
	st      ledger.MemStore
	tree    *statetree.Tree // commits st, as package chain's does: its root is appHash
	height  int64
	appHash [32]byte
	blocks  []*client.Block // blocks[i] is at height i+1
	roots   [][32]byte      // roots[h]: the app hash after block h
	subs    map[chan *client.Block]struct{}
	stopped bool
}

var _ client.RootAttester = (*Chain)(nil)

// Authority is one of a Chain's genesis authorities: its identity and the
// cluster it heads.
type Authority struct {
	*identity.Identity
	Cluster uint32
}

// New starts a chain whose genesis has n authorities, each heading the
// cluster of its number (1 to n), with params (zero: the defaults). Block
// times come from now (nil: time.Now).
func New(n int, params ledger.Params, now func() time.Time) (*Chain, []Authority, error) {
	if now == nil {
		now = time.Now
	}
	if params == (ledger.Params{}) {
		params = ledger.DefaultParams()
	}
	g := &ledger.Genesis{Params: params}
	var auths []Authority
	for i := range n {
		id, err := identity.Generate(identity.RoleAuthority, identity.SuiteX25519)
		if err != nil {
			return nil, nil, err
		}
		consensus := sha256.Sum256(append([]byte("memchain consensus key "), id.Signing.Public().Bytes()...))
		g.Authorities = append(g.Authorities, ledger.GenesisAuthority{Name: fmt.Sprintf("authority%d", i),
			Key: id.Signing.Public().String(), Consensus: consensus[:], Cluster: uint32(i + 1)})
		auths = append(auths, Authority{Identity: id, Cluster: uint32(i + 1)})
	}
	c := &Chain{m: ledger.NewMachine(), now: now, st: ledger.MemStore{}, tree: statetree.NewMemory(), subs: map[chan *client.Block]struct{}{}}
	res, err := c.m.InitChain(c.st, c.tree, ChainID, g, now())
	if err != nil {
		return nil, nil, err
	}
	c.st.Apply(res.Writes)
	if err := c.tree.Commit(); err != nil {
		return nil, nil, err
	}
	c.appHash = res.AppHash
	c.roots = append(c.roots, res.AppHash)
	return c, auths, nil
}

// Stop ends every subscription; later calls fail with ErrStopped.
func (c *Chain) Stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return
	}
	c.stopped = true
	for ch := range c.subs {
		close(ch)
		delete(c.subs, ch)
	}
}

// Height implements client.Node.
func (c *Chain) Height(context.Context) (int64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return 0, ErrStopped
	}
	return c.height, nil
}

// BroadcastTx implements client.Node: CheckTx, then, if it passes, a block
// of its own, committed before BroadcastTx returns.
func (c *Chain) BroadcastTx(_ context.Context, tx []byte) (uint32, string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return 0, "", ErrStopped
	}
	if _, err := c.m.CheckTx(c.st, tx); err != nil {
		return uint32(ledger.CodeOf(err)), err.Error(), nil
	}
	if err := c.commit([][]byte{tx}); err != nil {
		return 0, "", err
	}
	return 0, "", nil
}

// commit executes and commits one block of txs. c.mu is held.
func (c *Chain) commit(txs [][]byte) error {
	h := c.height + 1
	t := c.now().UTC().Truncate(time.Millisecond)
	res, err := c.m.Execute(c.st, c.tree, ledger.Block{Height: h, Time: t, Txs: txs})
	if err != nil {
		return fmt.Errorf("memchain: block %d: %w", h, err)
	}
	c.st.Apply(res.Writes)
	if err := c.tree.Commit(); err != nil {
		return fmt.Errorf("memchain: block %d: %w", h, err)
	}
	c.height, c.appHash = h, res.AppHash
	c.roots = append(c.roots, res.AppHash)
	c.m.Committed() // nothing waits: every transaction is committed at once
	b := &client.Block{Height: h, Time: t, Txs: txs}
	for _, r := range res.TxResults {
		b.Results = append(b.Results, client.TxResult{Code: uint32(r.Code), Log: r.Log, Events: r.Events})
	}
	c.blocks = append(c.blocks, b)
	for ch := range c.subs {
		select {
		case ch <- b:
		default: // a slow reader: the client fills the gap with Block
		}
	}
	return nil
}

// Query implements client.Node.
func (c *Chain) Query(_ context.Context, path string) (uint32, []byte, string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return 0, nil, "", ErrStopped
	}
	code, value, log := c.query(path)
	return code, value, log, nil
}

// query answers path. c.mu is held.
func (c *Chain) query(path string) (uint32, []byte, string) {
	v, err := ledger.Query(c.st, path)
	switch {
	case err == nil:
		return 0, v, ""
	case errors.Is(err, ledger.ErrNotFound):
		return queryNotFound, nil, err.Error()
	case errors.Is(err, ledger.ErrBadQuery):
		return queryBad, nil, err.Error()
	}
	return queryFailed, nil, err.Error()
}

// ProvedQuery implements client.RootAttester: the answer with the proof
// of its state key (none for a listing), as package chain answers.
func (c *Chain) ProvedQuery(_ context.Context, path string) (*client.Proved, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return nil, ErrStopped
	}
	code, value, log := c.query(path)
	p := &client.Proved{Code: code, Value: value, Log: log, Height: c.height}
	if code == queryBad || code == queryFailed {
		return p, nil
	}
	k, err := ledger.StateKey(path)
	if errors.Is(err, ledger.ErrNotProvable) {
		return p, nil
	}
	if err != nil {
		return nil, err
	}
	raw, _ := c.st.Get(k)
	proof, err := c.tree.Prove(k, raw, raw != nil)
	if err != nil {
		return nil, err
	}
	if p.Proof, err = proof.Encode(); err != nil {
		return nil, err
	}
	p.Key = k
	return p, nil
}

// AppHash implements client.RootAttester: the root of the state after
// block height, and the block's time.
func (c *Chain) AppHash(_ context.Context, height int64) ([32]byte, time.Time, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if height < 0 || height > c.height {
		return [32]byte{}, time.Time{}, fmt.Errorf("memchain: no block at height %d (height %d)", height, c.height)
	}
	var t time.Time
	if height > 0 {
		t = c.blocks[height-1].Time
	}
	return c.roots[height], t, nil
}

// Block implements client.Node.
func (c *Chain) Block(_ context.Context, height int64) (*client.Block, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if height < 1 || height > c.height {
		return nil, fmt.Errorf("memchain: no block at height %d (height %d)", height, c.height)
	}
	return c.blocks[height-1], nil
}

// NewBlocks implements client.Node.
func (c *Chain) NewBlocks(ctx context.Context) (<-chan *client.Block, error) {
	ch := make(chan *client.Block, 64)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return nil, ErrStopped
	}
	c.subs[ch] = struct{}{}
	go func() {
		<-ctx.Done()
		c.mu.Lock()
		defer c.mu.Unlock()
		if _, ok := c.subs[ch]; ok {
			delete(c.subs, ch)
			close(ch)
		}
	}()
	return ch, nil
}
