package merklelog

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/testonly"
)

func mustOpen(t testing.TB, s Store) *Log {
	t.Helper()
	l, err := Open(s)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func randLeaves(rng *rand.Rand, n int) [][]byte {
	leaves := make([][]byte, n)
	for i := range leaves {
		leaves[i] = make([]byte, rng.IntN(40))
		for j := range leaves[i] {
			leaves[i][j] = byte(rng.Uint32())
		}
	}
	return leaves
}

// appendRandomBatches appends leaves to l in batches of random sizes.
func appendRandomBatches(t testing.TB, l *Log, rng *rand.Rand, leaves [][]byte) {
	t.Helper()
	for len(leaves) > 0 {
		n := min(len(leaves), 1+rng.IntN(17))
		want := l.Size()
		if first, err := l.Append(leaves[:n]...); err != nil || first != want {
			t.Fatalf("Append = %d, %v; want %d", first, err, want)
		}
		leaves = leaves[n:]
	}
}

func checkpoints(t testing.TB, l *Log) []Checkpoint {
	t.Helper()
	cps := make([]Checkpoint, l.Size()+1)
	for s := range cps {
		cp, err := l.CheckpointAt(uint64(s))
		if err != nil {
			t.Fatal(err)
		}
		cps[s] = cp
	}
	return cps
}

func flip(p Proof, i int) Proof {
	q := append(Proof{}, p...)
	q[i][i%HashSize] ^= 0x10
	return q
}

// wantLenErr is the error expected from verifying a proof of length n
// against (index, size) whose genuine proof is correct: a mismatch if the
// length fits, else a malformed proof.
func wantLenErr(n int, correct Proof) error {
	if n == len(correct) {
		return ErrProofMismatch
	}
	return ErrMalformedProof
}

// TestCrossCheck builds logs of 1..300 leaves from random batches, compares
// them with the library's reference tree, verifies every inclusion and
// consistency proof, and checks that tampering gives the specific error.
func TestCrossCheck(t *testing.T) {
	const maxSize = 300
	rng := rand.New(rand.NewPCG(1, 2))
	leaves := randLeaves(rng, maxSize)
	l := mustOpen(t, NewMemStore())
	appendRandomBatches(t, l, rng, leaves)
	ref := testonly.New(hasher)
	ref.AppendData(leaves...)
	cps := checkpoints(t, l)
	for s, cp := range cps {
		if cp.Size != uint64(s) || !bytes.Equal(cp.Root[:], ref.HashAt(uint64(s))) {
			t.Fatalf("CheckpointAt(%d) = %d %x, want root %x", s, cp.Size, cp.Root, ref.HashAt(uint64(s)))
		}
	}
	// Every proof is verified. Tampering is tried on every proof in trees of
	// up to 64 leaves and on a random sample above, to keep -race fast.
	sample := 8
	if testing.Short() {
		sample = 32
	}
	tamper := func(size uint64) bool { return size <= 64 || rng.IntN(sample) == 0 }

	incl := make(map[[2]uint64]Proof)
	inclusion := func(index, size uint64) Proof {
		if p, ok := incl[[2]uint64{index, size}]; ok {
			return p
		}
		p, err := l.InclusionProof(index, size)
		if err != nil {
			t.Fatalf("InclusionProof(%d, %d): %v", index, size, err)
		}
		incl[[2]uint64{index, size}] = p
		return p
	}
	for size := uint64(1); size <= maxSize; size++ {
		cp := cps[size]
		for index := range size {
			p := inclusion(index, size)
			refP, _ := ref.InclusionProof(index, size)
			if !bytes.Equal(p.Bytes(), bytes.Join(refP, nil)) {
				t.Fatalf("InclusionProof(%d, %d) differs from the reference", index, size)
			}
			leaf := leaves[index]
			if err := VerifyInclusion(leaf, index, cp, p); err != nil {
				t.Fatalf("VerifyInclusion(%d, %d): %v", index, size, err)
			}
			if !tamper(size) {
				continue
			}
			check := func(what string, err, want error) {
				t.Helper()
				if !errors.Is(err, want) {
					t.Fatalf("leaf %d size %d, %s: got %v, want %v", index, size, what, err, want)
				}
			}
			for i := range p {
				check(fmt.Sprintf("flipped proof[%d]", i), VerifyInclusion(leaf, index, cp, flip(p, i)), ErrProofMismatch)
			}
			check("other leaf", VerifyInclusion(append([]byte{1}, leaf...), index, cp, p), ErrProofMismatch)
			check("flipped root", VerifyInclusion(leaf, index, Checkpoint{size, flip(Proof{cp.Root}, 0)[0]}, p), ErrProofMismatch)
			if size > 1 {
				check("other root", VerifyInclusion(leaf, index, Checkpoint{size, cps[size-1].Root}, p), ErrProofMismatch)
			}
			check("index = size", VerifyInclusion(leaf, size, cp, p), ErrIndexOutOfRange)
			for _, other := range []uint64{index + 1, index - 1, index ^ 1, index ^ 2} {
				if other >= size {
					continue
				}
				check(fmt.Sprintf("index %d", other), VerifyInclusion(leaf, other, cp, p), wantLenErr(len(p), inclusion(other, size)))
			}
			for _, other := range []uint64{size + 1, size * 2} {
				if other > maxSize {
					continue
				}
				check(fmt.Sprintf("size %d", other), VerifyInclusion(leaf, index, cps[other], p), wantLenErr(len(p), inclusion(index, other)))
			}
			check("extra hash", VerifyInclusion(leaf, index, cp, append(append(Proof{}, p...), cp.Root)), ErrMalformedProof)
			if len(p) > 0 {
				check("missing hash", VerifyInclusion(leaf, index, cp, p[:len(p)-1]), ErrMalformedProof)
			}
		}
	}

	cons := func(s1, s2 uint64) Proof {
		p, err := l.ConsistencyProof(s1, s2)
		if err != nil {
			t.Fatalf("ConsistencyProof(%d, %d): %v", s1, s2, err)
		}
		return p
	}
	for s2 := uint64(0); s2 <= maxSize; s2++ {
		for s1 := uint64(0); s1 <= s2; s1++ {
			p := cons(s1, s2)
			refP, _ := ref.ConsistencyProof(s1, s2)
			if !bytes.Equal(p.Bytes(), bytes.Join(refP, nil)) {
				t.Fatalf("ConsistencyProof(%d, %d) differs from the reference", s1, s2)
			}
			old, cur := cps[s1], cps[s2]
			if err := VerifyConsistency(old, cur, p); err != nil {
				t.Fatalf("VerifyConsistency(%d, %d): %v", s1, s2, err)
			}
			if s1 == 0 || s1 == s2 || !tamper(s2) {
				continue
			}
			check := func(what string, err, want error) {
				t.Helper()
				if !errors.Is(err, want) {
					t.Fatalf("sizes %d→%d, %s: got %v, want %v", s1, s2, what, err, want)
				}
			}
			for i := range p {
				check(fmt.Sprintf("flipped proof[%d]", i), VerifyConsistency(old, cur, flip(p, i)), ErrProofMismatch)
			}
			check("old root", VerifyConsistency(Checkpoint{s1, cps[s1-1].Root}, cur, p), ErrProofMismatch)
			check("new root", VerifyConsistency(old, Checkpoint{s2, cps[s2-1].Root}, p), ErrProofMismatch)
			check("swapped", VerifyConsistency(cur, old, p), ErrShrink)
			check("empty proof", VerifyConsistency(old, cur, Proof{}), ErrMalformedProof)
			check("extra hash", VerifyConsistency(old, cur, append(append(Proof{}, p...), cur.Root)), ErrMalformedProof)
			if s1+1 < s2 {
				check("size1+1", VerifyConsistency(cps[s1+1], cur, p), wantLenErr(len(p), cons(s1+1, s2)))
			}
			if s1 > 1 {
				check("size1-1", VerifyConsistency(cps[s1-1], cur, p), wantLenErr(len(p), cons(s1-1, s2)))
			}
			if s2 < maxSize {
				check("size2+1", VerifyConsistency(old, cps[s2+1], p), wantLenErr(len(p), cons(s1, s2+1)))
			}
		}
	}
}

func TestBatchingDoesNotChangeTree(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	leaves := randLeaves(rng, 200)
	one := mustOpen(t, NewMemStore())
	for _, leaf := range leaves {
		if _, err := one.Append(leaf); err != nil {
			t.Fatal(err)
		}
	}
	all := mustOpen(t, NewMemStore())
	if first, err := all.Append(leaves...); err != nil || first != 0 {
		t.Fatal(first, err)
	}
	hashes := make([][HashSize]byte, len(leaves))
	for i, leaf := range leaves {
		hashes[i] = HashLeaf(leaf)
	}
	byHash := mustOpen(t, NewMemStore())
	if _, err := byHash.AppendLeafHashes(hashes[:77]...); err != nil {
		t.Fatal(err)
	}
	if first, err := byHash.AppendLeafHashes(hashes[77:]...); err != nil || first != 77 {
		t.Fatal(first, err)
	}
	a, b, c := checkpoints(t, one), checkpoints(t, all), checkpoints(t, byHash)
	for s := range a {
		if a[s] != b[s] || a[s] != c[s] {
			t.Fatalf("size %d: checkpoints differ: %x %x %x", s, a[s].Root, b[s].Root, c[s].Root)
		}
	}
}

// countingStore counts PutNodes calls and can be made to fail.
type countingStore struct {
	*MemStore
	puts int
	fail error
}

func (s *countingStore) PutNodes(oldSize, newSize uint64, nodes []Node) error {
	s.puts++
	if s.fail != nil {
		return s.fail
	}
	return s.MemStore.PutNodes(oldSize, newSize, nodes)
}

func TestAppendWritesOneBatch(t *testing.T) {
	s := &countingStore{MemStore: NewMemStore()}
	l := mustOpen(t, s)
	rng := rand.New(rand.NewPCG(5, 6))
	if _, err := l.Append(randLeaves(rng, 100)...); err != nil {
		t.Fatal(err)
	}
	if _, err := l.AppendLeafHashes(HashLeaf(nil), HashLeaf([]byte{1})); err != nil {
		t.Fatal(err)
	}
	if first, err := l.Append(); err != nil || first != 102 {
		t.Fatalf("empty Append = %d, %v", first, err)
	}
	if s.puts != 2 {
		t.Errorf("PutNodes called %d times, want 2", s.puts)
	}
	// Every leaf and every complete subtree is stored.
	for level := uint(0); level < 7; level++ {
		for i := range uint64(102 >> level) {
			if _, err := s.GetNodes([]compact.NodeID{compact.NewNodeID(level, i)}); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestAppendFailureLeavesLogUnchanged(t *testing.T) {
	s := &countingStore{MemStore: NewMemStore()}
	l := mustOpen(t, s)
	rng := rand.New(rand.NewPCG(7, 8))
	leaves := randLeaves(rng, 50)
	if _, err := l.Append(leaves[:21]...); err != nil {
		t.Fatal(err)
	}
	before := l.Checkpoint()
	boom := errors.New("disk full")
	s.fail = boom
	if _, err := l.Append(leaves[21:40]...); !errors.Is(err, boom) {
		t.Fatalf("Append with failing store: %v", err)
	}
	if _, err := l.AppendLeafHashes(HashLeaf(nil)); !errors.Is(err, boom) {
		t.Fatalf("AppendLeafHashes with failing store: %v", err)
	}
	if got := l.Checkpoint(); got != before {
		t.Fatalf("checkpoint changed after failed Append")
	}
	s.fail = nil
	if first, err := l.Append(leaves[21:]...); err != nil || first != 21 {
		t.Fatal(first, err)
	}
	ref := mustOpen(t, NewMemStore())
	if _, err := ref.Append(leaves...); err != nil {
		t.Fatal(err)
	}
	if l.Checkpoint() != ref.Checkpoint() {
		t.Fatal("log differs from reference after a failed Append")
	}
}

func TestConflictingWriters(t *testing.T) {
	s := NewMemStore()
	a, b := mustOpen(t, s), mustOpen(t, s)
	if _, err := a.Append([]byte("a")); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Append([]byte("b")); !errors.Is(err, ErrConflict) {
		t.Fatalf("second writer: %v, want ErrConflict", err)
	}
	if b.Size() != 0 {
		t.Fatal("failed writer changed size")
	}
}

func TestReopen(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	leaves := randLeaves(rng, 333)
	ref := mustOpen(t, NewMemStore())
	if _, err := ref.Append(leaves...); err != nil {
		t.Fatal(err)
	}
	s := NewMemStore()
	if l := mustOpen(t, s); l.Checkpoint() != (Checkpoint{0, EmptyRoot()}) {
		t.Fatal("new log is not empty")
	}
	for done := 0; done < len(leaves); {
		l := mustOpen(t, s) // as after a restart
		if l.Size() != uint64(done) {
			t.Fatalf("reopened size %d, want %d", l.Size(), done)
		}
		if want, _ := ref.CheckpointAt(uint64(done)); l.Checkpoint() != want {
			t.Fatalf("reopened at %d: checkpoint differs", done)
		}
		if done > 0 {
			idx := uint64(rng.IntN(done))
			p, err := l.InclusionProof(idx, uint64(done))
			if err != nil {
				t.Fatal(err)
			}
			if err := VerifyInclusion(leaves[idx], idx, l.Checkpoint(), p); err != nil {
				t.Fatal(err)
			}
		}
		n := min(len(leaves)-done, 1+rng.IntN(70))
		if _, err := l.Append(leaves[done : done+n]...); err != nil {
			t.Fatal(err)
		}
		done += n
	}
	l := mustOpen(t, s)
	if l.Checkpoint() != ref.Checkpoint() {
		t.Fatal("final reopened checkpoint differs")
	}
	for _, sizes := range [][2]uint64{{0, 333}, {1, 333}, {100, 333}, {256, 333}, {17, 200}} {
		p1, err1 := l.ConsistencyProof(sizes[0], sizes[1])
		p2, err2 := ref.ConsistencyProof(sizes[0], sizes[1])
		if err1 != nil || err2 != nil || !equalProofs(p1, p2) {
			t.Fatalf("ConsistencyProof%v differs after reopen: %v %v", sizes, err1, err2)
		}
	}
}

func TestOpenFromIncompleteStore(t *testing.T) {
	s := NewMemStore()
	s.size = 5 // claims leaves it does not hold
	if _, err := Open(s); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Open: %v, want ErrNotFound", err)
	}
}

func TestLogErrors(t *testing.T) {
	l := mustOpen(t, NewMemStore())
	if _, err := l.Append([]byte("a"), []byte("b"), []byte("c")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		err  error
		want error
	}{
		{"inclusion size > log", err1(l.InclusionProof(0, 4)), ErrSizeOutOfRange},
		{"inclusion index = size", err1(l.InclusionProof(3, 3)), ErrIndexOutOfRange},
		{"inclusion index > size", err1(l.InclusionProof(2, 1)), ErrIndexOutOfRange},
		{"inclusion size 0", err1(l.InclusionProof(0, 0)), ErrIndexOutOfRange},
		{"consistency size2 > log", err1(l.ConsistencyProof(1, 4)), ErrSizeOutOfRange},
		{"consistency shrink", err1(l.ConsistencyProof(3, 2)), ErrShrink},
		{"leaf hash", err1(l.LeafHash(3)), ErrIndexOutOfRange},
		{"checkpoint at", err1(l.CheckpointAt(4)), ErrSizeOutOfRange},
		{"memstore missing node", err1(NewMemStore().GetNodes([]compact.NodeID{{Level: 0, Index: 0}})), ErrNotFound},
	} {
		if !errors.Is(tc.err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, tc.err, tc.want)
		}
	}
	for _, tc := range []struct {
		s1, s2 uint64
		n      int
	}{{0, 0, 0}, {0, 3, 0}, {3, 3, 0}, {1, 3, 2}} {
		p, err := l.ConsistencyProof(tc.s1, tc.s2)
		if err != nil || p == nil || len(p) != tc.n {
			t.Errorf("ConsistencyProof(%d, %d) = %d hashes (nil %v), %v; want %d", tc.s1, tc.s2, len(p), p == nil, err, tc.n)
		}
	}
}

func err1[T any](_ T, err error) error { return err }

func TestVerifyErrors(t *testing.T) {
	leaf := []byte("record")
	one := Checkpoint{1, HashLeaf(leaf)}
	empty := Checkpoint{0, EmptyRoot()}
	some := [HashSize]byte{1, 2, 3}
	long := make(Proof, MaxProofLen+1)
	for _, tc := range []struct {
		name string
		err  error
		want error
	}{
		{"inclusion ok", VerifyInclusion(leaf, 0, one, nil), nil},
		{"inclusion hash ok", VerifyInclusionHash(HashLeaf(leaf), 0, one, Proof{}), nil},
		{"inclusion in empty tree", VerifyInclusion(leaf, 0, empty, nil), ErrIndexOutOfRange},
		{"inclusion index = size", VerifyInclusion(leaf, 1, one, nil), ErrIndexOutOfRange},
		{"inclusion huge index", VerifyInclusion(leaf, 1<<64-1, Checkpoint{1<<64 - 1, some}, nil), ErrIndexOutOfRange},
		{"inclusion other leaf", VerifyInclusion([]byte("other"), 0, one, nil), ErrProofMismatch},
		{"inclusion extra hash", VerifyInclusion(leaf, 0, one, Proof{some}), ErrMalformedProof},
		{"inclusion too long", VerifyInclusion(leaf, 0, Checkpoint{1<<64 - 1, some}, long), ErrMalformedProof},
		{"inclusion missing hashes", VerifyInclusion(leaf, 0, Checkpoint{2, some}, nil), ErrMalformedProof},
		{"consistency 0→0", VerifyConsistency(empty, empty, nil), nil},
		{"consistency 0→1", VerifyConsistency(empty, one, nil), nil},
		{"consistency 0→1 with proof", VerifyConsistency(empty, one, Proof{some}), ErrMalformedProof},
		{"consistency 0 with bad root", VerifyConsistency(Checkpoint{0, some}, one, nil), ErrProofMismatch},
		{"consistency 0→0 bad roots", VerifyConsistency(Checkpoint{0, some}, Checkpoint{0, some}, nil), ErrProofMismatch},
		{"consistency 1→1", VerifyConsistency(one, one, nil), nil},
		{"consistency 1→1 other root", VerifyConsistency(one, Checkpoint{1, some}, nil), ErrProofMismatch},
		{"consistency 1→1 with proof", VerifyConsistency(one, one, Proof{some}), ErrMalformedProof},
		{"consistency shrink", VerifyConsistency(one, empty, nil), ErrShrink},
		{"consistency shrink large", VerifyConsistency(Checkpoint{10, some}, Checkpoint{9, some}, Proof{some}), ErrShrink},
		{"consistency empty proof", VerifyConsistency(one, Checkpoint{2, some}, nil), ErrMalformedProof},
		{"consistency too long", VerifyConsistency(one, Checkpoint{1<<64 - 1, some}, long), ErrMalformedProof},
		{"consistency wrong", VerifyConsistency(one, Checkpoint{2, some}, Proof{some}), ErrProofMismatch},
	} {
		if tc.want == nil && tc.err != nil || tc.want != nil && !errors.Is(tc.err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, tc.err, tc.want)
		}
	}
}

func TestParseProof(t *testing.T) {
	h := func(b byte) [HashSize]byte { return [HashSize]byte{b, 0xee} }
	for _, tc := range []struct {
		name string
		in   []byte
		want Proof
		err  error
	}{
		{"empty", nil, Proof{}, nil},
		{"one", Proof{h(1)}.Bytes(), Proof{h(1)}, nil},
		{"three", Proof{h(1), h(2), h(3)}.Bytes(), Proof{h(1), h(2), h(3)}, nil},
		{"max", make([]byte, MaxProofLen*HashSize), make(Proof, MaxProofLen), nil},
		{"too long", make([]byte, (MaxProofLen+1)*HashSize), nil, ErrMalformedProof},
		{"short", make([]byte, 31), nil, ErrMalformedProof},
		{"ragged", make([]byte, 33), nil, ErrMalformedProof},
	} {
		got, err := ParseProof(tc.in)
		if !errors.Is(err, tc.err) || tc.err == nil && !equalProofs(got, tc.want) {
			t.Errorf("%s: ParseProof = %x, %v; want %x, %v", tc.name, got, err, tc.want, tc.err)
		}
	}
}

// TestConcurrentReaders runs one writer with readers that check every proof
// they get; run with -race.
func TestConcurrentReaders(t *testing.T) {
	l := mustOpen(t, NewMemStore())
	leaves := randLeaves(rand.New(rand.NewPCG(11, 12)), 2000)
	if _, err := l.Append(leaves[0]); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	for r := range 3 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(r), 99))
			prev := Checkpoint{0, EmptyRoot()}
			for {
				select {
				case <-done:
					return
				default:
				}
				cp := l.Checkpoint()
				p, err := l.ConsistencyProof(prev.Size, cp.Size)
				if err != nil {
					t.Error(err)
					return
				}
				if err := VerifyConsistency(prev, cp, p); err != nil {
					t.Error(err)
					return
				}
				idx := rng.Uint64N(cp.Size)
				p, err = l.InclusionProof(idx, cp.Size)
				if err == nil {
					err = VerifyInclusion(leaves[idx], idx, cp, p)
				}
				if err != nil {
					t.Error(err)
					return
				}
				prev = cp
			}
		})
	}
	rng := rand.New(rand.NewPCG(13, 14))
	for rest := leaves[1:]; len(rest) > 0; {
		n := min(len(rest), 1+rng.IntN(20))
		if _, err := l.Append(rest[:n]...); err != nil {
			t.Error(err)
			break
		}
		rest = rest[n:]
		runtime.Gosched() // let the readers interleave
	}
	close(done)
	wg.Wait()
}

