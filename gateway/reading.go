package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/vitalchain/vitalchain/client"
	"github.com/vitalchain/vitalchain/contract"
	"github.com/vitalchain/vitalchain/envelope"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/mqtt"
	"github.com/vitalchain/vitalchain/outbox"
	"github.com/vitalchain/vitalchain/reading"
	"github.com/vitalchain/vitalchain/record"
	"github.com/vitalchain/vitalchain/vital"
)

// MaxClockSkew bounds how far ahead of the gateway's clock a reading's time
// may be (the cloud would refuse its record for good), and MaxBacklog how
// far behind: a device that was out of reach sends its backlog within a
// day (docs/device-protocol.md).
const (
	MaxClockSkew = time.Minute
	MaxBacklog   = 24 * time.Hour
)

// Retryable reports whether a reading refused with err was not taken for a
// reason of the gateway's (its outbox full or failing, or it closing): the
// device must send it again, and the transport must not acknowledge it.
func Retryable(err error) bool {
	return errors.Is(err, ErrBackpressure) || errors.Is(err, ErrOutbox) || errors.Is(err, ErrClosed)
}

// HandleMessage processes one MQTT message: its topic must name this
// patient and the device that signed the reading (ErrTopic); then as
// HandleReading.
func (g *Gateway) HandleMessage(ctx context.Context, topic string, msg []byte) error {
	patient, dev, kind, err := mqtt.ParseTopic(topic)
	if err == nil && (patient != g.me || kind != mqtt.KindReadings) {
		err = fmt.Errorf("%s", topic)
	}
	if err == nil {
		if s, perr := reading.Parse(msg); perr == nil && s.KeyID() != dev {
			err = fmt.Errorf("topic names device %s, the reading %s", dev, s.KeyID())
		}
	}
	if err != nil {
		err = fmt.Errorf("%w: %w", ErrTopic, err)
		g.refused(err)
		return err
	}
	return g.HandleReading(ctx, msg)
}

// HandleReading processes one message from a wearable (see the package
// documentation). It returns once the reading is refused, found normal,
// or sealed durably into the outbox.
func (g *Gateway) HandleReading(ctx context.Context, msg []byte) error {
	err := g.handle(ctx, msg)
	if err != nil {
		g.refused(err)
	}
	return err
}

// refused counts a refusal by its reason, and logs it at a bounded rate
// (the first ten, then one a second): a flood of bad readings costs a
// counter each, not a log line.
func (g *Gateway) refused(err error) {
	g.mu.Lock()
	g.stats.Refused[reason(err)]++
	g.mu.Unlock()
	g.logRefusal.Do(func() { g.log.Warn("reading refused", "reason", reason(err), "err", err) })
}

type sealJob struct {
	m        *monitor
	verdict  contract.Verdict
	severity contract.Severity
}

// watched reports whether the job's record raises an alert the gateway
// watches for escalation: its contract has an escalation time and a next
// provider to escalate to.
func (j sealJob) watched() bool {
	return j.severity > 0 && j.m.terms.Escalation > 0 && len(j.m.terms.Providers) > 1
}

