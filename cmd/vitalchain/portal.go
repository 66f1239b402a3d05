package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/vitalchain/vitalchain/internal/cli"
	"github.com/vitalchain/vitalchain/internal/health"
	"github.com/vitalchain/vitalchain/pki"
	"github.com/vitalchain/vitalchain/portal"
	"github.com/vitalchain/vitalchain/webhook"
)

func runProviderServe(args []string, stdout, stderr io.Writer) error {
	fs := cli.NewFlags("vitalchain", "provider serve", "provider serve --key FILE --cloud URL --ledger URL [--listen ADDR] [--tls-cert FILE --tls-key FILE]", stderr)
	pf := addProviderFlags(fs)
	listen := fs.String("listen", "127.0.0.1:8480", "`address` to serve the portal on")
	tlsCert := fs.String("tls-cert", "", "serve HTTPS with this certificate `file` (PEM)")
	tlsKey := fs.String("tls-key", "", "and this key `file` (PEM)")
	hooks := fs.String("webhook", "", "deliver alert events to these `URLs` (comma-separated), signed as Standard Webhooks do")
	hookSecret := fs.String("webhook-secret", "", "the webhooks' signing secret: a `file` holding whsec_… (made if missing)")
	data := fs.String("data", "", "the portal's state `directory` (the webhooks' outbox); needed with --webhook")
	public := fs.String("url", "", "the portal's `URL` as its users reach it, for the events' links (default: the listening address)")
	if err := cli.ParseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 || (*tlsCert == "") != (*tlsKey == "") {
		return fmt.Errorf("%w: provider serve takes flags only (and --tls-cert with --tls-key)", cli.ErrUsage)
	}
	if *hooks != "" && (*data == "" || *hookSecret == "") {
		return fmt.Errorf("%w: --webhook needs --data and --webhook-secret", cli.ErrUsage)
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
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	defer ln.Close()
	scheme := "http"
	if *tlsCert != "" {
		scheme = "https"
	}
	base := scheme + "://" + ln.Addr().String()
	if *public == "" {
		*public = base
	}
	cfg := portal.ProviderConfig{Provider: p, Secure: *tlsCert != "", URL: *public}
	feed := func(ctx context.Context) error { return nil }
	if *hooks != "" {
		out, err := openWebhooks(*data, *hooks, *hookSecret)
		if err != nil {
			return err
		}
		defer out.Close()
		cfg.Notify = out
		feed = out.Run
	}
	pp, err := portal.NewProvider(cfg)
	if err != nil {
		return err
	}
	// /livez, and /readyz: the ledger and the cloud answer.
	return servePortal(ctx, ln, health.Wrap(pp.Handler(), pf.checks...), *tlsCert, *tlsKey, func() {
		fmt.Fprintf(stdout, "Provider portal: %s%s\n", base, pp.LoginPath())
	}, func(ctx context.Context) error {
		go feed(ctx)
		return pp.Run(ctx)
	}, stderr)
}

// openWebhooks opens the webhooks' outbox in dir, with the secret of file
// (a new one written there if the file does not exist).
func openWebhooks(dir, urls, secretFile string) (*webhook.Outbox, error) {
	b, err := os.ReadFile(secretFile)
	if errors.Is(err, os.ErrNotExist) {
		s := webhook.NewSecret()
		if err := os.WriteFile(secretFile, []byte(s.String()+"\n"), 0o600); err != nil {
			return nil, err
		}
		b = []byte(s.String())
	} else if err != nil {
		return nil, err
	}
	secret, err := webhook.ParseSecret(string(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", secretFile, err)
	}
	var eps []webhook.Endpoint
	for _, u := range strings.Split(urls, ",") {
		if u = strings.TrimSpace(u); u != "" {
			eps = append(eps, webhook.Endpoint{URL: u, Secret: secret})
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	return webhook.Open(webhook.Config{Path: filepath.Join(dir, "webhooks.db"), Endpoints: eps})
}

// servePortal serves a portal on ln until ctx ends; it prints a login link
// at start and on each SIGHUP, and runs feed (the portal's source of live
// data) beside it.
func servePortal(ctx context.Context, ln net.Listener, h http.Handler, certFile, keyFile string, printLogin func(), feed func(context.Context) error, stderr io.Writer) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		if err := feed(ctx); err != nil && ctx.Err() == nil {
			fmt.Fprintf(stderr, "portal: live data stopped: %v\n", err)
		}
	}()
	cli.OnHangup(ctx, printLogin)
	printLogin()
	return portal.Serve(ctx, ln, h, certFile, keyFile)
}
