package lightclient_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	cmtmath "github.com/cometbft/cometbft/libs/math"
	"github.com/cometbft/cometbft/light"
	"github.com/cometbft/cometbft/types"

	"github.com/vitalchain/vitalchain/lightclient"
)

// scenario is a trusted header and what a node serves for a later one:
// honest, or forged in one way.
type scenario struct {
	mutation string
	chainID  string

	trusted     *types.SignedHeader
	trustedVals *types.ValidatorSet

	commit []byte   // the /commit answer for the new header
	vals   [][]byte // the /validators pages for it
	// The honest commit and set, for the checks of commits alone.
	signedBy *types.ValidatorSet

	now    time.Time
	period time.Duration
	drift  time.Duration
	level  cmtmath.Fraction
}

// draft is a scenario being built.
type draft struct {
	r   *rand.Rand
	kr  *keyring
	s   *scenario
	adj bool

	hdr       *types.Header
	vals      *types.ValidatorSet // the new header's signers
	served    []*types.Validator  // what /validators serves
	perPage   int
	votes     []vote
	round     int32
	signChain string
	commit    *types.Commit
}

// A mutation forges a draft: before the commit is signed (pre) or after
// (post). Names say what a node would be serving.
type mutation struct {
	name string
	pre  func(d *draft)
	post func(d *draft)
}

// changed returns a set that keeps some of vs's validators, with some
// powers changed, and adds some.
func changed(r *rand.Rand, kr *keyring, vs *types.ValidatorSet) *types.ValidatorSet {
	var idx []int
	var powers []int64
	for k := range kr.keys {
		in := vs.HasAddress(kr.keys[k].PubKey().Address())
		switch {
		case in && r.IntN(4) != 0, !in && r.IntN(12) == 0:
			_, v := vs.GetByAddress(kr.keys[k].PubKey().Address())
			p := randPower(r)
			if v != nil && r.IntN(2) == 0 {
				p = v.VotingPower
			}
			idx = append(idx, k)
			powers = append(powers, p)
		}
	}
	if len(idx) == 0 {
		return vs.Copy()
	}
	return kr.set(idx, powers)
}

// firstSigner returns the index of the first vote for the block, or -1.
func (d *draft) firstSigner() int {
	for i, s := range d.commit.Signatures {
		if s.BlockIDFlag == types.BlockIDFlagCommit {
			return i
		}
	}
	return -1
}

func (d *draft) signers() []int {
	var out []int
	for i, s := range d.commit.Signatures {
		if s.BlockIDFlag == types.BlockIDFlagCommit {
			out = append(out, i)
		}
	}
	return out
}

