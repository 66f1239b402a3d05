package memchain_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/vitalchain/vitalchain/client"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/internal/memchain"
	"github.com/vitalchain/vitalchain/ledger"
)

// A registration commits in a block of its own, its event reaches a
// subscriber, the state answers queries, and a refused transaction commits
// nothing.
func TestChain(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ch, auths, err := memchain.New(2, ledger.Params{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Stop()
	cl := client.New(ch, nil)
	defer cl.Close()
	events, err := cl.Subscribe(ctx, client.Type(ledger.EventRegister))
	if err != nil {
		t.Fatal(err)
	}
	head, err := cl.Signer(ctx, auths[1].Signing)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := identity.Generate(identity.RolePatient, identity.SuiteX25519)
	r, _ := ledger.NewRegister(p, 2, identity.ID{}, nil)
	cm, err := head.Submit(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-events:
		if ev.Height != cm.Height || ev.Attr(ledger.AttrID) != p.ID().Hex() {
			t.Fatalf("event %+v at height %d", ev, cm.Height)
		}
	case <-ctx.Done():
		t.Fatal("no register event")
	}
	m, err := cl.Member(ctx, p.ID())
	if err != nil || m.Cluster != 2 || m.Role != identity.RolePatient {
		t.Fatalf("member %+v, %v", m, err)
	}
	if _, err := head.Submit(ctx, r); !errors.Is(err, ledger.Rejected(ledger.CodeDuplicate)) {
		t.Fatalf("a second registration: %v", err)
	}
	// The duplicate was refused in its block; a transaction CheckTx refuses
	// (an unregistered signer) makes none.
	h, _ := ch.Height(ctx)
	stranger, _ := identity.Generate(identity.RolePatient, identity.SuiteX25519)
	if _, err := cl.Member(ctx, stranger.ID()); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("an unknown member: %v", err)
	}
	ss, err := cl.Signer(ctx, stranger.Signing)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ss.Submit(ctx, &ledger.SessionKey{Epoch: 1, Envelope: []byte{1}}); !errors.Is(err, ledger.Rejected(ledger.CodeUnknownSigner)) {
		t.Fatalf("a transaction of an unregistered signer: %v", err)
	}
	if h2, _ := ch.Height(ctx); h2 != h {
		t.Fatalf("height %d, was %d: a transaction refused in CheckTx made a block", h2, h)
	}
}
