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
func (g *Patient) provider(ctx context.Context, id identity.ID) (identity.Public, error) {
	m, err := g.chain.Member(ctx, id)
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
func (g *Patient) Grant(ctx context.Context, provider identity.ID, scope []vital.Kind, commands bool, expiry time.Time) error {
	p, err := g.provider(ctx, provider)
	if err != nil {
		return err
	}
	scope = slices.Clone(scope)
	slices.Sort(scope)
	scope = slices.Compact(scope)
	epoch, key := g.current()
	e, err := envelope.GrantEnvelope(g.id, p, epoch, key)
	if err != nil {
		return err
	}
	b, err := e.Marshal()
	if err != nil {
		return err
	}
	return g.submit(ctx, &ledger.Grant{Provider: provider, Scope: scope, Commands: commands, Expiry: expiry.UnixMilli(), Epoch: epoch, Envelope: b})
}

// Grants lists the patient's grants as the ledger holds them.
func (g *Patient) Grants(ctx context.Context) ([]ledger.GrantEntry, error) {
	gs, err := g.chain.Grants(ctx, g.me)
	if errors.Is(err, client.ErrNotFound) {
		return nil, nil
	}
	return gs, err
}

// Revoke ends provider's grant and starts a new epoch in the same
// transaction: the new session key is wrapped to the patient and to every
// other provider whose grant is active. Records sealed after Revoke
// returns use the new key.
func (g *Patient) Revoke(ctx context.Context, provider identity.ID) error {
	// One revoke at a time, so that two do not start the same epoch.
	g.revokeMu.Lock()
	defer g.revokeMu.Unlock()
	grants, err := g.Grants(ctx)
	if err != nil {
		return err
	}
	now := g.now().UnixMilli()
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
	slices.SortFunc(keep, func(a, b identity.ID) int { return slices.Compare(a[:], b[:]) })
	key, err := envelope.NewSessionKey()
	if err != nil {
		return err
	}
	next := g.Epoch() + 1
	self, err := envelope.SelfEnvelope(g.id, next, key)
	if err != nil {
		return err
	}
	sb, err := self.Marshal()
	if err != nil {
		return err
	}
	rv := &ledger.Revoke{Provider: provider, NewEpoch: next, SelfEnvelope: sb}
	for _, id := range keep {
		p, err := g.provider(ctx, id)
		if err != nil {
			return err
		}
		e, err := envelope.GrantEnvelope(g.id, p, next, key)
		if err != nil {
			return err
		}
		b, err := e.Marshal()
		if err != nil {
			return err
		}
		rv.Rewraps = append(rv.Rewraps, ledger.Rewrap{Provider: id, Envelope: b})
	}
	if err := g.submit(ctx, rv); err != nil {
		return fmt.Errorf("revoke %s: %w", provider, err)
	}
	g.keyMu.Lock()
	g.epoch, g.key = next, key
	g.keyMu.Unlock()
	g.log.Info("grant revoked; new epoch", "provider", provider, "epoch", next)
	return nil
}

// Migrate moves the patient, and those of devices that are its wearables,
// to cluster on the ledger: the overlay attached the patient to that
// cluster's head. It returns once the move is committed; a patient already
// in cluster gets an error of code ledger.CodeDuplicate.
func (g *Patient) Migrate(ctx context.Context, cluster uint32, devices []identity.ID) error {
	devices = slices.Clone(devices)
	slices.SortFunc(devices, func(a, b identity.ID) int { return slices.Compare(a[:], b[:]) })
	devices = slices.Compact(devices)
	return g.submit(ctx, &ledger.Migrate{Cluster: cluster, Devices: devices})
}
