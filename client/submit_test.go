package client

import (
	"context"
	"crypto/sha256"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/vitalchain/vitalchain/ledger"
)

// fakeNode is a node whose mempool and blocks the test scripts.
type fakeNode struct {
	mu      sync.Mutex
	height  int64
	blocks  map[int64]*Block
	answers []uint32 // CheckTx codes for the next broadcasts; then "in cache"
	sent    int
}

func (n *fakeNode) Height(context.Context) (int64, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.height, nil
}

func (n *fakeNode) BroadcastTx(context.Context, []byte) (uint32, string, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.sent++
	if len(n.answers) == 0 {
		return 0, "", errors.New("rpc error: " + errTxInCache)
	}
	code := n.answers[0]
	n.answers = n.answers[1:]
	return code, "refused", nil
}

func (n *fakeNode) Query(context.Context, string) (uint32, []byte, string, error) {
	return 1, nil, "", nil
}

func (n *fakeNode) Block(_ context.Context, h int64) (*Block, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if b, ok := n.blocks[h]; ok {
		return b, nil
	}
	return &Block{Height: h}, nil
}

func (n *fakeNode) NewBlocks(ctx context.Context) (<-chan *Block, error) {
	ch := make(chan *Block)
	go func() { <-ctx.Done(); close(ch) }()
	return ch, nil
}

// commit puts tx in a new block that no event announces.
func (n *fakeNode) commit(tx []byte, code uint32) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.height++
	n.blocks[n.height] = &Block{Height: n.height, Txs: [][]byte{tx}, Results: []TxResult{{Code: code}}}
}

func TestSubmitDroppedFromTheMempool(t *testing.T) {
	tx := []byte("a transaction")
	tests := []struct {
		name    string
		answers []uint32 // CheckTx codes of the first broadcast and the later ones
		commit  bool     // committed before the second broadcast, unannounced
		want    error
	}{
		// Accepted, then dropped by a recheck: the second broadcast is refused.
		{"dropped", []uint32{0, uint32(ledger.CodeReplay)}, false, ledger.Rejected(ledger.CodeReplay)},
		// Accepted and committed; the second broadcast is refused as a
		// replay, but the commit is found first.
		{"committed", []uint32{0, uint32(ledger.CodeReplay)}, true, nil},
		// Still in the mempool, then committed.
		{"in cache", []uint32{0}, true, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := &fakeNode{height: 1, blocks: map[int64]*Block{}, answers: tc.answers}
			c := New(n, nil)
			c.rebroadcast = 30 * time.Millisecond
			defer c.Close()
			if tc.commit {
				go func() { time.Sleep(10 * time.Millisecond); n.commit(tx, 0) }()
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			cm, err := c.Submit(ctx, tx)
			if tc.want != nil {
				if !errors.Is(err, tc.want) {
					t.Fatalf("got %v, want %v", err, tc.want)
				}
				return
			}
			if err != nil || cm.Hash != sha256.Sum256(tx) || cm.Height != 2 {
				t.Fatalf("got %+v, %v", cm, err)
			}
		})
	}
}

func TestRejectionNamesItsCodeOnce(t *testing.T) {
	for _, log := range []string{"duplicate: m is already in cluster 2", "m is already in cluster 2"} {
		err := (&Committed{Code: ledger.CodeDuplicate, Log: log}).Err()
		if got := err.Error(); got != "duplicate: m is already in cluster 2" || !errors.Is(err, ledger.Rejected(ledger.CodeDuplicate)) {
			t.Errorf("log %q: %q", log, got)
		}
	}
}
