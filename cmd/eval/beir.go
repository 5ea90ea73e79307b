package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/docent-rag/docent/cmd/internal/cmdconfig"
	"github.com/docent-rag/docent/internal/config"
	"github.com/docent-rag/docent/internal/eval"
	"github.com/docent-rag/docent/internal/retrieve"
)

func runBEIR(ctx context.Context, args []string, e env) int {
	fs := newFlagSet("beir", "--dataset DIR | --pairs FILE --corpus PATH | --faq FILE --corpus DIR [flags]", `Evaluate retrieval on a BEIR dataset (corpus.jsonl, queries.jsonl, qrels/<split>.tsv), on
ClapNQ or MTRAG as retrieval sets (each question judging its gold passages relevant), or on
question/answer pairs or a FAQ over a corpus (each question judging its source documents
relevant): the corpus is ingested through the real ingestion (once), every query of the split runs through
the real retrieval as a caller who sees the whole corpus, and nDCG@10, Recall@10,
Recall@100, MRR@10 (trec_eval's definitions, over documents: a document ranks where its
best chunk does) and the retrieval latency are reported. Latency excludes the query
embedding call. A query whose retrieval fails is counted (failed, and the first 20 listed in
--json) as finding nothing, and the run goes on; the exit status is then 3.`)
	dir := fs.String("dataset", "", "dataset directory: BEIR, ClapNQ or MTRAG (see --format)")
	format := fs.String("format", "", "beir, clapnq or mtrag (default: by the files in --dataset: queries.jsonl, questions.jsonl or tasks.jsonl)")
	split := fs.String("split", "test", "qrels split (BEIR sets; ClapNQ, MTRAG, pairs and FAQs have none: their queries are all used, select them with --folds)")
	pairs := fs.String("pairs", "", "instead of --dataset: question/answer pairs (JSON Lines, as eval answers reads them), each judging its sources relevant")
	faq := fs.String("faq", "", "instead of --dataset: a Markdown FAQ inside --corpus, each question judging the FAQ relevant")
	corpus := fs.String("corpus", "", "with --pairs or --faq: the corpus to ingest (a JSON Lines file or a folder)")
	rankings := fs.String("rankings", "", "write each query's lexical and dense rankings (hybrid mode) to this JSON Lines file, for `eval fusion`")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	var rf retrievalFlags
	rf.register(fs)
	var sf sliceFlags
	sf.register(fs)
	var ff foldFlags
	ff.register(fs)
	if code := parse(fs, args, e); code >= 0 {
		return code
	}
	if (*dir != "") == (*pairs != "" || *faq != "") || (*pairs != "" && *faq != "") || (*dir != "") == (*corpus != "") {
		fmt.Fprintln(e.stderr, "eval beir: give one of --dataset DIR, --pairs FILE --corpus PATH or --faq FILE --corpus DIR")
		return exitUsage
	}
	folds, err := ff.parse()
	if err != nil {
		fmt.Fprintf(e.stderr, "eval beir: %v\n", err)
		return exitUsage
	}
	sl, err := sf.parse()
	if err != nil {
		fmt.Fprintf(e.stderr, "eval beir: %v\n", err)
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
	data, name, err := loadRetrievalSet(retrievalSource{dir: *dir, format: *format, pairs: *pairs, faq: *faq, corpus: *corpus}, split, splitSet)
	if err != nil {
		fmt.Fprintf(e.stderr, "eval beir: %v\n", err)
		return exitUsage
	}
	data.Queries = slices.DeleteFunc(data.Queries, func(q eval.Query) bool { return !folds.Selects(q.Key()) })
	if len(data.Queries) == 0 {
		fmt.Fprintln(e.stderr, "eval beir: no query is in the selected folds")
		return exitUsage
	}
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
		return runBEIRSlices(ctx, data, sl, rf, emb, rr, rrName, e, logger, name, *split, *asJSON)
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
		if dump, err = createRankings(*rankings, rankingsName(name, *split)); err != nil {
			fmt.Fprintf(e.stderr, "eval beir: %v\n", err)
			return exitFatal
		}
		defer dump.close()
	}

	rep := eval.Report{Dataset: name, Split: *split, Mode: string(mode), Rerank: rrName, Queries: len(data.Queries)}
	var ndcg, r10, r100, mrr, latency []float64
	rerankFailures := 0
	inexact := 0
	for i, q := range data.Queries {
		if ctx.Err() != nil {
			fmt.Fprintln(e.stderr, "eval beir: interrupted")
			return exitFatal
		}
		res, err := r.Retrieve(ctx, retrieve.Request{Query: q.Text, Principals: []string{"public"}, Mode: mode})
		if err != nil {
			if ctx.Err() != nil {
				fmt.Fprintln(e.stderr, "eval beir: interrupted")
				return exitFatal
			}
			// One query must not cost the run: it found nothing, and the report says why.
			fmt.Fprintf(e.stderr, "eval beir: query %s failed (counted as finding nothing): %v\n", q.ID, err)
			rep.Fail(q.ID, err)
			ndcg, r10, r100, mrr = append(ndcg, 0), append(r10, 0), append(r100, 0), append(mrr, 0)
			continue
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
		if e.terminal && (i%10 == 9 || i == len(data.Queries)-1) {
			fmt.Fprintf(e.stderr, "\rqueries %d/%d", i+1, len(data.Queries))
		}
	}
	if e.terminal {
		fmt.Fprintln(e.stderr)
	}
	rep.NDCG10, rep.Recall10, rep.Recall100, rep.MRR10 = eval.Mean(ndcg), eval.Mean(r10), eval.Mean(r100), eval.Mean(mrr)
	rep.Folds, rep.Fold = folds.N, folds.Keep
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
	if rep.Failed > 0 {
		fmt.Fprintf(e.stderr, "eval beir: %d of %d queries failed and count as finding nothing\n", rep.Failed, rep.Queries)
		return exitPartial
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
