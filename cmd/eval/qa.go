package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/docent-rag/docent/internal/answer"
	"github.com/docent-rag/docent/internal/eval"
	"github.com/docent-rag/docent/internal/retrieve"
)

// qaReport is what `eval qa` prints.
type qaReport struct {
	Dataset    string  `json:"dataset"`
	Format     string  `json:"format"`
	Mode       string  `json:"mode"`
	Rerank     string  `json:"rerank"`
	K          int     `json:"k"`
	Questions  int     `json:"questions"`
	Answerable int     `json:"answerable"`
	Skipped    int     `json:"skipped"`       // MTRAG tasks that are neither answerable nor unanswerable
	RecallAtK  float64 `json:"gold_recall@k"` // share of answerable questions whose gold passage is in the top k
	AUC        float64 `json:"strength_auc"`  // evidence strength: answerable vs unanswerable
	// BaselineAUC is the AUC of the best lexical score divided by the sum of the query
	// terms' IDF (plain normalised BM25), for comparison; PreviousAUC that of the previous
	// strength model (previousStrength).
	BaselineAUC float64 `json:"baseline_auc"`
	PreviousAUC float64 `json:"previous_auc"`
	// Strength at the quartiles, for each class, to see where a refusal threshold falls.
	StrengthAnswerable   []float64    `json:"strength_answerable_p25_p50_p75"`
	StrengthUnanswerable []float64    `json:"strength_unanswerable_p25_p50_p75"`
	Latency              eval.Latency `json:"latency_ms"`
	// At each refusal threshold on evidence strength: the share of answerable questions
	// still answered and of unanswerable ones refused.
	Thresholds []threshold `json:"thresholds"`
	// MinEvidence is the server's refusal threshold (DOCENT_MIN_EVIDENCE). With --folds:
	// Folds is the split and Fold the folds evaluated; ByFold are the figures of each fold
	// (eval.Fold of the question id, of an MTRAG task's conversation id), and Tune and
	// HeldOut those of the tuning folds (--tune-folds) and of the others evaluated.
	MinEvidence float64   `json:"min_evidence"`
	Folds       int       `json:"folds,omitempty"`
	Fold        []int     `json:"fold,omitempty"`
	ByFold      []foldRow `json:"by_fold,omitempty"`
	Tune        *foldRow  `json:"tune,omitempty"`
	HeldOut     *foldRow  `json:"held_out,omitempty"`
	All         *foldRow  `json:"all,omitempty"`
	// The questions whose retrieval failed: each counts as finding nothing, with strength 0
	// (qaOutcome's zero value).
	eval.QueryFailures
}

type threshold struct {
	Strength            float64 `json:"strength"`
	AnswerableAnswered  float64 `json:"answerable_answered"`
	UnanswerableRefused float64 `json:"unanswerable_refused"`
}

// foldRow are the figures of a set of folds: at the server's threshold, and for the
// previous strength model at its own default (previousMinEvidence).
type foldRow struct {
	Folds        []int   `json:"folds"`
	Questions    int     `json:"questions"`
	Answerable   int     `json:"answerable"`
	AUC          float64 `json:"strength_auc"`
	BaselineAUC  float64 `json:"baseline_auc"`
	PreviousAUC  float64 `json:"previous_auc"`
	Answered     float64 `json:"answerable_answered"`
	Refused      float64 `json:"unanswerable_refused"`
	PrevAnswered float64 `json:"previous_answerable_answered"`
	PrevRefused  float64 `json:"previous_unanswerable_refused"`
	RecallAtK    float64 `json:"gold_recall@k"`
}

// previousStrength is the evidence strength before issue 12 (fitted on SciFact's train split
// to predict a relevant top document: coverage and the best dense cosine), and
// previousMinEvidence its default threshold: the comparison `eval qa` reports beside the
// calibrated strength.
func previousStrength(in retrieve.StrengthInputs) float64 {
	return 1 / (1 + math.Exp(-(-3.521 + 6.307*in.Coverage + 2.716*in.DenseTop)))
}

