package main

// The overlay inside `vitalchain node`: the node's overlay.Node speaks to
// its neighbours (the nodes in radio or LAN reach: --overlay-peers) over
// UDP, one datagram per message. When the election makes this node the head
// of its cluster while the ledger still names another, it hands the cluster
// over: the ledger accepts the handover once the old head's signature has
// been missing from its commits for HeadAbsentMs, with no attestation to
// gather.

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
	"github.com/vitalchain/vitalchain/codec"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/ledger"
	"github.com/vitalchain/vitalchain/overlay"
)

// udpOverlay runs one node's overlay over UDP.
type udpOverlay struct {
	node   *overlay.Node
	me     *identity.Identity
	conn   *net.UDPConn
	peers  []*net.UDPAddr
	period time.Duration
	chain  *client.Client
	log    *slog.Logger

	wg        sync.WaitGroup
	mu        sync.Mutex                         // guards node and atts
	atts      map[identity.ID]ledger.Attestation // old head → its attestation of this node's takeover
	handing   atomic.Bool
	eligible  atomic.Bool
	refused   atomic.Uint64 // datagrams that did not decode
	handovers atomic.Uint64 // handovers this node committed
}

// listenUDP opens the overlay's socket.
func listenUDP(addr string) (*net.UDPConn, error) {
	la, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, err
	}
	conn, err := net.ListenUDP("udp", la)
	if err != nil {
		return nil, fmt.Errorf("overlay: %w", err)
	}
	return conn, nil
}

// parsePeers resolves a comma-separated list of UDP addresses.
func parsePeers(list string) ([]*net.UDPAddr, error) {
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

// startOverlay runs the overlay of the authority me on conn until ctx
// ends, then closes conn. The node may be head only if the ledger lists it
// as an authority-eligible member.
func startOverlay(ctx context.Context, me *identity.Identity, chain *client.Client, conn *net.UDPConn, peers []*net.UDPAddr, period time.Duration, log *slog.Logger) (*udpOverlay, error) {
	eligible := false
	if m, err := chain.Member(ctx, me.ID()); err == nil && m.Role == identity.RoleAuthority {
		eligible = true
	} else if err != nil && !errors.Is(err, client.ErrNotFound) {
		return nil, err
	}
	n, err := overlay.New(overlay.Config{ID: me.ID(), Eligible: eligible, Incarnation: uint32(time.Now().Unix())})
	if err != nil {
		return nil, err
	}
	o := &udpOverlay{node: n, me: me, conn: conn, peers: peers, period: period, chain: chain, log: log,
		atts: map[identity.ID]ledger.Attestation{}}
	o.eligible.Store(eligible)
	log.Info("overlay running", "listen", conn.LocalAddr().String(), "peers", len(peers), "eligible", eligible)
	o.wg.Add(3)
	go func() { defer o.wg.Done(); o.receive(ctx) }()
	go func() { defer o.wg.Done(); o.tick(ctx) }()
	go func() { defer o.wg.Done(); <-ctx.Done(); conn.Close() }()
	return o, nil
}

// wait waits, once ctx has ended, until the overlay no longer runs.
func (o *udpOverlay) wait() { o.wg.Wait() }

func (o *udpOverlay) receive(ctx context.Context) {
	buf := make([]byte, 64<<10)
	for {
		n, _, err := o.conn.ReadFromUDP(buf)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			continue
		}
		if bytes.HasPrefix(buf[:n], handoffMagic) {
			o.receiveAttestation(buf[len(handoffMagic):n])
			continue
		}
		m, err := overlay.DecodeMessage(buf[:n])
		if err != nil {
			o.refused.Add(1)
			o.log.Debug("overlay datagram refused", "err", err)
			continue
		}
		o.mu.Lock()
		o.node.Step(m) // refusals are counted by the node
		o.flush(ctx)
		o.mu.Unlock()
	}
}

func (o *udpOverlay) tick(ctx context.Context) {
	t := time.NewTicker(o.period)
	defer t.Stop()
	for n := 0; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !o.eligible.Load() && n%10 == 9 {
			o.recheck(ctx)
		}
		if n%5 == 4 {
			o.handOff(ctx)
		}
		o.mu.Lock()
		o.node.Tick()
		o.flush(ctx)
		o.mu.Unlock()
	}
}

// recheck asks the ledger again whether this node is authority-eligible (it
// may have been admitted since it started) and, if it now is, restarts its
// overlay node as an eligible one, under a new incarnation.
func (o *udpOverlay) recheck(ctx context.Context) {
	m, err := o.chain.Member(ctx, o.me.ID())
	if err != nil || m.Role != identity.RoleAuthority {
		return
	}
	n, err := overlay.New(overlay.Config{ID: o.me.ID(), Eligible: true, Incarnation: uint32(time.Now().Unix()) + 1})
	if err != nil {
		return
	}
	o.mu.Lock()
	o.node = n
	o.mu.Unlock()
	o.eligible.Store(true)
	o.log.Info("overlay: this node is now authority-eligible")
}

