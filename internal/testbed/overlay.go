package testbed

// The overlay of one cluster in the demo: its Cluster Head, an
// authority-eligible standby machine, its providers and a few
// non-eligible devices, running the overlay's election over an in-process
// radio (every node hears its neighbours each HELLO period). When the
// election gives the cluster a new head, the new head submits the
// handover that makes it the authority in the old one's place. A patient
// of another cluster who is in the cluster's radio range (a visitor) joins
// its head in the overlay, and its gateway moves it on the ledger.

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/ledger"
	"github.com/vitalchain/vitalchain/overlay"
)

type clusterOverlay struct {
	s       *System
	cluster uint32
	period  time.Duration

	mu       sync.Mutex
	order    []overlay.ID
	nodes    map[overlay.ID]*overlay.Node
	links    map[overlay.ID][]overlay.ID
	down     map[overlay.ID]bool
	eligible map[overlay.ID]*identity.Identity // authority identities of the eligible nodes
	handing  bool
	visitors map[overlay.ID]*visitor // patients whose gateways follow the overlay on the ledger
	events   []string                // what happened, for the demo's output

	migrations int

	reelections int
	handoverAt  []time.Duration // from the head's failure to the handover's commit
	failedAt    time.Time
}

// visitor is a patient in the overlay whose gateway keeps its ledger
// cluster that of its overlay head.
type visitor struct {
	p    *Patient
	busy bool // a migration in flight
}

// newClusterOverlay builds the overlay of cluster c: its head and standby
// (authorities), its providers, and extra non-eligible devices. The head
// alone reaches one of the devices, so the first election keeps the
// ledger's head (the overlay's key ranks first the nodes that are some
// device's only eligible neighbour).
func newClusterOverlay(s *System, c uint32, head, standby *identity.Identity, members []identity.ID, extra int) (*clusterOverlay, error) {
	o := &clusterOverlay{s: s, cluster: c, period: 200 * time.Millisecond, nodes: map[overlay.ID]*overlay.Node{},
		links: map[overlay.ID][]overlay.ID{}, down: map[overlay.ID]bool{}, eligible: map[overlay.ID]*identity.Identity{},
		visitors: map[overlay.ID]*visitor{}}
	add := func(id overlay.ID, eligible bool) error {
		n, err := overlay.New(overlay.Config{ID: id, Eligible: eligible, Incarnation: uint32(time.Now().Unix())})
		if err != nil {
			return err
		}
		o.nodes[id] = n
		o.order = append(o.order, id)
		return nil
	}
	link := func(a, b overlay.ID) {
		o.links[a] = append(o.links[a], b)
		o.links[b] = append(o.links[b], a)
	}
	for _, a := range []*identity.Identity{head, standby} {
		if err := add(a.ID(), true); err != nil {
			return nil, err
		}
		o.eligible[a.ID()] = a
	}
	link(head.ID(), standby.ID())
	var others []overlay.ID
	for _, m := range members {
		others = append(others, m)
	}
	for i := range extra {
		var id overlay.ID
		copy(id[:], fmt.Sprintf("cluster-%d-device-%d", c, i))
		others = append(others, id)
	}
	for i, id := range others {
		if err := add(id, false); err != nil {
			return nil, err
		}
		link(head.ID(), id)
		if i > 0 { // device 0 hears only the head
			link(standby.ID(), id)
		}
		for _, prev := range others[:i] {
			link(prev, id)
		}
	}
	return o, nil
}

// run drives the overlay until ctx ends.
func (o *clusterOverlay) run(ctx context.Context) {
	t := time.NewTicker(o.period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		o.round(ctx)
	}
}

// round ticks every live node and delivers what they send until quiet.
func (o *clusterOverlay) round(ctx context.Context) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, id := range o.order {
		if !o.down[id] {
			o.nodes[id].Tick()
		}
	}
	for range 8 {
		sent := 0
		for _, id := range o.order {
			if o.down[id] {
				continue
			}
			out, decs := o.nodes[id].Ready()
			for _, d := range decs {
				o.decide(ctx, id, d)
			}
			for _, m := range out {
				sent++
				for _, nb := range o.links[id] {
					if !o.down[nb] {
						o.nodes[nb].Step(m)
					}
				}
			}
		}
		if sent == 0 {
			return
		}
	}
}