const previousMinEvidence = 0.35

// qaItem is one question as `eval qa` asks it; foldKey is what its fold is drawn from.
type qaItem struct {
	id, foldKey, query, collection string
	context                        []retrieve.ContextText // a follow-up's conversation (answer.RewriteByRule)
	answerable                     bool
	gold                           []string
}

// qaOutcome is what retrieval gave for one question.
type qaOutcome struct {
	strength, baseline, previous, found float64
	inputs                              retrieve.StrengthInputs
}

// qaFeatures is one line of --features: a question's label, fold key and strength inputs,
// for fitting the strength model (--fit).
type qaFeatures struct {
	ID         string                  `json:"id"`
	FoldKey    string                  `json:"fold_key"`
	Collection string                  `json:"collection,omitempty"`
	Answerable bool                    `json:"answerable"`
	Found      bool                    `json:"gold_found"`
	Strength   float64                 `json:"strength"`
	Inputs     retrieve.StrengthInputs `json:"inputs"`
	// Candidates are the candidate inputs (candidates.go), which --fit-inputs can name.
	Candidates map[string]float64 `json:"candidates,omitempty"`
}

func runQA(ctx context.Context, args []string, e env) int {
	fs := newFlagSet("qa", "--dataset DIR [flags]", `Evaluate retrieval for question answering on ClapNQ (corpus.jsonl, questions.jsonl) or
MTRAG (--format mtrag: corpus.jsonl, tasks.jsonl): for each answerable question, whether its
gold passage is among the top k passages retrieved; and how well the evidence strength
separates answerable from unanswerable questions (ROC AUC; a ClapNQ unanswerable question
comes with a related passage that lacks the answer), beside plain normalised BM25 (the best
lexical score over the sum of the query terms' IDF), and the shares answered and refused at
the server's threshold (DOCENT_MIN_EVIDENCE), beside the previous strength model at its
default 0.35. With --folds N the figures are also given per fold (eval.Fold: a hash of the
question id, of an MTRAG task's conversation id) and, with --tune-folds, over the tuning
folds and over the others (held out). An MTRAG task is asked as the server asks a
conversation's last question without a model: rewritten from its history by the
deterministic rule; its answerable and unanswerable tasks are counted, partial and
underspecified ones skipped. A question whose retrieval fails is counted (failed, and the
first 20 listed in --json) as finding nothing, with strength 0, and left out of --features;
the run goes on, and the exit status is then 3 (likewise with --groups).

With --fit A.jsonl,B.jsonl (dumps of --features, one per set) nothing is retrieved: the
strength model is fitted on the tuning folds of the dumps and its weights and threshold are
printed (see fitStrength); --fit-inputs fits other inputs instead of coverage, gap and
agreement, among them the candidates every dump carries (candidates.go: signals from the
passages themselves, measured and not used by the server).`)
	dir := fs.String("dataset", "", "QA dataset directory (required, except with --fit)")
	format := fs.String("format", "clapnq", "clapnq or mtrag")
	k := fs.Int("k", 5, "passages that count as retrieved")
	tuneFolds := fs.String("tune-folds", "", "with --folds: the folds settings are tuned on (comma-separated); the report adds their row and the held-out row")
	features := fs.String("features", "", "write each question's strength inputs to this file (JSON Lines), for --fit")
	fit := fs.String("fit", "", "fit the strength model on the tuning folds of these --features dumps (comma-separated; needs --folds and --tune-folds)")
	fitInputs := fs.String("fit-inputs", "", "with --fit: the inputs to fit, comma-separated: coverage, gap, agreement and the dumps' candidates (default: the model's, coverage,gap,agreement)")
	var flags retrievalFlagSet
	flags.register(fs)
	if code := parse(fs, args, e); code >= 0 {
		return code
	}
	c := command{name: "qa", e: e}
	folds, err := flags.folds.parse()
	if err != nil {
		return c.exit(usage(err))
	}
	tune, err := parseTuneFolds(*tuneFolds, folds)
	if err != nil {
		return c.exit(usage(err))
	}
	if *fit != "" {
		if len(tune) == 0 {
			return c.exit(usagef("--fit needs --folds N and --tune-folds"))
		}
		names, err := parseFitInputs(*fitInputs)
		if err != nil {
			return c.exit(usage(err))
		}
		return runFit(strings.Split(*fit, ","), names, folds.N, tune, e)
	}
	return c.exit(c.qa(ctx, qaSettings{dir: *dir, format: *format, k: *k, features: *features, flags: flags, folds: folds, tune: tune}))
}

