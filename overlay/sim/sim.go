package sim

import (
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/vitalchain/vitalchain/overlay"
)

// Config describes one simulated network. Zero values take the defaults of
// DefaultConfig where noted.
type Config struct {
	Nodes int
	Seed  uint64
	// Range is the radio range in metres (default 100).
	Range float64
	// Side of the square area in metres; 0 sizes it so that the mean
	// degree is Degree (default 10).
	Side   float64
	Degree float64
	// Eligible is the fraction of nodes that may be heads (authorities),
	// in (0, 1], default 1; the others are patients' devices.
	Eligible float64
	// Loss is the probability that one receiver misses one message.
	Loss float64
	// Each message reaches each receiver after a delay drawn uniformly in
	// [DelayMin, DelayMax] (defaults 5 ms and 50 ms; at least 1 ms).
	DelayMin, DelayMax time.Duration
	// Period is the HELLO period (default 1 s); Duration the simulated
	// time (default 60 s).
	Period   time.Duration
	Duration time.Duration
	// Speed is the top speed of random-waypoint mobility in m/s (0: the
	// nodes do not move); each node draws a speed in [Speed/10, Speed] for
	// each leg and pauses Pause at each waypoint. Mobility stops at
	// MoveUntil (0: never).
	Speed     float64
	Pause     time.Duration
	MoveUntil time.Duration
	// At FailAt (default half of Duration), FailHeads random heads and a
	// fraction Fail of the other nodes crash.
	Fail      float64
	FailHeads int
	FailAt    time.Duration
	// Policy is the election run; Node tunes it (ID, Eligible and Policy
	// are set per node).
	Policy overlay.Policy
	Node   overlay.Config
	// Shuffle, when not zero, shuffles the messages delivered to a node in
	// the same millisecond with this seed (the result must not change).
	Shuffle uint64
	// Alerts is how many patient alerts the overhead is averaged over
	// (default 100).
	Alerts int
	// StopWhenConverged ends the run once the clustering has converged.
	StopWhenConverged bool
	// Bytes also encodes every message sent, to report bytes per node.
	Bytes bool
}

// DefaultConfig returns the defaults for n nodes.
func DefaultConfig(n int) Config {
	return Config{
		Nodes: n, Seed: 1, Range: 100, Degree: 10, Eligible: 1, Loss: 0.01,
		DelayMin: 5 * time.Millisecond, DelayMax: 50 * time.Millisecond,
		Period: time.Second, Duration: 60 * time.Second, Pause: 5 * time.Second, Alerts: 100,
	}
}

// stableRounds is how many periods a clustering must stay the same to count
// as converged.
const stableRounds = 5

func (c *Config) setDefaults() {
	d := DefaultConfig(c.Nodes)
	if c.Range == 0 {
		c.Range = d.Range
	}
	if c.Degree == 0 {
		c.Degree = d.Degree
	}
	if c.Eligible == 0 {
		c.Eligible = d.Eligible
	}
	if c.DelayMin == 0 && c.DelayMax == 0 {
		c.DelayMin, c.DelayMax = d.DelayMin, d.DelayMax
	}
	if c.Period == 0 {
		c.Period = d.Period
	}
	if c.Duration == 0 {
		c.Duration = d.Duration
	}
	if c.FailAt == 0 {
		c.FailAt = c.Duration / 2
	}
	if c.Alerts == 0 {
		c.Alerts = d.Alerts
	}
}

// ErrConfig reports a Config that cannot be simulated.
var ErrConfig = errors.New("invalid simulation config")

func (c *Config) validate() error {
	bad := func(format string, a ...any) error { return fmt.Errorf("%w: %s", ErrConfig, fmt.Sprintf(format, a...)) }
	switch {
	case c.Nodes < 1 || c.Nodes > 1_000_000:
		return bad("nodes %d not in 1..1000000", c.Nodes)
	case c.Range <= 0 || c.Side < 0 || c.Degree <= 0:
		return bad("range, side and degree must be positive")
	case c.Eligible <= 0 || c.Eligible > 1:
		return bad("eligible fraction %g not in (0, 1]", c.Eligible)
	case c.Loss < 0 || c.Loss >= 1:
		return bad("loss %g not in [0, 1)", c.Loss)
	case c.DelayMin < time.Millisecond || c.DelayMax < c.DelayMin || c.DelayMax > 10*time.Second:
		return bad("delays must satisfy 1ms <= min <= max <= 10s")
	case c.Period < 10*time.Millisecond || c.DelayMax >= c.Period:
		return bad("period must be at least 10ms and longer than the largest delay")
	case c.Duration < c.Period || c.Duration > 24*time.Hour:
		return bad("duration must be between one period and 24h")
	case c.Speed < 0 || c.Pause < 0 || c.MoveUntil < 0:
		return bad("speed, pause and move-until must not be negative")
	case c.Fail < 0 || c.Fail >= 1 || c.FailHeads < 0 || c.FailAt < 0:
		return bad("fail fraction in [0, 1), fail-heads and fail-at not negative")
	case c.Alerts < 0:
		return bad("alerts must not be negative")
	}
	return nil
}

