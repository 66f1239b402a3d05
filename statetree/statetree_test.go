package statetree_test

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/vitalchain/vitalchain/statetree"
)

// fill sets n keys k0…k(n-1) to v0…, with k3 holding an empty value.
func fill(t testing.TB, tr *statetree.Tree, n int) map[string][]byte {
	t.Helper()
	kv := map[string][]byte{}
	for i := range n {
		k, v := fmt.Appendf(nil, "k%d", i), fmt.Appendf(nil, "v%d", i)
		if i == 3 {
			v = []byte{}
		}
		if err := tr.Set(k, v); err != nil {
			t.Fatal(err)
		}
		kv[string(k)] = v
	}
	return kv
}

func TestProofs(t *testing.T) {
	tr := statetree.NewMemory()
	kv := fill(t, tr, 50)
	root := tr.Root()
	tests := []struct {
		name    string
		key     string
		present bool
	}{
		{"member", "k7", true},
		{"member with an empty value", "k3", true},
		{"absent", "nope", false},
		{"absent, near a member", "k50", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := tr.Prove([]byte(tc.key), kv[tc.key], tc.present)
			if err != nil {
				t.Fatal(err)
			}
			b, err := p.Encode()
			if err != nil {
				t.Fatal(err)
			}
			q, err := statetree.DecodeProof(b)
			if err != nil {
				t.Fatal(err)
			}
			if err := q.Verify(root, []byte(tc.key)); err != nil {
				t.Fatalf("verify: %v", err)
			}
			if q.Present != tc.present || !bytes.Equal(q.Value, kv[tc.key]) {
				t.Fatalf("proved %v %q, want %v %q", q.Present, q.Value, tc.present, kv[tc.key])
			}
			// The same proof for another key, under another root, or
			// turned around, is refused.
			if err := q.Verify(root, []byte("k8")); !errors.Is(err, statetree.ErrBadProof) {
				t.Errorf("another key: %v", err)
			}
			other := root
			other[0] ^= 1
			if err := q.Verify(other, []byte(tc.key)); !errors.Is(err, statetree.ErrBadProof) {
				t.Errorf("another root: %v", err)
			}
			flipped := *q
			flipped.Present = !q.Present
			flipped.Value = nil
			if flipped.Present {
				flipped.Value = []byte("v7")
			}
			if err := flipped.Verify(root, []byte(tc.key)); !errors.Is(err, statetree.ErrBadProof) {
				t.Errorf("membership and absence swapped: %v", err)
			}
		})
	}
}

// A node that changes the value a proof carries is refused.
func TestForgedValue(t *testing.T) {
	tr := statetree.NewMemory()
	fill(t, tr, 20)
	p, err := tr.Prove([]byte("k5"), []byte("v5"), true)
	if err != nil {
		t.Fatal(err)
	}
	p.Value = []byte("v6")
	if err := p.Verify(tr.Root(), []byte("k5")); !errors.Is(err, statetree.ErrBadProof) {
		t.Fatalf("forged value: %v", err)
	}
	// Prove itself refuses a value the tree does not hold.
	if _, err := tr.Prove([]byte("k5"), []byte("v6"), true); !errors.Is(err, statetree.ErrBadProof) {
		t.Fatalf("prove a wrong value: %v", err)
	}
	// A proof of absence of a present key cannot be made to verify.
	if _, err := tr.Prove([]byte("k5"), nil, false); !errors.Is(err, statetree.ErrBadProof) {
		t.Fatalf("prove a present key absent: %v", err)
	}
}

