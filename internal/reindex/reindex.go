// Package reindex builds a new index generation beside the active one and cuts over to it
// without downtime: re-embedding the stored chunks with another model or dimension, building
// the vector index, checking with an evaluation gate that the new generation is not worse,
// and activating it atomically. Servers keep answering throughout; a request finishes on
// the generation it started with.
//
// A reindex is resumable: the building generation and the vectors already written persist,
// so running it again embeds only the chunks still missing. Chunks that ingestion writes or
// deletes meanwhile are handled by the rule in internal/index (LockGenerationWrites): the
// new generation has a vector for every chunk at cutover.
package reindex

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/user"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/docent-rag/docent/internal/chunk"
	"github.com/docent-rag/docent/internal/extract"
	"github.com/docent-rag/docent/internal/index"
	"github.com/docent-rag/docent/internal/retrieve"
)

// Config configures a reindex.
type Config struct {
	// Embedder embeds the chunks for the new generation (its kind, model and dimension
	// describe the generation). It is handed to ingest (rechunking) and to retrieve (the
	// evaluation gate), whose Embedder interfaces are the same.
	Embedder retrieve.Embedder
	// Embedders builds the embedder of an existing generation (the active one, for the
	// evaluation gate's baseline; a retired one, to catch up before a rollback), as
	// retrieve.Config.Embedders does.
	Embedders func(ctx context.Context, g index.Generation) (retrieve.Embedder, error)
	// HNSWM and HNSWEfConstruction are the new generation's HNSW build parameters; 0 takes
	// index.DefaultHNSWM and DefaultHNSWEfConstruction.
	HNSWM, HNSWEfConstruction int
	// TagIndexes chooses the large tags whose chunks get an HNSW graph of their own in the
	// new generation (index.BuildTagVectorIndexes); the zero value takes the defaults.
	TagIndexes index.TagIndexOptions
	// BatchSize is how many chunks are embedded and written per transaction; default 256.
	BatchSize int
	// Rechunk, when set, splits the documents again with new chunking settings (read from
	// the sources' recorded folders) instead of reusing the stored chunks.
	Rechunk *Rechunk
	// Gate, when set, compares the new generation with the active one before activating.
	Gate *Gate
	// Force activates without the gate (saying so in the result).
	Force bool
	// DryRun reports what a reindex would do and changes nothing.
	DryRun bool
	// Progress, when set, receives progress reports, one at a time.
	Progress func(Progress)
	// Args is the command line, recorded with the run.
	Args []string
	// Extract is the extraction budget of each file that a re-chunking pass reads again.
	Extract extract.Config
}

// Progress is a reindex's progress.
type Progress struct {
	Phase    string // rechunk, embed, index, gate, cutover
	Done     int64  // chunks with a vector in the new generation (rechunk: files read)
	Total    int64  // chunks of the chunking (rechunk: files of the source)
	Written  int64  // vectors written by this run (rechunk: chunks written)
	Source   string // rechunk: the source being read
	Elapsed  time.Duration
	PerSec   float64 // vectors written per second by this run
	ETA      time.Duration
	Building int // the generation being built
}

// Result says what a reindex did.
type Result struct {
	Generation index.Generation `json:"-"`
	Previous   int              `json:"previous_generation"` // the generation active before
	Resumed    bool             `json:"resumed"`
	DryRun     bool             `json:"dry_run"`
	Chunks     int64            `json:"chunks"`   // chunks of the chunking
	Embedded   int64            `json:"embedded"` // vectors written by this run
	EmbedTime  time.Duration    `json:"-"`
	IndexBuild time.Duration    `json:"-"`
	Gate       *GateResult      `json:"gate,omitempty"`
	GateForced bool             `json:"gate_skipped_by_force"`
	Activated  bool             `json:"activated"`
	CaughtUp   int64            `json:"caught_up_at_cutover"` // vectors written inside the cutover transaction
	Rechunk    *RechunkStats    `json:"rechunk,omitempty"`
}

// ErrGateRefused is returned when the evaluation gate finds the new generation worse than
// the active one by more than the tolerance. The generation stays built, not active.
var ErrGateRefused = errors.New("the evaluation gate refused the new generation")

