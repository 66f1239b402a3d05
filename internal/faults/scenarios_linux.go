//go:build linux

package faults

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/vitalchain/vitalchain/chain"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/ledger"
	"github.com/vitalchain/vitalchain/overlay"
)

// The impairments of the scenarios.
var (
	loss30   = Impairment{Loss: 0.30}
	delay300 = Impairment{Delay: 300 * time.Millisecond, Jitter: 100 * time.Millisecond}
	// wanLink is a link between hospitals: 100 ms ± 20 ms one way (a
	// 200 ms round trip), 2 % of packets lost.
	wanLink = Impairment{Delay: 100 * time.Millisecond, Jitter: 20 * time.Millisecond, Loss: 0.02}
)

// Goals of the wan scenario.
const (
	wanRateRatio = 0.5
	wanAnchorP99 = 3000 // ms
	// maxBlockTimeOffset: with one clock off by 30 s, the chain's time (the
	// median of the votes' stamps) stays within a few block intervals of
	// the truth.
	maxBlockTimeOffset = 5 * time.Second
	clockSkew          = 30 * time.Second
)

var scenarios = map[string]*scenario{}

func init() {
	for _, sc := range []*scenario{
		{name: "partition_2_2", what: "nodes 0,1 | 2,3 partitioned", fault: 20 * time.Second, heals: true, do: partition},
		{name: "isolate_proposer", what: "the proposer cut off", fault: 15 * time.Second, heals: true, liveDuring: true, do: isolateProposer},
		{name: "loss_30", what: "30% loss on every link", fault: 20 * time.Second, heals: true, do: impaired(loss30)},
		{name: "delay_300", what: "300 ± 100 ms delay on every link", fault: 20 * time.Second, heals: true, do: impaired(delay300)},
		{name: "kill_restart", what: "node 1 killed (SIGKILL), restarted", fault: 10 * time.Second, heals: true, liveDuring: true, do: killRestart,
			judge: func(w *world, r *ScenarioResult) {
				r.Checks = append(r.Checks, Check{Name: "caught_up", Invariant: true, OK: r.HealToCaughtUpMs >= 0,
					Detail: fmt.Sprintf("the restarted node had the others' height %d ms after its restart", r.HealToCaughtUpMs)})
			}},
		{name: "clock_skew", what: "node 2's clock +30 s, then -30 s", fault: 20 * time.Second, heals: true, liveDuring: true, do: skewClock, judge: judgeClock},
		{name: "head_killed_overlay", what: "cluster 4's head killed; a spoofer replays its datagrams and forges its HELLOs", fault: 30 * time.Second, standby: 1, liveDuring: true,
			prepare: prepareOverlay, do: killHead, judge: judgeHandover},
		{name: "wan", what: "100 ± 20 ms delay, 2% loss on every link", fault: 60 * time.Second, before: 15 * time.Second, heals: true, do: impaired(wanLink), judge: judgeWAN},
	} {
		scenarios[sc.name] = sc
	}
}

func partition(ctx context.Context, w *world, d time.Duration, _ *ScenarioResult) (time.Time, error) {
	for _, i := range []int{2, 3} {
		if err := w.lab.cut(ctx, i); err != nil {
			return time.Time{}, err
		}
	}
	if err := sleep(ctx, d); err != nil {
		return time.Time{}, err
	}
	for _, i := range []int{2, 3} {
		if err := w.lab.join(ctx, i); err != nil {
			return time.Time{}, err
		}
	}
	return time.Now(), nil
}

func isolateProposer(ctx context.Context, w *world, d time.Duration, r *ScenarioResult) (time.Time, error) {
	addr, err := w.rpcs[0].proposer(ctx)
	if err != nil {
		return time.Time{}, err
	}
	i, ok := w.nodeOf(addr)
	if !ok {
		return time.Time{}, fmt.Errorf("the proposer %s is none of the nodes", addr)
	}
	r.Fault = fmt.Sprintf("the proposer (node %d) cut off", i)
	if err := w.lab.cut(ctx, i); err != nil {
		return time.Time{}, err
	}
	if err := sleep(ctx, d); err != nil {
		return time.Time{}, err
	}
	if err := w.lab.join(ctx, i); err != nil {
		return time.Time{}, err
	}
	return time.Now(), nil
}

