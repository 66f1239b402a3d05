package gateway

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vitalchain/vitalchain/client"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/ledger"
	"github.com/vitalchain/vitalchain/outbox"
	"github.com/vitalchain/vitalchain/reading"
	"golang.org/x/time/rate"
)

// Reading refusals, each counted by Stats under its reason.
var (
	ErrMalformed     = errors.New("malformed reading")
	ErrUnknownDevice = errors.New("unknown device")
	ErrBadSignature  = errors.New("bad device signature")
	ErrOtherPatient  = errors.New("reading of another patient")
	ErrReplay        = errors.New("replayed reading")
	ErrFuture        = errors.New("reading from the future")
	ErrTooOld        = errors.New("reading older than the backlog allowed")
	ErrSeqJump       = errors.New("sequence number jumps too far")
	ErrTopic         = errors.New("topic names another patient or device")
	ErrBackpressure  = errors.New("outbox full")
	ErrOutbox        = errors.New("outbox write failed")
	ErrClosed        = errors.New("gateway closed")
	// ErrErased: the patient's data was erased and its epoch key
	// destroyed; the gateway seals nothing more.
	ErrErased = errors.New("the patient's data was erased")
)

func reason(err error) string {
	switch {
	case errors.Is(err, ErrUnknownDevice):
		return "unknown_device"
	case errors.Is(err, ErrErased):
		return "erased"
	case errors.Is(err, ErrBadSignature):
		return "bad_signature"
	case errors.Is(err, ErrOtherPatient):
		return "other_patient"
	case errors.Is(err, ErrReplay):
		return "replay"
	case errors.Is(err, ErrFuture):
		return "future"
	case errors.Is(err, ErrTooOld):
		return "too_old"
	case errors.Is(err, ErrSeqJump):
		return "seq_jump"
	case errors.Is(err, ErrTopic):
		return "topic"
	case errors.Is(err, ErrBackpressure):
		return "outbox_full"
	case errors.Is(err, ErrOutbox):
		return "outbox_failed"
	case errors.Is(err, ErrClosed):
		return "closed"
	}
	return "malformed"
}

// Config configures a Gateway.
type Config struct {
	Patient *identity.Identity // the patient's keys (role patient)
	Chain   *client.Client     // a ledger node
	Cloud   Cloud              // the patient's cloud (a *cloudapi.Client)
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
	Outbox   outbox.Options // the outbox's bounds (zero: its defaults)
	// ExpiryCheck is how often the gateway looks for an expired grant that
	// holds the current epoch's keys, to start a new epoch
	// (Patient.RekeyExpired); zero: every 10 s.
	ExpiryCheck time.Duration
	// LifecycleTick is how often the gateway does a round of its alerts'
	// lifecycle (CheckLifecycle: heartbeats, no-data alerts of silent
	// devices, escalations); zero: every second; negative: never by itself.
	LifecycleTick time.Duration
}

// Gateway is a patient's running gateway.
type Gateway struct {
	patient *Patient
	me      identity.ID // the patient's ID
	log     *slog.Logger
	cfg     Config
	box     *outbox.Outbox
	cloud   atomic.Pointer[knownCloud] // see cloudKey
	up      *outbox.Uploader

	mu       sync.Mutex // guards what follows: the reading path's state
	monitors []*monitor
	devices  map[identity.ID]identity.VerifyingKey
	unknown  map[identity.ID]time.Time // devices the ledger did not know, and when asked
	seqs     map[identity.ID]uint64    // the last sequence number taken, per device
	inflight map[identity.ID]uint64    // a reading being sealed, per device
	dirty    map[identity.ID]bool      // devices whose sequence number is not saved yet
	stats    Stats

	proveNow   chan struct{} // asks the prover to try now
	hist       history       // the patient's recent readings, for the patient's portal
	watch      alertWatch    // the alerts' lifecycle (lifecycle.go)
	logRefusal rate.Sometimes

	cancel context.CancelFunc
	wg     sync.WaitGroup
	closed atomic.Bool
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
	Pending   int // records in the outbox, to upload
	// Held are records the cloud has receipted, kept until their inclusion
	// in a checkpoint the ledger anchors is proven; Proven counts those let
	// go; ReceiptAlarms counts receipts not honoured by their deadline
	// (the record is sent again).
	Held          int
	Proven        uint64
	ReceiptAlarms uint64
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
	g := &Gateway{patient: p, me: p.me, log: p.log, cfg: cfg, devices: map[identity.ID]identity.VerifyingKey{},
		unknown: map[identity.ID]time.Time{}, seqs: map[identity.ID]uint64{}, inflight: map[identity.ID]uint64{}, dirty: map[identity.ID]bool{},
		watch: newAlertWatch()}
	g.stats.Refused = map[string]uint64{}
	g.logRefusal = rate.Sometimes{First: 10, Interval: time.Second}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, err
	}
	if err := g.loadContracts(ctx); err != nil {
		return nil, err
	}
	cfg.Outbox.Now = cfg.Now
	if g.box, err = outbox.Open(filepath.Join(cfg.Dir, "outbox"), cfg.Outbox); err != nil {
		return nil, err
	}
	if err := g.loadSeqs(); err != nil {
		g.box.Close()
		return nil, err
	}
	if err := g.loadWatch(); err != nil {
		g.box.Close()
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
	g.up = outbox.NewUploader(g.box, sender{g}, cfg.Uploader)
	g.proveNow = make(chan struct{}, 1)
	g.wg.Add(6)
	go g.runLifecycle(rctx)
	go g.prove(rctx)
	go g.expiries(rctx)
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

// expiries treats expired grants like revokes: new keys from then on.
func (g *Gateway) expiries(ctx context.Context) {
	defer g.wg.Done()
	every := g.cfg.ExpiryCheck
	if every <= 0 {
		every = 10 * time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := g.patient.RekeyExpired(ctx); err != nil && ctx.Err() == nil {
				g.log.Warn("new epoch after an expired grant", "err", err)
			}
		}
	}
}

// Patient returns the patient whose gateway this is: its keys and its
// transactions (grants, revokes, migrations).
func (g *Gateway) Patient() *Patient { return g.patient }

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
// or refused for good), or ctx ends. The stored records may still be held,
// awaiting their proof (Settle).
func (g *Gateway) Flush(ctx context.Context) error { return g.up.Flush(ctx) }

// Settle waits until every record is stored and proven in a checkpoint the
// ledger anchors (or refused for good), or ctx ends.
func (g *Gateway) Settle(ctx context.Context) error {
	for {
		if err := g.Flush(ctx); err != nil {
			return err
		}
		if g.box.HeldLen() == 0 {
			return nil
		}
		select {
		case g.proveNow <- struct{}{}:
		default:
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

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
	s.Held = g.box.HeldLen()
	return s
}
