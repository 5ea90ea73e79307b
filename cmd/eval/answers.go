package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/docent-rag/docent/cmd/internal/cmdconfig"
	"github.com/docent-rag/docent/internal/answer"
	"github.com/docent-rag/docent/internal/ask"
	"github.com/docent-rag/docent/internal/auth"
	"github.com/docent-rag/docent/internal/config"
	"github.com/docent-rag/docent/internal/eval"
)

// answersReport is what `eval answers` prints.
type answersReport struct {
	Dataset string `json:"dataset"`
	Kind    string `json:"kind"` // clapnq, mtrag, pairs or faq
	// Generator is what wrote the answers: "extractive", or the model (DOCENT_GENERATOR).
	Generator   string  `json:"generator"`
	Rerank      string  `json:"rerank"`
	MinEvidence float64 `json:"min_evidence"`
	// MinCoverage is the extractive answerer's refusal threshold (--min-coverage).
	MinCoverage float64      `json:"min_coverage"`
	MaxSources  int          `json:"max_sources"`
	Folds       int          `json:"folds,omitempty"`
	Fold        []int        `json:"fold,omitempty"` // the folds evaluated
	Limit       int          `json:"limit,omitempty"`
	Cases       int          `json:"cases"`
	Runs        []answersRun `json:"runs"`
}

// answersRun is every case asked one way: with the conversation's history ("with"), without
// it ("without": the question alone), or, in a set without conversations, as it is ("none").
type answersRun struct {
	History string `json:"history"`
	// Failed counts the cases whose question the answer path rejected (an error, not a
	// refusal): they are left out of the measures, and the first error is printed.
	Failed  int                 `json:"failed"`
	Overall eval.AnswerMeasures `json:"overall"`
	PerFold []foldMeasures      `json:"per_fold,omitempty"`
	Groups  []groupMeasures     `json:"per_group,omitempty"`
}

type foldMeasures struct {
	Fold int `json:"fold"`
	eval.AnswerMeasures
}

type groupMeasures struct {
	Group string `json:"group"`
	eval.AnswerMeasures
}

// maxSources is how many sources an answer may draw on: the API's default max_sources.
const maxSources = 5

func runAnswers(ctx context.Context, args []string, e env) int {
	fs := newFlagSet("answers", "(--dataset DIR | --pairs FILE --corpus PATH | --faq FILE --corpus DIR) [flags]",
		`Evaluate answers end to end, through the answer path the server runs (ask.Service.Ask:
rewriting a follow-up, retrieval as a caller who sees the whole corpus, the refusal on weak
evidence, the answerer DOCENT_GENERATOR names — the extractive one by default — and the
validation), on a set of questions with gold answers:

  --dataset DIR   ClapNQ (questions.jsonl, corpus.jsonl) or MTRAG (tasks.jsonl, corpus.jsonl)
  --pairs FILE    question/answer pairs (JSON Lines; docs/retrieval.md has the schema) asked
                  over --corpus, a JSON Lines corpus or a folder of documents
  --faq FILE      a Markdown FAQ inside the folder --corpus: each question heading is asked,
                  its first paragraph is the gold answer

Reported: word-overlap F1, precision and recall with the gold answer (SQuAD's normalisation),
the share of answers citing a gold source, the share of answer sentences the validation
found supported, the share of answerable questions answered and of unanswerable ones
refused; for conversations, all of it with the history and without. JSON with --json (a
summary goes to standard error), else a table.`)
	var src sourceFlags
	src.register(fs, "ClapNQ or MTRAG dataset directory")
	limit := fs.Int("limit", 0, "evaluate only the first N selected cases, in file order (0: all)")
	casesOut := fs.String("cases", "", "also write each case's outcome to this file (JSON Lines)")
	asJSON := fs.Bool("json", false, "print the report as JSON (and a summary on standard error)")
	minCoverage := fs.Float64("min-coverage", 0, "the extractive answerer's MinCoverage, in (0, 1]: it refuses when no sentence matches this share of the question (0: its default, "+
		strconv.FormatFloat(answer.DefaultMinCoverage, 'g', -1, 64)+")")
	var rf retrievalFlags
	rf.registerTuning(fs)
	var ff foldFlags
	ff.register(fs)
	if code := parse(fs, args, e); code >= 0 {
		return code
	}
	c := command{name: "answers", e: e}
	return c.exit(c.answers(ctx, src, answersOptions{limit: *limit, casesOut: *casesOut, asJSON: *asJSON, minCoverage: *minCoverage}, rf, ff))
}

