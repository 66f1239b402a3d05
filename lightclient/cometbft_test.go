package lightclient_test

// Helpers that make headers, commits and validator sets with CometBFT's own
// types and serve them as a CometBFT node would, for the tests that hold
// this package equal to CometBFT.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	cmted25519 "github.com/cometbft/cometbft/crypto/ed25519"
	cmtjson "github.com/cometbft/cometbft/libs/json"
	cmtproto "github.com/cometbft/cometbft/proto/tendermint/types"
	cmtverproto "github.com/cometbft/cometbft/proto/tendermint/version"
	ctypes "github.com/cometbft/cometbft/rpc/core/types"
	rpctypes "github.com/cometbft/cometbft/rpc/jsonrpc/types"
	"github.com/cometbft/cometbft/types"
	cmtversion "github.com/cometbft/cometbft/version"

	"github.com/vitalchain/vitalchain/lightclient"
)

// keyring is a pool of validator keys, so that sets drawn from it overlap.
type keyring struct {
	keys   []cmted25519.PrivKey
	byAddr map[string]cmted25519.PrivKey
}

func newKeyring(n int, seed uint64) *keyring {
	kr := &keyring{byAddr: map[string]cmted25519.PrivKey{}}
	for i := range n {
		k := cmted25519.GenPrivKeyFromSecret(fmt.Appendf(nil, "key %d of %d", i, seed))
		kr.keys = append(kr.keys, k)
		kr.byAddr[string(k.PubKey().Address())] = k
	}
	return kr
}

// set returns a validator set of the keys at idx with the given powers.
func (kr *keyring) set(idx []int, powers []int64) *types.ValidatorSet {
	vals := make([]*types.Validator, len(idx))
	for i, k := range idx {
		vals[i] = types.NewValidator(kr.keys[k].PubKey(), powers[i])
	}
	return types.NewValidatorSet(vals)
}

// randSet draws a set of 1 to max validators from the keyring.
func (kr *keyring) randSet(r *rand.Rand, max int) *types.ValidatorSet {
	n := 1 + r.IntN(max)
	idx := r.Perm(len(kr.keys))[:n]
	powers := make([]int64, n)
	for i := range powers {
		powers[i] = randPower(r)
	}
	return kr.set(idx, powers)
}

func randPower(r *rand.Rand) int64 {
	switch r.IntN(10) {
	case 0:
		return 1 + r.Int64N(1<<40)
	case 1:
		return 1
	default:
		return 1 + r.Int64N(100)
	}
}

