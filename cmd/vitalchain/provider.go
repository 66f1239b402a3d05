package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vitalchain/vitalchain/client"
	"github.com/vitalchain/vitalchain/cloud/cloudapi"
	"github.com/vitalchain/vitalchain/command"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/internal/cli"
	"github.com/vitalchain/vitalchain/internal/health"
	"github.com/vitalchain/vitalchain/provider"
	"github.com/vitalchain/vitalchain/relation"
	"github.com/vitalchain/vitalchain/vital"
)

const providerUsage = `Usage: vitalchain provider <subcommand> [flags]

A healthcare provider's client: alerts, verified records, FHIR export,
records for a patient (transaction 3) and device commands.

A provider appears on the ledger under a relation key per patient, never
its registered key (docs/privacy.md): 'bind' makes the binding that the
patient's client checks and registers ('vitalchain patient grant
--binding FILE'); --patients names the patients whose relation keys the
other subcommands use (alerts, fetch, serve).

Subcommands:
    bind --key FILE --patient ID --out FILE
                Write this provider's binding of its relation key for a
                patient, signed by its key, to hand to the patient.
    alerts --key FILE --cloud URL --ledger URL [--patients IDS] [--from N] [--follow] [--fetch]
                Print the alerts due to this provider, one line each: time of
                the reading, patient, vital sign, severity, record ID, latency.
                --fetch also reads and verifies each record. Without --follow,
                print what is there now and exit.
    alerts ack|resolve --key FILE --cloud URL --ledger URL ALERT_ID
    alerts snooze --for D --key FILE --cloud URL --ledger URL ALERT_ID
                Acknowledge, resolve or snooze (for D, at most 24h) an alert:
                a change signed with the provider's key and kept by the cloud
                beside the alert, for every provider of the contract, the
                patient's portal and this command alike. Needs a live grant
                from the alert's patient. Prints the alert's state after it.
    alerts states --key FILE --cloud URL --ledger URL [--open]
                Print the state of each alert of this provider's patients that
                someone changed, and the no-data alerts: one line each, with
                who acknowledged or resolved it and where it was escalated.
                Each change's signature is checked. --open: open ones only.
    fetch --key FILE --cloud URL --ledger URL RECORD_ID
                Read one record, verify it end to end, print the reading and
                its proof.
    export --fhir [--format bundle|ndjson] --key FILE --cloud URL --ledger URL RECORD_ID...
                Read and verify records and write their readings to stdout as
                FHIR R4 Observations.
    send --key FILE --cloud URL --ledger URL --patient ID --file FILE [--kind KIND]
                Send a patient a record (transaction 3): stored encrypted in
                the cloud, its key wrapped to the patient on the ledger.
    command --key FILE --ledger URL --device ID --interval D
                Set a patient's device's sampling interval (needs a grant
                that allows commands).
    serve --key FILE --cloud URL --ledger URL [--listen ADDR] [--tls-cert F --tls-key F]
          [--webhook URLS --webhook-secret FILE --data DIR]
                Serve the provider portal: a live triage list, alerts with
                their verified proofs, charts, and the actions above, in a
                browser. Prints a one-time login link (another on SIGHUP).
                Beyond loopback it needs TLS. --webhook delivers alert events
                (IDs and links only) to paging systems, signed, retried for
                a day, kept in DIR across restarts. --fhir also serves the
                FHIR R4 API under /fhir/ (needs --data DIR).
    token --data DIR --client NAME --scope SCOPES [--patient ID] [--ttl D]
    token --data DIR --revoke NAME
                Issue a bearer token of the FHIR API for a client the
                provider trusts, with SMART scopes ("patient/Observation.rs
                patient/Patient.rs", "patient/*.rs"); it is printed once and
                stored hashed in DIR. --revoke removes a client's tokens.

Run 'vitalchain provider <subcommand> -h' for its flags.
`

