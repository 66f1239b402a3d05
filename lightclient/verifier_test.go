package lightclient_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	dbm "github.com/cometbft/cometbft-db"
	"github.com/cometbft/cometbft/libs/log"
	"github.com/cometbft/cometbft/light"
	"github.com/cometbft/cometbft/light/provider"
	"github.com/cometbft/cometbft/light/provider/mock"
	dbs "github.com/cometbft/cometbft/light/store/db"
	"github.com/cometbft/cometbft/types"

	"github.com/vitalchain/vitalchain/lightclient"
)

func fourEqual(kr *keyring) *types.ValidatorSet {
	return kr.set([]int{0, 1, 2, 3}, []int64{10, 10, 10, 10})
}

// A Verifier rooted in height 1 follows the chain one height at a time,
// through validator changes at every height, and then trusts the last.
func TestVerifierFollowsAChain(t *testing.T) {
	kr := newKeyring(40, 3)
	c := makeChain(t, 30, fourEqual(kr), kr, rotateOne(kr, 4))
	v := c.trust(1, lightclient.Options{})
	now := c.genesis.Add(time.Minute)
	for h := int64(2); h <= 30; h++ {
		sh, vs := c.at(h)
		if err := v.Verify(now, sh, vs); err != nil {
			t.Fatalf("height %d: %v", h, err)
		}
		tr := v.Trusted()
		if tr.Height != h || !bytes.Equal(tr.Hash, c.headers[h-1].Hash()) || !tr.Time.Equal(c.headers[h-1].Time) {
			t.Fatalf("trusted %d %X, want %d %X", tr.Height, tr.Hash, h, c.headers[h-1].Hash())
		}
	}
}

// Where the validators changed too much to skip to a height, Verify says
// ErrNotEnoughTrust and VerifyTo bisects as CometBFT's light client does:
// it fetches the same heights, in the same order, and trusts the target.
func TestVerifyToBisectsAsCometBFT(t *testing.T) {
	kr := newKeyring(260, 4)
	every := func(k int64, rot func(int64, *types.ValidatorSet) *types.ValidatorSet) func(int64, *types.ValidatorSet) *types.ValidatorSet {
		return func(h int64, vs *types.ValidatorSet) *types.ValidatorSet {
			if h%k != 0 {
				return vs
			}
			return rot(h, vs)
		}
	}
	for _, tc := range []struct {
		name      string
		n         int64
		rotate    func(int64, *types.ValidatorSet) *types.ValidatorSet
		bisecting bool
	}{
		{"the same validators throughout", 50, nil, false},
		{"one validator replaced a height, 64 heights", 64, rotateOne(kr, 4), true},
		{"one validator replaced a height, 250 heights", 250, rotateOne(kr, 4), true},
		{"one validator replaced every third height", 120, every(3, rotateOne(kr, 4)), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := makeChain(t, int(tc.n), fourEqual(kr), kr, tc.rotate)
			now := c.genesis.Add(time.Hour)
			v := c.trust(1, lightclient.Options{})
			sh, vs := c.at(tc.n)
			if err := v.Verify(now, sh, vs); tc.bisecting != errors.Is(err, lightclient.ErrNotEnoughTrust) {
				t.Fatalf("skipping from 1 to %d: %v", tc.n, err)
			}
			v = c.trust(1, lightclient.Options{})
			var calls []int64
			got, err := v.VerifyTo(now, tc.n, c.fetch(&calls))
			if err != nil {
				t.Fatal(err)
			}
			if got.Header.Height != tc.n || v.Trusted().Height != tc.n {
				t.Fatalf("verified %d, trusted %d", got.Header.Height, v.Trusted().Height)
			}

			// CometBFT's light client, from the same root, skipping.
			headers, vals := map[int64]*types.SignedHeader{}, map[int64]*types.ValidatorSet{}
			for h := int64(1); h <= tc.n; h++ {
				headers[h], vals[h] = c.headers[h-1], c.vals[h-1]
			}
			primary := &recording{Provider: mock.New(c.chainID, headers, vals)}
			witness := mock.New(c.chainID, headers, vals)
			lc, err := light.NewClient(context.Background(), c.chainID,
				light.TrustOptions{Period: lightclient.DefaultTrustingPeriod, Height: 1, Hash: c.headers[0].Hash()},
				primary, []provider.Provider{witness}, dbs.New(dbm.NewMemDB(), c.chainID),
				light.SkippingVerification(light.DefaultTrustLevel), light.Logger(log.NewNopLogger()))
			if err != nil {
				t.Fatal(err)
			}
			primary.heights = nil // what it fetched to start from the root
			if _, err := lc.VerifyLightBlockAtHeight(context.Background(), tc.n, now); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(calls, primary.heights) {
				t.Fatalf("we fetched heights %v, CometBFT %v", calls, primary.heights)
			}
			t.Logf("heights fetched: %v", calls)
		})
	}
}

