package client_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vitalchain/vitalchain/client"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/internal/memchain"
	"github.com/vitalchain/vitalchain/ledger"
)

// lyingNode answers every member query with the member it was told to.
type lyingNode struct {
	*memchain.Chain
	as string // the path whose answer every member query gets
}

func (n *lyingNode) Query(ctx context.Context, path string) (uint32, []byte, string, error) {
	if strings.HasPrefix(path, ledger.QueryMember+"/") {
		path = n.as
	}
	return n.Chain.Query(ctx, path)
}

// A node that answers a member query with another member's key (the key
// of an attacker, registered too) is caught: an ID is the hash of its key.
func TestForgedMemberRefused(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ch, auths, err := memchain.New(1, ledger.Params{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Stop()
	honest := client.New(ch, nil)
	defer honest.Close()
	s, err := honest.Signer(ctx, auths[0].Signing)
	if err != nil {
		t.Fatal(err)
	}
	var ids []*identity.Identity
	for range 2 {
		id, _ := identity.Generate(identity.RolePatient, identity.SuiteX25519)
		r, _ := ledger.NewRegister(id, 1, identity.ID{}, nil)
		if _, err := s.Submit(ctx, r); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	victim, attacker := ids[0], ids[1]
	liar := client.New(&lyingNode{Chain: ch, as: ledger.MemberPath(attacker.ID())}, nil)
	defer liar.Close()
	if _, err := liar.Member(ctx, victim.ID()); !errors.Is(err, client.ErrForged) {
		t.Fatalf("a member answered with another's key: %v, want ErrForged", err)
	}
	if m, err := honest.Member(ctx, victim.ID()); err != nil || m.Cluster != 1 {
		t.Fatalf("the honest answer: %+v %v", m, err)
	}
}
