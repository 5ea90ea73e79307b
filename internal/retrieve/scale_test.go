package retrieve_test

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pgvector/pgvector-go"

	"github.com/docent-rag/docent/internal/index"
	"github.com/docent-rag/docent/internal/retrieve"
)

// The benchmarks at 100k chunks (docs/benchmarks.md, "Retrieval at 100k chunks"). Each runs
// its measurement once per iteration and prints a table ready for the docs (on stdout); run
// them with
//
//	go test -run '^$' -bench 'FilteredDense|RetrievalLatency' -benchtime 1x ./internal/retrieve
//
// The first run builds the corpus's database (a few minutes); later runs reuse it.

// scaleSweep makes BenchmarkFilteredDense also try other dense-leg settings (how the defaults
// were chosen): go test -run '^$' -bench FilteredDense -benchtime 1x ./internal/retrieve -args -sweep
var scaleSweep = flag.Bool("sweep", false, "BenchmarkFilteredDense: also measure other EfSearch, MaxScanTuples and ExactScanBelow settings")

// scaleQueries is how many SciFact test queries the benchmarks run per caller: enough for a
// p99 (the 99th of 100), few enough that both benchmarks and a rebuild of the corpus stay
// within go test's default timeout of 10 minutes (the naive baseline takes ~0.5 s a query
// for an unrestricted caller).
const scaleQueries = 100

// BenchmarkFilteredDense measures the dense leg as the retriever runs it for callers who see
// 0.1% to 100% of the chunks: the plan it chose, recall@10 against an exact scan with the same
// permission filter, the fewest rows it returned, and its latency.
func BenchmarkFilteredDense(b *testing.B) {
	env := setupScale(b)
	ctx := context.Background()
	r := env.retriever(b, retrieve.Config{})
	queries := env.queries[:scaleQueries]
	tr := denseTruth{}
	var rows []denseRow
	for b.Loop() {
		rows = rows[:0]
		for _, sel := range scaleSelectivities {
			row, err := measureDense(ctx, env, r, tr, sel.Share, sel.Tag, queries)
			if err != nil {
				b.Fatal(err)
			}
			rows = append(rows, row)
		}
	}
	cfg := r.Config()
	var out strings.Builder
	fmt.Fprintf(&out, "\n%d chunks, HNSW m %d, ef_construction %d; %d SciFact test queries per row; defaults ExactScanBelow %d, EfSearch %d (divided by the visible share, at least Depth %d), MaxScanTuples %d\n\n",
		env.chunks, env.gen.HNSWM, env.gen.HNSWEfConstruction, len(queries), cfg.ExactScanBelow, cfg.EfSearch, cfg.Depth, cfg.MaxScanTuples)
	out.WriteString(denseHeader)
	for _, row := range rows {
		out.WriteString(row.String())
	}
	// To stdout: a benchmark's log is cut to ten lines.
	fmt.Print(out.String())
	minRecall, minRows := 1.0, true
	var worstP99 float64
	for _, row := range rows {
		minRecall = min(minRecall, row.recall)
		minRows = minRows && row.enoughRows()
		worstP99 = max(worstP99, row.p99)
		if row.Share == "1%" {
			b.ReportMetric(row.p50, "p50-ms@1%")
		}
		if row.Share == "50%" {
			b.ReportMetric(row.recall, "recall@10@50%")
			b.ReportMetric(row.p50, "p50-ms@50%")
		}
	}
	if *scaleSweep {
		sweepDense(ctx, b, env, tr, queries)
	}
	b.ReportMetric(minRecall, "recall@10-min")
	b.ReportMetric(worstP99, "p99-ms-max")
	if !minRows {
		b.Error("the dense leg returned fewer than k rows although more were visible (see the table)")
	}
}

