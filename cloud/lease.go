package cloud

import (
	"context"
	"errors"
	"time"
)

// ErrNotLeader is the refusal of a write by a cloud process that is not
// its store's sequencer: another process of the same cloud sequences, and
// writes go to it (the API's code cloudapi.CodeNotLeader, with its URL if
// known). A Lease's fenced store fails an append with it once the lease
// has moved on.
var ErrNotLeader = errors.New("not the sequencer")

// A Lease elects, among the cloud processes that share one Store (the
// PostgreSQL driver's), the one that sequences: it alone assigns log
// positions, seals and anchors; the others serve what can be served from
// the store and refuse writes with ErrNotLeader. Several processes are
// one cloud: one key, one ID on the ledger.
//
// The lease is a row with an epoch that grows with every new holder and an
// expiry on the database's clock. The holder renews it; when it stops (it
// crashed, it is paused, it lost the database), another process takes the
// lease once it has expired. Expiry alone cannot stop a holder that was
// paused and wakes up believing it still leads, so every append of the
// holder goes through Fenced: the append's own transaction checks that the
// lease is still at the holder's epoch, and a takeover waits for appends
// in flight to end. Whatever a deposed holder does after that is refused,
// so no position is assigned twice; what it anchors is a prefix of the
// log, which the ledger checks like any anchor.
type Lease interface {
	// Acquire takes the lease for holder (a random ID of the process),
	// advertising url (its API), for ttl, if nobody holds it, its holder
	// let it expire, or holder held it before. It returns the new epoch,
	// larger than every earlier one. If another holds it, it fails with
	// an error wrapping ErrNotLeader and returns the holder's URL.
	Acquire(ctx context.Context, holder, url string, ttl time.Duration) (epoch uint64, leader string, err error)
	// Renew extends the lease of epoch to ttl from now. It fails with an
	// error wrapping ErrNotLeader if the lease has moved to another epoch.
	Renew(ctx context.Context, epoch uint64, ttl time.Duration) error
	// Release ends the lease of epoch at once, so that another process
	// takes over without waiting for it to expire. It does nothing if the
	// lease has moved on.
	Release(ctx context.Context, epoch uint64) error
	// Leader returns the URL of the lease's holder; "" if nobody holds an
	// unexpired lease.
	Leader(ctx context.Context) (string, error)
	// Fenced returns the store as the holder of epoch writes it: each
	// append commits only if the lease is still at epoch (checked in the
	// append's transaction), and fails with an error wrapping ErrNotLeader
	// otherwise. Everything else is the store's own.
	Fenced(epoch uint64) Store
}

// Lease timing: a sequencer renews its lease every DefaultLeaseTTL/3; a
// follower tries to take it every DefaultLeaseTTL/6. After a sequencer
// dies, another takes over within about DefaultLeaseTTL + DefaultLeaseTTL/6
// plus the time to reopen the logs.
const DefaultLeaseTTL = 3 * time.Second