// answersOptions are the flags of `eval answers` that are not a source, retrieval's or the
// folds'.
type answersOptions struct {
	limit       int
	casesOut    string
	asJSON      bool
	minCoverage float64 // 0: the answerer's default
}

// answers runs `eval answers` on parsed flags.
func (c command) answers(ctx context.Context, src sourceFlags, opts answersOptions, rf retrievalFlags, ff foldFlags) error {
	limit, casesOut, asJSON := opts.limit, opts.casesOut, opts.asJSON
	if err := src.check(); err != nil {
		return err
	}
	if limit < 0 {
		return usagef("--limit %d: must not be negative", limit)
	}
	if !(opts.minCoverage >= 0 && opts.minCoverage <= 1) {
		return usagef("--min-coverage %g: must be within (0, 1], or 0 for the default", opts.minCoverage)
	}
	sel, err := ff.parse()
	if err != nil {
		return usage(err)
	}
	set, name, err := loadAnswerSet(src.dir, src.pairs, src.faq, src.corpus)
	if err != nil {
		return usage(err)
	}
	cases := selectCases(set.Cases, sel, limit)
	if len(cases) == 0 {
		return usagef("no case is selected")
	}
	threshold, err := minEvidence(c.e.getenv)
	if err != nil {
		return usage(err)
	}
	timeout, err := time.ParseDuration(config.Lookup(c.e.getenv, config.LLMTimeout))
	if err != nil {
		return usagef("%s: %q is not a duration such as 30s", config.LLMTimeout, config.Lookup(c.e.getenv, config.LLMTimeout))
	}
	policy, err := cmdconfig.ValidationPolicy(c.e.getenv)
	if err != nil {
		return usage(err)
	}
	gen, err := cmdconfig.Generator(config.Lookup(c.e.getenv, config.Generator), timeout, c.e.getenv)
	if err != nil {
		return usage(err)
	}
	var out *os.File
	if casesOut != "" {
		if out, err = os.Create(casesOut); err != nil {
			return usage(err)
		}
		defer out.Close()
	}
	rt, err := c.newRetrieval(ctx, rf)
	if err != nil {
		return err
	}
	ds, r, err := c.open(ctx, rt, set.Corpus)
	if err != nil {
		return err
	}
	defer ds.pool.Close()
	// The server's answerer and use case: no answer cache (every case is asked afresh), no
	// stored conversations (a conversation's history comes with its question).
	minCoverage := cmp.Or(opts.minCoverage, answer.DefaultMinCoverage)
	answerer, err := answer.New(answer.Config{Policy: policy, Extractive: answer.ExtractiveConfig{MinCoverage: minCoverage}}, gen, rt.logger)
	if err != nil {
		return err
	}
	svc, err := ask.New(ask.Config{MinEvidence: threshold}, r, answerer, nil, nil)
	if err != nil {
		return err
	}
	rep := answersReport{Dataset: name, Kind: set.Kind, Generator: answerer.Model(), Rerank: cmp.Or(rt.rrName, "none"),
		MinEvidence: threshold, MinCoverage: minCoverage, MaxSources: maxSources, Folds: sel.N, Fold: sel.Folds(), Limit: limit, Cases: len(cases)}
	variants := []string{"none"}
	total := len(cases)
	if set.Conversational() {
		variants = []string{"with", "without"}
		total += countFollowUps(cases)
	}
	asker := &caseAsker{svc: svc, progress: c.progress("questions", total)}
	var withHistory []caseOutcome
	for _, v := range variants {
		outcomes := make([]caseOutcome, 0, len(cases))
		for i := range cases {
			cs := &cases[i]
			if v == "without" && len(cs.History) == 0 {
				// The same question as with its (empty) history: asked once.
				outcomes = append(outcomes, withHistory[i])
				continue
			}
			o, err := asker.ask(ctx, cs, v != "without")
			if ctx.Err() != nil {
				asker.progress.end()
				return errInterrupted
			}
			if err != nil && asker.firstError == nil {
				asker.firstError = fmt.Errorf("case %s: %w", cs.ID, err)
			}
			co := caseOutcome{AnswerOutcome: o, fold: -1, err: err}
			if sel.N > 1 {
				co.fold = eval.Fold(cs.FoldKey, sel.N)
			}
			outcomes = append(outcomes, co)
			if out != nil {
				if err := writeCase(out, v, co); err != nil {
					return err
				}
			}
		}
		if v == "with" {
			withHistory = outcomes
		}
		rep.Runs = append(rep.Runs, measureRun(v, outcomes, sel))
	}
	asker.progress.end()
	if asker.firstError != nil {
		c.say("%d questions failed (left out of the measures); the first: %v", asker.failed, asker.firstError)
	}
	if asJSON {
		if err := printJSON(c.e.stdout, rep); err != nil {
			return err
		}
		rep.summary(c.e.stderr)
	} else if err := rep.table(c.e.stdout); err != nil {
		return err
	}
	if out != nil {
		if err := out.Close(); err != nil {
			return err
		}
	}
	return nil
}

