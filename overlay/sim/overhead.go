package sim

import (
	"container/heap"
	"math/rand/v2"
	"slices"
)

// Overhead compares the cost of one patient alert in the clustered overlay
// and in a flat one, averaged over random (patient, provider) pairs of
// clustered nodes in the same component. A message is one transmission over
// one link; a hop is one link.
//
// Flat: the patient floods the alert; every node forwards it once to all
// its neighbours but the one it came from. The flood reaches the provider
// and every authority.
//
// Clustered: the patient sends the alert to its head (1 message); the head
// floods its hash to the other heads over the head graph (each head forwards
// once to every neighbouring head but the one it came from, along the
// shortest path through the members between them); the alert itself goes
// from the patient's head to the provider's head along the shortest head
// path, then to the provider (1 message). Two heads neighbour in the head
// graph when their clusters touch (Voronoi cells of the nodes' nearest
// heads), at the shortest distance through the touching link.
//
// Gateways: as Clustered, but the alert leaves the patient's head on the
// same route through the heads as a source route, and every node on it
// forwards it to the furthest node of the route that is its neighbour (its
// own neighbour table tells it), so that the gateways between adjacent
// clusters pass it on directly instead of through their heads. The hash
// flood is Clustered's.
//
// MinHopsToProvider is the shortest route that passes through the
// patient's head, as every clustered route must (the head records the
// alert): one hop to the head and the shortest path from it to the
// provider. It is at least the flat shortest path and at most two more.
type Overhead struct {
	Alerts    int  `json:"alerts"`
	Clustered Cost `json:"clustered"`
	Gateways  Cost `json:"gateways"`
	Flat      Cost `json:"flat"`
	// MinHopsToProvider: the bound above, averaged over the alerts.
	MinHopsToProvider float64 `json:"min_hops_to_provider"`
	// Ratio is clustered messages over flat messages.
	Ratio float64 `json:"ratio"`
}

// Cost is the mean cost of one alert.
type Cost struct {
	Messages float64 `json:"messages"`
	// ToProvider and ToAuthorities split a clustered alert's messages:
	// patient -> heads -> provider, and the hash flood among heads.
	ToProvider    float64 `json:"to_provider_messages,omitempty"`
	ToAuthorities float64 `json:"to_authorities_messages,omitempty"`
	// Hops until the provider has the alert and until every authority
	// (head) in the component has its hash.
	HopsToProvider    float64 `json:"hops_to_provider"`
	HopsToAuthorities float64 `json:"hops_to_authorities"`
}

type hedge struct {
	to int32
	w  int32
	// The link between the two cells: a in this head's, b in to's.
	a, b int32
}

