package client

import (
	"context"
	"crypto/sha256"
	"errors"
	"sync"
	"sync/atomic"
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
	// later puts the transaction of the broadcast numbered k (from 1) in a
	// new block, unannounced, with result code later[k].
	later map[int]ledger.Code
	// onHeight, if set, runs first in Height (without n.mu), and its error
	// is Height's.
	onHeight   func() error
	heights    int // Height calls
	subscribed int // NewBlocks calls
	active     int // NewBlocks channels not yet closed
}

func newFakeNode(answers ...uint32) *fakeNode {
	return &fakeNode{height: 1, blocks: map[int64]*Block{}, answers: answers}
}

func (n *fakeNode) Height(context.Context) (int64, error) {
	n.mu.Lock()
	n.heights++
	hook := n.onHeight
	n.mu.Unlock()
	if hook != nil {
		if err := hook(); err != nil {
			return 0, err
		}
	}
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
	if code, ok := n.later[n.sent]; ok {
		n.height++
		n.blocks[n.height] = &Block{Height: n.height, Txs: [][]byte{tx}, Results: []TxResult{{Code: uint32(code)}}}
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
	n.mu.Lock()
	n.subscribed++
	n.active++
	n.mu.Unlock()
	ch := make(chan *Block)
	go func() {
		<-ctx.Done()
		n.mu.Lock()
		n.active--
		n.mu.Unlock()
		close(ch)
	}()
	return ch, nil
}

// counts returns the node's Height and NewBlocks calls, and its open
// NewBlocks channels.
func (n *fakeNode) counts() (heights, subscribed, active int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.heights, n.subscribed, n.active
}

// Submit returns a successful commit, or an error, never both.
func TestSubmit(t *testing.T) {
	tx := []byte("a transaction")
	tests := []struct {
		name    string
		answers []uint32    // CheckTx codes of the first broadcast and the later ones
		commit  bool        // committed at its first broadcast, unannounced
		code    ledger.Code // its result in the block
		later   map[int]ledger.Code
		height  int64 // the height it commits at, if not 2
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
		// Over its signer's cap: sent again until it commits.
		{name: "over its signer's cap in CheckTx", answers: []uint32{uint32(ledger.CodeOverCap), uint32(ledger.CodeOverCap), 0},
			later: map[int]ledger.Code{3: ledger.CodeOK}},
		{name: "over its signer's cap in its block", answers: []uint32{0, 0}, commit: true, code: ledger.CodeOverCap,
			later: map[int]ledger.Code{2: ledger.CodeOK}, height: 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := newFakeNode(tc.answers...)
			n.commit, n.code, n.later = tc.commit, tc.code, tc.later
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
				height := tc.height
				if height == 0 {
					height = 2
				}
				if err != nil || cm == nil || cm.Hash != sha256.Sum256(tx) || cm.Height != height || cm.Err() != nil {
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

// within fails the test unless f returns in good time.
func within(t *testing.T, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: still blocked", what)
	}
}

// eventually fails the test unless cond holds in good time.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not yet", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// hang makes n's Height block until the returned release is called (and
// ignore its context meanwhile); entered receives once Height is called.
func hang(n *fakeNode) (entered <-chan struct{}, release func()) {
	in, out := make(chan struct{}, 1), make(chan struct{})
	n.onHeight = func() error {
		select {
		case in <- struct{}{}:
		default:
		}
		<-out
		return nil
	}
	var once sync.Once
	return in, func() { once.Do(func() { close(out) }) }
}

// While the node does not answer the start, callers give up with their
// context, the rest of the client is not held up, and Close ends it all.
func TestFollowHangingNode(t *testing.T) {
	n := newFakeNode()
	entered, release := hang(n)
	defer release()
	c := New(n, nil)
	defer c.Close()

	var err error
	within(t, "Submit whose context ends", func() {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		var cm *Committed
		if cm, err = c.Submit(ctx, []byte("tx")); cm != nil {
			t.Errorf("a commit from a node that never answered: %+v", cm)
		}
	})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Submit: %v", err)
	}
	within(t, "the node's Height", func() { <-entered })

	// Another caller waits for the same start, until its own ctx ends.
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := c.Subscribe(ctx, Type("alert"))
		errc <- err
	}()
	cancel()
	within(t, "Subscribe whose context ends", func() { err = <-errc })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Subscribe: %v", err)
	}

	// What needs the client's lock does not wait for the node.
	within(t, "a delivery", func() { c.deliver(&Block{Height: 2}) })
	waiting := make(chan error, 1)
	go func() {
		_, err := c.Subscribe(context.Background(), Type("alert"))
		waiting <- err
	}()
	within(t, "Close", func() { c.Close() })
	within(t, "Subscribe waiting at Close", func() { err = <-waiting })
	if !errors.Is(err, ErrClosed) {
		t.Fatalf("Subscribe waiting at Close: %v", err)
	}
	if _, err := c.Submit(context.Background(), []byte("tx")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Submit after Close: %v", err)
	}

	// The node answers at last: the start ends, and leaves nothing running.
	release()
	eventually(t, "the start ends", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.starting == nil && c.started {
			t.Fatal("started after Close")
		}
		return c.starting == nil
	})
	eventually(t, "no subscription to new blocks left", func() bool { _, _, active := n.counts(); return active == 0 })
	if heights, _, _ := n.counts(); heights != 1 {
		t.Fatalf("%d calls to Height: want one attempt", heights)
	}
}

// Callers that arrive during a start wait for it, and all follow the chain
// through one subscription.
func TestFollowStartsOnce(t *testing.T) {
	n := newFakeNode()
	entered, release := hang(n)
	defer release()
	c := New(n, nil)
	defer c.Close()
	errc := make(chan error, 3)
	for range 3 {
		go func() {
			_, err := c.Subscribe(context.Background(), Type("alert"))
			errc <- err
		}()
	}
	within(t, "the node's Height", func() { <-entered })
	release()
	for range 3 {
		var err error
		within(t, "Subscribe", func() { err = <-errc })
		if err != nil {
			t.Fatal(err)
		}
	}
	if heights, subscribed, _ := n.counts(); heights != 1 || subscribed != 1 {
		t.Fatalf("%d calls to Height, %d to NewBlocks: want 1 and 1", heights, subscribed)
	}
}

// A start that failed is made again by the next call.
func TestFollowRetriesAFailedStart(t *testing.T) {
	tx := []byte("a transaction")
	errDown := errors.New("node down")
	n := newFakeNode(0, uint32(ledger.CodeReplay))
	n.commit = true
	var failed atomic.Bool
	n.onHeight = func() error {
		if failed.CompareAndSwap(false, true) {
			return errDown
		}
		return nil
	}
	c := New(n, nil)
	c.rebroadcast = 30 * time.Millisecond
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if cm, err := c.Submit(ctx, tx); cm != nil || !errors.Is(err, errDown) {
		t.Fatalf("first Submit: %+v, %v; want nil, %v", cm, err, errDown)
	}
	cm, err := c.Submit(ctx, tx)
	if err != nil || cm.Height != 2 {
		t.Fatalf("second Submit: %+v, %v", cm, err)
	}
	if heights, subscribed, _ := n.counts(); heights < 2 || subscribed != 1 {
		t.Fatalf("%d calls to Height, %d to NewBlocks", heights, subscribed)
	}
}
