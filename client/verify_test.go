package client_test

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vitalchain/vitalchain/chain"
	"github.com/vitalchain/vitalchain/client"
	"github.com/vitalchain/vitalchain/codec"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/internal/lyingrpc"
	"github.com/vitalchain/vitalchain/internal/memchain"
	"github.com/vitalchain/vitalchain/ledger"
	"github.com/vitalchain/vitalchain/statetree"
)

// proved is a network of one authority with a patient registered, and a
// lying proxy in front of its node.
type proved struct {
	ln      *chain.LocalNet
	patient *identity.Identity
	proxy   *lyingrpc.Proxy
	url     string // the proxy's
}

func startProved(t *testing.T, ctx context.Context) *proved {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a node")
	}
	ln, err := chain.StartLocal(ctx, chain.TestnetOptions{Nodes: 1, Dir: t.TempDir(), BlockInterval: 50 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Stop() })
	head := client.New(ln.Nodes[0].Local(), nil)
	t.Cleanup(func() { head.Close() })
	s, err := head.Signer(ctx, ln.Nodes[0].Authority().Signing)
	if err != nil {
		t.Fatal(err)
	}
	pat, _ := identity.Generate(identity.RolePatient, identity.SuiteX25519)
	r, _ := ledger.NewRegister(pat, 1, identity.ID{}, nil)
	if _, err := s.Submit(ctx, r); err != nil {
		t.Fatal(err)
	}
	p, err := lyingrpc.New(ln.Nodes[0].RPCAddress())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	return &proved{ln: ln, patient: pat, proxy: p, url: srv.URL}
}

