package outbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"
)

// ErrResults is how the Uploader counts a Sender that answered a number of
// Results other than the number of records: the whole batch is retried.
var ErrResults = errors.New("sender answered the wrong number of results")

// Sender sends a batch of records to the cloud and returns one Result per
// record, in order. An error means that nothing is known about the batch,
// which is then retried whole.
type Sender interface {
	Send(ctx context.Context, records [][]byte) ([]Result, error)
}

// Result is the cloud's answer about one record.
type Result struct {
	// Stored: the record is durably stored (now or before: a duplicate).
	Stored bool
	// Permanent: the record was refused and always will be; it is dropped.
	// A record neither Stored nor Permanent is retried.
	Permanent bool
	// Reason is the refusal code (or anything for the logs).
	Reason string
	// Hold, for a Stored record, keeps it held (see Held) until Release:
	// the cloud has promised it but not yet proved it. Nil: the record
	// leaves the outbox.
	Hold []byte
}

// Clock is the Uploader's time: its Now and its timers. Tests inject a fake.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type systemClock struct{}

func (systemClock) Now() time.Time                         { return time.Now() }
func (systemClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Defaults of UploaderOptions.
const (
	DefaultBatch      = 64
	DefaultBatchBytes = 1 << 20
	DefaultMinBackoff = 500 * time.Millisecond
	DefaultMaxBackoff = time.Minute
)

// UploaderOptions configures an Uploader. The zero value is usable.
type UploaderOptions struct {
	// Batch and BatchBytes bound the records, and the sum of their sizes,
	// of one Send; a Send carries at least one record whatever its size
	// (0: DefaultBatch, DefaultBatchBytes).
	Batch      int
	BatchBytes int64
	// After a failed Send, or one in which records were refused for a
	// transient reason and none was stored, the Uploader waits MinBackoff,
	// then twice as long after each further failure up to MaxBackoff,
	// until a Send makes progress (0: DefaultMinBackoff, DefaultMaxBackoff).
	// A Send that stored some records is followed at once by the next,
	// with the refused records at its head, so that one record the cloud
	// keeps refusing does not slow down the others.
	MinBackoff time.Duration
	MaxBackoff time.Duration
	// NoJitter makes each wait exactly the backoff. By default a wait is
	// uniformly random between half the backoff and the backoff, so that a
	// fleet of gateways does not retry in step when the cloud returns.
	NoJitter bool
	// OnDrop is called with each item the cloud refused for good, before
	// it is removed from the outbox; it may be called again for the same
	// item after a crash. Nil: dropped items are only counted and logged.
	OnDrop func(Item, Result)
	// Clock is the Uploader's time (nil: the system's).
	Clock Clock
	// Log receives a line per failed send and per dropped record (nil: none).
	Log *slog.Logger
}

// Stats counts what an Uploader did.
type Stats struct {
	Sends      uint64        // Send calls
	Failures   uint64        // Sends that failed whole, or outbox errors
	Stored     uint64        // items acked as stored (duplicates included)
	Dropped    uint64        // items refused for good and removed
	Refused    uint64        // transient refusals (the items were kept)
	Backoff    time.Duration // the current backoff (0 after a success)
	LastStored time.Time     // when items were last acked as stored
}

// Uploader moves items from an Outbox to a Sender; see the package
// documentation. Run it in one goroutine.
type Uploader struct {
	o     *Outbox
	s     Sender
	opts  UploaderOptions
	kick  chan struct{}
	mu    sync.Mutex
	stats Stats
	// busy is held by an upload from its Send to its accounting, so that
	// Flush returns only once Stats count what it waited for.
	busy sync.Mutex
}

// NewUploader returns an Uploader of o's items through s.
func NewUploader(o *Outbox, s Sender, opts UploaderOptions) *Uploader {
	if opts.Batch <= 0 {
		opts.Batch = DefaultBatch
	}
	if opts.BatchBytes <= 0 {
		opts.BatchBytes = DefaultBatchBytes
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = DefaultMinBackoff
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = DefaultMaxBackoff
	}
	if opts.MaxBackoff < opts.MinBackoff {
		opts.MaxBackoff = opts.MinBackoff
	}
	if opts.Clock == nil {
		opts.Clock = systemClock{}
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	return &Uploader{o: o, s: s, opts: opts, kick: make(chan struct{}, 1)}
}

// Stats returns a snapshot of the Uploader's counters.
func (u *Uploader) Stats() Stats {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.stats
}

// Run uploads until ctx ends (it then returns ctx's error) or the Outbox is
// closed (ErrClosed). Items are removed from the outbox only once acked, so
// nothing is lost when Run stops in the middle of a Send.
func (u *Uploader) Run(ctx context.Context) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		changed := u.o.changed() // before Peek, so that no Put is missed
		items, err := u.o.peek(u.opts.Batch, u.opts.BatchBytes)
		if errors.Is(err, ErrClosed) {
			return err
		}
		if err != nil {
			u.fail("peek", err)
			if err := u.wait(ctx); err != nil {
				return err
			}
			continue
		}
		if len(items) == 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-changed:
			}
			continue
		}
		retry, err := u.upload(ctx, items)
		if errors.Is(err, ErrClosed) || (err != nil && ctx.Err() != nil) {
			return err
		}
		if retry {
			if err := u.wait(ctx); err != nil {
				return err
			}
		} else {
			u.mu.Lock()
			u.stats.Backoff = 0
			u.mu.Unlock()
		}
	}
}

