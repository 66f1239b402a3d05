package overlay_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/vitalchain/vitalchain/overlay"
)

func TestScenarios(t *testing.T) {
	for _, sc := range readScenarios(t, "testdata/scenarios.txt") {
		t.Run(sc.name, func(t *testing.T) {
			l := newLockstep(t, sc.nodes, sc.edges, sc.phones, sc.policy)
			l.rounds(overlay.DefaultHelloRounds + 8)
			l.checkInvariants()
			if got, want := slices.Sorted(slices.Values(l.heads())), slices.Sorted(slices.Values(sc.heads)); !slices.Equal(got, want) {
				t.Errorf("heads %v, want %v", got, sc.heads)
			}
			for m, h := range sc.joins {
				if got := l.headOf(m); got != h || l.nodes[m].Role() != overlay.RoleMember {
					t.Errorf("%s: %s of %q, want member of %q", m, l.nodes[m].Role(), got, h)
				}
			}
			for _, u := range sc.unclustered {
				if r := l.nodes[u].Role(); r != overlay.RoleUnclustered {
					t.Errorf("%s is %s, want unclustered", u, r)
				}
				if !slices.ContainsFunc(l.decisions[u], func(d overlay.Decision) bool { return d == overlay.Unclustered{} }) {
					t.Errorf("%s took no Unclustered decision: %v", u, l.decisions[u])
				}
			}
			for _, h := range sc.heads {
				ds := l.decisions[h]
				if len(ds) == 0 {
					t.Fatalf("head %s took no decision", h)
				}
				if bh, ok := ds[len(ds)-1].(overlay.BecameHead); !ok || bh.Epoch != 1 || bh.Prev != (overlay.ID{}) {
					t.Errorf("head %s's last decision is %v, want BecameHead of a new cluster", h, ds[len(ds)-1])
				}
			}
		})
	}
}

// wheel: a hub h with members around it, each member linked to its two
// neighbours on the rim, so any member reaches three others.
func wheel(k int) ([]string, [][2]string) {
	names := []string{"h"}
	var edges [][2]string
	for i := range k {
		names = append(names, string(rune('a'+i)))
	}
	for i := range k {
		edges = append(edges, [2]string{"h", names[1+i]}, [2]string{names[1+i], names[1+(i+1)%k]})
	}
	return names, edges
}

// TestSuccession: the head falls silent; the first successor takes the
// cluster over at epoch 2 within 3+r periods (plus one for the phase), and
// the members see HeadChanged.
func TestSuccession(t *testing.T) {
	names, edges := wheel(6)
	l := newLockstep(t, names, edges, nil, overlay.PolicyDensity)
	l.rounds(6)
	if got := l.heads(); !slices.Equal(got, []string{"h"}) {
		t.Fatalf("heads %v, want [h]", got)
	}
	st := l.nodes["h"].Status()
	if len(st.Successors) != overlay.DefaultSuccessors || st.Size != 7 {
		t.Fatalf("head status %+v: want %d successors and size 7", st, overlay.DefaultSuccessors)
	}
	cluster := st.Cluster
	first := l.byID[st.Successors[0]]
	l.down["h"] = true
	for k := 1; k <= overlay.MissedHeartbeats+2; k++ {
		l.rounds(1)
		if l.nodes[first].Role() == overlay.RoleHead {
			if k > overlay.MissedHeartbeats+1 {
				t.Errorf("successor took over after %d periods", k)
			}
			break
		}
	}
	ds := l.decisions[first]
	bh, ok := ds[len(ds)-1].(overlay.BecameHead)
	if !ok || bh.Cluster != cluster || bh.Epoch != 2 || bh.Prev != l.ids["h"] {
		t.Fatalf("successor %s's decisions %v: want BecameHead of %s epoch 2 from h", first, ds, cluster)
	}
	l.rounds(2)
	l.checkInvariants()
	for _, name := range names[1:] {
		if name == first || !slices.Contains(l.adj[name], first) {
			continue
		}
		ds := l.decisions[name]
		hc, ok := ds[len(ds)-1].(overlay.HeadChanged)
		if !ok || hc.New != l.ids[first] || hc.Old != l.ids["h"] || hc.Cluster != cluster {
			t.Errorf("%s's decisions %v: want HeadChanged h -> %s", name, ds, first)
		}
	}
}

// TestOldHeadReturns: a head cut off long enough to be succeeded comes back
// and yields to the higher epoch.
func TestOldHeadReturns(t *testing.T) {
	names, edges := wheel(6)
	l := newLockstep(t, names, edges, nil, overlay.PolicyDensity)
	l.rounds(6)
	succ := l.byID[l.nodes["h"].Status().Successors[0]]
	// Cut h's links (it keeps running alone).
	saved := l.adj
	l.adj = map[string][]string{}
	for k, v := range saved {
		if k != "h" {
			l.adj[k] = slices.DeleteFunc(slices.Clone(v), func(s string) bool { return s == "h" })
		}
	}
	l.rounds(overlay.MissedHeartbeats + 3)
	if l.nodes[succ].Role() != overlay.RoleHead {
		t.Fatalf("successor %s is %s", succ, l.nodes[succ].Role())
	}
	l.adj = saved
	l.rounds(3)
	l.checkInvariants()
	if got := l.heads(); !slices.Contains(got, succ) || slices.Contains(got, "h") {
		t.Fatalf("heads %v, want %s and not h", got, succ)
	}
	if !slices.ContainsFunc(l.decisions["h"], func(d overlay.Decision) bool {
		r, ok := d.(overlay.Resigned)
		return ok && r.Reason == overlay.ReasonSuperseded
	}) {
		t.Errorf("h's decisions %v: want Resigned (superseded)", l.decisions["h"])
	}
}

