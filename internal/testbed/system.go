package testbed

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/vitalchain/vitalchain/command"
	"github.com/vitalchain/vitalchain/contract"
	"github.com/vitalchain/vitalchain/device"
	"github.com/vitalchain/vitalchain/gateway"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/internal/usage"
	"github.com/vitalchain/vitalchain/ledger"
	"github.com/vitalchain/vitalchain/mqtt"
	"github.com/vitalchain/vitalchain/provider"
	"github.com/vitalchain/vitalchain/reading"
	"github.com/vitalchain/vitalchain/relation"
	"github.com/vitalchain/vitalchain/vital"
	"github.com/vitalchain/vitalchain/wearable"
)

// Options configure Start.
type Options struct {
	Dir       string
	Patients  int
	Providers int
	// Devices per patient: the 6 standard wearables, then extra
	// pulse-oximeters up to this number (device.LoadOptions).
	Devices int
	// Interval is every wearable's sampling interval.
	Interval time.Duration
	// AbnormalFraction of the readings, and Speedup of the episodes (a
	// speedup of 60 plays an hour's episodes in a minute, at the same share
	// of abnormal readings); the contracts' cool-downs are shortened alike.
	AbnormalFraction float64
	Speedup          float64
	BlockInterval    time.Duration // CometBFT's timeout_commit
	CloudSeal        time.Duration // the cloud seals and anchors a block this often
	Suite            identity.Suite
	Seed             uint64
	FetchEvery       int // providers fetch and verify every n-th alert (0: none)
	// Overlay runs the overlay of cluster OverlayCluster (its head, a
	// standby authority-eligible node, its providers and devices), so that
	// a stopped head is re-elected and handed over on the ledger.
	Overlay bool
	// Params are the ledger's parameters (zero: ledger.DefaultParams()).
	Params ledger.Params
	Log    *slog.Logger
	// ExternalGateway, if set, runs patient 0's gateway through it (the
	// benchmark runs it as a process of its own to measure its memory),
	// grants its providers, and returns the gateway's MQTT URL.
	ExternalGateway func(ctx context.Context, s *System, p *Patient) (string, error)
	// Baseline also puts hashes on the chain one transaction each, from
	// the in-process gateways only (see Baseline).
	Baseline Baseline
}

// OverlayCluster is the cluster whose head the scenario stops; its head is
// node OverlayCluster-1 and its standby the first standby node.
const OverlayCluster = 4

// System is the whole of VitalChain in this process.
type System struct {
	opts      Options
	log       *slog.Logger
	Chain     *Chain
	Cloud     *Cloud
	Patients  []*Patient
	Providers []*Provider
	overlay   *clusterOverlay

	// ctx lives until Stop; every goroutine the System starts is in wg.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	// fetching counts the alerted records queued or being fetched and
	// verified apart from the alerts (Options.FetchEvery).
	fetching atomic.Int64

	wearMu     sync.Mutex
	wearCancel context.CancelFunc
	wearWG     sync.WaitGroup

	stats   *counters
	stopped atomic.Bool
	poster  *hashPoster // Options.Baseline's, or nil
}

// Patient is a patient of the System with its gateway and wearables.
type Patient struct {
	ID        *identity.Identity
	Kit       *device.Kit
	Gateway   *gateway.Gateway // nil when the gateway runs elsewhere (Options.ExternalGateway)
	Broker    *mqtt.Broker     // the gateway's embedded broker
	MQTT      string           // the broker's URL
	Contract  [32]byte
	Providers []int  // indexes in System.Providers of the contract's providers
	Dir       string // the gateway's state

	wearables *wearable.Wearables
	mu        sync.Mutex
	sealed    [][32]byte // records the gateway sealed, in order (in-process gateways)
}

// Sealed returns the records the patient's gateway sealed, in order.
func (p *Patient) Sealed() [][32]byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.sealed)
}

// Provider is a provider of the System.
type Provider struct {
	ID *identity.Identity
	P  *provider.Provider
}

