//go:build linux

package faults

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	cfg "github.com/cometbft/cometbft/config"
	"github.com/cometbft/cometbft/p2p"

	"github.com/vitalchain/vitalchain/chain"
	"github.com/vitalchain/vitalchain/client"
	"github.com/vitalchain/vitalchain/identity"
)

// The ports inside each node's namespace.
const (
	p2pPort     = 26656 // the relay's, on the data address; the node's own is on loopback
	rpcPort     = 26657 // on the management address
	overlayPort = 27000 // on the data address
)

// Run runs the scenarios, each on a network of its own, and returns their
// results; Result.Pass says whether every check of every scenario held.
// Its error is for what kept the suite from running (no privilege: an
// error wrapping ErrPrivilege).
func Run(ctx context.Context, o Options) (*Result, error) {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	names := o.Scenarios
	if len(names) == 0 {
		names = Names()
	}
	for _, n := range names {
		if _, ok := scenarios[n]; !ok {
			return nil, fmt.Errorf("%w %q (want one of %s)", ErrUnknownScenario, n, strings.Join(Names(), ", "))
		}
	}
	if o.Binary == "" {
		return nil, errors.New("faults: no vitalchain binary")
	}
	if _, err := os.Stat(o.Binary); err != nil {
		return nil, fmt.Errorf("faults: the vitalchain binary: %w", err)
	}
	if err := checkPrivilege(); err != nil {
		return nil, err
	}
	say := func(format string, a ...any) {
		if o.Progress != nil {
			fmt.Fprintf(o.Progress, format+"\n", a...)
		}
	}
	release, err := acquire(ctx, say)
	if err != nil {
		return nil, err
	}
	defer release()
	sweep(ctx, o.Log)
	dir := o.Dir
	if dir == "" {
		if dir, err = os.MkdirTemp("", workPrefix); err != nil {
			return nil, err
		}
	}
	if !o.Keep {
		defer os.RemoveAll(dir)
	}
	res := &Result{Impairment: "relay", Pass: true}
	if o.Keep {
		res.Dir = dir
	}
	for _, name := range names {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		say("%s: starting…", name)
		sr, netem := runScenario(ctx, o, scenarios[name], filepath.Join(dir, name), say)
		if netem {
			res.Impairment = "netem"
		}
		res.Scenarios = append(res.Scenarios, sr)
		res.Pass = res.Pass && sr.Pass
		if sr.Error != "" {
			say("%s: %s", name, sr.Error)
		}
		verdict := "pass"
		if !sr.Pass {
			verdict = "FAIL"
		}
		say("%s: %s", name, verdict)
	}
	return res, ctx.Err()
}

// scenario is one fault and its checks.
type scenario struct {
	name    string
	what    string
	fault   time.Duration // its default duration
	before  time.Duration // if not 0, the load's time before the fault
	standby int           // standby nodes besides the 4 authorities
	// heals: the fault ends in a heal after which the chain must resume.
	heals bool
	// liveDuring: 3 of 4 authorities stay up, so blocks must come during
	// the fault (an invariant of CometBFT's).
	liveDuring bool
	// prepare starts the nodes (nil: every node, plainly).
	prepare func(ctx context.Context, w *world) error
	// do applies the fault for d and heals; it returns the time of the heal.
	do func(ctx context.Context, w *world, d time.Duration, r *ScenarioResult) (healed time.Time, err error)
	// judge adds the scenario's own checks.
	judge func(w *world, r *ScenarioResult)
}

// world is one scenario's network: the lab, the homes, the processes, the
// relays, the load and the monitor.
type world struct {
	o       Options
	lab     *lab
	n       int // authorities
	homes   []string
	procs   []*proc // nil where stopped
	relays  []*relay
	rpcs    []rpc
	valAddr []string // each node's validator address
	clients []*client.Client
	load    *load
	mon     *monitor
	stopMon func()
	metas   []meta // the first running node's chain, after compare
	auths   []*identity.Identity
	say     func(string, ...any)
	start   time.Time // the fault's start
	healed  time.Time // its heal

	spoof      *spoofer // head_killed_overlay's
	survivor   int      // head_killed_overlay's expected new head
	handedOver bool     // …which the ledger named while the fault lasted
}

