package chain

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/cometbft/cometbft/privval"
	cmtproto "github.com/cometbft/cometbft/proto/tendermint/types"
	"github.com/cometbft/cometbft/types"
)

// A node run WithClockSkew signs votes and proposals stamped as by its
// skewed clock, and the signatures hold for the stamps they carry.
func TestSkewedSignerStampsItsClock(t *testing.T) {
	dir := t.TempDir()
	pv := privval.GenFilePV(filepath.Join(dir, "key.json"), filepath.Join(dir, "state.json"))
	s := skewedSigner{pv, -30 * time.Second}
	now := time.Now().UTC().Truncate(time.Millisecond)

	v := &cmtproto.Vote{Type: cmtproto.PrevoteType, Height: 1, Timestamp: now, ValidatorAddress: pv.Key.Address}
	if err := s.SignVote("vitalchain-test", v); err != nil {
		t.Fatal(err)
	}
	if want := now.Add(-30 * time.Second); !v.Timestamp.Equal(want) {
		t.Fatalf("vote stamped %s, want %s", v.Timestamp, want)
	}
	if !pv.Key.PubKey.VerifySignature(types.VoteSignBytes("vitalchain-test", v), v.Signature) {
		t.Fatal("the skewed vote's signature does not verify")
	}

	p := &cmtproto.Proposal{Type: cmtproto.ProposalType, Height: 2, Timestamp: now, PolRound: -1}
	if err := s.SignProposal("vitalchain-test", p); err != nil {
		t.Fatal(err)
	}
	if want := now.Add(-30 * time.Second); !p.Timestamp.Equal(want) {
		t.Fatalf("proposal stamped %s, want %s", p.Timestamp, want)
	}
	if !pv.Key.PubKey.VerifySignature(types.ProposalSignBytes("vitalchain-test", p), p.Signature) {
		t.Fatal("the skewed proposal's signature does not verify")
	}
}