// qaSettings are the parsed flags of `eval qa` (without --fit).
type qaSettings struct {
	dir, format, features string
	k                     int
	flags                 retrievalFlagSet
	folds                 eval.FoldSelection // flags.folds parsed
	tune                  []int
}

// qa runs `eval qa`. A question whose retrieval fails is counted (the report's failed, and
// the first 20 listed in --json) as finding nothing, with strength 0, and left out of
// --features; the run goes on, and its status is then 3, as `eval beir`'s.
func (c command) qa(ctx context.Context, set qaSettings) error {
	if set.dir == "" || set.k < 1 {
		return usagef("--dataset is required and --k must be at least 1")
	}
	sl, err := set.flags.slices.parse()
	if err != nil {
		return usage(err)
	}
	folds := set.folds
	var corpus string
	var items []qaItem
	skipped := 0
	var clapnq *eval.ClapNQ
	switch set.format {
	case "clapnq":
		clapnq, err = eval.LoadClapNQ(set.dir)
		if err != nil {
			return usage(err)
		}
		clapnq.Questions = slices.DeleteFunc(clapnq.Questions, func(q eval.Question) bool { return !folds.Selects(q.ID) })
		corpus = clapnq.CorpusPath
		for _, q := range clapnq.Questions {
			items = append(items, qaItem{id: q.ID, foldKey: q.ID, query: q.Text, answerable: q.Answerable, gold: q.GoldPassageIDs})
		}
	case "mtrag":
		if sl != nil {
			return usagef("--groups takes ClapNQ only")
		}
		data, err := eval.LoadMTRAG(set.dir)
		if err != nil {
			return usage(err)
		}
		corpus = data.Corpus
		items, skipped = mtragItems(data, folds)
	default:
		return usagef("--format %q is not clapnq or mtrag", set.format)
	}
	if len(items) == 0 {
		return usagef("no question is in the selected folds")
	}
	minEv, err := minEvidence(c.e.getenv)
	if err != nil {
		return usage(err)
	}
	rt, err := c.newRetrieval(ctx, set.flags.retrieval)
	if err != nil {
		return err
	}
	if sl != nil {
		return c.qaSlices(ctx, clapnq, sl, rt, datasetName(set.dir), set.k, set.flags.asJSON)
	}
	ds, r, err := c.open(ctx, rt, corpus)
	if err != nil {
		return err
	}
	defer ds.pool.Close()
	rep := qaReport{Dataset: datasetName(set.dir), Format: set.format, Mode: set.flags.retrieval.mode, Rerank: cmp.Or(rt.rrName, "none"), K: set.k,
		Questions: len(items), Skipped: skipped, MinEvidence: minEv, Folds: folds.N, Fold: folds.Keep}
	var latency []float64
	outs := make([]qaOutcome, len(items))
	var dump []qaFeatures
	queries := make([]evalQuery, len(items))
	for i, q := range items {
		queries[i] = evalQuery{text: q.query, context: q.context}
		if q.answerable {
			rep.Answerable++
		}
	}
	err = c.retrieveEach(ctx, r, retrieve.Mode(set.flags.retrieval.mode), queries, func(i int, res *retrieve.Result, err error) error {
		q := items[i]
		if err != nil {
			// One question must not cost the run: it found nothing, and the report says why.
			c.say("question %s failed (counted as finding nothing): %v", q.id, err)
			rep.Fail(q.id, err)
			return nil
		}
		latency = append(latency, float64(res.Timings.Total-res.Timings.Embed)/1e6)
		o := qaOutcome{strength: res.Strength, inputs: res.StrengthInputs()}
		o.baseline, o.previous = o.inputs.NormalizedBM25, previousStrength(o.inputs)
		if q.answerable {
			top := ds.documents(res.Ranked)
			for _, id := range top[:min(len(top), set.k)] {
				if slices.Contains(q.gold, id) {
					o.found = 1
				}
			}
		}
		outs[i] = o
		if set.features != "" {
			dump = append(dump, qaFeatures{ID: q.id, FoldKey: q.foldKey, Collection: q.collection, Answerable: q.answerable,
				Found: o.found > 0, Strength: o.strength, Inputs: o.inputs, Candidates: candidateInputs(q.query, res)})
		}
		return nil
	})
	if err != nil {
		return err
	}
	if set.features != "" {
		if err := writeFeatures(set.features, dump); err != nil {
			return err
		}
	}
	rep.measure(items, outs, folds, set.tune)
	p := eval.Percentiles(latency, 50, 95, 99)
	rep.Latency = eval.Latency{P50: p[0], P95: p[1], P99: p[2]}
	if err := rep.print(c.e.stdout, set.flags.asJSON); err != nil {
		return err
	}
	return partial(rep.QueryFailures, rep.Questions)
}

