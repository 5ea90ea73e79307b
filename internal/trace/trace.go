// Package trace writes answer traces to the database without slowing requests down.
//
// A request hands its trace to Writer.Record, which never blocks: the trace goes into a
// buffer, or, when the buffer is full (the database is slow or down), is dropped and
// counted. A background goroutine writes the buffer in batches, and another deletes traces
// older than the retention period. Close flushes what is buffered at shutdown.
//
// Traces hold confidential questions, so the writer logs trace ids and counts, never
// trace contents.
package trace

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/docent-rag/docent/internal/index"
)

// Defaults of Config.
const (
	DefaultBuffer       = 1024
	DefaultBatchSize    = 100
	DefaultFlushEvery   = time.Second
	DefaultRetention    = 30 * 24 * time.Hour // for configuration; Config's zero Retention keeps traces
	DefaultCleanupEvery = time.Hour
	DefaultWriteTimeout = 10 * time.Second

	// cleanupBatch bounds the rows one clean-up statement deletes (and locks).
	cleanupBatch = 1000
)

// Config configures a Writer. Zero values take the defaults, except Retention's.
type Config struct {
	Buffer     int           // traces waiting to be written; more are dropped
	BatchSize  int           // traces per write
	FlushEvery time.Duration // a partial batch waits at most this long
	// Retention is how long traces are kept; older ones are deleted. 0 keeps them forever,
	// as DOCENT_TRACE_RETENTION=0 does, so that "keep" never turns into a silent default
	// (the configuration's default is DefaultRetention).
	Retention    time.Duration
	CleanupEvery time.Duration // how often old traces are deleted (also once at start)
	WriteTimeout time.Duration // bounds one batch's write
	// Now is the clock for traces without CreatedAt and for the retention cut-off
	// (time.Now when nil). The flush and clean-up intervals use real time.
	Now func() time.Time
}

func (c *Config) fill() {
	c.Buffer = cmp.Or(c.Buffer, DefaultBuffer)
	c.BatchSize = cmp.Or(c.BatchSize, DefaultBatchSize)
	c.FlushEvery = cmp.Or(c.FlushEvery, DefaultFlushEvery)
	c.CleanupEvery = cmp.Or(c.CleanupEvery, DefaultCleanupEvery)
	c.WriteTimeout = cmp.Or(c.WriteTimeout, DefaultWriteTimeout)
	if c.Now == nil {
		c.Now = time.Now
	}
}

func (c *Config) validate() error {
	switch {
	case c.Buffer < 0:
		return fmt.Errorf("trace writer: Buffer %d is negative", c.Buffer)
	case c.BatchSize < 0:
		return fmt.Errorf("trace writer: BatchSize %d is negative", c.BatchSize)
	case c.FlushEvery < 0:
		return fmt.Errorf("trace writer: FlushEvery %v is negative", c.FlushEvery)
	case c.Retention < 0:
		return fmt.Errorf("trace writer: Retention %v is negative (0 keeps traces forever)", c.Retention)
	case c.CleanupEvery < 0:
		return fmt.Errorf("trace writer: CleanupEvery %v is negative", c.CleanupEvery)
	case c.WriteTimeout < 0:
		return fmt.Errorf("trace writer: WriteTimeout %v is negative", c.WriteTimeout)
	}
	return nil
}

// Metrics counts the traces the writer loses. *metrics.Metrics implements it.
type Metrics interface {
	// TraceDropped counts one trace not stored for lack of room (a full buffer) or time
	// (after Close, or still buffered when Close's deadline passed).
	TraceDropped()
	// TraceWriteError counts one failed write: a batch the database did not take, or an
	// invalid trace.
	TraceWriteError()
}