// dial returns a client of addrs that verifies against the network's genesis.
func (p *proved) dial(t *testing.T, addrs string, o client.TrustOptions) *client.Client {
	t.Helper()
	c, err := client.Dial(addrs, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	root, err := p.ln.Testnet.TrustRoot()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Trust(root, o); err != nil {
		t.Fatal(err)
	}
	return c
}

// Verified answers from an honest node: a member, an absence, the
// authorities; the trust is saved and a restart resumes from it.
func TestVerifiedAnswers(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p := startProved(t, ctx)
	file := filepath.Join(t.TempDir(), "trust")
	c := p.dial(t, "http://"+p.ln.Nodes[0].RPCAddress()[len("tcp://"):], client.TrustOptions{Store: client.TrustFile(file)})
	m, err := c.Member(ctx, p.patient.ID())
	if err != nil || m.Role != identity.RolePatient {
		t.Fatalf("member: %v, %v", m, err)
	}
	nobody, _ := identity.Generate(identity.RoleProvider, identity.SuiteX25519)
	if _, err := c.Member(ctx, nobody.ID()); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("an absent member: %v, want ErrNotFound", err)
	}
	if a, err := c.Authorities(ctx); err != nil || len(a) != 1 {
		t.Fatalf("authorities: %v, %v", a, err)
	}
	// A listing is answered too, unverified.
	if _, err := c.Grants(ctx, p.patient.ID()); err != nil {
		t.Fatalf("grants: %v", err)
	}
	if r := c.Refusals(); r != (client.Refusals{}) {
		t.Fatalf("refusals from an honest node: %+v", r)
	}
	h := c.TrustedHeight()
	if h < 2 {
		t.Fatalf("trusted height %d", h)
	}
	c.Close()
	b, err := os.ReadFile(file)
	if err != nil || len(b) == 0 {
		t.Fatalf("the trusted state was not saved: %v", err)
	}
	again := p.dial(t, "http://"+p.ln.Nodes[0].RPCAddress()[len("tcp://"):], client.TrustOptions{Store: client.TrustFile(file)})
	if again.TrustedHeight() != h {
		t.Fatalf("after a restart, trusted height %d, want %d", again.TrustedHeight(), h)
	}
	if _, err := again.Member(ctx, p.patient.ID()); err != nil {
		t.Fatal(err)
	}
	// Rooted on first use in the node's own genesis, a client asks for it
	// only when it first needs it, and verifies from there on.
	tofu, err := client.Dial(p.url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tofu.Close()
	tofu.TrustOnFirstUse(client.TrustOptions{})
	if tofu.TrustedHeight() != 0 || !tofu.Verified() {
		t.Fatal("trust rooted before first use")
	}
	p.proxy.SetRewrite(flipValue(ledger.MemberPath(p.patient.ID())))
	defer p.proxy.SetRewrite(nil)
	if _, err := tofu.Member(ctx, p.patient.ID()); !errors.Is(err, client.ErrForged) {
		t.Fatalf("trusted on first use, a forged member: %v", err)
	}
	p.proxy.SetRewrite(nil)
	if _, err := tofu.Member(ctx, p.patient.ID()); err != nil {
		t.Fatal(err)
	}
	if tofu.TrustedHeight() < 2 {
		t.Fatalf("trusted height %d after first use", tofu.TrustedHeight())
	}
}

// flipValue changes the first byte of a query's value.
func flipValue(path string) lyingrpc.Rewrite {
	return func(c *lyingrpc.Call) bool {
		q, resp, ok := c.Query()
		if !ok || q != path {
			return false
		}
		v, _ := base64.StdEncoding.DecodeString(resp["value"].(string))
		if len(v) == 0 {
			return false
		}
		v[len(v)-1] ^= 1
		resp["value"] = base64.StdEncoding.EncodeToString(v)
		return true
	}
}

// TestLyingNodeRefused: each lie of a node (a value, a proof, a header, a
// missing proof) is refused with its sentinel; with another node to turn
// to, the client fails over and gets the true answer.
func TestLyingNodeRefused(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p := startProved(t, ctx)
	path := ledger.MemberPath(p.patient.ID())
	honest := "http://" + p.ln.Nodes[0].RPCAddress()[len("tcp://"):]
	tests := []struct {
		name    string
		rewrite lyingrpc.Rewrite
		want    error
	}{
		{"value changed", flipValue(path), client.ErrForged},
		{"value and proof changed", func(c *lyingrpc.Call) bool {
			q, resp, ok := c.Query()
			if !ok || q != path {
				return false
			}
			ops := resp["proofOps"].(map[string]any)["ops"].([]any)
			op := ops[0].(map[string]any)
			data, _ := base64.StdEncoding.DecodeString(op["data"].(string))
			pr, err := statetree.DecodeProof(data)
			if err != nil {
				t.Error(err)
				return false
			}
			var m ledger.Member
			if err := codec.Unmarshal(pr.Value, &m); err != nil {
				t.Error(err)
				return false
			}
			m.Cluster = 7
			pr.Value, _ = codec.Marshal(&m)
			data, _ = pr.Encode()
			op["data"] = base64.StdEncoding.EncodeToString(data)
			resp["value"] = base64.StdEncoding.EncodeToString(pr.Value)
			return true
		}, client.ErrBadProof},
		{"proof left out", func(c *lyingrpc.Call) bool {
			q, resp, ok := c.Query()
			if !ok || q != path {
				return false
			}
			delete(resp, "proofOps")
			return true
		}, client.ErrBadProof},
		{"absence claimed", func(c *lyingrpc.Call) bool {
			q, resp, ok := c.Query()
			if !ok || q != path {
				return false
			}
			resp["code"] = 1
			delete(resp, "value")
			return true
		}, client.ErrForged},
		{"app hash changed", func(c *lyingrpc.Call) bool {
			h, ok := c.Header()
			if !ok {
				return false
			}
			// Another first digit: "00" over a hash that begins with 00
			// (one header in 256) would change nothing.
			ah := h["app_hash"].(string)
			first := "0"
			if ah[:1] == "0" {
				first = "1"
			}
			h["app_hash"] = first + ah[1:]
			return true
		}, client.ErrBadProof},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p.proxy.SetRewrite(tc.rewrite)
			defer p.proxy.SetRewrite(nil)
			c := p.dial(t, p.url, client.TrustOptions{})
			if _, err := c.Member(ctx, p.patient.ID()); !errors.Is(err, tc.want) {
				t.Fatalf("lied to: %v, want %v", err, tc.want)
			}
			r := c.Refusals()
			if r.Forged+r.BadProof != 1 {
				t.Fatalf("refusals %+v", r)
			}
			// Given the liar first and an honest node next, the client
			// fails over and gets the truth.
			both := p.dial(t, p.url+","+honest, client.TrustOptions{})
			m, err := both.Member(ctx, p.patient.ID())
			if err != nil || m.Cluster != 1 {
				t.Fatalf("after failover: %+v, %v", m, err)
			}
			if r := both.Refusals(); r.Failovers != 1 {
				t.Fatalf("refusals %+v, want one failover", r)
			}
		})
	}
	if p.proxy.Lies.Load() == 0 {
		t.Fatal("the proxy never lied")
	}
}

