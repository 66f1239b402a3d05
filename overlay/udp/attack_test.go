package udp

import (
	"bytes"
	"context"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/overlay"
)

// The attacks on the overlay of issue 11, each over loopback UDP between
// runners on a fake ledger, with a spoofer that sends what it likes from a
// socket of its own and hears what the runners send it (a spy in their
// peer lists), as anyone on the network can.

// spy is a socket that the runners send to: it keeps the last datagram of
// each sender, and counts the handoffs it hears.
type spy struct {
	conn     *net.UDPConn
	handoffs atomic.Int64
	mu       sync.Mutex
	last     map[identity.ID][]byte
}

func newSpy(t *testing.T) *spy {
	t.Helper()
	c, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &spy{conn: c, last: map[identity.ID][]byte{}}
	done := make(chan struct{})
	t.Cleanup(func() { c.Close(); <-done })
	go func() {
		defer close(done)
		buf := make([]byte, 64<<10)
		for {
			n, _, err := c.ReadFromUDP(buf)
			if err != nil {
				return
			}
			b := bytes.Clone(buf[:n])
			e, from, err := openEnvelope(b)
			if err != nil {
				continue
			}
			if e.Type == typeHandoff {
				s.handoffs.Add(1)
			}
			s.mu.Lock()
			s.last[from] = b
			s.mu.Unlock()
		}
	}()
	return s
}

func (s *spy) addr() *net.UDPAddr { return s.conn.LocalAddr().(*net.UDPAddr) }

// captured returns the last datagram heard from id, or nil.
func (s *spy) captured(id identity.ID) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last[id]
}

func addrOf(r *Runner) *net.UDPAddr { return r.conn.LocalAddr().(*net.UDPAddr) }

