package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cmtcfg "github.com/cometbft/cometbft/config"

	"github.com/vitalchain/vitalchain/chain"
	"github.com/vitalchain/vitalchain/client"
	"github.com/vitalchain/vitalchain/internal/cli"
	"github.com/vitalchain/vitalchain/pki"
)

// lanAddress returns an IPv4 address of this machine that is not a
// loopback one: where a server is reachable from the network.
func lanAddress(t *testing.T) string {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil {
			return n.IP.String()
		}
	}
	t.Fatal("this machine has no non-loopback IPv4 address to test TLS on")
	return ""
}

// On an address beyond loopback, a testnet's nodes serve RPC over TLS
// with certificates of the network's CA: a client of that CA gets answers,
// and one without it, or one speaking plain HTTP, gets none. A node or a
// cloud asked to serve plain HTTP there refuses to start.
func TestRPCAndCloudServeTLSBeyondLoopback(t *testing.T) {
	host := lanAddress(t)
	dir := t.TempDir()
	var out bytes.Buffer
	// No Prometheus metrics: the node runs in this process, whose default
	// registry takes them once (go test -count=2 panicked on the second).
	if err := runTestnet([]string{"--nodes", "1", "--out", dir, "--host", host, "--base-port", "0", "--block-interval", "50ms", "--metrics=false"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "RPC https://"+host) {
		t.Fatalf("testnet's output names no https RPC:\n%s", out.String())
	}
	home := filepath.Join(dir, "node0")
	n, err := chain.Open(home, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Stop() })
	url := rpcURL(n.RPCAddress(), true)
	caFile := filepath.Join(dir, "ca", pki.CertFile)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cfg, err := pki.ClientConfig(caFile)
	if err != nil {
		t.Fatal(err)
	}
	good, err := client.Dial(url, nil, client.WithTLS(cfg))
	if err != nil {
		t.Fatal(err)
	}
	defer good.Close()
	for {
		id, err := good.ChainID(ctx)
		if err == nil {
			if id != "vitalchain-testnet" {
				t.Fatalf("chain ID %q", id)
			}
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("a client of the CA: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	system, _ := pki.ClientConfig("")
	stranger, _ := client.Dial(url, nil, client.WithTLS(system))
	defer stranger.Close()
	if _, err := stranger.ChainID(ctx); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("a client without the CA: %v, want a certificate error", err)
	}
	plain, _ := client.Dial(strings.Replace(url, "https://", "http://", 1), nil)
	defer plain.Close()
	if _, err := plain.ChainID(ctx); err == nil {
		t.Fatal("plain HTTP to a TLS node answered")
	}

	// The node and the cloud refuse plain HTTP beyond loopback.
	c, err := chain.LoadConfig(home)
	if err != nil {
		t.Fatal(err)
	}
	c.RPC.TLSCertFile, c.RPC.TLSKeyFile = "", ""
	writeConfig(t, c)
	if err := runNode([]string{"--home", home}, io.Discard, io.Discard); !errors.Is(err, pki.ErrPlaintext) {
		t.Fatalf("a node with plain RPC on %s: %v, want ErrPlaintext", host, err)
	}
	err = runCloud([]string{"--key", "x", "--data", t.TempDir(), "--listen", net.JoinHostPort(host, "0")}, io.Discard, io.Discard)
	if !errors.Is(err, pki.ErrPlaintext) || !errors.Is(err, cli.ErrUsage) {
		t.Fatalf("a cloud with plain HTTP on %s: %v, want ErrPlaintext", host, err)
	}

	// 'cert' issues a cloud's certificate from the network's CA, which its
	// clients trust through --ca.
	prefix := filepath.Join(t.TempDir(), "cloud")
	if err := runCert([]string{"--ca", filepath.Join(dir, "ca"), "--host", host + ",cloud.example", "--out", prefix}, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(prefix+".pem", prefix+"-key.pem")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", net.JoinHostPort(host, "0"), &tls.Config{Certificates: []tls.Certificate{pair}})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"cloud":"`+strings.Repeat("ab", 32)+`"}`)
	})}
	go srv.Serve(ln)
	defer srv.Close()
	fs := cli.NewFlags("vitalchain", "t", "t", io.Discard)
	trust := cli.AddTrust(fs)
	if err := fs.Parse([]string{"--ca", caFile}); err != nil {
		t.Fatal(err)
	}
	cc, err := trust.Cloud("https://" + ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cc.ID(ctx); err != nil {
		t.Fatalf("a cloud's client with --ca: %v", err)
	}
}

func writeConfig(t *testing.T, c *cmtcfg.Config) {
	t.Helper()
	cmtcfg.WriteConfigFile(filepath.Join(c.RootDir, "config", "config.toml"), c)
}
