package testbed

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/vitalchain/vitalchain/cloud/cloudapi"
	"github.com/vitalchain/vitalchain/envelope"
	"github.com/vitalchain/vitalchain/gateway"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/ledger"
	"github.com/vitalchain/vitalchain/mqtt"
	"github.com/vitalchain/vitalchain/reading"
	"github.com/vitalchain/vitalchain/record"
	"github.com/vitalchain/vitalchain/vital"
)

// stepProviderRecord: a provider sends patient 0 a new record
// (transaction 3), and the patient's gateway opens it.
func (s *System) stepProviderRecord(ctx context.Context, sum *Summary, w io.Writer) error {
	p := s.Patients[0]
	pv := s.Providers[p.Providers[0]]
	id, err := pv.P.SendRecord(ctx, p.ID.ID(), 0, []byte("Prescription: metformin 500 mg twice daily; recheck glucose in 2 weeks."))
	if err != nil {
		return err
	}
	if p.Gateway == nil {
		return nil
	}
	// The patient's gateway asks its own node, which may be a block behind.
	for {
		recs, err := p.Gateway.Patient().ProviderRecords(ctx, s.Cloud.Client())
		if err != nil {
			return err
		}
		for _, r := range recs {
			if r.ID == id {
				sum.ProviderRecords++
				fmt.Fprintf(w, "  ✓ transaction 3: provider %s sent patient %s a record (%x); the patient opened it: %q\n",
					pv.ID.ID(), p.ID.ID(), id[:6], r.Plaintext)
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return errors.New("the patient does not find the provider's record")
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// stepCommand: a provider with a commands grant changes a device's
// sampling interval; the device applies it.
func (s *System) stepCommand(ctx context.Context, _ *Summary, w io.Writer) error {
	p := s.Patients[0]
	pv := s.Providers[p.Providers[0]]
	dev := p.Kit.Devices()[1]
	before := s.stats.commandsApplied.Load()
	if err := pv.P.SetSamplingInterval(ctx, dev.ID(), 2*dev.Interval()); err != nil {
		return err
	}
	for s.stats.commandsApplied.Load() == before {
		select {
		case <-ctx.Done():
			return errors.New("the device never applied the command")
		case <-time.After(20 * time.Millisecond):
		}
	}
	fmt.Fprintf(w, "  ✓ device command: provider %s set %s's sampling interval to %s through the ledger\n", pv.ID.ID(), dev.Name(), dev.Interval())
	return nil
}

// stepForgeries: a client without a device's credentials is refused by the
// gateway's broker; a reading with a forged signature that reaches the
// gateway is refused by it; and a record with a forged signature, uploaded
// to the cloud, is refused by the cloud.
func (s *System) stepForgeries(ctx context.Context, sum *Summary, w io.Writer) error {
	p := s.Patients[len(s.Patients)-1]
	dev := p.Kit.Devices()[0]
	devKey := dev.Identity().Signing
	r := reading.New(p.ID.ID(), dev.ID(), 1<<40, time.Now(), vital.Glucose, 400*vital.Unit)
	msg, err := reading.Sign(r, devKey)
	if err != nil {
		return err
	}
	forged := append([]byte(nil), msg...)
	forged[len(forged)-1] ^= 0x01 // the signature's last byte
	var refusedBefore uint64
	if p.Gateway != nil {
		refusedBefore = sumRefused(p.Gateway.Stats().Refused)
	}
	if p.Broker != nil {
		// Anonymous, then with a key the ledger does not know.
		stranger, err := identity.GenerateSigningKey(identity.RoleDevice)
		if err != nil {
			return err
		}
		stls, err := mqtt.ClientTLS(stranger, p.ID.ID())
		if err != nil {
			return err
		}
		for _, cfg := range []mqtt.ClientConfig{
			{Broker: p.MQTT, ClientID: "forger", TLS: &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13}},
			{Broker: p.MQTT, ClientID: stranger.Public().ID().Hex(), TLS: stls},
		} {
			cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			c, err := mqtt.Connect(cctx, cfg)
			cancel()
			if err == nil {
				c.Close()
				sum.ForgedAccepted++
				return errors.New("the gateway's broker let a client without a device's credentials connect")
			}
		}
		sum.ForgedRefused++
		fmt.Fprintf(w, "  ✓ clients without a registered device's key (anonymous, unregistered) refused by the gateway's broker\n")
		// A forged reading that reaches the gateway nonetheless (a device's
		// own connection, say) is refused by the gateway.
		if err := p.Broker.Publish(mqtt.ReadingsTopic(p.ID.ID(), dev.ID()), forged); err != nil {
			return err
		}
	}
	if p.Gateway != nil {
		for sumRefused(p.Gateway.Stats().Refused) == refusedBefore {
			select {
			case <-ctx.Done():
				sum.ForgedAccepted++
				return errors.New("the gateway did not refuse the forged reading")
			case <-time.After(10 * time.Millisecond):
			}
		}
		sum.ForgedRefused++
		fmt.Fprintf(w, "  ✓ forged reading (device %s, signature altered) refused by the gateway\n", dev.ID())
	}
	// A record in the patient's name whose signature is not the patient's.
	key, err := envelope.NewSessionKey()
	if err != nil {
		return err
	}
	h := record.Header{Patient: p.ID.ID(), Author: p.ID.ID(), Epoch: 1, Contract: p.Contract, Alert: true,
		Time: time.Now().UnixMilli(), Seq: 1}
	rec, err := record.Seal(h, key, record.Payload{Kind: vital.Glucose, Severity: 2, Body: msg}, p.ID.Signing)
	if err != nil {
		return err
	}
	rec.Signature[0] ^= 0x01
	b, err := rec.Marshal()
	if err != nil {
		return err
	}
	acks, err := s.Cloud.Client().Upload(ctx, [][]byte{b})
	if err != nil {
		return err
	}
	if acks[0].Code == "" {
		sum.ForgedAccepted++
		return errors.New("the cloud stored a forged record")
	}
	sum.ForgedRefused++
	fmt.Fprintf(w, "  ✓ forged record (patient %s, signature altered) refused by the cloud: %s\n", p.ID.ID(), acks[0].Code)
	return nil
}

func sumRefused(m map[string]uint64) uint64 {
	var n uint64
	for _, v := range m {
		n += v
	}
	return n
}

// stepRevoke: patient 0 revokes its second provider, whose next read of
// one of the patient's records is refused, and who gets none of its
// alerts from then on.
func (s *System) stepRevoke(ctx context.Context, sum *Summary, w io.Writer) error {
	// The first patient with a stored record to read.
	var p *Patient
	var ids [][32]byte
	for p == nil {
		for _, q := range s.Patients {
			if q.Gateway != nil && len(q.Providers) >= 2 && len(q.Sealed()) > 0 {
				p, ids = q, q.Sealed()
				break
			}
		}
		if p != nil {
			break
		}
		select {
		case <-ctx.Done():
			return errors.New("no patient has a record to read yet")
		case <-time.After(100 * time.Millisecond):
		}
	}
	// Wait until the record is stored, so that the read can only be refused for the revoke.
	if err := p.Gateway.Flush(ctx); err != nil {
		return err
	}
	pv := s.Providers[p.Providers[1]]
	if err := p.Gateway.Patient().Revoke(ctx, pv.ID.ID()); err != nil {
		return err
	}
	s.stats.mu.Lock()
	s.stats.revokedAt[[2]identity.ID{p.ID.ID(), pv.ID.ID()}] = p.Gateway.Patient().Epoch()
	s.stats.mu.Unlock()
	_, err := pv.P.FetchFor(ctx, p.ID.ID(), ids[0])
	var re *cloudapi.RequestError
	switch {
	case err == nil:
		sum.ReadsAfterRevokeAllowed++
		return errors.New("the revoked provider read a record")
	case errors.As(err, &re) && re.Code == cloudapi.CodeRevoked:
		sum.ReadsAfterRevokeRefused++
		fmt.Fprintf(w, "  ✓ revoke: patient %s revoked provider %s (epoch %d); its next read was refused: %s\n", p.ID.ID(), pv.ID.ID(), p.Gateway.Patient().Epoch(), re.Code)
		return nil
	default:
		return fmt.Errorf("the revoked provider's read failed otherwise: %w", err)
	}
}

// stepHeadFailure: the head of cluster 4 stops; the overlay re-elects the
// cluster's standby machine, which hands the cluster over on the ledger
// and becomes a validator, while the chain, anchoring and alerts go on.
func (s *System) stepHeadFailure(ctx context.Context, _ *Summary, w io.Writer) error {
	if s.overlay == nil {
		return nil
	}
	i := OverlayCluster - 1
	tn := s.Chain.Net.Testnet
	old, standby := tn.Authorities[i], tn.Authorities[4].ID()
	fmt.Fprintf(w, "  · stopping node %d, head of cluster %d (%s)\n", i, OverlayCluster, old.ID())
	s.overlay.fail(old.ID())
	s.spawn(func(context.Context) { s.Chain.StopNode(i) })
	for {
		auths, err := s.Chain.Client(0).Authorities(ctx)
		if err == nil && slices.ContainsFunc(auths, func(a ledger.Authority) bool { return a.ID == standby }) &&
			!slices.ContainsFunc(auths, func(a ledger.Authority) bool { return a.ID == old.ID() }) {
			break
		}
		select {
		case <-ctx.Done():
			return errors.New("the cluster's standby never became an authority")
		case <-time.After(100 * time.Millisecond):
		}
	}
	fmt.Fprintf(w, "  ✓ re-election: %s now heads cluster %d and is a validator in place of the stopped head\n", standby, OverlayCluster)
	return nil
}

// stepErase, after the drain: the last patient with records has its data
// erased (the ledger records it and ends its grants, its gateway destroys
// its epoch key, the cloud deletes the ciphertexts); then every one of its
// records still proves its place in the anchored records log, a provider's
// read is refused as erased with that proof, and the patient's gateway
// refuses to grant.
func (s *System) stepErase(ctx context.Context, sum *Summary, w io.Writer) error {
	var p *Patient
	for _, q := range slices.Backward(s.Patients) {
		if q.Gateway != nil && len(q.Sealed()) > 0 && len(q.Providers) > 0 {
			p = q
			break
		}
	}
	if p == nil {
		return errors.New("no patient has records to erase")
	}
	ids := p.Sealed()
	res, err := p.Gateway.Patient().Erase(ctx, s.Cloud.Client())
	if err != nil {
		return err
	}
	sum.ErasedRecords = res.Erased
	cc := s.Cloud.Client()
	chain := s.Chain.Client(0)
	for _, id := range ids {
		pr, err := cc.Proof(ctx, id) // verifies the inclusion proof
		if err != nil {
			return fmt.Errorf("proof of erased record %x: %w", id[:8], err)
		}
		a, err := chain.AnchorAt(ctx, s.Cloud.ID.ID(), ledger.LogRecords, pr.Checkpoint.Size)
		if err != nil {
			return fmt.Errorf("erased record %x: its checkpoint of size %d on the ledger: %w", id[:8], pr.Checkpoint.Size, err)
		}
		if !pr.Erased || a.Checkpoint != pr.Checkpoint {
			return fmt.Errorf("erased record %x: erased %v, checkpoint anchored %v", id[:8], pr.Erased, a.Checkpoint == pr.Checkpoint)
		}
		sum.ProofsAfterErasure++
	}
	pv := s.Providers[p.Providers[0]]
	_, err = pv.P.FetchFor(ctx, p.ID.ID(), ids[0])
	var re *cloudapi.RequestError
	if !errors.As(err, &re) || re.Code != cloudapi.CodeErased && re.Code != cloudapi.CodeRevoked {
		return fmt.Errorf("a provider's read of an erased record: %v, want refused", err)
	}
	if err := p.Gateway.Patient().Grant(ctx, pv.ID.ID(), []vital.Kind{vital.HeartRate}, false, time.Now().Add(time.Hour)); !errors.Is(err, gateway.ErrErased) {
		return fmt.Errorf("a grant after the erasure: %v, want refused", err)
	}
	fmt.Fprintf(w, "  ✓ erasure: patient %s's %d records erased (ledger, gateway key, cloud); %d proofs still verify against the anchors; a provider's read refused: %s\n",
		p.ID.ID(), res.Erased, sum.ProofsAfterErasure, re.Code)
	return nil
}
