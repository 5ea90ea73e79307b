package index_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/docent-rag/docent/internal/index"
	"github.com/docent-rag/docent/internal/testing/dbtest"
)

// TestSourceLockHoldsThroughATransactionPooler takes a source's lock through PgBouncer in
// transaction pooling mode and tries it from a second process's pool while the holder is
// idle. A session lock would fail here: the pooler gives the idle server connection that ran
// the holder's lock statement to the next client, whose attempt then succeeds (a session
// holds its advisory locks re-entrantly). Released or abandoned, the lock is free again.
func TestSourceLockHoldsThroughATransactionPooler(t *testing.T) {
	t.Parallel()
	db := dbtest.New(t)
	pooled := db.PgBouncerURL(t)
	ctx := context.Background()
	holderPool, err := index.Open(ctx, pooled)
	if err != nil {
		t.Fatal(err)
	}
	otherPool, err := index.Open(ctx, pooled)
	if err != nil {
		t.Fatal(err)
	}
	defer otherPool.Close()

	held, err := index.LockSource(ctx, holderPool, "docs")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if l, err := index.LockSource(ctx, otherPool, "docs"); !errors.Is(err, index.ErrLocked) {
			_ = l.Unlock(ctx)
			t.Fatalf("attempt %d while the lock is held: err %v, want ErrLocked", i, err)
		}
		if l, err := index.LockSource(ctx, holderPool, "docs"); !errors.Is(err, index.ErrLocked) {
			_ = l.Unlock(ctx)
			t.Fatalf("attempt %d from the holder's own pool: err %v, want ErrLocked", i, err)
		}
	}
	if l, err := index.LockSource(ctx, otherPool, "other source"); err != nil {
		t.Errorf("another source's lock: %v", err)
	} else {
		_ = l.Unlock(ctx)
	}

	if err := held.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	again, err := index.LockSource(ctx, otherPool, "docs")
	if err != nil {
		t.Fatalf("after the holder released it: %v", err)
	}

	// A holder that goes away without unlocking (its process died): the lock ends with it.
	if err := again.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	dying, err := index.LockSource(ctx, holderPool, "docs")
	if err != nil {
		t.Fatal(err)
	}
	dying.Abandon()
	holderPool.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		l, err := index.LockSource(ctx, otherPool, "docs")
		if err == nil {
			_ = l.Unlock(ctx)
			break
		}
		if !errors.Is(err, index.ErrLocked) || time.Now().After(deadline) {
			t.Fatalf("after the holder's connections closed: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
