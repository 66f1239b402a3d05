package provider

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/vitalchain/vitalchain/client"
	"github.com/vitalchain/vitalchain/cloud/cloudapi"
	"github.com/vitalchain/vitalchain/contract"
	"github.com/vitalchain/vitalchain/envelope"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/ledger"
	"github.com/vitalchain/vitalchain/merklelog"
	"github.com/vitalchain/vitalchain/reading"
	"github.com/vitalchain/vitalchain/record"
	"github.com/vitalchain/vitalchain/vital"
)

// Errors of Fetch (and of alerts, for ErrForged), wrapped with detail.
var (
	// ErrForged: a signature (the patient's on a header, the device's on a
	// reading) does not verify, the signer is not who the ledger says, or
	// signed contents contradict each other (a reading of another vital
	// sign, patient or time than its header names, a record other than
	// the one asked for).
	ErrForged = errors.New("forged or inconsistent record")
	// ErrProof: the inclusion proof does not lead to the checkpoint, or
	// the cloud says the checkpoint is anchored but the ledger anchored
	// another one (or none) at that size.
	ErrProof = errors.New("record not proven in the cloud's log")
	// ErrNoKey: the ledger holds no envelope of the record's epoch key for
	// this provider: it was never granted that epoch.
	ErrNoKey = errors.New("no session key for the record's epoch")
	// ErrOutOfScope (with ErrNoKey): the grant gives this provider no key
	// of the record's vital sign. The cloud serves such a record (it knows
	// neither the grant's scope nor the record's vital sign); the keys keep
	// it closed, and the provider learns only that the record is of none
	// of the vital signs of its scope.
	ErrOutOfScope = errors.New("the grant gives no key of this vital sign")
	// ErrNotReading: the record is not a patient's reading (it is a
	// provider's record, transaction 3, whose key only its patient holds).
	ErrNotReading = errors.New("not a patient's reading")
)

// Fetched is a record read from the cloud and verified end to end.
type Fetched struct {
	ID     [32]byte
	Header record.Header // signed by the patient
	Kind   vital.Kind    // the vital sign, from the decrypted payload (the reading's own)
	// Severity is the severity of the contract's rule that found the
	// reading abnormal (from the decrypted payload), whether or not its
	// cool-down withheld the alert (Header.Alert).
	Severity   contract.Severity
	Reading    reading.Reading // signed by a device of the patient
	Signed     []byte          // the device's COSE_Sign1 message, the record's plaintext
	Index      uint64          // the record's position in the cloud's records log
	Checkpoint merklelog.Checkpoint
	// Anchored: Checkpoint is the one the ledger anchored for Cloud at its
	// size. When false the proof is into the cloud's latest, not yet
	// anchored, checkpoint: fetch again later to have it anchored.
	Anchored bool
	Cloud    identity.ID // the cloud whose anchor matched; zero if not anchored
	Height   int64       // the block that anchored Checkpoint; 0 if not anchored
	// Proof is the verified inclusion proof of the record into Checkpoint,
	// kept so that it can be shown or handed on.
	Proof merklelog.Proof
}

// Fetch reads a record with a signed request and verifies it end to end
// (see the package documentation): the patient's signature, the session
// key of its epoch from the ledger, the device's signature on the reading,
// the inclusion proof, and the anchor. A refusal by the cloud is returned
// wrapping the *cloudapi.RequestError; a failed check is ErrForged, ErrProof,
// ErrNoKey or ErrNotReading.
//
// The read is signed with the key this provider uses with the record's
// patient (its relation key, see Bind), which it knows from the record's
// alert; FetchFor names the patient of a record that did not come as an
// alert.
func (p *Provider) Fetch(ctx context.Context, id [32]byte) (*Fetched, error) {
	p.mu.Lock()
	patient, ok := p.records[id]
	p.mu.Unlock()
	if !ok {
		return p.fetchAs(ctx, nil, id)
	}
	return p.FetchFor(ctx, patient, id)
}

