// Package trace records answer traces and shows them to the admins who may read them.
//
// Writing. A request hands its trace to Writer.Record, which never blocks: the trace joins
// an in-memory queue bounded in traces and in bytes (when full, the oldest trace is dropped,
// counted, and reported in a rate-limited log line). A background goroutine writes the
// queue in batches. A batch the database could not take because it was unreachable, shut
// down, restarting or out of resources stays queued and is retried with a capped
// exponential backoff, so that a database restart or a short outage loses no trace; a batch
// it refused (a constraint, an encoding) is written again one trace at a time, and only the
// refused traces are lost. Close writes what is queued, retrying, until its deadline.
// Another goroutine deletes traces older than the retention period.
//
// Reading. Read and Find show stored traces to a reader: all of a trace when the reader's
// principals cover every chunk it involves (see index.ReadTrace), otherwise only its steps,
// timings and outcome, with everything drawn from documents or from the asker's words
// removed and a note saying why (see Redact).
//
// Traces hold confidential questions, so the writer logs trace and request ids and counts,
// never trace contents.
package trace

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/docent-rag/docent/internal/index"
)

// Defaults of Config.
const (
	DefaultBuffer       = 10_000
	DefaultBufferBytes  = 64 << 20
	DefaultBatchSize    = 100
	DefaultFlushEvery   = time.Second
	DefaultRetention    = 30 * 24 * time.Hour // for configuration; Config's zero Retention keeps traces
	DefaultCleanupEvery = time.Hour
	DefaultWriteTimeout = 10 * time.Second
	DefaultRetryMin     = 100 * time.Millisecond
	DefaultRetryMax     = 5 * time.Second
	DefaultLogEvery     = 30 * time.Second

	// cleanupBatch bounds the rows one clean-up statement deletes (and locks).
	cleanupBatch = 1000
)

// Config configures a Writer. Zero values take the defaults, except Retention's.
type Config struct {
	// Buffer bounds the traces the writer holds, queued or being written: while the
	// database is away they wait here, and beyond it the oldest are dropped.
	Buffer int
	// BufferBytes bounds the memory of the traces held (as estimated by Size) likewise. A
	// trace larger than it alone is dropped.
	BufferBytes int64
	BatchSize   int           // traces per write
	FlushEvery  time.Duration // a partial batch waits at most this long
	// Retention is how long traces are kept; older ones are deleted. 0 keeps them forever,
	// as DOCENT_TRACE_RETENTION=0 does, so that "keep" never turns into a silent default
	// (the configuration's default is DefaultRetention).
	Retention    time.Duration
	CleanupEvery time.Duration // how often old traces are deleted (also once at start)
	WriteTimeout time.Duration // bounds one attempt at writing a batch
	// RetryMin and RetryMax bound the wait before writing again after the database could
	// not be reached: RetryMin after the first failure, doubling (with jitter) up to RetryMax.
	RetryMin, RetryMax time.Duration
	// LogEvery is the least time between two log lines about the same trouble (dropped
	// traces, failing writes, refused traces); the lines in between are counted.
	LogEvery time.Duration
	// Now is the clock for traces without CreatedAt and for the retention cut-off
	// (time.Now when nil). The flush, retry, log and clean-up intervals use real time.
	Now func() time.Time
}

func (c *Config) fill() {
	c.Buffer = cmp.Or(c.Buffer, DefaultBuffer)
	c.BufferBytes = cmp.Or(c.BufferBytes, DefaultBufferBytes)
	c.BatchSize = cmp.Or(c.BatchSize, DefaultBatchSize)
	c.FlushEvery = cmp.Or(c.FlushEvery, DefaultFlushEvery)
	c.CleanupEvery = cmp.Or(c.CleanupEvery, DefaultCleanupEvery)
	c.WriteTimeout = cmp.Or(c.WriteTimeout, DefaultWriteTimeout)
	c.RetryMin = cmp.Or(c.RetryMin, DefaultRetryMin)
	c.RetryMax = max(cmp.Or(c.RetryMax, DefaultRetryMax), c.RetryMin)
	c.LogEvery = cmp.Or(c.LogEvery, DefaultLogEvery)
	if c.Now == nil {
		c.Now = time.Now
	}
}