func runProvider(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, providerUsage)
		return fmt.Errorf("%w: provider needs a subcommand: bind, alerts, fetch, export, send, command, serve or token", cli.ErrUsage)
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, providerUsage)
		return nil
	case "bind":
		return runProviderBind(args[1:], stdout, stderr)
	case "alerts":
		if len(args) > 1 {
			switch args[1] {
			case "ack", "resolve", "snooze":
				return runProviderAlertChange(args[1], args[2:], stdout, stderr)
			case "states":
				return runProviderAlertStates(args[2:], stdout, stderr)
			}
		}
		return runProviderAlerts(args[1:], stdout, stderr)
	case "fetch":
		return runProviderFetch(args[1:], stdout, stderr)
	case "export":
		return runProviderExport(args[1:], stdout, stderr)
	case "send":
		return runProviderSend(args[1:], stdout, stderr)
	case "command":
		return runProviderCommand(args[1:], stdout, stderr)
	case "serve":
		return runProviderServe(args[1:], stdout, stderr)
	case "token":
		return runProviderToken(args[1:], stdout, stderr)
	}
	return fmt.Errorf("%w: unknown provider subcommand %q (want bind, alerts, fetch, export, send, command or serve)", cli.ErrUsage, args[0])
}

// providerFlags are the flags every provider subcommand takes.
type providerFlags struct {
	key, cloud, ledger, level *string
	patients                  *string
	trust                     *cli.Trust
	checks                    []health.Check // set by open
	chain                     *client.Client // the ledger's client, once open
}

func addProviderFlags(fs *flag.FlagSet) *providerFlags {
	return &providerFlags{
		key:      fs.String("key", "", "the provider's key `file` (role provider, registered on the ledger)"),
		cloud:    fs.String("cloud", "http://127.0.0.1:8420", "`URL` of the cloud's API (of each of its processes, comma-separated)"),
		ledger:   fs.String("ledger", "http://127.0.0.1:26657", "RPC `URL` of a ledger node"),
		level:    fs.String("log-level", "warn", "log `level`: debug, info, warn or error"),
		patients: fs.String("patients", "", "the `IDs` (comma-separated) of patients that registered this provider's relation key: their alerts come under it"),
		trust:    cli.AddTrust(fs),
	}
}

// open reads the key and returns the Provider, a context that ends on
// Ctrl-C or SIGTERM (and after limit, if it is not 0), and a function that
// releases both.
func (f *providerFlags) open(stderr io.Writer, limit time.Duration) (*provider.Provider, context.Context, func(), error) {
	if *f.key == "" {
		return nil, nil, nil, fmt.Errorf("%w: --key is required", cli.ErrUsage)
	}
	log, err := cli.NewLogger(stderr, *f.level)
	if err != nil {
		return nil, nil, nil, err
	}
	id, err := identity.ReadFile(*f.key)
	if err != nil {
		return nil, nil, nil, err
	}
	var patients []identity.ID
	for _, s := range strings.Split(*f.patients, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		pid, err := providerParseID("--patients", s)
		if err != nil {
			return nil, nil, nil, err
		}
		patients = append(patients, pid)
	}
	cl, err := f.trust.Ledger(*f.ledger, log)
	if err != nil {
		return nil, nil, nil, err
	}
	cc, err := f.trust.Cloud(*f.cloud)
	if err != nil {
		cl.Close()
		return nil, nil, nil, err
	}
	p, err := provider.New(provider.Config{Key: id, Chain: cl, Cloud: cc, Log: log, Patients: patients})
	if err != nil {
		cl.Close()
		return nil, nil, nil, err
	}
	f.chain = cl
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	cancel := func() {}
	if limit > 0 {
		ctx, cancel = context.WithTimeout(ctx, limit)
	}
	// What a server on this provider answers /readyz with.
	f.checks = []health.Check{
		{Name: "ledger", Func: func(ctx context.Context) error { _, err := cl.Height(ctx); return err }},
		{Name: "cloud", Func: cc.Ping},
	}
	return p, ctx, func() { cancel(); stop(); cl.Close() }, nil
}

// fetch reads a record: of the patient --patients names, if it names one
// (the read is signed with the provider's relation key for that patient),
// else as Fetch does.
func (f *providerFlags) fetch(ctx context.Context, p *provider.Provider, id [32]byte) (*provider.Fetched, error) {
	if ps := p.Patients(); len(ps) == 1 {
		return p.FetchFor(ctx, ps[0], id)
	}
	return p.Fetch(ctx, id)
}