// counters are the invariants' and the figures' counts.
type counters struct {
	alerts          atomic.Uint64
	misdelivered    atomic.Uint64
	proofsOK        atomic.Uint64
	proofsFailed    atomic.Uint64
	commandsApplied atomic.Uint64
	readingsBefore  atomic.Uint64 // readings of wearables already closed

	mu            sync.Mutex
	alertLat      []time.Duration
	anchorLat     []time.Duration
	pendingAnchor map[[32]byte]int64 // record → reading time (ms): sealed, not yet seen anchored
	anchoredSize  uint64
	revokedAt     map[[2]identity.ID]uint64 // (patient, provider) → the epoch from which it must get nothing
}

// scaledRules are the default rules with their cool-downs shortened as
// much as the episodes are (at least a second): the same alerts per
// episode as in life.
func scaledRules(speedup float64) []contract.Rule {
	rules := contract.DefaultRules()
	if speedup > 1 {
		for i := range rules {
			rules[i].Cooldown = max(1, uint32(float64(rules[i].Cooldown)/speedup))
		}
	}
	return rules
}

// Start starts the chain, registers every actor, deploys the contracts,
// and starts the cloud, the gateways (which grant their providers), the
// providers and, if asked, the overlay; the wearables start with
// StartWearables (or Run).
func Start(ctx context.Context, o Options) (*System, error) {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	s := &System{opts: o, log: o.Log, stats: &counters{pendingAnchor: map[[32]byte]int64{}, revokedAt: map[[2]identity.ID]uint64{}}}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	ok := false
	defer func() {
		if !ok {
			s.Stop()
		}
	}()
	// The CPU profile of a benchmark counts each part's time apart
	// (package usage): the goroutines each part starts inherit its label.
	defer usage.Label(ctx, "authority")()
	standby := 0
	if o.Overlay {
		standby = 1
	}
	var err error
	s.Chain, err = StartChain(ctx, ChainOptions{Nodes: 4, Standby: standby, Dir: filepath.Join(o.Dir, "chain"),
		BlockInterval: o.BlockInterval, NoEmptyBlocks: true, Params: o.Params})
	if err != nil {
		return nil, err
	}
	usage.Label(ctx, "setup")
	if err := s.register(ctx); err != nil {
		return nil, err
	}
	usage.Label(ctx, "baseline")
	if o.Baseline != BaselineNone {
		if s.poster, err = newHashPoster(ctx, s); err != nil {
			return nil, err
		}
	}
	// Nodes 0 to 2: the cloud's own head's first, never the one the scenario stops.
	usage.Label(ctx, "cloud")
	s.Cloud, err = StartCloud(ctx, CloudOptions{Key: s.Cloud.ID, Dir: filepath.Join(o.Dir, "cloud"), Clients: s.Chain.Clients(0, 3),
		BlockInterval: o.CloudSeal, AccessBlockInterval: 10 * time.Second, Log: s.log.With("part", "cloud")})
	if err != nil {
		return nil, err
	}
	usage.Label(ctx, "gateway")
	if err := s.startGateways(ctx); err != nil {
		return nil, err
	}
	usage.Label(ctx, "provider")
	if err := s.startProviders(); err != nil {
		return nil, err
	}
	usage.Label(ctx, "overlay")
	if o.Overlay {
		if err := s.startOverlay(ctx); err != nil {
			return nil, err
		}
	}
	ok = true
	return s, nil
}

// spawn runs f on a goroutine that Stop waits for; f's ctx ends at Stop.
func (s *System) spawn(f func(ctx context.Context)) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f(s.ctx)
	}()
}

