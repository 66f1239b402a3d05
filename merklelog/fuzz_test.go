package merklelog

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzParseProof checks that ParseProof never panics, accepts exactly the
// inputs of whole hashes up to MaxProofLen, and round-trips them.
func FuzzParseProof(f *testing.F) {
	f.Add([]byte{})
	f.Add(make([]byte, 31))
	f.Add(make([]byte, 64))
	f.Add(make([]byte, MaxProofLen*HashSize))
	f.Add(make([]byte, (MaxProofLen+1)*HashSize))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParseProof(b)
		valid := len(b)%HashSize == 0 && len(b)/HashSize <= MaxProofLen
		if !valid {
			if !errors.Is(err, ErrMalformedProof) {
				t.Fatalf("ParseProof(%d bytes) = %v, want ErrMalformedProof", len(b), err)
			}
			return
		}
		if err != nil {
			t.Fatalf("ParseProof(%d bytes): %v", len(b), err)
		}
		if !bytes.Equal(p.Bytes(), b) {
			t.Fatal("ParseProof does not round-trip")
		}
	})
}

// fuzzLeaves are the leaves of the log FuzzVerify checks proofs against.
var fuzzLeaves = func() [][]byte {
	leaves := make([][]byte, 16)
	for i := range leaves {
		leaves[i] = []byte{byte(i), 'v'}
	}
	return leaves
}()

// FuzzVerify feeds untrusted proof bytes, indices and sizes to the
// verifiers. They must never panic, and against the true checkpoints of a
// small log they must accept only the genuine leaf and proof.
func FuzzVerify(f *testing.F) {
	l, err := Open(NewMemStore())
	if err != nil {
		f.Fatal(err)
	}
	if _, err := l.Append(fuzzLeaves...); err != nil {
		f.Fatal(err)
	}
	cps := make([]Checkpoint, len(fuzzLeaves)+1)
	for s := range cps {
		if cps[s], err = l.CheckpointAt(uint64(s)); err != nil {
			f.Fatal(err)
		}
	}
	for _, c := range [][2]uint64{{3, 7}, {0, 16}, {5, 5}, {6, 8}} {
		p, _ := l.InclusionProof(c[0], c[1])
		f.Add(fuzzLeaves[c[0]], c[0], c[1], p.Bytes())
		p, _ = l.ConsistencyProof(c[0], c[1])
		f.Add([]byte{}, c[0], c[1], p.Bytes())
	}
	f.Add([]byte("x"), uint64(1<<64-2), uint64(1<<64-1), make([]byte, 64*HashSize))
	f.Fuzz(func(t *testing.T, leaf []byte, a, b uint64, proofBytes []byte) {
		p, err := ParseProof(proofBytes)
		if err != nil {
			return
		}
		// Arbitrary sizes and roots: only must not panic.
		root := HashLeaf(proofBytes)
		_ = VerifyInclusion(leaf, a, Checkpoint{b, root}, p)
		_ = VerifyConsistency(Checkpoint{a, root}, Checkpoint{b, root}, p)

		// True checkpoints: success only for the genuine statement.
		n := uint64(len(fuzzLeaves))
		index, size := a%(n+1), b%(n+1)
		if VerifyInclusion(leaf, index, cps[size], p) == nil {
			want, err := l.InclusionProof(index, size)
			if err != nil || !bytes.Equal(leaf, fuzzLeaves[index]) || !equalProofs(p, want) {
				t.Fatalf("accepted forged inclusion of %x at %d, size %d", leaf, index, size)
			}
		}
		if VerifyConsistency(cps[index], cps[size], p) == nil {
			want, err := l.ConsistencyProof(index, size)
			if err != nil || !equalProofs(p, want) {
				t.Fatalf("accepted forged consistency from %d to %d", index, size)
			}
		}
	})
}
