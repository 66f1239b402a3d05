package ledger

import (
	"bytes"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vitalchain/vitalchain/identity"
)

// TestHostileAuthoritiesRandom drives the state machine with random
// handovers, votes, admissions of authority-eligible members and commits
// with random signers, from one or two hostile authorities (each with the
// eligible members it admits to its cluster) and honest ones, and checks
// after every block:
//
//   - no cluster holds more validator seats than it had at genesis plus
//     the additions a majority voted for it, less the removals a majority
//     voted (a seat it loses is lost);
//   - every change a Vote made had more than half of the authorities'
//     votes, counted here independently of the ledger;
//   - no identity and no consensus key holds two seats;
//   - CometBFT would accept the validator updates: no key twice in a
//     block, no removal of an unknown validator, never an empty set, and
//     they build the ledger's authorities (the harness checks these).
//
// Each seed is reproducible: go test -run 'TestHostileAuthoritiesRandom/seed=N'.
func TestHostileAuthoritiesRandom(t *testing.T) {
	t.Parallel()
	seeds, blocks := 50, 80
	if testing.Short() {
		seeds = 20
	}
	var mu = make(chan struct{}, 1)
	total := map[string]int{}
	t.Cleanup(func() {
		keys := slices.Sorted(maps.Keys(total))
		var b strings.Builder
		for _, k := range keys {
			fmt.Fprintf(&b, " %s=%d", k, total[k])
		}
		t.Logf("over %d seeds:%s", seeds, b.String())
	})
	t.Run("all", func(t *testing.T) {
		for seed := range seeds {
			t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
				t.Parallel()
				w := newHostileWorld(t, uint64(seed))
				for range blocks {
					w.step()
				}
				mu <- struct{}{}
				for k, v := range w.stats {
					total[k] += v
				}
				<-mu
			})
		}
	})
	// The runs must have done what they are for.
	for _, k := range []string{"handover ok attested", "handover ok absent", "vote passed add", "vote passed remove", "handover invalid", "handover duplicate"} {
		if total[k] == 0 {
			t.Errorf("no %q in any run: %v", k, total)
		}
	}
}

// hostileWorld is one random run: the chain, the identities it holds the
// keys of, and the model the checks compare the chain with.
type hostileWorld struct {
	t       *testing.T
	c       *testChain
	rng     *rand.Rand
	hostile map[uint32]bool                    // clusters whose head, and every member, the attacker controls
	members map[uint32][]*identity.Identity    // authority-eligible members of each cluster (the genesis head first)
	keys    map[identity.ID]*identity.Identity // every identity the run made
	cluster map[identity.ID]uint32
	cons    map[identity.ID][]byte // registered consensus keys
	down    map[string]bool        // consensus keys of validators that sign no commit for now
	next    uint64                 // identities made

	budget  map[uint32]int                  // seats each cluster may hold
	owed    map[identity.ID]bool            // additions passed, not yet applied
	leaving map[identity.ID]bool            // removals passed, not yet applied
	tally   map[string]map[identity.ID]bool // voters per (candidate, add), as the ledger keeps them
	stats   map[string]int
	trace   []string // the current block's transactions, for a failure's message
}

func newHostileWorld(t *testing.T, seed uint64) *hostileWorld {
	w := &hostileWorld{
		t: t, rng: rand.New(rand.NewPCG(seed, 0x5eed)), hostile: map[uint32]bool{},
		members: map[uint32][]*identity.Identity{}, keys: map[identity.ID]*identity.Identity{},
		cluster: map[identity.ID]uint32{}, cons: map[identity.ID][]byte{}, down: map[string]bool{},
		budget: map[uint32]int{}, owed: map[identity.ID]bool{}, leaving: map[identity.ID]bool{}, tally: map[string]map[identity.ID]bool{}, stats: map[string]int{},
	}
	n := 4 + w.rng.IntN(3) // 4 to 6 authorities
	tg := &testGenesis{g: &Genesis{Params: testParams()}}
	for i := range n {
		id := w.identity()
		cl := uint32(i + 1)
		tg.auths = append(tg.auths, id)
		tg.cons = append(tg.cons, consensusKeyOf(id))
		tg.g.Authorities = append(tg.g.Authorities, GenesisAuthority{
			Name: "ch" + itoa(int64(i)), Key: id.Public().Verifying.String(), Consensus: consensusKeyOf(id), Cluster: cl,
		})
		w.members[cl] = []*identity.Identity{id}
		w.cluster[id.ID()], w.cons[id.ID()] = cl, consensusKeyOf(id)
		w.budget[cl] = 1
	}
	w.hostile[1] = true
	if w.rng.IntN(2) == 0 {
		w.hostile[2] = true // two colluding
	}
	w.c = startChain(t, tg)
	return w
}

