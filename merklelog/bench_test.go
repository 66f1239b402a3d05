package merklelog

import (
	"math/rand/v2"
	"sync"
	"testing"
)

// Append benchmarks restart from an empty tree every resetLeaves leaves so
// that memory stays bounded whatever b.N is; the restart is timed too.
const resetLeaves = 1 << 18

// benchLeaves are 64-byte leaves (about a record digest plus metadata).
var benchLeaves = func() [][]byte {
	leaves := make([][]byte, 1024)
	for i := range leaves {
		leaves[i] = make([]byte, 64)
		leaves[i][0], leaves[i][1] = byte(i), byte(i>>8)
	}
	return leaves
}()

func reportPerLeaf(b *testing.B, leaves int) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(leaves), "ns/leaf")
}

// BenchmarkBaselineCompactAppend is the bare primitive: RFC 6962 leaf hash
// and compact range append, no visitor, no storage. One op is one leaf.
func BenchmarkBaselineCompactAppend(b *testing.B) {
	r := factory.NewEmptyRange(0)
	n := 0
	for b.Loop() {
		if r.End() == resetLeaves {
			r = factory.NewEmptyRange(0)
		}
		if err := r.Append(hasher.HashLeaf(benchLeaves[n%len(benchLeaves)]), nil); err != nil {
			b.Fatal(err)
		}
		n++
	}
	reportPerLeaf(b, n)
}

func benchmarkAppend(b *testing.B, batch int) {
	l := mustOpen(b, NewMemStore())
	n := 0
	for b.Loop() {
		start := n % len(benchLeaves)
		if start+batch > len(benchLeaves) {
			start = 0
		}
		first, err := l.Append(benchLeaves[start : start+batch]...)
		if err != nil {
			b.Fatal(err)
		}
		if first+uint64(batch) >= resetLeaves {
			l = mustOpen(b, NewMemStore())
		}
		n += batch
	}
	reportPerLeaf(b, n)
}

func BenchmarkAppend(b *testing.B) {
	b.Run("batch=1", func(b *testing.B) { benchmarkAppend(b, 1) })
	b.Run("batch=64", func(b *testing.B) { benchmarkAppend(b, 64) })
}

const bigSize = 1_000_000

// bigLog is a log of bigSize leaves, built once for the proof benchmarks.
var bigLog = sync.OnceValue(func() *Log {
	l, err := Open(NewMemStore())
	if err != nil {
		panic(err)
	}
	leaves := make([][]byte, 1000)
	for done := 0; done < bigSize; done += len(leaves) {
		for i := range leaves {
			leaves[i] = benchLeaves[(done+i)%len(benchLeaves)]
		}
		if _, err := l.Append(leaves...); err != nil {
			panic(err)
		}
	}
	return l
})

func BenchmarkInclusionProof(b *testing.B) {
	l := bigLog()
	rng := rand.New(rand.NewPCG(1, 1))
	for b.Loop() {
		if _, err := l.InclusionProof(rng.Uint64N(bigSize), bigSize); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyInclusion(b *testing.B) {
	l := bigLog()
	const index = 123_457
	p, err := l.InclusionProof(index, bigSize)
	if err != nil {
		b.Fatal(err)
	}
	cp := l.Checkpoint()
	leaf := benchLeaves[index%len(benchLeaves)]
	for b.Loop() {
		if err := VerifyInclusion(leaf, index, cp, p); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkConsistency generates and verifies the consistency proof of an
// anchor: from a random earlier size to the log's size.
func BenchmarkConsistency(b *testing.B) {
	l := bigLog()
	cur := l.Checkpoint()
	rng := rand.New(rand.NewPCG(2, 2))
	olds := make([]Checkpoint, 64)
	for i := range olds {
		var err error
		if olds[i], err = l.CheckpointAt(1 + rng.Uint64N(bigSize-1)); err != nil {
			b.Fatal(err)
		}
	}
	proofs := make([]Proof, len(olds))
	for i, old := range olds {
		var err error
		if proofs[i], err = l.ConsistencyProof(old.Size, cur.Size); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("proof", func(b *testing.B) {
		i := 0
		for b.Loop() {
			if _, err := l.ConsistencyProof(olds[i%len(olds)].Size, cur.Size); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("verify", func(b *testing.B) {
		i := 0
		for b.Loop() {
			if err := VerifyConsistency(olds[i%len(olds)], cur, proofs[i%len(olds)]); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("proof+verify", func(b *testing.B) {
		i := 0
		for b.Loop() {
			old := olds[i%len(olds)]
			p, err := l.ConsistencyProof(old.Size, cur.Size)
			if err != nil {
				b.Fatal(err)
			}
			if err := VerifyConsistency(old, cur, p); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}

func BenchmarkCheckpoint(b *testing.B) {
	l := bigLog()
	for b.Loop() {
		_ = l.Checkpoint()
	}
}
