package ledger

import (
	"bytes"
	"errors"
	"slices"
	"testing"

	"github.com/vitalchain/vitalchain/identity"
)

func (c *testChain) authorities() []Authority {
	c.t.Helper()
	var l []Authority
	c.mustQuery("authorities", &l)
	return l
}

func (c *testChain) pendingChanges() []Change {
	c.t.Helper()
	var l []Change
	c.mustQuery("pending", &l)
	return l
}

func (c *testChain) isAuthority(id identity.ID) bool {
	return findAuthority(c.authorities(), id) >= 0
}

// wantUpdates checks the last block's validator updates.
func (c *testChain) wantUpdates(want ...ValidatorUpdate) {
	c.t.Helper()
	if !slices.EqualFunc(c.updates, want, func(a, b ValidatorUpdate) bool {
		return bytes.Equal(a.PubKey, b.PubKey) && a.Power == b.Power
	}) {
		c.t.Fatalf("height %d: validator updates %v, want %v", c.height, c.updates, want)
	}
}

func TestVote(t *testing.T) {
	t.Parallel()
	c := newTestChain(t, 4)
	cand := c.register(identity.RoleAuthority, nil)
	elig := c.register(identity.RoleAuthority, nil)
	pat := c.register(identity.RolePatient, nil)
	prov := c.register(identity.RoleProvider, nil)
	add := &Vote{Candidate: cand.ID(), Add: true}

	r := c.ok(c.auths[0].Signing, add)
	if got := attrs(r.Events, "vote", "votes"); len(got) != 1 || got[0] != "1" {
		t.Errorf("vote event %v", r.Events)
	}
	c.ok(c.auths[1].Signing, add)
	c.wantUpdates()
	if c.isAuthority(cand.ID()) || len(c.pendingChanges()) != 0 {
		t.Fatal("2 of 4 votes made an authority")
	}

	tests := []struct {
		name   string
		signer *identity.SigningKey
		body   *Vote
		code   Code
	}{
		{"voting twice", c.auths[1].Signing, add, CodeDuplicate},
		{"by a provider", prov.Signing, add, CodeWrongRole},
		{"by an eligible non-authority", elig.Signing, add, CodeUnauthorized},
		{"by a stranger", mustIdentity(t, identity.RoleAuthority).Signing, add, CodeUnknownSigner},
		{"for a patient", c.auths[0].Signing, &Vote{Candidate: pat.ID(), Add: true}, CodeWrongRole},
		{"for an unknown member", c.auths[0].Signing, &Vote{Candidate: [32]byte{1}, Add: true}, CodeNotFound},
		{"to add an authority", c.auths[0].Signing, &Vote{Candidate: c.auths[1].ID(), Add: true}, CodeInvalid},
		{"to remove a non-authority", c.auths[0].Signing, &Vote{Candidate: elig.ID()}, CodeInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { c.fails(tc.signer, tc.body, tc.code) })
	}

	r = c.ok(c.auths[2].Signing, add)
	if !hasEvent(r.Events, "authority_change") {
		t.Errorf("no authority_change event: %v", r.Events)
	}
	c.wantUpdates(ValidatorUpdate{PubKey: consensusKeyOf(cand), Power: 10})
	if l := c.authorities(); len(l) != 5 || l[findAuthority(l, cand.ID())].Power != 10 {
		t.Fatalf("authorities %v", l)
	}
	if len(c.pendingChanges()) != 0 {
		t.Error("pending changes after the update")
	}
	c.fails(c.auths[3].Signing, add, CodeInvalid) // already an authority

	// Voting out takes more than half of 5: three.
	out := &Vote{Candidate: cand.ID()}
	c.ok(c.auths[0].Signing, out)
	c.ok(cand.Signing, out) // the new authority votes
	c.wantUpdates()
	c.ok(c.auths[3].Signing, out)
	c.wantUpdates(ValidatorUpdate{PubKey: consensusKeyOf(cand), Power: 0})
	if c.isAuthority(cand.ID()) || len(c.authorities()) != 4 {
		t.Fatalf("authorities after the vote out: %v", c.authorities())
	}

	// A removed authority no longer votes, nor do its votes count.
	c.fails(cand.Signing, &Vote{Candidate: elig.ID(), Add: true}, CodeUnauthorized)
}

