package index_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/pgvector/pgvector-go"

	"github.com/docent-rag/docent/internal/index"
	"github.com/docent-rag/docent/internal/testing/dbtest"
	"github.com/docent-rag/docent/migrations"
)

// fixture is a small corpus written straight into the tables, as ingestion will.
type fixture struct {
	pool       *pgxpool.Pool
	chunkingID int
	sourceID   int64
}

func setup(t *testing.T) fixture {
	t.Helper()
	db := dbtest.New(t)
	ctx := context.Background()
	chunkingID, err := index.EnsureChunking(ctx, db.Pool, map[string]int{"target_tokens": 350, "max_tokens": 512}, "english")
	if err != nil {
		t.Fatal(err)
	}
	var sourceID int64
	if err := db.Pool.QueryRow(ctx, `INSERT INTO sources (name) VALUES ('handbook') RETURNING id`).Scan(&sourceID); err != nil {
		t.Fatal(err)
	}
	return fixture{pool: db.Pool, chunkingID: chunkingID, sourceID: sourceID}
}

// addDocument inserts a document with the given chunk texts and returns the chunk ids.
func (f fixture) addDocument(t *testing.T, uri, title string, acl []string, texts ...string) (docID int64, chunkIDs []int64) {
	t.Helper()
	ctx := context.Background()
	err := f.pool.QueryRow(ctx, `
		INSERT INTO documents (source_id, uri, title, content_type, content_hash, size_bytes, text, acl)
		VALUES ($1, $2, $3, 'text/markdown', sha256($4::bytea), length($4), $4, $5) RETURNING id`,
		f.sourceID, uri, title, strings.Join(texts, "\n\n"), acl).Scan(&docID)
	if err != nil {
		t.Fatalf("insert document %s: %v", uri, err)
	}
	rows := make([][]any, len(texts))
	offset := 0
	for i, text := range texts {
		n := len([]rune(text))
		rows[i] = []any{docID, f.chunkingID, i, text, []string{title}, offset, offset + n, len(strings.Fields(text))}
		offset += n + 2
	}
	// COPY without acl, tsv or lexical_length: the schema's trigger fills them in.
	if _, err := f.pool.CopyFrom(ctx, pgx.Identifier{"chunks"},
		[]string{"document_id", "chunking_id", "ordinal", "text", "heading_path", "char_start", "char_end", "token_count"},
		pgx.CopyFromRows(rows)); err != nil {
		t.Fatalf("copy chunks of %s: %v", uri, err)
	}
	err = f.pool.QueryRow(ctx, `SELECT array_agg(id ORDER BY ordinal) FROM chunks WHERE document_id = $1`, docID).Scan(&chunkIDs)
	if err != nil {
		t.Fatal(err)
	}
	return docID, chunkIDs
}