// providerTimeFormat is how provider output writes times: UTC, to the millisecond.
const providerTimeFormat = "2006-01-02T15:04:05.000Z"

// providerParseID parses a 64-hex-digit record or actor ID.
func providerParseID(what, s string) ([32]byte, error) {
	id, err := identity.ParseID(s)
	if err != nil {
		return id, fmt.Errorf("%w: %s: %v", cli.ErrUsage, what, err)
	}
	return id, nil
}

func runProviderBind(args []string, stdout, stderr io.Writer) error {
	fs := cli.NewFlags("vitalchain", "provider bind", "provider bind --key FILE --patient ID --out FILE", stderr)
	key := fs.String("key", "", "the provider's key `file` (role provider, registered on the ledger)")
	patientHex := fs.String("patient", "", "the patient's actor `ID` (64 hex digits)")
	out := fs.String("out", "", "the binding's `file`, for the patient")
	if err := cli.ParseFlags(fs, args); err != nil {
		return err
	}
	if *key == "" || *out == "" || fs.NArg() != 0 {
		return fmt.Errorf("%w: provider bind needs --key, --patient and --out", cli.ErrUsage)
	}
	patient, err := providerParseID("--patient", *patientHex)
	if err != nil {
		return err
	}
	id, err := identity.ReadFile(*key)
	if err != nil {
		return err
	}
	b, _, err := relation.Bind(id, identity.ID(patient))
	if err != nil {
		return err
	}
	raw, err := b.Marshal()
	if err != nil {
		return err
	}
	if err := os.WriteFile(*out, raw, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "relation key %s of provider %s for patient %s written to %s\n", b.ID().Hex(), id.ID().Hex(), identity.ID(patient).Hex(), *out)
	return nil
}

func runProviderAlerts(args []string, stdout, stderr io.Writer) error {
	fs := cli.NewFlags("vitalchain", "provider alerts", "provider alerts --key FILE --cloud URL --ledger URL [--from N] [--follow] [--fetch]", stderr)
	pf := addProviderFlags(fs)
	from := fs.Uint64("from", 0, "the first record `index` of the cloud's log to consider")
	follow := fs.Bool("follow", false, "keep waiting for alerts until interrupted")
	fetch := fs.Bool("fetch", false, "read and verify each alert's record, and print its value and proof")
	if err := cli.ParseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("%w: provider alerts takes no arguments", cli.ErrUsage)
	}
	p, ctx, done, err := pf.open(stderr, 0)
	if err != nil {
		return err
	}
	defer done()

	var mu sync.Mutex // one line at a time
	emit := func(a provider.Alert) {
		line := providerAlertLine(a)
		if *fetch {
			line += "  " + providerFetchSummary(ctx, p, a.ID)
		}
		mu.Lock()
		fmt.Fprintln(stdout, line)
		mu.Unlock()
	}
	if !*follow {
		// What is there now: a first poll waits a little, the next ones
		// (an answer holds at most a few hundred) not at all.
		n, next, wait := 0, *from, 2*time.Second
		for {
			pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			alerts, nx, err := p.Poll(pctx, next, wait)
			cancel()
			if err != nil {
				return err
			}
			for _, a := range alerts {
				emit(a)
			}
			n, next, wait = n+len(alerts), nx, 0
			if len(alerts) == 0 {
				break
			}
		}
		providerReportStats(stderr, p.Stats())
		fmt.Fprintf(stderr, "%d alerts; continue with --from %d\n", n, next)
		return nil
	}

	// Following: report the anchors of the cloud of the first alert's patient.
	var anchorsOnce sync.Once
	handle := func(a provider.Alert) {
		emit(a)
		anchorsOnce.Do(func() {
			cloudID, err := p.CloudOf(ctx, a.Header.Patient)
			if err != nil {
				fmt.Fprintf(stderr, "not following anchors: %v\n", err)
				return
			}
			go p.FollowAnchors(ctx, cloudID, func(size uint64, at time.Time) {
				mu.Lock()
				fmt.Fprintf(stdout, "%s  anchored: records below %d (cloud %s)\n", at.UTC().Format(providerTimeFormat), size, cloudID)
				mu.Unlock()
			})
		})
	}
	err = p.Follow(ctx, *from, handle)
	providerReportStats(stderr, p.Stats())
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// providerAlertLine is one alert: reading time, patient, vital sign, severity
// (both decrypted: the cloud does not see them), record ID, latency from the
// reading to this provider.
func providerAlertLine(a provider.Alert) string {
	return fmt.Sprintf("%s  patient %s  %-16s %-8s  record %x  latency %d ms",
		time.UnixMilli(a.Header.Time).UTC().Format(providerTimeFormat), a.Header.Patient,
		a.Kind, a.Severity, a.ID, a.Latency().Milliseconds())
}

