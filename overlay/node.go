package overlay

import (
	"errors"
	"fmt"
	"slices"
)

// fastSilent is the head's silence, in periods, after which a moving member
// joins another head in reach.
var fastSilent = 2

// settle is how many periods after HelloRounds a node still learns its
// neighbourhood at start (a few HELLOs lost) without counting as moving.
const settle = 2

// MissedHeartbeats is how many HELLO periods without a message make a
// neighbour expire and a member suspect its head.
const MissedHeartbeats = 3

// Defaults of Config.
const (
	DefaultHelloRounds = 3
	DefaultMinPts      = 3
	DefaultJoinPeriods = 3
	DefaultHysteresis  = 2
	DefaultStability   = 3
	DefaultSuccessors  = 3
	DefaultMoving      = 30
	DefaultCloser      = 2
)

// Config configures a Node. Zero numbers take the defaults above.
type Config struct {
	// ID is the node's ID; it must not be zero.
	ID ID
	// Eligible says the node may be a head (an authority): a trusted
	// machine, not a patient's phone.
	Eligible bool
	// Incarnation must grow each time the node restarts (a persisted
	// counter, or the boot time in seconds), so that neighbours prefer the
	// new messages to the ones they remember.
	Incarnation uint32
	// Policy is PolicyDensity (default) or the PolicyLowestID baseline.
	Policy Policy
	// HelloRounds (R) is how many HELLO periods a node listens before it
	// measures its density and takes part in elections.
	HelloRounds int
	// MinPts: a member of a cluster smaller than MinPts (head included)
	// moves, once it has been a member for JoinPeriods, to a neighbouring
	// cluster larger than its own, without waiting for the hysteresis. (The
	// head itself stays: it has no head in reach to join, since heads are
	// never neighbours, and must stay in a cluster.)
	MinPts      int
	JoinPeriods int
	// Hysteresis (H) and Stability (S): a member moves to another head in
	// reach whose cluster has been larger than its own by at least H for S
	// consecutive heartbeats.
	Hysteresis int
	Stability  int
	// Successors is the length of a head's successor list; negative for
	// none. PolicyLowestID has none.
	Successors int
	// Moving (PolicyDensity): a node that lost a neighbour, or, after its
	// first HelloRounds+2 periods, met a new one or heard a neighbour's
	// list change, counts itself as moving for this many periods
	// (negative: never). A moving member re-affiliates
	// after one missed heartbeat of its head instead of MissedHeartbeats,
	// when another head is in reach; joins the nearest head in reach (the
	// one it shares most neighbours with) rather than the largest cluster;
	// and moves to a head that shares at least Closer more neighbours with
	// it than its own head does, before its head's link breaks. A static
	// network never sees a neighbour come or go after its start, so it
	// keeps the election described in the package comment.
	Moving int
	Closer int
}

func (c *Config) setDefaults() {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.HelloRounds, DefaultHelloRounds)
	def(&c.MinPts, DefaultMinPts)
	def(&c.JoinPeriods, DefaultJoinPeriods)
	def(&c.Hysteresis, DefaultHysteresis)
	def(&c.Stability, DefaultStability)
	def(&c.Successors, DefaultSuccessors)
	def(&c.Moving, DefaultMoving)
	def(&c.Closer, DefaultCloser)
	if c.Moving < 0 || c.Policy == PolicyLowestID {
		c.Moving = 0
	}
	if c.Successors < 0 || c.Policy == PolicyLowestID {
		c.Successors = 0
	}
	c.Successors = min(c.Successors, MaxSuccessors)
}

// Stats counts what a Node received.
type Stats struct {
	Received uint64 // messages accepted by Step
	Stale    uint64 // accepted but older than what the node knew of the sender
	Rejected uint64 // refused by Step (invalid, from itself, table full)
}

// Status is a snapshot of a Node's state.
type Status struct {
	ID       ID
	Role     Role
	Head     ID // itself when head; zero when undecided or unclustered
	Cluster  ClusterID
	Epoch    uint64
	Size     int // a head's cluster size, itself included; 0 otherwise
	Key      Key
	Measured bool
	// Neighbours is the number of neighbours in the table.
	Neighbours int
	// Successors is a head's successor list, or the list a member last
	// heard from its head.
	Successors []ID
}

