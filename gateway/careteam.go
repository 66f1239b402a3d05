package gateway

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/vitalchain/vitalchain/client"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/ledger"
	"github.com/vitalchain/vitalchain/relation"
)

// A patient's care team is on the ledger under relation keys (package
// relation): each provider's key for this patient only, so that the chain
// does not link a provider's patients. The patient's client knows who is
// behind each from the provider's binding, which it verified before it
// registered the relation key, and which the ledger keeps sealed to the
// patient's key. Grant, Revoke and Scope take either a provider's
// registered ID or a relation key.

// Relate checks a provider's binding of its relation key for this patient
// against the ledger's registration of the provider (relation.ErrBinding
// if it does not verify), and registers the relation key on the ledger,
// bound to the patient, with the binding sealed to the patient's key,
// unless it is registered already. It returns the relation key's ID: what
// the patient's grants and contracts name.
func (p *Patient) Relate(ctx context.Context, b *relation.Binding) (identity.ID, error) {
	var pm *ledger.Member
	err := fresh(ctx, func() (err error) { pm, err = p.chain.Member(ctx, b.Provider); return err })
	if err != nil {
		return identity.ID{}, fmt.Errorf("provider %s: %w", b.Provider, err)
	}
	if pm.Role != identity.RoleProvider || pm.IsRelation() {
		return identity.ID{}, fmt.Errorf("%w: %s is not a registered provider", relation.ErrBinding, b.Provider)
	}
	vk, err := pm.VerifyingKey()
	if err != nil {
		return identity.ID{}, err
	}
	if err := b.Verify(p.me, vk); err != nil {
		return identity.ID{}, err
	}
	rel := b.ID()
	err = fresh(ctx, func() error { _, err := p.chain.Member(ctx, rel); return err })
	switch {
	case errors.Is(err, client.ErrNotFound):
		reg := b.Register()
		if reg.Binding, err = relation.Seal(b, p.id.Decryption.Public()); err != nil {
			return identity.ID{}, err
		}
		if err = p.submit(ctx, reg); errors.Is(err, ledger.Rejected(ledger.CodeDuplicate)) {
			err = p.registeredFor(ctx, rel, b.Provider) // another client of the patient's was first
		}
	case err == nil:
		err = p.registeredFor(ctx, rel, b.Provider)
	}
	if err != nil {
		return identity.ID{}, fmt.Errorf("register relation key of provider %s: %w", b.Provider, err)
	}
	p.remember(rel, b.Provider)
	p.log.Info("relation key registered", "provider", b.Provider, "relation", rel)
	return rel, nil
}

// fresh runs query, again while the node answers with a state older than
// this client's own latest transaction (client.ErrStale), for up to 5 s:
// the care team is read right after the patient's own registrations and
// grants.
func fresh(ctx context.Context, query func() error) error {
	for tries := 0; ; tries++ {
		err := query()
		if !errors.Is(err, client.ErrStale) || tries >= 50 {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// registeredFor checks that relation key rel, registered already, is this
// patient's and bound to provider.
func (p *Patient) registeredFor(ctx context.Context, rel, provider identity.ID) error {
	var got *relation.Binding
	err := fresh(ctx, func() (err error) { got, err = relation.Resolve(ctx, p.chain, p.id, rel); return err })
	switch {
	case err != nil:
		return err
	case got.Provider != provider:
		return fmt.Errorf("%w: relation key %s is registered for provider %s", relation.ErrBinding, rel, got.Provider)
	}
	return nil
}

func (p *Patient) remember(rel, provider identity.ID) {
	p.relMu.Lock()
	defer p.relMu.Unlock()
	if p.byRel == nil {
		p.byRel, p.byProvider = map[identity.ID]identity.ID{}, map[identity.ID]identity.ID{}
	}
	p.byRel[rel], p.byProvider[provider] = provider, rel
}

// ProviderOf returns the registered provider behind key, a provider key
// that this patient's grants or contracts name: for a relation key, the
// provider that its verified binding names (linkable false); for a
// provider's registered key, itself (linkable true: a direct grant, which
// links the provider's patients on the chain).
func (p *Patient) ProviderOf(ctx context.Context, key identity.ID) (provider identity.ID, linkable bool, err error) {
	p.relMu.Lock()
	prov, ok := p.byRel[key]
	p.relMu.Unlock()
	if ok {
		return prov, false, nil
	}
	var b *relation.Binding
	err = fresh(ctx, func() (err error) { b, err = relation.Resolve(ctx, p.chain, p.id, key); return err })
	if errors.Is(err, relation.ErrNotRelation) {
		return key, true, nil
	}
	if err != nil {
		return identity.ID{}, false, err
	}
	p.remember(key, b.Provider)
	return b.Provider, false, nil
}

// keyOf returns the key under which provider (a registered provider's ID,
// or a relation key) is in this patient's care team: its relation key if
// the patient related it (Relate, a grant of the care team, or a party to
// one of the patient's contracts), else the ID itself.
func (p *Patient) keyOf(ctx context.Context, provider identity.ID) (identity.ID, error) {
	p.relMu.Lock()
	rel, ok := p.byProvider[provider]
	_, isRel := p.byRel[provider]
	p.relMu.Unlock()
	switch {
	case ok:
		return rel, nil
	case isRel:
		return provider, nil
	}
	if _, err := p.CareTeam(ctx); err != nil {
		return identity.ID{}, err
	}
	if rel, ok := p.related(provider); ok {
		return rel, nil
	}
	// A provider related for a contract and not granted yet.
	ids, err := p.chain.Contracts(ctx, p.me)
	if err != nil && !errors.Is(err, client.ErrNotFound) {
		return identity.ID{}, err
	}
	for _, id := range ids {
		c, err := p.chain.Contract(ctx, id)
		if err != nil {
			return identity.ID{}, fmt.Errorf("contract %x: %w", id[:8], err)
		}
		if c.Patient != p.me {
			continue
		}
		for _, key := range c.Providers {
			if _, _, err := p.ProviderOf(ctx, key); err != nil {
				return identity.ID{}, err
			}
		}
	}
	if rel, ok := p.related(provider); ok {
		return rel, nil
	}
	return provider, nil
}

func (p *Patient) related(provider identity.ID) (identity.ID, bool) {
	p.relMu.Lock()
	defer p.relMu.Unlock()
	rel, ok := p.byProvider[provider]
	return rel, ok
}

// CareTeamEntry is a grant of the patient's with the provider behind it.
type CareTeamEntry struct {
	ledger.GrantEntry             // Provider is the key the grant names
	Real              identity.ID // the registered provider (ProviderOf)
	Linkable          bool        // the grant names the provider's registered key
}

// CareTeam lists the patient's grants as the ledger holds them, each with
// the registered provider behind its key, from the key's verified binding.
func (p *Patient) CareTeam(ctx context.Context) ([]CareTeamEntry, error) {
	gs, err := p.Grants(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]CareTeamEntry, 0, len(gs))
	for _, g := range gs {
		real, linkable, err := p.ProviderOf(ctx, g.Provider)
		if err != nil {
			return nil, fmt.Errorf("care team: %w", err)
		}
		out = append(out, CareTeamEntry{GrantEntry: g, Real: real, Linkable: linkable})
	}
	return out, nil
}
