package index_test

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/docent-rag/docent/internal/index"
	"github.com/docent-rag/docent/internal/testing/dbtest"
)

// TestAppendTurnBoundsConcurrentAppends: appends racing on one conversation never exceed the
// limit nor share a number, and only the owner appends.
func TestAppendTurnBoundsConcurrentAppends(t *testing.T) {
	t.Parallel()
	db := dbtest.New(t)
	ctx := context.Background()
	owner := index.Owner{Hash: bytes.Repeat([]byte{1}, 32), ID: "key:1"}
	const id, limit = "0123456789abcdef0123456789abcdef", 5
	if _, err := index.AppendTurn(ctx, db.Pool, id, owner, true, limit, index.Turn{Question: "q", Answer: "a", AnswerID: "t"}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Go(func() {
			_, err := index.AppendTurn(ctx, db.Pool, id, owner, false, limit, index.Turn{Question: "q\x00", Answer: "a", AnswerID: "t"})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	ok, full := 0, 0
	for err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, index.ErrConversationFull):
			full++
		default:
			t.Errorf("append: %v", err)
		}
	}
	c, err := index.GetConversation(ctx, db.Pool, id, owner, []string{"public"})
	if err != nil {
		t.Fatal(err)
	}
	if ok != limit-1 || full != 20-ok || len(c.Turns) != limit {
		t.Errorf("%d appended, %d full, %d stored; want %d, %d, %d", ok, full, len(c.Turns), limit-1, 20-limit+1, limit)
	}
	for i, turn := range c.Turns {
		if turn.N != i+1 || !turn.Visible {
			t.Errorf("turn %d: n %d, visible %v", i+1, turn.N, turn.Visible)
		}
	}
	for _, other := range []index.Owner{{Hash: owner.Hash, ID: "key:2"}, {Hash: bytes.Repeat([]byte{2}, 32), ID: "key:1"}} {
		if _, err := index.AppendTurn(ctx, db.Pool, id, other, false, 100, index.Turn{Question: "q"}); !errors.Is(err, index.ErrNotFound) {
			t.Errorf("another owner %v appended: %v", other, err)
		}
		if _, err := index.GetConversation(ctx, db.Pool, id, other, []string{"public"}); !errors.Is(err, index.ErrNotFound) {
			t.Errorf("another owner %v read: %v", other, err)
		}
		if err := index.DeleteConversation(ctx, db.Pool, id, other); !errors.Is(err, index.ErrNotFound) {
			t.Errorf("another owner %v deleted: %v", other, err)
		}
	}
	// A turn involving a chunk that does not exist is not visible.
	if _, err := db.Pool.Exec(ctx, `UPDATE conversation_turns SET involved_chunk_ids = '{999999}' WHERE n = 1`); err != nil {
		t.Fatal(err)
	}
	c, _ = index.GetConversation(ctx, db.Pool, id, owner, []string{"public"})
	if c.Turns[0].Visible || !c.Turns[1].Visible {
		t.Errorf("visible: %v %v, want false true", c.Turns[0].Visible, c.Turns[1].Visible)
	}
}