// Sizes summarises cluster sizes (head included).
type Sizes struct {
	Min    int     `json:"min"`
	Median float64 `json:"median"`
	Max    int     `json:"max"`
	Mean   float64 `json:"mean"`
}

// Failures reports the crashes and how the overlay recovered.
type Failures struct {
	Killed      int `json:"killed"`
	HeadsKilled int `json:"heads_killed"`
	// TakeoverRounds: periods from a head's crash to the first
	// BecameHead of its cluster by a successor (median and max over the
	// clusters taken over); TakenOver counts those clusters.
	TakenOver      int     `json:"taken_over"`
	TakeoverMedian float64 `json:"takeover_rounds_median"`
	TakeoverMax    float64 `json:"takeover_rounds_max"`
	// TakeoverBoundMisses counts takeovers later than 3+r periods plus
	// two of slack, r being the successor's rank.
	TakeoverBoundMisses int `json:"takeover_bound_misses"`
	// RecoveredRounds: periods from the crash to the first period at which
	// the invariants hold again (-1: never).
	RecoveredRounds int `json:"recovered_rounds"`
}

// Result is what one run measured.
type Result struct {
	Policy   string `json:"policy"`
	Nodes    int    `json:"nodes"`
	Alive    int    `json:"alive"`
	Clusters int    `json:"clusters"`
	// ClusterSize counts each cluster's head and clustered members.
	ClusterSize Sizes `json:"cluster_size"`
	Singletons  int   `json:"singletons"`
	// ConvergeRounds is the first period at which every node has decided,
	// no heads are adjacent, there are no orphans, and the clustering then
	// stays the same for 5 periods (with mobility: the first period the
	// invariants hold); -1 if never.
	ConvergeRounds int `json:"converge_rounds"`
	// MessagesPerNode counts the messages sent until convergence (until
	// the end if it never converged) per node; BytesPerNode their encoded
	// size when measured.
	MessagesPerNode float64 `json:"messages_per_node"`
	BytesPerNode    float64 `json:"bytes_per_node,omitempty"`
	// SteadyMessages is the messages per node per period after
	// convergence (the HELLOs and heartbeats, plus any re-clustering).
	SteadyMessages float64 `json:"steady_messages_per_node_per_round"`
	// At the end of the run: adjacent head pairs; orphans (nodes in no
	// cluster although a head is in reach, or eligible); unreachable
	// (nodes that may not be heads and have no head in reach), of which
	// UnreachableNoEligible have no eligible neighbour at all.
	HeadsAdjacent         int `json:"heads_adjacent"`
	Orphans               int `json:"orphans"`
	Unreachable           int `json:"unreachable"`
	UnreachableNoEligible int `json:"unreachable_no_eligible_neighbour"`
	// OrphansMean and HeadsAdjacentMean average the orphans and the
	// adjacent head pairs over the periods after convergence (or after all
	// had first decided): transient violations, under mobility or crashes.
	OrphansMean       float64 `json:"orphans_mean"`
	HeadsAdjacentMean float64 `json:"heads_adjacent_mean"`
	// HeadChurnPerMin counts nodes gaining or losing the head role per
	// simulated minute after convergence (after the first period at which
	// all had decided if it never converged).
	HeadChurnPerMin float64 `json:"head_churn_per_min"`
	// Decisions counts the decisions taken, by type.
	Decisions map[string]int `json:"decisions"`
	// Rejected counts messages refused by Step (never expected here).
	Rejected uint64    `json:"rejected"`
	Failures *Failures `json:"failures,omitempty"`
	Overhead Overhead  `json:"overhead"`
	Rounds   int       `json:"rounds"`

	// Layout is the final state, for PlotClusters.
	Layout *Layout `json:"-"`
}

