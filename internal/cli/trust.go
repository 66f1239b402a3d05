package cli

import (
	"crypto/tls"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/vitalchain/vitalchain/client"
	"github.com/vitalchain/vitalchain/cloud/cloudapi"
	"github.com/vitalchain/vitalchain/internal/tracing"
	"github.com/vitalchain/vitalchain/pki"
)

// CAEnv names the environment variable that gives --ca its default, and
// GenesisEnv --genesis's.
const (
	CAEnv      = "VITALCHAIN_CA"
	GenesisEnv = "VITALCHAIN_GENESIS"
)

// Trust is the --ca flag of a command that talks to ledger nodes or
// clouds: the CA certificate (package pki) their https:// addresses are
// checked against. Without it, https:// addresses are checked against the
// system's roots, and http:// ones (loopback, by default) have no TLS.
//
// It is also what ledger answers are verified against (--genesis): every
// answer a command acts on carries a proof against a header signed by more
// than 2/3 of the validators, whom the chain's genesis names (see
// client.Client.Trust); --light-state keeps the last verified header
// across restarts.
type Trust struct {
	caFile     *string
	genesis    *string
	lightState *string
	cfg        *tls.Config
}

// AddTrust adds --ca, --genesis and --light-state to fs.
func AddTrust(fs *flag.FlagSet) *Trust {
	return &Trust{
		caFile: fs.String("ca", os.Getenv(CAEnv), "CA certificate `file` that ledger nodes' and clouds' https:// certificates are checked against (default $"+CAEnv+")"),
		genesis: fs.String("genesis", os.Getenv(GenesisEnv), "the chain's genesis `file` (testnet writes it in every node's config/), the root of trust that ledger answers are verified against "+
			"(default $"+GenesisEnv+"; without it, the first node's genesis is trusted on first use)"),
		lightState: fs.String("light-state", "", "`file` that keeps the last verified ledger header across restarts (default: none)"),
	}
}

// SetLightState sets --light-state's default (a command with a data
// directory keeps it there).
func (t *Trust) SetLightState(path string) {
	if *t.lightState == "" {
		*t.lightState = path
	}
}

func (t *Trust) config() (*tls.Config, error) {
	if t.cfg != nil {
		return t.cfg, nil
	}
	cfg, err := pki.ClientConfig(*t.caFile)
	if err != nil {
		return nil, err
	}
	t.cfg = cfg
	return cfg, nil
}

// Ledger dials a ledger node, or several separated by commas, and makes
// the client verify their answers against the chain's genesis.
func (t *Trust) Ledger(url string, log *slog.Logger) (*client.Client, error) {
	cfg, err := t.config()
	if err != nil {
		return nil, err
	}
	c, err := client.Dial(url, log, client.WithTLS(cfg))
	if err != nil {
		return nil, err
	}
	o := client.TrustOptions{}
	if *t.lightState != "" {
		o.Store = client.TrustFile(*t.lightState)
	}
	if *t.genesis == "" {
		c.TrustOnFirstUse(o)
		return c, nil
	}
	g, err := os.ReadFile(*t.genesis)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("the chain's genesis: %w", err)
	}
	root, err := client.GenesisTrust(g)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("the chain's genesis %s: %w", *t.genesis, err)
	}
	if err := c.Trust(root, o); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// Cloud returns a client of a cloud's API.
func (t *Trust) Cloud(url string) (*cloudapi.Client, error) {
	cfg, err := t.config()
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = cfg
	// With tracing on, each request carries its trace context (the
	// gateway's upload continues in the cloud's ingest).
	return cloudapi.NewClient(url, &http.Client{Timeout: 30 * time.Second, Transport: tracing.Transport(tr)}), nil
}
