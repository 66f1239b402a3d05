package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/vitalchain/vitalchain/chain"
	"github.com/vitalchain/vitalchain/client"
	"github.com/vitalchain/vitalchain/contract"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/ledger"
	"github.com/vitalchain/vitalchain/mqtt"
	"github.com/vitalchain/vitalchain/reading"
	"github.com/vitalchain/vitalchain/vital"
)

// proc is a process of the test's: a built command started with its log.
type proc struct {
	name   string
	args   []string
	log    string
	cmd    *exec.Cmd
	exited chan struct{}
}

// start starts p (again) and stops it, if still running, when t ends.
func (p *proc) start(t *testing.T) {
	t.Helper()
	f, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(p.args[0], p.args[1:]...)
	p.cmd.Stdout, p.cmd.Stderr = f, f
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	p.exited = done
	cmd := p.cmd
	go func() { cmd.Wait(); f.Close(); close(done) }()
	t.Cleanup(func() { cmd.Process.Kill(); <-done })
}

// waitReady polls url (a /readyz) until it answers 200.
func (p *proc) waitReady(t *testing.T, ctx context.Context, url string) {
	t.Helper()
	for {
		code, body := get(t, url)
		if code == 200 {
			return
		}
		select {
		case <-p.exited:
			b, _ := os.ReadFile(p.log)
			t.Fatalf("%s exited while starting (%v)\n%s", p.name, p.cmd.ProcessState, b)
		case <-ctx.Done():
			b, _ := os.ReadFile(p.log)
			t.Fatalf("%s never ready: %d %s\n%s", p.name, code, body, b)
		case <-time.After(50 * time.Millisecond): // poll interval
		}
	}
}

// term sends SIGTERM and waits for a clean exit (status 0).
func (p *proc) term(t *testing.T, ctx context.Context) time.Duration {
	t.Helper()
	start := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.exited:
	case <-ctx.Done():
		t.Fatalf("%s did not stop on SIGTERM", p.name)
	}
	took := time.Since(start)
	if !p.cmd.ProcessState.Success() {
		b, _ := os.ReadFile(p.log)
		t.Fatalf("%s exited with %v on SIGTERM\n%s", p.name, p.cmd.ProcessState, b)
	}
	// A crash, not a panic that CometBFT's RPC server recovers from (a
	// request on a connection kept alive while the node closes its stores).
	if b, _ := os.ReadFile(p.log); strings.Contains(string(b), "\npanic: ") || strings.Contains(string(b), "\nfatal error: ") {
		t.Fatalf("%s crashed\n%s", p.name, b)
	}
	return took
}

