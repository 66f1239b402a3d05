package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/vitalchain/vitalchain/chain"
	"github.com/vitalchain/vitalchain/client"
	"github.com/vitalchain/vitalchain/envelope"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/internal/cli"
	"github.com/vitalchain/vitalchain/internal/testbed"
	"github.com/vitalchain/vitalchain/ledger"
	"github.com/vitalchain/vitalchain/merklelog"
	"github.com/vitalchain/vitalchain/vital"
)

// chainBench is the JSON that 'vitalchain bench chain' prints.
type chainBench struct {
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
	VerifyShare   float64 `json:"verify_share"`
	InFlight      int     `json:"in_flight"`
	Suite         string  `json:"suite"`
	TxBytesMean   float64 `json:"tx_bytes_mean"`
	TimeoutCommit string  `json:"timeout_commit"`
	GoMaxProcs    int     `json:"gomaxprocs"`
}

func runBenchChain(args []string, stdout, stderr io.Writer) error {
	fs := cli.NewFlags("vitalchain", "bench chain", "bench chain [--json] [--duration D] [--patients N] [--in-flight N]", stderr)
	asJSON := fs.Bool("json", false, "print the result as JSON")
	duration := fs.Duration("duration", 20*time.Second, "how long to drive load (after a 3 s warm-up)")
	patients := fs.Int("patients", 96, "`number` of patients sending grants")
	inflight := fs.Int("in-flight", 32, "grants each patient keeps in flight (at most 63)")
	interval := fs.Duration("block-interval", 200*time.Millisecond, "CometBFT timeout_commit")
	suiteName := fs.String("suite", identity.DefaultSuite.String(), "providers' HPKE `suite`, which sets the size of a grant's key envelope: mlkem768x25519 (1,168 B) or x25519 (80 B)")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the measured period to `file`")
	if err := cli.ParseFlags(fs, args); err != nil {
		return err
	}
	if *inflight < 1 || *inflight > 63 || *patients < 1 {
		return fmt.Errorf("%w: --in-flight must be 1..63 and --patients positive", cli.ErrUsage)
	}
	suite, err := identity.ParseSuite(*suiteName)
	if err != nil {
		return fmt.Errorf("%w: %v", cli.ErrUsage, err)
	}
	dir, err := os.MkdirTemp("", "vitalchain-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	progress := func(format string, a ...any) { fmt.Fprintf(stderr, format+"\n", a...) }

	progress("measuring the raw Ed25519 verification rate…")
	all, one := verifyRate(time.Second)

	ctx := context.Background()
	progress("starting 4 authorities in this process…")
	net, err := chain.StartLocal(ctx, chain.TestnetOptions{Nodes: 4, Dir: dir, BlockInterval: *interval}, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	defer net.Stop()
	clients := make([]*client.Client, len(net.Nodes))
	for i, n := range net.Nodes {
		clients[i] = client.New(n.Local(), nil)
		defer clients[i].Close()
	}

	progress("registering %d patients, 8 providers and 4 clouds…", *patients)
	w, err := setupChainWorld(ctx, net, clients, *patients, 8, suite)
	if err != nil {
		return err
	}

	// Blocks, from node 0's point of view.
	var blockTimes []time.Time
	var bmu sync.Mutex
	bctx, bcancel := context.WithCancel(ctx)
	defer bcancel()
	evs, err := clients[0].Subscribe(bctx, func(client.Event) bool { return false })
	if err != nil {
		return err
	}
	go func() {
		for range evs {
		}
	}()
	go func() {
		last := int64(0)
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-bctx.Done():
				return
			case <-t.C:
				h, _ := net.Nodes[0].App().Height()
				if h != last {
					last = h
					bmu.Lock()
					blockTimes = append(blockTimes, time.Now())
					bmu.Unlock()
				}
			}
		}
	}()

	var (
		measuring              atomic.Bool
		committed, refused     atomic.Int64
		txBytes, txCount       atomic.Int64
		anchors, grants        atomic.Int64
		latMu                  sync.Mutex
		latencies              []time.Duration
		firstErr               atomic.Value
		loadCtx, stopLoad      = context.WithCancel(ctx)
		wg                     sync.WaitGroup
		measureStart, measured time.Time
	)
	defer stopLoad()
	record := func(kind *atomic.Int64, start time.Time, err error) {
		if !measuring.Load() {
			return
		}
		if err != nil {
			if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
				refused.Add(1)
				firstErr.CompareAndSwap(nil, err.Error())
			}
			return
		}
		d := time.Since(start)
		committed.Add(1)
		kind.Add(1)
		latMu.Lock()
		latencies = append(latencies, d)
		latMu.Unlock()
	}
	// Grants: each patient keeps `inflight` in flight, through its cluster's node.
	for i, p := range w.patients {
		c := clients[i%len(clients)]
		sem := make(chan struct{}, *inflight)
		wg.Add(1)
		go func() {
			defer wg.Done()
			var pw sync.WaitGroup
			defer pw.Wait()
			for n := 0; loadCtx.Err() == nil; n++ {
				sem <- struct{}{}
				prov := w.providers[n%len(w.providers)]
				g := &ledger.Grant{
					Provider: prov.ID(), Scope: []vital.Kind{vital.Glucose, vital.HeartRate},
					Expiry: time.Now().Add(24*time.Hour).UnixMilli() + int64(n), Epoch: 1,
					Envelope: p.envelopes[n%len(w.providers)],
				}
				tx, err := p.signer.Sign(g)
				if err != nil {
					firstErr.CompareAndSwap(nil, err.Error())
					return
				}
				txBytes.Add(int64(len(tx)))
				txCount.Add(1)
				pw.Add(1)
				go func() {
					defer pw.Done()
					defer func() { <-sem }()
					sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
					defer cancel()
					start := time.Now()
					_, err := c.Submit(sctx, tx)
					record(&grants, start, err)
				}()
			}
		}()
	}
	// Anchors: each cloud appends records and anchors a new checkpoint as
	// soon as its previous one committed.
	for i, cl := range w.clouds {
		c := clients[i%len(clients)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for loadCtx.Err() == nil {
				old := cl.log.Checkpoint()
				leaves := make([][]byte, 64)
				for j := range leaves {
					leaves[j] = make([]byte, 32)
					rand.Read(leaves[j])
				}
				if _, err := cl.log.Append(leaves...); err != nil {
					firstErr.CompareAndSwap(nil, err.Error())
					return
				}
				cp := cl.log.Checkpoint()
				proof, err := cl.log.ConsistencyProof(old.Size, cp.Size)
				if err != nil {
					firstErr.CompareAndSwap(nil, err.Error())
					return
				}
				tx, err := cl.signer.Sign(&ledger.Anchor{Log: ledger.LogRecords, Checkpoint: cp, Proof: proof, Sealed: time.Now().UnixMilli()})
				if err != nil {
					return
				}
				sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				start := time.Now()
				_, err = c.Submit(sctx, tx)
				cancel()
				record(&anchors, start, err)
				if err != nil && measuring.Load() {
					return
				}
			}
		}()
	}

	progress("warming up for 3 s…")
	time.Sleep(3 * time.Second)
	measuring.Store(true)
	measureStart = time.Now()
	bmu.Lock()
	blocksBefore := len(blockTimes)
	bmu.Unlock()
	progress("driving load for %s…", *duration)
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
	}
	time.Sleep(*duration)
	if *cpuprofile != "" {
		pprof.StopCPUProfile()
	}
	measured = time.Now()
	measuring.Store(false)
	n := committed.Load()
	bmu.Lock()
	blocks := slicesFrom(blockTimes, blocksBefore)
	bmu.Unlock()
	stopLoad()
	wg.Wait()
	bcancel()

	elapsed := measured.Sub(measureStart).Seconds()
	var intervals []time.Duration
	for i := 1; i < len(blocks); i++ {
		intervals = append(intervals, blocks[i].Sub(blocks[i-1]))
	}
	res := chainBench{
		Validators: len(net.Nodes), DurationS: round(elapsed, 2),
		TxPerS:          round(float64(n)/elapsed, 1),
		CommitLatencyMs: testbed.PercentilesOf(latencies),
		BlockIntervalMs: testbed.PercentilesOf(intervals),
		Blocks:          len(blocks),
		Committed:       n, Anchors: anchors.Load(), Grants: grants.Load(), Refused: refused.Load(),
		Ed25519VerifyPerS: all, Ed25519VerifyCore: one,
		InFlight: *patients * *inflight, Suite: suite.String(), TimeoutCommit: interval.String(), GoMaxProcs: runtime.GOMAXPROCS(0),
	}
	if c := txCount.Load(); c > 0 {
		res.TxBytesMean = round(float64(txBytes.Load())/float64(c), 1)
	}
	if len(blocks) > 0 {
		res.TxPerBlock = round(float64(n)/float64(len(blocks)), 1)
	}
	if all > 0 {
		res.VerifyShare = round(res.TxPerS*float64(len(net.Nodes))/all, 3)
	}
	if e, ok := firstErr.Load().(string); ok {
		progress("first refusal: %s", e)
	}
	if *asJSON {
		return writeJSON(stdout, res)
	}
	fmt.Fprintf(stdout, "%d validators, %.1f s: %.0f tx/s committed (%d anchors, %d grants, %d refused)\n",
		res.Validators, res.DurationS, res.TxPerS, res.Anchors, res.Grants, res.Refused)
	fmt.Fprintf(stdout, "commit latency p50 %.0f ms, p99 %.0f ms; block interval p50 %.0f ms; %.0f tx per block\n",
		res.CommitLatencyMs.P50, res.CommitLatencyMs.P99, res.BlockIntervalMs.P50, res.TxPerBlock)
	fmt.Fprintf(stdout, "Ed25519 verify: %.0f/s on all cores (%.0f/s on one); verification share %.0f%%\n", all, one, 100*res.VerifyShare)
	return nil
}

