package bench

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/vitalchain/vitalchain/chain"
	"github.com/vitalchain/vitalchain/client"
	"github.com/vitalchain/vitalchain/envelope"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/internal/bench/nullapp"
	"github.com/vitalchain/vitalchain/internal/testbed"
	"github.com/vitalchain/vitalchain/ledger"
	"github.com/vitalchain/vitalchain/merklelog"
	"github.com/vitalchain/vitalchain/vital"
)

// The chain benchmark's world: an authority (and a cloud) per cluster, and
// providers spread over the clusters.
const (
	chainNodes     = 4
	chainProviders = 8
	chainWarmUp    = 3 * time.Second
)

// ChainOptions configure Chain.
type ChainOptions struct {
	Duration time.Duration // the measured window, after a 3 s warm-up
	Patients int           // patients sending grants
	// InFlight is how many grants each patient keeps in flight: 1 to 63,
	// within the ledger's window of sequence numbers.
	InFlight      int
	BlockInterval time.Duration // CometBFT's timeout_commit
	// Suite is the patients' and providers' HPKE suite, which sets the size
	// of a grant's key envelope (zero: identity.DefaultSuite).
	Suite identity.Suite
	Dir   string // the nodes' homes ("": a temporary directory, removed at the end)
	// Baseline also drives the same load through package nullapp's
	// application and reports the ratio of the two throughputs.
	Baseline bool
	// CPUProfile is a file for a CPU profile of the ledger's measured window
	// ("": none); the baseline's goes to CPUProfile + ".nullapp".
	CPUProfile string
	Progress   io.Writer // progress lines (nil: none)
}

// ChainResult is what Chain measured ('vitalchain bench chain --json').
type ChainResult struct {
	Validators        int                 `json:"validators"`
	DurationS         float64             `json:"duration_s"`
	TxPerS            float64             `json:"tx_per_s"`
	CommitLatencyMs   testbed.Percentiles `json:"commit_latency_ms"`
	BlockIntervalMs   testbed.Percentiles `json:"block_interval_ms"`
	Blocks            int                 `json:"blocks"`
	TxPerBlock        float64             `json:"tx_per_block"`
	Committed         int64               `json:"committed"`
	Anchors           int64               `json:"anchors"`
	Grants            int64               `json:"grants"`
	Refused           int64               `json:"refused"`
	Ed25519VerifyPerS float64             `json:"ed25519_verify_per_s"`
	Ed25519VerifyCore float64             `json:"ed25519_verify_per_s_one_core"`
	// VerifyShare is the fraction of the machine's verification capacity the
	// committed rate needs, counting one signature check per transaction on
	// each of the validators (CheckTx; FinalizeBlock reuses its result).
	VerifyShare float64 `json:"verify_share"`
	// The CPU time per transaction, as in ChainRun.
	CPUMsPerTx     float64 `json:"cpu_ms_per_tx"`
	CPUBoundTxPerS float64 `json:"cpu_bound_tx_per_s"`
	CPUShare       float64 `json:"cpu_share"`
	InFlight       int     `json:"in_flight"`
	Suite          string  `json:"suite"`
	TxBytesMean    float64 `json:"tx_bytes_mean"`
	TimeoutCommit  string  `json:"timeout_commit"`
	GoMaxProcs     int     `json:"gomaxprocs"`
	// Baseline is the same load through package nullapp's application,
	// measured after the ledger's run in the same process (ChainOptions.Baseline).
	Baseline *ChainRun `json:"baseline,omitempty"`
	// Ratio is TxPerS ÷ Baseline.TxPerS: the share of CometBFT's
	// throughput, on this setup, that the ledger keeps.
	Ratio float64 `json:"ratio,omitempty"`
}

