package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vitalchain/vitalchain/cloud/pebblestore"
	"github.com/vitalchain/vitalchain/gateway"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/internal/bench"
	"github.com/vitalchain/vitalchain/internal/benchplot"
	"github.com/vitalchain/vitalchain/internal/cli"
	"github.com/vitalchain/vitalchain/internal/testbed"
	rusage "github.com/vitalchain/vitalchain/internal/usage"
	"github.com/vitalchain/vitalchain/ledger"
	"github.com/vitalchain/vitalchain/portal"
)

// runBenchE2E runs the whole system at a given load and reports latency,
// chain growth and the gateway's memory.
func runBenchE2E(args []string, stdout, stderr io.Writer) error {
	const synopsis = "bench e2e [--json] [--duration D] [--rate R] [--baseline none,per-record,per-reading] [--sweep rate|patients|seal=V,...] [--sample D [--heapprofile PREFIX]] [--cpuprofile FILE] [--plot DIR]"
	fs := cli.NewFlags("vitalchain", "bench e2e", synopsis, stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: vitalchain %s\n", synopsis)
		fs.PrintDefaults()
		fmt.Fprint(stderr, benchE2EFields)
	}
	asJSON := fs.Bool("json", false, "print the result as JSON (an array of results when --baseline names several designs)")
	duration := fs.Duration("duration", 30*time.Second, "how long to stream readings")
	rate := fs.Float64("rate", 1000, "readings per second, all wearables together")
	patients := fs.Int("patients", 20, "patients (gateways)")
	devices := fs.Int("devices", 10, "wearables per patient")
	abnormal := fs.Float64("abnormal", 0.05, "share of abnormal readings over a long run")
	seal := fs.Duration("seal", 1250*time.Millisecond, "the cloud seals and anchors a block this often")
	passAfter := fs.Duration("anchor-pass-after", time.Duration(ledger.DefaultParams().AnchorPassAfterMs)*time.Millisecond, "the ledger's AnchorPassAfterMs: how long a proposer passes on another cluster's anchor")
	external := fs.Bool("external-gateway", true, "run patient 0's gateway as a separate process and measure its memory (not in a baseline's run)")
	baselines := fs.String("baseline", "none", "`designs` to run, one after the other in this process, comma-separated: none (the paper's: Merkle roots of many records per transaction), per-record (also every abnormal record's hash as its own ledger transaction) or per-reading (also every reading's hash, as peer systems do); each hash is an alert header (ledger transaction 'alert') posted by a notary of the patient's cluster")
	plotDir := fs.String("plot", "", "write charts (bytes and transactions per reading, p99 latencies, per design; the sweep's curves; the soak's series) into `dir`")
	sweepFlag := fs.String("sweep", "", "run the paper's design once per value of one setting, each on a fresh system: rate=R1,R2,… (readings/s), patients=N1,N2,… or seal=D1,D2,… (the cloud's seal interval); with --plot, the curves")
	sample := fs.Duration("sample", 0, "a soak: sample every process's memory, open files, disk use per part and the p99 latencies every `interval` while streaming, and report the slopes (0: off; a --duration of 5m or more samples every 30s)")
	heapProfile := fs.String("heapprofile", "", "with --sample: write heap profiles at the first sample after warm-up and at the last, to `prefix`-warm.pb.gz and prefix-last.pb.gz (go tool pprof -base prefix-warm.pb.gz prefix-last.pb.gz)")
	cpuProfile := fs.String("cpuprofile", "", "write the CPU profile of the run to `file` (of several runs: file-DESIGN or file-SWEEPi before its extension), every sample labelled with its part (go tool pprof -tagfocus component=cloud)")
	plotFormat := fs.String("plot-format", "png", "chart format: png or svg")
	if err := cli.ParseFlags(fs, args); err != nil {
		return err
	}
	var designs []testbed.Baseline
	for _, name := range strings.Split(*baselines, ",") {
		d, err := testbed.ParseBaseline(strings.TrimSpace(name))
		if err != nil {
			return fmt.Errorf("%w: %v", cli.ErrUsage, err)
		}
		designs = append(designs, d)
	}
	if *plotFormat != "png" && *plotFormat != "svg" {
		return fmt.Errorf("%w: --plot-format must be png or svg", cli.ErrUsage)
	}
	if fs.NArg() != 0 || *rate <= 0 || *patients < 1 || *devices < 6 {
		return fmt.Errorf("%w: bench e2e takes flags only; --devices at least 6", cli.ErrUsage)
	}
	sw, err := parseSweep(*sweepFlag)
	if err != nil {
		return fmt.Errorf("%w: %v", cli.ErrUsage, err)
	}
	if sw.name != "" && len(designs) > 1 {
		return fmt.Errorf("%w: --sweep runs one design; name one --baseline", cli.ErrUsage)
	}
	if *sample == 0 && *duration >= 5*time.Minute {
		*sample = 30 * time.Second
	}
	if *sample < 0 || (*sample > 0 && *sample > *duration/4) {
		return fmt.Errorf("%w: --sample must be at most a quarter of --duration", cli.ErrUsage)
	}
	// The points to run: the designs, or the sweep's values of one design.
	type point struct {
		design   testbed.Baseline
		rate     float64
		patients int
		seal     time.Duration
	}
	var points []point
	for _, d := range designs {
		points = append(points, point{d, *rate, *patients, *seal})
	}
	if sw.name != "" {
		points = nil
		for _, v := range sw.values {
			pt := point{designs[0], *rate, *patients, *seal}
			switch sw.name {
			case "rate":
				pt.rate = v
			case "patients":
				// Each patient at the same rate: the load grows with them.
				pt.patients = int(v)
				pt.rate = *rate * v / float64(*patients)
			case "seal":
				pt.seal = time.Duration(v * float64(time.Millisecond))
			}
			points = append(points, pt)
		}
	}
	// Readings per sampling round of one patient: the standard six
	// wearables measure 9 vital signs, each extra pulse-oximeter 2.
	perRound := 9 + 2*(*devices-6)
	intervalOf := func(pt point) time.Duration {
		return time.Duration(float64(time.Second) * float64(pt.patients*perRound) / pt.rate)
	}
	for _, pt := range points {
		if iv := intervalOf(pt); iv < 100*time.Millisecond {
			return fmt.Errorf("%w: %v readings/s needs more patients than %d (sampling interval %v < 100ms)", cli.ErrUsage, pt.rate, pt.patients, iv)
		}
	}
	dir, err := os.MkdirTemp("", "vitalchain-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log, _ := cli.NewLogger(stderr, "error")
	var results []*e2eResult
	for i, pt := range points {
		d := pt.design
		interval := intervalOf(pt)
		o := testbed.Options{Dir: filepath.Join(dir, strconv.Itoa(i)), Patients: pt.patients, Providers: 3, Devices: *devices, Interval: interval,
			AbnormalFraction: *abnormal, Speedup: 120, BlockInterval: 100 * time.Millisecond, CloudSeal: pt.seal,
			Suite: identity.SuiteMLKEM768X25519, Seed: 7, FetchEvery: 2, Log: log, Baseline: d}
		o.Params = ledger.DefaultParams()
		o.Params.AnchorPassAfterMs = passAfter.Milliseconds()
		fmt.Fprintf(stderr, "bench e2e (design %s): %d patients × %d wearables, sampling every %v (%.0f readings/s), %.0f%% abnormal, seal every %v, for %v\n",
			d, pt.patients, *devices, interval, pt.rate, 100**abnormal, pt.seal, *duration)
		// A baseline's hashes are taken from in-process gateways.
		prof := *cpuProfile
		if prof != "" && len(points) > 1 {
			// One profile per run: FILE-<design>.prof, FILE-<i>.prof.
			tag := d.String()
			if sw.name != "" {
				tag = sw.name + strconv.Itoa(i)
			}
			ext := filepath.Ext(prof)
			prof = strings.TrimSuffix(prof, ext) + "-" + tag + ext
		}
		res, err := benchE2EOnce(ctx, o, *duration, *external && d == testbed.BaselineNone, *sample, prof, *heapProfile, stderr)
		if err != nil {
			return fmt.Errorf("design %s: %w", d, err)
		}
		res.TargetRate, res.SealIntervalMs = pt.rate, pt.seal.Milliseconds()
		results = append(results, res)
	}
	if *plotDir != "" && sw.name != "" {
		files, err := benchplot.Sweep(*plotDir, *plotFormat, sw.name, sweepPoints(results), seal.Milliseconds())
		if err != nil {
			return err
		}
		for _, f := range files {
			fmt.Fprintf(stderr, "wrote %s\n", f)
		}
	}
	if *plotDir != "" && *sample > 0 {
		for _, r := range results {
			files, err := benchplot.Soak(*plotDir, *plotFormat, r.Soak.plotSeries())
			if err != nil {
				return err
			}
			for _, f := range files {
				fmt.Fprintf(stderr, "wrote %s\n", f)
			}
		}
	}
	if *plotDir != "" && sw.name == "" && *sample == 0 {
		sums := make([]*testbed.Summary, len(results))
		for i, r := range results {
			sums[i] = r.Summary
		}
		files, err := benchplot.E2E(*plotDir, *plotFormat, sums)
		if err != nil {
			return err
		}
		for _, f := range files {
			fmt.Fprintf(stderr, "wrote %s\n", f)
		}
	}
	if *asJSON {
		if len(results) == 1 && sw.name == "" {
			return writeJSON(stdout, results[0])
		}
		return writeJSON(stdout, results)
	}
	for _, res := range results {
		sum := res.Summary
		if len(results) > 1 {
			fmt.Fprintf(stdout, "\nDesign %s\n", designs[0])
			designs = designs[1:]
		}
		printSummary(stdout, sum)
		fmt.Fprintf(stdout, "  transactions        %d on the chain while streaming = %.4f per reading\n", sum.ChainTxs, sum.TxsPerReading)
		if sum.Baseline != "" {
			fmt.Fprintf(stdout, "  baseline %-11s %d hashes committed one transaction each (%d refused); reading to commit p50 %.0f ms, p99 %.0f ms\n",
				sum.Baseline, sum.BaselineTxs, sum.BaselineRefused, sum.BaselineLatencyMs.P50, sum.BaselineLatencyMs.P99)
		}
		fmt.Fprintf(stdout, "  alerts to a browser p50 %.0f ms, p99 %.0f ms (%d alerts on the first provider's portal's live stream)\n", res.BrowserAlertMs.P50, res.BrowserAlertMs.P99, res.BrowserAlertMs.N)
		if res.GatewayProgram != "" {
			fmt.Fprintf(stdout, "  gateway memory      %.1f MB RSS (peak %.1f MB; %.1f MB anonymous), %d wearables, %s\n", sum.GatewayRSSMB, res.GatewayPeakRSSMB, res.GatewayAnonMB, *devices, res.GatewayProgram)
		}
		u := res.Units
		fmt.Fprintf(stdout, "  CPU per unit        gateway %.3g s/reading, cloud %.3g s/record, authority %.3g s/transaction (%.3g s/reading); %.2f synced DB batches per record\n",
			u.GatewayCPUSPerReading, u.CloudCPUSPerRecord, u.AuthorityCPUSPerTx, u.AuthorityCPUSPerReading, u.DBBatchesPerRecord)
		if res.Soak != nil {
			for _, sl := range res.Soak.Slopes {
				fmt.Fprintf(stdout, "  soak: %-28s %+.2f MB/hour after %.0f s of warm-up\n", sl.Series, sl.MBPerHour, res.Soak.WarmupS)
			}
			fmt.Fprintf(stdout, "  soak: alert p99 %.0f → %.0f ms, anchor p99 %.0f → %.0f ms (first half → second half after warm-up)\n",
				res.Soak.AlertP99Ms[0], res.Soak.AlertP99Ms[1], res.Soak.AnchorP99Ms[0], res.Soak.AnchorP99Ms[1])
		}
	}
	return nil
}

// e2eResult is one run of bench e2e ('--json').
type e2eResult struct {
	*testbed.Summary
	GatewayPeakRSSMB float64 `json:"gateway_peak_rss_mb,omitempty"`
	// The RSS is mostly clean pages of the binary (shared by every
	// process running it); RssAnon is the gateway's own memory.
	GatewayAnonMB  float64 `json:"gateway_rss_anon_mb,omitempty"`
	TargetRate     float64 `json:"target_readings_per_s"`
	SealIntervalMs int64   `json:"cloud_seal_interval_ms"`
	GatewayProgram string  `json:"gateway_program,omitempty"`
	// Units are the per-unit costs that `vitalchain plan` turns into a
	// deployment's resources.
	Units e2eUnits `json:"units"`
	// CPU is the run's CPU time by part (streaming and drain).
	CPU rusage.CPU `json:"cpu"`
	// Cloud is what the cloud's store wrote during the run.
	CloudStore pebblestore.Metrics `json:"cloud_store"`
	// Soak is the series of a run with --sample.
	Soak *soak `json:"soak,omitempty"`
	// BrowserAlertMs: from a reading to its alert's event on the first
	// provider's portal's live stream (what a browser's page gets).
	BrowserAlertMs testbed.Percentiles `json:"browser_alert_latency_ms"`
}

// benchE2EOnce starts the system of o, with patient 0's gateway in a
// process of its own if external, runs it for d and stops it.
func benchE2EOnce(ctx context.Context, o testbed.Options, d time.Duration, external bool, sampleEvery time.Duration, cpuProfile, heapProfile string, stderr io.Writer) (*e2eResult, error) {
	var gwProc *exec.Cmd
	if external {
		o.ExternalGateway = func(ctx context.Context, s *testbed.System, p *testbed.Patient) (string, error) {
			cmd, url, err := startGatewayProcess(ctx, s, p, stderr)
			gwProc = cmd
			return url, err
		}
	}
	s, err := testbed.Start(ctx, o)
	if err != nil {
		return nil, err
	}
	defer func() {
		if gwProc != nil {
			gwProc.Process.Signal(os.Interrupt)
			gwProc.Wait()
		}
		s.Stop()
	}()
	// The first provider's portal, watched as a browser's page: the
	// latency from a reading to its alert on a clinician's screen.
	var browserMu sync.Mutex
	var browserLat []time.Duration
	stopPortal, err := watchProviderPortal(ctx, s, func(reading, arrived time.Time) {
		browserMu.Lock()
		browserLat = append(browserLat, arrived.Sub(reading))
		browserMu.Unlock()
	}, stderr)
	if err != nil {
		return nil, err
	}
	var gwPid int
	if gwProc != nil {
		gwPid = gwProc.Process.Pid
	}
	gw0, _ := rusage.ReadProc(gwPid)
	st0 := cloudStoreMetrics(s)
	var sampler *soakSampler
	if sampleEvery > 0 {
		sampler = startSoak(ctx, s, gwPid, sampleEvery, d, heapProfile)
	}
	prof, err := rusage.StartProfile()
	if err != nil {
		return nil, err
	}
	restore := rusage.Label(ctx, "bench")
	sum, err := s.Run(ctx, nil, d, false)
	restore()
	profData := prof.Stop()
	var sk *soak
	if sampler != nil {
		sk = sampler.stop()
	}
	stopPortal()
	if err != nil {
		return nil, err
	}
	cpu, err := rusage.ComponentCPU(profData)
	if err != nil {
		return nil, err
	}
	if cpuProfile != "" {
		if err := os.WriteFile(cpuProfile, profData, 0o644); err != nil {
			return nil, err
		}
	}
	gw1, _ := rusage.ReadProc(gwPid)
	st1 := cloudStoreMetrics(s)
	browserMu.Lock()
	browser := testbed.PercentilesOf(browserLat)
	browserMu.Unlock()
	// Every patient has one contract: a record per abnormal reading.
	if sum.Readings > 0 {
		sum.Abnormal = sum.RecordsStored
		sum.AbnormalFraction = float64(sum.RecordsStored) / float64(sum.Readings)
	}
	res := &e2eResult{Summary: sum, BrowserAlertMs: browser, CPU: cpu, Soak: sk}
	res.CloudStore = pebblestore.Metrics{SyncedBatches: st1.SyncedBatches - st0.SyncedBatches, WALBytes: st1.WALBytes - st0.WALBytes,
		TableBytesFlushed: st1.TableBytesFlushed - st0.TableBytesFlushed, TableBytesCompacted: st1.TableBytesCompacted - st0.TableBytesCompacted,
		Compactions: st1.Compactions - st0.Compactions, DiskBytes: st1.DiskBytes}
	if gwProc != nil {
		sum.GatewayRSSMB = rssMB(gwProc.Process.Pid, "VmRSS")
		res.GatewayPeakRSSMB = rssMB(gwProc.Process.Pid, "VmHWM")
		res.GatewayAnonMB = rssMB(gwProc.Process.Pid, "RssAnon")
		res.GatewayProgram = filepath.Base(gwProc.Path)
		if gwProc.Args[1] == "gateway" { // this binary's gateway command
			res.GatewayProgram += " gateway"
		}
	}
	res.Units = unitsOf(res, gw1.CPUS-gw0.CPUS, gwProc != nil)
	return res, nil
}

// selfBinary is the vitalchain binary that runs the external gateway
// (tests point it at the one testscript installs).
var selfBinary = os.Executable

// gatewayCommand is the external gateway's program: vitalchain-gateway (the
// small binary, without CometBFT and Pebble) next to this binary or on the
// PATH, else this binary's gateway command.
func gatewayCommand() (name string, args []string, err error) {
	self, err := selfBinary()
	if err != nil {
		return "", nil, err
	}
	if p := filepath.Join(filepath.Dir(self), "vitalchain-gateway"); isExecutable(p) {
		return p, nil, nil
	}
	if p, err := exec.LookPath("vitalchain-gateway"); err == nil {
		return p, nil, nil
	}
	return self, []string{"gateway"}, nil
}

func isExecutable(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0
}

// rssMB reads a memory figure (VmRSS, VmHWM) of a process, in MB.
func rssMB(pid int, field string) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, field+":") {
			f := strings.Fields(l)
			if len(f) >= 2 {
				kb, _ := strconv.ParseFloat(f[1], 64)
				return kb / 1024
			}
		}
	}
	return 0
}

