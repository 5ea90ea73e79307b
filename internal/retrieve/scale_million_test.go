package retrieve_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pgvector/pgvector-go"

	"github.com/docent-rag/docent/internal/chunk"
	"github.com/docent-rag/docent/internal/embed"
	"github.com/docent-rag/docent/internal/index"
	"github.com/docent-rag/docent/internal/ingest"
	"github.com/docent-rag/docent/internal/retrieve"
	"github.com/docent-rag/docent/internal/testing/evaldata"
)

// The benchmark at a million chunks (docs/benchmarks.md, "Retrieval at 1M chunks"):
//
//	go test -run '^$' -bench ScaleMix -benchtime 1x -timeout 0 ./internal/retrieve -args -mix-docs 1000000 -mix-json testdata/bench/scale-1m.json
//
// The corpus (evaldata.WriteScaleCorpus) has mixDocs documents, half of them two or three
// sentences (about 90 tokens), half grown to 280–350 tokens (a chunk near the chunker's
// 350-token target), each one chunk, tagged like the 100k corpus (group:all, s50, s10, s1,
// s01). Its database is built once (named by the hash of the corpus, the schema and the
// settings) and records how the build went (ingestion, HNSW build time and memory, a plain
// loader in the same process); later runs measure retrieval only.
var (
	mixDocs      = flag.Int("mix-docs", 0, "BenchmarkScaleMix: documents (= chunks) of the corpus, e.g. 1000000; without it the benchmark skips (make bench)")
	mixQueries   = flag.Int("mix-queries", 100, "BenchmarkScaleMix: SciFact test queries per caller")
	mixNaive     = flag.Int("mix-naive", 30, "BenchmarkScaleMix: queries per caller for the naive one-statement baseline (seconds each at 1M)")
	mixOnly      = flag.String("mix-callers", "", "BenchmarkScaleMix: measure only these callers (shares, comma-separated, e.g. 100%,1%; \"none\" for none); default all")
	mixExact     = flag.Int("mix-exact-below", 0, "BenchmarkScaleMix: the retriever's ExactScanBelow (visible chunks below which the dense leg scans exactly); default the retriever's")
	mixLexMax    = flag.Int("mix-lexical-max", 0, "BenchmarkScaleMix: the retriever's LexicalMaxCandidates (pass 2 past this many candidates is approximate); default the retriever's")
	mixLexBudget = flag.Int("mix-lexical-budget", 0, "BenchmarkScaleMix: the retriever's LexicalBudget (document frequencies the first lexical pass takes); default the retriever's")
	mixLexShare  = flag.Float64("mix-lexical-share", 0, "BenchmarkScaleMix: the retriever's LexicalBudgetShare (the first lexical pass's budget as a share of the visible chunks); default the retriever's")
	mixFrom      = flag.Int("mix-queries-from", 0, "BenchmarkScaleMix: skip this many SciFact test queries first (a tuning set apart from the default first 100)")
	mixJSON      = flag.String("mix-json", "", "BenchmarkScaleMix: also write the figures as JSON to this file (for the plots: go run ./internal/retrieve/plots)")
	mixTagEf     = flag.String("mix-tag-ef", "", "BenchmarkScaleMix: the retriever's TagEfSearch; with several (comma-separated) the first is the callers' and the callers whose dense leg walks a tag's graph are measured again at the others")
	mixTagGraph  = flag.String("mix-tag-graph", "", "BenchmarkScaleMix: m/ef_construction of the tag graphs the benchmark builds when its database lacks them (e.g. 32/256); default index.DefaultTagHNSWM / DefaultTagHNSWEfConstruction")
)

const (
	mixSeed      = 20261208
	mixVersion   = "scale-mix-v1"
	mixPerFile   = 20_000 // documents per JSON Lines file (the 1M corpus is about 1.2 GB)
	mixPermille  = 500    // long documents in 1,000
	mixMinTokens = 280
	mixMaxTokens = 350
	// mixNaiveTimeout bounds one statement of the naive baseline; a timed-out statement
	// counts as this long (the table says how many did).
	mixNaiveTimeout = 60 * time.Second
)

// mixCallers are the callers of the 1M benchmark.
var mixCallers = []struct{ Share, Tag string }{
	{"100%", "group:all"}, {"10%", "group:s10"}, {"1%", "group:s1"}, {"0.1%", "group:s01"},
}

// MixReport is what BenchmarkScaleMix measured, as written to -mix-json.
type MixReport struct {
	Chunks   int64             `json:"chunks"`
	Docs     int               `json:"docs"`
	Tokens   int64             `json:"tokens"`
	Build    map[string]string `json:"build"` // the build's measures, as recorded in the database
	Sizes    map[string]int64  `json:"sizes"` // bytes
	Callers  []MixCaller       `json:"callers"`
	Load     [2]string         `json:"load"` // /proc/loadavg before and after the measurement
	Measured string            `json:"measured"`
	EfSearch int               `json:"ef_search"`
	HNSW     [2]int            `json:"hnsw"` // m, ef_construction
	// TagEfSearch is the candidate list of a walk of a tag's graph; TagGraphs the graphs.
	TagEfSearch int           `json:"tag_ef_search"`
	TagGraphs   []MixTagGraph `json:"tag_graphs,omitempty"`
	// TagEf: the callers whose dense leg walked a tag's graph, measured again at other
	// TagEfSearch values (-mix-tag-ef).
	TagEf []MixCaller `json:"tag_ef,omitempty"`
}

