package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"time"

	"github.com/vitalchain/vitalchain/cloud/cloudapi"
	"github.com/vitalchain/vitalchain/device"
	"github.com/vitalchain/vitalchain/envelope"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/internal/cli"
	"github.com/vitalchain/vitalchain/ledger"
	"github.com/vitalchain/vitalchain/mqtt"
	"github.com/vitalchain/vitalchain/reading"
	"github.com/vitalchain/vitalchain/record"
	"github.com/vitalchain/vitalchain/vital"
)

// summary is what `demo --json` and `bench e2e --json` write.
type summary struct {
	DurationS               float64         `json:"duration_s"`
	Patients                int             `json:"patients"`
	Providers               int             `json:"providers"`
	Devices                 int             `json:"devices"`
	Readings                uint64          `json:"readings"`
	ReadingsPerS            float64         `json:"readings_per_s"`
	Abnormal                uint64          `json:"abnormal"`
	Alerts                  uint64          `json:"alerts_raised"` // abnormal readings past their rule's cool-down
	AbnormalFraction        float64         `json:"abnormal_fraction"`
	RecordsStored           uint64          `json:"records_stored"`
	RecordsAnchored         uint64          `json:"records_anchored"`
	AlertsDelivered         uint64          `json:"alerts_delivered"`
	AlertsMisdelivered      uint64          `json:"alerts_misdelivered"`
	ReadsAfterRevokeAllowed uint64          `json:"reads_after_revoke_allowed"`
	ReadsAfterRevokeRefused uint64          `json:"reads_after_revoke_refused"`
	ProofsVerified          uint64          `json:"proofs_verified"`
	ProofsFailed            uint64          `json:"proofs_failed"`
	ForgedRefused           uint64          `json:"forged_refused"`
	ForgedAccepted          uint64          `json:"forged_accepted"`
	ProviderRecords         uint64          `json:"provider_records_opened"`
	CommandsApplied         uint64          `json:"device_commands_applied"`
	AlertLatencyMs          percentiles     `json:"alert_latency_ms"`
	AnchorLatencyMs         percentiles     `json:"anchor_latency_ms"`
	ChainHeight             int64           `json:"chain_height"`
	ChainBytes              int64           `json:"chain_bytes"`
	ChainBytesFromHeight    int64           `json:"chain_bytes_from_height"`
	ChainBlocks             int             `json:"chain_blocks"`
	ChainBlocksWithTxs      int             `json:"chain_blocks_with_txs"`
	ChainTxs                int             `json:"chain_txs"`
	OnchainBytesPerReading  float64         `json:"onchain_bytes_per_reading"`
	UnanchoredAfterDrain    uint64          `json:"unanchored_after_drain"`
	Reelections             int             `json:"reelections"`
	Migrations              int             `json:"migrations"` // members moved to their overlay head's cluster on the ledger
	ReelectionMs            []int64         `json:"reelection_ms,omitempty"`
	ChainStalledMsMax       int64           `json:"chain_stalled_ms_max"`
	GatewayRSSMB            float64         `json:"gateway_rss_mb,omitempty"`
	Invariants              map[string]bool `json:"invariants"`
	Failures                []string        `json:"failures,omitempty"`
}

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
	o := systemOptions{Dir: *dir, Patients: *patients, Providers: *providers, Devices: *devices, Interval: *interval,
		AbnormalFraction: *abnormal, Speedup: *speedup, BlockInterval: 100 * time.Millisecond, CloudSeal: 1250 * time.Millisecond,
		Suite: st, Seed: 1, FetchEvery: 1, Log: log, Overlay: true}
	fmt.Fprintf(stdout, "Starting 4 Cluster Heads, a cloud, %d gateways with %d wearables each, and %d providers…\n", *patients, *devices, *providers)
	t0 := time.Now()
	s, err := startSystem(ctx, o)
	if err != nil {
		return err
	}
	defer s.stop()
	fmt.Fprintf(stdout, "Ready in %.1fs: %d actors registered, %d contracts deployed, grants given. Streaming readings.\n",
		time.Since(t0).Seconds(), 2+*providers+*patients*(1+*devices), *patients)
	sum, err := s.run(ctx, stdout, *duration, true)
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