// Graph describes the simulated network at the start.
type Graph struct {
	Nodes            int     `json:"nodes"`
	Eligible         int     `json:"eligible"`
	Side             float64 `json:"side_m"`
	Range            float64 `json:"range_m"`
	MeanDegree       float64 `json:"mean_degree"`
	MinDegree        int     `json:"min_degree"`
	Components       int     `json:"components"`
	LargestComponent int     `json:"largest_component"`
}

// Layout is the final placement and clustering of a run.
type Layout struct {
	Side     float64
	Range    float64
	X, Y     []float64
	Alive    []bool
	Eligible []bool
	// Head is each node's head (itself for a head), -1 when in no cluster
	// (dead nodes included).
	Head []int32
	Adj  [][]int32
}

// isHead reports whether node i heads a cluster.
func (l *Layout) isHead(i int32) bool { return l.Head[i] == i }

type delivery struct {
	to  int32
	msg *overlay.Message
}

type snap struct {
	ok        bool // all decided, no adjacent heads, no orphans
	decided   bool
	hash      uint64
	sent      int64
	bytes     int64
	headFlips int
	orphans   int
	adjacent  int
}

// engine runs one simulation.
type engine struct {
	cfg      Config
	period   int64
	w        *world
	ids      []overlay.ID
	index    map[overlay.ID]int32
	nodes    []*overlay.Node
	eligible []bool
	byPhase  [][]int32
	channel  *rand.Rand
	shuffle  *rand.Rand
	wheel    [][]delivery
	inbox    [][]*overlay.Message
	touched  []int32
	stamp    []int64
	tickDue  []bool

	now         int64 // the next millisecond to simulate
	sent, bytes int64
	decisions   map[string]int
	snaps       []snap
	wasHead     []bool

	// failures
	killedAt      int64
	killedCluster map[overlay.ClusterID][]overlay.ID // cluster -> successors of the killed head
	takeovers     []float64
	boundMisses   int
	failures      *Failures
}

// Run simulates one network with cfg.Policy and returns what it measured
// and the graph it ran on.
func Run(cfg Config) (Result, Graph, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return Result{}, Graph{}, err
	}
	e := newEngine(cfg)
	g := e.graph()
	e.run()
	return e.result(), g, nil
}

func newEngine(cfg Config) *engine {
	place := rand.New(rand.NewPCG(cfg.Seed, 1))
	side := cfg.Side
	if side == 0 {
		side = sideFor(cfg.Nodes, cfg.Range, cfg.Degree)
	}
	e := &engine{
		cfg: cfg, period: cfg.Period.Milliseconds(),
		w:       newWorld(cfg.Nodes, side, cfg.Range, place),
		index:   make(map[overlay.ID]int32, cfg.Nodes),
		channel: rand.New(rand.NewPCG(cfg.Seed, 2)),
		wheel:   make([][]delivery, cfg.DelayMax.Milliseconds()+1),
		inbox:   make([][]*overlay.Message, cfg.Nodes),
		stamp:   make([]int64, cfg.Nodes),
		tickDue: make([]bool, cfg.Nodes),
		wasHead: make([]bool, cfg.Nodes),

		decisions: map[string]int{},
	}
	if cfg.Shuffle != 0 {
		e.shuffle = rand.New(rand.NewPCG(cfg.Shuffle, 4))
	}
	e.byPhase = make([][]int32, e.period)
	for i := range cfg.Nodes {
		id := nodeID(cfg.Seed, i)
		e.ids = append(e.ids, id)
		e.index[id] = int32(i)
		el := place.Float64() < cfg.Eligible
		e.eligible = append(e.eligible, el)
		nc := cfg.Node
		nc.ID, nc.Eligible, nc.Policy, nc.Incarnation = id, el, cfg.Policy, 1
		n, err := overlay.New(nc)
		if err != nil {
			panic(err) // the ID is not zero and the policy is known
		}
		e.nodes = append(e.nodes, n)
		ph := place.Int64N(e.period)
		e.byPhase[ph] = append(e.byPhase[ph], int32(i))
		e.stamp[i] = -1
	}
	if cfg.Speed > 0 {
		e.w.startMobility(rand.New(rand.NewPCG(cfg.Seed, 3)), cfg.Speed/10, cfg.Speed, cfg.Pause.Milliseconds())
	}
	return e
}

