package main

// The whole system in one process, for the demo and the end-to-end
// benchmark: 4 Cluster Heads, a cloud, patients' gateways (each with its
// embedded MQTT broker) and wearables, and providers.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/vitalchain/vitalchain/chain"
	"github.com/vitalchain/vitalchain/client"
	"github.com/vitalchain/vitalchain/cloud"
	"github.com/vitalchain/vitalchain/cloud/cloudapi"
	"github.com/vitalchain/vitalchain/cloud/pebblestore"
	"github.com/vitalchain/vitalchain/command"
	"github.com/vitalchain/vitalchain/contract"
	"github.com/vitalchain/vitalchain/device"
	"github.com/vitalchain/vitalchain/gateway"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/ledger"
	"github.com/vitalchain/vitalchain/mqtt"
	"github.com/vitalchain/vitalchain/provider"
	"github.com/vitalchain/vitalchain/reading"
	"github.com/vitalchain/vitalchain/vital"
	"github.com/vitalchain/vitalchain/wearable"
)

type systemOptions struct {
	Dir       string
	Patients  int
	Providers int
	// Devices per patient: the 6 standard wearables, then extra
	// pulse-oximeters up to this number.
	Devices int
	// Interval is every wearable's sampling interval.
	Interval time.Duration
	// AbnormalFraction of the readings, and Speedup of the episodes (a
	// speedup of 60 plays an hour's episodes in a minute, at the same
	// share of abnormal readings).
	AbnormalFraction float64
	Speedup          float64
	BlockInterval    time.Duration // CometBFT's timeout_commit
	CloudSeal        time.Duration // the cloud seals and anchors a block this often
	Suite            identity.Suite
	Seed             uint64
	FetchEvery       int // providers fetch and verify every n-th alert (0: none)
	// Overlay runs the overlay of cluster 4 (its head, a standby
	// authority-eligible node, its providers and devices), so that a
	// stopped head is re-elected and handed over on the ledger.
	Overlay bool
	// Params are the ledger's parameters (zero: ledger.DefaultParams()).
	Params ledger.Params
	Log    *slog.Logger
	// ExternalGateway, if set, runs patient 0's gateway through it (the
	// benchmark runs it as a separate process to measure its memory); it
	// returns the gateway's MQTT URL.
	ExternalGateway func(ctx context.Context, s *system, p *patientNode) (string, error)
}

type system struct {
	opts       systemOptions
	log        *slog.Logger
	net        *chain.LocalNet
	clients    []*client.Client
	cloudID    *identity.Identity
	cloud      *cloud.Service
	cloudURL   string
	cloudSrv   *http.Server
	cloudStore *pebblestore.Store
	patients   []*patientNode
	providers  []*providerNode
	stats      *sysStats
	devCancel  context.CancelFunc
	devWG      sync.WaitGroup
	provWG     sync.WaitGroup
	provStop   context.CancelFunc
	provCtx    context.Context

	overlay   *clusterOverlay
	stoppedMu sync.Mutex
	stopped   map[int]bool // nodes the scenario stopped
}

type patientNode struct {
	id        *identity.Identity
	kit       *device.Kit
	gw        *gateway.Gateway // nil when external
	broker    *mqtt.Broker
	mqttURL   string
	pub       *wearable.Wearables
	contract  [32]byte
	providers []int // indexes of the contract's providers
	dir       string

	mu     sync.Mutex
	sealed [][32]byte // records the gateway sealed, in order (in-process gateways)
}

func (s *system) sealedOf(p *patientNode) [][32]byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.sealed)
}

type providerNode struct {
	id *identity.Identity
	p  *provider.Provider
}

// sysStats are the invariants' and the figures' counters.
type sysStats struct {
	readings        atomic.Uint64
	alerts          atomic.Uint64
	misdelivered    atomic.Uint64
	proofsOK        atomic.Uint64
	proofsFailed    atomic.Uint64
	commandsApplied atomic.Uint64

	mu            sync.Mutex
	alertLat      []time.Duration
	anchorLat     []time.Duration
	pendingAnchor map[[32]byte]int64 // record → reading time (ms): sealed by an in-process gateway, not yet anchored
	anchoredSize  uint64
	revokedAt     map[[2]identity.ID]uint64 // (patient, provider) → the epoch from which it must get nothing
}

