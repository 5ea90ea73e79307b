package retrieve_test

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	pgxvec "github.com/pgvector/pgvector-go/pgx"

	"github.com/docent-rag/docent/internal/retrieve"
)

// explain makes BenchmarkRetrievalLatency also show where the time of its median and its
// 99th-percentile query goes: every statement of those retrievals that took 1 ms or more,
// with EXPLAIN (ANALYZE, BUFFERS) of it re-run with the same parameters and plan settings.
//
//	go test -run '^$' -bench RetrievalLatency -benchtime 1x ./internal/retrieve -args -explain
var scaleExplain = flag.Bool("explain", false, "BenchmarkRetrievalLatency: EXPLAIN ANALYZE the statements of the median and the p99 query")

// statement is one SQL statement a retrieval ran, with the plan settings sent before it in
// the same batch (SET LOCAL ...).
type tracedStatement struct {
	settings []string
	sql      string
	args     []any
	took     time.Duration
}

// recorder is a pgx tracer that records the statements of the connections it traces.
type recorder struct {
	mu    sync.Mutex
	stmts []tracedStatement
}

type traceStart struct{}

func (r *recorder) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	return context.WithValue(ctx, traceStart{}, tracedStatement{sql: d.SQL, args: d.Args, took: time.Duration(time.Now().UnixNano())})
}

func (r *recorder) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryEndData) {
	s, ok := ctx.Value(traceStart{}).(tracedStatement)
	if !ok {
		return
	}
	s.took = time.Duration(time.Now().UnixNano()) - s.took
	r.add(s)
}

type batchStart struct{}

// A batch (the dense leg's SET LOCAL settings and its query) is recorded as one statement
// timed from send to end.
type tracedBatch struct {
	start time.Time
	stmts *[]tracedStatement
}

func (r *recorder) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	return context.WithValue(ctx, batchStart{}, tracedBatch{start: time.Now(), stmts: &[]tracedStatement{}})
}

func (r *recorder) TraceBatchQuery(ctx context.Context, _ *pgx.Conn, d pgx.TraceBatchQueryData) {
	if b, ok := ctx.Value(batchStart{}).(tracedBatch); ok {
		*b.stmts = append(*b.stmts, tracedStatement{sql: d.SQL, args: d.Args})
	}
}

func (r *recorder) TraceBatchEnd(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchEndData) {
	b, ok := ctx.Value(batchStart{}).(tracedBatch)
	if !ok || len(*b.stmts) == 0 {
		return
	}
	// The statement is the batch's one that is not a SET, BEGIN or COMMIT (the lexical leg
	// sends BEGIN, SET LOCAL, its query, COMMIT; the dense leg its SET LOCALs and its query).
	var s tracedStatement
	var settings []string
	for _, st := range *b.stmts {
		switch word := strings.ToUpper(strings.Fields(st.sql + " x")[0]); word {
		case "BEGIN", "COMMIT":
		case "SET":
			settings = append(settings, st.sql)
		default:
			s = st
		}
	}
	if s.sql == "" {
		return
	}
	s.settings = settings
	s.took = time.Since(b.start)
	r.add(s)
}

func (r *recorder) add(s tracedStatement) {
	if strings.HasPrefix(strings.TrimSpace(s.sql), "begin") || strings.HasPrefix(strings.TrimSpace(s.sql), "commit") {
		return
	}
	r.mu.Lock()
	r.stmts = append(r.stmts, s)
	r.mu.Unlock()
}

func (r *recorder) take() []tracedStatement {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.stmts
	r.stmts = nil
	return out
}

// tracedPool opens a second pool on the benchmark database whose statements r records.
func tracedPool(ctx context.Context, url string, r *recorder) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, err
	}
	cfg.ConnConfig.Tracer = r
	cfg.AfterConnect = func(ctx context.Context, conn *pgx.Conn) error { return pgxvec.RegisterTypes(ctx, conn) }
	return pgxpool.NewWithConfig(ctx, cfg)
}