func (e *engine) graph() Graph {
	g := Graph{Nodes: e.cfg.Nodes, Side: e.w.side, Range: e.w.rng, MinDegree: math.MaxInt}
	sum := 0
	for i, a := range e.w.adj {
		sum += len(a)
		g.MinDegree = min(g.MinDegree, len(a))
		if e.eligible[i] {
			g.Eligible++
		}
	}
	g.MeanDegree = float64(sum) / float64(e.cfg.Nodes)
	_, sizes := components(e.w.adj, e.w.alive)
	g.Components = len(sizes)
	g.LargestComponent = slices.Max(sizes)
	return g
}

const moveStep = 200 // ms between mobility updates

func (e *engine) run() { e.runUntil(e.cfg.Duration.Milliseconds()) }

func (e *engine) runUntil(end int64) {
	failAt := int64(-1)
	if e.cfg.Fail > 0 || e.cfg.FailHeads > 0 {
		failAt = e.cfg.FailAt.Milliseconds()
	}
	moveUntil := e.cfg.MoveUntil.Milliseconds()
	W := int64(len(e.wheel))
	dmin, dspan := e.cfg.DelayMin.Milliseconds(), e.cfg.DelayMax.Milliseconds()-e.cfg.DelayMin.Milliseconds()+1
	for t := e.now; t <= end; t++ {
		e.now = t + 1
		if e.w.mob != nil && t > 0 && t%moveStep == 0 && (moveUntil == 0 || t <= moveUntil) {
			e.w.move(t, moveStep)
		}
		if t == failAt {
			e.fail(t)
		}
		slot := e.wheel[t%W]
		for _, d := range slot {
			if e.w.alive[d.to] {
				e.inbox[d.to] = append(e.inbox[d.to], d.msg)
				e.touch(d.to, t)
			}
		}
		clear(slot)
		e.wheel[t%W] = slot[:0]
		for _, i := range e.byPhase[t%e.period] {
			if e.w.alive[i] {
				e.tickDue[i] = true
				e.touch(i, t)
			}
		}
		for _, i := range e.touched {
			n := e.nodes[i]
			in := e.inbox[i]
			if e.shuffle != nil {
				e.shuffle.Shuffle(len(in), func(a, b int) { in[a], in[b] = in[b], in[a] })
			}
			for _, m := range in {
				_ = n.Step(*m) // refusals are counted by the node
			}
			clear(in)
			e.inbox[i] = in[:0]
			if e.tickDue[i] {
				n.Tick()
				e.tickDue[i] = false
			}
			out, decs := n.Ready()
			e.record(i, decs, t)
			for k := range out {
				m := &out[k]
				e.sent++
				if e.cfg.Bytes {
					b, err := m.Encode()
					if err != nil {
						panic(fmt.Sprintf("node %d sent an invalid message: %v", i, err))
					}
					e.bytes += int64(len(b))
				}
				for _, j := range e.w.adj[i] {
					if e.cfg.Loss > 0 && e.channel.Float64() < e.cfg.Loss {
						continue
					}
					at := (t + dmin + e.channel.Int64N(dspan)) % W
					e.wheel[at] = append(e.wheel[at], delivery{j, m})
				}
			}
		}
		e.touched = e.touched[:0]
		if t > 0 && t%e.period == 0 {
			e.snapshot(t)
			if e.cfg.StopWhenConverged && e.converged() >= 0 {
				break
			}
		}
	}
}

func (e *engine) touch(i int32, t int64) {
	if e.stamp[i] != t {
		e.stamp[i] = t
		e.touched = append(e.touched, i)
	}
}

func (e *engine) record(i int32, decs []overlay.Decision, t int64) {
	for _, d := range decs {
		switch d := d.(type) {
		case overlay.BecameHead:
			e.decisions["became_head"]++
			if succ, ok := e.killedCluster[d.Cluster]; ok && d.Prev != (overlay.ID{}) {
				delete(e.killedCluster, d.Cluster)
				rounds := float64(t-e.killedAt) / float64(e.period)
				e.takeovers = append(e.takeovers, rounds)
				rank := slices.Index(succ, e.ids[i])
				if rank < 0 || rounds > float64(overlay.MissedHeartbeats+rank+2) {
					e.boundMisses++
				}
			}
		case overlay.Resigned:
			e.decisions["resigned"]++
		case overlay.Joined:
			e.decisions["joined"]++
		case overlay.HeadChanged:
			e.decisions["head_changed"]++
		case overlay.Left:
			e.decisions["left"]++
		case overlay.Unclustered:
			e.decisions["unclustered"]++
		}
	}
}