// run streams readings for d (until ctx ends if d is 0), playing the
// scenario if asked, then drains and summarises.
func (s *system) run(ctx context.Context, stdout io.Writer, d time.Duration, scenario bool) (*summary, error) {
	sum := &summary{Patients: len(s.patients), Providers: len(s.providers), Devices: len(s.patients[0].kit.Devices())}
	h0 := s.height(ctx)
	if err := s.startDevices(ctx); err != nil {
		return nil, err
	}
	start := time.Now()
	plan := d
	if plan == 0 {
		plan = 60 * time.Second
	}
	steps := []struct {
		at   float64
		name string
		f    func(context.Context, *summary, io.Writer) error
	}{
		{0.25, "transaction 3", s.stepProviderRecord},
		{0.35, "device command", s.stepCommand},
		{0.45, "forgeries", s.stepForgeries},
		{0.55, "revoke", s.stepRevoke},
		{0.65, "head failure", s.stepHeadFailure},
	}
	out := stdout
	if out == nil {
		out = io.Discard
	}
	next := 0
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	var end <-chan time.Time
	if d > 0 {
		end = time.After(d)
	}
	stepTick := time.NewTicker(100 * time.Millisecond)
	defer stepTick.Stop()
	overlayTick := time.NewTicker(250 * time.Millisecond)
	defer overlayTick.Stop()
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-end:
			break loop
		case <-tick.C:
			if stdout != nil {
				s.progress(ctx, stdout, time.Since(start))
			}
		case <-overlayTick.C:
			if s.overlay != nil && stdout != nil {
				for _, e := range s.overlay.takeEvents() {
					fmt.Fprintf(stdout, "  · %s\n", e)
				}
			}
		case <-stepTick.C:
			if !scenario || next >= len(steps) || time.Since(start) < time.Duration(steps[next].at*float64(plan)) {
				continue
			}
			st := steps[next]
			next++
			sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			err := st.f(sctx, sum, out)
			cancel()
			if err != nil && ctx.Err() == nil {
				sum.Failures = append(sum.Failures, st.name+": "+err.Error())
				fmt.Fprintf(out, "  ✗ %s: %v\n", st.name, err)
			}
		}
	}
	elapsed := time.Since(start)
	s.stopDevices()
	if stdout != nil {
		fmt.Fprintf(stdout, "Stopped the wearables after %.1fs; draining (every record stored and anchored)…\n", elapsed.Seconds())
	}
	dctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	drainErr := s.drain(dctx)
	// Let the providers' last alerts arrive.
	time.Sleep(300 * time.Millisecond)
	s.fill(dctx, sum, elapsed, h0)
	if drainErr != nil {
		sum.Failures = append(sum.Failures, drainErr.Error())
	}
	sum.Invariants = map[string]bool{
		"no_alert_misdelivered":    sum.AlertsMisdelivered == 0,
		"no_read_after_revoke":     sum.ReadsAfterRevokeAllowed == 0,
		"every_proof_verified":     sum.ProofsFailed == 0,
		"every_record_anchored":    sum.UnanchoredAfterDrain == 0 && drainErr == nil,
		"every_forgery_refused":    sum.ForgedAccepted == 0,
		"every_record_stored_once": sum.RecordsStored >= sum.Abnormal,
	}
	if s.overlay != nil && scenario {
		sum.Invariants["head_reelected"] = sum.Reelections >= 1
		agree, err := s.overlay.membershipAgrees(dctx)
		if err != nil {
			sum.Failures = append(sum.Failures, "membership: "+err.Error())
		}
		sum.Invariants["membership_follows_overlay"] = agree && (len(s.overlay.visitors) == 0 || sum.Migrations >= 1)
	}
	for k, ok := range sum.Invariants {
		if !ok {
			sum.Failures = append(sum.Failures, "invariant "+k)
		}
	}
	return sum, nil
}

