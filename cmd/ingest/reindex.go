package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/docent-rag/docent/cmd/internal/cmdconfig"
	"github.com/docent-rag/docent/internal/chunk"
	"github.com/docent-rag/docent/internal/config"
	"github.com/docent-rag/docent/internal/embed"
	"github.com/docent-rag/docent/internal/index"
	"github.com/docent-rag/docent/internal/reindex"
)

// Exit codes of reindex and activate beyond the common ones.
const exitGateRefused = 4 // the evaluation gate refused the new generation

// gateFlags are the evaluation gate's flags, shared by reindex and activate.
type gateFlags struct {
	dataset   *string
	split     *string
	tolerance *float64
	force     *bool
}

func registerGate(fs *flag.FlagSet, e env) gateFlags {
	return gateFlags{
		dataset:   fs.String("eval", e.getenv(config.ReindexEval), "evaluation gate: a folder of your queries and judgments in the BEIR layout (queries.jsonl, qrels/SPLIT.tsv) (default: env "+config.ReindexEval+")"),
		split:     fs.String("split", "test", "qrels split of the gate's dataset"),
		tolerance: fs.Float64("tolerance", 0.01, "largest drop of nDCG@10 (hybrid or dense) the gate accepts"),
		force:     fs.Bool("force", false, "activate without the evaluation gate"),
	}
}

func (g gateFlags) gate() *reindex.Gate {
	if *g.dataset == "" {
		return nil
	}
	return &reindex.Gate{Dir: *g.dataset, Split: *g.split, Tolerance: *g.tolerance}
}