// MixTagGraph is a tag's own HNSW graph (index.BuildTagVectorIndexes).
type MixTagGraph struct {
	Tag    string  `json:"tag"`
	Chunks int64   `json:"chunks"`
	M      int     `json:"m"`
	EfC    int     `json:"ef_construction"`
	MB     float64 `json:"size_mb"`
	BuildS float64 `json:"build_s,omitempty"` // when the benchmark built it (else the ingestion did)
}

// MixCaller is one caller's measurement.
type MixCaller struct {
	Share         string         `json:"share"`
	Tag           string         `json:"tag"`
	Visible       int64          `json:"visible"`
	Queries       int            `json:"queries"`
	P50           float64        `json:"p50_ms"` // Total − Embed
	P99           float64        `json:"p99_ms"`
	Lexical       float64        `json:"lexical_p50_ms"`
	LexicalP99    float64        `json:"lexical_p99_ms"`
	Dense         float64        `json:"dense_p50_ms"`
	DenseP99      float64        `json:"dense_p99_ms"`
	Plans         map[string]int `json:"plans"`
	Recall        float64        `json:"recall10"` // dense leg against an exact scan, same filter
	RecallWorst   float64        `json:"recall10_worst"`
	LexicalApprox int            `json:"lexical_approximate"` // queries whose lexical top 10 is marked approximate
	LexicalShare  float64        `json:"lexical_top10_share"` // of the exact top 10, over the approximate ones
	NaiveQueries  int            `json:"naive_queries"`
	NaiveP50      float64        `json:"naive_p50_ms"`
	NaiveP99      float64        `json:"naive_p99_ms"`
	NaiveTimeouts int            `json:"naive_timeouts"`
	NaiveRecall   float64        `json:"naive_recall10"`
	NaiveRowsMin  int            `json:"naive_rows_min"`
	Load          [2]string      `json:"load"`
	slowest       string         // the query of the slowest retrieval, for -explain
}