// VerifyTo returns what fetch fails with, and refuses a height other than
// the one asked for.
func TestVerifyToFetchErrors(t *testing.T) {
	kr := newKeyring(80, 10)
	c := makeChain(t, 64, fourEqual(kr), kr, rotateOne(kr, 4))
	now := c.genesis.Add(time.Hour)
	var calls []int64
	good := c.fetch(&calls)
	down := errors.New("node down")
	for _, tc := range []struct {
		name  string
		fetch lightclient.Fetch
		want  error
	}{
		{"the target fails", func(h int64) (*lightclient.SignedHeader, *lightclient.ValidatorSet, error) { return nil, nil, down }, down},
		{"a pivot fails", func(h int64) (*lightclient.SignedHeader, *lightclient.ValidatorSet, error) {
			if h != 64 {
				return nil, nil, down
			}
			return good(h)
		}, down},
		{"another height served", func(h int64) (*lightclient.SignedHeader, *lightclient.ValidatorSet, error) { return good(h - 1) }, lightclient.ErrInvalidHeader},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := c.trust(1, lightclient.Options{})
			if _, err := v.VerifyTo(now, 64, tc.fetch); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if v.Trusted().Height != 1 && tc.want != down {
				t.Fatalf("trusted %d", v.Trusted().Height)
			}
		})
	}
}

// recording is a provider that records the heights asked of it.
type recording struct {
	provider.Provider
	heights []int64
}

func (r *recording) LightBlock(ctx context.Context, h int64) (*types.LightBlock, error) {
	r.heights = append(r.heights, h)
	return r.Provider.LightBlock(ctx, h)
}

// Headers at or below the trusted height check against those verified:
// the same one passes, another is ErrConflict, a parent of a verified one
// passes by its hash, one the Verifier cannot tell is ErrOldHeader.
func TestVerifyOldHeaders(t *testing.T) {
	kr := newKeyring(8, 5)
	n := int64(lightclient.Recent + 10)
	c := makeChain(t, int(n), fourEqual(kr), kr, nil)
	other := makeChain(t, int(n), fourEqual(kr), kr, nil) // the same validators, another chain of blocks
	other.headers[0] = c.headers[0]
	now := c.genesis.Add(time.Hour)

	v := c.trust(1, lightclient.Options{})
	for h := int64(2); h <= n; h++ {
		sh, vs := c.at(h)
		if err := v.Verify(now, sh, vs); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name string
		c    *testChain
		h    int64
		want error
	}{
		{"the trusted header", c, n, nil},
		{"a recent header", c, n - 5, nil},
		{"the oldest recent header", c, n - lightclient.Recent + 1, nil},
		{"the parent of the oldest recent header", c, n - lightclient.Recent, nil},
		{"a header older than that", c, n - lightclient.Recent - 2, lightclient.ErrOldHeader},
		{"another header at the trusted height", other, n, lightclient.ErrConflict},
		{"another header at a recent height", other, n - 3, lightclient.ErrConflict},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sh, _ := tc.c.at(tc.h)
			err := v.Verify(now, sh, nil)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

// Trust survives a restart: the state encodes, decodes to the same, and
// the restored Verifier goes on; a damaged state is refused.
func TestTrustedStatePersists(t *testing.T) {
	kr := newKeyring(16, 6)
	c := makeChain(t, 10, fourEqual(kr), kr, rotateOne(kr, 4))
	now := c.genesis.Add(time.Hour)
	v := c.trust(3, lightclient.Options{})
	b, err := v.Trusted().MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var back lightclient.Trusted
	if err := back.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	again, err := back.MarshalBinary()
	if err != nil || !bytes.Equal(again, b) {
		t.Fatalf("re-encoded %x, %v; want %x", again, err, b)
	}
	tr := v.Trusted()
	if back.ChainID != tr.ChainID || back.Height != tr.Height || !bytes.Equal(back.Hash, tr.Hash) || !back.Time.Equal(tr.Time) ||
		!bytes.Equal(back.NextValidatorsHash, tr.NextValidatorsHash) || !bytes.Equal(back.Validators.Hash(), tr.Validators.Hash()) {
		t.Fatalf("restored %+v, want %+v", back, tr)
	}
	restored, err := lightclient.New(&back, lightclient.Options{})
	if err != nil {
		t.Fatal(err)
	}
	sh, vs := c.at(4)
	if err := restored.Verify(now, sh, vs); err != nil {
		t.Fatal(err)
	}
	sh, vs = c.at(10)
	if err := restored.Verify(now, sh, vs); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"truncated", b[:len(b)-1]},
		{"trailing byte", append(slices.Clone(b), 0)},
		{"not CBOR", []byte("{}")},
		{"version 2", bytes.Replace(b, []byte{0x01, 0x01}, []byte{0x01, 0x02}, 1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s lightclient.Trusted
			if err := s.UnmarshalBinary(tc.b); !errors.Is(err, lightclient.ErrMalformed) {
				t.Fatalf("got %v, want ErrMalformed", err)
			}
		})
	}
}