// TestSIGTERMLosesNothing runs a node, a cloud and a gateway as processes
// of the built binaries, each probed ready on /readyz, and a wearable that
// streams abnormal readings (each one sealed into a record). In the middle
// of the stream the gateway, then the cloud, get SIGTERM: each drains and
// exits 0, and is started again. In the end every reading the gateway
// acknowledged is stored in the cloud, exactly once; then the node, the
// cloud and the gateway stop cleanly on SIGTERM.
func TestSIGTERMLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a node, a cloud and a gateway process")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	dir := t.TempDir()
	// The node's home as 'vitalchain testnet' writes it: blocks only for
	// transactions, CometBFT's Prometheus metrics on.
	tn, err := chain.WriteTestnet(chain.TestnetOptions{Nodes: 1, Dir: filepath.Join(dir, "chain"), BlockInterval: 100 * time.Millisecond,
		NoEmptyBlocks: true, Metrics: true})
	if err != nil {
		t.Fatal(err)
	}
	nodeProbe := freeAddr(t)
	node := &proc{name: "node", log: filepath.Join(dir, "node.log"),
		args: []string{"vitalchain", "node", "--home", tn.Homes[0], "--health", nodeProbe, "--log-level", "info"}}
	node.start(t)
	node.waitReady(t, ctx, "http://"+nodeProbe+"/readyz")
	rpc := rpcURL(tn.RPC[0], false)
	// CometBFT's own metrics, scraped as Prometheus does.
	if code, body := get(t, tn.Metrics[0]); code != 200 || !strings.Contains(body, "cometbft_consensus_height") {
		t.Fatalf("the node's metrics at %s: %d\n%s", tn.Metrics[0], code, body)
	}

	c, err := client.Dial(rpc, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	submit := func(by *identity.SigningKey, body ledger.Body) {
		t.Helper()
		s, err := c.Signer(ctx, by)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Submit(ctx, body); err != nil {
			t.Fatal(err)
		}
	}
	gen := func(role identity.Role) *identity.Identity {
		id, err := identity.Generate(role, identity.SuiteX25519)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	cloudID, patient, prov, dev := gen(identity.RoleCloud), gen(identity.RolePatient), gen(identity.RoleProvider), gen(identity.RoleDevice)
	for _, id := range []*identity.Identity{cloudID, patient, prov, dev} {
		by, pid := tn.Authorities[0], identity.ID{}
		if id == dev {
			by, pid = patient, patient.ID()
		}
		r, err := ledger.NewRegister(id, 1, pid, nil)
		if err != nil {
			t.Fatal(err)
		}
		submit(by.Signing, r)
	}
	terms := contract.Terms{Version: contract.Version, Patient: patient.ID(), Providers: []identity.ID{prov.ID()},
		Rules: []contract.Rule{{Kind: vital.Glucose, Expr: "value > 180.0", Severity: contract.Warning}}, Name: "glucose"}
	dc, err := ledger.NewDeployContract(patient, terms, prov)
	if err != nil {
		t.Fatal(err)
	}
	submit(patient.Signing, dc)

	keyFile := func(name string, id *identity.Identity) string {
		f := filepath.Join(dir, name+".key")
		if err := identity.WriteFile(f, id); err != nil {
			t.Fatal(err)
		}
		return f
	}
	cloudAddr := freeAddr(t)
	cld := &proc{name: "cloud", log: filepath.Join(dir, "cloud.log"),
		args: []string{"vitalchain", "cloud", "--key", keyFile("cloud", cloudID), "--store", filepath.Join(dir, "store"),
			"--ledger", rpc, "--listen", cloudAddr, "--block-interval", "300ms", "--log-level", "info"}}
	cld.start(t)
	cld.waitReady(t, ctx, "http://"+cloudAddr+"/readyz")
	if code, _ := get(t, "http://"+cloudAddr+"/livez"); code != 200 {
		t.Fatalf("cloud /livez: %d", code)
	}
	mqttAddr, gwProbe := freeAddr(t), freeAddr(t)
	gw := &proc{name: "gateway", log: filepath.Join(dir, "gateway.log"),
		args: []string{"vitalchain-gateway", "--key", keyFile("patient", patient), "--data", filepath.Join(dir, "gw"),
			"--ledger", rpc, "--cloud", "http://" + cloudAddr, "--listen", mqttAddr, "--metrics", gwProbe, "--log-level", "info"}}
	gw.start(t)
	gw.waitReady(t, ctx, "http://"+gwProbe+"/readyz")

	// The wearable: one reading in flight at a time, each sent again until
	// the gateway acknowledges it (a reading the gateway had already taken
	// is acknowledged again, as a replay, and sealed once).
	devTLS, err := mqtt.ClientTLS(dev.Signing, patient.ID())
	if err != nil {
		t.Fatal(err)
	}
	conn, err := mqtt.Connect(ctx, mqtt.ClientConfig{Broker: "mqtts://" + mqttAddr, ClientID: dev.ID().Hex(), TLS: devTLS})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var acked atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for seq := uint64(1); ; seq++ {
			msg, err := reading.Sign(reading.New(patient.ID(), dev.ID(), seq, time.Now(), vital.Glucose, vital.Quantity(250_000)), dev.Signing)
			if err != nil {
				t.Error(err)
				return
			}
			for {
				select {
				case <-stop:
					return
				default:
				}
				pctx, pcancel := context.WithTimeout(ctx, 5*time.Second)
				err := conn.Publish(pctx, mqtt.ReadingsTopic(patient.ID(), dev.ID()), msg)
				pcancel()
				if err == nil {
					break
				}
				if ctx.Err() != nil {
					return
				}
			}
			acked.Store(seq)
		}
	}()
	stored := func() uint64 {
		code, body := get(t, "http://"+cloudAddr+"/v1/checkpoint")
		var cp struct {
			Records struct{ Size uint64 } `json:"records"`
		}
		if code != 200 || json.Unmarshal([]byte(body), &cp) != nil {
			return 0
		}
		return cp.Records.Size
	}
	waitAcked := func(n uint64) {
		t.Helper()
		waitFor(t, ctx, fmt.Sprintf("%d readings acknowledged", n), func() bool { return acked.Load() >= n })
	}

	waitAcked(20)
	t.Logf("gateway: SIGTERM after %d readings, stopped in %v", acked.Load(), gw.term(t, ctx))
	gw.start(t)
	gw.waitReady(t, ctx, "http://"+gwProbe+"/readyz")
	waitAcked(acked.Load() + 20)
	t.Logf("cloud: SIGTERM after %d readings, stopped in %v", acked.Load(), cld.term(t, ctx))
	cld.start(t)
	cld.waitReady(t, ctx, "http://"+cloudAddr+"/readyz")
	waitAcked(acked.Load() + 20)
	close(stop)
	wg.Wait()
	n := acked.Load()
	waitFor(t, ctx, fmt.Sprintf("the %d acknowledged readings stored", n), func() bool { return stored() >= n })
	// Drained: nothing more comes (the gateway's outbox is empty), and the
	// cloud holds each reading once.
	gw.term(t, ctx)
	if got := stored(); got != n {
		t.Fatalf("the cloud holds %d records for %d acknowledged readings", got, n)
	}
	cld.term(t, ctx)
	c.Close() // nothing of the test's reads the node while it stops
	t.Logf("node: SIGTERM, stopped in %v", node.term(t, ctx))
	for _, p := range []struct {
		p    *proc
		line string
	}{{gw, "gateway stopped"}, {cld, "cloud stopped"}, {node, "stopping node"}} {
		if b, _ := os.ReadFile(p.p.log); !strings.Contains(string(b), p.line) {
			t.Fatalf("%s did not stop through its drain (no %q)\n%s", p.p.name, p.line, b)
		}
	}
}
