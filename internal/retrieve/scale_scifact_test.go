package retrieve_test

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pgvector/pgvector-go"

	"github.com/docent-rag/docent/internal/retrieve"
	"github.com/docent-rag/docent/internal/testing/evaldata"
)

// BenchmarkSciFactLatency measures the hybrid retriever on SciFact (5,183 abstracts, 5,894
// chunks, tagged public) against a brute-force dense search in the same loop, query by query:
// one SQL statement, the exact distance to every visible vector (ORDER BY embedding <=> $q
// LIMIT 10 with the permission filter, the texts joined), what a plain vector store such as
// langchaingo's pgvector store does, with the same embedder and database. Both are warm; the
// query embedding is excluded from both (Total − Embed for the retriever). Every test query
// (300) is run twice by each, alternating.
//
//	go test -run '^$' -bench SciFactLatency -benchtime 1x ./internal/retrieve [-args -explain]
//
// With -explain it also shows where the slowest retrievals' time went (EXPLAIN ANALYZE of
// every statement of 1 ms or more).
func BenchmarkSciFactLatency(b *testing.B) {
	corpus, err := os.ReadFile(evaldata.Path(b, "beir/scifact/corpus.jsonl"))
	if err != nil {
		b.Fatal(err)
	}
	src := bytesCorpus(corpus)
	src.acl = []string{"public"}
	env := scaleDatabase(b, "docent_scifact_", "scifact-v1", src, 5000, "SciFact's 5,183 abstracts, tagged public")
	env.queries = scifactTestQueries(b)
	ctx := context.Background()
	r := env.retriever(b, retrieve.Config{})
	principals := []string{"public"}
	table, err := env.gen.TableIdent()
	if err != nil {
		b.Fatal(err)
	}
	brute := `SELECT e.chunk_id, c.text, e.embedding <=> $2 AS distance FROM ` + table + ` e JOIN chunks c ON c.id = e.chunk_id
		WHERE e.acl && $1 ORDER BY e.embedding <=> $2 LIMIT 10`
	vecs, err := env.emb.Embed(ctx, env.queries)
	if err != nil {
		b.Fatal(err)
	}
	runBrute := func(i int) (time.Duration, error) {
		start := time.Now()
		rows, err := env.pool.Query(ctx, brute, principals, pgvector.NewVector(vecs[i]))
		if err != nil {
			return 0, err
		}
		type hit struct {
			ID       int64
			Text     string
			Distance float64
		}
		if _, err := pgx.CollectRows(rows, pgx.RowToStructByPos[hit]); err != nil {
			return 0, err
		}
		return time.Since(start), nil
	}
	var total, lex, dense, assemble, bf []time.Duration
	type slow struct {
		q string
		d time.Duration
	}
	var slowest []slow
	load := [2]string{loadAvg()}
	for b.Loop() {
		total, lex, dense, assemble, bf, slowest = nil, nil, nil, nil, nil, nil
		for i, q := range env.queries { // warm
			if _, err := r.Retrieve(ctx, retrieve.Request{Query: q, Principals: principals}); err != nil {
				b.Fatal(err)
			}
			if _, err := runBrute(i); err != nil {
				b.Fatal(err)
			}
		}
		for range 2 {
			for i, q := range env.queries {
				res, err := r.Retrieve(ctx, retrieve.Request{Query: q, Principals: principals})
				if err != nil {
					b.Fatal(err)
				}
				t := res.Timings
				total = append(total, t.Total-t.Embed)
				lex, dense, assemble = append(lex, t.Lexical), append(dense, t.Dense), append(assemble, t.Assemble)
				slowest = append(slowest, slow{q, t.Total - t.Embed})
				d, err := runBrute(i)
				if err != nil {
					b.Fatal(err)
				}
				bf = append(bf, d)
			}
		}
	}
	load[1] = loadAvg()
	var out strings.Builder
	fmt.Fprintf(&out, "\nSciFact: %d chunks, %d test queries × 2 each, 1 client, warm; load average before / after %s / %s\n\n", env.chunks, len(env.queries), load[0], load[1])
	out.WriteString("| | p50 ms | p95 ms | p99 ms | max ms |\n|---|---:|---:|---:|---:|\n")
	for _, row := range []struct {
		name string
		ds   []time.Duration
	}{{"retriever, hybrid (Total − Embed)", total}, {"brute-force exact dense scan (one statement)", bf},
		{"retriever: lexical leg", lex}, {"retriever: dense leg", dense}, {"retriever: fetch and assemble", assemble}} {
		fmt.Fprintf(&out, "| %s | %.1f | %.1f | %.1f | %.1f |\n", row.name, percentileMS(row.ds, 0.5), percentileMS(row.ds, 0.95),
			percentileMS(row.ds, 0.99), percentileMS(row.ds, 1))
	}
	fmt.Fprintf(&out, "\nratio retriever / brute force: p50 %.2f, p99 %.2f\n", percentileMS(total, 0.5)/percentileMS(bf, 0.5), percentileMS(total, 0.99)/percentileMS(bf, 0.99))
	slices.SortFunc(slowest, func(a, b slow) int { return cmp.Compare(b.d, a.d) })
	out.WriteString("\nslowest retrievals:\n")
	for _, s := range slowest[:min(8, len(slowest))] {
		fmt.Fprintf(&out, "- %.1f ms %q\n", float64(s.d)/float64(time.Millisecond), s.q)
	}
	fmt.Print(out.String())
	if *scaleExplain {
		var qs, labels []string
		seen := map[string]bool{}
		for _, s := range slowest {
			if !seen[s.q] && len(qs) < 3 {
				seen[s.q] = true
				qs, labels = append(qs, s.q), append(labels, fmt.Sprintf("slow (%.1f ms)", float64(s.d)/float64(time.Millisecond)))
			}
		}
		explainQueries(ctx, b, env, "public", labels, qs)
	}
	b.ReportMetric(percentileMS(total, 0.5), "p50-ms")
	b.ReportMetric(percentileMS(total, 0.99), "p99-ms")
	b.ReportMetric(percentileMS(bf, 0.99), "brute-p99-ms")
	_ = math.Inf
}
