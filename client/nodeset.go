package client

import (
	"context"
	"sync"
)

// nodeSet is a Client's nodes: calls go to the current one; a node that
// fails a call, or answers what does not verify, makes the next one
// current (failover).
type nodeSet struct {
	nodes []Node
	mu    sync.Mutex
	cur   int
}

var _ Node = (*nodeSet)(nil)

func (s *nodeSet) len() int { return len(s.nodes) }

// current returns the current node and its index.
func (s *nodeSet) current() (Node, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nodes[s.cur], s.cur
}

// failover makes the node after i current, unless another call did already.
func (s *nodeSet) failover(i int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur == i {
		s.cur = (i + 1) % len(s.nodes)
	}
}

// each calls f on the current node, then on the next ones while f fails
// and ctx lasts.
func each[T any](ctx context.Context, s *nodeSet, f func(Node) (T, error)) (T, error) {
	var (
		v   T
		err error
	)
	for range s.nodes {
		n, i := s.current()
		if v, err = f(n); err == nil || ctx.Err() != nil {
			return v, err
		}
		s.failover(i)
	}
	return v, err
}

func (s *nodeSet) Height(ctx context.Context) (int64, error) {
	return each(ctx, s, func(n Node) (int64, error) { return n.Height(ctx) })
}

type broadcast struct {
	code uint32
	log  string
}

func (s *nodeSet) BroadcastTx(ctx context.Context, tx []byte) (uint32, string, error) {
	r, err := each(ctx, s, func(n Node) (broadcast, error) {
		code, log, err := n.BroadcastTx(ctx, tx)
		return broadcast{code, log}, err
	})
	return r.code, r.log, err
}

type answer struct {
	code  uint32
	value []byte
	log   string
}

func (s *nodeSet) Query(ctx context.Context, path string) (uint32, []byte, string, error) {
	r, err := each(ctx, s, func(n Node) (answer, error) {
		code, value, log, err := n.Query(ctx, path)
		return answer{code, value, log}, err
	})
	return r.code, r.value, r.log, err
}

func (s *nodeSet) Block(ctx context.Context, height int64) (*Block, error) {
	return each(ctx, s, func(n Node) (*Block, error) { return n.Block(ctx, height) })
}

func (s *nodeSet) NewBlocks(ctx context.Context) (<-chan *Block, error) {
	return each(ctx, s, func(n Node) (<-chan *Block, error) { return n.NewBlocks(ctx) })
}
