package ledger

import (
	"slices"
	"testing"
	"time"

	"github.com/vitalchain/vitalchain/identity"
)

// seats returns the authorities that are members of cluster.
func (c *testChain) seats(cluster uint32) []identity.ID {
	c.t.Helper()
	var out []identity.ID
	for _, a := range c.authorities() {
		var m Member
		c.mustQuery(MemberPath(a.ID), &m)
		if m.Cluster == cluster {
			out = append(out, a.ID)
		}
	}
	return out
}

// head returns the head of cluster.
func (c *testChain) head(cluster uint32) identity.ID {
	c.t.Helper()
	var info ClusterInfo
	c.mustQuery(ClusterPath(cluster), &info)
	return info.Cluster.Head
}

// TestChainedHandoversGiveNoExtraPower: cluster 1's head is hostile. It
// admits authority-eligible members it controls and hands the cluster from
// one to the next, each handover attested by the head it replaces (itself).
// A handover moves the cluster's one validator seat; it never adds one, so
// after every block cluster 1 holds exactly one seat, its head's, and the
// set keeps its 4 validators.
func TestChainedHandoversGiveNoExtraPower(t *testing.T) {
	t.Parallel()
	type hop struct{ from, to int } // indices into the hostile chain: 0 the genesis head, 1.. its members
	tests := []struct {
		name    string
		hops    []hop
		inBlock bool   // all hops in one block
		want    []Code // per hop
	}{
		{"a block apart", []hop{{0, 1}, {1, 2}, {2, 3}}, false, []Code{CodeOK, CodeOK, CodeOK}},
		{"there and back", []hop{{0, 1}, {1, 0}, {0, 1}}, false, []Code{CodeOK, CodeOK, CodeOK}},
		// The first hop's change is pending until the block ends: the
		// cluster takes no other handover until then.
		{"in one block", []hop{{0, 1}, {1, 2}, {2, 3}}, true, []Code{CodeOK, CodeInvalid, CodeInvalid}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := newTestChain(t, 4)
			chain := []*identity.Identity{c.auths[0]}
			for range 3 {
				chain = append(chain, c.register(identity.RoleAuthority, nil))
			}
			check := func() {
				t.Helper()
				seats := c.seats(1)
				if len(seats) != 1 || seats[0] != c.head(1) {
					t.Fatalf("height %d: cluster 1 holds seats %v, head %s", c.height, seats, c.head(1))
				}
				if n := len(c.authorities()); n != 4 {
					t.Fatalf("height %d: %d validators, want 4", c.height, n)
				}
			}
			var txs [][]byte
			for i, h := range tc.hops {
				from, to := chain[h.from], chain[h.to]
				s := HandoverStatement{Cluster: 1, OldHead: from.ID(), NewHead: to.ID(), Term: uint64(i)}
				txs = append(txs, c.tx(to.Signing, &Handover{Cluster: 1, NewHead: to.ID(), Attestations: attest(t, s, from)}))
			}
			if tc.inBlock {
				wantCodes(t, c.block(txs...), tc.want...)
				check()
			} else {
				for i, tx := range txs {
					wantCodes(t, c.block(tx), tc.want[i])
					check()
				}
			}
			for range 3 { // nothing left to apply later
				c.block()
				check()
			}
		})
	}
}

