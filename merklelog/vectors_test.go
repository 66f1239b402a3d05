package merklelog

import (
	"encoding/hex"
	"encoding/json"
	"os"
	"testing"
)

// hexBytes is a hex string in the vectors file.
type hexBytes []byte

func (h *hexBytes) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := hex.DecodeString(s)
	*h = v
	return err
}

type vectors struct {
	Source     string     `json:"source"`
	Leaves     []hexBytes `json:"leaves"`
	LeafHashes []hexBytes `json:"leaf_hashes"`
	Roots      []struct {
		Size uint64   `json:"size"`
		Root hexBytes `json:"root"`
	} `json:"roots"`
	Inclusion []struct {
		Index uint64     `json:"index"`
		Size  uint64     `json:"size"`
		Proof []hexBytes `json:"proof"`
	} `json:"inclusion"`
	Consistency []struct {
		Size1 uint64     `json:"size1"`
		Size2 uint64     `json:"size2"`
		Proof []hexBytes `json:"proof"`
	} `json:"consistency"`
}

func loadVectors(t *testing.T) vectors {
	t.Helper()
	b, err := os.ReadFile("testdata/rfc6962_vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var v vectors
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	if v.Source == "" || len(v.Leaves) != 8 || len(v.Roots) != 9 || len(v.Inclusion) == 0 || len(v.Consistency) == 0 {
		t.Fatal("vectors file incomplete")
	}
	return v
}

func toHash(t *testing.T, b []byte) [HashSize]byte {
	t.Helper()
	if len(b) != HashSize {
		t.Fatalf("hash of %d bytes", len(b))
	}
	return [HashSize]byte(b)
}

func toProof(t *testing.T, hs []hexBytes) Proof {
	t.Helper()
	p := Proof{}
	for _, h := range hs {
		p = append(p, toHash(t, h))
	}
	return p
}

func equalProofs(a, b Proof) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestKnownAnswers checks the log byte for byte against the RFC 6962 vectors
// of github.com/transparency-dev/merkle.
func TestKnownAnswers(t *testing.T) {
	v := loadVectors(t)
	l, err := Open(NewMemStore())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := l.Checkpoint(), (Checkpoint{0, toHash(t, v.Roots[0].Root)}); got != want {
		t.Errorf("empty checkpoint = %x, want %x", got.Root, want.Root)
	}
	if got := EmptyRoot(); got != toHash(t, v.Roots[0].Root) {
		t.Errorf("EmptyRoot() = %x", got)
	}
	for i, leaf := range v.Leaves {
		if first, err := l.Append(leaf); err != nil || first != uint64(i) {
			t.Fatalf("Append leaf %d = %d, %v", i, first, err)
		}
		if got, want := l.Checkpoint(), (Checkpoint{uint64(i + 1), toHash(t, v.Roots[i+1].Root)}); got != want {
			t.Errorf("checkpoint after leaf %d = %d %x, want %d %x", i, got.Size, got.Root, want.Size, want.Root)
		}
		if got, want := HashLeaf(leaf), toHash(t, v.LeafHashes[i]); got != want {
			t.Errorf("HashLeaf(leaf %d) = %x, want %x", i, got, want)
		}
	}
	for i, want := range v.LeafHashes {
		if got, err := l.LeafHash(uint64(i)); err != nil || got != toHash(t, want) {
			t.Errorf("LeafHash(%d) = %x, %v; want %x", i, got, err, []byte(want))
		}
	}
	for _, r := range v.Roots {
		cp, err := l.CheckpointAt(r.Size)
		if err != nil || cp != (Checkpoint{r.Size, toHash(t, r.Root)}) {
			t.Errorf("CheckpointAt(%d) = %x, %v; want %x", r.Size, cp.Root, err, []byte(r.Root))
		}
	}
	for _, tc := range v.Inclusion {
		want := toProof(t, tc.Proof)
		got, err := l.InclusionProof(tc.Index, tc.Size)
		if err != nil || !equalProofs(got, want) {
			t.Errorf("InclusionProof(%d, %d) = %x, %v; want %x", tc.Index, tc.Size, got, err, want)
		}
		cp := Checkpoint{tc.Size, toHash(t, v.Roots[tc.Size].Root)}
		if err := VerifyInclusion(v.Leaves[tc.Index], tc.Index, cp, want); err != nil {
			t.Errorf("VerifyInclusion(vector %d, %d): %v", tc.Index, tc.Size, err)
		}
	}
	for _, tc := range v.Consistency {
		want := toProof(t, tc.Proof)
		got, err := l.ConsistencyProof(tc.Size1, tc.Size2)
		if err != nil || !equalProofs(got, want) {
			t.Errorf("ConsistencyProof(%d, %d) = %x, %v; want %x", tc.Size1, tc.Size2, got, err, want)
		}
		cp1 := Checkpoint{tc.Size1, toHash(t, v.Roots[tc.Size1].Root)}
		cp2 := Checkpoint{tc.Size2, toHash(t, v.Roots[tc.Size2].Root)}
		if err := VerifyConsistency(cp1, cp2, want); err != nil {
			t.Errorf("VerifyConsistency(vector %d, %d): %v", tc.Size1, tc.Size2, err)
		}
	}
}