func (c *Config) validate() error {
	for _, f := range []struct {
		name string
		v    int64
	}{
		{"Buffer", int64(c.Buffer)}, {"BufferBytes", c.BufferBytes}, {"BatchSize", int64(c.BatchSize)},
		{"FlushEvery", int64(c.FlushEvery)}, {"CleanupEvery", int64(c.CleanupEvery)},
		{"WriteTimeout", int64(c.WriteTimeout)}, {"RetryMin", int64(c.RetryMin)},
		{"RetryMax", int64(c.RetryMax)}, {"LogEvery", int64(c.LogEvery)},
	} {
		if f.v < 0 {
			return fmt.Errorf("trace writer: %s is negative", f.name)
		}
	}
	if c.Retention < 0 {
		return fmt.Errorf("trace writer: Retention %v is negative (0 keeps traces forever)", c.Retention)
	}
	return nil
}

// Metrics counts the traces the writer loses. *metrics.Metrics implements it.
type Metrics interface {
	// TraceDropped counts one trace not stored for lack of room (the oldest, pushed out of
	// a full buffer) or time (recorded after Close, or still held when Close's deadline
	// passed).
	TraceDropped()
	// TraceWriteError counts one failed attempt at writing a batch (retried when the
	// database was unreachable), or one trace refused: invalid, or rejected by the database.
	TraceWriteError()
}

// Writer writes answer traces asynchronously. Its methods are safe for concurrent use.
type Writer struct {
	cfg     Config
	db      *pgxpool.Pool
	metrics Metrics
	logger  *slog.Logger

	mu        sync.Mutex
	queue     []held // waiting to be written, oldest first
	held      int    // traces queued or being written
	heldBytes int64  // their Size
	closed    bool
	wake      chan struct{} // a trace was queued, or Close was called

	// Rate limits of the log lines about dropped, failing and refused writes.
	dropLog, failLog, refuseLog rateLog

	// ctx is cancelled when Close gives up waiting: it aborts the write in progress.
	ctx         context.Context
	abort       context.CancelFunc
	stopCleanup context.CancelFunc
	closeOnce   sync.Once
	done        chan struct{} // closed when both goroutines have returned
	closeErr    error         // set before done is closed
}

type held struct {
	t    index.Trace
	size int64
}