// measure fills the report's figures: over every question, at each threshold, per fold and,
// with tuning folds, over those and over the others (held out).
func (rep *qaReport) measure(items []qaItem, outs []qaOutcome, folds eval.FoldSelection, tune []int) {
	all := func(int) bool { return true }
	whole := qaRow(items, outs, rep.MinEvidence, all)
	rep.RecallAtK, rep.AUC, rep.BaselineAUC, rep.PreviousAUC = whole.RecallAtK, whole.AUC, whole.BaselineAUC, whole.PreviousAUC
	var sa, su []float64
	for i, q := range items {
		if q.answerable {
			sa = append(sa, outs[i].strength)
		} else {
			su = append(su, outs[i].strength)
		}
	}
	rep.StrengthAnswerable = round3(eval.Percentiles(sa, 25, 50, 75))
	rep.StrengthUnanswerable = round3(eval.Percentiles(su, 25, 50, 75))
	for _, th := range []float64{0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6} {
		row := qaRow(items, outs, th, all)
		rep.Thresholds = append(rep.Thresholds, threshold{Strength: th, AnswerableAnswered: row.Answered, UnanswerableRefused: row.Refused})
	}
	fold := func(i int) int { return eval.Fold(items[i].foldKey, folds.N) }
	for _, f := range folds.Folds() {
		row := qaRow(items, outs, rep.MinEvidence, func(i int) bool { return fold(i) == f })
		row.Folds = []int{f}
		rep.ByFold = append(rep.ByFold, row)
	}
	if len(tune) > 0 {
		t := qaRow(items, outs, rep.MinEvidence, func(i int) bool { return slices.Contains(tune, fold(i)) })
		h := qaRow(items, outs, rep.MinEvidence, func(i int) bool { return !slices.Contains(tune, fold(i)) })
		for _, f := range folds.Folds() {
			if slices.Contains(tune, f) {
				t.Folds = append(t.Folds, f)
			} else {
				h.Folds = append(h.Folds, f)
			}
		}
		rep.Tune, rep.HeldOut = &t, &h
	}
	if folds.N > 1 {
		whole.Folds = folds.Folds()
		rep.All = &whole
	}
}