// A spoofer sends the live head forged HELLOs in the standby's name, with
// the highest Seq there is and a claim to head the head's own cluster at a
// higher epoch (on the unauthenticated overlay the head resigned, joined
// the "standby" and attested the handover of its cluster to it), in every
// form it can make: unsigned (the old wire), under the standby's key with
// a signature of its own, signed by its own key (unknown to the ledger),
// signed by a patient of the cluster (a member, not eligible), and the
// standby's own datagrams replayed or with the counter raised. The head
// refuses each for its reason, stays head, and sends no handoff.
func TestSpoofedHelloCannotDethroneALiveHead(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	f := newFakeLedger()
	ids := authorities(t, 3)
	head, standby, outsider := ids[0], ids[1], ids[2].Signing // ids[0] wins the election
	patient, _ := identity.Generate(identity.RolePatient, identity.SuiteX25519)
	f.admit(head, 4)
	f.admit(standby, 4)
	f.admitAs(patient, identity.RolePatient, 4)
	f.heads[4] = head.ID()
	sp := newSpy(t)
	rs := startRunnersWith(t, ctx, f, []*net.UDPAddr{sp.addr()}, head, standby)
	h, s := rs[0], rs[1]
	waitFor(t, ctx, "the election, and a datagram of the standby captured", func() bool {
		return h.IsHead() && s.Status().Head == head.ID() && sp.captured(standby.ID()) != nil
	})

	st := h.Status()
	forged := overlay.Message{Kind: overlay.KindHello, From: standby.ID(), Seq: ^uint64(0), Eligible: true,
		Role: overlay.RoleHead, Head: standby.ID(), Cluster: st.Cluster, Epoch: st.Epoch + 1, Size: 2, Measured: true,
		Rho: overlay.Rho(200, 200*199), Degree: 200, Cover: 200, Neighbours: []identity.ID{head.ID()}}
	forgedBy := func(from identity.ID, eligible bool) []byte {
		m := forged
		m.From, m.Head, m.Eligible = from, from, eligible
		if !eligible {
			m.Role, m.Head, m.Cluster, m.Epoch, m.Size, m.Cover = overlay.RoleUndecided, identity.ID{}, overlay.ClusterID{}, 0, 0, 0
		}
		return encode(t, m)
	}
	var ctr uint64 = 1 << 60 // the spoofer's counters: the highest it likes
	badSig := func() []byte {
		e := envelopeOf(t, sealed(t, standby.Signing, ctr, typeMessage, forgedBy(standby.ID(), true)))
		e.Sig = outsider.SignContext(signContext, e.signed())
		return envelopeBytes(t, e)
	}
	raised := func() []byte {
		e := envelopeOf(t, sp.captured(standby.ID()))
		e.Counter = ctr
		return envelopeBytes(t, e)
	}
	attacks := []struct {
		name   string
		make   func() []byte
		reason error
	}{
		{"unsigned", func() []byte { return forgedBy(standby.ID(), true) }, ErrMalformed},
		{"the standby's key, a forged signature", badSig, ErrBadSignature},
		{"the standby's datagram, counter raised", raised, ErrBadSignature},
		{"an unknown key, the standby's name", func() []byte {
			return sealed(t, outsider, ctr, typeMessage, forgedBy(standby.ID(), true))
		}, ErrUnknownKey},
		{"an unknown key, its own name", func() []byte {
			return sealed(t, outsider, ctr, typeMessage, forgedBy(outsider.Public().ID(), true))
		}, ErrUnknownKey},
		{"a patient's key, the standby's name", func() []byte {
			return sealed(t, patient.Signing, ctr, typeMessage, forgedBy(standby.ID(), true))
		}, ErrUnknownKey},
		{"a patient claiming to head", func() []byte {
			return sealed(t, patient.Signing, ctr, typeMessage, forgedBy(patient.ID(), true))
		}, ErrNotEligible},
		{"the standby's datagram replayed", func() []byte { return sp.captured(standby.ID()) }, ErrReplayed},
	}
	count := func(s Stats, reason error) uint64 {
		return map[error]uint64{ErrMalformed: s.Malformed, ErrBadSignature: s.BadSignature, ErrUnknownKey: s.UnknownKey,
			ErrNotEligible: s.NotEligible, ErrReplayed: s.Replayed}[reason]
	}
	perRound, base := map[error]uint64{}, map[error]uint64{}
	for _, a := range attacks {
		perRound[a.reason]++
		base[a.reason] = count(h.Stats(), a.reason)
	}
	hellos := h.Stats().Node.Received
	rounds := uint64(0)
	// Attack until the head has heard the standby's own HELLOs for twice
	// the periods between two handoffs: time enough to have resigned and
	// attested, had it believed a forgery.
	for h.Stats().Node.Received < hellos+2*handOffEvery {
		rounds++
		ctr++
		for _, a := range attacks {
			if _, err := sp.conn.WriteToUDP(a.make(), addrOf(h)); err != nil {
				t.Fatal(err)
			}
		}
		for reason, n := range perRound {
			waitFor(t, ctx, "the head to count the round's forgeries: "+reason.Error(), func() bool {
				return count(h.Stats(), reason) >= base[reason]+n*rounds || !h.IsHead()
			})
			if !h.IsHead() {
				t.Fatalf("round %d: the live head was dethroned: %+v", rounds, h.Status())
			}
		}
	}
	if !h.IsHead() || s.Status().Head != head.ID() {
		t.Fatalf("after %d rounds: head %+v, standby %+v", rounds, h.Status(), s.Status())
	}
	if n, hs := sp.handoffs.Load(), h.Stats().HandoffsSent; n != 0 || hs != 0 {
		t.Fatalf("the live head sent %d handoff attestations (the spy heard %d)", hs, n)
	}
	if hs := f.handovers(); len(hs) != 0 {
		t.Fatalf("handovers taken: %+v", hs)
	}
	t.Logf("%d rounds of %d forgeries: head stats %+v", rounds, len(attacks), h.Stats())
}