func (f fixture) newGeneration(t *testing.T, model string, dim int) index.Generation {
	t.Helper()
	var g index.Generation
	err := index.InTx(context.Background(), f.pool, func(tx pgx.Tx) error {
		var err error
		g, err = index.CreateGeneration(context.Background(), tx, index.GenerationSpec{
			ChunkingID: f.chunkingID, Embedder: "test", Model: model, Dimension: dim,
		})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// embed writes a vector for each chunk into the generation's table with COPY, without acl
// (the trigger copies it from the document).
func (f fixture) embed(t *testing.T, g index.Generation, vectors map[int64][]float32) {
	t.Helper()
	rows := make([][]any, 0, len(vectors))
	for id, v := range vectors {
		rows = append(rows, []any{id, pgvector.NewVector(v)})
	}
	if _, err := f.pool.CopyFrom(context.Background(), pgx.Identifier{g.Table}, []string{"chunk_id", "embedding"}, pgx.CopyFromRows(rows)); err != nil {
		t.Fatalf("copy embeddings into %s: %v", g.Table, err)
	}
}

func randomVector(r *rand.Rand, dim int) []float32 {
	v := make([]float32, dim)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return v
}

// explain returns the plan of a query as EXPLAIN's JSON, flattened to "Node Type [Index Name]"
// lines plus the filters, for assertions.
func explain(t *testing.T, db index.DBTX, query string, args ...any) string {
	t.Helper()
	var raw []byte
	if err := db.QueryRow(context.Background(), "EXPLAIN (FORMAT JSON) "+query, args...).Scan(&raw); err != nil {
		t.Fatalf("explain: %v", err)
	}
	var plans []struct{ Plan planNode }
	if err := json.Unmarshal(raw, &plans); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	var walk func(n planNode, depth int)
	walk = func(n planNode, depth int) {
		fmt.Fprintf(&b, "%s%s %s %s %s\n", strings.Repeat("  ", depth), n.NodeType, n.IndexName, n.Filter, n.IndexCond)
		for _, c := range n.Plans {
			walk(c, depth+1)
		}
	}
	walk(plans[0].Plan, 0)
	return b.String()
}

type planNode struct {
	NodeType  string     `json:"Node Type"`
	IndexName string     `json:"Index Name"`
	Filter    string     `json:"Filter"`
	IndexCond string     `json:"Index Cond"`
	Plans     []planNode `json:"Plans"`
}

func TestMigrateIsIdempotentAndSchemaCurrent(t *testing.T) {
	t.Parallel()
	db := dbtest.New(t)
	ctx := context.Background()
	applied, err := index.Migrate(ctx, db.URL)
	if err != nil {
		t.Fatal(err)
	}
	if len(applied) != 0 {
		t.Errorf("second migrate applied %v, want nothing", applied)
	}
	if err := index.CheckSchema(ctx, db.Pool); err != nil {
		t.Errorf("CheckSchema on a migrated database: %v", err)
	}
	var recorded int
	if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM `+index.MigrationsTable+` WHERE version_id > 0`).Scan(&recorded); err != nil {
		t.Fatal(err)
	}
	files, err := fs.Glob(migrations.FS, "*.sql")
	if err != nil {
		t.Fatal(err)
	}
	if recorded != len(files) {
		t.Errorf("%d migrations recorded, want one row per migration (%d)", recorded, len(files))
	}
}

func TestCheckSchemaRefusesOldAndNewerSchemas(t *testing.T) {
	t.Parallel()
	db := dbtest.New(t)
	ctx := context.Background()
	latest, err := index.LatestVersion()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Pool.Exec(ctx, `INSERT INTO `+index.MigrationsTable+` (version_id, is_applied) VALUES ($1, true)`, latest+1); err != nil {
		t.Fatal(err)
	}
	var se *index.SchemaError
	if err := index.CheckSchema(ctx, db.Pool); !errors.As(err, &se) || se.Current != latest+1 || !strings.Contains(err.Error(), "newer") {
		t.Errorf("CheckSchema on a newer schema = %v, want a SchemaError saying it is newer", err)
	}
	if _, err := db.Pool.Exec(ctx, `DROP TABLE `+index.MigrationsTable); err != nil {
		t.Fatal(err)
	}
	if err := index.CheckSchema(ctx, db.Pool); !errors.As(err, &se) || se.Current != 0 || !strings.Contains(err.Error(), "ingest migrate") {
		t.Errorf("CheckSchema on an unmigrated database = %v, want a SchemaError telling to run ingest migrate", err)
	}
}

// TestTwoDimensionsSideBySide is the heart of the schema: two generations with different
// dimensions over the same chunks, each queried through its own HNSW index, with the
// permission filter applied.
func TestTwoDimensionsSideBySide(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	r := rand.New(rand.NewPCG(1, 2))

	// 2,000 chunks: 1,000 the engineering group may see, 1,000 public. Enough rows that the
	// planner prefers the HNSW index to a sequential scan on its own.
	var engChunks, publicChunks []int64
	for i := range 20 {
		texts := make([]string, 50)
		for j := range texts {
			texts[j] = fmt.Sprintf("paragraph %d of document %d about deployment and on-call rotations", j, i)
		}
		acl := []string{"public"}
		if i%2 == 0 {
			acl = []string{"group:eng"}
		}
		_, ids := f.addDocument(t, fmt.Sprintf("doc-%02d.md", i), fmt.Sprintf("Document %d", i), acl, texts...)
		if i%2 == 0 {
			engChunks = append(engChunks, ids...)
		} else {
			publicChunks = append(publicChunks, ids...)
		}
	}
	all := slices.Concat(engChunks, publicChunks)

	// load gives every chunk a random vector in g and builds g's HNSW index.
	load := func(g index.Generation) {
		vectors := make(map[int64][]float32, len(all))
		for _, id := range all {
			vectors[id] = randomVector(r, g.Dimension)
		}
		f.embed(t, g, vectors)
		if err := index.BuildVectorIndex(ctx, f.pool, g.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := f.pool.Exec(ctx, "ANALYZE "+pgx.Identifier{g.Table}.Sanitize()); err != nil {
			t.Fatal(err)
		}
	}
	// The active generation and a new one being built beside it, as during a reindex.
	small := f.newGeneration(t, "small", 384)
	load(small)
	if err := index.Activate(ctx, f.pool, small.ID); err != nil {
		t.Fatal(err)
	}
	large := f.newGeneration(t, "large", 1536)
	load(large)

	var types []string
	err := f.pool.QueryRow(ctx, `
		SELECT array_agg(format_type(a.atttypid, a.atttypmod) ORDER BY c.relname)
		FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
		WHERE c.relname IN ($1, $2) AND a.attname = 'embedding'`, small.Table, large.Table).Scan(&types)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"vector(384)", "vector(1536)"}, types); diff != "" {
		t.Errorf("embedding column types (-want +got):\n%s", diff)
	}

	for _, g := range []index.Generation{small, large} {
		t.Run(g.Model, func(t *testing.T) {
			table, err := g.TableIdent()
			if err != nil {
				t.Fatal(err)
			}
			q := pgvector.NewVector(randomVector(r, g.Dimension))

			// Unfiltered nearest neighbours: the HNSW index serves the ORDER BY ... LIMIT.
			unfiltered := `SELECT chunk_id FROM ` + table + ` ORDER BY embedding ` + g.DistanceOperator() + ` $1 LIMIT 10`
			if plan := explain(t, f.pool, unfiltered, q); !strings.Contains(plan, "Index Scan "+g.Table+"_hnsw_idx") {
				t.Errorf("nearest-neighbour query does not use the HNSW index:\n%s", plan)
			}

			// With the permission filter inside the same scan. On 2,000 rows the planner may
			// rightly prefer an exact scan for a filter this broad, so other scans are
			// switched off for this one plan: what is proven is that the query's shape lets
			// the HNSW index serve it with the filter applied in the index scan itself.
			filtered := `SELECT chunk_id, acl FROM ` + table + ` WHERE acl && $2 ORDER BY embedding ` + g.DistanceOperator() + ` $1 LIMIT 10`
			err = index.InTx(ctx, f.pool, func(tx pgx.Tx) error {
				if _, err := tx.Exec(ctx, `SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off`); err != nil {
					return err
				}
				if plan := explain(t, tx, filtered, q, []string{"group:eng"}); !strings.Contains(plan, "Index Scan "+g.Table+"_hnsw_idx (acl && ") {
					t.Errorf("filtered query cannot filter inside the HNSW scan:\n%s", plan)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			rows, err := f.pool.Query(ctx, filtered, q, []string{"group:eng"})
			if err != nil {
				t.Fatal(err)
			}
			type hit struct {
				ID  int64
				ACL []string
			}
			hits, err := pgx.CollectRows(rows, pgx.RowToStructByPos[hit])
			if err != nil {
				t.Fatal(err)
			}
			if len(hits) != 10 {
				t.Errorf("filtered query returned %d rows, want 10", len(hits))
			}
			for _, h := range hits {
				if !slices.Contains(engChunks, h.ID) || !slices.Equal(h.ACL, []string{"group:eng"}) {
					t.Errorf("filtered query returned chunk %d with tags %v, which group:eng may not see", h.ID, h.ACL)
				}
			}
		})
	}
}

func TestPermissionTagsFollowTheDocument(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	docID, chunks := f.addDocument(t, "salaries.md", "Salaries", []string{"group:hr"}, "Salary bands for 2026.", "Bonus policy.")
	f.addDocument(t, "welcome.md", "Welcome", []string{"public"}, "Welcome to the handbook.")
	// An active generation and one being built.
	g1 := f.newGeneration(t, "one", 4)
	f.embed(t, g1, map[int64][]float32{chunks[0]: {1, 0, 0, 0}, chunks[1]: {0, 1, 0, 0}})
	if err := index.BuildVectorIndex(ctx, f.pool, g1.ID); err != nil {
		t.Fatal(err)
	}
	if err := index.Activate(ctx, f.pool, g1.ID); err != nil {
		t.Fatal(err)
	}
	g2 := f.newGeneration(t, "two", 8)
	f.embed(t, g2, map[int64][]float32{chunks[0]: {1, 0, 0, 0, 0, 0, 0, 0}, chunks[1]: {0, 1, 0, 0, 0, 0, 0, 0}})

	// tagsEverywhere returns the distinct tag sets of the document's chunks and of their
	// embeddings in each generation.
	tagsEverywhere := func() map[string][]string {
		queries := map[string]string{
			"chunks": `SELECT DISTINCT array_to_string(acl, ',') FROM chunks WHERE document_id = $1`,
		}
		for _, g := range []index.Generation{g1, g2} {
			queries[g.Table] = `SELECT DISTINCT array_to_string(e.acl, ',') FROM ` + g.Table +
				` e JOIN chunks c ON c.id = e.chunk_id WHERE c.document_id = $1`
		}
		got := map[string][]string{}
		for name, query := range queries {
			rows, err := f.pool.Query(ctx, query, docID)
			if err != nil {
				t.Fatal(err)
			}
			if got[name], err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
				t.Fatal(err)
			}
		}
		return got
	}
	want := map[string][]string{"chunks": {"group:hr"}, g1.Table: {"group:hr"}, g2.Table: {"group:hr"}}
	if diff := cmp.Diff(want, tagsEverywhere()); diff != "" {
		t.Errorf("tags copied on insert (-want +got):\n%s", diff)
	}

	if _, err := f.pool.Exec(ctx, `UPDATE documents SET acl = '{group:hr,user:ceo@example.com}' WHERE id = $1`, docID); err != nil {
		t.Fatal(err)
	}
	want = map[string][]string{"chunks": {"group:hr,user:ceo@example.com"}, g1.Table: {"group:hr,user:ceo@example.com"}, g2.Table: {"group:hr,user:ceo@example.com"}}
	if diff := cmp.Diff(want, tagsEverywhere()); diff != "" {
		t.Errorf("tags after the document's tags changed (-want +got):\n%s", diff)
	}

	// Writing a chunk's or an embedding's tags directly cannot make them diverge.
	if _, err := f.pool.Exec(ctx, `UPDATE chunks SET acl = '{public}' WHERE document_id = $1`, docID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.pool.Exec(ctx, `UPDATE `+g1.Table+` SET acl = '{public}'`); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, tagsEverywhere()); diff != "" {
		t.Errorf("tags after a direct write (-want +got):\n%s", diff)
	}

	// The per-tag counts follow.
	rows, err := f.pool.Query(ctx, `SELECT tag, chunk_count FROM acl_stats WHERE chunk_count > 0 ORDER BY tag`)
	if err != nil {
		t.Fatal(err)
	}
	type tagCount struct {
		Tag   string
		Count int64
	}
	counts, err := pgx.CollectRows(rows, pgx.RowToStructByPos[tagCount])
	if err != nil {
		t.Fatal(err)
	}
	wantCounts := []tagCount{{"group:hr", 2}, {"public", 1}, {"user:ceo@example.com", 2}}
	if diff := cmp.Diff(wantCounts, counts); diff != "" {
		t.Errorf("acl_stats (-want +got):\n%s", diff)
	}
}

// TestConcurrentTagChangeReachesNewEmbeddings: an embedding written by one transaction while
// another changes its document's tags must end with the new tags, whichever commits first.
// Without the FOR SHARE lock in the embeddings trigger, the embedding keeps the old tags: a
// permission leak after a revocation.
func TestConcurrentTagChangeReachesNewEmbeddings(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	docID, chunks := f.addDocument(t, "plans.md", "Plans", []string{"group:eng"}, "Roadmap for next year.")
	g := f.newGeneration(t, "g", 4)

	writer, err := f.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = writer.Rollback(ctx) }() // after Commit, a no-op
	if _, err := writer.Exec(ctx, `INSERT INTO `+g.Table+` (chunk_id, embedding) VALUES ($1, '[1,0,0,0]')`, chunks[0]); err != nil {
		t.Fatal(err)
	}

	revoked := make(chan error, 1)
	go func() {
		_, err := f.pool.Exec(ctx, `UPDATE documents SET acl = '{group:leadership}' WHERE id = $1`, docID)
		revoked <- err
	}()
	select {
	case err := <-revoked:
		t.Fatalf("the tag change did not wait for the embedding writer (err=%v)", err)
	case <-time.After(200 * time.Millisecond):
	}
	if err := writer.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-revoked; err != nil {
		t.Fatal(err)
	}
	var acl []string
	if err := f.pool.QueryRow(ctx, `SELECT acl FROM `+g.Table+` WHERE chunk_id = $1`, chunks[0]).Scan(&acl); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(acl, []string{"group:leadership"}) {
		t.Errorf("embedding tags = %v after the revocation, want [group:leadership]", acl)
	}
}

// TestBM25StatisticsFollowTheChunks checks the statistics against a recomputation from the
// chunks after inserts, a title change, tag changes (moving a document to another tag,
// adding and removing one), a chunk rewritten in place, and a deletion, and that the
// per-tag rows of one lexeme move with its document.
func TestBM25StatisticsFollowTheChunks(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()

	check := func(step string) {
		t.Helper()
		mismatches, err := index.StatisticsMismatches(ctx, f.pool)
		if err != nil {
			t.Fatal(err)
		}
		if mismatches != 0 {
			t.Errorf("%s: %d statistics differ from a recomputation from the chunks", step, mismatches)
		}
	}
	// perTag returns the lexeme's document frequency under each tag that has it.
	perTag := func(lexeme string) map[string]int {
		t.Helper()
		rows, err := f.pool.Query(ctx, `SELECT tag, df FROM tag_lexeme_stats WHERE lexeme = $1 AND df <> 0`, lexeme)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]int{}
		for rows.Next() {
			var tag string
			var df int
			if err := rows.Scan(&tag, &df); err != nil {
				t.Fatal(err)
			}
			got[tag] = df
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return got
	}

	docA, _ := f.addDocument(t, "a.md", "Kubernetes deployment", []string{"public"}, "Deploy with kubectl apply.", "Roll back with kubectl rollout undo.")
	f.addDocument(t, "b.md", "On-call", []string{"group:sre", "group:sre", "user:kim"}, "Pages go to the primary on-call engineer.")
	f.addDocument(t, "c.md", "Draft", []string{}, "Untagged kubectl notes, visible to no one.")
	check("after inserts")
	if diff := cmp.Diff(map[string]int{"public": 2}, perTag("kubectl")); diff != "" {
		t.Errorf("kubectl per tag after inserts (-want +got):\n%s", diff)
	}
	// A tag listed twice counts once; a chunk without tags is in no tag's statistics.
	if diff := cmp.Diff(map[string]int{"group:sre": 1, "user:kim": 1}, perTag("page")); diff != "" {
		t.Errorf("page per tag (-want +got):\n%s", diff)
	}

	var lengths []int
	if err := f.pool.QueryRow(ctx, `SELECT array_agg(lexical_length ORDER BY ordinal) FROM chunks WHERE document_id = $1`, docA).Scan(&lengths); err != nil {
		t.Fatal(err)
	}
	// "Kubernetes deployment" + heading "Kubernetes deployment" + "Deploy with kubectl apply."
	// = 2 + 2 + 3 lexemes ("with" is a stop word).
	if lengths[0] != 7 {
		t.Errorf("lexical_length of the first chunk = %d, want 7 (title, heading path and text, without stop words)", lengths[0])
	}

	if _, err := f.pool.Exec(ctx, `UPDATE documents SET title = 'Helm releases' WHERE id = $1`, docA); err != nil {
		t.Fatal(err)
	}
	check("after a title change")
	var titleHits int
	if err := f.pool.QueryRow(ctx, `SELECT count(*) FROM chunks WHERE tsv @@ to_tsquery('english', 'helm')`).Scan(&titleHits); err != nil {
		t.Fatal(err)
	}
	if titleHits != 2 {
		t.Errorf("%d chunks match the new title, want 2", titleHits)
	}

	for _, step := range []struct {
		acl  string
		want map[string]int
	}{
		{"{group:platform}", map[string]int{"group:platform": 2}},                     // moved
		{"{group:platform,public}", map[string]int{"group:platform": 2, "public": 2}}, // a tag added
		{"{public}", map[string]int{"public": 2}},                                     // one removed
		{"{}", map[string]int{}},                                                      // visible to no one
		{"{public,group:platform}", map[string]int{"group:platform": 2, "public": 2}},
	} {
		if _, err := f.pool.Exec(ctx, `UPDATE documents SET acl = $2 WHERE id = $1`, docA, step.acl); err != nil {
			t.Fatal(err)
		}
		check("after re-tagging to " + step.acl)
		if diff := cmp.Diff(step.want, perTag("kubectl")); diff != "" {
			t.Errorf("kubectl per tag after re-tagging to %s (-want +got):\n%s", step.acl, diff)
		}
	}

	// A chunk rewritten in place (its lexemes change, its tags do not), and a chunk given a
	// new id.
	if _, err := f.pool.Exec(ctx, `UPDATE chunks SET text = 'Roll back with helm rollback twice: helm rollback.' WHERE document_id = $1 AND ordinal = 1`, docA); err != nil {
		t.Fatal(err)
	}
	check("after rewriting a chunk")
	if diff := cmp.Diff(map[string]int{"group:platform": 1, "public": 1}, perTag("kubectl")); diff != "" {
		t.Errorf("kubectl per tag after rewriting a chunk (-want +got):\n%s", diff)
	}
	if _, err := f.pool.Exec(ctx, `UPDATE chunks SET id = id + 1000000 WHERE document_id = $1 AND ordinal = 0`, docA); err != nil {
		t.Fatal(err)
	}
	check("after changing a chunk's id")

	if _, err := f.pool.Exec(ctx, `DELETE FROM documents WHERE id = $1`, docA); err != nil {
		t.Fatal(err)
	}
	check("after deleting a document")
	if got := perTag("kubectl"); len(got) != 0 {
		t.Errorf("kubectl per tag after its only tagged document was deleted: %v, want none", got)
	}

	// The check itself notices statistics that disagree with the chunks.
	if _, err := f.pool.Exec(ctx, `UPDATE tag_lexeme_stats SET df = df + 1 WHERE lexeme = 'page' AND tag = 'user:kim'`); err != nil {
		t.Fatal(err)
	}
	if _, err := f.pool.Exec(ctx, `UPDATE corpus_stats SET total_length = total_length + 1`); err != nil {
		t.Fatal(err)
	}
	if _, err := f.pool.Exec(ctx, `UPDATE acl_stats SET total_length = total_length + 1 WHERE tag = 'group:sre'`); err != nil {
		t.Fatal(err)
	}
	if n, err := index.StatisticsMismatches(ctx, f.pool); err != nil || n != 3 {
		t.Errorf("StatisticsMismatches after corrupting three rows = %d, %v; want 3", n, err)
	}
	// A term-frequency bound below the truth would let MaxScore prune a chunk that belongs
	// in the top: the check notices it too.
	if _, err := f.pool.Exec(ctx, `
		UPDATE tag_lexeme_stats SET max_tf = 0
		WHERE tag = 'group:sre' AND lexeme = (SELECT min(lexeme) FROM tag_lexeme_stats WHERE df > 0 AND lexeme <> 'page')`); err != nil {
		t.Fatal(err)
	}
	if n, err := index.StatisticsMismatches(ctx, f.pool); err != nil || n != 4 {
		t.Errorf("StatisticsMismatches after lowering a tf bound = %d, %v; want 4", n, err)
	}
}

// TestTagStatisticsFollowRandomChanges applies random inserts, re-tags (including tags
// listed twice and no tags), title changes, chunk rewrites and deletions, several per
// statement and in transactions, and checks the per-tag statistics against the chunks after
// each step.
func TestTagStatisticsFollowRandomChanges(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	e := &randomEdits{t: t, f: f, r: rand.New(rand.NewPCG(9, 10))}
	for step := range 60 {
		var what string
		switch op := e.r.IntN(6); {
		case op == 0 || len(e.docs) < 3:
			what = "insert"
			e.insert(step)
		case op == 4:
			what = "re-tag and rewrite in one transaction"
			err := index.InTx(ctx, f.pool, func(tx pgx.Tx) error {
				id := e.doc()
				if _, err := tx.Exec(ctx, `UPDATE documents SET acl = $2 WHERE id = $1`, id, e.acl()); err != nil {
					return err
				}
				_, err := tx.Exec(ctx, `UPDATE chunks SET text = $2 WHERE document_id = $1 AND ordinal = 0`, id, e.text())
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
		default:
			what = e.change(op)
		}
		n, err := index.StatisticsMismatches(ctx, f.pool)
		if err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Fatalf("step %d (%s): %d statistics differ from a recomputation from the chunks", step, what, n)
		}
	}
}

// randomEdits makes the random documents and changes of the statistics property tests: texts
// over a small vocabulary, tag sets with repeats and empty ones, and the changes that reach
// chunks through documents.
type randomEdits struct {
	t    *testing.T
	f    fixture
	r    *rand.Rand
	docs []int64
}

var (
	editWords = []string{"robot", "charging", "salary", "merger", "kestrel", "pallet", "aisle", "budget", "roadmap", "incident"}
	editTags  = []string{"public", "group:hr", "group:eng", "user:kim"}
)

func (e *randomEdits) word() string { return editWords[e.r.IntN(len(editWords))] }

func (e *randomEdits) text() string {
	w := make([]string, 3+e.r.IntN(8))
	for i := range w {
		w[i] = e.word()
	}
	return strings.Join(w, " ") + "."
}

func (e *randomEdits) acl() []string {
	out := []string{}
	for range e.r.IntN(4) {
		out = append(out, editTags[e.r.IntN(len(editTags))]) // repeats and empty sets included
	}
	return out
}

func (e *randomEdits) doc() int64 { return e.docs[e.r.IntN(len(e.docs))] }

// insert adds a document of one to three chunks and returns its id.
func (e *randomEdits) insert(step int) int64 {
	texts := make([]string, 1+e.r.IntN(3))
	for i := range texts {
		texts[i] = e.text()
	}
	id, _ := e.f.addDocument(e.t, fmt.Sprintf("d%d.md", step), e.word(), e.acl(), texts...)
	e.docs = append(e.docs, id)
	return id
}

// change makes change op (1: re-tag several documents in one statement, 2: a title change, 3:
// a rewrite of a document's chunks, anything else: a deletion) and says what it did.
func (e *randomEdits) change(op int) string {
	e.t.Helper()
	ctx := context.Background()
	var err error
	var what string
	switch op {
	case 1:
		what = "re-tag several documents in one statement"
		_, err = e.f.pool.Exec(ctx, `UPDATE documents SET acl = $2 WHERE id = ANY($1)`, []int64{e.doc(), e.doc()}, e.acl())
	case 2:
		what = "title change"
		_, err = e.f.pool.Exec(ctx, `UPDATE documents SET title = $2 WHERE id = $1`, e.doc(), e.text())
	case 3:
		what = "chunk rewrite"
		_, err = e.f.pool.Exec(ctx, `UPDATE chunks SET text = $2 WHERE document_id = $1`, e.doc(), e.text())
	default:
		what = "delete"
		i := e.r.IntN(len(e.docs))
		_, err = e.f.pool.Exec(ctx, `DELETE FROM documents WHERE id = $1`, e.docs[i])
		e.docs = slices.Delete(e.docs, i, i+1)
	}
	if err != nil {
		e.t.Fatalf("%s: %v", what, err)
	}
	return what
}

// TestLexicalQueryUsesTheTagLexemeIndex: the lexical leg's candidates are found through the
// GIN index of tag-qualified lexemes, with the keys of the caller's own tags, so a caller of
// another group neither finds the chunk nor has a key to look it up with.
func TestLexicalQueryUsesTheTagLexemeIndex(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	for i := range 40 {
		texts := make([]string, 50)
		for j := range texts {
			texts[j] = fmt.Sprintf("note %d-%d on budgets, hiring and quarterly planning", i, j)
		}
		f.addDocument(t, fmt.Sprintf("n%d.md", i), "Notes", []string{fmt.Sprintf("group:g%d", i)}, texts...)
	}
	f.addDocument(t, "secret.md", "Merger", []string{"group:g0"}, "The merger with Initech closes in March.")
	if _, err := f.pool.Exec(ctx, `ANALYZE chunks`); err != nil {
		t.Fatal(err)
	}
	query := `SELECT id FROM chunks WHERE docent_tag_lexemes(acl, tsv) @@ $1::tsquery AND acl && $2 AND chunking_id = $3`
	for principal, want := range map[string]int{"group:g0": 1, "group:g1": 0} {
		terms, _, err := index.QueryTerms(ctx, f.pool, f.chunkingID, "merger initech", []string{principal})
		if err != nil {
			t.Fatal(err)
		}
		var all []index.TSQuery
		for _, term := range terms {
			all = append(all, term.Match())
		}
		match := index.AllOf(all...)
		if (match != "") != (want > 0) {
			t.Errorf("%s: query %q for the merger's terms %+v", principal, match, terms)
		}
		if match == "" {
			continue
		}
		plan := explain(t, f.pool, query, string(match), []string{principal}, f.chunkingID)
		if !strings.Contains(plan, "chunks_tag_lexemes_idx") {
			t.Errorf("lexical query does not use the tag-qualified lexeme index:\n%s", plan)
		}
		var n int
		if err := f.pool.QueryRow(ctx, "SELECT count(*) FROM ("+query+") q", string(match), []string{principal}, f.chunkingID).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != want {
			t.Errorf("%s sees %d chunks about the merger, want %d", principal, n, want)
		}
	}
}

// TestTagLexemeEntries checks the indexed expression: one entry per distinct tag and lexeme,
// none for a chunk without tags, and a lexeme too long to fit beside a tag key in a tsvector
// entry hashed, with the same key from QueryTerms, so that it is still found.
func TestTagLexemeEntries(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	long := strings.Repeat("x", 2000)
	f.addDocument(t, "a.md", "Alpha", []string{"public", "group:a", "public"}, "Charging robots. "+long)
	f.addDocument(t, "b.md", "Beta", []string{}, "Charging robots untagged.")
	rows, err := f.pool.Query(ctx, `
		SELECT d.uri, length(c.tsv), length(docent_tag_lexemes(c.acl, c.tsv)),
		       (SELECT max(octet_length(l)) FROM unnest(tsvector_to_array(docent_tag_lexemes(c.acl, c.tsv))) AS l)
		FROM chunks c JOIN documents d ON d.id = c.document_id ORDER BY d.uri`)
	if err != nil {
		t.Fatal(err)
	}
	type entries struct {
		URI              string
		Lexemes, Entries int
		Longest          *int
	}
	got, err := pgx.CollectRows(rows, pgx.RowToStructByPos[entries])
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Entries != 2*got[0].Lexemes || got[0].Longest == nil || *got[0].Longest > 100 || got[1].Entries != 0 {
		t.Errorf("entries of the tagged chunk (2 distinct tags) and of the untagged one: %+v", got)
	}
	terms, _, err := index.QueryTerms(ctx, f.pool, f.chunkingID, long, []string{"group:a"})
	if err != nil || len(terms) != 1 || len(terms[0].Keys) != 1 {
		t.Fatalf("QueryTerms for the long word: %+v, %v", terms, err)
	}
	var n int
	if err := f.pool.QueryRow(ctx, `SELECT count(*) FROM chunks WHERE docent_tag_lexemes(acl, tsv) @@ $1::tsquery`,
		string(terms[0].Match())).Scan(&n); err != nil || n != 1 {
		t.Errorf("the long word's key finds %d chunks (%v), want 1", n, err)
	}
}

func TestActivateSwapsAtomicallyAndNotifies(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	_, chunks := f.addDocument(t, "a.md", "A", []string{"public"}, "alpha", "beta")

	listener, err := pgx.Connect(ctx, f.pool.Config().ConnConfig.ConnString())
	if err != nil {
		t.Fatal(err)
	}
	defer listener.Close(ctx)
	if _, err := listener.Exec(ctx, "LISTEN docent_generations"); err != nil {
		t.Fatal(err)
	}

	g1 := f.newGeneration(t, "one", 4)
	if err := index.Activate(ctx, f.pool, g1.ID); err == nil || !strings.Contains(err.Error(), "vector index is not built") {
		t.Errorf("activating a generation without its vector index: err = %v", err)
	}
	f.embed(t, g1, map[int64][]float32{chunks[0]: {1, 0, 0, 0}, chunks[1]: {0, 1, 0, 0}})
	if err := index.BuildVectorIndex(ctx, f.pool, g1.ID); err != nil {
		t.Fatal(err)
	}
	if err := index.Activate(ctx, f.pool, g1.ID); err != nil {
		t.Fatal(err)
	}
	active, err := index.ActiveGeneration(ctx, f.pool)
	if err != nil || active.ID != g1.ID {
		t.Fatalf("active generation = %d, %v; want %d", active.ID, err, g1.ID)
	}

	g2 := f.newGeneration(t, "two", 8)
	// A second building generation is refused while one is building.
	if _, err := index.CreateGeneration(ctx, f.pool, index.GenerationSpec{ChunkingID: f.chunkingID, Embedder: "test", Model: "three", Dimension: 4}); err == nil {
		t.Error("created a second building generation while one was building")
	}

	f.embed(t, g2, map[int64][]float32{chunks[0]: {1, 0, 0, 0, 0, 0, 0, 0}, chunks[1]: {0, 1, 0, 0, 0, 0, 0, 0}})
	if err := index.BuildVectorIndex(ctx, f.pool, g2.ID); err != nil {
		t.Fatal(err)
	}
	if err := index.Activate(ctx, f.pool, g2.ID); err != nil {
		t.Fatal(err)
	}
	rows, err := f.pool.Query(ctx, `SELECT id, status FROM index_generations ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	type status struct {
		ID     int
		Status string
	}
	got, err := pgx.CollectRows(rows, pgx.RowToStructByPos[status])
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]status{{g1.ID, "retired"}, {g2.ID, "active"}}, got); diff != "" {
		t.Errorf("statuses after the swap (-want +got):\n%s", diff)
	}

	// Two active generations are impossible even by hand.
	if _, err := f.pool.Exec(ctx, `UPDATE index_generations SET status = 'active' WHERE id = $1`, g1.ID); err == nil {
		t.Error("the schema allowed two active generations")
	}

	// Listeners heard about each change; the last notice names the new active generation.
	var last string
	for {
		waitCtx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		n, err := listener.WaitForNotification(waitCtx)
		cancel()
		if err != nil {
			break
		}
		last = n.Payload
	}
	if last != fmt.Sprint(g2.ID) {
		t.Errorf("last notification payload = %q, want %d", last, g2.ID)
	}
}

func TestChunkOfMissingDocumentIsRejected(t *testing.T) {
	t.Parallel()
	f := setup(t)
	_, err := f.pool.Exec(context.Background(), `
		INSERT INTO chunks (document_id, chunking_id, ordinal, text, char_start, char_end, token_count)
		VALUES (999999, $1, 0, 'orphan', 0, 6, 1)`, f.chunkingID)
	if err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("inserting a chunk of a missing document: err = %v", err)
	}
}