// register admits the cloud, providers, patients and their devices, and
// deploys each patient's contract.
func (s *System) register(ctx context.Context) error {
	o := s.opts
	cloudID, err := identity.Generate(identity.RoleCloud, identity.SuiteX25519)
	if err != nil {
		return err
	}
	s.Cloud = &Cloud{ID: cloudID} // started once registered
	for range o.Providers {
		id, err := identity.Generate(identity.RoleProvider, o.Suite)
		if err != nil {
			return err
		}
		s.Providers = append(s.Providers, &Provider{ID: id})
	}
	for i := range o.Patients {
		id, err := identity.Generate(identity.RolePatient, o.Suite)
		if err != nil {
			return err
		}
		kit, err := device.LoadKit(id.ID(), o.Seed+uint64(i), device.LoadOptions{Devices: o.Devices, Interval: o.Interval,
			AbnormalFraction: o.AbnormalFraction, Speedup: o.Speedup})
		if err != nil {
			return err
		}
		p := &Patient{ID: id, Kit: kit, Dir: filepath.Join(o.Dir, fmt.Sprintf("gateway%d", i))}
		for j := range min(2, o.Providers) {
			p.Providers = append(p.Providers, (i+j)%o.Providers)
		}
		s.Patients = append(s.Patients, p)
	}
	// The cloud and patients join cluster 1 (the cloud serves it);
	// providers are spread over the other clusters, admitted by their heads.
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return s.Chain.Admit(gctx, cloudID, 1, nil, nil) })
	for i, p := range s.Providers {
		g.Go(func() error { return s.Chain.Admit(gctx, p.ID, uint32(2+i%3), nil, nil) })
	}
	for _, p := range s.Patients {
		g.Go(func() error { return s.Chain.Admit(gctx, p.ID, 1, nil, nil) })
	}
	if o.Overlay {
		// The standby machine of the overlay's cluster: authority-eligible,
		// with its consensus key, admitted by the cluster's head.
		tn := s.Chain.Net.Testnet
		g.Go(func() error { return s.Chain.Admit(gctx, tn.Authorities[4], OverlayCluster, nil, tn.Consensus[4]) })
	}
	if err := g.Wait(); err != nil {
		return fmt.Errorf("register: %w", err)
	}
	g, gctx = errgroup.WithContext(ctx)
	for _, p := range s.Patients {
		g.Go(func() error {
			for _, d := range p.Kit.Devices() {
				if err := s.Chain.Admit(gctx, d.Identity(), 1, p.ID, nil); err != nil {
					return fmt.Errorf("device %s: %w", d.Name(), err)
				}
			}
			for _, j := range p.Providers {
				if err := s.relate(gctx, p, s.Providers[j]); err != nil {
					return err
				}
			}
			return s.deployContract(gctx, p)
		})
	}
	if err := g.Wait(); err != nil {
		return fmt.Errorf("devices and contracts: %w", err)
	}
	return nil
}

// relate registers pr's relation key for p on the ledger, as p's client
// does with the binding pr hands it (gateway.Patient.Relate): checked
// against pr's registration, sealed to p.
func (s *System) relate(ctx context.Context, p *Patient, pr *Provider) error {
	b, _, err := relation.Bind(pr.ID, p.ID.ID())
	if err != nil {
		return err
	}
	if err := b.Verify(p.ID.ID(), pr.ID.Signing.Public()); err != nil {
		return err
	}
	reg := b.Register()
	if reg.Binding, err = relation.Seal(b, p.ID.Decryption.Public()); err != nil {
		return err
	}
	if _, err := s.Chain.Submit(ctx, p.ID.Signing, reg); err != nil {
		return fmt.Errorf("relation key of provider %s for patient %s: %w", pr.ID.ID(), p.ID.ID(), err)
	}
	return nil
}

// deployContract deploys p's contract with its providers, each accepting it
// under its relation key for p: the chain names no provider's registered
// key.
func (s *System) deployContract(ctx context.Context, p *Patient) error {
	terms := contract.Terms{Version: contract.Version, Patient: p.ID.ID(), Rules: scaledRules(s.opts.Speedup), Name: "vital signs"}
	provs := make([]*identity.Identity, 0, len(p.Providers))
	for _, j := range p.Providers {
		rel, err := relation.Derive(s.Providers[j].ID, p.ID.ID())
		if err != nil {
			return err
		}
		provs = append(provs, rel)
	}
	slices.SortFunc(provs, func(a, b *identity.Identity) int { x, y := a.ID(), b.ID(); return slices.Compare(x[:], y[:]) })
	for _, pr := range provs {
		terms.Providers = append(terms.Providers, pr.ID())
	}
	// Sealed for the parties, each provider accepting the commitment it
	// computed from the terms and the salt.
	dc, err := ledger.NewDeployContract(p.ID, terms, provs...)
	if err != nil {
		return err
	}
	p.Contract = dc.ID()
	_, err = s.Chain.Submit(ctx, p.ID.Signing, dc)
	return err
}