func runReindex(ctx context.Context, args []string, e env) int {
	fs, dbURL := newFlagSet("reindex", "[flags]", `Build a new index generation beside the active one from the stored chunks (no re-parsing),
with another embedding model or dimension, build its vector index, compare it with the
active one on the evaluation gate's queries, and activate it atomically. Servers keep
answering throughout and switch within seconds; ingest runs may go on (their new chunks are
embedded for the new generation before the cutover).

Resumable: after an interruption, the same command continues where it stopped. Without
--embedder, the active generation's embedder is used (e.g. to rebuild with other HNSW
settings, or with this version's defaults). --dry-run says what would be built.

Exit status: 0 activated (or dry run), 4 the gate refused the new generation (it stays
built: `+"`ingest activate ID --force`"+` activates it), 75 another reindex or activation is
running, 130 interrupted (run again to resume), 2 usage error, 1 fatal error.`)
	embedder := fs.String("embedder", "", "embedding model of the new generation: builtin, openai:<model> or ollama:<model> (default: the active generation's)")
	dimension := fs.Int("dimension", 0, "vector dimension of the new generation (default: the built-in default, or the model's)")
	hnswM := fs.Int("hnsw-m", index.DefaultHNSWM, "HNSW links per node of the new generation")
	hnswEf := fs.Int("hnsw-ef-construction", index.DefaultHNSWEfConstruction, "HNSW build candidate list of the new generation (at least twice --hnsw-m)")
	rechunk := fs.Bool("rechunk", false, "read the sources' documents again and split them with the chunking settings of "+config.ChunkTarget+" and "+config.ChunkMax+" (or the flags below) into a new chunking")
	target := fs.Int("chunk-target-tokens", 0, "with --rechunk: chunk size to aim at (default: env "+config.ChunkTarget+")")
	maxTokens := fs.Int("chunk-max-tokens", 0, "with --rechunk: largest chunk (default: env "+config.ChunkMax+")")
	batch := fs.Int("batch-size", 256, "chunks embedded and written per transaction")
	dryRun := fs.Bool("dry-run", false, "report what would be built and change nothing")
	asJSON := fs.Bool("json", false, "print the result as JSON on stdout")
	gf := registerGate(fs, e)
	if code := parse(fs, args, false, e); code >= 0 {
		return code
	}
	// --dimension is the embedder's, and --tolerance without --eval reaches no Config: the
	// rest is reindex.Config's to check.
	if *dimension < 0 || *gf.tolerance < 0 {
		fmt.Fprintf(e.stderr, "ingest reindex: %s\n", batchMessage)
		return exitUsage
	}
	var rc *reindex.Rechunk
	switch {
	case *rechunk:
		envTarget, envMax, err := config.ChunkConfig(e.getenv)
		if err != nil {
			fmt.Fprintf(e.stderr, "ingest reindex: %s\n", printableLines(err.Error()))
			return exitUsage
		}
		rc = &reindex.Rechunk{Chunking: chunk.Config{TargetTokens: cmp.Or(*target, envTarget), MaxTokens: cmp.Or(*maxTokens, envMax)},
			TextSearchConfig: e.getenv(config.TextSearch)}
	case *target != 0 || *maxTokens != 0:
		fmt.Fprintln(e.stderr, "ingest reindex: --chunk-target-tokens and --chunk-max-tokens need --rechunk")
		return exitUsage
	}
	cfg := reindex.Config{HNSWM: given(*hnswM), HNSWEfConstruction: given(*hnswEf), BatchSize: given(*batch), Rechunk: rc,
		Gate: gf.gate(), Force: *gf.force, DryRun: *dryRun, Args: append([]string{"ingest", "reindex"}, args...)}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(e.stderr, "ingest reindex: %s\n", flagError(err))
		return exitUsage
	}
	logger, err := config.NewLogger(e.getenv, e.stderr, e.stderrTerminal)
	if err != nil {
		fmt.Fprintf(e.stderr, "ingest reindex: %s\n", printableLines(err.Error()))
		return exitUsage
	}
	if cfg.Extract, err = extractConfig(e.getenv); err != nil {
		fmt.Fprintf(e.stderr, "ingest reindex: %v\n", err)
		return exitUsage
	}
	if cfg.TagIndexes, err = tagIndexes(e.getenv); err != nil {
		fmt.Fprintf(e.stderr, "ingest reindex: %v\n", err)
		return exitUsage
	}
	pool, code := openChecked(ctx, "reindex", *dbURL, e)
	if pool == nil {
		return code
	}
	defer pool.Close()

	spec, err := reindexSpec(ctx, pool, *embedder, *dimension)
	if err != nil {
		fmt.Fprintf(e.stderr, "ingest reindex: %s\n", printableLines(err.Error()))
		return exitUsage
	}
	if cfg.Embedder, err = embed.Open(ctx, spec, cmdconfig.Providers(e.getenv)); err != nil {
		fmt.Fprintf(e.stderr, "ingest reindex: %s\n", printableLines(err.Error()))
		return exitUsage
	}
	cfg.Embedders = cmdconfig.GenerationEmbedders(e.getenv)
	progress := newReindexProgress(e, logger)
	cfg.Progress = progress.update
	res, err := reindex.Run(ctx, pool, cfg, logger)
	progress.done()
	return reportReindex(ctx, "reindex", res, err, *asJSON, e)
}

