package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vitalchain/vitalchain/fhirapi"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/internal/cli"
	"github.com/vitalchain/vitalchain/internal/gatewaycmd"
	"github.com/vitalchain/vitalchain/internal/testbed"
	"github.com/vitalchain/vitalchain/pki"
	"github.com/vitalchain/vitalchain/portal"
)

const demoUsage = `Usage: vitalchain demo [--duration D] [--json FILE] [flags]

Starts the whole system in this process on embedded defaults: 4 Cluster Heads
(the authorities of a Proof-of-Authority chain on CometBFT), a cloud, a gateway
with its embedded MQTT broker for each patient, the patients' wearables, and
providers. It deploys contracts and grants, streams readings with episodes,
shows progress, and plays the paper's scenario: alerts to the right providers
only, a provider's new record for a patient (transaction 3), a provider
changing a device's sampling rate, a forged reading and a forged record
refused, a patient revoking a provider, whose next read is refused, and the
head of cluster 4 stopping: the cluster's overlay re-elects a standby machine,
which takes the old head's place among the authorities.

It ends after --duration, or on Ctrl-C, then drains (every record stored and
anchored) and prints a summary; it exits non-zero if an invariant broke.

Flags:
`

func runDemo(args []string, stdout, stderr io.Writer) error {
	// The run's progress and the portals' login links are written from
	// several goroutines: one line at a time.
	stdout = &lineWriter{w: stdout}
	fs := cli.NewFlags("vitalchain", "demo", "demo [flags]", stderr)
	fs.Usage = func() { fmt.Fprint(stderr, demoUsage); fs.PrintDefaults() }
	duration := fs.Duration("duration", 60*time.Second, "how long to stream readings (0: until Ctrl-C)")
	jsonOut := fs.String("json", "", "write the summary as JSON to this `file` (- for stdout)")
	patients := fs.Int("patients", 4, "number of patients, each with a gateway")
	providers := fs.Int("providers", 3, "number of providers")
	devices := fs.Int("devices", 6, "wearables per patient")
	interval := fs.Duration("interval", time.Second, "every wearable's sampling interval")
	abnormal := fs.Float64("abnormal", 0.05, "share of abnormal readings over a long run")
	speedup := fs.Float64("speedup", 120, "play episodes this many times faster than life")
	suite := fs.String("suite", "mlkem768x25519", "HPKE suite of patients and providers (mlkem768x25519 or x25519)")
	dir := fs.String("dir", "", "keep the system's state in this `directory` (default: a temporary one, removed)")
	level := fs.String("log-level", "error", "log `level` (logs go to stderr)")
	portalAddr := fs.String("portal", "127.0.0.1:8480", "serve the first provider's portal on this loopback `address`, and the first patient's on the next port (free ports if they are taken; \"off\": none)")
	if err := cli.ParseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 || *patients < 1 || *providers < 2 || *duration < 0 {
		return fmt.Errorf("%w: demo takes flags only; at least 1 patient and 2 providers", cli.ErrUsage)
	}
	st, err := identity.ParseSuite(*suite)
	if err != nil {
		return fmt.Errorf("%w: %v", cli.ErrUsage, err)
	}
	log, err := cli.NewLogger(stderr, *level)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *dir == "" {
		d, err := os.MkdirTemp("", "vitalchain-demo-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		*dir = d
	}
	o := testbed.Options{Dir: *dir, Patients: *patients, Providers: *providers, Devices: *devices, Interval: *interval,
		AbnormalFraction: *abnormal, Speedup: *speedup, BlockInterval: 100 * time.Millisecond, CloudSeal: 1250 * time.Millisecond,
		Suite: st, Seed: 1, FetchEvery: 1, Log: log, Overlay: true}
	fmt.Fprintf(stdout, "Starting 4 Cluster Heads, a cloud, %d gateways with %d wearables each, and %d providers…\n", *patients, *devices, *providers)
	t0 := time.Now()
	s, err := testbed.Start(ctx, o)
	if err != nil {
		return err
	}
	defer s.Stop()
	fmt.Fprintf(stdout, "Ready in %.1fs: %d actors registered, %d contracts deployed, grants given. Streaming readings.\n",
		time.Since(t0).Seconds(), 2+*providers+*patients*(1+*devices), *patients)
	if *portalAddr != "off" {
		stopPortal, err := demoPortal(ctx, s, *portalAddr, filepath.Join(*dir, "portal"), stdout, stderr)
		if err != nil {
			return err
		}
		defer stopPortal()
	}
	sum, err := s.Run(ctx, stdout, *duration, true)
	if err != nil {
		return err
	}
	printSummary(stdout, sum)
	if err := writeJSONFile(*jsonOut, stdout, sum); err != nil {
		return err
	}
	if len(sum.Failures) > 0 {
		fmt.Fprintf(stderr, "vitalchain demo: invariants broken: %v\n", sum.Failures)
		return cli.ExitError{Code: 1}
	}
	return nil
}

// demoPortal serves the first provider's portal while the demo runs, on
// addr, with its FHIR API under /fhir/ (its state in dir), and the first
// patient's on the next port (or, if taken, on free loopback ports), and
// prints their login links and a token of the FHIR API.
func demoPortal(ctx context.Context, s *testbed.System, addr, dir string, stdout, stderr io.Writer) (func(), error) {
	if !pki.IsLoopback(addr) {
		return nil, fmt.Errorf("%w: the demo serves its portal on loopback only (it has no TLS)", cli.ErrUsage)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			return nil, err
		}
	}
	// The FHIR API beside the portal, as provider serve --fhir serves it.
	out, err := openWebhooks(dir, "", "")
	if err != nil {
		ln.Close()
		return nil, err
	}
	api, err := fhirapi.New(fhirapi.Config{Provider: s.Providers[0].P, Ledger: s.Chain.Client(0), Dir: dir, Outbox: out, URL: "http://" + ln.Addr().String()})
	if err != nil {
		out.Close()
		ln.Close()
		return nil, err
	}
	pp, err := portal.NewProvider(portal.ProviderConfig{Provider: s.Providers[0].P, Lifecycle: s.Providers[0].P, OnAlert: api.Observe})
	if err != nil {
		api.Close()
		out.Close()
		ln.Close()
		return nil, err
	}
	toks, err := fhirapi.OpenTokens(dir)
	if err != nil {
		return nil, err
	}
	token, err := toks.Issue("demo", "patient/*.rs user/Subscription.crds", nil, 24*time.Hour, time.Now())
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle(fhirapi.Prefix+"/", api.Handler())
	mux.Handle("/", pp.Handler())
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer out.Close()
		defer api.Close()
		var wg sync.WaitGroup
		defer wg.Wait()
		servePortal(ctx, ln, mux, "", "", func() {
			fmt.Fprintf(stdout, "Provider portal (provider %s): http://%s%s\n", s.Providers[0].ID.ID(), ln.Addr(), pp.LoginPath())
			fmt.Fprintf(stdout, "FHIR API: %s/metadata (Authorization: Bearer %s)\n", api.Base(), token)
		}, func(ctx context.Context) error {
			wg.Add(2)
			go func() { defer wg.Done(); out.Run(ctx) }()
			go func() { defer wg.Done(); api.Run(ctx) }()
			return pp.Run(ctx)
		}, stderr)
	}()
	// The first patient's portal, served by the patient's gateway.
	pt := s.Patients[0]
	k := &gatewaycmd.Keeper{GW: pt.Gateway, Key: pt.ID, Chain: s.Chain.Client(0), Cloud: s.Cloud.Client()}
	patientAddr := "127.0.0.1:0"
	if host, port, err := net.SplitHostPort(addr); err == nil {
		if n, err := strconv.Atoi(port); err == nil && n > 0 {
			patientAddr = net.JoinHostPort(host, strconv.Itoa(n+1))
		}
	}
	stopPatient, err := gatewaycmd.ServePatientPortal(ctx, patientAddr, "", "", k, stdout, slog.New(slog.DiscardHandler))
	if err != nil {
		stopPatient, err = gatewaycmd.ServePatientPortal(ctx, "127.0.0.1:0", "", "", k, stdout, slog.New(slog.DiscardHandler))
	}
	if err != nil {
		cancel()
		<-done
		return nil, err
	}
	return func() { cancel(); <-done; stopPatient() }, nil
}