// startGateways starts every patient's gateway, then grants its providers
// every vital sign for a day, the first of them device commands too.
func (s *System) startGateways(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	for i, p := range s.Patients {
		g.Go(func() error {
			if i == 0 && s.opts.ExternalGateway != nil {
				u, err := s.opts.ExternalGateway(gctx, s, p)
				p.MQTT = u
				return err
			}
			return s.startGateway(gctx, p)
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	g, gctx = errgroup.WithContext(ctx)
	for _, p := range s.Patients {
		if p.Gateway == nil {
			continue // an external gateway grants for itself
		}
		g.Go(func() error {
			if err := s.GrantProviders(gctx, p.Gateway.Patient(), p); err != nil {
				return err
			}
			return monitoring(gctx, p.Gateway, p.Contract)
		})
	}
	return g.Wait()
}

// monitoring waits until gw monitors the contract id: it loads its
// patient's contracts from the ledger as it follows it, and readings
// before then raise nothing, which a short run (a test's) would miss.
func monitoring(ctx context.Context, gw *gateway.Gateway, id [32]byte) error {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for !slices.Contains(gw.Contracts(), id) {
		select {
		case <-ctx.Done():
			return fmt.Errorf("the gateway does not monitor contract %x: %w", id[:8], ctx.Err())
		case <-t.C:
		}
	}
	return nil
}

// GrantProviders grants p's contract's providers every vital sign for a
// day, the first of them device commands too, as pt (p's keys): each under
// its relation key for p, whose binding pt checks (registered already, by
// register).
func (s *System) GrantProviders(ctx context.Context, pt *gateway.Patient, p *Patient) error {
	for k, j := range p.Providers {
		b, _, err := relation.Bind(s.Providers[j].ID, p.ID.ID())
		if err != nil {
			return err
		}
		if _, err := pt.Relate(ctx, b); err != nil {
			return err
		}
		if err := pt.Grant(ctx, s.Providers[j].ID.ID(), vital.Kinds(), k == 0, time.Now().Add(24*time.Hour)); err != nil {
			return err
		}
	}
	return nil
}

func (s *System) startGateway(ctx context.Context, p *Patient) error {
	srvTLS, err := mqtt.ServerTLS(p.ID.Signing)
	if err != nil {
		return err
	}
	var gw *gateway.Gateway
	ready := make(chan struct{})
	b, err := mqtt.StartBroker(mqtt.BrokerConfig{Addr: "127.0.0.1:0", TLS: srvTLS, Patient: p.ID.ID(),
		Authenticate: func(dev identity.ID) error {
			select {
			case <-ready:
			case <-s.ctx.Done():
				return s.ctx.Err()
			}
			return gw.Admit(s.ctx, dev)
		}})
	if err != nil {
		return err
	}
	p.Broker, p.MQTT = b, b.URL()
	gw, err = gateway.New(ctx, gateway.Config{Patient: p.ID, Chain: s.Chain.Client(0), Cloud: s.Cloud.Client().Expect(s.Cloud.ID.ID()), Dir: p.Dir,
		Commands: func(dev identity.ID, payload []byte) error {
			return b.Publish(mqtt.CommandsTopic(p.ID.ID(), dev), payload)
		},
		OnSealed: func(r reading.Reading, id [32]byte) {
			p.mu.Lock()
			p.sealed = append(p.sealed, id)
			p.mu.Unlock()
			s.stats.mu.Lock()
			s.stats.pendingAnchor[id] = r.Time
			s.stats.mu.Unlock()
			if s.opts.Baseline == BaselinePerRecord {
				s.poster.record(p.ID.ID(), r, id)
			}
		},
		Log: s.log.With("part", "gateway", "patient", p.ID.ID().String())})
	if err != nil {
		return err
	}
	p.Gateway = gw
	close(ready)
	return b.SubscribeAck(mqtt.ReadingsFilter(p.ID.ID()), func(topic string, payload []byte) bool {
		err := gw.HandleMessage(s.ctx, topic, payload)
		if err != nil {
			s.log.Debug("reading refused", "err", err)
		} else if s.opts.Baseline == BaselinePerReading {
			s.poster.reading(p.ID.ID(), payload)
		}
		return !gateway.Retryable(err)
	})
}

// startProviders starts each provider following its alerts, and provider 0
// the anchors too.
func (s *System) startProviders() error {
	cc := s.Cloud.Client()
	for i, pn := range s.Providers {
		// Short long polls: after the last record, every provider's cursor
		// passes it within a second (waitAlerts).
		// Each follows its patients' alerts under its relation keys.
		var patients []identity.ID
		for _, p := range s.Patients {
			if slices.ContainsFunc(p.Providers, func(j int) bool { return s.Providers[j] == pn }) {
				patients = append(patients, p.ID.ID())
			}
		}
		pv, err := provider.New(provider.Config{Key: pn.ID, Chain: s.Chain.Client(i % 3), Cloud: cc, PollWait: time.Second,
			Patients: patients, Log: s.log.With("part", "provider")})
		if err != nil {
			return err
		}
		pn.P = pv
		// Fetches run beside the alerts, not in their handler: a fetch
		// waits for its proof's block, and the alerts behind it would wait
		// too (and count it as their latency).
		fetch := make(chan provider.Alert, 1024)
		s.spawn(func(ctx context.Context) {
			for {
				select {
				case <-ctx.Done():
					return
				case a := <-fetch:
					s.verifyFetch(ctx, pn, a.Header.Patient, a.ID)
					s.fetching.Add(-1)
				}
			}
		})
		s.spawn(func(ctx context.Context) {
			n := 0
			pv.Follow(ctx, 0, func(a provider.Alert) {
				s.onAlert(pn, a)
				n++
				if s.opts.FetchEvery > 0 && n%s.opts.FetchEvery == 0 {
					s.fetching.Add(1)
					select {
					case fetch <- a:
					case <-ctx.Done():
						s.fetching.Add(-1)
					}
				}
			})
		})
	}
	s.spawn(func(ctx context.Context) {
		// Timed when the anchor is seen committed, not by its block's
		// time: CometBFT stamps a block with its previous block's commit,
		// which after a pause without blocks is long before this one (with
		// a 2 s seal, half the anchors seemed to come before their readings).
		s.Providers[0].P.FollowAnchors(ctx, s.Cloud.ID.ID(), func(size uint64, _ time.Time) { s.onAnchor(size, time.Now()) })
	})
	return nil
}

// onAlert checks that an alert is due to its provider and records its latency.
func (s *System) onAlert(pn *Provider, a provider.Alert) {
	st := s.stats
	st.alerts.Add(1)
	due := false
	for _, p := range s.Patients {
		if p.ID.ID() == a.Header.Patient && p.Contract == a.Header.Contract {
			due = due || slices.ContainsFunc(p.Providers, func(j int) bool { return s.Providers[j] == pn })
		}
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if e, ok := st.revokedAt[[2]identity.ID{a.Header.Patient, pn.ID.ID()}]; ok && a.Header.Epoch >= e {
		due = false
	}
	if !due {
		st.misdelivered.Add(1)
		s.log.Error("alert misdelivered", "provider", pn.ID.ID(), "patient", a.Header.Patient)
	}
	st.alertLat = append(st.alertLat, a.Received.Sub(time.UnixMilli(a.Header.Time)))
	// Records of a gateway in another process are timed from their alerts.
	if a.Index >= st.anchoredSize {
		if _, ok := st.pendingAnchor[a.ID]; !ok {
			st.pendingAnchor[a.ID] = a.Header.Time
		}
	}
}

// onAnchor times the records an anchor of the records log covers.
func (s *System) onAnchor(size uint64, at time.Time) {
	st := s.stats
	st.mu.Lock()
	defer st.mu.Unlock()
	if size <= st.anchoredSize {
		return
	}
	st.anchoredSize = size
	for id, t := range st.pendingAnchor {
		// Where the record is in the cloud's log (not there yet: not stored).
		r, err := s.Cloud.Store.Record(id)
		if err == nil && r.Index < size {
			st.anchorLat = append(st.anchorLat, at.Sub(time.UnixMilli(t)))
			delete(st.pendingAnchor, id)
		}
	}
}

// verifyFetch fetches a record of patient as a provider and counts its proof.
func (s *System) verifyFetch(ctx context.Context, pn *Provider, patient identity.ID, id [32]byte) {
	_, err := pn.P.FetchFor(ctx, patient, id)
	switch {
	case err == nil:
		s.stats.proofsOK.Add(1)
	case errors.Is(err, provider.ErrProof), errors.Is(err, provider.ErrForged):
		s.stats.proofsFailed.Add(1)
		s.log.Error("record failed verification", "provider", pn.ID.ID(), "err", err)
	case ctx.Err() != nil:
	default:
		s.log.Debug("fetch refused", "err", err)
	}
}

// StartWearables connects every patient's wearables to its gateway's
// broker and starts them publishing; StopWearables (or Stop) ends them.
func (s *System) StartWearables(ctx context.Context) error {
	s.wearMu.Lock()
	defer s.wearMu.Unlock()
	defer usage.Label(ctx, "wearables")()
	wctx, cancel := context.WithCancel(s.ctx)
	s.wearCancel = cancel
	for _, p := range s.Patients {
		w, err := wearable.Connect(ctx, wearable.Config{Kit: p.Kit, Broker: p.MQTT,
			Patient: p.ID.Signing.Public(), Log: s.log.With("part", "wearables"),
			OnCommand: func(*device.Device, *command.Command) { s.stats.commandsApplied.Add(1) }})
		if err != nil {
			return err
		}
		p.wearables = w
		s.wearWG.Add(1)
		go func() {
			defer s.wearWG.Done()
			w.Run(wctx)
		}()
	}
	return nil
}

// StopWearables stops the wearables and waits for them.
func (s *System) StopWearables() {
	s.wearMu.Lock()
	defer s.wearMu.Unlock()
	if s.wearCancel != nil {
		s.wearCancel()
	}
	s.wearWG.Wait()
	for _, p := range s.Patients {
		if p.wearables != nil {
			s.stats.readingsBefore.Add(p.wearables.Stats().Measured)
			p.wearables.Close()
			p.wearables = nil
		}
	}
}

// Readings returns how many readings the wearables have measured.
func (s *System) Readings() uint64 {
	n := s.stats.readingsBefore.Load()
	for _, p := range s.Patients {
		if w := p.wearables; w != nil {
			n += w.Stats().Measured
		}
	}
	return n
}

// Drain waits until every sealed record is stored and anchored, and every
// alert has had its anchor.
func (s *System) Drain(ctx context.Context) error {
	// Let the brokers deliver the readings the wearables published last.
	for _, p := range s.Patients {
		if p.Broker != nil {
			if err := p.Broker.WaitIdle(ctx); err != nil {
				return fmt.Errorf("drain: %w", err)
			}
		}
	}
	for {
		waiting := 0
		for _, p := range s.Patients {
			if p.Gateway != nil {
				if err := p.Gateway.Flush(ctx); err != nil {
					return fmt.Errorf("flush gateway: %w", err)
				}
				st := p.Gateway.Stats()
				waiting += st.Pending + st.Held
			}
		}
		rc, ra, _, _ := s.Cloud.Service.Checkpoints()
		s.stats.mu.Lock()
		pending := len(s.stats.pendingAnchor)
		s.stats.mu.Unlock()
		if waiting == 0 && ra.Size == rc.Size && pending == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("drain: %d of %d records anchored, %d sealed records not seen anchored, %d records in outboxes or awaiting their proof", ra.Size, rc.Size, pending, waiting)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Stop stops everything the System started and waits for it.
func (s *System) Stop() {
	if !s.stopped.CompareAndSwap(false, true) {
		return
	}
	s.StopWearables()
	s.cancel()
	s.wg.Wait()
	for _, p := range s.Patients {
		if p.Gateway != nil {
			p.Gateway.Close()
		}
		if p.Broker != nil {
			p.Broker.Close()
		}
	}
	if s.Cloud != nil && s.Cloud.Service != nil {
		s.Cloud.Close()
	}
	if s.Chain != nil {
		s.Chain.Stop()
	}
}

// Latencies returns copies of the alert latencies (reading to provider) and
// the anchoring latencies (reading to its Merkle root committed) measured
// so far, in the order they were measured.
func (s *System) Latencies() (alert, anchor []time.Duration) {
	s.stats.mu.Lock()
	defer s.stats.mu.Unlock()
	return slices.Clone(s.stats.alertLat), slices.Clone(s.stats.anchorLat)
}

// Dirs returns the directories of the parts' state: "authority" (every
// node's), "cloud" (its store) and "gateway" (every patient's).
func (s *System) Dirs() map[string][]string {
	d := map[string][]string{"authority": {filepath.Join(s.opts.Dir, "chain")}, "cloud": {filepath.Join(s.opts.Dir, "cloud")}}
	for _, p := range s.Patients {
		d["gateway"] = append(d["gateway"], p.Dir)
	}
	return d
}
