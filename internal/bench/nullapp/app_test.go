package nullapp

import (
	"context"
	"testing"
	"time"

	abci "github.com/cometbft/cometbft/abci/types"

	"github.com/vitalchain/vitalchain/chain"
	"github.com/vitalchain/vitalchain/envelope"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/ledger"
	"github.com/vitalchain/vitalchain/vital"
)

// grantTx returns a grant signed for chainID with sequence number seq.
func grantTx(t *testing.T, chainID string, seq uint64) []byte {
	t.Helper()
	patient, err := identity.Generate(identity.RolePatient, identity.SuiteX25519)
	if err != nil {
		t.Fatal(err)
	}
	prov, err := identity.Generate(identity.RoleProvider, identity.SuiteX25519)
	if err != nil {
		t.Fatal(err)
	}
	key, err := envelope.NewSessionKey()
	if err != nil {
		t.Fatal(err)
	}
	e, err := envelope.GrantEnvelope(patient, prov.Public(), 1, key)
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	keys, err := envelope.SealScope(key, patient.ID(), prov.ID(), 1, []vital.Kind{vital.Glucose})
	if err != nil {
		t.Fatal(err)
	}
	tx, err := ledger.NewTx(chainID, patient.Signing, seq, &ledger.Grant{
		Provider: prov.ID(), Keys: keys, Expiry: time.Now().Add(time.Hour).UnixMilli(), Epoch: 1, Envelope: b,
	})
	if err != nil {
		t.Fatal(err)
	}
	return tx
}

func TestApp(t *testing.T) {
	good := grantTx(t, "test-chain", 1)
	forged := append([]byte(nil), good...)
	forged[len(forged)-1] ^= 1 // the chain ID, which the signature covers
	tests := []struct {
		name         string
		checked      bool // CheckTx saw it before the block
		tx           []byte
		wantCheck    uint32
		wantBlock    uint32
		wantVerified int64 // signature checks in all
	}{
		{"checked, then in a block: verified once", true, good, CodeOK, CodeOK, 1},
		{"only in a block: verified there", false, good, CodeOK, CodeOK, 1},
		{"forged, checked", true, forged, CodeBad, CodeBad, 2},
		{"forged, only in a block", false, forged, CodeBad, CodeBad, 1},
		{"garbage", false, []byte("not a transaction"), CodeBad, CodeBad, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			a := New()
			if tt.checked {
				r, err := a.CheckTx(ctx, &abci.RequestCheckTx{Tx: tt.tx, Type: abci.CheckTxType_New})
				if err != nil {
					t.Fatal(err)
				}
				if r.Code != tt.wantCheck {
					t.Fatalf("CheckTx code %d (%s), want %d", r.Code, r.Log, tt.wantCheck)
				}
				// A recheck costs nothing.
				if _, err := a.CheckTx(ctx, &abci.RequestCheckTx{Tx: tt.tx, Type: abci.CheckTxType_Recheck}); err != nil {
					t.Fatal(err)
				}
			}
			r, err := a.FinalizeBlock(ctx, &abci.RequestFinalizeBlock{Height: 7, Txs: [][]byte{tt.tx}})
			if err != nil {
				t.Fatal(err)
			}
			if got := r.TxResults[0].Code; got != tt.wantBlock {
				t.Fatalf("FinalizeBlock code %d (%s), want %d", got, r.TxResults[0].Log, tt.wantBlock)
			}
			if len(r.AppHash) != 0 {
				t.Errorf("app hash %x, want none: the app keeps no state", r.AppHash)
			}
			if a.Height() != 0 {
				t.Errorf("height %d before Commit, want 0", a.Height())
			}
			if _, err := a.Commit(ctx, &abci.RequestCommit{}); err != nil {
				t.Fatal(err)
			}
			if a.Height() != 7 {
				t.Errorf("height %d after Commit, want 7", a.Height())
			}
			if got := a.Verified(); got != tt.wantVerified {
				t.Errorf("%d signature checks, want %d", got, tt.wantVerified)
			}
		})
	}
}

// TestNetCommits runs 4 validators on the authorities' configuration and
// commits a signed transaction through a client, as the benchmark does.
func TestNetCommits(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 4-validator network")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	n, err := Start(ctx, chain.TestnetOptions{Nodes: 4, Dir: t.TempDir(), BlockInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := n.Stop(); err != nil {
			t.Error(err)
		}
	}()
	c := n.Client(1)
	defer c.Close()
	cm, err := c.Submit(ctx, grantTx(t, "vitalchain-testnet", 5))
	if err != nil {
		t.Fatal(err)
	}
	if cm.Height < 1 {
		t.Errorf("committed at height %d", cm.Height)
	}
	// A forged transaction is refused at the door.
	bad := grantTx(t, "vitalchain-testnet", 1)
	bad[len(bad)-1] ^= 1
	if _, err := c.Submit(ctx, bad); err == nil {
		t.Error("a forged transaction was accepted")
	}
	// Every validator verifies the good one: CheckTx on the node it reached
	// or by gossip, else in FinalizeBlock, which a node may run after the
	// client saw the commit on another.
	for i, a := range n.Apps {
		for a.Verified() < 1 {
			select {
			case <-ctx.Done():
				t.Fatalf("node %d verified nothing", i)
			case <-time.After(10 * time.Millisecond): // poll
			}
		}
	}
}
