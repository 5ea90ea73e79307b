package index_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/docent-rag/docent/internal/index"
)

// secondChunking creates another chunking of the fixture's database, as a rechunking reindex
// does, and returns its id.
func (f fixture) secondChunking(t *testing.T) int {
	t.Helper()
	id, err := index.EnsureChunking(context.Background(), f.pool, map[string]int{"target_tokens": 120, "max_tokens": 200}, "english")
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// rechunk writes the chunks of document doc into chunking id (the texts of its first
// chunking's chunks with a word added, so the two chunkings' statistics differ).
func (f fixture) rechunk(t *testing.T, doc int64, id int, word string) {
	t.Helper()
	if _, err := f.pool.Exec(context.Background(), `
		INSERT INTO chunks (document_id, chunking_id, ordinal, text, heading_path, char_start, char_end, token_count)
		SELECT document_id, $2, ordinal, text || ' ' || $4, heading_path, char_start, char_end, token_count + 1
		FROM chunks WHERE document_id = $1 AND chunking_id = $3`, doc, id, f.chunkingID, word); err != nil {
		t.Fatalf("rechunk document %d: %v", doc, err)
	}
}

func mismatches(t *testing.T, db index.DBTX) int {
	t.Helper()
	n, err := index.StatisticsMismatches(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func deferred(t *testing.T, db index.DBTX, id int) bool {
	t.Helper()
	d, err := index.StatisticsDeferred(context.Background(), db, id)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestDeferredStatisticsFollowRandomChanges: one chunking keeps its statistics through the
// triggers while a second one, written by the same statements (a re-tag, a title change, a
// chunk rewrite, a deletion reach the chunks of both), has its statistics deferred; at random
// steps the second one is completed, and deferred again. After every step the kept
// statistics equal a recomputation from the chunks, and after every completion the completed
// ones do too; and the tags of every chunk reach both generations' embeddings, deferred or
// not.
func TestDeferredStatisticsFollowRandomChanges(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	second := f.secondChunking(t)
	if ok, err := index.DeferStatistics(ctx, f.pool, second); err != nil || !ok {
		t.Fatalf("DeferStatistics of an empty, inactive chunking = %v, %v; want true", ok, err)
	}
	var gens []index.Generation
	for _, chunking := range []int{f.chunkingID, second} {
		err := index.InTx(ctx, f.pool, func(tx pgx.Tx) error {
			g, err := index.CreateGeneration(ctx, tx, index.GenerationSpec{ChunkingID: chunking, Embedder: "test", Model: fmt.Sprint("m", chunking), Dimension: 3})
			gens = append(gens, g)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if chunking == f.chunkingID { // the one queries read; the second is being built
			if err := index.ActivateWithoutIndex(ctx, f.pool, gens[0].ID, 1000); err != nil {
				t.Fatal(err)
			}
		}
	}
	e := &randomEdits{t: t, f: f, r: rand.New(rand.NewPCG(11, 12))}
	completions := 0
	for step := range 80 {
		var what string
		switch op := e.r.IntN(8); {
		case op == 0 || len(e.docs) < 3:
			what = "insert into both chunkings"
			id := e.insert(step)
			f.rechunk(t, id, second, e.word())
			for _, g := range gens {
				if _, err := f.pool.Exec(ctx, `INSERT INTO `+g.Table+` (chunk_id, embedding)
					SELECT id, '[1,0,0]' FROM chunks WHERE document_id = $1 AND chunking_id = $2`, id, g.ChunkingID); err != nil {
					t.Fatal(err)
				}
			}
		case op == 4:
			what = "complete the deferred chunking"
			was := deferred(t, f.pool, second)
			if ok, err := index.CompleteStatistics(ctx, f.pool, second); err != nil || ok != was {
				t.Fatalf("CompleteStatistics = %v, %v; want %v", ok, err, was)
			}
			completions++
			if deferred(t, f.pool, second) {
				t.Fatal("still deferred after CompleteStatistics")
			}
		case op == 5:
			what = "defer it again (as an interrupted run leaves it)"
			if _, err := f.pool.Exec(ctx, `INSERT INTO statistics_deferred (chunking_id) VALUES ($1) ON CONFLICT DO NOTHING`, second); err != nil {
				t.Fatal(err)
			}
		case op == 6:
			what = "delete one chunk of the second chunking"
			if _, err := f.pool.Exec(ctx, `DELETE FROM chunks WHERE id = (SELECT max(id) FROM chunks WHERE chunking_id = $1 AND document_id = $2)`, second, e.doc()); err != nil {
				t.Fatal(err)
			}
		default: // re-tags, title changes and rewrites reach the chunks of both chunkings
			what = e.change(op)
		}
		if n := mismatches(t, f.pool); n != 0 {
			t.Fatalf("step %d (%s): %d statistics differ from a recomputation from the chunks (second chunking deferred: %v)",
				step, what, n, deferred(t, f.pool, second))
		}
		for _, g := range gens {
			var stale int
			if err := f.pool.QueryRow(ctx, `SELECT count(*) FROM `+g.Table+` e JOIN chunks c ON c.id = e.chunk_id
				WHERE e.acl IS DISTINCT FROM c.acl`).Scan(&stale); err != nil {
				t.Fatal(err)
			}
			if stale != 0 {
				t.Fatalf("step %d (%s): %d embeddings of generation %d (chunking %d) have other tags than their chunks", step, what, stale, g.ID, g.ChunkingID)
			}
		}
	}
	if _, err := index.CompleteStatistics(ctx, f.pool, second); err != nil {
		t.Fatal(err)
	}
	if n := mismatches(t, f.pool); n != 0 || completions == 0 {
		t.Fatalf("at the end: %d mismatches after %d completions", n, completions)
	}
	var rows int
	if err := f.pool.QueryRow(ctx, `SELECT count(*) FROM tag_lexeme_stats WHERE chunking_id = $1 AND df > 0`, second).Scan(&rows); err != nil || rows == 0 {
		t.Fatalf("the completed chunking has %d statistics rows (%v)", rows, err)
	}
}

// TestDeferStatisticsOnlyAnEmptyInactiveChunking: a chunking with chunks, or one an active
// generation uses, keeps its statistics through the triggers.
func TestDeferStatisticsOnlyAnEmptyInactiveChunking(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	f.addDocument(t, "a.md", "A", []string{"public"}, "kestrel pallet")
	if ok, err := index.DeferStatistics(ctx, f.pool, f.chunkingID); err != nil || ok {
		t.Errorf("DeferStatistics of a chunking with chunks = %v, %v; want false", ok, err)
	}
	second := f.secondChunking(t)
	var g index.Generation
	err := index.InTx(ctx, f.pool, func(tx pgx.Tx) error {
		var err error
		g, err = index.CreateGeneration(ctx, tx, index.GenerationSpec{ChunkingID: second, Embedder: "test", Model: "m", Dimension: 3})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := index.ActivateWithoutIndex(ctx, f.pool, g.ID, 1000); err != nil {
		t.Fatal(err)
	}
	if ok, err := index.DeferStatistics(ctx, f.pool, second); err != nil || ok {
		t.Errorf("DeferStatistics of the active generation's empty chunking = %v, %v; want false", ok, err)
	}
	if deferred(t, f.pool, f.chunkingID) || deferred(t, f.pool, second) {
		t.Error("a chunking was deferred")
	}
}

// TestAGenerationWithDeferredStatisticsIsNotActivated: an activation of a generation whose
// chunking has no statistics yet fails, whichever way it activates, and succeeds once they
// are completed.
func TestAGenerationWithDeferredStatisticsIsNotActivated(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	if ok, err := index.DeferStatistics(ctx, f.pool, f.chunkingID); err != nil || !ok {
		t.Fatalf("DeferStatistics = %v, %v", ok, err)
	}
	_, chunks := f.addDocument(t, "a.md", "A", []string{"public"}, "kestrel pallet", "aisle budget")
	g := f.newGeneration(t, "m", 3)
	f.embed(t, g, map[int64][]float32{chunks[0]: {1, 0, 0}, chunks[1]: {0, 1, 0}})
	if err := index.ActivateWithoutIndex(ctx, f.pool, g.ID, 1000); !errors.Is(err, index.ErrStatisticsDeferred) {
		t.Errorf("ActivateWithoutIndex with deferred statistics: %v, want ErrStatisticsDeferred", err)
	}
	if err := index.BuildVectorIndex(ctx, f.pool, g.ID); err != nil {
		t.Fatal(err)
	}
	if err := index.Activate(ctx, f.pool, g.ID); !errors.Is(err, index.ErrStatisticsDeferred) {
		t.Errorf("Activate with deferred statistics: %v, want ErrStatisticsDeferred", err)
	}
	if ok, err := index.CompleteStatistics(ctx, f.pool, f.chunkingID); err != nil || !ok {
		t.Fatalf("CompleteStatistics = %v, %v", ok, err)
	}
	if ok, err := index.CompleteStatistics(ctx, f.pool, f.chunkingID); err != nil || ok {
		t.Errorf("a second CompleteStatistics = %v, %v; want false (nothing deferred)", ok, err)
	}
	if n := mismatches(t, f.pool); n != 0 {
		t.Errorf("%d mismatches after the completion", n)
	}
	if err := index.Activate(ctx, f.pool, g.ID); err != nil {
		t.Errorf("Activate after the completion: %v", err)
	}
}

// TestCompleteStatisticsWaitsForWritersInFlight: a write transaction that left its chunks out
// of the statistics (the chunking deferred) is still open when the completion starts; the
// completion waits for it and counts its chunks. A writer that starts while the completion
// runs counts its chunks through the triggers once it is done. Neither is lost nor counted
// twice.
func TestCompleteStatisticsWaitsForWritersInFlight(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	if ok, err := index.DeferStatistics(ctx, f.pool, f.chunkingID); err != nil || !ok {
		t.Fatalf("DeferStatistics = %v, %v", ok, err)
	}
	f.addDocument(t, "a.md", "A", []string{"public"}, "kestrel pallet")
	doc, _ := f.addDocument(t, "b.md", "B", []string{"group:hr"}, "aisle budget")

	writer, err := f.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer writer.Rollback(ctx) //nolint:errcheck // after Commit, a no-op
	if _, err := writer.Exec(ctx, `UPDATE chunks SET text = 'roadmap incident salary' WHERE document_id = $1`, doc); err != nil {
		t.Fatal(err)
	}
	completed := make(chan error, 1)
	go func() {
		_, err := index.CompleteStatistics(ctx, f.pool, f.chunkingID)
		completed <- err
	}()
	select {
	case err := <-completed:
		t.Fatalf("the completion did not wait for the writer in flight (err=%v)", err)
	case <-time.After(300 * time.Millisecond):
	}
	// A second writer, after the completion began: it waits for the completion.
	late := make(chan error, 1)
	go func() {
		_, err := f.pool.Exec(ctx, `UPDATE chunks SET text = 'merger kestrel' WHERE document_id = (SELECT id FROM documents WHERE uri = 'a.md')`)
		late <- err
	}()
	time.Sleep(100 * time.Millisecond)
	if err := writer.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-completed; err != nil {
		t.Fatal(err)
	}
	if err := <-late; err != nil {
		t.Fatal(err)
	}
	if n := mismatches(t, f.pool); n != 0 || deferred(t, f.pool, f.chunkingID) {
		t.Fatalf("%d mismatches, deferred %v, after writers around the completion", n, deferred(t, f.pool, f.chunkingID))
	}
	var df int
	if err := f.pool.QueryRow(ctx, `SELECT df FROM tag_lexeme_stats WHERE chunking_id = $1 AND tag = 'group:hr' AND lexeme = 'roadmap'`, f.chunkingID).Scan(&df); err != nil || df != 1 {
		t.Errorf("df of the in-flight writer's lexeme = %d, %v; want 1", df, err)
	}
}
