package udp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vitalchain/vitalchain/client"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/ledger"
	"github.com/vitalchain/vitalchain/overlay"
)

// period is the HELLO period of the tests over a fake ledger.
const period = 50 * time.Millisecond

// fakeLedger is a ledger in memory that the runners of a test share: its
// members, its clusters' heads, and the handovers it took. Like the real
// one it takes a handover signed by the new head that the old head
// attests, or, once the old head is absent, one that nobody attests. While
// stalled, every call blocks until its context ends.
type fakeLedger struct {
	stall   atomic.Bool
	stalled atomic.Int32 // calls blocked now

	mu       sync.Mutex
	ids      map[identity.ID]*identity.Identity
	members  map[identity.ID]ledger.Member
	heads    map[uint32]identity.ID
	terms    map[uint32]uint64 // handovers per cluster, which attestations sign
	absent   map[identity.ID]bool
	lose     bool // the next handover commits, but its submitter does not see the commit
	accepted []ledger.Handover
}

func newFakeLedger() *fakeLedger {
	return &fakeLedger{ids: map[identity.ID]*identity.Identity{}, members: map[identity.ID]ledger.Member{},
		heads: map[uint32]identity.ID{}, terms: map[uint32]uint64{}, absent: map[identity.ID]bool{}}
}

// admit registers an authority-eligible member of cluster.
func (f *fakeLedger) admit(a *identity.Identity, cluster uint32) {
	f.admitAs(a, identity.RoleAuthority, cluster)
}

// admitAs registers a member of cluster with role.
func (f *fakeLedger) admitAs(a *identity.Identity, role identity.Role, cluster uint32) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ids[a.ID()] = a
	f.members[a.ID()] = ledger.Member{Role: role, Verifying: a.Signing.Public().Bytes(), Cluster: cluster, Home: cluster}
}

func (f *fakeLedger) head(cluster uint32) identity.ID {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.heads[cluster]
}

func (f *fakeLedger) handovers() []ledger.Handover {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.accepted)
}

// wait blocks, while the ledger is stalled, until ctx ends.
func (f *fakeLedger) wait(ctx context.Context) error {
	if !f.stall.Load() {
		return ctx.Err()
	}
	f.stalled.Add(1)
	defer f.stalled.Add(-1)
	<-ctx.Done()
	return ctx.Err()
}

// attested reports whether the old head attested h. f.mu is held.
func (f *fakeLedger) attested(h *ledger.Handover, old identity.ID) bool {
	oh, ok := f.ids[old]
	if !ok {
		return false
	}
	// Ed25519 signatures are deterministic: the old head's is this one.
	want, err := ledger.Attest(oh.Signing, ledger.HandoverStatement{Cluster: h.Cluster, OldHead: old, NewHead: h.NewHead, Term: f.terms[h.Cluster]})
	if err != nil {
		return false
	}
	for _, a := range h.Attestations {
		if a.Authority == old && bytes.Equal(a.Sig, want.Sig) {
			return true
		}
	}
	return false
}

// as is the ledger as the node me sees it: me signs its handovers.
func (f *fakeLedger) as(me *identity.Identity) Ledger { return fakeView{f, me.ID()} }

type fakeView struct {
	f  *fakeLedger
	me identity.ID
}

func (v fakeView) Member(ctx context.Context, id identity.ID) (*ledger.Member, error) {
	if err := v.f.wait(ctx); err != nil {
		return nil, err
	}
	v.f.mu.Lock()
	defer v.f.mu.Unlock()
	m, ok := v.f.members[id]
	if !ok {
		return nil, fmt.Errorf("member %s: %w", id, client.ErrNotFound)
	}
	return &m, nil
}

