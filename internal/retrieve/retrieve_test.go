package retrieve_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/docent-rag/docent/internal/embed"
	"github.com/docent-rag/docent/internal/index"
	"github.com/docent-rag/docent/internal/ingest"
	"github.com/docent-rag/docent/internal/retrieve"
	"github.com/docent-rag/docent/internal/testing/dbtest"
)

var quiet = slog.New(slog.DiscardHandler)

// corpus ingests files (path -> content) with the built-in embedder into a new database.
func corpus(t *testing.T, files map[string]string) (*dbtest.DB, *embed.Builtin) {
	t.Helper()
	db := dbtest.New(t)
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	emb, err := embed.NewBuiltin(embed.BuiltinConfig{})
	if err != nil {
		t.Fatal(err)
	}
	in, err := ingest.New(ingest.Config{Source: "test", Roots: []string{dir}, Prune: true}, db.Pool, emb, quiet)
	if err != nil {
		t.Fatal(err)
	}
	s, err := in.Run(context.Background())
	if err != nil || s.Documents.Failed > 0 {
		t.Fatalf("ingest: %v %+v", err, s.Failures)
	}
	return db, emb
}

// buildVectorIndex builds the active generation's HNSW index, which ingestion builds only for
// a corpus of index.SmallCorpusChunks chunks or more (smaller ones are scanned exactly).
func buildVectorIndex(t *testing.T, db *dbtest.DB) {
	t.Helper()
	ctx := context.Background()
	g, err := index.ActiveGeneration(ctx, db.Pool)
	if err != nil {
		t.Fatal(err)
	}
	if err := index.BuildVectorIndex(ctx, db.Pool, g.ID); err != nil {
		t.Fatal(err)
	}
}