// providerFetchSummary fetches a record and says its value and proof, or why not.
func providerFetchSummary(ctx context.Context, p *provider.Provider, id [32]byte) string {
	f, err := p.Fetch(ctx, id)
	if err != nil {
		var re *cloudapi.RequestError
		if errors.As(err, &re) {
			return "refused by the cloud: " + re.Code
		}
		return "NOT VERIFIED: " + err.Error()
	}
	return fmt.Sprintf("%s %s  proof ok (%s)", f.Reading.Value, f.Reading.Unit, providerAnchoredWord(f.Anchored))
}

func providerAnchoredWord(anchored bool) string {
	if anchored {
		return "anchored"
	}
	return "not yet anchored"
}

func providerReportStats(w io.Writer, s provider.Stats) {
	if s.AlertsForged > 0 || s.Gaps > 0 {
		fmt.Fprintf(w, "warning: %d alerts failed verification and were dropped; the cloud reported %d gaps\n", s.AlertsForged, s.Gaps)
	}
}

func runProviderFetch(args []string, stdout, stderr io.Writer) error {
	fs := cli.NewFlags("vitalchain", "provider fetch", "provider fetch --key FILE --cloud URL --ledger URL RECORD_ID", stderr)
	pf := addProviderFlags(fs)
	if err := cli.ParseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("%w: provider fetch takes one record ID", cli.ErrUsage)
	}
	id, err := providerParseID("record ID", fs.Arg(0))
	if err != nil {
		return err
	}
	p, ctx, done, err := pf.open(stderr, time.Minute)
	if err != nil {
		return err
	}
	defer done()
	f, err := pf.fetch(ctx, p, id)
	if err != nil {
		return err
	}
	r := f.Reading
	kind, _ := r.Kind()
	fmt.Fprintf(stdout, "record   %x\n", f.ID)
	fmt.Fprintf(stdout, "patient  %s\n", r.Patient.Hex())
	fmt.Fprintf(stdout, "device   %s\n", r.Device.Hex())
	fmt.Fprintf(stdout, "reading  %s %s %s at %s (device seq %d), signed by the device\n",
		kind, r.Value, r.Unit, r.Timestamp().UTC().Format(providerTimeFormat), r.Seq)
	withheld := ""
	if !f.Header.Alert {
		withheld = " (no alert: the rule's cool-down withheld it)"
	}
	fmt.Fprintf(stdout, "alert    %s%s, contract %x, key epoch %d, signed by the patient\n",
		f.Severity, withheld, f.Header.Contract[:8], f.Header.Epoch)
	proof := fmt.Sprintf("ok: leaf %d of the cloud's log at size %d, root %x", f.Index, f.Checkpoint.Size, f.Checkpoint.Root[:8])
	if f.Anchored {
		proof += fmt.Sprintf(", anchored on the ledger by cloud %s", f.Cloud)
	} else {
		proof += ", not yet anchored on the ledger"
	}
	fmt.Fprintf(stdout, "proof    %s\n", proof)
	return nil
}

