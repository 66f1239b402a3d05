package faults

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/vitalchain/vitalchain/client"
	"github.com/vitalchain/vitalchain/envelope"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/ledger"
	"github.com/vitalchain/vitalchain/merklelog"
	"github.com/vitalchain/vitalchain/vital"
)

// The light load every scenario runs throughout: the demo's anchoring (a
// cloud anchors a block of its log every 1.25 s) and patients' grants.
const (
	anchorEvery    = 1250 * time.Millisecond
	grantEvery     = time.Second
	loadPatients   = 4
	loadProviders  = 2
	leavesPerBlock = 64
	// submitTimeout bounds the wait for one transaction's commit: longer
	// than any fault, so that what was submitted during one is
	// acknowledged after the heal.
	submitTimeout = 40 * time.Second
)

// ack is a transaction whose commit a node acknowledged.
type ack struct {
	Hash    [32]byte
	Height  int64
	Kind    string // anchor or grant
	Sent    time.Time
	Latency time.Duration
}

// load submits the light load through the nodes' RPC, each actor through
// a node of its own, moving to the next when its node does not answer.
type load struct {
	clients []*client.Client // one per node the load may use
	cloud   *anchorer
	pats    []*granter

	mu       sync.Mutex
	acks     []ack
	unknown  int // submitted, and neither acknowledged nor refused (a timeout, the load's end)
	refused  int
	firstErr string
}

type anchorer struct {
	id     identity.ID
	signer *client.Signer
	log    *merklelog.Log
	base   uint64 // the size of the latest checkpoint the ledger has anchored
	resync bool   // the last anchor's fate is unknown: ask the ledger for base
	node   int
}

type granter struct {
	signer    *client.Signer
	providers []identity.ID
	envelopes [][]byte // epoch 1's key wrapped to each provider
	node      int
}

