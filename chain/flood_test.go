package chain_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vitalchain/vitalchain/client"
	"github.com/vitalchain/vitalchain/envelope"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/ledger"
)

// TestFloodDoesNotDelayOthers: one registered key floods the four nodes'
// mempools with large transactions (revokes re-wrapping a key to 44
// providers, about 60 KB each: 700 of them are 43 MB, ten blocks' worth),
// first all with one sequence number, then with fresh ones; another
// signer's transaction sent after each flood commits within a few blocks.
// Before, CheckTx took every one of them (it looked at no sequence number)
// and blocks took them in order, so the other signer's transaction waited
// behind the whole flood; now a node admits one transaction per sequence
// number and a signer's window of them, and a block holds that signer's
// share only (Params.Caps).
func TestFloodDoesNotDelayOthers(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 4-authority network")
	}
	const (
		flood     = 700
		rewraps   = 44
		maxBlocks = 3 // the other signer's transaction commits within this many blocks
	)
	n := startNet(t, 4, 0)
	suite := identity.SuiteMLKEM768X25519 // the larger envelopes: the larger flood
	attacker, err := identity.Generate(identity.RolePatient, suite)
	if err != nil {
		t.Fatal(err)
	}
	as := n.registerID(0, attacker, nil, nil)
	honest, hs := n.register(2, identity.RolePatient, nil, nil)

	// A revoke passes CheckTx whatever the state: its envelopes are bound
	// to the attacker, the new epoch and each (unregistered) provider.
	key, _ := envelope.NewSessionKey()
	self, _ := envelope.SelfEnvelope(attacker, 1, key)
	selfB, _ := self.Marshal()
	var ws []ledger.Rewrap
	for range rewraps {
		p, err := identity.Generate(identity.RoleProvider, suite)
		if err != nil {
			t.Fatal(err)
		}
		e, err := envelope.GrantEnvelope(attacker, p.Public(), 1, key)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := e.Marshal()
		ws = append(ws, ledger.Rewrap{Provider: p.ID(), Envelope: b})
	}
	slices.SortFunc(ws, func(a, b ledger.Rewrap) int { return bytes.Compare(a.Provider[:], b.Provider[:]) })
	revoke := func(seq uint64, i int) []byte {
		var revoked identity.ID
		binary.BigEndian.PutUint64(revoked[:], uint64(i)+1)
		tx, err := ledger.NewTx(as.ChainID(), attacker.Signing, seq, &ledger.Revoke{Provider: revoked, NewEpoch: 1, SelfEnvelope: selfB, Rewraps: ws})
		if err != nil {
			t.Fatal(err)
		}
		return tx
	}

	// The honest signer's transactions: new epochs of its session key.
	epoch := uint64(0)
	honestTx := func() ledger.Body {
		epoch++
		k, _ := envelope.NewSessionKey()
		e, _ := envelope.SelfEnvelope(honest, epoch, k)
		b, _ := e.Marshal()
		return &ledger.SessionKey{Epoch: epoch, Envelope: b}
	}

	window := int(ledger.DefaultParams().SeqWindow)
	for _, phase := range []struct {
		name string
		seq  func(i int) uint64
		held int // the most of the flood a node's mempool may hold
	}{
		{"one sequence number", func(int) uint64 { return 1 }, 1},
		{"fresh sequence numbers", func(i int) uint64 { return uint64(100 + i) }, window},
	} {
		t.Run(phase.name, func(t *testing.T) {
			n.t = t
			txs := make([][]byte, flood)
			for i := range txs {
				txs[i] = revoke(phase.seq(i), i)
			}
			bctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			admitted := broadcastAll(bctx, n.clients, txs)
			t.Logf("%d of %d flood transactions (%d bytes each) admitted by CheckTx", admitted, flood, len(txs[0]))
			for i, node := range n.ln.Nodes {
				r, err := node.RPC().NumUnconfirmedTxs(ctx(t))
				if err != nil {
					t.Fatal(err)
				}
				if r.Total > phase.held {
					t.Errorf("node %d holds %d of the flood in its mempool, want at most %d", i, r.Total, phase.held)
				}
			}
			h0, _ := n.ln.Nodes[0].App().Height()
			cm := n.ok(0, hs, honestTx())
			t.Logf("the other signer's transaction committed %d blocks after it was sent", cm.Height-h0)
			if d := cm.Height - h0; d > maxBlocks {
				t.Fatalf("the other signer's transaction committed %d blocks after it was sent (height %d, sent at %d), want at most %d", d, cm.Height, h0, maxBlocks)
			}
		})
	}
	n.t = t
	n.agree()
}

// broadcastAll hands txs to the nodes' mempools, spread over the clients,
// in parallel, and returns how many CheckTx admitted.
func broadcastAll(ctx context.Context, clients []*client.Client, txs [][]byte) int {
	var admitted atomic.Int64
	var wg sync.WaitGroup
	const workers = 4 // per client
	for w := range workers * len(clients) {
		c := clients[w%len(clients)]
		wg.Go(func() {
			for i := w; i < len(txs); i += workers * len(clients) {
				if _, err := c.Broadcast(ctx, txs[i]); err == nil {
					admitted.Add(1)
				}
			}
		})
	}
	wg.Wait()
	return int(admitted.Load())
}