func (v fakeView) Cluster(ctx context.Context, n uint32) (*ledger.ClusterInfo, error) {
	if err := v.f.wait(ctx); err != nil {
		return nil, err
	}
	v.f.mu.Lock()
	defer v.f.mu.Unlock()
	info := &ledger.ClusterInfo{Cluster: ledger.Cluster{ID: n, Head: v.f.heads[n], Term: v.f.terms[n]}}
	for id, m := range v.f.members {
		if m.Cluster != n {
			continue
		}
		switch m.Role {
		case identity.RoleAuthority:
			info.Eligible = append(info.Eligible, id)
		case identity.RolePatient:
			info.Requestees = append(info.Requestees, id)
		case identity.RoleProvider:
			info.Requesters = append(info.Requesters, id)
		case identity.RoleDevice:
			info.Devices = append(info.Devices, id)
		case identity.RoleCloud:
			info.Clouds = append(info.Clouds, id)
		}
	}
	return info, nil
}

func (v fakeView) Handover(ctx context.Context, h *ledger.Handover) error {
	if err := v.f.wait(ctx); err != nil {
		return err
	}
	f := v.f
	f.mu.Lock()
	defer f.mu.Unlock()
	old := f.heads[h.Cluster]
	switch {
	case h.NewHead != v.me:
		return errors.New("handover signed by another node than the new head")
	case f.members[v.me].Cluster != h.Cluster:
		return errors.New("handover of another cluster")
	case !f.absent[old] && !f.attested(h, old):
		return errors.New("too early: the head is present and did not attest")
	}
	f.heads[h.Cluster] = h.NewHead
	f.terms[h.Cluster]++
	f.accepted = append(f.accepted, *h)
	if f.lose {
		f.lose = false
		return errors.New("wait for commit: context deadline exceeded")
	}
	return nil
}

// startRunners runs the overlays of ids over loopback UDP, every one a
// neighbour of every other, on the ledger f, until ctx or the test ends.
func startRunners(t *testing.T, ctx context.Context, f *fakeLedger, ids ...*identity.Identity) []*Runner {
	t.Helper()
	return startRunnersWith(t, ctx, f, nil, ids...)
}

// counterFile returns a new counter file in the test's temporary
// directories.
func counterFile(t *testing.T) string { return filepath.Join(t.TempDir(), "overlay-counter") }

// startRunnersWith is startRunners whose runners also send to extra (a
// spy's or a spoofer's sockets).
func startRunnersWith(t *testing.T, ctx context.Context, f *fakeLedger, extra []*net.UDPAddr, ids ...*identity.Identity) []*Runner {
	t.Helper()
	conns := make([]*net.UDPConn, len(ids))
	for i := range conns {
		c, err := Listen("127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		conns[i] = c
	}
	ctx, cancel := context.WithCancel(ctx)
	var rs []*Runner
	t.Cleanup(func() {
		cancel()
		for _, r := range rs {
			r.Wait()
		}
	})
	for i, id := range ids {
		peers := slices.Clone(extra)
		for j, c := range conns {
			if j != i {
				peers = append(peers, c.LocalAddr().(*net.UDPAddr))
			}
		}
		r, err := Start(ctx, Config{Identity: id, CounterFile: counterFile(t), Ledger: f.as(id), Conn: conns[i], Peers: peers, Period: period})
		if err != nil {
			t.Fatal(err)
		}
		rs = append(rs, r)
	}
	return rs
}

// authorities returns n authority identities in ascending ID order: with
// the same density, the first ranks highest in the election.
func authorities(t *testing.T, n int) []*identity.Identity {
	t.Helper()
	var out []*identity.Identity
	for range n {
		a, err := identity.Generate(identity.RoleAuthority, identity.SuiteX25519)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, a)
	}
	slices.SortFunc(out, func(a, b *identity.Identity) int {
		x, y := a.ID(), b.ID()
		return bytes.Compare(x[:], y[:])
	})
	return out
}

