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

// Grant performs transaction 2: it gives provider the current epoch's keys
// of the vital signs in scope until expiry, allowing device commands if
// commands is set. It returns once the grant is committed. The scope is not
// on the ledger: the envelope wraps the grant's own key, which opens the
// scope's keys sealed beside it (envelope.SealScope), so the provider can
// decrypt the records of those vital signs and no other.
//
// provider is a registered provider's ID or a relation key: the grant
// names the provider's relation key for this patient if the patient
// related it (Relate), and the provider's registered key otherwise, which
// links the provider's patients on the chain (logged as a warning).
func (p *Patient) Grant(ctx context.Context, provider identity.ID, scope []vital.Kind, commands bool, expiry time.Time) error {
	key, err := p.keyOf(ctx, provider)
	if err != nil {
		return err
	}
	if key == provider {
		if _, linkable, err := p.ProviderOf(ctx, key); err == nil && linkable {
			p.log.Warn("grant to a provider's registered key: the chain links its patients (relate its binding first)", "provider", provider)
		}
	}
	return p.grant(ctx, key, scope, commands, expiry)
}

func (p *Patient) grant(ctx context.Context, provider identity.ID, scope []vital.Kind, commands bool, expiry time.Time) error {
	scope = slices.Clone(scope)
	slices.Sort(scope)
	scope = slices.Compact(scope)
	if len(scope) == 0 {
		return errors.New("grant with an empty scope")
	}
	pub, err := p.provider(ctx, provider)
	if err != nil {
		return err
	}
	epoch, key := p.current()
	if key.IsZero() {
		return ErrErased
	}
	g, err := p.grantOf(pub, epoch, key, scope)
	if err != nil {
		return err
	}
	return p.submit(ctx, &ledger.Grant{Provider: provider, Commands: commands, Expiry: expiry.UnixMilli(), Epoch: epoch, Envelope: g.Envelope, Keys: g.Keys})
}

// grantOf returns the envelope and sealed scope keys of a grant of epoch
// (whose key is key) to provider.
func (p *Patient) grantOf(provider identity.Public, epoch uint64, key envelope.SessionKey, scope []vital.Kind) (ledger.Rewrap, error) {
	id := provider.Verifying.ID()
	e, err := envelope.GrantEnvelope(p.id, provider, epoch, envelope.GrantKey(key, p.me, id, epoch))
	if err != nil {
		return ledger.Rewrap{}, err
	}
	b, err := e.Marshal()
	if err != nil {
		return ledger.Rewrap{}, err
	}
	keys, err := envelope.SealScope(key, p.me, id, epoch, scope)
	if err != nil {
		return ledger.Rewrap{}, err
	}
	return ledger.Rewrap{Provider: id, Envelope: b, Keys: keys}, nil
}

// Scope returns the vital signs of provider's grant in the current epoch,
// read from the ledger and opened with the patient's key (the ledger holds
// them sealed). A grant that holds no key of the current epoch (expired or
// revoked before it began) has an empty scope.
func (p *Patient) Scope(ctx context.Context, provider identity.ID) ([]vital.Kind, error) {
	provider, err := p.keyOf(ctx, provider)
	if err != nil {
		return nil, err
	}
	epoch, key := p.current()
	if key.IsZero() {
		return nil, ErrErased
	}
	b, err := p.chain.ScopeKeys(ctx, p.me, epoch, provider)
	if errors.Is(err, client.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	keys, err := envelope.OpenScope(envelope.GrantKey(key, p.me, provider, epoch), p.me, provider, epoch, b)
	if err != nil {
		return nil, err
	}
	return envelope.Scope(keys), nil
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
// transaction: the new epoch's key is wrapped to the patient, and every
// other provider whose grant is active gets the new epoch's keys of its
// scope. Records sealed after Revoke returns use the new keys.
func (p *Patient) Revoke(ctx context.Context, provider identity.ID) error {
	key, err := p.keyOf(ctx, provider)
	if err != nil {
		return err
	}
	return p.revoke(ctx, key, false)
}

// RekeyExpired treats an expired grant like a revoke: if a grant that holds
// the current epoch's keys has expired, it starts a new epoch (revoking
// that grant on the ledger), so that the provider gets no key of the
// records sealed from then on. It reports whether it did. The gateway runs
// it every ExpiryCheck.
func (p *Patient) RekeyExpired(ctx context.Context) (bool, error) {
	grants, err := p.Grants(ctx)
	if err != nil {
		return false, err
	}
	epoch, key := p.current()
	if key.IsZero() {
		return false, nil
	}
	now := p.now().UnixMilli()
	for _, e := range grants {
		if e.Grant.Revoked == 0 && e.Grant.Expiry <= now && e.Grant.Epoch == epoch {
			if err := p.revoke(ctx, e.Provider, true); err != nil {
				return false, err
			}
			p.log.Info("grant expired; new epoch", "provider", e.Provider, "epoch", p.Epoch())
			return true, nil
		}
	}
	return false, nil
}

func (p *Patient) revoke(ctx context.Context, provider identity.ID, expired bool) error {
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
		if e.Provider == provider && e.Grant.Revoked == 0 && (expired || e.Grant.Active(now)) {
			found = true
			continue
		}
		if e.Grant.Active(now) {
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
		// The same scope in the new epoch: the patient reads it from the
		// current epoch's sealed keys.
		scope, err := p.Scope(ctx, id)
		if err != nil {
			return fmt.Errorf("scope of %s: %w", id, err)
		}
		w, err := p.grantOf(pub, next, key, scope)
		if err != nil {
			return err
		}
		rv.Rewraps = append(rv.Rewraps, w)
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
