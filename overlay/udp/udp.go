// Package udp runs one chain node's overlay.Node over UDP, and hands its
// cluster over on the ledger when the election and the ledger disagree on
// who heads it.
//
// The node speaks to its neighbours (the nodes in radio or LAN reach) one
// datagram per overlay message. When the election makes this node the head
// of its cluster while the ledger still names another, it submits the
// handover: the ledger accepts it once the old head's signature has been
// missing from its commits for HeadAbsentMs, with no attestation to gather.
// A head that is alive when the election replaces it attests the handover
// itself and sends the attestation to the new head in a handoff datagram
// (a magic prefix, then CBOR), so that the ledger takes it at once.
//
// A Runner's goroutines: one receives datagrams, one ticks the overlay
// node once a period, one (the handover driver) makes every ledger call
// (take over, hand off, ask again whether this node has been made
// eligible), and one closes the socket when the context ends. They share
// the node under one mutex, which no ledger call is made under, so that a
// slow ledger delays a handover but never a heartbeat. The driver reaches
// the ledger through the small Ledger interface; ClientLedger adapts a
// *client.Client to it.
package udp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vitalchain/vitalchain/client"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/ledger"
	"github.com/vitalchain/vitalchain/overlay"
)

// Listen opens an overlay socket on the UDP address addr (host:port).
func Listen(addr string) (*net.UDPConn, error) {
	la, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("overlay: %w", err)
	}
	conn, err := net.ListenUDP("udp", la)
	if err != nil {
		return nil, fmt.Errorf("overlay: %w", err)
	}
	return conn, nil
}

// ParsePeers resolves a comma-separated list of UDP addresses; empty
// entries are skipped.
func ParsePeers(list string) ([]*net.UDPAddr, error) {
	var out []*net.UDPAddr
	for _, p := range strings.Split(list, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		a, err := net.ResolveUDPAddr("udp", p)
		if err != nil {
			return nil, fmt.Errorf("overlay peer %q: %w", p, err)
		}
		out = append(out, a)
	}
	return out, nil
}

// Config configures Start.
type Config struct {
	// Identity is this node's: its ID names it in the overlay, and its
	// signing key attests the handovers it hands off.
	Identity *identity.Identity
	// Ledger is the chain as this node sees it.
	Ledger Ledger
	// Conn is the overlay's socket (Listen). The Runner closes it when its
	// context ends.
	Conn *net.UDPConn
	// Peers are the neighbours every message is sent to.
	Peers []*net.UDPAddr
	// Period is the HELLO period: one overlay tick.
	Period time.Duration
	// Log receives the overlay's decisions and the handovers; nil discards.
	Log *slog.Logger
}

// errConfig is a Config that Start cannot run.
var errConfig = errors.New("overlay config")

// Runner runs one node's overlay over UDP: see Start.
type Runner struct {
	me     *identity.Identity
	id     identity.ID
	ledger Ledger
	conn   *net.UDPConn
	peers  []*net.UDPAddr
	period time.Duration
	log    *slog.Logger
	wg     sync.WaitGroup

	mu         sync.Mutex                         // guards node, atts and becameHead
	node       *overlay.Node                      // replaced when the node becomes eligible
	atts       map[identity.ID]ledger.Attestation // old head → its attestation of this node's takeover
	becameHead bool                               // the election made this node head since the driver last looked

	wake chan struct{} // tells the driver the election made this node head

	// Owned by the driver's goroutine (and Start, before it runs).
	eligible bool
	takeover takeover

	refused   atomic.Uint64 // datagrams that did not decode
	handovers atomic.Uint64 // handovers this node committed
}

