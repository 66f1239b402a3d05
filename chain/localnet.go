package chain

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"
)

// LocalNet is a network of authorities running in this process: for tests,
// benchmarks and the demo.
type LocalNet struct {
	Testnet *Testnet
	Nodes   []*Node // nil where a node is stopped
	log     *slog.Logger
}

// StartLocal writes a testnet under o.Dir, starts every node in this
// process and waits until the chain has committed its first block.
//
// The testnet's ports are free when it is written and bound when its nodes
// start; another process can take one in between (parallel tests do). A
// start that finds a port taken removes what it wrote and starts afresh, on
// other ports, up to startAttempts times.
func StartLocal(ctx context.Context, o TestnetOptions, log *slog.Logger) (*LocalNet, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	for attempt := 1; ; attempt++ {
		ln, err := startLocal(ctx, o, log)
		if err == nil || attempt == startAttempts || !portTaken(err) {
			return ln, err
		}
		log.Warn("a port of the testnet was taken before its node bound it: starting afresh", "attempt", attempt, "err", err)
	}
}

// startAttempts bounds StartLocal's fresh starts after a port was taken.
const startAttempts = 3

// portTaken reports whether err is a listener's "address already in use"
// (CometBFT does not always wrap the system's error).
func portTaken(err error) bool {
	return errors.Is(err, syscall.EADDRINUSE) || strings.Contains(err.Error(), "address already in use")
}

func startLocal(ctx context.Context, o TestnetOptions, log *slog.Logger) (*LocalNet, error) {
	tn, err := WriteTestnet(o)
	if err != nil {
		return nil, err
	}
	ln := &LocalNet{Testnet: tn, Nodes: make([]*Node, len(tn.Homes)), log: log}
	for i := range tn.Homes {
		if err := ln.StartNode(i); err != nil {
			ln.Stop()
			if portTaken(err) {
				// Gone, so that a fresh start can write the testnet again.
				for _, d := range append([]string{tn.CADir}, tn.Homes...) {
					os.RemoveAll(d)
				}
			}
			return nil, err
		}
	}
	if err := ln.WaitHeight(ctx, 1); err != nil {
		ln.Stop()
		return nil, err
	}
	return ln, nil
}

// StartNode (re)starts node i from its home.
func (ln *LocalNet) StartNode(i int) error {
	if ln.Nodes[i] != nil {
		return fmt.Errorf("node %d is running", i)
	}
	n, err := Open(ln.Testnet.Homes[i], ln.log.With("node", i))
	if err != nil {
		return err
	}
	if err := n.Start(); err != nil {
		n.Stop()
		return err
	}
	ln.Nodes[i] = n
	return nil
}

// StopNode stops node i.
func (ln *LocalNet) StopNode(i int) error {
	n := ln.Nodes[i]
	if n == nil {
		return nil
	}
	ln.Nodes[i] = nil
	return n.Stop()
}

// Stop stops every running node, in parallel.
func (ln *LocalNet) Stop() error {
	var wg sync.WaitGroup
	errs := make([]error, len(ln.Nodes))
	for i, n := range ln.Nodes {
		if n == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = n.Stop()
		}()
		ln.Nodes[i] = nil
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Running returns the first running node.
func (ln *LocalNet) Running() *Node {
	for _, n := range ln.Nodes {
		if n != nil {
			return n
		}
	}
	return nil
}

// WaitHeight waits until every running node has committed height h.
func (ln *LocalNet) WaitHeight(ctx context.Context, h int64) error {
	for {
		low := int64(-1)
		for _, n := range ln.Nodes {
			if n == nil {
				continue
			}
			nh, _ := n.App().Height()
			if low < 0 || nh < low {
				low = nh
			}
		}
		if low >= h {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for height %d (lowest node at %d): %w", h, low, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}
