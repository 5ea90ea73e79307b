package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/docent-rag/docent/internal/index"
)

// generationJSON is one generation in `ingest generations --json`.
type generationJSON struct {
	ID                 int         `json:"id"`
	Embedder           string      `json:"embedder"`
	Model              string      `json:"model"`
	Dimension          int         `json:"dimension"`
	Status             string      `json:"status"`
	Chunks             int64       `json:"chunks"`
	ChunkingChunks     int64       `json:"chunking_chunks"`
	SizeBytes          int64       `json:"size_bytes"`
	Dropped            bool        `json:"dropped"`
	HNSWM              int         `json:"hnsw_m"`
	HNSWEfConstruction int         `json:"hnsw_ef_construction"`
	ChunkingID         int         `json:"chunking_id"`
	CreatedAt          time.Time   `json:"created_at"`
	IndexBuiltAt       *time.Time  `json:"index_built_at"`
	ActivatedAt        *time.Time  `json:"activated_at"`
	RetiredAt          *time.Time  `json:"retired_at"`
	Eval               *index.Eval `json:"eval"`
}

func runGenerations(ctx context.Context, args []string, e env) int {
	fs, dbURL := newFlagSet("generations", "[flags]", `List the index generations, newest first: embedder, dimension, status (building, active,
retired), chunks with a vector, size on disk, times, and the latest evaluation gate result.`)
	asJSON := fs.Bool("json", false, "print the generations as JSON on stdout")
	if code := parse(fs, args, false, e); code >= 0 {
		return code
	}
	pool, code := openChecked(ctx, "generations", *dbURL, e)
	if pool == nil {
		return code
	}
	defer pool.Close()
	gens, err := index.Generations(ctx, pool)
	if err != nil {
		fmt.Fprintf(e.stderr, "ingest generations: %s\n", printableLines(err.Error()))
		return exitFatal
	}
	evals, err := index.LatestEvals(ctx, pool)
	if err != nil {
		fmt.Fprintf(e.stderr, "ingest generations: %s\n", printableLines(err.Error()))
		return exitFatal
	}
	out := make([]generationJSON, len(gens))
	for i, g := range gens {
		j := generationJSON{ID: g.ID, Embedder: g.Embedder, Model: g.Model, Dimension: g.Dimension, Status: g.Status,
			Dropped: g.Table == "", HNSWM: g.HNSWM, HNSWEfConstruction: g.HNSWEfConstruction, ChunkingID: g.ChunkingID,
			CreatedAt: g.CreatedAt, IndexBuiltAt: g.IndexBuiltAt, ActivatedAt: g.ActivatedAt, RetiredAt: g.RetiredAt}
		if ev, ok := evals[g.ID]; ok {
			j.Eval = &ev
		}
		if g.Table != "" {
			if j.ChunkingChunks, j.Chunks, err = index.Coverage(ctx, pool, g); err == nil {
				j.SizeBytes, err = g.SizeBytes(ctx, pool)
			}
			if err != nil {
				fmt.Fprintf(e.stderr, "ingest generations: %s\n", printableLines(err.Error()))
				return exitFatal
			}
		}
		out[i] = j
	}
	if *asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			fmt.Fprintf(e.stderr, "ingest generations: %s\n", printableLines(err.Error()))
			return exitFatal
		}
		return exitOK
	}
	if len(out) == 0 {
		fmt.Fprintln(e.stdout, "no generations yet: `ingest run` creates the first")
		return exitOK
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATUS\tEMBEDDER\tDIM\tCHUNKS\tSIZE\tCREATED\tACTIVATED\tGATE")
	for _, g := range out {
		chunks, size := "dropped", "-"
		if !g.Dropped {
			chunks = fmt.Sprintf("%d/%d", g.Chunks, g.ChunkingChunks)
			size = fmt.Sprintf("%.1f MiB", float64(g.SizeBytes)/(1<<20))
		}
		gate := "-"
		if g.Eval != nil {
			verdict := "passed"
			switch {
			case g.Eval.Forced:
				verdict = "forced"
			case !g.Eval.Passed:
				verdict = "refused"
			}
			gate = fmt.Sprintf("%s %.4f vs %.4f", verdict, g.Eval.NDCG, g.Eval.BaselineNDCG)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s:%s\t%d\t%s\t%s\t%s\t%s\t%s\n", g.ID, g.Status, g.Embedder, g.Model, g.Dimension, chunks, size,
			g.CreatedAt.Local().Format("2006-01-02 15:04"), when(g.ActivatedAt), gate)
	}
	_ = tw.Flush()
	return exitOK
}

func when(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04")
}

