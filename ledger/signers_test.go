package ledger

import (
	"errors"
	"testing"

	"github.com/vitalchain/vitalchain/codec"
	"github.com/vitalchain/vitalchain/identity"
)

// TestForeignChainTxRefused: a transaction signed for another chain (a test
// network, with the same keys) is refused on this one, in CheckTx before
// its signature is verified and in a block, with its own code; it uses up
// nothing, and the same signer's transaction for this chain commits.
func TestForeignChainTxRefused(t *testing.T) {
	t.Parallel()
	c := newTestChain(t, 1)
	var id string
	c.mustQuery(QueryChainID, &id)
	if id != testChainID {
		t.Fatalf("chain ID %q, want %q", id, testChainID)
	}
	p := c.register(identity.RolePatient, nil)
	k := newSessionKey(t)
	body := sessionKeyBody(t, p, 1, k)
	foreign, err := NewTx("vitalchain-testnet", p.Signing, 1, body)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Decode(foreign); err != nil {
		t.Fatalf("Decode, which does not know the chain: %v", err)
	}
	if _, err := c.m.CheckTx(c.st, foreign); !errors.Is(err, Rejected(CodeWrongChain)) {
		t.Fatalf("CheckTx: %v, want %s", err, CodeWrongChain)
	}
	// Even with a forged signature it is refused as foreign: the check is
	// made before the signature is verified.
	forged := decodeTx(t, foreign)
	forged.Sig[0] ^= 1
	if _, err := c.m.CheckTx(c.st, encodeTx(t, forged)); !errors.Is(err, Rejected(CodeWrongChain)) {
		t.Fatalf("CheckTx of a forged foreign tx: %v, want %s", err, CodeWrongChain)
	}
	wantCodes(t, c.block(foreign), CodeWrongChain)
	var seq uint64
	c.mustQuery(SeqPath(p.ID()), &seq)
	if seq != 0 {
		t.Fatalf("the foreign tx used up sequence number %d", seq)
	}
	var ps PatientState
	c.mustQuery(EpochPath(p.ID()), &ps)
	if ps.Epoch != 0 {
		t.Fatalf("the foreign tx started epoch %d", ps.Epoch)
	}
	// The same body and sequence number, signed for this chain, commits.
	home := c.txSeq(p.Signing, 1, body)
	if _, err := c.m.CheckTx(c.st, home); err != nil {
		t.Fatalf("CheckTx of the tx for this chain: %v", err)
	}
	wantCodes(t, c.block(home), CodeOK)
}

func encodeTx(t testing.TB, tx Tx) []byte {
	t.Helper()
	b, err := codec.Marshal(&tx)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestInitChainNeedsAChainID: genesis stores the chain ID every
// transaction signs; there is no chain without one.
func TestInitChainNeedsAChainID(t *testing.T) {
	t.Parallel()
	tg := newGenesis(t, 1)
	for _, id := range []string{"", string(make([]byte, MaxChainIDLen+1))} {
		if _, err := NewMachine().InitChain(MemStore{}, id, tg.g, genesisTime); err == nil {
			t.Errorf("InitChain with chain ID %q succeeded", id)
		}
	}
}
