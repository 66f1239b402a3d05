package client

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/ledger"
)

// Signer signs transactions for one key, numbering them, for the chain
// its client talks to.
type Signer struct {
	c       *Client
	key     *identity.SigningKey
	chainID string

	mu   sync.Mutex
	next uint64
}

// Signer returns a Signer for key that continues from the highest sequence
// number the ledger has seen from it, and signs for the node's chain
// (Client.ChainID).
func (c *Client) Signer(ctx context.Context, key *identity.SigningKey) (*Signer, error) {
	id := key.Public().ID()
	chainID, err := c.ChainID(ctx)
	if err != nil {
		return nil, fmt.Errorf("signer %s: %w", id, err)
	}
	var max uint64
	if err := c.Query(ctx, ledger.SeqPath(id), &max); err != nil && !errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("signer %s: %w", id, err)
	}
	return &Signer{c: c, key: key, chainID: chainID, next: max + 1}, nil
}

// ChainID returns the ID of the chain the client's node follows, which
// every transaction signs. It asks the node once (ledger.QueryChainID).
func (c *Client) ChainID(ctx context.Context) (string, error) {
	c.mu.Lock()
	id := c.chainID
	c.mu.Unlock()
	if id != "" {
		return id, nil
	}
	if err := c.Query(ctx, ledger.QueryChainID, &id); err != nil {
		return "", fmt.Errorf("chain ID: %w", err)
	}
	if id == "" {
		return "", errors.New("chain ID: the node has none")
	}
	c.mu.Lock()
	c.chainID = id
	c.mu.Unlock()
	return id, nil
}

// Key returns the signer's key.
func (s *Signer) Key() *identity.SigningKey { return s.key }

// ChainID returns the ID of the chain the signer signs for.
func (s *Signer) ChainID() string { return s.chainID }

// ID returns the signer's ID.
func (s *Signer) ID() identity.ID { return s.key.Public().ID() }

// Sign returns a transaction carrying body with the next sequence number.
func (s *Signer) Sign(body ledger.Body) ([]byte, error) {
	s.mu.Lock()
	seq := s.next
	s.next++
	s.mu.Unlock()
	return ledger.NewTx(s.chainID, s.key, seq, body)
}

// Submit signs body and submits it, waiting for its commit: it returns
// either the commit of a successful transaction or an error, never both
// (see Client.Submit).
func (s *Signer) Submit(ctx context.Context, body ledger.Body) (*Committed, error) {
	tx, err := s.Sign(body)
	if err != nil {
		return nil, err
	}
	return s.c.Submit(ctx, tx)
}