// loadAnswerSet reads the set the flags name, and its name for the report.
func loadAnswerSet(dir, pairs, faq, corpus string) (*eval.AnswerSet, string, error) {
	switch {
	case pairs != "":
		set, err := eval.LoadPairs(pairs, corpus)
		return set, strings.TrimSuffix(filepath.Base(pairs), filepath.Ext(pairs)), err
	case faq != "":
		set, err := eval.LoadFAQ(faq, corpus)
		return set, strings.TrimSuffix(filepath.Base(faq), filepath.Ext(faq)), err
	}
	if _, err := os.Stat(filepath.Join(dir, "tasks.jsonl")); err == nil {
		set, err := eval.LoadMTRAG(dir)
		return set, datasetName(dir), err
	}
	if _, err := os.Stat(filepath.Join(dir, "questions.jsonl")); err == nil {
		set, err := eval.LoadClapNQAnswers(dir)
		return set, datasetName(dir), err
	}
	return nil, "", fmt.Errorf("%s has neither tasks.jsonl (MTRAG) nor questions.jsonl (ClapNQ)", dir)
}

// selectCases returns the cases of the selected folds, the first limit of them (0: all).
func selectCases(cases []eval.AnswerCase, sel eval.FoldSelection, limit int) []eval.AnswerCase {
	var out []eval.AnswerCase
	for _, c := range cases {
		if sel.Selects(c.FoldKey) {
			out = append(out, c)
		}
	}
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out
}

func countFollowUps(cases []eval.AnswerCase) int {
	n := 0
	for _, c := range cases {
		if len(c.History) > 0 {
			n++
		}
	}
	return n
}

// caseOutcome is a case's outcome in one run, with its fold (-1 without folds) and the
// error that made it fail.
type caseOutcome struct {
	eval.AnswerOutcome
	fold int
	err  error
}

// caseAsker asks the cases as one anonymous caller who sees the whole corpus (public).
type caseAsker struct {
	svc        *ask.Service
	progress   *progress
	failed     int
	firstError error
}