// peer is what a node knows of a neighbour.
type peer struct {
	id       ID
	seq      uint64 // of the message the state below came from
	silent   int    // ticks since the last message
	eligible bool
	role     Role
	head     ID
	cluster  ClusterID
	epoch    uint64
	size     int
	measured bool
	rho      uint32
	degree   uint16
	cover    uint16
	elig     uint16 // its eligible neighbours, when it may not be head
	succ     []ID
	nbrs     []ID   // from the newest HELLO
	nbrSeq   uint64 // of that HELLO
	nbrTick  int    // the node's tick count when that HELLO arrived
}

func (p *peer) key() Key { return Key{Cover: p.cover, Rho: p.rho, Degree: p.degree, ID: p.id} }

func (p *peer) isHead() bool { return p.role == RoleHead && p.eligible }

// Node is one participant of the overlay. It is not safe for concurrent
// use; its caller serialises Step, Tick and Ready.
type Node struct {
	cfg   Config
	ctr   uint32
	ticks int

	peers []*peer // sorted by ID

	measured bool
	rho      uint32
	degree   uint16
	cover    uint16
	elig     uint16

	role    Role
	head    ID
	cluster ClusterID
	epoch   uint64
	since   int // tick at which the current membership or headship began
	// moved is the tick at which the node last lost a neighbour or met a
	// new one after its start (0: never).
	moved int

	// As a member: what it heard of its head.
	headSilent int
	headSucc   []ID
	migrate    int

	// As a head.
	succ    []ID
	founded uint32 // clusters founded in this incarnation

	// topology is set when the neighbour table or a neighbour's list
	// changed (the density must be measured again); dirty when anything
	// the election rules read changed (they must run again).
	topology  bool
	dirty     bool
	helloDue  bool
	event     Kind
	eventTo   ID
	decisions []Decision
	stats     Stats
}

// New returns a node that has heard nobody yet.
func New(cfg Config) (*Node, error) {
	if cfg.ID == (ID{}) {
		return nil, errors.New("overlay: config without an ID")
	}
	if cfg.Policy > PolicyLowestID {
		return nil, fmt.Errorf("overlay: unknown policy %d", cfg.Policy)
	}
	if cfg.HelloRounds < 0 || cfg.MinPts < 0 || cfg.JoinPeriods < 0 || cfg.Hysteresis < 0 || cfg.Stability < 0 {
		return nil, errors.New("overlay: negative config value")
	}
	cfg.setDefaults()
	return &Node{cfg: cfg}, nil
}

// ID returns the node's ID.
func (n *Node) ID() ID { return n.cfg.ID }

// Role returns the node's role.
func (n *Node) Role() Role { return n.role }

// Head returns the node's head (itself when head) and cluster; zero values
// when it is in no cluster.
func (n *Node) Head() (ID, ClusterID) { return n.head, n.cluster }

// Stats returns the counts of messages received.
func (n *Node) Stats() Stats { return n.stats }

// Status returns a snapshot of the node's state.
func (n *Node) Status() Status {
	s := Status{
		ID: n.cfg.ID, Role: n.role, Head: n.head, Cluster: n.cluster, Epoch: n.epoch,
		Key: n.key(), Measured: n.measured, Neighbours: len(n.peers),
	}
	switch n.role {
	case RoleHead:
		s.Size = n.size()
		s.Successors = slices.Clone(n.succ)
	case RoleMember:
		s.Successors = slices.Clone(n.headSucc)
	}
	return s
}

func (n *Node) key() Key { return Key{Cover: n.cover, Rho: n.rho, Degree: n.degree, ID: n.cfg.ID} }

// above reports whether key a ranks above key b under the node's policy.
func (n *Node) above(a, b Key) bool { return compareKeys(n.cfg.Policy, a, b) < 0 }

func (n *Node) find(id ID) (int, bool) {
	return slices.BinarySearchFunc(n.peers, id, func(p *peer, id ID) int { return compareID(p.id, id) })
}

func (n *Node) peer(id ID) *peer {
	if i, ok := n.find(id); ok {
		return n.peers[i]
	}
	return nil
}

