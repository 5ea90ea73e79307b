package index

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/docent-rag/docent/migrations"
)

// MigrationsTable records which migrations have been applied, one row per migration.
const MigrationsTable = "schema_migrations"

// Migration is one applied migration.
type Migration struct {
	Version  int64
	File     string
	Duration time.Duration
}

// SchemaError says that the database schema does not match what this binary was built for.
type SchemaError struct {
	Current, Want int64
}

func (e *SchemaError) Error() string {
	if e.Current > e.Want {
		return fmt.Sprintf("database schema is at version %d, newer than this binary's %d: upgrade Docent", e.Current, e.Want)
	}
	return fmt.Sprintf("database schema is at version %d, this binary needs %d: run `ingest migrate`", e.Current, e.Want)
}

// newMigrator returns a goose provider over db. Concurrent migrators (two deploys, parallel
// test processes) serialise on a session advisory lock.
func newMigrator(db *sql.DB) (*goose.Provider, error) {
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockTimeout(1, 600))
	if err != nil {
		return nil, fmt.Errorf("migration lock: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, migrations.FS,
		goose.WithTableName(MigrationsTable), goose.WithSessionLocker(locker))
	if err != nil {
		return nil, fmt.Errorf("load migrations: %w", err)
	}
	return p, nil
}

// Migrate applies the pending migrations to the database at url, each in its own
// transaction, and returns the ones it applied (none when the schema is current).
func Migrate(ctx context.Context, url string) ([]Migration, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parse database URL: %w", redactURLError(err))
	}
	db := stdlib.OpenDB(*cfg)
	defer db.Close()
	if err := db.PingContext(ctx); err != nil {
		return nil, fmt.Errorf("connect to %s: %w", describeDB(cfg), err)
	}
	p, err := newMigrator(db)
	if err != nil {
		return nil, err
	}
	results, err := p.Up(ctx)
	applied := make([]Migration, 0, len(results))
	for _, r := range results {
		if r.Error == nil {
			applied = append(applied, Migration{Version: r.Source.Version, File: r.Source.Path, Duration: r.Duration})
		}
	}
	if err != nil {
		var pe *goose.PartialError
		if errors.As(err, &pe) && pe.Failed != nil {
			return applied, fmt.Errorf("migration %s failed (rolled back; earlier ones stay applied): %w", pe.Failed.Source.Path, pe.Err)
		}
		return applied, fmt.Errorf("migrate: %w", err)
	}
	return applied, nil
}

// LatestVersion is the schema version of the migrations embedded in this binary.
func LatestVersion() (int64, error) {
	files, err := fs.Glob(migrations.FS, "*.sql")
	if err != nil {
		return 0, fmt.Errorf("list migrations: %w", err)
	}
	var latest int64
	for _, f := range files {
		prefix, _, ok := strings.Cut(f, "_")
		v, err := strconv.ParseInt(prefix, 10, 64)
		if !ok || err != nil {
			return 0, fmt.Errorf("migration %s: name must start with a number and an underscore", f)
		}
		latest = max(latest, v)
	}
	return latest, nil
}

// SchemaVersion reports the version the database is at (0 when it has never been migrated)
// and the version this binary needs. It only reads.
func SchemaVersion(ctx context.Context, db DBTX) (current, want int64, err error) {
	if want, err = LatestVersion(); err != nil {
		return 0, 0, err
	}
	var exists bool
	if err := db.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, MigrationsTable).Scan(&exists); err != nil {
		return 0, 0, fmt.Errorf("read schema version: %w", err)
	}
	if !exists {
		return 0, want, nil
	}
	if err := db.QueryRow(ctx, `SELECT coalesce(max(version_id), 0) FROM `+MigrationsTable).Scan(&current); err != nil {
		return 0, 0, fmt.Errorf("read schema version: %w", err)
	}
	return current, want, nil
}

// CheckSchema returns a *SchemaError unless the database is at exactly the schema version
// this binary was built for. Servers call it at start-up and refuse to run on a mismatch.
func CheckSchema(ctx context.Context, db DBTX) error {
	current, want, err := SchemaVersion(ctx, db)
	if err != nil {
		return err
	}
	if current != want {
		return &SchemaError{Current: current, Want: want}
	}
	return nil
}

// SchemaHash identifies the content of the embedded migrations: databases made by tools
// (test templates, evaluation databases) are named after it, so that a changed migration
// never reuses one made with the old schema.
func SchemaHash() (string, error) {
	names, err := fs.Glob(migrations.FS, "*.sql")
	if err != nil {
		return "", fmt.Errorf("list migrations: %w", err)
	}
	sort.Strings(names)
	h := sha256.New()
	for _, n := range names {
		b, err := fs.ReadFile(migrations.FS, n)
		if err != nil {
			return "", fmt.Errorf("read migration %s: %w", n, err)
		}
		fmt.Fprintf(h, "%s\x00%d\x00", n, len(b))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
