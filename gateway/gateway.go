package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vitalchain/vitalchain/client"
	"github.com/vitalchain/vitalchain/cloud/cloudapi"
	"github.com/vitalchain/vitalchain/codec"
	"github.com/vitalchain/vitalchain/command"
	"github.com/vitalchain/vitalchain/contract"
	"github.com/vitalchain/vitalchain/envelope"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/ledger"
	"github.com/vitalchain/vitalchain/mqtt"
	"github.com/vitalchain/vitalchain/outbox"
	"github.com/vitalchain/vitalchain/reading"
	"github.com/vitalchain/vitalchain/record"
	"github.com/vitalchain/vitalchain/vital"
)

// Reading refusals, each counted by Stats under its reason.
var (
	ErrMalformed     = errors.New("malformed reading")
	ErrUnknownDevice = errors.New("unknown device")
	ErrBadSignature  = errors.New("bad device signature")
	ErrOtherPatient  = errors.New("reading of another patient")
	ErrReplay        = errors.New("replayed reading")
	ErrFuture        = errors.New("reading from the future")
	ErrTopic         = errors.New("topic names another patient or device")
	ErrBackpressure  = errors.New("outbox full")
	ErrClosed        = errors.New("gateway closed")
)

func reason(err error) string {
	switch {
	case errors.Is(err, ErrUnknownDevice):
		return "unknown_device"
	case errors.Is(err, ErrBadSignature):
		return "bad_signature"
	case errors.Is(err, ErrOtherPatient):
		return "other_patient"
	case errors.Is(err, ErrReplay):
		return "replay"
	case errors.Is(err, ErrFuture):
		return "future"
	case errors.Is(err, ErrTopic):
		return "topic"
	case errors.Is(err, ErrBackpressure):
		return "outbox_full"
	case errors.Is(err, ErrClosed):
		return "closed"
	}
	return "malformed"
}

// Config configures a Gateway.
type Config struct {
	Patient *identity.Identity // the patient's keys (role patient)
	Chain   *client.Client     // a ledger node
	Cloud   outbox.Sender      // the cloud (CloudSender adapts its HTTP client)
	Dir     string             // the gateway's durable state: outbox and device sequence numbers
	// Commands sends a signed Command to a device (over MQTT); nil: commands
	// are not relayed.
	Commands func(device identity.ID, payload []byte) error
	// OnSealed, if set, is called for each record sealed (tests, the demo's
	// counters): the reading and the record's ID.
	OnSealed func(r reading.Reading, id [32]byte)
	Log      *slog.Logger
	Now      func() time.Time
	Uploader outbox.UploaderOptions
}

// Patient holds a patient's keys and performs the patient's transactions
// (1, 2 and revokes); a Gateway embeds one. It needs no other state, so
// the command line uses it alone while a gateway runs elsewhere.
type Patient struct {
	id     *identity.Identity
	me     identity.ID
	chain  *client.Client
	signer *client.Signer
	log    *slog.Logger
	now    func() time.Time

	keyMu sync.RWMutex
	epoch uint64
	key   envelope.SessionKey

	txMu     sync.Mutex // one patient transaction at a time
	revokeMu sync.Mutex
}

