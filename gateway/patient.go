package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/vitalchain/vitalchain/client"
	"github.com/vitalchain/vitalchain/envelope"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/ledger"
)

// Patient holds a patient's keys and performs the patient's transactions
// (1, 2 and revokes); a Gateway embeds one. It needs no other state, so
// the command line uses it alone while a gateway runs elsewhere.
type Patient struct {
	id     *identity.Identity
	me     identity.ID
	chain  *client.Client
	signer *client.Signer
	log    *slog.Logger
	now    func() time.Time

	keyMu sync.RWMutex
	epoch uint64
	key   envelope.SessionKey // zero once the patient's data is erased

	txMu     sync.Mutex // one patient transaction at a time
	revokeMu sync.Mutex

	relMu      sync.Mutex
	byRel      map[identity.ID]identity.ID // relation key → its provider (verified bindings)
	byProvider map[identity.ID]identity.ID // provider → its relation key
}

// OpenPatient recovers a registered patient's current session key from the
// ledger, starting epoch 1 (transaction 1) if it has none.
func OpenPatient(ctx context.Context, id *identity.Identity, chain *client.Client, log *slog.Logger) (*Patient, error) {
	if err := id.Role().Want(identity.RolePatient); err != nil {
		return nil, fmt.Errorf("patient key: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := &Patient{id: id, me: id.ID(), chain: chain, log: log, now: time.Now}
	m, err := chain.Member(ctx, p.me)
	if err != nil {
		return nil, fmt.Errorf("patient %s on the ledger: %w", p.me, err)
	}
	if m.Role != identity.RolePatient {
		return nil, fmt.Errorf("%s is registered as a %s", p.me, m.Role)
	}
	if p.signer, err = chain.Signer(ctx, id.Signing); err != nil {
		return nil, err
	}
	if err := p.loadKey(ctx); err != nil {
		return nil, err
	}
	return p, nil
}

// ID returns the patient's ID.
func (p *Patient) ID() identity.ID { return p.me }

// Epoch returns the current key epoch.
func (p *Patient) Epoch() uint64 {
	p.keyMu.RLock()
	defer p.keyMu.RUnlock()
	return p.epoch
}

func (p *Patient) current() (uint64, envelope.SessionKey) {
	p.keyMu.RLock()
	defer p.keyMu.RUnlock()
	return p.epoch, p.key
}

// loadKey recovers the current epoch's key, or starts epoch 1.
func (p *Patient) loadKey(ctx context.Context) error {
	epoch, err := p.chain.Epoch(ctx, p.me)
	if err != nil && !errors.Is(err, client.ErrNotFound) {
		return err
	}
	if epoch == 0 {
		return p.startEpoch(ctx)
	}
	b, err := p.chain.Envelope(ctx, p.me, epoch, p.me)
	if err != nil {
		return fmt.Errorf("epoch %d envelope: %w", epoch, err)
	}
	e, err := envelope.ParseEnvelope(b)
	if err != nil {
		return err
	}
	// Signed by the patient itself: a node cannot hand over a key of its
	// choosing, which anyone can wrap to the patient's public key.
	key, err := e.Unwrap(envelope.SelfContext(p.me, epoch, p.id.Decryption.Suite()), p.id.Decryption, p.id.Signing.Public())
	if err != nil {
		return fmt.Errorf("epoch %d: %w", epoch, err)
	}
	p.keyMu.Lock()
	p.epoch, p.key = epoch, key
	p.keyMu.Unlock()
	return nil
}

// startEpoch performs transaction 1 for epoch 1.
func (p *Patient) startEpoch(ctx context.Context) error {
	key, err := envelope.NewSessionKey()
	if err != nil {
		return err
	}
	e, err := envelope.SelfEnvelope(p.id, 1, key)
	if err != nil {
		return err
	}
	b, err := e.Marshal()
	if err != nil {
		return err
	}
	if err := p.submit(ctx, &ledger.SessionKey{Epoch: 1, Envelope: b}); err != nil {
		return fmt.Errorf("start epoch 1: %w", err)
	}
	p.keyMu.Lock()
	p.epoch, p.key = 1, key
	p.keyMu.Unlock()
	p.log.Info("session key published", "epoch", 1)
	return nil
}

func (p *Patient) submit(ctx context.Context, body ledger.Body) error {
	p.txMu.Lock()
	defer p.txMu.Unlock()
	_, err := p.signer.Submit(ctx, body)
	return err
}
