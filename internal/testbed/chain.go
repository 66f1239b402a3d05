package testbed

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/vitalchain/vitalchain/chain"
	"github.com/vitalchain/vitalchain/client"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/ledger"
)

// ChainOptions configure StartChain.
type ChainOptions struct {
	Nodes   int    // authorities, each the head of the cluster of its number (default 4)
	Standby int    // standby nodes: full nodes with authority keys, not in genesis
	Dir     string // the nodes' homes
	// BlockInterval is CometBFT's timeout_commit (default 100 ms).
	BlockInterval time.Duration
	NoEmptyBlocks bool
	Params        ledger.Params // zero: ledger.DefaultParams()
	Log           *slog.Logger
}

// Chain is a network of authorities in this process, with a client of each
// node. Its methods are safe for concurrent use.
type Chain struct {
	Net *chain.LocalNet

	mu      sync.Mutex
	clients []*client.Client // nil where the node is stopped
	signers map[identity.ID]*client.Signer
}

// StartChain starts the network and waits for its first block.
func StartChain(ctx context.Context, o ChainOptions) (*Chain, error) {
	if o.Nodes == 0 {
		o.Nodes = 4
	}
	if o.BlockInterval == 0 {
		o.BlockInterval = 100 * time.Millisecond
	}
	ln, err := chain.StartLocal(ctx, chain.TestnetOptions{Nodes: o.Nodes, Standby: o.Standby, Dir: o.Dir,
		BlockInterval: o.BlockInterval, NoEmptyBlocks: o.NoEmptyBlocks, Params: o.Params}, o.Log)
	if err != nil {
		return nil, fmt.Errorf("start the chain: %w", err)
	}
	c := &Chain{Net: ln, signers: map[identity.ID]*client.Signer{}}
	root, err := ln.Testnet.TrustRoot()
	if err != nil {
		ln.Stop()
		return nil, err
	}
	for _, n := range ln.Nodes {
		// Every client verifies the answers it gets against the genesis.
		cl := client.New(n.Local(), o.Log)
		if err := cl.Trust(root, client.TrustOptions{}); err != nil {
			ln.Stop()
			return nil, err
		}
		c.clients = append(c.clients, cl)
	}
	return c, nil
}

// Client returns the client of node i (nil if the node is stopped).
func (c *Chain) Client(i int) *client.Client {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.clients[i]
}

// Clients returns the clients of nodes from..to-1, all running.
func (c *Chain) Clients(from, to int) []*client.Client {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*client.Client, 0, to-from)
	for _, cl := range c.clients[from:to] {
		if cl != nil {
			out = append(out, cl)
		}
	}
	return out
}

// Head returns the genesis authority of a cluster: node cluster-1's.
func (c *Chain) Head(cluster uint32) *identity.Identity { return c.Net.Testnet.Authorities[cluster-1] }

// Signer returns key's signer, one per key, through node 0.
func (c *Chain) Signer(ctx context.Context, key *identity.SigningKey) (*client.Signer, error) {
	id := key.Public().ID()
	c.mu.Lock()
	s, ok := c.signers[id]
	cl := c.clients[0]
	c.mu.Unlock()
	if ok {
		return s, nil
	}
	s, err := cl.Signer(ctx, key)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if s2, ok := c.signers[id]; ok {
		return s2, nil
	}
	c.signers[id] = s
	return s, nil
}

// Submit signs body with key, submits it through node 0, and returns once
// every running node has committed it.
func (c *Chain) Submit(ctx context.Context, key *identity.SigningKey, body ledger.Body) (*client.Committed, error) {
	s, err := c.Signer(ctx, key)
	if err != nil {
		return nil, err
	}
	cm, err := s.Submit(ctx, body)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", body.TxType(), err)
	}
	return cm, c.Sync(ctx, cm.Height)
}

// Sync waits until every running node has committed height h. (It holds
// the lock StopNode takes: LocalNet's nodes must not change under it.)
func (c *Chain) Sync(ctx context.Context, h int64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.Net.WaitHeight(ctx, h)
}

// Admit registers id in cluster (its head admits it), or, for a device, as
// patient's wearable (the patient admits it). consensus is an
// authority-eligible member's consensus key, else nil.
func (c *Chain) Admit(ctx context.Context, id *identity.Identity, cluster uint32, patient *identity.Identity, consensus []byte) error {
	by := patient
	var pid identity.ID
	if id.Role() == identity.RoleDevice {
		pid = patient.ID()
	} else {
		by = c.Head(cluster)
	}
	r, err := ledger.NewRegister(id, cluster, pid, consensus)
	if err != nil {
		return err
	}
	_, err = c.Submit(ctx, by.Signing, r)
	return err
}

// Register generates an actor of role (suite for patients and providers;
// the others use X25519) and admits it to cluster.
func (c *Chain) Register(ctx context.Context, role identity.Role, suite identity.Suite, cluster uint32) (*identity.Identity, error) {
	if role != identity.RolePatient && role != identity.RoleProvider {
		suite = identity.SuiteX25519
	}
	id, err := identity.Generate(role, suite)
	if err != nil {
		return nil, err
	}
	return id, c.Admit(ctx, id, cluster, nil, nil)
}

// StopNode stops node i, closing its client first: nothing may read a
// stopped node's databases.
func (c *Chain) StopNode(i int) error {
	c.mu.Lock()
	cl, n := c.clients[i], c.Net.Nodes[i]
	c.clients[i], c.Net.Nodes[i] = nil, nil
	c.mu.Unlock()
	if cl != nil {
		cl.Close()
	}
	if n == nil {
		return nil
	}
	return n.Stop()
}

// Height returns node 0's height.
func (c *Chain) Height(ctx context.Context) (int64, error) { return c.Client(0).Height(ctx) }

// BlockStats are figures of a range of blocks.
type BlockStats struct {
	Bytes   int64         // the blocks' sizes, headers and commits included
	MaxGap  time.Duration // the longest time between two consecutive blocks
	Blocks  int
	WithTxs int // blocks with transactions
	Txs     int
}

// Blocks measures the blocks in (from, to] as node 0 has them.
func (c *Chain) Blocks(ctx context.Context, from, to int64) (BlockStats, error) {
	var st BlockStats
	var last time.Time
	c.mu.Lock()
	n := c.Net.Nodes[0]
	c.mu.Unlock()
	if n == nil {
		return st, fmt.Errorf("node 0 is stopped")
	}
	rpc := n.RPC()
	for lo := from + 1; lo <= to; lo += 20 {
		hi := min(lo+19, to)
		res, err := rpc.BlockchainInfo(ctx, lo, hi)
		if err != nil {
			return st, err
		}
		for k := len(res.BlockMetas) - 1; k >= 0; k-- { // newest first
			m := res.BlockMetas[k]
			st.Bytes += int64(m.BlockSize)
			st.Blocks++
			st.Txs += m.NumTxs
			if m.NumTxs > 0 {
				st.WithTxs++
			}
			if !last.IsZero() {
				st.MaxGap = max(st.MaxGap, m.Header.Time.Sub(last))
			}
			last = m.Header.Time
		}
	}
	return st, nil
}

// Stop closes the clients and stops every running node.
func (c *Chain) Stop() {
	c.mu.Lock()
	cls := c.clients
	c.clients = make([]*client.Client, len(cls))
	c.mu.Unlock()
	for _, cl := range cls {
		if cl != nil {
			cl.Close()
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.Net.Stop()
}
