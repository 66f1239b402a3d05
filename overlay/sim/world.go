package sim

import (
	"crypto/sha256"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/vitalchain/vitalchain/overlay"
)

// world is the plane: positions, mobility and the radio links.
type world struct {
	n     int
	side  float64
	rng   float64 // radio range
	x, y  []float64
	alive []bool

	// random waypoint
	mob        *rand.Rand
	vmax, vmin float64
	pause      int64 // ms
	tx, ty     []float64
	v          []float64
	waitUntil  []int64

	grid  [][]int32 // cell -> nodes
	cells int       // cells per side
	adj   [][]int32 // alive neighbours within range, ascending
}

// sideFor returns the side of the square on which n nodes with radio range
// r have mean degree deg, border effects included: a node's expected
// coverage of the square is pi r^2 - 8r^3/(3L) + r^4/(2L^2).
func sideFor(n int, r, deg float64) float64 {
	if n < 2 {
		return 2 * r
	}
	mean := func(L float64) float64 {
		a := math.Pi*r*r - 8*r*r*r/(3*L) + r*r*r*r/(2*L*L)
		return float64(n-1) * a / (L * L)
	}
	lo, hi := r, r*math.Sqrt(float64(n))*4+r
	if mean(lo) <= deg {
		return lo
	}
	for range 100 {
		mid := (lo + hi) / 2
		if mean(mid) > deg {
			lo = mid
		} else {
			hi = mid
		}
	}
	return (lo + hi) / 2
}

func newWorld(n int, side, r float64, rnd *rand.Rand) *world {
	w := &world{n: n, side: side, rng: r, x: make([]float64, n), y: make([]float64, n), alive: make([]bool, n)}
	for i := range n {
		w.x[i], w.y[i] = rnd.Float64()*side, rnd.Float64()*side
		w.alive[i] = true
	}
	w.cells = max(1, int(side/r))
	w.grid = make([][]int32, w.cells*w.cells)
	w.adj = make([][]int32, n)
	w.relink()
	return w
}

func (w *world) cell(x, y float64) (int, int) {
	cx := min(w.cells-1, max(0, int(x/w.side*float64(w.cells))))
	cy := min(w.cells-1, max(0, int(y/w.side*float64(w.cells))))
	return cx, cy
}

// relink recomputes the links from the positions, with a grid of cells at
// least one range wide: O(n * mean degree).
func (w *world) relink() {
	for i := range w.grid {
		w.grid[i] = w.grid[i][:0]
	}
	for i := range w.n {
		if w.alive[i] {
			cx, cy := w.cell(w.x[i], w.y[i])
			w.grid[cy*w.cells+cx] = append(w.grid[cy*w.cells+cx], int32(i))
		}
	}
	r2 := w.rng * w.rng
	for i := range w.n {
		a := w.adj[i][:0]
		if w.alive[i] {
			cx, cy := w.cell(w.x[i], w.y[i])
			for gy := max(0, cy-1); gy <= min(w.cells-1, cy+1); gy++ {
				for gx := max(0, cx-1); gx <= min(w.cells-1, cx+1); gx++ {
					for _, j := range w.grid[gy*w.cells+gx] {
						if int(j) == i {
							continue
						}
						dx, dy := w.x[i]-w.x[j], w.y[i]-w.y[j]
						if dx*dx+dy*dy <= r2 {
							a = append(a, j)
						}
					}
				}
			}
			slices.Sort(a)
		}
		w.adj[i] = a
	}
}

func (w *world) linked(i, j int32) bool {
	_, ok := slices.BinarySearch(w.adj[i], j)
	return ok
}

// startMobility sets every node moving to a random waypoint at a speed in
// [vmin, vmax] m/s, pausing pause ms at each waypoint.
func (w *world) startMobility(rnd *rand.Rand, vmin, vmax float64, pause int64) {
	w.mob, w.vmin, w.vmax, w.pause = rnd, vmin, vmax, pause
	w.tx, w.ty, w.v, w.waitUntil = make([]float64, w.n), make([]float64, w.n), make([]float64, w.n), make([]int64, w.n)
	for i := range w.n {
		w.waypoint(i)
	}
}

func (w *world) waypoint(i int) {
	w.tx[i], w.ty[i] = w.mob.Float64()*w.side, w.mob.Float64()*w.side
	w.v[i] = w.vmin + w.mob.Float64()*(w.vmax-w.vmin)
}

// move advances every node by dt ms at time now, then relinks.
func (w *world) move(now, dt int64) {
	for i := range w.n {
		if !w.alive[i] || now < w.waitUntil[i] {
			continue
		}
		dx, dy := w.tx[i]-w.x[i], w.ty[i]-w.y[i]
		d := math.Hypot(dx, dy)
		step := w.v[i] * float64(dt) / 1000
		if d <= step {
			w.x[i], w.y[i] = w.tx[i], w.ty[i]
			w.waitUntil[i] = now + w.pause
			w.waypoint(i)
			continue
		}
		w.x[i] += dx / d * step
		w.y[i] += dy / d * step
	}
	w.relink()
}

// components labels the alive nodes by connected component of adj and
// returns the labels (-1 for dead nodes) and each component's size.
func components(adj [][]int32, alive []bool) (label []int32, sizes []int) {
	label = make([]int32, len(adj))
	for i := range label {
		label[i] = -1
	}
	queue := make([]int32, 0, len(adj))
	for s := range adj {
		if !alive[s] || label[s] >= 0 {
			continue
		}
		c := int32(len(sizes))
		label[s] = c
		queue = append(queue[:0], int32(s))
		for k := 0; k < len(queue); k++ {
			for _, j := range adj[queue[k]] {
				if label[j] < 0 {
					label[j] = c
					queue = append(queue, j)
				}
			}
		}
		sizes = append(sizes, len(queue))
	}
	return label, sizes
}

// nodeID derives node i's ID from the seed, standing for the hash of its
// public key.
func nodeID(seed uint64, i int) overlay.ID {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], seed)
	binary.BigEndian.PutUint64(b[8:], uint64(i))
	return sha256.Sum256(b[:])
}
