// Package pgtest gives a test a PostgreSQL schema of its own: new, empty,
// and dropped when the test ends, so that tests that need PostgreSQL are
// independent and may run in parallel on one database.
//
// The database is the one at $VITALCHAIN_TEST_POSTGRES_URL, by default
// postgres://postgres@127.0.0.1:5432/test (trust authentication). When it
// does not answer, the test is skipped, saying why; with
// VITALCHAIN_TEST_POSTGRES=1 (./test.sh sets it, after starting a server
// if none answers) it fails instead, so that the project's test command
// never passes without running them.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// The environment variables pgtest reads.
const (
	EnvURL     = "VITALCHAIN_TEST_POSTGRES_URL"
	EnvRequire = "VITALCHAIN_TEST_POSTGRES"
)

// DefaultURL is the database used when EnvURL is not set.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// Base returns the URL of the test database.
func Base() string {
	if u := os.Getenv(EnvURL); u != "" {
		return u
	}
	return DefaultURL
}

// URL returns the URL of a new, empty schema of the test database (its
// search_path), dropped when t ends. It skips t if the database does not
// answer, or fails it if EnvRequire is 1.
func URL(t testing.TB) string {
	t.Helper()
	u, reason := Try(t)
	if u == "" {
		t.Skip(reason)
	}
	return u
}

// Try is URL for a test that has more to do without PostgreSQL: it
// returns "" and why, instead of skipping, if the database does not
// answer (and fails t if EnvRequire is 1).
func Try(t testing.TB) (schemaURL, reason string) {
	t.Helper()
	base := Base()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		msg := fmt.Sprintf("PostgreSQL at %s does not answer (%v); set %s to a database, or run ./test.sh, which starts one", redact(base), err, EnvURL)
		if os.Getenv(EnvRequire) == "1" {
			t.Fatalf("%s=1 but %s", EnvRequire, msg)
		}
		return "", msg
	}
	defer conn.Close(context.Background())
	var b [8]byte
	rand.Read(b[:])
	schema := "vctest_" + hex.EncodeToString(b[:])
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema %s: %v", schema, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Logf("drop schema %s: %v", schema, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Logf("drop schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("%s: %v", EnvURL, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), ""
}

// redact hides a URL's password.
func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "the configured URL"
	}
	return u.Redacted()
}
