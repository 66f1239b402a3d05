package cloud_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vitalchain/vitalchain/client"
	"github.com/vitalchain/vitalchain/cloud"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/internal/memchain"
	"github.com/vitalchain/vitalchain/ledger"
)

// countingNode counts the queries that reach the ledger.
type countingNode struct {
	*memchain.Chain
	queries atomic.Int64
}

func (n *countingNode) Query(ctx context.Context, path string) (uint32, []byte, string, error) {
	n.queries.Add(1)
	return n.Chain.Query(ctx, path)
}

// An ID the ledger does not know is asked once per UnknownTTL, however
// many records name it: unknown keys cost the cloud no query each.
func TestChainLedgerCachesUnknownIDs(t *testing.T) {
	ch, _, err := memchain.New(1, ledger.Params{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Stop()
	n := &countingNode{Chain: ch}
	cl := client.New(n, nil)
	defer cl.Close()
	key, _ := identity.GenerateSigningKey(identity.RoleCloud)
	l := cloud.NewChainLedger([]*client.Client{cl}, key, time.Second)
	stranger := identity.ID{0xee}
	for range 100 {
		if _, err := l.Member(context.Background(), stranger); !errors.Is(err, cloud.ErrNotFound) {
			t.Fatalf("an unknown member: %v", err)
		}
	}
	if q := n.queries.Load(); q != 1 {
		t.Fatalf("%d ledger queries for 100 look-ups of one unknown ID, want 1", q)
	}
}