// identity makes the run's next identity, from its seed.
func (w *hostileWorld) identity() *identity.Identity {
	var seed [32]byte
	for i := range 4 {
		v := w.rng.Uint64()
		for j := range 8 {
			seed[i*8+j] = byte(v >> (8 * j))
		}
	}
	w.next++
	k, err := identity.NewSigningKey(identity.RoleAuthority, seed[:])
	if err != nil {
		w.t.Fatal(err)
	}
	id := &identity.Identity{Signing: k}
	w.keys[id.ID()] = id
	return id
}

func (w *hostileWorld) pick(n int) int { return w.rng.IntN(n) }

func (w *hostileWorld) clusters() []uint32 { return slices.Sorted(maps.Keys(w.members)) }

func (w *hostileWorld) headOf(cl uint32) *identity.Identity { return w.keys[w.c.head(cl)] }

// authorityIDs returns the current authorities' IDs, sorted.
func (w *hostileWorld) authorityIDs() []identity.ID {
	var out []identity.ID
	for _, a := range w.c.authorities() {
		out = append(out, a.ID)
	}
	return out
}

// planned is a transaction of the block being built, with what the model
// does once it sees the result.
type planned struct {
	tx   []byte
	kind string
	what string
	done func(r TxResult)
}

// step builds and runs one block of up to 5 random transactions, then
// checks the invariants.
func (w *hostileWorld) step() {
	w.t.Helper()
	auths := w.authorityIDs()
	var plan []planned
	for range w.pick(6) {
		if p, ok := w.action(auths); ok {
			plan = append(plan, p)
		}
	}
	w.c.signers = w.signers()
	txs := make([][]byte, len(plan))
	w.trace = w.trace[:0]
	for i, p := range plan {
		txs[i] = p.tx
		w.trace = append(w.trace, p.what)
	}
	res := w.c.blockAt(w.c.now.Add(time.Duration(50+w.pick(2500))*time.Millisecond), txs...)
	for i, p := range plan {
		r := res[i]
		w.stats[p.kind+" "+r.Code.String()]++
		w.trace[i] += " → " + r.Code.String()
		if r.Code == CodeOK && p.done != nil {
			p.done(r)
		}
		if ev := eventOf(r.Events, EventAuthorityChange); ev != nil {
			w.passed(auths, ev)
		}
	}
	w.check()
}

func eventOf(evs []Event, typ string) *Event {
	for i := range evs {
		if evs[i].Type == typ {
			return &evs[i]
		}
	}
	return nil
}

func attr(e *Event, k string) string {
	for _, a := range e.Attrs {
		if a.Key == k {
			return a.Value
		}
	}
	return ""
}

// passed checks, on the model's own tally, that a change the ledger made
// had the votes of more than half of the authorities (those of the block:
// they change only at its end), and books an addition to its cluster.
func (w *hostileWorld) passed(auths []identity.ID, ev *Event) {
	w.t.Helper()
	id, err := identity.ParseID(attr(ev, AttrID))
	if err != nil {
		w.t.Fatal(err)
	}
	add := attr(ev, AttrAdd) == "true"
	k := tallyKey(id, add)
	n := 0
	for v := range w.tally[k] {
		if slices.Contains(auths, v) {
			n++
		}
	}
	if 2*n <= len(auths) {
		w.fail("a change of %s (add %v) passed with %d votes of %d authorities", id, add, n, len(auths))
	}
	delete(w.tally, k)
	if add {
		w.budget[w.cluster[id]]++
		w.owed[id] = true
		w.stats["vote passed add"]++
	} else {
		// The seat goes, whoever holds it by the time the removal is
		// applied.
		w.budget[w.cluster[id]]--
		w.leaving[id] = true
		w.stats["vote passed remove"]++
	}
}

