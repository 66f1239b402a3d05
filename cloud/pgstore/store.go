package pgstore

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/transparency-dev/merkle/compact"

	"github.com/vitalchain/vitalchain/cloud"
	"github.com/vitalchain/vitalchain/cloud/cloudapi"
	"github.com/vitalchain/vitalchain/identity"
	"github.com/vitalchain/vitalchain/merklelog"
)

// ErrNotDurable is returned by Open for a connection that asks for
// synchronous_commit off: the cloud would acknowledge records a crash of
// the database can lose.
var ErrNotDurable = errors.New("synchronous_commit off: commits would not be durable")

// ErrURL is returned by Open for a URL it cannot use.
var ErrURL = errors.New("bad PostgreSQL URL")

// OpTimeout bounds each of the store's operations, so that a database that
// stops answering fails appends (which the cloud then recovers from)
// instead of hanging them.
const OpTimeout = 30 * time.Second

// Store is a cloud.Store in a PostgreSQL database, and the cloud.Lease of
// the processes that share it. It is safe for concurrent use.
type Store struct {
	pool    *pgxpool.Pool
	lease   *pgxpool.Pool // the lease's own connections: a busy pool never delays a renewal
	version int
}

// DefaultPoolSize is the number of connections a Store opens at most when
// the URL does not say (pool_max_conns), besides two for the lease.
const DefaultPoolSize = 16

var (
	_ cloud.Store       = (*Store)(nil)
	_ cloud.Lease       = (*Store)(nil)
	_ cloud.BatchLookup = (*Store)(nil)
)

// IsURL reports whether s names a PostgreSQL database (postgres:// or
// postgresql://) rather than a directory.
func IsURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// Open connects to the database at url (postgres://user@host:port/db?…,
// libpq's parameters; search_path=SCHEMA gives the cloud a schema of its
// own, pool_max_conns the pool's size), migrates its schema, and returns
// the store. Sessions run with synchronous_commit on unless the URL asks
// for another durable level (remote_write, remote_apply, local).
func Open(ctx context.Context, url string) (*Store, error) {
	if !IsURL(url) {
		return nil, fmt.Errorf("%w: want postgres://…", ErrURL)
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrURL, err)
	}
	rp := cfg.ConnConfig.RuntimeParams
	switch v := strings.ToLower(rp["synchronous_commit"]); v {
	case "":
		rp["synchronous_commit"] = "on"
	case "on", "local", "remote_write", "remote_apply":
	default:
		return nil, fmt.Errorf("%w (%q)", ErrNotDurable, v)
	}
	rp["application_name"] = cmp(rp["application_name"], "vitalchain-cloud")
	if !strings.Contains(url, "pool_max_conns=") {
		cfg.MaxConns = DefaultPoolSize
	}
	leaseCfg := cfg.Copy()
	leaseCfg.MaxConns, leaseCfg.MinConns = 2, 0
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open cloud store: %w", err)
	}
	lease, err := pgxpool.NewWithConfig(ctx, leaseCfg)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("open cloud store: %w", err)
	}
	st := &Store{pool: pool, lease: lease}
	ms, err := migrations()
	if err != nil {
		st.Close()
		return nil, err
	}
	if st.version, err = migrate(ctx, pool, ms); err != nil {
		st.Close()
		return nil, fmt.Errorf("open cloud store: %w", err)
	}
	return st, nil
}

func cmp(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// SchemaVersion returns the version of the schema, as migrated at Open.
func (s *Store) SchemaVersion() int { return s.version }

// Setting returns the value of a run-time setting in the store's sessions
// (synchronous_commit, say).
func (s *Store) Setting(ctx context.Context, name string) (string, error) {
	var v string
	if err := s.pool.QueryRow(ctx, "SELECT current_setting($1)", name).Scan(&v); err != nil {
		return "", fmt.Errorf("setting %s: %w", name, err)
	}
	return v, nil
}

// Close closes the store's connections.
func (s *Store) Close() error {
	s.pool.Close()
	s.lease.Close()
	return nil
}

func op() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), OpTimeout)
}