// Writer writes answer traces asynchronously. Its methods are safe for concurrent use.
type Writer struct {
	cfg     Config
	db      *pgxpool.Pool
	metrics Metrics
	logger  *slog.Logger

	// mu guards closed and the closing of queue: Record holds it for reading (so Records
	// never wait for each other), Close for writing, only to close the queue.
	mu     sync.RWMutex
	closed bool
	queue  chan index.Trace

	// ctx is cancelled when Close gives up waiting: it aborts the write in progress.
	ctx         context.Context
	abort       context.CancelFunc
	stopCleanup context.CancelFunc
	closeOnce   sync.Once
	done        chan struct{} // closed when both goroutines have returned
	closeErr    error         // set before done is closed
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
		queue: make(chan index.Trace, cfg.Buffer),
		ctx:   ctx, abort: abort,
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

// Record queues t for writing and reports whether it was queued. It never blocks: when the
// buffer is full, or the writer is closed, t is dropped and counted. A zero CreatedAt is set
// to the writer's clock, so that the row has the request's time rather than the write's.
func (w *Writer) Record(t index.Trace) bool {
	if t.CreatedAt.IsZero() {
		t.CreatedAt = w.cfg.Now()
	}
	w.mu.RLock()
	defer w.mu.RUnlock()
	if !w.closed {
		select {
		case w.queue <- t:
			return true
		default:
		}
	}
	w.metrics.TraceDropped()
	return false
}

// Close stops accepting traces, writes those still buffered and stops the clean-up. When
// ctx ends first, the write in progress is cancelled, the traces not yet written are
// dropped and counted, and Close returns an error wrapping ctx's. It also returns an error
// when writing the last traces failed. Calling Close again waits likewise; Record after
// Close drops the trace.
func (w *Writer) Close(ctx context.Context) error {
	w.closeOnce.Do(func() {
		w.mu.Lock()
		w.closed = true
		close(w.queue)
		w.mu.Unlock()
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

// writeLoop batches the queue into writes until the queue is closed and drained.
func (w *Writer) writeLoop() {
	ticker := time.NewTicker(w.cfg.FlushEvery)
	defer ticker.Stop()
	batch := make([]index.Trace, 0, w.cfg.BatchSize)
	var closing error // write failures after Close, for Close to return
	flush := func() {
		if len(batch) == 0 {
			return
		}
		if err := w.write(batch); err != nil && w.isClosed() {
			closing = errors.Join(closing, err)
		}
		clear(batch) // let the traces be collected
		batch = batch[:0]
	}
	for {
		select {
		case t, ok := <-w.queue:
			if !ok {
				flush()
				w.closeErr = closing
				return
			}
			if err := t.Validate(); err != nil {
				// A bug in the caller; the message names the id and the field only.
				w.logger.Error("invalid answer trace not stored", "trace_id", t.ID, "err", err)
				w.metrics.TraceWriteError()
				continue
			}
			batch = append(batch, t)
			if len(batch) >= w.cfg.BatchSize {
				flush()
			}
		case <-ticker.C:
			flush()
		}
	}
}

// write writes one batch. When the writer has been aborted, the batch is dropped without
// trying.
func (w *Writer) write(batch []index.Trace) error {
	if w.ctx.Err() != nil {
		w.dropped(len(batch))
		return fmt.Errorf("%d traces not written", len(batch))
	}
	ctx, cancel := context.WithTimeout(w.ctx, w.cfg.WriteTimeout)
	defer cancel()
	start := time.Now()
	err := index.InsertTraces(ctx, w.db, batch)
	if err == nil {
		w.logger.Debug("answer traces written", "count", len(batch), "duration", time.Since(start))
		return nil
	}
	if w.ctx.Err() != nil { // Close gave up waiting: not a database failure
		w.dropped(len(batch))
		return fmt.Errorf("%d traces not written", len(batch))
	}
	w.metrics.TraceWriteError()
	w.logger.Error("answer traces not written", "count", len(batch), "trace_ids", ids(batch), "err", err)
	return fmt.Errorf("write %d traces: %w", len(batch), err)
}

func (w *Writer) dropped(n int) {
	for range n {
		w.metrics.TraceDropped()
	}
}

func (w *Writer) isClosed() bool {
	w.mu.RLock()
	defer w.mu.RUnlock()
	return w.closed
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

func ids(batch []index.Trace) []string {
	out := make([]string, len(batch))
	for i, t := range batch {
		out[i] = t.ID
	}
	return out
}

type noMetrics struct{}

func (noMetrics) TraceDropped()    {}
func (noMetrics) TraceWriteError() {}