// BenchmarkScaleMix measures retrieval at mixDocs chunks for callers who see 100%, 10%, 1% and
// 0.1% of them, against the naive one-statement baseline, and reports how the corpus was built.
func BenchmarkScaleMix(b *testing.B) {
	if *mixDocs <= 0 {
		b.Skip("BenchmarkScaleMix needs -mix-docs N (10000, 100000, 1000000): building a corpus takes minutes to hours")
	}
	env, report := setupMix(b)
	ctx := context.Background()
	tagEfs := []int{0}
	if *mixTagEf != "" {
		tagEfs = nil
		for _, f := range strings.Split(*mixTagEf, ",") {
			ef, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil {
				b.Fatalf("-mix-tag-ef %q: %v", *mixTagEf, err)
			}
			tagEfs = append(tagEfs, ef)
		}
	}
	r := env.retriever(b, retrieve.Config{ExactScanBelow: *mixExact, LexicalMaxCandidates: *mixLexMax, LexicalBudget: *mixLexBudget,
		LexicalBudgetShare: *mixLexShare, TagEfSearch: tagEfs[0]})
	exhaustive := env.retriever(b, retrieve.Config{ExactScanBelow: *mixExact, LexicalMaxCandidates: math.MaxInt32, LexicalFirstPassMax: math.MaxInt32})
	from := min(max(*mixFrom, 0), len(env.queries))
	queries := env.queries[from:min(from+*mixQueries, len(env.queries))]
	report.Load[0] = loadAvg()
	tr := denseTruth{}
	for b.Loop() {
		report.Callers = report.Callers[:0]
		for _, c := range mixCallers {
			if *mixOnly != "" && !slices.Contains(strings.Split(*mixOnly, ","), c.Share) {
				continue
			}
			fmt.Printf("measuring caller %s (%s), load %s\n", c.Share, c.Tag, loadAvg())
			row, err := measureMix(ctx, env, r, exhaustive, tr, c.Share, c.Tag, queries)
			if err != nil {
				b.Fatal(err)
			}
			report.Callers = append(report.Callers, row)
		}
	}
	for _, ef := range tagEfs[1:] {
		rt := env.retriever(b, retrieve.Config{ExactScanBelow: *mixExact, LexicalMaxCandidates: *mixLexMax, LexicalBudget: *mixLexBudget,
			LexicalBudgetShare: *mixLexShare, TagEfSearch: ef})
		for _, c := range report.Callers {
			if c.Plans["tag-hnsw"]+c.Plans["tag-hnsw+exact"] == 0 {
				continue
			}
			fmt.Printf("measuring caller %s (%s) at TagEfSearch %d, load %s\n", c.Share, c.Tag, ef, loadAvg())
			row, err := measureMix(ctx, env, rt, exhaustive, tr, fmt.Sprintf("%s, tag ef %d", c.Share, ef), c.Tag, queries)
			if err != nil {
				b.Fatal(err)
			}
			report.TagEf = append(report.TagEf, row)
		}
	}
	report.Load[1] = loadAvg()
	report.Measured = time.Now().UTC().Format(time.RFC3339)
	cfg := r.Config()
	report.EfSearch, report.TagEfSearch = cfg.EfSearch, cfg.TagEfSearch
	report.HNSW = [2]int{env.gen.HNSWM, env.gen.HNSWEfConstruction}
	fmt.Print(report.String())
	if *mixAlternatives || *mixAlt != "" {
		fmt.Print(measureAlternatives(ctx, b, env, tr, queries))
	}
	if *scaleExplain { // where the slowest retrieval of each caller spent its time
		for _, c := range report.Callers {
			explainQueries(ctx, b, env, c.Tag, []string{"slowest"}, []string{c.slowest})
		}
	}
	if *mixJSON != "" {
		data, err := json.MarshalIndent(report, "", "  ")
		if err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(*mixJSON, append(data, '\n'), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	for _, c := range report.Callers {
		b.ReportMetric(c.P99, "p99-ms@"+c.Share)
	}
}

// String prints the report as the tables of docs/benchmarks.md.
func (m *MixReport) String() string {
	var out strings.Builder
	fmt.Fprintf(&out, "\n%d chunks (%d documents, %d tokens by chunk.CountTokens), HNSW m %d / ef_construction %d; load average before / after: %s / %s\n\n",
		m.Chunks, m.Docs, m.Tokens, m.HNSW[0], m.HNSW[1], m.Load[0], m.Load[1])
	out.WriteString("Build (recorded when the database was built)\n\n| measure | value |\n|---|---|\n")
	keys := make([]string, 0, len(m.Build))
	for k := range m.Build {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(&out, "| %s | %s |\n", k, m.Build[k])
	}
	out.WriteString("\nSizes\n\n| relation | MB |\n|---|---:|\n")
	keys = keys[:0]
	for k := range m.Sizes {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(&out, "| %s | %.0f |\n", k, float64(m.Sizes[k])/(1<<20))
	}
	if len(m.TagGraphs) > 0 {
		fmt.Fprintf(&out, "\nTag graphs (walked at TagEfSearch %d)\n\n| tag | chunks | m / ef_construction | MB | built here, s |\n|---|---:|---|---:|---:|\n", m.TagEfSearch)
		for _, g := range m.TagGraphs {
			fmt.Fprintf(&out, "| %s | %d | %d / %d | %.0f | %.1f |\n", g.Tag, g.Chunks, g.M, g.EfC, g.MB, g.BuildS)
		}
	}
	out.WriteString("\n| caller | visible chunks | retriever p50 ms | p99 ms | naive p50 ms | naive p99 ms (queries, timeouts) | lexical p50 / p99 ms | dense p50 / p99 ms | dense plan | dense recall@10 mean / worst | naive HNSW recall@10, fewest rows | lexical top 10 approximate (share of exact) | load before / after |\n" +
		"|---|---:|---:|---:|---:|---:|---|---|---|---|---|---|---|\n")
	for _, c := range slices.Concat(m.Callers, m.TagEf) {
		var plans []string
		for p, n := range c.Plans {
			plans = append(plans, fmt.Sprintf("%s %d", p, n))
		}
		slices.Sort(plans)
		fmt.Fprintf(&out, "| %s (%s) | %d | %.1f | %.1f | %.1f | %.1f (%d, %d) | %.1f / %.1f | %.1f / %.1f | %s | %.3f / %.1f | %.3f, %d | %d (%.2f) | %s / %s |\n",
			c.Share, c.Tag, c.Visible, c.P50, c.P99, c.NaiveP50, c.NaiveP99, c.NaiveQueries, c.NaiveTimeouts,
			c.Lexical, c.LexicalP99, c.Dense, c.DenseP99, strings.Join(plans, ", "), c.Recall, c.RecallWorst,
			c.NaiveRecall, c.NaiveRowsMin, c.LexicalApprox, c.LexicalShare, c.Load[0], c.Load[1])
	}
	return out.String()
}

// measureMix measures one caller: the hybrid retriever warm (Total − Embed, each leg's time),
// the dense leg's recall@10 against an exact scan, the lexical leg's exactness against an
// uncapped run, and the naive baseline on the first mixNaive queries.
func measureMix(ctx context.Context, env *scaleEnv, r, exhaustive *retrieve.Retriever, tr denseTruth, share, tag string, queries []string) (MixCaller, error) {
	principals := []string{tag}
	row := MixCaller{Share: share, Tag: tag, Queries: len(queries), Plans: map[string]int{}, RecallWorst: 1, NaiveRowsMin: math.MaxInt}
	row.Load[0] = loadAvg()
	var err error
	view, err := index.ViewCaller(ctx, env.pool, env.gen, principals)
	row.Visible = view.Visible()
	if err != nil {
		return row, err
	}
	for _, q := range queries { // warm
		if _, err := r.Retrieve(ctx, retrieve.Request{Query: q, Principals: principals}); err != nil {
			return row, err
		}
	}
	var total, lex, dense []time.Duration
	results := make([]*retrieve.Result, len(queries))
	for i, q := range queries {
		res, err := r.Retrieve(ctx, retrieve.Request{Query: q, Principals: principals})
		if err != nil {
			return row, err
		}
		results[i] = res
		t := res.Timings
		total, lex, dense = append(total, t.Total-t.Embed), append(lex, t.Lexical), append(dense, t.Dense)
		row.Plans[res.DensePlan]++
	}
	row.P50, row.P99 = percentileMS(total, 0.5), percentileMS(total, 0.99)
	row.slowest = queries[slices.Index(total, slices.Max(total))]
	row.Lexical, row.LexicalP99 = percentileMS(lex, 0.5), percentileMS(lex, 0.99)
	row.Dense, row.DenseP99 = percentileMS(dense, 0.5), percentileMS(dense, 0.99)

	// Untimed: recall of the dense leg, exactness of the lexical leg.
	var recallSum, shareSum float64
	for i, res := range results {
		exact, err := tr.exact(ctx, env, tag, i, res.Query.Text)
		if err != nil {
			return row, err
		}
		rec := recallAt10(res.Dense, exact)
		recallSum += rec
		row.RecallWorst = min(row.RecallWorst, rec)
		if !res.LexicalExact {
			row.LexicalApprox++
			full, err := exhaustive.Retrieve(ctx, retrieve.Request{Query: queries[i], Principals: principals, Mode: retrieve.Lexical})
			if err != nil {
				return row, err
			}
			shareSum += topOverlap(res.Lexical, full.Lexical, 10)
		}
	}
	row.Recall = recallSum / float64(len(results))
	if row.LexicalApprox > 0 {
		row.LexicalShare = shareSum / float64(row.LexicalApprox)
	} else {
		row.LexicalShare = 1
	}

	// The naive baseline: a couple of queries to warm, then the first mixNaive timed.
	naive, err := newNaive(env)
	if err != nil {
		return row, err
	}
	nq := queries[:min(*mixNaive, len(queries))]
	vecs, err := env.emb.Embed(ctx, nq)
	if err != nil {
		return row, err
	}
	var naiveLat []time.Duration
	var naiveRecall float64
	for i := range nq {
		if i < 2 {
			if _, err := naiveTimed(ctx, env, naive, nq[i], vecs[i], principals); err != nil {
				return row, err
			}
		}
		d, err := naiveTimed(ctx, env, naive, nq[i], vecs[i], principals)
		if err != nil {
			return row, err
		}
		if d >= mixNaiveTimeout {
			row.NaiveTimeouts++
		}
		naiveLat = append(naiveLat, d)
		hits, err := naiveDense(ctx, env, vecs[i], principals)
		if err != nil {
			return row, err
		}
		row.NaiveRowsMin = min(row.NaiveRowsMin, len(hits))
		exact, err := tr.exact(ctx, env, tag, i, results[i].Query.Text)
		if err != nil {
			return row, err
		}
		naiveRecall += recallAt10(hits, exact)
	}
	row.NaiveQueries = len(nq)
	row.NaiveP50, row.NaiveP99 = percentileMS(naiveLat, 0.5), percentileMS(naiveLat, 0.99)
	row.NaiveRecall = naiveRecall / float64(len(nq))
	row.Load[1] = loadAvg()
	return row, nil
}

// naiveTimed runs the naive statement once and returns its time; a statement cut by
// mixNaiveTimeout counts as mixNaiveTimeout.
func naiveTimed(ctx context.Context, env *scaleEnv, n *naiveBaseline, q string, vec []float32, principals []string) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, mixNaiveTimeout)
	defer cancel()
	start := time.Now()
	if _, err := n.run(ctx, env, q, vec, principals); err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return mixNaiveTimeout, nil
		}
		return 0, err
	}
	return time.Since(start), nil
}

