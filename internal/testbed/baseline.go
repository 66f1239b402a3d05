package testbed

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/vitalchain/vitalchain/client"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/ledger"
	"github.com/vitalchain/vitalchain/reading"
	"github.com/vitalchain/vitalchain/vital"
)

// Baseline is a design that `bench e2e` measures against the paper's: on
// top of the system as it runs, hashes go on the chain one transaction
// each, as an alert header (ledger.Alert, whose RecordID is the hash;
// no health data), the ledger's existing transaction for one record.
type Baseline int

// The designs.
const (
	BaselineNone       Baseline = iota // the paper's design: Merkle roots of many records per transaction
	BaselinePerRecord                  // also every abnormal record's hash as its own transaction
	BaselinePerReading                 // also every reading's hash, normal ones included, as peer systems do
)

// ErrUnknownBaseline is ParseBaseline's error for a name it does not know.
var ErrUnknownBaseline = errors.New("unknown baseline")

var baselineNames = map[Baseline]string{BaselineNone: "none", BaselinePerRecord: "per-record", BaselinePerReading: "per-reading"}

// String returns the baseline's name, as ParseBaseline takes it.
func (b Baseline) String() string { return baselineNames[b] }

// ParseBaseline parses "none", "per-record" or "per-reading".
func ParseBaseline(s string) (Baseline, error) {
	for b, n := range baselineNames {
		if n == s {
			return b, nil
		}
	}
	return 0, fmt.Errorf("%w %q (none, per-record or per-reading)", ErrUnknownBaseline, s)
}

// notaryWindow bounds each notary's transactions in flight, within the
// ledger's window of 64 sequence numbers.
const notaryWindow = 48

// hashPoster puts hashes on the chain for a baseline: each patient has a
// notary (a cloud identity of the patient's cluster, of its own, so that
// its sequence numbers are its alone) that posts the patient's hashes in
// the order they come, notaryWindow at a time.
type hashPoster struct {
	notaries map[identity.ID]*notary // by patient

	queued, committed, refused atomic.Int64
	mu                         sync.Mutex
	lat                        []time.Duration // from the reading (or its arrival) to the commit
	firstErr                   error
}

type notary struct {
	signer   *client.Signer
	c        *client.Client
	patient  identity.ID
	contract [32]byte
	q        chan posting
}

type posting struct {
	id    [32]byte
	kind  vital.Kind
	start time.Time
}

// newHashPoster registers a notary per patient, in cluster 1, and starts
// them; they run until the System stops.
func newHashPoster(ctx context.Context, s *System) (*hashPoster, error) {
	h := &hashPoster{notaries: map[identity.ID]*notary{}}
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for i, p := range s.Patients {
		g.Go(func() error {
			id, err := s.Chain.Register(gctx, identity.RoleCloud, identity.SuiteX25519, 1)
			if err != nil {
				return fmt.Errorf("register patient %d's notary: %w", i, err)
			}
			sg, err := s.Chain.Signer(gctx, id.Signing)
			if err != nil {
				return err
			}
			n := &notary{signer: sg, c: s.Chain.Client(i % 3), patient: p.ID.ID(), contract: p.Contract, q: make(chan posting, 1<<16)}
			mu.Lock()
			h.notaries[n.patient] = n
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	for _, n := range h.notaries {
		s.spawn(func(ctx context.Context) { h.run(ctx, n) })
	}
	return h, nil
}

// record posts an abnormal record's hash (BaselinePerRecord).
func (h *hashPoster) record(patient identity.ID, r reading.Reading, id [32]byte) {
	k, ok := vital.ByLOINC(r.Code)
	if !ok {
		k = vital.HeartRate
	}
	h.post(patient, posting{id: id, kind: k, start: time.UnixMilli(r.Time)})
}

// reading posts a reading's hash (BaselinePerReading), timed from its
// arrival at the gateway.
func (h *hashPoster) reading(patient identity.ID, msg []byte) {
	h.post(patient, posting{id: sha256.Sum256(msg), kind: vital.HeartRate, start: time.Now()})
}

func (h *hashPoster) post(patient identity.ID, p posting) {
	n := h.notaries[patient]
	if n == nil {
		return
	}
	h.queued.Add(1)
	select {
	case n.q <- p:
	default: // the notary is 65,536 hashes behind: count it refused
		h.done(0, errors.New("notary queue full"))
	}
}

func (h *hashPoster) run(ctx context.Context, n *notary) {
	sem := make(chan struct{}, notaryWindow)
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		var p posting
		select {
		case <-ctx.Done():
			return
		case p = <-n.q:
		}
		select {
		case <-ctx.Done():
			return
		case sem <- struct{}{}:
		}
		wg.Go(func() {
			defer func() { <-sem }()
			sctx, cancel := context.WithTimeout(ctx, time.Minute)
			defer cancel()
			_, err := n.signer.Submit(sctx, &ledger.Alert{Patient: n.patient, Contract: n.contract, RecordID: p.id,
				Time: p.start.UnixMilli()})
			h.done(time.Since(p.start), err)
		})
	}
}

func (h *hashPoster) done(d time.Duration, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err != nil {
		h.refused.Add(1)
		if h.firstErr == nil {
			h.firstErr = err
		}
		return
	}
	h.committed.Add(1)
	h.lat = append(h.lat, d)
}

// drain waits until every hash queued has committed or failed.
func (h *hashPoster) drain(ctx context.Context) error {
	for h.committed.Load()+h.refused.Load() < h.queued.Load() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("baseline: %d of %d hashes on the chain: %w", h.committed.Load(), h.queued.Load(), ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

// fill adds the baseline's figures to sum.
func (h *hashPoster) fill(sum *Summary) {
	h.mu.Lock()
	defer h.mu.Unlock()
	sum.BaselineTxs = h.committed.Load()
	sum.BaselineRefused = h.refused.Load()
	sum.BaselineLatencyMs = PercentilesOf(h.lat)
	if h.firstErr != nil {
		sum.Failures = append(sum.Failures, "baseline: "+h.firstErr.Error())
	}
}