// mtragItems are the answerable and unanswerable tasks of an MTRAG set, each asked as the
// server asks a conversation's question without a model (answer.RewriteByRule of its history),
// and the number of other tasks (partial, underspecified), which are skipped.
func mtragItems(data *eval.AnswerSet, folds eval.FoldSelection) (items []qaItem, skipped int) {
	for _, c := range data.Cases {
		if !folds.Selects(c.FoldKey) {
			continue
		}
		if c.Partial || (c.Answerability != eval.Answerable && c.Answerability != eval.Unanswerable) {
			skipped++
			continue
		}
		rw := answer.RewriteByRule(c.Question, turns(c.History))
		items = append(items, qaItem{id: c.ID, foldKey: c.FoldKey, query: rw.Query, context: rw.Lexical(), collection: c.Collection,
			answerable: c.Answerability == eval.Answerable, gold: c.GoldSources})
	}
	return items, skipped
}

// qaRow computes the figures of the questions that in selects, refusing below threshold.
func qaRow(items []qaItem, outs []qaOutcome, threshold float64, in func(i int) bool) foldRow {
	var row foldRow
	var strengths, baselines, previous, found []float64
	var labels []bool
	var answered, refused, prevAnswered, prevRefused, unanswerable float64
	for i, q := range items {
		if !in(i) {
			continue
		}
		o := outs[i]
		row.Questions++
		strengths = append(strengths, o.strength)
		baselines = append(baselines, o.baseline)
		previous = append(previous, o.previous)
		labels = append(labels, q.answerable)
		if q.answerable {
			row.Answerable++
			found = append(found, o.found)
			if o.strength >= threshold {
				answered++
			}
			if o.previous >= previousMinEvidence {
				prevAnswered++
			}
		} else {
			unanswerable++
			if o.strength < threshold {
				refused++
			}
			if o.previous < previousMinEvidence {
				prevRefused++
			}
		}
	}
	row.AUC = eval.ROCAUC(strengths, labels)
	row.BaselineAUC = eval.ROCAUC(baselines, labels)
	row.PreviousAUC = eval.ROCAUC(previous, labels)
	row.Answered = answered / float64(max(1, row.Answerable))
	row.Refused = refused / max(1, unanswerable)
	row.PrevAnswered = prevAnswered / float64(max(1, row.Answerable))
	row.PrevRefused = prevRefused / max(1, unanswerable)
	row.RecallAtK = eval.Mean(found)
	return row
}

// parseTuneFolds parses --tune-folds against the split of --folds (eval.ParseFolds' rules):
// empty for none; otherwise at least one fold, and at least one left held out.
func parseTuneFolds(s string, folds eval.FoldSelection) ([]int, error) {
	if s == "" {
		return nil, nil
	}
	if folds.N < 2 {
		return nil, fmt.Errorf("--tune-folds %q needs --folds N (2 or more)", s)
	}
	sel, err := eval.ParseFolds(folds.N, s)
	if err != nil {
		return nil, fmt.Errorf("--tune-folds: %w", err)
	}
	if len(sel.Keep) >= folds.N {
		return nil, fmt.Errorf("--tune-folds %q leaves no fold held out", s)
	}
	return sel.Keep, nil
}