func tallyKey(id identity.ID, add bool) string { return fmt.Sprintf("%s/%v", id.Hex(), add) }

// action makes one random transaction.
func (w *hostileWorld) action(auths []identity.ID) (planned, bool) {
	switch r := w.pick(100); {
	case r < 25:
		return w.register()
	case r < 55:
		return w.attestedHandover(auths)
	case r < 70:
		return w.absentHandover()
	default:
		return w.vote(auths)
	}
}

// register: a cluster's head admits an authority-eligible member, with a
// fresh consensus key or, now and then, one already registered.
func (w *hostileWorld) register() (planned, bool) {
	cls := w.clusters()
	cl := cls[w.pick(len(cls))]
	if len(w.members[cl]) >= 6 {
		return planned{}, false
	}
	head := w.headOf(cl)
	id := w.identity()
	cons := consensusKeyOf(id)
	if w.pick(6) == 0 {
		ids := slices.SortedFunc(maps.Keys(w.cons), cmpID)
		cons = w.cons[ids[w.pick(len(ids))]]
	}
	r := &Register{Member: KeysOf(id.Public(), cons), Cluster: cl}
	if err := r.Prove(id.Signing); err != nil {
		w.t.Fatal(err)
	}
	return planned{
		tx: w.c.tx(head.Signing, r), kind: "register", what: fmt.Sprintf("register %s in %d by %s", short(id.ID()), cl, short(head.ID())),
		done: func(TxResult) {
			w.members[cl] = append(w.members[cl], id)
			w.cluster[id.ID()], w.cons[id.ID()] = cl, cons
		},
	}, true
}

// attestedHandover: a hostile cluster's head hands it to one of its
// members, attesting it itself, with its accomplice's attestation now and
// then, and now and then an attestation of another term; or honest
// authorities attest a handover of an honest cluster, a majority or not.
func (w *hostileWorld) attestedHandover(auths []identity.ID) (planned, bool) {
	cls := w.clusters()
	cl := cls[w.pick(len(cls))]
	if w.pick(3) > 0 {
		cl = 1 // mostly the attacker's
	}
	var info ClusterInfo
	w.c.mustQuery(ClusterPath(cl), &info)
	ms := w.members[cl]
	nh := ms[w.pick(len(ms))]
	if nh.ID() == info.Cluster.Head {
		return planned{}, false
	}
	s := info.Cluster.HandoverTo(nh.ID())
	if w.pick(8) == 0 {
		s.Term += uint64(w.pick(3)) - 1 // stale, or not yet
	}
	by := map[identity.ID]bool{}
	if w.hostile[cl] {
		by[info.Cluster.Head] = true
		for h := range w.hostile {
			if w.pick(2) == 0 {
				by[w.c.head(h)] = true
			}
		}
	} else {
		for _, a := range auths {
			if w.pick(2) == 0 {
				by[a] = true
			}
		}
	}
	var signers []*identity.Identity
	for _, id := range slices.SortedFunc(maps.Keys(by), cmpID) {
		signers = append(signers, w.keys[id])
	}
	h := &Handover{Cluster: cl, NewHead: nh.ID(), Attestations: attest(w.t, s, signers...)}
	return planned{tx: w.c.tx(nh.Signing, h), kind: "handover", what: fmt.Sprintf("handover of %d to %s attested by %d (term %d)", cl, short(nh.ID()), len(signers), s.Term),
		done: func(TxResult) { w.stats["handover ok attested"]++ }}, true
}

// absentHandover: a member of any cluster takes it over unattested.
func (w *hostileWorld) absentHandover() (planned, bool) {
	cls := w.clusters()
	cl := cls[w.pick(len(cls))]
	ms := w.members[cl]
	nh := ms[w.pick(len(ms))]
	h := &Handover{Cluster: cl, NewHead: nh.ID()}
	return planned{tx: w.c.tx(nh.Signing, h), kind: "handover", what: fmt.Sprintf("unattested handover of %d to %s", cl, short(nh.ID())),
		done: func(TxResult) { w.stats["handover ok absent"]++ }}, true
}

