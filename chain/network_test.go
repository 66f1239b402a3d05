package chain_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/vitalchain/vitalchain/chain"
	"github.com/vitalchain/vitalchain/client"
	"github.com/vitalchain/vitalchain/contract"
	"github.com/vitalchain/vitalchain/envelope"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/ledger"
	"github.com/vitalchain/vitalchain/merklelog"
	"github.com/vitalchain/vitalchain/vital"
)

// net is a running network of authorities with a client on each node.
type net struct {
	t       *testing.T
	ln      *chain.LocalNet
	clients []*client.Client
	heads   []*client.Signer
	signers map[identity.ID]*client.Signer
}

func startNet(t *testing.T, nodes, standby int) *net {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var log *slog.Logger
	if f := os.Getenv("VITALCHAIN_TEST_LOG"); f != "" {
		w, err := os.Create(f)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { w.Close() })
		log = slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	ln, err := chain.StartLocal(ctx, chain.TestnetOptions{
		Nodes: nodes, Standby: standby, Dir: t.TempDir(), BlockInterval: 100 * time.Millisecond,
	}, log)
	if err != nil {
		t.Fatal(err)
	}
	n := &net{t: t, ln: ln, signers: map[identity.ID]*client.Signer{}}
	t.Cleanup(func() {
		for _, c := range n.clients {
			if c != nil {
				c.Close()
			}
		}
		if err := ln.Stop(); err != nil {
			t.Error(err)
		}
	})
	for i := range ln.Nodes {
		n.connect(i)
	}
	for i := range nodes {
		s, err := n.clients[i].Signer(ctx, ln.Nodes[i].Authority().Signing)
		if err != nil {
			t.Fatal(err)
		}
		n.heads = append(n.heads, s)
	}
	return n
}

