package main

// The edge as separate processes: a patient's gateway, the wearables, and
// the patient's own commands.

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/vitalchain/vitalchain/contract"
	"github.com/vitalchain/vitalchain/device"
	"github.com/vitalchain/vitalchain/gateway"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/internal/cli"
	"github.com/vitalchain/vitalchain/internal/gatewaycmd"
	"github.com/vitalchain/vitalchain/ledger"
	"github.com/vitalchain/vitalchain/pki"
	"github.com/vitalchain/vitalchain/relation"
	"github.com/vitalchain/vitalchain/vital"
	"github.com/vitalchain/vitalchain/wearable"
)

func runGateway(args []string, stdout, stderr io.Writer) error {
	return gatewaycmd.Run("vitalchain gateway", args, stdout, stderr)
}

func runDevice(args []string, stdout, stderr io.Writer) error {
	fs := cli.NewFlags("vitalchain", "device", "device --patient ID --keys DIR [--seed N] [--broker URL] [--interval D] [--ledger URL]", stderr)
	patientHex := fs.String("patient", "", "the patient's `ID` (64 hex digits)")
	keys := fs.String("keys", "", "the `directory` of the wearables' key files ('patient devices --out'); they keep their boot count and command latches there")
	seed := fs.Uint64("seed", 1, "the simulated patient's `seed`: physiology, rhythm and episodes")
	broker := fs.String("broker", "mqtts://127.0.0.1:8883", "`URL` of the patient's gateway's MQTT broker (TLS; each wearable authenticates with its key)")
	brokerCA := fs.String("broker-ca", "", "for an external broker: the CA certificate `file` its certificate is checked against (instead of pinning the patient's key)")
	brokerCerts := fs.String("broker-certs", "", "for an external broker: the `directory` of the devices' client certificates, ID.pem and ID-key.pem for each device ID")
	interval := fs.Duration("interval", 0, "sample every device this often (0: each device's own interval)")
	abnormal := fs.Float64("abnormal", 0.05, "share of abnormal readings over a long run")
	speedup := fs.Float64("speedup", 1, "play episodes this many times faster than life")
	ledgerURL := fs.String("ledger", "", "RPC `URL` of a ledger node: with it, devices obey the commands their patient's gateway signs")
	trust := cli.AddTrust(fs)
	level := fs.String("log-level", "info", "log `level`")
	if err := cli.ParseFlags(fs, args); err != nil {
		return err
	}
	pid, err := identity.ParseID(*patientHex)
	if err != nil || fs.NArg() != 0 || *keys == "" {
		return fmt.Errorf("%w: device needs --patient ID and --keys DIR: %v", cli.ErrUsage, err)
	}
	log, err := cli.NewLogger(stderr, *level)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	kit, err := device.LoadKit(pid, *seed, device.LoadOptions{Interval: *interval, AbnormalFraction: *abnormal, Speedup: *speedup,
		Keys: device.KeyFiles(*keys, false)})
	if err != nil {
		return err
	}
	cfg := wearable.Config{Kit: kit, Broker: *broker, Log: log, State: *keys}
	if *brokerCA != "" || *brokerCerts != "" {
		cfg.TLS = func(dev identity.ID) (*tls.Config, error) {
			var cert, key string
			if *brokerCerts != "" {
				cert, key = filepath.Join(*brokerCerts, dev.Hex()+".pem"), filepath.Join(*brokerCerts, dev.Hex()+"-key.pem")
			}
			return pki.ClientCertConfig(*brokerCA, cert, key)
		}
	}
	if *ledgerURL != "" {
		cl, err := trust.Ledger(*ledgerURL, log)
		if err != nil {
			return err
		}
		m, err := cl.Member(ctx, pid)
		cl.Close()
		if err != nil {
			return fmt.Errorf("patient %s: %w", pid, err)
		}
		if cfg.Patient, err = m.VerifyingKey(); err != nil {
			return err
		}
	}
	w, err := wearable.Connect(ctx, cfg)
	if err != nil {
		return err
	}
	defer w.Close()
	fmt.Fprintf(stdout, "%d wearables of patient %s publishing to %s\n", len(kit.Devices()), pid.Hex(), *broker)
	w.Run(ctx)
	fmt.Fprintf(stdout, "%d readings published\n", w.Stats().Published)
	return nil
}