// Step records a message received from a neighbour. It only updates the
// node's tables, so the order of the messages delivered between two calls
// of Ready does not matter. A message that is invalid, comes from the node
// itself, or would overflow the neighbour table is refused with an error
// and counted.
func (n *Node) Step(m Message) error {
	if err := m.Validate(); err != nil {
		n.stats.Rejected++
		return err
	}
	if m.From == n.cfg.ID {
		n.stats.Rejected++
		return ErrFromSelf
	}
	i, ok := n.find(m.From)
	if !ok {
		if len(n.peers) >= MaxNeighbours {
			n.stats.Rejected++
			return fmt.Errorf("%w: %d neighbours", ErrTableFull, len(n.peers))
		}
		n.peers = slices.Insert(n.peers, i, &peer{id: m.From})
		n.topology, n.dirty = true, true
		if n.ticks > n.cfg.HelloRounds+settle {
			n.moved = n.ticks
		}
	}
	p := n.peers[i]
	n.stats.Received++
	p.silent = 0
	if m.From == n.head && n.role == RoleMember {
		n.headSilent = 0
	}
	if m.Kind == KindHello && m.Seq > p.nbrSeq {
		if !slices.Equal(p.nbrs, m.Neighbours) {
			if ok && n.ticks > n.cfg.HelloRounds+settle {
				n.moved = n.ticks // a neighbour's neighbourhood changed
			}
			p.nbrs = append(p.nbrs[:0], m.Neighbours...)
			n.topology, n.dirty = true, true
		}
		p.nbrSeq = m.Seq
		p.nbrTick = n.ticks
	}
	if ok && m.Seq <= p.seq {
		if m.Seq < p.seq {
			n.stats.Stale++
		}
		return nil
	}
	p.seq = m.Seq
	if p.eligible != m.Eligible || p.role != m.Role || p.head != m.Head || p.cluster != m.Cluster ||
		p.epoch != m.Epoch || p.size != int(m.Size) || p.measured != m.Measured || p.rho != m.Rho ||
		p.degree != m.Degree || p.cover != m.Cover || !slices.Equal(p.succ, m.Successors) {
		n.dirty = true
	}
	if p.eligible != m.Eligible || p.elig != m.Eligibles {
		n.topology = true
	}
	p.eligible = m.Eligible
	p.role = m.Role
	p.head = m.Head
	p.cluster = m.Cluster
	p.epoch = m.Epoch
	p.size = int(m.Size)
	p.measured = m.Measured
	p.rho = m.Rho
	p.degree = m.Degree
	p.cover = m.Cover
	p.elig = m.Eligibles
	p.succ = append(p.succ[:0], m.Successors...)
	return nil
}

// Tick advances the node by one HELLO period: neighbours silent for
// MissedHeartbeats periods expire, the density is measured again, and a
// HELLO (a heartbeat, from a head) is due at the next Ready.
func (n *Node) Tick() {
	n.ticks++
	kept := n.peers[:0]
	for _, p := range n.peers {
		p.silent++
		if p.silent <= MissedHeartbeats {
			kept = append(kept, p)
		}
	}
	if len(kept) != len(n.peers) {
		n.topology = true
		n.moved = n.ticks
	}
	clear(n.peers[len(kept):])
	n.peers = kept
	n.dirty = true
	if n.role == RoleMember {
		n.headSilent++
	}
	if n.ticks >= n.cfg.HelloRounds && (n.topology || !n.measured) {
		n.measure()
		n.topology = false
	}
	n.helloDue = true
	switch n.role {
	case RoleMember:
		n.countMigration()
	case RoleHead:
		n.rankSuccessors()
	}
}

// measure computes the node's density from its neighbour table.
func (n *Node) measure() {
	pairs := 0
	for _, p := range n.peers {
		pairs += n.common(p.nbrs)
	}
	n.measured = true
	n.degree = uint16(len(n.peers))
	n.rho = Rho(len(n.peers), pairs)
	n.cover, n.elig = 0, 0
	for _, p := range n.peers {
		switch {
		case !n.cfg.Eligible && p.eligible:
			n.elig++
		case n.cfg.Eligible && n.cfg.Policy == PolicyDensity && !p.eligible && p.elig == 1 && slices.Contains(p.nbrs, n.cfg.ID):
			n.cover++
		}
	}
}

// common counts the IDs of the sorted list ids that are in the table.
func (n *Node) common(ids []ID) int {
	return commonBy(ids, n.peers, func(p *peer) ID { return p.id })
}

// countMigration counts the consecutive periods in which another head in
// reach had a cluster larger than this member's by Hysteresis.
func (n *Node) countMigration() {
	if n.cfg.Policy != PolicyDensity {
		return
	}
	if n.moving() {
		n.migrate = 0 // a moving member keeps to the nearest head instead
		return
	}
	h := n.peer(n.head)
	if h == nil || !h.isHead() {
		n.migrate = 0
		return
	}
	if n.bestHead(h.size+n.cfg.Hysteresis, n.head) != nil {
		n.migrate++
	} else {
		n.migrate = 0
	}
}

