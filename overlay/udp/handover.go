package udp

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/vitalchain/vitalchain/client"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/ledger"
	"github.com/vitalchain/vitalchain/overlay"
)

// Ledger is what the handover driver asks of the chain. Every call returns
// once its context ends.
type Ledger interface {
	// Member returns a registered member, or an error wrapping
	// client.ErrNotFound if id is not one.
	Member(ctx context.Context, id identity.ID) (*ledger.Member, error)
	// Cluster returns a cluster and its head.
	Cluster(ctx context.Context, n uint32) (*ledger.ClusterInfo, error)
	// Handover signs h as this node, submits it and waits for its commit.
	// It returns an error if h was refused or its commit not seen.
	Handover(ctx context.Context, h *ledger.Handover) error
}

// ClientLedger returns the Ledger of c, signing handovers with key (the
// node's, as in Config.Identity).
func ClientLedger(c *client.Client, key *identity.SigningKey) Ledger {
	return &clientLedger{c: c, key: key}
}

type clientLedger struct {
	c   *client.Client
	key *identity.SigningKey

	mu     sync.Mutex
	signer *client.Signer // nil until the first handover, and after a failed one
}

func (l *clientLedger) Member(ctx context.Context, id identity.ID) (*ledger.Member, error) {
	return l.c.Member(ctx, id)
}

func (l *clientLedger) Cluster(ctx context.Context, n uint32) (*ledger.ClusterInfo, error) {
	return l.c.Cluster(ctx, n)
}

func (l *clientLedger) Handover(ctx context.Context, h *ledger.Handover) error {
	l.mu.Lock()
	s := l.signer
	l.mu.Unlock()
	if s == nil {
		var err error
		if s, err = l.c.Signer(ctx, l.key); err != nil {
			return err
		}
	}
	if _, err := s.Submit(ctx, h); err != nil {
		// The next handover reads the signer's sequence number again from
		// the ledger, in case this one's was not used.
		l.mu.Lock()
		l.signer = nil
		l.mu.Unlock()
		return err
	}
	l.mu.Lock()
	l.signer = s
	l.mu.Unlock()
	return nil
}

// Cadence of the driver, in periods.
const (
	handOffEvery = 5  // a head the election replaced sends its attestation again
	refreshEvery = 10 // the driver reads the cluster's membership (and this node's eligibility) again
)

// drive makes every ledger call of the runner, on a goroutine of its own
// with its own ticker, and hands the results to the tick and receive side
// under r.mu: a slow ledger delays a handover, never a heartbeat. It
// returns once ctx ends.
func (r *Runner) drive(ctx context.Context) {
	t := time.NewTicker(r.period)
	defer t.Stop()
	for n := 0; ; {
		select {
		case <-ctx.Done():
			return
		case <-r.wake: // the election made this node head: take over now
		case <-t.C:
			n++
			// Again every refreshEvery periods, and the period after a
			// datagram from a key it did not know.
			if n%refreshEvery == 0 || r.unknown.Swap(false) {
				if err := r.refresh(ctx); err != nil {
					r.log.Warn("overlay: membership not read", "err", err)
				}
			}
			if n%handOffEvery == 0 {
				r.handOff(ctx)
			}
		}
		r.takeOver(ctx)
	}
}

// takeover is the driver's state of the handover of this node's cluster to
// it.
type takeover struct {
	active    bool   // the election made this node head; the ledger does not name it yet
	cluster   uint32 // this node's cluster on the ledger, once known
	known     bool   // cluster is known
	submitted bool   // a handover was submitted: one that commits after its submission failed still counts
}

// takeOver makes one attempt at the handover of this node's cluster to it
// (the driver makes one every period) while the election has this node as
// head and until the ledger names it.
func (r *Runner) takeOver(ctx context.Context) {
	r.mu.Lock()
	if r.becameHead && !r.takeover.active {
		r.takeover = takeover{active: true}
	}
	r.becameHead = false
	head := r.node.Role() == overlay.RoleHead
	r.mu.Unlock()
	to := &r.takeover
	if !to.active {
		return
	}
	if !head || ctx.Err() != nil {
		to.active = false // the election no longer names this node
		return
	}
	if !to.known {
		m, err := r.ledger.Member(ctx, r.id)
		if errors.Is(err, client.ErrNotFound) {
			r.log.Warn("handover: not a registered member", "err", err)
			to.active = false
			return
		}
		if err != nil {
			r.log.Warn("handover: member", "err", err)
			return // next period
		}
		to.cluster, to.known = m.Cluster, true
	}
	info, err := r.ledger.Cluster(ctx, to.cluster)
	if err != nil {
		return
	}
	if info.Cluster.Head == r.id {
		if to.submitted { // an earlier attempt committed after all
			r.handovers.Add(1)
		}
		to.active = false // the ledger agrees
		return
	}
	to.submitted = true
	h := &ledger.Handover{Cluster: to.cluster, NewHead: r.id}
	r.mu.Lock()
	if a, ok := r.atts[info.Cluster.Head]; ok {
		h.Attestations = []ledger.Attestation{a} // the old head hands over: no need to wait
	}
	r.mu.Unlock()
	if err := r.ledger.Handover(ctx, h); err != nil {
		r.log.Info("handover not yet accepted", "cluster", to.cluster, "err", err)
		return
	}
	r.handovers.Add(1)
	r.log.Info("handover committed: this node heads its cluster", "cluster", to.cluster, "old_head", info.Cluster.Head)
	to.active = false
}

// handOff: if the ledger names this node head of its cluster but the
// overlay has it as a member of another node's cluster, it sends that head
// its attestation, until the handover has happened; only if the ledger,
// read now and not the overlay's cache, lists the new head as an
// authority-eligible member of this node's cluster.
func (r *Runner) handOff(ctx context.Context) {
	r.mu.Lock()
	st := r.node.Status()
	r.mu.Unlock()
	if st.Role != overlay.RoleMember || st.Head == r.id {
		return
	}
	me, err := r.ledger.Member(ctx, r.id)
	if err != nil {
		return
	}
	info, err := r.ledger.Cluster(ctx, me.Cluster)
	if err != nil || info.Cluster.Head != r.id {
		return
	}
	nh, err := r.ledger.Member(ctx, st.Head)
	if err != nil || nh.Role != identity.RoleAuthority || nh.Cluster != me.Cluster {
		return // the overlay's head may not head this cluster on the ledger
	}
	stmt := info.Cluster.HandoverTo(st.Head) // names the cluster's term: good for this handover only
	att, err := ledger.Attest(r.me.Signing, stmt)
	if err != nil {
		return
	}
	b, err := marshalHandoff(&handoff{Statement: stmt, Attestation: att})
	if err != nil {
		return
	}
	if !r.send(typeHandoff, b) {
		return
	}
	r.counts.handoffsSent.Add(1)
	r.log.Info("overlay: handing the cluster over to the elected head", "cluster", me.Cluster, "new_head", st.Head)
}

// keepHandoff keeps an old head's attestation of this node's takeover, for
// the driver's next attempt. The gate let it through: it names this node
// and came from the old head it names, an eligible member; the ledger
// checks the attestation's signature.
func (r *Runner) keepHandoff(h *handoff) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.atts) >= 16 {
		clear(r.atts)
	}
	r.atts[h.Statement.OldHead] = h.Attestation
}
