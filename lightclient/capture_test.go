//go:build capture

package lightclient_test

// The known-answer vectors in testdata/localnet are what a VitalChain
// network served. This file made them; run it again with
//
//	go test -tags capture -run TestCaptureLocalnet ./lightclient
//
// (it starts 4 authorities and a standby in process for about half a
// minute, and overwrites the files).

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vitalchain/vitalchain/chain"
	"github.com/vitalchain/vitalchain/client"
	"github.com/vitalchain/vitalchain/ledger"
)

func TestCaptureLocalnet(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	params := ledger.DefaultParams()
	params.HeadAbsentMs = 2000 // a stopped head is handed over after 2 s
	ln, err := chain.StartLocal(ctx, chain.TestnetOptions{
		Nodes: 4, Standby: 1, Dir: t.TempDir(), BlockInterval: 100 * time.Millisecond, Params: params,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Stop()
	rpc := "http://" + strings.TrimPrefix(ln.Nodes[0].RPCAddress(), "tcp://")
	get := func(path string) []byte {
		t.Helper()
		resp, err := http.Get(rpc + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d %v %s", path, resp.StatusCode, err, b)
		}
		return b
	}

	// The standby, registered in cluster 4 with its consensus key, takes
	// the cluster over once its head (node 3) stops: the validator set
	// changes, and commits carry an absent vote meanwhile.
	c := client.New(ln.Nodes[0].Local(), nil)
	defer c.Close()
	head, err := c.Signer(ctx, ln.Nodes[3].Authority().Signing)
	if err != nil {
		t.Fatal(err)
	}
	sb := ln.Testnet.Authorities[4]
	reg, err := ledger.NewRegister(sb, 4, [32]byte{}, ln.Testnet.Consensus[4])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := head.Submit(ctx, reg); err != nil {
		t.Fatal(err)
	}
	before, _ := ln.Nodes[0].App().Height()
	if err := ln.StopNode(3); err != nil {
		t.Fatal(err)
	}
	s, err := c.Signer(ctx, sb.Signing)
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := s.Submit(ctx, &ledger.Handover{Cluster: 4, NewHead: sb.ID()}); err == nil {
			break
		} else if ledger.CodeOf(err) != ledger.CodeUnauthorized {
			t.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond)
	}
	handed, _ := ln.Nodes[0].App().Height()
	if err := ln.WaitHeight(ctx, handed+8); err != nil {
		t.Fatal(err)
	}
	last, _ := ln.Nodes[0].App().Height()

	// Where the validators changed, and which commits miss a vote.
	type header struct {
		ValidatorsHash string `json:"validators_hash"`
	}
	var vh []string
	for h := int64(1); h <= last; h++ {
		var r struct {
			Result struct {
				SignedHeader struct {
					Header header `json:"header"`
				} `json:"signed_header"`
			} `json:"result"`
		}
		if err := json.Unmarshal(get(fmt.Sprintf("/commit?height=%d", h)), &r); err != nil {
			t.Fatal(err)
		}
		vh = append(vh, r.Result.SignedHeader.Header.ValidatorsHash)
	}
	change := int64(slices.IndexFunc(vh, func(s string) bool { return s != vh[0] })) + 1
	if change <= 0 {
		t.Fatal("the validators never changed")
	}
	heights := []int64{1, 2, 3, before, before + 1, before + 4, change - 2, change - 1, change, change + 1, last - 1, last}
	slices.Sort(heights)
	heights = slices.Compact(heights)
	t.Logf("registered by %d, node 3 stopped, handed over at %d, validators changed at %d, last %d; capturing %v",
		before, handed, change, last, heights)

	dir := filepath.Join("testdata", "localnet")
	os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) {
		var out bytes.Buffer
		if err := json.Indent(&out, b, "", " "); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), append(out.Bytes(), '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("genesis.json", get("/genesis"))
	for _, h := range heights {
		write(fmt.Sprintf("commit-%d.json", h), get(fmt.Sprintf("/commit?height=%d", h)))
		write(fmt.Sprintf("validators-%d.json", h), get(fmt.Sprintf("/validators?height=%d&per_page=100&page=1", h)))
	}
}
