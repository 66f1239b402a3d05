package chain

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A port the testnet picked free and another process took before its node
// bound it (parallel test packages did, and failed CI) makes StartLocal
// start afresh on other ports, not fail.
func TestStartLocalPortTaken(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 2-node network")
	}
	var taken net.Listener
	calls := 0
	portPicker = func(host string, base, n int) ([]int, error) {
		calls++
		ports, err := pickPorts(host, base, n)
		if err != nil || calls > 1 {
			return ports, err
		}
		// Another process takes the first port.
		taken, err = net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(ports[0])))
		return ports, err
	}
	defer func() { portPicker = pickPorts }()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	ln, err := StartLocal(ctx, TestnetOptions{Nodes: 2, Dir: dir, BlockInterval: 100 * time.Millisecond}, nil)
	if taken != nil {
		defer taken.Close()
	}
	if err != nil {
		t.Fatalf("start with a port taken: %v", err)
	}
	defer ln.Stop()
	if calls != 2 {
		t.Fatalf("ports picked %d times, want 2 (a fresh start after the port was taken)", calls)
	}
	if taken == nil {
		t.Fatal("no port was taken")
	}
	port := ":" + strconv.Itoa(taken.Addr().(*net.TCPAddr).Port)
	for _, rpc := range ln.Testnet.RPC {
		if strings.HasSuffix(rpc, port) {
			t.Errorf("the fresh start uses the taken port: %s", rpc)
		}
	}
	if err := ln.WaitHeight(ctx, 2); err != nil {
		t.Fatalf("the fresh network makes no blocks: %v", err)
	}
}
