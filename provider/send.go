package provider

import (
	"context"
	"fmt"
	"time"

	"github.com/vitalchain/vitalchain/command"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/ledger"
	"github.com/vitalchain/vitalchain/record"
	"github.com/vitalchain/vitalchain/vital"
)

// SendRecord is the paper's transaction 3: it seals plaintext (a
// prescription, a clinical note…) as a record for patient under a fresh
// session key wrapped to the patient (record.ProviderRecord), uploads it
// to the cloud, and once the cloud has stored it durably, files the key's
// envelope with the record's ID on the ledger. kind is the vital sign the
// record is about, or 0. It returns the record's ID.
//
// The record's Seq is the send time in microseconds (kept strictly
// increasing within the Provider), so that no state needs keeping between
// runs. If the ledger refuses the envelope, the record is stored but the
// patient cannot open it: the error names its ID, and sending again makes
// a new record.
func (p *Provider) SendRecord(ctx context.Context, patient identity.ID, kind vital.Kind, plaintext []byte) ([32]byte, error) {
	if kind != 0 && !kind.Valid() {
		return [32]byte{}, fmt.Errorf("provider: send record: %w: %d", vital.ErrUnknownKind, kind)
	}
	vk, m, err := p.patientKey(ctx, patient)
	if err != nil {
		return [32]byte{}, fmt.Errorf("provider: send record: %w", err)
	}
	ek, err := m.EncryptionKey()
	if err != nil {
		return [32]byte{}, fmt.Errorf("provider: send record: patient %s: %w", patient, err)
	}
	now := p.cfg.Now()
	h := record.Header{Time: now.UnixMilli(), Seq: p.nextSeq(now)}
	pl := record.Payload{Kind: kind, Body: plaintext}
	key, err := p.keyFor(ctx, patient)
	if err != nil {
		return [32]byte{}, fmt.Errorf("provider: send record: %w", err)
	}
	rec, env, err := record.ProviderRecord(key, identity.Public{Role: identity.RolePatient, Verifying: vk, Encryption: ek}, h, pl)
	if err != nil {
		return [32]byte{}, fmt.Errorf("provider: send record: %w", err)
	}
	id := rec.ID()
	raw, err := rec.Marshal()
	if err != nil {
		return [32]byte{}, err
	}
	envB, err := env.Marshal()
	if err != nil {
		return [32]byte{}, err
	}
	acks, err := p.cfg.Cloud.Upload(ctx, [][]byte{raw})
	if err != nil {
		return [32]byte{}, fmt.Errorf("provider: send record %x: upload: %w", id[:8], err)
	}
	if a := acks[0]; a.Code != "" {
		return [32]byte{}, fmt.Errorf("provider: send record %x: the cloud refused it (%s): %s", id[:8], a.Code, a.Error)
	} else if a.ID != id {
		return [32]byte{}, fmt.Errorf("provider: send record %x: the cloud acknowledged record %x", id[:8], a.ID[:8])
	}
	s, err := p.signerFor(ctx, key)
	if err != nil {
		return [32]byte{}, fmt.Errorf("provider: send record %x: %w", id[:8], err)
	}
	if _, err := s.Submit(ctx, &ledger.ProviderRecord{Patient: patient, RecordID: id, Envelope: envB}); err != nil {
		return [32]byte{}, fmt.Errorf("provider: send record %x: stored in the cloud, but the ledger did not take its key: %w", id[:8], err)
	}
	p.count(func(s *Stats) { s.RecordsSent++ })
	p.log.Info("record sent", "patient", patient.String(), "record", fmt.Sprintf("%x", id[:8]))
	return id, nil
}

// nextSeq returns a record Seq above the last one: now in microseconds.
func (p *Provider) nextSeq(now time.Time) uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lastSeq = max(p.lastSeq+1, uint64(max(now.UnixMicro(), 1)))
	return p.lastSeq
}

// SetSamplingInterval commands a patient's device to sample every iv, in
// whole milliseconds between command.MinSamplingInterval and
// command.MaxSamplingInterval:
// a ledger.DeviceCommand, which the ledger commits only if the device's
// patient granted this provider commands (a *ledger.Error otherwise), and
// which the patient's gateway carries out when it sees it committed.
func (p *Provider) SetSamplingInterval(ctx context.Context, device identity.ID, iv time.Duration) error {
	if iv%time.Millisecond != 0 {
		return fmt.Errorf("provider: sampling interval %s: want whole milliseconds", iv)
	}
	if err := command.Check(command.SamplingInterval, iv.Milliseconds()); err != nil {
		return fmt.Errorf("provider: %w", err)
	}
	// Signed by the key this provider uses with the device's patient.
	dev, err := p.member(ctx, device)
	if err != nil {
		return fmt.Errorf("provider: command device %s: %w", device, err)
	}
	if dev.Role != identity.RoleDevice || len(dev.Patient) != len(identity.ID{}) {
		return fmt.Errorf("provider: command device %s: a %s, not a patient's device", device, dev.Role)
	}
	key, err := p.keyFor(ctx, identity.ID(dev.Patient))
	if err != nil {
		return fmt.Errorf("provider: command device %s: %w", device, err)
	}
	s, err := p.signerFor(ctx, key)
	if err != nil {
		return fmt.Errorf("provider: command device %s: %w", device, err)
	}
	if _, err := s.Submit(ctx, &ledger.DeviceCommand{Device: device, Command: command.SamplingInterval, Value: iv.Milliseconds()}); err != nil {
		return fmt.Errorf("provider: command device %s: %w", device, err)
	}
	p.count(func(s *Stats) { s.Commands++ })
	return nil
}