func writeJSONFile(path string, stdout io.Writer, v any) error {
	if path == "" {
		return nil
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if path == "-" {
		_, err = stdout.Write(b)
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

func printSummary(w io.Writer, s *testbed.Summary) {
	fmt.Fprintf(w, `
Summary (%.0fs of readings)
  readings            %d (%.0f/s), abnormal %d (%.1f%%), %d past their rule's cool-down
  records             %d stored, %d anchored
  alerts              %d delivered, %d misdelivered; latency p50 %.0f ms, p99 %.0f ms
  anchoring           p50 %.0f ms, p99 %.0f ms from the reading to its anchor on the chain
  proofs              %d verified, %d failed
  revoke              %d reads refused after revoke, %d allowed
  forgeries           %d refused, %d accepted
  transaction 3       %d provider records opened by their patient
  device commands     %d applied
  erasure             %d records erased, %d of their proofs verified after the erasure
  chain privacy       an outsider reading every block finds: %v
  chain               height %d; %d bytes while streaming = %.2f bytes per reading
  re-elections        %d; longest time between two blocks %d ms
  migrations          %d members moved to their overlay head's cluster on the ledger
`, s.DurationS, s.Readings, s.ReadingsPerS, s.Abnormal, 100*s.AbnormalFraction, s.Alerts, s.RecordsStored, s.RecordsAnchored,
		s.AlertsDelivered, s.AlertsMisdelivered, s.AlertLatencyMs.P50, s.AlertLatencyMs.P99,
		s.AnchorLatencyMs.P50, s.AnchorLatencyMs.P99, s.ProofsVerified, s.ProofsFailed,
		s.ReadsAfterRevokeRefused, s.ReadsAfterRevokeAllowed, s.ForgedRefused, s.ForgedAccepted, s.ProviderRecords,
		s.CommandsApplied, s.ErasedRecords, s.ProofsAfterErasure, findings(s.ChainFindings), s.ChainHeight, s.ChainBytes, s.OnchainBytesPerReading, s.Reelections, s.ChainStalledMsMax, s.Migrations)
	if len(s.Failures) == 0 {
		fmt.Fprintln(w, "  invariants          all hold")
	} else {
		for _, f := range s.Failures {
			fmt.Fprintf(w, "  BROKEN              %s\n", f)
		}
	}
}

// findings describes an outsider's findings on the chain.
func findings(m map[string]int) string {
	if len(m) == 0 {
		return "nothing"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%d %s", m[k], k))
	}
	return strings.Join(parts, ", ")
}

// lineWriter serializes writes to w, so that goroutines writing whole lines
// neither race nor interleave.
type lineWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lineWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
