package pgstore

// ParseMigrations and Migrations, for the tests.
var (
	ParseMigrations = parseMigrations
	Migrations      = migrations
)
