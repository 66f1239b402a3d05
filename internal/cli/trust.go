package cli

import (
	"crypto/tls"
	"flag"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/vitalchain/vitalchain/client"
	"github.com/vitalchain/vitalchain/cloud/cloudapi"
	"github.com/vitalchain/vitalchain/internal/tracing"
	"github.com/vitalchain/vitalchain/pki"
)

// CAEnv names the environment variable that gives --ca its default.
const CAEnv = "VITALCHAIN_CA"

// Trust is the --ca flag of a command that talks to ledger nodes or
// clouds: the CA certificate (package pki) their https:// addresses are
// checked against. Without it, https:// addresses are checked against the
// system's roots, and http:// ones (loopback, by default) have no TLS.
type Trust struct {
	caFile *string
	cfg    *tls.Config
}

// AddTrust adds --ca to fs.
func AddTrust(fs *flag.FlagSet) *Trust {
	return &Trust{caFile: fs.String("ca", os.Getenv(CAEnv), "CA certificate `file` that ledger nodes' and clouds' https:// certificates are checked against (default $"+CAEnv+")")}
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

// Ledger dials a ledger node.
func (t *Trust) Ledger(url string, log *slog.Logger) (*client.Client, error) {
	cfg, err := t.config()
	if err != nil {
		return nil, err
	}
	return client.Dial(url, log, client.WithTLS(cfg))
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