var mutations = []mutation{
	{name: "honest"},
	{name: "honest, a later round", pre: func(d *draft) { d.round = 1 + d.r.Int32N(5) }},
	{name: "honest, everyone signs", pre: func(d *draft) { d.votes = allCommit(d.vals.Size()) }},
	{name: "honest, validators served in another order", post: func(d *draft) {
		d.r.Shuffle(len(d.served), func(i, j int) { d.served[i], d.served[j] = d.served[j], d.served[i] })
	}},
	{name: "honest, validators served two a page", post: func(d *draft) { d.perPage = 2 }},
	{name: "honest, garbage in a vote for nil", pre: func(d *draft) { d.votes[d.r.IntN(len(d.votes))] = voteNil },
		post: func(d *draft) {
			for i := range d.commit.Signatures {
				if d.commit.Signatures[i].BlockIDFlag == types.BlockIDFlagNil {
					d.commit.Signatures[i].Signature = randBytes(d.r, 64)
				}
			}
		}},
	{name: "honest, odd proposer priorities", post: func(d *draft) {
		for i := range d.served {
			v := *d.served[i]
			v.ProposerPriority = d.r.Int64N(1<<20) - 1<<19
			d.served[i] = &v
		}
	}},
	{name: "a signature's byte flipped", post: func(d *draft) {
		if s := d.signers(); len(s) > 0 {
			d.commit.Signatures[s[d.r.IntN(len(s))]].Signature[d.r.IntN(64)] ^= 1 << d.r.IntN(8)
		}
	}},
	{name: "the first signature's byte flipped", post: func(d *draft) {
		if i := d.firstSigner(); i >= 0 {
			d.commit.Signatures[i].Signature[d.r.IntN(64)] ^= 1 << d.r.IntN(8)
		}
	}},
	{name: "every signature of another key", post: func(d *draft) {
		for i := range d.commit.Signatures {
			if len(d.commit.Signatures[i].Signature) == 64 {
				sig, _ := d.kr.keys[0].Sign([]byte("something else"))
				d.commit.Signatures[i].Signature = sig
			}
		}
	}},
	{name: "signed for another chain", pre: func(d *draft) { d.signChain = d.s.chainID + "-other" }},
	{name: "a header of another chain", pre: func(d *draft) {
		d.hdr.ChainID = d.s.chainID + "-other"
		d.signChain = d.hdr.ChainID
	}},
	{name: "app hash changed after signing", post: func(d *draft) { d.hdr.AppHash = randHash(d.r) }},
	{name: "app hash changed, commit pointed at the new header", post: func(d *draft) {
		d.hdr.AppHash = randHash(d.r)
		d.commit.BlockID.Hash = d.hdr.Hash()
	}},
	{name: "a validator signs twice", post: func(d *draft) {
		if s := d.signers(); len(s) > 0 && len(d.commit.Signatures) > 1 {
			i := s[d.r.IntN(len(s))]
			j := d.r.IntN(len(d.commit.Signatures) - 1)
			if j >= i {
				j++
			}
			d.commit.Signatures[j] = d.commit.Signatures[i]
		}
	}},
	{name: "a validator signs twice, first two places", pre: func(d *draft) { d.votes = allCommit(d.vals.Size()) },
		post: func(d *draft) {
			if len(d.commit.Signatures) > 1 {
				d.commit.Signatures[1] = d.commit.Signatures[0]
			}
		}},
	{name: "not enough power", pre: func(d *draft) {
		total := d.vals.TotalVotingPower()
		signed := total
		for _, i := range d.r.Perm(len(d.votes)) {
			if signed*3 <= total*2 {
				break
			}
			d.votes[i] = []vote{voteAbsent, voteNil}[d.r.IntN(2)]
			signed -= d.vals.Validators[i].VotingPower
		}
	}},
	{name: "exactly 2/3 signed", pre: func(d *draft) {
		d.vals = d.kr.set(d.r.Perm(len(d.kr.keys))[:3], []int64{5, 5, 5})
		d.served = slices.Clone(d.vals.Validators)
		d.hdr.ValidatorsHash = d.vals.Hash()
		if d.adj {
			d.s.trusted.NextValidatorsHash = d.vals.Hash()
			d.s.trusted.Commit.BlockID.Hash = d.s.trusted.Hash()
		}
		d.votes = []vote{voteCommit, voteCommit, voteAbsent}
	}},
	{name: "a new set the trusted one does not know", pre: func(d *draft) {
		if !d.adj {
			d.vals = d.kr.set([]int{len(d.kr.keys) - 1, len(d.kr.keys) - 2}, []int64{3, 4})
			d.served = slices.Clone(d.vals.Validators)
			d.hdr.ValidatorsHash = d.vals.Hash()
			d.votes = allCommit(2)
		}
	}},
	{name: "the header names validators it was not signed by", pre: func(d *draft) {
		d.hdr.ValidatorsHash = changed(d.r, d.kr, d.vals).Hash()
	}},
	{name: "validators served are not the header's: one dropped", post: func(d *draft) {
		if len(d.served) > 1 {
			d.served = slices.Delete(slices.Clone(d.served), 0, 1)
		}
	}},
	{name: "validators served are not the header's: a power changed", post: func(d *draft) {
		i := d.r.IntN(len(d.served))
		v := *d.served[i]
		v.VotingPower++
		d.served = slices.Clone(d.served)
		d.served[i] = &v
	}},
	{name: "validators served are not the header's: another set", post: func(d *draft) {
		d.served = changed(d.r, d.kr, d.vals).Validators
	}},
	{name: "validators served with an address not their key's", post: func(d *draft) {
		i := d.r.IntN(len(d.served))
		v := *d.served[i]
		v.Address = randBytes(d.r, 20)
		d.served = slices.Clone(d.served)
		d.served[i] = &v
	}},
	{name: "adjacent, but not the validators the trusted header named next", pre: func(d *draft) {
		if d.adj {
			d.vals = changed(d.r, d.kr, d.vals)
			d.served = slices.Clone(d.vals.Validators)
			d.hdr.ValidatorsHash = d.vals.Hash()
			d.votes = randVotes(d.r, d.vals.Size())
		}
	}},
	{name: "trust expired", pre: func(d *draft) {
		d.s.now = d.s.trusted.Time.Add(d.s.period + time.Duration(d.r.Int64N(int64(time.Hour))))
	}},
	{name: "trust expires exactly now", pre: func(d *draft) { d.s.now = d.s.trusted.Time.Add(d.s.period) }},
	{name: "honest, trust expiring a nanosecond after now", pre: func(d *draft) {
		d.s.now = d.s.trusted.Time.Add(d.s.period - 1)
		d.hdr.Time = d.s.now.Add(-time.Second)
	}},
	{name: "header from the future", pre: func(d *draft) { d.s.now = d.hdr.Time.Add(-d.s.drift - time.Duration(1+d.r.IntN(1e9))) }},
	{name: "header exactly at now plus drift", pre: func(d *draft) { d.s.now = d.hdr.Time.Add(-d.s.drift) }},
	{name: "honest, a header a nanosecond within the drift", pre: func(d *draft) { d.s.now = d.hdr.Time.Add(-d.s.drift + 1) }},
	{name: "header time equal to the trusted one", pre: func(d *draft) { d.hdr.Time = d.s.trusted.Time }},
	{name: "header time before the trusted one", pre: func(d *draft) { d.hdr.Time = d.s.trusted.Time.Add(-time.Second) }},
	{name: "header height not after the trusted one", pre: func(d *draft) { d.hdr.Height = d.s.trusted.Height - d.r.Int64N(2) }},
	{name: "block protocol 10", pre: func(d *draft) { d.hdr.Version.Block = 10 }},
	{name: "a data hash of 31 bytes", pre: func(d *draft) { d.hdr.DataHash = randBytes(d.r, 31) }},
	{name: "honest, empty hashes", pre: func(d *draft) {
		d.hdr.DataHash, d.hdr.LastCommitHash, d.hdr.EvidenceHash, d.hdr.LastResultsHash, d.hdr.ConsensusHash = nil, nil, nil, nil, nil
		d.hdr.AppHash = nil
	}},
	{name: "honest, a long app hash", pre: func(d *draft) { d.hdr.AppHash = randBytes(d.r, 100) }},
	{name: "honest, no next validators hash", pre: func(d *draft) { d.hdr.NextValidatorsHash = nil }},
	{name: "a proposer address of 19 bytes", pre: func(d *draft) { d.hdr.ProposerAddress = randBytes(d.r, 19) }},
	{name: "a chain ID of 51 bytes", pre: func(d *draft) {
		d.hdr.ChainID = strings.Repeat("x", 51)
		d.signChain = d.hdr.ChainID
	}},
	{name: "commit of another height", post: func(d *draft) { d.commit.Height++ }},
	{name: "commit of a negative round", post: func(d *draft) { d.commit.Round = -1 }},
	{name: "commit for nil", post: func(d *draft) { d.commit.BlockID = types.BlockID{} }},
	{name: "commit with another part set header", post: func(d *draft) { d.commit.BlockID.PartSetHeader.Total++ }},
	{name: "commit without its last signature", post: func(d *draft) {
		d.commit.Signatures = d.commit.Signatures[:len(d.commit.Signatures)-1]
	}},
	{name: "commit with an extra absent vote", post: func(d *draft) {
		d.commit.Signatures = append(d.commit.Signatures, types.NewCommitSigAbsent())
	}},
	{name: "commit without signatures", post: func(d *draft) { d.commit.Signatures = nil }},
	{name: "a vote with an unknown flag", post: func(d *draft) {
		d.commit.Signatures[d.r.IntN(len(d.commit.Signatures))].BlockIDFlag = 4
	}},
	{name: "an absent vote with an address", pre: func(d *draft) { d.votes[d.r.IntN(len(d.votes))] = voteAbsent },
		post: func(d *draft) {
			for i := range d.commit.Signatures {
				if d.commit.Signatures[i].BlockIDFlag == types.BlockIDFlagAbsent {
					d.commit.Signatures[i].ValidatorAddress = randBytes(d.r, 20)
					break
				}
			}
		}},
	{name: "a vote without its signature", post: func(d *draft) {
		if s := d.signers(); len(s) > 0 {
			d.commit.Signatures[s[d.r.IntN(len(s))]].Signature = nil
		}
	}},
	{name: "a signature of 65 bytes", post: func(d *draft) {
		if s := d.signers(); len(s) > 0 {
			i := s[d.r.IntN(len(s))]
			d.commit.Signatures[i].Signature = append(d.commit.Signatures[i].Signature, 0)
		}
	}},
	{name: "a vote by an address of 19 bytes", post: func(d *draft) {
		if s := d.signers(); len(s) > 0 {
			i := s[d.r.IntN(len(s))]
			d.commit.Signatures[i].ValidatorAddress = d.commit.Signatures[i].ValidatorAddress[:19]
		}
	}},
	{name: "a vote's time changed after signing", post: func(d *draft) {
		if s := d.signers(); len(s) > 0 {
			d.commit.Signatures[s[d.r.IntN(len(s))]].Timestamp = d.hdr.Time.Add(time.Nanosecond)
		}
	}},
	{name: "votes moved to the wrong places", post: func(d *draft) {
		d.r.Shuffle(len(d.commit.Signatures), func(i, j int) {
			d.commit.Signatures[i], d.commit.Signatures[j] = d.commit.Signatures[j], d.commit.Signatures[i]
		})
	}},
}

