// Package outbox is the patient gateway's durable outbox: every sealed
// record the gateway makes is appended here before it is uploaded, and
// removed only once the cloud has acknowledged it (or refused it for good),
// so that no record is lost when the cloud is down or the gateway crashes.
//
// # Outbox
//
// An Outbox is a FIFO queue of Items (an ID, the record's bytes and the time
// it was enqueued) in a bbolt database: one file, outbox.db, in the
// directory given to Open, which only one process may have open at a time.
// Put appends items in one transaction committed with fsync (bbolt fsyncs
// every commit) and returns only once they are durable; concurrent Puts and
// Acks are committed together in one transaction (group commit), in the
// order they arrive, by one goroutine. Each item gets the next value of a
// sequence that survives restarts, and Peek returns the oldest items not yet
// acknowledged. Ack durably removes items; it is idempotent and ignores
// unknown IDs. Putting an ID that is already pending stores nothing new.
// The file does not shrink: later Puts reuse the pages of acked items.
//
// The outbox is bounded by Options.MaxItems and Options.MaxBytes (the sum of
// the items' Data): a Put that would exceed either stores nothing and
// returns ErrFull, so that the gateway can apply backpressure and count it.
//
// # Uploader
//
// An Uploader takes batches from an Outbox and sends them through a Sender,
// one Result per record: it acks what was stored (duplicates included),
// drops what was refused for good (reporting it to OnDrop first), and keeps
// the rest, retrying with capped exponential backoff (and jitter) when a
// Send fails or makes no progress. Which refusals are permanent is the
// Sender's to say: an adapter of the cloud's HTTP client (package cloudapi)
// looks like this:
//
//	func (a adapter) Send(ctx context.Context, recs [][]byte) ([]outbox.Result, error) {
//		acks, err := a.client.Upload(ctx, recs)
//		if err != nil {
//			return nil, err // the whole batch is retried
//		}
//		out := make([]outbox.Result, len(acks))
//		for i, k := range acks {
//			out[i] = outbox.Result{Stored: k.Code == "", Permanent: cloudapi.Permanent(k.Code), Reason: k.Code}
//		}
//		return out, nil
//	}
//
// A Sender may hold a stored record instead of letting it go (Result.Hold):
// the outbox then keeps it, durably, apart from the queue (HeldItems),
// until Release (its inclusion in an anchored checkpoint is proven) or
// Requeue (the cloud did not honour its receipt: send it again).
//
// Delivery is at least once: a record the cloud stored but whose
// acknowledgement was lost (a crash, a timeout) is sent again, and the cloud
// answers that it is a duplicate.
//
// The outbox stores only bytes the gateway made itself; it decodes nothing
// that came from elsewhere.
package outbox