func randHash(r *rand.Rand) []byte {
	b := make([]byte, 32)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func randBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// header returns a well-formed header of height h at t, signed by vals and
// naming next as the next validators.
func header(r *rand.Rand, chainID string, h int64, t time.Time, vals, next *types.ValidatorSet) *types.Header {
	return &types.Header{
		Version:            cmtverproto.Consensus{Block: cmtversion.BlockProtocol, App: r.Uint64N(3)},
		ChainID:            chainID,
		Height:             h,
		Time:               t,
		LastBlockID:        types.BlockID{Hash: randHash(r), PartSetHeader: types.PartSetHeader{Total: 1 + r.Uint32N(4), Hash: randHash(r)}},
		LastCommitHash:     randHash(r),
		DataHash:           randHash(r),
		ValidatorsHash:     vals.Hash(),
		NextValidatorsHash: next.Hash(),
		ConsensusHash:      randHash(r),
		AppHash:            randHash(r),
		LastResultsHash:    randHash(r),
		EvidenceHash:       randHash(r),
		ProposerAddress:    vals.Validators[r.IntN(vals.Size())].Address,
	}
}

// blockIDOf returns the block ID of h, with a random part set header.
func blockIDOf(r *rand.Rand, h *types.Header) types.BlockID {
	return types.BlockID{Hash: h.Hash(), PartSetHeader: types.PartSetHeader{Total: 1 + r.Uint32N(4), Hash: randHash(r)}}
}

// vote is how a validator took part in a commit.
type vote int

const (
	voteCommit vote = iota
	voteNil
	voteAbsent
)

// sign makes the commit of block id at height h and round round by vals:
// validator i votes as votes[i] says, on chainID.
func (kr *keyring) sign(chainID string, h int64, round int32, id types.BlockID, vals *types.ValidatorSet, votes []vote, t time.Time) *types.Commit {
	c := &types.Commit{Height: h, Round: round, BlockID: id, Signatures: make([]types.CommitSig, vals.Size())}
	for i, v := range vals.Validators {
		if votes[i] == voteAbsent {
			c.Signatures[i] = types.NewCommitSigAbsent()
			continue
		}
		vt := &types.Vote{
			Type: cmtproto.PrecommitType, Height: h, Round: round, BlockID: id,
			Timestamp: t.Add(time.Duration(i) * time.Millisecond), ValidatorAddress: v.Address, ValidatorIndex: int32(i),
		}
		flag := types.BlockIDFlagCommit
		if votes[i] == voteNil {
			vt.BlockID = types.BlockID{}
			flag = types.BlockIDFlagNil
		}
		sig, err := kr.byAddr[string(v.Address)].Sign(types.VoteSignBytes(chainID, vt.ToProto()))
		if err != nil {
			panic(err)
		}
		c.Signatures[i] = types.CommitSig{BlockIDFlag: flag, ValidatorAddress: v.Address, Timestamp: vt.Timestamp, Signature: sig}
	}
	return c
}

// allCommit is everyone voting for the block.
func allCommit(n int) []vote { return make([]vote, n) }

// randVotes draws votes, mostly for the block.
func randVotes(r *rand.Rand, n int) []vote {
	v := make([]vote, n)
	for i := range v {
		switch x := r.IntN(10); {
		case x == 0:
			v[i] = voteNil
		case x == 1:
			v[i] = voteAbsent
		}
	}
	return v
}

// served returns what a CometBFT node's RPC serves for result: the
// JSON-RPC answer, encoded as CometBFT's server encodes it.
func served(t testing.TB, result any) []byte {
	t.Helper()
	resp := rpctypes.NewRPCSuccessResponse(rpctypes.JSONRPCIntID(-1), result)
	if resp.Error != nil {
		t.Fatalf("encode %T: %v", result, resp.Error)
	}
	b, err := json.Marshal(resp)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func servedCommit(t testing.TB, sh *types.SignedHeader) []byte {
	return served(t, &ctypes.ResultCommit{SignedHeader: *sh, CanonicalCommit: true})
}

// servedValidators returns the pages of /validators?per_page=perPage.
func servedValidators(t testing.TB, height int64, vals []*types.Validator, perPage int) [][]byte {
	var pages [][]byte
	for i := 0; i < len(vals); i += perPage {
		page := vals[i:min(i+perPage, len(vals))]
		pages = append(pages, served(t, &ctypes.ResultValidators{BlockHeight: height, Validators: page, Count: len(page), Total: len(vals)}))
	}
	return pages
}

// cometCommit decodes a /commit answer as CometBFT's light client's HTTP
// provider does.
func cometCommit(b []byte) (*types.SignedHeader, error) {
	var resp rpctypes.RPCResponse
	if err := json.Unmarshal(b, &resp); err != nil {
		return nil, err
	}
	if resp.Error != nil {
		return nil, resp.Error
	}
	var rc ctypes.ResultCommit
	if err := cmtjson.Unmarshal(resp.Result, &rc); err != nil {
		return nil, err
	}
	return &rc.SignedHeader, nil
}

// cometValidators decodes /validators pages as CometBFT's HTTP provider
// does, into a set as it makes one.
func cometValidators(pages [][]byte) (*types.ValidatorSet, error) {
	var vals []*types.Validator
	for _, b := range pages {
		var resp rpctypes.RPCResponse
		if err := json.Unmarshal(b, &resp); err != nil {
			return nil, err
		}
		if resp.Error != nil {
			return nil, resp.Error
		}
		var rv ctypes.ResultValidators
		if err := cmtjson.Unmarshal(resp.Result, &rv); err != nil {
			return nil, err
		}
		vals = append(vals, rv.Validators...)
	}
	return types.ValidatorSetFromExistingValidators(vals)
}

// ours decodes what a node served with this package.
func oursCommit(t testing.TB, b []byte) *lightclient.SignedHeader {
	t.Helper()
	sh, err := lightclient.DecodeCommit(b)
	if err != nil {
		t.Fatalf("decode commit: %v\n%s", err, b)
	}
	return sh
}

func oursValidators(pages [][]byte) (*lightclient.ValidatorSet, error) {
	var ps []*lightclient.ValidatorsPage
	for _, b := range pages {
		p, err := lightclient.DecodeValidators(b)
		if err != nil {
			return nil, err
		}
		ps = append(ps, p)
	}
	return lightclient.JoinPages(ps...)
}

// toOurs converts a CometBFT validator set through its JSON.
func toOurs(t testing.TB, vs *types.ValidatorSet) *lightclient.ValidatorSet {
	t.Helper()
	v, err := oursValidators(servedValidators(t, 1, vs.Validators, 100))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// sameBytes fails unless a and b are equal.
func sameBytes(t testing.TB, what string, ours, theirs []byte) {
	t.Helper()
	if !bytes.Equal(ours, theirs) {
		t.Fatalf("%s: ours %X, CometBFT's %X", what, ours, theirs)
	}
}