// flush sends what the node has to send and acts on its decisions. o.mu is held.
func (o *udpOverlay) flush(ctx context.Context) {
	out, decs := o.node.Ready()
	for _, m := range out {
		b, err := m.Encode()
		if err != nil {
			o.log.Error("overlay message", "err", err)
			continue
		}
		for _, p := range o.peers {
			o.conn.WriteToUDP(b, p) // datagrams may be lost; the protocol repeats itself
		}
	}
	for _, d := range decs {
		o.log.Info("overlay", "decision", d.String())
		if _, ok := d.(overlay.BecameHead); ok && ctx.Err() == nil && o.handing.CompareAndSwap(false, true) {
			o.wg.Add(1)
			go func() {
				defer o.wg.Done()
				defer o.handing.Store(false)
				o.takeOver(ctx)
			}()
		}
	}
}

// isHead reports whether the election has this node as a head now.
func (o *udpOverlay) isHead() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.node.Role() == overlay.RoleHead
}

// takeOver submits the handover of this node's cluster to it, again every
// period while the ledger says it is too early, until the ledger names it
// or the election no longer does.
func (o *udpOverlay) takeOver(ctx context.Context) {
	m, err := o.chain.Member(ctx, o.me.ID())
	if err != nil {
		o.log.Warn("handover: not a registered member", "err", err)
		return
	}
	s, err := o.chain.Signer(ctx, o.me.Signing)
	if err != nil {
		return
	}
	submitted := false
	for o.isHead() && ctx.Err() == nil {
		info, err := o.chain.Cluster(ctx, m.Cluster)
		if err == nil && info.Cluster.Head == o.me.ID() {
			if submitted { // an earlier attempt committed after all
				o.handovers.Add(1)
			}
			return // the ledger agrees
		}
		if err == nil {
			submitted = true
			h := &ledger.Handover{Cluster: m.Cluster, NewHead: o.me.ID()}
			o.mu.Lock()
			if a, ok := o.atts[info.Cluster.Head]; ok {
				h.Attestations = []ledger.Attestation{a} // the old head hands over: no need to wait
			}
			o.mu.Unlock()
			cm, err := s.Submit(ctx, h)
			if err == nil {
				err = cm.Err()
			}
			if err == nil {
				o.handovers.Add(1)
				o.log.Info("handover committed: this node heads its cluster", "cluster", m.Cluster, "old_head", info.Cluster.Head)
				return
			}
			o.log.Info("handover not yet accepted", "cluster", m.Cluster, "err", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(o.period):
		}
	}
}

// handoffMagic starts an attestation datagram, which the overlay's own
// messages (CBOR maps) never do.
var handoffMagic = []byte("VCHANDOFF1")

// handoff is what an old head sends the head the overlay elected in its
// place: its attestation of the handover, so that the ledger takes it at
// once rather than after HeadAbsentMs.
type handoff struct {
	Statement   ledger.HandoverStatement `cbor:"1,keyasint"`
	Attestation ledger.Attestation       `cbor:"2,keyasint"`
}

// errBadHandoff is a handoff datagram that does not decode or is not for
// this node.
var errBadHandoff = errors.New("bad handoff datagram")

// parseHandoff decodes a handoff (after its magic) from untrusted bytes and
// checks that it hands over to me and is attested by the old head it names.
func parseHandoff(b []byte, me identity.ID) (handoff, error) {
	var h handoff
	if err := codec.UnmarshalLimit(b, 1024, &h); err != nil {
		return h, fmt.Errorf("%w: %w", errBadHandoff, err)
	}
	if h.Statement.NewHead != me || h.Attestation.Authority != h.Statement.OldHead {
		return h, fmt.Errorf("%w: not a handover to this node by the old head", errBadHandoff)
	}
	return h, nil
}

// handOff: if the ledger names this node head of its cluster but the
// overlay has it as a member of another eligible member's cluster, it
// sends that head its attestation, until the handover has happened.
func (o *udpOverlay) handOff(ctx context.Context) {
	o.mu.Lock()
	st := o.node.Status()
	o.mu.Unlock()
	if st.Role != overlay.RoleMember || st.Head == o.me.ID() {
		return
	}
	me, err := o.chain.Member(ctx, o.me.ID())
	if err != nil {
		return
	}
	info, err := o.chain.Cluster(ctx, me.Cluster)
	if err != nil || info.Cluster.Head != o.me.ID() {
		return
	}
	nh, err := o.chain.Member(ctx, st.Head)
	if err != nil || nh.Role != identity.RoleAuthority || nh.Cluster != me.Cluster {
		return // the overlay's head may not head this cluster on the ledger
	}
	stmt := ledger.HandoverStatement{Cluster: me.Cluster, OldHead: o.me.ID(), NewHead: st.Head}
	att, err := ledger.Attest(o.me.Signing, stmt)
	if err != nil {
		return
	}
	b, err := codec.Marshal(&handoff{Statement: stmt, Attestation: att})
	if err != nil {
		return
	}
	b = append(append([]byte{}, handoffMagic...), b...)
	for _, p := range o.peers {
		o.conn.WriteToUDP(b, p)
	}
	o.log.Info("overlay: handing the cluster over to the elected head", "cluster", me.Cluster, "new_head", st.Head)
}

// receiveAttestation keeps an old head's attestation of this node's
// takeover. The ledger checks its signature; here it is only kept if it
// names this node.
func (o *udpOverlay) receiveAttestation(b []byte) {
	h, err := parseHandoff(b, o.me.ID())
	if err != nil {
		o.refused.Add(1)
		o.log.Debug("handoff datagram refused", "err", err)
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.atts) >= 16 {
		clear(o.atts)
	}
	o.atts[h.Statement.OldHead] = h.Attestation
}
