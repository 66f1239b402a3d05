package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/vitalchain/vitalchain/internal/cli"
	"github.com/vitalchain/vitalchain/pki"
	"github.com/vitalchain/vitalchain/portal"
)

func runProviderServe(args []string, stdout, stderr io.Writer) error {
	fs := cli.NewFlags("vitalchain", "provider serve", "provider serve --key FILE --cloud URL --ledger URL [--listen ADDR] [--tls-cert FILE --tls-key FILE]", stderr)
	pf := addProviderFlags(fs)
	listen := fs.String("listen", "127.0.0.1:8480", "`address` to serve the portal on")
	tlsCert := fs.String("tls-cert", "", "serve HTTPS with this certificate `file` (PEM)")
	tlsKey := fs.String("tls-key", "", "and this key `file` (PEM)")
	if err := cli.ParseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 || (*tlsCert == "") != (*tlsKey == "") {
		return fmt.Errorf("%w: provider serve takes flags only (and --tls-cert with --tls-key)", cli.ErrUsage)
	}
	// Sessions and records never cross a network in clear.
	if err := pki.RequireTLS(*listen, *tlsCert != "", false); err != nil {
		return fmt.Errorf("%w: %w: give --tls-cert and --tls-key (vitalchain cert issues them)", cli.ErrUsage, err)
	}
	p, ctx, done, err := pf.open(stderr, 0)
	if err != nil {
		return err
	}
	defer done()
	pp, err := portal.NewProvider(portal.ProviderConfig{Provider: p, Secure: *tlsCert != ""})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	scheme := "http"
	if *tlsCert != "" {
		scheme = "https"
	}
	base := scheme + "://" + ln.Addr().String()
	return servePortal(ctx, ln, pp.Handler(), *tlsCert, *tlsKey, func() {
		fmt.Fprintf(stdout, "Provider portal: %s%s\n", base, pp.LoginPath())
	}, pp.Run, stderr)
}

// servePortal serves a portal on ln until ctx ends, with the bounds every
// server of ours has; it prints a login link at start and on each SIGHUP,
// and runs feed (the portal's source of live data) beside it.
func servePortal(ctx context.Context, ln net.Listener, h http.Handler, certFile, keyFile string, printLogin func(), feed func(context.Context) error, stderr io.Writer) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Requests live in ctx: its end ends the live streams, so that
	// Shutdown does not wait for them.
	srv := &http.Server{Handler: h, BaseContext: func(net.Listener) context.Context { return ctx },
		ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 60 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10}
	go func() {
		if err := feed(ctx); err != nil && ctx.Err() == nil {
			fmt.Fprintf(stderr, "portal: live data stopped: %v\n", err)
		}
	}()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				printLogin()
			}
		}
	}()
	printLogin()
	errc := make(chan error, 1)
	go func() {
		if certFile != "" {
			errc <- srv.ServeTLS(ln, certFile, keyFile)
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer scancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}
