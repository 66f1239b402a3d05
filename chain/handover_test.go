package chain_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/cometbft/cometbft/types"

	"github.com/vitalchain/vitalchain/chain"
	"github.com/vitalchain/vitalchain/ledger"
)

// A Cluster Head's node stops. The chain goes on with 3 of 4 authorities
// and sees the head's signature missing from its commits; after
// HeadAbsentMs the cluster's standby machine (registered as
// authority-eligible in that cluster) takes the cluster over with a
// handover nobody attests, becomes a validator in the old head's place, and
// the 4 running validators all sign again.
func TestHandoverOfAStoppedHead(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 4-authority network")
	}
	n := startNet(t, 4, 1)
	sb := n.ln.Testnet.Authorities[4]
	n.registerID(3, sb, nil, n.ln.Testnet.Consensus[4]) // admitted to cluster 4 by its head
	old := n.ln.Testnet.Authorities[3]
	// Nothing may use a stopped node's in-process client: CometBFT panics
	// on a read of its closed databases.
	n.clients[3].Close()
	n.clients[3] = nil
	if err := n.ln.StopNode(3); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	c := n.clients[0]
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, err := c.Signer(ctx, sb.Signing)
	if err != nil {
		t.Fatal(err)
	}
	refused := 0
	for {
		_, err := s.Submit(ctx, &ledger.Handover{Cluster: 4, NewHead: sb.ID()})
		if err == nil {
			break
		}
		if ledger.CodeOf(err) != ledger.CodeUnauthorized {
			t.Fatalf("handover refused otherwise: %v", err)
		}
		refused++
		time.Sleep(500 * time.Millisecond)
	}
	took := time.Since(stopped)
	if refused == 0 || took < time.Duration(ledger.DefaultParams().HeadAbsentMs)*time.Millisecond {
		t.Fatalf("the handover passed %v after the head stopped (%d refusals): before HeadAbsentMs", took, refused)
	}
	t.Logf("handover committed %v after the head stopped (%d early attempts refused)", took, refused)
	var info ledger.ClusterInfo
	if err := c.Query(ctx, "cluster/4", &info); err != nil || info.Cluster.Head != sb.ID() {
		t.Fatalf("cluster 4: %v %+v", err, info.Cluster)
	}
	for {
		auths, err := c.Authorities(ctx)
		if err != nil {
			t.Fatal(err)
		}
		in, out := false, true
		for _, a := range auths {
			in = in || a.ID == sb.ID()
			out = out && a.ID != old.ID()
		}
		if in && out {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("authorities %v", auths)
		case <-time.After(100 * time.Millisecond):
		}
	}
	// The new validator signs: a later commit carries 4 signatures.
	if err := n.waitBlocks(4, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	h, _ := n.ln.Running().App().Height()
	b, err := n.ln.Running().RPC().Block(ctx, &h)
	if err != nil {
		t.Fatal(err)
	}
	signed := 0
	for _, sig := range b.Block.LastCommit.Signatures {
		if sig.BlockIDFlag == types.BlockIDFlagCommit {
			signed++
		}
	}
	if signed != 4 {
		t.Fatalf("block %d's commit carries %d signatures, want the 4 running validators'", h, signed)
	}
	n.agree()
}

func TestConsensusKeyOf(t *testing.T) {
	tn, err := chain.WriteTestnet(chain.TestnetOptions{Nodes: 2, Standby: 1, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	for i, h := range tn.Homes {
		k, err := chain.ConsensusKeyOf(h)
		if err != nil || !bytes.Equal(k, tn.Consensus[i]) {
			t.Fatalf("node %d: %x, %v; want %x", i, k, err, tn.Consensus[i])
		}
	}
	if _, err := chain.ConsensusKeyOf(t.TempDir()); err == nil {
		t.Fatal("a home without keys gave a consensus key")
	}
}