// pos converts a position or size to its column's type.
func pos(v uint64) (int64, error) {
	if v > math.MaxInt64 {
		return 0, fmt.Errorf("position %d beyond the store's range", v)
	}
	return int64(v), nil
}

// Size implements cloud.Store.
func (s *Store) Size(log uint8) (uint64, error) {
	ctx, cancel := op()
	defer cancel()
	var n int64
	err := s.pool.QueryRow(ctx, "SELECT size FROM cloud_logs WHERE log = $1", int16(log)).Scan(&n)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("size of log %d: %w", log, err)
	}
	return uint64(n), nil
}

// GetNodes implements cloud.Store.
func (s *Store) GetNodes(log uint8, ids []compact.NodeID) ([][merklelog.HashSize]byte, error) {
	out := make([][merklelog.HashSize]byte, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	levels := make([]int16, len(ids))
	idxs := make([]int64, len(ids))
	for i, id := range ids {
		if id.Level > math.MaxInt16 || id.Index > math.MaxInt64 {
			return nil, fmt.Errorf("%w: node %d/%d of log %d", merklelog.ErrNotFound, id.Level, id.Index, log)
		}
		levels[i], idxs[i] = int16(id.Level), int64(id.Index)
	}
	ctx, cancel := op()
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT n.level, n.idx, n.hash
		FROM unnest($2::int2[], $3::int8[]) AS q(level, idx)
		JOIN cloud_nodes n ON n.log = $1 AND n.level = q.level AND n.idx = q.idx`, int16(log), levels, idxs)
	if err != nil {
		return nil, fmt.Errorf("nodes of log %d: %w", log, err)
	}
	found := make(map[compact.NodeID][merklelog.HashSize]byte, len(ids))
	var (
		level int16
		idx   int64
		hash  []byte
	)
	_, err = pgx.ForEachRow(rows, []any{&level, &idx, &hash}, func() error {
		if len(hash) != merklelog.HashSize {
			return fmt.Errorf("corrupt node %d/%d of log %d: %d bytes", level, idx, log, len(hash))
		}
		found[compact.NewNodeID(uint(level), uint64(idx))] = [merklelog.HashSize]byte(hash)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("nodes of log %d: %w", log, err)
	}
	for i, id := range ids {
		h, ok := found[id]
		if !ok {
			return nil, fmt.Errorf("%w: node %d/%d of log %d", merklelog.ErrNotFound, id.Level, id.Index, log)
		}
		out[i] = h
	}
	return out, nil
}

// Append errors raised by cloud_advance.
const (
	sqlConflict = "VC001"
	sqlFenced   = "VC002"
)

// appendBatch commits one log's rows and nodes in one transaction: the
// queries go as one pipeline, which PostgreSQL runs as an implicit
// transaction committed at its end (or rolled back whole at its first
// error), so an append costs one round trip and one WAL flush. epoch, if
// not nil, fences it (see Fenced).
func (s *Store) appendBatch(log uint8, oldSize, newSize uint64, epoch *int64, nodes []merklelog.Node, rows func(*pgx.Batch) error) error {
	oldPos, err1 := pos(oldSize)
	newPos, err2 := pos(newSize)
	if err := errors.Join(err1, err2); err != nil {
		return fmt.Errorf("append to log %d: %w", log, err)
	}
	if newSize < oldSize {
		return fmt.Errorf("append to log %d: from size %d to %d", log, oldSize, newSize)
	}
	b := &pgx.Batch{}
	b.Queue("SELECT cloud_advance($1, $2, $3, $4)", int16(log), oldPos, newPos, epoch)
	if err := rows(b); err != nil {
		return fmt.Errorf("append to log %d: %w", log, err)
	}
	if len(nodes) > 0 {
		levels := make([]int16, len(nodes))
		idxs := make([]int64, len(nodes))
		hashes := make([][]byte, len(nodes))
		for i := range nodes {
			n := &nodes[i]
			if n.ID.Level > math.MaxInt16 || n.ID.Index > math.MaxInt64 {
				return fmt.Errorf("append to log %d: node %d/%d beyond the store's range", log, n.ID.Level, n.ID.Index)
			}
			levels[i], idxs[i], hashes[i] = int16(n.ID.Level), int64(n.ID.Index), n.Hash[:]
		}
		b.Queue(`INSERT INTO cloud_nodes (log, level, idx, hash)
			SELECT $1, * FROM unnest($2::int2[], $3::int8[], $4::bytea[])`, int16(log), levels, idxs, hashes)
	}
	ctx, cancel := op()
	defer cancel()
	err := s.pool.SendBatch(ctx, b).Close()
	var pe *pgconn.PgError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &pe) && pe.Code == sqlConflict:
		return fmt.Errorf("%w: %s", merklelog.ErrConflict, pe.Message)
	case errors.As(err, &pe) && pe.Code == sqlFenced:
		return fmt.Errorf("%w: %s", cloud.ErrNotLeader, pe.Message)
	}
	return fmt.Errorf("append %d entries to log %d at %d: %w", newSize-oldSize, log, oldSize, err)
}

func (s *Store) appendRecords(epoch *int64, oldSize, newSize uint64, recs []cloud.StoredRecord, nodes []merklelog.Node) error {
	return s.appendBatch(cloud.LogRecords, oldSize, newSize, epoch, nodes, func(b *pgx.Batch) error {
		if len(recs) == 0 {
			return nil
		}
		ids := make([][]byte, len(recs))
		idxs := make([]int64, len(recs))
		patients := make([][]byte, len(recs))
		received := make([]int64, len(recs))
		bodies := make([][]byte, len(recs))
		for i := range recs {
			r := &recs[i]
			p, err := pos(r.Index)
			if err != nil {
				return err
			}
			ids[i], idxs[i], patients[i], received[i], bodies[i] = r.ID[:], p, r.Patient[:], r.Received, r.Bytes
		}
		// The kind column is always 0: it held the record's vital sign while
		// record headers named it (record format version 1), and is kept so
		// that the schema needs no migration.
		b.Queue(`INSERT INTO cloud_records (id, idx, patient, kind, received, body)
			SELECT id, idx, patient, 0, received, body FROM unnest($1::bytea[], $2::int8[], $3::bytea[], $4::int8[], $5::bytea[])
				AS t(id, idx, patient, received, body)`,
			ids, idxs, patients, received, bodies)
		return nil
	})
}

func (s *Store) appendAccess(epoch *int64, oldSize, newSize uint64, entries []cloudapi.AccessEntry, nodes []merklelog.Node) error {
	return s.appendBatch(cloud.LogAccess, oldSize, newSize, epoch, nodes, func(b *pgx.Batch) error {
		if len(entries) == 0 {
			return nil
		}
		idxs := make([]int64, len(entries))
		at := make([]int64, len(entries))
		requesters := make([][]byte, len(entries))
		patients := make([][]byte, len(entries))
		records := make([][]byte, len(entries))
		allowed := make([]bool, len(entries))
		reasons := make([]string, len(entries))
		ops := make([]string, len(entries))
		requests := make([][]byte, len(entries))
		erased := make([]int64, len(entries))
		for i := range entries {
			e := &entries[i]
			p, err1 := pos(e.Index)
			n, err2 := pos(e.Erased)
			if err := errors.Join(err1, err2); err != nil {
				return err
			}
			idxs[i], at[i], requesters[i], patients[i], records[i], allowed[i], reasons[i] = p, e.Time, e.Requester[:], e.Patient[:], e.Record[:], e.Allowed, e.Reason
			ops[i], requests[i], erased[i] = e.Op, e.Request, n
		}
		b.Queue(`INSERT INTO cloud_access (idx, at, requester, patient, record, allowed, reason, op, request, erased)
			SELECT * FROM unnest($1::int8[], $2::int8[], $3::bytea[], $4::bytea[], $5::bytea[], $6::bool[], $7::text[], $8::text[], $9::bytea[], $10::int8[])`,
			idxs, at, requesters, patients, records, allowed, reasons, ops, requests, erased)
		return nil
	})
}

// AppendRecords implements cloud.Store. It is not fenced: a process that
// shares the database with others appends through Fenced.
func (s *Store) AppendRecords(oldSize, newSize uint64, recs []cloud.StoredRecord, nodes []merklelog.Node) error {
	return s.appendRecords(nil, oldSize, newSize, recs, nodes)
}

// AppendAccess implements cloud.Store, unfenced like AppendRecords.
func (s *Store) AppendAccess(oldSize, newSize uint64, entries []cloudapi.AccessEntry, nodes []merklelog.Node) error {
	return s.appendAccess(nil, oldSize, newSize, entries, nodes)
}

// id32 copies a 32-byte column.
func id32(b []byte, what string) ([32]byte, error) {
	if len(b) != 32 {
		return [32]byte{}, fmt.Errorf("corrupt %s: %d bytes", what, len(b))
	}
	return [32]byte(b), nil
}

const recordColumns = "id, idx, patient, kind, received, body, erased"

// scanRecord reads a row of recordColumns.
func scanRecord(row pgx.Row) (*cloud.StoredRecord, error) {
	var (
		id, patient []byte
		idx         int64
		kind        int16
		r           cloud.StoredRecord
	)
	if err := row.Scan(&id, &idx, &patient, &kind, &r.Received, &r.Bytes, &r.Erased); err != nil {
		return nil, err
	}
	if r.Erased {
		r.Bytes = nil
	}
	var err1, err2 error
	r.ID, err1 = id32(id, "record ID")
	var p [32]byte
	p, err2 = id32(patient, "patient ID")
	if err := errors.Join(err1, err2); err != nil {
		return nil, err
	}
	if kind < 0 || kind > math.MaxUint8 || idx < 0 {
		return nil, fmt.Errorf("corrupt record %x: kind %d, position %d", r.ID[:8], kind, idx)
	}
	r.Patient, r.Index = identity.ID(p), uint64(idx)
	return &r, nil
}

// Record implements cloud.Store.
func (s *Store) Record(id [32]byte) (*cloud.StoredRecord, error) {
	ctx, cancel := op()
	defer cancel()
	r, err := scanRecord(s.pool.QueryRow(ctx, "SELECT "+recordColumns+" FROM cloud_records WHERE id = $1", id[:]))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("record %x: %w", id[:8], cloud.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("record %x: %w", id[:8], err)
	}
	return r, nil
}

// Lookup implements cloud.BatchLookup: the positions of those of ids that
// are stored, in one query.
func (s *Store) Lookup(ids [][32]byte) (map[[32]byte]uint64, error) {
	out := make(map[[32]byte]uint64)
	if len(ids) == 0 {
		return out, nil
	}
	bs := make([][]byte, len(ids))
	for i := range ids {
		bs[i] = ids[i][:]
	}
	ctx, cancel := op()
	defer cancel()
	rows, err := s.pool.Query(ctx, "SELECT id, idx FROM cloud_records WHERE id = ANY($1::bytea[])", bs)
	if err != nil {
		return nil, fmt.Errorf("look up %d records: %w", len(ids), err)
	}
	var (
		id  []byte
		idx int64
	)
	_, err = pgx.ForEachRow(rows, []any{&id, &idx}, func() error {
		rid, err := id32(id, "record ID")
		if err != nil || idx < 0 {
			return errors.Join(err, errNegative(idx))
		}
		out[rid] = uint64(idx)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("look up %d records: %w", len(ids), err)
	}
	return out, nil
}

// RecordsFrom implements cloud.Store.
func (s *Store) RecordsFrom(from uint64, limit int) ([]cloud.StoredRecord, error) {
	if limit <= 0 || from > math.MaxInt64 {
		return nil, nil
	}
	ctx, cancel := op()
	defer cancel()
	rows, err := s.pool.Query(ctx, "SELECT "+recordColumns+" FROM cloud_records WHERE idx >= $1 ORDER BY idx LIMIT $2", int64(from), limit)
	if err != nil {
		return nil, fmt.Errorf("records from %d: %w", from, err)
	}
	defer rows.Close()
	var out []cloud.StoredRecord
	for rows.Next() {
		r, err := scanRecord(rows)
		if err != nil {
			return nil, fmt.Errorf("records from %d: %w", from, err)
		}
		out = append(out, *r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("records from %d: %w", from, err)
	}
	return out, nil
}

// Access implements cloud.Store.
func (s *Store) Access(patient identity.ID, from uint64, limit int) ([]cloudapi.AccessEntry, error) {
	if limit <= 0 || from > math.MaxInt64 {
		return nil, nil
	}
	ctx, cancel := op()
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT idx, at, requester, patient, record, allowed, reason, op, request, erased FROM cloud_access
		WHERE patient = $1 AND idx >= $2 ORDER BY idx LIMIT $3`, patient[:], int64(from), limit)
	if err != nil {
		return nil, fmt.Errorf("access entries of %s: %w", patient, err)
	}
	defer rows.Close()
	var out []cloudapi.AccessEntry
	for rows.Next() {
		var (
			e               cloudapi.AccessEntry
			idx, erased     int64
			req, pat, recID []byte
		)
		if err := rows.Scan(&idx, &e.Time, &req, &pat, &recID, &e.Allowed, &e.Reason, &e.Op, &e.Request, &erased); err != nil {
			return nil, fmt.Errorf("access entries of %s: %w", patient, err)
		}
		if erased < 0 {
			return nil, fmt.Errorf("access entry %d: corrupt: %d records erased", idx, erased)
		}
		e.Erased = uint64(erased)
		if len(e.Request) == 0 {
			e.Request = nil
		}
		r, err1 := id32(req, "requester ID")
		p, err2 := id32(pat, "patient ID")
		rec, err3 := id32(recID, "record ID")
		if err := errors.Join(err1, err2, err3); err != nil || idx < 0 {
			return nil, fmt.Errorf("access entry %d: %w", idx, errors.Join(err, errNegative(idx)))
		}
		e.Index, e.Requester, e.Patient, e.Record = uint64(idx), identity.ID(r), identity.ID(p), rec
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("access entries of %s: %w", patient, err)
	}
	return out, nil
}

