package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/vitalchain/vitalchain/chain"
	"github.com/vitalchain/vitalchain/client"
	"github.com/vitalchain/vitalchain/cloud"
	"github.com/vitalchain/vitalchain/cloud/pebblestore"
	"github.com/vitalchain/vitalchain/cloud/pgstore"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/internal/cli"
	"github.com/vitalchain/vitalchain/internal/health"
	"github.com/vitalchain/vitalchain/internal/tracing"
	"github.com/vitalchain/vitalchain/ledger"
	"github.com/vitalchain/vitalchain/pki"
)

func runCloud(args []string, stdout, stderr io.Writer) error {
	fs := cli.NewFlags("vitalchain", "cloud", "cloud --key FILE --store DIR|postgres://… --ledger URL[,URL…] [--listen ADDR] [--advertise URL]", stderr)
	keyFile := fs.String("key", "", "the cloud's key `file` (role cloud, registered on the ledger)")
	store := fs.String("store", "", "the cloud's store: a `directory` (Pebble, embedded; created), or a PostgreSQL database, postgres://user@host:port/db?search_path=SCHEMA, which several cloud processes may share, one sequencing at a time")
	data := fs.String("data", "", "`directory` of the cloud's Pebble store (the same as --store DIR)")
	ledgers := fs.String("ledger", "http://127.0.0.1:26657", "RPC `URLs` of ledger nodes, comma-separated: its Cluster Head's first")
	listen := fs.String("listen", "127.0.0.1:8420", "`address` of the HTTP API")
	advertise := fs.String("advertise", "", "the API's `URL` as clients reach it, given to them by the other processes while this one sequences (PostgreSQL; default: from --listen)")
	leaseTTL := fs.Duration("lease-ttl", cloud.DefaultLeaseTTL, "with PostgreSQL: how long the sequencer's lease lasts unrenewed; another process takes over about this long after the sequencer dies")
	blockRecords := fs.Uint64("block-records", 1024, "seal a block once this many `records` wait")
	blockInterval := fs.Duration("block-interval", 1250*time.Millisecond, "seal a block at least this often when records wait")
	accessInterval := fs.Duration("access-block-interval", 10*time.Second, "seal a block of the access log at least this often when entries wait")
	anchorWait := fs.Duration("anchor-wait", 5*time.Second, "how long an anchor may take to commit before it goes to the next node")
	tlsCert := fs.String("tls-cert", "", "serve HTTPS with this certificate `file` (PEM)")
	tlsKey := fs.String("tls-key", "", "and this key `file` (PEM)")
	plaintext := fs.Bool("insecure-plaintext", false, "serve plain HTTP on a non-loopback --listen address (for a network protected otherwise)")
	drain := fs.Duration("drain-timeout", 15*time.Second, "on SIGTERM, how long requests in flight (uploads awaiting their commit) may take to finish before the cloud stops")
	trust := cli.AddTrust(fs)
	level := fs.String("log-level", "info", "log `level`")
	if err := cli.ParseFlags(fs, args); err != nil {
		return err
	}
	if *store == "" {
		*store = *data
	} else if *data != "" {
		return fmt.Errorf("%w: cloud takes --store or --data, not both", cli.ErrUsage)
	}
	if *keyFile == "" || *store == "" || fs.NArg() != 0 || (*tlsCert == "") != (*tlsKey == "") {
		return fmt.Errorf("%w: cloud needs --key and --store (or --data) (and --tls-cert with --tls-key)", cli.ErrUsage)
	}
	postgres := pgstore.IsURL(*store)
	if *leaseTTL < 300*time.Millisecond || *leaseTTL > time.Hour {
		return fmt.Errorf("%w: --lease-ttl between 300ms and 1h", cli.ErrUsage)
	}
	if err := pki.RequireTLS(*listen, *tlsCert != "", *plaintext); err != nil {
		return fmt.Errorf("%w: %w: give --tls-cert and --tls-key (vitalchain cert issues them), or --insecure-plaintext", cli.ErrUsage, err)
	}
	log, err := cli.NewLogger(stderr, *level)
	if err != nil {
		return err
	}
	id, err := identity.ReadFile(*keyFile)
	if err != nil {
		return err
	}
	if err := id.Role().Want(identity.RoleCloud); err != nil {
		return err
	}
	// OpenTelemetry traces, if OTEL_EXPORTER_OTLP_ENDPOINT asks for them.
	endTracing, err := tracing.Setup("vitalchain-cloud", log)
	if err != nil {
		return err
	}
	defer func() {
		fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := endTracing(fctx); err != nil {
			log.Warn("tracing: spans not exported", "err", err)
		}
	}()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	clients, err := dialAll(trust, *ledgers, log)
	if err != nil {
		return err
	}
	defer func() {
		for _, c := range clients {
			c.Close()
		}
	}()
	scheme := "http"
	if *tlsCert != "" {
		scheme = "https"
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	defer ln.Close()
	url := *advertise
	if url == "" {
		if ta, ok := ln.Addr().(*net.TCPAddr); ok && ta.IP.IsUnspecified() && postgres {
			return fmt.Errorf("%w: --listen %s names no host that clients could be sent to: give --advertise URL", cli.ErrUsage, *listen)
		}
		url = scheme + "://" + ln.Addr().String()
	}
	cfg := cloud.Config{
		Key: id.Signing, Ledger: cloud.NewChainLedger(clients, id.Signing, *anchorWait),
		Log: log, BlockRecords: *blockRecords, BlockInterval: *blockInterval, AccessBlockInterval: *accessInterval,
		URL: url, LeaseTTL: *leaseTTL,
	}
	if postgres {
		octx, cancel := context.WithTimeout(ctx, time.Minute)
		st, err := pgstore.Open(octx, *store)
		cancel()
		if err != nil {
			return err
		}
		defer st.Close()
		cfg.Store, cfg.Lease = st, st
	} else {
		st, err := pebblestore.Open(*store)
		if err != nil {
			return err
		}
		defer st.Close()
		cfg.Store = st
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	cfg.Metrics = reg
	svc, err := cloud.New(ctx, cfg)
	if err != nil {
		return err
	}
	defer svc.Close()
	srv := svc.NewServer(cloud.DefaultLimits(), reg)
	// /livez and /readyz, outside the API's request limits.
	srv.Handler = health.Wrap(tracing.Handler(srv.Handler, "cloud"), health.Check{Name: "store", Func: svc.Ready},
		health.Check{Name: "ledger", Func: func(ctx context.Context) error { return anyLedger(ctx, clients) }})
	role := "sequencer"
	if !svc.Sequencing() {
		role = "follower of " + svc.Leader()
	}
	log.Info("cloud running", "id", svc.ID().String(), "api", url, "store", storeKind(postgres), "role", role)
	fmt.Fprintf(stdout, "cloud %s serving %s (%s store, %s)\n", svc.ID(), url, storeKind(postgres), role)
	served := make(chan error, 1)
	go func() {
		if *tlsCert != "" {
			served <- srv.ServeTLS(ln, *tlsCert, *tlsKey)
		} else {
			served <- srv.Serve(ln)
		}
	}()
	select {
	case err := <-served:
		return err // the server failed: not a shutdown
	case <-ctx.Done():
	}
	// SIGTERM: stop accepting, let the requests in flight finish (an upload
	// is answered once its batch is committed), then close the service
	// (deferred), which seals nothing new and, with PostgreSQL, releases
	// the sequencer's lease so that another process takes over at once.
	log.Info("stopping: draining requests in flight", "within", *drain)
	sctx, cancel := context.WithTimeout(context.Background(), *drain)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("requests still in flight after the drain timeout: closing them", "err", err)
		srv.Close()
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	log.Info("cloud stopped")
	return nil
}

// anyLedger reports whether one of the ledger nodes answers.
func anyLedger(ctx context.Context, clients []*client.Client) error {
	var errs []error
	for _, c := range clients {
		if _, err := c.Height(ctx); err == nil {
			return nil
		} else {
			errs = append(errs, err)
		}
	}
	return fmt.Errorf("no ledger node answers: %w", errors.Join(errs...))
}

func storeKind(postgres bool) string {
	if postgres {
		return "postgres"
	}
	return "pebble"
}

// dialAll connects to each comma-separated ledger RPC URL.
func dialAll(trust *cli.Trust, urls string, log *slog.Logger) ([]*client.Client, error) {
	var cs []*client.Client
	for _, u := range strings.Split(urls, ",") {
		if u = strings.TrimSpace(u); u == "" {
			continue
		}
		c, err := trust.Ledger(u, log)
		if err != nil {
			for _, c := range cs {
				c.Close()
			}
			return nil, err
		}
		cs = append(cs, c)
	}
	if len(cs) == 0 {
		return nil, fmt.Errorf("%w: no ledger URL", cli.ErrUsage)
	}
	return cs, nil
}

func runAdmit(args []string, stdout, stderr io.Writer) error {
	fs := cli.NewFlags("vitalchain", "admit", "admit --by FILE --key FILE [--cluster N] [--consensus HOME] [--ledger URL]", stderr)
	by := fs.String("by", "", "key `file` of who admits: a Cluster Head (authority), or a patient for its device")
	keyFile := fs.String("key", "", "key `file` of the actor to register (it proves it holds the key)")
	cluster := fs.Uint("cluster", 0, "the `cluster` to join (default: the admitting Cluster Head's)")
	url := fs.String("ledger", "http://127.0.0.1:26657", "RPC `URL` of a ledger node")
	consHome := fs.String("consensus", "", "an authority-eligible node's `home`: its consensus key goes with the registration")
	trust := cli.AddTrust(fs)
	if err := cli.ParseFlags(fs, args); err != nil {
		return err
	}
	if *by == "" || *keyFile == "" || fs.NArg() != 0 {
		return fmt.Errorf("%w: admit needs --by and --key", cli.ErrUsage)
	}
	var consensus []byte
	if *consHome != "" {
		var err error
		if consensus, err = chain.ConsensusKeyOf(*consHome); err != nil {
			return err
		}
	}
	admitter, err := identity.ReadFile(*by)
	if err != nil {
		return err
	}
	member, err := identity.ReadFile(*keyFile)
	if err != nil {
		return err
	}
	c, err := trust.Ledger(*url, nil)
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl := uint32(*cluster)
	if cl == 0 && member.Role() != identity.RoleDevice {
		m, err := c.Member(ctx, admitter.ID())
		if err != nil {
			return fmt.Errorf("admitting authority: %w", err)
		}
		cl = m.Cluster
	}
	r, err := ledger.NewRegister(member, cl, admitter.ID(), consensus)
	if err != nil {
		return err
	}
	s, err := c.Signer(ctx, admitter.Signing)
	if err != nil {
		return err
	}
	cm, err := s.Submit(ctx, r)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "registered %s %s in cluster %d at height %d\n", member.Role(), member.ID(), r.Cluster, cm.Height)
	return nil
}
