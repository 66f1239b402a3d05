package provider

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/vitalchain/vitalchain/client"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/relation"
)

// A provider deals with each patient under its relation key for that
// patient (package relation), once the patient has registered it on the
// ledger: grants, scope keys, contracts, reads, alerts, provider records
// and device commands all name the relation key, so that the chain does not
// link the provider's patients. A patient that granted the provider's
// registered key directly (an older client) is dealt with under that key.

// negativeTTL is how long a Provider trusts that a patient has not
// registered its relation key yet.
const negativeTTL = 5 * time.Second

type relEntry struct {
	key        *identity.Identity // the relation key, derived
	registered bool               // the ledger holds it, bound to the patient
	checked    time.Time          // when registered was last false
}

// relationOf returns the derived relation key for patient, cached.
func (p *Provider) relationOf(patient identity.ID) (*relEntry, error) {
	p.mu.Lock()
	e, ok := p.rels[patient]
	p.mu.Unlock()
	if ok {
		return e, nil
	}
	k, err := relation.Derive(p.cfg.Key, patient)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if e, ok := p.rels[patient]; ok {
		return e, nil
	}
	if len(p.rels) >= maxCache {
		clear(p.rels)
	}
	e = &relEntry{key: k}
	p.rels[patient] = e
	return e, nil
}

// keyFor returns the key this provider uses with patient: its relation
// key if the patient registered it on the ledger, else its registered key.
func (p *Provider) keyFor(ctx context.Context, patient identity.ID) (*identity.Identity, error) {
	e, err := p.relationOf(patient)
	if err != nil {
		return nil, err
	}
	now := p.cfg.Now()
	p.mu.Lock()
	registered, checked := e.registered, e.checked
	p.mu.Unlock()
	if registered {
		return e.key, nil
	}
	if !checked.IsZero() && now.Sub(checked) < negativeTTL {
		return p.cfg.Key, nil
	}
	m, err := p.cfg.Chain.Member(ctx, e.key.ID())
	switch {
	case errors.Is(err, client.ErrNotFound):
		p.mu.Lock()
		e.checked = now
		p.mu.Unlock()
		return p.cfg.Key, nil
	case err != nil:
		return nil, fmt.Errorf("ledger: relation key for %s: %w", patient, err)
	}
	if !m.IsRelation() || !bytes.Equal(m.Patient, patient[:]) || !bytes.Equal(m.Verifying, e.key.Signing.Public().Bytes()) {
		return nil, fmt.Errorf("provider: the ledger registers relation key %s otherwise than for patient %s", e.key.ID(), patient)
	}
	p.mu.Lock()
	e.registered = true
	p.mu.Unlock()
	return e.key, nil
}

// Bind returns this provider's binding of its relation key for patient,
// which the patient's client verifies and registers on the ledger (package
// relation); the Provider follows that patient's alerts from then on.
func (p *Provider) Bind(patient identity.ID) (*relation.Binding, error) {
	b, _, err := relation.Bind(p.cfg.Key, patient)
	if err != nil {
		return nil, fmt.Errorf("provider: bind: %w", err)
	}
	p.addPatients(patient)
	return b, nil
}

// addPatients adds patients whose relation keys Follow polls with.
func (p *Provider) addPatients(ids ...identity.ID) {
	p.mu.Lock()
	defer p.mu.Unlock()
	added := false
	for _, id := range ids {
		if !slices.Contains(p.patients, id) {
			p.patients = append(p.patients, id)
			added = true
		}
	}
	if added {
		close(p.patientsChanged)
		p.patientsChanged = make(chan struct{})
	}
}

// Patients returns the patients this provider has bound a relation key for
// (Bind, Config.Patients).
func (p *Provider) Patients() []identity.ID {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.patients)
}

// RelationID returns the ID of this provider's relation key for patient:
// the ID the patient's grants name once it has registered it.
func (p *Provider) RelationID(patient identity.ID) (identity.ID, error) {
	e, err := p.relationOf(patient)
	if err != nil {
		return identity.ID{}, err
	}
	return e.key.ID(), nil
}

// KeyFor returns the ID this provider acts under with patient: the
// relation key if the patient registered it, else the registered key.
func (p *Provider) KeyFor(ctx context.Context, patient identity.ID) (identity.ID, error) {
	k, err := p.keyFor(ctx, patient)
	if err != nil {
		return identity.ID{}, err
	}
	return k.ID(), nil
}
