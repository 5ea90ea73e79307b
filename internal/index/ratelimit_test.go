package index_test

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/docent-rag/docent/internal/index"
	"github.com/docent-rag/docent/internal/testing/dbtest"
)

func TestTakeToken(t *testing.T) {
	t.Parallel()
	db := dbtest.New(t)
	ctx := context.Background()
	t0 := time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC)
	take := func(key string, at time.Duration) (bool, float64) {
		t.Helper()
		ok, tokens, err := index.TakeToken(ctx, db.Pool, index.Bucket{Key: key, Rate: 2, Burst: 3, Now: t0.Add(at)})
		if err != nil {
			t.Fatal(err)
		}
		return ok, tokens
	}
	// A new bucket holds the burst: three takes at once, the fourth refused.
	for i := range 3 {
		if ok, _ := take("a", 0); !ok {
			t.Fatalf("take %d of a full bucket refused", i+1)
		}
	}
	if ok, tokens := take("a", 0); ok || tokens != 0 {
		t.Errorf("fourth take = %v with %g tokens left, want refused with 0", ok, tokens)
	}
	// Another key has its own bucket.
	if ok, _ := take("b", 0); !ok {
		t.Error("another key's take refused")
	}
	// Half a second refills one token (2 a second); a quarter, half of one.
	if ok, _ := take("a", 250*time.Millisecond); ok {
		t.Error("take after a quarter of a second got a token")
	}
	if ok, tokens := take("a", 500*time.Millisecond); !ok || tokens != 0 {
		t.Errorf("take after half a second = %v, %g tokens left; want a token, 0 left", ok, tokens)
	}
	// A take stamped earlier than the last one (another server's clock a little behind)
	// refills nothing, and does not move the bucket's time back.
	if ok, _ := take("a", 100*time.Millisecond); ok {
		t.Error("a take from the past got a token")
	}
	if ok, _ := take("a", time.Second); !ok {
		t.Error("take one second in refused: half a second since the last refill should have given a token")
	}
	// Never more than the burst, however long the bucket sat.
	for i := range 4 {
		ok, _ := take("a", time.Hour)
		if ok != (i < 3) {
			t.Errorf("take %d an hour later = %v", i+1, ok)
		}
	}

	// Keys of any length: a long one (a session's subject is the issuer's to choose) takes
	// like a short one, and two long keys that differ only at the end have their own buckets.
	long := strings.Repeat("s", 10_000)
	for i := range 3 {
		if ok, _ := take(long+"1", 0); !ok {
			t.Fatalf("take %d of a long key's full bucket refused", i+1)
		}
	}
	if ok, _ := take(long+"1", 0); ok {
		t.Error("a long key's fourth take got a token")
	}
	if ok, _ := take(long+"2", 0); !ok {
		t.Error("another long key's take refused: it shares a bucket")
	}

	// Full buckets are pruned, others kept.
	n, err := index.PruneRateBuckets(ctx, db.Pool, t0.Add(2*time.Second))
	// b and long+"2": 2 tokens at t0, full at t0+0.5s; long+"1": empty at t0, full at t0+1.5s.
	if err != nil || n != 3 {
		t.Errorf("prune = %d, %v; want 3 (bucket b and the long keys')", n, err)
	}
	if ok, tokens := take("a", time.Hour); ok || tokens != 0 {
		t.Errorf("pruning removed a bucket that was not full: take = %v, %g", ok, tokens)
	}
	if _, err := index.PruneRateBuckets(ctx, db.Pool, t0.Add(3*time.Hour)); err != nil {
		t.Fatal(err)
	}
	var rows int
	if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM rate_buckets`).Scan(&rows); err != nil || rows != 0 {
		t.Errorf("%d buckets left after every one was full (%v)", rows, err)
	}

	if _, _, err := index.TakeToken(ctx, db.Pool, index.Bucket{Key: "c", Rate: 0, Burst: 3, Now: t0}); err == nil {
		t.Error("a zero rate was accepted")
	}
}

// TestTakeTokenIsAtomic takes from one bucket on many connections at once: exactly the burst
// is given, never more.
func TestTakeTokenIsAtomic(t *testing.T) {
	t.Parallel()
	db := dbtest.New(t)
	ctx := context.Background()
	now := time.Now()
	const burst = 25
	var got atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 10 {
				ok, _, err := index.TakeToken(ctx, db.Pool, index.Bucket{Key: "hot", Rate: 1e-6, Burst: burst, Now: now})
				if err != nil {
					t.Error(err)
					return
				}
				if ok {
					got.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if got.Load() != burst {
		t.Errorf("%d of 80 concurrent takes got a token from a bucket of %d", got.Load(), burst)
	}
}
