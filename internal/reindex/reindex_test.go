package reindex_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/docent-rag/docent/internal/chunk"
	"github.com/docent-rag/docent/internal/embed"
	"github.com/docent-rag/docent/internal/index"
	"github.com/docent-rag/docent/internal/ingest"
	"github.com/docent-rag/docent/internal/reindex"
	"github.com/docent-rag/docent/internal/retrieve"
	"github.com/docent-rag/docent/internal/testing/dbtest"
)

var quiet = slog.New(slog.DiscardHandler)

// topicWord is the j-th topic word of document i: each document has words no other has.
func topicWord(i, j int) string { return fmt.Sprintf("topic%dword%d", i, j) }

// dataset writes a corpus of n documents to dir/docs.jsonl (each with five words of its own
// among common filler) and, in dir/gate, judgments in the BEIR layout: query i asks three of
// document i's words, and document i is its only relevant one.
func dataset(t *testing.T, dir string, n int) {
	t.Helper()
	var docs, queries, qrels strings.Builder
	qrels.WriteString("query-id\tcorpus-id\tscore\n")
	filler := strings.Fields("the report describes how the team plans the work for the next quarter and who owns each part")
	for i := range n {
		var words []string
		for j := range 5 {
			words = append(words, filler[(i+j)%len(filler)], topicWord(i, j))
		}
		fmt.Fprintf(&docs, "{\"id\":\"d%d\",\"title\":\"Document %d\",\"text\":%q}\n", i, i, strings.Join(append(words, filler...), " "))
		fmt.Fprintf(&queries, "{\"_id\":\"q%d\",\"text\":%q}\n", i, topicWord(i, 0)+" "+topicWord(i, 2)+" "+topicWord(i, 4))
		fmt.Fprintf(&qrels, "q%d\td%d\t1\n", i, i)
	}
	write(t, filepath.Join(dir, "docs", "docs.jsonl"), docs.String())
	write(t, filepath.Join(dir, "docs", ".docent-acl"), "group:a\n")
	write(t, filepath.Join(dir, "gate", "queries.jsonl"), queries.String())
	write(t, filepath.Join(dir, "gate", "qrels", "test.tsv"), qrels.String())
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func builtin(t *testing.T, dim int) *embed.Builtin {
	t.Helper()
	e, err := embed.NewBuiltin(embed.BuiltinConfig{Dimension: dim})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func ingestDir(t *testing.T, pool *pgxpool.Pool, emb embed.Embedder, dir string) (ingest.Summary, error) {
	t.Helper()
	in, err := ingest.New(ingest.Config{Source: "docs", Roots: []string{dir}, Prune: true}, pool, emb, quiet)
	if err != nil {
		return ingest.Summary{}, err
	}
	return in.Run(context.Background())
}

// setup ingests a corpus of n documents with the built-in embedder at 384 dimensions.
func setup(t *testing.T, n int) (*dbtest.DB, string) {
	t.Helper()
	db := dbtest.New(t)
	dir := t.TempDir()
	dataset(t, dir, n)
	if s, err := ingestDir(t, db.Pool, builtin(t, 384), filepath.Join(dir, "docs")); err != nil || s.Documents.Failed > 0 {
		t.Fatalf("ingest: %v %+v", err, s.Failures)
	}
	return db, dir
}

// embedders opens the embedder of a generation as the commands do.
func embedders(ctx context.Context, g index.Generation) (retrieve.Embedder, error) {
	if g.Embedder == "test" {
		return randomEmbedder{dim: g.Dimension}, nil
	}
	return embed.Open(ctx, embed.Spec{Kind: g.Embedder, Model: g.Model, Dimension: g.Dimension}, embed.Providers{})
}

// complete fails unless every chunk of g's chunking has a vector in g.
func complete(t *testing.T, pool *pgxpool.Pool, g index.Generation) int64 {
	t.Helper()
	chunks, embedded, err := index.Coverage(context.Background(), pool, g)
	if err != nil {
		t.Fatal(err)
	}
	if chunks == 0 || embedded != chunks {
		t.Fatalf("generation %d has vectors for %d of %d chunks", g.ID, embedded, chunks)
	}
	return chunks
}

func TestReindexToAnotherDimension(t *testing.T) {
	t.Parallel()
	db, _ := setup(t, 40)
	ctx := context.Background()
	before, err := index.ActiveGeneration(ctx, db.Pool)
	if err != nil {
		t.Fatal(err)
	}
	var phases []string
	res, err := reindex.Run(ctx, db.Pool, reindex.Config{Embedder: builtin(t, 64), Embedders: embedders, BatchSize: 7,
		Progress: func(p reindex.Progress) {
			if len(phases) == 0 || phases[len(phases)-1] != p.Phase {
				phases = append(phases, p.Phase)
			}
		}}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Activated || res.Previous != before.ID || res.Embedded == 0 || res.Embedded != res.Chunks {
		t.Errorf("result %+v: want activated, previous %d, every chunk embedded", res, before.ID)
	}
	if want := []string{"embed", "index", "cutover"}; strings.Join(phases, ",") != strings.Join(want, ",") {
		t.Errorf("progress phases %v, want %v", phases, want)
	}
	active, err := index.ActiveGeneration(ctx, db.Pool)
	if err != nil {
		t.Fatal(err)
	}
	if active.ID != res.Generation.ID || active.Dimension != 64 || active.IndexBuiltAt == nil {
		t.Fatalf("active generation %+v, want the new one with 64 dimensions and its index", active)
	}
	complete(t, db.Pool, active)
	if old, _ := index.GetGeneration(ctx, db.Pool, before.ID); old.Status != index.StatusRetired || old.Table == "" {
		t.Errorf("previous generation %+v: want retired with its vectors kept", old)
	}

	// A retriever that started on the old generation (its embedder has 384 dimensions)
	// follows the cutover, embedding queries with the new generation's embedder.
	r, err := retrieve.New(retrieve.Config{GenerationTTL: time.Millisecond,
		Embedders: embedders},
		db.Pool, builtin(t, 384), nil, "", quiet)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond)
	out, err := r.Retrieve(ctx, retrieve.Request{Query: topicWord(7, 1) + " " + topicWord(7, 3), Principals: []string{"group:a"}, Mode: retrieve.Dense})
	if err != nil {
		t.Fatal(err)
	}
	if out.Generation != active.ID || len(out.Dense) == 0 {
		t.Fatalf("dense retrieval on generation %d with %d hits, want generation %d with hits", out.Generation, len(out.Dense), active.ID)
	}
	// The old generation can still be asked for by id (a request in flight at the cutover).
	if _, err := r.Retrieve(ctx, retrieve.Request{Query: "quarter", Principals: []string{"group:a"}, Mode: retrieve.Dense, Generation: before.ID}); err != nil {
		t.Errorf("retrieval pinned to the retired generation: %v", err)
	}
}

// failingEmbedder embeds like inner until calls reach failAfter, then fails.
type failingEmbedder struct {
	embed.Embedder
	calls     atomic.Int32
	failAfter int32
}

func (f *failingEmbedder) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	if f.calls.Add(1) > f.failAfter {
		return nil, errors.New("the embedding provider went away")
	}
	return f.Embedder.Embed(ctx, texts)
}

func TestReindexResumesWhereItStopped(t *testing.T) {
	t.Parallel()
	db, _ := setup(t, 60)
	ctx := context.Background()
	flaky := &failingEmbedder{Embedder: builtin(t, 96), failAfter: 3}
	res, err := reindex.Run(ctx, db.Pool, reindex.Config{Embedder: flaky, Embedders: embedders, BatchSize: 10}, quiet)
	if err == nil || res.Activated {
		t.Fatalf("a reindex whose embedder failed returned %v, activated %v", err, res.Activated)
	}
	g, err := index.BuildingGeneration(ctx, db.Pool)
	if err != nil {
		t.Fatalf("no building generation left to resume: %v", err)
	}
	chunks, done, err := index.Coverage(ctx, db.Pool, g)
	if err != nil {
		t.Fatal(err)
	}
	if done != 30 || chunks <= done {
		t.Fatalf("after 3 batches of 10: %d of %d chunks embedded, want 30 of more", done, chunks)
	}
	runs, err := index.RecentRuns(ctx, db.Pool, 1, 0)
	if err != nil || len(runs) != 1 || runs[0].Kind != "reindex" || runs[0].Status != index.RunFailed {
		t.Errorf("recorded run %+v (%v), want a failed reindex", runs, err)
	}

	// Another embedder cannot take over the unfinished generation.
	if _, err := reindex.Run(ctx, db.Pool, reindex.Config{Embedder: builtin(t, 128), Embedders: embedders}, quiet); err == nil || !strings.Contains(err.Error(), "unfinished reindex") {
		t.Errorf("a reindex with another dimension during an unfinished one: %v, want a refusal naming it", err)
	}

	counting := &failingEmbedder{Embedder: builtin(t, 96), failAfter: math.MaxInt32}
	res, err = reindex.Run(ctx, db.Pool, reindex.Config{Embedder: counting, Embedders: embedders, BatchSize: 10}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Resumed || !res.Activated || res.Generation.ID != g.ID || res.Embedded != chunks-done {
		t.Errorf("resumed run %+v: want generation %d resumed, %d chunks embedded, activated", res, g.ID, chunks-done)
	}
	complete(t, db.Pool, res.Generation)
}

func TestReindexesDoNotOverlap(t *testing.T) {
	t.Parallel()
	db, _ := setup(t, 5)
	ctx := context.Background()
	held, err := index.LockReindex(ctx, db.Pool)
	if err != nil {
		t.Fatal(err)
	}
	_, err = reindex.Run(ctx, db.Pool, reindex.Config{Embedder: builtin(t, 64), Embedders: embedders}, quiet)
	if !errors.Is(err, index.ErrLocked) {
		t.Errorf("a reindex while another holds the lock: %v, want ErrLocked", err)
	}
	if err := held.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := reindex.Run(ctx, db.Pool, reindex.Config{Embedder: builtin(t, 64), Embedders: embedders}, quiet); err != nil {
		t.Errorf("after the lock is released: %v", err)
	}
}

// randomEmbedder is a deliberately degraded embedder: a pseudo-random unit vector per text,
// unrelated to its meaning.
type randomEmbedder struct{ dim int }

func (randomEmbedder) Kind() string     { return "test" }
func (randomEmbedder) Model() string    { return "random" }
func (r randomEmbedder) Dimension() int { return r.dim }
func (r randomEmbedder) Embed(_ context.Context, texts []string) ([][]float32, error) {
	out := make([][]float32, len(texts))
	for i, text := range texts {
		h := fnv.New64a()
		h.Write([]byte(text))
		seed := h.Sum64()
		v := make([]float32, r.dim)
		var norm float64
		for j := range v {
			seed = seed*6364136223846793005 + 1442695040888963407
			v[j] = float32(int64(seed>>11))/float32(1<<52) - 1
			norm += float64(v[j]) * float64(v[j])
		}
		for j := range v {
			v[j] /= float32(math.Sqrt(norm))
		}
		out[i] = v
	}
	return out, nil
}

func TestGateRefusesAWorseGenerationAndAcceptsAnEqualOne(t *testing.T) {
	t.Parallel()
	db, dir := setup(t, 50)
	ctx := context.Background()
	gate := &reindex.Gate{Dir: filepath.Join(dir, "gate"), Tolerance: 0.01}
	before, err := index.ActiveGeneration(ctx, db.Pool)
	if err != nil {
		t.Fatal(err)
	}

	res, err := reindex.Run(ctx, db.Pool, reindex.Config{Embedder: randomEmbedder{dim: 48}, Embedders: embedders, Gate: gate}, quiet)
	if !errors.Is(err, reindex.ErrGateRefused) || res == nil || res.Gate == nil || res.Activated {
		t.Fatalf("degraded embedder: %v, result %+v; want the gate to refuse", err, res)
	}
	if res.Gate.Passed || res.Gate.Queries != 50 || res.Gate.Dense[1] >= res.Gate.Dense[0]-0.01 {
		t.Errorf("gate %+v: want refused on 50 queries with a dense drop", res.Gate)
	}
	if res.Gate.Dense[0] < 0.5 {
		t.Errorf("the baseline's dense nDCG@10 is %.3f: the dataset does not tell embedders apart", res.Gate.Dense[0])
	}
	if a, _ := index.ActiveGeneration(ctx, db.Pool); a.ID != before.ID {
		t.Fatalf("the refused generation became active (%d)", a.ID)
	}
	evals, err := index.LatestEvals(ctx, db.Pool)
	if err != nil {
		t.Fatal(err)
	}
	if ev, ok := evals[res.Generation.ID]; !ok || ev.Passed || ev.BaselineID != before.ID || ev.Queries != 50 {
		t.Errorf("stored evaluation %+v (found %v), want the refusal", ev, ok)
	}

	// --force activates the refused generation without running the gate again.
	forced, err := reindex.Activate(ctx, db.Pool, res.Generation.ID, reindex.Config{Embedders: embedders, Gate: gate, Force: true}, quiet)
	if err != nil || !forced.Activated || !forced.GateForced || forced.Gate != nil {
		t.Fatalf("forced activation: %v, %+v", err, forced)
	}
	// Rolling back to the old generation through the gate: it is better, so it passes.
	back, err := reindex.Activate(ctx, db.Pool, before.ID, reindex.Config{Embedders: embedders, Gate: gate}, quiet)
	if err != nil || !back.Activated || back.Gate == nil || !back.Gate.Passed {
		t.Fatalf("rollback: %v, %+v", err, back)
	}
	if err := index.DropGeneration(ctx, db.Pool, res.Generation.ID); err != nil {
		t.Fatal(err)
	}

	// An equal generation (the same embedder again) passes.
	res, err = reindex.Run(ctx, db.Pool, reindex.Config{Embedder: builtin(t, 384), Embedders: embedders, Gate: gate}, quiet)
	if err != nil || !res.Activated || res.Gate == nil || !res.Gate.Passed {
		t.Fatalf("equal embedder: %v, %+v", err, res)
	}
	if res.Gate.Hybrid[0] != res.Gate.Hybrid[1] || res.Gate.Dense[0] != res.Gate.Dense[1] {
		t.Errorf("the same embedder scored differently: %s", res.Gate.Summary())
	}
}

func TestRollbackCatchesUpWithNewChunks(t *testing.T) {
	t.Parallel()
	db, dir := setup(t, 20)
	ctx := context.Background()
	old, err := index.ActiveGeneration(ctx, db.Pool)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reindex.Run(ctx, db.Pool, reindex.Config{Embedder: builtin(t, 64), Embedders: embedders}, quiet); err != nil {
		t.Fatal(err)
	}
	// Ingestion goes on with the new generation's embedder: the old one misses these chunks.
	write(t, filepath.Join(dir, "docs", "new.md"), "# Added later\n\nThe charging robots park in bay seven overnight.\n")
	if s, err := ingestDir(t, db.Pool, builtin(t, 64), filepath.Join(dir, "docs")); err != nil || s.Documents.Added != 1 {
		t.Fatalf("ingest after the reindex: %v %+v", err, s.Documents)
	}
	if chunks, embedded, _ := index.Coverage(ctx, db.Pool, old); embedded >= chunks {
		t.Fatalf("the retired generation has %d of %d vectors: the test needs it to lag", embedded, chunks)
	}
	res, err := reindex.Activate(ctx, db.Pool, old.ID, reindex.Config{Embedders: embedders}, quiet)
	if err != nil || !res.Activated {
		t.Fatalf("rollback: %v %+v", err, res)
	}
	g, err := index.GetGeneration(ctx, db.Pool, old.ID)
	if err != nil {
		t.Fatal(err)
	}
	if g.Status != index.StatusActive {
		t.Fatalf("generation %d is %s after the rollback", g.ID, g.Status)
	}
	complete(t, db.Pool, g)
}

// TestIngestDuringReindexLeavesNothingMissing runs ingest continuously (adding and changing
// documents) while a reindex builds and cuts over, and checks that at the cutover the new
// generation has a vector for every chunk, and that ingestion against the old generation
// after the cutover fails cleanly instead of writing chunks the new generation lacks.
func TestIngestDuringReindexLeavesNothingMissing(t *testing.T) {
	t.Parallel()
	db, dir := setup(t, 200)
	ctx := context.Background()
	docs := filepath.Join(dir, "docs")
	oldEmb := builtin(t, 384)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var runs, wrote atomic.Int32
	var ingestErrs []error
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			// A new document and a changed one each round.
			err := errors.Join(
				os.WriteFile(filepath.Join(docs, fmt.Sprintf("new-%d.md", i)), fmt.Appendf(nil, "# Note %d\n\nRound %d adds this note about %s.\n", i, i, topicWord(i, 9)), 0o644),
				os.WriteFile(filepath.Join(docs, "changing.md"), fmt.Appendf(nil, "# Changing\n\nVersion %d of a page that changes every round.\n", i), 0o644))
			if err != nil {
				ingestErrs = append(ingestErrs, err)
				return
			}
			s, err := ingestDir(t, db.Pool, oldEmb, docs)
			runs.Add(1)
			if err != nil {
				ingestErrs = append(ingestErrs, err)
				return // the cutover happened: this embedder no longer matches
			}
			wrote.Add(int32(s.Documents.Added + s.Documents.Updated))
		}
	})
	for wrote.Load() < 2 {
		time.Sleep(10 * time.Millisecond)
	}
	res, err := reindex.Run(ctx, db.Pool, reindex.Config{Embedder: builtin(t, 64), Embedders: embedders, BatchSize: 16}, quiet)
	if err != nil {
		close(stop)
		wg.Wait()
		t.Fatal(err)
	}
	// Right after the cutover, before ingestion can be told anything: complete.
	complete(t, db.Pool, res.Generation)
	close(stop)
	wg.Wait()
	t.Logf("%d ingest runs wrote %d documents during the reindex; %d vectors caught up at the cutover", runs.Load(), wrote.Load(), res.CaughtUp)
	if runs.Load() < 2 {
		t.Errorf("only %d ingest runs overlapped the reindex", runs.Load())
	}
	for _, err := range ingestErrs {
		var mismatch *index.MismatchError
		if !errors.As(err, &mismatch) && !errors.Is(err, index.ErrGenerationRetired) {
			t.Errorf("ingest during the reindex failed with %v, want success, a mismatch or ErrGenerationRetired", err)
		}
	}
	// Whatever ingestion did after the cutover, the active generation is still complete.
	complete(t, db.Pool, res.Generation)
	// And ingestion with the new embedder carries on.
	if s, err := ingestDir(t, db.Pool, builtin(t, 64), docs); err != nil || s.Documents.Failed > 0 {
		t.Fatalf("ingest with the new embedder: %v %+v", err, s.Failures)
	}
	complete(t, db.Pool, res.Generation)
}

