package gateway

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/vitalchain/vitalchain/client"
	"github.com/vitalchain/vitalchain/cloud/cloudapi"
	"github.com/vitalchain/vitalchain/codec"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/ledger"
	"github.com/vitalchain/vitalchain/outbox"
	"github.com/vitalchain/vitalchain/record"
)

// Cloud is what the gateway needs of its patient's cloud; *cloudapi.Client
// is one.
type Cloud interface {
	// ID returns the cloud's ID.
	ID(ctx context.Context) (identity.ID, error)
	// UploadWithReceipt uploads records, answering one Ack each and the
	// cloud's signed receipt of those it stored.
	UploadWithReceipt(ctx context.Context, records [][]byte) (*cloudapi.UploadResponse, error)
	// Proof returns a record's inclusion proof, verified against the
	// checkpoint it names.
	Proof(ctx context.Context, id [32]byte) (*cloudapi.ProofResult, error)
}

// Errors of the cloud path.
var (
	// ErrWrongCloud: the cloud is not one the ledger lists in the patient's
	// home cluster.
	ErrWrongCloud = errors.New("not the cloud of the patient's home cluster")
	// ErrBadReceipt: an answer whose receipt is missing, does not verify,
	// or does not name a record the cloud acknowledged where it said.
	ErrBadReceipt = errors.New("bad receipt")
)

// hold is what the gateway keeps of a record the cloud has receipted, until
// its inclusion in an anchored checkpoint is proven.
type hold struct {
	Cloud    identity.ID `cbor:"1,keyasint"`
	Index    uint64      `cbor:"2,keyasint"`
	AnchorBy int64       `cbor:"3,keyasint"` // Unix ms
}

// cloudKeyTTL is how long the gateway trusts its cloud's key, once the
// ledger proved it, before asking again. Each proved answer waits for the
// block after its state (up to a block interval), and an upload waited for
// three (the 100–150 ms tail of alert latency).
const cloudKeyTTL = 10 * time.Second

// knownCloud is the cloud key the ledger proved last, and when.
type knownCloud struct {
	id  identity.ID
	key identity.VerifyingKey
	at  time.Time
}

// cloudKey returns the key of the patient's cloud: the one the cloud says
// it is, if the ledger lists it in the patient's home cluster, as the
// ledger proved within cloudKeyTTL.
func (g *Gateway) cloudKey(ctx context.Context) (identity.ID, identity.VerifyingKey, error) {
	var none identity.VerifyingKey
	id, err := g.cfg.Cloud.ID(ctx)
	if err != nil {
		return id, none, err
	}
	now := g.cfg.Now()
	if k := g.cloud.Load(); k != nil && k.id == id && now.Sub(k.at) < cloudKeyTTL && now.Sub(k.at) >= 0 {
		return id, k.key, nil
	}
	key, err := g.proveCloud(ctx, id)
	if err == nil {
		g.cloud.Store(&knownCloud{id: id, key: key, at: now})
	}
	return id, key, err
}

// proveCloud asks the ledger whether cloud id serves the patient's home
// cluster, and for its key.
func (g *Gateway) proveCloud(ctx context.Context, id identity.ID) (identity.VerifyingKey, error) {
	var none identity.VerifyingKey
	me, err := g.cfg.Chain.Member(ctx, g.me)
	if err != nil {
		return none, err
	}
	ci, err := g.cfg.Chain.Cluster(ctx, me.Home)
	if err != nil {
		return none, err
	}
	if !slices.Contains(ci.Clouds, id) {
		return none, fmt.Errorf("%w: cloud %s, home cluster %d", ErrWrongCloud, id, me.Home)
	}
	// The cluster's list is a listing, unproved: the cloud's own
	// registration, proved, must say it too.
	m, err := g.cfg.Chain.Member(ctx, id)
	if err != nil {
		return none, err
	}
	if m.Role != identity.RoleCloud || m.Home != me.Home {
		return none, fmt.Errorf("%w: %s is a %s of cluster %d, the patient's home is %d", ErrWrongCloud, id, m.Role, m.Home, me.Home)
	}
	return m.VerifyingKey()
}

// sender is the outbox's Sender: it uploads, and checks the cloud's
// receipt of what it acknowledged.
type sender struct{ g *Gateway }

