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
	// commit, if set, puts the first transaction broadcast in a new block,
	// that no event announces, with result code.
	commit bool
	code   ledger.Code
}

func newFakeNode(answers ...uint32) *fakeNode {
	return &fakeNode{height: 1, blocks: map[int64]*Block{}, answers: answers}
}

func (n *fakeNode) Height(context.Context) (int64, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.height, nil
}

func (n *fakeNode) BroadcastTx(_ context.Context, tx []byte) (uint32, string, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.sent++
	if n.commit && n.sent == 1 {
		n.height++
		n.blocks[n.height] = &Block{Height: n.height, Txs: [][]byte{tx}, Results: []TxResult{{Code: uint32(n.code), Log: "refused"}}}
	}
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

// Submit returns a successful commit, or an error, never both.
func TestSubmit(t *testing.T) {
	tx := []byte("a transaction")
	tests := []struct {
		name    string
		answers []uint32    // CheckTx codes of the first broadcast and the later ones
		commit  bool        // committed at its first broadcast, unannounced
		code    ledger.Code // its result in the block
		wait    time.Duration
		want    error // nil: committed at height 2
		refused int64 // the height of the block that refused it, if any
	}{
		// Committed; the second broadcast is refused as a replay, but the
		// commit is found first.
		{name: "committed", answers: []uint32{0, uint32(ledger.CodeReplay)}, commit: true},
		// Still in the mempool, then committed.
		{name: "in cache", answers: []uint32{0}, commit: true},
		{name: "refused in its block", answers: []uint32{0, uint32(ledger.CodeReplay)}, commit: true, code: ledger.CodeDuplicate,
			want: ledger.Rejected(ledger.CodeDuplicate), refused: 2},
		{name: "refused in CheckTx", answers: []uint32{uint32(ledger.CodeInvalid)}, want: ledger.Rejected(ledger.CodeInvalid)},
		// Accepted, then dropped by a recheck: the second broadcast is refused.
		{name: "dropped", answers: []uint32{0, uint32(ledger.CodeReplay)}, want: ledger.Rejected(ledger.CodeReplay)},
		{name: "never committed", answers: []uint32{0}, wait: 200 * time.Millisecond, want: context.DeadlineExceeded},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := newFakeNode(tc.answers...)
			n.commit, n.code = tc.commit, tc.code
			c := New(n, nil)
			c.rebroadcast = 30 * time.Millisecond
			defer c.Close()
			wait := tc.wait
			if wait == 0 {
				wait = 10 * time.Second
			}
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()
			cm, err := c.Submit(ctx, tx)
			if tc.want == nil {
				if err != nil || cm == nil || cm.Hash != sha256.Sum256(tx) || cm.Height != 2 || cm.Err() != nil {
					t.Fatalf("got %+v, %v", cm, err)
				}
				return
			}
			if cm != nil || !errors.Is(err, tc.want) {
				t.Fatalf("got %+v, %v; want nil, %#v", cm, err, tc.want)
			}
			var le *ledger.Error
			if _, isCode := tc.want.(*ledger.Error); isCode && !errors.As(err, &le) {
				t.Fatalf("%v is not a *ledger.Error", err)
			}
			var re *RejectedError
			if got := errors.As(err, &re); got != (tc.refused != 0) || got && re.Height != tc.refused {
				t.Fatalf("%v: refused in its block %v (%+v), want at height %d", err, got, re, tc.refused)
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
