package memchain

import (
	"context"
	"testing"
	"time"

	"github.com/vitalchain/vitalchain/client"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/ledger"
	"github.com/vitalchain/vitalchain/statetree"
)

// The app hash of a memchain is what a chain's is: the root of the state's
// tree (package statetree), whatever blocks made the state; and a proof
// it serves verifies under it.
func TestRootsAreTheStateTree(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, auths, err := New(1, ledger.Params{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	cl := client.New(c, nil)
	defer cl.Close()
	s, err := cl.Signer(ctx, auths[0].Signing)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		id, _ := identity.Generate(identity.RolePatient, identity.SuiteX25519)
		r, _ := ledger.NewRegister(id, 1, identity.ID{}, nil)
		if _, err := s.Submit(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	c.mu.Lock()
	fresh := statetree.NewMemory()
	for k, v := range c.st {
		if err := fresh.Set([]byte(k), v); err != nil {
			t.Fatal(err)
		}
	}
	h := c.height
	c.mu.Unlock()
	root, _, err := c.AppHash(ctx, h)
	if err != nil {
		t.Fatal(err)
	}
	if root != fresh.Root() {
		t.Fatalf("app hash %x, the state's root %x", root, fresh.Root())
	}
	p, err := c.ProvedQuery(ctx, ledger.MemberPath(auths[0].ID()))
	if err != nil {
		t.Fatal(err)
	}
	proof, err := statetree.DecodeProof(p.Proof)
	if err != nil {
		t.Fatal(err)
	}
	if err := proof.Verify(root, p.Key); err != nil || !proof.Present {
		t.Fatalf("proof: %v, present %v", err, proof.Present)
	}
}