// draw makes a scenario with mutation m.
func draw(r *rand.Rand, kr *keyring, m mutation) *scenario {
	s := &scenario{
		mutation: m.name,
		chainID:  fmt.Sprintf("vc-%d", r.IntN(100)),
		period:   time.Duration(1+r.IntN(14*24)) * time.Hour,
		drift:    time.Duration(1+r.IntN(20)) * time.Second,
		level:    []cmtmath.Fraction{{Numerator: 1, Denominator: 3}, {Numerator: 1, Denominator: 3}, {Numerator: 1, Denominator: 2}, {Numerator: 2, Denominator: 3}, {Numerator: 1, Denominator: 1}}[r.IntN(5)],
	}
	h0 := 1 + r.Int64N(1000)
	t0 := time.Unix(1_700_000_000+r.Int64N(1e7), r.Int64N(1e9)).UTC()
	vals0 := kr.randSet(r, 10)
	next0 := vals0
	if r.IntN(2) == 0 {
		next0 = changed(r, kr, vals0)
	}
	th := header(r, s.chainID, h0, t0, vals0, next0)
	s.trusted = &types.SignedHeader{Header: th, Commit: kr.sign(s.chainID, h0, 0, blockIDOf(r, th), vals0, allCommit(vals0.Size()), t0)}
	s.trustedVals = vals0

	d := &draft{r: r, kr: kr, s: s, adj: r.IntN(2) == 0, perPage: 100}
	h1, vals1 := h0+1, next0
	if !d.adj {
		h1 = h0 + 2 + r.Int64N(50)
		vals1 = []*types.ValidatorSet{vals0, next0, changed(r, kr, vals0), changed(r, kr, next0)}[r.IntN(4)]
	}
	t1 := t0.Add(time.Duration(1+r.Int64N(int64(s.period/time.Second))) * time.Second / 2)
	s.now = t1.Add(time.Duration(r.Int64N(int64(time.Hour))))
	next1 := vals1
	if r.IntN(3) == 0 {
		next1 = changed(r, kr, vals1)
	}
	d.hdr = header(r, s.chainID, h1, t1, vals1, next1)
	d.vals = vals1
	d.served = slices.Clone(vals1.Validators)
	d.votes = randVotes(r, vals1.Size())
	d.signChain = s.chainID
	if m.pre != nil {
		m.pre(d)
	}
	d.commit = kr.sign(d.signChain, d.hdr.Height, d.round, blockIDOf(r, d.hdr), d.vals, d.votes, d.hdr.Time)
	if m.post != nil {
		m.post(d)
	}
	s.signedBy = d.vals
	s.commit = servedCommit(testingT{}, &types.SignedHeader{Header: d.hdr, Commit: d.commit})
	s.vals = servedValidators(testingT{}, d.hdr.Height, d.served, d.perPage)
	return s
}

