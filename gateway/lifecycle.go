package gateway

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/vitalchain/vitalchain/cloud/cloudapi"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/lifecycle"
	"github.com/vitalchain/vitalchain/outbox"
)

// The gateway's part in its alerts' lifecycle (package lifecycle; the
// cloud keeps the states). The contract's terms, sealed for the parties,
// hold the escalation time and the "no data" bound: the cloud cannot read
// them, so the gateway, which opens the terms, acts on them:
//
//   - escalation: it watches, at the cloud, the state of each alert it
//     raised; one left unacknowledged past the escalation time goes to
//     the next provider of the contract (a signed OpEscalate, which the
//     cloud checks names a provider on the contract and the next level);
//   - a silent device: a device it has heard from, silent for longer than
//     the bound, gets a no-data alert (a signed OpNoData naming it), once
//     per silence;
//   - a silent gateway, which cannot raise anything itself: it sends
//     signed heartbeats carrying the bound, and the cloud raises the
//     no-data alert when they stop past it.
//
// CheckLifecycle does one round of all three at the gateway's clock; the
// gateway runs it every Config.LifecycleTick.

// AlertCloud is what the lifecycle needs of the patient's cloud beyond
// Cloud; *cloudapi.Client is one. A Cloud that is not one gets no
// escalations, no-data alerts or heartbeats.
type AlertCloud interface {
	ChangeAlert(ctx context.Context, key *identity.SigningKey, op string, alert [32]byte, from uint64, subject *identity.ID) (*lifecycle.Status, error)
	AlertStates(ctx context.Context, key *identity.SigningKey, from uint64) (*cloudapi.AlertStates, error)
	Heartbeat(ctx context.Context, key *identity.SigningKey, contract [32]byte, bound time.Duration) (*cloudapi.HeartbeatResult, error)
}

// maxWatchedAlerts bounds the alerts the gateway watches for escalation;
// the oldest go first.
const maxWatchedAlerts = 4096

// The alerts watched for escalation are marks of the outbox ("alert/" and
// the alert's ID; the contract and the time raised, Unix ms), written with
// their records and removed once the alert needs no more watching, so
// that a gateway that restarts goes on watching them.
const watchMark = "alert/"

func watchMarkOf(id, contract [32]byte, at time.Time) outbox.Mark {
	return outbox.Mark{Key: watchMark + hex.EncodeToString(id[:]), Value: binary.BigEndian.AppendUint64(contract[:], uint64(at.UnixMilli()))}
}

// loadWatch restores the alerts watched before a restart, the newest
// maxWatchedAlerts of them.
func (g *Gateway) loadWatch() error {
	marks, err := g.box.Marks(watchMark)
	if err != nil {
		return err
	}
	type watched struct {
		id, contract [32]byte
		at           time.Time
	}
	ws := make([]watched, 0, len(marks))
	for k, v := range marks {
		var w watched
		id, err := hex.DecodeString(k[len(watchMark):])
		if err != nil || len(id) != 32 || len(v) != 40 {
			return fmt.Errorf("%w: alert mark %q", outbox.ErrCorrupt, k)
		}
		copy(w.id[:], id)
		copy(w.contract[:], v)
		w.at = time.UnixMilli(int64(binary.BigEndian.Uint64(v[32:])))
		ws = append(ws, w)
	}
	slices.SortFunc(ws, func(a, b watched) int { return a.at.Compare(b.at) })
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, w := range ws {
		g.noteAlert(w.id, w.contract, w.at)
	}
	return nil
}

// forgetWatched removes the marks of alerts no longer watched.
func (g *Gateway) forgetWatched() error {
	g.mu.Lock()
	ids := g.watch.forget
	g.watch.forget = nil
	g.mu.Unlock()
	if len(ids) == 0 {
		return nil
	}
	ms := make([]outbox.Mark, len(ids))
	for i, id := range ids {
		ms[i] = outbox.Mark{Key: watchMark + hex.EncodeToString(id[:])}
	}
	if err := g.box.SetMarks(ms...); err != nil {
		g.mu.Lock()
		g.watch.forget = append(g.watch.forget, ids...)
		g.mu.Unlock()
		return fmt.Errorf("forget watched alerts: %w", err)
	}
	return nil
}

// raisedAlert is an alert the gateway raised, watched for escalation.
type raisedAlert struct {
	contract [32]byte
	at       time.Time
	state    lifecycle.Status // as the cloud last said
}

