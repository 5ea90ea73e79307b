package main

// What the commands that ask (beir, qa, answers) share: their messages and exit statuses,
// the flags that name a set, the retrieval they build as the server does (logger, reranker,
// embedder, the ingested dataset, the retriever), the loop that asks each query, the
// progress line and the --json output.

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"

	"github.com/docent-rag/docent/cmd/internal/cmdconfig"
	"github.com/docent-rag/docent/internal/answer"
	"github.com/docent-rag/docent/internal/config"
	"github.com/docent-rag/docent/internal/eval"
	"github.com/docent-rag/docent/internal/retrieve"
)

// command is an evaluation command as it runs: its name begins each of its messages.
type command struct {
	name string
	e    env
}

// usageError is an error the command line or the settings cause: exit status 2.
type usageError struct{ err error }

func (u usageError) Error() string { return u.err.Error() }
func (u usageError) Unwrap() error { return u.err }

// usage marks err as the caller's (exit status 2); nil stays nil.
func usage(err error) error {
	if err == nil {
		return nil
	}
	return usageError{err}
}

// usagef is usage of a new error.
func usagef(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

// errInterrupted ends a run on SIGINT or SIGTERM.
var errInterrupted = errors.New("interrupted")

// partialError: the report is complete, but some queries failed (exit status 3).
type partialError struct{ failed, total int }

func (p partialError) Error() string {
	return fmt.Sprintf("%d of %d queries failed and count as finding nothing", p.failed, p.total)
}

// partial is the error of a complete report in which some of total queries failed: nil
// when none did.
func partial(f eval.QueryFailures, total int) error {
	if f.Failed == 0 {
		return nil
	}
	return partialError{failed: f.Failed, total: total}
}

// exit prints err, unless it is nil, and returns the exit status it calls for: 2 for a
// usage error, 3 for a complete report with failed queries, else 1.
func (c command) exit(err error) int {
	if err == nil {
		return exitOK
	}
	c.say("%v", err)
	switch {
	case errors.As(err, new(usageError)):
		return exitUsage
	case errors.As(err, new(partialError)):
		return exitPartial
	}
	return exitFatal
}

// say prints a line of the command's on standard error.
func (c command) say(format string, a ...any) {
	fmt.Fprintf(c.e.stderr, "eval %s: %s\n", c.name, fmt.Sprintf(format, a...))
}

// sourceFlags name the set a command evaluates: a dataset directory, or question/answer
// pairs or a Markdown FAQ over a corpus (loadAnswerSet reads them).
type sourceFlags struct {
	dir, pairs, faq, corpus string
}

// register registers --dataset (described by datasetUsage), --pairs, --faq and --corpus.
func (f *sourceFlags) register(fs *flag.FlagSet, datasetUsage string) {
	fs.StringVar(&f.dir, "dataset", "", datasetUsage)
	fs.StringVar(&f.pairs, "pairs", "", "instead of --dataset: question/answer pairs (JSON Lines; docs/retrieval.md has the schema) over --corpus")
	fs.StringVar(&f.faq, "faq", "", "instead of --dataset: a Markdown FAQ inside the folder --corpus")
	fs.StringVar(&f.corpus, "corpus", "", "with --pairs or --faq: the corpus to ingest (a JSON Lines file or a folder)")
}

// check requires exactly one set, with --corpus exactly when it is not a dataset.
func (f sourceFlags) check() error {
	n := 0
	for _, s := range []string{f.dir, f.pairs, f.faq} {
		if s != "" {
			n++
		}
	}
	if n != 1 || (f.dir != "") == (f.corpus != "") {
		return usagef("give one of --dataset DIR, --pairs FILE --corpus PATH or --faq FILE --corpus DIR")
	}
	return nil
}

// retrievalFlagSet are the flags of the commands that retrieve without answering (beir,
// qa): the retrieval settings with the mode, the folds, the slices and --json.
type retrievalFlagSet struct {
	retrieval retrievalFlags
	folds     foldFlags
	slices    sliceFlags
	asJSON    bool
}

func (f *retrievalFlagSet) register(fs *flag.FlagSet) {
	fs.BoolVar(&f.asJSON, "json", false, "print the report as JSON")
	f.retrieval.register(fs)
	f.slices.register(fs)
	f.folds.register(fs)
}

// retrieval is what a command retrieves with, built as the server builds it.
type retrieval struct {
	flags  retrievalFlags
	logger *slog.Logger
	emb    retrieve.Embedder
	rr     retrieve.Reranker
	rrName string // empty: no reranker
}

// newRetrieval builds the logger, the reranker and the embedder the settings name. A bad
// setting is a usage error; an embedder that cannot be reached is not.
func (c command) newRetrieval(ctx context.Context, rf retrievalFlags) (*retrieval, error) {
	logger, err := config.NewLogger(c.e.getenv, c.e.stderr, c.e.terminal)
	if err != nil {
		return nil, usage(err)
	}
	rr, rrName, err := reranker(rf, c.e.getenv)
	if err != nil {
		return nil, usage(err)
	}
	emb, err := cmdconfig.Embedder(ctx, c.e.getenv)
	if err != nil {
		return nil, err
	}
	return &retrieval{flags: rf, logger: logger, emb: emb, rr: rr, rrName: rrName}, nil
}

// retriever returns a retriever on ds with the flags' settings and, when floor is positive,
// that BM25 IDF floor (retrieve.Config.MinIDFChunks).
func (r *retrieval) retriever(ds *dataset, floor int) (*retrieve.Retriever, error) {
	cfg := r.flags.config(retrieve.Config{})
	if floor > 0 {
		cfg.MinIDFChunks = floor
	}
	rt, err := retrieve.New(cfg, ds.pool, r.emb, r.rr, r.rrName, r.logger)
	return rt, usage(err)
}

// open ingests the corpus into its evaluation database (prepare) and returns the dataset,
// which the caller closes, and a retriever on it.
func (c command) open(ctx context.Context, r *retrieval, corpus string) (*dataset, *retrieve.Retriever, error) {
	ds, err := prepare(ctx, corpus, r.emb, c.e, slog.New(slog.DiscardHandler))
	if err != nil {
		return nil, nil, err
	}
	rt, err := r.retriever(ds, 0)
	if err != nil {
		ds.pool.Close()
		return nil, nil, err
	}
	return ds, rt, nil
}

// retrieveEach retrieves each query as a caller who sees the whole corpus, in order, and
// passes each result to done with the query's index. A query whose retrieval fails comes to
// done with its error (and a nil result) and the run goes on, so that one query cannot cost
// the run; done's own error, or an interruption, ends it.
func (c command) retrieveEach(ctx context.Context, r *retrieve.Retriever, mode retrieve.Mode, queries []string,
	done func(i int, res *retrieve.Result, err error) error) error {
	p := c.progress("queries", len(queries))
	defer p.end()
	for i, q := range queries {
		if ctx.Err() != nil {
			return errInterrupted
		}
		res, err := r.Retrieve(ctx, retrieve.Request{Query: q, Principals: []string{"public"}, Mode: mode})
		if err != nil && ctx.Err() != nil {
			return errInterrupted
		}
		if err := done(i, res, err); err != nil {
			return err
		}
		p.step()
	}
	return nil
}

// progress shows how far a run is: on a terminal in place, every ten steps; elsewhere a line
// at each tenth of the run, so that a log holds ten lines whatever the run's size.
type progress struct {
	c           command
	noun        string
	done, total int
}

func (c command) progress(noun string, total int) *progress {
	return &progress{c: c, noun: noun, total: total}
}

func (p *progress) step() {
	p.done++
	switch {
	case p.c.e.terminal && (p.done%10 == 0 || p.done == p.total):
		fmt.Fprintf(p.c.e.stderr, "\r%s %d/%d", p.noun, p.done, p.total)
	case !p.c.e.terminal && p.total >= 100 && p.done*10/p.total != (p.done-1)*10/p.total:
		p.c.say("%d/%d %s", p.done, p.total, p.noun)
	}
}

// end ends the line a terminal shows.
func (p *progress) end() {
	if p.c.e.terminal && p.done > 0 {
		fmt.Fprintln(p.c.e.stderr)
		p.done = 0
	}
}

// printJSON writes v as indented JSON: every command's --json.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// turns is a case's history as the answer path takes it.
func turns(history []eval.HistoryTurn) []answer.Turn {
	if len(history) == 0 {
		return nil
	}
	out := make([]answer.Turn, len(history))
	for i, h := range history {
		role := answer.RoleUser
		if h.Speaker == eval.SpeakerAssistant {
			role = answer.RoleAssistant
		}
		out[i] = answer.Turn{Role: role, Content: h.Text}
	}
	return out
}
