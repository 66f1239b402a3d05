// Package gatewaycmd is the patient's gateway as a command: `vitalchain
// gateway`, and the small `vitalchain-gateway` binary for the patient's own
// hardware, which links neither CometBFT nor Pebble.
package gatewaycmd

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
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vitalchain/vitalchain/gateway"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/internal/cli"
	"github.com/vitalchain/vitalchain/internal/health"
	"github.com/vitalchain/vitalchain/internal/tracing"
	"github.com/vitalchain/vitalchain/mqtt"
	"github.com/vitalchain/vitalchain/pki"
)

// Run runs a patient's gateway until SIGINT or SIGTERM; cmd names the
// command in its usage text ("vitalchain gateway", "vitalchain-gateway").
func Run(cmd string, args []string, stdout, stderr io.Writer) error {
	fs := cli.NewFlags(cmd, "gateway", "--key FILE --data DIR --ledger URL --cloud URL [--listen ADDR | --broker URL]", stderr)
	keyFile := fs.String("key", "", "the patient's key `file`")
	data := fs.String("data", "", "`directory` of the gateway's outbox and state (created)")
	ledgerURL := fs.String("ledger", "http://127.0.0.1:26657", "RPC `URL` of a ledger node")
	cloudURL := fs.String("cloud", "http://127.0.0.1:8420", "`URL` of the cloud (of each of its processes, comma-separated: writes go to the one that sequences)")
	listen := fs.String("listen", "127.0.0.1:8883", "`address` of the embedded MQTT broker (TLS: mqtts://; only the patient's registered wearables connect, each with its key)")
	broker := fs.String("broker", "", "use this external MQTT broker `URL` (mqtts://host:port) instead of the embedded one; it must authenticate each device and let it use only its own topics (README, Deploying)")
	brokerCA := fs.String("broker-ca", "", "with --broker mqtts://: the CA certificate `file` the broker's certificate is checked against (default: the system's roots)")
	brokerCert := fs.String("broker-cert", "", "with --broker: the gateway's client certificate `file` (PEM), which the broker maps to the gateway's user")
	brokerKey := fs.String("broker-key", "", "with --broker: the key `file` of --broker-cert (PEM)")
	level := fs.String("log-level", "info", "log `level`")
	memLimit := fs.Int64("mem-limit", 16, "soft memory limit of the Go heap, in `MB`")
	metricsAddr := fs.String("metrics", "", "serve /metrics (Prometheus), /livez, /readyz and /healthz on this `address` (default: none)")
	drain := fs.Duration("drain-timeout", 10*time.Second, "on SIGTERM, how long to keep uploading the outbox's records to the cloud after the wearables are cut off (what is left stays in the outbox for the next start)")
	uiAddr := fs.String("ui", "", "serve the patient's portal on this `address` (default: none; beyond loopback it needs --ui-tls-cert)")
	uiCert := fs.String("ui-tls-cert", "", "serve the portal over HTTPS with this certificate `file` (PEM)")
	uiKey := fs.String("ui-tls-key", "", "and this key `file` (PEM)")
	trust := cli.AddTrust(fs)
	if err := cli.ParseFlags(fs, args); err != nil {
		return err
	}
	if *keyFile == "" || *data == "" || fs.NArg() != 0 || (*uiCert == "") != (*uiKey == "") {
		return fmt.Errorf("%w: gateway needs --key and --data (and --ui-tls-cert with --ui-tls-key)", cli.ErrUsage)
	}
	if *uiAddr != "" {
		// The patient's session and readings never cross a network in clear.
		if err := pki.RequireTLS(*uiAddr, *uiCert != "", false); err != nil {
			return fmt.Errorf("%w: --ui: %w: give --ui-tls-cert and --ui-tls-key (vitalchain cert issues them)", cli.ErrUsage, err)
		}
	}
	if (*brokerCert == "") != (*brokerKey == "") || (*broker == "" && *brokerCA+*brokerCert != "") {
		return fmt.Errorf("%w: --broker-cert and --broker-key go together, with --broker", cli.ErrUsage)
	}
	// A gateway runs on small hardware: keep the heap near its live size
	// (GOMEMLIMIT, if set, decides instead).
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(*memLimit << 20)
	}
	log, err := cli.NewLogger(stderr, *level)
	if err != nil {
		return err
	}
	id, err := identity.ReadFile(*keyFile)
	if err != nil {
		return err
	}
	// OpenTelemetry traces, if OTEL_EXPORTER_OTLP_ENDPOINT asks for them.
	endTracing, err := tracing.Setup("vitalchain-gateway", log)
	if err != nil {
		return err
	}
	defer flushTraces(endTracing, log)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	trust.SetLightState(filepath.Join(*data, "ledger-trust"))
	// The gateway outlives the signal: on SIGTERM it stops taking readings,
	// and a reading it is handling is finished (sealed and acknowledged, or
	// not acknowledged), then it drains its outbox (shutdown) and stops.
	life, endLife := context.WithCancel(context.Background())
	defer endLife()
	cl, err := trust.Ledger(*ledgerURL, log)
	if err != nil {
		return err
	}
	defer cl.Close()
	var (
		gw       *gateway.Gateway
		publish  func(topic string, payload []byte) error
		url      string
		intake   io.Closer                   // the broker, or the connection to the external one
		brokerUp func(context.Context) error // the broker's readiness
	)
	// handle takes a reading, and says whether it may be acknowledged: a
	// reading the gateway could not take (its outbox full) is not, so
	// that the device sends it again.
	handle := func(topic string, payload []byte) bool {
		// The gateway counts and logs refusals, at a bounded rate.
		return !gateway.Retryable(gw.HandleMessage(life, topic, payload))
	}
	var ready sync.WaitGroup // the handler runs only once gw is set
	ready.Add(1)
	guarded := func(topic string, payload []byte) bool { ready.Wait(); return handle(topic, payload) }
	if *broker != "" {
		btls, err := pki.ClientCertConfig(*brokerCA, *brokerCert, *brokerKey)
		if err != nil {
			return err
		}
		c, err := mqtt.Connect(ctx, mqtt.ClientConfig{Broker: *broker, ClientID: "vitalchain-gateway-" + id.ID().Hex()[:16],
			Subscriptions: []string{mqtt.ReadingsFilter(id.ID())}, Handler: func(t string, p []byte) { guarded(t, p) },
			SessionExpiry: time.Hour, Logger: log, TLS: btls})
		if err != nil {
			return err
		}
		defer c.Close()
		publish = func(t string, p []byte) error { return c.Publish(life, t, p) }
		url, intake = *broker, c
		brokerUp = func(context.Context) error {
			if !c.Stats().Connected {
				return errors.New("not connected to the broker")
			}
			return nil
		}
	} else {
		srvTLS, err := mqtt.ServerTLS(id.Signing)
		if err != nil {
			return err
		}
		b, err := mqtt.StartBroker(mqtt.BrokerConfig{Addr: *listen, Logger: log, TLS: srvTLS, Patient: id.ID(),
			Authenticate: func(dev identity.ID) error { ready.Wait(); return gw.Admit(life, dev) }})
		if err != nil {
			return err
		}
		defer b.Close()
		if err := b.SubscribeAck(mqtt.ReadingsFilter(id.ID()), guarded); err != nil {
			return err
		}
		publish, url, intake = b.Publish, b.URL(), b
		addr := strings.TrimPrefix(b.URL(), "mqtts://")
		brokerUp = func(ctx context.Context) error {
			c, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
			if err != nil {
				return err
			}
			return c.Close()
		}
	}
	cc, err := trust.Cloud(*cloudURL)
	if err != nil {
		return err
	}
	gw, err = gateway.New(life, gateway.Config{Patient: id, Chain: cl, Cloud: cc,
		Dir: *data, Log: log, Commands: func(dev identity.ID, payload []byte) error {
			return publish(mqtt.CommandsTopic(id.ID(), dev), payload)
		}})
	if err != nil {
		return err
	}
	defer gw.Close()
	ready.Done()
	probes := []health.Check{{Name: "broker", Func: brokerUp},
		{Name: "ledger", Func: func(ctx context.Context) error { _, err := cl.Height(ctx); return err }},
		{Name: "cloud", Func: cc.Ping}}
	if *metricsAddr != "" {
		stop, err := health.Serve(*metricsAddr, func(mux *http.ServeMux) {
			mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "text/plain; version=0.0.4")
				gw.WriteMetrics(w)
			})
			mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
		}, probes...)
		if err != nil {
			return err
		}
		defer stop()
	}
	fmt.Fprintf(stdout, "gateway of patient %s: MQTT %s, epoch %d, %d contracts\n", id.ID().Hex(), url, gw.Patient().Epoch(), len(gw.Contracts()))
	if *uiAddr != "" {
		stop, err := ServePatientPortal(ctx, *uiAddr, *uiCert, *uiKey, &Keeper{GW: gw, Key: id, Chain: cl, Cloud: cc}, stdout, log, probes...)
		if err != nil {
			return err
		}
		defer stop()
	}
	t := time.NewTicker(10 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return shutdown(log, gw, intake, *drain)
		case <-t.C:
			st := gw.Stats()
			log.Info("gateway", "readings", st.Readings, "abnormal", st.Abnormal, "sealed", st.Sealed,
				"stored", st.Upload.Stored, "pending", st.Pending, "refused", st.Refused)
		}
	}
}