// Trust rooted in a genesis file verifies the first block, whose time is
// the genesis time, and skips to later ones.
func TestTrustGenesis(t *testing.T) {
	kr := newKeyring(8, 7)
	c := makeChain(t, 12, fourEqual(kr), kr, nil)
	g, err := lightclient.DecodeGenesis(c.genesisJSON())
	if err != nil {
		t.Fatal(err)
	}
	if g.ChainID != c.chainID || g.InitialHeight != 1 || !g.Time.Equal(c.genesis) || !bytes.Equal(g.Validators.Hash(), c.vals[0].Hash()) {
		t.Fatalf("genesis %+v", g)
	}
	now := c.genesis.Add(time.Hour)
	for _, tc := range []struct {
		name    string
		heights []int64
	}{
		{"block 1, then on", []int64{1, 2, 3}},
		{"skipping", []int64{7, 12}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr, err := lightclient.TrustGenesis(g)
			if err != nil {
				t.Fatal(err)
			}
			v, err := lightclient.New(tr, lightclient.Options{})
			if err != nil {
				t.Fatal(err)
			}
			for _, h := range tc.heights {
				sh, vs := c.at(h)
				if err := v.Verify(now, sh, vs); err != nil {
					t.Fatalf("height %d: %v", h, err)
				}
			}
		})
	}
	// A genesis expires as a header does.
	tr, _ := lightclient.TrustGenesis(g)
	v, _ := lightclient.New(tr, lightclient.Options{TrustingPeriod: time.Hour})
	sh, vs := c.at(1)
	if err := v.Verify(c.genesis.Add(time.Hour), sh, vs); !errors.Is(err, lightclient.ErrExpired) {
		t.Fatalf("an hour-old genesis, with an hour's trust: %v", err)
	}
	// The genesis of another chain's validators does not verify this one.
	other := makeChain(t, 2, kr.set([]int{4, 5, 6}, []int64{1, 1, 1}), kr, nil)
	og, _ := lightclient.DecodeGenesis(other.genesisJSON())
	tr, _ = lightclient.TrustGenesis(og)
	v, _ = lightclient.New(tr, lightclient.Options{})
	if err := v.Verify(now, sh, vs); !errors.Is(err, lightclient.ErrValidatorsHash) {
		t.Fatalf("another set's genesis: %v", err)
	}
}