func writeFeatures(path string, rows []qaFeatures) error {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	for _, r := range rows {
		if err := enc.Encode(r); err != nil {
			return err
		}
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}

func (rep *qaReport) print(w io.Writer, asJSON bool) error {
	if asJSON {
		return printJSON(w, rep)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "dataset\tmode\trerank\tquestions\tanswerable\tgold recall@%d\tstrength AUC\tprevious AUC\tbaseline AUC\tp50 ms\tp99 ms\n", rep.K)
	fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%.3f\t%.3f\t%.3f\t%.3f\t%.1f\t%.1f\n", rep.Dataset, rep.Mode, rep.Rerank, rep.Questions, rep.Answerable,
		rep.RecallAtK, rep.AUC, rep.PreviousAUC, rep.BaselineAUC, rep.Latency.P50, rep.Latency.P99)
	if err := tw.Flush(); err != nil {
		return err
	}
	if rep.Skipped > 0 {
		fmt.Fprintf(w, "skipped %d tasks neither answerable nor unanswerable\n", rep.Skipped)
	}
	if rep.Failed > 0 {
		fmt.Fprintf(w, "%d questions failed and count as finding nothing, with strength 0; the first, %s: %s\n",
			rep.Failed, rep.Failures[0].ID, rep.Failures[0].Error)
	}
	fmt.Fprintf(w, "evidence strength quartiles: answerable %s, unanswerable %s\n",
		fmtList(rep.StrengthAnswerable), fmtList(rep.StrengthUnanswerable))
	fmt.Fprintf(w, "refusing below a strength of:")
	for _, t := range rep.Thresholds {
		fmt.Fprintf(w, "  %.2f → %.0f%% answered / %.0f%% refused", t.Strength, 100*t.AnswerableAnswered, 100*t.UnanswerableRefused)
	}
	fmt.Fprintln(w, "  (answerable answered / unanswerable refused)")
	type named struct {
		name string
		row  foldRow
	}
	var rows []named
	for _, r := range rep.ByFold {
		rows = append(rows, named{fmt.Sprint(r.Folds[0]), r})
	}
	if rep.Tune != nil {
		rows = append(rows, named{"tune " + fmtInts(rep.Tune.Folds), *rep.Tune}, named{"held out " + fmtInts(rep.HeldOut.Folds), *rep.HeldOut})
	}
	if rep.All != nil {
		rows = append(rows, named{"all", *rep.All})
	}
	if len(rows) == 0 {
		return nil
	}
	fmt.Fprintf(w, "by fold: strength at the server's threshold %.2f, the previous strength at %.2f (answered = answerable answered, refused = unanswerable refused):\n",
		rep.MinEvidence, previousMinEvidence)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "folds\tquestions\tanswerable\tstrength AUC\tprevious AUC\tbaseline AUC\tanswered\trefused\tprev answered\tprev refused\tgold recall@%d\n", rep.K)
	for _, n := range rows {
		r := n.row
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.3f\t%.3f\t%.3f\t%.2f\t%.2f\t%.2f\t%.2f\t%.3f\n", n.name, r.Questions, r.Answerable, r.AUC, r.PreviousAUC, r.BaselineAUC,
			r.Answered, r.Refused, r.PrevAnswered, r.PrevRefused, r.RecallAtK)
	}
	return tw.Flush()
}

func fmtInts(v []int) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ",")
}

// qaSlices evaluates the questions as callers who see slices of the corpus (slices.go):
// each question, answerable or not, is asked by the caller who holds the group of the
// passage it was written against, so that an unanswerable question's caller sees the
// related passage that lacks the answer, as the answerable question's caller sees the gold.
func (c command) qaSlices(ctx context.Context, data *eval.ClapNQ, sl *slicing, rt *retrieval, name string, k int, asJSON bool) error {
	queries := make([]sliceQuery, len(data.Questions))
	for i, q := range data.Questions {
		queries[i] = sliceQuery{id: q.ID, text: q.Text, anchor: q.PassageID}
	}
	answerable := func(i int) bool { return data.Questions[i].Answerable }
	rep := sliceReport{Dataset: name, Mode: rt.flags.mode, Quality: fmt.Sprintf("gold recall@%d", k)}
	return c.evaluateSlices(ctx, rt, sl, data.CorpusPath, queries, &rep, asJSON, sliceJudge{
		quality: func(i, _ int, o outcome) (float64, bool) {
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
		},
		positive:   func(i int, _ outcome) bool { return answerable(i) },
		answerable: answerable,
	})
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
