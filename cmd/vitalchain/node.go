package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/vitalchain/vitalchain/chain"
	"github.com/vitalchain/vitalchain/client"
	"github.com/vitalchain/vitalchain/internal/cli"
	"github.com/vitalchain/vitalchain/internal/health"
	"github.com/vitalchain/vitalchain/overlay/udp"
	"github.com/vitalchain/vitalchain/pki"
)

func runNode(args []string, stdout, stderr io.Writer) error {
	const synopsis = "node --home DIR [--overlay ADDR --overlay-peers ADDR,…] [--log-level LEVEL]"
	fs := cli.NewFlags("vitalchain", "node", synopsis, stderr)
	home := fs.String("home", "", "the node's home `directory` (from 'vitalchain testnet')")
	level := fs.String("log-level", "warn", "log `level`: debug, info, warn or error")
	ovAddr := fs.String("overlay", "", "run the overlay's Cluster Head election on this UDP `address`")
	ovPeers := fs.String("overlay-peers", "", "the overlay neighbours' UDP `addresses`, comma-separated")
	ovPeriod := fs.Duration("overlay-period", time.Second, "the overlay's HELLO `period`")
	plaintext := fs.Bool("insecure-plaintext", false, "serve RPC as plain HTTP on a non-loopback address (for a network protected otherwise)")
	healthAddr := fs.String("health", "", "serve /livez and /readyz (caught up, connected to a peer) on this `address` (default: none)")
	// Hidden from the usage: 'bench faults' runs a node as if its clock were
	// off by this much (see chain.WithClockSkew).
	skew := fs.Duration("clock-skew", 0, "")
	fs.Usage = func() {
		shown := flag.NewFlagSet("node", flag.ContinueOnError)
		shown.SetOutput(stderr)
		fs.VisitAll(func(f *flag.Flag) {
			if f.Name != "clock-skew" {
				shown.Var(f.Value, f.Name, f.Usage)
			}
		})
		fmt.Fprintf(stderr, "Usage: vitalchain %s\n", synopsis)
		shown.PrintDefaults()
	}
	if err := cli.ParseFlags(fs, args); err != nil {
		return err
	}
	if *home == "" || fs.NArg() != 0 {
		return fmt.Errorf("%w: node needs --home", cli.ErrUsage)
	}
	log, err := cli.NewLogger(stderr, *level)
	if err != nil {
		return err
	}
	c, err := chain.LoadConfig(*home)
	if err != nil {
		return err
	}
	if err := pki.RequireTLS(strings.TrimPrefix(c.RPC.ListenAddress, "tcp://"), c.RPC.IsTLSEnabled(), *plaintext); err != nil {
		return fmt.Errorf("node RPC: %w: set rpc.tls_cert_file and rpc.tls_key_file in %s/config/config.toml ('vitalchain testnet --host' writes them), or --insecure-plaintext", err, *home)
	}
	var opts []chain.Option
	if *skew != 0 {
		opts = append(opts, chain.WithClockSkew(*skew))
		log.Warn("node clock skewed for a fault test", "skew", *skew)
	}
	n, err := chain.Open(*home, log, opts...)
	if err != nil {
		return err
	}
	if err := n.Start(); err != nil {
		n.Stop()
		return err
	}
	// The probes stop before the node: a probe reads the node's state,
	// which a stopped node has closed.
	stopHealth := func() {}
	if *healthAddr != "" {
		stop, err := health.Serve(*healthAddr, nil, health.Check{Name: "node", Func: n.Ready})
		if err != nil {
			n.Stop()
			return err
		}
		stopHealth = stop
	}
	defer stopHealth()
	log.Info("node running", "authority", n.Authority().ID().String(), "rpc", n.RPCAddress(), "home", *home)
	fmt.Fprintf(stdout, "node %s running; RPC at %s; Ctrl-C stops it\n", n.Config().Moniker, rpcURL(n.RPCAddress(), c.RPC.IsTLSEnabled()))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *ovAddr != "" {
		peers, err := udp.ParsePeers(*ovPeers)
		if err != nil {
			n.Stop()
			return fmt.Errorf("%w: %v", cli.ErrUsage, err)
		}
		conn, err := udp.Listen(*ovAddr)
		if err != nil {
			n.Stop()
			return err
		}
		cl := client.New(n.Local(), log)
		octx, ostop := context.WithCancel(ctx)
		ov, err := udp.Start(octx, udp.Config{
			Identity:    n.Authority(),
			CounterFile: filepath.Join(*home, "data", "overlay-counter"), // its datagrams' counter, across restarts
			Ledger:      udp.ClientLedger(cl, n.Authority().Signing),
			Conn:        conn,
			Peers:       peers,
			Period:      *ovPeriod,
			Log:         log,
		})
		if err != nil {
			ostop()
			conn.Close()
			cl.Close()
			n.Stop()
			return err
		}
		fmt.Fprintf(stdout, "overlay on udp %s with %d neighbours\n", conn.LocalAddr(), len(peers))
		<-ctx.Done()
		// The overlay and its client stop before the node: nothing may read
		// a stopped node's databases.
		ostop()
		ov.Wait()
		cl.Close()
		stopHealth()
		log.Info("stopping node")
		return n.Stop()
	}
	<-ctx.Done()
	stopHealth()
	log.Info("stopping node")
	return n.Stop()
}