func impaired(im Impairment) func(context.Context, *world, time.Duration, *ScenarioResult) (time.Time, error) {
	return func(ctx context.Context, w *world, d time.Duration, _ *ScenarioResult) (time.Time, error) {
		if err := w.impair(ctx, im); err != nil {
			return time.Time{}, err
		}
		if err := sleep(ctx, d); err != nil {
			return time.Time{}, err
		}
		if err := w.impair(ctx, Impairment{}); err != nil {
			return time.Time{}, err
		}
		return time.Now(), nil
	}
}

func killRestart(ctx context.Context, w *world, d time.Duration, _ *ScenarioResult) (time.Time, error) {
	w.killNode(1)
	if err := sleep(ctx, d); err != nil {
		return time.Time{}, err
	}
	if err := w.startNode(1); err != nil {
		return time.Time{}, err
	}
	return time.Now(), nil
}

// skewClock restarts node 2 with its clock 30 s ahead, then 30 s behind,
// then right.
func skewClock(ctx context.Context, w *world, d time.Duration, _ *ScenarioResult) (time.Time, error) {
	for _, skew := range []time.Duration{clockSkew, -clockSkew} {
		w.stopNode(2)
		if err := w.startNode(2, "--clock-skew="+skew.String()); err != nil {
			return time.Time{}, err
		}
		if err := sleep(ctx, d/2); err != nil {
			return time.Time{}, err
		}
	}
	w.stopNode(2)
	if err := w.startNode(2); err != nil {
		return time.Time{}, err
	}
	return time.Now(), nil
}

// judgeClock checks the chain's time during the skew: each block's time
// against when the suite first saw it.
func judgeClock(w *world, r *ScenarioResult) {
	var worst time.Duration
	n := 0
	for _, m := range w.metas {
		seen, ok := w.mon.seen(m.Height)
		if !ok || seen.Before(w.start) || seen.After(w.healed) {
			continue
		}
		n++
		worst = max(worst, seen.Sub(m.Time).Abs())
	}
	r.BlockTimeMaxMs = worst.Milliseconds()
	r.Checks = append(r.Checks, Check{Name: "block_time", Invariant: true, OK: n > 0 && worst < maxBlockTimeOffset,
		Detail: fmt.Sprintf("over %d blocks, block time at most %d ms from when it was seen (bound %s; one clock off by %s)", n, worst.Milliseconds(), maxBlockTimeOffset, clockSkew)})
}

func judgeWAN(w *world, r *ScenarioResult) {
	if r.BlocksPerMinBefore > 0 {
		r.RateRatio = float64(int64(r.BlocksPerMinDuring/r.BlocksPerMinBefore*100+0.5)) / 100
	}
	r.Checks = append(r.Checks,
		Check{Name: "wan_rate", OK: r.RateRatio >= wanRateRatio,
			Detail: fmt.Sprintf("%.1f blocks/min on the WAN, %.1f clean: %.2f of the clean rate (goal ≥ %.1f)", r.BlocksPerMinDuring, r.BlocksPerMinBefore, r.RateRatio, wanRateRatio)},
		Check{Name: "wan_anchor_p99", OK: r.Anchors > 0 && r.AnchorP99Ms < wanAnchorP99,
			Detail: fmt.Sprintf("anchoring p99 %.0f ms over %d anchors (goal < %d)", r.AnchorP99Ms, r.Anchors, wanAnchorP99)})
}

// The overlay scenario: nodes 3 (cluster 4's head) and 4 (a standby,
// admitted to cluster 4 as authority-eligible) run the overlay; a spoofer
// on the data bridge hears both (as anyone in radio reach does) and, once
// the head is dead, sends the survivor the dead head's last HELLO again,
// its sequence number raised: today's overlay takes it as a sign of life.
const (
	spoofPort  = 27100
	spoofEvery = 250 * time.Millisecond
	standby    = 4
)