// rankSuccessors ranks a head's eligible members by how many of the other
// members each reaches (a successor that reaches more keeps more of the
// cluster), then by key.
func (n *Node) rankSuccessors() {
	n.succ = n.succ[:0]
	if n.cfg.Successors == 0 {
		return
	}
	var members []ID
	for _, p := range n.peers {
		if n.isMember(p) {
			members = append(members, p.id)
		}
	}
	type cand struct {
		p     *peer
		cover int
	}
	var cs []cand
	for _, p := range n.peers {
		if p.eligible && n.isMember(p) {
			cs = append(cs, cand{p, common(p.nbrs, members)})
		}
	}
	slices.SortFunc(cs, func(a, b cand) int {
		if a.cover != b.cover {
			return b.cover - a.cover
		}
		return compareKeys(n.cfg.Policy, a.p.key(), b.p.key())
	})
	for _, c := range cs[:min(len(cs), n.cfg.Successors)] {
		n.succ = append(n.succ, c.p.id)
	}
}

// common counts the IDs in both sorted lists.
func common(a, b []ID) int { return commonBy(a, b, func(id ID) ID { return id }) }

// commonBy counts the IDs of the sorted list a that are among the IDs of
// the elements of b, sorted by them.
func commonBy[T any](a []ID, b []T, id func(T) ID) int {
	c, i, j := 0, 0, 0
	for i < len(a) && j < len(b) {
		switch d := compareID(a[i], id(b[j])); {
		case d < 0:
			i++
		case d > 0:
			j++
		default:
			c++
			i++
			j++
		}
	}
	return c
}

// moving reports whether the node has seen its neighbourhood change in the
// last Moving periods.
func (n *Node) moving() bool {
	return n.cfg.Moving > 0 && n.moved > 0 && n.ticks-n.moved < n.cfg.Moving
}

// shared counts the neighbours the node shares with p: in a radio network,
// the closer two nodes are, the more neighbours they share.
func (n *Node) shared(p *peer) int { return n.common(p.nbrs) }

func (n *Node) isMember(p *peer) bool {
	return p.role == RoleMember && p.head == n.cfg.ID && p.cluster == n.cluster
}

// size is the size of the node's cluster when it is a head.
func (n *Node) size() int {
	s := 1
	for _, p := range n.peers {
		if n.isMember(p) {
			s++
		}
	}
	return s
}

// Ready takes the node's decisions on what it has learnt since the last
// call, and returns the messages to broadcast to its neighbours and the
// decisions taken, in order. The caller owns both slices.
func (n *Node) Ready() (out []Message, decisions []Decision) {
	if n.ticks >= n.cfg.HelloRounds && n.dirty {
		n.evaluate()
		n.dirty = false
	}
	if n.event != 0 {
		out = append(out, n.message(n.event, n.eventTo))
		n.event, n.eventTo = 0, ID{}
	}
	if n.helloDue {
		out = append(out, n.message(KindHello, ID{}))
		n.helloDue = false
	}
	decisions, n.decisions = n.decisions, nil
	return out, decisions
}

func (n *Node) message(k Kind, to ID) Message {
	n.ctr++
	m := Message{
		Kind: k, From: n.cfg.ID, Seq: uint64(n.cfg.Incarnation)<<32 | uint64(n.ctr), To: to,
		Eligible: n.cfg.Eligible, Role: n.role, Head: n.head, Cluster: n.cluster, Epoch: n.epoch,
		Measured: n.measured, Rho: n.rho, Degree: n.degree, Cover: n.cover, Eligibles: n.elig,
	}
	if n.role == RoleHead {
		m.Size = uint16(min(n.size(), MaxNeighbours+1))
		m.Successors = slices.Clone(n.succ)
	}
	if k == KindHello && len(n.peers) > 0 {
		m.Neighbours = make([]ID, len(n.peers))
		for i, p := range n.peers {
			m.Neighbours[i] = p.id
		}
	}
	return m
}

// evaluate applies the election rules until the node's state settles.
func (n *Node) evaluate() {
	for range 4 {
		role, head, cluster := n.role, n.head, n.cluster
		switch n.role {
		case RoleUndecided, RoleUnclustered:
			n.decide()
		case RoleHead:
			n.evalHead()
		case RoleMember:
			n.evalMember()
		}
		if n.role == role && n.head == head && n.cluster == cluster {
			return
		}
	}
}