// sweepDense measures the dense leg at 10%, 50% and 100% visibility under other settings
// than the defaults and prints a table.
func sweepDense(ctx context.Context, b *testing.B, env *scaleEnv, tr denseTruth, queries []string) {
	type setting struct {
		exactBelow, ef, maxTuples int
		shares                    []string // the selectivities whose plan the setting changes
	}
	var settings []setting
	// HNSW's candidate list where the defaults use HNSW.
	for _, ef := range []int{100, 200, 400, 800, 1000} {
		settings = append(settings, setting{20000, ef, 40000, []string{"50%", "100%"}})
	}
	// HNSW at 10% too (ExactScanBelow 1 sends every caller to HNSW), with a larger iterative
	// scan budget for the caller most likely to exhaust it.
	for _, ef := range []int{100, 400, 1000} {
		settings = append(settings, setting{1, ef, 40000, []string{"10%"}})
	}
	settings = append(settings, setting{1, 1000, 100000, []string{"10%", "50%"}})
	// Exact scans at 50% and 100%: what raising ExactScanBelow would cost.
	settings = append(settings, setting{200000, 100, 40000, []string{"50%", "100%"}})

	var out strings.Builder
	out.WriteString("\nSweep of the dense leg's settings\n\n" +
		"| ExactScanBelow | EfSearch | MaxScanTuples | visible share | plan (queries) | recall@10 mean | recall@10 worst | rows min | p50 ms | p99 ms |\n" +
		"|---:|---:|---:|---|---|---:|---:|---:|---:|---:|\n")
	for _, st := range settings {
		r := env.retriever(b, retrieve.Config{ExactScanBelow: st.exactBelow, EfSearch: st.ef, MaxScanTuples: st.maxTuples})
		for _, sel := range scaleSelectivities {
			if !slices.Contains(st.shares, sel.Share) {
				continue
			}
			row, err := measureDense(ctx, env, r, tr, sel.Share, sel.Tag, queries)
			if err != nil {
				b.Fatal(err)
			}
			fmt.Fprintf(&out, "| %d | %d | %d | %s | %s | %.3f | %.1f | %d | %.1f | %.1f |\n", st.exactBelow, st.ef, st.maxTuples,
				row.Share, row.planList(), row.recall, row.worstRecall, row.minRows, row.p50, row.p99)
		}
	}
	fmt.Print(out.String())
}

// denseRow is one selectivity's measurement.
type denseRow struct {
	Share, Tag  string
	visible     int64
	plans       map[string]int
	recall      float64 // mean recall@10 against the exact scan
	worstRecall float64
	minRows     int
	wantRows    int // min(Depth, visible): what "never fewer than k" requires
	p50, p99    float64
	dist        [3]float64 // mean cosine distance of the exact 1st, 10th and 100th neighbour
}

const denseHeader = "| visible share | principal | visible chunks | plan (queries) | recall@10 mean | recall@10 worst | rows min (of 100) | p50 ms | p99 ms | exact distance 1st / 10th / 100th |\n" +
	"|---|---|---:|---|---:|---:|---:|---:|---:|---|\n"

// planList says how many queries took each plan.
func (d denseRow) planList() string {
	var plans []string
	for p, n := range d.plans {
		plans = append(plans, fmt.Sprintf("%s %d", p, n))
	}
	slices.Sort(plans)
	return strings.Join(plans, ", ")
}

func (d denseRow) String() string {
	return fmt.Sprintf("| %s | %s | %d | %s | %.3f | %.1f | %d | %.1f | %.1f | %.3f / %.3f / %.3f |\n", d.Share, d.Tag, d.visible,
		d.planList(), d.recall, d.worstRecall, d.minRows, d.p50, d.p99, d.dist[0], d.dist[1], d.dist[2])
}

func (d denseRow) enoughRows() bool { return d.minRows >= d.wantRows }

// denseTruth holds the exact top 100 of each query per principal, computed once.
type denseTruth map[string][][]index.Scored

// exact returns the exact top 100 of query i for the principal: an exact scan with the same
// permission filter.
func (t denseTruth) exact(ctx context.Context, env *scaleEnv, tag string, i int, text string) ([]index.Scored, error) {
	if len(t[tag]) <= i {
		t[tag] = append(t[tag], make([][]index.Scored, i+1-len(t[tag]))...)
	}
	if t[tag][i] != nil {
		return t[tag][i], nil
	}
	vecs, err := env.emb.Embed(ctx, []string{text})
	if err != nil {
		return nil, err
	}
	out, err := index.Nearest(ctx, env.pool, index.VectorQuery{Generation: env.gen, Vector: vecs[0],
		Principals: []string{tag}, Limit: 100, Plan: index.ExactScan})
	if err != nil {
		return nil, err
	}
	t[tag][i] = append([]index.Scored{}, out...) // non-nil, even when nothing is visible
	return t[tag][i], nil
}

