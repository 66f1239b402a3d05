package provider

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/vitalchain/vitalchain/cloud/cloudapi"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/lifecycle"
)

// ErrForgedState is an alert's state whose changes do not verify: a
// change not signed by the member it names, or of another alert.
var ErrForgedState = errors.New("alert state with a forged change")

// ChangeAlert asks the cloud, with a request signed by the key this
// provider uses with the alert's patient (its relation key once the
// patient registered it; the patient known from the alert's record or its
// state, as Poll and AlertStates saw them), to acknowledge, resolve or snooze (until) an alert, and returns the
// alert's state after it, as the cloud keeps it for every party. The
// cloud refuses (a *cloudapi.RequestError) a provider without a live
// grant for the alert's patient (no_grant, revoked, expired), an unknown
// alert (unknown_alert) and a change the lifecycle does not allow
// (illegal_transition).
func (p *Provider) ChangeAlert(ctx context.Context, alert [32]byte, action lifecycle.Action, until time.Time) (*lifecycle.Status, error) {
	var from uint64
	switch action {
	case lifecycle.Ack, lifecycle.Resolve:
	case lifecycle.Snooze:
		from = uint64(until.UnixMilli())
	default:
		return nil, fmt.Errorf("provider: %w: %q", lifecycle.ErrAction, action)
	}
	key, err := p.alertKey(ctx, alert)
	if err != nil {
		return nil, fmt.Errorf("provider: %s alert %x: %w", action, alert[:8], err)
	}
	st, err := p.cfg.Cloud.ChangeAlert(ctx, key.Signing, string(action), alert, from, nil)
	if err != nil {
		return nil, fmt.Errorf("provider: %s alert %x: %w", action, alert[:8], err)
	}
	return st, nil
}

// AlertStates returns the states, as the cloud keeps them, of the alerts
// of this provider's patients changed after the cloud's sequence number
// from, and the from of the next call. Each state's changes are checked:
// each signed by its signer's key on the ledger, for this alert; a state
// whose changes do not verify is left out and counted
// (Stats.StatesForged).
//
// It asks under each key that Poll polls under (the registered key, and
// each patient's relation key), and returns the least of their next froms:
// a state may come twice, never not at all.
func (p *Provider) AlertStates(ctx context.Context, from uint64) ([]lifecycle.Status, uint64, error) {
	keys, err := p.pollKeys(ctx)
	if err != nil {
		return nil, from, err
	}
	var out []lifecycle.Status
	next := uint64(math.MaxUint64)
	seen := map[[32]byte]int{}
	for _, k := range keys {
		sts, n, err := p.alertStatesAs(ctx, k, from)
		if err != nil {
			return nil, from, err
		}
		next = min(next, n)
		for _, s := range sts {
			if i, ok := seen[s.Alert]; ok {
				out[i] = s
				continue
			}
			seen[s.Alert] = len(out)
			out = append(out, s)
		}
	}
	p.mu.Lock()
	if len(p.records)+len(out) > maxCache {
		clear(p.records)
	}
	for _, s := range out {
		p.records[s.Alert] = s.Patient
	}
	p.mu.Unlock()
	return out, next, nil
}

// alertKey is the key to sign a change of alert with: the key of its
// patient, known from the alert's record or its state (read from the
// cloud if this provider has not seen it yet), or the registered key.
func (p *Provider) alertKey(ctx context.Context, alert [32]byte) (*identity.Identity, error) {
	lookup := func() (identity.ID, bool) {
		p.mu.Lock()
		defer p.mu.Unlock()
		patient, ok := p.records[alert]
		return patient, ok
	}
	patient, ok := lookup()
	if !ok {
		if _, _, err := p.AlertStates(ctx, 0); err != nil {
			return nil, err
		}
		if patient, ok = lookup(); !ok {
			return p.cfg.Key, nil
		}
	}
	return p.keyFor(ctx, patient)
}

// alertStatesAs is AlertStates under one key.
func (p *Provider) alertStatesAs(ctx context.Context, key *identity.Identity, from uint64) ([]lifecycle.Status, uint64, error) {
	var out []lifecycle.Status
	for {
		res, err := p.cfg.Cloud.AlertStates(ctx, key.Signing, from)
		if err != nil {
			return out, from, fmt.Errorf("provider: alert states: %w", err)
		}
		for _, s := range res.States {
			err := p.verifyState(ctx, s)
			if errors.Is(err, ErrForgedState) {
				p.count(func(st *Stats) { st.StatesForged++ })
				p.log.Warn("alert state refused", "alert", fmt.Sprintf("%x", s.Alert[:8]), "err", err)
				continue
			}
			if err != nil {
				return out, from, err
			}
			out = append(out, s)
		}
		from = max(from, res.Seq)
		if !res.More {
			return out, from, nil
		}
	}
}

// verifyState checks each change of an alert's state: a request signed by
// its requester's registered key, for this alert.
func (p *Provider) verifyState(ctx context.Context, s lifecycle.Status) error {
	if len(s.Changes) == 0 && !s.NoData {
		return fmt.Errorf("%w: alert %x: a state without its changes", ErrForgedState, s.Alert[:8])
	}
	for i, raw := range s.Changes {
		r, err := cloudapi.ParseRequest(raw)
		if err != nil {
			return fmt.Errorf("%w: alert %x change %d: %w", ErrForgedState, s.Alert[:8], i, err)
		}
		if !cloudapi.StateOps[r.Op] || (r.Op != cloudapi.OpNoData && r.Record != s.Alert) {
			return fmt.Errorf("%w: alert %x change %d: a %q of %x", ErrForgedState, s.Alert[:8], i, r.Op, r.Record[:8])
		}
		m, err := p.member(ctx, r.Requester)
		if errors.Is(err, errUnregistered) {
			return fmt.Errorf("%w: alert %x change %d: %w", ErrForgedState, s.Alert[:8], i, err)
		}
		if err != nil {
			return err
		}
		k, err := m.VerifyingKey()
		if err != nil {
			return fmt.Errorf("%w: alert %x change %d: %w", ErrForgedState, s.Alert[:8], i, err)
		}
		msg, err := r.SignedBytes()
		if err != nil {
			return fmt.Errorf("%w: %w", ErrForgedState, err)
		}
		if err := k.VerifyContext(cloudapi.RequestContext, msg, r.Sig); err != nil {
			return fmt.Errorf("%w: alert %x change %d by %s: %w", ErrForgedState, s.Alert[:8], i, r.Requester, err)
		}
		if r.Op == cloudapi.OpNoData {
			var dev identity.ID
			copy(dev[:], r.Subject)
			if dev == s.Patient {
				dev = identity.ID{}
			}
			if lifecycle.NoDataID(s.Patient, dev, int64(r.From)) != s.Alert {
				return fmt.Errorf("%w: no-data alert %x: its raise names another", ErrForgedState, s.Alert[:8])
			}
		}
	}
	return nil
}