func (g *Gateway) handle(ctx context.Context, msg []byte) error {
	if g.closed.Load() {
		return ErrClosed
	}
	s, err := reading.Parse(msg)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	key, err := g.device(ctx, s.KeyID())
	if err != nil {
		return err
	}
	r, err := s.Verify(key)
	if err != nil {
		if errors.Is(err, identity.ErrBadSignature) {
			return fmt.Errorf("%w: %w", ErrBadSignature, err)
		}
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if r.Patient != g.me {
		return fmt.Errorf("%w: %s", ErrOtherPatient, r.Patient)
	}
	if d := r.Timestamp().Sub(g.cfg.Now()); d > MaxClockSkew {
		return fmt.Errorf("%w: %s ahead of the gateway's clock", ErrFuture, d.Round(time.Second))
	} else if -d > MaxBacklog {
		return fmt.Errorf("%w: taken %s ago, backlog %s", ErrTooOld, (-d).Round(time.Second), MaxBacklog)
	}
	kind, err := r.Kind()
	if err != nil {
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	// The reading is judged now but changes nothing until its records are
	// durable: its device's sequence number and its rules' cool-downs move
	// on only then, so that a reading the outbox could not take, sent
	// again, is taken whole, alert included. Meanwhile the device's later
	// readings wait (refused as replays of one in flight, which a device
	// keeping one reading in flight never sends).
	var jobs []sealJob
	g.mu.Lock()
	if last := max(g.seqs[r.Device], g.inflight[r.Device]); r.Seq <= last {
		g.mu.Unlock()
		return fmt.Errorf("%w: device %s seq %#x, last %#x", ErrReplay, r.Device, r.Seq, last)
	} else if !reading.SeqStep(last, r.Seq) {
		g.mu.Unlock()
		return fmt.Errorf("%w: device %s seq %#x after %#x", ErrSeqJump, r.Device, r.Seq, last)
	}
	g.inflight[r.Device] = r.Seq
	for _, m := range g.monitors {
		if !m.kin[kind] {
			continue
		}
		v, err := m.m.Evaluate(r.Time, kind, r.Value)
		if err != nil {
			g.log.Warn("contract evaluation failed", "contract", fmt.Sprintf("%x", m.id[:8]), "err", err)
		}
		if v.Abnormal {
			// A match the rule's cool-down withheld is stored, as every
			// abnormal reading is, but raises no alert.
			jobs = append(jobs, sealJob{m: m, verdict: v, severity: v.Severity})
		}
	}
	g.mu.Unlock()
	ids, err := g.tracedSeal(ctx, r, kind, msg, jobs)
	g.mu.Lock()
	delete(g.inflight, r.Device)
	if err != nil {
		g.mu.Unlock()
		return err
	}
	g.seqs[r.Device] = max(r.Seq, g.seqs[r.Device])
	if len(jobs) == 0 {
		g.dirty[r.Device] = true // an abnormal reading's was written with its records
	}
	g.stats.Readings++
	g.noteHeard(r.Device, g.cfg.Now())
	alert := false
	for i, j := range jobs {
		j.m.m.Record(r.Time, j.verdict)
		alert = alert || j.verdict.Alert
		if i < len(ids) && j.watched() {
			g.noteAlert(ids[i], j.m.id, g.cfg.Now())
		}
	}
	if len(jobs) > 0 {
		g.stats.Abnormal++
		g.stats.Sealed += uint64(len(jobs))
		if alert {
			g.stats.Alerts++
		}
	}
	g.mu.Unlock()
	g.hist.add(kind, r.Timestamp(), r.Value, len(jobs) > 0)
	if g.cfg.OnSealed != nil {
		for _, id := range ids {
			g.cfg.OnSealed(r, id)
		}
	}
	return nil
}

// recordSeq is the header Seq of the record of a device's reading: one
// reading, one Seq, whoever seals it and however often.
func recordSeq(device identity.ID, seq uint64) uint64 {
	h := sha256.New()
	h.Write([]byte("vitalchain/gateway-record-seq/v1\x00"))
	h.Write(device[:])
	binary.Write(h, binary.BigEndian, seq)
	return binary.BigEndian.Uint64(h.Sum(nil))
}

// seal seals one abnormal reading into one record per contract that found
// it abnormal, and puts them into the outbox in one durable write. A record
// is a function of the reading, the contract and the epoch's key
// (record.SealDeterministic): sealed again after a crash forgot the
// device's last sequence number, it is the same record, which the cloud
// acknowledges as a duplicate.
func (g *Gateway) seal(ctx context.Context, r reading.Reading, kind vital.Kind, msg []byte, jobs []sealJob) ([][32]byte, error) {
	if len(jobs) == 0 {
		return nil, nil
	}
	epoch, key := g.patient.current()
	if key.IsZero() {
		return nil, ErrErased
	}
	items := make([]outbox.Item, len(jobs))
	ids := make([][32]byte, len(jobs))
	marks := []outbox.Mark{seqMarkOf(r.Device, r.Seq)}
	for i, j := range jobs {
		// The header tells the cloud whether to alert, not of what: the
		// vital sign and the severity are sealed in the payload, under the
		// vital sign's key of the epoch (a grant gives a provider the keys
		// of its scope only).
		h := record.Header{Patient: g.me, Author: g.me, Epoch: epoch, Contract: j.m.id, Alert: j.verdict.Alert,
			Time: r.Time, Seq: recordSeq(r.Device, r.Seq)}
		p := record.Payload{Kind: kind, Severity: uint8(j.severity), Body: msg}
		rec, err := record.SealDeterministic(h, envelope.KindKey(key, g.me, epoch, kind), p, g.cfg.Patient.Signing)
		if err != nil {
			return nil, fmt.Errorf("seal: %w", err)
		}
		b, err := rec.Marshal()
		if err != nil {
			return nil, err
		}
		ids[i] = rec.ID()
		items[i] = outbox.Item{ID: ids[i], Data: b}
		if j.watched() {
			// Durable with the record: a gateway that restarts still
			// escalates the alerts it raised before.
			marks = append(marks, watchMarkOf(ids[i], j.m.id, g.cfg.Now()))
		}
	}
	noteSeal(ctx, ids) // before the uploader can see them
	if err := g.box.PutMarked(marks, items...); err != nil {
		if errors.Is(err, outbox.ErrFull) {
			return nil, fmt.Errorf("%w: %w", ErrBackpressure, err)
		}
		return nil, fmt.Errorf("%w: %w", ErrOutbox, err)
	}
	return ids, nil
}

// Admit reports whether id is a device the ledger registers to this
// patient (the broker admits only those: mqtt.BrokerConfig.Authenticate).
func (g *Gateway) Admit(ctx context.Context, id identity.ID) error {
	_, err := g.device(ctx, id)
	return err
}

// unknownTTL is how long a device the ledger did not know stays refused
// without asking the ledger again.
const unknownTTL = 5 * time.Second

// device returns the verifying key of one of the patient's devices.
func (g *Gateway) device(ctx context.Context, id identity.ID) (identity.VerifyingKey, error) {
	g.mu.Lock()
	k, ok := g.devices[id]
	at, miss := g.unknown[id]
	g.mu.Unlock()
	if ok {
		return k, nil
	}
	if miss && g.cfg.Now().Sub(at) < unknownTTL {
		return k, fmt.Errorf("%w: %s", ErrUnknownDevice, id)
	}
	m, err := g.cfg.Chain.Member(ctx, id)
	if err == nil && (m.Role != identity.RoleDevice || identity.ID(m.Patient) != g.me) {
		err = fmt.Errorf("%s is not one of this patient's devices", id)
	}
	if err == nil {
		k, err = m.VerifyingKey()
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if err != nil {
		if len(g.unknown) > 4096 {
			clear(g.unknown)
		}
		g.unknown[id] = g.cfg.Now()
		return k, fmt.Errorf("%w: %s: %v", ErrUnknownDevice, id, err)
	}
	g.devices[id] = k
	delete(g.unknown, id)
	return k, nil
}

type monitor struct {
	id    [32]byte
	terms contract.Terms // opened and checked against the commitment
	m     *contract.Monitor
	kin   map[vital.Kind]bool
}

// loadContracts (re)builds a monitor for each of the patient's active
// contracts, keeping the state of those it had.
func (g *Gateway) loadContracts(ctx context.Context) error {
	ids, err := g.cfg.Chain.Contracts(ctx, g.me)
	if err != nil && !errors.Is(err, client.ErrNotFound) {
		return err
	}
	g.mu.Lock()
	old := map[[32]byte]*monitor{}
	for _, m := range g.monitors {
		old[m.id] = m
	}
	g.mu.Unlock()
	var ms []*monitor
	for _, id := range ids {
		// A terminated contract stays listed: only the active ones count.
		c, err := g.cfg.Chain.Contract(ctx, id)
		if err != nil {
			return err
		}
		// The list is a listing, unproved; each contract is read proved,
		// and one that is not this patient's is not its.
		if !c.Active || c.Patient != g.me {
			continue
		}
		if m, ok := old[id]; ok {
			ms = append(ms, m)
			continue
		}
		// The ledger holds the terms sealed: the gateway opens them with
		// the patient's key and checks them against the commitment, the
		// contract's ID, and that they name the parties the ledger lists.
		terms, err := c.Sealed.Open(g.cfg.Patient, g.cfg.Patient.Signing.Public())
		if err == nil && (c.Sealed.Commitment != id || !slices.Equal(terms.Providers, c.Providers)) {
			err = fmt.Errorf("%w: the terms' providers or ID are not the ledger's", contract.ErrCommitment)
		}
		if err != nil {
			g.log.Warn("contract does not open", "contract", fmt.Sprintf("%x", id[:8]), "err", err)
			continue
		}
		p, err := contract.Compile(terms.Rules)
		if err != nil {
			g.log.Warn("contract does not compile", "contract", fmt.Sprintf("%x", id[:8]), "err", err)
			continue
		}
		m := &monitor{id: id, terms: terms, m: contract.NewMonitor(p), kin: map[vital.Kind]bool{}}
		for _, r := range terms.Rules {
			m.kin[r.Kind] = true
		}
		ms = append(ms, m)
	}
	g.mu.Lock()
	g.monitors = ms
	g.mu.Unlock()
	return nil
}

// Terms returns the terms of a contract the gateway evaluates, as it opened
// them from the ledger and checked them against the contract's commitment
// (the ledger holds them sealed), and whether it evaluates that contract.
func (g *Gateway) Terms(id [32]byte) (contract.Terms, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, m := range g.monitors {
		if m.id == id {
			return m.terms, true
		}
	}
	return contract.Terms{}, false
}

// Contracts returns the IDs of the contracts the gateway evaluates.
func (g *Gateway) Contracts() [][32]byte {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([][32]byte, len(g.monitors))
	for i, m := range g.monitors {
		out[i] = m.id
	}
	return out
}
