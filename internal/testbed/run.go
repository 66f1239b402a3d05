package testbed

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"time"

	"github.com/vitalchain/vitalchain/client"
	"github.com/vitalchain/vitalchain/internal/outsider"
)

// Summary is what a run did: the figures and the invariants that
// `vitalchain demo --json` and `vitalchain bench e2e --json` write.
type Summary struct {
	DurationS               float64 `json:"duration_s"`
	Patients                int     `json:"patients"`
	Providers               int     `json:"providers"`
	Devices                 int     `json:"devices"`
	Readings                uint64  `json:"readings"`
	ReadingsPerS            float64 `json:"readings_per_s"`
	Abnormal                uint64  `json:"abnormal"`
	Alerts                  uint64  `json:"alerts_raised"` // abnormal readings past their rule's cool-down
	AbnormalFraction        float64 `json:"abnormal_fraction"`
	RecordsStored           uint64  `json:"records_stored"`
	RecordsAnchored         uint64  `json:"records_anchored"`
	AlertsDelivered         uint64  `json:"alerts_delivered"`
	AlertsMisdelivered      uint64  `json:"alerts_misdelivered"`
	ReadsAfterRevokeAllowed uint64  `json:"reads_after_revoke_allowed"`
	ReadsAfterRevokeRefused uint64  `json:"reads_after_revoke_refused"`
	ProofsVerified          uint64  `json:"proofs_verified"`
	ProofsFailed            uint64  `json:"proofs_failed"`
	ForgedRefused           uint64  `json:"forged_refused"`
	ForgedAccepted          uint64  `json:"forged_accepted"`
	ProviderRecords         uint64  `json:"provider_records_opened"`
	CommandsApplied         uint64  `json:"device_commands_applied"`
	ErasedRecords           uint64  `json:"erased_records"`                // the scenario's erasure, after the drain
	ProofsAfterErasure      uint64  `json:"proofs_after_erasure_verified"` // erased records still proved in the anchored log
	// ChainFindings counts, by category, what an outsider reading every
	// block through CometBFT's RPC finds (package outsider); the invariant
	// chain_reveals_no_health_data holds when none is health data, and
	// care_team_unlinkable when none links a provider's patients.
	ChainFindings          map[string]int  `json:"chain_findings"`
	AlertLatencyMs         Percentiles     `json:"alert_latency_ms"`
	AnchorLatencyMs        Percentiles     `json:"anchor_latency_ms"`
	ChainHeight            int64           `json:"chain_height"`
	ChainBytes             int64           `json:"chain_bytes"`
	ChainBytesFromHeight   int64           `json:"chain_bytes_from_height"`
	ChainBlocks            int             `json:"chain_blocks"`
	ChainBlocksWithTxs     int             `json:"chain_blocks_with_txs"`
	ChainTxs               int             `json:"chain_txs"`
	OnchainBytesPerReading float64         `json:"onchain_bytes_per_reading"`
	TxsPerReading          float64         `json:"transactions_per_reading"` // chain_txs ÷ readings
	UnanchoredAfterDrain   uint64          `json:"unanchored_after_drain"`
	RecordsProven          uint64          `json:"records_proven"` // let go by in-process gateways once proven anchored
	ReceiptAlarms          uint64          `json:"receipt_alarms"` // cloud receipts not honoured by their deadline
	Reelections            int             `json:"reelections"`
	Migrations             int             `json:"migrations"` // members moved to their overlay head's cluster on the ledger
	ReelectionMs           []int64         `json:"reelection_ms,omitempty"`
	ChainStalledMsMax      int64           `json:"chain_stalled_ms_max"`
	GatewayRSSMB           float64         `json:"gateway_rss_mb,omitempty"`
	Invariants             map[string]bool `json:"invariants"`
	Failures               []string        `json:"failures,omitempty"`
	// Options.Baseline's: the design, the hashes committed one transaction
	// each and refused, and the latency from a reading (per-record) or its
	// arrival at the gateway (per-reading) to its hash's commit.
	Baseline          string      `json:"baseline,omitempty"`
	BaselineTxs       int64       `json:"baseline_txs,omitempty"`
	BaselineRefused   int64       `json:"baseline_refused,omitempty"`
	BaselineLatencyMs Percentiles `json:"baseline_commit_latency_ms,omitzero"`
}

