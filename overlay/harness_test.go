package overlay_test

import (
	"bufio"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/vitalchain/vitalchain/overlay"
)

// lockstep runs nodes on a hand-drawn graph over a perfect channel: each
// round every node ticks, then messages are delivered (through their
// encoding) until no node has anything to send.
type lockstep struct {
	t         testing.TB
	names     []string
	ids       map[string]overlay.ID
	byID      map[overlay.ID]string
	nodes     map[string]*overlay.Node
	adj       map[string][]string
	down      map[string]bool
	decisions map[string][]overlay.Decision
}

// idFor gives the i-th declared node an ID that sorts in declaration order.
func idFor(i int) overlay.ID {
	var id overlay.ID
	id[0] = byte(i + 1)
	id[31] = 0x5a
	return id
}

func newLockstep(t testing.TB, names []string, edges [][2]string, phones []string, policy overlay.Policy) *lockstep {
	t.Helper()
	l := &lockstep{
		t: t, names: names, ids: map[string]overlay.ID{}, byID: map[overlay.ID]string{},
		nodes: map[string]*overlay.Node{}, adj: map[string][]string{}, down: map[string]bool{},
		decisions: map[string][]overlay.Decision{},
	}
	for i, name := range names {
		id := idFor(i)
		n, err := overlay.New(overlay.Config{ID: id, Eligible: !slices.Contains(phones, name), Policy: policy, Incarnation: 1})
		if err != nil {
			t.Fatal(err)
		}
		l.ids[name], l.byID[id], l.nodes[name] = id, name, n
	}
	for _, e := range edges {
		for _, v := range e {
			if _, ok := l.nodes[v]; !ok {
				t.Fatalf("edge %s-%s names an unknown node", e[0], e[1])
			}
		}
		l.adj[e[0]] = append(l.adj[e[0]], e[1])
		l.adj[e[1]] = append(l.adj[e[1]], e[0])
	}
	return l
}

func (l *lockstep) rounds(k int) {
	for range k {
		for _, name := range l.names {
			if !l.down[name] {
				l.nodes[name].Tick()
			}
		}
		l.flush()
	}
}

func (l *lockstep) flush() {
	for range 100 {
		type env struct {
			to string
			m  overlay.Message
		}
		var q []env
		for _, name := range l.names {
			if l.down[name] {
				continue
			}
			out, decs := l.nodes[name].Ready()
			l.decisions[name] = append(l.decisions[name], decs...)
			for _, m := range out {
				b, err := m.Encode()
				if err != nil {
					l.t.Fatalf("%s sent an invalid message: %v", name, err)
				}
				m2, err := overlay.DecodeMessage(b)
				if err != nil {
					l.t.Fatalf("%s's message does not decode: %v", name, err)
				}
				for _, nb := range l.adj[name] {
					if !l.down[nb] {
						q = append(q, env{nb, m2})
					}
				}
			}
		}
		if len(q) == 0 {
			return
		}
		for _, e := range q {
			if err := l.nodes[e.to].Step(e.m); err != nil {
				l.t.Fatalf("%s refused a message: %v", e.to, err)
			}
		}
	}
	l.t.Fatal("messages still flowing after 100 exchanges")
}

// heads returns the names of the heads, sorted.
func (l *lockstep) heads() []string {
	var hs []string
	for _, name := range l.names {
		if !l.down[name] && l.nodes[name].Role() == overlay.RoleHead {
			hs = append(hs, name)
		}
	}
	return hs
}

// headOf returns the name of a node's head ("" if none).
func (l *lockstep) headOf(name string) string {
	h, _ := l.nodes[name].Head()
	return l.byID[h]
}

// checkInvariants: no adjacent heads; every live node that may be head, or
// has a head in reach, is a head or a member of a neighbouring head of the
// same cluster.
func (l *lockstep) checkInvariants() {
	l.t.Helper()
	for _, name := range l.names {
		if l.down[name] {
			continue
		}
		n := l.nodes[name]
		headInReach := false
		for _, nb := range l.adj[name] {
			if l.down[nb] || l.nodes[nb].Role() != overlay.RoleHead {
				continue
			}
			headInReach = true
			if n.Role() == overlay.RoleHead {
				l.t.Errorf("adjacent heads %s and %s", name, nb)
			}
		}
		switch n.Role() {
		case overlay.RoleHead:
		case overlay.RoleMember:
			h := l.headOf(name)
			_, c := n.Head()
			_, hc := l.nodes[h].Head()
			if l.down[h] || l.nodes[h].Role() != overlay.RoleHead || !slices.Contains(l.adj[name], h) || hc != c {
				l.t.Errorf("%s is a member of %s, not a neighbouring head of its cluster", name, h)
			}
		case overlay.RoleUnclustered:
			if headInReach {
				l.t.Errorf("%s unclustered with a head in reach", name)
			}
		default:
			l.t.Errorf("%s still %s", name, n.Role())
		}
	}
}

// scenario is a hand-drawn graph and the clustering expected on it.
type scenario struct {
	name        string
	policy      overlay.Policy
	nodes       []string
	edges       [][2]string
	phones      []string
	heads       []string
	joins       map[string]string
	unclustered []string
}

func readScenarios(t *testing.T, path string) []scenario {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []scenario
	var cur *scenario
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		key, val, ok := strings.Cut(text, ":")
		if !ok {
			t.Fatalf("%s:%d: want key: value", path, line)
		}
		fields := strings.Fields(val)
		if key == "scenario" {
			out = append(out, scenario{name: strings.TrimSpace(val), joins: map[string]string{}})
			cur = &out[len(out)-1]
			continue
		}
		if cur == nil {
			t.Fatalf("%s:%d: %s before any scenario", path, line, key)
		}
		switch key {
		case "policy":
			if strings.TrimSpace(val) == "lowest-id" {
				cur.policy = overlay.PolicyLowestID
			}
		case "nodes":
			cur.nodes = fields
		case "edges":
			for _, e := range fields {
				a, b, ok := strings.Cut(e, "-")
				if !ok {
					t.Fatalf("%s:%d: edge %q is not a-b", path, line, e)
				}
				cur.edges = append(cur.edges, [2]string{a, b})
			}
		case "phones":
			cur.phones = fields
		case "heads":
			cur.heads = fields
		case "joins":
			for _, j := range fields {
				m, h, ok := strings.Cut(j, ">")
				if !ok {
					t.Fatalf("%s:%d: join %q is not member>head", path, line, j)
				}
				cur.joins[m] = h
			}
		case "unclustered":
			cur.unclustered = fields
		default:
			t.Fatalf("%s:%d: unknown key %q", path, line, key)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