func runProviderExport(args []string, stdout, stderr io.Writer) error {
	fs := cli.NewFlags("vitalchain", "provider export", "provider export --fhir [--format bundle|ndjson] --key FILE --cloud URL --ledger URL RECORD_ID...", stderr)
	pf := addProviderFlags(fs)
	fhir := fs.Bool("fhir", false, "export as HL7 FHIR R4 Observations (the only format)")
	format := fs.String("format", provider.FormatBundle, "`format`: bundle (one Bundle) or ndjson (one Observation per line)")
	if err := cli.ParseFlags(fs, args); err != nil {
		return err
	}
	if !*fhir || fs.NArg() == 0 {
		return fmt.Errorf("%w: provider export needs --fhir and at least one record ID", cli.ErrUsage)
	}
	if *format != provider.FormatBundle && *format != provider.FormatNDJSON {
		return fmt.Errorf("%w: --format is bundle or ndjson, not %q", cli.ErrUsage, *format)
	}
	var ids [][32]byte
	for _, a := range fs.Args() {
		id, err := providerParseID("record ID", a)
		if err != nil {
			return err
		}
		ids = append(ids, id)
	}
	p, ctx, done, err := pf.open(stderr, 5*time.Minute)
	if err != nil {
		return err
	}
	defer done()
	var fetched []*provider.Fetched
	for _, id := range ids {
		f, err := pf.fetch(ctx, p, id)
		if err != nil {
			return err // nothing is written: an export is all verified or nothing
		}
		fetched = append(fetched, f)
	}
	return provider.Export(stdout, fetched, *format)
}

func runProviderSend(args []string, stdout, stderr io.Writer) error {
	fs := cli.NewFlags("vitalchain", "provider send", "provider send --key FILE --cloud URL --ledger URL --patient ID --file FILE [--kind KIND]", stderr)
	pf := addProviderFlags(fs)
	patientHex := fs.String("patient", "", "the patient's actor `ID` (64 hex digits)")
	file := fs.String("file", "", "the record's content: a `file`, or - for standard input")
	kindName := fs.String("kind", "", "the vital sign the record is about (glucose, heart_rate…), if any")
	if err := cli.ParseFlags(fs, args); err != nil {
		return err
	}
	if *patientHex == "" || *file == "" || fs.NArg() != 0 {
		return fmt.Errorf("%w: provider send needs --patient and --file", cli.ErrUsage)
	}
	patient, err := providerParseID("patient ID", *patientHex)
	if err != nil {
		return err
	}
	var kind vital.Kind
	if *kindName != "" {
		if kind, err = vital.ParseKind(*kindName); err != nil {
			return fmt.Errorf("%w: %v", cli.ErrUsage, err)
		}
	}
	var content []byte
	if *file == "-" {
		content, err = io.ReadAll(io.LimitReader(os.Stdin, 1<<20))
	} else {
		content, err = os.ReadFile(*file)
	}
	if err != nil {
		return err
	}
	p, ctx, done, err := pf.open(stderr, time.Minute)
	if err != nil {
		return err
	}
	defer done()
	id, err := p.SendRecord(ctx, patient, kind, content)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "sent record %x to patient %s: stored in the cloud, key on the ledger\n", id, identity.ID(patient))
	return nil
}

func runProviderCommand(args []string, stdout, stderr io.Writer) error {
	fs := cli.NewFlags("vitalchain", "provider command", "provider command --key FILE --ledger URL --device ID --interval D", stderr)
	pf := addProviderFlags(fs)
	deviceHex := fs.String("device", "", "the device's actor `ID` (64 hex digits)")
	interval := fs.Duration("interval", 0, "the new sampling `interval` (100ms to 24h)")
	if err := cli.ParseFlags(fs, args); err != nil {
		return err
	}
	if *deviceHex == "" || *interval == 0 || fs.NArg() != 0 {
		return fmt.Errorf("%w: provider command needs --device and --interval", cli.ErrUsage)
	}
	device, err := providerParseID("device ID", *deviceHex)
	if err != nil {
		return err
	}
	if *interval < command.MinSamplingInterval || *interval > command.MaxSamplingInterval || *interval%time.Millisecond != 0 {
		return fmt.Errorf("%w: --interval must be whole milliseconds from %s to %s", cli.ErrUsage, command.MinSamplingInterval, command.MaxSamplingInterval)
	}
	p, ctx, done, err := pf.open(stderr, time.Minute)
	if err != nil {
		return err
	}
	defer done()
	if err := p.SetSamplingInterval(ctx, device, *interval); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "device %s: sampling interval %s committed on the ledger\n", identity.ID(device), *interval)
	return nil
}
