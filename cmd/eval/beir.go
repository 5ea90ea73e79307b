package main

import (
	"context"
	"flag"
	"fmt"
	"slices"
	"strings"
	"time"

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
	var src sourceFlags
	src.register(fs, "dataset directory: BEIR, ClapNQ or MTRAG (see --format)")
	format := fs.String("format", "", "beir, clapnq or mtrag (default: by the files in --dataset: queries.jsonl, questions.jsonl or tasks.jsonl)")
	split := fs.String("split", "test", "qrels split (BEIR sets; ClapNQ, MTRAG, pairs and FAQs have none: their queries are all used, select them with --folds)")
	rankings := fs.String("rankings", "", "write each query's lexical and dense rankings (hybrid mode) to this JSON Lines file, for `eval fusion`")
	var flags retrievalFlagSet
	flags.register(fs)
	if code := parse(fs, args, e); code >= 0 {
		return code
	}
	c := command{name: "beir", e: e}
	return c.exit(c.beir(ctx, fs, src, *format, split, *rankings, flags))
}

// beir runs `eval beir` on parsed flags.
func (c command) beir(ctx context.Context, fs *flag.FlagSet, src sourceFlags, format string, split *string, rankings string,
	flags retrievalFlagSet) error {
	rf, asJSON := flags.retrieval, flags.asJSON
	if err := src.check(); err != nil {
		return err
	}
	folds, err := flags.folds.parse()
	if err != nil {
		return usage(err)
	}
	sl, err := flags.slices.parse()
	if err != nil {
		return usage(err)
	}
	mode := retrieve.Mode(rf.mode)
	if mode != retrieve.Lexical && mode != retrieve.Dense && mode != retrieve.Hybrid {
		return usagef("--mode %q is not lexical, dense or hybrid", rf.mode)
	}
	if rankings != "" && (mode != retrieve.Hybrid || sl != nil) {
		return usagef("--rankings needs --mode hybrid (both legs) and no --groups")
	}
	splitSet := false
	fs.Visit(func(f *flag.Flag) { splitSet = splitSet || f.Name == "split" })
	data, name, err := loadRetrievalSet(src, format, split, splitSet)
	if err != nil {
		return usage(err)
	}
	data.Queries = slices.DeleteFunc(data.Queries, func(q eval.Query) bool { return !folds.Selects(q.Key()) })
	if len(data.Queries) == 0 {
		return usagef("no query is in the selected folds")
	}
	rt, err := c.newRetrieval(ctx, rf)
	if err != nil {
		return err
	}
	if sl != nil {
		return c.beirSlices(ctx, data, sl, rt, name, *split, asJSON)
	}
	ds, r, err := c.open(ctx, rt, data.CorpusPath)
	if err != nil {
		return err
	}
	defer ds.pool.Close()
	var dump *rankingWriter
	if rankings != "" {
		if dump, err = createRankings(rankings, rankingsName(name, *split)); err != nil {
			return err
		}
		defer dump.close()
	}

	rep := eval.Report{Dataset: name, Split: *split, Mode: string(mode), Rerank: rt.rrName, Queries: len(data.Queries)}
	var ndcg, r10, r100, mrr, latency []float64
	rerankFailures := 0
	inexact := 0
	texts := make([]string, len(data.Queries))
	for i, q := range data.Queries {
		texts[i] = q.Text
	}
	err = c.retrieveEach(ctx, r, mode, texts, func(i int, res *retrieve.Result, err error) error {
		q := data.Queries[i]
		if err != nil {
			// One query must not cost the run: it found nothing, and the report says why.
			c.say("query %s failed (counted as finding nothing): %v", q.ID, err)
			rep.Fail(q.ID, err)
			ndcg, r10, r100, mrr = append(ndcg, 0), append(r10, 0), append(r100, 0), append(mrr, 0)
			return nil
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
				return err
			}
		}
		ndcg = append(ndcg, eval.NDCG(ranked, rel, 10))
		r10 = append(r10, eval.Recall(ranked, rel, 10))
		r100 = append(r100, eval.Recall(ranked, rel, 100))
		mrr = append(mrr, eval.MRR(ranked, rel, 10))
		latency = append(latency, float64(res.Timings.Total-res.Timings.Embed)/float64(time.Millisecond))
		return nil
	})
	if err != nil {
		return err
	}
	rep.NDCG10, rep.Recall10, rep.Recall100, rep.MRR10 = eval.Mean(ndcg), eval.Mean(r10), eval.Mean(r100), eval.Mean(mrr)
	rep.Folds, rep.Fold = folds.N, folds.Keep
	if rep.Rerank == "" || mode != retrieve.Hybrid && rt.rr == nil {
		rep.Rerank = "none"
	}
	p := eval.Percentiles(latency, 50, 95, 99)
	rep.Latency.P50, rep.Latency.P95, rep.Latency.P99 = p[0], p[1], p[2]
	if dump != nil {
		if err := dump.close(); err != nil {
			return err
		}
	}
	if asJSON {
		if err := printJSON(c.e.stdout, rep); err != nil {
			return err
		}
	} else {
		fmt.Fprint(c.e.stdout, rep.Table())
	}
	if rerankFailures > 0 {
		c.say("the reranker failed on %d queries (the fused order was used)", rerankFailures)
	}
	if inexact > 0 {
		c.say("the lexical leg's top 10 was approximate on %d of %d queries", inexact, len(data.Queries))
	}
	return partial(rep.QueryFailures, rep.Queries)
}

// beirSlices evaluates the split as callers who see slices of the corpus (slices.go): each
// query is asked by the caller who holds the group of its first relevant document (by id),
// and nDCG@10 counts the relevant documents that caller sees.
func (c command) beirSlices(ctx context.Context, data *eval.BEIR, sl *slicing, rt *retrieval, name, split string, asJSON bool) error {
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
	rep := sliceReport{Dataset: name, Split: split, Mode: rt.flags.mode, Quality: "nDCG@10"}
	return c.evaluateSlices(ctx, rt, sl, data.CorpusPath, queries, &rep, asJSON, sliceJudge{
		quality: func(i, groups int, o outcome) (float64, bool) {
			seen := map[string]int{}
			for doc, grade := range qrels[i] {
				if sl.visible(groups, queries[i].anchor, doc) {
					seen[doc] = grade
				}
			}
			return eval.NDCG(o.ranked, seen, 10), true
		},
		positive:   func(i int, o outcome) bool { return len(o.ranked) > 0 && qrels[i][o.ranked[0]] > 0 },
		answerable: func(int) bool { return true },
	})
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