func measureOverhead(lay *Layout, alerts int, rnd *rand.Rand) Overhead {
	n := len(lay.X)
	comp, compSize := components(lay.Adj, lay.Alive)
	// Nearest head of every node, by multi-source BFS.
	owner := make([]int32, n)
	dist := make([]int32, n)
	up := make([]int32, n) // the next node towards the owner
	queue := make([]int32, 0, n)
	for i := range n {
		owner[i] = -1
		if lay.isHead(int32(i)) {
			owner[i] = int32(i)
			queue = append(queue, int32(i))
		}
	}
	for k := 0; k < len(queue); k++ {
		u := queue[k]
		for _, v := range lay.Adj[u] {
			if owner[v] < 0 {
				owner[v], dist[v], up[v] = owner[u], dist[u]+1, u
				queue = append(queue, v)
			}
		}
	}
	// Head graph.
	hg := map[int32][]hedge{}
	type link struct{ w, u, v int32 } // u in the lower head's cell
	best := map[[2]int32]link{}
	for u := range n {
		for _, v := range lay.Adj[u] {
			a, b := owner[u], owner[v]
			if int(v) <= u || a < 0 || b < 0 || a == b {
				continue
			}
			l := link{dist[u] + dist[v] + 1, int32(u), v}
			if a > b {
				l.u, l.v = v, int32(u)
			}
			key := [2]int32{min(a, b), max(a, b)}
			if old, ok := best[key]; !ok || l.w < old.w {
				best[key] = l
			}
		}
	}
	for key, l := range best {
		hg[key[0]] = append(hg[key[0]], hedge{key[1], l.w, l.u, l.v})
		hg[key[1]] = append(hg[key[1]], hedge{key[0], l.w, l.v, l.u})
	}
	for _, es := range hg {
		slices.SortFunc(es, func(a, b hedge) int { return int(a.to - b.to) })
	}
	// Pick the alerts, all in the largest component: patients are
	// clustered members, preferring nodes that may not be heads; providers
	// any other clustered node.
	var patients, others []int32
	largest := int32(0)
	for c, s := range compSize {
		if s > compSize[largest] {
			largest = int32(c)
		}
	}
	var clustered, heads []int32
	for i := range n {
		if comp[i] != largest || lay.Head[i] < 0 {
			continue
		}
		clustered = append(clustered, int32(i))
		switch {
		case lay.isHead(int32(i)):
			heads = append(heads, int32(i))
		case !lay.Eligible[i]:
			patients = append(patients, int32(i))
		default:
			others = append(others, int32(i))
		}
	}
	if len(patients) == 0 {
		patients = others
	}
	o := Overhead{}
	if len(patients) == 0 || len(clustered) < 2 || alerts == 0 {
		return o
	}
	// Flat flood cost of the component: sum of degrees - (size - 1).
	flood := 1
	for i := range n {
		if comp[i] == largest {
			flood += len(lay.Adj[i]) - 1
		}
	}
	upOf := func(v int32) int32 { return up[v] }
	hops := make([]int32, n)
	hd := newHeadDist(n)
	hopsQ := make([]int32, n)
	var route []int32
	for range alerts {
		p := patients[rnd.IntN(len(patients))]
		q := p
		for q == p {
			q = clustered[rnd.IntN(len(clustered))]
		}
		o.Alerts++
		// Flat.
		bfs(lay.Adj, p, hops, queue)
		far := int32(0)
		for _, h := range heads {
			far = max(far, hops[h])
		}
		o.Flat.Messages += float64(flood)
		o.Flat.HopsToProvider += float64(hops[q])
		o.Flat.HopsToAuthorities += float64(far)
		// Clustered.
		hp, hq := lay.Head[p], lay.Head[q]
		up, down := int32(0), int32(0)
		if hp != p {
			up = 1
		}
		if hq != q {
			down = 1
		}
		hashMsgs, farH := hd.flood(hg, hp)
		toProvider := up + hd.d[hq] + down
		o.Clustered.ToProvider += float64(toProvider)
		o.Clustered.ToAuthorities += float64(hashMsgs)
		o.Clustered.Messages += float64(toProvider + hashMsgs)
		o.Clustered.HopsToProvider += float64(toProvider)
		o.Clustered.HopsToAuthorities += float64(up + farH)
		// Gateways: the same route, shortened by its own nodes.
		route = hd.route(route[:0], hq, func(u int32) []int32 { return chain(u, owner, upOf) })
		if q != hq {
			route = append(route, q)
		}
		short := up + shortcut(lay.Adj, route)
		o.Gateways.ToProvider += float64(short)
		o.Gateways.ToAuthorities += float64(hashMsgs)
		o.Gateways.Messages += float64(short + hashMsgs)
		o.Gateways.HopsToProvider += float64(short)
		o.Gateways.HopsToAuthorities += float64(up + farH)
		// The bound: through the patient's head by a shortest path.
		bfs(lay.Adj, hp, hopsQ, queue)
		o.MinHopsToProvider += float64(up + hopsQ[q])
	}
	a := float64(o.Alerts)
	o.MinHopsToProvider = round3(o.MinHopsToProvider / a)
	for _, c := range []*Cost{&o.Clustered, &o.Gateways, &o.Flat} {
		c.Messages = round3(c.Messages / a)
		c.ToProvider = round3(c.ToProvider / a)
		c.ToAuthorities = round3(c.ToAuthorities / a)
		c.HopsToProvider = round3(c.HopsToProvider / a)
		c.HopsToAuthorities = round3(c.HopsToAuthorities / a)
	}
	if o.Flat.Messages > 0 {
		o.Ratio = round3(o.Clustered.Messages / o.Flat.Messages)
	}
	return o
}

func bfs(adj [][]int32, s int32, hops []int32, queue []int32) {
	for i := range hops {
		hops[i] = -1
	}
	hops[s] = 0
	queue = append(queue[:0], s)
	for k := 0; k < len(queue); k++ {
		u := queue[k]
		for _, v := range adj[u] {
			if hops[v] < 0 {
				hops[v] = hops[u] + 1
				queue = append(queue, v)
			}
		}
	}
}