// New starts a writer of traces to db. m (nil counts nothing) counts what is lost; logger
// (nil logs nothing) reports failed writes and clean-ups. Call Close to stop it.
func New(cfg Config, db *pgxpool.Pool, m Metrics, logger *slog.Logger) (*Writer, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg.fill()
	if db == nil {
		return nil, errors.New("trace writer: no database")
	}
	if m == nil {
		m = noMetrics{}
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ctx, abort := context.WithCancel(context.Background())
	w := &Writer{
		cfg: cfg, db: db, metrics: m, logger: logger,
		wake:    make(chan struct{}, 1),
		dropLog: rateLog{every: cfg.LogEvery}, failLog: rateLog{every: cfg.LogEvery}, refuseLog: rateLog{every: cfg.LogEvery},
		ctx: ctx, abort: abort,
		done: make(chan struct{}),
	}
	cleanupCtx, stopCleanup := context.WithCancel(ctx)
	w.stopCleanup = stopCleanup

	var wg sync.WaitGroup
	wg.Go(w.writeLoop)
	if cfg.Retention > 0 {
		wg.Go(func() { w.cleanupLoop(cleanupCtx) })
	}
	go func() {
		wg.Wait()
		close(w.done)
	}()
	return w, nil
}

// Size estimates the memory a trace holds, for Config.BufferBytes.
func Size(t index.Trace) int64 {
	n := 512 // the struct, slice headers and allocation overhead
	for _, s := range []string{t.ID, t.RequestID, t.Route, t.Question, t.NormalizedQuery, t.RewrittenQuery,
		t.PromptVersion, t.Model, t.Outcome, t.Reason, t.Fallback, t.Error} {
		n += len(s)
	}
	n += len(t.PrincipalHash) + len(t.Retrieval) + len(t.Usage) + len(t.Validation) + len(t.Steps)
	n += 8 * (len(t.ChunkIDs) + len(t.Involved))
	return int64(n)
}

// Record queues t for writing and reports whether it was queued. It never blocks. When the
// buffer is full, the oldest queued traces make room and are dropped and counted; t itself
// is dropped (false) only after Close, when it alone exceeds BufferBytes, or when every
// trace held is being written. An invalid trace (see index.Trace.Validate: a bug in the
// caller) is not queued but logged, by id, and counted as a write error. A zero CreatedAt is
// set to the writer's clock, so that the row has the request's time rather than the write's.
func (w *Writer) Record(t index.Trace) bool {
	if err := t.Validate(); err != nil {
		w.logger.Error("invalid answer trace not stored", "trace_id", t.ID, "err", err)
		w.metrics.TraceWriteError()
		return false
	}
	if t.CreatedAt.IsZero() {
		t.CreatedAt = w.cfg.Now()
	}
	pushedOut, ok := w.enqueue(held{t: t, size: Size(t)})
	if pushedOut > 0 {
		w.dropped(pushedOut, "the trace buffer is full: the database is unreachable or too slow")
	}
	if !ok {
		w.dropped(1, "the writer is closed, or the trace is larger than the buffer")
		return false
	}
	select {
	case w.wake <- struct{}{}:
	default:
	}
	return true
}

// enqueue adds h, first dropping the oldest queued traces until it fits; it returns how many
// it dropped and whether h was queued.
func (w *Writer) enqueue(h held) (pushedOut int, ok bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed || h.size > w.cfg.BufferBytes {
		return 0, false
	}
	for w.held+1 > w.cfg.Buffer || w.heldBytes+h.size > w.cfg.BufferBytes {
		if len(w.queue) == 0 {
			return pushedOut, false // all the room is taken by the batch being written
		}
		old := w.queue[0]
		w.queue[0] = held{} // let it be collected
		w.queue = w.queue[1:]
		w.held--
		w.heldBytes -= old.size
		pushedOut++
	}
	w.queue = append(w.queue, h)
	w.held++
	w.heldBytes += h.size
	return pushedOut, true
}

// Close stops accepting traces and writes those still held, retrying while the database is
// unreachable, then stops the clean-up. When ctx ends first, the write in progress is
// cancelled, the traces not yet written are dropped and counted, and Close returns an error
// wrapping ctx's. It also returns an error when the database refused some of the last
// traces. Calling Close again waits likewise; Record after Close drops the trace.
func (w *Writer) Close(ctx context.Context) error {
	w.closeOnce.Do(func() {
		w.mu.Lock()
		w.closed = true
		w.mu.Unlock()
		select {
		case w.wake <- struct{}{}:
		default:
		}
		// Deleting old traces can wait for the next start.
		w.stopCleanup()
	})
	select {
	case <-w.done:
	case <-ctx.Done():
		w.abort()
		<-w.done
		if w.closeErr == nil {
			return nil // finished just as ctx ended
		}
		return fmt.Errorf("close trace writer: %w", errors.Join(w.closeErr, ctx.Err()))
	}
	if w.closeErr != nil {
		return fmt.Errorf("close trace writer: %w", w.closeErr)
	}
	return nil
}

// take removes the next batch from the queue: a full one, or when partial is set (or the
// writer is closed) whatever is queued, up to limit. It returns nil when there is none, and
// whether the writer is closed.
func (w *Writer) take(partial bool, limit int) ([]held, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.queue) == 0 || (len(w.queue) < limit && !partial && !w.closed) {
		return nil, w.closed
	}
	n := min(len(w.queue), limit)
	batch := make([]held, n)
	copy(batch, w.queue)
	clear(w.queue[:n])
	w.queue = w.queue[n:]
	return batch, w.closed
}

// requeue puts a batch that could not be written back at the head of the queue, in order.
func (w *Writer) requeue(batch []held) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.queue = append(batch, w.queue...)
}

