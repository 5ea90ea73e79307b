package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/docent-rag/docent/cmd/internal/cmdconfig"
	"github.com/docent-rag/docent/internal/config"
	"github.com/docent-rag/docent/internal/eval"
	"github.com/docent-rag/docent/internal/retrieve"
)

func runBEIR(ctx context.Context, args []string, e env) int {
	fs := newFlagSet("beir", "--dataset DIR [flags]", `Evaluate retrieval on a BEIR dataset (corpus.jsonl, queries.jsonl, qrels/<split>.tsv): the
corpus is ingested through the real ingestion (once), every query of the split runs through
the real retrieval as a caller who sees the whole corpus, and nDCG@10, Recall@10,
Recall@100, MRR@10 (trec_eval's definitions, over documents: a document ranks where its
best chunk does) and the retrieval latency are reported. Latency excludes the query
embedding call.`)
	dir := fs.String("dataset", "", "dataset directory (required): BEIR, ClapNQ or MTRAG (see --format)")
	format := fs.String("format", "", "beir, clapnq or mtrag (default: by the files in --dataset: queries.jsonl, questions.jsonl or tasks.jsonl)")
	split := fs.String("split", "test", "qrels split (BEIR sets; ClapNQ and MTRAG have none: their queries are all used, select them with --folds)")
	var ff foldFlags
	ff.register(fs)
	rankings := fs.String("rankings", "", "write each query's lexical and dense rankings (hybrid mode) to this JSON Lines file, for `eval fusion`")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	fit := fs.Bool("fit-strength", false, "fit the evidence strength model on this split and print its coefficients")
	var rf retrievalFlags
	rf.register(fs)
	var sf sliceFlags
	sf.register(fs)
	if code := parse(fs, args, e); code >= 0 {
		return code
	}
	if *dir == "" {
		fmt.Fprintln(e.stderr, "eval beir: --dataset is required")
		return exitUsage
	}
	sl, err := sf.parse()
	if err != nil {
		fmt.Fprintf(e.stderr, "eval beir: %v\n", err)
		return exitUsage
	}
	if sl != nil && *fit {
		fmt.Fprintln(e.stderr, "eval beir: --fit-strength fits on the whole corpus: it does not go with --groups")
		return exitUsage
	}
	mode := retrieve.Mode(rf.mode)
	if mode != retrieve.Lexical && mode != retrieve.Dense && mode != retrieve.Hybrid {
		fmt.Fprintf(e.stderr, "eval beir: --mode %q is not lexical, dense or hybrid\n", rf.mode)
		return exitUsage
	}
	if *rankings != "" && (mode != retrieve.Hybrid || sl != nil) {
		fmt.Fprintln(e.stderr, "eval beir: --rankings needs --mode hybrid (both legs) and no --groups")
		return exitUsage
	}
	splitSet := false
	fs.Visit(func(f *flag.Flag) { splitSet = splitSet || f.Name == "split" })
	data, splitName, err := loadRetrievalSet(*dir, *format, *split, splitSet, ff)
	if err != nil {
		fmt.Fprintf(e.stderr, "eval beir: %v\n", err)
		return exitUsage
	}
	rankingsName := datasetName(*dir)
	if !strings.HasPrefix(splitName, "all") {
		rankingsName += "-" + *split // a BEIR split: e.g. scifact-test
	}
	*split = splitName
	logger, err := config.NewLogger(e.getenv, e.stderr, e.terminal)
	if err != nil {
		fmt.Fprintf(e.stderr, "eval beir: %v\n", err)
		return exitUsage
	}
	quiet := slog.New(slog.DiscardHandler)
	emb, err := cmdconfig.Embedder(ctx, e.getenv)
	if err != nil {
		fmt.Fprintf(e.stderr, "eval beir: %v\n", err)
		return exitFatal
	}
	rr, rrName, err := reranker(rf, e.getenv)
	if err != nil {
		fmt.Fprintf(e.stderr, "eval beir: %v\n", err)
		return exitUsage
	}
	if sl != nil {
		return runBEIRSlices(ctx, data, sl, rf, emb, rr, rrName, e, logger, datasetName(*dir), *split, *asJSON)
	}
	ds, err := prepare(ctx, data.CorpusPath, emb, e, quiet)
	if err != nil {
		fmt.Fprintf(e.stderr, "eval beir: %v\n", err)
		return exitFatal
	}
	defer ds.pool.Close()
	r, err := retrieve.New(rf.config(retrieve.Config{}), ds.pool, emb, rr, rrName, logger)
	if err != nil {
		fmt.Fprintf(e.stderr, "eval beir: %v\n", err)
		return exitUsage
	}
	var dump *rankingWriter
	if *rankings != "" {
		if dump, err = createRankings(*rankings, rankingsName); err != nil {
			fmt.Fprintf(e.stderr, "eval beir: %v\n", err)
			return exitFatal
		}
		defer dump.close()
	}

	var ndcg, r10, r100, mrr, latency []float64
	var cov, dense []float64
	var top1 []bool
	rerankFailures := 0
	inexact := 0
	for i, q := range data.Queries {
		if ctx.Err() != nil {
			fmt.Fprintln(e.stderr, "eval beir: interrupted")
			return exitFatal
		}
		res, err := r.Retrieve(ctx, retrieve.Request{Query: q.Text, Principals: []string{"public"}, Mode: mode})
		if err != nil {
			fmt.Fprintf(e.stderr, "eval beir: query %s: %v\n", q.ID, err)
			return exitFatal
		}
		if res.RerankError != "" {
			rerankFailures++
		}
		if mode != retrieve.Dense && !res.LexicalExact {
			inexact++
		}
		ranked := ds.documents(res.Ranked)
		rel := data.Qrels[q.ID]
		if dump != nil {
			if err := dump.write(q, rel, res, ds); err != nil {
				fmt.Fprintf(e.stderr, "eval beir: %v\n", err)
				return exitFatal
			}
		}
		ndcg = append(ndcg, eval.NDCG(ranked, rel, 10))
		r10 = append(r10, eval.Recall(ranked, rel, 10))
		r100 = append(r100, eval.Recall(ranked, rel, 100))
		mrr = append(mrr, eval.MRR(ranked, rel, 10))
		latency = append(latency, float64(res.Timings.Total-res.Timings.Embed)/float64(time.Millisecond))
		if *fit {
			c, d := retrieve.StrengthFeatures(res)
			cov, dense = append(cov, c), append(dense, d)
			top1 = append(top1, len(ranked) > 0 && rel[ranked[0]] > 0)
		}
		if e.terminal && (i%10 == 9 || i == len(data.Queries)-1) {
			fmt.Fprintf(e.stderr, "\rqueries %d/%d", i+1, len(data.Queries))
		}
	}
	if e.terminal {
		fmt.Fprintln(e.stderr)
	}
	rep := eval.Report{Dataset: datasetName(*dir), Split: *split, Mode: string(mode), Rerank: rrName, Queries: len(data.Queries),
		NDCG10: eval.Mean(ndcg), Recall10: eval.Mean(r10), Recall100: eval.Mean(r100), MRR10: eval.Mean(mrr)}
	if rep.Rerank == "" || mode != retrieve.Hybrid && rr == nil {
		rep.Rerank = "none"
	}
	p := eval.Percentiles(latency, 50, 95, 99)
	rep.Latency.P50, rep.Latency.P95, rep.Latency.P99 = p[0], p[1], p[2]
	if dump != nil {
		if err := dump.close(); err != nil {
			fmt.Fprintf(e.stderr, "eval beir: %v\n", err)
			return exitFatal
		}
	}
	if *asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			fmt.Fprintf(e.stderr, "eval beir: %v\n", err)
			return exitFatal
		}
	} else {
		fmt.Fprint(e.stdout, rep.Table())
	}
	if rerankFailures > 0 {
		fmt.Fprintf(e.stderr, "eval beir: the reranker failed on %d queries (the fused order was used)\n", rerankFailures)
	}
	if inexact > 0 {
		fmt.Fprintf(e.stderr, "eval beir: the lexical leg's top 10 was approximate on %d of %d queries\n", inexact, len(data.Queries))
	}
	if *fit {
		a, b, c := fitLogistic(cov, dense, top1)
		fmt.Fprintf(e.stdout, "strength model fitted on %s/%s (%d queries, %.1f%% with a relevant top document): intercept %.3f, coverage %.3f, dense %.3f\n",
			rep.Dataset, *split, len(top1), 100*fraction(top1), a, b, c)
	}
	return exitOK
}