// FetchFor is Fetch of a record of patient.
func (p *Provider) FetchFor(ctx context.Context, patient identity.ID, id [32]byte) (*Fetched, error) {
	key, err := p.keyFor(ctx, patient)
	if err != nil {
		p.count(func(s *Stats) { s.FetchErrors++ })
		return nil, fmt.Errorf("provider: fetch %x: %w", id[:8], err)
	}
	return p.fetchAs(ctx, key, id)
}

// fetchAs is Fetch with the read signed by key (nil: the registered key).
func (p *Provider) fetchAs(ctx context.Context, key *identity.Identity, id [32]byte) (*Fetched, error) {
	if key == nil {
		key = p.cfg.Key
	}
	f, err := p.fetch(ctx, key, id)
	var re *cloudapi.RequestError
	switch {
	case err == nil:
		p.count(func(s *Stats) { s.Fetches++ })
		return f, nil
	case errors.As(err, &re):
		p.count(func(s *Stats) { s.FetchRefused[re.Code]++ })
	case errors.Is(err, ErrProof):
		p.count(func(s *Stats) { s.ProofsFailed++ })
	case errors.Is(err, ErrForged):
		p.count(func(s *Stats) { s.FetchForged++ })
	default:
		p.count(func(s *Stats) { s.FetchErrors++ })
	}
	if errors.Is(err, ErrProof) || errors.Is(err, ErrForged) {
		p.log.Warn("record refused", "record", fmt.Sprintf("%x", id[:8]), "err", err)
	}
	return nil, fmt.Errorf("provider: fetch %x: %w", id[:8], err)
}

func (p *Provider) fetch(ctx context.Context, me *identity.Identity, id [32]byte) (*Fetched, error) {
	res, err := p.cfg.Cloud.Read(ctx, me.Signing, id)
	if err != nil {
		return nil, err
	}
	rec, err := record.ParseRecord(res.Record)
	if err != nil {
		return nil, fmt.Errorf("%w: served record: %w", ErrForged, err)
	}
	if rec.ID() != id {
		return nil, fmt.Errorf("%w: the cloud served record %x", ErrForged, rec.ID())
	}
	h, err := rec.Header()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrForged, err)
	}
	if h.Author != h.Patient {
		return nil, fmt.Errorf("%w: a record by %s for patient %s", ErrNotReading, h.Author, h.Patient)
	}
	pkey, patient, err := p.patientKey(ctx, h.Patient)
	if errors.Is(err, errUnregistered) || errors.Is(err, identity.ErrWrongRole) {
		return nil, fmt.Errorf("%w: %w", ErrForged, err)
	}
	if err != nil {
		return nil, err
	}
	if _, err := rec.Verify(pkey); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrForged, err)
	}
	// The proof first: it needs no key.
	if err := merklelog.VerifyInclusion(id[:], res.Index, res.Checkpoint, res.Proof); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrProof, err)
	}
	f := &Fetched{ID: id, Header: h, Index: res.Index, Checkpoint: res.Checkpoint, Proof: res.Proof}
	if res.Anchored {
		if f.Cloud, f.Height, err = p.anchored(ctx, patient, res.Checkpoint); err != nil {
			return nil, err
		}
		f.Anchored = true
	}
	p.count(func(s *Stats) { s.ProofsVerified++ })
	pl, err := p.open(ctx, me, pkey, rec, h)
	if err != nil {
		return nil, err
	}
	pt := pl.Body
	signed, err := reading.Parse(pt)
	if err != nil {
		return nil, fmt.Errorf("%w: plaintext is not a signed reading: %w", ErrForged, err)
	}
	dkey, err := p.deviceKey(ctx, signed.KeyID(), h.Patient)
	if err != nil {
		return nil, err
	}
	r, err := signed.Verify(dkey)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrForged, err)
	}
	kind, err := r.Kind()
	switch {
	case err != nil:
		return nil, fmt.Errorf("%w: %w", ErrForged, err)
	case kind != pl.Kind:
		return nil, fmt.Errorf("%w: a %s reading in a %s payload", ErrForged, kind, pl.Kind)
	case r.Patient != h.Patient:
		return nil, fmt.Errorf("%w: a reading of patient %s under a header of %s", ErrForged, r.Patient, h.Patient)
	case r.Time != h.Time:
		return nil, fmt.Errorf("%w: a reading of time %d under a header of time %d", ErrForged, r.Time, h.Time)
	}
	f.Kind, f.Severity, f.Reading, f.Signed = pl.Kind, contract.Severity(pl.Severity), r, pt
	return f, nil
}

