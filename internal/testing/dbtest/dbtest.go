// Package dbtest gives each test its own freshly migrated PostgreSQL database.
//
// The first test in a process creates (once per set of migrations, shared by every test
// process on the server) a template database with the whole schema applied; each test then
// gets a clone of it with CREATE DATABASE ... TEMPLATE, which takes a fraction of a second,
// and the clone is dropped when the test ends. Tests are therefore isolated from each other
// and may run with t.Parallel().
//
// The server is DOCENT_TEST_DATABASE_URL, else DOCENT_DATABASE_URL, else the private cluster
// of `make db`. When it cannot be reached, tests skip with a hint, except under CI=true, where
// they fail: CI must never pass by skipping.
package dbtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/docent-rag/docent/internal/config"
	"github.com/docent-rag/docent/internal/index"
)

// DB is one test's database.
type DB struct {
	Pool *pgxpool.Pool // connected to the test's database, with pgvector types registered
	URL  string        // URL of the test's database, for subprocesses and separate connections
	Name string
}

const (
	templatePrefix = "docent_tmpl_"
	testPrefix     = "docent_test_"
	// Test databases left behind by a killed test process are dropped once this old.
	staleAfter = 2 * time.Hour
)

// ServerURL is the URL of the server the tests use.
func ServerURL() string {
	if u := os.Getenv(config.TestDatabaseURL); u != "" {
		return u
	}
	return config.DatabaseURLFrom(os.Getenv)
}

// harness is the per-process state: a connection for administrative statements (CREATE and
// DROP DATABASE) and the template's name. Set up once, on first use.
type harness struct {
	admin    *pgxpool.Pool
	server   *url.URL
	template string
	err      error
}

var (
	setupOnce sync.Once
	shared    harness
)

// New returns a new migrated database for t, dropped when t ends.
func New(t testing.TB) *DB {
	t.Helper()
	return create(t, true)
}

// NewEmpty returns a new database without Docent's schema (but with the vector extension
// when the server's template1 has it, as the local cluster's does), dropped when t ends. For
// tests of migrating and of refusing an unmigrated database.
func NewEmpty(t testing.TB) *DB {
	t.Helper()
	return create(t, false)
}

func create(t testing.TB, migrated bool) *DB {
	t.Helper()
	setupOnce.Do(func() { shared = setup() })
	if shared.err != nil {
		unavailable(t, shared.err)
	}
	ctx := context.Background()

	// The creation time is in the name, so that a later run can tell a database left behind
	// by a killed test process from one in use.
	name := fmt.Sprintf("%s%d_%s", testPrefix, time.Now().Unix(), randomHex(4))
	// WAL_LOG (PostgreSQL 15's default strategy) copies the template block by block through
	// the WAL: fast for a small template and, unlike FILE_COPY, it forces no checkpoint.
	template := "template1"
	if migrated {
		template = shared.template
	}
	if _, err := shared.admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()+
		" TEMPLATE "+pgx.Identifier{template}.Sanitize()); err != nil {
		t.Fatalf("dbtest: create database %s: %v", name, err)
	}
	t.Cleanup(func() { drop(t, name) })

	u := *shared.server
	u.Path = "/" + name
	var pool *pgxpool.Pool
	var err error
	if migrated {
		pool, err = index.Open(ctx, u.String())
	} else {
		// Without the schema there may be no vector type to register.
		pool, err = pgxpool.New(ctx, u.String())
	}
	if err != nil {
		t.Fatalf("dbtest: %v", err)
	}
	t.Cleanup(pool.Close)
	return &DB{Pool: pool, URL: u.String(), Name: name}
}

// PgBouncerURL returns the URL of d's database through the PgBouncer (transaction pooling)
// named by DOCENT_TEST_PGBOUNCER_URL, which `make test` starts in front of the private
// cluster, with pgx describing statements instead of preparing them by name (what a
// transaction pooler needs). Without one the test skips, except under CI=true, where it fails.
func (d *DB) PgBouncerURL(t testing.TB) string {
	t.Helper()
	b := serviceURL(t, config.TestPgBouncerURL, "PgBouncer", "pgbouncer")
	u, err := url.Parse(d.URL)
	if err != nil {
		t.Fatalf("dbtest: parse the test database's URL: %v", err)
	}
	u.Host = b.Host
	q := u.Query()
	q.Set("default_query_exec_mode", "cache_describe")
	u.RawQuery = q.Encode()
	return u.String()
}

// Drop drops the database name on the tests' server, if it exists: for databases a test made
// some other way than New (a command under test that creates its own). It fails t if the
// database cannot be dropped.
func Drop(t testing.TB, name string) {
	t.Helper()
	setupOnce.Do(func() { shared = setup() })
	if shared.err != nil {
		unavailable(t, shared.err)
	}
	drop(t, name)
}

