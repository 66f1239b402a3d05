package overlay_test

import (
	"slices"
	"testing"

	"github.com/vitalchain/vitalchain/overlay"
)

func TestRho(t *testing.T) {
	for _, tc := range []struct {
		name          string
		degree, pairs int
		want          uint32
	}{
		{"isolated", 0, 0, 0},
		{"one neighbour", 1, 0, overlay.RhoOne},
		{"one neighbour, bogus pairs", 1, 5, overlay.RhoOne},
		{"star of 5: cc 0", 5, 0, 5 * overlay.RhoOne},
		{"triangle corner: cc 1", 2, 2, 4 * overlay.RhoOne},
		{"clique of 4: cc 1", 3, 6, 6 * overlay.RhoOne},
		{"cc 1/3 of degree 4: 4 + 4/3", 4, 4, 4*overlay.RhoOne + 4*overlay.RhoOne/3},
		{"pairs capped at k(k-1)", 3, 100, 6 * overlay.RhoOne},
		{"negative pairs count as 0", 3, -4, 3 * overlay.RhoOne},
		{"rounded down: 3 + 1/2", 3, 1, 3*overlay.RhoOne + overlay.RhoOne/2},
		{"rounded down: 4 + 1/3", 4, 1, 4*overlay.RhoOne + 341},
	} {
		if got := overlay.Rho(tc.degree, tc.pairs); got != tc.want {
			t.Errorf("%s: Rho(%d, %d) = %d, want %d", tc.name, tc.degree, tc.pairs, got, tc.want)
		}
	}
}

func TestKeyOrder(t *testing.T) {
	id := func(b byte) overlay.ID { return overlay.ID{b} }
	// In priority order.
	keys := []overlay.Key{
		{Rho: 9 * overlay.RhoOne, Degree: 5, ID: id(9)},
		{Rho: 9 * overlay.RhoOne, Degree: 4, ID: id(1)},
		{Rho: 9 * overlay.RhoOne, Degree: 4, ID: id(2)},
		{Rho: 8*overlay.RhoOne + 1, Degree: 8, ID: id(0)},
		{Rho: 2 * overlay.RhoOne, Degree: 2, ID: id(0)},
		{Rho: 0, Degree: 0, ID: id(1)},
	}
	for i, a := range keys {
		for j, b := range keys {
			got := overlay.Compare(a, b)
			switch {
			case i < j && got >= 0, i > j && got <= 0, i == j && got != 0:
				t.Errorf("Compare(%v, %v) = %d", a, b, got)
			}
		}
	}
	shuffled := slices.Clone(keys)
	slices.Reverse(shuffled)
	slices.SortFunc(shuffled, overlay.Compare)
	if !slices.Equal(shuffled, keys) {
		t.Errorf("sorted %v, want %v", shuffled, keys)
	}
}