// anchored checks that cp is what one of the patient's clouds anchored on
// the ledger at cp.Size, and returns that cloud and the anchor's height.
func (p *Provider) anchored(ctx context.Context, patient *ledger.Member, cp merklelog.Checkpoint) (identity.ID, int64, error) {
	clouds, err := p.clouds(ctx, patient)
	if err != nil {
		return identity.ID{}, 0, err
	}
	deadline := time.Now().Add(anchorGrace)
	for {
		behind := false
		for _, c := range clouds {
			a, err := p.cfg.Chain.AnchorAt(ctx, c, ledger.LogRecords, cp.Size)
			if errors.Is(err, client.ErrNotFound) {
				// Our node may not have the block of an anchor the cloud
				// saw commit on its own node: it has if it holds a later one.
				latest, err := p.cfg.Chain.Anchor(ctx, c, ledger.LogRecords)
				if err != nil && !errors.Is(err, client.ErrNotFound) {
					return identity.ID{}, 0, fmt.Errorf("ledger: anchor of %s: %w", c, err)
				}
				behind = behind || err != nil || latest.Checkpoint.Size < cp.Size
				continue
			}
			if err != nil {
				return identity.ID{}, 0, fmt.Errorf("ledger: anchor of %s at %d: %w", c, cp.Size, err)
			}
			if a.Checkpoint == cp {
				return c, a.Height, nil
			}
			return identity.ID{}, 0, fmt.Errorf("%w: the ledger anchored another root for cloud %s at size %d", ErrProof, c, cp.Size)
		}
		if !behind || time.Now().After(deadline) {
			return identity.ID{}, 0, fmt.Errorf("%w: the cloud says size %d is anchored, the ledger has no such anchor", ErrProof, cp.Size)
		}
		if !sleep(ctx, 100*time.Millisecond) {
			return identity.ID{}, 0, ctx.Err()
		}
	}
}

// anchorGrace is how long Fetch waits for its ledger node to commit an
// anchor the cloud says is committed, before it calls the claim false.
const anchorGrace = 3 * time.Second

// deviceKey returns the key of a device registered on the ledger to patient.
func (p *Provider) deviceKey(ctx context.Context, device, patient identity.ID) (identity.VerifyingKey, error) {
	m, err := p.member(ctx, device)
	if errors.Is(err, errUnregistered) {
		return identity.VerifyingKey{}, fmt.Errorf("%w: device %w", ErrForged, err)
	}
	if err != nil {
		return identity.VerifyingKey{}, err
	}
	if m.Role != identity.RoleDevice {
		return identity.VerifyingKey{}, fmt.Errorf("%w: reading signed by a %s, not a device", ErrForged, m.Role)
	}
	if !slices.Equal(m.Patient, patient[:]) {
		return identity.VerifyingKey{}, fmt.Errorf("%w: device %s is not registered to patient %s", ErrForged, device, patient)
	}
	k, err := m.VerifyingKey()
	if err != nil {
		return identity.VerifyingKey{}, fmt.Errorf("%w: device %s: %w", ErrForged, device, err)
	}
	return k, nil
}

// open decrypts a patient's record whose signature has been verified (h is
// its header) with the key of this provider's scope that the header's key
// tag names (record.Record.OpenWith). None of them: ErrOutOfScope (with
// ErrNoKey), having learnt only that the record is of none of the vital
// signs of the scope. A record that the named key does not open, or whose
// payload contradicts it, was signed by the patient so: ErrForged.
func (p *Provider) open(ctx context.Context, me *identity.Identity, pkey identity.VerifyingKey, rec *record.Record, h record.Header) (record.Payload, error) {
	keys, err := p.epochKeys(ctx, me, pkey, h.Epoch)
	if err != nil {
		return record.Payload{}, err
	}
	pl, err := rec.OpenWith(keys)
	if errors.Is(err, record.ErrWrongKey) {
		return record.Payload{}, fmt.Errorf("%w: %w: a record of patient %s in epoch %d of a vital sign out of the %d of the grant", ErrNoKey, ErrOutOfScope, h.Patient, h.Epoch, len(keys))
	}
	if err != nil {
		return record.Payload{}, fmt.Errorf("%w: %w", ErrForged, err)
	}
	return pl, nil
}