// ChainRun is one network's figures under the chain benchmark's load.
type ChainRun struct {
	App             string              `json:"app"`
	DurationS       float64             `json:"duration_s"`
	TxPerS          float64             `json:"tx_per_s"`
	CommitLatencyMs testbed.Percentiles `json:"commit_latency_ms"`
	BlockIntervalMs testbed.Percentiles `json:"block_interval_ms"`
	Blocks          int                 `json:"blocks"`
	TxPerBlock      float64             `json:"tx_per_block"`
	Committed       int64               `json:"committed"`
	Anchors         int64               `json:"anchors"`
	Grants          int64               `json:"grants"`
	Refused         int64               `json:"refused"`
	TxBytesMean     float64             `json:"tx_bytes_mean"`
	VerifyShare     float64             `json:"verify_share"`
	// CPUMsPerTx is the CPU time the whole process (the 4 nodes and the
	// load) used in the window per transaction committed in it, and
	// CPUBoundTxPerS the rate at which that cost fills GOMAXPROCS cores:
	// what the run would reach if CPU were its only bound. CPUShare is the
	// CPU time used over the window's time on GOMAXPROCS cores (near 1:
	// CPU-bound; far below: waiting, or a machine shared with others).
	CPUMsPerTx     float64 `json:"cpu_ms_per_tx"`
	CPUBoundTxPerS float64 `json:"cpu_bound_tx_per_s"`
	CPUShare       float64 `json:"cpu_share"`
}

// Chain starts 4 authorities in this process, registers the world, and
// drives it: every patient keeps o.InFlight grants in flight and every
// cloud anchors a new checkpoint as soon as its last one committed, each
// through the node of its cluster. It reports throughput, commit latency
// and block intervals over the measured window. With o.Baseline it then
// drives the same load, built alike, through 4 validators of package
// nullapp on the same CometBFT configuration, and reports the ratio.
func Chain(ctx context.Context, o ChainOptions) (*ChainResult, error) {
	if o.Duration <= 0 || o.BlockInterval <= 0 || o.Patients < 1 || o.InFlight < 1 || o.InFlight > 63 {
		return nil, errors.New("bench chain: the duration and block interval must be positive, patients at least 1 and in-flight 1 to 63")
	}
	if o.Suite == 0 {
		o.Suite = identity.DefaultSuite
	}
	say := progress(o.Progress)
	dir, removeDir, err := workDir(o.Dir, "vitalchain-bench-")
	if err != nil {
		return nil, fmt.Errorf("bench chain: %w", err)
	}
	defer removeDir()

	say("measuring the raw Ed25519 verification rate…")
	all, one := VerifyRate(time.Second)

	run, err := chainLedger(ctx, o, filepath.Join(dir, "ledger"), all)
	if err != nil {
		return nil, fmt.Errorf("bench chain: %w", err)
	}
	res := &ChainResult{
		Validators: chainNodes, DurationS: run.DurationS, TxPerS: run.TxPerS,
		CommitLatencyMs: run.CommitLatencyMs, BlockIntervalMs: run.BlockIntervalMs,
		Blocks: run.Blocks, TxPerBlock: run.TxPerBlock, Committed: run.Committed,
		Anchors: run.Anchors, Grants: run.Grants, Refused: run.Refused,
		Ed25519VerifyPerS: all, Ed25519VerifyCore: one, VerifyShare: run.VerifyShare,
		CPUMsPerTx: run.CPUMsPerTx, CPUBoundTxPerS: run.CPUBoundTxPerS, CPUShare: run.CPUShare,
		InFlight: o.Patients * o.InFlight, Suite: o.Suite.String(), TxBytesMean: run.TxBytesMean,
		TimeoutCommit: o.BlockInterval.String(), GoMaxProcs: runtime.GOMAXPROCS(0),
	}
	if !o.Baseline {
		return res, nil
	}
	if res.Baseline, err = chainBaseline(ctx, o, filepath.Join(dir, "baseline"), all); err != nil {
		return nil, fmt.Errorf("bench chain: baseline: %w", err)
	}
	if res.Baseline.TxPerS > 0 {
		res.Ratio = round(res.TxPerS/res.Baseline.TxPerS, 3)
	}
	return res, nil
}

