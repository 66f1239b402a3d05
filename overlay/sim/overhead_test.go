package sim

import "testing"

func TestShortcut(t *testing.T) {
	// adjacency lists from edges
	graph := func(n int, edges ...[2]int32) [][]int32 {
		adj := make([][]int32, n)
		for _, e := range edges {
			adj[e[0]] = append(adj[e[0]], e[1])
			adj[e[1]] = append(adj[e[1]], e[0])
		}
		return adj
	}
	line := [][2]int32{{0, 1}, {1, 2}, {2, 3}, {3, 4}, {4, 5}}
	for _, tc := range []struct {
		name  string
		adj   [][]int32
		route []int32
		want  int32
	}{
		{"a line, no shortcut", graph(6, line...), []int32{0, 1, 2, 3, 4, 5}, 5},
		{"one hop skips two nodes", graph(6, append(line, [2]int32{0, 3})...), []int32{0, 1, 2, 3, 4, 5}, 3},
		{"two hops through a node off the route", graph(10, append(line, [2]int32{0, 9}, [2]int32{9, 4})...), []int32{0, 1, 2, 3, 4, 5}, 3},
		{"two hops that gain nothing", graph(10, append(line, [2]int32{0, 9}, [2]int32{9, 2})...), []int32{0, 1, 2, 3, 4, 5}, 5},
		{"a route that comes back", graph(6, line...), []int32{0, 1, 0, 1, 2}, 2},
		{"a single node", graph(1), []int32{0}, 0},
	} {
		if got := shortcut(tc.adj, tc.route); got != tc.want {
			t.Errorf("%s: %d hops, want %d", tc.name, got, tc.want)
		}
	}
}