// naiveDense is the naive baseline's HNSW part (pgvector's defaults, no iterative scan) as
// hits, for its recall.
func naiveDense(ctx context.Context, env *scaleEnv, vec []float32, principals []string) ([]retrieve.Hit, error) {
	table, err := env.gen.TableIdent()
	if err != nil {
		return nil, err
	}
	rows, err := env.pool.Query(ctx, `SELECT e.chunk_id, 1 - (e.embedding <=> $2) FROM `+table+` e
		WHERE e.acl && $1 ORDER BY e.embedding <=> $2 LIMIT 100`, principals, pgvector.NewVector(vec))
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (retrieve.Hit, error) {
		var h retrieve.Hit
		err := row.Scan(&h.ChunkID, &h.Score)
		return h, err
	})
}

// topOverlap is the share of want's top k that got's top k holds.
func topOverlap(got, want []retrieve.Hit, k int) float64 {
	n := min(k, len(want))
	if n == 0 {
		return 1
	}
	in := map[int64]bool{}
	for _, h := range got[:min(k, len(got))] {
		in[h.ChunkID] = true
	}
	found := 0
	for _, h := range want[:n] {
		if in[h.ChunkID] {
			found++
		}
	}
	return float64(found) / float64(n)
}

// loadAvg is the 1, 5 and 15 minute load averages.
func loadAvg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// setupMix generates the corpus and returns its database (building it first when needed),
// with the SciFact test queries, and the report with the build's measures and the sizes.
func setupMix(b *testing.B) (*scaleEnv, *MixReport) {
	b.Helper()
	ctx := context.Background()
	scifact := evaldata.Path(b, "beir/scifact/corpus.jsonl")
	clapnq := evaldata.Path(b, "qa/clapnq/corpus.jsonl")
	queries := scifactTestQueries(b)
	dir := b.TempDir()
	start := time.Now()
	files, err := evaldata.WriteScaleCorpus(dir, scifact, clapnq, *mixDocs, mixPerFile, mixSeed,
		evaldata.LongDocuments{Permille: mixPermille, MinTokens: mixMinTokens, MaxTokens: mixMaxTokens, Count: chunk.CountTokens})
	if err != nil {
		b.Fatal(err)
	}
	fmt.Printf("generated %d documents (%d long, %d–%d tokens; %d tokens in all) in %d files in %s\n", files.Docs, files.Long,
		files.LongMinToken, files.LongMaxToken, files.Tokens, len(files.Files), time.Since(start).Round(time.Second))
	build := map[string]string{}
	var mu sync.Mutex
	set := func(k, v string) {
		mu.Lock()
		build[k] = v
		mu.Unlock()
		fmt.Printf("build: %s = %s\n", k, v)
	}
	corpus := scaleCorpus{
		sum:   files.SHA256,
		write: func(string) ([]string, error) { return files.Files, nil },
		ingesting: func(ctx context.Context, url string) func() {
			set("load average at the start", loadAvg())
			return watchIndexBuild(ctx, url, set)
		},
		ingested: func(took time.Duration, s ingest.Summary) {
			set("ingestion run (extract, chunk, embed, write, statistics, HNSW build, activation)", took.Round(100*time.Millisecond).String())
			set("ingestion run, chunks per second", strconv.FormatFloat(float64(s.Chunks.Written)/took.Seconds(), 'f', 0, 64))
			set("ingestion run, notes", strings.Join(s.Notes, "; "))
			set("load average after the ingestion run", loadAvg())
		},
		analyzed: func(took time.Duration) { set("VACUUM ANALYZE", took.Round(time.Second).String()) },
		built: func(ctx context.Context, url string, roots []string) error {
			took, rows, err := plainLoad(ctx, url, roots)
			if err != nil {
				return err
			}
			set("plain loader (decode, embed, COPY of text, tags and vectors; no statistics, no index)", took.Round(100*time.Millisecond).String())
			set("plain loader, rows per second", strconv.FormatFloat(float64(rows)/took.Seconds(), 'f', 0, 64))
			set("load average after the plain loader", loadAvg())
			return saveBuild(ctx, url, build)
		},
	}
	prefix := fmt.Sprintf("docent_scalemix%d_", *mixDocs)
	env := scaleDatabase(b, prefix, mixVersion, corpus, int64(*mixDocs),
		fmt.Sprintf("%d documents, %d long, from %d sentences", files.Docs, files.Long, files.Sentences))
	env.queries = queries
	report := &MixReport{Chunks: env.chunks, Docs: files.Docs, Tokens: files.Tokens, Sizes: map[string]int64{}}
	if report.Build, err = loadBuild(ctx, env); err != nil {
		b.Fatal(err)
	}
	if report.TagGraphs, err = mixTagGraphs(ctx, b, env, report.Build); err != nil {
		b.Fatal(err)
	}
	table, err := env.gen.TableIdent()
	if err != nil {
		b.Fatal(err)
	}
	shared := `(SELECT coalesce(sum(pg_relation_size(indexrelid)), 0)::bigint FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam
		WHERE i.indrelid = '` + env.gen.Table + `'::regclass AND a.amname = 'hnsw' AND c.relname NOT IN (SELECT index_name FROM tag_vector_indexes))`
	for name, q := range map[string]string{
		"chunks (table, TOAST)":             `SELECT pg_table_size('chunks')`,
		"chunks, indexes":                   `SELECT pg_indexes_size('chunks')`,
		"chunks_tag_lexemes_idx (GIN)":      `SELECT pg_relation_size('chunks_tag_lexemes_idx')`,
		"embeddings (table)":                `SELECT pg_table_size('` + env.gen.Table + `')`,
		"embeddings, HNSW index":            `SELECT ` + shared,
		"embeddings, tag graphs (HNSW)":     `SELECT coalesce((SELECT sum(pg_relation_size(index_name::regclass)) FROM tag_vector_indexes WHERE generation_id = ` + strconv.Itoa(env.gen.ID) + `), 0)::bigint`,
		"embeddings, other indexes":         `SELECT pg_indexes_size('` + env.gen.Table + `') - (SELECT coalesce(sum(pg_relation_size(indexrelid)), 0)::bigint FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam WHERE i.indrelid = '` + env.gen.Table + `'::regclass AND a.amname = 'hnsw')`,
		"tag_lexeme_stats (table, indexes)": `SELECT pg_total_relation_size('tag_lexeme_stats')`,
		"documents (table, indexes)":        `SELECT pg_total_relation_size('documents')`,
		"database":                          `SELECT pg_database_size(current_database())`,
	} {
		var n int64
		if err := env.pool.QueryRow(ctx, q).Scan(&n); err != nil {
			b.Fatalf("size of %s (%s): %v", name, table, err)
		}
		report.Sizes[name] = n
	}
	return env, report
}