// chainLedger runs the load on 4 authorities.
func chainLedger(ctx context.Context, o ChainOptions, dir string, verifyRate float64) (*ChainRun, error) {
	say := progress(o.Progress)
	say("starting %d authorities in this process…", chainNodes)
	ch, err := testbed.StartChain(ctx, testbed.ChainOptions{Nodes: chainNodes, Dir: dir, BlockInterval: o.BlockInterval})
	if err != nil {
		return nil, err
	}
	defer ch.Stop()
	say("registering %d patients, %d providers and %d clouds…", o.Patients, chainProviders, chainNodes)
	w, err := newWorld(ctx, ch, o.Patients, chainProviders, o.Suite)
	if err != nil {
		return nil, err
	}
	app := ch.Net.Nodes[0].App()
	height := func() int64 { h, _ := app.Height(); return h }
	return drive(ctx, o, "vitalchain", ch.Clients(0, chainNodes), height, w, verifyRate)
}

// chainBaseline runs the load on 4 validators of package nullapp.
func chainBaseline(ctx context.Context, o ChainOptions, dir string, verifyRate float64) (*ChainRun, error) {
	say := progress(o.Progress)
	say("baseline: starting %d validators of the null application…", chainNodes)
	n, err := nullapp.Start(ctx, chain.TestnetOptions{Nodes: chainNodes, Dir: dir, BlockInterval: o.BlockInterval})
	if err != nil {
		return nil, err
	}
	defer n.Stop()
	clients := make([]*client.Client, chainNodes)
	for i := range clients {
		clients[i] = n.Client(i)
		defer clients[i].Close()
	}
	chainID, err := n.ChainID()
	if err != nil {
		return nil, err
	}
	say("baseline: making %d patients, %d providers and %d clouds (nothing to register)…", o.Patients, chainProviders, chainNodes)
	w, err := offlineWorld(chainID, o.Patients, chainProviders, chainNodes, o.Suite)
	if err != nil {
		return nil, err
	}
	return drive(ctx, o, "nullapp", clients, n.Apps[0].Height, w, verifyRate)
}

// drive runs the load on w through clients (one per node) for the warm-up
// and o.Duration, watching node 0's blocks through height.
func drive(ctx context.Context, o ChainOptions, name string, clients []*client.Client, height func() int64, w *world, verifyRate float64) (*ChainRun, error) {
	say := progress(o.Progress)
	blocks, err := watchBlocks(ctx, clients[0], height)
	if err != nil {
		return nil, err
	}
	defer blocks.stop()
	l := &chainLoad{clients: clients, inFlight: o.InFlight}
	var wg sync.WaitGroup
	defer wg.Wait()
	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	for i, p := range w.patients {
		wg.Go(func() { l.grants(loadCtx, ctx, i, p, w.providers) })
	}
	for i, c := range w.clouds {
		wg.Go(func() { l.anchors(loadCtx, ctx, i, c) })
	}

	say("%s: warming up for 3 s…", name)
	if err := sleep(ctx, chainWarmUp); err != nil {
		return nil, err
	}
	say("%s: driving load for %s…", name, o.Duration)
	profile := o.CPUProfile
	if profile != "" && name != "vitalchain" {
		profile += "." + name // the baseline's run, beside the ledger's
	}
	if err := l.w.measure(ctx, o.Duration, profile); err != nil {
		return nil, err
	}
	times := blocks.between(l.w.start, l.w.end)
	stopLoad()
	wg.Wait() // what completed in the window is counted by now
	blocks.stop()
	n := l.committed.Load()
	var intervals []time.Duration
	for i := 1; i < len(times); i++ {
		intervals = append(intervals, times[i].Sub(times[i-1]))
	}

	elapsed := l.w.seconds()
	res := &ChainRun{
		App: name, DurationS: round(elapsed, 2),
		TxPerS:          round(float64(n)/elapsed, 1),
		CommitLatencyMs: l.w.latencies(),
		BlockIntervalMs: testbed.PercentilesOf(intervals),
		Blocks:          len(times),
		Committed:       n, Anchors: l.anchored.Load(), Grants: l.granted.Load(), Refused: l.refused.Load(),
	}
	if c := l.txCount.Load(); c > 0 {
		res.TxBytesMean = round(float64(l.txBytes.Load())/float64(c), 1)
	}
	if res.Blocks > 0 {
		res.TxPerBlock = round(float64(n)/float64(res.Blocks), 1)
	}
	if verifyRate > 0 {
		res.VerifyShare = round(res.TxPerS*chainNodes/verifyRate, 3)
	}
	if cpu := l.w.cpu.Seconds(); cpu > 0 && elapsed > 0 {
		procs := float64(runtime.GOMAXPROCS(0))
		res.CPUShare = round(cpu/(elapsed*procs), 3)
		if n > 0 {
			res.CPUMsPerTx = round(cpu*1000/float64(n), 3)
			res.CPUBoundTxPerS = round(procs*float64(n)/cpu, 1)
		}
	}
	if e := l.w.firstError(); e != "" {
		say("%s: first refusal: %s", name, e)
	}
	return res, nil
}