func TestCorpusVersionFollowsEveryChunkChange(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	version := func() int64 {
		t.Helper()
		v, err := index.CorpusVersion(ctx, f.pool)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	v0 := version()
	docID, _ := f.addDocument(t, "a.md", "A", []string{"group:a"}, "alpha")
	v1 := version()
	if _, err := f.pool.Exec(ctx, `UPDATE documents SET acl = '{group:b}' WHERE id = $1`, docID); err != nil {
		t.Fatal(err)
	}
	v2 := version()
	if _, err := f.pool.Exec(ctx, `DELETE FROM documents WHERE id = $1`, docID); err != nil {
		t.Fatal(err)
	}
	v3 := version()
	if !(v0 < v1 && v1 < v2 && v2 < v3) {
		t.Errorf("corpus versions %d, %d, %d, %d: want a new one after each insert, tag change and delete", v0, v1, v2, v3)
	}
}

// TestNewGenerationsBuildWithTheDefaultHNSWParameters checks that a generation created without
// HNSW parameters, through the code or by SQL, records the defaults of migration 00003 and
// that its index is built with them.
func TestNewGenerationsBuildWithTheDefaultHNSWParameters(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	g := f.newGeneration(t, "defaults", 4)
	if g.HNSWM != index.DefaultHNSWM || g.HNSWEfConstruction != index.DefaultHNSWEfConstruction {
		t.Errorf("CreateGeneration recorded m %d, ef_construction %d; want %d, %d", g.HNSWM, g.HNSWEfConstruction,
			index.DefaultHNSWM, index.DefaultHNSWEfConstruction)
	}
	var m, efc int
	if err := f.pool.QueryRow(ctx, `
		INSERT INTO index_generations (chunking_id, embedder, model, dimension, status) VALUES ($1, 'test', 'by-sql', 4, 'retired')
		RETURNING hnsw_m, hnsw_ef_construction`, f.chunkingID).Scan(&m, &efc); err != nil {
		t.Fatal(err)
	}
	if m != index.DefaultHNSWM || efc != index.DefaultHNSWEfConstruction {
		t.Errorf("the schema's defaults are m %d, ef_construction %d; the code's %d, %d", m, efc,
			index.DefaultHNSWM, index.DefaultHNSWEfConstruction)
	}
	if err := index.BuildVectorIndex(ctx, f.pool, g.ID); err != nil {
		t.Fatal(err)
	}
	var options []string
	if err := f.pool.QueryRow(ctx, `SELECT reloptions FROM pg_class WHERE relname = $1`, g.Table+"_hnsw_idx").Scan(&options); err != nil {
		t.Fatal(err)
	}
	want := []string{fmt.Sprintf("m=%d", index.DefaultHNSWM), fmt.Sprintf("ef_construction=%d", index.DefaultHNSWEfConstruction)}
	if !slices.Equal(options, want) {
		t.Errorf("HNSW index options %v, want %v", options, want)
	}
}

// TestChunksCanBeAnalyzedWithoutTheSchemaInThePath: autovacuum evaluates index expressions
// with a search path of pg_catalog only. The tag-qualified lexeme index's expression must
// still work there, or automatic analyze of chunks fails every time and the planner never
// learns how many chunks there are.
func TestChunksCanBeAnalyzedWithoutTheSchemaInThePath(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.addDocument(t, "a.md", "A", []string{"public", "group:hr"}, "Robots charge for twenty minutes.", "The depot opens at six.")
	ctx := context.Background()
	var schema string
	if err := f.pool.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		t.Fatal(err)
	}
	conn, err := f.pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	defer func() { _, _ = conn.Exec(context.Background(), `RESET search_path`) }()
	if _, err := conn.Exec(ctx, `SET search_path TO pg_catalog, pg_temp`); err != nil {
		t.Fatal(err)
	}
	table := pgx.Identifier{schema, "chunks"}.Sanitize()
	if _, err := conn.Exec(ctx, `ANALYZE `+table); err != nil {
		t.Fatalf("ANALYZE %s with search_path pg_catalog: %v", table, err)
	}
	if _, err := conn.Exec(ctx, `REINDEX TABLE `+table); err != nil {
		t.Fatalf("REINDEX %s with search_path pg_catalog: %v", table, err)
	}
}