// measureDense runs the queries through the retriever's dense mode for a caller with the one
// principal and compares each ranking's top 10 with an exact scan under the same filter.
func measureDense(ctx context.Context, env *scaleEnv, r *retrieve.Retriever, tr denseTruth, share, tag string, queries []string) (denseRow, error) {
	principals := []string{tag}
	row := denseRow{Share: share, Tag: tag, plans: map[string]int{}, minRows: math.MaxInt, worstRecall: 1}
	var err error
	view, err := index.ViewCaller(ctx, env.pool, env.gen, principals)
	row.visible = view.Visible()
	if err != nil {
		return row, err
	}
	row.wantRows = int(min(int64(r.Config().Depth), row.visible))
	// Warm: the first pass reads the pages into the caches.
	for _, q := range queries {
		if _, err := r.Retrieve(ctx, retrieve.Request{Query: q, Principals: principals, Mode: retrieve.Dense}); err != nil {
			return row, err
		}
	}
	var lat []time.Duration
	var recallSum float64
	for i, q := range queries {
		res, err := r.Retrieve(ctx, retrieve.Request{Query: q, Principals: principals, Mode: retrieve.Dense})
		if err != nil {
			return row, err
		}
		lat = append(lat, res.Timings.Dense)
		row.plans[res.DensePlan]++
		row.minRows = min(row.minRows, len(res.Dense))
		exact, err := tr.exact(ctx, env, tag, i, res.Query.Text)
		if err != nil {
			return row, err
		}
		for k, rank := range []int{1, 10, 100} {
			if len(exact) >= rank {
				row.dist[k] += exact[rank-1].Score / float64(len(queries))
			}
		}
		rec := recallAt10(res.Dense, exact)
		recallSum += rec
		row.worstRecall = min(row.worstRecall, rec)
	}
	row.recall = recallSum / float64(len(queries))
	row.p50, row.p99 = percentileMS(lat, 0.50), percentileMS(lat, 0.99)
	return row, nil
}

// recallAt10 is the share of the exact top 10 that the ranking's top 10 found. A hit at the
// same distance as the exact 10th (a tie the exact scan broke by chunk id) counts as found.
func recallAt10(got []retrieve.Hit, exact []index.Scored) float64 {
	want := min(10, len(exact))
	if want == 0 {
		return 1
	}
	in := map[int64]bool{}
	for _, e := range exact[:want] {
		in[e.ChunkID] = true
	}
	cutoff := exact[want-1].Score // a cosine distance
	found := 0
	for _, h := range got[:min(10, len(got))] {
		// Dense hits carry 1 − distance.
		if in[h.ChunkID] || 1-h.Score <= cutoff+1e-9 {
			found++
		}
	}
	return float64(min(found, want)) / float64(want)
}

// BenchmarkRetrievalLatency measures the full retriever (hybrid, default configuration, no
// reranker) from the normalised query to the assembled context, without the query
// embedding (Total − Embed), for one client with warm caches, against a naive baseline run
// in the same loop: one SQL statement fusing a ts_rank OR-query top 100 and a plain HNSW top
// 100 (both with the permission filter) by RRF.
func BenchmarkRetrievalLatency(b *testing.B) {
	env := setupScale(b)
	ctx := context.Background()
	r := env.retriever(b, retrieve.Config{})
	callers := []struct{ Share, Tag string }{{"100%", "group:all"}, {"1%", "group:s1"}}
	queries := env.queries[:scaleQueries]
	var rows []latencyRow
	for b.Loop() {
		rows = rows[:0]
		for _, c := range callers {
			row, err := measureLatency(ctx, env, r, c.Share, c.Tag, queries)
			if err != nil {
				b.Fatal(err)
			}
			rows = append(rows, row)
		}
	}
	var out strings.Builder
	fmt.Fprintf(&out, "\n%d chunks, %d SciFact test queries per caller, 1 client, warm\n\n", env.chunks, len(queries))
	out.WriteString(latencyHeader)
	for _, row := range rows {
		out.WriteString(row.String())
	}
	out.WriteString("\n" + stepsHeader)
	for _, row := range rows {
		out.WriteString(row.steps())
	}
	// To stdout: a benchmark's log is cut to ten lines.
	fmt.Print(out.String())
	if *scaleExplain {
		for _, row := range rows {
			order := make([]int, len(row.total))
			for i := range order {
				order[i] = i
			}
			slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(row.total[a], row.total[b]) })
			p50, p99 := order[(len(order)+1)/2-1], order[int(math.Ceil(0.99*float64(len(order))))-1]
			explainQueries(ctx, b, env, row.Tag, []string{"median", "p99"}, []string{queries[p50], queries[p99]})
			lexicalProfile(ctx, b, env, row.Tag, queries)
		}
	}
	for _, row := range rows {
		suffix := "@" + row.Share
		b.ReportMetric(row.p50, "p50-ms"+suffix)
		b.ReportMetric(row.p99, "p99-ms"+suffix)
		b.ReportMetric(row.naiveP50, "naive-p50-ms"+suffix)
	}
}