func TestVoteSameBlock(t *testing.T) {
	t.Parallel()
	c := newTestChain(t, 4)
	cand := c.register(identity.RoleAuthority, nil)
	add := &Vote{Candidate: cand.ID(), Add: true}
	wantCodes(t, c.block(c.tx(c.auths[0].Signing, add), c.tx(c.auths[1].Signing, add), c.tx(c.auths[2].Signing, add), c.tx(c.auths[3].Signing, add)),
		CodeOK, CodeOK, CodeOK, CodeInvalid) // the fourth finds the change pending
	c.wantUpdates(ValidatorUpdate{PubKey: consensusKeyOf(cand), Power: 10})
}

func TestVoteLastAuthority(t *testing.T) {
	t.Parallel()
	c := newTestChain(t, 2)
	a, b := c.auths[0], c.auths[1]
	// Both vote to remove both: the second removal would leave no one.
	outA, outB := &Vote{Candidate: a.ID()}, &Vote{Candidate: b.ID()}
	wantCodes(t, c.block(c.tx(a.Signing, outA), c.tx(b.Signing, outA), c.tx(a.Signing, outB), c.tx(b.Signing, outB)),
		CodeOK, CodeOK, CodeInvalid, CodeInvalid)
	c.wantUpdates(ValidatorUpdate{PubKey: c.cons[0], Power: 0})
	c.fails(b.Signing, outB, CodeInvalid)
	if l := c.authorities(); len(l) != 1 || l[0].ID != b.ID() {
		t.Fatalf("authorities %v", l)
	}

	// A single authority cannot vote itself out.
	one := newTestChain(t, 1)
	one.fails(one.auths[0].Signing, &Vote{Candidate: one.auths[0].ID()}, CodeInvalid)
}

func TestVoteConsensusKeyInUse(t *testing.T) {
	t.Parallel()
	c := newTestChain(t, 4)
	// An eligible member registered with authority 2's consensus key.
	twin := mustIdentity(t, identity.RoleAuthority)
	r := &Register{Member: KeysOf(twin.Public(), c.cons[1]), Cluster: 1}
	if err := r.Prove(twin.Signing); err != nil {
		t.Fatal(err)
	}
	c.ok(c.auths[0].Signing, r)
	add := &Vote{Candidate: twin.ID(), Add: true}
	c.fails(c.auths[0].Signing, add, CodeDuplicate)
	// Nor can it take over cluster 1.
	att, err := Attest(c.auths[0].Signing, HandoverStatement{Cluster: 1, OldHead: c.auths[0].ID(), NewHead: twin.ID()})
	if err != nil {
		t.Fatal(err)
	}
	c.fails(twin.Signing, &Handover{Cluster: 1, NewHead: twin.ID(), Attestations: []Attestation{att}}, CodeDuplicate)
	// Nor can a member with its own head's key take the head's seat: one
	// update would remove and add the same key, which CometBFT refuses.
	heir := mustIdentity(t, identity.RoleAuthority)
	r = &Register{Member: KeysOf(heir.Public(), c.cons[1]), Cluster: 2}
	if err := r.Prove(heir.Signing); err != nil {
		t.Fatal(err)
	}
	c.ok(c.auths[1].Signing, r)
	c.fails(heir.Signing, &Handover{Cluster: 2, NewHead: heir.ID(),
		Attestations: attest(t, HandoverStatement{Cluster: 2, OldHead: c.auths[1].ID(), NewHead: heir.ID()}, c.auths[1])}, CodeDuplicate)
	c.wantUpdates()
}