// decide acts on a node's decision: a new head of the cluster that is not
// the ledger's head hands the cluster over; a visitor that joins a head
// moves to the head's cluster on the ledger.
func (o *clusterOverlay) decide(ctx context.Context, id overlay.ID, d overlay.Decision) {
	switch d := d.(type) {
	case overlay.Joined:
		o.joined(ctx, id, d.Head)
		return
	case overlay.HeadChanged:
		o.joined(ctx, id, d.New)
		return
	}
	bh, ok := d.(overlay.BecameHead)
	if !ok {
		return
	}
	key, ok := o.eligible[id]
	if !ok || o.handing {
		return
	}
	o.handing = true
	o.events = append(o.events, fmt.Sprintf("overlay: %s became head of cluster %d (epoch %d)", id, o.cluster, bh.Epoch))
	o.s.spawn(func(context.Context) {
		err := o.handover(ctx, key)
		o.mu.Lock()
		o.handing = false
		if err != nil {
			o.events = append(o.events, fmt.Sprintf("handover to %s failed: %v", key.ID(), err))
		}
		o.mu.Unlock()
	})
}

// handover makes newHead the authority of the cluster on the ledger,
// attested by every running authority.
func (o *clusterOverlay) handover(ctx context.Context, newHead *identity.Identity) error {
	s := o.s
	cl := s.Chain.Client(0)
	info, err := cl.Cluster(ctx, o.cluster)
	if err != nil {
		return err
	}
	if info.Cluster.Head == newHead.ID() {
		return nil // the ledger agrees already
	}
	auths, err := cl.Authorities(ctx)
	if err != nil {
		return err
	}
	st := info.Cluster.HandoverTo(newHead.ID())
	var atts []ledger.Attestation
	for i, a := range s.Chain.Net.Testnet.Authorities {
		if a.ID() == newHead.ID() || s.Chain.Client(i) == nil {
			continue
		}
		if !slices.ContainsFunc(auths, func(x ledger.Authority) bool { return x.ID == a.ID() }) {
			continue
		}
		a, err := ledger.Attest(a.Signing, st)
		if err != nil {
			return err
		}
		atts = append(atts, a)
	}
	slices.SortFunc(atts, func(a, b ledger.Attestation) int { return slices.Compare(a.Authority[:], b.Authority[:]) })
	if _, err := s.Chain.Submit(ctx, newHead.Signing, &ledger.Handover{Cluster: o.cluster, NewHead: newHead.ID(), Attestations: atts}); err != nil {
		return err
	}
	o.mu.Lock()
	o.reelections++
	var took time.Duration
	if !o.failedAt.IsZero() {
		took = time.Since(o.failedAt)
		o.handoverAt = append(o.handoverAt, took)
	}
	o.events = append(o.events, fmt.Sprintf("handover committed: %s heads cluster %d and joins the authorities (%d ms after the head stopped)",
		newHead.ID(), o.cluster, took.Milliseconds()))
	o.mu.Unlock()
	return nil
}

// joined moves visitor id, which joined head in the overlay, to the head's
// cluster on the ledger, through its gateway.
func (o *clusterOverlay) joined(ctx context.Context, id, head overlay.ID) {
	v, ok := o.visitors[id]
	if !ok || v.busy || v.p.Gateway == nil {
		return
	}
	v.busy = true
	o.s.spawn(func(context.Context) {
		msg, err := o.migrate(ctx, v.p, head)
		o.mu.Lock()
		defer o.mu.Unlock()
		v.busy = false
		switch {
		case err != nil && ctx.Err() == nil:
			o.events = append(o.events, fmt.Sprintf("migration of patient %s failed: %v", v.p.ID.ID(), err))
		case msg != "":
			o.migrations++
			o.events = append(o.events, msg)
		}
	})
}