// TestBM25SplitsTheContextsPart: BM25's Own is the part of the score the question's own
// lexemes contribute (the lexemes BM25Query.Context does not mark): the whole score without
// context marks, the score of the own lexemes alone with them, whatever the context adds;
// a Context longer than the lexemes is refused (no rows), never misread.
func TestBM25SplitsTheContextsPart(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	f.addDocument(t, "a.md", "Network", []string{"public"}, "The private network carries backups and replication traffic free of charge.")
	f.addDocument(t, "b.md", "Bus", []string{"public"}, "The city bus is free on Sundays.")
	terms, corpus, err := index.QueryTerms(ctx, f.pool, f.chunkingID, "free network backups", []string{"public"})
	if err != nil || len(terms) != 3 {
		t.Fatalf("terms %+v, %v", terms, err)
	}
	q := index.BM25Query{ChunkingID: f.chunkingID, Principals: []string{"public"}, K1: 1.2, B: 0.75,
		AvgLength: corpus.AvgLength, Limit: 10}
	var matches []index.TSQuery
	for _, term := range terms {
		q.Lexemes = append(q.Lexemes, term.Lexeme)
		q.Weights = append(q.Weights, 1)
		matches = append(matches, term.Match())
	}
	q.Candidates = index.AnyOf(matches...)
	score := func(q index.BM25Query) map[int64]index.Scored {
		t.Helper()
		hits, err := index.BM25(ctx, f.pool, q)
		if err != nil {
			t.Fatal(err)
		}
		out := map[int64]index.Scored{}
		for _, h := range hits {
			out[h.DocumentID] = h
		}
		return out
	}
	all := score(q)
	if len(all) != 2 {
		t.Fatalf("hits %+v, want both documents", all)
	}
	for _, h := range all {
		if h.Own != h.Score {
			t.Errorf("no context marks: own %v, score %v", h.Own, h.Score)
		}
	}
	// "free" is the question's; "network" and "backups" are context.
	marked := q
	marked.Context = make([]bool, len(q.Lexemes))
	ownOnly := q
	ownOnly.Lexemes, ownOnly.Weights = nil, nil
	for i, l := range q.Lexemes {
		if l == "free" {
			ownOnly.Lexemes, ownOnly.Weights = append(ownOnly.Lexemes, l), append(ownOnly.Weights, 1)
		} else {
			marked.Context[i] = true
		}
	}
	split, own := score(marked), score(ownOnly)
	for doc, h := range split {
		if h.Score != all[doc].Score {
			t.Errorf("document %d: marking context changed the score from %v to %v", doc, all[doc].Score, h.Score)
		}
		if math.Abs(h.Own-own[doc].Score) > 1e-9 {
			t.Errorf("document %d: own part %v, want the own lexemes' score %v", doc, h.Own, own[doc].Score)
		}
		if !(h.Own >= 0 && h.Own <= h.Score) {
			t.Errorf("document %d: own part %v outside [0, %v]", doc, h.Own, h.Score)
		}
	}
	bad := q
	bad.Context = make([]bool, len(q.Lexemes)+1)
	if hits, err := index.BM25(ctx, f.pool, bad); err != nil || hits != nil {
		t.Errorf("a Context longer than the lexemes: %+v, %v; want nothing", hits, err)
	}
}