// testingT lets the helpers run outside a test (they never fail on what
// draw gives them).
type testingT struct{ testing.TB }

func (testingT) Helper()                   {}
func (testingT) Fatalf(f string, a ...any) { panic(fmt.Sprintf(f, a...)) }
func (testingT) Fatal(a ...any)            { panic(fmt.Sprint(a...)) }

// theirs is CometBFT's light client's verdict: its HTTP provider's
// decoding, then light.Verify. A panic is a refusal.
func (s *scenario) theirs() (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	sh, err := cometCommit(s.commit)
	if err != nil {
		return fmt.Errorf("decode commit: %w", err)
	}
	vals, err := cometValidators(s.vals)
	if err != nil {
		return fmt.Errorf("decode validators: %w", err)
	}
	return light.Verify(s.trusted, s.trustedVals, sh, vals, s.period, s.now, s.drift, s.level)
}

// ours is this package's verdict, from the same bytes.
func (s *scenario) ours(t testing.TB) (*lightclient.Trusted, error) {
	sh, err := lightclient.DecodeCommit(s.commit)
	if err != nil {
		return nil, err
	}
	vals, err := oursValidators(s.vals)
	if err != nil {
		return nil, err
	}
	trusted := &lightclient.Trusted{
		ChainID:            s.trusted.ChainID,
		Height:             s.trusted.Height,
		Hash:               s.trusted.Hash(),
		Time:               s.trusted.Time,
		NextValidatorsHash: s.trusted.NextValidatorsHash,
		Validators:         toOurs(t, s.trustedVals),
	}
	return trusted.Next(s.now, sh, vals, lightclient.Options{
		TrustingPeriod: s.period, MaxClockDrift: s.drift,
		TrustLevel: lightclient.Fraction{Numerator: s.level.Numerator, Denominator: s.level.Denominator},
	})
}