// A ledger that never answers delays no heartbeat: its calls run on the
// driver's goroutine, while the overlay keeps ticking and exchanging
// HELLOs. Stalled here are the head's takeover and the member's handoff
// (eligible nodes), or the membership reads of two patients of a cluster
// with no authority (unclustered). Once the runners' context ends, Wait
// returns, stalled calls and all.
func TestStalledLedgerDelaysNoHeartbeat(t *testing.T) {
	for _, tc := range []struct {
		name     string
		eligible bool
	}{
		{"head and member", true},
		{"unclustered", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			f := newFakeLedger()
			ids := authorities(t, 2)
			role := identity.RolePatient
			if tc.eligible {
				role = identity.RoleAuthority
			}
			f.admitAs(ids[0], role, 4)
			f.admitAs(ids[1], role, 4)
			rctx, stop := context.WithCancel(ctx)
			defer stop()
			rs := startRunners(t, rctx, f, ids...)
			f.stall.Store(true) // Start asked for eligibility; nothing more gets an answer
			a, b := rs[0], rs[1]
			settled := func() bool {
				sa, sb := a.Status(), b.Status()
				if tc.eligible {
					return sa.Role == overlay.RoleHead && sb.Role == overlay.RoleMember && sb.Head == ids[0].ID()
				}
				return sa.Role == overlay.RoleUnclustered && sb.Role == overlay.RoleUnclustered
			}
			waitFor(t, ctx, "the election", settled)
			waitFor(t, ctx, "a ledger call of each runner stalled", func() bool { return f.stalled.Load() == 2 })

			// From now on the ledger answers nothing; heartbeats still go
			// both ways, one a period.
			ra, rb := a.Stats().Node.Received, b.Stats().Node.Received
			const want = 2 * overlay.MissedHeartbeats
			hctx, hcancel := context.WithTimeout(ctx, 10*overlay.MissedHeartbeats*period)
			defer hcancel()
			waitFor(t, hctx, fmt.Sprintf("%d more HELLOs each way within %v", want, 10*overlay.MissedHeartbeats*period), func() bool {
				return a.Stats().Node.Received >= ra+want && b.Stats().Node.Received >= rb+want
			})
			if !settled() {
				t.Fatalf("roles changed while the ledger stalled: %+v, %+v", a.Status(), b.Status())
			}
			if n := f.stalled.Load(); n != 2 {
				t.Fatalf("%d ledger calls stalled, want 2", n)
			}
			if len(f.handovers()) != 0 || a.Handovers() != 0 {
				t.Fatal("a handover through a stalled ledger")
			}

			stop()
			done := make(chan struct{})
			go func() { a.Wait(); b.Wait(); close(done) }()
			waitFor(t, ctx, "the runners to end with their context", func() bool {
				select {
				case <-done:
					return true
				default:
					return false
				}
			})
		})
	}
}

// The handover driver over a fake ledger: the elected head takes its
// cluster over with the attestation the live old head sends it, or, when
// the old head is absent, with none; a commit that the new head did not
// see is counted once the ledger names it.
func TestHandover(t *testing.T) {
	for _, tc := range []struct {
		name     string
		live     bool // the old head runs and attests; else it is absent
		lose     bool // the commit is not seen by its submitter
		attested bool // the handover taken carries the old head's attestation
	}{
		{"the live head attests", true, false, true},
		{"the head is absent", false, false, false},
		{"the commit is seen late", false, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			f := newFakeLedger()
			ids := authorities(t, 2) // ids[0] wins the election, ids[1] heads the cluster on the ledger
			newHead, oldHead := ids[0], ids[1]
			f.admit(newHead, 4)
			f.admit(oldHead, 4)
			f.heads[4] = oldHead.ID()
			f.absent[oldHead.ID()] = !tc.live
			f.lose = tc.lose
			running := []*identity.Identity{newHead}
			if tc.live {
				running = append(running, oldHead)
			}
			rs := startRunners(t, ctx, f, running...)
			waitFor(t, ctx, "the ledger to name the elected head", func() bool { return f.head(4) == newHead.ID() })
			waitFor(t, ctx, "the new head to count its handover", func() bool { return rs[0].Handovers() == 1 })
			if !rs[0].IsHead() {
				t.Fatalf("the new head is %s", rs[0].Status().Role)
			}
			hs := f.handovers()
			if len(hs) != 1 {
				t.Fatalf("%d handovers taken, want 1", len(hs))
			}
			if got := len(hs[0].Attestations) == 1 && hs[0].Attestations[0].Authority == oldHead.ID(); got != tc.attested {
				t.Fatalf("handover %+v: attested by the old head %v, want %v", hs[0], got, tc.attested)
			}
			if tc.live && rs[1].Handovers() != 0 {
				t.Fatal("the old head counted a handover")
			}
		})
	}
}