// TestStaleAnswerRefused: a node that answers with the state of a height
// the client has moved past (a captured honest answer, replayed after a
// revoke) is refused as stale, and the client turns to another node.
func TestStaleAnswerRefused(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p := startProved(t, ctx)
	path := ledger.EpochPath(p.patient.ID())
	honest := "http://" + p.ln.Nodes[0].RPCAddress()[len("tcp://"):]
	c := p.dial(t, p.url+","+honest, client.TrustOptions{})

	// Capture an honest answer through the proxy.
	var captured map[string]any
	p.proxy.SetRewrite(func(call *lyingrpc.Call) bool {
		if q, resp, ok := call.Query(); ok && q == path && captured == nil {
			captured = resp
		}
		return false
	})
	if _, err := c.Epoch(ctx, p.patient.ID()); err != nil {
		t.Fatal(err)
	}
	if captured == nil {
		t.Fatal("nothing captured")
	}
	// The chain moves on (blocks that change the state), and the client
	// verifies a later header.
	head := client.New(p.ln.Nodes[0].Local(), nil)
	defer head.Close()
	s, err := head.Signer(ctx, p.ln.Nodes[0].Authority().Signing)
	if err != nil {
		t.Fatal(err)
	}
	for range 4 {
		id, _ := identity.Generate(identity.RoleProvider, identity.SuiteX25519)
		r, _ := ledger.NewRegister(id, 1, identity.ID{}, nil)
		cm, err := s.Submit(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.ln.WaitHeight(ctx, cm.Height+1); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Member(ctx, p.patient.ID()); err != nil {
		t.Fatal(err)
	}
	// Now the proxy replays the captured answer, a true one of an old state.
	p.proxy.SetRewrite(func(call *lyingrpc.Call) bool {
		if q, _, ok := call.Query(); ok && q == path {
			call.Result["response"] = captured
			return true
		}
		return false
	})
	alone := p.dial(t, p.url, client.TrustOptions{})
	if _, err := alone.Member(ctx, p.patient.ID()); err != nil { // moves its trust forward
		t.Fatal(err)
	}
	if _, err := alone.Epoch(ctx, p.patient.ID()); !errors.Is(err, client.ErrStale) {
		t.Fatalf("a replayed old answer: %v, want ErrStale", err)
	}
	if r := alone.Refusals(); r.Stale != 1 {
		t.Fatalf("refusals %+v", r)
	}
	// With an honest node next, the client fails over.
	if _, err := c.Epoch(ctx, p.patient.ID()); err != nil {
		t.Fatalf("with a node to fail over to: %v", err)
	}
	if r := c.Refusals(); r.Stale != 1 || r.Failovers != 1 {
		t.Fatalf("refusals %+v", r)
	}
}

// internal/memchain proves its answers as a chain does: a client that
// trusts its roots verifies them, and refuses a forged one.
func TestMemchainProofs(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ch, auths, err := memchain.New(1, ledger.Params{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Stop()
	c := client.New(ch, nil)
	defer c.Close()
	c.TrustNodeRoots(client.TrustOptions{})
	m, err := c.Member(ctx, auths[0].ID())
	if err != nil || m.Role != identity.RoleAuthority {
		t.Fatalf("member: %v, %v", m, err)
	}
	nobody, _ := identity.Generate(identity.RoleProvider, identity.SuiteX25519)
	if _, err := c.Member(ctx, nobody.ID()); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("absent: %v", err)
	}
	liar := client.New(&lyingNode{Chain: ch, as: ledger.MemberPath(auths[0].ID())}, nil)
	defer liar.Close()
	liar.TrustNodeRoots(client.TrustOptions{})
	if _, err := liar.Member(ctx, auths[0].ID()); err != nil {
		t.Fatalf("the liar's Query is not its ProvedQuery: %v", err)
	}
}
