package chain

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
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
func StartLocal(ctx context.Context, o TestnetOptions, log *slog.Logger) (*LocalNet, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	tn, err := WriteTestnet(o)
	if err != nil {
		return nil, err
	}
	ln := &LocalNet{Testnet: tn, Nodes: make([]*Node, len(tn.Homes)), log: log}
	for i := range tn.Homes {
		if err := ln.StartNode(i); err != nil {
			ln.Stop()
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