func TestParsePeers(t *testing.T) {
	for _, tc := range []struct {
		list string
		want []string
		ok   bool
	}{
		{"", nil, true},
		{"127.0.0.1:27000", []string{"127.0.0.1:27000"}, true},
		{" 127.0.0.1:27000 ,, 127.0.0.1:27001,", []string{"127.0.0.1:27000", "127.0.0.1:27001"}, true},
		{"[::1]:27000", []string{"[::1]:27000"}, true},
		{"127.0.0.1", nil, false},
		{"127.0.0.1:27000,127.0.0.1:port", nil, false},
	} {
		peers, err := ParsePeers(tc.list)
		if (err == nil) != tc.ok {
			t.Errorf("%q: %v", tc.list, err)
			continue
		}
		var got []string
		for _, p := range peers {
			got = append(got, p.String())
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%q: %v, want %v", tc.list, got, tc.want)
		}
	}
}

// Start refuses a config it cannot run, and a ledger that fails to say
// whether the node is eligible; a node the ledger does not know runs, not
// eligible.
func TestStart(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	me, _ := identity.Generate(identity.RoleAuthority, identity.SuiteX25519)
	conn, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	stalled := newFakeLedger()
	stalled.stall.Store(true)
	dead, stop := context.WithCancel(ctx)
	stop()
	ok := Config{Identity: me, CounterFile: filepath.Join(t.TempDir(), "counter"), Ledger: newFakeLedger().as(me), Conn: conn, Period: period}
	corrupt := filepath.Join(t.TempDir(), "corrupt")
	if err := os.WriteFile(corrupt, []byte("v1 12\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	with := func(f func(*Config)) Config { c := ok; f(&c); return c }
	for _, tc := range []struct {
		name string
		ctx  context.Context
		cfg  Config
		want error
	}{
		{"no identity", ctx, with(func(c *Config) { c.Identity = nil }), errConfig},
		{"no ledger", ctx, with(func(c *Config) { c.Ledger = nil }), errConfig},
		{"no socket", ctx, with(func(c *Config) { c.Conn = nil }), errConfig},
		{"no period", ctx, with(func(c *Config) { c.Period = 0 }), errConfig},
		{"no counter file", ctx, with(func(c *Config) { c.CounterFile = "" }), errConfig},
		{"a corrupt counter file", ctx, with(func(c *Config) { c.CounterFile = corrupt }), ErrCounterFile},
		{"no answer", dead, with(func(c *Config) { c.Ledger = stalled.as(me) }), context.Canceled},
	} {
		if _, err := Start(tc.ctx, tc.cfg); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	r, err := Start(ctx, ok)
	if err != nil {
		t.Fatal(err)
	}
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	waitFor(t, wctx, "the node, alone and not eligible, unclustered", func() bool {
		st := r.Status()
		return st.ID == me.ID() && st.Role == overlay.RoleUnclustered
	})
	cancel()
	r.Wait()
	if _, err := conn.WriteToUDP([]byte{0}, conn.LocalAddr().(*net.UDPAddr)); !errors.Is(err, net.ErrClosed) {
		t.Errorf("socket after the runner ended: %v", err)
	}
}