// TestAdjacentHeadsResign: two clusters whose heads come into reach: the
// lower key resigns and joins the other.
func TestAdjacentHeadsResign(t *testing.T) {
	names := []string{"a", "b", "c", "x", "y"}
	edges := [][2]string{{"a", "b"}, {"a", "c"}, {"b", "c"}, {"x", "y"}}
	l := newLockstep(t, names, edges, nil, overlay.PolicyDensity)
	l.rounds(6)
	if got := l.heads(); !slices.Equal(got, []string{"a", "x"}) {
		t.Fatalf("heads %v, want [a x]", got)
	}
	l.adj["a"] = append(l.adj["a"], "x")
	l.adj["x"] = append(l.adj["x"], "a")
	l.rounds(3)
	l.checkInvariants()
	// y, left without a head in reach, leads.
	if got := l.heads(); !slices.Equal(got, []string{"a", "y"}) {
		t.Fatalf("heads %v, want [a y]", got)
	}
	if l.headOf("x") != "a" {
		t.Errorf("x joined %q, want a", l.headOf("x"))
	}
	if !slices.ContainsFunc(l.decisions["x"], func(d overlay.Decision) bool {
		r, ok := d.(overlay.Resigned)
		return ok && r.Reason == overlay.ReasonAdjacent
	}) {
		t.Errorf("x's decisions %v: want Resigned (adjacent)", l.decisions["x"])
	}
}

// TestMigration: a member between two heads joins the higher key first,
// then moves to the other once its cluster has been larger by the
// hysteresis for Stability heartbeats, and does not move back.
func TestMigration(t *testing.T) {
	// z leads a clique of seven (rho 12); a is the hub of nine leaves (rho
	// 10); m neighbours both heads and joins z while the sizes look equal.
	names := []string{"z", "p1", "p2", "p3", "p4", "p5", "p6", "m", "a"}
	var edges [][2]string
	clique := names[:7]
	for i, u := range clique {
		for _, v := range clique[i+1:] {
			edges = append(edges, [2]string{u, v})
		}
	}
	edges = append(edges, [2]string{"z", "m"}, [2]string{"a", "m"})
	for i := range 9 {
		leaf := fmt.Sprintf("l%d", i)
		names = append(names, leaf)
		edges = append(edges, [2]string{"a", leaf})
	}
	l := newLockstep(t, names, edges, nil, overlay.PolicyDensity)
	l.rounds(overlay.DefaultHelloRounds + 1)
	if got := l.heads(); !slices.Equal(got, []string{"z", "a"}) {
		t.Fatalf("heads %v, want [z a]", got)
	}
	if h := l.headOf("m"); h != "z" {
		t.Fatalf("m joined %q first, want z", h)
	}
	l.rounds(overlay.DefaultStability + 2)
	l.checkInvariants()
	if h := l.headOf("m"); h != "a" {
		t.Errorf("m is in %q's cluster, want a's (larger by the hysteresis)", h)
	}
	l.rounds(10)
	if h := l.headOf("m"); h != "a" {
		t.Errorf("m moved back to %q", h)
	}
	var joined []string
	for _, d := range l.decisions["m"] {
		if j, ok := d.(overlay.Joined); ok {
			joined = append(joined, l.byID[j.Head])
		}
	}
	if !slices.Equal(joined, []string{"z", "a"}) {
		t.Errorf("m joined %v, want [z a]", joined)
	}
}

func TestStepRefuses(t *testing.T) {
	self := idFor(0)
	n, err := overlay.New(overlay.Config{ID: self, Eligible: true})
	if err != nil {
		t.Fatal(err)
	}
	good := overlay.Message{Kind: overlay.KindHello, From: idFor(1), Seq: 1}
	for _, tc := range []struct {
		name string
		m    overlay.Message
		want error
	}{
		{"from itself", overlay.Message{Kind: overlay.KindHello, From: self, Seq: 1}, overlay.ErrFromSelf},
		{"invalid", overlay.Message{Kind: 9, From: idFor(1)}, overlay.ErrInvalidMessage},
	} {
		if err := n.Step(tc.m); !errors.Is(err, tc.want) {
			t.Errorf("%s: Step = %v, want %v", tc.name, err, tc.want)
		}
	}
	if err := n.Step(good); err != nil {
		t.Fatal(err)
	}
	for i := range overlay.MaxNeighbours - 1 {
		if err := n.Step(overlay.Message{Kind: overlay.KindHello, From: manyID(i), Seq: 1}); err != nil {
			t.Fatalf("neighbour %d: %v", i, err)
		}
	}
	if err := n.Step(overlay.Message{Kind: overlay.KindHello, From: manyID(overlay.MaxNeighbours + 1), Seq: 1}); !errors.Is(err, overlay.ErrTableFull) {
		t.Errorf("Step past the table's capacity = %v, want ErrTableFull", err)
	}
	if s := n.Stats(); s.Rejected != 3 || s.Received != overlay.MaxNeighbours {
		t.Errorf("stats %+v: want 3 rejected", s)
	}
}