type latencyRow struct {
	Share, Tag         string
	p50, p99           float64 // Total − Embed
	naiveP50, naiveP99 float64
	lexical, dense     float64 // medians of the steps
	fuse, assemble     float64
	embed              float64
	plans              map[string]int
	naiveMin           int             // fewest rows the baseline's HNSW part returned
	total              []time.Duration // Total − Embed per query
}

const latencyHeader = "| caller | retriever p50 ms | retriever p99 ms | naive SQL p50 ms | naive SQL p99 ms | p50 ratio | p99 ratio | dense plan (queries) | naive HNSW rows, fewest (of 100) |\n" +
	"|---|---:|---:|---:|---:|---:|---:|---|---:|\n"

const stepsHeader = "| caller | lexical | dense | fuse | assemble | (embed, excluded) |\n|---|---:|---:|---:|---:|---:|\n"

func (l latencyRow) String() string {
	var plans []string
	for p, n := range l.plans {
		plans = append(plans, fmt.Sprintf("%s %d", p, n))
	}
	slices.Sort(plans)
	return fmt.Sprintf("| %s (%s) | %.1f | %.1f | %.1f | %.1f | %.2f | %.2f | %s | %d |\n", l.Share, l.Tag, l.p50, l.p99,
		l.naiveP50, l.naiveP99, l.p50/l.naiveP50, l.p99/l.naiveP99, strings.Join(plans, ", "), l.naiveMin)
}

func (l latencyRow) steps() string {
	return fmt.Sprintf("| %s (%s) | %.2f | %.2f | %.3f | %.2f | %.3f |\n", l.Share, l.Tag, l.lexical, l.dense, l.fuse, l.assemble, l.embed)
}

// measureLatency runs every query once to warm up, then each query through the retriever and
// through the naive baseline, alternately, so that both see the same machine.
func measureLatency(ctx context.Context, env *scaleEnv, r *retrieve.Retriever, share, tag string, queries []string) (latencyRow, error) {
	principals := []string{tag}
	row := latencyRow{Share: share, Tag: tag, plans: map[string]int{}, naiveMin: math.MaxInt}
	naive, err := newNaive(env)
	if err != nil {
		return row, err
	}
	vecs, err := env.emb.Embed(ctx, queries)
	if err != nil {
		return row, err
	}
	for i, q := range queries {
		if _, err := r.Retrieve(ctx, retrieve.Request{Query: q, Principals: principals}); err != nil {
			return row, err
		}
		if _, err := naive.run(ctx, env, q, vecs[i], principals); err != nil {
			return row, err
		}
	}
	var total, naiveLat, lex, dense, fuse, assemble, emb []time.Duration
	for i, q := range queries {
		res, err := r.Retrieve(ctx, retrieve.Request{Query: q, Principals: principals})
		if err != nil {
			return row, err
		}
		t := res.Timings
		total = append(total, t.Total-t.Embed)
		lex, dense, fuse = append(lex, t.Lexical), append(dense, t.Dense), append(fuse, t.Fuse)
		assemble, emb = append(assemble, t.Assemble), append(emb, t.Embed)
		row.plans[res.DensePlan]++

		start := time.Now()
		if _, err := naive.run(ctx, env, q, vecs[i], principals); err != nil {
			return row, err
		}
		naiveLat = append(naiveLat, time.Since(start))
	}
	// Untimed: how many rows the baseline's HNSW part finds under the filter.
	for i := range queries {
		n, err := naive.denseRows(ctx, env, vecs[i], principals)
		if err != nil {
			return row, err
		}
		row.naiveMin = min(row.naiveMin, n)
	}
	row.total = total
	row.p50, row.p99 = percentileMS(total, 0.5), percentileMS(total, 0.99)
	row.naiveP50, row.naiveP99 = percentileMS(naiveLat, 0.5), percentileMS(naiveLat, 0.99)
	row.lexical, row.dense = percentileMS(lex, 0.5), percentileMS(dense, 0.5)
	row.fuse, row.assemble, row.embed = percentileMS(fuse, 0.5), percentileMS(assemble, 0.5), percentileMS(emb, 0.5)
	return row, nil
}