// explainQueries retrieves each query (once to warm the traced pool's connections, once
// traced) and prints the statements that took 1 ms or more with their EXPLAIN ANALYZE.
func explainQueries(ctx context.Context, b *testing.B, env *scaleEnv, tag string, labels, queries []string) {
	rec := &recorder{}
	pool, err := tracedPool(ctx, env.url, rec)
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	r, err := retrieve.New(retrieve.Config{}, pool, env.emb, nil, "", slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	var out strings.Builder
	for i, q := range queries {
		req := retrieve.Request{Query: q, Principals: []string{tag}}
		if _, err := r.Retrieve(ctx, req); err != nil {
			b.Fatal(err)
		}
		rec.take()
		res, err := r.Retrieve(ctx, req)
		if err != nil {
			b.Fatal(err)
		}
		stmts := rec.take()
		t := res.Timings
		fmt.Fprintf(&out, "\n### %s query, caller %s: %q\n\nTotal−Embed %.1f ms: lexical %.1f (exact top %v), dense %.1f (%s), fuse %.2f, assemble %.1f; %d lexical hits\n",
			labels[i], tag, q, millis(t.Total-t.Embed), millis(t.Lexical), res.LexicalExact, millis(t.Dense), res.DensePlan, millis(t.Fuse), millis(t.Assemble), len(res.Lexical))
		for _, s := range stmts {
			fmt.Fprintf(&out, "\n- %.2f ms: %s\n", millis(s.took), oneLine(s.sql, 160))
		}
		for _, s := range stmts {
			if s.took < time.Millisecond {
				continue
			}
			plan, err := explainAnalyze(ctx, pool, s)
			if err != nil {
				b.Fatal(err)
			}
			fmt.Fprintf(&out, "\nEXPLAIN (ANALYZE, BUFFERS) of the %.2f ms statement %s\n(parameters: %s)\n\n%s\n", millis(s.took),
				oneLine(s.sql, 80), describeArgs(s.args), plan)
		}
	}
	fmt.Print(out.String())
}

// explainAnalyze runs the statement again under EXPLAIN (ANALYZE, BUFFERS) with its plan
// settings, in a transaction that is rolled back.
func explainAnalyze(ctx context.Context, pool *pgxpool.Pool, s tracedStatement) (string, error) {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return "", err
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	for _, set := range s.settings {
		if _, err := tx.Exec(ctx, set); err != nil {
			return "", err
		}
	}
	rows, err := tx.Query(ctx, "EXPLAIN (ANALYZE, BUFFERS) "+s.sql, s.args...)
	if err != nil {
		return "", fmt.Errorf("explain %s: %w", oneLine(s.sql, 80), err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return "", err
	}
	if len(s.settings) > 0 {
		lines = append(slices.Clone(s.settings), lines...)
	}
	return strings.Join(lines, "\n"), nil
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		s = s[:n] + "…"
	}
	return s
}

// describeArgs shows the parameters briefly: vectors by their length.
func describeArgs(args []any) string {
	parts := make([]string, len(args))
	for i, a := range args {
		s := fmt.Sprintf("%v", a)
		if len(s) > 120 {
			s = s[:120] + "…"
		}
		parts[i] = fmt.Sprintf("$%d=%s", i+1, s)
	}
	return strings.Join(parts, " ")
}

func millis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// lexicalProfile retrieves every query through a traced pool and relates the lexical leg's
// time to the number of candidates its BM25 passes scored (the chunks visible to the caller
// that match each pass's OR-query, counted afterwards), in buckets.
func lexicalProfile(ctx context.Context, b *testing.B, env *scaleEnv, tag string, queries []string) {
	rec := &recorder{}
	pool, err := tracedPool(ctx, env.url, rec)
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	r, err := retrieve.New(retrieve.Config{}, pool, env.emb, nil, "", slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	type sample struct {
		candidates, passes int
		lexical            time.Duration
		exact              bool
	}
	var samples []sample
	for _, q := range queries {
		req := retrieve.Request{Query: q, Principals: []string{tag}}
		if _, err := r.Retrieve(ctx, req); err != nil { // warm the traced pool's connections
			b.Fatal(err)
		}
		rec.take()
		res, err := r.Retrieve(ctx, req)
		if err != nil {
			b.Fatal(err)
		}
		s := sample{lexical: res.Timings.Lexical, exact: res.LexicalExact}
		for _, st := range rec.take() {
			if !strings.Contains(st.sql, "sum(t.weight") || len(st.args) < 3 {
				continue
			}
			var n int
			if err := env.pool.QueryRow(ctx, `SELECT count(*) FROM chunks c
				WHERE docent_tag_lexemes(c.acl, c.tsv) @@ $1::tsquery AND coalesce(c.acl, '{}') && $2 AND c.chunking_id + 0 = $3`,
				st.args[1], st.args[2], st.args[0]).Scan(&n); err != nil {
				b.Fatal(err)
			}
			s.candidates += n
			s.passes++
		}
		samples = append(samples, s)
	}
	var out strings.Builder
	fmt.Fprintf(&out, "\nLexical leg, caller %s: time against the candidates its BM25 passes scored (%d queries)\n\n", tag, len(samples))
	out.WriteString("| candidates scored | queries | two passes | top 10 not exact | lexical median ms | lexical max ms |\n|---|---:|---:|---:|---:|---:|\n")
	bounds := []int{0, 1000, 2500, 5000, 10000, 1 << 30}
	for i := range len(bounds) - 1 {
		var lat []time.Duration
		var two, approx int
		for _, s := range samples {
			if s.candidates >= bounds[i] && s.candidates < bounds[i+1] {
				lat = append(lat, s.lexical)
				if s.passes > 1 {
					two++
				}
				if !s.exact {
					approx++
				}
			}
		}
		if len(lat) == 0 {
			continue
		}
		label := fmt.Sprintf("%d–%d", bounds[i], bounds[i+1]-1)
		if i == len(bounds)-2 {
			label = fmt.Sprintf("≥ %d", bounds[i])
		}
		fmt.Fprintf(&out, "| %s | %d | %d | %d | %.1f | %.1f |\n", label, len(lat), two, approx, percentileMS(lat, 0.5), percentileMS(lat, 1))
	}
	fmt.Print(out.String())
}