// release forgets a batch that was written or given up.
func (w *Writer) release(batch []held) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, h := range batch {
		w.held--
		w.heldBytes -= h.size
	}
}

// dropAll drops everything held (Close gave up), batch included, and returns how many.
func (w *Writer) dropAll(batch []held) int {
	w.release(batch)
	w.mu.Lock()
	n := len(w.queue)
	for _, h := range w.queue {
		w.held--
		w.heldBytes -= h.size
	}
	w.queue = nil
	w.mu.Unlock()
	n += len(batch)
	w.dropped(n, "the writer was closed before they could be written")
	return n
}

// writeLoop writes the queue in batches until the writer is closed and the queue empty, or
// Close gives up.
func (w *Writer) writeLoop() {
	ticker := time.NewTicker(w.cfg.FlushEvery)
	defer ticker.Stop()
	var (
		due      bool  // write a partial batch: FlushEvery has passed, or a retry is due
		failures int   // consecutive attempts that failed for want of a database
		isolate  int   // traces still to write one at a time, after the database refused a batch
		closing  error // traces refused after Close, for Close to return
	)
	for {
		limit := w.cfg.BatchSize
		if isolate > 0 {
			limit = 1
		}
		batch, closed := w.take(due, limit)
		if batch == nil {
			if closed {
				w.closeErr = closing
				return
			}
			due = false
			select {
			case <-w.wake:
			case <-ticker.C:
				due = true
				w.dropped(0, "") // report the drops the rate limit held back
			case <-w.ctx.Done():
				// Close gave up while the queue was empty; a trace recorded meanwhile is lost.
				w.closeErr = closing
				if n := w.dropAll(nil); n > 0 {
					w.closeErr = errors.Join(closing, fmt.Errorf("%d traces not written", n))
				}
				return
			}
			continue
		}
		err := w.write(batch)
		switch {
		case err == nil:
			w.release(batch)
			isolate = max(isolate-len(batch), 0)
			if failures > 0 {
				w.logger.Info("answer traces written again", "failed_attempts", failures)
				w.failLog.reset()
				failures = 0
			}
		case w.ctx.Err() != nil: // Close gave up waiting: not a database failure
			n := w.dropAll(batch)
			w.closeErr = errors.Join(closing, fmt.Errorf("%d traces not written", n))
			return
		case retryable(err):
			failures++
			w.metrics.TraceWriteError()
			w.requeue(batch)
			if w.failLog.add(1) > 0 {
				w.logger.Warn("answer traces not written: retrying until the database is back",
					"failed_attempts", failures, "held", w.heldCount(), "err", err)
			}
			// After the wait (or once Close has given up), the next take writes or ends.
			w.sleep(backoff(w.cfg.RetryMin, w.cfg.RetryMax, failures))
			due = true
		case len(batch) > 1:
			// The database refused something in the batch: find what, one trace at a time.
			w.metrics.TraceWriteError()
			w.requeue(batch)
			isolate, due = len(batch), true
		default:
			w.release(batch)
			isolate = max(isolate-1, 0)
			w.metrics.TraceWriteError()
			if w.isClosed() {
				closing = errors.Join(closing, fmt.Errorf("trace %s: %w", batch[0].t.ID, err))
			}
			if n := w.refuseLog.add(1); n > 0 {
				w.logger.Error("answer trace refused by the database, not stored", "trace_id", batch[0].t.ID,
					"request_id", batch[0].t.RequestID, "refused", n, "err", refusal(err))
			}
		}
	}
}

// write makes one attempt at writing a batch, bounded by WriteTimeout.
func (w *Writer) write(batch []held) error {
	traces := make([]index.Trace, len(batch))
	for i, h := range batch {
		traces[i] = h.t
	}
	ctx, cancel := context.WithTimeout(w.ctx, w.cfg.WriteTimeout)
	defer cancel()
	start := time.Now()
	if err := index.InsertTraces(ctx, w.db, traces); err != nil {
		return fmt.Errorf("write %d traces: %w", len(traces), err)
	}
	w.logger.Debug("answer traces written", "count", len(traces), "duration", time.Since(start))
	return nil
}

