package gateway

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/vitalchain/vitalchain/client"
	"github.com/vitalchain/vitalchain/command"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/ledger"
)

// follow reacts to the ledger's events about the patient.
func (g *Gateway) follow(ctx context.Context, events <-chan client.Event) {
	defer g.wg.Done()
	for e := range events {
		switch e.Type {
		case ledger.EventContract, ledger.EventContractTerminated:
			if err := g.loadContracts(ctx); err != nil && ctx.Err() == nil {
				g.log.Warn("reloading contracts", "err", err)
			}
		case ledger.EventDeviceCommand:
			g.relay(ctx, e)
		case ledger.EventRevoke, ledger.EventSessionKey:
			// A revoke made elsewhere (the command line) starts a new epoch.
			if n, _ := strconv.ParseUint(e.Attr(ledger.AttrEpoch), 10, 64); n > g.patient.Epoch() {
				if err := g.patient.loadKey(ctx); err != nil && ctx.Err() == nil {
					g.log.Warn("loading the new epoch's key", "err", err)
				}
			}
		}
	}
}

// relay sends a committed device command to its device.
func (g *Gateway) relay(ctx context.Context, e client.Event) {
	refuse := func(why string, args ...any) {
		g.mu.Lock()
		g.stats.CmdRefuse++
		g.mu.Unlock()
		g.log.Warn("device command not relayed: "+why, args...)
	}
	dev, err1 := identity.ParseID(e.Attr(ledger.AttrDevice))
	prov, err2 := identity.ParseID(e.Attr(ledger.AttrProvider))
	var value int64
	_, err3 := fmt.Sscan(e.Attr(ledger.AttrValue), &value)
	if err := errors.Join(err1, err2, err3); err != nil {
		refuse("malformed event", "err", err)
		return
	}
	if _, err := g.device(ctx, dev); err != nil {
		refuse("not this patient's device", "device", dev)
		return
	}
	gr, err := g.cfg.Chain.Grant(ctx, g.me, prov)
	if err != nil || !gr.Commands || !gr.Active(e.Time.UnixMilli()) {
		refuse("the provider's grant does not allow commands", "provider", prov)
		return
	}
	// The event came with a block, unproved: the ledger's record of the
	// device's latest command, proved, must be this one.
	if rec, err := g.cfg.Chain.Command(ctx, dev); err != nil || rec.Height != e.Height || rec.Provider != prov ||
		rec.Command != e.Attr(ledger.AttrCommand) || rec.Value != value {
		refuse("the event is not the ledger's latest command for the device", "device", dev, "err", err)
		return
	}
	if g.cfg.Commands == nil {
		refuse("no command transport", "device", dev)
		return
	}
	c := command.Command{Patient: g.me, Device: dev, Command: e.Attr(ledger.AttrCommand), Value: value, Height: e.Height, Provider: prov}
	b, err := c.Sign(g.cfg.Patient.Signing)
	if err == nil {
		err = g.cfg.Commands(dev, b)
	}
	if err != nil {
		refuse("send failed", "device", dev, "err", err)
		return
	}
	g.mu.Lock()
	g.stats.Commands++
	g.mu.Unlock()
	g.log.Info("device command relayed", "device", dev, "command", c.Command, "value", c.Value, "provider", prov)
}