// Send implements outbox.Sender. A stored record is held (not let go)
// until its proof; an answer without a valid receipt for every record it
// acknowledges is an error, and the batch is sent again.
func (s sender) Send(ctx context.Context, recs [][]byte) ([]outbox.Result, error) {
	g := s.g
	ctx, span := startUpload(ctx, recs)
	defer span.End()
	cloudID, key, err := g.cloudKey(ctx)
	if err != nil {
		return nil, err
	}
	res, err := g.cfg.Cloud.UploadWithReceipt(ctx, recs)
	if err != nil {
		return nil, err
	}
	var r *cloudapi.Receipt
	out := make([]outbox.Result, len(res.Acks))
	for i, k := range res.Acks {
		if k.Code != "" {
			out[i] = outbox.Result{Permanent: cloudapi.Permanent(k.Code), Reason: k.Code}
			continue
		}
		if r == nil {
			if r, err = cloudapi.ParseReceipt(res.Receipt, key); err != nil {
				g.cloud.Store(nil) // ask the ledger again: the cloud's key may have changed
				return nil, fmt.Errorf("%w: %w", ErrBadReceipt, err)
			}
		}
		idx, err := r.Index(k.ID)
		if err == nil && (k.ID != recordID(recs[i]) || idx != k.Index) {
			// Our own record's ID; the cloud's ack names it, the receipt must too.
			err = fmt.Errorf("the acknowledgement names record %x at %d, the receipt %d", k.ID[:8], k.Index, idx)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrBadReceipt, err)
		}
		h, err := codec.Marshal(&hold{Cloud: cloudID, Index: idx, AnchorBy: r.AnchorBy})
		if err != nil {
			return nil, err
		}
		out[i] = outbox.Result{Stored: true, Hold: h}
	}
	return out, nil
}

// prove lets go of the held records whose inclusion in a checkpoint the
// ledger anchors is proven, every second; a record whose receipt is past
// its deadline unproven is an alarm (Stats.ReceiptAlarms), and it is sent
// again.
func (g *Gateway) prove(ctx context.Context) {
	defer g.wg.Done()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-g.proveNow:
		}
		if err := g.proveHeld(ctx); err != nil && ctx.Err() == nil {
			g.log.Warn("proving held records", "err", err)
		}
	}
}

func (g *Gateway) proveHeld(ctx context.Context) error {
	held, err := g.box.HeldItems(256)
	if err != nil {
		return err
	}
	var proven [][32]byte
	var overdue []outbox.Held
	for _, it := range held {
		var h hold
		if err := codec.UnmarshalTrusted(it.Hold, &h); err != nil {
			return fmt.Errorf("held record %x: %w", it.ID[:8], err)
		}
		err := g.proveOne(ctx, it.ID, h)
		switch {
		case err == nil:
			proven = append(proven, it.ID)
		case g.cfg.Now().UnixMilli() > h.AnchorBy:
			g.log.Error("receipt not honoured: the cloud promised an anchored checkpoint of the record by its deadline", "record", fmt.Sprintf("%x", it.ID[:8]), "cloud", h.Cloud, "err", err)
			overdue = append(overdue, it)
		}
	}
	// The outbox first, then the counters: whoever sees an alarm counted
	// finds its record queued again.
	err = errors.Join(g.box.Release(proven...), g.box.Requeue(overdue...))
	g.mu.Lock()
	g.stats.Proven += uint64(len(proven))
	g.stats.ReceiptAlarms += uint64(len(overdue))
	g.mu.Unlock()
	return err
}

// errNotYet: the record is not yet in an anchored checkpoint.
var errNotYet = errors.New("not yet anchored")

// proveOne checks that a record is at its receipted index in a checkpoint
// the ledger anchors for its cloud.
func (g *Gateway) proveOne(ctx context.Context, id [32]byte, h hold) error {
	p, err := g.cfg.Cloud.Proof(ctx, id)
	if err != nil {
		return err
	}
	if p.Index != h.Index {
		return fmt.Errorf("%w: the cloud proves %x at %d, its receipt said %d", ErrBadReceipt, id[:8], p.Index, h.Index)
	}
	if !p.Anchored {
		return errNotYet
	}
	a, err := g.cfg.Chain.AnchorAt(ctx, h.Cloud, ledger.LogRecords, p.Checkpoint.Size)
	if errors.Is(err, client.ErrNotFound) {
		return fmt.Errorf("%w: no anchor of size %d on the ledger", errNotYet, p.Checkpoint.Size)
	}
	if err != nil {
		return err
	}
	if a.Checkpoint != p.Checkpoint {
		return fmt.Errorf("the cloud's checkpoint of size %d is not the one the ledger anchors", p.Checkpoint.Size)
	}
	return nil
}

// recordID is the ID of a record the gateway sealed (zero if it does not
// parse, which it always does).
func recordID(b []byte) [32]byte {
	r, err := record.ParseRecord(b)
	if err != nil {
		return [32]byte{}
	}
	return r.ID()
}