// fill computes the summary's figures.
func (s *system) fill(ctx context.Context, sum *summary, elapsed time.Duration, h0 int64) {
	st := s.stats
	sum.DurationS = elapsed.Seconds()
	sum.Readings = st.readings.Load()
	sum.ReadingsPerS = float64(sum.Readings) / elapsed.Seconds()
	for _, p := range s.patients {
		if p.gw != nil {
			st := p.gw.Stats()
			sum.Abnormal += st.Abnormal
			sum.Alerts += st.Alerts
		}
	}
	if sum.Readings > 0 {
		sum.AbnormalFraction = float64(sum.Abnormal) / float64(sum.Readings)
	}
	rc, ra, _, _ := s.cloud.Checkpoints()
	sum.RecordsStored, sum.RecordsAnchored = rc.Size, ra.Size
	sum.UnanchoredAfterDrain = rc.Size - min(rc.Size, ra.Size)
	sum.AlertsDelivered = st.alerts.Load()
	sum.AlertsMisdelivered = st.misdelivered.Load()
	for _, pn := range s.providers {
		// Alerts the cloud sent a provider its contract does not name,
		// which the provider refused.
		sum.AlertsMisdelivered += pn.p.Stats().AlertsMisrouted
	}
	sum.ProofsVerified, sum.ProofsFailed = st.proofsOK.Load(), st.proofsFailed.Load()
	sum.CommandsApplied = st.commandsApplied.Load()
	if s.overlay != nil {
		s.overlay.mu.Lock()
		sum.Reelections = s.overlay.reelections
		sum.Migrations = s.overlay.migrations
		for _, d := range s.overlay.handoverAt {
			sum.ReelectionMs = append(sum.ReelectionMs, d.Milliseconds())
		}
		s.overlay.mu.Unlock()
	}
	st.mu.Lock()
	sum.AlertLatencyMs = percentilesOf(st.alertLat)
	sum.AnchorLatencyMs = percentilesOf(st.anchorLat)
	st.mu.Unlock()
	sum.ChainHeight = s.height(ctx)
	sum.ChainBytesFromHeight = h0
	if b, gap, blocks, withTxs, txs, err := s.chainBytes(ctx, h0, sum.ChainHeight); err == nil {
		sum.ChainBytes, sum.ChainStalledMsMax = b, gap.Milliseconds()
		sum.ChainBlocks, sum.ChainBlocksWithTxs, sum.ChainTxs = blocks, withTxs, txs
		if sum.Readings > 0 {
			sum.OnchainBytesPerReading = float64(b) / float64(sum.Readings)
		}
	}
}

func (s *system) progress(ctx context.Context, w io.Writer, t time.Duration) {
	var abnormal uint64
	for _, p := range s.patients {
		if p.gw != nil {
			abnormal += p.gw.Stats().Abnormal
		}
	}
	rc, ra, _, _ := s.cloud.Checkpoints()
	fmt.Fprintf(w, "[%5.1fs] readings %6d  abnormal %5d  stored %5d  anchored %5d  alerts delivered %5d  chain height %d\n",
		t.Seconds(), s.stats.readings.Load(), abnormal, rc.Size, ra.Size, s.stats.alerts.Load(), s.height(ctx))
}

