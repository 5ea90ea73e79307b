package index

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Run statuses.
const (
	RunRunning     = "running"
	RunSucceeded   = "succeeded"
	RunPartial     = "partial" // finished, but some files failed
	RunFailed      = "failed"
	RunInterrupted = "interrupted"
)

// RunStart describes a run as it begins.
type RunStart struct {
	Kind      string // ingest or reindex
	SourceID  int64
	Host      string
	PID       int
	InvokedBy string
	Args      []string
	Embedder  string
}

// RunCounts are a run's results, as ingest_runs stores them.
type RunCounts struct {
	Added, Updated, Unchanged, Deleted, ACLChanged, Failed, Skipped int
	ChunksWritten, ChunksDeleted                                    int64
	Pages, Bytes                                                    int64
}

// Failure is one file that failed in a run.
type Failure struct {
	URI     string `json:"uri"`
	Reason  string `json:"reason"`
	Message string `json:"message"`
}

// Run is a recorded run, for `ingest status`.
type Run struct {
	ID           int64
	Kind         string
	Source       string
	GenerationID *int
	Status       string
	StartedAt    time.Time
	FinishedAt   *time.Time
	Host         string
	PID          int
	InvokedBy    string
	Embedder     string
	Counts       RunCounts
	Error        string
	Failures     []Failure
}

// StartRun records a new running run and returns its id.
func StartRun(ctx context.Context, db DBTX, r RunStart) (int64, error) {
	var id int64
	err := db.QueryRow(ctx, `
		INSERT INTO ingest_runs (kind, source_id, host, pid, invoked_by, args, embedder)
		VALUES ($1, nullif($2, 0), $3, $4, $5, $6, $7) RETURNING id`,
		r.Kind, r.SourceID, r.Host, r.PID, r.InvokedBy, nonNilSlice(r.Args), r.Embedder).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("record run: %w", err)
	}
	return id, nil
}

// HeartbeatRun notes that run id is still alive.
func HeartbeatRun(ctx context.Context, db DBTX, id int64) error {
	if _, err := db.Exec(ctx, `UPDATE ingest_runs SET heartbeat_at = now() WHERE id = $1`, id); err != nil {
		return fmt.Errorf("heartbeat of run %d: %w", id, err)
	}
	return nil
}

// FinishRun records how run id ended, its counts and its failures, in one transaction.
// Every string is made storable first (valid UTF-8, no NUL: a failure message may quote a
// file's bytes); if the failures still cannot be written, the end of the run is recorded
// without them, saying so, so that a run is never left "running" by its own record.
func FinishRun(ctx context.Context, db Beginner, id int64, status string, generationID int, c RunCounts, source string, failures []Failure, errMsg string) error {
	errMsg = storable(errMsg)
	err := finishRun(ctx, db, id, status, generationID, c, source, failures, errMsg)
	if err == nil || len(failures) == 0 || ctx.Err() != nil {
		return err
	}
	note := fmt.Sprintf("the %d failures of the run could not be recorded: %v", len(failures), err)
	if errMsg != "" {
		note = errMsg + "; " + note
	}
	if ferr := finishRun(ctx, db, id, status, generationID, c, source, nil, storable(note)); ferr != nil {
		return errors.Join(err, ferr)
	}
	return nil
}

func finishRun(ctx context.Context, db Beginner, id int64, status string, generationID int, c RunCounts, source string, failures []Failure, errMsg string) error {
	return InTx(ctx, db, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `
			UPDATE ingest_runs SET status = $2, finished_at = now(), heartbeat_at = now(),
			  generation_id = nullif($3, 0),
			  docs_added = $4, docs_updated = $5, docs_unchanged = $6, docs_deleted = $7,
			  docs_acl_changed = $8, docs_failed = $9, docs_skipped = $10,
			  chunks_written = $11, chunks_deleted = $12, pages = $13, bytes = $14, error = nullif($15, '')
			WHERE id = $1`,
			id, status, generationID, c.Added, c.Updated, c.Unchanged, c.Deleted, c.ACLChanged, c.Failed, c.Skipped,
			c.ChunksWritten, c.ChunksDeleted, c.Pages, c.Bytes, errMsg)
		if err != nil {
			return fmt.Errorf("record end of run %d: %w", id, err)
		}
		if len(failures) == 0 {
			return nil
		}
		rows := make([][]any, len(failures))
		for i, f := range failures {
			rows[i] = []any{id, storable(source), storable(f.URI), storable(f.Reason), storable(f.Message)}
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"ingest_failures"}, []string{"run_id", "source", "uri", "reason", "message"}, pgx.CopyFromRows(rows)); err != nil {
			return fmt.Errorf("record failures of run %d: %w", id, err)
		}
		return nil
	})
}

// storable makes a string storable as PostgreSQL text: invalid UTF-8 becomes U+FFFD and
// NUL bytes are dropped.
func storable(s string) string {
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "")
}

// AbandonRuns marks the source's runs that are still "running" as failed: the caller holds
// the source's lock, so their processes died without recording their end.
func AbandonRuns(ctx context.Context, db DBTX, sourceID int64) (int64, error) {
	tag, err := db.Exec(ctx, `
		UPDATE ingest_runs SET status = 'failed', finished_at = heartbeat_at,
		  error = 'the process ended without recording the end of the run (killed or crashed)'
		WHERE source_id = $1 AND status = 'running'`, sourceID)
	if err != nil {
		return 0, fmt.Errorf("abandon dead runs: %w", err)
	}
	return tag.RowsAffected(), nil
}

