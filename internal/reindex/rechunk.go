package reindex

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/docent-rag/docent/internal/chunk"
	"github.com/docent-rag/docent/internal/extract"
	"github.com/docent-rag/docent/internal/index"
	"github.com/docent-rag/docent/internal/ingest"
	"github.com/docent-rag/docent/internal/retrieve"
)

// Rechunk asks a reindex to read every source's documents again and split them with new
// chunking settings, into a chunking of its own beside the active one.
//
// The rule that keeps it complete while ingestion goes on: the reindex runs the ingestion
// pipeline over each source's recorded folders, writing only the new chunking and the new
// generation. Ingest runs meanwhile write the old chunking; for every document and chunking
// the database records the content that chunking's chunks were made from, so a changed or
// added document is stale or missing in the new chunking, and the next pass re-chunks it.
// At the cutover the reindex holds every source's ingest lock (ingest runs that start then
// exit 75, to be retried by cron), makes a last pass, and activates.
type Rechunk struct {
	Chunking         chunk.Config
	TextSearchConfig string        // default: the active chunking's
	LockWait         time.Duration // how long the cutover waits for running ingest runs; default 10 minutes
}

// RechunkStats counts what the passes over the sources did.
type RechunkStats struct {
	Passes    int   `json:"passes"`
	Documents int   `json:"documents"` // documents chunked into the new chunking
	Chunks    int64 `json:"chunks_written"`
	Failed    int   `json:"failed"`
	Sources   int   `json:"sources"`
}

// chunkingSettings returns the chunking settings and text search configuration that made
// chunking id, for a pass that brings it up to date.
func chunkingSettings(ctx context.Context, pool *pgxpool.Pool, id int) (chunk.Config, string, error) {
	raw, ts, err := index.ChunkingConfig(ctx, pool, id)
	if err != nil {
		return chunk.Config{}, "", err
	}
	c, err := chunk.ParseIdentity(raw)
	if err != nil {
		return chunk.Config{}, "", fmt.Errorf("chunking %d cannot be brought up to date: %w; rebuild it with `ingest reindex --rechunk`", id, err)
	}
	return c, ts, nil
}

// sourcePass reads every source's recorded folders again into generation g's chunking.
type sourcePass struct {
	g        index.Generation
	emb      retrieve.Embedder // g's
	extract  extract.Config
	args     []string
	progress func(Progress)
	logger   *slog.Logger
}

func newSourcePass(cfg Config, g index.Generation, emb retrieve.Embedder, logger *slog.Logger) sourcePass {
	return sourcePass{g: g, emb: emb, extract: cfg.Extract, args: cfg.Args, progress: cfg.Progress, logger: logger}
}

// run runs the ingestion pipeline over every source's recorded folders with the chunking
// settings of g's chunking, writing g. locked says that the caller holds every source's
// lock; otherwise a source being ingested is waited for.
func (p sourcePass) run(ctx context.Context, pool *pgxpool.Pool, locked bool, stats *RechunkStats) error {
	g, logger := p.g, p.logger
	settings, ts, err := chunkingSettings(ctx, pool, g.ChunkingID)
	if err != nil {
		return err
	}
	sources, err := index.Sources(ctx, pool)
	if err != nil {
		return err
	}
	var missing []string
	for _, s := range sources {
		if len(s.Roots) == 0 {
			missing = append(missing, s.Name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("cannot read the documents again: no folders are recorded for source(s) %s (last ingested by an older Docent): run `ingest run` for each once, then reindex again",
			strings.Join(missing, ", "))
	}
	stats.Passes++
	stats.Sources = len(sources)
	var mu sync.Mutex // ingestion reports progress from its workers: one report at a time
	for i, s := range sources {
		var opts ingest.SourceOptions
		if err := json.Unmarshal(s.Options, &opts); err != nil {
			return fmt.Errorf("source %s: recorded options: %w", s.Name, err)
		}
		in, err := ingest.New(ingest.Config{Source: s.Name, Roots: s.Roots, ACL: opts.ACL, Include: opts.Include,
			Exclude: opts.Exclude, URLPrefix: opts.URLPrefix, Prune: opts.Prune, MaxFileSize: opts.MaxFileSize, Chunking: settings, TextSearchConfig: ts,
			Extract: p.extract, Target: &g, SourceLocked: locked, Args: append([]string{"ingest", "reindex", "--rechunk"}, p.args...),
			Progress: func(ip ingest.Progress) {
				mu.Lock()
				defer mu.Unlock()
				p.progress(Progress{Phase: "rechunk", Done: int64(ip.Files), Total: int64(ip.FilesTotal), Written: int64(ip.Chunks),
					Elapsed: ip.Elapsed, Building: g.ID, Source: fmt.Sprintf("%s (%d of %d)", s.Name, i+1, len(sources))})
			}}, pool, p.emb, logger)
		if err != nil {
			return fmt.Errorf("source %s: %w", s.Name, err)
		}
		var sum ingest.Summary
		for wait := time.Second; ; wait = min(2*wait, 30*time.Second) {
			sum, err = in.Run(ctx)
			if !errors.Is(err, index.ErrLocked) {
				break
			}
			// Cron is ingesting this source right now: its writes go to the old chunking, the
			// next pass catches up with them; wait for it to finish.
			logger.Info("reindex: waiting for the running ingest of a source", "source", s.Name)
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(wait):
			}
		}
		if err != nil {
			return fmt.Errorf("source %s: %w", s.Name, err)
		}
		stats.Documents += sum.Documents.Added + sum.Documents.Updated
		stats.Chunks += sum.Chunks.Written
		stats.Failed += sum.Documents.Failed
		if sum.Documents.Failed > 0 {
			logger.Warn("reindex: some files failed to re-chunk (see `ingest status`)", "source", s.Name, "failed", sum.Documents.Failed)
		}
	}
	return nil
}

// lockSources takes every source's ingest lock, waiting up to wait for running ingest runs,
// and returns a function that releases them.
func lockSources(ctx context.Context, pool *pgxpool.Pool, wait time.Duration, logger *slog.Logger) (func(), error) {
	sources, err := index.Sources(ctx, pool)
	if err != nil {
		return nil, err
	}
	var held []*index.SourceLock
	release := func() {
		for _, l := range held {
			if err := l.Unlock(ctx); err != nil {
				logger.Warn("reindex: release a source lock", "err", err)
			}
		}
	}
	deadline := time.Now().Add(wait)
	for _, s := range sources {
		for {
			l, err := index.LockSource(ctx, pool, s.Name)
			if err == nil {
				held = append(held, l)
				break
			}
			if !errors.Is(err, index.ErrLocked) || time.Now().After(deadline) {
				release()
				return nil, fmt.Errorf("cutover: %w", err)
			}
			logger.Info("reindex: the cutover waits for a running ingest", "source", s.Name)
			select {
			case <-ctx.Done():
				release()
				return nil, ctx.Err()
			case <-time.After(time.Second):
			}
		}
	}
	return release, nil
}
