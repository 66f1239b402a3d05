package testbed

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/vitalchain/vitalchain/client"
	"github.com/vitalchain/vitalchain/cloud"
	"github.com/vitalchain/vitalchain/cloud/cloudapi"
	"github.com/vitalchain/vitalchain/codec"
	"github.com/vitalchain/vitalchain/gateway"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/internal/lyingrpc"
	"github.com/vitalchain/vitalchain/ledger"
	"github.com/vitalchain/vitalchain/provider"
	"github.com/vitalchain/vitalchain/vital"
)

// rewriteAnswer makes the proxy answer a query of path with f of the
// node's answer (decoded into a T, changed, encoded again), leaving the
// proof as the node sent it.
func rewriteAnswer[T any](t *testing.T, path string, f func(*T)) lyingrpc.Rewrite {
	return func(c *lyingrpc.Call) bool {
		q, resp, ok := c.Query()
		if !ok || q != path {
			return false
		}
		raw, _ := resp["value"].(string)
		b, err := base64.StdEncoding.DecodeString(raw)
		if err != nil {
			t.Error(err)
			return false
		}
		var v T
		if err := codec.Unmarshal(b, &v); err != nil {
			t.Error(err)
			return false
		}
		f(&v)
		if b, err = codec.Marshal(&v); err != nil {
			t.Error(err)
			return false
		}
		resp["value"] = base64.StdEncoding.EncodeToString(b)
		return true
	}
}

// TestLyingNodeRefusedByGatewayProviderCloud: a ledger node that lies
// (a JSON-RPC proxy in front of a real node that rewrites one answer, and
// passes the proof and everything else through) is refused by the
// gateway, the provider and the cloud, and each turns to an honest node
// when it has one. Without verification (as the parties were before,
// which the "unverified" cases keep to show the hole) every lie is
// believed:
//   - the gateway, told that the patient's epoch is the one before a
//     revoke, would seal its records with a key the revoked provider holds;
//   - the provider, told that the patient's home is another cluster, would
//     fetch its records from that cluster's cloud;
//   - the cloud, told that a revoked grant is not revoked, would serve the
//     revoked provider.
func TestLyingNodeRefusedByGatewayProviderCloud(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a chain")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ch, err := StartChain(ctx, ChainOptions{Nodes: 2, Dir: t.TempDir(), BlockInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Stop()
	// A patient of cluster 1, a cloud in each cluster, two providers, one
	// of them granted then revoked: the patient is in epoch 2.
	pat, err := ch.Register(ctx, identity.RolePatient, identity.SuiteX25519, 1)
	if err != nil {
		t.Fatal(err)
	}
	cloud1, err := ch.Register(ctx, identity.RoleCloud, identity.SuiteX25519, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ch.Register(ctx, identity.RoleCloud, identity.SuiteX25519, 2); err != nil {
		t.Fatal(err)
	}
	prov, err := ch.Register(ctx, identity.RoleProvider, identity.SuiteX25519, 1)
	if err != nil {
		t.Fatal(err)
	}
	p, err := gateway.OpenPatient(ctx, pat, ch.Client(0), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Grant(ctx, prov.ID(), []vital.Kind{vital.Glucose}, false, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := p.Revoke(ctx, prov.ID()); err != nil {
		t.Fatal(err)
	}
	if p.Epoch() != 2 {
		t.Fatalf("epoch %d after a revoke", p.Epoch())
	}

	proxy, err := lyingrpc.New(ch.Net.Testnet.RPC[0])
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(proxy)
	defer srv.Close()
	honest := strings.Replace(ch.Net.Testnet.RPC[1], "tcp://", "http://", 1)
	root, err := ch.Net.Testnet.TrustRoot()
	if err != nil {
		t.Fatal(err)
	}
	// dial returns a client of addrs, verifying unless told otherwise.
	dial := func(t *testing.T, addrs string, verified bool) *client.Client {
		c, err := client.Dial(addrs, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if verified {
			if err := c.Trust(root, client.TrustOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		return c
	}

	parties := []struct {
		name    string
		rewrite lyingrpc.Rewrite
		// act makes the party's decision through c; right says whether it
		// is the one the true state calls for.
		act func(t *testing.T, c *client.Client) (right bool, err error)
	}{
		{"gateway loads the patient's key", rewriteAnswer(t, ledger.EpochPath(pat.ID()), func(ps *ledger.PatientState) { ps.Epoch = 1 }),
			func(t *testing.T, c *client.Client) (bool, error) {
				gp, err := gateway.OpenPatient(ctx, pat, c, nil)
				if err != nil {
					return false, err
				}
				return gp.Epoch() == 2, nil
			}},
		{"provider finds the patient's cloud", rewriteAnswer(t, ledger.MemberPath(pat.ID()), func(m *ledger.Member) { m.Home = 2 }),
			func(t *testing.T, c *client.Client) (bool, error) {
				pv, err := provider.New(provider.Config{Key: prov, Chain: c, Cloud: cloudapi.NewClient("http://127.0.0.1:1", nil)})
				if err != nil {
					t.Fatal(err)
				}
				id, err := pv.CloudOf(ctx, pat.ID())
				return id == cloud1.ID(), err
			}},
		{"cloud checks a grant", rewriteAnswer(t, ledger.GrantPath(pat.ID(), prov.ID()), func(g *ledger.GrantRecord) { g.Revoked = 0 }),
			func(t *testing.T, c *client.Client) (bool, error) {
				l := cloud.NewChainLedger([]*client.Client{c}, cloud1.Signing, time.Second)
				g, err := l.Grant(ctx, pat.ID(), prov.ID())
				if err != nil {
					return false, err
				}
				return g.Revoked != 0, nil
			}},
	}
	for _, party := range parties {
		t.Run(party.name, func(t *testing.T) {
			proxy.SetRewrite(party.rewrite)
			defer proxy.SetRewrite(nil)
			lies := proxy.Lies.Load()

			// Unverified, as before: the lie is believed.
			right, err := party.act(t, dial(t, srv.URL, false))
			if err != nil || right {
				t.Fatalf("unverified: right %v, %v; the lie should have been believed", right, err)
			}
			// Verified: the lie is refused.
			c := dial(t, srv.URL, true)
			if _, err := party.act(t, c); !errors.Is(err, client.ErrForged) {
				t.Fatalf("verified: %v, want ErrForged", err)
			}
			if r := c.Refusals(); r.Forged != 1 {
				t.Fatalf("refusals %+v", r)
			}
			// Verified, with an honest node to turn to: the right decision.
			both := dial(t, srv.URL+","+honest, true)
			if right, err := party.act(t, both); err != nil || !right {
				t.Fatalf("with failover: right %v, %v", right, err)
			}
			if r := both.Refusals(); r.Forged != 1 || r.Failovers != 1 {
				t.Fatalf("refusals with failover %+v", r)
			}
			if proxy.Lies.Load() < lies+3 {
				t.Fatalf("the proxy lied %d times", proxy.Lies.Load()-lies)
			}
		})
	}
}