// runBEIRSlices evaluates the split as callers who see slices of the corpus (slices.go):
// each query is asked by the caller who holds the group of its first relevant document
// (by id), and nDCG@10 counts the relevant documents that caller sees.
func runBEIRSlices(ctx context.Context, data *eval.BEIR, sl *slicing, rf retrievalFlags, emb retrieve.Embedder,
	rr retrieve.Reranker, rrName string, e env, logger *slog.Logger, name, split string, asJSON bool) int {
	threshold, err := minEvidence(e.getenv)
	if err != nil {
		fmt.Fprintf(e.stderr, "eval beir: %v\n", err)
		return exitUsage
	}
	ds, err := prepareSliced(ctx, data.CorpusPath, sl, emb, e, slog.New(slog.DiscardHandler))
	if err != nil {
		fmt.Fprintf(e.stderr, "eval beir: %v\n", err)
		return exitFatal
	}
	defer ds.pool.Close()
	var queries []sliceQuery
	var qrels []map[string]int
	for _, q := range data.Queries {
		var relevant []string
		for doc, grade := range data.Qrels[q.ID] {
			if grade > 0 {
				relevant = append(relevant, doc)
			}
		}
		if len(relevant) == 0 {
			continue
		}
		queries = append(queries, sliceQuery{id: q.ID, text: q.Text, anchor: slices.Min(relevant)})
		qrels = append(qrels, data.Qrels[q.ID])
	}
	newRetriever := func(floor int) (*retrieve.Retriever, error) {
		cfg := rf.config(retrieve.Config{})
		cfg.MinIDFChunks = floor
		return retrieve.New(cfg, ds.pool, emb, rr, rrName, logger)
	}
	out, err := sl.retrieveSlices(ctx, ds, newRetriever, retrieve.Mode(rf.mode), queries, e)
	if err != nil {
		fmt.Fprintf(e.stderr, "eval beir: %v\n", err)
		return exitFatal
	}
	quality := func(i, groups int, o outcome) (float64, bool) {
		seen := map[string]int{}
		for doc, grade := range qrels[i] {
			if sl.visible(groups, queries[i].anchor, doc) {
				seen[doc] = grade
			}
		}
		return eval.NDCG(o.ranked, seen, 10), true
	}
	topRelevant := func(i int, o outcome) bool { return len(o.ranked) > 0 && qrels[i][o.ranked[0]] > 0 }
	rep := sliceReport{Dataset: name, Split: split, Mode: rf.mode, Salt: sl.salt, Quality: "nDCG@10", Threshold: threshold,
		Rows: sl.sliceRows(ds, queries, out, threshold, quality, topRelevant, func(int) bool { return true })}
	if err := rep.print(e.stdout, asJSON); err != nil {
		fmt.Fprintf(e.stderr, "eval beir: %v\n", err)
		return exitFatal
	}
	return exitOK
}