// bestHead returns the head in reach to join, other than except, whose
// cluster has at least minSize nodes: the largest cluster, then the
// highest key (under PolicyLowestID, the lowest ID).
func (n *Node) bestHead(minSize int, except ID) *peer {
	var best *peer
	near, bestShared := n.moving(), 0
	for _, p := range n.peers {
		if !p.isHead() || p.id == except || p.size < minSize {
			continue
		}
		sh := 0
		if near {
			sh = n.shared(p)
		}
		if best == nil {
			best, bestShared = p, sh
			continue
		}
		if near && sh != bestShared {
			if sh > bestShared {
				best, bestShared = p, sh
			}
			continue
		}
		if n.cfg.Policy == PolicyDensity && p.size != best.size {
			if p.size > best.size {
				best = p
			}
			continue
		}
		if n.above(p.key(), best.key()) {
			best = p
		}
	}
	return best
}

// decide is the election of a node in no cluster.
func (n *Node) decide() {
	if h := n.bestHead(0, ID{}); h != nil {
		n.join(h)
		return
	}
	if !n.cfg.Eligible {
		for _, p := range n.peers {
			if p.eligible && p.role == RoleUndecided {
				return // it may become a head: wait
			}
		}
		if n.role != RoleUnclustered {
			n.role = RoleUnclustered
			n.decisions = append(n.decisions, Unclustered{})
			n.event = KindLeave
		}
		return
	}
	// Wait for every eligible neighbour of higher key still undecided.
	for _, p := range n.peers {
		if !p.eligible || p.role != RoleUndecided {
			continue
		}
		if !p.measured || n.above(p.key(), n.key()) {
			return
		}
	}
	n.becomeHead(n.newCluster(), 1, ID{})
}

// betterClaim reports whether the claim (epoch e1, head a) to a cluster
// beats the claim (e2, b): a higher epoch, then the lower ID.
func betterClaim(e1 uint64, a ID, e2 uint64, b ID) bool {
	return e1 > e2 || e1 == e2 && compareID(a, b) < 0
}

func (n *Node) evalHead() {
	self := n.cfg.ID
	for _, p := range n.peers {
		switch {
		case p.isHead() && p.cluster == n.cluster:
			// A neighbour claims this cluster too.
			if betterClaim(p.epoch, p.id, n.epoch, self) {
				n.resign(ReasonSuperseded)
				return
			}
		case p.role == RoleMember && p.cluster == n.cluster && p.head != self && n.peer(p.head) == nil:
			// A claimant two hops away, learnt from its member.
			if betterClaim(p.epoch, p.head, n.epoch, self) {
				n.decisions = append(n.decisions, Resigned{Cluster: n.cluster, Epoch: n.epoch, Reason: ReasonSuperseded})
				n.becomeHead(n.newCluster(), 1, ID{})
				return
			}
		}
	}
	for _, p := range n.peers {
		if p.isHead() && p.cluster != n.cluster && n.above(p.key(), n.key()) {
			n.resign(ReasonAdjacent)
			return
		}
	}
}

// resign gives up the head role and joins the best head in reach, or
// elects again.
func (n *Node) resign(r Reason) {
	n.decisions = append(n.decisions, Resigned{Cluster: n.cluster, Epoch: n.epoch, Reason: r})
	n.role, n.head, n.cluster, n.epoch, n.succ = RoleUndecided, ID{}, ClusterID{}, 0, n.succ[:0]
	n.event = KindLeave
	if h := n.bestHead(0, ID{}); h != nil {
		n.join(h)
	}
}

// claim returns the neighbour with the best claim to this member's cluster
// that beats the claim of its current head, or nil.
func (n *Node) claim() *peer {
	var best *peer
	for _, p := range n.peers {
		if !p.isHead() || p.cluster != n.cluster || p.id == n.head {
			continue
		}
		if best == nil || betterClaim(p.epoch, p.id, best.epoch, best.id) {
			best = p
		}
	}
	if best != nil && betterClaim(best.epoch, best.id, n.epoch, n.head) {
		return best
	}
	return nil
}