// TestSilenceIsNotAbsence: a head counts as absent only once its signature
// has been missing from HeadAbsentCommits consecutive decided commits and
// HeadAbsentMs of block time has passed since it first was; until then an
// unattested handover of its cluster is refused. Absence is brought up to
// date before the block's transactions run, from the commit the block
// carries: a commit that the head signed, or time without blocks, never
// makes it absent.
func TestSilenceIsNotAbsence(t *testing.T) {
	t.Parallel()
	const (
		all    = iota // every authority signed the commit the block carries
		noHead        // all but cluster 1's head
		none          // the block does not say who signed
	)
	type step struct {
		after    time.Duration // since the last block
		signers  int
		handover bool
		want     Code
	}
	sec := time.Second
	tests := []struct {
		name  string
		steps []step
	}{
		{"one commit missing, then a signed one 5 s later", []step{
			{sec, noHead, false, CodeOK}, {5 * sec, all, true, CodeUnauthorized}}},
		{"one commit missing, still missing 5 s later", []step{
			{sec, noHead, false, CodeOK}, {5 * sec, noHead, true, CodeUnauthorized}}},
		{"three commits missing within a second", []step{
			{sec, noHead, false, CodeOK}, {300 * time.Millisecond, noHead, false, CodeOK}, {300 * time.Millisecond, noHead, true, CodeUnauthorized}}},
		{"three commits missing over 5 s", []step{
			{sec, noHead, false, CodeOK}, {sec, noHead, false, CodeOK}, {4 * sec, noHead, true, CodeOK}}},
		{"three commits missing over 5 s, the last signed", []step{
			{sec, noHead, false, CodeOK}, {sec, noHead, false, CodeOK}, {sec, noHead, false, CodeOK}, {3 * sec, all, true, CodeUnauthorized}}},
		{"three commits missing, then a block that does not say", []step{
			{sec, noHead, false, CodeOK}, {sec, noHead, false, CodeOK}, {sec, noHead, false, CodeOK}, {3 * sec, none, true, CodeUnauthorized}}},
		{"signing again resets the count", []step{
			{sec, noHead, false, CodeOK}, {sec, noHead, false, CodeOK}, {sec, all, false, CodeOK},
			{sec, noHead, false, CodeOK}, {5 * sec, noHead, true, CodeUnauthorized}, // two commits since it came back
			{sec, noHead, true, CodeOK}}, // the third, 6 s after it went again
		},
		{"signing again resets the time", []step{
			{sec, noHead, false, CodeOK}, {sec, noHead, false, CodeOK}, {sec, noHead, false, CodeOK}, {sec, all, false, CodeOK},
			{sec, noHead, false, CodeOK}, {sec, noHead, false, CodeOK}, {sec, noHead, false, CodeOK}, {sec, noHead, true, CodeUnauthorized}, // 3 s
			{2 * sec, noHead, true, CodeOK}}, // 5 s
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := newTestChain(t, 4)
			standby := c.register(identity.RoleAuthority, nil)
			signers := func(which int) [][]byte {
				var out [][]byte
				for i, k := range c.cons {
					if which == none || (which == noHead && i == 0) {
						continue
					}
					out = append(out, ConsensusAddress(k))
				}
				return out
			}
			c.signers = signers(all)
			c.block()
			for i, s := range tc.steps {
				c.signers = signers(s.signers)
				var txs [][]byte
				if s.handover {
					txs = append(txs, c.tx(standby.Signing, &Handover{Cluster: 1, NewHead: standby.ID()}))
				}
				res := c.blockAt(c.now.Add(s.after), txs...)
				if s.handover && res[0].Code != s.want {
					t.Fatalf("step %d: handover %s (%s), want %s", i, res[0].Code, res[0].Log, s.want)
				}
			}
		})
	}
}

// TestStaleAttestationIsWorthless: a head's attestation of a handover is
// good for that handover only. Cluster 1's head attests a handover to a
// member, which takes the cluster and later hands it back; the member,
// still holding the first attestation, cannot use it again to take the
// cluster without the head's consent: the attestation named the
// cluster's term, which has moved on.
func TestStaleAttestationIsWorthless(t *testing.T) {
	t.Parallel()
	c := newTestChain(t, 4)
	head := c.auths[0]
	m := c.register(identity.RoleAuthority, nil)
	var cl ClusterInfo
	c.mustQuery(ClusterPath(1), &cl)
	there := &Handover{Cluster: 1, NewHead: m.ID(), Attestations: attest(t, cl.Cluster.HandoverTo(m.ID()), head)}
	c.ok(m.Signing, there)
	c.mustQuery(ClusterPath(1), &cl)
	c.ok(head.Signing, &Handover{Cluster: 1, NewHead: head.ID(), Attestations: attest(t, cl.Cluster.HandoverTo(head.ID()), m)})
	if c.head(1) != head.ID() {
		t.Fatalf("cluster 1's head is %s", c.head(1))
	}
	c.fails(m.Signing, there, CodeBadSignature)
	if c.head(1) != head.ID() {
		t.Fatalf("a replayed attestation gave cluster 1 to %s", c.head(1))
	}
}

