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
type Overhead struct {
	Alerts    int  `json:"alerts"`
	Clustered Cost `json:"clustered"`
	Flat      Cost `json:"flat"`
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
}

func measureOverhead(lay *Layout, alerts int, rnd *rand.Rand) Overhead {
	n := len(lay.X)
	comp, compSize := components(lay.Adj, lay.Alive)
	// Nearest head of every node, by multi-source BFS.
	owner := make([]int32, n)
	dist := make([]int32, n)
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
				owner[v], dist[v] = owner[u], dist[u]+1
				queue = append(queue, v)
			}
		}
	}
	// Head graph.
	hg := map[int32][]hedge{}
	best := map[[2]int32]int32{}
	for u := range n {
		for _, v := range lay.Adj[u] {
			a, b := owner[u], owner[v]
			if int(v) <= u || a < 0 || b < 0 || a == b {
				continue
			}
			w := dist[u] + dist[v] + 1
			key := [2]int32{min(a, b), max(a, b)}
			if old, ok := best[key]; !ok || w < old {
				best[key] = w
			}
		}
	}
	for key, w := range best {
		hg[key[0]] = append(hg[key[0]], hedge{key[1], w})
		hg[key[1]] = append(hg[key[1]], hedge{key[0], w})
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
	hops := make([]int32, n)
	hd := newHeadDist(n)
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
	}
	a := float64(o.Alerts)
	for _, c := range []*Cost{&o.Clustered, &o.Flat} {
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

// headDist runs Dijkstra on the head graph.
type headDist struct {
	d      []int32 // -1: not reached
	parent []int32
	seen   []int32
	pq     distHeap
}

func newHeadDist(n int) *headDist {
	h := &headDist{d: make([]int32, n), parent: make([]int32, n)}
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
				h.d[e.to], h.parent[e.to] = nd, it.v
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
