package pgstore

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// ErrSchemaTooNew is returned by Open for a database whose schema a newer
// binary migrated: this one does not know its tables.
var ErrSchemaTooNew = errors.New("database schema is newer than this binary")

// migration is one numbered step of the schema.
type migration struct {
	version int
	name    string
	sql     string
}

// migrations returns the embedded migrations in order. Their files are
// named NNNN_what.sql, numbered 1, 2, … without gaps.
func migrations() ([]migration, error) {
	return parseMigrations(migrationFiles, "migrations")
}

func parseMigrations(fsys fs.FS, dir string) ([]migration, error) {
	ents, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	var ms []migration
	for _, e := range ents {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 || !strings.HasSuffix(e.Name(), ".sql") {
			return nil, fmt.Errorf("migration %q: want a name NNNN_what.sql", e.Name())
		}
		b, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", e.Name(), err)
		}
		ms = append(ms, migration{version: v, name: e.Name(), sql: string(b)})
	}
	slices.SortFunc(ms, func(a, b migration) int { return a.version - b.version })
	for i, m := range ms {
		if m.version != i+1 {
			return nil, fmt.Errorf("migration %s: version %d, want %d (versions run 1, 2, … without gaps)", m.name, m.version, i+1)
		}
	}
	return ms, nil
}

// migrationLock is the key of the advisory lock under which the schema is
// migrated: processes opening one database together take turns, and the
// later ones find the schema up to date.
const migrationLock = 0x7669_7461_6c63_6801 // "vitalch", 1

// migrate brings the schema up to the latest embedded migration, in one
// transaction, and returns its version.
func migrate(ctx context.Context, conn interface {
	Begin(context.Context) (pgx.Tx, error)
}, ms []migration) (int, error) {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("migrate: %w", err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", int64(migrationLock)); err != nil {
		return 0, fmt.Errorf("migrate: lock: %w", err)
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS cloud_schema_version (
		version    integer PRIMARY KEY,
		name       text NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return 0, fmt.Errorf("migrate: version table: %w", err)
	}
	var cur int
	if err := tx.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM cloud_schema_version").Scan(&cur); err != nil {
		return 0, fmt.Errorf("migrate: read version: %w", err)
	}
	latest := len(ms)
	if cur > latest {
		return cur, fmt.Errorf("%w: version %d, this binary knows up to %d", ErrSchemaTooNew, cur, latest)
	}
	for _, m := range ms[cur:] {
		if _, err := tx.Exec(ctx, m.sql); err != nil {
			return cur, fmt.Errorf("migrate to version %d (%s): %w", m.version, m.name, err)
		}
		if _, err := tx.Exec(ctx, "INSERT INTO cloud_schema_version (version, name) VALUES ($1, $2)", m.version, m.name); err != nil {
			return cur, fmt.Errorf("migrate to version %d: %w", m.version, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return cur, fmt.Errorf("migrate: commit: %w", err)
	}
	return latest, nil
}
