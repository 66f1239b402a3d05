package ledger

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/vitalchain/vitalchain/identity"
)

// policyChain is a chain of 4 clusters with a cloud in clusters 1 and 2.
type policyChain struct {
	*testChain
	cloud1, cloud2 *identity.Identity
	log1, log2     *testLog
}

func newPolicyChain(t *testing.T) *policyChain {
	return newPolicyChainParams(t, testParams())
}

// newPolicyChainParams is newPolicyChain on a chain of params.
func newPolicyChainParams(t *testing.T, params Params) *policyChain {
	tg := newGenesis(t, 4)
	tg.g.Params = params
	c := startChain(t, tg)
	p := &policyChain{testChain: c, log1: newTestLog(t), log2: newTestLog(t)}
	p.cloud1 = c.registerIn(identity.RoleCloud, identity.SuiteX25519, 1)
	p.cloud2 = c.registerIn(identity.RoleCloud, identity.SuiteX25519, 2)
	p.log1.grow(2)
	p.log2.grow(2)
	return p
}

func (c *testChain) proposer(i int) []byte { return ConsensusAddress(c.cons[i]) }

func sameTxs(a, b [][]byte) bool { return slices.EqualFunc(a, b, slices.Equal) }

func TestPrepareProcess(t *testing.T) {
	t.Parallel()
	c := newPolicyChain(t)
	next := c.now.Add(time.Second)
	sealed := next.UnixMilli() - 100 // 100 ms before the block: not yet passed on
	a1 := c.tx(c.cloud1.Signing, c.log1.anchor(LogRecords, 0, sealed))
	a2 := c.tx(c.cloud2.Signing, c.log2.anchor(LogRecords, 0, sealed))
	p := mustIdentity(t, identity.RolePatient)
	other := c.tx(c.auths[0].Signing, c.registerBody(p, 1, identity.ID{}, p.Signing))
	mempool := [][]byte{other, a2, a1}
	const unlimited = 1 << 20

	prepare := func(proposer []byte, at time.Time, txs [][]byte, max int64) [][]byte {
		t.Helper()
		out, err := c.m.Prepare(c.st, proposer, at, txs, max)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	process := func(proposer []byte, at time.Time, txs [][]byte) error {
		t.Helper()
		return c.m.Process(c.st, proposer, at, txs)
	}

	// Head of cluster 1: its own cloud's anchor first, cluster 2's left to
	// cluster 2's head for now.
	got := prepare(c.proposer(0), next, mempool, unlimited)
	if !sameTxs(got, [][]byte{a1, other}) {
		t.Fatalf("head 1 proposes %d txs: %v", len(got), got)
	}
	if err := process(c.proposer(0), next, got); err != nil {
		t.Fatal(err)
	}
	if err := process(c.proposer(0), next, [][]byte{a1, other, a2}); !errors.Is(err, Rejected(CodePolicy)) {
		t.Fatalf("process with another cluster's fresh anchor: %v", err)
	}
	// Head of cluster 2 does the opposite.
	if got := prepare(c.proposer(1), next, mempool, unlimited); !sameTxs(got, [][]byte{a2, other}) {
		t.Fatalf("head 2 proposes %v", got)
	}
	// Head of cluster 3 keeps neither.
	if got := prepare(c.proposer(2), next, mempool, unlimited); !sameTxs(got, [][]byte{other}) {
		t.Fatalf("head 3 proposes %v", got)
	}
	// An unknown proposer has no cluster either.
	if got := prepare([]byte("nobody"), next, mempool, unlimited); !sameTxs(got, [][]byte{other}) {
		t.Fatalf("unknown proposer proposes %v", got)
	}

	// AnchorPassAfterMs after its seal, anyone includes it, after its own.
	passed := time.UnixMilli(sealed + testParams().AnchorPassAfterMs)
	if got := prepare(c.proposer(0), passed.Add(-time.Millisecond), mempool, unlimited); !sameTxs(got, [][]byte{a1, other}) {
		t.Fatalf("a millisecond early: %v", got)
	}
	got = prepare(c.proposer(0), passed, mempool, unlimited)
	if !sameTxs(got, [][]byte{a1, other, a2}) {
		t.Fatalf("after the pass time: %v", got)
	}
	if err := process(c.proposer(0), passed, got); err != nil {
		t.Fatal(err)
	}
	if got := prepare(c.proposer(2), passed, mempool, unlimited); !sameTxs(got, [][]byte{other, a2, a1}) {
		t.Fatalf("head 3 after the pass time: %v", got)
	}

	// Undecodable transactions are dropped, and fail a proposal.
	junk := []byte{0xde, 0xad}
	if got := prepare(c.proposer(0), next, [][]byte{junk, other, junk}, unlimited); !sameTxs(got, [][]byte{other}) {
		t.Fatalf("with junk: %v", got)
	}
	if err := process(c.proposer(0), next, [][]byte{other, junk}); !errors.Is(err, Rejected(CodeMalformed)) {
		t.Fatalf("process with junk: %v", err)
	}

	// maxBytes: what does not fit waits.
	if got := prepare(c.proposer(0), next, [][]byte{other, a1}, int64(len(a1))); !sameTxs(got, [][]byte{a1}) {
		t.Fatalf("within %d bytes: %v", len(a1), got)
	}
	if got := prepare(c.proposer(0), next, [][]byte{other, a1}, 0); len(got) != 0 {
		t.Fatalf("within 0 bytes: %v", got)
	}

	// The proposal executes.
	rs := c.blockAt(next, prepare(c.proposer(0), next, mempool, unlimited)...)
	wantCodes(t, rs, CodeOK, CodeOK)
}

// With AnchorPassAfterMs 0 no proposer passes an anchor on, even one
// sealed after the block's time: CometBFT stamps a block with its previous
// commit's time, which on a chain idle between seals is before every
// anchor's seal. Each such pass made an empty block, and a round of
// latency, for about half the anchors of a bench e2e run (51–55 blocks
// for 19–20 anchors, against 41 for 20 once fixed).
func TestNoPassingAtZero(t *testing.T) {
	t.Parallel()
	params := DefaultParams()
	params.AnchorPassAfterMs = 0
	c := newPolicyChainParams(t, params)
	next := c.now.Add(time.Second)
	a2 := c.tx(c.cloud2.Signing, c.log2.anchor(LogRecords, 0, next.UnixMilli()+300)) // sealed after the block's time
	for i := range 4 {
		got, err := c.m.Prepare(c.st, c.proposer(i), next, [][]byte{a2}, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		if !sameTxs(got, [][]byte{a2}) {
			t.Errorf("head %d passes cluster 2's anchor on: it proposes %d transactions", i+1, len(got))
		}
		if err := c.m.Process(c.st, c.proposer(i), next, [][]byte{a2}); err != nil {
			t.Errorf("head %d's proposal with cluster 2's anchor refused: %v", i+1, err)
		}
	}
}

func TestPolicyAnchorCap(t *testing.T) {
	t.Parallel()
	c := newPolicyChain(t)
	next := c.now.Add(time.Second)
	limit := int(DefaultParams().AnchorCap)
	var anchors [][]byte
	for range limit + 1 {
		anchors = append(anchors, c.tx(c.cloud1.Signing, c.log1.anchor(LogRecords, 0, next.UnixMilli())))
	}
	got, err := c.m.Prepare(c.st, c.proposer(0), next, anchors, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if !sameTxs(got, anchors[:limit]) {
		t.Fatalf("prepared %d anchors, want the first %d", len(got), limit)
	}
	if err := c.m.Process(c.st, c.proposer(0), next, anchors[:limit]); err != nil {
		t.Fatal(err)
	}
	if err := c.m.Process(c.st, c.proposer(0), next, anchors); !errors.Is(err, Rejected(CodePolicy)) {
		t.Fatalf("process %d anchors: %v", len(anchors), err)
	}
}

func TestPolicyHeadlessCluster(t *testing.T) {
	t.Parallel()
	c := newPolicyChain(t)
	// Cluster 4's head is voted out: its cloud's anchors go to anyone.
	cloud4 := c.registerIn(identity.RoleCloud, identity.SuiteX25519, 4)
	out := &Vote{Candidate: c.auths[3].ID()}
	for _, a := range c.auths[:3] {
		c.ok(a.Signing, out)
	}
	if c.isAuthority(c.auths[3].ID()) {
		t.Fatal("still an authority")
	}
	lg := newTestLog(t)
	lg.grow(1)
	next := c.now.Add(time.Second)
	a4 := c.tx(cloud4.Signing, lg.anchor(LogRecords, 0, next.UnixMilli()))
	// So do those of an unregistered cloud, to be refused in the block.
	stranger := mustIdentity(t, identity.RoleCloud)
	as := c.tx(stranger.Signing, lg.anchor(LogRecords, 0, next.UnixMilli()))
	got, err := c.m.Prepare(c.st, c.proposer(0), next, [][]byte{a4, as}, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if !sameTxs(got, [][]byte{a4, as}) {
		t.Fatalf("prepared %v", got)
	}
	if err := c.m.Process(c.st, c.proposer(1), next, got); err != nil {
		t.Fatal(err)
	}
	wantCodes(t, c.blockAt(next, got...), CodeOK, CodeUnknownSigner)
}

// TestProcessVerifiesOnce: a proposal's transaction that this node never
// checked (it was not gossiped here first) is verified in ProcessProposal
// and FinalizeBlock takes it from the cache instead of verifying it again.
func TestProcessVerifiesOnce(t *testing.T) {
	t.Parallel()
	c := newPolicyChain(t)
	next := c.now.Add(time.Second)
	p := mustIdentity(t, identity.RolePatient)
	tx := c.tx(c.auths[0].Signing, c.registerBody(p, 1, identity.ID{}, p.Signing))
	h := Hash(tx)
	cached := func() bool {
		c.m.mu.Lock()
		defer c.m.mu.Unlock()
		_, ok := c.m.cache[h]
		return ok
	}
	if cached() {
		t.Fatal("the transaction is cached before anything saw it")
	}
	if err := c.m.Process(c.st, c.proposer(0), next, [][]byte{tx}); err != nil {
		t.Fatal(err)
	}
	if !cached() {
		t.Fatal("ProcessProposal verified the transaction but did not keep the result for FinalizeBlock")
	}
	if res := c.blockAt(next, tx); res[0].Code != CodeOK {
		t.Fatalf("the block refused it: %+v", res[0])
	}
	if cached() {
		t.Error("the transaction stays cached after its block")
	}
}