// documents maps a chunk ranking to a document ranking: each document at the rank of its
// best chunk, as a BEIR corpus id (the part of the URI after '#').
func (d *dataset) documents(hits []retrieve.Hit) []string {
	ids := make([]int64, len(hits))
	for i, h := range hits {
		ids[i] = h.DocumentID
	}
	return eval.DocumentRanking(ids, func(id int64) string { return d.uris[id] })
}

func datasetName(dir string) string {
	dir = strings.TrimRight(dir, "/")
	if i := strings.LastIndexByte(dir, '/'); i >= 0 {
		return dir[i+1:]
	}
	return dir
}

func fraction(b []bool) float64 {
	n := 0
	for _, v := range b {
		if v {
			n++
		}
	}
	if len(b) == 0 {
		return 0
	}
	return float64(n) / float64(len(b))
}

// fitLogistic fits p = σ(a + b·x + c·y) by Newton's method (iteratively reweighted least
// squares) with a small ridge penalty for stability.
func fitLogistic(x, y []float64, label []bool) (a, b, c float64) {
	w := [3]float64{}
	for range 50 {
		var g [3]float64
		var h [3][3]float64
		for i := range x {
			f := [3]float64{1, x[i], y[i]}
			z := w[0] + w[1]*f[1] + w[2]*f[2]
			p := 1 / (1 + math.Exp(-z))
			t := 0.0
			if label[i] {
				t = 1
			}
			for j := range 3 {
				g[j] += (t - p) * f[j]
				for k := range 3 {
					h[j][k] += p * (1 - p) * f[j] * f[k]
				}
			}
		}
		for j := range 3 {
			g[j] -= 1e-3 * w[j]
			h[j][j] += 1e-3
		}
		d := solve3(h, g)
		for j := range 3 {
			w[j] += d[j]
		}
	}
	return w[0], w[1], w[2]
}

// solve3 solves the 3×3 system m·x = v by Cramer's rule.
func solve3(m [3][3]float64, v [3]float64) [3]float64 {
	det := func(a [3][3]float64) float64 {
		return a[0][0]*(a[1][1]*a[2][2]-a[1][2]*a[2][1]) - a[0][1]*(a[1][0]*a[2][2]-a[1][2]*a[2][0]) + a[0][2]*(a[1][0]*a[2][1]-a[1][1]*a[2][0])
	}
	d := det(m)
	var out [3]float64
	if d == 0 {
		return out
	}
	for j := range 3 {
		mj := m
		for i := range 3 {
			mj[i][j] = v[i]
		}
		out[j] = det(mj) / d
	}
	return out
}