// OpenPatient recovers a registered patient's current session key from the
// ledger, starting epoch 1 (transaction 1) if it has none.
func OpenPatient(ctx context.Context, id *identity.Identity, chain *client.Client, log *slog.Logger) (*Patient, error) {
	if err := id.Role().Want(identity.RolePatient); err != nil {
		return nil, fmt.Errorf("patient key: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := &Patient{id: id, me: id.ID(), chain: chain, log: log, now: time.Now}
	m, err := chain.Member(ctx, p.me)
	if err != nil {
		return nil, fmt.Errorf("patient %s on the ledger: %w", p.me, err)
	}
	if m.Role != identity.RolePatient {
		return nil, fmt.Errorf("%s is registered as a %s", p.me, m.Role)
	}
	if p.signer, err = chain.Signer(ctx, id.Signing); err != nil {
		return nil, err
	}
	if err := p.loadKey(ctx); err != nil {
		return nil, err
	}
	return p, nil
}

// ID returns the patient's ID.
func (p *Patient) ID() identity.ID { return p.me }

// Epoch returns the current key epoch.
func (p *Patient) Epoch() uint64 {
	p.keyMu.RLock()
	defer p.keyMu.RUnlock()
	return p.epoch
}

func (p *Patient) current() (uint64, envelope.SessionKey) {
	p.keyMu.RLock()
	defer p.keyMu.RUnlock()
	return p.epoch, p.key
}

// Gateway is a patient's running gateway.
type Gateway struct {
	*Patient
	cfg Config
	box *outbox.Outbox
	up  *outbox.Uploader

	mu        sync.Mutex // guards what follows: the reading path's state
	monitors  []*monitor
	devices   map[identity.ID]identity.VerifyingKey
	unknown   map[identity.ID]time.Time // devices the ledger did not know, and when asked
	seqs      map[identity.ID]uint64
	seqsDirty bool
	stats     Stats

	cancel context.CancelFunc
	wg     sync.WaitGroup
	closed atomic.Bool
}

type monitor struct {
	id  [32]byte
	m   *contract.Monitor
	kin map[vital.Kind]bool
}

// Stats counts what the gateway did.
type Stats struct {
	Readings  uint64            // verified readings
	Abnormal  uint64            // readings some contract found abnormal
	Alerts    uint64            // abnormal readings past their rule's cool-down
	Sealed    uint64            // records sealed into the outbox
	Refused   map[string]uint64 // refused messages, by reason
	Commands  uint64            // device commands relayed
	CmdRefuse uint64            // device commands not relayed
	Upload    outbox.Stats
	Pending   int // records in the outbox
}

// New starts a patient's gateway: it opens its state in cfg.Dir, recovers
// (or starts) the patient's session key, loads the patient's contracts,
// and starts uploading and following the ledger.
func New(ctx context.Context, cfg Config) (*Gateway, error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	p, err := OpenPatient(ctx, cfg.Patient, cfg.Chain, cfg.Log)
	if err != nil {
		return nil, err
	}
	p.now = cfg.Now
	g := &Gateway{Patient: p, cfg: cfg, devices: map[identity.ID]identity.VerifyingKey{},
		unknown: map[identity.ID]time.Time{}, seqs: map[identity.ID]uint64{}}
	g.stats.Refused = map[string]uint64{}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, err
	}
	if err := g.loadSeqs(); err != nil {
		return nil, err
	}
	if err := g.loadContracts(ctx); err != nil {
		return nil, err
	}
	if g.box, err = outbox.Open(filepath.Join(cfg.Dir, "outbox"), outbox.Options{Now: cfg.Now}); err != nil {
		return nil, err
	}
	rctx, cancel := context.WithCancel(context.Background())
	g.cancel = cancel
	events, err := cfg.Chain.Subscribe(rctx, func(e client.Event) bool {
		switch e.Type {
		case ledger.EventContract, ledger.EventContractTerminated, ledger.EventDeviceCommand, ledger.EventRevoke, ledger.EventSessionKey:
			return e.Attr(ledger.AttrPatient) == g.me.Hex()
		}
		return false
	})
	if err != nil {
		cancel()
		g.box.Close()
		return nil, err
	}
	g.up = outbox.NewUploader(g.box, cfg.Cloud, cfg.Uploader)
	g.wg.Add(3)
	go func() {
		defer g.wg.Done()
		if err := g.up.Run(rctx); err != nil && rctx.Err() == nil {
			g.log.Error("uploader stopped", "err", err)
		}
	}()
	go g.follow(rctx, events)
	go g.saveLoop(rctx)
	return g, nil
}

// Close stops the gateway, saving its devices' sequence numbers. Records
// still in the outbox stay there for the next start.
func (g *Gateway) Close() error {
	if !g.closed.CompareAndSwap(false, true) {
		return nil
	}
	g.cancel()
	g.wg.Wait()
	err := g.saveSeqs()
	return errors.Join(err, g.box.Close())
}

// Flush waits until the outbox is empty (every record stored by the cloud
// or refused for good), or ctx ends.
func (g *Gateway) Flush(ctx context.Context) error { return g.up.Flush(ctx) }

// Stats returns the gateway's counters.
func (g *Gateway) Stats() Stats {
	g.mu.Lock()
	s := g.stats
	s.Refused = make(map[string]uint64, len(g.stats.Refused))
	for k, v := range g.stats.Refused {
		s.Refused[k] = v
	}
	g.mu.Unlock()
	s.Upload = g.up.Stats()
	s.Pending = g.box.Len()
	return s
}

// MaxClockSkew bounds how far ahead of the gateway's clock a reading's time
// may be (the cloud would refuse its record for good).
const MaxClockSkew = time.Minute

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
		g.mu.Lock()
		g.stats.Refused[reason(err)]++
		g.mu.Unlock()
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
		g.mu.Lock()
		g.stats.Refused[reason(err)]++
		g.mu.Unlock()
	}
	return err
}