// alertWatch is the gateway's lifecycle state. Guarded by Gateway.mu.
type alertWatch struct {
	raised    map[[32]byte]*raisedAlert
	order     [][32]byte                // raised's keys, oldest first
	heard     map[identity.ID]time.Time // each device's last reading, at the gateway's clock
	silent    map[identity.ID]bool      // devices whose silence is alerted
	beats     map[[32]byte]time.Time    // each contract's last heartbeat
	forget    [][32]byte                // alerts no longer watched whose marks are to go
	cursor    uint64                    // the cloud's Seq, for AlertStates
	escalated uint64
	noData    uint64
	beatsSent uint64
}

func newAlertWatch() alertWatch {
	return alertWatch{raised: map[[32]byte]*raisedAlert{}, heard: map[identity.ID]time.Time{}, silent: map[identity.ID]bool{}, beats: map[[32]byte]time.Time{}}
}

// noteAlert watches an alert the gateway raised; g.mu is held.
func (g *Gateway) noteAlert(id, contract [32]byte, at time.Time) {
	w := &g.watch
	if _, ok := w.raised[id]; ok {
		return
	}
	if len(w.order) >= maxWatchedAlerts {
		delete(w.raised, w.order[0])
		w.forget = append(w.forget, w.order[0])
		w.order = w.order[1:]
	}
	w.raised[id] = &raisedAlert{contract: contract, at: at, state: lifecycle.New(id, g.me, contract, at.UnixMilli())}
	w.order = append(w.order, id)
}

// noteHeard records a verified reading of a device; g.mu is held.
func (g *Gateway) noteHeard(device identity.ID, at time.Time) {
	if len(g.watch.heard) < maxDevices || !g.watch.heard[device].IsZero() {
		g.watch.heard[device] = at
	}
	delete(g.watch.silent, device)
}

// maxDevices bounds the devices whose silence the gateway watches.
const maxDevices = 1024

// LifecycleStats counts what the gateway did for its alerts' lifecycle.
type LifecycleStats struct {
	Escalated  uint64 // escalations the cloud took
	NoData     uint64 // no-data alerts of silent devices the cloud took
	Heartbeats uint64
	Watched    int // alerts watched for escalation
}

// LifecycleStats returns the lifecycle's counters.
func (g *Gateway) LifecycleStats() LifecycleStats {
	g.mu.Lock()
	defer g.mu.Unlock()
	return LifecycleStats{Escalated: g.watch.escalated, NoData: g.watch.noData, Heartbeats: g.watch.beatsSent, Watched: len(g.watch.raised)}
}

// maxStatePages bounds the pages of alert states one round reads.
const maxStatePages = 64

// bounds are a contract's lifecycle terms.
type bounds struct {
	contract   [32]byte
	providers  []identity.ID
	escalation time.Duration
	noData     time.Duration
}

func (g *Gateway) bounds() []bounds {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]bounds, 0, len(g.monitors))
	for _, m := range g.monitors {
		out = append(out, bounds{contract: m.id, providers: m.terms.Providers,
			escalation: time.Duration(m.terms.Escalation) * time.Second, noData: time.Duration(m.terms.NoData) * time.Second})
	}
	return out
}

// heartbeatEvery is how often a heartbeat goes for a bound: a third of it,
// at most a minute.
func heartbeatEvery(bound time.Duration) time.Duration { return min(bound/3, time.Minute) }

// CheckLifecycle does one round of the lifecycle at the gateway's clock:
// heartbeats that are due, no-data alerts of devices silent past their
// bound, and escalations of alerts unacknowledged past theirs. It
// returns the first error; the next round tries again.
func (g *Gateway) CheckLifecycle(ctx context.Context) error {
	ac, ok := g.cfg.Cloud.(AlertCloud)
	if !ok {
		return nil
	}
	key := g.cfg.Patient.Signing
	now := g.cfg.Now()
	bs := g.bounds()
	var errs []error
	// Heartbeats, and the tightest no-data bound with its contract.
	var tightest *bounds
	for i := range bs {
		b := &bs[i]
		if b.noData < cloudapi.MinHeartbeatBound {
			continue
		}
		if tightest == nil || b.noData < tightest.noData {
			tightest = b
		}
		g.mu.Lock()
		last := g.watch.beats[b.contract]
		g.mu.Unlock()
		if now.Sub(last) < heartbeatEvery(b.noData) {
			continue
		}
		if _, err := ac.Heartbeat(ctx, key, b.contract, b.noData); err != nil {
			errs = append(errs, fmt.Errorf("heartbeat: %w", err))
			continue
		}
		g.mu.Lock()
		g.watch.beats[b.contract] = now
		g.watch.beatsSent++
		g.mu.Unlock()
	}
	if tightest != nil {
		errs = append(errs, g.checkDevices(ctx, ac, *tightest, now))
	}
	errs = append(errs, g.checkEscalations(ctx, ac, bs, now), g.forgetWatched())
	return errors.Join(errs...)
}

