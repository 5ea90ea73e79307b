package index

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	pgxvec "github.com/pgvector/pgvector-go/pgx"
)

// DBTX is what the queries in this package need: a pool, a connection or a transaction.
type DBTX interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	CopyFrom(ctx context.Context, table pgx.Identifier, columns []string, src pgx.CopyFromSource) (int64, error)
}

// Beginner starts a transaction: *pgxpool.Pool, *pgx.Conn, or pgx.Tx (a savepoint).
type Beginner interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}

// ErrNotFound is returned when a looked-up row does not exist.
var ErrNotFound = errors.New("not found")

// Open connects a pool to the database at url and checks that it answers. Connections know
// pgvector's types, so the database must have the vector extension (run migrations first).
func Open(ctx context.Context, url string) (*pgxpool.Pool, error) {
	cfg, err := poolConfig(url)
	if err != nil {
		return nil, err
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", describeDB(cfg.ConnConfig), err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to %s: %w", describeDB(cfg.ConnConfig), err)
	}
	return pool, nil
}

// poolConfig parses url into the configuration of a pool whose connections know pgvector's
// types.
func poolConfig(url string) (*pgxpool.Config, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parse database URL: %w", redactURLError(err))
	}
	cfg.AfterConnect = func(ctx context.Context, conn *pgx.Conn) error {
		if err := pgxvec.RegisterTypes(ctx, conn); err != nil {
			if hinted := poolerHint(err); hinted != err {
				return hinted
			}
			return fmt.Errorf("register pgvector types (is the schema migrated? run `ingest migrate`): %w", err)
		}
		return nil
	}
	return cfg, nil
}

// poolerHint explains the errors of named prepared statements behind a connection pooler in
// transaction mode (PgBouncer before 1.21): another client's statement of the same name on
// the shared server connection ("already exists"), or ours gone with the server connection
// it was prepared on ("does not exist").
func poolerHint(err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && (pgErr.Code == "42P05" || pgErr.Code == "26000") {
		return fmt.Errorf("%w\n(behind a connection pooler in transaction mode, such as PgBouncer, add default_query_exec_mode=cache_describe to the database URL: see docs/operations.md)", err)
	}
	return err
}

// describeDB names a database for error messages without its password.
func describeDB(cfg *pgx.ConnConfig) string {
	return fmt.Sprintf("database %q on %s:%d as %q", cfg.Database, cfg.Host, cfg.Port, cfg.User)
}

// redactURLError drops the URL from a parse error: pgconn's messages can echo a password.
func redactURLError(err error) error {
	var pe *pgconn.ParseConfigError
	if errors.As(err, &pe) {
		return errors.New("invalid connection string (expected postgres://user:password@host:port/database)")
	}
	return err
}

// InTx runs fn in a transaction on db and commits if fn returns nil. The rollback after an
// error uses a context that is not cancelled, so that a cancelled request still rolls back
// cleanly instead of leaving the connection to time out.
func InTx(ctx context.Context, db Beginner, fn func(tx pgx.Tx) error) (err error) {
	tx, err := db.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	defer func() {
		if err != nil {
			if rbErr := tx.Rollback(context.WithoutCancel(ctx)); rbErr != nil && !errors.Is(rbErr, pgx.ErrTxClosed) {
				err = errors.Join(err, fmt.Errorf("roll back: %w", rbErr))
			}
		}
	}()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// IsDeadlock reports whether err is PostgreSQL's deadlock_detected: the server aborted this
// transaction to break a cycle of waits, and running it again is the remedy.
func IsDeadlock(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "40P01"
}

// IsStatementError reports whether err came from a statement the server rejected (the
// transaction failed, the connection is fine and the next one may succeed), as opposed to a
// lost connection, a timeout or an error of the client's.
func IsStatementError(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr)
}

// CommitWithoutWaiting makes the commit of tx return before its changes reach the disk
// (synchronous_commit off, for this transaction only): a crash may lose the last few such
// commits, never corrupt anything. Only for writes that are redone when they are lost, like
// an ingest run's documents (the next run writes them again); a later synchronous commit
// flushes them too.
func CommitWithoutWaiting(ctx context.Context, tx pgx.Tx) error {
	if _, err := tx.Exec(ctx, `SET LOCAL synchronous_commit = off`); err != nil {
		return fmt.Errorf("set synchronous_commit: %w", err)
	}
	return nil
}