// world is the registered actors the chain benchmark drives.
type world struct {
	patients  []*patient
	providers []*identity.Identity
	clouds    []*anchorer // one per cluster
}

// txSigner signs transactions for one key, numbering them: a
// client.Signer, or an offlineSigner where there is no ledger to ask.
type txSigner interface {
	Sign(body ledger.Body) ([]byte, error)
}

// patient is a patient with its first session key wrapped to every
// provider.
type patient struct {
	signer    txSigner
	envelopes [][]byte // epoch 1's key wrapped to each provider, in world.providers' order
}

// anchorer is a cloud that appends to its log and anchors it.
type anchorer struct {
	signer txSigner
	log    *merklelog.Log
}

// newWorld registers a cloud per cluster and the providers, then the
// patients, each with its first session key and its grant envelopes for
// every provider. Actor i joins cluster i%nodes+1.
func newWorld(ctx context.Context, ch *testbed.Chain, nPatients, nProviders int, suite identity.Suite) (*world, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	nodes := len(ch.Net.Nodes)
	cluster := func(i int) uint32 { return uint32(i%nodes + 1) }
	w := &world{patients: make([]*patient, nPatients), providers: make([]*identity.Identity, nProviders), clouds: make([]*anchorer, nodes)}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(registering)
	for i := range w.clouds {
		g.Go(func() error {
			id, err := ch.Register(gctx, identity.RoleCloud, suite, cluster(i))
			if err != nil {
				return fmt.Errorf("register a cloud: %w", err)
			}
			s, err := ch.Signer(gctx, id.Signing)
			if err != nil {
				return err
			}
			l, err := merklelog.Open(merklelog.NewMemStore())
			w.clouds[i] = &anchorer{signer: s, log: l}
			return err
		})
	}
	for i := range w.providers {
		g.Go(func() error {
			var err error
			if w.providers[i], err = ch.Register(gctx, identity.RoleProvider, suite, cluster(i)); err != nil {
				return fmt.Errorf("register a provider: %w", err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	g, gctx = errgroup.WithContext(ctx)
	g.SetLimit(registering)
	for i := range w.patients {
		g.Go(func() error {
			id, key, err := registerPatient(gctx, ch, suite, cluster(i))
			if err != nil {
				return err
			}
			p := &patient{}
			if p.signer, err = ch.Signer(gctx, id.Signing); err != nil {
				return err
			}
			for _, prov := range w.providers {
				e, err := envelope.GrantEnvelope(id, prov.Public(), 1, key)
				if err != nil {
					return err
				}
				b, err := e.Marshal()
				if err != nil {
					return err
				}
				p.envelopes = append(p.envelopes, b)
			}
			w.patients[i] = p
			return nil
		})
	}
	return w, g.Wait()
}

// chainLoad drives grants and anchors and counts what commits in its window.
type chainLoad struct {
	clients  []*client.Client // one per node: actor i submits through clients[i%len]
	inFlight int
	w        window

	committed, refused, anchored, granted atomic.Int64
	txBytes, txCount                      atomic.Int64 // the grants signed
}

// done counts a transaction submitted at start, if it ended in the window.
func (l *chainLoad) done(kind *atomic.Int64, start time.Time, err error) {
	if !l.w.open() {
		return
	}
	if err != nil {
		if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
			l.refused.Add(1)
			l.w.fail(err)
		}
		return
	}
	d := time.Since(start)
	l.committed.Add(1)
	kind.Add(1)
	l.w.took(d)
}

// grants has patient i keep l.inFlight grants in flight, to the providers
// in turn, until load ends; each has 30 s within ctx to commit.
func (l *chainLoad) grants(load, ctx context.Context, i int, p *patient, providers []*identity.Identity) {
	c := l.clients[i%len(l.clients)]
	sem := make(chan struct{}, l.inFlight)
	var wg sync.WaitGroup
	defer wg.Wait()
	epochKey, err := envelope.NewSessionKey()
	if err != nil {
		l.w.fail(err)
		return
	}
	// The ledger checks only their size: one set of sealed scope keys serves.
	keys, err := envelope.SealScope(epochKey, identity.ID{1}, identity.ID{2}, 1, []vital.Kind{vital.Glucose, vital.HeartRate})
	if err != nil {
		l.w.fail(err)
		return
	}
	for n := 0; load.Err() == nil; n++ {
		sem <- struct{}{}
		g := &ledger.Grant{
			Provider: providers[n%len(providers)].ID(), Keys: keys,
			Expiry: time.Now().Add(24*time.Hour).UnixMilli() + int64(n), Epoch: 1,
			Envelope: p.envelopes[n%len(providers)],
		}
		tx, err := p.signer.Sign(g)
		if err != nil {
			l.w.fail(fmt.Errorf("sign a grant: %w", err))
			return
		}
		l.txBytes.Add(int64(len(tx)))
		l.txCount.Add(1)
		wg.Go(func() {
			defer func() { <-sem }()
			sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			start := time.Now()
			_, err := c.Submit(sctx, tx)
			l.done(&l.granted, start, err)
		})
	}
}

// anchors has cloud i append 64 records to its log and anchor the new
// checkpoint as soon as its previous anchor committed, until load ends or
// an anchor in the window fails.
func (l *chainLoad) anchors(load, ctx context.Context, i int, a *anchorer) {
	c := l.clients[i%len(l.clients)]
	for load.Err() == nil {
		old := a.log.Checkpoint()
		leaves := make([][]byte, 64)
		for j := range leaves {
			leaves[j] = make([]byte, 32)
			rand.Read(leaves[j])
		}
		if _, err := a.log.Append(leaves...); err != nil {
			l.w.fail(fmt.Errorf("append to a cloud's log: %w", err))
			return
		}
		cp := a.log.Checkpoint()
		proof, err := a.log.ConsistencyProof(old.Size, cp.Size)
		if err != nil {
			l.w.fail(fmt.Errorf("consistency proof: %w", err))
			return
		}
		tx, err := a.signer.Sign(&ledger.Anchor{Log: ledger.LogRecords, Checkpoint: cp, Proof: proof, Sealed: time.Now().UnixMilli()})
		if err != nil {
			l.w.fail(fmt.Errorf("sign an anchor: %w", err))
			return
		}
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		start := time.Now()
		_, err = c.Submit(sctx, tx)
		cancel()
		l.done(&l.anchored, start, err)
		if err != nil && l.w.open() {
			return
		}
	}
}

// blockClock is when node 0 committed each block, as seen by polling its
// height every 5 ms.
type blockClock struct {
	stop func() // ends the watch and waits for it

	mu    sync.Mutex
	times []time.Time
}

// watchBlocks records node 0's blocks, as height tells them, until ctx
// ends or stop. Node 0's client c also carries a subscription (that takes
// no event), as a provider's would.
func watchBlocks(ctx context.Context, c *client.Client, height func() int64) (*blockClock, error) {
	ctx, cancel := context.WithCancel(ctx)
	evs, err := c.Subscribe(ctx, func(client.Event) bool { return false })
	if err != nil {
		cancel()
		return nil, fmt.Errorf("subscribe: %w", err)
	}
	var wg sync.WaitGroup
	b := &blockClock{stop: func() { cancel(); wg.Wait() }}
	wg.Go(func() {
		for range evs {
		}
	})
	wg.Go(func() {
		last := int64(0)
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if h := height(); h != last {
					last = h
					b.mu.Lock()
					b.times = append(b.times, time.Now())
					b.mu.Unlock()
				}
			}
		}
	})
	return b, nil
}

// between returns the times of the blocks seen from from to to.
func (b *blockClock) between(from, to time.Time) []time.Time {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []time.Time
	for _, t := range b.times {
		if !t.Before(from) && !t.After(to) {
			out = append(out, t)
		}
	}
	return out
}
