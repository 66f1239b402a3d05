package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/vitalchain/vitalchain/chain"
	"github.com/vitalchain/vitalchain/client"
	"github.com/vitalchain/vitalchain/cloud"
	"github.com/vitalchain/vitalchain/cloud/cloudapi"
	"github.com/vitalchain/vitalchain/envelope"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/ledger"
	"github.com/vitalchain/vitalchain/merklelog"
	"github.com/vitalchain/vitalchain/record"
	"github.com/vitalchain/vitalchain/vital"
)

// TestCloudCrash kills a `vitalchain cloud` process with SIGKILL in the
// middle of a stream of uploads and starts it again: every acknowledged
// record is there, with a proof, and ends up anchored; the restarted cloud
// checks its log against what the ledger anchored before the crash.
func TestCloudCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 4-authority network and a cloud process")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	ln, err := chain.StartLocal(ctx, chain.TestnetOptions{Nodes: 4, Dir: filepath.Join(dir, "chain"), BlockInterval: 100 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Stop()
	c := client.New(ln.Nodes[0].Local(), nil)
	defer c.Close()
	head, err := c.Signer(ctx, ln.Nodes[0].Authority().Signing)
	if err != nil {
		t.Fatal(err)
	}
	register := func(id *identity.Identity) {
		r, err := ledger.NewRegister(id, 1, identity.ID{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := head.Submit(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	cloudID, _ := identity.Generate(identity.RoleCloud, identity.DefaultSuite)
	patient, _ := identity.Generate(identity.RolePatient, identity.SuiteX25519)
	register(cloudID)
	register(patient)
	key, _ := envelope.NewSessionKey()
	self, _ := envelope.SelfEnvelope(patient, 1, key)
	sb, _ := self.Marshal()
	ps, _ := c.Signer(ctx, patient.Signing)
	if _, err := ps.Submit(ctx, &ledger.SessionKey{Epoch: 1, Envelope: sb}); err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "cloud.key")
	if err := identity.WriteFile(keyFile, cloudID); err != nil {
		t.Fatal(err)
	}
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	logf, _ := os.Create(filepath.Join(dir, "cloud.log"))
	defer logf.Close()
	// start starts a cloud process and waits until it serves /healthz; exited
	// is closed once the process has exited (and cmd.Wait returned).
	start := func() (cmd *exec.Cmd, exited <-chan struct{}) {
		t.Helper()
		cmd = exec.Command("vitalchain", "cloud", "--key", keyFile, "--data", filepath.Join(dir, "store"),
			"--ledger", ln.Testnet.RPC[0]+","+ln.Testnet.RPC[1], "--listen", addr,
			"--block-records", "32", "--block-interval", "300ms", "--log-level", "warn")
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		t.Cleanup(func() { cmd.Process.Kill(); <-done }) // if the test stops early
		sctx, scancel := context.WithTimeout(ctx, time.Minute)
		defer scancel()
		hc := &http.Client{Timeout: 5 * time.Second}
		for {
			req, _ := http.NewRequestWithContext(sctx, http.MethodGet, "http://"+addr+"/healthz", nil)
			resp, err := hc.Do(req)
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return cmd, done
				}
				err = fmt.Errorf("/healthz: %s", resp.Status)
			}
			select {
			case <-done:
				b, _ := os.ReadFile(logf.Name())
				t.Fatalf("cloud exited while starting (%v)\n%s", cmd.ProcessState, b)
			case <-sctx.Done():
				b, _ := os.ReadFile(logf.Name())
				t.Fatalf("cloud did not start: %v\n%s", err, b)
			case <-time.After(50 * time.Millisecond): // poll interval
			}
		}
	}
	cc := cloudapi.NewClient("http://"+addr, nil)

	// Stream uploads from 4 writers until the cloud dies.
	proc, exited := start()
	type acked struct {
		id    [32]byte
		index uint64
	}
	var (
		mu    sync.Mutex
		acks  []acked
		seq   uint64
		wg    sync.WaitGroup
		stopW = make(chan struct{})
		// killed is set once the first cloud process is dead; down counts
		// the writers that have seen an upload fail since.
		killed atomic.Bool
		down   atomic.Int32
	)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sawDown := false
			for {
				select {
				case <-stopW:
					return
				case <-ctx.Done(): // the test stopped early
					return
				default:
				}
				var batch [][]byte
				var ids [][32]byte
				for range 8 {
					mu.Lock()
					seq++
					s := seq
					mu.Unlock()
					h := record.Header{Patient: patient.ID(), Epoch: 1, Contract: [32]byte{1}, Alert: true, Time: time.Now().UnixMilli(), Seq: s}
					r, err := record.Seal(h, key, record.Payload{Kind: vital.Glucose, Severity: 2, Body: []byte(fmt.Sprintf("glucose reading %d", s))}, patient.Signing)
					if err != nil {
						t.Error(err)
						return
					}
					b, _ := r.Marshal()
					batch = append(batch, b)
					ids = append(ids, r.ID())
				}
				res, err := cc.Upload(ctx, batch)
				if err != nil {
					if killed.Load() && !sawDown {
						sawDown = true
						down.Add(1)
					}
					continue // not acknowledged: the cloud is down
				}
				mu.Lock()
				for i, a := range res {
					if a.Code == "" {
						acks = append(acks, acked{ids[i], a.Index})
					}
				}
				mu.Unlock()
			}
		}()
	}
	// Crash in the middle of the stream: once the ledger anchors part of the
	// log and some acknowledged records are beyond that anchor.
	var anchoredBefore *ledger.AnchorRecord
	waitFor(t, ctx, "an anchor of the records log, and acknowledged records beyond it", func() bool {
		a, err := c.Anchor(ctx, cloudID.ID(), ledger.LogRecords)
		if err != nil || a.Checkpoint.Size == 0 {
			return false
		}
		mu.Lock()
		defer mu.Unlock()
		for _, ack := range acks {
			if ack.index >= a.Checkpoint.Size {
				anchoredBefore = a
				return true
			}
		}
		return false
	})
	if err := proc.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-exited
	killed.Store(true)
	// The writers were still streaming: each finds the cloud down.
	waitFor(t, ctx, "every writer to see an upload fail after the kill", func() bool { return down.Load() == 4 })
	close(stopW)
	wg.Wait()
	t.Logf("%d records acknowledged before SIGKILL; anchored then: %+v", len(acks), anchoredBefore)

	// Restart: the cloud checks its log against the ledger's anchors.
	proc, exited = start()
	defer func() {
		proc.Process.Signal(syscall.SIGTERM)
		<-exited
	}()
	var maxIndex uint64
	for _, a := range acks {
		maxIndex = max(maxIndex, a.index)
	}
	var final *ledger.AnchorRecord
	for {
		final, err = c.Anchor(ctx, cloudID.ID(), ledger.LogRecords)
		if err == nil && final.Checkpoint.Size > maxIndex {
			break
		}
		select {
		case <-ctx.Done():
			b, _ := os.ReadFile(logf.Name())
			t.Fatalf("acknowledged records never all anchored: %v %+v\n%s", err, final, b)
		case <-time.After(100 * time.Millisecond):
		}
	}
	// Every acknowledged record is there, at its acknowledged position, and
	// proves into an anchored checkpoint.
	for i, a := range acks {
		if i%7 != 0 && i != len(acks)-1 { // a sample keeps the test short
			continue
		}
		res, err := cc.Read(ctx, patient.Signing, a.id)
		if err != nil {
			t.Fatalf("acknowledged record %d (index %d) lost: %v", i, a.index, err)
		}
		if res.Index != a.index {
			t.Fatalf("record %d moved from %d to %d", i, a.index, res.Index)
		}
		if err := merklelog.VerifyInclusion(a.id[:], res.Index, res.Checkpoint, res.Proof); err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
	}
	// The checkpoint anchored before the crash is still a prefix of the log:
	// the ledger checked the consistency proof of every anchor since, and the
	// restarted cloud checked its stored log against it.
	got, err := c.AnchorAt(ctx, cloudID.ID(), ledger.LogRecords, anchoredBefore.Checkpoint.Size)
	if err != nil || got.Checkpoint != anchoredBefore.Checkpoint {
		t.Fatalf("pre-crash anchor: %v %+v", err, got)
	}
	// An auditor asks the restarted cloud to prove it: the proof from
	// the pre-crash anchor to the latest one verifies.
	cons, err := cc.Consistency(ctx, cloud.LogRecords, anchoredBefore.Checkpoint.Size, final.Checkpoint.Size)
	if err != nil {
		t.Fatalf("consistency from the pre-crash anchor: %v", err)
	}
	if cons.Old != anchoredBefore.Checkpoint || cons.New != final.Checkpoint {
		t.Fatalf("consistency proof between %+v and %+v, want the anchored %+v and %+v", cons.Old, cons.New, anchoredBefore.Checkpoint, final.Checkpoint)
	}
}

// waitFor polls cond until it holds, failing the test when ctx ends first.
func waitFor(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("never: %s", what)
		case <-time.After(20 * time.Millisecond):
		}
	}
}