// connect (re)opens the client of node i: in process for even i, over
// HTTP for odd i.
func (n *net) connect(i int) {
	for len(n.clients) <= i {
		n.clients = append(n.clients, nil)
	}
	if n.clients[i] != nil {
		n.clients[i].Close()
	}
	if i%2 == 0 {
		n.clients[i] = client.New(n.ln.Nodes[i].Local(), nil)
		return
	}
	// Odd nodes are reached like a remote program reaches them: CometBFT's
	// JSON-RPC over HTTP and its websocket.
	c, err := client.Dial(n.ln.Nodes[i].RPCAddress(), nil)
	if err != nil {
		n.t.Fatal(err)
	}
	n.clients[i] = c
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// submit signs body with s and submits it through node i's client.
func (n *net) submit(i int, s *client.Signer, body ledger.Body) (*client.Committed, error) {
	n.t.Helper()
	tx, err := s.Sign(body)
	if err != nil {
		n.t.Fatal(err)
	}
	return n.clients[i].Submit(ctx(n.t), tx)
}

func (n *net) ok(i int, s *client.Signer, body ledger.Body) *client.Committed {
	n.t.Helper()
	c, err := n.submit(i, s, body)
	if err != nil {
		n.t.Fatalf("%s: %v", body.TxType(), err)
	}
	return c
}

// register admits a new actor to head i's cluster and returns it with a signer.
func (n *net) register(i int, role identity.Role, patient *identity.Identity, consensus []byte) (*identity.Identity, *client.Signer) {
	n.t.Helper()
	id, err := identity.Generate(role, identity.SuiteX25519)
	if err != nil {
		n.t.Fatal(err)
	}
	return id, n.registerID(i, id, patient, consensus)
}

func (n *net) registerID(i int, id *identity.Identity, patient *identity.Identity, consensus []byte) *client.Signer {
	n.t.Helper()
	var pid identity.ID
	by := n.heads[i]
	if id.Role() == identity.RoleDevice {
		pid, by = patient.ID(), n.signer(i, patient)
	}
	r, err := ledger.NewRegister(id, uint32(i+1), pid, consensus)
	if err != nil {
		n.t.Fatal(err)
	}
	n.ok(i, by, r)
	return n.signer(i, id)
}

// signer returns the one signer of id, so that its sequence numbers never repeat.
func (n *net) signer(i int, id *identity.Identity) *client.Signer {
	n.t.Helper()
	if s, ok := n.signers[id.ID()]; ok {
		return s
	}
	s, err := n.clients[i].Signer(ctx(n.t), id.Signing)
	if err != nil {
		n.t.Fatal(err)
	}
	n.signers[id.ID()] = s
	return s
}

// agree checks that every running node has the same block at each height up
// to the lowest common one, and so the same app hash.
func (n *net) agree() int64 {
	n.t.Helper()
	low := int64(-1)
	for _, node := range n.ln.Nodes {
		if node == nil {
			continue
		}
		h, _ := node.App().Height()
		if low < 0 || h < low {
			low = h
		}
	}
	var ref []byte
	var refApp []byte
	for i, node := range n.ln.Nodes {
		if node == nil {
			continue
		}
		b, err := node.RPC().Block(ctx(n.t), &low)
		if err != nil {
			n.t.Fatalf("node %d block %d: %v", i, low, err)
		}
		if ref == nil {
			ref, refApp = b.BlockID.Hash, b.Block.AppHash
			continue
		}
		if !bytes.Equal(ref, b.BlockID.Hash) || !bytes.Equal(refApp, b.Block.AppHash) {
			n.t.Fatalf("node %d disagrees at height %d: block %X app %X, want %X %X", i, low, b.BlockID.Hash, b.Block.AppHash, ref, refApp)
		}
	}
	return low
}

// waitBlocks waits until the running nodes have committed k more blocks.
func (n *net) waitBlocks(k int64, within time.Duration) error {
	c, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	h, _ := n.ln.Running().App().Height()
	return n.ln.WaitHeight(c, h+k)
}

func TestNetwork(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 4-authority network")
	}
	n := startNet(t, 4, 1)
	parent := t
	c0 := n.clients[0]

	// Actors.
	patient, ps := n.register(0, identity.RolePatient, nil, nil)
	provider, prs := n.register(0, identity.RoleProvider, nil, nil)
	other, _ := n.register(1, identity.RoleProvider, nil, nil)
	cloud, cs := n.register(0, identity.RoleCloud, nil, nil)
	device, _ := n.register(0, identity.RoleDevice, patient, nil)

	t.Run("every transaction type commits", func(t *testing.T) {
		n.t = t
		defer func() { n.t = parent }()
		terms := contract.Terms{Version: contract.Version, Patient: patient.ID(), Providers: []identity.ID{provider.ID()},
			Rules: []contract.Rule{{Kind: vital.Glucose, Expr: "value > 180.0 || value < 70.0", Severity: contract.Warning}}, Name: "glucose"}
		dc, err := ledger.NewDeployContract(patient, terms, provider)
		if err != nil {
			t.Fatal(err)
		}
		n.ok(0, ps, dc)
		cid := dc.ID()

		key, _ := envelope.NewSessionKey()
		self, _ := envelope.SelfEnvelope(patient, 1, key)
		selfB, _ := self.Marshal()
		n.ok(0, ps, &ledger.SessionKey{Epoch: 1, Envelope: selfB})
		for _, prov := range []*identity.Identity{provider, other} {
			g, _ := envelope.GrantEnvelope(patient, prov.Public(), 1, key)
			gb, _ := g.Marshal()
			keys, _ := envelope.SealScope(key, patient.ID(), prov.ID(), 1, []vital.Kind{vital.Glucose})
			n.ok(0, ps, &ledger.Grant{Provider: prov.ID(), Keys: keys, Commands: prov == provider,
				Expiry: time.Now().Add(time.Hour).UnixMilli(), Epoch: 1, Envelope: gb})
		}

		// Anchors, with a real consistency proof the second time.
		lg, _ := merklelog.Open(merklelog.NewMemStore())
		lg.Append([]byte("r1"), []byte("r2"))
		cp1 := lg.Checkpoint()
		p1, _ := lg.ConsistencyProof(0, cp1.Size)
		cm := n.ok(0, cs, &ledger.Anchor{Log: ledger.LogRecords, Checkpoint: cp1, Proof: p1, Sealed: time.Now().UnixMilli()})
		if len(cm.Events) != 1 || cm.Events[0].Type != "anchor" {
			t.Fatalf("anchor events %+v", cm.Events)
		}
		lg.Append([]byte("r3"))
		cp2 := lg.Checkpoint()
		p2, _ := lg.ConsistencyProof(cp1.Size, cp2.Size)
		n.ok(0, cs, &ledger.Anchor{Log: ledger.LogRecords, Checkpoint: cp2, Proof: p2, Sealed: time.Now().UnixMilli()})
		var ar ledger.AnchorRecord
		if err := c0.Query(ctx(t), "anchor/"+cloud.ID().Hex()+"/0", &ar); err != nil || ar.Checkpoint != cp2 {
			t.Fatalf("anchor query: %v %+v", err, ar)
		}

		// An alert reaches the contract's provider as an event.
		sub, err := n.clients[2].Subscribe(ctx(t), client.Type("alert", "provider", provider.ID().Hex()))
		if err != nil {
			t.Fatal(err)
		}
		n.ok(0, cs, &ledger.Alert{Patient: patient.ID(), Contract: cid, RecordID: [32]byte{1}, Time: time.Now().UnixMilli()})
		select {
		case ev := <-sub:
			if ev.Attr("patient") != patient.ID().Hex() {
				t.Fatalf("alert event %+v", ev)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no alert event on node 2")
		}

		n.ok(0, prs, &ledger.DeviceCommand{Device: device.ID(), Command: "sampling_interval_ms", Value: 5000})
		rid := [32]byte{7}
		pe, _ := envelope.ProviderRecordEnvelope(provider, patient.Public(), rid, key)
		peb, _ := pe.Marshal()
		n.ok(0, prs, &ledger.ProviderRecord{Patient: patient.ID(), RecordID: rid, Envelope: peb})

		// Revoke: a new epoch, re-wrapped to the remaining provider.
		key2, _ := envelope.NewSessionKey()
		self2, _ := envelope.SelfEnvelope(patient, 2, key2)
		self2B, _ := self2.Marshal()
		rw, _ := envelope.GrantEnvelope(patient, provider.Public(), 2, key2)
		rwB, _ := rw.Marshal()
		rwKeys, _ := envelope.SealScope(key2, patient.ID(), provider.ID(), 2, []vital.Kind{vital.Glucose})
		rv := n.ok(0, ps, &ledger.Revoke{Provider: other.ID(), NewEpoch: 2, SelfEnvelope: self2B, Rewraps: []ledger.Rewrap{{Provider: provider.ID(), Envelope: rwB, Keys: rwKeys}}})
		n.synced(rv.Height)
		var g ledger.GrantRecord
		if err := n.clients[3].Query(ctx(t), "grant/"+patient.ID().Hex()+"/"+other.ID().Hex(), &g); err != nil || g.Revoked == 0 {
			t.Fatalf("revoked grant on node 3: %v %+v", err, g)
		}
		n.ok(0, prs, &ledger.TerminateContract{ID: cid})
		n.agree()
	})

	t.Run("bad transactions are refused with their reasons", func(t *testing.T) {
		n.t = t
		defer func() { n.t = parent }()
		// Unsigned and wrongly signed: refused by CheckTx.
		tx := &ledger.Tx{Version: ledger.TxVersion, Type: ledger.TypeVote, Signer: patient.Signing.Public().Bytes(), Seq: 99, Body: []byte{0xa0}, ChainID: ps.ChainID()}
		b, _ := codecMarshal(tx)
		if _, err := c0.Broadcast(ctx(t), b); !errors.Is(err, ledger.Rejected(ledger.CodeUnsigned)) {
			t.Fatalf("unsigned: %v", err)
		}
		good, _ := ps.Sign(&ledger.TerminateContract{ID: [32]byte{9}})
		d, err := ledger.Decode(good)
		if err != nil {
			t.Fatal(err)
		}
		d.Tx.Sig[len(d.Tx.Sig)-1] ^= 1
		bad, _ := codecMarshal(&d.Tx)
		if _, err := c0.Broadcast(ctx(t), bad); !errors.Is(err, ledger.Rejected(ledger.CodeBadSignature)) {
			t.Fatalf("bad signature: %v", err)
		}
		// Wrong role: refused in the block; replay: refused by CheckTx.
		_, err = n.submit(0, ps, &ledger.DeviceCommand{Device: device.ID(), Command: "sampling_interval_ms", Value: 1000})
		if !errors.Is(err, ledger.Rejected(ledger.CodeWrongRole)) {
			t.Fatalf("wrong role: %v", err)
		}
		replay, _ := ledger.NewTx(ps.ChainID(), patient.Signing, 1, &ledger.TerminateContract{ID: [32]byte{8}})
		if _, err := c0.Submit(ctx(t), replay); !errors.Is(err, ledger.Rejected(ledger.CodeReplay)) {
			t.Fatalf("replay: %v", err)
		}
	})

	t.Run("a client over HTTP and the websocket", func(t *testing.T) {
		hc, err := client.Dial(n.ln.Testnet.RPC[1], nil)
		if err != nil {
			t.Fatal(err)
		}
		defer hc.Close()
		m, err := hc.Member(ctx(t), provider.ID())
		if err != nil || m.Role != identity.RoleProvider {
			t.Fatalf("member over HTTP: %v %+v", err, m)
		}
		if _, err := hc.Member(ctx(t), identity.ID{1}); !errors.Is(err, client.ErrNotFound) {
			t.Fatalf("missing member: %v", err)
		}
		sub, err := hc.Subscribe(ctx(t), client.Type("device_command", "device", device.ID().Hex()))
		if err != nil {
			t.Fatal(err)
		}
		s, err := hc.Signer(ctx(t), provider.Signing)
		if err != nil {
			t.Fatal(err)
		}
		n.signers[provider.ID()] = s // one signer per key from here on
		prs = s
		tx, _ := s.Sign(&ledger.DeviceCommand{Device: device.ID(), Command: "sampling_interval_ms", Value: 3000})
		cm, err := hc.Submit(ctx(t), tx)
		if err != nil {
			t.Fatal(err)
		}
		select {
		case ev := <-sub:
			if ev.Height != cm.Height || ev.Attr("value") != "3000" {
				t.Fatalf("event %+v for commit at %d", ev, cm.Height)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no event over the websocket")
		}
	})

	t.Run("one authority down: the chain goes on and it catches up", func(t *testing.T) {
		n.t = t
		defer func() { n.t = parent }()
		if err := n.ln.StopNode(3); err != nil {
			t.Fatal(err)
		}
		n.clients[3].Close()
		n.clients[3] = nil
		if err := n.waitBlocks(6, 20*time.Second); err != nil {
			t.Fatalf("3 of 4 authorities should commit: %v", err)
		}
		n.ok(0, prs, &ledger.DeviceCommand{Device: device.ID(), Command: "sampling_interval_ms", Value: 2000})
		if err := n.ln.StartNode(3); err != nil {
			t.Fatal(err)
		}
		n.connect(3)
		h, _ := n.ln.Nodes[0].App().Height()
		c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := n.ln.WaitHeight(c, h+2); err != nil {
			t.Fatalf("restarted node did not catch up: %v", err)
		}
		n.agree()
	})

	t.Run("two authorities down: it halts without forking and resumes", func(t *testing.T) {
		n.t = t
		defer func() { n.t = parent }()
		for _, i := range []int{2, 3} {
			n.clients[i].Close()
			n.clients[i] = nil
			if err := n.ln.StopNode(i); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(time.Second)
		before, _ := n.ln.Nodes[0].App().Height()
		time.Sleep(3 * time.Second)
		after, _ := n.ln.Nodes[0].App().Height()
		if after > before+1 {
			t.Fatalf("2 of 4 authorities committed blocks %d..%d", before, after)
		}
		for _, i := range []int{2, 3} {
			if err := n.ln.StartNode(i); err != nil {
				t.Fatal(err)
			}
			n.connect(i)
		}
		if err := n.waitBlocks(3, 30*time.Second); err != nil {
			t.Fatalf("did not resume: %v", err)
		}
		n.agree()
	})

	t.Run("an authority voted in and one voted out take effect", func(t *testing.T) {
		n.t = t
		defer func() { n.t = parent }()
		// Node 4 is a standby full node; register its authority key in cluster 1.
		sb := n.ln.Nodes[4]
		candidate := sb.Authority()
		n.registerID(0, candidate, nil, n.ln.Testnet.Consensus[4])
		var last *client.Committed
		for i := range 3 {
			last = n.ok(i, n.heads[i], &ledger.Vote{Candidate: candidate.ID(), Add: true})
		}
		if !hasEvent(last, "authority_change") {
			t.Fatalf("third vote did not pass: %+v", last.Events)
		}
		n.waitForValidators(t, 5)
		// Vote out authority 3.
		for i := range 3 {
			last = n.ok(i, n.heads[i], &ledger.Vote{Candidate: n.ln.Nodes[3].Authority().ID(), Add: false})
		}
		if !hasEvent(last, "authority_change") {
			t.Fatalf("removal did not pass: %+v", last.Events)
		}
		n.waitForValidators(t, 4)
		// The new set commits, with the new authority signing.
		if err := n.waitBlocks(3, 20*time.Second); err != nil {
			t.Fatal(err)
		}
		n.agree()
	})
}

// synced waits until every running node has committed height h.
func (n *net) synced(h int64) {
	n.t.Helper()
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := n.ln.WaitHeight(c, h); err != nil {
		n.t.Fatal(err)
	}
}

func (n *net) waitForValidators(t *testing.T, want int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		v, err := n.ln.Nodes[0].RPC().Validators(ctx(t), nil, nil, nil)
		if err == nil && v.Total == want {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("validator set never reached %d", want)
}

func hasEvent(c *client.Committed, typ string) bool {
	for _, e := range c.Events {
		if e.Type == typ {
			return true
		}
	}
	return false
}