func runActivate(ctx context.Context, args []string, e env) int {
	fs, dbURL := newFlagSet("activate", "[flags] ID", `Make generation ID the active one: roll back to a retired generation or forward to a built
one. Chunks written since it was last active are embedded for it first (with its own
embedder), the evaluation gate compares it with the active one unless --force, and the
switch is atomic; servers follow within seconds.`)
	asJSON := fs.Bool("json", false, "print the result as JSON on stdout")
	gf := registerGate(fs, e)
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		// `ingest activate 3 --force`: the id first, flags after (the flag package stops at
		// the first argument that is not a flag).
		args = append(slices.Clone(args[1:]), args[0])
	}
	if code := parse(fs, args, true, e); code >= 0 {
		return code
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(e.stderr, "ingest activate: give one generation id (see `ingest generations`)")
		return exitUsage
	}
	id, err := strconv.Atoi(fs.Arg(0))
	if err != nil || id < 1 {
		fmt.Fprintf(e.stderr, "ingest activate: %q is not a generation id\n", fs.Arg(0))
		return exitUsage
	}
	cfg := reindex.Config{Gate: gf.gate(), Force: *gf.force}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(e.stderr, "ingest activate: %s\n", flagError(err))
		return exitUsage
	}
	logger, err := config.NewLogger(e.getenv, e.stderr, e.stderrTerminal)
	if err != nil {
		fmt.Fprintf(e.stderr, "ingest activate: %s\n", printableLines(err.Error()))
		return exitUsage
	}
	if cfg.Extract, err = extractConfig(e.getenv); err != nil {
		fmt.Fprintf(e.stderr, "ingest activate: %v\n", err)
		return exitUsage
	}
	if cfg.TagIndexes, err = tagIndexes(e.getenv); err != nil {
		fmt.Fprintf(e.stderr, "ingest activate: %v\n", err)
		return exitUsage
	}
	pool, code := openChecked(ctx, "activate", *dbURL, e)
	if pool == nil {
		return code
	}
	defer pool.Close()
	if _, err := index.GetGeneration(ctx, pool, id); errors.Is(err, index.ErrNotFound) {
		fmt.Fprintf(e.stderr, "ingest activate: there is no generation %d (see `ingest generations`)\n", id)
		return exitUsage
	}
	cfg.Embedders = cmdconfig.GenerationEmbedders(e.getenv)
	res, err := reindex.Activate(ctx, pool, id, cfg, logger)
	return reportReindex(ctx, "activate", res, err, *asJSON, e)
}

// batchMessage is what a negative --dimension or --tolerance, or a --batch-size below 1, is
// told.
const batchMessage = "--dimension and --tolerance cannot be negative, --batch-size must be at least 1"

// given is a flag's value for a reindex.Config field, where zero means the default. On the
// command line, where the defaults are printed, a 0 is a value like any other, and out of
// range: it becomes -1, which Validate refuses.
func given(n int) int {
	if n == 0 {
		return -1
	}
	return n
}

// flagError words a reindex.Config error with the flags that set the field.
func flagError(err error) string {
	var ce *reindex.ConfigError
	if errors.As(err, &ce) {
		switch ce.Field {
		case "BatchSize":
			return batchMessage
		case "Gate.Tolerance":
			return "--tolerance cannot be negative"
		case "HNSWM", "HNSWEfConstruction":
			return fmt.Sprintf("--hnsw-m must be between %d and %d, --hnsw-ef-construction between twice --hnsw-m and %d",
				reindex.MinHNSWM, reindex.MaxHNSWM, reindex.MaxHNSWEfConstruction)
		case "Rechunk.Chunking":
			return printableLines(ce.Err.Error())
		}
	}
	return printableLines(err.Error())
}