// TestBM25CappedScoresAtMostItsCandidates: with MaxCandidates the statement scores at most
// that many of the chunks its condition matches and says it reached them; below the cap, or
// without one, it scores them all and says nothing; a chunk the caller cannot see is never
// among the candidates counted.
func TestBM25CappedScoresAtMostItsCandidates(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	for i := range 5 {
		f.addDocument(t, fmt.Sprintf("d%d.md", i), "Ferry", []string{"public"}, fmt.Sprintf("The ferry number %d leaves at dawn.", i))
	}
	f.addDocument(t, "secret.md", "Ferry", []string{"staff"}, "The staff ferry leaves at noon.")
	terms, corpus, err := index.QueryTerms(ctx, f.pool, f.chunkingID, "ferry", []string{"public"})
	if err != nil || len(terms) != 1 {
		t.Fatalf("terms %+v, %v", terms, err)
	}
	q := index.BM25Query{ChunkingID: f.chunkingID, Principals: []string{"public"}, K1: 1.2, B: 0.75,
		AvgLength: corpus.AvgLength, Limit: 10, Lexemes: []string{terms[0].Lexeme}, Weights: []float64{1},
		Candidates: terms[0].Match()}
	for _, tc := range []struct {
		most, hits int
		capped     bool
	}{{0, 5, false}, {6, 5, false}, {5, 5, true}, {2, 2, true}, {1, 1, true}} {
		q.MaxCandidates = tc.most
		hits, capped, err := index.BM25Capped(ctx, f.pool, q)
		if err != nil {
			t.Fatal(err)
		}
		if len(hits) != tc.hits || capped != tc.capped {
			t.Errorf("MaxCandidates %d: %d hits, capped %v; want %d, %v", tc.most, len(hits), capped, tc.hits, tc.capped)
		}
	}
}