func overlayArgs(i, other int) []string {
	spoofer := net.JoinHostPort(hostDataIP, strconv.Itoa(spoofPort))
	return []string{"--overlay", net.JoinHostPort(dataIP(i), strconv.Itoa(overlayPort)),
		"--overlay-peers", net.JoinHostPort(dataIP(other), strconv.Itoa(overlayPort)) + "," + spoofer}
}

func prepareOverlay(ctx context.Context, w *world) error {
	sp, err := listenSpoofer()
	if err != nil {
		return err
	}
	w.spoof = sp
	for i := range 3 {
		if err := w.startNode(i); err != nil {
			return err
		}
	}
	if err := w.startNode(3, overlayArgs(3, standby)...); err != nil {
		return err
	}
	if err := w.waitUp(ctx, 0, 1, 2, 3); err != nil {
		return err
	}
	if err := w.startLoad(ctx); err != nil {
		return err
	}
	// Admit the standby to cluster 4, as `vitalchain admit --consensus` does.
	sb, err := identity.ReadFile(w.homes[standby] + "/config/" + chain.AuthorityKeyFile)
	if err != nil {
		return err
	}
	cons, err := chain.ConsensusKeyOf(w.homes[standby])
	if err != nil {
		return err
	}
	reg, err := ledger.NewRegister(sb, 4, identity.ID{}, cons)
	if err != nil {
		return err
	}
	head, err := w.clients[0].Signer(ctx, w.auths[3].Signing)
	if err != nil {
		return err
	}
	if _, err := head.Submit(ctx, reg); err != nil {
		return fmt.Errorf("admit the standby: %w", err)
	}
	if err := w.startNode(standby, overlayArgs(standby, 3)...); err != nil {
		return err
	}
	if err := w.waitUp(ctx, standby); err != nil {
		return err
	}
	w.say("head_killed_overlay: waiting for the overlay to elect cluster 4's head with the standby, eligible, as its member…")
	return waitFor(ctx, 90*time.Second, "the overlay's cluster of head and eligible standby, its head the ledger's", func() bool {
		if !sp.heard(dataIP(3), dataIP(standby)) {
			return false
		}
		info, err := w.clients[0].Cluster(ctx, 4)
		return err == nil && (info.Cluster.Head == w.auths[3].ID() || info.Cluster.Head == w.auths[standby].ID())
	})
}

func killHead(ctx context.Context, w *world, d time.Duration, r *ScenarioResult) (time.Time, error) {
	info, err := w.clients[0].Cluster(ctx, 4)
	if err != nil {
		return time.Time{}, err
	}
	dead, survivor := 3, standby
	if info.Cluster.Head == w.auths[standby].ID() {
		dead, survivor = standby, 3
	}
	w.survivor = survivor
	r.Fault = fmt.Sprintf("cluster 4's head (node %d) killed", dead)
	killed := time.Now()
	w.killNode(dead)
	sctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	if !w.o.NoSpoof {
		r.Fault += "; a spoofer replays its datagrams and forges its HELLOs"
		to := &net.UDPAddr{IP: net.ParseIP(dataIP(survivor)), Port: overlayPort}
		wg.Go(func() { w.spoof.forge(sctx, dataIP(dead), w.auths[dead].ID(), to) })
	}
	want := w.auths[survivor].ID()
	err = waitFor(ctx, d, "handover", func() bool {
		info, err := w.clients[0].Cluster(ctx, 4)
		return err == nil && info.Cluster.Head == want
	})
	healed := time.Now()
	stop()
	wg.Wait()
	r.Spoofed = w.spoof.count()
	w.handedOver = err == nil
	if err == nil {
		r.HandoverMs = healed.Sub(killed).Milliseconds()
	}
	if ctx.Err() != nil {
		return time.Time{}, ctx.Err()
	}
	// The old head comes back as a plain node, so that every node's chain
	// is compared.
	if err := w.startNode(dead); err != nil {
		return time.Time{}, err
	}
	return healed, nil
}

