package cloud

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/vitalchain/vitalchain/client"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/ledger"
)

// Ledger is what the cloud needs from the chain.
type Ledger interface {
	// Member returns a registered actor, or an error wrapping ErrNotFound.
	Member(ctx context.Context, id identity.ID) (*ledger.Member, error)
	// Grant returns a patient's grant to a provider, or ErrNotFound.
	Grant(ctx context.Context, patient, provider identity.ID) (*ledger.GrantRecord, error)
	// Contract returns a deployed alert contract, or ErrNotFound.
	Contract(ctx context.Context, id [32]byte) (*ledger.ContractRecord, error)
	// Epoch returns a patient's current key epoch.
	Epoch(ctx context.Context, patient identity.ID) (uint64, error)
	// Anchored returns the cloud's latest anchored checkpoint of a log, or ErrNotFound.
	Anchored(ctx context.Context, log uint8) (*ledger.AnchorRecord, error)
	// Anchor submits an anchor and waits for its commit.
	Anchor(ctx context.Context, a *ledger.Anchor) error
}

// ChainLedger is the Ledger over the chain's nodes: the cloud's own Cluster
// Head's node first, then the others, which it turns to when a node is down
// or does not commit an anchor in time. Members are cached for MemberTTL (a
// key never changes, but a member may move to another cluster); grants are
// read fresh, so a revoke is seen as soon as it commits.
type ChainLedger struct {
	clients []*client.Client
	key     *identity.SigningKey
	wait    time.Duration

	mu      sync.Mutex
	members map[identity.ID]cachedMember
	unknown map[identity.ID]time.Time // IDs the ledger did not know, and when it said so
	signer  *client.Signer
	next    int // the node anchors go to
}

// NewChainLedger returns a Ledger over clients (own Cluster Head's node
// first), signing anchors with the cloud's key. An anchor not committed
// within wait is sent through the next node.
func NewChainLedger(clients []*client.Client, key *identity.SigningKey, wait time.Duration) *ChainLedger {
	return &ChainLedger{clients: clients, key: key, wait: wait, members: map[identity.ID]cachedMember{}, unknown: map[identity.ID]time.Time{}}
}

// MemberTTL is how long ChainLedger trusts a cached member, and UnknownTTL
// how long it answers ErrNotFound for an ID the ledger did not know without
// asking again (so that uploads signed by unknown keys cost no RPC each;
// a registration is seen within it).
const (
	MemberTTL  = 30 * time.Second
	UnknownTTL = 5 * time.Second
)

type cachedMember struct {
	m  *ledger.Member
	at time.Time
}

// maxMembers bounds the member cache.
const maxMembers = 1 << 20

func (l *ChainLedger) query(ctx context.Context, f func(*client.Client) error) error {
	var err error
	for i := range l.clients {
		c := l.clients[(l.current()+i)%len(l.clients)]
		if err = f(c); err == nil || errors.Is(err, client.ErrNotFound) {
			if errors.Is(err, client.ErrNotFound) {
				return fmt.Errorf("%w: %v", ErrNotFound, err)
			}
			return nil
		}
		if ctx.Err() != nil {
			return err
		}
	}
	return err
}

func (l *ChainLedger) current() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.next
}

// Member implements Ledger.
func (l *ChainLedger) Member(ctx context.Context, id identity.ID) (*ledger.Member, error) {
	l.mu.Lock()
	cm, ok := l.members[id]
	at, miss := l.unknown[id]
	l.mu.Unlock()
	if ok && time.Since(cm.at) < MemberTTL {
		return cm.m, nil
	}
	if miss && time.Since(at) < UnknownTTL {
		return nil, fmt.Errorf("%w: member %s (asked %s ago)", ErrNotFound, id, time.Since(at).Round(time.Millisecond))
	}
	var m *ledger.Member
	err := l.query(ctx, func(c *client.Client) error {
		var err error
		m, err = c.Member(ctx, id)
		return err
	})
	if err != nil {
		if ok && !errors.Is(err, ErrNotFound) {
			return cm.m, nil // the ledger is unreachable: the last answer stands
		}
		if errors.Is(err, ErrNotFound) {
			l.mu.Lock()
			if len(l.unknown) >= maxMembers {
				clear(l.unknown)
			}
			l.unknown[id] = time.Now()
			l.mu.Unlock()
		}
		return nil, err
	}
	l.mu.Lock()
	if len(l.members) < maxMembers || ok {
		l.members[id] = cachedMember{m: m, at: time.Now()}
	}
	delete(l.unknown, id)
	l.mu.Unlock()
	return m, nil
}

// Grant implements Ledger.
func (l *ChainLedger) Grant(ctx context.Context, patient, provider identity.ID) (*ledger.GrantRecord, error) {
	var g *ledger.GrantRecord
	err := l.query(ctx, func(c *client.Client) error {
		var err error
		g, err = c.Grant(ctx, patient, provider)
		return err
	})
	return g, err
}

// Contract implements Ledger.
func (l *ChainLedger) Contract(ctx context.Context, id [32]byte) (*ledger.ContractRecord, error) {
	var c *ledger.ContractRecord
	err := l.query(ctx, func(cl *client.Client) error {
		var err error
		c, err = cl.Contract(ctx, id)
		return err
	})
	return c, err
}

// Epoch implements Ledger.
func (l *ChainLedger) Epoch(ctx context.Context, patient identity.ID) (uint64, error) {
	var e uint64
	err := l.query(ctx, func(c *client.Client) error {
		var err error
		e, err = c.Epoch(ctx, patient)
		return err
	})
	return e, err
}

// Anchored implements Ledger.
func (l *ChainLedger) Anchored(ctx context.Context, log uint8) (*ledger.AnchorRecord, error) {
	var a *ledger.AnchorRecord
	err := l.query(ctx, func(c *client.Client) error {
		var err error
		a, err = c.Anchor(ctx, l.key.Public().ID(), log)
		return err
	})
	return a, err
}

// Anchor implements Ledger: the anchor goes to the current node; if that
// node fails or the anchor does not commit within the wait, it goes to the
// next one.
func (l *ChainLedger) Anchor(ctx context.Context, a *ledger.Anchor) error {
	l.mu.Lock()
	if l.signer == nil {
		s, err := l.clients[l.next].Signer(ctx, l.key)
		if err != nil {
			l.mu.Unlock()
			return err
		}
		l.signer = s
	}
	s := l.signer
	l.mu.Unlock()
	tx, err := s.Sign(a)
	if err != nil {
		return err
	}
	var last error
	for range l.clients {
		c := l.clients[l.current()]
		wctx, cancel := context.WithTimeout(ctx, l.wait)
		_, err := c.Submit(wctx, tx)
		cancel()
		if err == nil {
			return nil
		}
		var le *ledger.Error
		if errors.As(err, &le) {
			return err // refused by the ledger: another node would refuse it too
		}
		last = err
		if ctx.Err() != nil {
			return err
		}
		l.mu.Lock()
		l.next = (l.next + 1) % len(l.clients)
		l.mu.Unlock()
	}
	return fmt.Errorf("anchor: no node committed it: %w", last)
}