// The crucial test: our verification's verdict is CometBFT's light
// client's, on the same bytes a node serves, over thousands of scenarios:
// honest ones and ones forged in each way of the mutations table, adjacent
// and skipping, with sets that change between heights. Where CometBFT
// says the trust expired or the new set cannot be trusted, we say so too.
func TestVerdictsAreCometBFTs(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	kr := newKeyring(24, 2)
	rounds := 40
	if testing.Short() {
		rounds = 6
	}
	type count struct{ accepted, refused int }
	counts := map[string]*count{}
	for round := range rounds {
		for _, m := range mutations {
			s := draw(r, kr, m)
			theirs := s.theirs()
			next, ours := s.ours(t)
			if (theirs == nil) != (ours == nil) {
				t.Fatalf("round %d, %q: CometBFT says %v, we say %v\ncommit: %s\nvalidators: %s",
					round, m.name, theirs, ours, s.commit, s.vals)
			}
			var expired light.ErrOldHeaderExpired
			if errors.As(theirs, &expired) != errors.Is(ours, lightclient.ErrExpired) {
				t.Fatalf("round %d, %q: CometBFT says %v, we say %v", round, m.name, theirs, ours)
			}
			var untrusted light.ErrNewValSetCantBeTrusted
			if errors.As(theirs, &untrusted) && !errors.Is(ours, lightclient.ErrNotEnoughTrust) {
				t.Fatalf("round %d, %q: CometBFT says %v, we say %v", round, m.name, theirs, ours)
			}
			c := counts[m.name]
			if c == nil {
				c = &count{}
				counts[m.name] = c
			}
			if theirs == nil {
				c.accepted++
				sh, _ := cometCommit(s.commit)
				sameBytes(t, "trusted hash", next.Hash, sh.Hash())
				if next.Height != sh.Height || !next.Time.Equal(sh.Time) {
					t.Fatalf("trusted %d at %v, want %d at %v", next.Height, next.Time, sh.Height, sh.Time)
				}
			} else {
				c.refused++
			}
			s.checkCommits(t)
		}
	}
	// Each forgery was tried and refused at least once; honest ones were
	// accepted at least once.
	names := make([]string, 0, len(counts))
	for n := range counts {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		c := counts[n]
		t.Logf("%-70s accepted %3d refused %3d", n, c.accepted, c.refused)
		if strings.HasPrefix(n, "honest") && c.accepted == 0 {
			t.Errorf("%q: never accepted", n)
		}
		if !strings.HasPrefix(n, "honest") && c.refused == 0 {
			t.Errorf("%q: never refused", n)
		}
	}
}

