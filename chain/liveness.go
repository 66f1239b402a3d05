package chain

import (
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	gogotypes "github.com/cosmos/gogoproto/types"

	"github.com/cometbft/cometbft/p2p"
	"github.com/cometbft/cometbft/p2p/conn"
)

// Peer liveness: CometBFT v0.38 finds a dead connection only by its own
// ping, every 60 s with a 45 s pong timeout, and neither is reachable from
// its configuration. Across a network cut that leaves the TCP connections
// half open, a node keeps its dead peers for minutes, its unacknowledged
// data backing off in the kernel (after a 20 s cut the retransmission timer
// stands at about 13 s), so the chain resumes seconds after the network has
// healed. Its own redial of a persistent peer waits 5 to 8 s between tries.
//
// The liveness reactor closes both gaps through CometBFT's public reactor
// API: it sends each peer that speaks its channel a heartbeat every
// heartbeatEvery, drops a peer it has heard nothing from on that channel
// for peerDeadAfter (the switch then redials it), and dials every
// persistent peer that is neither connected nor being dialled once per
// redialEvery. After a heal, a node is back with its peers within about a
// redial period, whatever the length of the cut. A peer without the
// channel (an older node) gets no heartbeat and is never dropped.
const (
	livenessChannel = byte(0x7A) // not one of CometBFT's (0x00–0x61)
	heartbeatEvery  = 500 * time.Millisecond
	// peerDeadAfter: six heartbeats. A WAN's loss stalls a TCP stream for
	// an RTO and its doublings (0.4 s, 0.8 s, 1.6 s… at 100 ms of delay):
	// 3 s is three losses in a row, while a cut stays silent for good.
	peerDeadAfter = 3 * time.Second
	redialEvery   = time.Second
)

// errPeerSilent is why the liveness reactor drops a peer.
var errPeerSilent = errors.New("no heartbeat from peer")

type liveness struct {
	p2p.BaseReactor
	persistent []*p2p.NetAddress
	log        *slog.Logger

	mu   sync.Mutex
	last map[p2p.ID]time.Time // last heartbeat of each peer that speaks the channel
	done chan struct{}
	wg   sync.WaitGroup
}

// newLiveness returns the reactor for a node whose persistent peers are
// the comma-separated list peers (as in config.toml).
func newLiveness(peers string, log *slog.Logger) (*liveness, error) {
	var list []string
	for _, p := range strings.Split(peers, ",") {
		if p = strings.TrimSpace(p); p != "" {
			list = append(list, p)
		}
	}
	addrs, errs := p2p.NewNetAddressStrings(list)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	l := &liveness{persistent: addrs, log: log, last: map[p2p.ID]time.Time{}}
	l.BaseReactor = *p2p.NewBaseReactor("VitalChainLiveness", l)
	return l, nil
}

// GetChannels implements p2p.Reactor.
func (l *liveness) GetChannels() []*conn.ChannelDescriptor {
	return []*conn.ChannelDescriptor{{
		ID:                  livenessChannel,
		Priority:            10, // ahead of bulk traffic, like consensus votes
		SendQueueCapacity:   2,
		RecvMessageCapacity: 64,
		MessageType:         &gogotypes.UInt64Value{},
	}}
}

// speaks reports whether the peer runs a liveness reactor.
func speaks(p p2p.Peer) bool {
	ni, ok := p.NodeInfo().(p2p.DefaultNodeInfo)
	return ok && ni.HasChannel(livenessChannel)
}

// AddPeer implements p2p.Reactor.
func (l *liveness) AddPeer(p p2p.Peer) {
	if !speaks(p) {
		return
	}
	l.mu.Lock()
	l.last[p.ID()] = time.Now()
	l.mu.Unlock()
}

// RemovePeer implements p2p.Reactor.
func (l *liveness) RemovePeer(p p2p.Peer, _ any) {
	l.mu.Lock()
	delete(l.last, p.ID())
	l.mu.Unlock()
}

// Receive implements p2p.Reactor: any message on the channel is a heartbeat.
func (l *liveness) Receive(e p2p.Envelope) {
	l.mu.Lock()
	if _, ok := l.last[e.Src.ID()]; ok {
		l.last[e.Src.ID()] = time.Now()
	}
	l.mu.Unlock()
}

// OnStart implements service.Service.
func (l *liveness) OnStart() error {
	l.done = make(chan struct{})
	l.wg.Add(1)
	go l.run()
	return nil
}

// OnStop implements service.Service.
func (l *liveness) OnStop() {
	close(l.done)
	l.wg.Wait()
}

func (l *liveness) run() {
	defer l.wg.Done()
	beat := time.NewTicker(heartbeatEvery)
	defer beat.Stop()
	redial := time.NewTicker(redialEvery)
	defer redial.Stop()
	var n uint64
	for {
		select {
		case <-l.done:
			return
		case <-beat.C:
			n++
			l.beat(n)
		case <-redial.C:
			l.redial()
		}
	}
}

// beat sends every peer a heartbeat and drops those silent too long.
func (l *liveness) beat(n uint64) {
	sw := l.Switch
	if sw == nil || !sw.IsRunning() {
		return
	}
	now := time.Now()
	for _, p := range sw.Peers().List() {
		l.mu.Lock()
		last, ok := l.last[p.ID()]
		l.mu.Unlock()
		if !ok {
			continue
		}
		if now.Sub(last) > peerDeadAfter {
			l.log.Info("dropping a silent peer", "peer", p.ID(), "silent", now.Sub(last).Round(time.Millisecond))
			l.mu.Lock()
			delete(l.last, p.ID()) // dropped once
			l.mu.Unlock()
			// StopPeerForError calls RemovePeer, and redials a persistent peer.
			go sw.StopPeerForError(p, errPeerSilent)
			continue
		}
		p.TrySend(p2p.Envelope{ChannelID: livenessChannel, Message: &gogotypes.UInt64Value{Value: n}})
	}
}

// redial dials each persistent peer that is neither connected nor being
// dialled (DialPeerWithAddress checks both). A dial is not waited for on
// stop: it ends by itself within the dial and handshake timeouts, as the
// switch's own redials do.
func (l *liveness) redial() {
	sw := l.Switch
	if sw == nil || !sw.IsRunning() {
		return
	}
	for _, a := range l.persistent {
		if sw.IsDialingOrExistingAddress(a) {
			continue
		}
		go func() {
			if err := sw.DialPeerWithAddress(a); err != nil {
				l.log.Debug("redial", "peer", a.ID, "err", err)
			}
		}()
	}
}
