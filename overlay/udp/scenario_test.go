package udp

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/vitalchain/vitalchain/chain"
	"github.com/vitalchain/vitalchain/client"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/ledger"
)

// The overlay as `vitalchain node` runs it, over UDP on loopback: cluster
// 4's head (node 3), its standby (node 4, authority-eligible) and a device
// (a patient of cluster 4) that only the head reaches. The head wins the first election; when its
// node stops, the standby takes over in the overlay and hands the cluster
// over on the ledger, which accepts once the old head has been missing from
// HeadAbsentCommits consecutive commits over HeadAbsentMs (each refused
// attempt makes a block, hence a commit); the standby becomes a validator.
func TestNodeOverlayTakesOverAStoppedHead(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 4-authority network")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	w := newOverlayWorld(t, ctx, 0)
	ln, c0, head, standby, ho, so, clients, stopHead := w.ln, w.c0, w.head, w.standby, w.ho, w.so, w.clients, w.stopHead
	defer func() { cancel(); so.Wait(); w.dev.Wait(); clients[1].Close() }()
	waitFor(t, ctx, "the head elected in the overlay", func() bool { return ho.IsHead() && !so.IsHead() })

	// The head's node stops: its overlay first, then its client, then the node.
	stopHead()
	ho.Wait()
	clients[0].Close()
	stopped := time.Now()
	if err := ln.StopNode(3); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the standby elected in the overlay", so.IsHead)
	waitFor(t, ctx, "the ledger to see the head missing from the commits", func() bool {
		var a ledger.Absence
		return c0.Query(ctx, ledger.AbsentPath(head.ID()), &a) == nil && a.Since >= stopped.UnixMilli()-1000
	})
	waitFor(t, ctx, "the handover committed", func() bool {
		var info ledger.ClusterInfo
		return c0.Query(ctx, "cluster/4", &info) == nil && info.Cluster.Head == standby.ID()
	})
	took := time.Since(stopped)
	if took < time.Duration(ledger.DefaultParams().HeadAbsentMs)*time.Millisecond {
		t.Fatalf("handover %v after the head stopped, before HeadAbsentMs", took)
	}
	// The standby learns of its commit through its own node, a moment later.
	waitFor(t, ctx, "the standby to see its handover committed", func() bool { return so.Handovers() == 1 })
	waitFor(t, ctx, "the standby a validator, the old head not", func() bool {
		auths, err := c0.Authorities(ctx)
		if err != nil {
			return false
		}
		in, out := false, true
		for _, a := range auths {
			in = in || a.ID == standby.ID()
			out = out && a.ID != head.ID()
		}
		return in && out
	})
	t.Logf("cluster 4 handed over %v after its head stopped", took)
}

// Any cluster may elect a new head at any time: here the device hears only
// the standby, so the overlay elects the standby while the ledger's head is
// alive. The old head, now a member of the standby's cluster, attests the
// handover and sends it over the overlay: the ledger takes it at once,
// with no absence to wait for.
func TestNodeOverlayLiveHandoff(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 4-authority network")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	w := newOverlayWorld(t, ctx, 1)
	defer func() {
		cancel()
		w.ho.Wait()
		w.so.Wait()
		w.dev.Wait()
		w.clients[0].Close()
		w.clients[1].Close()
	}()
	start := time.Now()
	waitFor(t, ctx, "the standby elected in the overlay", func() bool { return w.so.IsHead() && !w.ho.IsHead() })
	waitFor(t, ctx, "the handover committed", func() bool {
		var info ledger.ClusterInfo
		return w.c0.Query(ctx, "cluster/4", &info) == nil && info.Cluster.Head == w.standby.ID()
	})
	took := time.Since(start)
	waitFor(t, ctx, "the standby to see its handover committed", func() bool { return w.so.Handovers() == 1 })
	// The head never stopped signing: only its attestation can have done it.
	var absent ledger.Absence
	if err := w.c0.Query(ctx, ledger.AbsentPath(w.head.ID()), &absent); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("the old head's absence: %v (%+v)", err, absent)
	}
	t.Logf("cluster 4 handed over by its live head %v after the overlays started", took)
}