// naiveSQL is the baseline: BM25-less full-text search (ts_rank over an OR of the query's
// lexemes) top 100 and an HNSW top 100 under pgvector's default settings (no iterative
// scan), each with the permission filter, fused by RRF with k = 60 and equal weights, the
// top 10 returned with their texts. %s is the embeddings table.
const naiveSQL = `
	WITH q AS (
		SELECT replace(plainto_tsquery('english', $1)::text, ' & ', ' | ')::tsquery AS tsq
	), lex AS (
		SELECT t.id, row_number() OVER (ORDER BY t.score DESC, t.id) AS rank
		FROM (SELECT c.id, ts_rank(c.tsv, q.tsq) AS score FROM chunks c, q
		      WHERE c.tsv @@ q.tsq AND c.acl && $2 ORDER BY score DESC, c.id LIMIT 100) t
	), dense AS (
		SELECT nn.chunk_id AS id, row_number() OVER (ORDER BY nn.distance, nn.chunk_id) AS rank
		FROM (SELECT e.chunk_id, e.embedding <=> $3 AS distance FROM %s e
		      WHERE e.acl && $2 ORDER BY e.embedding <=> $3 LIMIT 100) nn
	), fused AS (
		SELECT id, sum(1.0 / (60 + rank)) AS score
		FROM (SELECT id, rank FROM lex UNION ALL SELECT id, rank FROM dense) u
		GROUP BY id ORDER BY score DESC, id LIMIT 10
	)
	SELECT f.id, f.score, c.text FROM fused f JOIN chunks c ON c.id = f.id ORDER BY f.score DESC, f.id`

type naiveBaseline struct {
	query, dense string
}

func newNaive(env *scaleEnv) (*naiveBaseline, error) {
	table, err := env.gen.TableIdent()
	if err != nil {
		return nil, err
	}
	return &naiveBaseline{
		query: fmt.Sprintf(naiveSQL, table),
		dense: fmt.Sprintf(`SELECT count(*) FROM (SELECT e.chunk_id FROM %s e WHERE e.acl && $1 ORDER BY e.embedding <=> $2 LIMIT 100) nn`, table),
	}, nil
}

func (n *naiveBaseline) run(ctx context.Context, env *scaleEnv, query string, vec []float32, principals []string) (int, error) {
	rows, err := env.pool.Query(ctx, n.query, query, principals, pgvector.NewVector(vec))
	if err != nil {
		return 0, fmt.Errorf("naive baseline: %w", err)
	}
	type hit struct {
		ID    int64
		Score float64
		Text  string
	}
	hits, err := pgx.CollectRows(rows, pgx.RowToStructByPos[hit])
	if err != nil {
		return 0, fmt.Errorf("naive baseline: %w", err)
	}
	return len(hits), nil
}

func (n *naiveBaseline) denseRows(ctx context.Context, env *scaleEnv, vec []float32, principals []string) (int, error) {
	var c int
	if err := env.pool.QueryRow(ctx, n.dense, principals, pgvector.NewVector(vec)).Scan(&c); err != nil {
		return 0, fmt.Errorf("naive baseline, dense part: %w", err)
	}
	return c, nil
}

func (e *scaleEnv) retriever(b *testing.B, cfg retrieve.Config) *retrieve.Retriever {
	b.Helper()
	r, err := retrieve.New(cfg, e.pool, e.emb, nil, "", slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	return r
}

// percentileMS is the p-quantile (nearest rank) of the durations, in milliseconds.
func percentileMS(ds []time.Duration, p float64) float64 {
	if len(ds) == 0 {
		return math.NaN()
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := max(0, int(math.Ceil(p*float64(len(s))))-1)
	return float64(s[i]) / float64(time.Millisecond)
}