type sealJob struct {
	contract [32]byte
	severity contract.Severity
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
	}
	kind, err := r.Kind()
	if err != nil {
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	var jobs []sealJob
	g.mu.Lock()
	if last := g.seqs[r.Device]; r.Seq <= last {
		g.mu.Unlock()
		return fmt.Errorf("%w: device %s seq %d, last %d", ErrReplay, r.Device, r.Seq, last)
	}
	g.seqs[r.Device], g.seqsDirty = r.Seq, true
	g.stats.Readings++
	alert := false
	for _, m := range g.monitors {
		if !m.kin[kind] {
			continue
		}
		v, err := m.m.Observe(r.Time, kind, r.Value)
		if err != nil {
			g.log.Warn("contract evaluation failed", "contract", fmt.Sprintf("%x", m.id[:8]), "err", err)
			continue
		}
		if v.Abnormal {
			// A match the rule's cool-down withheld is stored, as every
			// abnormal reading is, but with severity 0: no alert.
			sev := v.Severity
			if !v.Alert {
				sev = 0
			}
			jobs = append(jobs, sealJob{contract: m.id, severity: sev})
			alert = alert || v.Alert
		}
	}
	if len(jobs) > 0 {
		g.stats.Abnormal++
		if alert {
			g.stats.Alerts++
		}
	}
	g.mu.Unlock()
	for _, j := range jobs {
		if err := g.seal(ctx, r, kind, msg, j); err != nil {
			return err
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

// seal seals one abnormal reading for one contract into the outbox. The
// record is a function of the reading, the contract and the epoch's key
// (record.SealDeterministic): sealed again after a crash forgot the
// device's last sequence number, it is the same record, which the cloud
// acknowledges as a duplicate.
func (g *Gateway) seal(ctx context.Context, r reading.Reading, kind vital.Kind, msg []byte, j sealJob) error {
	epoch, key := g.current()
	h := record.Header{Patient: g.me, Author: g.me, Epoch: epoch, Contract: j.contract, Kind: kind,
		Severity: uint8(j.severity), Time: r.Time, Seq: recordSeq(r.Device, r.Seq)}
	rec, err := record.SealDeterministic(h, key, msg, g.cfg.Patient.Signing)
	if err != nil {
		return fmt.Errorf("seal: %w", err)
	}
	b, err := rec.Marshal()
	if err != nil {
		return err
	}
	id := rec.ID()
	if err := g.box.Put(outbox.Item{ID: id, Data: b}); err != nil {
		if errors.Is(err, outbox.ErrFull) {
			return fmt.Errorf("%w: %w", ErrBackpressure, err)
		}
		return fmt.Errorf("outbox: %w", err)
	}
	g.mu.Lock()
	g.stats.Sealed++
	g.mu.Unlock()
	if g.cfg.OnSealed != nil {
		g.cfg.OnSealed(r, id)
	}
	return nil
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

// loadKey recovers the current epoch's key, or starts epoch 1.
func (g *Patient) loadKey(ctx context.Context) error {
	epoch, err := g.chain.Epoch(ctx, g.me)
	if err != nil && !errors.Is(err, client.ErrNotFound) {
		return err
	}
	if epoch == 0 {
		return g.startEpoch(ctx)
	}
	b, err := g.chain.Envelope(ctx, g.me, epoch, g.me)
	if err != nil {
		return fmt.Errorf("epoch %d envelope: %w", epoch, err)
	}
	e, err := envelope.ParseEnvelope(b)
	if err != nil {
		return err
	}
	key, err := e.Unwrap(envelope.SelfContext(g.me, epoch, g.id.Decryption.Suite()), g.id.Decryption)
	if err != nil {
		return fmt.Errorf("epoch %d: %w", epoch, err)
	}
	g.keyMu.Lock()
	g.epoch, g.key = epoch, key
	g.keyMu.Unlock()
	return nil
}

// startEpoch performs transaction 1 for epoch 1.
func (g *Patient) startEpoch(ctx context.Context) error {
	key, err := envelope.NewSessionKey()
	if err != nil {
		return err
	}
	e, err := envelope.SelfEnvelope(g.id, 1, key)
	if err != nil {
		return err
	}
	b, err := e.Marshal()
	if err != nil {
		return err
	}
	if err := g.submit(ctx, &ledger.SessionKey{Epoch: 1, Envelope: b}); err != nil {
		return fmt.Errorf("start epoch 1: %w", err)
	}
	g.keyMu.Lock()
	g.epoch, g.key = 1, key
	g.keyMu.Unlock()
	g.log.Info("session key published", "epoch", 1)
	return nil
}

func (g *Patient) submit(ctx context.Context, body ledger.Body) error {
	g.txMu.Lock()
	defer g.txMu.Unlock()
	cm, err := g.signer.Submit(ctx, body)
	if err != nil {
		return err
	}
	return cm.Err()
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
		if !c.Active {
			continue
		}
		if m, ok := old[id]; ok {
			ms = append(ms, m)
			continue
		}
		p, err := contract.Compile(c.Terms.Rules)
		if err != nil {
			g.log.Warn("contract does not compile", "contract", fmt.Sprintf("%x", id[:8]), "err", err)
			continue
		}
		m := &monitor{id: id, m: contract.NewMonitor(p), kin: map[vital.Kind]bool{}}
		for _, r := range c.Terms.Rules {
			m.kin[r.Kind] = true
		}
		ms = append(ms, m)
	}
	g.mu.Lock()
	g.monitors = ms
	g.mu.Unlock()
	return nil
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
			if n, _ := strconv.ParseUint(e.Attr(ledger.AttrEpoch), 10, 64); n > g.Epoch() {
				if err := g.loadKey(ctx); err != nil && ctx.Err() == nil {
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

// seqFile holds the devices' last sequence numbers.
const seqFile = "devices.cbor"

func (g *Gateway) loadSeqs() error {
	b, err := os.ReadFile(filepath.Join(g.cfg.Dir, seqFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := codec.UnmarshalTrusted(b, &g.seqs); err != nil {
		return fmt.Errorf("%s: %w", seqFile, err)
	}
	return nil
}

func (g *Gateway) saveSeqs() error {
	g.mu.Lock()
	if !g.seqsDirty {
		g.mu.Unlock()
		return nil
	}
	b, err := codec.Marshal(g.seqs)
	g.seqsDirty = false
	g.mu.Unlock()
	if err != nil {
		return err
	}
	p := filepath.Join(g.cfg.Dir, seqFile)
	f, err := os.CreateTemp(g.cfg.Dir, seqFile+".*")
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), p)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

func (g *Gateway) saveLoop(ctx context.Context) {
	defer g.wg.Done()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := g.saveSeqs(); err != nil {
				g.log.Warn("saving sequence numbers", "err", err)
			}
		}
	}
}

// CloudSender adapts the cloud's HTTP client to the outbox's Sender.
type CloudSender struct{ Client *cloudapi.Client }

// Send implements outbox.Sender.
func (s CloudSender) Send(ctx context.Context, recs [][]byte) ([]outbox.Result, error) {
	acks, err := s.Client.Upload(ctx, recs)
	if err != nil {
		return nil, err
	}
	out := make([]outbox.Result, len(acks))
	for i, k := range acks {
		out[i] = outbox.Result{Stored: k.Code == "", Permanent: cloudapi.Permanent(k.Code), Reason: k.Code}
	}
	return out, nil
}
