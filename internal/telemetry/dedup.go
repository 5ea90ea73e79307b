package telemetry

import (
	"cmp"
	"context"
	"log/slog"
	"sync"
	"time"
)

// DedupConfig configures a Dedup handler.
type DedupConfig struct {
	// Level is the lowest level deduplicated; records below it always pass. Default Warn.
	Level slog.Leveler
	// Interval is how long repeats of a record are counted instead of written. Default 10s.
	Interval time.Duration
	// MaxKeys bounds the distinct records tracked at once; beyond, records pass unsuppressed.
	// Default 1000.
	MaxKeys int
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Dedup is a slog.Handler that writes repeated identical warnings and errors once per
// interval: an outage that fails every request would otherwise write a line per request.
//
// Records are identical when they have the same level, message and "err" attribute text
// once every run of digits in it is read as one placeholder (other attributes, such as a
// request id, may differ): the errors of one outage differ only in numbers, the ephemeral
// port of each lost connection for one. The first is written; repeats within
// Interval are counted, and when the interval is over one summary line is written: the same
// level and message, the err, and "repeated" (the count) with "interval". The summary is
// written by the next record handled once the interval is over (requests log a line each, so
// that comes soon), or by Flush, which the program calls before it exits.
type Dedup struct {
	next  slog.Handler
	state *dedupState
}

type dedupState struct {
	root     slog.Handler // summaries are written here, without the attributes of With
	level    slog.Leveler
	interval time.Duration
	maxKeys  int
	now      func() time.Time

	mu        sync.Mutex
	seen      map[dedupKey]*dedupEntry
	nextSweep time.Time
}

type dedupKey struct {
	level slog.Level
	msg   string
	err   string // the err attribute's text, its numbers replaced by errShape
}

type dedupEntry struct {
	start    time.Time // of the interval, when the first record was written
	err      string    // the err attribute of the first record, as written
	repeated int       // records suppressed since
}

// errShape returns text with every run of ASCII digits replaced by "#".
func errShape(text string) string {
	b := make([]byte, 0, len(text))
	for i := 0; i < len(text); i++ {
		if c := text[i]; c >= '0' && c <= '9' {
			if len(b) == 0 || b[len(b)-1] != '#' {
				b = append(b, '#')
			}
			continue
		}
		b = append(b, text[i])
	}
	return string(b)
}

var _ slog.Handler = (*Dedup)(nil)

// NewDedup returns a Dedup writing to next.
func NewDedup(next slog.Handler, cfg DedupConfig) *Dedup {
	if cfg.Level == nil {
		cfg.Level = slog.LevelWarn
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Dedup{next: next, state: &dedupState{
		root:     next,
		level:    cfg.Level,
		interval: cmp.Or(cfg.Interval, 10*time.Second),
		maxKeys:  cmp.Or(cfg.MaxKeys, 1000),
		now:      cfg.Now,
		seen:     map[dedupKey]*dedupEntry{},
	}}
}

// Enabled implements slog.Handler.
func (h *Dedup) Enabled(ctx context.Context, level slog.Level) bool {
	return h.next.Enabled(ctx, level)
}

// Handle implements slog.Handler.
func (h *Dedup) Handle(ctx context.Context, r slog.Record) error {
	st := h.state
	now := st.now()
	st.sweep(ctx, now, false)
	if r.Level < st.level.Level() {
		return h.next.Handle(ctx, r)
	}
	key := dedupKey{level: r.Level, msg: r.Message}
	var errText string
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "err" {
			errText = a.Value.Resolve().String()
			key.err = errShape(errText)
			return false
		}
		return true
	})
	st.mu.Lock()
	if e, ok := st.seen[key]; ok {
		e.repeated++
		st.mu.Unlock()
		return nil
	}
	if len(st.seen) < st.maxKeys {
		st.seen[key] = &dedupEntry{start: now, err: errText}
		if st.nextSweep.IsZero() || now.Add(st.interval).Before(st.nextSweep) {
			st.nextSweep = now.Add(st.interval)
		}
	}
	st.mu.Unlock()
	return h.next.Handle(ctx, r)
}

// WithAttrs implements slog.Handler. The derived handler shares the counts.
func (h *Dedup) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &Dedup{next: h.next.WithAttrs(attrs), state: h.state}
}

// WithGroup implements slog.Handler. The derived handler shares the counts.
func (h *Dedup) WithGroup(name string) slog.Handler {
	return &Dedup{next: h.next.WithGroup(name), state: h.state}
}

// Flush writes the summaries of every record repeated so far, whether or not its interval is
// over, and forgets them.
func (h *Dedup) Flush(ctx context.Context) error {
	return h.state.sweep(ctx, h.state.now(), true)
}

// sweep writes the summaries of the intervals that are over (all, with force) and forgets
// their records.
func (st *dedupState) sweep(ctx context.Context, now time.Time, force bool) error {
	type summary struct {
		key      dedupKey
		err      string
		repeated int
	}
	var due []summary
	st.mu.Lock()
	if !force && (st.nextSweep.IsZero() || now.Before(st.nextSweep)) {
		st.mu.Unlock()
		return nil
	}
	st.nextSweep = time.Time{}
	for k, e := range st.seen {
		end := e.start.Add(st.interval)
		if force || !now.Before(end) {
			if e.repeated > 0 {
				due = append(due, summary{k, e.err, e.repeated})
			}
			delete(st.seen, k)
		} else if st.nextSweep.IsZero() || end.Before(st.nextSweep) {
			st.nextSweep = end
		}
	}
	st.mu.Unlock()
	var firstErr error
	for _, s := range due {
		r := slog.NewRecord(now, s.key.level, s.key.msg, 0)
		if s.err != "" {
			r.AddAttrs(slog.String("err", s.err))
		}
		r.AddAttrs(slog.Int("repeated", s.repeated), slog.Duration("interval", st.interval))
		if err := st.root.Handle(ctx, r); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return firstErr
}
