package trace_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/docent-rag/docent/internal/dbtest"
	"github.com/docent-rag/docent/internal/index"
	"github.com/docent-rag/docent/internal/metrics"
	"github.com/docent-rag/docent/internal/trace"
)

var _ trace.Metrics = (*metrics.Metrics)(nil)

// counts is a trace.Metrics that counts.
type counts struct{ dropped, writeErrors atomic.Int64 }

func (c *counts) TraceDropped()    { c.dropped.Add(1) }
func (c *counts) TraceWriteError() { c.writeErrors.Add(1) }

func newTrace(id string) index.Trace {
	return index.Trace{ID: id, Route: "/v1/answer", Question: "confidential question " + id,
		Outcome: index.OutcomeAnswered, TotalMS: 12.5}
}

func newWriter(t *testing.T, cfg trace.Config, pool *pgxpool.Pool, m trace.Metrics, logger *slog.Logger) *trace.Writer {
	t.Helper()
	w, err := trace.New(cfg, pool, m, logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = w.Close(ctx) // tests that care have closed it and checked already
	})
	return w
}

func count(t *testing.T, db index.DBTX, query string, args ...any) int {
	t.Helper()
	var n int
	if err := db.QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func rows(t *testing.T, db index.DBTX) int {
	t.Helper()
	return count(t, db, `SELECT count(*) FROM answer_traces`)
}

// eventually polls cond until it holds or 10 s have passed.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// lockTraces makes every write of traces wait, as a slow database would, until the returned
// function is called.
func lockTraces(t *testing.T, pool *pgxpool.Pool) (release func()) {
	t.Helper()
	ctx := context.Background()
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `LOCK TABLE answer_traces IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	released := false
	release = func() {
		if !released {
			released = true
			if err := tx.Rollback(ctx); err != nil {
				t.Error(err)
			}
		}
	}
	t.Cleanup(release)
	return release
}

func closeWithin(t *testing.T, w *trace.Writer, d time.Duration) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return w.Close(ctx)
}

func TestWriterWritesInBatches(t *testing.T) {
	t.Parallel()
	db := dbtest.New(t)
	// FlushEvery is long, so only a full batch or Close writes.
	w := newWriter(t, trace.Config{BatchSize: 3, FlushEvery: time.Hour}, db.Pool, nil, nil)
	for i := range 7 {
		if !w.Record(newTrace(fmt.Sprintf("req-%d", i))) {
			t.Fatalf("trace %d not accepted", i)
		}
	}
	eventually(t, "two full batches are written", func() bool { return rows(t, db.Pool) >= 6 })
	if n := rows(t, db.Pool); n != 6 {
		t.Errorf("%d traces written before Close, want 6: the seventh waits for its batch", n)
	}
	if err := closeWithin(t, w, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if n := rows(t, db.Pool); n != 7 {
		t.Errorf("%d traces written after Close, want 7", n)
	}
	// One transaction per batch: 3 + 3 + 1.
	if n := count(t, db.Pool, `SELECT count(DISTINCT xmin::text) FROM answer_traces`); n != 3 {
		t.Errorf("traces written in %d transactions, want 3", n)
	}
}

func TestWriterFlushesAPartialBatchAfterFlushEvery(t *testing.T) {
	t.Parallel()
	db := dbtest.New(t)
	w := newWriter(t, trace.Config{BatchSize: 100, FlushEvery: 20 * time.Millisecond}, db.Pool, nil, nil)
	w.Record(newTrace("a"))
	w.Record(newTrace("b"))
	eventually(t, "the partial batch is written without Close", func() bool { return rows(t, db.Pool) == 2 })
}

func TestRecordNeverBlocksWhenTheDatabaseIsSlow(t *testing.T) {
	t.Parallel()
	db := dbtest.New(t)
	release := lockTraces(t, db.Pool)
	m := &counts{}
	w := newWriter(t, trace.Config{Buffer: 4, BatchSize: 2, FlushEvery: 10 * time.Millisecond}, db.Pool, m, nil)

	const total = 200
	accepted := make(chan int, 1)
	go func() {
		n := 0
		for i := range total {
			if w.Record(newTrace(fmt.Sprintf("req-%d", i))) {
				n++
			}
		}
		accepted <- n
	}()
	var n int
	select {
	case n = <-accepted:
	case <-time.After(5 * time.Second):
		t.Fatal("Record blocked while the database was slow")
	}
	// The buffer, plus at most one batch taken out of it and waiting on the lock.
	if n < 4 || n > 4+2 {
		t.Errorf("%d traces accepted, want between the buffer (4) and the buffer plus a batch (6)", n)
	}
	if got := m.dropped.Load(); got != int64(total-n) {
		t.Errorf("%d drops counted, want %d", got, total-n)
	}

	release()
	if err := closeWithin(t, w, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if got := rows(t, db.Pool); got != n {
		t.Errorf("%d traces stored, want the %d accepted", got, n)
	}
	if got := m.writeErrors.Load(); got != 0 {
		t.Errorf("%d write errors from a slow database", got)
	}
}

func TestCloseFlushesTheBuffer(t *testing.T) {
	t.Parallel()
	db := dbtest.New(t)
	m := &counts{}
	w := newWriter(t, trace.Config{BatchSize: 100, FlushEvery: time.Hour}, db.Pool, m, nil)
	for i := range 5 {
		w.Record(newTrace(fmt.Sprintf("req-%d", i)))
	}
	if err := closeWithin(t, w, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if n := rows(t, db.Pool); n != 5 {
		t.Errorf("%d traces stored by Close, want 5", n)
	}
	if w.Record(newTrace("late")) {
		t.Error("Record after Close accepted a trace")
	}
	if got := m.dropped.Load(); got != 1 {
		t.Errorf("%d drops counted, want 1 (the trace recorded after Close)", got)
	}
	if err := closeWithin(t, w, time.Second); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestCloseGivesUpAtItsDeadline(t *testing.T) {
	t.Parallel()
	db := dbtest.New(t)
	release := lockTraces(t, db.Pool)
	m := &counts{}
	w := newWriter(t, trace.Config{BatchSize: 2, FlushEvery: time.Hour}, db.Pool, m, nil)
	for i := range 5 {
		w.Record(newTrace(fmt.Sprintf("req-%d", i)))
	}
	start := time.Now()
	err := closeWithin(t, w, 200*time.Millisecond)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Close past its deadline: %v, want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Close took %v with a 200ms deadline", d)
	}
	if got := m.dropped.Load(); got != 5 {
		t.Errorf("%d drops counted, want the 5 traces not written", got)
	}
	if got := m.writeErrors.Load(); got != 0 {
		t.Errorf("%d write errors counted for an abandoned write", got)
	}
	release()
	if n := rows(t, db.Pool); n != 0 {
		t.Errorf("%d traces stored", n)
	}
}

func TestFailedWritesAreLoggedWithoutQuestionsAndCounted(t *testing.T) {
	t.Parallel()
	db := dbtest.New(t)
	// A pool on a database that does not exist: every write fails.
	u, err := url.Parse(db.URL)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + db.Name + "_missing"
	pool, err := pgxpool.New(context.Background(), u.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	var logs bytes.Buffer
	m := &counts{}
	w := newWriter(t, trace.Config{BatchSize: 100, FlushEvery: time.Hour}, pool, m, slog.New(slog.NewJSONHandler(&logs, nil)))
	w.Record(newTrace("req-a"))
	w.Record(newTrace("req-b"))
	if err := closeWithin(t, w, 10*time.Second); err == nil {
		t.Error("Close reported no error though the last traces were not written")
	}
	if got := m.writeErrors.Load(); got != 1 {
		t.Errorf("%d write errors counted, want 1 (one batch)", got)
	}
	out := logs.String()
	if !strings.Contains(out, `"level":"ERROR"`) || !strings.Contains(out, "req-a") || !strings.Contains(out, "req-b") {
		t.Errorf("the failure is not logged as an error with the trace ids:\n%s", out)
	}
	if strings.Contains(out, "confidential") {
		t.Errorf("the log shows a question:\n%s", out)
	}
}

func TestInvalidTraceDoesNotLoseOthers(t *testing.T) {
	t.Parallel()
	db := dbtest.New(t)
	var logs bytes.Buffer
	m := &counts{}
	w := newWriter(t, trace.Config{FlushEvery: time.Hour}, db.Pool, m, slog.New(slog.NewJSONHandler(&logs, nil)))
	bad := newTrace("req-bad")
	bad.Outcome = "perhaps"
	w.Record(newTrace("req-1"))
	w.Record(bad)
	w.Record(newTrace("req-2"))
	if err := closeWithin(t, w, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if n := rows(t, db.Pool); n != 2 {
		t.Errorf("%d traces stored, want the 2 valid ones", n)
	}
	if got := m.writeErrors.Load(); got != 1 {
		t.Errorf("%d write errors counted, want 1", got)
	}
	if out := logs.String(); !strings.Contains(out, "req-bad") || strings.Contains(out, "confidential") {
		t.Errorf("want the invalid trace's id and not its question in the log:\n%s", out)
	}
}

func TestRetentionDeletesOldTracesAndKeepsNewOnes(t *testing.T) {
	t.Parallel()
	db := dbtest.New(t)
	ctx := context.Background()
	now := time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)
	old, recent := newTrace("old"), newTrace("recent")
	old.CreatedAt = now.Add(-31 * 24 * time.Hour)
	recent.CreatedAt = now.Add(-29 * 24 * time.Hour)
	if err := index.InsertTraces(ctx, db.Pool, []index.Trace{old, recent}); err != nil {
		t.Fatal(err)
	}

	w := newWriter(t, trace.Config{Retention: 30 * 24 * time.Hour, FlushEvery: 10 * time.Millisecond, Now: func() time.Time { return now }},
		db.Pool, nil, nil)
	w.Record(newTrace("current")) // stamped with the injected clock
	eventually(t, "the old trace is deleted and the current one written", func() bool {
		return count(t, db.Pool, `SELECT count(*) FROM answer_traces WHERE id = 'old'`) == 0 &&
			count(t, db.Pool, `SELECT count(*) FROM answer_traces WHERE id = 'current'`) == 1
	})
	if err := closeWithin(t, w, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	r, err := db.Pool.Query(ctx, `SELECT id FROM answer_traces ORDER BY created_at`)
	if err != nil {
		t.Fatal(err)
	}
	left, err := pgx.CollectRows(r, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(left, ",") != "recent,current" {
		t.Errorf("traces left: %v, want recent, current", left)
	}
	got, err := index.GetTrace(ctx, db.Pool, "current")
	if err != nil {
		t.Fatal(err)
	}
	if !got.CreatedAt.Equal(now) {
		t.Errorf("recorded trace created at %v, want the writer's clock %v", got.CreatedAt, now)
	}
}

func TestZeroRetentionKeepsEverything(t *testing.T) {
	t.Parallel()
	db := dbtest.New(t)
	ancient := newTrace("ancient")
	ancient.CreatedAt = time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := index.InsertTraces(context.Background(), db.Pool, []index.Trace{ancient}); err != nil {
		t.Fatal(err)
	}
	w := newWriter(t, trace.Config{Retention: 0, FlushEvery: 10 * time.Millisecond}, db.Pool, nil, nil)
	w.Record(newTrace("new"))
	eventually(t, "the new trace is written", func() bool { return rows(t, db.Pool) >= 2 })
	if err := closeWithin(t, w, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if n := rows(t, db.Pool); n != 2 {
		t.Errorf("%d traces left, want 2", n)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	t.Parallel()
	pool, err := pgxpool.New(context.Background(), "postgres://localhost/unused")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	for _, tc := range []struct {
		cfg   trace.Config
		field string
	}{
		{trace.Config{Buffer: -1}, "Buffer"},
		{trace.Config{BatchSize: -5}, "BatchSize"},
		{trace.Config{FlushEvery: -time.Second}, "FlushEvery"},
		{trace.Config{Retention: -time.Hour}, "Retention"},
		{trace.Config{CleanupEvery: -time.Hour}, "CleanupEvery"},
	} {
		t.Run(tc.field, func(t *testing.T) {
			_, err := trace.New(tc.cfg, pool, nil, nil)
			if err == nil || !strings.Contains(err.Error(), tc.field) {
				t.Errorf("New: %v, want an error naming %s", err, tc.field)
			}
		})
	}
	if _, err := trace.New(trace.Config{}, nil, nil, nil); err == nil {
		t.Error("New without a database: no error")
	}
}