// A dead head's datagrams, captured and replayed to its standby, do not
// keep the head alive in the standby's eyes (on the unauthenticated
// overlay they did, and the standby never took over): the standby refuses
// them as replayed, takes the cluster over, and the ledger names it.
func TestReplayedDatagramRefused(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	f := newFakeLedger()
	ids := authorities(t, 2)
	head, standby := ids[0], ids[1]
	f.admit(head, 4)
	f.admit(standby, 4)
	f.heads[4] = head.ID()
	f.absent[head.ID()] = true // to the ledger, as soon as it stops
	sp := newSpy(t)
	hctx, stopHead := context.WithCancel(ctx)
	defer stopHead()
	conns := listenN(t, 2)
	h := startOn(t, hctx, f, head, conns[0], addrOf2(conns[1]), sp.addr())
	s := startOn(t, ctx, f, standby, conns[1], addrOf2(conns[0]))
	waitFor(t, ctx, "the election, the standby first successor", func() bool {
		st := s.Status()
		return h.IsHead() && st.Head == head.ID() && len(st.Successors) > 0 && st.Successors[0] == standby.ID()
	})
	stopHead()
	h.Wait()
	captured := sp.captured(head.ID())
	if captured == nil {
		t.Fatal("nothing captured from the head")
	}
	replays := 0
	for !s.IsHead() {
		// One replay per period of the standby: a HELLO of the standby's
		// own marks each. The successor takes over after MissedHeartbeats
		// silent periods; ten times as many fail the test.
		if replays > 10*overlay.MissedHeartbeats {
			t.Fatalf("after %d replays the standby has not taken over: %+v, stats %+v", replays, s.Status(), s.Stats())
		}
		st := s.Stats()
		if _, err := sp.conn.WriteToUDP(captured, addrOf(s)); err != nil {
			t.Fatal(err)
		}
		replays++
		waitFor(t, ctx, "the replay received, and the standby's next datagram", func() bool {
			now := s.Stats()
			return now.Replayed+now.Accepted > st.Replayed+st.Accepted && now.Sent > st.Sent
		})
	}
	waitFor(t, ctx, "the ledger to name the standby", func() bool { return f.head(4) == standby.ID() })
	if st := s.Stats(); st.Replayed != uint64(replays) || st.Refused() != st.Replayed {
		t.Fatalf("%d replays: stats %+v", replays, st)
	}
}

// A node whose key the ledger does not know, signing with it as it should,
// is no neighbour of the cluster's nodes: they refuse its datagrams as
// from an unknown key. Once the ledger admits it to the cluster, the next
// refresh of their membership lets it in.
func TestUnknownKeyRefused(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	f := newFakeLedger()
	ids := authorities(t, 3)
	head, standby, stranger := ids[0], ids[1], ids[2]
	f.admit(head, 4)
	f.admit(standby, 4)
	f.heads[4] = head.ID()
	rs := startRunners(t, ctx, f, head, standby, stranger)
	h, s, x := rs[0], rs[1], rs[2]
	heard := func(r *Runner) bool { return r.Stats().UnknownKey >= 3 || r.Status().Neighbours > 1 }
	waitFor(t, ctx, "the election, and the stranger's datagrams received", func() bool {
		return h.IsHead() && s.Status().Head == head.ID() && heard(h) && heard(s)
	})
	for _, r := range []*Runner{h, s} {
		if st := r.Status(); st.Neighbours != 1 {
			t.Fatalf("%s lists %d neighbours, want 1: the stranger is refused", st.ID, st.Neighbours)
		}
		if st := r.Stats(); st.Refused() != st.UnknownKey || st.Members != 2 {
			t.Fatalf("stats %+v: only unknown keys refused, 2 members", st)
		}
	}
	if st := x.Status(); st.Neighbours != 0 || st.Role != overlay.RoleUnclustered {
		t.Fatalf("the stranger, no member, admits nobody: %+v", st)
	}

	f.admitAs(stranger, identity.RolePatient, 4) // now a member, not eligible
	waitFor(t, ctx, "the stranger admitted", func() bool {
		return h.Status().Neighbours == 2 && s.Status().Neighbours == 2 && h.Stats().Members == 3
	})
}

// listenN opens n sockets on loopback, closed when the test ends.
func listenN(t *testing.T, n int) []*net.UDPConn {
	t.Helper()
	var cs []*net.UDPConn
	for range n {
		c, err := Listen("127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		cs = append(cs, c)
	}
	return cs
}

func addrOf2(c *net.UDPConn) *net.UDPAddr { return c.LocalAddr().(*net.UDPAddr) }

// startOn runs id's overlay on conn, sending to peers, until ctx or the
// test ends.
func startOn(t *testing.T, ctx context.Context, f *fakeLedger, id *identity.Identity, conn *net.UDPConn, peers ...*net.UDPAddr) *Runner {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	r, err := Start(ctx, Config{Identity: id, CounterFile: counterFile(t), Ledger: f.as(id), Conn: conn, Peers: peers, Period: period})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); r.Wait() })
	return r
}
