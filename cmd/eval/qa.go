package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/docent-rag/docent/cmd/internal/cmdconfig"
	"github.com/docent-rag/docent/internal/config"
	"github.com/docent-rag/docent/internal/eval"
	"github.com/docent-rag/docent/internal/retrieve"
)

// qaReport is what `eval qa` prints.
type qaReport struct {
	Dataset    string  `json:"dataset"`
	Mode       string  `json:"mode"`
	Rerank     string  `json:"rerank"`
	K          int     `json:"k"`
	Folds      int     `json:"folds,omitempty"` // with --folds: the split, and the folds evaluated
	Fold       []int   `json:"fold,omitempty"`
	Questions  int     `json:"questions"`
	Answerable int     `json:"answerable"`
	RecallAtK  float64 `json:"gold_recall@k"` // share of answerable questions whose gold passage is in the top k
	AUC        float64 `json:"strength_auc"`  // evidence strength: answerable vs unanswerable
	// Strength at the quartiles, for each class, to see where a refusal threshold falls.
	StrengthAnswerable   []float64    `json:"strength_answerable_p25_p50_p75"`
	StrengthUnanswerable []float64    `json:"strength_unanswerable_p25_p50_p75"`
	Latency              eval.Latency `json:"latency_ms"`
	// At each refusal threshold on evidence strength: the share of answerable questions
	// still answered and of unanswerable ones refused.
	Thresholds []threshold `json:"thresholds"`
}

type threshold struct {
	Strength            float64 `json:"strength"`
	AnswerableAnswered  float64 `json:"answerable_answered"`
	UnanswerableRefused float64 `json:"unanswerable_refused"`
}

func runQA(ctx context.Context, args []string, e env) int {
	fs := newFlagSet("qa", "--dataset DIR [flags]", `Evaluate retrieval for question answering on ClapNQ (corpus.jsonl, questions.jsonl): for
each answerable question, whether its gold passage is among the top k passages retrieved;
and how well the evidence strength separates answerable from unanswerable questions (ROC
AUC; an unanswerable question comes with a related passage that lacks the answer).`)
	dir := fs.String("dataset", "", "QA dataset directory (required)")
	k := fs.Int("k", 5, "passages that count as retrieved")
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
	folds, err := ff.parse()
	if err != nil {
		fmt.Fprintf(e.stderr, "eval qa: %v\n", err)
		return exitUsage
	}
	if *dir == "" || *k < 1 {
		fmt.Fprintln(e.stderr, "eval qa: --dataset is required and --k must be at least 1")
		return exitUsage
	}
	sl, err := sf.parse()
	if err != nil {
		fmt.Fprintf(e.stderr, "eval qa: %v\n", err)
		return exitUsage
	}
	data, err := eval.LoadClapNQ(*dir)
	if err != nil {
		fmt.Fprintf(e.stderr, "eval qa: %v\n", err)
		return exitUsage
	}
	data.Questions = slices.DeleteFunc(data.Questions, func(q eval.Question) bool { return !folds.Selects(q.ID) })
	if len(data.Questions) == 0 {
		fmt.Fprintln(e.stderr, "eval qa: no question is in the selected folds")
		return exitUsage
	}
	logger, err := config.NewLogger(e.getenv, e.stderr, e.terminal)
	if err != nil {
		fmt.Fprintf(e.stderr, "eval qa: %v\n", err)
		return exitUsage
	}
	emb, err := cmdconfig.Embedder(ctx, e.getenv)
	if err != nil {
		fmt.Fprintf(e.stderr, "eval qa: %v\n", err)
		return exitFatal
	}
	rr, rrName, err := reranker(rf, e.getenv)
	if err != nil {
		fmt.Fprintf(e.stderr, "eval qa: %v\n", err)
		return exitUsage
	}
	if sl != nil {
		return runQASlices(ctx, data, sl, rf, emb, rr, rrName, e, logger, datasetName(*dir), *k, *asJSON)
	}
	ds, err := prepare(ctx, data.CorpusPath, emb, e, slog.New(slog.DiscardHandler))
	if err != nil {
		fmt.Fprintf(e.stderr, "eval qa: %v\n", err)
		return exitFatal
	}
	defer ds.pool.Close()
	r, err := retrieve.New(rf.config(retrieve.Config{}), ds.pool, emb, rr, rrName, logger)
	if err != nil {
		fmt.Fprintf(e.stderr, "eval qa: %v\n", err)
		return exitUsage
	}
	rep := qaReport{Dataset: datasetName(*dir), Mode: rf.mode, Rerank: rrName, K: *k, Questions: len(data.Questions),
		Folds: folds.N, Fold: folds.Keep}
	if rep.Rerank == "" {
		rep.Rerank = "none"
	}
	var found, strengths, latency []float64
	var answerable []bool
	var sa, su []float64
	for i, q := range data.Questions {
		if ctx.Err() != nil {
			fmt.Fprintln(e.stderr, "eval qa: interrupted")
			return exitFatal
		}
		res, err := r.Retrieve(ctx, retrieve.Request{Query: q.Text, Principals: []string{"public"}, Mode: retrieve.Mode(rf.mode)})
		if err != nil {
			fmt.Fprintf(e.stderr, "eval qa: question %s: %v\n", q.ID, err)
			return exitFatal
		}
		latency = append(latency, float64(res.Timings.Total-res.Timings.Embed)/1e6)
		strengths = append(strengths, res.Strength)
		answerable = append(answerable, q.Answerable)
		if q.Answerable {
			rep.Answerable++
			sa = append(sa, res.Strength)
			top := ds.documents(res.Ranked)
			hit := 0.0
			for _, id := range top[:min(len(top), *k)] {
				for _, g := range q.GoldPassageIDs {
					if id == g {
						hit = 1
					}
				}
			}
			found = append(found, hit)
		} else {
			su = append(su, res.Strength)
		}
		if e.terminal && (i%10 == 9 || i == len(data.Questions)-1) {
			fmt.Fprintf(e.stderr, "\rquestions %d/%d", i+1, len(data.Questions))
		}
	}
	if e.terminal {
		fmt.Fprintln(e.stderr)
	}
	rep.RecallAtK = eval.Mean(found)
	rep.AUC = eval.ROCAUC(strengths, answerable)
	rep.StrengthAnswerable = round3(eval.Percentiles(sa, 25, 50, 75))
	rep.StrengthUnanswerable = round3(eval.Percentiles(su, 25, 50, 75))
	p := eval.Percentiles(latency, 50, 95, 99)
	rep.Latency = eval.Latency{P50: p[0], P95: p[1], P99: p[2]}
	for _, th := range []float64{0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5} {
		t := threshold{Strength: th}
		for _, v := range sa {
			if v >= th {
				t.AnswerableAnswered++
			}
		}
		for _, v := range su {
			if v < th {
				t.UnanswerableRefused++
			}
		}
		t.AnswerableAnswered /= float64(max(1, len(sa)))
		t.UnanswerableRefused /= float64(max(1, len(su)))
		rep.Thresholds = append(rep.Thresholds, t)
	}
	if *asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			fmt.Fprintf(e.stderr, "eval qa: %v\n", err)
			return exitFatal
		}
		return exitOK
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "dataset\tmode\trerank\tquestions\tanswerable\tgold recall@%d\tstrength AUC\tp50 ms\tp99 ms\n", *k)
	fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%.3f\t%.3f\t%.1f\t%.1f\n", rep.Dataset, rep.Mode, rep.Rerank, rep.Questions, rep.Answerable,
		rep.RecallAtK, rep.AUC, rep.Latency.P50, rep.Latency.P99)
	if err := tw.Flush(); err != nil {
		return exitFatal
	}
	fmt.Fprintf(e.stdout, "evidence strength quartiles: answerable %s, unanswerable %s\n",
		fmtList(rep.StrengthAnswerable), fmtList(rep.StrengthUnanswerable))
	fmt.Fprintf(e.stdout, "refusing below a strength of:")
	for _, t := range rep.Thresholds {
		fmt.Fprintf(e.stdout, "  %.2f → %.0f%% answered / %.0f%% refused", t.Strength, 100*t.AnswerableAnswered, 100*t.UnanswerableRefused)
	}
	fmt.Fprintln(e.stdout, "  (answerable answered / unanswerable refused)")
	return exitOK
}

