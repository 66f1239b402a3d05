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
// itself and sends the attestation to the new head in a handoff datagram,
// so that the ledger takes it at once; it does so only if the ledger, read
// at that moment, lists the new head as an authority-eligible member of its
// cluster.
//
// # Authentication
//
// The network is trusted to deliver some datagrams, never for who sent
// them. Every datagram is signed by its sender's identity key (the key
// whose hash is its ID; for a chain node, its authority key) under the
// signing context "overlay/v1", and carries the sender's key and a counter
// that grows with every datagram the sender signs, across restarts (a
// Counter, kept in a file). A receiver refuses, and counts by reason (see
// Stats): a datagram that does not decode (ErrMalformed); a key that is not
// a member of this node's cluster as the ledger lists it, or a message
// naming another sender than the key's ID (ErrUnknownKey); a claim to be
// eligible or head, or a handoff, from a member the ledger does not list as
// authority-eligible in the cluster (ErrNotEligible); a bad signature
// (ErrBadSignature); a counter not above the highest accepted from that
// sender (ErrReplayed). Only then does the overlay node see the message,
// whose Seq orders it as before. The admitted senders are this node's
// cluster on the ledger (ledger.ClusterInfo: its head, its
// authority-eligible members, requesters, requestees, devices and clouds);
// the head and the eligible ones may claim to be head. The driver reads
// the cluster from the ledger at Start, every refreshEvery periods, and
// the period after a datagram from an unknown key (a member admitted
// since); the receiving goroutine reads the cached copy only, so no ledger
// call is on the path of a datagram. A node that is not a registered
// member admits nobody, and a member of another cluster (a neighbouring
// cluster's head, a visiting patient) is not admitted: the election stays
// within the ledger's cluster, and a visitor is heard once a Migrate has
// moved it into this one.
//
// What this does not stop: the network may still drop, delay or reorder
// datagrams (the election tolerates it), and it reads them (nothing in them
// is secret). A receiver keeps the counters it accepted in memory only: one
// that restarts, or forgets a sender that left the cluster, accepts once
// each, in order, the sender's datagrams captured before, which can make a
// dead head look alive to it for as long as the captured ones last; the
// ledger still decides every handover.
//
// A Runner's goroutines: one receives datagrams, one ticks the overlay
// node once a period, one (the handover driver) makes every ledger call
// (take over, hand off, read the cluster's membership and whether this
// node has been made eligible), and one closes the socket when the context
// ends, and the counter once the others have ended. They share the node under one mutex, which no ledger call is made
// under, so that a slow ledger delays a handover but never a heartbeat.
// The driver reaches the ledger through the small Ledger interface;
// ClientLedger adapts a *client.Client to it.
package udp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

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
	// signing key signs its datagrams and attests the handovers it hands
	// off.
	Identity *identity.Identity
	// CounterFile is where the counter of the node's datagrams is kept
	// across restarts (OpenCounter); `vitalchain node` keeps it under its
	// home, in data/overlay-counter. One running node per file.
	CounterFile string
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

	counter *Counter
	members atomic.Pointer[membership] // this node's cluster on the ledger, published by the driver
	gate    *gate                      // owned by the receiving goroutine

	mu         sync.Mutex                         // guards node, atts and becameHead
	node       *overlay.Node                      // replaced when the node becomes eligible
	atts       map[identity.ID]ledger.Attestation // old head → its attestation of this node's takeover
	becameHead bool                               // the election made this node head since the driver last looked

	wake chan struct{} // tells the driver the election made this node head

	// Owned by the driver's goroutine (and Start, before it runs).
	eligible bool
	takeover takeover

	unknown   atomic.Bool // a datagram from an unknown key since the last refresh
	counts    counts
	handovers atomic.Uint64 // handovers this node committed
}

// counts are a Runner's counters (see Stats).
type counts struct {
	accepted, malformed, unknownKey, notEligible, badSignature, replayed, badHandoff atomic.Uint64
	sent, handoffsSent, sendFailed                                                   atomic.Uint64
}

// Stats counts what a Runner received and sent. Every datagram received
// is accepted or refused for exactly one reason.
type Stats struct {
	// Node counts the messages the overlay node was given (the accepted
	// datagrams that carried one; since it became eligible, if it was not
	// at first).
	Node overlay.Stats
	// Accepted datagrams passed every check.
	Accepted uint64
	// Refused datagrams, by reason: ErrMalformed, ErrUnknownKey,
	// ErrNotEligible, ErrBadSignature, ErrReplayed, and handoffs that do
	// not hand over to this node.
	Malformed, UnknownKey, NotEligible, BadSignature, Replayed, BadHandoff uint64
	// Sent counts the datagrams signed and sent (to every peer),
	// HandoffsSent the handoff attestations among them; SendFailed the
	// messages not sent because no counter could be reserved.
	Sent, HandoffsSent, SendFailed uint64
	// Members is the number of senders admitted, from the ledger's last
	// answer.
	Members int
}

// Refused returns the number of datagrams refused, for every reason.
func (s Stats) Refused() uint64 {
	return s.Malformed + s.UnknownKey + s.NotEligible + s.BadSignature + s.Replayed + s.BadHandoff
}