// migrate moves patient p to head's ledger cluster if it is elsewhere.
func (o *clusterOverlay) migrate(ctx context.Context, p *Patient, head overlay.ID) (string, error) {
	cl := o.s.Chain.Client(0)
	hm, err := cl.Member(ctx, head)
	if err != nil {
		return "", fmt.Errorf("head %s: %w", head, err)
	}
	me, err := cl.Member(ctx, p.ID.ID())
	if err != nil {
		return "", err
	}
	if me.Cluster == hm.Cluster {
		return "", nil
	}
	var devs []identity.ID
	for _, d := range p.Kit.Devices() {
		devs = append(devs, d.ID())
	}
	if err := p.Gateway.Patient().Migrate(ctx, hm.Cluster, devs); err != nil {
		return "", err
	}
	return fmt.Sprintf("overlay: patient %s, visiting, joined %s; its gateway moved it and its %d wearables from cluster %d to cluster %d on the ledger",
		p.ID.ID(), head, len(devs), me.Cluster, hm.Cluster), nil
}

// membershipAgrees reports whether every visitor's ledger cluster is that
// of its head in the overlay.
func (o *clusterOverlay) membershipAgrees(ctx context.Context) (bool, error) {
	o.mu.Lock()
	heads := map[identity.ID]overlay.ID{}
	for id := range o.visitors {
		h, _ := o.nodes[id].Head()
		heads[id] = h
	}
	o.mu.Unlock()
	cl := o.s.Chain.Client(0)
	for id, h := range heads {
		if h == (overlay.ID{}) {
			return false, fmt.Errorf("visitor %s has no head", id)
		}
		hm, err := cl.Member(ctx, h)
		if err != nil {
			return false, err
		}
		me, err := cl.Member(ctx, id)
		if err != nil {
			return false, err
		}
		if me.Cluster != hm.Cluster {
			return false, fmt.Errorf("visitor %s is in cluster %d on the ledger, its head %s in cluster %d", id, me.Cluster, h, hm.Cluster)
		}
	}
	return true, nil
}

// fail silences a node of the overlay (its machine stopped).
func (o *clusterOverlay) fail(id overlay.ID) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.down[id] = true
	o.failedAt = time.Now()
}

// takeEvents returns and forgets what happened since the last call.
func (o *clusterOverlay) takeEvents() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	ev := o.events
	o.events = nil
	return ev
}

// startOverlay starts the overlay of cluster OverlayCluster: its head, its
// standby, the providers it admitted, 5 devices, and the last patient, of
// cluster 1, who is visiting cluster 4's area: its phone hears only
// cluster 4's nodes.
func (s *System) startOverlay(ctx context.Context) error {
	var members []identity.ID
	for i, p := range s.Providers {
		if 2+i%3 == OverlayCluster {
			members = append(members, p.ID.ID())
		}
	}
	var guest *Patient
	if len(s.Patients) > 1 && s.Patients[len(s.Patients)-1].Gateway != nil {
		guest = s.Patients[len(s.Patients)-1]
		members = append(members, guest.ID.ID())
	}
	// Only members the ledger lists as authority-eligible may be heads.
	info, err := s.Chain.Client(0).Cluster(ctx, OverlayCluster)
	if err != nil {
		return err
	}
	tn := s.Chain.Net.Testnet
	head, standby := tn.Authorities[OverlayCluster-1], tn.Authorities[4]
	if info.Cluster.Head != head.ID() || !slices.Contains(info.Eligible, standby.ID()) {
		return fmt.Errorf("cluster %d: the ledger does not list %s as its head and %s as eligible", OverlayCluster, head.ID(), standby.ID())
	}
	o, err := newClusterOverlay(s, OverlayCluster, head, standby, members, 5)
	if err != nil {
		return err
	}
	if guest != nil {
		o.visitors[guest.ID.ID()] = &visitor{p: guest}
	}
	s.overlay = o
	s.spawn(o.run)
	return nil
}