func runTestnet(args []string, stdout, stderr io.Writer) error {
	fs := cli.NewFlags("vitalchain", "testnet", "testnet --nodes N --out DIR [--standby N] [--base-port PORT] [--block-interval D]", stderr)
	nodes := fs.Int("nodes", 4, "`number` of authorities")
	out := fs.String("out", "", "`directory` for the nodes' homes (created)")
	base := fs.Int("base-port", 26656, "node i listens for peers on `PORT`+2i and for RPC on PORT+2i+1")
	interval := fs.Duration("block-interval", chain.DefaultBlockInterval, "pause after each block (CometBFT timeout_commit)")
	host := fs.String("host", "127.0.0.1", "`address` the nodes bind and dial")
	standby := fs.Int("standby", 0, "`number` of standby nodes: full nodes with authority keys, not in genesis, that may be elected Cluster Heads")
	emptyBlocks := fs.Bool("empty-blocks", false, "make a block every --block-interval even when idle (default: blocks only for transactions, and the proof block CometBFT adds after each)")
	metrics := fs.Bool("metrics", true, "serve CometBFT's Prometheus metrics, node i on port PORT+2n+i (n nodes in all)")
	if err := cli.ParseFlags(fs, args); err != nil {
		return err
	}
	if *out == "" || fs.NArg() != 0 || *nodes < 1 || *nodes > 64 {
		return fmt.Errorf("%w: testnet needs --out and 1 to 64 --nodes", cli.ErrUsage)
	}
	tn, err := chain.WriteTestnet(chain.TestnetOptions{Nodes: *nodes, Standby: *standby, Dir: *out, Host: *host, BasePort: *base,
		BlockInterval: *interval, NoEmptyBlocks: !*emptyBlocks, Metrics: *metrics})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %d authorities and %d standby nodes under %s\n\n", *nodes, *standby, *out)
	for i, h := range tn.Homes {
		fmt.Fprintf(stdout, "  %s  authority %s  RPC %s", h, tn.Authorities[i].ID(), rpcURL(tn.RPC[i], tn.TLS))
		if *metrics {
			fmt.Fprintf(stdout, "  metrics %s", tn.Metrics[i])
		}
		fmt.Fprintln(stdout)
	}
	fmt.Fprintf(stdout, "\nThe network's CA is in %s: 'vitalchain cert --ca %s' issues the clouds' certificates", tn.CADir, tn.CADir)
	if tn.TLS {
		fmt.Fprintf(stdout, ", and clients trust the nodes' RPC with\n--ca %s (or %s=%s)", filepath.Join(tn.CADir, pki.CertFile), cli.CAEnv, filepath.Join(tn.CADir, pki.CertFile))
	}
	fmt.Fprintln(stdout, ".")
	fmt.Fprintf(stdout, "\nStart each in its own terminal:\n\n")
	for _, h := range tn.Homes {
		fmt.Fprintf(stdout, "  vitalchain node --home %s\n", h)
	}
	fmt.Fprintf(stdout, "\nor all at once:\n\n  for h in %s/node*; do vitalchain node --home $h & done; wait\n", *out)
	return nil
}

// rpcURL is the URL clients use for a node's RPC listen address.
func rpcURL(laddr string, tls bool) string {
	if tls {
		return strings.Replace(laddr, "tcp://", "https://", 1)
	}
	return strings.Replace(laddr, "tcp://", "http://", 1)
}

func runCert(args []string, stdout, stderr io.Writer) error {
	fs := cli.NewFlags("vitalchain", "cert", "cert --ca DIR --host H[,H…] --out PREFIX", stderr)
	caDir := fs.String("ca", "", "the CA's `directory` (DIR/ca of 'vitalchain testnet')")
	hosts := fs.String("host", "", "the `names` and addresses the server answers on, comma-separated")
	out := fs.String("out", "", "write the certificate to `PREFIX`.pem and its key to PREFIX-key.pem")
	if err := cli.ParseFlags(fs, args); err != nil {
		return err
	}
	var hs []string
	for _, h := range strings.Split(*hosts, ",") {
		if h = strings.TrimSpace(h); h != "" {
			hs = append(hs, h)
		}
	}
	if *caDir == "" || *out == "" || len(hs) == 0 || fs.NArg() != 0 {
		return fmt.Errorf("%w: cert needs --ca, --host and --out", cli.ErrUsage)
	}
	ca, err := pki.Load(*caDir)
	if err != nil {
		return err
	}
	if err := ca.IssueFiles(*out+".pem", *out+"-key.pem", hs, time.Now()); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s.pem and %s-key.pem for %s\n", *out, *out, strings.Join(hs, ", "))
	return nil
}