// reportReindex prints a reindex's or activation's result and returns the exit code.
func reportReindex(ctx context.Context, cmd string, res *reindex.Result, err error, asJSON bool, e env) int {
	if res != nil {
		if asJSON {
			out := struct {
				*reindex.Result
				Generation   int     `json:"generation"`
				Embedder     string  `json:"embedder"`
				Dimension    int     `json:"dimension"`
				EmbedSeconds float64 `json:"embed_seconds"`
				IndexSeconds float64 `json:"index_build_seconds"`
				Error        string  `json:"error,omitempty"`
			}{Result: res, Generation: res.Generation.ID, Embedder: res.Generation.Embedder + ":" + res.Generation.Model,
				Dimension: res.Generation.Dimension, EmbedSeconds: res.EmbedTime.Seconds(), IndexSeconds: res.IndexBuild.Seconds()}
			if err != nil {
				out.Error = err.Error()
			}
			enc := json.NewEncoder(e.stdout)
			enc.SetIndent("", "  ")
			_ = enc.Encode(out)
		} else {
			printReindex(cmd, res, e)
		}
	}
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, index.ErrLocked):
		fmt.Fprintf(e.stderr, "ingest %s: %s\n", cmd, printableLines(err.Error()))
		return exitLocked
	case ctx.Err() != nil:
		fmt.Fprintf(e.stderr, "ingest %s: interrupted; run it again to continue where it stopped\n", cmd)
		return exitInterrupted
	case errors.Is(err, reindex.ErrGateRefused):
		fmt.Fprintf(e.stderr, "ingest %s: %s\n(the generation stays built; `ingest activate %d --force` activates it anyway)\n", cmd, printableLines(err.Error()), res.Generation.ID)
		return exitGateRefused
	case errors.Is(err, reindex.ErrNothingToReindex):
		fmt.Fprintf(e.stderr, "ingest %s: %s\n", cmd, printableLines(err.Error()))
		return exitUsage
	}
	fmt.Fprintf(e.stderr, "ingest %s: %s\n", cmd, printableLines(err.Error()))
	return exitFatal
}

func printReindex(cmd string, res *reindex.Result, e env) {
	g := res.Generation
	what := fmt.Sprintf("generation %d (%s:%s, %d dimensions, HNSW m=%d ef_construction=%d)", g.ID, g.Embedder, g.Model, g.Dimension, g.HNSWM, g.HNSWEfConstruction)
	if res.DryRun {
		if g.ID == 0 {
			what = fmt.Sprintf("a new generation (%s:%s, %d dimensions, HNSW m=%d ef_construction=%d)", g.Embedder, g.Model, g.Dimension, g.HNSWM, g.HNSWEfConstruction)
		}
		if res.Rechunk != nil {
			fmt.Fprintf(e.stdout, "dry run: would build %s by reading the documents of %d sources again with the new chunking settings, beside the active generation %d\n", what, res.Rechunk.Sources, res.Previous)
			return
		}
		fmt.Fprintf(e.stdout, "dry run: would build %s from %d stored chunks, beside the active generation %d\n", what, res.Chunks, res.Previous)
		return
	}
	if cmd == "reindex" {
		verb := "built"
		if res.Resumed {
			verb = "resumed and built"
		}
		if rc := res.Rechunk; rc != nil {
			fmt.Fprintf(e.stdout, "re-chunked %d documents of %d sources into %d chunks (%d failed; `ingest status` lists them)\n", rc.Documents, rc.Sources, rc.Chunks, rc.Failed)
		}
		fmt.Fprintf(e.stdout, "%s %s: %d chunks, %d embedded by this run in %s", verb, what, res.Chunks, res.Embedded, res.EmbedTime.Round(time.Millisecond))
		if res.EmbedTime > 0 && res.Embedded > 0 {
			fmt.Fprintf(e.stdout, " (%.0f/s)", float64(res.Embedded)/res.EmbedTime.Seconds())
		}
		fmt.Fprintf(e.stdout, "; vector index built in %s\n", res.IndexBuild.Round(time.Millisecond))
	}
	if res.Gate != nil {
		fmt.Fprintf(e.stdout, "evaluation gate %s\n", res.Gate.Summary())
	}
	if res.GateForced {
		fmt.Fprintln(e.stdout, "evaluation gate skipped (--force)")
	}
	if res.Activated {
		fmt.Fprintf(e.stdout, "activated generation %d (was %d); %d chunks caught up at the cutover; servers switch within seconds\n", g.ID, res.Previous, res.CaughtUp)
	} else if cmd == "activate" && g.Status == index.StatusActive {
		fmt.Fprintf(e.stdout, "generation %d is already active\n", g.ID)
	}
}