// TestOutgoingAuthorityDoesNotAttest: an authority that a vote removed,
// its removal waiting for the next block under the limit on power, no
// longer counts among the attesters of a handover.
func TestOutgoingAuthorityDoesNotAttest(t *testing.T) {
	t.Parallel()
	c := newTestChain(t, 4)
	cand := c.register(identity.RoleAuthority, nil)
	n2 := c.registerIn(identity.RoleAuthority, identity.SuiteX25519, 2)
	out := c.auths[3]
	// One block adds cand and removes out: 20 of 40 is more than a third,
	// so the removal waits for the next block.
	var txs [][]byte
	for _, a := range c.auths[:3] {
		txs = append(txs, c.tx(a.Signing, &Vote{Candidate: cand.ID(), Add: true}), c.tx(a.Signing, &Vote{Candidate: out.ID()}))
	}
	wantCodes(t, c.block(txs...), CodeOK, CodeOK, CodeOK, CodeOK, CodeOK, CodeOK)
	if p := c.pendingChanges(); len(p) != 1 || p[0].ID != out.ID() || p[0].Power != 0 {
		t.Fatalf("pending %v", p)
	}
	// Five authorities: a handover of cluster 2 without its head needs 3.
	s := HandoverStatement{Cluster: 2, OldHead: c.auths[1].ID(), NewHead: n2.ID()}
	withOut := &Handover{Cluster: 2, NewHead: n2.ID(), Attestations: attest(t, s, c.auths[2], out, cand)}
	without := &Handover{Cluster: 2, NewHead: n2.ID(), Attestations: attest(t, s, c.auths[0], c.auths[2], cand)}
	wantCodes(t, c.block(c.tx(n2.Signing, withOut), c.tx(n2.Signing, without)), CodeUnauthorized, CodeOK)
}

// TestAttestationsCountOnce: each authority's attestation counts once,
// under its own key, and only an authority's counts.
func TestAttestationsCountOnce(t *testing.T) {
	t.Parallel()
	c := newTestChain(t, 4)
	hostile := c.auths[0]
	n2 := c.registerIn(identity.RoleAuthority, identity.SuiteX25519, 2)
	s := HandoverStatement{Cluster: 2, OldHead: c.auths[1].ID(), NewHead: n2.ID()}
	one := attest(t, s, hostile)[0]
	forged := one
	forged.Authority = c.auths[2].ID() // the hostile authority's signature under another's name
	sorted := func(as ...Attestation) []Attestation {
		slices.SortFunc(as, func(x, y Attestation) int { return cmpID(x.Authority, y.Authority) })
		return as
	}
	tests := []struct {
		name string
		atts []Attestation
		code Code
	}{
		{"one authority of another cluster", []Attestation{one}, CodeUnauthorized},
		{"the same attestation three times", []Attestation{one, one, one}, CodeMalformed},
		{"one signature under two names", sorted(one, forged), CodeBadSignature},
		{"the new head for itself", sorted(one, attest(t, s, n2)[0]), CodeUnauthorized},
		{"two of four", attest(t, s, hostile, c.auths[2]), CodeUnauthorized},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c.fails(n2.Signing, &Handover{Cluster: 2, NewHead: n2.ID(), Attestations: tc.atts}, tc.code)
		})
	}
	c.ok(n2.Signing, &Handover{Cluster: 2, NewHead: n2.ID(), Attestations: attest(t, s, hostile, c.auths[2], c.auths[3])})
}