// Erase implements cloud.Store: one UPDATE, committed before it returns.
// PostgreSQL keeps a deleted value in the table's dead row versions until
// VACUUM reclaims their space (and new rows overwrite it), and in its
// write-ahead log, archives and backups as long as those are kept: no
// query returns it, but the database's files are the operator's to purge.
func (s *Store) Erase(patient identity.ID) ([][32]byte, error) {
	ctx, cancel := op()
	defer cancel()
	rows, err := s.pool.Query(ctx, `UPDATE cloud_records SET body = ''::bytea, kind = 0, erased = true
		WHERE patient = $1 AND NOT erased RETURNING id`, patient[:])
	if err != nil {
		return nil, fmt.Errorf("erase the records of %s: %w", patient, err)
	}
	var (
		ids [][32]byte
		id  []byte
	)
	_, err = pgx.ForEachRow(rows, []any{&id}, func() error {
		rid, err := id32(id, "record ID")
		ids = append(ids, rid)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("erase the records of %s: %w", patient, err)
	}
	return ids, nil
}

func errNegative(idx int64) error {
	if idx < 0 {
		return errors.New("corrupt: negative position")
	}
	return nil
}

// Nonce implements cloud.Store: one INSERT … ON CONFLICT DO NOTHING,
// committed before it returns, so that of two concurrent calls (on one
// process or two) one at most inserts.
func (s *Store) Nonce(requester identity.ID, nonce [16]byte, expires int64) (bool, error) {
	ctx, cancel := op()
	defer cancel()
	tag, err := s.pool.Exec(ctx, `INSERT INTO cloud_nonces (requester, nonce, expires) VALUES ($1, $2, $3)
		ON CONFLICT DO NOTHING`, requester[:], nonce[:], expires)
	if err != nil {
		return false, fmt.Errorf("request nonce: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

// ForgetNonces implements cloud.Store.
func (s *Store) ForgetNonces(now int64) error {
	ctx, cancel := op()
	defer cancel()
	if _, err := s.pool.Exec(ctx, "DELETE FROM cloud_nonces WHERE expires < $1", now); err != nil {
		return fmt.Errorf("forget nonces: %w", err)
	}
	return nil
}
