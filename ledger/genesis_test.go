package ledger

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/vitalchain/vitalchain/identity"
)

func TestParseGenesis(t *testing.T) {
	tg := newGenesis(t, 3)
	good, err := json.Marshal(tg.g)
	if err != nil {
		t.Fatal(err)
	}
	g, err := ParseGenesis(good)
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Authorities) != 3 || g.Params != testParams() {
		t.Errorf("parsed %+v", g)
	}

	patient := mustIdentity(t, identity.RolePatient)
	mod := func(f func(g *Genesis)) []byte {
		c := *tg.g
		c.Authorities = append([]GenesisAuthority(nil), tg.g.Authorities...)
		f(&c)
		b, err := json.Marshal(&c)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	t.Run("zero params are the defaults", func(t *testing.T) {
		g, err := ParseGenesis(mod(func(g *Genesis) { g.Params = Params{} }))
		if err != nil || g.Params != DefaultParams() {
			t.Fatalf("%v %+v", err, g)
		}
	})
	t.Run("custom params", func(t *testing.T) {
		p := Params{AnchorCap: 2, AnchorPassAfterMs: 0, SeqWindow: 8, AuthorityPower: 7}
		g, err := ParseGenesis(mod(func(g *Genesis) { g.Params = p }))
		if err != nil || g.Params != p {
			t.Fatalf("%v %+v", err, g)
		}
	})
	tests := []struct {
		name string
		b    []byte
		want string
	}{
		{"not json", []byte("{"), "genesis app state"},
		{"no authorities", mod(func(g *Genesis) { g.Authorities = nil }), "no authorities"},
		{"bad key", mod(func(g *Genesis) { g.Authorities[0].Key = "vc-authority-ed25519-pub:zz" }), "genesis authority"},
		{"patient key", mod(func(g *Genesis) { g.Authorities[0].Key = patient.Public().Verifying.String() }), "wrong key role"},
		{"short consensus key", mod(func(g *Genesis) { g.Authorities[0].Consensus = make([]byte, 31) }), "consensus key of 31 bytes"},
		{"two heads of a cluster", mod(func(g *Genesis) { g.Authorities[1].Cluster = g.Authorities[0].Cluster }), "two heads"},
		{"one key heading two clusters", mod(func(g *Genesis) { g.Authorities[1].Key = g.Authorities[0].Key }), "heads another cluster"},
		{"shared consensus key", mod(func(g *Genesis) { g.Authorities[1].Consensus = g.Authorities[0].Consensus }), "consensus key is another"},
		{"seq window too large", mod(func(g *Genesis) { g.Params = DefaultParams(); g.Params.SeqWindow = 65 }), "invalid params"},
		{"no anchors", mod(func(g *Genesis) { g.Params = DefaultParams(); g.Params.AnchorCap = 0 }), "invalid params"},
		{"no power", mod(func(g *Genesis) { g.Params = DefaultParams(); g.Params.AuthorityPower = 0 }), "invalid params"},
		{"negative pass time", mod(func(g *Genesis) { g.Params = DefaultParams(); g.Params.AnchorPassAfterMs = -1 }), "invalid params"},
		{"absence by time alone", mod(func(g *Genesis) { g.Params = DefaultParams(); g.Params.HeadAbsentCommits = 0 }), "HeadAbsentCommits 0"},
		{"absence after too many commits", mod(func(g *Genesis) { g.Params = DefaultParams(); g.Params.HeadAbsentCommits = MaxHeadAbsentCommits + 1 }), "HeadAbsentCommits 1001"},
		{"negative absence time", mod(func(g *Genesis) { g.Params = DefaultParams(); g.Params.HeadAbsentMs = -1 }), "invalid params"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseGenesis(tc.b)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestInitChain(t *testing.T) {
	t.Parallel()
	tg := newGenesis(t, 3)
	tg.g.Params = Params{AnchorCap: 4, AnchorPassAfterMs: 100, SeqWindow: 8, AuthorityPower: 7}
	c := startChain(t, tg)
	var p Params
	c.mustQuery("params", &p)
	if p != tg.g.Params {
		t.Errorf("params %+v", p)
	}
	auths := c.authorities()
	if len(auths) != 3 {
		t.Fatalf("authorities %v", auths)
	}
	for i, a := range auths {
		if i > 0 && !idLess(auths[i-1].ID, a.ID) {
			t.Error("authorities not sorted by ID")
		}
		if a.Power != 7 {
			t.Errorf("power %d", a.Power)
		}
	}
	for i, id := range tg.auths {
		var info ClusterInfo
		c.mustQuery("cluster/"+itoa(int64(i+1)), &info)
		if info.Cluster.Head != id.ID() || !sameIDs(info.Eligible, []identity.ID{id.ID()}) {
			t.Errorf("cluster %d: %+v", i+1, info)
		}
		var m Member
		c.mustQuery("member/"+id.ID().Hex(), &m)
		if m.Role != identity.RoleAuthority || string(m.Consensus) != string(tg.cons[i]) || m.Cluster != uint32(i+1) {
			t.Errorf("member %+v", m)
		}
	}

	// The parameters rule: a window of 8 and a power of 7.
	cand := c.register(identity.RoleAuthority, nil) // the head's seq 1
	wantCodes(t, c.block(c.regTx(10), c.regTx(2), c.regTx(3)), CodeOK, CodeReplay, CodeOK)
	for _, a := range tg.auths[1:] {
		c.ok(a.Signing, &Vote{Candidate: cand.ID(), Add: true})
	}
	c.wantUpdates(ValidatorUpdate{PubKey: consensusKeyOf(cand), Power: 7})

	// The same genesis gives the same app hash; another, another.
	if startChain(t, tg).appHash != c.hashes[0] {
		t.Error("genesis app hash is not deterministic")
	}
	if startChain(t, newGenesis(t, 3)).appHash == c.hashes[0] {
		t.Error("two genesis states with one app hash")
	}
}

// TestEndBlockDropsNoOps feeds endBlock pending changes that the
// transactions never queue today: removing the last authority, removing
// one who is not an authority, and swaps that replace no one, give a seat
// to one who holds one, or name the old seat with another key.
func TestEndBlockDropsNoOps(t *testing.T) {
	c := newTestChain(t, 1)
	me := Authority{ID: c.auths[0].ID(), Consensus: c.cons[0], Power: 10}
	a := Change{ID: me.ID, Consensus: me.Consensus}
	ghost := Change{ID: identity.ID{9}, Consensus: make([]byte, 32)}
	other := Authority{ID: identity.ID{8}, Consensus: bytes.Repeat([]byte{8}, 32), Power: 10}
	fromGhost := Change{ID: other.ID, Consensus: other.Consensus, Power: 10, Replaces: &Authority{ID: ghost.ID, Consensus: ghost.Consensus, Power: 10}}
	toHolder := Change{ID: me.ID, Consensus: me.Consensus, Power: 10, Replaces: &me}
	otherKey := Change{ID: other.ID, Consensus: other.Consensus, Power: 10, Replaces: &Authority{ID: me.ID, Consensus: other.Consensus, Power: 10}}
	st := MemStore{}
	for k, v := range c.st {
		st[k] = v
	}
	x, err := newExec(st, 1, genesisTime)
	if err != nil {
		t.Fatal(err)
	}
	x.tx = map[string][]byte{}
	if err := x.put([]byte{pPending}, &changeList{List: []Change{a, ghost, fromGhost, toHolder, otherKey}}); err != nil {
		t.Fatal(err)
	}
	x.block = x.tx
	if err := x.endBlock(); err != nil {
		t.Fatal(err)
	}
	if len(x.updates) != 0 {
		t.Errorf("updates %v", x.updates)
	}
	st.Apply(x.sortedWrites())
	var l authorityList
	if ok, err := getCBOR(st, []byte{pAuthorities}, &l); err != nil || !ok || len(l.List) != 1 {
		t.Errorf("authorities %v %v", l, err)
	}
	if v, _ := st.Get([]byte{pPending}); v != nil {
		t.Error("pending changes left")
	}
}