func ingestWith(pool *pgxpool.Pool, emb embed.Embedder, dir string, chunking chunk.Config) (ingest.Summary, error) {
	in, err := ingest.New(ingest.Config{Source: "docs", Roots: []string{dir}, Prune: true, Chunking: chunking}, pool, emb, quiet)
	if err != nil {
		return ingest.Summary{}, err
	}
	return in.Run(context.Background())
}

// longDoc is a Markdown document of three sections of about 200 tokens each.
func longDoc(i int, version string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Handbook page %d\n\n", i)
	for sec := range 3 {
		fmt.Fprintf(&b, "## Section %d\n\n", sec)
		for sent := range 12 {
			fmt.Fprintf(&b, "Page %d section %d sentence %d explains %s and how the %s team handles it. ", i, sec, sent, topicWord(i, sec), version)
		}
		b.WriteString("\n\n")
	}
	return b.String()
}

// chunkTexts returns the text of every chunk of the chunking, joined.
func chunkTexts(t *testing.T, pool *pgxpool.Pool, chunking int) (count int, all string) {
	t.Helper()
	err := pool.QueryRow(context.Background(), `SELECT count(*), coalesce(string_agg(text, ' '), '') FROM chunks WHERE chunking_id = $1`, chunking).Scan(&count, &all)
	if err != nil {
		t.Fatal(err)
	}
	return count, all
}