func drop(t testing.TB, name string) {
	// FORCE ends connections the test leaked (a subprocess still connected, say). It cannot
	// end an autovacuum worker that happens to be in the database (PostgreSQL 15 refuses with
	// insufficient_privilege, as the worker has no role a non-superuser may signal); the
	// worker finishes within moments, so try again a few times.
	var err error
	for attempt := range 20 {
		_, err = shared.admin.Exec(context.Background(), "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
		var pgErr *pgconn.PgError
		if err == nil || !errors.As(err, &pgErr) || pgErr.Code != "42501" {
			break
		}
		time.Sleep(time.Duration(attempt+1) * 50 * time.Millisecond)
	}
	if err != nil {
		t.Errorf("dbtest: drop database %s: %v", name, err)
	}
}

func unavailable(t testing.TB, err error) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("dbtest: no test database (CI=true, so this fails instead of skipping): %v", err)
	}
	t.Skipf("dbtest: no test database: %v\n\trun `make db` (or set %s) to run this test", err, config.TestDatabaseURL)
}

func setup() harness {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	server, err := url.Parse(ServerURL())
	if err != nil {
		return harness{err: fmt.Errorf("parse %s: invalid URL", config.TestDatabaseURL)}
	}
	cfg, err := pgxpool.ParseConfig(server.String())
	if err != nil {
		return harness{err: fmt.Errorf("parse test database URL: %w", err)}
	}
	cfg.MaxConns = 4
	cfg.ConnConfig.ConnectTimeout = 5 * time.Second
	admin, err := pgxpool.NewWithConfig(ctx, cfg)
	if err == nil {
		err = admin.Ping(ctx)
	}
	if err != nil {
		return harness{err: fmt.Errorf("cannot reach PostgreSQL at %s:%d: %w", cfg.ConnConfig.Host, cfg.ConnConfig.Port, err)}
	}
	template, err := ensureTemplate(ctx, admin, server)
	if err != nil {
		admin.Close()
		return harness{err: err}
	}
	return harness{admin: admin, server: server, template: template}
}

// ensureTemplate creates the migrated template database for the current migrations unless it
// exists, and drops templates of older migrations and stale test databases. Test processes
// running at once serialise on an advisory lock.
func ensureTemplate(ctx context.Context, admin *pgxpool.Pool, server *url.URL) (string, error) {
	name, err := templateName()
	if err != nil {
		return "", err
	}
	conn, err := admin.Acquire(ctx)
	if err != nil {
		return "", fmt.Errorf("acquire admin connection: %w", err)
	}
	defer conn.Release()
	const lockKey = "docent.dbtest.template"
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock(hashtext($1))", lockKey); err != nil {
		return "", fmt.Errorf("lock template: %w", err)
	}
	defer func() {
		// Best effort: the lock also ends with the session.
		_, _ = conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock(hashtext($1))", lockKey)
	}()

	cleanStale(ctx, conn.Conn(), name)

	var ready bool
	err = conn.QueryRow(ctx, `
		SELECT coalesce(shobj_description(oid, 'pg_database') LIKE 'ready at %', false)
		FROM pg_database WHERE datname = $1`, name).Scan(&ready)
	switch {
	case err == nil && ready:
		return name, nil
	case err == nil:
		// Left half-made by a process that died while migrating it.
		if _, err := conn.Exec(ctx, "DROP DATABASE "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			return "", fmt.Errorf("drop unfinished template %s: %w", name, err)
		}
	case !errors.Is(err, pgx.ErrNoRows):
		return "", fmt.Errorf("look up template %s: %w", name, err)
	}

	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", fmt.Errorf("create template %s: %w", name, err)
	}
	u := *server
	u.Path = "/" + name
	if _, err := index.Migrate(ctx, u.String()); err != nil {
		return "", fmt.Errorf("migrate template %s: %w", name, err)
	}
	if _, err := conn.Exec(ctx, "COMMENT ON DATABASE "+pgx.Identifier{name}.Sanitize()+" IS "+quoteLiteral("ready at "+time.Now().UTC().Format(time.RFC3339))); err != nil {
		return "", fmt.Errorf("mark template %s ready: %w", name, err)
	}
	return name, nil
}

// cleanStale drops templates of other migration sets and test databases older than
// staleAfter (left by killed test processes). Errors are ignored: a database that is in use
// is simply kept for a later run.
func cleanStale(ctx context.Context, conn *pgx.Conn, keep string) {
	rows, err := conn.Query(ctx, `
		SELECT datname FROM pg_database
		WHERE (datname LIKE $1 AND datname <> $2
		       AND coalesce(substring(shobj_description(oid, 'pg_database') FROM '^ready at (.*)$')::timestamptz, '-infinity') < now() - $4 * interval '1 second')
		   OR CASE WHEN datname ~ ('^' || $3 || '[0-9]+_')  -- CASE: the cast must only see matching names
		           THEN to_timestamp(split_part(datname, '_', 3)::bigint) < now() - $4 * interval '1 second'
		           ELSE false END`,
		templatePrefix+"%", keep, testPrefix, staleAfter.Seconds())
	if err != nil {
		return
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return
	}
	for _, n := range names {
		_, _ = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{n}.Sanitize())
	}
}