const patientUsage = `Usage: vitalchain patient <command> --key FILE [flags]

A patient's own commands, with the patient's key file:

    patient devices --key FILE --out DIR [--ledger URL]
        Register the six wearables of the simulated kit, with fresh random
        keys written to key files in DIR (kept if they are there already; see
        'vitalchain device'), bound to the patient.
    patient contract --key FILE --provider-key FILE[,FILE…] [--ledger URL]
        Deploy the default alert contract (contract.DefaultRules) with these
        providers, each under its relation key for this patient (registered
        first), accepting it with the key it derives from its key file.
    patient grant --key FILE (--binding FILE | --provider ID) [--scope KINDS] [--commands] [--for D] [--ledger URL]
        Transaction 2: give a provider the current session key for the vital
        signs in KINDS (comma-separated, default all), for D (default 24h);
        --commands lets it command the patient's devices. --binding is the
        provider's binding of its relation key ('vitalchain provider
        bind'): checked against the provider's registration and registered,
        so that the grant names a key of this patient's only; --provider
        alone grants a provider already in the care team again.
    patient revoke --key FILE --provider ID [--ledger URL]
        End a provider's grant and start a new epoch whose key it never gets.
    patient grants --key FILE [--ledger URL]
        List the patient's care team: each grant's provider (its registered
        ID, from the binding the ledger keeps sealed to the patient) and the
        relation key the ledger shows instead.
    patient migrate --key FILE --cluster N [--out DIR] [--ledger URL]
        Move the patient, with the wearables whose key files are in DIR, to cluster N (the
        overlay attached it to that cluster's head).
    patient access-log --key FILE [--cloud URL] [--from N] [--fhir] [--ledger URL]
        The patient's audit trail (an accounting of disclosures): every read
        of its records, every refusal, every alert delivered to a provider,
        every listing and erasure, each with who asked (their signed
        request) and when, verified: each entry's inclusion proof into the
        cloud's access log, that log's consistency with its checkpoint
        anchored on the ledger. Fails if anything does not verify. With
        --fhir it prints the verified entries as a FHIR R4 Bundle of
        AuditEvents instead (each with its leaf hash, log index, anchor
        height and the requester's signed request).
    patient erase --key FILE [--cloud URL] [--ledger URL]
        Have the cloud erase the ciphertexts of all the patient's records
        (GDPR Art. 17); their leaves stay, so the records log's anchors and
        proofs still verify. Copies providers already read are beyond it.
`

