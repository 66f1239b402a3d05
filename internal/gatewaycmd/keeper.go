package gatewaycmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/vitalchain/vitalchain/client"
	"github.com/vitalchain/vitalchain/cloud/cloudapi"
	"github.com/vitalchain/vitalchain/gateway"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/internal/cli"
	"github.com/vitalchain/vitalchain/internal/health"
	"github.com/vitalchain/vitalchain/ledger"
	"github.com/vitalchain/vitalchain/lifecycle"
	"github.com/vitalchain/vitalchain/merklelog"
	"github.com/vitalchain/vitalchain/portal"
	"github.com/vitalchain/vitalchain/vital"
)

// Keeper is the patient's gateway as the patient portal sees it
// (portal.Keeper): its local history, the patient's contracts and grants
// from the ledger, the access log from the cloud, and the patient's grants
// and revokes.
type Keeper struct {
	GW    *gateway.Gateway
	Key   *identity.Identity // the patient's
	Chain *client.Client
	Cloud *cloudapi.Client
}

var _ portal.Keeper = (*Keeper)(nil)

func (k *Keeper) ID() identity.ID { return k.Key.ID() }

var _ portal.AlertKeeper = (*Keeper)(nil)

// AlertStates returns the states the cloud keeps of the patient's alerts
// that someone changed, and of its no-data alerts, each provider they name
// (who changed it, to whom it escalated) shown as the registered provider
// behind its relation key.
func (k *Keeper) AlertStates(ctx context.Context) ([]lifecycle.Status, error) {
	var out []lifecycle.Status
	for from := uint64(0); ; {
		res, err := k.Cloud.AlertStates(ctx, k.Key.Signing, from)
		if err != nil {
			return out, err
		}
		for _, s := range res.States {
			if s.By != (identity.ID{}) && s.By != k.Key.ID() {
				s.By = k.provider(ctx, s.By)
			}
			if s.Assigned != (identity.ID{}) {
				s.Assigned = k.provider(ctx, s.Assigned)
			}
			out = append(out, s)
		}
		if !res.More {
			return out, nil
		}
		from = res.Seq
	}
}

func (k *Keeper) Today(kind vital.Kind, since time.Time) []portal.Minute {
	ms := k.GW.History(kind, since)
	out := make([]portal.Minute, len(ms))
	for i, m := range ms {
		out[i] = portal.Minute{Start: m.Start, Min: m.Min, Max: m.Max, Last: m.Last, N: m.N, Abnormal: m.Abnormal}
	}
	return out
}

func (k *Keeper) Contracts(ctx context.Context) ([]portal.Contract, error) {
	var out []portal.Contract
	for _, id := range k.GW.Contracts() {
		c, ok := k.GW.Terms(id) // the ledger holds them sealed; the gateway opened them
		if !ok {
			continue
		}
		// The terms name the providers' relation keys: shown as the
		// providers behind them.
		pc := portal.Contract{ID: id, Name: c.Name, Providers: k.providers(ctx, c.Providers)}
		for _, r := range c.Rules {
			w := fmt.Sprintf("%s: when %s, a %s alert", r.Kind.Info().Display, r.Expr, r.Severity)
			if r.Cooldown > 0 {
				w += fmt.Sprintf(", at most one every %s", time.Duration(r.Cooldown)*time.Second)
			}
			pc.Rules = append(pc.Rules, w)
		}
		out = append(out, pc)
	}
	return out, nil
}

// providers returns the registered providers behind provider keys of the
// patient's (relation keys), each as is if it cannot be resolved.
func (k *Keeper) providers(ctx context.Context, keys []identity.ID) []identity.ID {
	out := make([]identity.ID, len(keys))
	for i, key := range keys {
		out[i] = k.provider(ctx, key)
	}
	return out
}

func (k *Keeper) provider(ctx context.Context, key identity.ID) identity.ID {
	if real, _, err := k.GW.Patient().ProviderOf(ctx, key); err == nil {
		return real
	}
	return key
}