// fail crashes FailHeads heads and a fraction Fail of the other nodes.
func (e *engine) fail(t int64) {
	rnd := rand.New(rand.NewPCG(e.cfg.Seed, 5))
	var heads []int
	for i, n := range e.nodes {
		if e.w.alive[i] && n.Role() == overlay.RoleHead {
			heads = append(heads, i)
		}
	}
	rnd.Shuffle(len(heads), func(a, b int) { heads[a], heads[b] = heads[b], heads[a] })
	f := &Failures{RecoveredRounds: -1}
	e.killedAt = t
	e.killedCluster = map[overlay.ClusterID][]overlay.ID{}
	kill := func(i int) {
		st := e.nodes[i].Status()
		if st.Role == overlay.RoleHead {
			f.HeadsKilled++
			e.killedCluster[st.Cluster] = st.Successors
		}
		e.w.alive[i] = false
		f.Killed++
	}
	for _, i := range heads[:min(len(heads), e.cfg.FailHeads)] {
		kill(i)
	}
	for i := range e.nodes {
		if e.w.alive[i] && rnd.Float64() < e.cfg.Fail {
			kill(i)
		}
	}
	e.w.relink()
	e.failures = f
}

// state classifies node i at the current time.
type state uint8

const (
	stDead state = iota
	stUndecided
	stHead
	stMember
	stUnreachable
	stOrphan
)

// headOf returns i's head index when i is clustered: a head, or a member
// whose head is alive, a head of the same cluster, and a neighbour.
func (e *engine) headOf(i int32) int32 {
	n := e.nodes[i]
	switch n.Role() {
	case overlay.RoleHead:
		return i
	case overlay.RoleMember:
		hid, c := n.Head()
		h, ok := e.index[hid]
		if !ok || !e.w.alive[h] || e.nodes[h].Role() != overlay.RoleHead {
			return -1
		}
		if _, hc := e.nodes[h].Head(); hc != c || !e.w.linked(i, h) {
			return -1
		}
		return h
	}
	return -1
}

func (e *engine) classify(i int32) (state, int32) {
	if !e.w.alive[i] {
		return stDead, -1
	}
	if h := e.headOf(i); h >= 0 {
		if h == i {
			return stHead, h
		}
		return stMember, h
	}
	if e.nodes[i].Role() == overlay.RoleUndecided {
		return stUndecided, -1
	}
	if !e.eligible[i] {
		reach := false
		for _, j := range e.w.adj[i] {
			if e.nodes[j].Role() == overlay.RoleHead {
				reach = true
				break
			}
		}
		if !reach {
			return stUnreachable, -1
		}
	}
	return stOrphan, -1
}

// census counts the invariant violations at the current time.
type census struct {
	states        []state
	heads         []int32
	adjacent      int
	orphans       int
	undecided     int
	unreachable   int
	unreachNoElig int
}

func (e *engine) census() census {
	c := census{states: make([]state, e.cfg.Nodes), heads: make([]int32, e.cfg.Nodes)}
	for i := range e.nodes {
		s, h := e.classify(int32(i))
		c.states[i], c.heads[i] = s, h
		switch s {
		case stUndecided:
			c.undecided++
			c.orphans++ // an undecided node is in no cluster either
		case stOrphan:
			c.orphans++
		case stUnreachable:
			c.unreachable++
			if !slices.ContainsFunc(e.w.adj[i], func(j int32) bool { return e.eligible[j] }) {
				c.unreachNoElig++
			}
		}
	}
	for i := range e.nodes {
		if c.states[i] != stHead {
			continue
		}
		for _, j := range e.w.adj[i] {
			if int(j) > i && c.states[j] == stHead {
				c.adjacent++
			}
		}
	}
	return c
}

func (e *engine) snapshot(t int64) {
	c := e.census()
	h := fnv.New64a()
	var b [9]byte
	flips := 0
	for i, s := range c.states {
		b[0] = byte(s)
		v := uint64(c.heads[i])
		for k := range 8 {
			b[1+k] = byte(v >> (8 * k))
		}
		h.Write(b[:])
		isHead := s == stHead
		if isHead != e.wasHead[i] {
			flips++
			e.wasHead[i] = isHead
		}
	}
	s := snap{
		decided: c.undecided == 0, hash: h.Sum64(), sent: e.sent, bytes: e.bytes, headFlips: flips,
		orphans: c.orphans, adjacent: c.adjacent,
	}
	s.ok = s.decided && c.adjacent == 0 && c.orphans == 0
	e.snaps = append(e.snaps, s)
	if e.failures != nil && e.failures.RecoveredRounds < 0 && s.ok && t > e.killedAt {
		e.failures.RecoveredRounds = int(math.Ceil(float64(t-e.killedAt) / float64(e.period)))
	}
}

