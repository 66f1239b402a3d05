package pgstore

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// ParseMigrations and Migrations, for the tests.
var (
	ParseMigrations = parseMigrations
	Migrations      = migrations
)

// MigrateTo migrates the schema of url up to version n only, as an older
// binary would have.
func MigrateTo(ctx context.Context, url string, n int) error {
	ms, err := migrations()
	if err != nil {
		return err
	}
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer c.Close(ctx)
	_, err = migrate(ctx, c, ms[:n])
	return err
}