func manyID(i int) overlay.ID {
	var id overlay.ID
	id[0], id[1], id[2] = 0xee, byte(i>>8), byte(i)
	return id
}

func TestNewRefuses(t *testing.T) {
	for _, cfg := range []overlay.Config{
		{},
		{ID: idFor(0), Policy: 7},
		{ID: idFor(0), Hysteresis: -1},
	} {
		if _, err := overlay.New(cfg); err == nil {
			t.Errorf("New(%+v) accepted", cfg)
		}
	}
}

// TestStaleMessages: an older message delivered late does not overwrite
// what a newer one said.
func TestStaleMessages(t *testing.T) {
	n, _ := overlay.New(overlay.Config{ID: idFor(0), Eligible: true, HelloRounds: 1})
	head := idFor(1)
	var c overlay.ClusterID
	c[0] = 1
	newer := overlay.Message{Kind: overlay.KindAnnounce, From: head, Seq: 5, Eligible: true, Role: overlay.RoleHead, Head: head, Cluster: c, Epoch: 1, Size: 1, Measured: true, Rho: overlay.RhoOne, Degree: 1}
	older := overlay.Message{Kind: overlay.KindHello, From: head, Seq: 4, Eligible: true, Measured: true, Rho: overlay.RhoOne, Degree: 1}
	for _, m := range []overlay.Message{newer, older} {
		if err := n.Step(m); err != nil {
			t.Fatal(err)
		}
	}
	n.Tick()
	_, ds := n.Ready()
	if len(ds) != 1 {
		t.Fatalf("decisions %v, want one Joined", ds)
	}
	if j, ok := ds[0].(overlay.Joined); !ok || j.Head != head || j.Cluster != c {
		t.Fatalf("decision %v, want Joined the head", ds[0])
	}
	if n.Stats().Stale != 1 {
		t.Errorf("stats %+v: want one stale", n.Stats())
	}
}

// TestMovingMemberReaffiliates: member m of a's cluster, in reach of head b
// too, loses its link to a. Once m has seen its neighbourhood change (here a
// phone comes into reach), it joins b after one missed heartbeat of a; a
// member with the mobility rules off (Config.Moving < 0) stays with its
// silent head until MissedHeartbeats have passed.
func TestMovingMemberReaffiliates(t *testing.T) {
	names := []string{"a", "a1", "a2", "a3", "a4", "b", "b1", "b2", "b3", "m", "n"}
	edges := [][2]string{{"a", "a1"}, {"a", "a2"}, {"a", "a3"}, {"a", "a4"}, {"b", "b1"}, {"b", "b2"}, {"b", "b3"}, {"m", "a"}, {"m", "b"}}
	for _, tc := range []struct {
		name   string
		moving int
		after  int // rounds after the cut at which m is in b's cluster
	}{
		{"mobility rules", 0, 2},
		{"mobility rules off", -1, overlay.MissedHeartbeats + 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLockstep(t, names, edges, []string{"n"}, overlay.PolicyDensity)
			n, err := overlay.New(overlay.Config{ID: l.ids["m"], Eligible: true, Incarnation: 1, Moving: tc.moving})
			if err != nil {
				t.Fatal(err)
			}
			l.nodes["m"] = n
			l.rounds(overlay.DefaultHelloRounds + 3)
			if got := l.heads(); !slices.Equal(got, []string{"a", "b"}) || l.headOf("m") != "a" {
				t.Fatalf("heads %v, m in %q's cluster: want [a b], a", got, l.headOf("m"))
			}
			link := func(u, v string) {
				l.adj[u] = append(l.adj[u], v)
				l.adj[v] = append(l.adj[v], u)
			}
			cut := func(u, v string) {
				l.adj[u] = slices.DeleteFunc(l.adj[u], func(x string) bool { return x == v })
				l.adj[v] = slices.DeleteFunc(l.adj[v], func(x string) bool { return x == u })
			}
			link("m", "n") // a phone comes into reach: m's neighbourhood moves
			l.rounds(1)
			cut("m", "a")
			for r := 1; r <= tc.after; r++ {
				l.rounds(1)
				want := "a"
				if r == tc.after {
					want = "b"
				}
				if got := l.headOf("m"); got != want {
					t.Fatalf("%d rounds after the cut m is in %q's cluster, want %q", r, got, want)
				}
			}
			l.checkInvariants()
		})
	}
}