// RecentRuns returns the latest runs, newest first, with their failures (at most
// maxFailures each).
func RecentRuns(ctx context.Context, db DBTX, limit, maxFailures int) ([]Run, error) {
	rows, err := db.Query(ctx, `
		SELECT r.id, r.kind, coalesce(s.name, ''), r.generation_id, r.status, r.started_at, r.finished_at,
		       r.host, coalesce(r.pid, 0), r.invoked_by, r.embedder,
		       r.docs_added, r.docs_updated, r.docs_unchanged, r.docs_deleted, r.docs_acl_changed,
		       r.docs_failed, r.docs_skipped, r.chunks_written, r.chunks_deleted, r.pages, r.bytes,
		       coalesce(r.error, '')
		FROM ingest_runs r LEFT JOIN sources s ON s.id = r.source_id
		ORDER BY r.id DESC LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("read runs: %w", err)
	}
	runs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Run, error) {
		var r Run
		c := &r.Counts
		err := row.Scan(&r.ID, &r.Kind, &r.Source, &r.GenerationID, &r.Status, &r.StartedAt, &r.FinishedAt,
			&r.Host, &r.PID, &r.InvokedBy, &r.Embedder,
			&c.Added, &c.Updated, &c.Unchanged, &c.Deleted, &c.ACLChanged, &c.Failed, &c.Skipped,
			&c.ChunksWritten, &c.ChunksDeleted, &c.Pages, &c.Bytes, &r.Error)
		return r, err
	})
	if err != nil {
		return nil, fmt.Errorf("read runs: %w", err)
	}
	for i := range runs {
		rows, err := db.Query(ctx, `
			SELECT uri, reason, message FROM ingest_failures WHERE run_id = $1 ORDER BY id LIMIT $2`,
			runs[i].ID, maxFailures)
		if err != nil {
			return nil, fmt.Errorf("read failures of run %d: %w", runs[i].ID, err)
		}
		if runs[i].Failures, err = pgx.CollectRows(rows, pgx.RowToStructByPos[Failure]); err != nil {
			return nil, fmt.Errorf("read failures of run %d: %w", runs[i].ID, err)
		}
	}
	return runs, nil
}

// ErrLocked is returned by LockSource when another process holds the source's lock.
var ErrLocked = errors.New("locked by another run")

// LockedError says who holds a source's lock.
type LockedError struct {
	Source string
	RunID  int64 // 0 when the holder has not recorded its run (yet)
	Host   string
	PID    int
}

func (e *LockedError) Error() string {
	if e.RunID == 0 {
		return fmt.Sprintf("source %q is being ingested by another process", e.Source)
	}
	return fmt.Sprintf("source %q is being ingested by run %d (pid %d on %s)", e.Source, e.RunID, e.PID, e.Host)
}

func (e *LockedError) Unwrap() error { return ErrLocked }

// SourceLock is a held per-source lock: a transaction advisory lock in a transaction kept
// open on a connection of its own, so that it lasts exactly as long as the run and ends with
// the process if it dies. A transaction, not a session, holds it because a transaction is
// what a connection pooler in transaction mode (PgBouncer) keeps on one server connection:
// a session lock taken through such a pooler stays on whichever server connection ran it,
// held by no one and released by no one. The open transaction only takes the lock: it never
// writes and holds no snapshot between statements, so it holds back no vacuum.
type SourceLock struct {
	conn *pgxpool.Conn
	tx   pgx.Tx
}

// LockSource takes the lock of the named source without waiting. When another run holds it,
// the error is a *LockedError naming that run.
func LockSource(ctx context.Context, pool *pgxpool.Pool, source string) (*SourceLock, error) {
	l, ok, err := tryLock(ctx, pool, "docent.source:"+source)
	if err != nil {
		return nil, fmt.Errorf("lock source %q: %w", source, err)
	}
	if ok {
		return l, nil
	}
	le := &LockedError{Source: source}
	err = pool.QueryRow(ctx, `
		SELECT r.id, r.host, coalesce(r.pid, 0) FROM ingest_runs r JOIN sources s ON s.id = r.source_id
		WHERE s.name = $1 AND r.status = 'running' ORDER BY r.id DESC LIMIT 1`, source).Scan(&le.RunID, &le.Host, &le.PID)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return nil, errors.Join(le, fmt.Errorf("look up the lock holder: %w", err))
	}
	return nil, le
}

// tryLock takes the advisory lock key in a transaction of its own on a connection of its
// own without waiting; ok is false when another transaction holds it.
func tryLock(ctx context.Context, pool *pgxpool.Pool, key string) (l *SourceLock, ok bool, err error) {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, false, err
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		conn.Release()
		return nil, false, err
	}
	l = &SourceLock{conn: conn, tx: tx}
	if err := tx.QueryRow(ctx, `SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0))`, key).Scan(&ok); err != nil || !ok {
		// Ended like a held lock: within unlockTimeout, the connection closed if the
		// rollback fails, so that a connection that stopped answering cannot hang here.
		_ = l.Unlock(ctx)
		return nil, false, err
	}
	return l, true, nil
}

// unlockTimeout bounds the release of a source lock: on a lost connection it fails at
// once, on a connection that no longer answers it must not hang the process (the session,
// and with it the lock, ends when the process does).
const unlockTimeout = 10 * time.Second

// Unlock releases the lock. Safe to call on a nil lock. It runs even when ctx is
// cancelled, for at most unlockTimeout.
func (l *SourceLock) Unlock(ctx context.Context) error {
	if l == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), unlockTimeout)
	defer cancel()
	defer l.conn.Release()
	if err := l.tx.Rollback(ctx); err != nil && !errors.Is(err, pgx.ErrTxClosed) {
		// Keep the connection out of the pool's reuse: its transaction may still hold the
		// lock. Closing ends the transaction, which releases the lock; keep the error.
		_ = l.conn.Conn().Close(ctx)
		return fmt.Errorf("unlock: %w", err)
	}
	return nil
}
