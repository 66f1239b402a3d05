package lightclient_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cometbft/cometbft/light"
	"github.com/cometbft/cometbft/types"

	"github.com/vitalchain/vitalchain/lightclient"
)

// addTestdata adds the captured answers whose names match pattern as
// seeds.
func addTestdata(f *testing.F, pattern string) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*", pattern))
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// Run the fuzzers with -fuzzminimizetime 1s: minimizing an input that
// runs CometBFT's verification too takes the default minute each.

// A /commit answer is untrusted bytes: decoding never panics, refuses
// with ErrMalformed, and what it accepts hashes and verifies as CometBFT
// has it: where CometBFT's client decodes the same bytes, the header hash
// is its, and the verdict against a trusted header is its too.
func FuzzDecodeCommit(f *testing.F) {
	kr := newKeyring(8, 11)
	c := makeChain(f, 6, fourEqual(kr), kr, nil)
	for _, sh := range c.headers {
		f.Add(servedCommit(f, sh))
	}
	f.Add([]byte(`{"jsonrpc":"2.0","id":-1,"error":{"code":-32603,"message":"Internal error","data":"height 7 must be less than or equal to the current blockchain height 6"}}`))
	f.Add([]byte(`{"jsonrpc":"2.0","id":-1,"result":null}`))
	addTestdata(f, "commit-*.json")
	sh3, vs3 := c.at(3)
	trusted, err := lightclient.TrustHeader(c.chainID, 3, c.headers[2].Hash(), sh3, vs3)
	if err != nil {
		f.Fatal(err)
	}
	now := c.genesis.Add(time.Hour)
	f.Fuzz(func(t *testing.T, data []byte) {
		sh, err := lightclient.DecodeCommit(data)
		if err != nil {
			if !errors.Is(err, lightclient.ErrMalformed) {
				t.Fatalf("refused with %v, not ErrMalformed", err)
			}
			return
		}
		_ = sh.Header.ValidateBasic()
		_ = sh.Commit.ValidateBasic()
		_, ours := trusted.Next(now, sh, vs3, lightclient.Options{})
		theirSH, terr := cometCommit(data)
		if terr != nil || theirSH.Header == nil || theirSH.Commit == nil || !sameSignedHeader(sh, theirSH) {
			// CometBFT's decoder is stricter (keys match in case) or
			// reads other values (of a key given twice, the first):
			// whatever we read is what we hash and verify.
			return
		}
		sameBytes(t, "header hash", sh.Header.Hash(), theirSH.Header.Hash())
		theirs := catch(func() error {
			return light.Verify(c.headers[2], c.vals[2], theirSH, c.vals[3], lightclient.DefaultTrustingPeriod, now, lightclient.DefaultMaxClockDrift, light.DefaultTrustLevel)
		})
		if (ours == nil) != (theirs == nil) {
			t.Fatalf("we say %v, CometBFT says %v", ours, theirs)
		}
	})
}

// A /validators answer is untrusted bytes: decoding never panics, refuses
// with ErrMalformed or ErrUnsupportedKey, and a set it accepts hashes as
// CometBFT's client has it.
func FuzzDecodeValidators(f *testing.F) {
	kr := newKeyring(8, 12)
	for _, p := range servedValidators(f, 5, fourEqual(kr).Validators, 100) {
		f.Add(p)
	}
	f.Add([]byte(`{"jsonrpc":"2.0","id":-1,"result":{"block_height":"5","validators":[{"address":"00","pub_key":{"type":"tendermint/PubKeySecp256k1","value":"AA=="},"voting_power":"1","proposer_priority":"0"}],"count":"1","total":"1"}}`))
	addTestdata(f, "validators-*.json")
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := lightclient.DecodeValidators(data)
		if err != nil {
			if !errors.Is(err, lightclient.ErrMalformed) && !errors.Is(err, lightclient.ErrUnsupportedKey) {
				t.Fatalf("refused with %v", err)
			}
			return
		}
		if len(p.Validators) == 0 || len(p.Validators) > lightclient.MaxPerPage || p.Total < len(p.Validators) {
			t.Fatalf("a page of %d of %d", len(p.Validators), p.Total)
		}
		vs, err := lightclient.JoinPages(p)
		if err != nil {
			return
		}
		theirs, err := cometValidators([][]byte{data})
		if err != nil {
			return
		}
		sameBytes(t, "validator set hash", vs.Hash(), theirs.Hash())
	})
}

