package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"
)

const (
	// touchEvery is how often at most a key's last use is written: the column is for people
	// ("unused for 90 days"), and a write per request would load the database for nothing.
	touchEvery = time.Minute
	// touchTimeout bounds one write of last-use times.
	touchTimeout = 5 * time.Second
)

// usage records API keys' last use off the request path: record notes the use in memory (at
// most once per touchEvery per key) and wakes a goroutine that writes it. A failed write is
// logged and forgotten; it never fails or slows a request.
type usage struct {
	keys   KeyStore
	now    func() time.Time
	logger *slog.Logger

	mu      sync.Mutex
	last    map[int64]time.Time // when each key's use was last queued, within touchEvery
	pending map[int64]time.Time // uses not written yet
	closed  bool

	flushMu sync.Mutex // one write at a time, so that Flush waits for one in progress
	wake    chan struct{}
	quit    chan struct{}
	done    chan struct{}
}

func newUsage(ctx context.Context, keys KeyStore, now func() time.Time, logger *slog.Logger) *usage {
	u := &usage{
		keys:    keys,
		now:     now,
		logger:  logger,
		last:    map[int64]time.Time{},
		pending: map[int64]time.Time{},
		wake:    make(chan struct{}, 1),
		quit:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	go u.run(ctx)
	return u
}

// record notes that key id was used now.
func (u *usage) record(id int64) {
	now := u.now()
	u.mu.Lock()
	if last, ok := u.last[id]; u.closed || ok && now.Sub(last) < touchEvery {
		u.mu.Unlock()
		return
	}
	u.last[id] = now
	u.pending[id] = now
	u.mu.Unlock()
	select {
	case u.wake <- struct{}{}:
	default: // a wake-up is already due; it will take this use too
	}
}

func (u *usage) run(ctx context.Context) {
	defer close(u.done)
	for {
		select {
		case <-u.wake:
			if err := u.flush(ctx); err != nil && !errors.Is(err, context.Canceled) {
				u.logger.WarnContext(ctx, "auth: recording API key use failed", "err", err)
			}
		case <-u.quit:
			return
		}
	}
}

// flush writes the pending uses and returns when they are written, waiting for a write in
// progress first.
func (u *usage) flush(ctx context.Context) error {
	u.flushMu.Lock()
	defer u.flushMu.Unlock()

	u.mu.Lock()
	pending := u.pending
	u.pending = map[int64]time.Time{}
	// Forget uses older than touchEvery: the next use of those keys is written anyway.
	now := u.now()
	for id, t := range u.last {
		if now.Sub(t) >= touchEvery {
			delete(u.last, id)
		}
	}
	u.mu.Unlock()
	if len(pending) == 0 {
		return nil
	}

	ids := make([]int64, 0, len(pending))
	var at time.Time
	for id, t := range pending {
		ids = append(ids, id)
		if t.After(at) {
			at = t
		}
	}
	slices.Sort(ids)
	// One statement for the batch, at its latest use: the uses in one batch are moments apart.
	ctx, cancel := context.WithTimeout(ctx, touchTimeout)
	defer cancel()
	if err := u.keys.TouchAPIKeys(ctx, ids, at); err != nil {
		return fmt.Errorf("record last use of %d API keys: %w", len(ids), err)
	}
	return nil
}

// close stops recording, waits for the goroutine and writes what is still pending.
func (u *usage) close(ctx context.Context) error {
	u.mu.Lock()
	if u.closed {
		u.mu.Unlock()
		return nil
	}
	u.closed = true
	u.mu.Unlock()
	close(u.quit)
	select {
	case <-u.done:
	case <-ctx.Done():
		return fmt.Errorf("wait for API key use recorder: %w", ctx.Err())
	}
	return u.flush(ctx)
}