// Each refusal is the sentinel its documentation names.
func TestRefusalsAreNamed(t *testing.T) {
	kr := newKeyring(12, 8)
	c := makeChain(t, 10, fourEqual(kr), kr, nil)
	moved := makeChain(t, 10, kr.set([]int{4, 5, 6, 7}, []int64{10, 10, 10, 10}), kr, nil)
	now := c.genesis.Add(time.Hour)
	type served struct {
		sh *lightclient.SignedHeader
		vs *lightclient.ValidatorSet
	}
	at := func(c *testChain, h int64) served { sh, vs := c.at(h); return served{sh, vs} }
	for _, tc := range []struct {
		name  string
		from  int64
		s     served
		now   time.Time
		o     lightclient.Options
		wants []error
	}{
		{"adjacent", 3, at(c, 4), now, lightclient.Options{}, nil},
		{"skipping", 3, at(c, 9), now, lightclient.Options{}, nil},
		{"expired", 3, at(c, 4), c.headers[2].Time.Add(lightclient.DefaultTrustingPeriod), lightclient.Options{}, []error{lightclient.ErrExpired}},
		{"from the future", 3, at(c, 9), c.genesis, lightclient.Options{MaxClockDrift: time.Second}, []error{lightclient.ErrFromFuture}},
		{"another chain", 3, served{tamper(at(c, 4).sh, func(h *lightclient.Header) { h.ChainID = "other" }), at(c, 4).vs}, now, lightclient.Options{}, []error{lightclient.ErrChainID}},
		{"app hash changed", 3, served{tamper(at(c, 4).sh, func(h *lightclient.Header) { h.AppHash[0] ^= 1 }), at(c, 4).vs}, now, lightclient.Options{}, []error{lightclient.ErrInvalidHeader}},
		{"validators not the header's", 3, served{at(c, 4).sh, at(moved, 4).vs}, now, lightclient.Options{}, []error{lightclient.ErrValidatorsHash}},
		{"another set, adjacent", 3, at(moved, 4), now, lightclient.Options{}, []error{lightclient.ErrValidatorsHash}},
		{"another set, skipping", 3, at(moved, 9), now, lightclient.Options{}, []error{lightclient.ErrNotEnoughTrust}},
		{"a bad signature", 3, served{tamperCommit(at(c, 4).sh, func(cm *lightclient.Commit) { cm.Signatures[0].Signature[5] ^= 1 }), at(c, 4).vs}, now, lightclient.Options{}, []error{lightclient.ErrInvalidCommit, lightclient.ErrSignature}},
		{"half signed", 3, served{tamperCommit(at(c, 4).sh, func(cm *lightclient.Commit) { absent(cm, 0, 1) }), at(c, 4).vs}, now, lightclient.Options{}, []error{lightclient.ErrNotEnoughPower}},
		{"a signer twice", 3, served{tamperCommit(at(c, 9).sh, func(cm *lightclient.Commit) { cm.Signatures[1] = cm.Signatures[0] }), at(c, 9).vs}, now, lightclient.Options{}, []error{lightclient.ErrInvalidCommit}},
		{"trust level 1, one absent", 3, served{tamperCommit(at(c, 9).sh, func(cm *lightclient.Commit) { absent(cm, 3) }), at(c, 9).vs}, now, lightclient.Options{TrustLevel: lightclient.Fraction{Numerator: 1, Denominator: 1}}, []error{lightclient.ErrNotEnoughTrust}},
		{"a trust level below 1/3", 3, at(c, 4), now, lightclient.Options{TrustLevel: lightclient.Fraction{Numerator: 1, Denominator: 4}}, []error{lightclient.ErrOptions}},
		{"a trust level above 1", 3, at(c, 4), now, lightclient.Options{TrustLevel: lightclient.Fraction{Numerator: 4, Denominator: 3}}, []error{lightclient.ErrOptions}},
		{"a negative trusting period", 3, at(c, 4), now, lightclient.Options{TrustingPeriod: -time.Second}, []error{lightclient.ErrOptions}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sh, vs := c.at(tc.from)
			tr, err := lightclient.TrustHeader(c.chainID, tc.from, c.headers[tc.from-1].Hash(), sh, vs)
			if err != nil {
				t.Fatal(err)
			}
			_, err = tr.Next(tc.now, tc.s.sh, tc.s.vs, tc.o)
			if len(tc.wants) == 0 && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if len(tc.wants) > 0 && err == nil {
				t.Fatalf("accepted, want %v", tc.wants)
			}
			for _, w := range tc.wants {
				if !errors.Is(err, w) {
					t.Errorf("got %v, want %v", err, w)
				}
			}
		})
	}
}

func tamper(sh *lightclient.SignedHeader, f func(*lightclient.Header)) *lightclient.SignedHeader {
	h := *sh.Header
	h.AppHash = slices.Clone(h.AppHash)
	f(&h)
	return &lightclient.SignedHeader{Header: &h, Commit: sh.Commit}
}

func tamperCommit(sh *lightclient.SignedHeader, f func(*lightclient.Commit)) *lightclient.SignedHeader {
	c := *sh.Commit
	c.Signatures = slices.Clone(c.Signatures)
	for i := range c.Signatures {
		c.Signatures[i].Signature = slices.Clone(c.Signatures[i].Signature)
	}
	f(&c)
	return &lightclient.SignedHeader{Header: sh.Header, Commit: &c}
}

func absent(c *lightclient.Commit, idx ...int) {
	for _, i := range idx {
		c.Signatures[i] = lightclient.CommitSig{Flag: lightclient.FlagAbsent}
	}
}

// TrustHeader refuses a header that is not the one named, or not signed by
// its validators.
func TestTrustHeader(t *testing.T) {
	kr := newKeyring(8, 9)
	c := makeChain(t, 4, fourEqual(kr), kr, nil)
	sh, vs := c.at(2)
	other, _ := c.at(3)
	for _, tc := range []struct {
		name   string
		height int64
		hash   []byte
		sh     *lightclient.SignedHeader
		want   error
	}{
		{"the header", 2, c.headers[1].Hash(), sh, nil},
		{"another hash", 2, c.headers[2].Hash(), sh, lightclient.ErrConflict},
		{"another height", 3, c.headers[1].Hash(), sh, lightclient.ErrConflict},
		{"another header", 2, c.headers[1].Hash(), other, lightclient.ErrConflict},
		{"half signed", 2, c.headers[1].Hash(), tamperCommit(sh, func(cm *lightclient.Commit) { absent(cm, 0, 2) }), lightclient.ErrNotEnoughPower},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := lightclient.TrustHeader(c.chainID, tc.height, tc.hash, tc.sh, vs)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}