// mixTagGraphs returns the generation's tag graphs, building those it lacks (a database
// ingested before they existed, migrated with -scale-migrate) and recording their build in the
// database's build measures.
func mixTagGraphs(ctx context.Context, b *testing.B, env *scaleEnv, build map[string]string) ([]MixTagGraph, error) {
	opt := index.TagIndexOptions{}
	if *mixTagGraph != "" {
		if _, err := fmt.Sscanf(*mixTagGraph, "%d/%d", &opt.M, &opt.EfConstruction); err != nil {
			b.Fatalf("-mix-tag-graph %q: want m/ef_construction, e.g. 32/256", *mixTagGraph)
		}
	}
	built, err := index.BuildTagVectorIndexes(ctx, env.pool, env.gen.ID, opt, func(t index.TagVectorIndex, done bool) {
		if !done {
			fmt.Printf("building the graph of %s (%d chunks), load %s\n", t.Tag, t.Chunks, loadAvg())
		}
	})
	if err != nil {
		return nil, err
	}
	for _, t := range built {
		build["tag graph of "+t.Tag+", built after the ingestion"] = t.Took.Round(100 * time.Millisecond).String()
	}
	if len(built) > 0 {
		if err := saveBuild(ctx, env.url, build); err != nil {
			return nil, err
		}
	}
	rows, err := env.pool.Query(ctx, `SELECT tag, chunks, hnsw_m, hnsw_ef_construction, pg_relation_size(index_name::regclass)
		FROM tag_vector_indexes WHERE generation_id = $1 ORDER BY chunks DESC, tag`, env.gen.ID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (MixTagGraph, error) {
		var g MixTagGraph
		var size int64
		err := row.Scan(&g.Tag, &g.Chunks, &g.M, &g.EfC, &size)
		g.MB = float64(size) / (1 << 20)
		for _, t := range built {
			if t.Tag == g.Tag {
				g.BuildS = t.Took.Seconds()
			}
		}
		return g, err
	})
}

