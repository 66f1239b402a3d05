package lightclient_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/cometbft/cometbft/light"
	"github.com/cometbft/cometbft/types"

	"github.com/vitalchain/vitalchain/lightclient"
)

// benchChain is 3 heights of a set of n validators of equal power, all
// signing.
func benchChain(b *testing.B, n int) *testChain {
	kr := newKeyring(n, 20)
	idx := make([]int, n)
	powers := make([]int64, n)
	for i := range idx {
		idx[i], powers[i] = i, 10
	}
	return makeChain(b, 3, kr.set(idx, powers), kr, nil)
}

// Verifying one header, adjacent (the next height: more than 2/3 of the
// set's signatures checked) and skipping (more than 1/3 of the trusted
// set's, then 2/3 of the new one's), for 4 and 100 validators; with
// CometBFT's light.Verify on the same headers for comparison (it checks
// signatures as a batch).
func BenchmarkVerify(b *testing.B) {
	for _, n := range []int{4, 100} {
		c := benchChain(b, n)
		now := c.genesis.Add(time.Hour)
		sh1, vs1 := c.at(1)
		trusted, err := lightclient.TrustHeader(c.chainID, 1, c.headers[0].Hash(), sh1, vs1)
		if err != nil {
			b.Fatal(err)
		}
		for _, step := range []struct {
			name string
			to   int64
		}{{"adjacent", 2}, {"skipping", 3}} {
			sh, vs := c.at(step.to)
			b.Run(fmt.Sprintf("validators=%d/%s", n, step.name), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := trusted.Next(now, sh, vs, lightclient.Options{}); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run(fmt.Sprintf("validators=%d/%s/CometBFT", n, step.name), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if err := light.Verify(c.headers[0], c.vals[0], c.headers[step.to-1], c.vals[step.to-1],
						lightclient.DefaultTrustingPeriod, now, lightclient.DefaultMaxClockDrift, light.DefaultTrustLevel); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// Decoding what a node serves for one height: /commit and /validators.
func BenchmarkDecode(b *testing.B) {
	for _, n := range []int{4, 100} {
		c := benchChain(b, n)
		commit := servedCommit(b, c.headers[1])
		pages := servedValidators(b, 2, c.vals[1].Validators, 100)
		b.Run(fmt.Sprintf("validators=%d", n), func(b *testing.B) {
			b.SetBytes(int64(len(commit) + len(pages[0])))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := lightclient.DecodeCommit(commit); err != nil {
					b.Fatal(err)
				}
				if _, err := oursValidators(pages); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// Hashing a header, ours and CometBFT's.
func BenchmarkHeaderHash(b *testing.B) {
	c := benchChain(b, 4)
	sh, _ := c.at(2)
	b.Run("ours", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sh.Header.Hash()
		}
	})
	b.Run("CometBFT", func(b *testing.B) {
		h := *c.headers[1].Header
		b.ReportAllocs()
		for b.Loop() {
			(&h).Hash()
		}
	})
	_ = types.BlockIDFlagCommit
}