func (n *Node) evalMember() {
	h := n.peer(n.head)
	if n.moving() {
		// A moving member's head that misses a heartbeat has most likely
		// moved out of reach: join the nearest other head, if any. One
		// that is still in reach but nearer another head moves there
		// before the link breaks.
		b := n.bestHead(0, n.head)
		if b != nil && n.headSilent >= fastSilent {
			n.join(b)
			return
		}
		if b != nil && h != nil && h.isHead() && h.cluster == n.cluster && n.shared(b) >= n.shared(h)+n.cfg.Closer {
			n.join(b)
			return
		}
	}
	if h != nil && n.headSilent <= MissedHeartbeats {
		if !h.isHead() {
			n.lose() // it resigned
			return
		}
		if h.cluster != n.cluster {
			n.join(h) // it founded a new cluster: follow it
			return
		}
		n.headSucc = append(n.headSucc[:0], h.succ...)
		if c := n.claim(); c != nil {
			n.join(c)
			return
		}
		if n.cfg.Policy != PolicyDensity {
			return
		}
		if n.migrate >= n.cfg.Stability {
			if b := n.bestHead(h.size+n.cfg.Hysteresis, n.head); b != nil {
				n.join(b)
				return
			}
		}
		if h.size < n.cfg.MinPts && n.ticks-n.since >= n.cfg.JoinPeriods {
			if b := n.bestHead(h.size+1, n.head); b != nil {
				n.join(b)
			}
		}
		return
	}
	// The head is silent: a successor may take over.
	if c := n.claim(); c != nil {
		n.join(c)
		return
	}
	missed := n.headSilent - 1
	rank := slices.Index(n.headSucc, n.cfg.ID)
	anyHead := n.bestHead(0, n.head) != nil
	// A member reporting this cluster at a higher epoch: it was taken over
	// out of reach. Claiming it too would only be renamed later.
	takenOver := slices.ContainsFunc(n.peers, func(p *peer) bool { return p.cluster == n.cluster && p.epoch > n.epoch })
	if n.cfg.Eligible && rank >= 0 && missed >= MissedHeartbeats+rank && !anyHead && !takenOver {
		n.becomeHead(n.cluster, n.epoch+1, n.head)
		return
	}
	waiting := false
	for r, s := range n.headSucc {
		// Successor r claims after 3+r missed periods of its own clock,
		// which may run up to a period behind this one's.
		if s == n.cfg.ID || takenOver || missed > MissedHeartbeats+r+1 {
			continue
		}
		p := n.peer(s)
		if p == nil || p.role != RoleMember || p.cluster != n.cluster {
			continue
		}
		// A successor whose HELLO, sent after this node began to suspect,
		// still lists the head hears it: the head is alive, out of this
		// node's reach, and will not be succeeded.
		if suspectedAt := n.ticks - (n.headSilent - (MissedHeartbeats + 1)); p.nbrTick > suspectedAt && slices.Contains(p.nbrs, n.head) {
			continue
		}
		waiting = true // a successor in reach has yet to take over
	}
	if !waiting {
		n.lose()
	}
}

// lose leaves the node's cluster: it joins the best head in reach or
// elects again.
func (n *Node) lose() {
	if h := n.bestHead(0, n.head); h != nil {
		n.join(h)
		return
	}
	n.decisions = append(n.decisions, Left{Cluster: n.cluster, Head: n.head})
	n.role, n.head, n.cluster, n.epoch = RoleUndecided, ID{}, ClusterID{}, 0
	n.headSucc = n.headSucc[:0]
	n.event = KindLeave
}

func (n *Node) join(h *peer) {
	prevRole, prevHead, prevCluster := n.role, n.head, n.cluster
	n.role, n.head, n.cluster, n.epoch = RoleMember, h.id, h.cluster, h.epoch
	n.headSucc = append(n.headSucc[:0], h.succ...)
	n.headSilent = h.silent
	n.migrate = 0
	n.since = n.ticks
	n.event, n.eventTo = KindJoin, h.id
	if prevRole == RoleMember && prevCluster == h.cluster && prevHead != h.id {
		n.decisions = append(n.decisions, HeadChanged{Cluster: h.cluster, Old: prevHead, New: h.id, Epoch: h.epoch})
		return
	}
	n.decisions = append(n.decisions, Joined{Cluster: h.cluster, Head: h.id, Epoch: h.epoch})
}

// newCluster returns the ID of a new cluster founded by this node.
func (n *Node) newCluster() ClusterID {
	n.founded++
	return newClusterID(n.cfg.ID, uint64(n.cfg.Incarnation)<<32|uint64(n.founded))
}

func (n *Node) becomeHead(c ClusterID, epoch uint64, prev ID) {
	n.role, n.head, n.cluster, n.epoch = RoleHead, n.cfg.ID, c, epoch
	n.since = n.ticks
	n.headSucc = n.headSucc[:0]
	n.succ = n.succ[:0]
	n.event, n.eventTo = KindAnnounce, ID{}
	n.decisions = append(n.decisions, BecameHead{Cluster: c, Epoch: epoch, Prev: prev})
}