type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
}

// runScenario runs one scenario on a network of its own and tears it all
// down; it reports whether impairments went through netem.
func runScenario(ctx context.Context, o Options, sc *scenario, dir string, say func(string, ...any)) (r ScenarioResult, netem bool) {
	r = ScenarioResult{Name: sc.name, Fault: sc.what, HealToBlockMs: -1, HealToCaughtUpMs: -1}
	w := &world{o: o, n: 4, say: say}
	defer w.teardown()
	if err := w.setup(ctx, dir, sc.standby); err != nil {
		r.Error = err.Error()
		r.Checks = append(r.Checks, Check{Name: "ran", Invariant: true, Detail: err.Error()})
		return r, w.lab != nil && w.lab.netem
	}
	netem = w.lab.netem
	err := w.play(ctx, o, sc, &r)
	if err != nil {
		r.Error = err.Error()
		r.Checks = append(r.Checks, Check{Name: "ran", Invariant: true, Detail: err.Error()})
	}
	r.Pass = true
	for _, c := range r.Checks {
		r.Pass = r.Pass && c.OK
	}
	return r, netem
}

// setup writes the homes, makes the lab and the relays.
func (w *world) setup(ctx context.Context, dir string, standby int) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tn, err := chain.WriteTestnet(chain.TestnetOptions{Nodes: w.n, Standby: standby, Dir: dir, BasePort: p2pPort})
	if err != nil {
		return err
	}
	w.homes, w.auths = tn.Homes, tn.Authorities
	total := len(w.homes)
	if err := configure(w.homes); err != nil {
		return err
	}
	if w.lab, err = openLab(ctx, total, w.o.Log); err != nil {
		return err
	}
	w.procs = make([]*proc, total)
	for i := range total {
		var ln net.Listener
		if err := inNS(i, func() (err error) {
			ln, err = net.Listen("tcp", net.JoinHostPort(dataIP(i), strconv.Itoa(p2pPort)))
			return err
		}); err != nil {
			return fmt.Errorf("relay of node %d: %w", i, err)
		}
		w.relays = append(w.relays, newRelay(ln, func() (c net.Conn, err error) {
			err = inNS(i, func() (err error) {
				c, err = net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p2pPort)), time.Second)
				return err
			})
			return c, err
		}))
		w.rpcs = append(w.rpcs, newRPC(net.JoinHostPort(mgmtIP(i), strconv.Itoa(rpcPort))))
	}
	return nil
}

// configure rewrites each home's addresses for the lab: P2P on loopback
// behind the relay, advertised at the relay's address; RPC on the
// management address; the persistent peers at their relays.
func configure(homes []string) error {
	ids := make([]string, len(homes))
	cs := make([]*cfg.Config, len(homes))
	for i, h := range homes {
		c, err := chain.LoadConfig(h)
		if err != nil {
			return err
		}
		k, err := p2p.LoadNodeKey(c.NodeKeyFile())
		if err != nil {
			return err
		}
		ids[i], cs[i] = string(k.ID()), c
	}
	for i, c := range cs {
		c.P2P.ListenAddress = "tcp://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(p2pPort))
		c.P2P.ExternalAddress = net.JoinHostPort(dataIP(i), strconv.Itoa(p2pPort))
		c.RPC.ListenAddress = "tcp://" + net.JoinHostPort(mgmtIP(i), strconv.Itoa(rpcPort))
		var peers []string
		for j := range cs {
			if j != i {
				peers = append(peers, ids[j]+"@"+net.JoinHostPort(dataIP(j), strconv.Itoa(p2pPort)))
			}
		}
		c.P2P.PersistentPeers = strings.Join(peers, ",")
		cfg.WriteConfigFile(filepath.Join(homes[i], "config", "config.toml"), c)
	}
	return nil
}