// Start runs the overlay of cfg.Identity on cfg.Conn until ctx ends, then
// closes the socket; Wait waits for that. The node may be head only if the
// ledger lists it as an authority-eligible member: Start asks it once, and
// the driver asks again now and then while it is not. If Start fails, the
// socket is still the caller's to close.
func Start(ctx context.Context, cfg Config) (*Runner, error) {
	r, err := newRunner(ctx, cfg)
	if err != nil {
		return nil, err
	}
	r.log.Info("overlay running", "listen", r.conn.LocalAddr().String(), "peers", len(r.peers), "eligible", r.eligible,
		"cluster", r.members.Load().cluster, "members", r.members.Load().size())
	var loops sync.WaitGroup // the goroutines that sign with the counter
	loops.Add(3)
	r.wg.Add(4)
	go func() { defer r.wg.Done(); defer loops.Done(); r.receive(ctx) }()
	go func() { defer r.wg.Done(); defer loops.Done(); r.tick(ctx) }()
	go func() { defer r.wg.Done(); defer loops.Done(); r.drive(ctx) }()
	go func() {
		defer r.wg.Done()
		<-ctx.Done()
		r.conn.Close()
		loops.Wait()
		if err := r.counter.Close(); err != nil {
			r.log.Warn("overlay counter", "err", err)
		}
	}()
	return r, nil
}

// newRunner opens the counter, reads the membership and makes the overlay
// node of a Runner, whose goroutines it does not start.
func newRunner(ctx context.Context, cfg Config) (*Runner, error) {
	if cfg.Identity == nil || cfg.Ledger == nil || cfg.Conn == nil || cfg.Period <= 0 || cfg.CounterFile == "" {
		return nil, fmt.Errorf("%w: needs an identity, a counter file, a ledger, a socket and a positive period", errConfig)
	}
	id := cfg.Identity.ID()
	ms, err := readMembership(ctx, cfg.Ledger, id)
	if err != nil {
		return nil, err
	}
	eligible := ms.self == identity.RoleAuthority
	counter, err := OpenCounter(cfg.CounterFile)
	if err != nil {
		return nil, fmt.Errorf("overlay: %w", err)
	}
	inc, err := counter.Incarnation()
	if err != nil {
		counter.Close()
		return nil, fmt.Errorf("overlay: %w", err)
	}
	n, err := overlay.New(overlay.Config{ID: id, Eligible: eligible, Incarnation: inc})
	if err != nil {
		counter.Close()
		return nil, err
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Runner{
		me: cfg.Identity, id: id, ledger: cfg.Ledger, conn: cfg.Conn, peers: cfg.Peers, period: cfg.Period, log: log,
		counter: counter, node: n, atts: map[identity.ID]ledger.Attestation{}, wake: make(chan struct{}, 1), eligible: eligible,
	}
	r.members.Store(ms)
	r.gate = newGate(id, r.members.Load)
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

// Stats returns the runner's counts of the datagrams it received and sent,
// and the overlay node's of the messages it was given.
func (r *Runner) Stats() Stats {
	r.mu.Lock()
	ns := r.node.Stats()
	r.mu.Unlock()
	c := &r.counts
	return Stats{
		Node: ns, Accepted: c.accepted.Load(),
		Malformed: c.malformed.Load(), UnknownKey: c.unknownKey.Load(), NotEligible: c.notEligible.Load(),
		BadSignature: c.badSignature.Load(), Replayed: c.replayed.Load(), BadHandoff: c.badHandoff.Load(),
		Sent: c.sent.Load(), HandoffsSent: c.handoffsSent.Load(), SendFailed: c.sendFailed.Load(),
		Members: r.members.Load().size(),
	}
}

// Handovers returns how many handovers of its cluster to this node the
// runner has seen committed.
func (r *Runner) Handovers() uint64 { return r.handovers.Load() }

// Refused returns how many datagrams the runner refused, for every reason
// (Stats.Refused). Messages that pass and that the overlay node refuses
// are counted in Stats.Node.
func (r *Runner) Refused() uint64 { return r.Stats().Refused() }

func (r *Runner) receive(ctx context.Context) {
	buf := make([]byte, 64<<10) // the largest UDP payload: a longer datagram is never cut to fit
	for {
		n, _, err := r.conn.ReadFromUDP(buf)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		d, err := r.gate.open(buf[:n])
		if err != nil {
			r.refuse(err)
			continue
		}
		r.counts.accepted.Add(1)
		if d.handoff != nil {
			r.keepHandoff(d.handoff)
			continue
		}
		r.mu.Lock()
		r.node.Step(*d.msg) // refusals are counted by the node
		r.flush()
		r.mu.Unlock()
	}
}

// refuse counts a refused datagram by its reason.
func (r *Runner) refuse(err error) {
	c := &r.counts
	switch {
	case errors.Is(err, ErrMalformed):
		c.malformed.Add(1)
	case errors.Is(err, ErrUnknownKey):
		c.unknownKey.Add(1)
		r.unknown.Store(true) // perhaps a member admitted since the last refresh
	case errors.Is(err, ErrNotEligible):
		c.notEligible.Add(1)
	case errors.Is(err, ErrBadSignature):
		c.badSignature.Add(1)
	case errors.Is(err, ErrReplayed):
		c.replayed.Add(1)
	default: // errBadHandoff
		c.badHandoff.Add(1)
	}
	r.log.Debug("overlay datagram refused", "err", err)
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
		r.send(typeMessage, b)
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

// send signs payload p of type typ under the next counter and sends the
// datagram to every peer. It reports whether it was sent.
func (r *Runner) send(typ uint8, p []byte) bool {
	ctr, err := r.counter.Next()
	if err != nil {
		r.counts.sendFailed.Add(1)
		r.log.Error("overlay: no counter to sign with: not sent", "err", err)
		return false
	}
	b, err := seal(r.me.Signing, ctr, typ, p)
	if err != nil {
		r.counts.sendFailed.Add(1)
		r.log.Error("overlay: not sent", "err", err)
		return false
	}
	r.counts.sent.Add(1)
	for _, a := range r.peers {
		r.conn.WriteToUDP(b, a) // datagrams may be lost; the protocol repeats itself
	}
	return true
}