// watchIndexBuild samples, every second until stop is called, the backends of the database
// that run the HNSW build (the leader and its parallel workers), and reports how long it ran
// and the peak of their private and shared resident memory (/proc/<pid>/status: RssAnon and
// RssShmem, summed over the processes; the shared part includes the shared buffers they
// touched, and the graph itself when the build is parallel).
func watchIndexBuild(ctx context.Context, url string, set func(k, v string)) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			set("index build watcher", "could not connect: "+err.Error())
			return
		}
		defer conn.Close(context.WithoutCancel(ctx))
		var first, last time.Time
		var peakAnon, peakShmem, workers int64
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				if !first.IsZero() {
					set("HNSW build (sampled every second)", last.Sub(first).Round(time.Second).String())
					set("HNSW build, peak RssAnon of its processes", fmt.Sprintf("%d MB", peakAnon>>10))
					set("HNSW build, peak RssShmem of its processes", fmt.Sprintf("%d MB", peakShmem>>10))
					set("HNSW build, parallel workers seen", strconv.FormatInt(workers, 10))
				}
				return
			case <-tick.C:
			}
			rows, err := conn.Query(ctx, `
				SELECT pid, backend_type FROM pg_stat_activity
				WHERE datname = current_database() AND query LIKE '%docent_create_vector_index%' AND state = 'active' AND pid <> pg_backend_pid()`)
			if err != nil {
				continue
			}
			var anon, shmem, w int64
			n := 0
			for rows.Next() {
				var pid int
				var kind string
				if rows.Scan(&pid, &kind) != nil {
					continue
				}
				n++
				if kind == "parallel worker" {
					w++
				}
				a, s := procRSS(pid)
				anon, shmem = anon+a, shmem+s
			}
			rows.Close()
			if n == 0 {
				continue
			}
			now := time.Now()
			if first.IsZero() {
				first = now
				set("HNSW build started, load average", loadAvg())
			}
			last = now
			peakAnon, peakShmem, workers = max(peakAnon, anon), max(peakShmem, shmem), max(workers, w)
		}
	}()
	return func() {
		cancel()
		<-done
	}
}

// procRSS reads RssAnon and RssShmem (kB) of a process.
func procRSS(pid int) (anon, shmem int64) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		v, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "RssAnon:":
			anon = v
		case "RssShmem:":
			shmem = v
		}
	}
	return anon, shmem
}

// plainLoad is the plain loader the issue compares ingestion with (a vector store's bulk
// load, as langchaingo's pgvector store does it): the same JSON Lines records decoded,
// embedded with the same embedder and written with COPY, text, tags and vector, into a table
// without lexical statistics, text search columns or vector index. It runs in the same
// database and process as the ingestion, then drops its table.
func plainLoad(ctx context.Context, url string, roots []string) (time.Duration, int64, error) {
	pool, err := index.Open(ctx, url)
	if err != nil {
		return 0, 0, err
	}
	defer pool.Close()
	emb, err := embed.NewBuiltin(embed.BuiltinConfig{})
	if err != nil {
		return 0, 0, err
	}
	if _, err := pool.Exec(ctx, fmt.Sprintf(`DROP TABLE IF EXISTS plain_chunks;
		CREATE TABLE plain_chunks (id bigserial PRIMARY KEY, doc_id text NOT NULL, text text NOT NULL, acl text[] NOT NULL, embedding vector(%d) NOT NULL)`, emb.Dimension())); err != nil {
		return 0, 0, err
	}
	defer func() { _, _ = pool.Exec(context.WithoutCancel(ctx), `DROP TABLE IF EXISTS plain_chunks`) }()
	type rec struct {
		ID   string   `json:"id"`
		Text string   `json:"text"`
		ACL  []string `json:"acl"`
	}
	batches := make(chan [][]any, 4)
	var rows int64
	start := time.Now()
	var wg sync.WaitGroup
	var copyErr error
	wg.Go(func() {
		for batch := range batches {
			if copyErr != nil {
				continue
			}
			n, err := pool.CopyFrom(ctx, pgx.Identifier{"plain_chunks"}, []string{"doc_id", "text", "acl", "embedding"}, pgx.CopyFromRows(batch))
			rows += n
			copyErr = err
		}
	})
	readErr := func() error {
		defer close(batches)
		for _, path := range roots {
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			sc := bufio.NewScanner(f)
			sc.Buffer(make([]byte, 1<<20), 16<<20)
			var recs []rec
			flush := func() error {
				if len(recs) == 0 {
					return nil
				}
				texts := make([]string, len(recs))
				for i, r := range recs {
					texts[i] = r.Text
				}
				vecs, err := emb.Embed(ctx, texts)
				if err != nil {
					return err
				}
				batch := make([][]any, len(recs))
				for i, r := range recs {
					batch[i] = []any{r.ID, r.Text, r.ACL, pgvector.NewVector(vecs[i])}
				}
				batches <- batch
				recs = recs[:0:0]
				return nil
			}
			for sc.Scan() {
				var r rec
				if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
					f.Close()
					return err
				}
				recs = append(recs, r)
				if len(recs) == 1024 {
					if err := flush(); err != nil {
						f.Close()
						return err
					}
				}
			}
			err = errors.Join(sc.Err(), flush())
			f.Close()
			if err != nil {
				return err
			}
		}
		return nil
	}()
	wg.Wait()
	took := time.Since(start)
	return took, rows, errors.Join(readErr, copyErr)
}

