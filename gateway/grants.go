package gateway

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/vitalchain/vitalchain/client"
	"github.com/vitalchain/vitalchain/envelope"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/ledger"
	"github.com/vitalchain/vitalchain/vital"
)

// ErrNotGranted is returned by Revoke for a provider without an active grant.
var ErrNotGranted = errors.New("provider holds no active grant")

// provider returns a registered provider's public keys.
func (p *Patient) provider(ctx context.Context, id identity.ID) (identity.Public, error) {
	m, err := p.chain.Member(ctx, id)
	if err != nil {
		return identity.Public{}, fmt.Errorf("provider %s: %w", id, err)
	}
	if m.Role != identity.RoleProvider {
		return identity.Public{}, fmt.Errorf("%s is a %s, not a provider", id, m.Role)
	}
	v, err := m.VerifyingKey()
	if err != nil {
		return identity.Public{}, err
	}
	e, err := m.EncryptionKey()
	if err != nil {
		return identity.Public{}, err
	}
	return identity.Public{Role: m.Role, Verifying: v, Encryption: e}, nil
}

// Grant performs transaction 2: it gives provider the current epoch's
// session key for the vital signs in scope until expiry, allowing device
// commands if commands is set. It returns once the grant is committed.
func (p *Patient) Grant(ctx context.Context, provider identity.ID, scope []vital.Kind, commands bool, expiry time.Time) error {
	pub, err := p.provider(ctx, provider)
	if err != nil {
		return err
	}
	scope = slices.Clone(scope)
	slices.Sort(scope)
	scope = slices.Compact(scope)
	epoch, key := p.current()
	if key.IsZero() {
		return ErrErased
	}
	e, err := envelope.GrantEnvelope(p.id, pub, epoch, key)
	if err != nil {
		return err
	}
	b, err := e.Marshal()
	if err != nil {
		return err
	}
	return p.submit(ctx, &ledger.Grant{Provider: provider, Scope: scope, Commands: commands, Expiry: expiry.UnixMilli(), Epoch: epoch, Envelope: b})
}

// Grants lists the patient's grants as the ledger holds them.
func (p *Patient) Grants(ctx context.Context) ([]ledger.GrantEntry, error) {
	gs, err := p.chain.Grants(ctx, p.me)
	if errors.Is(err, client.ErrNotFound) {
		return nil, nil
	}
	return gs, err
}

// Revoke ends provider's grant and starts a new epoch in the same
// transaction: the new session key is wrapped to the patient and to every
// other provider whose grant is active. Records sealed after Revoke
// returns use the new key.
func (p *Patient) Revoke(ctx context.Context, provider identity.ID) error {
	// One revoke at a time, so that two do not start the same epoch.
	p.revokeMu.Lock()
	defer p.revokeMu.Unlock()
	grants, err := p.Grants(ctx)
	if err != nil {
		return err
	}
	now := p.now().UnixMilli()
	var keep []identity.ID
	found := false
	for _, e := range grants {
		if !e.Grant.Active(now) {
			continue
		}
		if e.Provider == provider {
			found = true
		} else {
			keep = append(keep, e.Provider)
		}
	}
	if !found {
		return fmt.Errorf("%w: %s", ErrNotGranted, provider)
	}
	// The list of grants is a listing, unproved: before the new key is
	// wrapped to a provider, its grant is read proved, so that a lying
	// node cannot add a provider of its choosing.
	for _, id := range keep {
		g, err := p.chain.Grant(ctx, p.me, id)
		if err != nil {
			return fmt.Errorf("grant of %s: %w", id, err)
		}
		if !g.Active(now) {
			return fmt.Errorf("%w: the ledger's list of grants names %s, whose grant is not active", client.ErrForged, id)
		}
	}
	slices.SortFunc(keep, func(a, b identity.ID) int { return slices.Compare(a[:], b[:]) })
	key, err := envelope.NewSessionKey()
	if err != nil {
		return err
	}
	next := p.Epoch() + 1
	self, err := envelope.SelfEnvelope(p.id, next, key)
	if err != nil {
		return err
	}
	sb, err := self.Marshal()
	if err != nil {
		return err
	}
	rv := &ledger.Revoke{Provider: provider, NewEpoch: next, SelfEnvelope: sb}
	for _, id := range keep {
		pub, err := p.provider(ctx, id)
		if err != nil {
			return err
		}
		e, err := envelope.GrantEnvelope(p.id, pub, next, key)
		if err != nil {
			return err
		}
		b, err := e.Marshal()
		if err != nil {
			return err
		}
		rv.Rewraps = append(rv.Rewraps, ledger.Rewrap{Provider: id, Envelope: b})
	}
	if err := p.submit(ctx, rv); err != nil {
		return fmt.Errorf("revoke %s: %w", provider, err)
	}
	p.keyMu.Lock()
	p.epoch, p.key = next, key
	p.keyMu.Unlock()
	p.log.Info("grant revoked; new epoch", "provider", provider, "epoch", next)
	return nil
}

// Migrate moves the patient, and those of devices that are its wearables,
// to cluster on the ledger: the overlay attached the patient to that
// cluster's head. It returns once the move is committed; a patient already
// in cluster gets an error of code ledger.CodeDuplicate.
func (p *Patient) Migrate(ctx context.Context, cluster uint32, devices []identity.ID) error {
	devices = slices.Clone(devices)
	slices.SortFunc(devices, func(a, b identity.ID) int { return slices.Compare(a[:], b[:]) })
	devices = slices.Compact(devices)
	return p.submit(ctx, &ledger.Migrate{Cluster: cluster, Devices: devices})
}