func runPatient(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, patientUsage)
		return fmt.Errorf("%w: patient needs a command", cli.ErrUsage)
	}
	sub := args[0]
	fs := cli.NewFlags("vitalchain", "patient "+sub, "patient "+sub+" --key FILE [flags]", stderr)
	fs.Usage = func() { fmt.Fprint(stderr, patientUsage) }
	keyFile := fs.String("key", "", "the patient's key `file`")
	ledgerURL := fs.String("ledger", "http://127.0.0.1:26657", "RPC `URL` of a ledger node")
	cloudURL := fs.String("cloud", "http://127.0.0.1:8420", "`URL` of the cloud (of each of its processes, comma-separated: writes go to the one that sequences)")
	trust := cli.AddTrust(fs)
	provHex := fs.String("provider", "", "the provider's `ID`")
	scope := fs.String("scope", "", "vital signs, comma-separated (default: all)")
	commands := fs.Bool("commands", false, "allow the provider to command the patient's devices")
	forD := fs.Duration("for", 24*time.Hour, "how long the grant lasts")
	keyDir := fs.String("out", "", "the `directory` of the wearables' key files (devices, migrate)")
	from := fs.Uint64("from", 0, "first access-log index")
	asFHIR := fs.Bool("fhir", false, "print the access log as a FHIR R4 Bundle of AuditEvents (access-log)")
	provKeys := fs.String("provider-key", "", "the providers' key `files`, comma-separated (contract)")
	bindingFile := fs.String("binding", "", "the provider's binding `file` of its relation key (grant; 'vitalchain provider bind')")
	cluster := fs.Uint("cluster", 0, "the `cluster` to move to (migrate)")
	switch sub {
	case "contract", "devices", "grant", "revoke", "grants", "access-log", "erase", "migrate":
	case "-h", "--help", "help":
		fmt.Fprint(stdout, patientUsage)
		return nil
	default:
		fmt.Fprint(stderr, patientUsage)
		return fmt.Errorf("%w: unknown patient command %q", cli.ErrUsage, sub)
	}
	if err := cli.ParseFlags(fs, args[1:]); err != nil {
		return err
	}
	if *keyFile == "" || fs.NArg() != 0 {
		return fmt.Errorf("%w: patient %s needs --key", cli.ErrUsage, sub)
	}
	if sub == "migrate" && *cluster == 0 {
		return fmt.Errorf("%w: patient migrate needs --cluster", cli.ErrUsage)
	}
	if (sub == "devices" || sub == "migrate") && *keyDir == "" {
		return fmt.Errorf("%w: patient %s needs --out DIR, the wearables' key files", cli.ErrUsage, sub)
	}
	id, err := identity.ReadFile(*keyFile)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cl, err := trust.Ledger(*ledgerURL, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	defer cl.Close()
	if sub == "access-log" || sub == "erase" {
		cc, err := trust.Cloud(*cloudURL)
		if err != nil {
			return err
		}
		if sub == "erase" {
			return erase(ctx, stdout, cl, cc, id.Signing)
		}
		return printAuditTrail(ctx, stdout, cl, cc, id, *from, *asFHIR)
	}
	if sub == "contract" {
		terms := contract.Terms{Version: contract.Version, Patient: id.ID(), Rules: contract.DefaultRules(), Name: "vital signs"}
		var provs []*identity.Identity
		for _, f := range strings.Split(*provKeys, ",") {
			if f = strings.TrimSpace(f); f == "" {
				continue
			}
			pk, err := identity.ReadFile(f)
			if err != nil {
				return err
			}
			provs = append(provs, pk)
		}
		if len(provs) == 0 {
			return fmt.Errorf("%w: patient contract needs --provider-key", cli.ErrUsage)
		}
		// Each provider is a party under its relation key for this
		// patient, registered first (as its binding would be).
		pt, err := gateway.OpenPatient(ctx, id, cl, nil)
		if err != nil {
			return err
		}
		for i, pk := range provs {
			b, rel, err := relation.Bind(pk, id.ID())
			if err != nil {
				return err
			}
			if _, err := pt.Relate(ctx, b); err != nil {
				return err
			}
			provs[i] = rel
		}
		slices.SortFunc(provs, func(a, b *identity.Identity) int { x, y := a.ID(), b.ID(); return slices.Compare(x[:], y[:]) })
		for _, pk := range provs {
			terms.Providers = append(terms.Providers, pk.ID())
		}
		// Sealed: the ledger gets a commitment and the terms encrypted to
		// the parties; each provider accepts the commitment it computes.
		dc, err := ledger.NewDeployContract(id, terms, provs...)
		if err != nil {
			return err
		}
		s, err := cl.Signer(ctx, id.Signing)
		if err != nil {
			return err
		}
		cm, err := s.Submit(ctx, dc)
		if err != nil {
			return err
		}
		h := dc.ID()
		fmt.Fprintf(stdout, "contract %x deployed at height %d with %d providers\n", h, cm.Height, len(provs))
		return nil
	}
	if sub == "devices" {
		kit, err := device.LoadKit(id.ID(), 1, device.LoadOptions{Keys: device.KeyFiles(*keyDir, true)})
		if err != nil {
			return err
		}
		s, err := cl.Signer(ctx, id.Signing)
		if err != nil {
			return err
		}
		for _, d := range kit.Devices() {
			r, err := ledger.NewRegister(d.Identity(), 0, id.ID(), nil)
			if err != nil {
				return err
			}
			_, err = s.Submit(ctx, r)
			if err != nil && !errors.Is(err, ledger.Rejected(ledger.CodeDuplicate)) {
				return fmt.Errorf("device %s: %w", d.Name(), err)
			}
			fmt.Fprintf(stdout, "%s  %s  %s\n", d.ID().Hex(), d.Name(), device.KeyFile(*keyDir, d.Name()))
		}
		return nil
	}
	p, err := gateway.OpenPatient(ctx, id, cl, nil)
	if err != nil {
		return err
	}
	switch sub {
	case "migrate":
		kit, err := device.LoadKit(id.ID(), 1, device.LoadOptions{Keys: device.KeyFiles(*keyDir, false)})
		if err != nil {
			return err
		}
		var devs []identity.ID
		for _, d := range kit.Devices() {
			devs = append(devs, d.ID())
		}
		if err := p.Migrate(ctx, uint32(*cluster), devs); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "patient %s and %d wearables moved to cluster %d\n", id.ID().Hex(), len(devs), *cluster)
		return nil
	case "grants":
		gs, err := p.CareTeam(ctx)
		if err != nil {
			return err
		}
		now := time.Now().UnixMilli()
		for _, g := range gs {
			state := "active"
			switch {
			case g.Grant.Revoked != 0:
				state = fmt.Sprintf("revoked at height %d", g.Grant.Revoked)
			case !g.Grant.Active(now):
				state = "expired"
			}
			// The scope is sealed on the ledger: the patient's key opens it
			// (the current epoch's grants only).
			scope, err := p.Scope(ctx, g.Provider)
			if err != nil || g.Grant.Epoch != p.Epoch() {
				scope = nil
			}
			under := "as relation key " + g.Provider.Hex()
			if g.Linkable {
				under = "under its registered key (linkable)"
			}
			fmt.Fprintf(stdout, "%s  %s  epoch %d  scope %v  commands %v  until %s  %s\n", g.Real.Hex(), under, g.Grant.Epoch, scope,
				g.Grant.Commands, time.UnixMilli(g.Grant.Expiry).UTC().Format(time.RFC3339), state)
		}
		return nil
	}
	var prov identity.ID
	if sub == "grant" && *bindingFile != "" {
		raw, err := os.ReadFile(*bindingFile)
		if err != nil {
			return err
		}
		b, err := relation.Parse(raw)
		if err != nil {
			return err
		}
		if _, err := p.Relate(ctx, b); err != nil {
			return err
		}
		prov = b.Provider
	} else if prov, err = identity.ParseID(*provHex); err != nil {
		return fmt.Errorf("%w: --provider: %v", cli.ErrUsage, err)
	}
	if sub == "revoke" {
		if err := p.Revoke(ctx, prov); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "revoked %s; epoch %d started\n", prov.Hex(), p.Epoch())
		return nil
	}
	kinds := vital.Kinds()
	if *scope != "" {
		kinds = nil
		for _, k := range strings.Split(*scope, ",") {
			kind, err := vital.ParseKind(strings.TrimSpace(k))
			if err != nil {
				return fmt.Errorf("%w: --scope: %v", cli.ErrUsage, err)
			}
			kinds = append(kinds, kind)
		}
	}
	if err := p.Grant(ctx, prov, kinds, *commands, time.Now().Add(*forD)); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "granted %s epoch %d for %v until %s\n", prov.Hex(), p.Epoch(), kinds, time.Now().Add(*forD).UTC().Format(time.RFC3339))
	return nil
}