func runGC(ctx context.Context, args []string, e env) int {
	fs, dbURL := newFlagSet("gc", "[flags]", `Drop the vectors (embeddings table and its indexes) of retired generations, keeping the
--keep most recently retired ones for a quick rollback. With --abandon, also drop the
generation an unfinished reindex was building. The active generation is never dropped, nor
one retired within --grace (requests that started on it may still be running);
a dropped generation stays listed, and `+"`ingest reindex`"+` can rebuild it. The chunks of a chunking
that no remaining generation uses (after a rechunking reindex) are deleted too.`)
	keep := fs.Int("keep", 1, "retired generations to keep")
	grace := fs.Duration("grace", 5*time.Minute, "never drop a generation retired more recently than this (servers may still be finishing requests on it)")
	abandon := fs.Bool("abandon", false, "also drop an unfinished reindex's building generation")
	dryRun := fs.Bool("dry-run", false, "list what would be dropped")
	if code := parse(fs, args, false, e); code >= 0 {
		return code
	}
	if *keep < 0 {
		fmt.Fprintln(e.stderr, "ingest gc: --keep cannot be negative")
		return exitUsage
	}
	pool, code := openChecked(ctx, "gc", *dbURL, e)
	if pool == nil {
		return code
	}
	defer pool.Close()
	lock, err := index.LockReindex(ctx, pool)
	if err != nil {
		fmt.Fprintf(e.stderr, "ingest gc: %s\n", printableLines(err.Error()))
		if errors.Is(err, index.ErrLocked) {
			return exitLocked
		}
		return exitFatal
	}
	defer lock.Unlock(ctx)
	gens, err := index.Generations(ctx, pool)
	if err != nil {
		fmt.Fprintf(e.stderr, "ingest gc: %s\n", printableLines(err.Error()))
		return exitFatal
	}
	// Newest retirement first: those are the rollback targets worth keeping.
	var retired []index.Generation
	var drop []index.Generation
	for _, g := range gens {
		switch {
		case g.Table == "":
		case g.Status == index.StatusRetired:
			retired = append(retired, g)
		case g.Status == index.StatusBuilding && *abandon:
			drop = append(drop, g)
		}
	}
	sortByRetired(retired)
	if len(retired) > *keep {
		for _, g := range retired[*keep:] {
			if g.RetiredAt != nil && time.Since(*g.RetiredAt) < *grace {
				fmt.Fprintf(e.stdout, "kept generation %d: retired %s ago, within --grace %s\n", g.ID,
					time.Since(*g.RetiredAt).Round(time.Second), *grace)
				continue
			}
			drop = append(drop, g)
		}
	}
	if len(drop) == 0 {
		fmt.Fprintln(e.stdout, "nothing to drop")
		return exitOK
	}
	for _, g := range drop {
		size, err := g.SizeBytes(ctx, pool)
		if err != nil {
			fmt.Fprintf(e.stderr, "ingest gc: %s\n", printableLines(err.Error()))
			return exitFatal
		}
		if *dryRun {
			fmt.Fprintf(e.stdout, "would drop generation %d (%s, %s:%s, %.1f MiB)\n", g.ID, g.Status, g.Embedder, g.Model, float64(size)/(1<<20))
			continue
		}
		if err := index.DropGeneration(ctx, pool, g.ID); err != nil {
			fmt.Fprintf(e.stderr, "ingest gc: %s\n", printableLines(err.Error()))
			return exitFatal
		}
		fmt.Fprintf(e.stdout, "dropped generation %d (%s, %s:%s, %.1f MiB)\n", g.ID, g.Status, g.Embedder, g.Model, float64(size)/(1<<20))
	}
	if *dryRun {
		return exitOK
	}
	// A rechunking reindex leaves the old chunking's chunks behind: once no generation
	// with vectors uses a chunking, its chunks go too.
	n, err := index.DropUnusedChunks(ctx, pool)
	if err != nil {
		fmt.Fprintf(e.stderr, "ingest gc: %s\n", printableLines(err.Error()))
		return exitFatal
	}
	if n > 0 {
		fmt.Fprintf(e.stdout, "deleted %d chunks of chunkings no generation uses any more\n", n)
	}
	return exitOK
}

// sortByRetired orders retired generations by retirement, newest first.
func sortByRetired(gens []index.Generation) {
	slices.SortStableFunc(gens, func(a, b index.Generation) int {
		var ta, tb time.Time
		if a.RetiredAt != nil {
			ta = *a.RetiredAt
		}
		if b.RetiredAt != nil {
			tb = *b.RetiredAt
		}
		return tb.Compare(ta)
	})
}