// attest returns the attestations of a handover by authorities, in the
// order a Handover needs.
func attest(t testing.TB, s HandoverStatement, by ...*identity.Identity) []Attestation {
	t.Helper()
	var out []Attestation
	for _, a := range by {
		at, err := Attest(a.Signing, s)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, at)
	}
	slices.SortFunc(out, func(x, y Attestation) int { return cmpID(x.Authority, y.Authority) })
	return out
}

func TestHandover(t *testing.T) {
	t.Parallel()
	c := newTestChain(t, 4)
	old := c.auths[0]
	n1 := c.register(identity.RoleAuthority, nil)
	n2 := c.register(identity.RoleAuthority, nil)
	elig := c.register(identity.RoleAuthority, nil)
	inCluster2 := c.registerIn(identity.RoleAuthority, identity.SuiteX25519, 2)
	prov := c.register(identity.RoleProvider, nil)
	to := func(n *identity.Identity) HandoverStatement {
		return HandoverStatement{Cluster: 1, OldHead: old.ID(), NewHead: n.ID()}
	}
	// Attestations made now, for a handover from old to n2, by a majority.
	early := &Handover{Cluster: 1, NewHead: n2.ID(), Attestations: attest(t, to(n2), c.auths[1], c.auths[2], c.auths[3])}

	tests := []struct {
		name   string
		signer *identity.SigningKey
		body   *Handover
		code   Code
	}{
		{"one of four, not the old head", n1.Signing, &Handover{Cluster: 1, NewHead: n1.ID(), Attestations: attest(t, to(n1), c.auths[1])}, CodeUnauthorized},
		{"two of four, not the old head", n1.Signing, &Handover{Cluster: 1, NewHead: n1.ID(), Attestations: attest(t, to(n1), c.auths[1], c.auths[2])}, CodeUnauthorized},
		{"signed by another than the new head", n2.Signing, &Handover{Cluster: 1, NewHead: n1.ID(), Attestations: attest(t, to(n1), old)}, CodeUnauthorized},
		{"attested by a non-authority", n1.Signing, &Handover{Cluster: 1, NewHead: n1.ID(), Attestations: attest(t, to(n1), old, elig)}, CodeUnauthorized},
		{"attestation of another statement", n1.Signing, &Handover{Cluster: 1, NewHead: n1.ID(), Attestations: attest(t, to(n2), old)}, CodeBadSignature},
		{"attestation of another cluster", n1.Signing, &Handover{Cluster: 1, NewHead: n1.ID(),
			Attestations: attest(t, HandoverStatement{Cluster: 2, OldHead: old.ID(), NewHead: n1.ID()}, old)}, CodeBadSignature},
		{"new head of another cluster", inCluster2.Signing, &Handover{Cluster: 1, NewHead: inCluster2.ID(), Attestations: attest(t, to(inCluster2), old)}, CodeUnauthorized},
		{"no such cluster", n1.Signing, &Handover{Cluster: 9, NewHead: n1.ID(), Attestations: attest(t, to(n1), old)}, CodeNotFound},
		{"already the head", old.Signing, &Handover{Cluster: 1, NewHead: old.ID(), Attestations: attest(t, to(old), old)}, CodeDuplicate},
		{"new head not eligible", prov.Signing, &Handover{Cluster: 1, NewHead: prov.ID(), Attestations: attest(t, to(prov), old)}, CodeWrongRole},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { c.fails(tc.signer, tc.body, tc.code) })
	}

	// Attested by the old head: the head changes at once, and at the end
	// of the block the new head takes the old one's seat, in one
	// validator update.
	r := c.ok(n1.Signing, &Handover{Cluster: 1, NewHead: n1.ID(), Attestations: attest(t, to(n1), old)})
	if got := attrs(r.Events, "handover", "new_head"); len(got) != 1 || got[0] != n1.ID().Hex() {
		t.Errorf("handover event %v", r.Events)
	}
	var info ClusterInfo
	c.mustQuery("cluster/1", &info)
	if info.Cluster.Head != n1.ID() {
		t.Fatalf("cluster 1's head is %s", info.Cluster.Head)
	}
	c.wantUpdates(ValidatorUpdate{PubKey: c.cons[0], Power: 0}, ValidatorUpdate{PubKey: consensusKeyOf(n1), Power: 10})
	if l := c.authorities(); len(l) != 4 || findAuthority(l, old.ID()) >= 0 || findAuthority(l, n1.ID()) < 0 {
		t.Fatalf("authorities %v", l)
	}
	if p := c.pendingChanges(); len(p) != 0 {
		t.Fatalf("pending %v", p)
	}

	// The attestations made for the old head are now worthless.
	c.fails(n2.Signing, early, CodeBadSignature)
	// The old head, no longer an authority, cannot attest.
	c.fails(n2.Signing, &Handover{Cluster: 1, NewHead: n2.ID(), Attestations: attest(t, HandoverStatement{Cluster: 1, OldHead: n1.ID(), NewHead: n2.ID()}, old)}, CodeUnauthorized)

	// Without the old head, a majority of the authorities suffices.
	s := HandoverStatement{Cluster: 1, OldHead: n1.ID(), NewHead: n2.ID(), Term: 1}
	c.ok(n2.Signing, &Handover{Cluster: 1, NewHead: n2.ID(), Attestations: attest(t, s, c.auths[1], c.auths[2], c.auths[3])})
	c.wantUpdates(ValidatorUpdate{PubKey: consensusKeyOf(n1), Power: 0}, ValidatorUpdate{PubKey: consensusKeyOf(n2), Power: 10})
	c.mustQuery("cluster/1", &info)
	if info.Cluster.Head != n2.ID() {
		t.Fatalf("cluster 1's head is %s", info.Cluster.Head)
	}
	// The new head admits members; the old one no longer does.
	p := mustIdentity(t, identity.RolePatient)
	c.fails(n1.Signing, c.registerBody(p, 1, identity.ID{}, p.Signing), CodeUnauthorized)
	c.ok(n2.Signing, c.registerBody(p, 1, identity.ID{}, p.Signing))
}

