package lightclient_test

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	cmtjson "github.com/cometbft/cometbft/libs/json"
	"github.com/cometbft/cometbft/types"

	"github.com/vitalchain/vitalchain/lightclient"
)

// testChain is a chain made with CometBFT's types: heights 1 to n, each
// header chained to the previous one by its LastBlockID, signed by
// everyone in its set, the first at the genesis time, one second apart.
type testChain struct {
	t       testing.TB
	chainID string
	kr      *keyring
	genesis time.Time
	headers []*types.SignedHeader // headers[h-1] is height h
	vals    []*types.ValidatorSet // vals[h-1] signs height h
}

// chains counts the chains made, so that each is another.
var chains uint64

// makeChain makes n heights. rotate gives the set of height h+1 from that
// of h (nil: the same set throughout).
func makeChain(t testing.TB, n int, vals0 *types.ValidatorSet, kr *keyring, rotate func(h int64, vs *types.ValidatorSet) *types.ValidatorSet) *testChain {
	chains++
	r := rand.New(rand.NewPCG(uint64(n), chains))
	c := &testChain{t: t, chainID: "vitalchain-test", kr: kr, genesis: time.Date(2026, 12, 1, 8, 0, 0, 123456789, time.UTC)}
	c.vals = []*types.ValidatorSet{vals0}
	for h := int64(1); h <= int64(n); h++ {
		next := c.vals[h-1]
		if rotate != nil {
			next = rotate(h, next)
		}
		c.vals = append(c.vals, next)
	}
	var last types.BlockID
	for h := int64(1); h <= int64(n); h++ {
		hdr := header(r, c.chainID, h, c.genesis.Add(time.Duration(h-1)*time.Second), c.vals[h-1], c.vals[h])
		hdr.LastBlockID = last
		id := blockIDOf(r, hdr)
		last = id
		c.headers = append(c.headers, &types.SignedHeader{Header: hdr, Commit: kr.sign(c.chainID, h, 0, id, c.vals[h-1], allCommit(c.vals[h-1].Size()), hdr.Time)})
	}
	return c
}

// at returns height h as a node serves it, decoded by this package.
func (c *testChain) at(h int64) (*lightclient.SignedHeader, *lightclient.ValidatorSet) {
	c.t.Helper()
	sh := oursCommit(c.t, servedCommit(c.t, c.headers[h-1]))
	vs, err := oursValidators(servedValidators(c.t, h, c.vals[h-1].Validators, 100))
	if err != nil {
		c.t.Fatal(err)
	}
	return sh, vs
}

// fetch is a lightclient.Fetch of the chain that counts its calls.
func (c *testChain) fetch(calls *[]int64) lightclient.Fetch {
	return func(h int64) (*lightclient.SignedHeader, *lightclient.ValidatorSet, error) {
		*calls = append(*calls, h)
		if h < 1 || h > int64(len(c.headers)) {
			return nil, nil, fmt.Errorf("no height %d", h)
		}
		sh, vs := c.at(h)
		return sh, vs, nil
	}
}

// genesisJSON is the chain's genesis file, as CometBFT writes it.
func (c *testChain) genesisJSON() []byte {
	c.t.Helper()
	doc := &types.GenesisDoc{GenesisTime: c.genesis, ChainID: c.chainID, InitialHeight: 1}
	for _, v := range c.vals[0].Validators {
		doc.Validators = append(doc.Validators, types.GenesisValidator{Address: v.Address, PubKey: v.PubKey, Power: v.VotingPower, Name: "v"})
	}
	if err := doc.ValidateAndComplete(); err != nil {
		c.t.Fatal(err)
	}
	b, err := cmtjson.MarshalIndent(doc, "", "  ")
	if err != nil {
		c.t.Fatal(err)
	}
	return b
}

// trust returns a Verifier rooted in height h of the chain.
func (c *testChain) trust(h int64, o lightclient.Options) *lightclient.Verifier {
	c.t.Helper()
	sh, vs := c.at(h)
	tr, err := lightclient.TrustHeader(c.chainID, h, c.headers[h-1].Hash(), sh, vs)
	if err != nil {
		c.t.Fatal(err)
	}
	v, err := lightclient.New(tr, o)
	if err != nil {
		c.t.Fatal(err)
	}
	return v
}

// rotateOne replaces the set's first validator by a key not used yet.
func rotateOne(kr *keyring, first int) func(h int64, vs *types.ValidatorSet) *types.ValidatorSet {
	next := first
	return func(h int64, vs *types.ValidatorSet) *types.ValidatorSet {
		vals := make([]*types.Validator, 0, vs.Size())
		for _, v := range vs.Validators[1:] {
			vals = append(vals, types.NewValidator(v.PubKey, v.VotingPower))
		}
		vals = append(vals, types.NewValidator(kr.keys[next].PubKey(), 10))
		next++
		return types.NewValidatorSet(vals)
	}
}
