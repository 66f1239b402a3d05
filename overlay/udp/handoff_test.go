package udp

import (
	"bytes"
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/vitalchain/vitalchain/codec"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/ledger"
	"github.com/vitalchain/vitalchain/overlay"
)

func FuzzParseHandoff(f *testing.F) {
	old, _ := identity.Generate(identity.RoleAuthority, identity.SuiteX25519)
	me := identity.ID{9}
	st := ledger.HandoverStatement{Cluster: 4, OldHead: old.ID(), NewHead: me}
	att, _ := ledger.Attest(old.Signing, st)
	good, _ := codec.Marshal(&handoff{Statement: st, Attestation: att})
	f.Add(good)
	f.Add([]byte{0xa0})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := parseHandoff(b, me)
		if err != nil && !errors.Is(err, errBadHandoff) {
			t.Fatalf("error without the sentinel: %v", err)
		}
		if err == nil && (h.Statement.NewHead != me || h.Attestation.Authority != h.Statement.OldHead) {
			t.Fatalf("accepted %+v", h)
		}
	})
}

func TestParseHandoff(t *testing.T) {
	old, _ := identity.Generate(identity.RoleAuthority, identity.SuiteX25519)
	me := identity.ID{9}
	st := ledger.HandoverStatement{Cluster: 4, OldHead: old.ID(), NewHead: me}
	att, _ := ledger.Attest(old.Signing, st)
	enc := func(h handoff) []byte { b, _ := codec.Marshal(&h); return b }
	other := st
	other.NewHead = identity.ID{8}
	notOld := att
	notOld.Authority = identity.ID{7}
	big := att
	big.Sig = bytes.Repeat([]byte{1}, maxHandoffSize)
	for _, tc := range []struct {
		name string
		b    []byte
		ok   bool
	}{
		{"good", enc(handoff{Statement: st, Attestation: att}), true},
		{"to another node", enc(handoff{Statement: other, Attestation: att}), false},
		{"not by the old head", enc(handoff{Statement: st, Attestation: notOld}), false},
		{"over the size limit", enc(handoff{Statement: st, Attestation: big}), false},
		{"garbage", []byte("VCHANDOFF1 garbage"), false},
		{"an overlay message", func() []byte {
			m := overlay.Message{Kind: overlay.KindHello, From: old.ID(), Seq: 1}
			b, _ := m.Encode()
			return b
		}(), false},
		{"empty", nil, false},
	} {
		if _, err := parseHandoff(tc.b, me); (err == nil) != tc.ok || (err != nil && !errors.Is(err, errBadHandoff)) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

// A handoff parses back.
func TestMarshalHandoff(t *testing.T) {
	old, _ := identity.Generate(identity.RoleAuthority, identity.SuiteX25519)
	me := identity.ID{9}
	st := ledger.HandoverStatement{Cluster: 4, OldHead: old.ID(), NewHead: me}
	att, _ := ledger.Attest(old.Signing, st)
	b, err := marshalHandoff(&handoff{Statement: st, Attestation: att})
	if err != nil {
		t.Fatal(err)
	}
	h, err := parseHandoff(b, me)
	if err != nil || h.Statement != st || h.Attestation.Authority != att.Authority || !bytes.Equal(h.Attestation.Sig, att.Sig) {
		t.Fatalf("parsed %+v, %v", h, err)
	}
}

// memberOf returns an eligible overlay node me that the election has made
// a member of x's cluster, as if it had heard x's HELLOs.
func memberOf(t *testing.T, me, x identity.ID) *overlay.Node {
	t.Helper()
	n, err := overlay.New(overlay.Config{ID: me, Eligible: true, Incarnation: 1})
	if err != nil {
		t.Fatal(err)
	}
	for seq := uint64(1); n.Role() != overlay.RoleMember; seq++ {
		if seq > 10 {
			t.Fatalf("never a member of %s: %+v", x, n.Status())
		}
		err := n.Step(overlay.Message{Kind: overlay.KindHello, From: x, Seq: seq, Eligible: true, Role: overlay.RoleHead,
			Head: x, Cluster: overlay.ClusterID{9}, Epoch: 1, Size: 1, Measured: true, Rho: overlay.Rho(200, 200*199),
			Degree: 200, Cover: 200, Neighbours: []identity.ID{me}})
		if err != nil {
			t.Fatal(err)
		}
		n.Tick()
		n.Ready()
	}
	return n
}

// A head that the overlay has made a member of another node's cluster
// attests the handover of its cluster to that node only if the ledger, read
// at that moment, lists the node as an authority-eligible member of the
// same cluster: not on the overlay's word alone.
func TestHandOffOnlyToALedgerEligibleHead(t *testing.T) {
	for _, tc := range []struct {
		name  string
		admit func(f *fakeLedger, x *identity.Identity)
		head  bool // the ledger names this node head
		sent  bool
	}{
		{"an authority-eligible member of the cluster", func(f *fakeLedger, x *identity.Identity) { f.admit(x, 4) }, true, true},
		{"not on the ledger", func(*fakeLedger, *identity.Identity) {}, true, false},
		{"a patient of the cluster", func(f *fakeLedger, x *identity.Identity) { f.admitAs(x, identity.RolePatient, 4) }, true, false},
		{"a provider of the cluster", func(f *fakeLedger, x *identity.Identity) { f.admitAs(x, identity.RoleProvider, 4) }, true, false},
		{"an authority of another cluster", func(f *fakeLedger, x *identity.Identity) { f.admit(x, 5) }, true, false},
		{"an eligible member, but this node is not the ledger's head", func(f *fakeLedger, x *identity.Identity) { f.admit(x, 4) }, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			f := newFakeLedger()
			ids := authorities(t, 2)
			me, x := ids[0], ids[1]
			f.admit(me, 4)
			if tc.head {
				f.heads[4] = me.ID()
			}
			tc.admit(f, x)
			sp := newSpy(t)
			conn := listenN(t, 1)[0]
			r, err := newRunner(ctx, Config{Identity: me, CounterFile: counterFile(t), Ledger: f.as(me), Conn: conn,
				Peers: []*net.UDPAddr{sp.addr()}, Period: period})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { r.counter.Close() })
			r.node = memberOf(t, me.ID(), x.ID())
			r.handOff(ctx)
			if got := r.Stats().HandoffsSent; got != map[bool]uint64{true: 1}[tc.sent] {
				t.Fatalf("%d handoffs sent, want sent %v", got, tc.sent)
			}
			if !tc.sent {
				return
			}
			waitFor(t, ctx, "the spy to hear the handoff", func() bool { return sp.handoffs.Load() == 1 })
			e := envelopeOf(t, sp.captured(me.ID()))
			h, err := parseHandoff(e.Payload, x.ID())
			if err != nil || h.Statement.OldHead != me.ID() || h.Statement.Cluster != 4 {
				t.Fatalf("handoff %+v: %v", h, err)
			}
		})
	}
}