// Start runs the overlay of cfg.Identity on cfg.Conn until ctx ends, then
// closes the socket; Wait waits for that. The node may be head only if the
// ledger lists it as an authority-eligible member: Start asks it once, and
// the driver asks again now and then while it is not. If Start fails, the
// socket is still the caller's to close.
func Start(ctx context.Context, cfg Config) (*Runner, error) {
	if cfg.Identity == nil || cfg.Ledger == nil || cfg.Conn == nil || cfg.Period <= 0 {
		return nil, fmt.Errorf("%w: needs an identity, a ledger, a socket and a positive period", errConfig)
	}
	id := cfg.Identity.ID()
	eligible := false
	if m, err := cfg.Ledger.Member(ctx, id); err == nil {
		eligible = m.Role == identity.RoleAuthority
	} else if !errors.Is(err, client.ErrNotFound) {
		return nil, fmt.Errorf("overlay: eligibility of %s: %w", id, err)
	}
	n, err := overlay.New(overlay.Config{ID: id, Eligible: eligible, Incarnation: uint32(time.Now().Unix())})
	if err != nil {
		return nil, err
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Runner{
		me: cfg.Identity, id: id, ledger: cfg.Ledger, conn: cfg.Conn, peers: cfg.Peers, period: cfg.Period, log: log,
		node: n, atts: map[identity.ID]ledger.Attestation{}, wake: make(chan struct{}, 1), eligible: eligible,
	}
	log.Info("overlay running", "listen", r.conn.LocalAddr().String(), "peers", len(r.peers), "eligible", eligible)
	r.wg.Add(4)
	go func() { defer r.wg.Done(); r.receive(ctx) }()
	go func() { defer r.wg.Done(); r.tick(ctx) }()
	go func() { defer r.wg.Done(); r.drive(ctx) }()
	go func() { defer r.wg.Done(); <-ctx.Done(); r.conn.Close() }()
	return r, nil
}

// Wait waits until every goroutine of the runner has ended, which they do
// once Start's context has ended.
func (r *Runner) Wait() { r.wg.Wait() }

// IsHead reports whether the election has this node as a head now.
func (r *Runner) IsHead() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.node.Role() == overlay.RoleHead
}

// Status returns a snapshot of the overlay node's state.
func (r *Runner) Status() overlay.Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.node.Status()
}

// Stats returns the overlay node's counts of the messages it received
// (since it became eligible, if it was not at first).
func (r *Runner) Stats() overlay.Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.node.Stats()
}

// Handovers returns how many handovers of its cluster to this node the
// runner has seen committed.
func (r *Runner) Handovers() uint64 { return r.handovers.Load() }

// Refused returns how many datagrams did not decode, or were handoffs not
// meant for this node. (Messages that decode but that the overlay node
// refuses are counted in its Stats.)
func (r *Runner) Refused() uint64 { return r.refused.Load() }

func (r *Runner) receive(ctx context.Context) {
	buf := make([]byte, 64<<10)
	for {
		n, _, err := r.conn.ReadFromUDP(buf)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		if bytes.HasPrefix(buf[:n], handoffMagic) {
			r.receiveHandoff(buf[len(handoffMagic):n])
			continue
		}
		m, err := overlay.DecodeMessage(buf[:n])
		if err != nil {
			r.refused.Add(1)
			r.log.Debug("overlay datagram refused", "err", err)
			continue
		}
		r.mu.Lock()
		r.node.Step(m) // refusals are counted by the node
		r.flush()
		r.mu.Unlock()
	}
}

// tick ticks the node once a period. It never waits for the ledger: the
// driver makes the ledger calls on a goroutine of its own.
func (r *Runner) tick(ctx context.Context) {
	t := time.NewTicker(r.period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		r.mu.Lock()
		r.node.Tick()
		r.flush()
		r.mu.Unlock()
	}
}

// flush sends what the node has to send and hands its decisions on: a
// BecameHead wakes the driver, which takes the cluster over on the ledger.
// r.mu is held.
func (r *Runner) flush() {
	out, decs := r.node.Ready()
	for _, m := range out {
		b, err := m.Encode()
		if err != nil {
			r.log.Error("overlay message", "err", err)
			continue
		}
		r.send(b)
	}
	for _, d := range decs {
		r.log.Info("overlay", "decision", d.String())
		if _, ok := d.(overlay.BecameHead); ok {
			r.becameHead = true
			select {
			case r.wake <- struct{}{}:
			default: // the driver has been woken already
			}
		}
	}
}

// send sends a datagram to every peer.
func (r *Runner) send(b []byte) {
	for _, p := range r.peers {
		r.conn.WriteToUDP(b, p) // datagrams may be lost; the protocol repeats itself
	}
}