// TestRechunkWhileIngesting re-chunks a corpus with smaller chunks while an ingest run adds a
// document and changes another between the reindex's passes, then rolls back to the old
// chunking after more ingestion, and collects the unused chunks.
func TestRechunkWhileIngesting(t *testing.T) {
	t.Parallel()
	db := dbtest.New(t)
	ctx := context.Background()
	dir := t.TempDir()
	for i := range 8 {
		write(t, filepath.Join(dir, fmt.Sprintf("page-%d.md", i)), longDoc(i, "original"))
	}
	write(t, filepath.Join(dir, ".docent-acl"), "group:a\n")
	emb := builtin(t, 384)
	if s, err := ingestDir(t, db.Pool, emb, dir); err != nil || s.Documents.Added != 8 {
		t.Fatalf("ingest: %v %+v", err, s.Documents)
	}
	old, err := index.ActiveGeneration(ctx, db.Pool)
	if err != nil {
		t.Fatal(err)
	}
	oldChunks, _ := chunkTexts(t, db.Pool, old.ChunkingID)

	small := chunk.Config{TargetTokens: 60, MaxTokens: 90, OverlapTokens: 8, MinTokens: 16}
	meddled := false
	var phases []string
	res, err := reindex.Run(ctx, db.Pool, reindex.Config{Embedder: emb, Embedders: embedders, Rechunk: &reindex.Rechunk{Chunking: small},
		Progress: func(p reindex.Progress) {
			if len(phases) == 0 || phases[len(phases)-1] != p.Phase {
				phases = append(phases, p.Phase)
			}
			if p.Phase != "index" || meddled {
				return
			}
			// Between the first pass and the cutover, cron ingests a changed and a new page
			// (into the old chunking: it knows nothing of the new one).
			meddled = true
			write(t, filepath.Join(dir, "page-3.md"), longDoc(3, "revised"))
			write(t, filepath.Join(dir, "page-new.md"), longDoc(99, "newcomer"))
			if s, err := ingestDir(t, db.Pool, emb, dir); err != nil || s.Documents.Added != 1 || s.Documents.Updated != 1 {
				t.Errorf("ingest during the reindex: %v %+v", err, s.Documents)
			}
		}}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	if !meddled || !res.Activated || res.Rechunk == nil || res.Rechunk.Passes != 2 {
		t.Fatalf("result %+v, rechunk %+v: want two passes and an activation after the meddling", res, res.Rechunk)
	}
	// (No embed phase: the passes embed as they write. The second pass is the cutover's.)
	if want := "rechunk,index,rechunk,cutover"; strings.Join(phases, ",") != want {
		t.Errorf("phases %v, want %s", phases, want)
	}
	g := res.Generation
	if g.ChunkingID == old.ChunkingID {
		t.Fatal("the new generation reuses the old chunking")
	}
	complete(t, db.Pool, g)
	n, texts := chunkTexts(t, db.Pool, g.ChunkingID)
	if n < 2*oldChunks || !strings.Contains(texts, "revised team") || !strings.Contains(texts, "newcomer team") || strings.Contains(texts, "Page 3 section 0 sentence 0 explains "+topicWord(3, 0)+" and how the original") {
		t.Errorf("new chunking: %d chunks (old %d); want at least twice as many, with the revised and the new page and not the old page 3", n, oldChunks)
	}
	// Lexical retrieval reads the new chunking.
	r, err := retrieve.New(retrieve.Config{GenerationTTL: time.Millisecond}, db.Pool, emb, nil, "", quiet)
	if err != nil {
		t.Fatal(err)
	}
	out, err := r.Retrieve(ctx, retrieve.Request{Query: topicWord(99, 1), Principals: []string{"group:a"}, Mode: retrieve.Hybrid})
	if err != nil || out.Generation != g.ID || len(out.Evidence) == 0 || !strings.Contains(out.Evidence[0].Text, topicWord(99, 1)) {
		t.Fatalf("retrieval after the rechunk: %v, generation %d, evidence %+v", err, out.Generation, out.Evidence)
	}

	// Ingestion with the old chunking settings is refused now; with the new ones it works.
	var mismatch *index.MismatchError
	if _, err := ingestDir(t, db.Pool, emb, dir); !errors.As(err, &mismatch) {
		t.Errorf("ingest with the old chunking after the cutover: %v, want a mismatch", err)
	}
	write(t, filepath.Join(dir, "page-later.md"), longDoc(77, "later"))
	if s, err := ingestWith(db.Pool, emb, dir, small); err != nil || s.Documents.Added != 1 {
		t.Fatalf("ingest with the new chunking: %v %+v", err, s.Documents)
	}

	// Roll back: the old chunking is brought up to date (page-later) before the switch.
	back, err := reindex.Activate(ctx, db.Pool, old.ID, reindex.Config{Embedders: embedders}, quiet)
	if err != nil || !back.Activated {
		t.Fatalf("rollback: %v %+v", err, back)
	}
	complete(t, db.Pool, old)
	if _, texts := chunkTexts(t, db.Pool, old.ChunkingID); !strings.Contains(texts, "later team") {
		t.Error("the old chunking misses the page ingested after the rechunk")
	}

	// Dropping the rechunked generation leaves its chunks unused: gc deletes them, and the
	// statistics stay consistent.
	if err := index.DropGeneration(ctx, db.Pool, g.ID); err != nil {
		t.Fatal(err)
	}
	deleted, err := index.DropUnusedChunks(ctx, db.Pool)
	if err != nil || deleted == 0 {
		t.Errorf("DropUnusedChunks: %d, %v", deleted, err)
	}
	if n, _ := chunkTexts(t, db.Pool, g.ChunkingID); n != 0 {
		t.Errorf("%d chunks of the dropped chunking remain", n)
	}
	if bad, err := index.StatisticsMismatches(ctx, db.Pool); err != nil || bad != 0 {
		t.Errorf("statistics mismatches after the gc: %d, %v", bad, err)
	}
}

// fakeProviders serves OpenAI's POST /v1/embeddings and Ollama's POST /api/embed, embedding
// with the built-in embedder at 48 dimensions (so that the vectors mean something), and
// counts the texts it embedded.
func fakeProviders(t *testing.T) (embed.Providers, *atomic.Int64) {
	t.Helper()
	inner := builtin(t, 48)
	var texts atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Model string          `json:"model"`
			Input json.RawMessage `json:"input"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var inputs []string
		if err := json.Unmarshal(req.Input, &inputs); err != nil {
			var one string
			if err := json.Unmarshal(req.Input, &one); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			inputs = []string{one}
		}
		vecs, err := inner.Embed(r.Context(), inputs)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		texts.Add(int64(len(inputs)))
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/v1/embeddings":
			data := make([]any, len(vecs))
			for i, v := range vecs {
				data[i] = map[string]any{"object": "embedding", "index": i, "embedding": v}
			}
			_ = json.NewEncoder(w).Encode(map[string]any{"object": "list", "data": data, "model": req.Model,
				"usage": map[string]int{"prompt_tokens": 1, "total_tokens": 1}})
		case "/api/embed":
			_ = json.NewEncoder(w).Encode(map[string]any{"model": req.Model, "embeddings": vecs})
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return embed.Providers{OpenAIBaseURL: srv.URL + "/v1", OpenAIAPIKey: "test-key", OllamaURL: srv.URL}, &texts
}

// TestReindexWithProviders reindexes to an OpenAI-compatible and then an Ollama embedding
// model (served by a fake), through the real clients, with the dimension learned from the
// provider, and retrieves with each.
func TestReindexWithProviders(t *testing.T) {
	t.Parallel()
	db, _ := setup(t, 30)
	ctx := context.Background()
	providers, texts := fakeProviders(t)
	open := func(ctx context.Context, g index.Generation) (retrieve.Embedder, error) {
		return embed.Open(ctx, embed.Spec{Kind: g.Embedder, Model: g.Model, Dimension: g.Dimension}, providers)
	}
	for _, spec := range []string{"openai:fake-embed-3", "ollama:fake-embed-text"} {
		s, err := embed.ParseSpec(spec, 0)
		if err != nil {
			t.Fatal(err)
		}
		emb, err := embed.Open(ctx, s, providers)
		if err != nil {
			t.Fatalf("%s: %v", spec, err)
		}
		before := texts.Load()
		res, err := reindex.Run(ctx, db.Pool, reindex.Config{Embedder: emb, Embedders: open}, quiet)
		if err != nil || !res.Activated {
			t.Fatalf("%s: %v %+v", spec, err, res)
		}
		g := res.Generation
		if g.Embedder+":"+g.Model != spec || g.Dimension != 48 {
			t.Errorf("%s: generation %s:%s with %d dimensions", spec, g.Embedder, g.Model, g.Dimension)
		}
		if n := complete(t, db.Pool, g); texts.Load()-before < n {
			t.Errorf("%s: the provider embedded %d texts for %d chunks", spec, texts.Load()-before, n)
		}
		r, err := retrieve.New(retrieve.Config{Embedders: open},
			db.Pool, nil, nil, "", quiet)
		if err != nil {
			t.Fatal(err)
		}
		out, err := r.Retrieve(ctx, retrieve.Request{Query: topicWord(4, 0) + " " + topicWord(4, 3), Principals: []string{"group:a"}, Mode: retrieve.Dense})
		if err != nil || out.Generation != g.ID || len(out.Dense) == 0 {
			t.Fatalf("%s: dense retrieval: %v, generation %d, %d hits", spec, err, out.Generation, len(out.Dense))
		}
	}
}
