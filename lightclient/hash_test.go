package lightclient_test

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	cmtproto "github.com/cometbft/cometbft/proto/tendermint/types"
	cmtverproto "github.com/cometbft/cometbft/proto/tendermint/version"
	"github.com/cometbft/cometbft/types"
	cmtversion "github.com/cometbft/cometbft/version"

	"github.com/vitalchain/vitalchain/lightclient"
)

// randField is a hash-like field: mostly 32 bytes, sometimes empty or of
// another length (the hash covers whatever is there).
func randField(r *rand.Rand) []byte {
	switch r.IntN(6) {
	case 0:
		return nil
	case 1:
		return randBytes(r, 1+r.IntN(70))
	default:
		return randHash(r)
	}
}

func randTime(r *rand.Rand) time.Time {
	switch r.IntN(6) {
	case 0:
		return time.Time{}
	case 1:
		return time.Unix(-62135596800+r.Int64N(253402300799+62135596800), int64(r.IntN(1e9))).UTC()
	case 2:
		return time.Unix(r.Int64N(1<<31), 0).UTC()
	default:
		return time.Unix(1_700_000_000+r.Int64N(1e8), int64(r.IntN(1e9))).UTC()
	}
}

func randInt64(r *rand.Rand) int64 {
	switch r.IntN(5) {
	case 0:
		return 0
	case 1:
		return math.MaxInt64 - r.Int64N(3)
	case 2:
		return -r.Int64N(1 << 40)
	default:
		return 1 + r.Int64N(1<<20)
	}
}

func randChainID(r *rand.Rand) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz-0123456789é✓"
	rs := []rune(alphabet)
	n := r.IntN(60)
	if r.IntN(8) == 0 {
		n = 0
	}
	s := make([]rune, n)
	for i := range s {
		s[i] = rs[r.IntN(len(rs))]
	}
	return string(s)
}

// randHeader draws any header CometBFT can serialize, valid or not.
func randHeader(r *rand.Rand) *types.Header {
	h := &types.Header{
		Version:            cmtverproto.Consensus{Block: []uint64{cmtversion.BlockProtocol, 0, r.Uint64()}[r.IntN(3)], App: []uint64{0, 1, r.Uint64()}[r.IntN(3)]},
		ChainID:            randChainID(r),
		Height:             randInt64(r),
		Time:               randTime(r),
		LastBlockID:        types.BlockID{Hash: randField(r), PartSetHeader: types.PartSetHeader{Total: []uint32{0, 1, r.Uint32()}[r.IntN(3)], Hash: randField(r)}},
		LastCommitHash:     randField(r),
		DataHash:           randField(r),
		ValidatorsHash:     randField(r),
		NextValidatorsHash: randField(r),
		ConsensusHash:      randField(r),
		AppHash:            randField(r),
		LastResultsHash:    randField(r),
		EvidenceHash:       randField(r),
		ProposerAddress:    randField(r),
	}
	return h
}

// Our header hash is CometBFT's, for any header it serves: valid or not,
// with fields empty, of odd lengths, at extreme heights and times. The
// header goes through the JSON a node serves, so the decoder is checked
// too.
func TestHeaderHashIsCometBFTs(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	n := 3000
	if testing.Short() {
		n = 300
	}
	for i := range n {
		h := randHeader(r)
		sh := &types.SignedHeader{Header: h, Commit: &types.Commit{Height: h.Height, BlockID: types.BlockID{Hash: randHash(r)}}}
		ours := oursCommit(t, servedCommit(t, sh))
		if ours.Header.Height != h.Height || !ours.Header.Time.Equal(h.Time) || ours.Header.ChainID != h.ChainID {
			t.Fatalf("case %d: decoded %+v from %+v", i, ours.Header, h)
		}
		sameBytes(t, "header hash", ours.Header.Hash(), h.Hash())
		// Basic validity agrees too.
		if (ours.Header.ValidateBasic() == nil) != (h.ValidateBasic() == nil) {
			t.Fatalf("case %d: ValidateBasic: ours %v, CometBFT's %v", i, ours.Header.ValidateBasic(), h.ValidateBasic())
		}
	}
}

// Our validator-set hash is CometBFT's, for sets of 1 to 150 validators
// (a set of more than 100 comes in two pages), with any powers.
func TestValidatorSetHashIsCometBFTs(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	kr := newKeyring(160, 1)
	for i := range 300 {
		max := 12
		if i%20 == 0 {
			max = 150
		}
		vs := kr.randSet(r, max)
		ours, err := oursValidators(servedValidators(t, 7, vs.Validators, 100))
		if err != nil {
			t.Fatal(err)
		}
		sameBytes(t, "validator set hash", ours.Hash(), vs.Hash())
		if ours.TotalVotingPower() != vs.TotalVotingPower() || ours.Size() != vs.Size() {
			t.Fatalf("power %d of %d, want %d of %d", ours.TotalVotingPower(), ours.Size(), vs.TotalVotingPower(), vs.Size())
		}
		// Served in another order, the set is the same (CometBFT's light
		// client sorts what it is given, and so do we).
		shuffled := append([]*types.Validator(nil), vs.Validators...)
		r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		again, err := oursValidators(servedValidators(t, 7, shuffled, 100))
		if err != nil {
			t.Fatal(err)
		}
		sameBytes(t, "shuffled validator set hash", again.Hash(), vs.Hash())
	}
}

// What each validator signs in a commit is CometBFT's VoteSignBytes, for
// votes for the block and for nil, at any height, round and time.
func TestVoteSignBytesAreCometBFTs(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for range 2000 {
		chainID := randChainID(r)
		c := &types.Commit{Height: randInt64(r), Round: []int32{0, 1, r.Int32()}[r.IntN(3)], BlockID: types.BlockID{Hash: randField(r), PartSetHeader: types.PartSetHeader{Total: r.Uint32N(3), Hash: randField(r)}}}
		for range 1 + r.IntN(4) {
			flag := []types.BlockIDFlag{types.BlockIDFlagCommit, types.BlockIDFlagNil}[r.IntN(2)]
			c.Signatures = append(c.Signatures, types.CommitSig{BlockIDFlag: flag, ValidatorAddress: randBytes(r, 20), Timestamp: randTime(r), Signature: randBytes(r, 64)})
		}
		ours := &lightclient.Commit{Height: c.Height, Round: c.Round, BlockID: lightclient.BlockID{Hash: c.BlockID.Hash, PartSetHeader: lightclient.PartSetHeader{Total: c.BlockID.PartSetHeader.Total, Hash: c.BlockID.PartSetHeader.Hash}}}
		for _, s := range c.Signatures {
			ours.Signatures = append(ours.Signatures, lightclient.CommitSig{Flag: lightclient.BlockIDFlag(s.BlockIDFlag), ValidatorAddress: s.ValidatorAddress, Timestamp: s.Timestamp, Signature: s.Signature})
		}
		for i := range c.Signatures {
			if c.BlockID.ValidateBasic() != nil {
				break // CometBFT panics on a block ID it cannot canonicalize
			}
			v := c.GetVote(int32(i)).ToProto()
			v.Type = cmtproto.PrecommitType
			sameBytes(t, "vote sign bytes", ours.VoteSignBytes(chainID, i), types.VoteSignBytes(chainID, v))
		}
	}
}