// saveBuild records the build's measures in the benchmark database, for later runs.
func saveBuild(ctx context.Context, url string, build map[string]string) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	data, err := json.Marshal(build)
	if err != nil {
		return err
	}
	_, err = conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS bench_build (measures jsonb NOT NULL);
		DELETE FROM bench_build`)
	if err != nil {
		return err
	}
	_, err = conn.Exec(ctx, `INSERT INTO bench_build VALUES ($1)`, string(data))
	return err
}

func loadBuild(ctx context.Context, env *scaleEnv) (map[string]string, error) {
	var data string
	err := env.pool.QueryRow(ctx, `SELECT measures::text FROM bench_build`).Scan(&data)
	if err != nil {
		// A database built before the build was recorded: nothing to report.
		return map[string]string{"build": "not recorded (" + strings.SplitN(err.Error(), "\n", 2)[0] + ")"}, nil
	}
	out := map[string]string{}
	return out, json.Unmarshal([]byte(data), &out)
}

// mixAlternatives makes BenchmarkScaleMix also measure what would help at larger sizes: an
// HNSW index over halfvec (half the memory; with and without re-ranking by the full vectors)
// for the unrestricted caller, and a partial HNSW index for the 10% group, each built in
// the benchmark database (then dropped), against the exact scan of the same caller.
var (
	mixAlternatives = flag.Bool("mix-alternatives", false, "BenchmarkScaleMix: also build and measure a halfvec HNSW index and a partial HNSW index per group")
	mixAlt          = flag.String("mix-alt", "", "BenchmarkScaleMix: measure only these alternatives (comma-separated: vector, halfvec, rerank, partial, partialhalf); implies -mix-alternatives")
	mixPartialEf    = flag.String("mix-partial-ef", "100", "BenchmarkScaleMix: the ef_search values (comma-separated) at which the partial index is measured")
	mixPartialGraph = flag.String("mix-partial-graph", "", "BenchmarkScaleMix: the partial index's m/ef_construction (e.g. 32/256); default the generation's")
)

func measureAlternatives(ctx context.Context, b *testing.B, env *scaleEnv, tr denseTruth, queries []string) string {
	table, err := env.gen.TableIdent()
	if err != nil {
		b.Fatal(err)
	}
	vecs, err := env.emb.Embed(ctx, queries)
	if err != nil {
		b.Fatal(err)
	}
	dim := env.gen.Dimension
	m, efc := env.gen.HNSWM, env.gen.HNSWEfConstruction
	pm, pefc := m, efc
	if *mixPartialGraph != "" {
		if _, err := fmt.Sscanf(*mixPartialGraph, "%d/%d", &pm, &pefc); err != nil {
			b.Fatalf("-mix-partial-graph %q: want m/ef_construction, e.g. 32/256", *mixPartialGraph)
		}
	}
	var out strings.Builder
	fmt.Fprintf(&out, "\nAlternatives (%d chunks, %d queries; built here, then dropped)\n\n| index | build s | size MB | caller | query | recall@10 mean | p50 ms | p99 ms | load before / after |\n|---|---:|---:|---|---|---:|---:|---:|---|\n",
		env.chunks, len(queries))
	var size int64
	if err := env.pool.QueryRow(ctx, `SELECT coalesce(sum(pg_relation_size(indexrelid)), 0)::bigint FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
		JOIN pg_am a ON a.oid = c.relam WHERE i.indrelid = $1::regclass AND a.amname = 'hnsw'`, env.gen.Table).Scan(&size); err != nil {
		b.Fatal(err)
	}
	type alt struct {
		key, name, create, drop, tag, query string
		settings                            []string
	}
	alts := []alt{
		{key: "vector", name: fmt.Sprintf("vector HNSW %d / %d (the generation's)", m, efc), tag: "group:all",
			query:    `SELECT e.chunk_id, 1 - (e.embedding <=> $1::vector) FROM ` + table + ` e WHERE e.acl && $2 ORDER BY e.embedding <=> $1::vector LIMIT 100`,
			settings: []string{"SET LOCAL hnsw.ef_search = 100"}},
		{key: "halfvec", name: fmt.Sprintf("halfvec HNSW %d / %d", m, efc), tag: "group:all",
			create:   fmt.Sprintf(`CREATE INDEX bench_halfvec_idx ON %s USING hnsw ((embedding::halfvec(%d)) halfvec_cosine_ops) WITH (m = %d, ef_construction = %d)`, table, dim, m, efc),
			drop:     `DROP INDEX IF EXISTS bench_halfvec_idx`,
			query:    fmt.Sprintf(`SELECT e.chunk_id, 1 - (e.embedding::halfvec(%d) <=> $1::halfvec(%d)) FROM %s e WHERE e.acl && $2 ORDER BY e.embedding::halfvec(%d) <=> $1::halfvec(%d) LIMIT 100`, dim, dim, table, dim, dim),
			settings: []string{"SET LOCAL hnsw.ef_search = 100"}},
		{key: "rerank", name: "halfvec HNSW, 200 re-ranked by the full vectors", tag: "group:all",
			query: fmt.Sprintf(`SELECT h.chunk_id, 1 - (h.embedding <=> $1::vector) FROM (SELECT e.chunk_id, e.embedding FROM %s e WHERE e.acl && $2
				ORDER BY e.embedding::halfvec(%d) <=> $1::halfvec(%d) LIMIT 200) h ORDER BY h.embedding <=> $1::vector LIMIT 100`, table, dim, dim),
			settings: []string{"SET LOCAL hnsw.ef_search = 200"}},
	}
	for i, ef := range strings.Split(*mixPartialEf, ",") {
		a := alt{key: "partial", name: fmt.Sprintf("partial HNSW %d / %d for group:s10", pm, pefc), tag: "group:s10",
			query:    `SELECT e.chunk_id, 1 - (e.embedding <=> $1::vector) FROM ` + table + ` e WHERE e.acl && '{group:s10}' AND e.acl && $2 ORDER BY e.embedding <=> $1::vector LIMIT 100`,
			settings: []string{"SET LOCAL hnsw.ef_search = " + strings.TrimSpace(ef), "SET LOCAL enable_seqscan = off", "SET LOCAL enable_bitmapscan = off"}}
		if i == 0 { // built once, measured at each ef_search
			a.create = fmt.Sprintf(`CREATE INDEX bench_partial_idx ON %s USING hnsw (embedding vector_cosine_ops) WITH (m = %d, ef_construction = %d) WHERE acl && '{group:s10}'`, table, pm, pefc)
			a.drop = `DROP INDEX IF EXISTS bench_partial_idx`
		}
		alts = append(alts, a)
	}
	// The same group's graph over half-precision vectors (half the memory the walk reads), its
	// nearest 200 re-ranked by the full vectors.
	for i, ef := range strings.Split(*mixPartialEf, ",") {
		a := alt{key: "partialhalf", name: "partial halfvec HNSW for group:s10, 200 re-ranked by the full vectors", tag: "group:s10",
			query: fmt.Sprintf(`SELECT h.chunk_id, 1 - (h.embedding <=> $1::vector) FROM (SELECT e.chunk_id, e.embedding FROM %s e
				WHERE e.acl && '{group:s10}' AND e.acl && $2 ORDER BY e.embedding::halfvec(%d) <=> $1::halfvec(%d) LIMIT 200) h
				ORDER BY h.embedding <=> $1::vector LIMIT 100`, table, dim, dim),
			settings: []string{"SET LOCAL hnsw.ef_search = " + strings.TrimSpace(ef), "SET LOCAL enable_seqscan = off", "SET LOCAL enable_bitmapscan = off"}}
		if i == 0 {
			a.create = fmt.Sprintf(`CREATE INDEX bench_partial_half_idx ON %s USING hnsw ((embedding::halfvec(%d)) halfvec_cosine_ops) WITH (m = %d, ef_construction = %d) WHERE acl && '{group:s10}'`, table, dim, m, efc)
			a.drop = `DROP INDEX IF EXISTS bench_partial_half_idx`
		}
		alts = append(alts, a)
	}
	if *mixAlt != "" {
		alts = slices.DeleteFunc(alts, func(a alt) bool { return !slices.Contains(strings.Split(*mixAlt, ","), a.key) })
	}
	var drops []string
	defer func() {
		for _, d := range drops {
			_, _ = env.pool.Exec(context.WithoutCancel(ctx), d)
		}
	}()
	built := map[string][2]float64{}
	for _, a := range alts {
		load0 := loadAvg()
		buildS, sizeMB := 0.0, float64(size)/(1<<20)
		if a.create != "" {
			drops = append(drops, a.drop)
			start := time.Now()
			if _, err := env.pool.Exec(ctx, "SET maintenance_work_mem = '2GB'; "+a.create); err != nil {
				b.Fatalf("%s: %v", a.name, err)
			}
			buildS = time.Since(start).Seconds()
			name := strings.Fields(a.create)[2]
			var n int64
			if err := env.pool.QueryRow(ctx, `SELECT pg_relation_size($1::regclass)`, name).Scan(&n); err != nil {
				b.Fatal(err)
			}
			sizeMB = float64(n) / (1 << 20)
			built[a.key] = [2]float64{buildS, sizeMB}
			if a.key == "halfvec" {
				built["rerank"] = built[a.key] // the re-ranking reads the same index
			}
		} else if v, ok := built[a.key]; ok {
			buildS, sizeMB = v[0], v[1]
		}
		var lat []time.Duration
		var recall float64
		for i := range queries {
			exact, err := tr.exact(ctx, env, a.tag, i, queries[i])
			if err != nil {
				b.Fatal(err)
			}
			for round := range 2 { // the first warms
				var hits []retrieve.Hit
				start := time.Now()
				err := pgx.BeginFunc(ctx, env.pool, func(tx pgx.Tx) error {
					for _, s := range a.settings {
						if _, err := tx.Exec(ctx, s); err != nil {
							return err
						}
					}
					rows, err := tx.Query(ctx, a.query, pgvector.NewVector(vecs[i]), []string{a.tag})
					if err != nil {
						return err
					}
					hits, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (retrieve.Hit, error) {
						var h retrieve.Hit
						err := row.Scan(&h.ChunkID, &h.Score)
						return h, err
					})
					return err
				})
				if err != nil {
					b.Fatalf("%s: %v", a.name, err)
				}
				if round == 1 {
					lat = append(lat, time.Since(start))
					recall += recallAt10(hits, exact)
				}
			}
		}
		build := "–"
		if buildS > 0 {
			build = fmt.Sprintf("%.1f", buildS)
		}
		fmt.Fprintf(&out, "| %s | %s | %.0f | %s | ef_search %s | %.3f | %.1f | %.1f | %s / %s |\n", a.name, build, sizeMB, a.tag,
			strings.TrimPrefix(a.settings[0], "SET LOCAL hnsw.ef_search = "), recall/float64(len(queries)), percentileMS(lat, 0.5), percentileMS(lat, 0.99), load0, loadAvg())
	}
	return out.String()
}