// Grants lists the care team: each grant with the provider behind its
// relation key, from the binding the ledger keeps sealed to the patient.
func (k *Keeper) Grants(ctx context.Context) ([]portal.Grant, error) {
	gs, err := k.GW.Patient().CareTeam(ctx)
	if err != nil {
		return nil, err
	}
	now := time.Now().UnixMilli()
	out := make([]portal.Grant, len(gs))
	for i, g := range gs {
		// The scope is sealed on the ledger; the patient's key opens it.
		scope, _ := k.GW.Patient().Scope(ctx, g.Provider)
		out[i] = portal.Grant{Provider: g.Real, Scope: scope, Commands: g.Grant.Commands,
			Expiry: time.UnixMilli(g.Grant.Expiry), Active: g.Grant.Active(now)}
	}
	return out, nil
}

func (k *Keeper) Grant(ctx context.Context, provider identity.ID, scope []vital.Kind, commands bool, expiry time.Time) error {
	return k.GW.Patient().Grant(ctx, provider, scope, commands, expiry)
}

func (k *Keeper) Revoke(ctx context.Context, provider identity.ID) error {
	return k.GW.Patient().Revoke(ctx, provider)
}

// AccessLog returns the patient's access log, verified (cloudapi's
// AuditTrail): each entry's inclusion proof, the log's consistency with its
// checkpoint anchored on the ledger, each requester's signed request.
func (k *Keeper) AccessLog(ctx context.Context) ([]portal.Access, error) {
	cloudID, err := k.Cloud.ID(ctx)
	if err != nil {
		return nil, err
	}
	var anchor merklelog.Checkpoint
	switch a, err := k.Chain.Anchor(ctx, cloudID, ledger.LogAccess); {
	case err == nil:
		anchor = a.Checkpoint
	case !errors.Is(err, client.ErrNotFound):
		return nil, fmt.Errorf("the access log's anchor: %w", err)
	}
	keyOf := func(id identity.ID) (identity.VerifyingKey, error) {
		m, err := k.Chain.Member(ctx, id)
		if err != nil {
			return identity.VerifyingKey{}, err
		}
		return m.VerifyingKey()
	}
	trail, err := k.Cloud.AuditTrail(ctx, k.Key.Signing, 0, anchor, keyOf)
	if err != nil {
		return nil, fmt.Errorf("the access log does not verify: %w", err)
	}
	out := make([]portal.Access, len(trail))
	for i, e := range trail {
		// A provider reads under its relation key: shown as the provider.
		if e.Requester != k.Key.ID() {
			e.Requester = k.provider(ctx, e.Requester)
		}
		what := e.Op
		if what == "" {
			what = cloudapi.AccessRead
		}
		if e.Op == cloudapi.AccessErase {
			what = fmt.Sprintf("erase (%d records)", e.Erased)
		}
		if !e.Allowed {
			what += ", refused: " + e.Reason
		}
		out[i] = portal.Access{Time: time.UnixMilli(e.Time), Requester: e.Requester, Record: e.Record, Allowed: e.Allowed,
			What: what, Anchored: e.Anchored}
	}
	return out, nil
}

// ServePatientPortal serves the patient's portal on addr (TLS with cert and
// key files if given), with /livez and /readyz (probes), until ctx ends or
// stop is called; it prints a one-time login link to w at start and on
// each SIGHUP.
func ServePatientPortal(ctx context.Context, addr, cert, key string, k *Keeper, w io.Writer, log *slog.Logger, probes ...health.Check) (stop func(), err error) {
	pp, err := portal.NewPatient(portal.PatientConfig{Patient: k, Secure: cert != "", Log: log})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	scheme := "http"
	if cert != "" {
		scheme = "https"
	}
	printLogin := func() { fmt.Fprintf(w, "Patient portal: %s://%s%s\n", scheme, ln.Addr(), pp.LoginPath()) }
	ctx, cancel := context.WithCancel(ctx)
	cli.OnHangup(ctx, printLogin)
	printLogin()
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := portal.Serve(ctx, ln, health.Wrap(pp.Handler(), probes...), cert, key); err != nil {
			log.Error("patient portal", "err", err)
		}
	}()
	return func() { cancel(); <-done }, nil
}