// A genesis file is read from disk or a node: decoding never panics, and
// what it accepts roots trust or is refused with a sentinel.
func FuzzDecodeGenesis(f *testing.F) {
	kr := newKeyring(8, 13)
	c := makeChain(f, 1, fourEqual(kr), kr, nil)
	f.Add(c.genesisJSON())
	addTestdata(f, "genesis.json")
	f.Fuzz(func(t *testing.T, data []byte) {
		g, err := lightclient.DecodeGenesis(data)
		if err != nil {
			return
		}
		if _, err := lightclient.TrustGenesis(g); err != nil && !errors.Is(err, lightclient.ErrMalformed) && !errors.Is(err, lightclient.ErrInvalidValidators) {
			t.Fatalf("refused with %v", err)
		}
	})
}

// A persisted state is read back from disk: decoding never panics, and a
// state it accepts encodes to the same bytes.
func FuzzTrustedState(f *testing.F) {
	kr := newKeyring(8, 14)
	c := makeChain(f, 3, fourEqual(kr), kr, nil)
	sh, vs := c.at(2)
	tr, err := lightclient.TrustHeader(c.chainID, 2, c.headers[1].Hash(), sh, vs)
	if err != nil {
		f.Fatal(err)
	}
	b, err := tr.MarshalBinary()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	g, _ := lightclient.DecodeGenesis(c.genesisJSON())
	gt, _ := lightclient.TrustGenesis(g)
	b, _ = gt.MarshalBinary()
	f.Add(b)
	f.Fuzz(func(t *testing.T, data []byte) {
		var s lightclient.Trusted
		if err := s.UnmarshalBinary(data); err != nil {
			if !errors.Is(err, lightclient.ErrMalformed) {
				t.Fatalf("refused with %v", err)
			}
			return
		}
		again, err := s.MarshalBinary()
		if err != nil || !bytes.Equal(again, data) {
			t.Fatalf("re-encoded %x, %v; want %x", again, err, data)
		}
	})
}

// sameSignedHeader reports whether we decoded what CometBFT decoded.
func sameSignedHeader(ours *lightclient.SignedHeader, theirs *types.SignedHeader) bool {
	h, th := ours.Header, theirs.Header
	sameID := func(a lightclient.BlockID, b types.BlockID) bool {
		return bytes.Equal(a.Hash, b.Hash) && a.PartSetHeader.Total == b.PartSetHeader.Total && bytes.Equal(a.PartSetHeader.Hash, b.PartSetHeader.Hash)
	}
	if h.Version.Block != th.Version.Block || h.Version.App != th.Version.App || h.ChainID != th.ChainID || h.Height != th.Height ||
		!h.Time.Equal(th.Time) || !sameID(h.LastBlockID, th.LastBlockID) {
		return false
	}
	for _, f := range [][2][]byte{
		{h.LastCommitHash, th.LastCommitHash}, {h.DataHash, th.DataHash}, {h.ValidatorsHash, th.ValidatorsHash},
		{h.NextValidatorsHash, th.NextValidatorsHash}, {h.ConsensusHash, th.ConsensusHash}, {h.AppHash, th.AppHash},
		{h.LastResultsHash, th.LastResultsHash}, {h.EvidenceHash, th.EvidenceHash}, {h.ProposerAddress, th.ProposerAddress},
	} {
		if !bytes.Equal(f[0], f[1]) {
			return false
		}
	}
	c, tc := ours.Commit, theirs.Commit
	if c.Height != tc.Height || c.Round != tc.Round || !sameID(c.BlockID, tc.BlockID) || len(c.Signatures) != len(tc.Signatures) {
		return false
	}
	for i, s := range c.Signatures {
		ts := tc.Signatures[i]
		if uint8(s.Flag) != uint8(ts.BlockIDFlag) || !bytes.Equal(s.ValidatorAddress, ts.ValidatorAddress) ||
			!s.Timestamp.Equal(ts.Timestamp) || !bytes.Equal(s.Signature, ts.Signature) {
			return false
		}
	}
	return true
}