// vote: an authority (now and then a former one, or a member) votes a
// member in or an authority out. Hostile voters favour their own members
// and vote honest authorities out; honest ones vote at random.
func (w *hostileWorld) vote(auths []identity.ID) (planned, bool) {
	voter := w.keys[auths[w.pick(len(auths))]]
	if w.pick(10) == 0 {
		all := slices.SortedFunc(maps.Keys(w.cluster), cmpID)
		voter = w.keys[all[w.pick(len(all))]]
	}
	var cand identity.ID
	add := w.pick(2) == 0
	hostileVoter := w.hostile[w.cluster[voter.ID()]]
	switch {
	case add && hostileVoter:
		ms := w.members[w.cluster[voter.ID()]]
		cand = ms[w.pick(len(ms))].ID()
	case add:
		all := slices.SortedFunc(maps.Keys(w.cluster), cmpID)
		cand = all[w.pick(len(all))]
	default:
		cand = auths[w.pick(len(auths))]
		if hostileVoter && w.hostile[w.cluster[cand]] && w.pick(4) > 0 {
			return planned{}, false
		}
	}
	v := &Vote{Candidate: cand, Add: add}
	return planned{tx: w.c.tx(voter.Signing, v), kind: "vote", what: fmt.Sprintf("vote by %s for %s add %v", short(voter.ID()), short(cand), add),
		done: func(TxResult) {
			k := tallyKey(cand, add)
			if w.tally[k] == nil {
				w.tally[k] = map[identity.ID]bool{}
			}
			w.tally[k][voter.ID()] = true
		}}, true
}

// signers returns who signed the commit the next block carries: the
// validators that are up, each missing now and then; now and then a block
// does not say. A validator goes down, or comes back, now and then.
func (w *hostileWorld) signers() [][]byte {
	keys := slices.Sorted(maps.Keys(w.c.vals))
	if w.pick(8) == 0 && len(keys) > 0 {
		k := keys[w.pick(len(keys))]
		w.down[k] = !w.down[k]
	}
	if w.pick(12) == 0 {
		return nil
	}
	var out [][]byte
	for _, k := range keys {
		if !w.down[k] && w.pick(10) > 0 {
			out = append(out, ConsensusAddress([]byte(k)))
		}
	}
	return out
}

// check compares the chain with the model after a block.
func (w *hostileWorld) check() {
	w.t.Helper()
	auths := w.c.authorities()
	ids := map[identity.ID]bool{}
	keys := map[string]bool{}
	seats := map[uint32]int{}
	for _, a := range auths {
		if ids[a.ID] || keys[string(a.Consensus)] {
			w.fail("authority %s or its consensus key holds two seats: %v", short(a.ID), auths)
		}
		ids[a.ID], keys[string(a.Consensus)] = true, true
		var m Member
		w.c.mustQuery(MemberPath(a.ID), &m)
		if m.Role != identity.RoleAuthority || !bytes.Equal(m.Consensus, a.Consensus) || a.Power != testParams().AuthorityPower {
			w.fail("authority %+v is not the member %+v it should be", a, m)
		}
		if !w.leaving[a.ID] {
			seats[m.Cluster]++
		}
		delete(w.owed, a.ID)
	}
	for id := range w.leaving {
		if !ids[id] {
			delete(w.leaving, id)
		}
	}
	for _, cl := range w.clusters() {
		if seats[cl] > w.budget[cl] {
			w.fail("cluster %d (hostile %v) holds %d seats; genesis and votes gave it %d", cl, w.hostile[cl], seats[cl], w.budget[cl])
		}
		owed := 0
		for id := range w.owed {
			if w.cluster[id] == cl {
				owed++
			}
		}
		w.budget[cl] = min(w.budget[cl], seats[cl]+owed) // a seat lost is lost
	}
}

func (w *hostileWorld) fail(format string, args ...any) {
	w.t.Helper()
	w.t.Fatalf("height %d: %s\nthe block: %s", w.c.height, fmt.Sprintf(format, args...), strings.Join(w.trace, "; "))
}

func short(id identity.ID) string { return id.Hex()[:8] }
