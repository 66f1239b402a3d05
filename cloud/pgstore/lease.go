package pgstore

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vitalchain/vitalchain/cloud"
	"github.com/vitalchain/vitalchain/cloud/cloudapi"
	"github.com/vitalchain/vitalchain/merklelog"
)

// The lease is the row of cloud_lease; its expiry is on the database's
// clock (clock_timestamp()), so that the processes' clocks do not matter.

func ttlMs(ttl time.Duration) (int64, error) {
	if ttl <= 0 || ttl > time.Hour {
		return 0, fmt.Errorf("lease ttl %s: want more than 0, at most an hour", ttl)
	}
	return ttl.Milliseconds(), nil
}

// Acquire implements cloud.Lease.
func (s *Store) Acquire(ctx context.Context, holder, url string, ttl time.Duration) (uint64, string, error) {
	ms, err := ttlMs(ttl)
	if err != nil {
		return 0, "", err
	}
	if holder == "" {
		return 0, "", errors.New("acquire the lease: no holder")
	}
	var epoch int64
	err = s.lease.QueryRow(ctx, `UPDATE cloud_lease
		SET epoch = epoch + 1, holder = $1, url = $2, expires = clock_timestamp() + $3 * interval '1 millisecond'
		WHERE id = 1 AND (holder = '' OR holder = $1 OR expires < clock_timestamp())
		RETURNING epoch`, holder, url, ms).Scan(&epoch)
	if err == nil {
		return uint64(epoch), url, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return 0, "", fmt.Errorf("acquire the lease: %w", err)
	}
	leader, err := s.Leader(ctx)
	if err != nil {
		return 0, "", fmt.Errorf("acquire the lease: %w", err)
	}
	return 0, leader, fmt.Errorf("%w: the lease is held by %s", cloud.ErrNotLeader, cmp(leader, "another process"))
}

// Renew implements cloud.Lease.
func (s *Store) Renew(ctx context.Context, epoch uint64, ttl time.Duration) error {
	ms, err := ttlMs(ttl)
	if err != nil {
		return err
	}
	if epoch > math.MaxInt64 {
		return fmt.Errorf("renew the lease: epoch %d out of range", epoch)
	}
	tag, err := s.lease.Exec(ctx, `UPDATE cloud_lease SET expires = clock_timestamp() + $2 * interval '1 millisecond'
		WHERE id = 1 AND epoch = $1`, int64(epoch), ms)
	if err != nil {
		return fmt.Errorf("renew the lease: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%w: the lease has moved on from epoch %d", cloud.ErrNotLeader, epoch)
	}
	return nil
}

// Release implements cloud.Lease.
func (s *Store) Release(ctx context.Context, epoch uint64) error {
	if epoch > math.MaxInt64 {
		return nil
	}
	if _, err := s.lease.Exec(ctx, `UPDATE cloud_lease SET holder = '', url = '', expires = clock_timestamp()
		WHERE id = 1 AND epoch = $1`, int64(epoch)); err != nil {
		return fmt.Errorf("release the lease: %w", err)
	}
	return nil
}

// Leader implements cloud.Lease.
func (s *Store) Leader(ctx context.Context) (string, error) {
	var url string
	err := s.lease.QueryRow(ctx, `SELECT url FROM cloud_lease WHERE id = 1 AND holder <> '' AND expires >= clock_timestamp()`).Scan(&url)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("the lease's holder: %w", err)
	}
	return url, nil
}

// Fenced implements cloud.Lease.
func (s *Store) Fenced(epoch uint64) cloud.Store {
	return &fenced{Store: s, epoch: int64(min(epoch, math.MaxInt64))}
}

// fenced is the Store as the lease's holder at epoch appends to it.
type fenced struct {
	*Store
	epoch int64
}

func (f *fenced) AppendRecords(oldSize, newSize uint64, recs []cloud.StoredRecord, nodes []merklelog.Node) error {
	return f.appendRecords(&f.epoch, oldSize, newSize, recs, nodes)
}

func (f *fenced) AppendAccess(oldSize, newSize uint64, entries []cloudapi.AccessEntry, nodes []merklelog.Node) error {
	return f.appendAccess(&f.epoch, oldSize, newSize, entries, nodes)
}

// Close does nothing: the store is closed by its owner.
func (f *fenced) Close() error { return nil }
