package ledger

import (
	"errors"
	"testing"
	"time"

	"github.com/vitalchain/vitalchain/identity"
)

func TestSeqWindowAccept(t *testing.T) {
	type step struct {
		seq    uint64
		replay bool
	}
	tests := []struct {
		name   string
		window uint32
		start  seqWindow
		steps  []step
		end    seqWindow
	}{
		{"first", 64, seqWindow{}, []step{{1, false}}, seqWindow{Max: 1}},
		{"first is high, lower ones stay free", 64, seqWindow{}, []step{{10, false}, {3, false}, {10, true}, {3, true}}, seqWindow{Max: 10, Bits: 1 << 6}},
		{"in order", 64, seqWindow{}, []step{{1, false}, {2, false}, {3, false}}, seqWindow{Max: 3, Bits: 0b11}},
		{"same twice", 64, seqWindow{}, []step{{1, false}, {1, true}}, seqWindow{Max: 1}},
		{"out of order", 64, seqWindow{}, []step{{5, false}, {3, false}, {4, false}, {1, false}, {2, false}, {4, true}, {6, false}}, seqWindow{Max: 6, Bits: 0b11111}},
		{"gap then fill", 64, seqWindow{Max: 10}, []step{{12, false}, {11, false}, {10, true}}, seqWindow{Max: 12, Bits: 0b11}},
		{"oldest in window", 64, seqWindow{Max: 100}, []step{{37, false}, {37, true}}, seqWindow{Max: 100, Bits: 1 << 62}},
		{"just too old", 64, seqWindow{Max: 100}, []step{{36, true}, {1, true}}, seqWindow{Max: 100}},
		{"small window", 8, seqWindow{Max: 100}, []step{{93, false}, {92, true}}, seqWindow{Max: 100, Bits: 1 << 6}},
		{"window of 1", 1, seqWindow{Max: 5}, []step{{4, true}, {6, false}, {5, true}}, seqWindow{Max: 6, Bits: 1}},
		{"jump of 63 keeps the old max", 64, seqWindow{Max: 10, Bits: ^uint64(0)}, []step{{73, false}, {10, true}, {11, false}}, seqWindow{Max: 73, Bits: 1<<63 | 1<<62 | 1<<61}},
		{"jump of 64 forgets", 64, seqWindow{Max: 10, Bits: ^uint64(0)}, []step{{74, false}, {10, true}, {11, false}, {73, false}}, seqWindow{Max: 74, Bits: 1<<62 | 1}},
		{"huge jump", 64, seqWindow{Max: 1, Bits: 0}, []step{{1 << 63, false}, {1<<63 - 1, false}, {1, true}}, seqWindow{Max: 1 << 63, Bits: 1}},
		{"max uint64", 64, seqWindow{}, []step{{^uint64(0), false}, {^uint64(0), true}, {^uint64(0) - 1, false}}, seqWindow{Max: ^uint64(0), Bits: 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := tc.start
			for i, s := range tc.steps {
				err := w.accept(s.seq, tc.window)
				if s.replay != (err != nil) {
					t.Fatalf("step %d: accept(%d) = %v, want replay %v", i, s.seq, err, s.replay)
				}
				if err != nil && !errors.Is(err, Rejected(CodeReplay)) {
					t.Fatalf("step %d: %v is not a replay", i, err)
				}
			}
			if w != tc.end {
				t.Errorf("window %+v, want %+v", w, tc.end)
			}
		})
	}
}

// regTx returns a registration of a new patient by c's first head with seq.
func (c *testChain) regTx(seq uint64) []byte {
	c.t.Helper()
	id := mustIdentity(c.t, identity.RolePatient)
	return c.txSeq(c.auths[0].Signing, seq, c.registerBody(id, 1, identity.ID{}, id.Signing))
}

func codes(rs []TxResult) []Code {
	out := make([]Code, len(rs))
	for i, r := range rs {
		out[i] = r.Code
	}
	return out
}

func wantCodes(t *testing.T, rs []TxResult, want ...Code) {
	t.Helper()
	got := codes(rs)
	if len(got) != len(want) {
		t.Fatalf("codes %v, want %v", got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("codes %v, want %v (tx %d: %s)", got, want, i, rs[i].Log)
		}
	}
}

func TestReplay(t *testing.T) {
	t.Parallel()
	c := newTestChain(t, 1)
	head := c.auths[0].ID().Hex()
	seqOf := func() uint64 {
		var s uint64
		c.mustQuery("seq/"+head, &s)
		return s
	}

	tx1 := c.regTx(1)
	wantCodes(t, c.block(tx1, tx1), CodeOK, CodeReplay)
	if !errors.Is(&Error{Code: c.results[1].Code}, Rejected(CodeReplay)) || c.results[1].Log == "" {
		t.Errorf("replay result %+v", c.results[1])
	}
	wantCodes(t, c.block(tx1), CodeReplay)

	// The same sequence number in another transaction is a replay too.
	wantCodes(t, c.block(c.regTx(1)), CodeReplay)

	// Out of order within the window, within a block and across blocks.
	wantCodes(t, c.block(c.regTx(6), c.regTx(4), c.regTx(5), c.regTx(2)), CodeOK, CodeOK, CodeOK, CodeOK)
	wantCodes(t, c.block(c.regTx(3), c.regTx(4)), CodeOK, CodeReplay)
	if s := seqOf(); s != 6 {
		t.Errorf("seq %d, want 6", s)
	}

	// Far ahead, then older than the window.
	wantCodes(t, c.block(c.regTx(100), c.regTx(36), c.regTx(37), c.regTx(37)), CodeOK, CodeReplay, CodeOK, CodeReplay)
	if s := seqOf(); s != 100 {
		t.Errorf("seq %d, want 100", s)
	}

	// The unknown signer has sequence number 0.
	var s uint64
	c.mustQuery("seq/"+mustIdentity(t, identity.RolePatient).ID().Hex(), &s)
	if s != 0 {
		t.Errorf("seq of a stranger %d", s)
	}
}

// TestReplayFailedTx shows that a transaction refused for a reason of
// state does not use up its sequence number: the same bytes may commit
// later, once the state allows them.
func TestReplayFailedTx(t *testing.T) {
	t.Parallel()
	c := newTestChain(t, 1)
	p := mustIdentity(t, identity.RolePatient)
	dev := mustIdentity(t, identity.RoleDevice)
	regDev := c.txSeq(p.Signing, 1, c.registerBody(dev, 0, p.ID(), dev.Signing))
	wantCodes(t, c.block(regDev), CodeUnknownSigner)
	c.ok(c.auths[0].Signing, c.registerBody(p, 1, identity.ID{}, p.Signing))
	wantCodes(t, c.block(regDev), CodeOK)
	wantCodes(t, c.block(regDev), CodeReplay)
}

// A registered signer's refused transaction uses up its sequence number: its
// bytes cannot be replayed once the state would let them pass.
func TestRefusedTxUsesSeq(t *testing.T) {
	t.Parallel()
	c := newTestChain(t, 1)
	p := c.register(identity.RolePatient, nil)
	prov := c.register(identity.RoleProvider, nil)
	dev := c.register(identity.RoleDevice, p)
	cmd := c.tx(prov.Signing, &DeviceCommand{Device: dev.ID(), Command: "sampling_interval_ms", Value: 1000})
	wantCodes(t, c.block(cmd), CodeUnauthorized)
	k := c.startEpoch(p, 1)
	c.ok(p.Signing, grantBody(t, p, prov, 1, k, true, c.expiry(time.Hour)))
	wantCodes(t, c.block(cmd), CodeReplay)
}
