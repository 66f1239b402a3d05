package client_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vitalchain/vitalchain/chain"
	"github.com/vitalchain/vitalchain/client"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/ledger"
)

// A client over HTTP against a real node: queries, a transaction waited for
// through the websocket, its event, and the node's refusals.
func TestHTTPNodeAgainstANode(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a node")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ln, err := chain.StartLocal(ctx, chain.TestnetOptions{Nodes: 1, Dir: t.TempDir(), BlockInterval: 100 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Stop()
	c, err := client.Dial(ln.Nodes[0].RPCAddress(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	if h, err := c.Height(ctx); err != nil || h < 1 {
		t.Fatalf("height %d, %v", h, err)
	}
	head, err := c.Signer(ctx, ln.Nodes[0].Authority().Signing)
	if err != nil {
		t.Fatal(err)
	}
	events, err := c.Subscribe(ctx, client.Type("register"))
	if err != nil {
		t.Fatal(err)
	}
	id, err := identity.Generate(identity.RoleProvider, identity.SuiteX25519)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Member(ctx, id.ID()); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("member before registration: %v", err)
	}
	reg, err := ledger.NewRegister(id, 1, identity.ID{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := head.Sign(reg)
	if err != nil {
		t.Fatal(err)
	}
	cm, err := c.Submit(ctx, tx)
	if err != nil {
		t.Fatal(err)
	}
	if cm.Height < 1 || cm.Time.IsZero() || len(cm.Events) == 0 {
		t.Fatalf("committed: %+v", cm)
	}
	select {
	case ev := <-events:
		if ev.TxHash != cm.Hash || ev.Height != cm.Height {
			t.Fatalf("event %+v for commit %+v", ev, cm)
		}
	case <-ctx.Done():
		t.Fatal("no register event")
	}
	if m, err := c.Member(ctx, id.ID()); err != nil || m == nil {
		t.Fatalf("member after registration: %v", err)
	}
	// The same transaction again never commits twice: the node's mempool
	// cache holds it, so the waiter waits for its own deadline.
	short, cancelShort := context.WithTimeout(ctx, time.Second)
	defer cancelShort()
	if _, err := c.Submit(short, tx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a replayed transaction: %v", err)
	}
	// Garbage is refused in CheckTx with the ledger's code.
	var le *ledger.Error
	if _, err := c.Broadcast(ctx, []byte("not a transaction")); !errors.As(err, &le) {
		t.Fatalf("garbage: %v", err)
	}
}

func TestHTTPNodeErrors(t *testing.T) {
	for _, addr := range []string{"", "localhost:1", "ftp://x", "http://"} {
		if _, err := client.NewHTTPNode(addr, nil); err == nil {
			t.Errorf("address %q accepted", addr)
		}
	}
	tests := []struct {
		name, body string
		want       string
	}{
		{"rpc error", `{"jsonrpc":"2.0","id":1,"error":{"code":-32603,"message":"Internal error","data":"height 9 must be less than or equal to the current blockchain height 3"}}`, "current blockchain height"},
		{"not json", `<html>bad gateway</html>`, "invalid character"},
		{"empty", `{"jsonrpc":"2.0","id":1}`, "empty answer"},
		{"bad height", `{"jsonrpc":"2.0","id":1,"result":{"sync_info":{"latest_block_height":"x"}}}`, "integer"},
		{"oversize", `{"jsonrpc":"2.0","result":"` + strings.Repeat("a", 65<<20) + `"}`, "answer over"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Write([]byte(tc.body))
			}))
			defer srv.Close()
			n, err := client.NewHTTPNode(srv.URL, nil)
			if err != nil {
				t.Fatal(err)
			}
			_, err = n.Height(context.Background())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
			if tc.name == "rpc error" && !errors.Is(err, client.ErrRPC) {
				t.Fatalf("%v is not ErrRPC", err)
			}
		})
	}
}

// A node behind a proxy that refuses websockets: the client follows the
// chain by asking for its height and fetching the blocks it missed.
func TestHTTPNodeWithoutWebsocket(t *testing.T) {
	tx := []byte("a transaction")
	var (
		mu        sync.Mutex
		height    = 3
		committed = false
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/websocket" {
			http.Error(w, "no websockets here", http.StatusForbidden)
			return
		}
		var req struct {
			Method string            `json:"method"`
			Params map[string]string `json:"params"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		var result string
		switch req.Method {
		case "status":
			result = fmt.Sprintf(`{"sync_info":{"latest_block_height":"%d"}}`, height)
		case "broadcast_tx_sync":
			result = `{"code":0,"log":""}`
			if !committed {
				committed, height = true, height+1
			}
		case "block":
			txs := "[]"
			if req.Params["height"] == "4" {
				txs = `["` + base64.StdEncoding.EncodeToString(tx) + `"]`
			}
			result = fmt.Sprintf(`{"block":{"header":{"height":%q,"time":"2026-11-27T06:00:00Z"},"data":{"txs":%s}}}`, req.Params["height"], txs)
		case "block_results":
			result = `{"txs_results":[]}`
			if req.Params["height"] == "4" {
				result = `{"txs_results":[{"code":0,"events":[{"type":"register","attributes":[{"key":"id","value":"ab"}]}]}]}`
			}
		default:
			http.Error(w, "unknown method", http.StatusNotFound)
			return
		}
		fmt.Fprintf(w, `{"jsonrpc":"2.0","id":1,"result":%s}`, result)
	}))
	defer srv.Close()
	c, err := client.Dial(srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cm, err := c.Submit(ctx, tx)
	if err != nil {
		t.Fatal(err)
	}
	if cm.Height != 4 || len(cm.Events) != 1 || cm.Events[0].Type != "register" || cm.Time.IsZero() {
		t.Fatalf("committed %+v", cm)
	}
}