// converged returns the index of the first snapshot from which the run
// counts as converged, or -1.
func (e *engine) converged() int {
	for k, s := range e.snaps {
		if !s.ok {
			continue
		}
		if e.cfg.Speed > 0 {
			return k
		}
		if k+stableRounds >= len(e.snaps) {
			return -1
		}
		stable := true
		for _, s2 := range e.snaps[k+1 : k+1+stableRounds] {
			if s2.hash != s.hash {
				stable = false
				break
			}
		}
		if stable {
			return k
		}
	}
	return -1
}

func (e *engine) result() Result {
	c := e.census()
	r := Result{
		Policy: e.cfg.Policy.String(), Nodes: e.cfg.Nodes, ConvergeRounds: -1,
		HeadsAdjacent: c.adjacent, Orphans: c.orphans, Unreachable: c.unreachable,
		UnreachableNoEligible: c.unreachNoElig, Decisions: e.decisions, Rounds: len(e.snaps),
	}
	size := map[int32]int{}
	for i, s := range c.states {
		if s != stDead {
			r.Alive++
		}
		if s == stHead || s == stMember {
			size[c.heads[i]]++
		}
		r.Rejected += e.nodes[i].Stats().Rejected
	}
	r.Clusters = len(size)
	var sizes []int
	for _, s := range size {
		sizes = append(sizes, s)
		if s == 1 {
			r.Singletons++
		}
	}
	r.ClusterSize = summarise(sizes)

	n := float64(e.cfg.Nodes)
	k := e.converged()
	from := k
	if k >= 0 {
		r.ConvergeRounds = k + 1 // snapshot k is taken at the end of period k+1
		r.MessagesPerNode = float64(e.snaps[k].sent) / n
		r.BytesPerNode = float64(e.snaps[k].bytes) / n
	} else {
		r.MessagesPerNode = float64(e.sent) / n
		r.BytesPerNode = float64(e.bytes) / n
		from = slices.IndexFunc(e.snaps, func(s snap) bool { return s.decided })
	}
	if from >= 0 && from+1 < len(e.snaps) {
		last := e.snaps[len(e.snaps)-1]
		periods := float64(len(e.snaps) - 1 - from)
		r.SteadyMessages = float64(last.sent-e.snaps[from].sent) / n / periods
		flips, orphans, adjacent := 0, 0, 0
		for _, s := range e.snaps[from+1:] {
			flips += s.headFlips
			orphans += s.orphans
			adjacent += s.adjacent
		}
		r.OrphansMean = round3(float64(orphans) / periods)
		r.HeadsAdjacentMean = round3(float64(adjacent) / periods)
		r.HeadChurnPerMin = float64(flips) / (periods * e.cfg.Period.Minutes())
	}
	if f := e.failures; f != nil {
		f.TakenOver = len(e.takeovers)
		if len(e.takeovers) > 0 {
			f.TakeoverMedian = median(e.takeovers)
			f.TakeoverMax = slices.Max(e.takeovers)
		}
		f.TakeoverBoundMisses = e.boundMisses
		r.Failures = f
	}
	lay := &Layout{
		Side: e.w.side, Range: e.w.rng, X: slices.Clone(e.w.x), Y: slices.Clone(e.w.y),
		Alive: slices.Clone(e.w.alive), Eligible: e.eligible, Head: c.heads, Adj: e.w.adj,
	}
	r.Layout = lay
	r.Overhead = measureOverhead(lay, e.cfg.Alerts, rand.New(rand.NewPCG(e.cfg.Seed, 6)))
	return r
}

func summarise(xs []int) Sizes {
	if len(xs) == 0 {
		return Sizes{}
	}
	slices.Sort(xs)
	f := make([]float64, len(xs))
	sum := 0
	for i, x := range xs {
		f[i] = float64(x)
		sum += x
	}
	return Sizes{Min: xs[0], Max: xs[len(xs)-1], Median: median(f), Mean: round3(float64(sum) / float64(len(xs)))}
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	m := len(s) / 2
	if len(s)%2 == 1 {
		return s[m]
	}
	return (s[m-1] + s[m]) / 2
}

func round3(x float64) float64 { return math.Round(x*1000) / 1000 }