// documentURIs returns the URI of every document of db by id.
func documentURIs(t *testing.T, db *dbtest.DB) map[int64]string {
	t.Helper()
	rows, err := db.Pool.Query(context.Background(), `SELECT id, uri FROM documents`)
	if err != nil {
		t.Fatal(err)
	}
	uris := map[int64]string{}
	for rows.Next() {
		var id int64
		var uri string
		if err := rows.Scan(&id, &uri); err != nil {
			t.Fatal(err)
		}
		uris[id] = uri
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return uris
}

func newRetriever(t *testing.T, db *dbtest.DB, emb retrieve.Embedder, cfg retrieve.Config, rr retrieve.Reranker) *retrieve.Retriever {
	t.Helper()
	r, err := retrieve.New(cfg, db.Pool, emb, rr, "test", quiet)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestNormalize(t *testing.T) {
	tests := []struct {
		in      string
		want    retrieve.Query
		wantErr string
	}{
		{in: "  How   many\tvacation\ndays?  ", want: retrieve.Query{Text: "How many vacation days?"}},
		{in: "ｆｕｌｌ－ｗｉｄｔｈ ﬁle", want: retrieve.Query{Text: "full-width file"}},
		{in: "zero\u200bwidth\x00 control\x07", want: retrieve.Query{Text: "zerowidth control"}},
		{in: `the "on-call rotation" and “robot fleet” now`, want: retrieve.Query{Text: "the on-call rotation and robot fleet now", Phrases: []string{"on-call rotation", "robot fleet"}}},
		{in: `a "single" word and "unclosed phrase`, want: retrieve.Query{Text: "a single word and unclosed phrase"}},
		{in: " \t\n", wantErr: "empty"},
		{in: strings.Repeat("ab ", 700), wantErr: "more than the limit of 2000"},
	}
	for _, tt := range tests {
		got, err := retrieve.Normalize(tt.in, 2000)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Normalize(%q) error = %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("Normalize(%q): %v", tt.in, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("Normalize(%q) (-want +got):\n%s", tt.in, diff)
		}
	}
	var tooLong *retrieve.QueryTooLongError
	if _, err := retrieve.Normalize(strings.Repeat("x", 2001), 2000); !errors.As(err, &tooLong) || tooLong.Limit != 2000 {
		t.Errorf("a long query's error is %v, want a QueryTooLongError", err)
	}
}

// zipfCorpus is a corpus of random documents over a Zipf-distributed vocabulary, so that
// queries mix rare and very common terms, tagged group:a.
func zipfCorpus(n int, seed uint64) map[string]string {
	r := rand.New(rand.NewPCG(seed, 1))
	z := rand.NewZipf(r, 1.1, 2, 3000)
	files := map[string]string{".docent-acl": "group:a\n"}
	var lines []string
	for i := range n {
		words := make([]string, 30+r.IntN(120))
		for j := range words {
			words[j] = vocab(int(z.Uint64()))
		}
		lines = append(lines, fmt.Sprintf(`{"id":"d%d","title":"","text":%q}`, i, strings.Join(words, " ")))
	}
	files["docs.jsonl"] = strings.Join(lines, "\n") + "\n"
	return files
}

// vocab names word i: letters only, so that the english configuration keeps it as a lexeme.
func vocab(i int) string {
	const letters = "bcdfghjklmnpqrstvwxz"
	var b strings.Builder
	b.WriteString("w")
	for i >= 0 {
		b.WriteByte(letters[i%len(letters)])
		i = i/len(letters) - 1
	}
	return b.String() + "o"
}

// TestBM25MatchesTheFormula recomputes BM25 for every chunk from the chunks' own lexemes in
// Go and compares with the lexical leg's scores.
func TestBM25MatchesTheFormula(t *testing.T) {
	t.Parallel()
	db, emb := corpus(t, zipfCorpus(300, 7))
	ctx := context.Background()
	rows, err := db.Pool.Query(ctx, `SELECT c.id, c.lexical_length, u.lexeme, coalesce(array_length(u.positions, 1), 1) FROM chunks c, unnest(c.tsv) u`)
	if err != nil {
		t.Fatal(err)
	}
	chunks := map[int64]*bm25Chunk{}
	df := map[string]int{}
	for rows.Next() {
		var id int64
		var length, tf int
		var lexeme string
		if err := rows.Scan(&id, &length, &lexeme, &tf); err != nil {
			t.Fatal(err)
		}
		c := chunks[id]
		if c == nil {
			c = &bm25Chunk{length: length, tf: map[string]int{}}
			chunks[id] = c
		}
		c.tf[lexeme] = tf
		df[lexeme]++
	}
	var total float64
	for _, c := range chunks {
		total += float64(c.length)
	}
	avg := total / float64(len(chunks))
	const k1, b = 0.9, 0.4
	// The IDF's corpus is the caller's chunks, or MinIDFChunks when they are fewer.
	for _, minIDF := range []int{1, 4 * len(chunks)} {
		n := max(float64(len(chunks)), float64(minIDF))
		r := newRetriever(t, db, emb, retrieve.Config{K1: k1, B: b, MinIDFChunks: minIDF}, nil)
		checkBM25(t, r, chunks, df, n, avg)
	}
}

// bm25Chunk is what the BM25 formula needs of a chunk: its length and term frequencies.
type bm25Chunk struct {
	length int
	tf     map[string]int
}

// checkBM25 compares r's lexical scores with the formula over n chunks of average length avg.
func checkBM25(t *testing.T, r *retrieve.Retriever, chunks map[int64]*bm25Chunk, df map[string]int, n, avg float64) {
	t.Helper()
	const k1, b = 0.9, 0.4
	ctx := context.Background()
	for _, query := range []string{vocab(1) + " " + vocab(40) + " " + vocab(700), vocab(2000) + " " + vocab(3) + " " + vocab(3)} {
		res, err := r.Retrieve(ctx, retrieve.Request{Query: query, Principals: []string{"group:a"}, Mode: retrieve.Lexical})
		if err != nil {
			t.Fatal(err)
		}
		qtf := map[string]int{}
		for _, w := range strings.Fields(query) {
			qtf[w]++
		}
		if len(res.Lexical) == 0 {
			t.Fatalf("no results for %q", query)
		}
		for _, h := range res.Lexical {
			c := chunks[h.ChunkID]
			want := 0.0
			for term, q := range qtf {
				tf, ok := c.tf[term]
				if !ok {
					continue
				}
				idf := math.Log(1 + (n-float64(df[term])+0.5)/(float64(df[term])+0.5))
				want += float64(q) * idf * float64(tf) * (k1 + 1) / (float64(tf) + k1*(1-b+b*float64(c.length)/avg))
			}
			if math.Abs(h.Score-want) > 1e-6*want {
				t.Fatalf("%q: chunk %d scored %.6f, the formula gives %.6f", query, h.ChunkID, h.Score, want)
			}
		}
	}
}

// TestLexicalPruningKeepsTheTopExact compares the lexical leg with a tiny candidate budget
// (forcing the MaxScore passes) against an exhaustive run: the top ExactTop must be the same
// whenever the result says it is exact. The last queries are of common words only, whose
// rarest is in more chunks than the budget: their first pass takes the chunks with both of
// the two rarest (and the rarest's others when those are too few).
func TestLexicalPruningKeepsTheTopExact(t *testing.T) {
	t.Parallel()
	db, emb := corpus(t, zipfCorpus(600, 11))
	ctx := context.Background()
	pruned := newRetriever(t, db, emb, retrieve.Config{LexicalBudget: 20, LexicalMaxCandidates: 100000}, nil)
	exhaustive := newRetriever(t, db, emb, retrieve.Config{LexicalBudget: 1 << 30, LexicalMaxCandidates: 1 << 30}, nil)
	r := rand.New(rand.NewPCG(3, 4))
	for i := range 80 {
		words := []string{vocab(r.IntN(5)), vocab(5 + r.IntN(50)), vocab(100 + r.IntN(2000)), vocab(r.IntN(3000))}
		if i >= 40 {
			words = []string{vocab(r.IntN(8)), vocab(r.IntN(20)), vocab(r.IntN(40)), vocab(r.IntN(60))}
		}
		query := strings.Join(words[:2+i%3], " ")
		req := retrieve.Request{Query: query, Principals: []string{"group:a"}, Mode: retrieve.Lexical}
		a, err := pruned.Retrieve(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		b, err := exhaustive.Retrieve(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if !a.LexicalExact {
			t.Errorf("%q: not exact with an unlimited second pass", query)
			continue
		}
		top := func(hits []retrieve.Hit) []string {
			var out []string
			for _, h := range hits[:min(10, len(hits))] {
				out = append(out, fmt.Sprintf("%d:%.9f", h.ChunkID, h.Score))
			}
			return out
		}
		if diff := cmp.Diff(top(b.Lexical), top(a.Lexical)); diff != "" {
			t.Errorf("%q: top 10 with pruning differs from exhaustive (-exhaustive +pruned):\n%s", query, diff)
		}
	}
}

// TestLexicalCapMarksTheResultApproximate caps the second pass far below what a dozen
// similar terms need (no pass 1 term's chunks can settle the top alone): the leg still returns its best candidates, in score order, and says the top is not
// guaranteed exact.
func TestLexicalCapMarksTheResultApproximate(t *testing.T) {
	t.Parallel()
	db, emb := corpus(t, zipfCorpus(300, 12))
	capped := newRetriever(t, db, emb, retrieve.Config{LexicalBudget: 5, LexicalMaxCandidates: 10}, nil)
	var words []string
	for i := range 12 {
		words = append(words, vocab(40+i))
	}
	query := strings.Join(words, " ")
	res, err := capped.Retrieve(context.Background(), retrieve.Request{Query: query, Principals: []string{"group:a"}, Mode: retrieve.Lexical})
	if err != nil {
		t.Fatal(err)
	}
	if res.LexicalExact {
		t.Error("a second pass capped at 10 candidates claims an exact top")
	}
	if len(res.Lexical) < 10 {
		t.Errorf("%d hits, want at least 10", len(res.Lexical))
	}
	if !slices.IsSortedFunc(res.Lexical, func(a, b retrieve.Hit) int { return cmpScore(b.Score, a.Score) }) {
		t.Error("hits are not in descending score order")
	}
}

// TestLexicalFirstPassHasABudget: a question of one common word has no rarer term to start
// from, so its first pass would score every chunk containing it (at a million chunks 319,140
// for "activation", 3.6 s): past LexicalFirstPassMax it scores that many, says its top is
// approximate, and still returns hits in score order; within the budget the top is exact.
func TestLexicalFirstPassHasABudget(t *testing.T) {
	t.Parallel()
	db, emb := corpus(t, zipfCorpus(300, 13))
	ctx := context.Background()
	req := retrieve.Request{Query: vocab(0), Principals: []string{"group:a"}, Mode: retrieve.Lexical}
	full, err := newRetriever(t, db, emb, retrieve.Config{}, nil).Retrieve(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if !full.LexicalExact || len(full.Lexical) < 50 {
		t.Fatalf("uncapped: exact %v with %d hits; the word must be common for this test", full.LexicalExact, len(full.Lexical))
	}
	capped, err := newRetriever(t, db, emb, retrieve.Config{LexicalFirstPassMax: 20}, nil).Retrieve(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if capped.LexicalExact {
		t.Error("a first pass capped at 20 chunks claims an exact top")
	}
	if len(capped.Lexical) == 0 || len(capped.Lexical) > 20 {
		t.Errorf("%d hits from a first pass of at most 20 chunks", len(capped.Lexical))
	}
	if !slices.IsSortedFunc(capped.Lexical, func(a, b retrieve.Hit) int { return cmpScore(b.Score, a.Score) }) {
		t.Error("hits are not in descending score order")
	}
}

func cmpScore(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// permissionCorpus has the same facts under two groups, a public page and a document of
// several chunks.
func permissionCorpus() map[string]string {
	long := strings.Repeat("The fleet manager assigns charging slots to every robot in the warehouse. ", 40)
	return map[string]string{
		"a/.docent-acl": "group:alpha\n",
		"a/plan.md":     "# Alpha launch\n\nThe Kestrel acquisition closes in June for 48 million dollars.\n",
		"b/.docent-acl": "group:beta\n",
		"b/plan.md":     "# Beta launch\n\nThe Kestrel acquisition was cancelled by the board.\n",
		"p/.docent-acl": "public\n",
		"p/welcome.md":  "# Welcome\n\nVisitors sign in at the front desk.\n",
		"p/fleet.md":    "# Fleet\n\n## Charging\n\n" + long + "\n\n## Maintenance\n\n" + long + "\n\n## Parking\n\n" + long + "\n",
	}
}

func TestRetrievalSeesOnlyPermittedChunks(t *testing.T) {
	t.Parallel()
	db, emb := corpus(t, permissionCorpus())
	ctx := context.Background()
	r := newRetriever(t, db, emb, retrieve.Config{ExactScanBelow: 1}, retrieve.NewBuiltin()) // HNSW plan too
	for _, mode := range []retrieve.Mode{retrieve.Lexical, retrieve.Dense, retrieve.Hybrid} {
		res, err := r.Retrieve(ctx, retrieve.Request{Query: "Kestrel acquisition", Principals: []string{"group:alpha", "public"}, Mode: mode})
		if err != nil {
			t.Fatal(err)
		}
		var seen []string
		for _, hits := range [][]retrieve.Hit{res.Lexical, res.Dense, res.Ranked} {
			for _, h := range hits {
				var uri string
				if err := db.Pool.QueryRow(ctx, `SELECT uri FROM documents WHERE id = $1`, h.DocumentID).Scan(&uri); err != nil {
					t.Fatal(err)
				}
				seen = append(seen, uri)
			}
		}
		for _, it := range res.Evidence {
			seen = append(seen, it.URI)
			if strings.Contains(it.Text, "cancelled") {
				t.Errorf("%s: evidence holds beta's text: %q", mode, it.Text)
			}
		}
		if slices.Contains(seen, "b/plan.md") {
			t.Errorf("%s: group:alpha's retrieval returned beta's document: %v", mode, seen)
		}
		if mode != retrieve.Dense && (len(res.Evidence) == 0 || res.Evidence[0].URI != "a/plan.md") {
			t.Errorf("%s: the top evidence is %v, want a/plan.md", mode, res.Evidence)
		}
	}
	// Without principals, nothing.
	res, err := r.Retrieve(ctx, retrieve.Request{Query: "Kestrel acquisition", Principals: nil})
	if err != nil || len(res.Ranked)+len(res.Evidence) != 0 {
		t.Errorf("a caller without principals got %v, %v", res, err)
	}
}

func TestDensePlansAndNeverFewerThanK(t *testing.T) {
	t.Parallel()
	files := map[string]string{"all/.docent-acl": "group:all\n", "few/.docent-acl": "group:few\ngroup:all\n"}
	for i := range 120 {
		files[fmt.Sprintf("all/n%03d.md", i)] = fmt.Sprintf("# Note %d\n\nRobot %d moved pallet %d to aisle %d.\n", i, i, i*7, i%13)
	}
	for i := range 12 {
		files[fmt.Sprintf("few/f%02d.md", i)] = fmt.Sprintf("# Report %d\n\nInventory count %d found %d missing crates.\n", i, i, i*3)
	}
	db, emb := corpus(t, files)
	buildVectorIndex(t, db)
	ctx := context.Background()
	req := retrieve.Request{Query: "missing crates inventory", Mode: retrieve.Dense}

	exact := newRetriever(t, db, emb, retrieve.Config{Depth: 10, ExactTop: 10}, nil)
	req.Principals = []string{"group:all"}
	res, err := exact.Retrieve(ctx, req)
	if err != nil || res.DensePlan != "exact" || len(res.Dense) != 10 {
		t.Fatalf("small corpus: plan %q, %d rows, %v; want an exact scan with 10 rows", res.DensePlan, len(res.Dense), err)
	}

	// EfSearch 1: the candidate list is Depth (10) for the unrestricted caller and 11 (1 divided
	// by the visible share 12/132) for the restricted one below.
	hnsw := newRetriever(t, db, emb, retrieve.Config{Depth: 10, ExactTop: 10, ExactScanBelow: 1, EfSearch: 1, MaxScanTuples: 15}, nil)
	res, err = hnsw.Retrieve(ctx, req)
	if err != nil || !strings.HasPrefix(res.DensePlan, "hnsw") || len(res.Dense) != 10 {
		t.Fatalf("unrestricted: plan %q, %d rows, %v; want HNSW with 10 rows", res.DensePlan, len(res.Dense), err)
	}
	// A caller who sees 12 of 132 chunks, with a query near the 120 others, a candidate list of
	// 11 and an iterative scan budget (15 tuples) too small to reach 10 visible ones: the exact
	// scan settles it.
	req.Principals = []string{"group:few"}
	req.Query = "robot moved pallet to aisle"
	res, err = hnsw.Retrieve(ctx, req)
	if err != nil || len(res.Dense) != 10 {
		t.Fatalf("restricted: plan %q, %d rows, %v; want 10 rows", res.DensePlan, len(res.Dense), err)
	}
	if res.DensePlan != "hnsw+exact" {
		t.Errorf("restricted plan %q, want hnsw+exact (the HNSW scan alone cannot reach 10 of the 12 visible rows within 15 tuples)", res.DensePlan)
	}
}

func TestBothLegsUseTheirIndexes(t *testing.T) {
	t.Parallel()
	db, emb := corpus(t, zipfCorpus(1500, 5))
	buildVectorIndex(t, db)
	ctx := context.Background()
	g, err := index.ActiveGeneration(ctx, db.Pool)
	if err != nil {
		t.Fatal(err)
	}
	// The lexical leg finds its candidates through the index of tag-qualified lexemes and no
	// other, with statistics and before ANALYZE has seen the table (right after a bulk load):
	// not through the tag or chunking indexes, which would read every visible chunk and
	// compute its tag-qualified lexemes.
	lexicalPlan := func(when string) {
		t.Helper()
		rare := vocab(2500)
		terms, _, err := index.QueryTerms(ctx, db.Pool, g.ChunkingID, rare, []string{"group:a"})
		if err != nil || len(terms) != 1 || terms[0].DF == 0 {
			t.Fatalf("terms of %q: %+v, %v", rare, terms, err)
		}
		plan, err := index.ExplainBM25(ctx, db.Pool, index.BM25Query{ChunkingID: g.ChunkingID, Principals: []string{"group:a"},
			Candidates: terms[0].Match(), Lexemes: []string{rare}, Weights: []float64{1}, K1: 0.9, B: 0.4, AvgLength: 90, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(plan, `"Index Name": "chunks_tag_lexemes_idx"`) || strings.Contains(plan, "chunks_acl_idx") ||
			strings.Contains(plan, "chunks_chunking_idx") {
			t.Errorf("%s: the lexical leg does not find its candidates through the tag-qualified lexeme index alone:\n%s", when, plan)
		}
	}
	lexicalPlan("before ANALYZE")
	if _, err := db.Pool.Exec(ctx, `ANALYZE`); err != nil {
		t.Fatal(err)
	}
	lexicalPlan("after ANALYZE")
	vecs, err := emb.Embed(ctx, []string{"some query"})
	if err != nil {
		t.Fatal(err)
	}
	q := index.VectorQuery{Generation: g, Vector: vecs[0], Principals: []string{"group:a"}, Limit: 10, Plan: index.HNSWScan, EfSearch: 40}
	plan, err := index.ExplainNearest(ctx, db.Pool, q)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(plan, `"Index Name": "`+g.Table+`_hnsw_idx"`) {
		t.Errorf("the HNSW plan does not use the HNSW index:\n%s", plan)
	}
	q.Plan = index.ExactScan
	q.Principals = []string{"group:nobody-else"}
	if plan, err = index.ExplainNearest(ctx, db.Pool, q); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(plan, `"Index Name": "`+g.Table+`_acl_idx"`) || strings.Contains(plan, "_hnsw_idx") {
		t.Errorf("the exact plan does not find the visible rows through the tag index:\n%s", plan)
	}
}

// failingReranker fails, or returns too few scores.
type failingReranker struct{ short bool }

func (f failingReranker) Rerank(_ context.Context, _ string, passages []string) ([]float64, error) {
	if f.short {
		return make([]float64, len(passages)-1), nil
	}
	return nil, errors.New("reranker unavailable")
}

func TestRerankerFailureFallsBackToTheFusedOrder(t *testing.T) {
	t.Parallel()
	db, emb := corpus(t, permissionCorpus())
	ctx := context.Background()
	req := retrieve.Request{Query: "fleet charging robot", Principals: []string{"public"}}
	want, err := newRetriever(t, db, emb, retrieve.Config{}, nil).Retrieve(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	for _, rr := range []retrieve.Reranker{failingReranker{}, failingReranker{short: true}} {
		res, err := newRetriever(t, db, emb, retrieve.Config{}, rr).Retrieve(ctx, req)
		if err != nil {
			t.Fatalf("a failing reranker failed the retrieval: %v", err)
		}
		if res.RerankError == "" || res.Reranked != "" {
			t.Errorf("the result does not say the reranker failed: %q %q", res.RerankError, res.Reranked)
		}
		if diff := cmp.Diff(want.Ranked, res.Ranked); diff != "" {
			t.Errorf("the order after a failed rerank is not the fused order (-want +got):\n%s", diff)
		}
	}
}

func TestEvidenceAssembly(t *testing.T) {
	t.Parallel()
	db, emb := corpus(t, permissionCorpus())
	ctx := context.Background()
	r := newRetriever(t, db, emb, retrieve.Config{PerDocument: 1, Neighbours: 1, ContextTokens: 1200}, nil)
	res, err := r.Retrieve(ctx, retrieve.Request{Query: "fleet manager charging slots robot warehouse", Principals: []string{"public"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Evidence) == 0 {
		t.Fatal("no evidence")
	}
	perDoc := map[string]int{}
	tokens := 0
	for _, it := range res.Evidence {
		perDoc[it.URI]++
		tokens += it.Tokens
		if !slices.Contains(it.ChunkIDs, it.ChunkID) {
			t.Errorf("item %d does not list its own chunk in %v", it.ChunkID, it.ChunkIDs)
		}
		if it.Title == "" || it.URI == "" || it.Source != "test" {
			t.Errorf("item without citation data: %+v", it)
		}
	}
	for uri, n := range perDoc {
		if n > 1 {
			t.Errorf("%s has %d items, the cap is 1", uri, n)
		}
	}
	if tokens > 1200 && len(res.Evidence) > 1 {
		t.Errorf("evidence of %d tokens, over the budget of 1200", tokens)
	}
	first := res.Evidence[0]
	if first.URI != "p/fleet.md" || len(first.ChunkIDs) < 2 {
		t.Fatalf("the top item is %s with chunks %v: want fleet.md widened with a neighbour", first.URI, first.ChunkIDs)
	}
	// Neighbouring chunks overlap; the joined text must be the document's text over the
	// covered span, without the overlap twice.
	var span string
	err = db.Pool.QueryRow(ctx, `
		SELECT substr(d.text, min(c.char_start) + 1, max(c.char_end) - min(c.char_start))
		FROM chunks c JOIN documents d ON d.id = c.document_id
		WHERE c.id = ANY($1) GROUP BY d.text`, first.ChunkIDs).Scan(&span)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(strings.Fields(first.Text), " "), strings.Join(strings.Fields(span), " "); got != want {
		t.Errorf("joined neighbours (%d words) are not the document's span (%d words)", len(strings.Fields(got)), len(strings.Fields(want)))
	}
}

func TestEvidenceStrengthSeparatesMatchesFromNonsense(t *testing.T) {
	t.Parallel()
	db, emb := corpus(t, permissionCorpus())
	ctx := context.Background()
	r := newRetriever(t, db, emb, retrieve.Config{}, nil)
	good, err := r.Retrieve(ctx, retrieve.Request{Query: "Where do visitors sign in?", Principals: []string{"public"}})
	if err != nil {
		t.Fatal(err)
	}
	bad, err := r.Retrieve(ctx, retrieve.Request{Query: "quarterly zebra photosynthesis", Principals: []string{"public"}})
	if err != nil {
		t.Fatal(err)
	}
	if good.Strength <= bad.Strength || good.Strength < 0 || good.Strength > 1 || bad.Strength < 0 {
		t.Errorf("strength of a matching query %.3f, of nonsense %.3f: want matching > nonsense, within [0, 1]", good.Strength, bad.Strength)
	}
	if good.Timings.Total <= 0 || good.Timings.Lexical <= 0 || good.Timings.Dense <= 0 {
		t.Errorf("timings not recorded: %+v", good.Timings)
	}
}

func TestNoIndexIsAClearError(t *testing.T) {
	t.Parallel()
	db := dbtest.New(t)
	r := newRetriever(t, db, nil, retrieve.Config{}, nil)
	_, err := r.Retrieve(context.Background(), retrieve.Request{Query: "anything", Principals: []string{"public"}, Mode: retrieve.Lexical})
	if !errors.Is(err, retrieve.ErrNoIndex) {
		t.Errorf("err = %v, want ErrNoIndex", err)
	}
}