// checkDevices raises a no-data alert for each device silent past b's bound.
func (g *Gateway) checkDevices(ctx context.Context, ac AlertCloud, b bounds, now time.Time) error {
	g.mu.Lock()
	var due []identity.ID
	var since []time.Time
	for d, at := range g.watch.heard {
		if !g.watch.silent[d] && now.Sub(at) > b.noData {
			due, since = append(due, d), append(since, at)
		}
	}
	g.mu.Unlock()
	var errs []error
	for i, d := range due {
		_, err := ac.ChangeAlert(ctx, g.cfg.Patient.Signing, cloudapi.OpNoData, b.contract, uint64(since[i].UnixMilli()), &d)
		raised := err == nil
		var re *cloudapi.RequestError
		if errors.As(err, &re) && re.Code == cloudapi.CodeIllegalTransition {
			// Its no-data alert is open already (raised before a restart
			// of the gateway, or in a silence not yet resolved).
			err = nil
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("no-data alert of device %s: %w", d, err))
			continue
		}
		g.mu.Lock()
		if g.watch.heard[d].Equal(since[i]) {
			g.watch.silent[d] = true
		}
		if raised {
			g.watch.noData++
			g.log.Warn("a device went silent: no-data alert raised", "device", d, "since", since[i].UTC().Format(time.RFC3339))
		}
		g.mu.Unlock()
	}
	return errors.Join(errs...)
}

// checkEscalations escalates the watched alerts due to, after asking the
// cloud their states.
func (g *Gateway) checkEscalations(ctx context.Context, ac AlertCloud, bs []bounds, now time.Time) error {
	byContract := map[[32]byte]bounds{}
	for _, b := range bs {
		if b.escalation > 0 && len(b.providers) > 1 {
			byContract[b.contract] = b
		}
	}
	g.mu.Lock()
	watching := len(g.watch.raised) > 0
	from := g.watch.cursor
	g.mu.Unlock()
	if len(byContract) == 0 || !watching {
		return nil
	}
	var states []lifecycle.Status
	for page := 0; ; page++ {
		res, err := ac.AlertStates(ctx, g.cfg.Patient.Signing, from)
		if err != nil {
			return fmt.Errorf("alert states: %w", err)
		}
		states, from = append(states, res.States...), max(from, res.Seq)
		// A gateway that restarted reads every state again: page through.
		if !res.More || page == maxStatePages {
			break
		}
	}
	type step struct {
		id    [32]byte
		to    identity.ID
		level uint8
	}
	var steps []step
	g.mu.Lock()
	for _, s := range states {
		if a := g.watch.raised[s.Alert]; a != nil && s.Patient == g.me {
			a.state = s
		}
	}
	g.watch.cursor = max(g.watch.cursor, from)
	kept := g.watch.order[:0]
	for _, id := range g.watch.order {
		a := g.watch.raised[id]
		b, ok := byContract[a.contract]
		if a.state.State != lifecycle.Raised || (ok && int(a.state.Level)+1 >= len(b.providers)) {
			delete(g.watch.raised, id) // acknowledged, resolved, or past the last provider
			g.watch.forget = append(g.watch.forget, id)
			continue
		}
		kept = append(kept, id)
		if !ok {
			continue
		}
		if to, level, due := lifecycle.EscalationDue(a.state, a.at, b.escalation, b.providers, now); due {
			steps = append(steps, step{id: id, to: to, level: level})
		}
	}
	g.watch.order = kept
	g.mu.Unlock()
	var errs []error
	for _, s := range steps {
		st, err := ac.ChangeAlert(ctx, g.cfg.Patient.Signing, cloudapi.OpEscalate, s.id, uint64(s.level), &s.to)
		if err != nil {
			// Acknowledged meanwhile, or escalated before a restart: the
			// next round reads the state again.
			errs = append(errs, fmt.Errorf("escalate alert %x: %w", s.id[:8], err))
			continue
		}
		g.log.Info("alert unacknowledged past the contract's escalation time: escalated", "alert", fmt.Sprintf("%x", s.id[:8]), "to", s.to, "level", s.level)
		g.mu.Lock()
		if a := g.watch.raised[s.id]; a != nil {
			a.state = *st
		}
		g.watch.escalated++
		g.mu.Unlock()
	}
	return errors.Join(errs...)
}

// runLifecycle runs CheckLifecycle every Config.LifecycleTick until ctx ends.
func (g *Gateway) runLifecycle(ctx context.Context) {
	defer g.wg.Done()
	every := g.cfg.LifecycleTick
	if every < 0 {
		return
	}
	if every == 0 {
		every = time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := g.CheckLifecycle(ctx); err != nil && ctx.Err() == nil {
			g.logRefusal.Do(func() { g.log.Warn("alert lifecycle", "err", err) })
		}
	}
}
