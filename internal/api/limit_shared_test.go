package api

import (
	"bytes"
	"context"
	"log/slog"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docent-rag/docent/internal/index"
	"github.com/docent-rag/docent/internal/testing/dbtest"
)

// TestSharedLimiterIsOneLimitForEveryInstance: two instances' limiters of one limit take from
// the same buckets; another limit's buckets are its own.
func TestSharedLimiterIsOneLimitForEveryInstance(t *testing.T) {
	t.Parallel()
	db := dbtest.New(t)
	now := time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	quiet := slog.New(slog.DiscardHandler)
	a := newSharedLimiter(db.Pool, "caller", 1, 3, clock, quiet)
	b := newSharedLimiter(db.Pool, "caller", 1, 3, clock, quiet)
	other := newSharedLimiter(db.Pool, "widget-key", 1, 3, clock, quiet)
	ctx := context.Background()
	var got []bool
	for i := range 4 {
		l := a
		if i%2 == 1 {
			l = b
		}
		ok, _ := l.take(ctx, "key:1")
		got = append(got, ok)
	}
	if want := []bool{true, true, true, false}; !slices.Equal(got, want) {
		t.Errorf("takes alternating between two instances = %v, want %v", got, want)
	}
	if ok, wait := a.take(ctx, "key:1"); ok || wait != time.Second {
		t.Errorf("an empty bucket: %v, wait %s; want refused, 1s", ok, wait)
	}
	if ok, _ := other.take(ctx, "key:1"); !ok {
		t.Error("another limit's bucket of the same key was empty")
	}
	now = now.Add(time.Second)
	if ok, _ := b.take(ctx, "key:1"); !ok {
		t.Error("a second later, the shared bucket had no token")
	}
}

// TestSharedLimiterFallsBackToTheInstance: when the database fails a take, the limit is kept
// by the instance at the same rate (never off), said once in the log, and the database is
// tried again after sharedRetry.
func TestSharedLimiterFallsBackToTheInstance(t *testing.T) {
	t.Parallel()
	db := dbtest.New(t)
	pool, err := index.Open(context.Background(), db.URL)
	if err != nil {
		t.Fatal(err)
	}
	pool.Close() // every take fails
	now := time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC)
	var logs bytes.Buffer
	l := newSharedLimiter(pool, "caller", 0.001, 2, func() time.Time { return now }, slog.New(slog.NewTextHandler(&logs, nil)))
	var got []bool
	for range 4 {
		ok, _ := l.take(context.Background(), "key:1")
		got = append(got, ok)
	}
	if want := []bool{true, true, false, false}; !slices.Equal(got, want) {
		t.Errorf("takes with the database failing = %v, want %v (the burst, kept by the instance)", got, want)
	}
	if n := strings.Count(logs.String(), "limits on its own"); n != 1 {
		t.Errorf("%d warnings, want 1:\n%s", n, logs.String())
	}
	now = now.Add(sharedRetry)
	l.take(context.Background(), "key:1")
	if n := strings.Count(logs.String(), "limits on its own"); n != 2 {
		t.Errorf("after %s the database was not tried again (%d warnings)", sharedRetry, n)
	}
}

// BenchmarkRateLimitTake measures a take from this instance's buckets against one from the
// database's (a statement on the primary, on an unlogged table), for one caller's bucket and
// with 4 goroutines on one hot bucket (a widget key used by many browsers at once). The
// baseline is the read every authenticated request makes already: its API key's lookup.
//
//	go test -run '^$' -bench RateLimitTake ./internal/api
func BenchmarkRateLimitTake(b *testing.B) {
	db := dbtest.New(b)
	ctx := context.Background()
	quiet := slog.New(slog.DiscardHandler)
	b.Run("baseline-key-lookup", func(b *testing.B) {
		for b.Loop() {
			if _, err := index.APIKeyByHash(ctx, db.Pool, make([]byte, 32)); err == nil {
				b.Fatal("found a key")
			}
		}
	})
	for _, tc := range []struct {
		name string
		l    taker
	}{
		{"instance", newLimiter(1e9, 1e9, time.Now)},
		{"database", newSharedLimiter(db.Pool, "caller", 1e9, 1e9, time.Now, quiet)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				if ok, _ := tc.l.take(ctx, "key:1"); !ok {
					b.Fatal("refused")
				}
			}
		})
		b.Run(tc.name+"/4-hot", func(b *testing.B) {
			b.SetParallelism(4 / max(1, runtime.GOMAXPROCS(0)))
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if ok, _ := tc.l.take(ctx, "key:hot"); !ok {
						b.Error("refused")
						return
					}
				}
			})
		})
	}
}