// templateName depends on the content of every migration, so a changed migration gets a new
// template instead of clones of a stale one.
func templateName() (string, error) {
	h, err := index.SchemaHash()
	if err != nil {
		return "", err
	}
	return templatePrefix + h[:16], nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func quoteLiteral(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// Standby is the disposable hot standby of the tests' server (DOCENT_TEST_REPLICA_URL, which
// `make test` starts with `scripts/db.sh test-replica`), held by one test at a time: a test
// may pause its replay, stop it and start it again. Each test database, cloned on the
// server, reaches it by streaming.
type Standby struct {
	url  *url.URL
	root string // the repository, whose scripts/db.sh manages the standby
}

// standbyLock is the advisory lock that test processes take turns on to hold the standby.
const standbyLock = 0x646f63656e74 // "docent"

// serviceURL returns the URL of a service `make test` starts beside the cluster (named by the
// variable env; scripts/db.sh command starts it). Without one the test skips, except under
// CI=true, where it fails.
func serviceURL(t testing.TB, env, name, command string) *url.URL {
	t.Helper()
	raw := os.Getenv(env)
	if raw == "" {
		msg := fmt.Sprintf("dbtest: no %s: run the tests through `make test`, or start one with `scripts/db.sh %s` and set %s", name, command, env)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("dbtest: parse %s: invalid URL", env)
	}
	return u
}

// TestStandby returns the disposable standby, held by t alone until it ends (across test
// processes, through a session advisory lock on the tests' server); when t ends, its replay
// is resumed and it is started if stopped. Without one the test skips, except under
// CI=true, where it fails.
func TestStandby(t testing.TB) *Standby {
	t.Helper()
	u := serviceURL(t, config.TestReplicaURL, "test standby", "test-replica")
	setupOnce.Do(func() { shared = setup() })
	if shared.err != nil {
		unavailable(t, shared.err)
	}
	root, err := repoRoot()
	if err != nil {
		t.Fatalf("dbtest: %v", err)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, shared.server.String())
	if err != nil {
		t.Fatalf("dbtest: %v", err)
	}
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", standbyLock); err != nil {
		t.Fatalf("dbtest: wait for the test standby: %v", err)
	}
	s := &Standby{url: u, root: root}
	t.Cleanup(func() {
		s.Start(t)
		s.Resume(t)
		_ = conn.Close(context.Background()) // ends the session, and the lock with it
	})
	return s
}

// URL is d's database on the standby.
func (s *Standby) URL(d *DB) string {
	u := *s.url
	u.Path = "/" + d.Name
	return u.String()
}

// Pause pauses the standby's WAL replay: it lags from now on.
func (s *Standby) Pause(t testing.TB) { t.Helper(); s.script(t, "test-replica-pause") }

// Resume resumes its replay.
func (s *Standby) Resume(t testing.TB) { t.Helper(); s.script(t, "test-replica-resume") }

// Stop stops the standby (a fast shutdown: connections are ended).
func (s *Standby) Stop(t testing.TB) { t.Helper(); s.script(t, "test-replica-down") }

// Start starts it when it is stopped.
func (s *Standby) Start(t testing.TB) { t.Helper(); s.script(t, "test-replica") }

func (s *Standby) script(t testing.TB, command string) {
	t.Helper()
	cmd := exec.Command(filepath.Join(s.root, "scripts", "db.sh"), command)
	// The script manages the private cluster's standby, which DOCENT_DATABASE_URL would name
	// another server for.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, config.DatabaseURL+"=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("dbtest: scripts/db.sh %s: %v\n%s", command, err, out)
	}
}

// CatchUp waits (up to a minute) until the standby has replayed everything the server had
// written when it was called: d's database, and what was written in it so far.
func (s *Standby) CatchUp(t testing.TB, d *DB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var lsn string
	if err := shared.admin.QueryRow(ctx, "SELECT pg_current_wal_lsn()::text").Scan(&lsn); err != nil {
		t.Fatalf("dbtest: the server's WAL position: %v", err)
	}
	u := *s.url
	u.Path = "/postgres"
	for {
		var done bool
		conn, err := pgx.Connect(ctx, u.String())
		if err == nil {
			err = conn.QueryRow(ctx, "SELECT pg_last_wal_replay_lsn() >= $1::text::pg_lsn", lsn).Scan(&done)
			_ = conn.Close(ctx)
		}
		if err == nil && done {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("dbtest: the test standby did not replay up to %s within a minute (last error: %v)", lsn, err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// repoRoot is the directory of go.mod above the working directory.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}
