package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/vitalchain/vitalchain/internal/testbed"
)

// TestQuery runs 'vitalchain query' against a node: each answer is the
// ledger's, decoded, as JSON with IDs and keys in hex and roles by name.
func TestQuery(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a ledger node")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tc, err := testbed.StartChain(ctx, testbed.ChainOptions{Nodes: 1, Dir: filepath.Join(t.TempDir(), "chain")})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Stop()
	rpc := tc.Net.Testnet.RPC[0]
	head := tc.Net.Testnet.Authorities[0].ID().Hex()
	query := func(args ...string) (int, any, string) {
		t.Helper()
		var out, errb bytes.Buffer
		code := run(append([]string{"query"}, args...), &out, &errb)
		var v any
		if code == 0 {
			if err := json.Unmarshal(out.Bytes(), &v); err != nil {
				t.Fatalf("query %v: not JSON: %v\n%s", args, err, out.Bytes())
			}
		}
		return code, v, errb.String()
	}
	tests := []struct {
		args  []string
		check func(v any) bool
	}{
		{[]string{"authorities", "--ledger", rpc}, func(v any) bool {
			a, _ := v.([]any)
			return len(a) == 1 && a[0].(map[string]any)["ID"] == head
		}},
		{[]string{"--ledger", rpc, "member/" + head}, func(v any) bool {
			m, _ := v.(map[string]any)
			return m["Role"] == "authority" && m["Cluster"] == 1.0
		}},
		{[]string{"chain_id", "--ledger", rpc}, func(v any) bool { return v == "vitalchain-testnet" }},
		{[]string{"cluster/1", "--ledger", rpc}, func(v any) bool {
			m, _ := v.(map[string]any)
			c, _ := m["Cluster"].(map[string]any)
			return c != nil
		}},
	}
	for _, tc := range tests {
		code, v, stderr := query(tc.args...)
		if code != 0 || !tc.check(v) {
			t.Errorf("query %v: exit %d, %#v %s", tc.args, code, v, stderr)
		}
	}
	if code, _, stderr := query("member/00", "--ledger", rpc); code != 1 {
		t.Errorf("a bad query: exit %d %s", code, stderr)
	}
	if code, _, _ := query(); code != 2 {
		t.Errorf("no path: exit %d", code)
	}
}