// checkCommits compares the commit checks alone (VerifyCommitLight by the
// set that signed, VerifyCommitLightTrusting by the trusted set) on the
// served commit, whatever the rest.
func (s *scenario) checkCommits(t *testing.T) {
	t.Helper()
	theirSH, err := cometCommit(s.commit)
	if err != nil {
		return
	}
	sh, err := lightclient.DecodeCommit(s.commit)
	if err != nil {
		t.Fatalf("%q: CometBFT decodes the commit, we do not: %v", s.mutation, err)
	}
	if theirSH.Commit.ValidateBasic() != nil {
		if sh.Commit.ValidateBasic() == nil {
			t.Fatalf("%q: CometBFT's commit basic check: %v, ours passes", s.mutation, theirSH.Commit.ValidateBasic())
		}
		return // CometBFT's commit checks assume a basically valid commit
	}
	if err := sh.Commit.ValidateBasic(); err != nil {
		t.Fatalf("%q: our commit basic check: %v, CometBFT's passes", s.mutation, err)
	}
	theirs := catch(func() error {
		return s.signedBy.VerifyCommitLight(s.chainID, theirSH.Commit.BlockID, theirSH.Height, theirSH.Commit)
	})
	ours := lightclient.VerifyCommitLight(s.chainID, toOurs(t, s.signedBy), sh.Commit.BlockID, sh.Header.Height, sh.Commit)
	if (theirs == nil) != (ours == nil) {
		t.Fatalf("%q: VerifyCommitLight: CometBFT says %v, we say %v", s.mutation, theirs, ours)
	}
	var notEnough types.ErrNotEnoughVotingPowerSigned
	if errors.As(theirs, &notEnough) != errors.Is(ours, lightclient.ErrNotEnoughPower) {
		t.Fatalf("%q: VerifyCommitLight: CometBFT says %v, we say %v", s.mutation, theirs, ours)
	}
	theirs = catch(func() error { return s.trustedVals.VerifyCommitLightTrusting(s.chainID, theirSH.Commit, s.level) })
	ours = lightclient.VerifyCommitLightTrusting(s.chainID, toOurs(t, s.trustedVals), sh.Commit,
		lightclient.Fraction{Numerator: s.level.Numerator, Denominator: s.level.Denominator})
	if (theirs == nil) != (ours == nil) {
		t.Fatalf("%q: VerifyCommitLightTrusting: CometBFT says %v, we say %v", s.mutation, theirs, ours)
	}
	if errors.As(theirs, &notEnough) != errors.Is(ours, lightclient.ErrNotEnoughTrust) {
		t.Fatalf("%q: VerifyCommitLightTrusting: CometBFT says %v, we say %v", s.mutation, theirs, ours)
	}
}

func catch(f func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	return f()
}