// epochKeys returns the keys of this provider's scope in the patient's
// epoch, by vital sign, granted to me (its relation key or its registered
// key), from the ledger: the envelope wraps the grant's
// key, which opens the scope's keys (cached).
func (p *Provider) epochKeys(ctx context.Context, me *identity.Identity, pkey identity.VerifyingKey, epoch uint64) (map[vital.Kind]envelope.SessionKey, error) {
	k := epochKey{pkey.ID(), epoch, me.ID()}
	p.mu.Lock()
	keys, ok := p.keys[k]
	p.mu.Unlock()
	if ok {
		return keys, nil
	}
	keys, err := p.scopeKeys(ctx, me, pkey, epoch)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	if len(p.keys) >= maxCache {
		clear(p.keys)
	}
	p.keys[k] = keys
	p.mu.Unlock()
	return keys, nil
}

// scopeKeys reads and opens the keys of this provider's scope in the
// patient's epoch, granted to me (its relation key or its registered key).
func (p *Provider) scopeKeys(ctx context.Context, me *identity.Identity, pkey identity.VerifyingKey, epoch uint64) (map[vital.Kind]envelope.SessionKey, error) {
	patient, myID := pkey.ID(), me.ID()
	b, err := p.cfg.Chain.Envelope(ctx, patient, epoch, myID)
	if errors.Is(err, client.ErrNotFound) {
		return nil, fmt.Errorf("%w: epoch %d of patient %s", ErrNoKey, epoch, patient)
	}
	if err != nil {
		return nil, fmt.Errorf("ledger: envelope: %w", err)
	}
	env, err := envelope.ParseEnvelope(b)
	if err != nil {
		return nil, fmt.Errorf("%w: envelope on the ledger: %w", ErrNoKey, err)
	}
	dk := me.Decryption
	gk, err := env.Unwrap(envelope.GrantContext(patient, myID, epoch, dk.Suite()), dk, pkey)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoKey, err)
	}
	sealed, err := p.cfg.Chain.ScopeKeys(ctx, patient, epoch, myID)
	if errors.Is(err, client.ErrNotFound) {
		return nil, fmt.Errorf("%w: no scope keys in epoch %d of patient %s", ErrNoKey, epoch, patient)
	}
	if err != nil {
		return nil, fmt.Errorf("ledger: scope keys: %w", err)
	}
	keys, err := envelope.OpenScope(gk, patient, myID, epoch, sealed)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoKey, err)
	}
	return keys, nil
}

// Scope returns the vital signs that this provider's grant from patient
// covers: the kinds whose keys of the grant's epoch it holds (the ledger
// does not hold the scope, only these keys sealed to the provider). A
// provider without a grant gets ErrNoKey.
func (p *Provider) Scope(ctx context.Context, patient identity.ID) ([]vital.Kind, error) {
	me, err := p.keyFor(ctx, patient)
	if err != nil {
		return nil, err
	}
	g, err := p.cfg.Chain.Grant(ctx, patient, me.ID())
	if errors.Is(err, client.ErrNotFound) {
		return nil, fmt.Errorf("%w: no grant from patient %s", ErrNoKey, patient)
	}
	if err != nil {
		return nil, fmt.Errorf("ledger: grant: %w", err)
	}
	pkey, _, err := p.patientKey(ctx, patient)
	if err != nil {
		return nil, err
	}
	keys, err := p.scopeKeys(ctx, me, pkey, g.Epoch)
	if err != nil {
		return nil, err
	}
	return envelope.Scope(keys), nil
}
