package ledger

import (
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