// startNode starts node i's process with extra flags.
func (w *world) startNode(i int, extra ...string) error {
	if w.procs[i] != nil {
		return fmt.Errorf("node %d is running", i)
	}
	logf, err := os.OpenFile(filepath.Join(w.homes[i], "node.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	level := w.o.NodeLogLevel
	if level == "" {
		level = "info"
	}
	cmd := nodeCommand(w.o.Binary, i, append([]string{"node", "--home", w.homes[i], "--log-level", level, "--insecure-plaintext"}, extra...)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start node %d: %w", i, err)
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	go func() { cmd.Wait(); logf.Close(); close(p.done) }()
	w.procs[i] = p
	return nil
}

// killNode ends node i with SIGKILL.
func (w *world) killNode(i int) {
	if p := w.procs[i]; p != nil {
		syscall.Kill(p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
		w.procs[i] = nil
	}
}

// stopNode stops node i cleanly (SIGTERM), or kills it after 20 s.
func (w *world) stopNode(i int) {
	p := w.procs[i]
	if p == nil {
		return
	}
	syscall.Kill(p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		syscall.Kill(p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
	w.procs[i] = nil
}

// running returns the indices of the running nodes.
func (w *world) running() []int {
	var out []int
	for i, p := range w.procs {
		if p != nil {
			out = append(out, i)
		}
	}
	return out
}

// waitFor polls cond every monitorEvery until it holds, or fails after d.
func waitFor(ctx context.Context, d time.Duration, what string, cond func() bool) error {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	for !cond() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: not within %s", what, d)
		case <-time.After(monitorEvery):
		}
	}
	return nil
}

// waitUp waits until nodes answer their RPC at height 1 or more, and
// learns their validator addresses.
func (w *world) waitUp(ctx context.Context, nodes ...int) error {
	if w.valAddr == nil {
		w.valAddr = make([]string, len(w.homes))
	}
	for _, i := range nodes {
		err := waitFor(ctx, 90*time.Second, fmt.Sprintf("node %d up", i), func() bool {
			h, addr, err := w.rpcs[i].status(ctx)
			if err == nil && h >= 1 {
				w.valAddr[i] = addr
				return true
			}
			select {
			case <-w.procs[i].done:
				return true // reported below
			default:
			}
			return false
		})
		if err != nil {
			return err
		}
		select {
		case <-w.procs[i].done:
			b, _ := os.ReadFile(filepath.Join(w.homes[i], "node.log"))
			return fmt.Errorf("node %d exited: %s", i, tail(string(b), 600))
		default:
		}
	}
	return nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// play runs the phases of a scenario and judges it.
func (w *world) play(ctx context.Context, o Options, sc *scenario, r *ScenarioResult) error {
	if sc.prepare != nil {
		if err := sc.prepare(ctx, w); err != nil {
			return err
		}
	} else {
		for i := range w.homes {
			if err := w.startNode(i); err != nil {
				return err
			}
		}
		if err := w.waitUp(ctx, w.running()...); err != nil {
			return err
		}
	}
	if w.clients == nil {
		if err := w.startLoad(ctx); err != nil {
			return err
		}
	}
	before, after, fault := o.Before, o.After, o.Fault
	if before == 0 {
		before = 5 * time.Second
		if sc.before != 0 {
			before = sc.before
		}
	}
	if after == 0 {
		after = 10 * time.Second
	}
	if fault == 0 {
		fault = sc.fault
	}
	lctx, stopLoad := context.WithCancel(ctx)
	loadDone := make(chan struct{})
	go func() { w.load.run(lctx); close(loadDone) }()
	defer func() { stopLoad(); <-loadDone }()
	t0 := time.Now()
	w.say("%s: load for %s…", r.Name, before)
	if err := sleep(ctx, before); err != nil {
		return err
	}
	w.start = time.Now()
	w.say("%s: %s for %s…", r.Name, sc.what, fault)
	healed, err := sc.do(ctx, w, fault, r)
	if err != nil {
		return err
	}
	w.healed = healed
	w.say("%s: healed; load for %s more…", r.Name, after)
	if err := sleep(ctx, after); err != nil {
		return err
	}
	stopLoad()
	<-loadDone
	end := time.Now()

	// Every running node must reach the top height, past the heal's: the
	// chain resumed, and nobody stayed behind.
	top := w.mon.maxAt(end)
	if sc.heals {
		top = max(top, w.mon.maxAt(healed)+1)
	}
	w.say("%s: waiting for every node to reach height %d, then comparing chains…", r.Name, top)
	converged := waitFor(ctx, 60*time.Second, "every running node at the top height", func() bool {
		_, ok := w.mon.allAtLeast(end, top, w.running())
		return ok
	})
	if ctx.Err() != nil {
		return ctx.Err()
	}
	hStart, hHeal, hEnd := w.mon.maxAt(w.start), w.mon.maxAt(healed), w.mon.maxAt(end)
	r.BeforeS = w.start.Sub(t0).Seconds()
	r.FaultS = healed.Sub(w.start).Seconds()
	r.AfterS = end.Sub(healed).Seconds()
	r.BlocksBefore, r.BlocksDuring, r.BlocksAfter = hStart-w.mon.maxAt(t0), hHeal-hStart, hEnd-hHeal
	r.BlocksPerMinBefore = round1(float64(r.BlocksBefore) / r.BeforeS * 60)
	if r.FaultS > 0 {
		r.BlocksPerMinDuring = round1(float64(r.BlocksDuring) / r.FaultS * 60)
	}
	if sc.heals {
		if t, ok := w.mon.firstAbove(healed, hHeal); ok {
			r.HealToBlockMs = t.Sub(healed).Milliseconds()
		}
		if t, ok := w.mon.allAtLeast(healed, hHeal, w.running()); ok {
			r.HealToCaughtUpMs = t.Sub(healed).Milliseconds()
		}
	}
	acks, unknown, refused, firstErr := w.load.snapshot()
	r.Acked, r.Unknown, r.Refused, r.FirstRefusal = len(acks), unknown, refused, firstErr
	var lats, all []time.Duration
	for _, a := range acks {
		if a.Kind != "anchor" {
			continue
		}
		all = append(all, a.Latency)
		if !a.Sent.Before(w.start) && a.Sent.Before(healed) {
			lats = append(lats, a.Latency)
		}
	}
	if len(lats) == 0 {
		lats = all
	}
	r.Anchors = len(lats)
	r.AnchorP50Ms, r.AnchorP99Ms = percentile(lats, 0.50), percentile(lats, 0.99)

	forks, lost, cmpErr := w.compare(ctx, acks)
	r.Forks, r.Lost = forks, lost
	add := func(name string, inv, ok bool, format string, a ...any) {
		r.Checks = append(r.Checks, Check{Name: name, Invariant: inv, OK: ok, Detail: fmt.Sprintf(format, a...)})
	}
	if cmpErr != nil {
		add("compared", true, false, "%v", cmpErr)
	}
	add("forks", true, forks == 0, "%d heights with different blocks on two nodes", forks)
	add("lost", true, lost == 0, "%d of %d acknowledged transactions missing from some node's chain", lost, len(acks))
	add("load", true, len(acks) > 0, "%d transactions acknowledged", len(acks))
	add("converged", true, converged == nil, "every running node reached height %d after the load", top)
	if sc.liveDuring {
		add("live_during", true, r.BlocksDuring > 0, "%d blocks during the fault", r.BlocksDuring)
	}
	if sc.heals {
		add("resumed", true, r.HealToBlockMs >= 0, "a new block %d ms after the heal; %d blocks while the load ran after it", r.HealToBlockMs, r.BlocksAfter)
		add("resume_3s", false, r.HealToBlockMs >= 0 && r.HealToBlockMs <= 3000, "first block %d ms after the heal (goal ≤ 3000)", r.HealToBlockMs)
	}
	if sc.judge != nil {
		sc.judge(w, r)
	}
	return nil
}

// startLoad dials every authority's RPC, starts the monitor, and
// registers the load's actors.
func (w *world) startLoad(ctx context.Context) error {
	w.mon = newMonitor()
	mctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.mon.run(mctx, w.rpcs); close(done) }()
	w.stopMon = func() { cancel(); <-done }
	for i := range w.n {
		c, err := client.Dial("http://"+net.JoinHostPort(mgmtIP(i), strconv.Itoa(rpcPort)), nil)
		if err != nil {
			return err
		}
		w.clients = append(w.clients, c)
	}
	var err error
	w.load, err = newLoad(ctx, w.clients, w.auths[:w.n])
	return err
}

// compare compares the running nodes' chains up to the lowest height
// among them (forks), and looks for every acknowledged transaction in the
// block at its height (lost); a node below an acknowledged height counts
// as having lost what is above it.
func (w *world) compare(ctx context.Context, acks []ack) (forks, lost int, err error) {
	run := w.running()
	if len(run) == 0 {
		return 0, len(acks), errors.New("no node running")
	}
	low := int64(-1)
	for _, i := range run {
		h, _, err := w.rpcs[i].status(ctx)
		if err != nil {
			return 0, 0, fmt.Errorf("node %d: %w", i, err)
		}
		if low < 0 || h < low {
			low = h
		}
	}
	chains := make([][]meta, len(run))
	for k, i := range run {
		if chains[k], err = w.rpcs[i].metas(ctx, 1, low); err != nil {
			return 0, 0, fmt.Errorf("node %d's blocks: %w", i, err)
		}
	}
	for h := range int(low) {
		for k := 1; k < len(chains); k++ {
			if chains[k][h].Hash != chains[0][h].Hash {
				forks++
				break
			}
		}
	}
	w.metas = chains[0]
	byHeight := map[int64][]ack{}
	for _, a := range acks {
		byHeight[a.Height] = append(byHeight[a.Height], a)
	}
	heights := make([]int64, 0, len(byHeight))
	for h := range byHeight {
		heights = append(heights, h)
	}
	sort.Slice(heights, func(a, b int) bool { return heights[a] < heights[b] })
	for _, h := range heights {
		if h > low {
			lost += len(byHeight[h])
			continue
		}
		txs, err := w.rpcs[run[0]].txHashes(ctx, h)
		if err != nil {
			return forks, lost, fmt.Errorf("block %d: %w", h, err)
		}
		for _, a := range byHeight[h] {
			if !txs[a.Hash] {
				lost++
			}
		}
	}
	return forks, lost, nil
}

// teardown ends everything the scenario started, in reverse.
func (w *world) teardown() {
	if w.load != nil {
		w.load.close()
	} else {
		for _, c := range w.clients {
			c.Close()
		}
	}
	if w.stopMon != nil {
		w.stopMon()
	}
	for i := range w.procs {
		w.killNode(i)
	}
	for _, r := range w.relays {
		r.close()
	}
	if w.spoof != nil {
		w.spoof.close()
	}
	if w.lab != nil {
		w.lab.close()
	}
}

// impair applies im to every link.
func (w *world) impair(ctx context.Context, im Impairment) error {
	if w.lab.netem {
		for i := range w.homes {
			if err := w.lab.netemSet(ctx, i, im); err != nil {
				return err
			}
		}
		return nil
	}
	for _, r := range w.relays {
		r.set(im)
	}
	return nil
}

// nodeOf returns the node whose validator address is addr.
func (w *world) nodeOf(addr string) (int, bool) {
	i := slices.Index(w.valAddr, addr)
	return i, i >= 0
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

func round1(v float64) float64 { return float64(int64(v*10+0.5)) / 10 }

// percentile returns the p-quantile of ds in milliseconds (0 if none).
func percentile(ds []time.Duration, p float64) float64 {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(p*float64(len(s)-1) + 0.5)
	return round1(float64(s[i]) / float64(time.Millisecond))
}
