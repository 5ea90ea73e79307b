package telemetry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docent-rag/docent/internal/telemetry"
)

// fakeClock is a clock that moves when told to.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

type logLine struct {
	Level    string
	Msg      string
	Err      string
	Repeated int
	Request  any `json:"request_id"`
	Service  string
}

func (s *syncBuffer) lines(t *testing.T) []logLine {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []logLine
	for _, l := range strings.Split(strings.TrimSpace(s.b.String()), "\n") {
		if l == "" {
			continue
		}
		var ll logLine
		if err := json.Unmarshal([]byte(l), &ll); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		out = append(out, ll)
	}
	return out
}

func newDedup(t *testing.T) (*slog.Logger, *telemetry.Dedup, *syncBuffer, *fakeClock) {
	t.Helper()
	buf := &syncBuffer{}
	clk := &fakeClock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	h := telemetry.NewDedup(slog.NewJSONHandler(buf, nil), telemetry.DedupConfig{Interval: 10 * time.Second, Now: clk.Now})
	return slog.New(h), h, buf, clk
}

func TestDedupWritesRepeatsOncePerInterval(t *testing.T) {
	t.Parallel()
	logger, h, buf, clk := newDedup(t)
	outage := errors.New("dial tcp 127.0.0.1:5432: connect: connection refused")

	// An outage: many requests fail alike, from many goroutines, each with its request id.
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 125 {
				logger.Error("request failed", "request_id", g*1000+i, "err", outage)
			}
		})
	}
	wg.Wait()
	logger.Error("request failed", "err", errors.New("another error"))
	logger.Warn("request failed", "err", outage) // another level: counted apart
	for range 50 {
		logger.Info("request", "status", 503) // below the level: every one written
	}
	lines := buf.lines(t)
	var errorsWritten, infos int
	for _, l := range lines {
		switch l.Level {
		case "ERROR":
			errorsWritten++
		case "INFO":
			infos++
		}
	}
	if errorsWritten != 2 || infos != 50 || len(lines) != 53 {
		t.Fatalf("%d lines (%d errors, %d infos), want 53: the first of each error, the warning, every info", len(lines), errorsWritten, infos)
	}

	// The interval ends: the next record brings the summary.
	clk.advance(11 * time.Second)
	logger.Info("request", "status", 200)
	var summary *logLine
	for _, l := range buf.lines(t)[53:] {
		if l.Repeated > 0 {
			summary = &l
		}
	}
	if summary == nil || summary.Level != "ERROR" || summary.Msg != "request failed" || summary.Err != outage.Error() || summary.Repeated != 999 {
		t.Fatalf("summary %+v, want the outage error repeated 999 times", summary)
	}
	// Once summarised, the error is written again when it recurs.
	logger.Error("request failed", "err", outage)
	logger.Error("request failed", "err", outage)
	if n := len(buf.lines(t)); n != 53+2+1 {
		t.Errorf("%d lines after the interval, want 56", n)
	}
	// Flush writes what is pending, interval over or not.
	if err := h.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	last := buf.lines(t)
	if l := last[len(last)-1]; l.Repeated != 1 || l.Err != outage.Error() {
		t.Errorf("after Flush, last line %+v, want the pending repeat", l)
	}
}

func TestDedupSharesCountsAcrossWith(t *testing.T) {
	t.Parallel()
	logger, h, buf, _ := newDedup(t)
	a := logger.With("service", "a")
	b := logger.WithGroup("g").With("x", 1)
	for range 10 {
		a.Error("database unavailable", "err", "refused")
		b.Error("database unavailable", "err", "refused")
	}
	if n := len(buf.lines(t)); n != 1 {
		t.Errorf("%d lines, want 1", n)
	}
	if l := buf.lines(t)[0]; l.Service != "a" {
		t.Errorf("the first line lost its attributes: %+v", l)
	}
	_ = h.Flush(context.Background())
	if l := buf.lines(t)[1]; l.Repeated != 19 {
		t.Errorf("summary %+v, want 19 repeats", l)
	}
}

func TestDedupBoundsItsMemory(t *testing.T) {
	t.Parallel()
	buf := &syncBuffer{}
	h := telemetry.NewDedup(slog.NewJSONHandler(buf, nil), telemetry.DedupConfig{MaxKeys: 10})
	logger := slog.New(h)
	// Distinct errors beyond the bound are written, never dropped.
	for i := range 100 {
		logger.Error("failed", "err", strings.Repeat("x", i))
	}
	if n := len(buf.lines(t)); n != 100 {
		t.Errorf("%d lines for 100 distinct errors", n)
	}
}

// TestDedupReadsNumbersAsOne: the errors of one outage differ in their numbers (each lost
// connection names its own ephemeral port), so errors that differ only in numbers are
// counted as one; the summary carries the first one as written.
func TestDedupReadsNumbersAsOne(t *testing.T) {
	t.Parallel()
	logger, h, buf, _ := newDedup(t)
	first := "read tcp 127.0.0.1:60260->127.0.0.1:5432: read: connection reset by peer"
	for port := 60260; port < 60360; port++ {
		logger.Error("request failed", "err", fmt.Sprintf("read tcp 127.0.0.1:%d->127.0.0.1:5432: read: connection reset by peer", port))
	}
	logger.Error("request failed", "err", "read tcp 127.0.0.1:60999->127.0.0.1:5432: read: i/o timeout")
	if n := len(buf.lines(t)); n != 2 {
		t.Fatalf("%d lines for 100 resets and a timeout, want 2", n)
	}
	if err := h.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	last := buf.lines(t)
	if l := last[len(last)-1]; l.Repeated != 99 || l.Err != first {
		t.Errorf("summary %+v, want the first reset as written, repeated 99 times", l)
	}
}