var evalCaller = ask.NewCaller(auth.Principal{Kind: auth.KindAnonymous, Principals: []string{"public"}})

// ask asks c through the use case, with its history or without, and returns the outcome.
func (a *caseAsker) ask(ctx context.Context, c *eval.AnswerCase, withHistory bool) (eval.AnswerOutcome, error) {
	defer a.progress.step()
	q := ask.Question{Text: c.Question, MaxSources: maxSources}
	if withHistory {
		q.History = turns(c.History)
	}
	o := eval.AnswerOutcome{Case: c}
	tr := ask.NewTrace("eval", evalCaller, c.Question)
	start := time.Now()
	res, err := a.svc.Ask(ctx, q, evalCaller, tr, nil)
	o.LatencyMS = float64(time.Since(start).Microseconds()) / 1000
	if err != nil {
		a.failed++
		o.Refused = true
		return o, err
	}
	o.Refused, o.Answer, o.Grounded = res.Refused, res.Text, res.Grounded
	for _, ct := range res.Citations {
		o.Cited = append(o.Cited, eval.JudgmentID(ct.URI), ct.URI)
	}
	for _, s := range res.Sources {
		o.Given = append(o.Given, eval.JudgmentID(s.URI), s.URI)
	}
	for _, s := range res.Sentences {
		if s.Claim {
			o.Claims++
			if s.Supported {
				o.Supported++
			}
		}
	}
	return o, nil
}

// measureRun computes a run's measures: overall, per fold and per group, without the
// cases that failed.
func measureRun(history string, outcomes []caseOutcome, sel eval.FoldSelection) answersRun {
	run := answersRun{History: history}
	var ok []eval.AnswerOutcome
	byFold := map[int][]eval.AnswerOutcome{}
	byGroup := map[string][]eval.AnswerOutcome{}
	for _, o := range outcomes {
		if o.err != nil {
			run.Failed++
			continue
		}
		ok = append(ok, o.AnswerOutcome)
		byFold[o.fold] = append(byFold[o.fold], o.AnswerOutcome)
		for _, g := range o.Case.Groups {
			byGroup[g] = append(byGroup[g], o.AnswerOutcome)
		}
	}
	run.Overall = eval.MeasureAnswers(ok)
	for _, k := range sel.Folds() {
		run.PerFold = append(run.PerFold, foldMeasures{Fold: k, AnswerMeasures: eval.MeasureAnswers(byFold[k])})
	}
	groups := make([]string, 0, len(byGroup))
	for g := range byGroup {
		groups = append(groups, g)
	}
	slices.Sort(groups)
	for _, g := range groups {
		run.Groups = append(run.Groups, groupMeasures{Group: g, AnswerMeasures: eval.MeasureAnswers(byGroup[g])})
	}
	return run
}

// caseLine is one line of --cases.
type caseLine struct {
	Run           string             `json:"run"`
	ID            string             `json:"id"`
	Fold          *int               `json:"fold,omitempty"`
	Answerability eval.Answerability `json:"answerability"`
	Question      string             `json:"question"`
	Answer        string             `json:"answer"`
	Refused       bool               `json:"refused"`
	Overlap       *eval.Overlap      `json:"overlap,omitempty"`
	GoldCited     *bool              `json:"gold_cited,omitempty"`
	GoldGiven     *bool              `json:"gold_in_sources,omitempty"`
	// Sources and Cited are the documents the answerer was given, in retrieval's order, and
	// those the answer cites (judgment ids: a JSON Lines record id or a document's URI);
	// Sources is empty when the evidence strength refused before the answerer ran.
	Sources   []string `json:"sources,omitempty"`
	Cited     []string `json:"cited,omitempty"`
	Claims    int      `json:"claims"`
	Supported int      `json:"supported"`
	Error     string   `json:"error,omitempty"`
}