// overlayWorld is a 4-authority chain with a standby (node 4) and a
// patient's device admitted to cluster 4, and the overlays of cluster 4's head (node 3), the standby and
// a device over loopback UDP, each reading the ledger through a client of
// its own node (the device: node 0's). The device hears only the head
// (deviceHears 0) or only the standby (1), which decides the first
// election.
type overlayWorld struct {
	ln            *chain.LocalNet
	c0            *client.Client
	head, standby *identity.Identity
	ho, so, dev   *Runner
	clients       []*client.Client
	stopHead      context.CancelFunc
}

func newOverlayWorld(t *testing.T, ctx context.Context, deviceHears int) *overlayWorld {
	t.Helper()
	ln, err := chain.StartLocal(ctx, chain.TestnetOptions{Nodes: 4, Standby: 1, Dir: filepath.Join(t.TempDir(), "chain"), BlockInterval: 100 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Stop() })
	c0 := client.New(ln.Nodes[0].Local(), nil)
	t.Cleanup(func() { c0.Close() })
	head, standby := ln.Testnet.Authorities[3], ln.Testnet.Authorities[4]
	r, err := ledger.NewRegister(standby, 4, identity.ID{}, ln.Nodes[4].ConsensusKey())
	if err != nil {
		t.Fatal(err)
	}
	s, err := c0.Signer(ctx, head.Signing)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Submit(ctx, r); err != nil {
		t.Fatalf("admit the standby: %v", err)
	}
	// The device is a patient's phone of cluster 4: a member, not eligible.
	// (The overlay admits the members of a node's cluster only.)
	device, _ := identity.Generate(identity.RolePatient, identity.SuiteX25519)
	if r, err = ledger.NewRegister(device, 4, identity.ID{}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Submit(ctx, r); err != nil {
		t.Fatalf("admit the device: %v", err)
	}

	conns := make([]*net.UDPConn, 3) // head, standby, device
	for i := range conns {
		if conns[i], err = Listen("127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
	}
	addr := func(i int) *net.UDPAddr { return conns[i].LocalAddr().(*net.UDPAddr) }
	log := slog.New(slog.DiscardHandler)
	const period = 200 * time.Millisecond
	clients := []*client.Client{client.New(ln.Nodes[3].Local(), nil), client.New(ln.Nodes[4].Local(), nil), c0}
	// Each node reads eligibility from its own view of the ledger.
	waitFor(t, ctx, "the standby's node to see its registration and the device's", func() bool {
		m, err := clients[1].Member(ctx, standby.ID())
		_, derr := clients[1].Member(ctx, device.ID())
		return err == nil && m.Role == identity.RoleAuthority && derr == nil
	})
	hctx, stopHead := context.WithCancel(ctx)
	headPeers, standbyPeers := []*net.UDPAddr{addr(1)}, []*net.UDPAddr{addr(0)}
	if deviceHears == 0 {
		headPeers = append(headPeers, addr(2))
	} else {
		standbyPeers = append(standbyPeers, addr(2))
	}
	start := func(ctx context.Context, me *identity.Identity, c *client.Client, conn *net.UDPConn, peers []*net.UDPAddr) *Runner {
		t.Helper()
		r, err := Start(ctx, Config{Identity: me, CounterFile: counterFile(t), Ledger: ClientLedger(c, me.Signing), Conn: conn, Peers: peers, Period: period, Log: log})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	ho := start(hctx, head, clients[0], conns[0], headPeers)
	so := start(ctx, standby, clients[1], conns[1], standbyPeers)
	dev := start(ctx, device, c0, conns[2], []*net.UDPAddr{addr(deviceHears)})
	return &overlayWorld{ln: ln, c0: c0, head: head, standby: standby, ho: ho, so: so, dev: dev, clients: clients, stopHead: stopHead}
}

// waitFor polls cond until it holds; the test fails if ctx ends first.
func waitFor(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("never: %s", what)
		case <-time.After(20 * time.Millisecond):
		}
	}
}