func newSysStats() *sysStats {
	return &sysStats{pendingAnchor: map[[32]byte]int64{}, revokedAt: map[[2]identity.ID]uint64{}}
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

// compress plays a mix's episodes speedup times faster, at the same duty cycle.
func compress(m device.EpisodeMix, speedup float64) device.EpisodeMix {
	out := device.EpisodeMix{}
	for k, r := range m {
		r.PerHour *= speedup
		r.MinDuration = max(time.Second, time.Duration(float64(r.MinDuration)/speedup))
		r.MaxDuration = max(r.MinDuration, time.Duration(float64(r.MaxDuration)/speedup))
		out[k] = r
	}
	return out
}

// startSystem starts the chain, registers every actor, and starts the
// cloud, gateways and providers; the wearables start with startDevices.
func startSystem(ctx context.Context, o systemOptions) (*system, error) {
	s := &system{opts: o, log: o.Log, stats: newSysStats(), stopped: map[int]bool{}}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	ok := false
	defer func() {
		if !ok {
			s.stop()
		}
	}()
	var err error
	standby := 0
	if o.Overlay {
		standby = 1
	}
	s.net, err = chain.StartLocal(ctx, chain.TestnetOptions{Nodes: 4, Standby: standby, Dir: filepath.Join(o.Dir, "chain"),
		BlockInterval: o.BlockInterval, NoEmptyBlocks: true, Params: o.Params}, nil)
	if err != nil {
		return nil, fmt.Errorf("start the chain: %w", err)
	}
	for _, n := range s.net.Nodes {
		s.clients = append(s.clients, client.New(n.Local(), nil))
	}
	if err := s.register(ctx); err != nil {
		return nil, err
	}
	if err := s.startCloud(ctx); err != nil {
		return nil, err
	}
	if err := s.startPatients(ctx); err != nil {
		return nil, err
	}
	if err := s.startProviders(); err != nil {
		return nil, err
	}
	if o.Overlay {
		if err := s.startOverlay(ctx); err != nil {
			return nil, err
		}
	}
	ok = true
	return s, nil
}

// submitter submits transactions of many signers concurrently.
type submitter struct {
	c  *client.Client
	mu sync.Mutex
	ss map[identity.ID]*client.Signer
}

func (sb *submitter) submit(ctx context.Context, key *identity.SigningKey, body ledger.Body) error {
	sb.mu.Lock()
	s, ok := sb.ss[key.Public().ID()]
	sb.mu.Unlock()
	if !ok {
		var err error
		if s, err = sb.c.Signer(ctx, key); err != nil {
			return err
		}
		sb.mu.Lock()
		if s2, ok := sb.ss[key.Public().ID()]; ok {
			s = s2
		} else {
			sb.ss[key.Public().ID()] = s
		}
		sb.mu.Unlock()
	}
	cm, err := s.Submit(ctx, body)
	if err == nil {
		err = cm.Err()
	}
	if err != nil {
		return fmt.Errorf("%s: %w", body.TxType(), err)
	}
	return nil
}

// register admits the cloud, providers, patients and their devices, and
// deploys each patient's contract.
func (s *system) register(ctx context.Context) error {
	o := s.opts
	sb := &submitter{c: s.clients[0], ss: map[identity.ID]*client.Signer{}}
	gen := func(role identity.Role) (*identity.Identity, error) {
		suite := o.Suite
		if role == identity.RoleCloud || role == identity.RoleDevice {
			suite = identity.SuiteX25519
		}
		return identity.Generate(role, suite)
	}
	admit := func(by *identity.Identity, id *identity.Identity, cluster uint32, patient identity.ID) error {
		r, err := ledger.NewRegister(id, cluster, patient, nil)
		if err != nil {
			return err
		}
		return sb.submit(ctx, by.Signing, r)
	}
	var err error
	if s.cloudID, err = gen(identity.RoleCloud); err != nil {
		return err
	}
	for range o.Providers {
		id, err := gen(identity.RoleProvider)
		if err != nil {
			return err
		}
		s.providers = append(s.providers, &providerNode{id: id})
	}
	for i := range o.Patients {
		id, err := gen(identity.RolePatient)
		if err != nil {
			return err
		}
		kit, err := device.DefaultKit(id.ID(), o.Seed+uint64(i))
		if err != nil {
			return err
		}
		p := &patientNode{id: id, kit: kit, dir: filepath.Join(o.Dir, fmt.Sprintf("gateway%d", i))}
		if err := s.addDevices(p); err != nil {
			return err
		}
		np := min(2, o.Providers)
		for j := range np {
			p.providers = append(p.providers, (i+j)%o.Providers)
		}
		s.patients = append(s.patients, p)
	}
	// The cloud and patients join cluster 1 (the cloud serves it);
	// providers are spread over the other clusters, admitted by their heads.
	g, gctx := errgroup.WithContext(ctx)
	head := func(c int) *identity.Identity { return s.net.Nodes[c-1].Authority() }
	g.Go(func() error { return admit(head(1), s.cloudID, 1, identity.ID{}) })
	for i, p := range s.providers {
		c := 2 + i%3
		g.Go(func() error { return admit(head(c), p.id, uint32(c), identity.ID{}) })
	}
	for _, p := range s.patients {
		g.Go(func() error { return admit(head(1), p.id, 1, identity.ID{}) })
	}
	if o.Overlay {
		// The standby machine of the overlay's cluster: authority-eligible,
		// with its consensus key, admitted by the cluster's head.
		standby := s.net.Testnet.Authorities[4]
		g.Go(func() error {
			r, err := ledger.NewRegister(standby, overlayCluster, identity.ID{}, s.net.Testnet.Consensus[4])
			if err != nil {
				return err
			}
			return sb.submit(ctx, head(overlayCluster).Signing, r)
		})
	}
	if err := g.Wait(); err != nil {
		return fmt.Errorf("register: %w", err)
	}
	g, gctx = errgroup.WithContext(ctx)
	for _, p := range s.patients {
		g.Go(func() error {
			for _, d := range p.kit.Devices() {
				key, err := device.DeriveKey(p.kit.Patient().Seed(), d.Name())
				if err != nil {
					return err
				}
				if err := admit(p.id, &identity.Identity{Signing: key}, 1, p.id.ID()); err != nil {
					return fmt.Errorf("device %s: %w", d.Name(), err)
				}
			}
			terms := contract.Terms{Version: contract.Version, Patient: p.id.ID(), Rules: scaledRules(o.Speedup), Name: "vital signs"}
			for _, j := range p.providers {
				terms.Providers = append(terms.Providers, s.providers[j].id.ID())
			}
			slices.SortFunc(terms.Providers, func(a, b identity.ID) int { return slices.Compare(a[:], b[:]) })
			dc := &ledger.DeployContract{Terms: terms}
			for _, pid := range terms.Providers {
				for _, pr := range s.providers {
					if pr.id.ID() == pid {
						acc, err := ledger.Accept(pr.id.Signing, &terms)
						if err != nil {
							return err
						}
						dc.Acceptances = append(dc.Acceptances, acc)
					}
				}
			}
			var err error
			if p.contract, err = terms.Hash(); err != nil {
				return err
			}
			return sb.submit(gctx, p.id.Signing, dc)
		})
	}
	if err := g.Wait(); err != nil {
		return fmt.Errorf("devices and contracts: %w", err)
	}
	return nil
}

// addDevices sets the kit's devices: the standard six, then extra
// pulse-oximeters, all sampling every o.Interval, with the episode mix
// for o.AbnormalFraction played o.Speedup times faster.
func (s *system) addDevices(p *patientNode) error {
	o := s.opts
	devs := p.kit.Devices()
	seed := p.kit.Patient().Seed()
	for i := len(devs); i < o.Devices; i++ {
		spec := device.Spec{Name: fmt.Sprintf("pulse-oximeter-%d", i), Kinds: []vital.Kind{vital.HeartRate, vital.SpO2}, Interval: o.Interval}
		key, err := device.DeriveKey(seed, spec.Name)
		if err != nil {
			return err
		}
		d, err := device.NewDevice(spec, key, p.id.ID())
		if err != nil {
			return err
		}
		devs = append(devs, d)
	}
	if o.Devices > 0 && o.Devices < len(devs) {
		devs = devs[:o.Devices]
	}
	for _, d := range devs {
		if err := d.SetInterval(o.Interval); err != nil {
			return err
		}
	}
	kit, err := device.NewKit(p.kit.Patient(), devs...)
	if err != nil {
		return err
	}
	mix, err := kit.MixForAbnormalFraction(o.AbnormalFraction)
	if err != nil {
		return err
	}
	pat, err := device.NewPatient(p.kit.Patient().Profile(), compress(mix, o.Speedup), seed)
	if err != nil {
		return err
	}
	if err := kit.SetPatient(pat); err != nil {
		return err
	}
	p.kit = kit
	return nil
}

func (s *system) startCloud(ctx context.Context) error {
	st, err := pebblestore.Open(filepath.Join(s.opts.Dir, "cloud"))
	if err != nil {
		return err
	}
	s.cloud, err = cloud.New(ctx, cloud.Config{Key: s.cloudID.Signing, Store: st, Log: s.log.With("part", "cloud"),
		// Nodes 0 to 2: the cloud's own head's first, never the one the scenario stops.
		Ledger:        cloud.NewChainLedger(s.clients[:3], s.cloudID.Signing, 5*time.Second),
		BlockInterval: s.opts.CloudSeal, AccessBlockInterval: 10 * time.Second, BlockRecords: 1 << 16})
	if err != nil {
		st.Close()
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	s.cloudURL = "http://" + ln.Addr().String()
	s.cloudSrv = &http.Server{Handler: s.cloud.Handler(nil), ReadHeaderTimeout: 5 * time.Second}
	go s.cloudSrv.Serve(ln)
	s.cloudStore = st
	return nil
}

func (s *system) startPatients(ctx context.Context) error {
	cc := cloudapi.NewClient(s.cloudURL, nil)
	g, gctx := errgroup.WithContext(ctx)
	for i, p := range s.patients {
		g.Go(func() error {
			if i == 0 && s.opts.ExternalGateway != nil {
				u, err := s.opts.ExternalGateway(gctx, s, p)
				p.mqttURL = u
				return err
			}
			return s.startGateway(gctx, p, cc)
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	// Grants, once every gateway has started epoch 1.
	g, gctx = errgroup.WithContext(ctx)
	for _, p := range s.patients {
		if p.gw == nil {
			continue // an external gateway grants for itself
		}
		g.Go(func() error {
			for k, j := range p.providers {
				// Every vital sign for a day; the first provider may command devices.
				if err := p.gw.Patient().Grant(gctx, s.providers[j].id.ID(), vital.Kinds(), k == 0, time.Now().Add(24*time.Hour)); err != nil {
					return err
				}
			}
			return nil
		})
	}
	return g.Wait()
}

func (s *system) startGateway(ctx context.Context, p *patientNode, cc *cloudapi.Client) error {
	b, err := mqtt.StartBroker(mqtt.BrokerConfig{Addr: "127.0.0.1:0"})
	if err != nil {
		return err
	}
	p.broker, p.mqttURL = b, b.URL()
	gw, err := gateway.New(ctx, gateway.Config{Patient: p.id, Chain: s.clients[0], Cloud: gateway.CloudSender{Client: cc}, Dir: p.dir,
		Commands: func(dev identity.ID, payload []byte) error {
			return b.Publish(mqtt.CommandsTopic(p.id.ID(), dev), payload)
		},
		OnSealed: func(r reading.Reading, id [32]byte) {
			p.mu.Lock()
			p.sealed = append(p.sealed, id)
			p.mu.Unlock()
			s.onSealed(r, id)
		},
		Log: s.log.With("part", "gateway", "patient", p.id.ID().String())})
	if err != nil {
		return err
	}
	p.gw = gw
	return b.Subscribe(mqtt.ReadingsFilter(p.id.ID()), func(topic string, payload []byte) {
		if err := gw.HandleMessage(context.Background(), topic, payload); err != nil {
			s.log.Debug("reading refused", "err", err)
		}
	})
}

// startProviders starts each provider following its alerts and the anchors.
func (s *system) startProviders() error {
	ctx, cancel := context.WithCancel(context.Background())
	s.provStop, s.provCtx = cancel, ctx
	cc := cloudapi.NewClient(s.cloudURL, nil)
	for i, pn := range s.providers {
		pv, err := provider.New(provider.Config{Key: pn.id, Chain: s.clients[i%3], Cloud: cc,
			Log: s.log.With("part", "provider")})
		if err != nil {
			return err
		}
		pn.p = pv
		s.provWG.Add(1)
		go func() {
			defer s.provWG.Done()
			n := 0
			pv.Follow(ctx, 0, func(a provider.Alert) {
				s.onAlert(pn, a)
				n++
				if s.opts.FetchEvery > 0 && n%s.opts.FetchEvery == 0 {
					s.verifyFetch(ctx, pn, a.ID)
				}
			})
		}()
	}
	s.provWG.Add(1)
	go func() {
		defer s.provWG.Done()
		s.providers[0].p.FollowAnchors(ctx, s.cloudID.ID(), func(size uint64, at time.Time) { s.onAnchor(size, at) })
	}()
	return nil
}

// startOverlay starts the overlay of cluster overlayCluster.
func (s *system) startOverlay(ctx context.Context) error {
	var members []identity.ID
	for i, p := range s.providers {
		if 2+i%3 == overlayCluster {
			members = append(members, p.id.ID())
		}
	}
	// The last patient (of cluster 1, like every patient) is visiting
	// cluster 4's area: its phone hears only cluster 4's nodes.
	var guest *patientNode
	if len(s.patients) > 1 && s.patients[len(s.patients)-1].gw != nil {
		guest = s.patients[len(s.patients)-1]
		members = append(members, guest.id.ID())
	}
	// Only members the ledger lists as authority-eligible may be heads.
	info, err := s.liveClient().Cluster(ctx, overlayCluster)
	if err != nil {
		return err
	}
	head, standby := s.net.Testnet.Authorities[overlayCluster-1], s.net.Testnet.Authorities[4]
	if info.Cluster.Head != head.ID() || !slices.Contains(info.Eligible, standby.ID()) {
		return fmt.Errorf("cluster %d: the ledger does not list %s as its head and %s as eligible", overlayCluster, head.ID(), standby.ID())
	}
	o, err := newClusterOverlay(s, overlayCluster, head, standby, members, 5)
	if err != nil {
		return err
	}
	if guest != nil {
		o.visitors[guest.id.ID()] = &visitor{p: guest}
	}
	s.overlay = o
	s.provWG.Add(1)
	go func() {
		defer s.provWG.Done()
		o.run(s.provCtx)
	}()
	return nil
}

// overlayCluster is the cluster whose head the demo stops; its head is
// node overlayCluster-1 and its standby the first standby node.
const overlayCluster = 4

func (s *system) isStopped(i int) bool {
	s.stoppedMu.Lock()
	defer s.stoppedMu.Unlock()
	return s.stopped[i]
}

// liveClient is a client of a node the scenario never stops.
func (s *system) liveClient() *client.Client { return s.clients[0] }

// onAlert checks that an alert is due to its provider and records its latency.
func (s *system) onAlert(pn *providerNode, a provider.Alert) {
	st := s.stats
	st.alerts.Add(1)
	due := false
	for _, p := range s.patients {
		if p.id.ID() != a.Header.Patient || p.contract != a.Header.Contract {
			continue
		}
		for _, j := range p.providers {
			if s.providers[j] == pn {
				due = true
			}
		}
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if e, ok := st.revokedAt[[2]identity.ID{a.Header.Patient, pn.id.ID()}]; ok && a.Header.Epoch >= e {
		due = false
	}
	if !due {
		st.misdelivered.Add(1)
		s.log.Error("alert misdelivered", "provider", pn.id.ID(), "patient", a.Header.Patient)
	}
	st.alertLat = append(st.alertLat, a.Received.Sub(time.UnixMilli(a.Header.Time)))
	// Records of a gateway in another process are timed from their alerts.
	if a.Index >= st.anchoredSize {
		if _, ok := st.pendingAnchor[a.ID]; !ok {
			st.pendingAnchor[a.ID] = a.Header.Time
		}
	}
}

// onSealed notes a record an in-process gateway sealed, to time its anchoring.
func (s *system) onSealed(r reading.Reading, id [32]byte) {
	s.stats.mu.Lock()
	s.stats.pendingAnchor[id] = r.Time
	s.stats.mu.Unlock()
}

func (s *system) onAnchor(size uint64, at time.Time) {
	st := s.stats
	st.mu.Lock()
	defer st.mu.Unlock()
	if size <= st.anchoredSize {
		return
	}
	st.anchoredSize = size
	for id, t := range st.pendingAnchor {
		// Where the record is in the cloud's log (not there yet: not stored).
		r, err := s.cloudStore.Record(id)
		if err == nil && r.Index < size {
			st.anchorLat = append(st.anchorLat, at.Sub(time.UnixMilli(t)))
			delete(st.pendingAnchor, id)
		}
	}
}

// verifyFetch fetches a record as a provider and counts its proof.
func (s *system) verifyFetch(ctx context.Context, pn *providerNode, id [32]byte) {
	_, err := pn.p.Fetch(ctx, id)
	switch {
	case err == nil:
		s.stats.proofsOK.Add(1)
	case errors.Is(err, provider.ErrProof), errors.Is(err, provider.ErrForged):
		s.stats.proofsFailed.Add(1)
		s.log.Error("record failed verification", "provider", pn.id.ID(), "err", err)
	case ctx.Err() != nil:
	default:
		s.log.Debug("fetch refused", "err", err)
	}
}

// startDevices starts every patient's wearables publishing over MQTT.
func (s *system) startDevices(ctx context.Context) error {
	dctx, cancel := context.WithCancel(ctx)
	s.devCancel = cancel
	for i, p := range s.patients {
		w, err := wearable.Connect(ctx, wearable.Config{Kit: p.kit, Broker: p.mqttURL, ClientID: fmt.Sprintf("wearables-%d", i),
			Patient: p.id.Signing.Public(), Log: s.log.With("part", "wearables"),
			OnCommand: func(*device.Device, *command.Command) { s.stats.commandsApplied.Add(1) }})
		if err != nil {
			return err
		}
		p.pub = w
		s.devWG.Add(1)
		go func() {
			defer s.devWG.Done()
			w.Run(dctx)
		}()
	}
	return nil
}

// stopDevices stops the wearables and waits for them.
func (s *system) stopDevices() {
	if s.devCancel != nil {
		s.devCancel()
	}
	s.devWG.Wait()
	for _, p := range s.patients {
		if p.pub != nil {
			s.stats.readings.Add(p.pub.Stats().Measured)
			p.pub.Close()
			p.pub = nil
		}
	}
}

// drain waits until every sealed record is stored and anchored, and every
// provider has had its alerts.
func (s *system) drain(ctx context.Context) error {
	// Readings the brokers still deliver are handled before the flush.
	time.Sleep(200 * time.Millisecond)
	for {
		waiting := 0
		for _, p := range s.patients {
			if p.gw != nil {
				if err := p.gw.Flush(ctx); err != nil {
					return fmt.Errorf("flush gateway: %w", err)
				}
				waiting += p.gw.Stats().Pending
			}
		}
		rc, ra, _, _ := s.cloud.Checkpoints()
		s.stats.mu.Lock()
		pending := len(s.stats.pendingAnchor)
		s.stats.mu.Unlock()
		if waiting == 0 && ra.Size == rc.Size && pending == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("drain: %d of %d records anchored, %d sealed records not seen anchored, %d records in outboxes", ra.Size, rc.Size, pending, waiting)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (s *system) stop() {
	s.stopDevices()
	if s.provStop != nil {
		s.provStop()
		s.provWG.Wait()
	}
	for _, p := range s.patients {
		if p.gw != nil {
			p.gw.Close()
		}
		if p.broker != nil {
			p.broker.Close()
		}
	}
	if s.cloudSrv != nil {
		s.cloudSrv.Close()
	}
	if s.cloud != nil {
		s.cloud.Close()
	}
	if s.cloudStore != nil {
		s.cloudStore.Close()
	}
	for _, c := range s.clients {
		c.Close()
	}
	if s.net != nil {
		s.net.Stop()
	}
}

// height returns the chain's height.
func (s *system) height(ctx context.Context) int64 {
	h, _ := s.clients[0].Height(ctx)
	return h
}

// chainBytes sums the sizes of the blocks in (from, to], and finds the
// longest time between two consecutive blocks.
func (s *system) chainBytes(ctx context.Context, from, to int64) (total int64, maxGap time.Duration, blocks, withTxs, txs int, err error) {
	var last time.Time
	rpc := s.net.Nodes[0].RPC() // node 0 never stops
	for lo := from + 1; lo <= to; lo += 20 {
		hi := min(lo+19, to)
		res, err := rpc.BlockchainInfo(ctx, lo, hi)
		if err != nil {
			return 0, 0, 0, 0, 0, err
		}
		for k := len(res.BlockMetas) - 1; k >= 0; k-- { // newest first
			m := res.BlockMetas[k]
			total += int64(m.BlockSize)
			blocks++
			txs += m.NumTxs
			if m.NumTxs > 0 {
				withTxs++
			}
			if !last.IsZero() {
				maxGap = max(maxGap, m.Header.Time.Sub(last))
			}
			last = m.Header.Time
		}
	}
	return total, maxGap, blocks, withTxs, txs, nil
}