// sleep waits d, or until Close gives up.
func (w *Writer) sleep(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-w.ctx.Done():
	}
}

// backoff is the wait after the n-th consecutive failure: lo doubled n-1 times, at most hi,
// less a random quarter so that servers restarted together do not retry in step.
func backoff(lo, hi time.Duration, n int) time.Duration {
	d := hi
	if n < 32 && lo<<(n-1) < hi && lo<<(n-1) > 0 {
		d = lo << (n - 1)
	}
	return d - time.Duration(rand.Int64N(int64(d)/4+1))
}

// retryable reports whether a failed write may succeed later as it is: the database was
// unreachable, shut down, starting up, out of resources, or aborted the transaction
// (serialisation, deadlock). Errors without a PostgreSQL error code are of that kind: the
// connection failed, was refused or timed out. The database refusing the statement for
// what it holds (a constraint, an encoding, a missing table) is not.
func retryable(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return true
	}
	var connErr *pgconn.ConnectError
	if errors.As(err, &connErr) {
		return true // refused at connection time: a database being restarted, re-created or reconfigured
	}
	switch code := pgErr.Code; {
	case len(code) < 2:
		return true
	default:
		switch code[:2] {
		case "08", "40", "53", "57", "58":
			return true
		}
	}
	return false
}

// refusal describes the database's refusal of a trace by its SQLSTATE and the names of the
// constraint, table and column at fault: its message may quote the values refused.
func refusal(err error) string {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return "refused before reaching the database" // an encoding failure: its text may quote values too
	}
	return fmt.Sprintf("SQLSTATE %s (constraint %q, table %q, column %q)", pgErr.Code, pgErr.ConstraintName, pgErr.TableName, pgErr.ColumnName)
}

// dropped counts n dropped traces and logs them, at most once per LogEvery (n == 0 only
// reports those held back).
func (w *Writer) dropped(n int, why string) {
	for range n {
		w.metrics.TraceDropped()
	}
	if total := w.dropLog.add(n); total > 0 {
		w.logger.Warn("answer traces dropped", "dropped", total, "reason", cmp.Or(why, "the trace buffer was full"))
	}
}

func (w *Writer) heldCount() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.held
}

func (w *Writer) isClosed() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.closed
}

// rateLog rate-limits log lines: add counts events and says how many to report now.
type rateLog struct {
	every   time.Duration
	mu      sync.Mutex
	last    time.Time
	pending int
}

// add counts n events and returns how many to report now: all those counted since the last
// report when LogEvery has passed since it, else 0.
func (r *rateLog) add(n int) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pending += n
	now := time.Now()
	if r.pending == 0 || (!r.last.IsZero() && now.Sub(r.last) < r.every) {
		return 0
	}
	n, r.pending, r.last = r.pending, 0, now
	return n
}

// reset makes the next event reported at once (the trouble is over).
func (r *rateLog) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.last, r.pending = time.Time{}, 0
}

// cleanupLoop deletes old traces at start and then every CleanupEvery, until ctx ends.
func (w *Writer) cleanupLoop(ctx context.Context) {
	ticker := time.NewTicker(w.cfg.CleanupEvery)
	defer ticker.Stop()
	for {
		w.cleanup(ctx)
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

func (w *Writer) cleanup(ctx context.Context) {
	cutoff := w.cfg.Now().Add(-w.cfg.Retention)
	n, err := index.DeleteTracesBefore(ctx, w.db, cutoff, cleanupBatch)
	switch {
	case err != nil && ctx.Err() != nil:
		// Shutting down: the next start carries on.
	case err != nil:
		w.logger.Error("old answer traces not deleted", "before", cutoff, "deleted", n, "err", err)
	case n > 0:
		w.logger.Info("old answer traces deleted", "before", cutoff, "deleted", n)
	}
}

type noMetrics struct{}

func (noMetrics) TraceDropped()    {}
func (noMetrics) TraceWriteError() {}