func TestMemStorePutNodes(t *testing.T) {
	s := NewMemStore()
	leaf := func(i uint64) Node { return Node{compact.NewNodeID(0, i), [HashSize]byte{byte(i), byte(i >> 8)}} }
	var batch []Node
	for i := range uint64(memChunk) {
		batch = append(batch, leaf(i))
	}
	if err := s.PutNodes(0, memChunk, batch); err != nil {
		t.Fatal(err)
	}
	// Rejected batches, each crossing into a new chunk, change nothing.
	for _, tc := range []struct {
		name     string
		old, new uint64
		nodes    []Node
		want     error
	}{
		{"conflict", 1, memChunk + 1, []Node{leaf(memChunk)}, ErrConflict},
		{"gap", memChunk, memChunk + 2, []Node{leaf(memChunk), leaf(memChunk + 2)}, nil},
		{"too few leaves", memChunk, memChunk + 2, []Node{leaf(memChunk)}, nil},
		{"too many leaves", memChunk, memChunk + 1, []Node{leaf(memChunk), leaf(memChunk + 1)}, nil},
		{"repeat", memChunk, memChunk + 1, []Node{leaf(memChunk - 1)}, nil},
		{"parent gap", memChunk, memChunk + 1, []Node{leaf(memChunk), {compact.NewNodeID(3, 7), [HashSize]byte{}}}, nil},
		{"level 64", memChunk, memChunk + 1, []Node{leaf(memChunk), {compact.NewNodeID(64, 0), [HashSize]byte{}}}, nil},
		{"shrink", memChunk, 1, nil, nil},
	} {
		err := s.PutNodes(tc.old, tc.new, tc.nodes)
		if err == nil || tc.want != nil && !errors.Is(err, tc.want) {
			t.Errorf("%s: PutNodes = %v, want error %v", tc.name, err, tc.want)
		}
		if size, _ := s.Size(); size != memChunk {
			t.Fatalf("%s: size %d after rejected PutNodes", tc.name, size)
		}
	}
	if err := s.PutNodes(memChunk, memChunk+2, []Node{leaf(memChunk), leaf(memChunk + 1)}); err != nil {
		t.Fatal(err)
	}
	for _, i := range []uint64{0, 1, memChunk - 1, memChunk, memChunk + 1} {
		got, err := s.GetNodes([]compact.NodeID{compact.NewNodeID(0, i)})
		if err != nil || got[0] != leaf(i).Hash {
			t.Errorf("leaf %d = %x, %v; want %x", i, got, err, leaf(i).Hash)
		}
	}
	if _, err := s.GetNodes([]compact.NodeID{compact.NewNodeID(0, memChunk+2)}); !errors.Is(err, ErrNotFound) {
		t.Errorf("GetNodes beyond size: %v", err)
	}
}