func writeCase(w io.Writer, run string, o caseOutcome) error {
	l := caseLine{Run: run, ID: o.Case.ID, Answerability: o.Case.Answerability, Question: o.Case.Question, Answer: o.Answer,
		Refused: o.Refused, Claims: o.Claims, Supported: o.Supported, Sources: firstOfPairs(o.Given), Cited: firstOfPairs(o.Cited)}
	if o.fold >= 0 {
		l.Fold = &o.fold
	}
	if len(o.Case.Answers) > 0 && o.err == nil {
		ov := eval.Overlap{}
		if !o.Refused {
			ov = eval.BestOverlap(o.Answer, o.Case.Answers)
		}
		l.Overlap = &ov
	}
	if o.Case.Answerability == eval.Answerable && len(o.Case.GoldSources) > 0 && o.err == nil {
		cited, given := o.GoldCited(), o.GoldGiven()
		l.GoldCited, l.GoldGiven = &cited, &given
	}
	if o.err != nil {
		l.Error = o.err.Error()
	}
	b, err := json.Marshal(l)
	if err != nil {
		return err
	}
	if _, err := w.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("write --cases: %w", err)
	}
	return nil
}

// firstOfPairs returns the judgment ids of AnswerOutcome.Given or Cited, which hold each
// document as its judgment id and its URI.
func firstOfPairs(ids []string) []string {
	var out []string
	for i := 0; i+1 < len(ids); i += 2 {
		out = append(out, ids[i])
	}
	return out
}

// summary writes a few lines on the measures that matter most.
func (rep *answersReport) summary(w io.Writer) {
	for _, run := range rep.Runs {
		m := run.Overall
		label := rep.Dataset
		if run.History != "none" {
			label += ", " + run.History + " history"
		}
		fmt.Fprintf(w, "%s: %d cases (%d answerable, %d unanswerable): F1 %s (P %s, R %s), gold cited %s, sentences supported %s, answerable answered %s, unanswerable refused %s\n",
			label, m.Cases, m.Answerable, m.Unanswerable, fmtShare(m.F1), fmtShare(m.Precision), fmtShare(m.Recall),
			fmtShare(m.GoldCited), fmtShare(m.SentenceSupport), fmtShare(m.AnswerableAnswered), fmtShare(m.UnanswerableRefused))
	}
}

// table writes the report as a table: one row per run and slice (overall, each fold, each
// group).
func (rep *answersReport) table(w io.Writer) error {
	fmt.Fprintf(w, "%s (%s), answers by %s, rerank %s, refusing below strength %.2f or extractive coverage %.2f, %d sources at most\n",
		rep.Dataset, rep.Kind, rep.Generator, rep.Rerank, rep.MinEvidence, rep.MinCoverage, rep.MaxSources)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "history\tslice\tcases\tF1\tprecision\trecall\tF1 answered\tgold cited\tgold in sources\tsupported\tanswerable answered\tunanswerable refused\tp50 ms\tfailed\t\n")
	for _, run := range rep.Runs {
		row := func(slice string, m eval.AnswerMeasures, failed string) {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.1f\t%s\t\n", run.History, slice, m.Cases,
				fmtShare(m.F1), fmtShare(m.Precision), fmtShare(m.Recall), fmtShare(m.F1Answered), fmtShare(m.GoldCited),
				fmtShare(m.GoldGiven), fmtShare(m.SentenceSupport), fmtShare(m.AnswerableAnswered), fmtShare(m.UnanswerableRefused),
				m.Latency.P50, failed)
		}
		row("all", run.Overall, fmt.Sprint(run.Failed))
		for _, f := range run.PerFold {
			row(fmt.Sprintf("fold %d", f.Fold), f.AnswerMeasures, "")
		}
		for _, g := range run.Groups {
			row(g.Group, g.AnswerMeasures, "")
		}
	}
	return tw.Flush()
}

func fmtShare(v *float64) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprintf("%.3f", *v)
}