func slicesFrom[T any](s []T, i int) []T {
	if i > len(s) {
		return nil
	}
	return append([]T(nil), s[i:]...)
}

func round(v float64, digits int) float64 {
	p := 1.0
	for range digits {
		p *= 10
	}
	return float64(int64(v*p+0.5)) / p
}

// chainWorld is the set of registered actors a chain benchmark drives.
type chainWorld struct {
	patients  []*benchPatient
	providers []*identity.Identity
	clouds    []*benchCloud
}

type benchPatient struct {
	id        *identity.Identity
	signer    *client.Signer
	envelopes [][]byte // epoch 1's key wrapped to each provider
}

type benchCloud struct {
	signer *client.Signer
	log    *merklelog.Log
}

// setupChainWorld registers clouds, providers and patients (each with its
// first session key and envelopes for every provider).
func setupChainWorld(ctx context.Context, net *chain.LocalNet, clients []*client.Client, nPatients, nProviders int, suite identity.Suite) (*chainWorld, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	heads := make([]*client.Signer, len(net.Nodes))
	for i, n := range net.Nodes {
		s, err := clients[i].Signer(ctx, n.Authority().Signing)
		if err != nil {
			return nil, err
		}
		heads[i] = s
	}
	w := &chainWorld{}
	var mu sync.Mutex
	register := func(head int, role identity.Role) (*identity.Identity, error) {
		id, err := identity.Generate(role, suite)
		if err != nil {
			return nil, err
		}
		r, err := ledger.NewRegister(id, uint32(head+1), identity.ID{}, nil)
		if err != nil {
			return nil, err
		}
		mu.Lock()
		tx, err := heads[head].Sign(r)
		mu.Unlock()
		if err != nil {
			return nil, err
		}
		if _, err := clients[head].Submit(ctx, tx); err != nil {
			return nil, fmt.Errorf("register %s: %w", role, err)
		}
		return id, nil
	}
	var g errgroup.Group
	for i := range len(net.Nodes) {
		g.Go(func() error {
			id, err := register(i, identity.RoleCloud)
			if err != nil {
				return err
			}
			s, err := clients[i].Signer(ctx, id.Signing)
			if err != nil {
				return err
			}
			mu.Lock()
			w.clouds = append(w.clouds, &benchCloud{signer: s, log: mustLog()})
			mu.Unlock()
			return nil
		})
	}
	for i := range nProviders {
		g.Go(func() error {
			id, err := register(i%len(net.Nodes), identity.RoleProvider)
			mu.Lock()
			w.providers = append(w.providers, id)
			mu.Unlock()
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	for i := range nPatients {
		g.Go(func() error {
			head := i % len(net.Nodes)
			id, err := register(head, identity.RolePatient)
			if err != nil {
				return err
			}
			s, err := clients[head].Signer(ctx, id.Signing)
			if err != nil {
				return err
			}
			key, self, err := firstSessionKey(id)
			if err != nil {
				return err
			}
			if _, err := s.Submit(ctx, &ledger.SessionKey{Epoch: 1, Envelope: self}); err != nil {
				return fmt.Errorf("session key: %w", err)
			}
			p := &benchPatient{id: id, signer: s}
			for _, prov := range w.providers {
				env, err := grantEnvelope(id, prov.Public(), 1, key)
				if err != nil {
					return err
				}
				p.envelopes = append(p.envelopes, env)
			}
			mu.Lock()
			w.patients = append(w.patients, p)
			mu.Unlock()
			return nil
		})
	}
	return w, g.Wait()
}

func mustLog() *merklelog.Log {
	l, err := merklelog.Open(merklelog.NewMemStore())
	if err != nil {
		panic(err)
	}
	return l
}

// firstSessionKey makes a patient's epoch-1 session key and its envelope to
// the patient itself (transaction 1).
func firstSessionKey(id *identity.Identity) (envelope.SessionKey, []byte, error) {
	key, err := envelope.NewSessionKey()
	if err != nil {
		return key, nil, err
	}
	e, err := envelope.SelfEnvelope(id, 1, key)
	if err != nil {
		return key, nil, err
	}
	b, err := e.Marshal()
	return key, b, err
}

// grantEnvelope wraps a patient's session key to a provider (transaction 2).
func grantEnvelope(id *identity.Identity, prov identity.Public, epoch uint64, key envelope.SessionKey) ([]byte, error) {
	e, err := envelope.GrantEnvelope(id, prov, epoch, key)
	if err != nil {
		return nil, err
	}
	return e.Marshal()
}