// Percentiles are latency figures in milliseconds.
type Percentiles struct {
	P50  float64 `json:"p50"`
	P99  float64 `json:"p99"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
	N    int     `json:"n"`
}

// PercentilesOf returns the percentiles of ds (nearest rank).
func PercentilesOf(ds []time.Duration) Percentiles {
	if len(ds) == 0 {
		return Percentiles{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	at := func(q float64) float64 {
		i := int(math.Ceil(q*float64(len(s)))) - 1
		return ms(s[max(0, min(i, len(s)-1))])
	}
	var sum time.Duration
	for _, d := range s {
		sum += d
	}
	return Percentiles{P50: at(0.50), P99: at(0.99), Max: ms(s[len(s)-1]), Mean: ms(sum / time.Duration(len(s))), N: len(s)}
}

func ms(d time.Duration) float64 { return math.Round(float64(d)/1e3) / 1e3 }

// step is one act of the scenario, at a fraction of the planned run.
type step struct {
	at   float64
	name string
	f    func(context.Context, *Summary, io.Writer) error
}

// Run streams readings for d (until ctx ends if d is 0), playing the
// scenario if asked, then drains and summarises, checking the invariants;
// a broken invariant is in Summary.Failures, not an error. It writes its
// progress to w (nil: nowhere).
func (s *System) Run(ctx context.Context, w io.Writer, d time.Duration, scenario bool) (*Summary, error) {
	if w == nil {
		w = io.Discard
	}
	sum := &Summary{Patients: len(s.Patients), Providers: len(s.Providers), Devices: len(s.Patients[0].Kit.Devices())}
	h0, err := s.Chain.Height(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.StartWearables(ctx); err != nil {
		return nil, err
	}
	start := time.Now()
	plan := d
	if plan == 0 {
		plan = 60 * time.Second
	}
	steps := []step{
		{0.25, "transaction 3", s.stepProviderRecord},
		{0.35, "device command", s.stepCommand},
		{0.45, "forgeries", s.stepForgeries},
		{0.55, "revoke", s.stepRevoke},
		{0.65, "head failure", s.stepHeadFailure},
	}
	if !scenario {
		steps = nil
	}
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
			s.progress(ctx, w, time.Since(start))
		case <-overlayTick.C:
			if s.overlay != nil {
				for _, e := range s.overlay.takeEvents() {
					fmt.Fprintf(w, "  · %s\n", e)
				}
			}
		case <-stepTick.C:
			if len(steps) == 0 || time.Since(start) < time.Duration(steps[0].at*float64(plan)) {
				continue
			}
			st := steps[0]
			steps = steps[1:]
			sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			err := st.f(sctx, sum, w)
			cancel()
			if err != nil && ctx.Err() == nil {
				sum.Failures = append(sum.Failures, st.name+": "+err.Error())
				fmt.Fprintf(w, "  ✗ %s: %v\n", st.name, err)
			}
		}
	}
	elapsed := time.Since(start)
	s.StopWearables()
	fmt.Fprintf(w, "Stopped the wearables after %.1fs; draining (every record stored and anchored)…\n", elapsed.Seconds())
	dctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	drainErr := s.Drain(dctx)
	if drainErr != nil {
		sum.Failures = append(sum.Failures, drainErr.Error())
	} else if err := s.waitAlerts(dctx); err != nil {
		sum.Failures = append(sum.Failures, err.Error())
	}
	if s.poster != nil {
		if err := s.poster.drain(dctx); err != nil {
			sum.Failures = append(sum.Failures, err.Error())
		}
	}
	var eraseErr error
	if scenario && drainErr == nil {
		if eraseErr = s.stepErase(dctx, sum, w); eraseErr != nil {
			sum.Failures = append(sum.Failures, "erasure: "+eraseErr.Error())
			fmt.Fprintf(w, "  ✗ erasure: %v\n", eraseErr)
		}
	}
	s.fill(dctx, sum, elapsed, h0)
	if s.poster != nil {
		sum.Baseline = s.opts.Baseline.String()
		s.poster.fill(sum)
	}
	healthData, linked, scanErr := s.scanChain(dctx, sum)
	if scanErr != nil {
		sum.Failures = append(sum.Failures, "outsider's scan: "+scanErr.Error())
	}
	sum.Invariants = map[string]bool{
		"chain_reveals_no_health_data": scanErr == nil && healthData == 0,
		"care_team_unlinkable":         scanErr == nil && linked == 0,
		"no_alert_misdelivered":        sum.AlertsMisdelivered == 0,
		"no_read_after_revoke":         sum.ReadsAfterRevokeAllowed == 0,
		"every_proof_verified":         sum.ProofsFailed == 0,
		"every_record_anchored":        sum.UnanchoredAfterDrain == 0 && drainErr == nil,
		"every_forgery_refused":        sum.ForgedAccepted == 0,
		"every_record_stored_once":     sum.RecordsStored >= sum.Abnormal,
		"every_receipt_honoured":       sum.ReceiptAlarms == 0,
	}
	if scenario {
		sum.Invariants["erased_records_still_proven"] = eraseErr == nil && sum.ErasedRecords > 0 && sum.ProofsAfterErasure >= sum.ErasedRecords
	}
	if s.overlay != nil && scenario {
		sum.Invariants["head_reelected"] = sum.Reelections >= 1
		agree, err := s.overlay.membershipAgrees(dctx)
		if err != nil {
			sum.Failures = append(sum.Failures, "membership: "+err.Error())
		}
		sum.Invariants["membership_follows_overlay"] = agree && (len(s.overlay.visitors) == 0 || sum.Migrations >= 1)
	}
	for _, k := range slices.Sorted(maps.Keys(sum.Invariants)) {
		if !sum.Invariants[k] {
			sum.Failures = append(sum.Failures, "invariant "+k)
		}
	}
	return sum, nil
}

// scanChain reads the whole chain as an outsider (package outsider) and
// counts its findings; it returns how many are health data (every category
// but linked providers) and how many link a provider's patients (one
// provider's ID or key in two patients' transactions; see docs/privacy.md).
func (s *System) scanChain(ctx context.Context, sum *Summary) (health, linked int, err error) {
	running := s.Chain.Net.Running()
	if running == nil {
		return 0, 0, errors.New("no node runs")
	}
	node, err := client.NewHTTPNode(running.RPCAddress(), nil)
	if err != nil {
		return 0, 0, err
	}
	r, err := outsider.Scan(ctx, node, 0)
	if err != nil {
		return 0, 0, err
	}
	sum.ChainFindings = map[string]int{}
	for _, f := range r.Findings {
		sum.ChainFindings[string(f.Category)]++
		if f.Category == outsider.LinkedProvider {
			linked++
			s.log.Error("the chain links a provider's patients", "finding", f.String())
		} else {
			health++
			s.log.Error("the chain reveals health data", "finding", f.String())
		}
	}
	return health, linked, nil
}

// waitAlerts waits until every provider has polled past the last stored
// record: each has had every alert due to it.
func (s *System) waitAlerts(ctx context.Context) error {
	rc, _, _, _ := s.Cloud.Service.Checkpoints()
	for _, pn := range s.Providers {
		for pn.P.Stats().Cursor < rc.Size {
			select {
			case <-ctx.Done():
				return fmt.Errorf("provider %s has alerts up to record %d of %d", pn.ID.ID(), pn.P.Stats().Cursor, rc.Size)
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	// And the fetches of those alerts, which run apart.
	for s.fetching.Load() > 0 {
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d fetches of alerted records not done", s.fetching.Load())
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

// fill computes the summary's figures.
func (s *System) fill(ctx context.Context, sum *Summary, elapsed time.Duration, h0 int64) {
	st := s.stats
	sum.DurationS = elapsed.Seconds()
	sum.Readings = s.Readings()
	sum.ReadingsPerS = float64(sum.Readings) / elapsed.Seconds()
	for _, p := range s.Patients {
		if p.Gateway != nil {
			gs := p.Gateway.Stats()
			sum.Abnormal += gs.Abnormal
			sum.Alerts += gs.Alerts
			sum.RecordsProven += gs.Proven
			sum.ReceiptAlarms += gs.ReceiptAlarms
		}
	}
	if sum.Readings > 0 {
		sum.AbnormalFraction = float64(sum.Abnormal) / float64(sum.Readings)
	}
	rc, ra, _, _ := s.Cloud.Service.Checkpoints()
	sum.RecordsStored, sum.RecordsAnchored = rc.Size, ra.Size
	sum.UnanchoredAfterDrain = rc.Size - min(rc.Size, ra.Size)
	sum.AlertsDelivered = st.alerts.Load()
	sum.AlertsMisdelivered = st.misdelivered.Load()
	for _, pn := range s.Providers {
		// Alerts the cloud sent a provider its contract does not name,
		// which the provider refused.
		sum.AlertsMisdelivered += pn.P.Stats().AlertsMisrouted
	}
	sum.ProofsVerified, sum.ProofsFailed = st.proofsOK.Load(), st.proofsFailed.Load()
	sum.CommandsApplied = st.commandsApplied.Load()
	if o := s.overlay; o != nil {
		o.mu.Lock()
		sum.Reelections, sum.Migrations = o.reelections, o.migrations
		for _, d := range o.handoverAt {
			sum.ReelectionMs = append(sum.ReelectionMs, d.Milliseconds())
		}
		o.mu.Unlock()
	}
	st.mu.Lock()
	sum.AlertLatencyMs = PercentilesOf(st.alertLat)
	sum.AnchorLatencyMs = PercentilesOf(st.anchorLat)
	st.mu.Unlock()
	sum.ChainHeight, _ = s.Chain.Height(ctx)
	sum.ChainBytesFromHeight = h0
	if b, err := s.Chain.Blocks(ctx, h0, sum.ChainHeight); err == nil {
		sum.ChainBytes, sum.ChainStalledMsMax = b.Bytes, b.MaxGap.Milliseconds()
		sum.ChainBlocks, sum.ChainBlocksWithTxs, sum.ChainTxs = b.Blocks, b.WithTxs, b.Txs
		if sum.Readings > 0 {
			sum.OnchainBytesPerReading = float64(b.Bytes) / float64(sum.Readings)
			sum.TxsPerReading = float64(b.Txs) / float64(sum.Readings)
		}
	}
}

// progress writes one line of counters.
func (s *System) progress(ctx context.Context, w io.Writer, t time.Duration) {
	var abnormal uint64
	for _, p := range s.Patients {
		if p.Gateway != nil {
			abnormal += p.Gateway.Stats().Abnormal
		}
	}
	rc, ra, _, _ := s.Cloud.Service.Checkpoints()
	h, _ := s.Chain.Height(ctx)
	fmt.Fprintf(w, "[%5.1fs] readings %6d  abnormal %5d  stored %5d  anchored %5d  alerts delivered %5d  chain height %d\n",
		t.Seconds(), s.Readings(), abnormal, rc.Size, ra.Size, s.stats.alerts.Load(), h)
}