// ErrNothingToReindex is returned on a database without an active generation.
var ErrNothingToReindex = errors.New("there is no active index generation to rebuild: ingest documents first (`ingest run`)")

// ConfigError says which field of a Config is out of range, so that a command can name the
// flag that set it.
type ConfigError struct {
	Field string // e.g. "HNSWM", "Gate.Tolerance", "Rechunk.Chunking"
	Err   error
}

func (e *ConfigError) Error() string { return "reindex: " + e.Field + ": " + e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }

// HNSW build parameters a generation may have: pgvector's bounds on m, and a candidate list
// of at least twice m (pgvector's own bound) and at most what builds in reasonable time.
const (
	MinHNSWM              = 2
	MaxHNSWM              = 100
	MaxHNSWEfConstruction = 1000
	defaultBatchSize      = 256
)

// Validate checks the settings a caller gives, with the meaning zero has in each field (the
// default): negative or out-of-range values, a gate without a folder, chunking settings the
// chunker refuses. It returns a *ConfigError. Run and Activate call it; a command calls it
// first, to refuse bad flags before it connects to anything. The embedders are not
// checked: Run and Activate need different ones.
func (c Config) Validate() error {
	bad := func(field, format string, args ...any) error {
		return &ConfigError{Field: field, Err: fmt.Errorf(format, args...)}
	}
	m := cmp.Or(c.HNSWM, index.DefaultHNSWM)
	switch {
	case c.BatchSize < 0:
		return bad("BatchSize", "%d is negative", c.BatchSize)
	case c.Gate != nil && c.Gate.Tolerance < 0:
		return bad("Gate.Tolerance", "%g is negative", c.Gate.Tolerance)
	case c.Gate != nil && c.Gate.Dir == "":
		return bad("Gate.Dir", "required")
	case c.HNSWM != 0 && (c.HNSWM < MinHNSWM || c.HNSWM > MaxHNSWM):
		return bad("HNSWM", "%d is not between %d and %d", c.HNSWM, MinHNSWM, MaxHNSWM)
	case c.HNSWEfConstruction != 0 && (c.HNSWEfConstruction < 2*m || c.HNSWEfConstruction > MaxHNSWEfConstruction):
		return bad("HNSWEfConstruction", "%d is not between twice HNSWM (%d) and %d", c.HNSWEfConstruction, 2*m, MaxHNSWEfConstruction)
	case c.Rechunk != nil && c.Rechunk.LockWait < 0:
		return bad("Rechunk.LockWait", "%s is negative", c.Rechunk.LockWait)
	}
	if c.Rechunk != nil {
		if _, err := chunk.New(c.Rechunk.Chunking); err != nil {
			return &ConfigError{Field: "Rechunk.Chunking", Err: err}
		}
	}
	return nil
}

// withDefaults validates c and fills its zero fields.
func (c Config) withDefaults() (Config, error) {
	if err := c.Validate(); err != nil {
		return c, err
	}
	c.BatchSize = cmp.Or(c.BatchSize, defaultBatchSize)
	if c.Progress == nil {
		c.Progress = func(Progress) {}
	}
	return c, nil
}