// TestHandoverAndVoteOut votes cluster 1's head out and hands the cluster
// over in one block, in either order: whichever comes first makes the
// other wait, and CometBFT sees one change of the head's seat.
func TestHandoverAndVoteOut(t *testing.T) {
	t.Parallel()
	t.Run("vote first", func(t *testing.T) {
		t.Parallel()
		c := newTestChain(t, 4)
		old := c.auths[0]
		n := c.register(identity.RoleAuthority, nil)
		out := &Vote{Candidate: old.ID()}
		h := &Handover{Cluster: 1, NewHead: n.ID(), Attestations: attest(t, HandoverStatement{Cluster: 1, OldHead: old.ID(), NewHead: n.ID()}, old)}
		wantCodes(t, c.block(c.tx(c.auths[1].Signing, out), c.tx(c.auths[2].Signing, out), c.tx(c.auths[3].Signing, out), c.tx(n.Signing, h)),
			CodeOK, CodeOK, CodeOK, CodeInvalid) // cluster 1 has a change pending
		c.wantUpdates(ValidatorUpdate{PubKey: c.cons[0], Power: 0})
		// The voted-out head no longer attests; a majority may hand its
		// cluster over, but the seat is gone: only a vote adds one.
		c.fails(n.Signing, h, CodeUnauthorized)
		c.ok(n.Signing, &Handover{Cluster: 1, NewHead: n.ID(), Attestations: attest(t, HandoverStatement{Cluster: 1, OldHead: old.ID(), NewHead: n.ID()}, c.auths[1], c.auths[2], c.auths[3])})
		c.wantUpdates()
		if c.head(1) != n.ID() || len(c.seats(1)) != 0 || len(c.authorities()) != 3 {
			t.Fatalf("cluster 1 headed by %s with seats %v; authorities %v", c.head(1), c.seats(1), c.authorities())
		}
		in := &Vote{Candidate: n.ID(), Add: true}
		wantCodes(t, c.block(c.tx(c.auths[1].Signing, in), c.tx(c.auths[2].Signing, in)), CodeOK, CodeOK)
		c.wantUpdates(ValidatorUpdate{PubKey: consensusKeyOf(n), Power: 10})
	})
	t.Run("handover first", func(t *testing.T) {
		t.Parallel()
		c := newTestChain(t, 4)
		old := c.auths[0]
		n := c.register(identity.RoleAuthority, nil)
		out := &Vote{Candidate: old.ID()}
		h := &Handover{Cluster: 1, NewHead: n.ID(), Attestations: attest(t, HandoverStatement{Cluster: 1, OldHead: old.ID(), NewHead: n.ID()}, old)}
		wantCodes(t, c.block(c.tx(n.Signing, h), c.tx(c.auths[1].Signing, out), c.tx(c.auths[2].Signing, out), c.tx(c.auths[3].Signing, out)),
			CodeOK, CodeInvalid, CodeInvalid, CodeInvalid) // old's seat is changing hands
		c.wantUpdates(ValidatorUpdate{PubKey: c.cons[0], Power: 0}, ValidatorUpdate{PubKey: consensusKeyOf(n), Power: 10})
		c.fails(c.auths[1].Signing, out, CodeInvalid) // not an authority
		if p := c.pendingChanges(); len(p) != 0 {
			t.Fatalf("pending %v", p)
		}
	})
}