// newLoad registers the load's actors through clients[0]: a cloud in
// cluster 1, providers and patients across the clusters, each patient with
// its first session key; heads[c-1] admits to cluster c.
func newLoad(ctx context.Context, clients []*client.Client, heads []*identity.Identity) (*load, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	c0 := clients[0]
	headSigners := make([]*client.Signer, len(heads))
	for i, h := range heads {
		s, err := c0.Signer(ctx, h.Signing)
		if err != nil {
			return nil, fmt.Errorf("load: head %d's signer: %w", i+1, err)
		}
		headSigners[i] = s
	}
	cluster := func(i int) uint32 { return uint32(i%len(heads) + 1) }
	register := func(role identity.Role, cl uint32) (*identity.Identity, error) {
		id, err := identity.Generate(role, identity.SuiteX25519)
		if err != nil {
			return nil, err
		}
		r, err := ledger.NewRegister(id, cl, identity.ID{}, nil)
		if err != nil {
			return nil, err
		}
		if _, err := headSigners[cl-1].Submit(ctx, r); err != nil {
			return nil, fmt.Errorf("load: register a %s: %w", role, err)
		}
		return id, nil
	}
	l := &load{clients: clients}
	cloud, err := register(identity.RoleCloud, 1)
	if err != nil {
		return nil, err
	}
	provs := make([]*identity.Identity, loadProviders)
	for i := range provs {
		if provs[i], err = register(identity.RoleProvider, cluster(i+1)); err != nil {
			return nil, err
		}
	}
	cs, err := c0.Signer(ctx, cloud.Signing)
	if err != nil {
		return nil, err
	}
	mlog, err := merklelog.Open(merklelog.NewMemStore())
	if err != nil {
		return nil, err
	}
	l.cloud = &anchorer{id: cloud.ID(), signer: cs, log: mlog}
	l.pats = make([]*granter, loadPatients)
	g, gctx := errgroup.WithContext(ctx)
	var mu sync.Mutex // headSigners are shared; registrations are few
	for i := range l.pats {
		g.Go(func() error {
			mu.Lock()
			id, err := register(identity.RolePatient, cluster(i))
			mu.Unlock()
			if err != nil {
				return err
			}
			key, err := envelope.NewSessionKey()
			if err != nil {
				return err
			}
			self, err := envelope.SelfEnvelope(id, 1, key)
			if err != nil {
				return err
			}
			b, err := self.Marshal()
			if err != nil {
				return err
			}
			s, err := c0.Signer(gctx, id.Signing)
			if err != nil {
				return err
			}
			if _, err := s.Submit(gctx, &ledger.SessionKey{Epoch: 1, Envelope: b}); err != nil {
				return fmt.Errorf("load: a patient's session key: %w", err)
			}
			p := &granter{signer: s, node: i + 1}
			for _, pr := range provs {
				e, err := envelope.GrantEnvelope(id, pr.Public(), 1, key)
				if err != nil {
					return err
				}
				b, err := e.Marshal()
				if err != nil {
					return err
				}
				p.providers = append(p.providers, pr.ID())
				p.envelopes = append(p.envelopes, b)
			}
			l.pats[i] = p
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return l, nil
}

// run drives the load until ctx ends.
func (l *load) run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Go(func() { l.anchors(ctx) })
	for _, p := range l.pats {
		wg.Go(func() { l.grants(ctx, p) })
	}
	wg.Wait()
}

// every calls f at once and then every d (skipping the ticks f overran)
// until ctx ends.
func every(ctx context.Context, d time.Duration, f func()) {
	t := time.NewTicker(d)
	defer t.Stop()
	for ctx.Err() == nil {
		f()
		select {
		case <-ctx.Done():
		case <-t.C:
		}
	}
}

func (l *load) anchors(ctx context.Context) {
	a := l.cloud
	every(ctx, anchorEvery, func() {
		if a.resync {
			qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			rec, err := l.clients[a.node%len(l.clients)].Anchor(qctx, a.id, ledger.LogRecords)
			cancel()
			switch {
			case err == nil:
				a.base = rec.Checkpoint.Size
			case errors.Is(err, client.ErrNotFound):
				a.base = 0
			default:
				a.node++
				return // ask again at the next tick
			}
			a.resync = false
		}
		leaves := make([][]byte, leavesPerBlock)
		for i := range leaves {
			leaves[i] = make([]byte, 32)
			rand.Read(leaves[i])
		}
		if _, err := a.log.Append(leaves...); err != nil {
			l.fail(fmt.Errorf("append to the cloud's log: %w", err))
			return
		}
		cp := a.log.Checkpoint()
		proof, err := a.log.ConsistencyProof(a.base, cp.Size)
		if err != nil {
			l.fail(fmt.Errorf("consistency proof: %w", err))
			return
		}
		tx, err := a.signer.Sign(&ledger.Anchor{Log: ledger.LogRecords, Checkpoint: cp, Proof: proof, Sealed: time.Now().UnixMilli()})
		if err != nil {
			l.fail(fmt.Errorf("sign an anchor: %w", err))
			return
		}
		if l.submit(ctx, "anchor", tx, &a.node) {
			a.base = cp.Size
		} else {
			a.resync = true
		}
	})
}

func (l *load) grants(ctx context.Context, p *granter) {
	n := 0
	epochKey, err := envelope.NewSessionKey()
	if err != nil {
		l.fail(err)
		return
	}
	// The ledger checks only their size: one set of sealed scope keys serves.
	keys, err := envelope.SealScope(epochKey, identity.ID{1}, identity.ID{2}, 1, []vital.Kind{vital.Glucose, vital.HeartRate})
	if err != nil {
		l.fail(err)
		return
	}
	every(ctx, grantEvery, func() {
		k := n % len(p.providers)
		n++
		tx, err := p.signer.Sign(&ledger.Grant{
			Provider: p.providers[k], Keys: keys,
			Expiry: time.Now().Add(24*time.Hour).UnixMilli() + int64(n), Epoch: 1, Envelope: p.envelopes[k],
		})
		if err != nil {
			l.fail(fmt.Errorf("sign a grant: %w", err))
			return
		}
		l.submit(ctx, "grant", tx, &p.node)
	})
}

// submit submits tx through the actor's node and waits for its commit. A
// node that does not answer gets the same bytes passed on to the next; a
// commit that does not come within submitTimeout leaves the transaction's
// fate unknown (the actor moves to the next node for its next one). It
// reports whether the commit was acknowledged.
func (l *load) submit(ctx context.Context, kind string, tx []byte, node *int) bool {
	for range len(l.clients) {
		c := l.clients[*node%len(l.clients)]
		sctx, cancel := context.WithTimeout(ctx, submitTimeout)
		start := time.Now()
		cm, err := c.Submit(sctx, tx)
		cancel()
		var lerr *ledger.Error
		switch {
		case err == nil:
			l.mu.Lock()
			l.acks = append(l.acks, ack{Hash: cm.Hash, Height: cm.Height, Kind: kind, Sent: start, Latency: time.Since(start)})
			l.mu.Unlock()
			return true
		case ctx.Err() != nil:
			l.count(&l.unknown)
			return false
		case errors.As(err, &lerr):
			l.count(&l.refused)
			l.fail(fmt.Errorf("%s refused: %w", kind, err))
			return false
		case errors.Is(err, context.DeadlineExceeded):
			l.count(&l.unknown)
			*node++
			return false
		}
		*node++ // the node did not answer
	}
	l.count(&l.unknown)
	return false
}

func (l *load) count(n *int) {
	l.mu.Lock()
	*n++
	l.mu.Unlock()
}

func (l *load) fail(err error) {
	l.mu.Lock()
	if l.firstErr == "" {
		l.firstErr = err.Error()
	}
	l.mu.Unlock()
}

// snapshot returns the acknowledged transactions and the counts.
func (l *load) snapshot() (acks []ack, unknown, refused int, firstErr string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]ack(nil), l.acks...), l.unknown, l.refused, l.firstErr
}

// close closes the clients.
func (l *load) close() {
	for _, c := range l.clients {
		c.Close()
	}
}