// errEndedEarly: a process ended before it said it was ready.
var errEndedEarly = errors.New("ended before it was ready")

// startUntilReady starts cmd and waits until a line of its standard output
// begins with ready.
func startUntilReady(ctx context.Context, cmd *exec.Cmd, ready string) error {
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	said := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), ready) {
				said <- nil
				io.Copy(io.Discard, out)
				return
			}
		}
		said <- errEndedEarly
	}()
	select {
	case err := <-said:
		return err
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(60 * time.Second):
		return fmt.Errorf("not ready within 60s")
	}
}

// startGatewayProcess runs patient p's gateway as `vitalchain gateway` in a
// process of its own, then grants its providers.
func startGatewayProcess(ctx context.Context, s *testbed.System, p *testbed.Patient, stderr io.Writer) (*exec.Cmd, string, error) {
	prog, args, err := gatewayCommand()
	if err != nil {
		return nil, "", err
	}
	keyFile := filepath.Join(filepath.Dir(p.Dir), "patient0.key")
	if err := identity.WriteFile(keyFile, p.ID); err != nil {
		return nil, "", err
	}
	rpc := strings.Replace(s.Chain.Net.Testnet.RPC[0], "tcp://", "http://", 1)
	var cmd *exec.Cmd
	var addr string
	// The broker's port is free when picked and bound by the process; if
	// another process takes it in between, the gateway ends at once, and
	// starts again on another port.
	for attempt := 1; ; attempt++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, "", err
		}
		addr = l.Addr().String()
		l.Close()
		cmd = exec.Command(prog, append(args, "--key", keyFile, "--data", p.Dir, "--ledger", rpc, "--genesis", s.Chain.Net.Testnet.GenesisFile(), "--cloud", s.Cloud.URL,
			"--listen", addr, "--log-level", "error")...)
		cmd.Stderr = stderr
		err = startUntilReady(ctx, cmd, "gateway of patient")
		if errors.Is(err, errEndedEarly) && attempt < 3 {
			cmd.Wait()
			continue
		}
		if err != nil {
			return cmd, "", fmt.Errorf("the gateway process: %w", err)
		}
		break
	}
	pt, err := gateway.OpenPatient(ctx, p.ID, s.Chain.Client(0), nil)
	if err != nil {
		return cmd, "", err
	}
	return cmd, "mqtts://" + addr, s.GrantProviders(ctx, pt, p)
}

// watchProviderPortal serves the first provider's portal on a loopback
// port and follows its live stream as a page does (bench.WatchPortal),
// until stop.
func watchProviderPortal(ctx context.Context, s *testbed.System, seen func(reading, arrived time.Time), stderr io.Writer) (stop func(), err error) {
	pp, err := portal.NewProvider(portal.ProviderConfig{Provider: s.Providers[0].P})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); portal.Serve(ctx, ln, pp.Handler(), "", "") }()
	go func() { defer wg.Done(); pp.Run(ctx) }()
	go func() {
		defer wg.Done()
		if err := bench.WatchPortal(ctx, "http://"+ln.Addr().String(), pp.LoginPath(), seen); err != nil {
			fmt.Fprintf(stderr, "bench e2e: the portal's stream: %v\n", err)
		}
	}()
	return func() { cancel(); wg.Wait() }, nil
}