// Run builds (or resumes building) a generation of the active chunking with cfg.Embedder,
// builds its vector index, runs the gate and activates it. The reindex lock keeps two
// reindexes (or a reindex and an activation) apart: ErrLocked (wrapped) when it is taken.
func Run(ctx context.Context, pool *pgxpool.Pool, cfg Config, logger *slog.Logger) (*Result, error) {
	if cfg.Embedder == nil {
		return nil, errors.New("reindex: no embedder")
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	lock, err := index.LockReindex(ctx, pool)
	if err != nil {
		return nil, err
	}
	defer lock.Unlock(ctx)

	active, err := index.ActiveGeneration(ctx, pool)
	if errors.Is(err, index.ErrNotFound) {
		return nil, ErrNothingToReindex
	}
	if err != nil {
		return nil, err
	}
	chunking := active.ChunkingID
	if cfg.Rechunk != nil {
		if chunking, err = rechunking(ctx, pool, *cfg.Rechunk, cfg.DryRun, active); err != nil {
			return nil, err
		}
	}
	spec := index.GenerationSpec{ChunkingID: chunking, Embedder: cfg.Embedder.Kind(), Model: cfg.Embedder.Model(),
		Dimension: cfg.Embedder.Dimension(), Distance: active.Distance,
		HNSWM: cfg.HNSWM, HNSWEfConstruction: cfg.HNSWEfConstruction}
	res := &Result{Previous: active.ID, DryRun: cfg.DryRun}

	g, err := index.BuildingGeneration(ctx, pool)
	switch {
	case err == nil:
		if !sameSpec(g, spec) {
			return nil, fmt.Errorf("generation %d (%s:%s, %d dimensions) is being built by an unfinished reindex: run that reindex again to finish it, or drop it with `ingest gc --abandon`",
				g.ID, g.Embedder, g.Model, g.Dimension)
		}
		res.Resumed = true
	case !errors.Is(err, index.ErrNotFound):
		return nil, err
	case cfg.DryRun:
		if cfg.Rechunk == nil {
			if res.Chunks, _, err = index.Coverage(ctx, pool, active); err != nil {
				return nil, err
			}
		} else {
			sources, err := index.Sources(ctx, pool)
			if err != nil {
				return nil, err
			}
			res.Rechunk = &RechunkStats{Sources: len(sources)}
		}
		res.Generation = index.Generation{ChunkingID: spec.ChunkingID, Embedder: spec.Embedder, Model: spec.Model,
			Dimension: spec.Dimension, HNSWM: spec.HNSWM, HNSWEfConstruction: spec.HNSWEfConstruction, Status: index.StatusBuilding}
		return res, nil
	default:
		err = index.InTx(ctx, pool, func(tx pgx.Tx) error {
			g, err = index.CreateGeneration(ctx, tx, spec)
			return err
		})
		if err != nil {
			return nil, err
		}
		logger.Info("reindex: created generation", "generation", g.ID, "embedder", g.Embedder+":"+g.Model, "dimension", g.Dimension)
	}
	res.Generation = g
	if cfg.DryRun {
		res.Chunks, _, err = index.Coverage(ctx, pool, g)
		return res, err
	}

	runID, err := startRun(ctx, pool, cfg.Args, g)
	if err != nil {
		return nil, err
	}
	err = build(ctx, pool, cfg, g, res, runID, logger)
	status := index.RunSucceeded
	switch {
	case ctx.Err() != nil:
		status = index.RunInterrupted
	case errors.Is(err, ErrGateRefused):
		status = index.RunPartial
	case err != nil:
		status = index.RunFailed
	}
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	if ferr := index.FinishRun(context.WithoutCancel(ctx), pool, runID, status, g.ID,
		index.RunCounts{ChunksWritten: res.Embedded + res.CaughtUp}, "", nil, msg); ferr != nil {
		err = errors.Join(err, ferr)
	}
	if err != nil {
		return res, err
	}
	return res, nil
}

// rechunking returns the id of the chunking rc describes (created, unless a dry run), which
// must differ from the active generation's.
func rechunking(ctx context.Context, pool *pgxpool.Pool, rc Rechunk, dryRun bool, active index.Generation) (int, error) {
	ts := rc.TextSearchConfig
	if ts == "" {
		var err error
		if _, ts, err = index.ChunkingConfig(ctx, pool, active.ChunkingID); err != nil {
			return 0, err
		}
	}
	chunker, err := chunk.New(rc.Chunking)
	if err != nil {
		return 0, fmt.Errorf("chunking: %w", err)
	}
	var id int
	if dryRun {
		id, err = index.FindChunking(ctx, pool, chunker.Identity(), ts)
	} else {
		id, err = index.EnsureChunking(ctx, pool, chunker.Identity(), ts)
	}
	switch {
	case errors.Is(err, index.ErrNotFound):
		return 0, nil // a dry run: the chunking would be new
	case err != nil:
		return 0, err
	case id == active.ChunkingID:
		return 0, errors.New("--rechunk: these chunking settings are the active generation's: nothing to re-chunk (without --rechunk, the stored chunks are embedded again)")
	}
	return id, nil
}

// build embeds what is missing, builds the vector index, runs the gate and cuts over.
func build(ctx context.Context, pool *pgxpool.Pool, cfg Config, g index.Generation, res *Result, runID int64, logger *slog.Logger) error {
	start := time.Now()
	if cfg.Rechunk != nil {
		res.Rechunk = &RechunkStats{}
		if err := newSourcePass(cfg, g, cfg.Embedder, logger).run(ctx, pool, false, res.Rechunk); err != nil {
			return err
		}
		logger.Info("reindex: re-chunked the sources", "generation", g.ID, "documents", res.Rechunk.Documents, "chunks", res.Rechunk.Chunks)
	}
	written, err := embedMissing(ctx, pool, cfg.Embedder, g, cfg.BatchSize, runID, cfg.Progress)
	res.Embedded = written
	if res.Rechunk != nil {
		res.Embedded += res.Rechunk.Chunks // the passes embed the chunks they write
	}
	res.EmbedTime = time.Since(start)
	if err != nil {
		return err
	}
	if res.Chunks, _, err = index.Coverage(ctx, pool, g); err != nil {
		return err
	}
	logger.Info("reindex: embedded", "generation", g.ID, "vectors", written, "chunks", res.Chunks, "took", res.EmbedTime.Round(time.Millisecond).String())

	cfg.Progress(Progress{Phase: "index", Done: res.Chunks, Total: res.Chunks, Building: g.ID})
	t := time.Now()
	if err := buildIndex(ctx, pool, cfg, g, logger); err != nil {
		return err
	}
	res.IndexBuild = time.Since(t)
	logger.Info("reindex: built the vector index", "generation", g.ID, "took", res.IndexBuild.Round(time.Millisecond).String())
	if g, err = index.GetGeneration(ctx, pool, g.ID); err != nil {
		return err
	}
	res.Generation = g
	return cutover(ctx, pool, cfg, g, res, logger)
}

// cutover runs the gate (unless forced) and activates g with a final catch-up.
func cutover(ctx context.Context, pool *pgxpool.Pool, cfg Config, g index.Generation, res *Result, logger *slog.Logger) error {
	active, err := index.ActiveGeneration(ctx, pool)
	if err != nil && !errors.Is(err, index.ErrNotFound) {
		return err
	}
	switch {
	case cfg.Gate != nil && cfg.Force:
		res.GateForced = true
		logger.Warn("reindex: --force: activating without the evaluation gate", "generation", g.ID)
	case cfg.Gate != nil && active.ID != 0:
		cfg.Progress(Progress{Phase: "gate", Building: g.ID})
		gr, err := cfg.Gate.evaluate(ctx, pool, cfg.Embedder, cfg.Embedders, active, g)
		if err != nil {
			return err
		}
		res.Gate = gr
		if !gr.Passed {
			return fmt.Errorf("%w: %s", ErrGateRefused, gr.comparison())
		}
	}
	embedder := cfg.Embedder
	if active.ID != 0 && g.ChunkingID != active.ChunkingID {
		// Another chunking: ingest runs write the active one's. Hold every source's ingest
		// lock and re-chunk what changed since the last pass (see Rechunk).
		wait := 10 * time.Minute
		if cfg.Rechunk != nil && cfg.Rechunk.LockWait > 0 {
			wait = cfg.Rechunk.LockWait
		}
		release, err := lockSources(ctx, pool, wait, logger)
		if err != nil {
			return err
		}
		defer release()
		if res.Rechunk == nil {
			res.Rechunk = &RechunkStats{}
		}
		if err := newSourcePass(cfg, g, embedder, logger).run(ctx, pool, true, res.Rechunk); err != nil {
			return err
		}
	}
	// Catch up outside the lock first, so that the locked part is short.
	if _, err := embedMissing(ctx, pool, embedder, g, cfg.BatchSize, 0, func(Progress) {}); err != nil {
		return err
	}
	cfg.Progress(Progress{Phase: "cutover", Building: g.ID})
	return index.InTx(ctx, pool, func(tx pgx.Tx) error {
		n, err := index.ActivateLocked(ctx, tx, g.ID, func(tx pgx.Tx, g index.Generation) (int64, error) {
			return embedPass(ctx, tx, embedder, g, cfg.BatchSize, nil)
		})
		res.CaughtUp = n
		if err == nil {
			res.Activated = true
			logger.Info("reindex: activated", "generation", g.ID, "previous", active.ID, "caught_up", n)
		}
		return err
	})
}

// Activate makes generation id the active one: a rollback to a retired generation or a roll
// forward to a built one. It embeds the chunks written since that generation was last
// active (with its own embedder, from cfg.Embedders), runs cfg.Gate unless cfg.Force, and
// cuts over like a reindex. cfg.Embedder is ignored.
func Activate(ctx context.Context, pool *pgxpool.Pool, id int, cfg Config, logger *slog.Logger) (*Result, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	lock, err := index.LockReindex(ctx, pool)
	if err != nil {
		return nil, err
	}
	defer lock.Unlock(ctx)
	g, err := index.GetGeneration(ctx, pool, id)
	if err != nil {
		return nil, err
	}
	res := &Result{Generation: g}
	if active, err := index.ActiveGeneration(ctx, pool); err == nil {
		res.Previous = active.ID
	}
	switch {
	case g.Status == index.StatusActive:
		return res, nil
	case g.Table == "":
		return nil, fmt.Errorf("generation %d was dropped (`ingest gc`): rebuild it with `ingest reindex`", id)
	case cfg.Embedders == nil:
		return nil, errors.New("activate: no way to build the generation's embedder")
	}
	if cfg.Embedder, err = cfg.Embedders(ctx, g); err != nil {
		return nil, fmt.Errorf("the embedder of generation %d (%s:%s): %w", id, g.Embedder, g.Model, err)
	}
	if cfg.Embedder.Dimension() != g.Dimension {
		return nil, fmt.Errorf("the embedder of generation %d returns %d dimensions, the generation has %d", id, cfg.Embedder.Dimension(), g.Dimension)
	}
	if g.IndexBuiltAt == nil {
		if _, err := embedMissing(ctx, pool, cfg.Embedder, g, cfg.BatchSize, 0, cfg.Progress); err != nil {
			return nil, err
		}
		t := time.Now()
		if err := buildIndex(ctx, pool, cfg, g, logger); err != nil {
			return nil, err
		}
		res.IndexBuild = time.Since(t)
		if g, err = index.GetGeneration(ctx, pool, id); err != nil {
			return nil, err
		}
		res.Generation = g
	}
	err = cutover(ctx, pool, cfg, g, res, logger)
	return res, err
}

func sameSpec(g index.Generation, s index.GenerationSpec) bool {
	return g.ChunkingID == s.ChunkingID && g.Embedder == s.Embedder && g.Model == s.Model && g.Dimension == s.Dimension
}

func startRun(ctx context.Context, pool *pgxpool.Pool, args []string, g index.Generation) (int64, error) {
	host, _ := os.Hostname()
	invokedBy := ""
	if u, err := user.Current(); err == nil {
		invokedBy = u.Username
	}
	return index.StartRun(ctx, pool, index.RunStart{Kind: "reindex", Host: host, PID: os.Getpid(), InvokedBy: invokedBy,
		Args: args, Embedder: g.Embedder + ":" + g.Model})
}

// embedMissing embeds with emb, in passes, every chunk without a vector in g, batch chunks
// per transaction (so an interruption loses at most a batch), until a pass finds none:
// chunks that ingestion adds during a pass may take ids below the pass's position, the next
// pass finds them. It reports progress and heartbeats run runID (0: none).
func embedMissing(ctx context.Context, pool *pgxpool.Pool, emb retrieve.Embedder, g index.Generation, batch int, runID int64, report func(Progress)) (int64, error) {
	total, done, err := index.Coverage(ctx, pool, g)
	if err != nil {
		return 0, err
	}
	start, beat := time.Now(), time.Now()
	var written int64
	progress := func(n int64) {
		written += n
		if runID != 0 && time.Since(beat) > 5*time.Second {
			beat = time.Now()
			_ = index.HeartbeatRun(ctx, pool, runID)
		}
		p := Progress{Phase: "embed", Done: done + written, Total: max(total, done+written), Written: written,
			Elapsed: time.Since(start), Building: g.ID}
		if s := p.Elapsed.Seconds(); s > 0 {
			p.PerSec = float64(written) / s
		}
		if p.PerSec > 0 && p.Total > p.Done {
			p.ETA = time.Duration(float64(p.Total-p.Done) / p.PerSec * float64(time.Second))
		}
		report(p)
	}
	for {
		n, err := embedPass(ctx, pool, emb, g, batch, progress)
		if err != nil || n == 0 {
			return written, err
		}
	}
}

// dbtx is what a pass runs on: the pool (a transaction per batch) or one transaction.
type dbtx interface {
	index.DBTX
	Begin(ctx context.Context) (pgx.Tx, error)
}

// embedPass makes one pass over the chunks missing from g in id order and returns how many
// vectors it wrote. Each batch is embedded, then written in a transaction of its own (a
// nested one, a savepoint, when db is a transaction).
func embedPass(ctx context.Context, db dbtx, emb retrieve.Embedder, g index.Generation, batch int, progress func(int64)) (int64, error) {
	var after, written int64
	for {
		if err := ctx.Err(); err != nil {
			return written, err
		}
		chunks, err := index.MissingChunks(ctx, db, g, after, batch)
		if err != nil || len(chunks) == 0 {
			return written, err
		}
		after = chunks[len(chunks)-1].ID
		texts := make([]string, len(chunks))
		ids := make([]int64, len(chunks))
		for i, c := range chunks {
			texts[i] = chunk.EmbeddingText(c.Title, chunk.Chunk{HeadingPath: c.HeadingPath, Text: c.Text})
			ids[i] = c.ID
		}
		vecs, err := emb.Embed(ctx, texts)
		if err != nil {
			return written, fmt.Errorf("embed chunks for generation %d: %w", g.ID, err)
		}
		if len(vecs) != len(texts) {
			return written, fmt.Errorf("embed chunks for generation %d: %d vectors for %d texts", g.ID, len(vecs), len(texts))
		}
		var n int64
		for attempt := 1; ; attempt++ {
			err = pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
				n, err = index.WriteVectors(ctx, tx, g, ids, vecs)
				return err
			})
			// A concurrent ingest transaction can deadlock with this one (it locks the same
			// documents and chunks in its own order); PostgreSQL aborts one of them. Retry.
			if !index.IsDeadlock(err) || attempt == 5 {
				break
			}
			select {
			case <-ctx.Done():
				return written, ctx.Err()
			case <-time.After(time.Duration(attempt*attempt) * 20 * time.Millisecond):
			}
		}
		if err != nil {
			return written, err
		}
		written += n
		if progress != nil {
			progress(n)
		}
	}
}

// buildIndex builds g's shared HNSW graph (with maintenance_work_mem raised for its build,
// see index.BuildVectorIndex) and the graphs of its large tags (cfg.TagIndexes), whose
// failure is only logged.
func buildIndex(ctx context.Context, pool *pgxpool.Pool, cfg Config, g index.Generation, logger *slog.Logger) error {
	if err := index.BuildVectorIndex(ctx, pool, g.ID); err != nil {
		return err
	}
	_, err := index.BuildTagVectorIndexes(ctx, pool, g.ID, cfg.TagIndexes, index.LogTagVectorIndexBuilds(logger, "reindex: ", g.ID))
	if err != nil && ctx.Err() == nil {
		// A tag's graph only speeds up its callers; an ingest run builds it later.
		logger.Warn("reindex: could not build a large tag's vector index; callers with the tag walk the shared graph until an ingest run builds it",
			"generation", g.ID, "err", err.Error())
		return nil
	}
	return err
}