// reindexSpec is the new generation's embedder: the flags, else the active generation's.
func reindexSpec(ctx context.Context, pool *pgxpool.Pool, embedder string, dim int) (embed.Spec, error) {
	if embedder != "" {
		return embed.ParseSpec(embedder, dim)
	}
	active, err := index.ActiveGeneration(ctx, pool)
	if errors.Is(err, index.ErrNotFound) {
		return embed.Spec{}, reindex.ErrNothingToReindex
	}
	if err != nil {
		return embed.Spec{}, err
	}
	spec := embed.Spec{Kind: active.Embedder, Model: active.Model, Dimension: active.Dimension}
	if spec.Kind == "builtin" {
		spec.Model = "" // whatever this binary's built-in model is
	}
	if dim != 0 {
		spec.Dimension = dim
	}
	return spec, nil
}

// openChecked opens the database and checks its schema; on failure it prints why and
// returns a nil pool with the exit code.
func openChecked(ctx context.Context, cmd, dbURL string, e env) (*pgxpool.Pool, int) {
	pool, err := index.Open(ctx, databaseURL(dbURL, e))
	if err != nil {
		fmt.Fprintf(e.stderr, "ingest %s: %s\n", cmd, printableLines(err.Error()))
		return nil, exitFatal
	}
	if err := index.CheckSchema(ctx, pool); err != nil {
		pool.Close()
		fmt.Fprintf(e.stderr, "ingest %s: %s\n", cmd, printableLines(err.Error()))
		return nil, exitFatal
	}
	return pool, exitOK
}

// reindexProgress shows a reindex's progress like an ingest run's: a bar on a terminal,
// a log line every logEvery otherwise.
type reindexProgress struct {
	e      env
	logger *slog.Logger
	mu     sync.Mutex
	last   time.Time
	phase  string
	drawn  bool
}

func newReindexProgress(e env, logger *slog.Logger) *reindexProgress {
	return &reindexProgress{e: e, logger: logger}
}

func (p *reindexProgress) update(s reindex.Progress) {
	p.mu.Lock()
	defer p.mu.Unlock()
	every := logEvery
	if p.e.stderrTerminal {
		every = drawEvery
	}
	if s.Phase == p.phase && time.Since(p.last) < every {
		return
	}
	p.phase, p.last = s.Phase, time.Now()
	if s.Phase == "rechunk" {
		if p.e.stderrTerminal {
			fmt.Fprintf(p.e.stderr, "\rgeneration %d: re-chunking %s: %d/%d files, %d chunks\x1b[K", s.Building, s.Source, s.Done, s.Total, s.Written)
			p.drawn = true
			return
		}
		p.logger.Info("progress", "phase", s.Phase, "generation", s.Building, "source", s.Source, "files", s.Done, "files_total", s.Total,
			"chunks_written", s.Written, "elapsed_s", int(s.Elapsed.Seconds()))
		return
	}
	if s.Phase != "embed" {
		if p.drawn {
			fmt.Fprintln(p.e.stderr)
			p.drawn = false
		}
		p.logger.Info("reindex", "phase", s.Phase, "generation", s.Building)
		return
	}
	if p.e.stderrTerminal {
		frac := 1.0
		if s.Total > 0 {
			frac = float64(s.Done) / float64(s.Total)
		}
		fmt.Fprintf(p.e.stderr, "\rgeneration %d: %d/%d chunks embedded %3.0f%%  %.0f/s  ETA %s\x1b[K",
			s.Building, s.Done, s.Total, frac*100, s.PerSec, s.ETA.Round(time.Second))
		p.drawn = true
		return
	}
	p.logger.Info("progress", "phase", s.Phase, "generation", s.Building, "chunks_embedded", s.Done, "chunks_total", s.Total,
		"per_second", int(s.PerSec), "elapsed_s", int(s.Elapsed.Seconds()), "eta_s", int(s.ETA.Seconds()))
}

func (p *reindexProgress) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.drawn {
		fmt.Fprintln(p.e.stderr)
		p.drawn = false
	}
}