// chain returns the nodes from u to its owner head, both included.
func chain(u int32, owner []int32, up func(int32) int32) []int32 {
	out := []int32{u}
	for u != owner[u] {
		u = up(u)
		out = append(out, u)
	}
	return out
}

// shortcut returns the hops of route (a walk from route[0]) when each node
// on it forwards to the furthest node of the route that it reaches: in one
// hop when that node is its neighbour, or in two through a neighbour that
// is the other's (the neighbour lists of its neighbours' HELLOs tell it),
// when that gets further than one hop plus one.
func shortcut(adj [][]int32, route []int32) int32 {
	linked := func(u, v int32) bool { return u == v || slices.Contains(adj[u], v) }
	hops := int32(0)
	for i := 0; i < len(route)-1; {
		one := i + 1
		for j := len(route) - 1; j > i+1; j-- {
			if linked(route[i], route[j]) {
				one = j
				break
			}
		}
		two := -1
		for _, x := range adj[route[i]] {
			for j := len(route) - 1; j > max(one+1, two); j-- {
				if linked(x, route[j]) {
					two = j
					break
				}
			}
		}
		switch {
		case two > one+1:
			hops += 2
			i = two
		default:
			if route[one] != route[i] {
				hops++
			}
			i = one
		}
	}
	return hops
}

// route appends to dst the nodes of the shortest head path from the source
// of the last flood to head t, through each hop's touching link: from each
// head down to its cell's end of the link, across, and up to the next
// head. cell returns a node's chain to its cell's head.
func (h *headDist) route(dst []int32, t int32, cell func(int32) []int32) []int32 {
	var heads []int32
	for v := t; v >= 0; v = h.parent[v] {
		heads = append(heads, v)
	}
	slices.Reverse(heads)
	dst = append(dst, heads[0])
	for k := 1; k < len(heads); k++ {
		l := h.via[heads[k]]
		down := cell(l.a) // a .. heads[k-1]
		slices.Reverse(down)
		dst = append(dst, down[1:]...)
		dst = append(dst, cell(l.b)...) // b .. heads[k]
	}
	return dst
}

// headDist runs Dijkstra on the head graph.
type headDist struct {
	d      []int32 // -1: not reached
	parent []int32
	via    []hedge // the edge from parent, for each head reached
	seen   []int32
	pq     distHeap
}

func newHeadDist(n int) *headDist {
	h := &headDist{d: make([]int32, n), parent: make([]int32, n), via: make([]hedge, n)}
	for i := range h.d {
		h.d[i] = -1
	}
	return h
}

// flood computes shortest head-graph distances from s and returns the
// messages of a flood among heads (every head forwards to every
// neighbouring head but its parent, at the cost of the path) and the
// largest distance.
func (h *headDist) flood(hg map[int32][]hedge, s int32) (msgs, far int32) {
	for _, v := range h.seen {
		h.d[v] = -1
	}
	h.seen = append(h.seen[:0], s)
	h.d[s], h.parent[s] = 0, -1
	h.pq = append(h.pq[:0], distItem{s, 0})
	for h.pq.Len() > 0 {
		it := heap.Pop(&h.pq).(distItem)
		// A node is pushed again only at a strictly shorter distance
		// (weights are at least 1): only its entry at its final distance
		// gets past here, once.
		if it.d != h.d[it.v] {
			continue
		}
		far = max(far, it.d)
		for _, e := range hg[it.v] {
			if e.to != h.parent[it.v] {
				msgs += e.w
			}
			nd := it.d + e.w
			if h.d[e.to] < 0 || nd < h.d[e.to] {
				if h.d[e.to] < 0 {
					h.seen = append(h.seen, e.to)
				}
				h.d[e.to], h.parent[e.to], h.via[e.to] = nd, it.v, e
				heap.Push(&h.pq, distItem{e.to, nd})
			}
		}
	}
	return msgs, far
}

type distItem struct {
	v int32
	d int32
}

type distHeap []distItem

func (h distHeap) Len() int { return len(h) }
func (h distHeap) Less(i, j int) bool {
	if h[i].d != h[j].d {
		return h[i].d < h[j].d
	}
	return h[i].v < h[j].v
}
func (h distHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *distHeap) Push(x any)   { *h = append(*h, x.(distItem)) }
func (h *distHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
