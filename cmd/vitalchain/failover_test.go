package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vitalchain/vitalchain/chain"
	"github.com/vitalchain/vitalchain/client"
	"github.com/vitalchain/vitalchain/cloud"
	"github.com/vitalchain/vitalchain/cloud/cloudapi"
	"github.com/vitalchain/vitalchain/cloud/pgstore"
	"github.com/vitalchain/vitalchain/cloud/storetest"
	"github.com/vitalchain/vitalchain/codec"
	"github.com/vitalchain/vitalchain/envelope"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/internal/pgtest"
	"github.com/vitalchain/vitalchain/ledger"
	"github.com/vitalchain/vitalchain/merklelog"
	"github.com/vitalchain/vitalchain/record"
	"github.com/vitalchain/vitalchain/vital"
)

// TestCloudFailover runs two `vitalchain cloud` processes on one new
// PostgreSQL schema, against a ledger, and uploads through a client given
// both (as a gateway is). The first sequences; the second follows and
// refuses uploads naming it. Then the sequencer is killed with SIGKILL in
// the middle of the stream: the second takes over within 10 s, every
// acknowledged record is stored once, at its acknowledged position, and
// readable with a proof; the ledger's anchors from before and after the
// kill are checkpoints of the one log in the database, with a consistency
// proof between them. The killed process, started again, follows.
func TestCloudFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a ledger and two cloud processes on PostgreSQL")
	}
	storeURL := pgtest.URL(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	ln, err := chain.StartLocal(ctx, chain.TestnetOptions{Nodes: 1, Dir: filepath.Join(dir, "chain"), BlockInterval: 100 * time.Millisecond}, nil)
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
	cloudID, _ := identity.Generate(identity.RoleCloud, identity.DefaultSuite)
	patient, _ := identity.Generate(identity.RolePatient, identity.SuiteX25519)
	for _, id := range []*identity.Identity{cloudID, patient} {
		r, err := ledger.NewRegister(id, 1, identity.ID{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := head.Submit(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
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

	// The two processes: A starts first and sequences.
	procs := map[string]*cloudProc{}
	for _, name := range []string{"a", "b"} {
		l, _ := net.Listen("tcp", "127.0.0.1:0")
		procs[name] = &cloudProc{t: t, name: name, addr: l.Addr().String(), log: filepath.Join(dir, "cloud-"+name+".log")}
		l.Close()
	}
	a, b := procs["a"], procs["b"]
	args := func(p *cloudProc) []string {
		return []string{"cloud", "--key", keyFile, "--store", storeURL, "--ledger", ln.Testnet.RPC[0],
			"--listen", p.addr, "--advertise", p.url(), "--block-records", "32", "--block-interval", "300ms"}
	}
	a.start(ctx, args(a))
	b.start(ctx, args(b))
	defer b.stop()
	if role, leader := a.role(ctx); role != "sequencer" {
		t.Fatalf("the first process is a %s (leader %q), want the sequencer", role, leader)
	}
	if role, leader := b.role(ctx); role != "follower" || leader != a.url() {
		t.Fatalf("the second process is a %s naming %q, want a follower naming %s", role, leader, a.url())
	}

	// Uploads, as a gateway makes them: a client of both processes. A batch
	// not acknowledged is sent again, so records committed by the killed
	// process but not acknowledged come back to the new one.
	cc := cloudapi.NewClient(a.url()+","+b.url(), nil)
	type acked struct {
		id    [32]byte
		index uint64
	}
	var (
		mu      sync.Mutex
		acks    []acked
		seq     uint64
		wg      sync.WaitGroup
		stopW   = make(chan struct{})
		killed  time.Time
		firstOK time.Time // the first acknowledgement after the kill
	)
	for range 4 {
		wg.Go(func() {
			var batch [][]byte
			var ids [][32]byte
			for {
				select {
				case <-stopW:
					return
				case <-ctx.Done():
					return
				default:
				}
				if batch == nil {
					for range 8 {
						mu.Lock()
						seq++
						s := seq
						mu.Unlock()
						h := record.Header{Patient: patient.ID(), Epoch: 1, Contract: [32]byte{1}, Alert: true, Time: time.Now().UnixMilli(), Seq: s}
						r, err := record.Seal(h, key, record.Payload{Kind: vital.Glucose, Severity: 2, Body: fmt.Appendf(nil, "glucose reading %d", s)}, patient.Signing)
						if err != nil {
							t.Error(err)
							return
						}
						rb, _ := r.Marshal()
						batch, ids = append(batch, rb), append(ids, r.ID())
					}
				}
				uctx, ucancel := context.WithTimeout(ctx, 5*time.Second)
				res, err := cc.Upload(uctx, batch)
				ucancel()
				if err != nil {
					time.Sleep(50 * time.Millisecond) // the cloud is changing hands: retry the batch
					continue
				}
				mu.Lock()
				var rest [][]byte
				var restIDs [][32]byte
				for i, k := range res {
					if k.Code == "" {
						acks = append(acks, acked{ids[i], k.Index})
						if !killed.IsZero() && firstOK.IsZero() {
							firstOK = time.Now()
						}
					} else {
						rest, restIDs = append(rest, batch[i]), append(restIDs, ids[i])
					}
				}
				mu.Unlock()
				batch, ids = rest, restIDs
			}
		})
	}
	stopWriters := sync.OnceFunc(func() { close(stopW); wg.Wait() })
	defer stopWriters()

	// While A sequences, B refuses uploads, naming A.
	body, _ := codec.Marshal([][]byte{{0xa0}})
	resp, err := http.Post(b.url()+"/v1/records", "application/cbor", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	rb, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var p cloudapi.Problem
	if resp.StatusCode != http.StatusServiceUnavailable || codec.Unmarshal(rb, &p) != nil || p.Code != cloudapi.CodeNotLeader || p.Leader != a.url() {
		t.Fatalf("upload to the follower: %d %+v, want 503 not_leader naming %s", resp.StatusCode, p, a.url())
	}

	// Kill A once the ledger anchors part of the log and acknowledged
	// records lie beyond that anchor.
	var anchoredBefore *ledger.AnchorRecord
	waitFor(t, ctx, "an anchor of the records log, and acknowledged records beyond it", func() bool {
		an, err := c.Anchor(ctx, cloudID.ID(), ledger.LogRecords)
		if err != nil || an.Checkpoint.Size == 0 {
			return false
		}
		mu.Lock()
		defer mu.Unlock()
		for _, k := range acks {
			if k.index >= an.Checkpoint.Size {
				anchoredBefore = an
				return true
			}
		}
		return false
	})
	a.kill()
	mu.Lock()
	killed = time.Now()
	mu.Unlock()

	// B takes over within 10 s.
	waitFor(t, ctx, "the follower to take over", func() bool {
		role, _ := b.role(ctx)
		return role == "sequencer"
	})
	takeover := time.Since(killed)
	waitFor(t, ctx, "an acknowledgement from the new sequencer", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return !firstOK.IsZero()
	})
	mu.Lock()
	firstAck := firstOK.Sub(killed)
	nBefore := len(acks)
	mu.Unlock()
	t.Logf("SIGKILL of the sequencer: the follower sequenced %s later, acknowledged its first upload %s later", takeover.Round(time.Millisecond), firstAck.Round(time.Millisecond))
	if takeover >= 10*time.Second {
		t.Errorf("takeover took %s, want under 10 s", takeover)
	}
	waitFor(t, ctx, "more acknowledgements from the new sequencer", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(acks) >= nBefore+64
	})
	stopWriters()

	// Everything acknowledged ends up anchored.
	var maxIndex uint64
	for _, k := range acks {
		maxIndex = max(maxIndex, k.index)
	}
	var final *ledger.AnchorRecord
	waitFor(t, ctx, "every acknowledged record anchored", func() bool {
		final, err = c.Anchor(ctx, cloudID.ID(), ledger.LogRecords)
		return err == nil && final.Checkpoint.Size > maxIndex
	})
	t.Logf("%d records acknowledged; anchored before the kill: size %d; at the end: size %d", len(acks), anchoredBefore.Checkpoint.Size, final.Checkpoint.Size)

	// In the database: every acknowledged record once, at its position; the
	// log's positions unique and dense; the anchors checkpoints of it.
	st, err := pgstore.Open(ctx, storeURL)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	seen := map[[32]byte]uint64{}
	for _, k := range acks {
		if prev, ok := seen[k.id]; ok && prev != k.index {
			t.Fatalf("record %x acknowledged at %d and at %d", k.id[:8], prev, k.index)
		}
		seen[k.id] = k.index
		r, err := st.Record(k.id)
		if err != nil {
			t.Fatalf("acknowledged record %x (at %d) lost: %v", k.id[:8], k.index, err)
		}
		if r.Index != k.index {
			t.Fatalf("record %x acknowledged at %d, stored at %d", k.id[:8], k.index, r.Index)
		}
	}
	size, err := st.Size(cloud.LogRecords)
	if err != nil {
		t.Fatal(err)
	}
	all, err := st.RecordsFrom(0, int(size)+1)
	if err != nil || uint64(len(all)) != size {
		t.Fatalf("the records log of size %d lists %d records: %v", size, len(all), err)
	}
	ids := map[[32]byte]bool{}
	for i, r := range all {
		if r.Index != uint64(i) || ids[r.ID] {
			t.Fatalf("position %d holds record %x at index %d (seen before: %v)", i, r.ID[:8], r.Index, ids[r.ID])
		}
		ids[r.ID] = true
	}
	log, err := merklelog.Open(&storetest.RecordsLog{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	for _, an := range []*ledger.AnchorRecord{anchoredBefore, final} {
		if cp, err := log.CheckpointAt(an.Checkpoint.Size); err != nil || cp != an.Checkpoint {
			t.Fatalf("the anchor of size %d is not a checkpoint of the stored log: %v", an.Checkpoint.Size, err)
		}
	}
	if got, err := c.AnchorAt(ctx, cloudID.ID(), ledger.LogRecords, anchoredBefore.Checkpoint.Size); err != nil || got.Checkpoint != anchoredBefore.Checkpoint {
		t.Fatalf("the pre-kill anchor on the ledger: %v %+v", err, got)
	}

	// Through the API (the client passes over the dead process): a proof
	// between the two anchors, and signed reads of a sample at their
	// positions, with proofs.
	cons, err := cc.Consistency(ctx, cloud.LogRecords, anchoredBefore.Checkpoint.Size, final.Checkpoint.Size)
	if err != nil || cons.Old != anchoredBefore.Checkpoint || cons.New != final.Checkpoint {
		t.Fatalf("consistency from the pre-kill anchor to the last: %v", err)
	}
	for i := 0; i < len(acks); i += max(1, len(acks)/20) {
		k := acks[i]
		res, err := cc.Read(ctx, patient.Signing, k.id)
		if err != nil {
			t.Fatalf("read of acknowledged record %d (at %d): %v", i, k.index, err)
		}
		if res.Index != k.index {
			t.Fatalf("record %d read at %d, acknowledged at %d", i, res.Index, k.index)
		}
		if err := merklelog.VerifyInclusion(k.id[:], res.Index, res.Checkpoint, res.Proof); err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
	}

	// The killed process, started again, follows the new sequencer.
	a.start(ctx, args(a))
	defer a.stop()
	if role, leader := a.role(ctx); role != "follower" || leader != b.url() {
		t.Fatalf("the restarted process is a %s naming %q, want a follower naming %s", role, leader, b.url())
	}

	// SIGTERM to the sequencer: it drains, exits 0 and releases its lease
	// at once (a lease left to expire would still name it), so that A
	// takes over without waiting for the lease's TTL.
	b.stop()
	if !b.cmd.ProcessState.Success() {
		t.Fatalf("the sequencer exited with %v on SIGTERM", b.cmd.ProcessState)
	}
	if l, err := st.Leader(ctx); err != nil || (l != "" && l != a.url()) {
		t.Fatalf("after the sequencer's SIGTERM the lease names %q (%v), want nobody or %s", l, err, a.url())
	}
	waitFor(t, ctx, "the follower to take over from the stopped sequencer", func() bool {
		role, _ := a.role(ctx)
		return role == "sequencer"
	})
}

// cloudProc is a `vitalchain cloud` process of the failover test.
type cloudProc struct {
	t      *testing.T
	name   string
	addr   string
	log    string
	cmd    *exec.Cmd
	exited chan struct{}
}

func (p *cloudProc) url() string { return "http://" + p.addr }

// start starts the process and waits until it serves /healthz.
func (p *cloudProc) start(ctx context.Context, args []string) {
	t := p.t
	t.Helper()
	logf, err := os.OpenFile(p.log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command("vitalchain", args...)
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	p.exited = done
	cmd := p.cmd
	go func() { cmd.Wait(); logf.Close(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Kill() // if the test stops early
		<-done
		if t.Failed() {
			b, _ := os.ReadFile(p.log)
			t.Logf("cloud %s's log:\n%s", p.name, b)
		}
	})
	sctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(sctx, http.MethodGet, p.url()+"/healthz", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-done:
			b, _ := os.ReadFile(p.log)
			t.Fatalf("cloud %s exited while starting (%v)\n%s", p.name, cmd.ProcessState, b)
		case <-sctx.Done():
			b, _ := os.ReadFile(p.log)
			t.Fatalf("cloud %s did not start: %v\n%s", p.name, err, b)
		case <-time.After(50 * time.Millisecond): // poll interval
		}
	}
}

// role asks the process whether it sequences, and whom it names as the
// sequencer.
func (p *cloudProc) role(ctx context.Context) (role, leader string) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.url()+"/v1/checkpoint", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "unreachable", ""
	}
	defer resp.Body.Close()
	var cp struct {
		Role   string `json:"role"`
		Leader string `json:"leader"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&cp); err != nil {
		return "unreadable", ""
	}
	return cp.Role, cp.Leader
}

// kill kills the process with SIGKILL and waits for it to exit.
func (p *cloudProc) kill() {
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		p.t.Fatal(err)
	}
	<-p.exited
}

// stop stops the process with SIGTERM and waits for it to exit.
func (p *cloudProc) stop() {
	p.cmd.Process.Signal(syscall.SIGTERM)
	<-p.exited
}
