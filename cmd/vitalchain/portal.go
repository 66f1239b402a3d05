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
	"time"

	"github.com/vitalchain/vitalchain/fhirapi"
	"github.com/vitalchain/vitalchain/identity"
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
	fhirOn := fs.Bool("fhir", false, "serve the FHIR R4 API under /fhir/ too (tokens: vitalchain provider token; needs --data)")
	if err := cli.ParseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 || (*tlsCert == "") != (*tlsKey == "") {
		return fmt.Errorf("%w: provider serve takes flags only (and --tls-cert with --tls-key)", cli.ErrUsage)
	}
	if *hooks != "" && (*data == "" || *hookSecret == "") {
		return fmt.Errorf("%w: --webhook needs --data and --webhook-secret", cli.ErrUsage)
	}
	if *fhirOn && *data == "" {
		return fmt.Errorf("%w: --fhir needs --data", cli.ErrUsage)
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
	cfg := portal.ProviderConfig{Provider: p, Lifecycle: p, Secure: *tlsCert != "", URL: *public}
	feed := func(ctx context.Context) error { return nil }
	var out *webhook.Outbox
	if *hooks != "" || *fhirOn {
		// One outbox for the portal's webhooks and the FHIR subscriptions.
		out, err = openWebhooks(*data, *hooks, *hookSecret)
		if err != nil {
			return err
		}
		defer out.Close()
		feed = out.Run
	}
	if *hooks != "" {
		cfg.Notify = out
	}
	var api *fhirapi.Server
	if *fhirOn {
		api, err = fhirapi.New(fhirapi.Config{Provider: p, Ledger: pf.chain, Dir: *data, Outbox: out, URL: *public})
		if err != nil {
			return err
		}
		defer api.Close()
		cfg.OnAlert = api.Observe // one alerts feed for both
	}
	pp, err := portal.NewProvider(cfg)
	if err != nil {
		return err
	}
	h := pp.Handler()
	if api != nil {
		mux := http.NewServeMux()
		mux.Handle(fhirapi.Prefix+"/", api.Handler())
		mux.Handle("/", pp.Handler())
		h = mux
	}
	// /livez, and /readyz: the ledger and the cloud answer.
	return servePortal(ctx, ln, health.Wrap(h, pf.checks...), *tlsCert, *tlsKey, func() {
		fmt.Fprintf(stdout, "Provider portal: %s%s\n", base, pp.LoginPath())
		if api != nil {
			fmt.Fprintf(stdout, "FHIR API: %s (tokens: vitalchain provider token --data %s)\n", api.Base(), *data)
		}
	}, func(ctx context.Context) error {
		go feed(ctx)
		if api != nil {
			go api.Run(ctx)
		}
		return pp.Run(ctx)
	}, stderr)
}

// openWebhooks opens the webhooks' outbox in dir, with the secret of file
// (a new one written there if the file does not exist).
func openWebhooks(dir, urls, secretFile string) (*webhook.Outbox, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	if urls == "" { // the FHIR subscriptions' outbox only
		return webhook.Open(webhook.Config{Path: filepath.Join(dir, "webhooks.db")})
	}
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

func runProviderToken(args []string, stdout, stderr io.Writer) error {
	fs := cli.NewFlags("vitalchain", "provider token", "provider token --data DIR --client NAME --scope SCOPES [--patient ID] [--ttl D] | --data DIR --revoke NAME", stderr)
	data := fs.String("data", "", "the portal's state `directory` (as given to provider serve)")
	clientName := fs.String("client", "", "the client's `name`, as the access log will name it")
	scope := fs.String("scope", "", "SMART `scopes`, space-separated: patient/Observation.rs, patient/*.rs…")
	patient := fs.String("patient", "", "bind the token to this patient's `ID` (hex)")
	ttl := fs.Duration("ttl", 30*24*time.Hour, "how long the token is valid")
	revoke := fs.String("revoke", "", "remove every token of this client `name` instead")
	if err := cli.ParseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 || *data == "" || (*revoke == "" && (*clientName == "" || *scope == "")) {
		return fmt.Errorf("%w: provider token needs --data, and --client with --scope, or --revoke", cli.ErrUsage)
	}
	toks, err := fhirapi.OpenTokens(*data)
	if err != nil {
		return err
	}
	if *revoke != "" {
		n, err := toks.Revoke(*revoke)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "revoked %d token(s) of %s\n", n, *revoke)
		return nil
	}
	var bound *identity.ID
	if *patient != "" {
		id, err := providerParseID("--patient", *patient)
		if err != nil {
			return err
		}
		pid := identity.ID(id)
		bound = &pid
	}
	tok, err := toks.Issue(*clientName, *scope, bound, *ttl, time.Now())
	if err != nil {
		return fmt.Errorf("%w: %w", cli.ErrUsage, err)
	}
	fmt.Fprintln(stdout, tok)
	return nil
}
