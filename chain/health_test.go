package chain

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestReady: the nodes of a running network are ready; a node whose only
// peer stopped is not (no peers); a stopped node is not (not running).
func TestReady(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 2-node network")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ln, err := StartLocal(ctx, TestnetOptions{Nodes: 2, Dir: t.TempDir(), BlockInterval: 100 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Stop()
	n0, n1 := ln.Nodes[0], ln.Nodes[1]
	until := func(what string, cond func() bool) {
		t.Helper()
		for !cond() {
			select {
			case <-ctx.Done():
				t.Fatalf("never: %s", what)
			case <-time.After(20 * time.Millisecond): // poll interval
			}
		}
	}
	until("both nodes ready", func() bool { return n0.Ready(ctx) == nil && n1.Ready(ctx) == nil })
	if err := ln.StopNode(1); err != nil {
		t.Fatal(err)
	}
	if err := n1.Ready(ctx); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("a stopped node: %v", err)
	}
	until("node 0 not ready without its peer", func() bool { return errors.Is(n0.Ready(ctx), ErrNoPeers) })
}