// TestPowerRule queues more changes than a third of the power allows and
// checks they are spread over blocks, additions first.
func TestPowerRule(t *testing.T) {
	t.Parallel()
	c := newTestChain(t, 4)
	var cands []*identity.Identity
	for range 3 {
		cands = append(cands, c.register(identity.RoleAuthority, nil))
	}
	var txs [][]byte
	for _, cand := range cands {
		for _, a := range c.auths[:3] {
			txs = append(txs, c.tx(a.Signing, &Vote{Candidate: cand.ID(), Add: true}))
		}
	}
	for _, a := range c.auths[:3] {
		txs = append(txs, c.tx(a.Signing, &Vote{Candidate: c.auths[3].ID()}))
	}
	for _, r := range c.block(txs...) {
		if r.Code != CodeOK {
			t.Fatalf("%s: %s", r.Code, r.Log)
		}
	}
	// With 40 of power one addition of 10 fits in a third, two do not; with
	// 60, an addition and a removal do. Additions come first.
	want := []struct {
		powers []int64
		size   int
	}{{[]int64{10}, 5}, {[]int64{10}, 6}, {[]int64{10, 0}, 6}}
	for i, w := range want {
		if i > 0 {
			c.block()
		}
		var powers []int64
		for _, u := range c.updates {
			powers = append(powers, u.Power)
		}
		if !slices.Equal(powers, w.powers) {
			t.Fatalf("block %d: updates %v, want powers %v", i, c.updates, w.powers)
		}
		if l := c.authorities(); len(l) != w.size {
			t.Fatalf("block %d: %d authorities, want %d", i, len(l), w.size)
		}
	}
	if p := c.pendingChanges(); len(p) != 0 {
		t.Fatalf("pending %v", p)
	}
}