// shutdown drains the gateway on SIGTERM: it cuts the wearables off (a
// reading not yet acknowledged is sent again to the next gateway process),
// uploads what the outbox holds for up to drain, and closes the gateway,
// which saves its state; records left in the outbox are uploaded at the
// next start.
func shutdown(log *slog.Logger, gw *gateway.Gateway, intake io.Closer, drain time.Duration) error {
	log.Info("stopping: no more readings; draining the outbox", "pending", gw.Stats().Pending, "within", drain)
	if err := intake.Close(); err != nil {
		log.Warn("close the broker", "err", err)
	}
	dctx, cancel := context.WithTimeout(context.Background(), drain)
	err := gw.Flush(dctx)
	cancel()
	st := gw.Stats()
	if err != nil {
		log.Warn("outbox not drained: the rest is uploaded at the next start", "pending", st.Pending, "err", err)
	}
	if err := gw.Close(); err != nil {
		return fmt.Errorf("close the gateway: %w", err)
	}
	log.Info("gateway stopped", "stored", st.Upload.Stored, "pending", st.Pending)
	return nil
}

// flushTraces exports the spans still buffered, within a bound.
func flushTraces(end func(context.Context) error, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := end(ctx); err != nil {
		log.Warn("tracing: spans not exported", "err", err)
	}
}