func judgeHandover(w *world, r *ScenarioResult) {
	ok := w.handedOver
	if ok {
		r.HandoverTo = fmt.Sprintf("node %d", w.survivor)
	} else {
		r.HandoverTo = "none within the fault"
		if info, err := w.clients[0].Cluster(context.Background(), 4); err == nil && info.Cluster.Head == w.auths[w.survivor].ID() {
			r.HandoverTo += fmt.Sprintf(" (node %d after it)", w.survivor)
		}
	}
	detail := fmt.Sprintf("cluster 4 handed over to node %d (the surviving eligible node) %d ms after the head's death", w.survivor, r.HandoverMs)
	if !ok {
		detail = fmt.Sprintf("cluster 4 not handed over to node %d within %.0f s of the head's death", w.survivor, r.FaultS)
	}
	if !w.o.NoSpoof {
		detail += fmt.Sprintf(", while a spoofer sent it %d forged HELLOs and replayed datagrams", r.Spoofed)
		if !ok {
			detail += ": the overlay took them for the dead head's"
		}
	}
	r.Checks = append(r.Checks, Check{Name: "handover", Invariant: true, OK: ok, Detail: detail})
}

// spoofer hears the overlay's datagrams on the data bridge, keeps the
// latest ones of each node (by its address), and attacks a dead head's
// cluster with them: it replays the head's own signed datagrams, and sends
// HELLOs in its name, unsigned, their sequence numbers far above any real
// one.
type spoofer struct {
	conn *net.UDPConn

	mu   sync.Mutex
	last map[string][][]byte // the latest datagrams of each node, by IP
	sent int
	wg   sync.WaitGroup
}

// spoofKeep is how many of a node's latest datagrams the spoofer keeps.
const spoofKeep = 16

func listenSpoofer() (*spoofer, error) {
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(hostDataIP), Port: spoofPort})
	if err != nil {
		return nil, fmt.Errorf("spoofer: %w", err)
	}
	s := &spoofer{conn: conn, last: map[string][][]byte{}}
	s.wg.Go(func() {
		buf := make([]byte, 64<<10)
		for {
			n, from, err := conn.ReadFromUDP(buf)
			if err != nil {
				return // closed
			}
			ip := from.IP.String()
			s.mu.Lock()
			kept := append(s.last[ip], bytes.Clone(buf[:n]))
			if len(kept) > spoofKeep {
				kept = kept[len(kept)-spoofKeep:]
			}
			s.last[ip] = kept
			s.mu.Unlock()
		}
	})
	return s, nil
}

// heard reports whether the spoofer has datagrams of every node of ips.
func (s *spoofer) heard(ips ...string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ip := range ips {
		if len(s.last[ip]) == 0 {
			return false
		}
	}
	return true
}

// forge sends, every spoofEvery until ctx ends, the dead node's captured
// datagrams again (replays) and a HELLO in its name as a head, unsigned.
func (s *spoofer) forge(ctx context.Context, deadIP string, dead identity.ID, to *net.UDPAddr) {
	s.mu.Lock()
	replays := s.last[deadIP]
	s.mu.Unlock()
	for k := uint64(1); ctx.Err() == nil; k++ {
		hello := overlay.Message{Kind: overlay.KindHello, From: dead, Seq: 1<<62 + k, Role: overlay.RoleHead, Head: dead, Eligible: true}
		if b, err := hello.Encode(); err == nil {
			s.conn.WriteToUDP(b, to)
			s.count1()
		}
		for _, b := range replays {
			s.conn.WriteToUDP(b, to)
			s.count1()
		}
		select {
		case <-ctx.Done():
		case <-time.After(spoofEvery):
		}
	}
}

func (s *spoofer) count1() {
	s.mu.Lock()
	s.sent++
	s.mu.Unlock()
}

func (s *spoofer) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sent
}

func (s *spoofer) close() {
	s.conn.Close()
	s.wg.Wait()
}