// TestHandoverAndVoteIn votes a member of cluster 1 in and hands the
// cluster over to it in one block: the handover waits for the addition;
// after it, the member holds a seat of its own, so a handover to it
// removes the old head's.
func TestHandoverAndVoteIn(t *testing.T) {
	t.Parallel()
	c := newTestChain(t, 4)
	old := c.auths[0]
	n := c.register(identity.RoleAuthority, nil)
	in := &Vote{Candidate: n.ID(), Add: true}
	h := &Handover{Cluster: 1, NewHead: n.ID(), Attestations: attest(t, HandoverStatement{Cluster: 1, OldHead: old.ID(), NewHead: n.ID()}, old)}
	wantCodes(t, c.block(c.tx(c.auths[1].Signing, in), c.tx(c.auths[2].Signing, in), c.tx(c.auths[3].Signing, in), c.tx(n.Signing, h)),
		CodeOK, CodeOK, CodeOK, CodeInvalid) // cluster 1 has a change pending
	c.wantUpdates(ValidatorUpdate{PubKey: consensusKeyOf(n), Power: 10})
	if s := c.seats(1); len(s) != 2 {
		t.Fatalf("cluster 1's seats %v", s)
	}
	c.ok(n.Signing, h)
	c.wantUpdates(ValidatorUpdate{PubKey: c.cons[0], Power: 0})
	c.block()
	c.wantUpdates()
	if l := c.authorities(); len(l) != 4 || findAuthority(l, n.ID()) < 0 || c.head(1) != n.ID() {
		t.Fatalf("authorities %v", l)
	}
}

// An authority whose signature is missing from HeadAbsentCommits
// consecutive commits over HeadAbsentMs may be replaced as Cluster Head
// without attestations; query absent/ID tells since when and from how many
// commits. (TestSilenceIsNotAbsence has the cases where it may not.)
func TestHandoverAfterAbsence(t *testing.T) {
	t.Parallel()
	c := newTestChain(t, 4)
	old := c.auths[0]
	standby := c.register(identity.RoleAuthority, nil)
	all := func(from int) [][]byte {
		var out [][]byte
		for _, k := range c.cons[from:4] {
			out = append(out, ConsensusAddress(k))
		}
		return out
	}
	absence := func() (Absence, error) {
		var a Absence
		err := c.query(AbsentPath(old.ID()), &a)
		return a, err
	}
	// Everyone signs: nothing is written, the app hash stays.
	c.signers = all(0)
	c.block()
	h := c.appHash
	c.block()
	if c.appHash != h {
		t.Fatal("a block where every authority signed changed the state")
	}
	unattested := &Handover{Cluster: 1, NewHead: standby.ID()}
	c.fails(standby.Signing, unattested, CodeUnauthorized)

	// The head stops signing: each block counts a commit more, up to
	// HeadAbsentCommits; then the state stays, so that the chain stops
	// making blocks for it.
	c.signers = all(1)
	c.block()
	start := c.now.UnixMilli()
	for i := uint32(1); i <= 3; i++ {
		if a, err := absence(); err != nil || a != (Absence{Since: start, Commits: i}) {
			t.Fatalf("absence after %d commits: %+v %v", i, a, err)
		}
		h = c.appHash
		c.block()
		if (c.appHash != h) != (i < 3) {
			t.Fatalf("after %d commits missing, the next changed the state: %v", i, c.appHash != h)
		}
	}
	// Four commits, 4 s: not yet.
	c.fails(standby.Signing, unattested, CodeUnauthorized)
	r := c.ok(standby.Signing, unattested) // 5 s
	if got := attrs(r.Events, "handover", "new_head"); len(got) != 1 || got[0] != standby.ID().Hex() {
		t.Fatalf("handover event %v", r.Events)
	}
	if c.head(1) != standby.ID() {
		t.Fatalf("cluster 1's head is %s", c.head(1))
	}
	// The old head has left the authorities in the same block, and its
	// absence is forgotten.
	c.wantUpdates(ValidatorUpdate{PubKey: c.cons[0], Power: 0}, ValidatorUpdate{PubKey: consensusKeyOf(standby), Power: 10})
	if _, err := absence(); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the removed head's absence: %v", err)
	}
	// The new head is not missing from the two commits made before
	// CometBFT has it sign (it joined at the end of height J: it signs
	// the commit of J+2, which block J+3 carries).
	c.block()
	c.block()
	var a Absence
	if err := c.query(AbsentPath(standby.ID()), &a); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the new head's absence before it could sign: %+v %v", a, err)
	}
	c.block()
	if err := c.query(AbsentPath(standby.ID()), &a); err != nil || a.Commits != 1 {
		t.Fatalf("the new head's absence once it should sign: %+v %v", a, err)
	}
}