// The root depends on the state only: not on the order of writes, nor on
// keys set and deleted again; and an empty value differs from absence.
func TestRootIsTheState(t *testing.T) {
	keys := make([][]byte, 40)
	for i := range keys {
		keys[i] = fmt.Appendf(nil, "key-%d", i)
	}
	a := statetree.NewMemory()
	for _, k := range keys {
		if err := a.Set(k, k); err != nil {
			t.Fatal(err)
		}
	}
	b := statetree.NewMemory()
	r := rand.New(rand.NewPCG(1, 2))
	for _, i := range r.Perm(len(keys)) {
		if err := b.Set([]byte("gone"), []byte("x")); err != nil {
			t.Fatal(err)
		}
		if err := b.Set(keys[i], []byte("old")); err != nil {
			t.Fatal(err)
		}
		if err := b.Set(keys[i], keys[i]); err != nil {
			t.Fatal(err)
		}
		if err := b.Delete([]byte("gone")); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Delete([]byte("never there")); err != nil {
		t.Fatalf("delete of an absent key: %v", err)
	}
	if a.Root() != b.Root() {
		t.Fatalf("roots differ: %x, %x", a.Root(), b.Root())
	}
	empty := a.Root()
	if err := a.Set([]byte("e"), nil); err != nil {
		t.Fatal(err)
	}
	if a.Root() == empty {
		t.Fatal("an empty value left the root as it was")
	}
	if statetree.NewMemory().Root() != statetree.EmptyRoot {
		t.Fatal("a new tree's root is not EmptyRoot")
	}
}

// A tree committed to its store opens again at its root, with its proofs;
// Pending keeps the writes aside until they are flushed.
func TestCommitAndReopen(t *testing.T) {
	base := statetree.NewMemNodes()
	pend := statetree.NewPending(base)
	tr := statetree.Open(pend, nil)
	fill(t, tr, 30)
	if err := tr.Commit(); err != nil {
		t.Fatal(err)
	}
	root := tr.Root()
	if len(base) != 0 {
		t.Fatalf("Pending wrote %d nodes before Flush", len(base))
	}
	if _, err := statetree.Open(base, root[:]).Prove([]byte("k1"), []byte("v1"), true); err == nil {
		t.Fatal("a proof from a store without the nodes")
	}
	if err := pend.Flush(base.Set); err != nil {
		t.Fatal(err)
	}
	again := statetree.Open(base, root[:])
	if again.Root() != root {
		t.Fatalf("reopened at %x, want %x", again.Root(), root)
	}
	p, err := again.Prove([]byte("k1"), []byte("v1"), true)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Verify(root, []byte("k1")); err != nil {
		t.Fatal(err)
	}
	// Changes after a reopen, committed, prune the nodes no longer reached.
	n := len(base)
	for i := range 30 {
		if err := again.Delete(fmt.Appendf(nil, "k%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := again.Commit(); err != nil {
		t.Fatal(err)
	}
	if again.Root() != statetree.EmptyRoot || len(base) >= n {
		t.Fatalf("after deleting everything: root %x, %d nodes of %d", again.Root(), len(base), n)
	}
}

func TestDecodeProofRefusals(t *testing.T) {
	tr := statetree.NewMemory()
	fill(t, tr, 10)
	good, err := tr.Prove([]byte("k1"), []byte("v1"), true)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		edit func(p *statetree.Proof)
	}{
		{"too many side nodes", func(p *statetree.Proof) { p.NumSideNodes = 257 }},
		{"bit mask of the wrong size", func(p *statetree.Proof) { p.BitMask = append(p.BitMask, 0) }},
		{"a side node too short", func(p *statetree.Proof) { p.SideNodes = append(p.SideNodes[:0:0], []byte{1}) }},
		{"side nodes missing", func(p *statetree.Proof) { p.SideNodes = nil }},
		{"membership with a leaf", func(p *statetree.Proof) { p.Leaf = make([]byte, 65) }},
		{"a value too large", func(p *statetree.Proof) { p.Value = make([]byte, statetree.MaxValue+1) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := *good
			p.SideNodes = append([][]byte(nil), good.SideNodes...)
			p.BitMask = append([]byte(nil), good.BitMask...)
			tc.edit(&p)
			if _, err := p.Encode(); !errors.Is(err, statetree.ErrBadProof) {
				t.Errorf("encode: %v", err)
			}
			if err := p.Verify(tr.Root(), []byte("k1")); !errors.Is(err, statetree.ErrBadProof) {
				t.Errorf("verify: %v", err)
			}
		})
	}
	for _, b := range [][]byte{nil, {0xa0}, {0xa1, 0x01, 0x02}, {0xff}} {
		if _, err := statetree.DecodeProof(b); !errors.Is(err, statetree.ErrBadProof) {
			t.Errorf("decode %x: %v", b, err)
		}
	}
}

// FuzzDecodeProof: a proof from anyone decodes or is refused, never
// panics; what decodes has one encoding, and verifies or is refused.
func FuzzDecodeProof(f *testing.F) {
	tr := statetree.NewMemory()
	fill(f, tr, 16)
	for _, k := range []string{"k1", "k3", "absent"} {
		v, present := []byte("v1"), k != "absent"
		if k == "k3" {
			v = []byte{}
		}
		if !present {
			v = nil
		}
		p, err := tr.Prove([]byte(k), v, present)
		if err != nil {
			f.Fatal(err)
		}
		b, err := p.Encode()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, []byte(k))
	}
	root := tr.Root()
	f.Fuzz(func(t *testing.T, b, key []byte) {
		p, err := statetree.DecodeProof(b)
		if err != nil {
			if !errors.Is(err, statetree.ErrBadProof) {
				t.Fatalf("refusal without ErrBadProof: %v", err)
			}
			return
		}
		again, err := p.Encode()
		if err != nil {
			t.Fatalf("a decoded proof does not encode: %v", err)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("two encodings of one proof: %x, %x", b, again)
		}
		if err := p.Verify(root, key); err != nil && !errors.Is(err, statetree.ErrBadProof) {
			t.Fatalf("refusal without ErrBadProof: %v", err)
		}
	})
}

func BenchmarkSetCommit(b *testing.B) {
	tr := statetree.NewMemory()
	fill(b, tr, 10000)
	if err := tr.Commit(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := range b.N {
		for j := range 20 {
			if err := tr.Set(fmt.Appendf(nil, "k%d", (i*20+j)%10000), fmt.Appendf(nil, "w%d", i)); err != nil {
				b.Fatal(err)
			}
		}
		tr.Root()
		if err := tr.Commit(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkProveVerify(b *testing.B) {
	tr := statetree.NewMemory()
	fill(b, tr, 10000)
	root := tr.Root()
	b.ResetTimer()
	for i := range b.N {
		k := fmt.Appendf(nil, "k%d", i%10000)
		v := fmt.Appendf(nil, "v%d", i%10000)
		if i%10000 == 3 {
			v = []byte{}
		}
		p, err := tr.Prove(k, v, true)
		if err != nil {
			b.Fatal(err)
		}
		if err := p.Verify(root, k); err != nil {
			b.Fatal(err)
		}
	}
}