// upload sends one batch and acks what the answers allow; retry tells
// whether it must wait before the next attempt: the Send failed, or made
// no progress.
func (u *Uploader) upload(ctx context.Context, items []Item) (retry bool, err error) {
	u.busy.Lock()
	defer u.busy.Unlock()
	recs := make([][]byte, len(items))
	for i := range items {
		recs[i] = items[i].Data
	}
	u.mu.Lock()
	u.stats.Sends++
	u.mu.Unlock()
	res, err := u.s.Send(ctx, recs)
	if err == nil && len(res) != len(items) {
		err = fmt.Errorf("%w: %d for %d records", ErrResults, len(res), len(items))
	}
	if err != nil {
		if ctx.Err() != nil {
			return true, ctx.Err()
		}
		u.fail("send", err)
		return true, nil
	}
	var acks [][32]byte
	var held []Held
	var stored, dropped, refused uint64
	for i, r := range res {
		switch {
		case r.Stored && r.Hold != nil:
			stored++
			held = append(held, Held{Item: items[i], Hold: r.Hold})
			continue
		case r.Stored:
			stored++
		case r.Permanent:
			u.opts.Log.Warn("outbox: record refused for good, dropped", "id", fmt.Sprintf("%x", items[i].ID), "reason", r.Reason)
			if u.opts.OnDrop != nil {
				u.opts.OnDrop(items[i], r)
			}
			dropped++
		default:
			refused++
			continue
		}
		acks = append(acks, items[i].ID)
	}
	// Ack even if ctx has ended: the cloud has these.
	err = u.o.hold(held)
	if err == nil {
		err = u.o.Ack(acks...)
	}
	if err != nil {
		if errors.Is(err, ErrClosed) {
			return true, err
		}
		u.fail("ack", err)
		return true, nil
	}
	u.mu.Lock()
	u.stats.Stored += stored
	u.stats.Dropped += dropped
	u.stats.Refused += refused
	if stored > 0 {
		u.stats.LastStored = u.opts.Clock.Now()
	}
	u.mu.Unlock()
	return refused > 0 && stored+dropped == 0, nil
}

func (u *Uploader) fail(what string, err error) {
	u.mu.Lock()
	u.stats.Failures++
	u.mu.Unlock()
	u.opts.Log.Warn("outbox: upload failed", "op", what, "err", err)
}

// wait grows the backoff and waits for it, for ctx's end or for a Flush.
func (u *Uploader) wait(ctx context.Context) error {
	u.mu.Lock()
	d := min(max(2*u.stats.Backoff, u.opts.MinBackoff), u.opts.MaxBackoff)
	u.stats.Backoff = d
	u.mu.Unlock()
	if !u.opts.NoJitter && d > 1 {
		d = d/2 + rand.N(d/2+1)
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-u.opts.Clock.After(d):
	case <-u.kick:
	}
	return nil
}

// Flush waits until the outbox is empty, or ctx ends, or the outbox is
// closed. It cuts the Uploader's current backoff short, so that a drain
// does not wait for a long backoff to run out.
func (u *Uploader) Flush(ctx context.Context) error {
	for {
		changed := u.o.changed()
		if u.o.Len() == 0 {
			u.busy.Lock() // the upload that emptied it has counted it
			u.busy.Unlock()
			return nil
		}
		if u.o.isClosed() {
			return ErrClosed
		}
		select {
		case u.kick <- struct{}{}:
		default:
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
		}
	}
}