func printSummary(w io.Writer, s *summary) {
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
  chain               height %d; %d bytes while streaming = %.2f bytes per reading
  re-elections        %d; longest time between two blocks %d ms
  migrations          %d members moved to their overlay head's cluster on the ledger
`, s.DurationS, s.Readings, s.ReadingsPerS, s.Abnormal, 100*s.AbnormalFraction, s.Alerts, s.RecordsStored, s.RecordsAnchored,
		s.AlertsDelivered, s.AlertsMisdelivered, s.AlertLatencyMs.P50, s.AlertLatencyMs.P99,
		s.AnchorLatencyMs.P50, s.AnchorLatencyMs.P99, s.ProofsVerified, s.ProofsFailed,
		s.ReadsAfterRevokeRefused, s.ReadsAfterRevokeAllowed, s.ForgedRefused, s.ForgedAccepted, s.ProviderRecords,
		s.CommandsApplied, s.ChainHeight, s.ChainBytes, s.OnchainBytesPerReading, s.Reelections, s.ChainStalledMsMax, s.Migrations)
	if len(s.Failures) == 0 {
		fmt.Fprintln(w, "  invariants          all hold")
	} else {
		for _, f := range s.Failures {
			fmt.Fprintf(w, "  BROKEN              %s\n", f)
		}
	}
}

// stepProviderRecord: a provider sends patient 0 a new record
// (transaction 3), and the patient's gateway opens it.
func (s *system) stepProviderRecord(ctx context.Context, sum *summary, w io.Writer) error {
	p := s.patients[0]
	pv := s.providers[p.providers[0]]
	id, err := pv.p.SendRecord(ctx, p.id.ID(), 0, []byte("Prescription: metformin 500 mg twice daily; recheck glucose in 2 weeks."))
	if err != nil {
		return err
	}
	if p.gw == nil {
		return nil
	}
	// The patient's gateway asks its own node, which may be a block behind.
	for {
		recs, err := p.gw.Patient().ProviderRecords(ctx, cloudapi.NewClient(s.cloudURL, nil))
		if err != nil {
			return err
		}
		for _, r := range recs {
			if r.ID == id {
				sum.ProviderRecords++
				fmt.Fprintf(w, "  ✓ transaction 3: provider %s sent patient %s a record (%x); the patient opened it: %q\n",
					pv.id.ID(), p.id.ID(), id[:6], r.Plaintext)
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return errors.New("the patient does not find the provider's record")
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// stepCommand: a provider with a commands grant changes a device's
// sampling interval; the device applies it.
func (s *system) stepCommand(ctx context.Context, _ *summary, w io.Writer) error {
	p := s.patients[0]
	pv := s.providers[p.providers[0]]
	dev := p.kit.Devices()[1]
	before := s.stats.commandsApplied.Load()
	if err := pv.p.SetSamplingInterval(ctx, dev.ID(), 2*dev.Interval()); err != nil {
		return err
	}
	for s.stats.commandsApplied.Load() == before {
		select {
		case <-ctx.Done():
			return errors.New("the device never applied the command")
		case <-time.After(20 * time.Millisecond):
		}
	}
	fmt.Fprintf(w, "  ✓ device command: provider %s set %s's sampling interval to %s through the ledger\n", pv.id.ID(), dev.Name(), dev.Interval())
	return nil
}

// stepForgeries: a reading with a forged signature, published to a
// gateway's broker, and a record with a forged signature, uploaded to the
// cloud, are both refused.
func (s *system) stepForgeries(ctx context.Context, sum *summary, w io.Writer) error {
	p := s.patients[len(s.patients)-1]
	dev := p.kit.Devices()[0]
	devKey, err := device.DeriveKey(p.kit.Patient().Seed(), dev.Name())
	if err != nil {
		return err
	}
	r := reading.New(p.id.ID(), dev.ID(), 1<<40, time.Now(), vital.Glucose, 400*vital.Unit)
	msg, err := reading.Sign(r, devKey)
	if err != nil {
		return err
	}
	forged := append([]byte(nil), msg...)
	forged[len(forged)-1] ^= 0x01 // the signature's last byte
	var refusedBefore uint64
	if p.gw != nil {
		refusedBefore = sumRefused(p.gw.Stats().Refused)
	}
	c, err := mqtt.Connect(ctx, mqtt.ClientConfig{Broker: p.mqttURL, ClientID: "forger"})
	if err != nil {
		return err
	}
	err = c.Publish(ctx, mqtt.ReadingsTopic(p.id.ID(), dev.ID()), forged)
	c.Close()
	if err != nil {
		return err
	}
	if p.gw != nil {
		for sumRefused(p.gw.Stats().Refused) == refusedBefore {
			select {
			case <-ctx.Done():
				sum.ForgedAccepted++
				return errors.New("the gateway did not refuse the forged reading")
			case <-time.After(10 * time.Millisecond):
			}
		}
		sum.ForgedRefused++
		fmt.Fprintf(w, "  ✓ forged reading (device %s, signature altered) refused by the gateway\n", dev.ID())
	}
	// A record in the patient's name whose signature is not the patient's.
	key, err := envelope.NewSessionKey()
	if err != nil {
		return err
	}
	h := record.Header{Patient: p.id.ID(), Author: p.id.ID(), Epoch: 1, Contract: p.contract, Kind: vital.Glucose, Severity: 2,
		Time: time.Now().UnixMilli(), Seq: 1}
	rec, err := record.Seal(h, key, msg, p.id.Signing)
	if err != nil {
		return err
	}
	rec.Signature[0] ^= 0x01
	b, err := rec.Marshal()
	if err != nil {
		return err
	}
	acks, err := cloudapi.NewClient(s.cloudURL, nil).Upload(ctx, [][]byte{b})
	if err != nil {
		return err
	}
	if acks[0].Code == "" {
		sum.ForgedAccepted++
		return errors.New("the cloud stored a forged record")
	}
	sum.ForgedRefused++
	fmt.Fprintf(w, "  ✓ forged record (patient %s, signature altered) refused by the cloud: %s\n", p.id.ID(), acks[0].Code)
	return nil
}

func sumRefused(m map[string]uint64) uint64 {
	var n uint64
	for _, v := range m {
		n += v
	}
	return n
}

// stepRevoke: patient 0 revokes its second provider, whose next read of
// one of the patient's records is refused, and who gets none of its
// alerts from then on.
func (s *system) stepRevoke(ctx context.Context, sum *summary, w io.Writer) error {
	// The first patient with a stored record to read.
	var p *patientNode
	var ids [][32]byte
	for p == nil {
		for _, q := range s.patients {
			if q.gw != nil && len(q.providers) >= 2 && len(s.sealedOf(q)) > 0 {
				p, ids = q, s.sealedOf(q)
				break
			}
		}
		if p != nil {
			break
		}
		select {
		case <-ctx.Done():
			return errors.New("no patient has a record to read yet")
		case <-time.After(100 * time.Millisecond):
		}
	}
	// Wait until the record is stored, so that the read can only be refused for the revoke.
	if err := p.gw.Flush(ctx); err != nil {
		return err
	}
	pv := s.providers[p.providers[1]]
	if err := p.gw.Patient().Revoke(ctx, pv.id.ID()); err != nil {
		return err
	}
	s.stats.mu.Lock()
	s.stats.revokedAt[[2]identity.ID{p.id.ID(), pv.id.ID()}] = p.gw.Patient().Epoch()
	s.stats.mu.Unlock()
	_, err := pv.p.Fetch(ctx, ids[0])
	var re *cloudapi.RequestError
	switch {
	case err == nil:
		sum.ReadsAfterRevokeAllowed++
		return errors.New("the revoked provider read a record")
	case errors.As(err, &re) && re.Code == "revoked":
		sum.ReadsAfterRevokeRefused++
		fmt.Fprintf(w, "  ✓ revoke: patient %s revoked provider %s (epoch %d); its next read was refused: %s\n", p.id.ID(), pv.id.ID(), p.gw.Patient().Epoch(), re.Code)
		return nil
	default:
		return fmt.Errorf("the revoked provider's read failed otherwise: %w", err)
	}
}

// stepHeadFailure: the head of cluster 4 stops; the overlay re-elects the
// cluster's standby machine, which hands the cluster over on the ledger
// and becomes a validator, while the chain, anchoring and alerts go on.
func (s *system) stepHeadFailure(ctx context.Context, _ *summary, w io.Writer) error {
	if s.overlay == nil {
		return nil
	}
	i := overlayCluster - 1
	old := s.net.Testnet.Authorities[i]
	fmt.Fprintf(w, "  · stopping node %d, head of cluster %d (%s)\n", i, overlayCluster, old.ID())
	s.stoppedMu.Lock()
	s.stopped[i] = true
	s.stoppedMu.Unlock()
	s.overlay.fail(old.ID())
	// Nothing may use a stopped node's in-process client: CometBFT panics on
	// a read of its closed databases.
	s.clients[i].Close()
	go s.net.StopNode(i)
	standby := s.net.Testnet.Authorities[4].ID()
	for {
		auths, err := s.liveClient().Authorities(ctx)
		if err == nil && slices.ContainsFunc(auths, func(a ledger.Authority) bool { return a.ID == standby }) &&
			!slices.ContainsFunc(auths, func(a ledger.Authority) bool { return a.ID == old.ID() }) {
			break
		}
		select {
		case <-ctx.Done():
			return errors.New("the cluster's standby never became an authority")
		case <-time.After(100 * time.Millisecond):
		}
	}
	fmt.Fprintf(w, "  ✓ re-election: %s now heads cluster %d and is a validator in place of the stopped head\n", standby, overlayCluster)
	return nil
}
