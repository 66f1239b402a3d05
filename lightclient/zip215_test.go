package lightclient

import (
	"crypto/ed25519"
	"encoding/hex"
	"testing"

	cmted25519 "github.com/cometbft/cometbft/crypto/ed25519"
	"github.com/hdevalence/ed25519consensus"
)

// smallOrder are the 14 encodings of points of small order (8 canonical,
// 6 not) that ZIP 215's test vectors combine.
var smallOrder = []string{
	"0100000000000000000000000000000000000000000000000000000000000000",
	"c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
	"0000000000000000000000000000000000000000000000000000000000000080",
	"26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
	"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	"26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
	"0000000000000000000000000000000000000000000000000000000000000000",
	"c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
	"0100000000000000000000000000000000000000000000000000000000000080",
	"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
	"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
	"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
}

// Signatures verify by the rules CometBFT's do (ZIP 215, which CometBFT's
// curve25519-voi options select): on ZIP 215's 196 edge cases (keys and
// R of small order, non-canonical encodings) and on the same with a
// non-canonical S, one by one and as a batch.
func TestSignatureRulesAreCometBFTs(t *testing.T) {
	msg := []byte("Zcash")
	sMax := "edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010" // the group order L: not a canonical S
	ours := ed25519consensus.NewBatchVerifier()
	theirs := cmted25519.NewBatchVerifier()
	for _, a := range smallOrder {
		for _, r := range smallOrder {
			for _, s := range []string{"0000000000000000000000000000000000000000000000000000000000000000", sMax} {
				pub, _ := hex.DecodeString(a)
				sig, _ := hex.DecodeString(r + s)
				got := verifySig(ed25519.PublicKey(pub), msg, sig)
				want := cmted25519.PubKey(pub).VerifySignature(msg, sig)
				if got != want {
					t.Errorf("key %s, signature %s: we say %v, CometBFT %v", a, r+s, got, want)
				}
				if s != sMax {
					ours.Add(pub, msg, sig)
					if err := theirs.Add(cmted25519.PubKey(pub), msg, sig); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
	}
	if ok, _ := theirs.Verify(); !ok || !ours.Verify() {
		t.Fatalf("the batch of ZIP 215's cases: ours %v, CometBFT's %v", ours.Verify(), ok)
	}
}
