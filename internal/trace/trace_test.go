package trace_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/docent-rag/docent/internal/index"
	"github.com/docent-rag/docent/internal/metrics"
	"github.com/docent-rag/docent/internal/testing/dbtest"
	"github.com/docent-rag/docent/internal/testing/dbtest/tcpproxy"
	"github.com/docent-rag/docent/internal/trace"
)

var _ trace.Metrics = (*metrics.Metrics)(nil)

// syncBuffer is a bytes.Buffer for a logger that writes from several goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

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
	select {
	case n := <-accepted:
		// The buffer (4) holds the batch waiting on the lock and the newest traces: each new
		// one pushes the oldest queued one out.
		if n != total {
			t.Errorf("%d of %d traces accepted, want all: the oldest make room", n, total)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Record blocked while the database was slow")
	}
	release()
	if err := closeWithin(t, w, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if got := rows(t, db.Pool); got != 4 {
		t.Errorf("%d traces stored, want the buffer's 4", got)
	}
	if got := m.dropped.Load(); got != total-4 {
		t.Errorf("%d drops counted, want %d", got, total-4)
	}
	// The newest traces are among those kept.
	if n := count(t, db.Pool, `SELECT count(*) FROM answer_traces WHERE id IN ('req-198', 'req-199')`); n != 2 {
		t.Errorf("the newest traces were dropped")
	}
	if got := m.writeErrors.Load(); got != 0 {
		t.Errorf("%d write errors from a slow database", got)
	}
}

// TestBufferIsBoundedInBytes: traces beyond BufferBytes push the oldest out, and a trace
// larger than the whole buffer is refused.
func TestBufferIsBoundedInBytes(t *testing.T) {
	t.Parallel()
	db := dbtest.New(t)
	release := lockTraces(t, db.Pool)
	m := &counts{}
	big := func(id string) index.Trace {
		tr := newTrace(id)
		tr.Question = strings.Repeat("q", 10_000)
		return tr
	}
	size := trace.Size(big("x-00"))
	// Room for three such traces; batches of one, so that one waits on the lock.
	w := newWriter(t, trace.Config{BufferBytes: 3*size + size/2, BatchSize: 1, FlushEvery: 10 * time.Millisecond}, db.Pool, m, nil)
	for i := range 10 {
		if !w.Record(big(fmt.Sprintf("x-%02d", i))) {
			t.Errorf("trace %d refused", i)
		}
	}
	huge := newTrace("huge")
	huge.Question = strings.Repeat("q", int(4*size))
	if w.Record(huge) {
		t.Error("a trace larger than the buffer was accepted")
	}
	release()
	if err := closeWithin(t, w, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if got := rows(t, db.Pool); got != 3 {
		t.Errorf("%d traces stored, want the 3 that fit", got)
	}
	if got := m.dropped.Load(); got != 10-3+1 {
		t.Errorf("%d drops counted, want %d", got, 10-3+1)
	}
	if n := count(t, db.Pool, `SELECT count(*) FROM answer_traces WHERE id = 'x-09'`); n != 1 {
		t.Error("the newest trace was dropped")
	}
}

// TestDropsAreLoggedAtMostOncePerInterval: a flood of drops makes one log line with the
// count, not one per trace.
func TestDropsAreLoggedAtMostOncePerInterval(t *testing.T) {
	t.Parallel()
	db := dbtest.New(t)
	release := lockTraces(t, db.Pool)
	var logs syncBuffer
	m := &counts{}
	w := newWriter(t, trace.Config{Buffer: 2, BatchSize: 1, FlushEvery: 10 * time.Millisecond, LogEvery: time.Hour},
		db.Pool, m, slog.New(slog.NewJSONHandler(&logs, nil)))
	for i := range 500 {
		w.Record(newTrace(fmt.Sprintf("req-%d", i)))
	}
	release()
	if err := closeWithin(t, w, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if m.dropped.Load() < 490 {
		t.Fatalf("%d drops, want nearly 500", m.dropped.Load())
	}
	if n := strings.Count(logs.String(), "answer traces dropped"); n != 1 {
		t.Errorf("%d log lines about drops, want 1 per interval:\n%s", n, logs.String())
	}
	if strings.Contains(logs.String(), "confidential") {
		t.Errorf("the log shows a question:\n%s", logs.String())
	}
}

// TestWritesSurviveADatabaseOutage: traces recorded while the database cannot be reached
// are written once it is back, none lost, none twice; the failed attempts are counted and
// logged without the questions, and not once per attempt.
func TestWritesSurviveADatabaseOutage(t *testing.T) {
	t.Parallel()
	db := dbtest.New(t)
	proxy, url := tcpproxy.For(t, db.URL)
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	var logs syncBuffer
	m := &counts{}
	w := newWriter(t, trace.Config{BatchSize: 10, FlushEvery: 10 * time.Millisecond, RetryMin: 10 * time.Millisecond,
		RetryMax: 50 * time.Millisecond, WriteTimeout: time.Second}, pool, m, slog.New(slog.NewJSONHandler(&logs, nil)))
	w.Record(newTrace("before"))
	eventually(t, "the first trace is written", func() bool { return rows(t, db.Pool) == 1 })

	proxy.Cut()
	for i := range 25 {
		if !w.Record(newTrace(fmt.Sprintf("during-%d", i))) {
			t.Fatalf("trace %d refused during the outage", i)
		}
	}
	eventually(t, "several writes fail", func() bool { return m.writeErrors.Load() >= 3 })
	if n := rows(t, db.Pool); n != 1 {
		t.Fatalf("%d traces stored through a cut proxy", n)
	}
	proxy.Restore()
	eventually(t, "the traces are written once the database is back", func() bool { return rows(t, db.Pool) == 26 })
	if err := closeWithin(t, w, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if n := rows(t, db.Pool); n != 26 {
		t.Errorf("%d traces stored, want 26", n)
	}
	if got := m.dropped.Load(); got != 0 {
		t.Errorf("%d traces dropped", got)
	}
	out := logs.String()
	if n := strings.Count(out, "retrying until the database is back"); n != 1 {
		t.Errorf("%d log lines about failing writes for %d failed attempts, want 1:\n%s", n, m.writeErrors.Load(), out)
	}
	if !strings.Contains(out, "answer traces written again") || strings.Contains(out, "confidential") {
		t.Errorf("want the recovery logged and no question:\n%s", out)
	}
}

// TestCloseWaitsForTheDatabaseWithinItsDeadline: at shutdown during an outage, Close keeps
// retrying and writes everything once the database is back before its deadline.
func TestCloseWaitsForTheDatabaseWithinItsDeadline(t *testing.T) {
	t.Parallel()
	db := dbtest.New(t)
	proxy, url := tcpproxy.For(t, db.URL)
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	m := &counts{}
	w := newWriter(t, trace.Config{FlushEvery: time.Hour, RetryMin: 10 * time.Millisecond, RetryMax: 50 * time.Millisecond,
		WriteTimeout: time.Second}, pool, m, nil)
	proxy.Cut()
	for i := range 5 {
		w.Record(newTrace(fmt.Sprintf("req-%d", i)))
	}
	go func() {
		time.Sleep(300 * time.Millisecond)
		proxy.Restore()
	}()
	if err := closeWithin(t, w, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	if n := rows(t, db.Pool); n != 5 {
		t.Errorf("%d traces stored by Close, want 5", n)
	}
	if m.writeErrors.Load() == 0 {
		t.Error("no failed attempt counted: the outage was not seen")
	}
}

// TestARefusedTraceIsIsolated: a trace the database refuses is dropped alone, and the others
// of its batch are written; a refused trace is not retried forever.
func TestARefusedTraceIsIsolated(t *testing.T) {
	t.Parallel()
	db := dbtest.New(t)
	ctx := context.Background()
	// A trigger that refuses one question, as a constraint would.
	if _, err := db.Pool.Exec(ctx, `
		CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
		  IF NEW.question LIKE '%poison%' THEN RAISE EXCEPTION 'refused' USING ERRCODE = '23514'; END IF;
		  RETURN NEW;
		END $$;
		CREATE TRIGGER refuse_poison BEFORE INSERT ON answer_traces FOR EACH ROW EXECUTE FUNCTION refuse_poison();`); err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	m := &counts{}
	w := newWriter(t, trace.Config{BatchSize: 10, FlushEvery: time.Hour}, db.Pool, m, slog.New(slog.NewJSONHandler(&logs, nil)))
	for i := range 5 {
		tr := newTrace(fmt.Sprintf("req-%d", i))
		if i == 2 {
			tr.Question = "confidential poison"
		}
		w.Record(tr)
	}
	err := closeWithin(t, w, 10*time.Second)
	if err == nil || !strings.Contains(err.Error(), "req-2") {
		t.Errorf("Close: %v, want an error naming the refused trace", err)
	}
	if n := rows(t, db.Pool); n != 4 {
		t.Errorf("%d traces stored, want the 4 the database takes", n)
	}
	// One failed batch, one refused trace.
	if got := m.writeErrors.Load(); got != 2 {
		t.Errorf("%d write errors counted, want 2", got)
	}
	if out := logs.String(); !strings.Contains(out, "req-2") || strings.Contains(out, "confidential") {
		t.Errorf("want the refused trace's id and not its question in the log:\n%s", out)
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
	// A pool on a database that does not exist: every write fails (and is retried, as a
	// database being re-created would come back).
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
	var logs syncBuffer
	m := &counts{}
	w := newWriter(t, trace.Config{BatchSize: 100, FlushEvery: 10 * time.Millisecond, RetryMin: 10 * time.Millisecond},
		pool, m, slog.New(slog.NewJSONHandler(&logs, nil)))
	w.Record(newTrace("req-a"))
	w.Record(newTrace("req-b"))
	eventually(t, "a write fails", func() bool { return m.writeErrors.Load() >= 1 })
	if err := closeWithin(t, w, 300*time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Close: %v, want the deadline: the last traces were not written", err)
	}
	if got := m.dropped.Load(); got != 2 {
		t.Errorf("%d traces counted as dropped, want 2", got)
	}
	out := logs.String()
	if !strings.Contains(out, `"level":"WARN"`) || !strings.Contains(out, "answer traces dropped") {
		t.Errorf("the failure and the loss are not logged:\n%s", out)
	}
	if strings.Contains(out, "confidential") {
		t.Errorf("the log shows a question:\n%s", out)
	}
}

func TestInvalidTraceDoesNotLoseOthers(t *testing.T) {
	t.Parallel()
	db := dbtest.New(t)
	var logs syncBuffer
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
	got, err := index.GetTrace(ctx, db.Pool, "current", nil)
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
		{trace.Config{BufferBytes: -1}, "BufferBytes"},
		{trace.Config{RetryMax: -time.Second}, "RetryMax"},
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

// BenchmarkRecord measures what recording costs a request: validating, sizing and queueing
// a trace of a typical answer (three legs of 50 candidates, 300 involved chunks, five
// sentences), with the buffer full so that each Record also drops the oldest trace.
func BenchmarkRecord(b *testing.B) {
	db := dbtest.New(b)
	ctx := context.Background()
	tx, err := db.Pool.Begin(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, `LOCK TABLE answer_traces IN ACCESS EXCLUSIVE MODE`); err != nil {
		b.Fatal(err)
	}
	w, err := trace.New(trace.Config{Buffer: 1000, WriteTimeout: time.Hour}, db.Pool, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		_ = w.Close(cctx)
	}()
	tr := newTrace("bench")
	var hits []string
	for i := range 50 {
		hits = append(hits, fmt.Sprintf(`{"chunk_id":%d,"rank":%d,"score":%g}`, 1000+i, i+1, 1/float64(i+1)))
	}
	legs := "[" + strings.Join(hits, ",") + "]"
	tr.Retrieval = json.RawMessage(`{"lexical":` + legs + `,"dense":` + legs + `,"ranked":` + legs + `,"strength":0.8}`)
	tr.Validation = json.RawMessage(`{"grounded":true,"sentences":[` + strings.Repeat(`{"text":"`+strings.Repeat("word ", 30)+`","citations":[1],"supported":true},`, 4) +
		`{"text":"last","citations":[2],"supported":true}]}`)
	tr.Steps = json.RawMessage(`[{"step":"lexical","ms":1},{"step":"dense","ms":2},{"step":"total","ms":3}]`)
	for i := range 300 {
		tr.Involved = append(tr.Involved, int64(1000+i))
	}
	b.ReportAllocs()
	for b.Loop() {
		w.Record(tr)
	}
}