// runQASlices evaluates the questions as callers who see slices of the corpus (slices.go):
// each question, answerable or not, is asked by the caller who holds the group of the
// passage it was written against, so that an unanswerable question's caller sees the
// related passage that lacks the answer, as the answerable question's caller sees the gold.
func runQASlices(ctx context.Context, data *eval.ClapNQ, sl *slicing, rf retrievalFlags, emb retrieve.Embedder,
	rr retrieve.Reranker, rrName string, e env, logger *slog.Logger, name string, k int, asJSON bool) int {
	threshold, err := minEvidence(e.getenv)
	if err != nil {
		fmt.Fprintf(e.stderr, "eval qa: %v\n", err)
		return exitUsage
	}
	ds, err := prepareSliced(ctx, data.CorpusPath, sl, emb, e, slog.New(slog.DiscardHandler))
	if err != nil {
		fmt.Fprintf(e.stderr, "eval qa: %v\n", err)
		return exitFatal
	}
	defer ds.pool.Close()
	queries := make([]sliceQuery, len(data.Questions))
	for i, q := range data.Questions {
		queries[i] = sliceQuery{id: q.ID, text: q.Text, anchor: q.PassageID}
	}
	newRetriever := func(floor int) (*retrieve.Retriever, error) {
		cfg := rf.config(retrieve.Config{})
		cfg.MinIDFChunks = floor
		return retrieve.New(cfg, ds.pool, emb, rr, rrName, logger)
	}
	out, err := sl.retrieveSlices(ctx, ds, newRetriever, retrieve.Mode(rf.mode), queries, e)
	if err != nil {
		fmt.Fprintf(e.stderr, "eval qa: %v\n", err)
		return exitFatal
	}
	recall := func(i, _ int, o outcome) (float64, bool) {
		q := data.Questions[i]
		if !q.Answerable {
			return 0, false
		}
		for _, id := range o.ranked[:min(len(o.ranked), k)] {
			if slices.Contains(q.GoldPassageIDs, id) {
				return 1, true
			}
		}
		return 0, true
	}
	answerable := func(i int) bool { return data.Questions[i].Answerable }
	rep := sliceReport{Dataset: name, Mode: rf.mode, Salt: sl.salt, Quality: fmt.Sprintf("gold recall@%d", k), Threshold: threshold,
		Rows: sl.sliceRows(ds, queries, out, threshold, recall, func(i int, _ outcome) bool { return answerable(i) }, answerable)}
	if err := rep.print(e.stdout, asJSON); err != nil {
		fmt.Fprintf(e.stderr, "eval qa: %v\n", err)
		return exitFatal
	}
	return exitOK
}

func round3(v []float64) []float64 {
	for i := range v {
		v[i] = math.Round(v[i]*1000) / 1000
	}
	return v
}

func fmtList(v []float64) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = fmt.Sprintf("%.3f", x)
	}
	return strings.Join(s, " / ")
}
