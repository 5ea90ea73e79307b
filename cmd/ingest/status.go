package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/docent-rag/docent/internal/index"
	"github.com/docent-rag/docent/internal/ingest"
)

func runStatus(ctx context.Context, args []string, e env) int {
	fs, dbURL := newFlagSet("status", "[flags]", "Show the latest ingest runs with their counts and failures.")
	asJSON := fs.Bool("json", false, "print the runs as JSON on stdout")
	limit := fs.Int("limit", 10, "how many runs")
	failures := fs.Int("failures", 20, "how many failures to show per run")
	if code := parse(fs, args, false, e); code >= 0 {
		return code
	}
	if *limit < 1 || *failures < 0 {
		fmt.Fprintf(e.stderr, "ingest status: --limit must be at least 1 and --failures at least 0\n")
		return exitUsage
	}
	pool, code := openChecked(ctx, "status", *dbURL, e)
	if pool == nil {
		return code
	}
	defer pool.Close()
	runs, err := index.RecentRuns(ctx, pool, *limit, *failures)
	if err != nil {
		fmt.Fprintf(e.stderr, "ingest status: %s\n", printableLines(err.Error()))
		return exitFatal
	}
	if *asJSON {
		out := make([]statusRun, len(runs))
		for i, r := range runs {
			out[i] = toStatusRun(r)
		}
		if err := writeJSON(e.stdout, out); err != nil {
			fmt.Fprintf(e.stderr, "ingest status: %s\n", printableLines(err.Error()))
			return exitFatal
		}
		return exitOK
	}
	if len(runs) == 0 {
		fmt.Fprintln(e.stdout, "no runs yet")
	}
	for _, r := range runs {
		c := r.Counts
		took := "still running"
		if r.FinishedAt != nil {
			took = r.FinishedAt.Sub(r.StartedAt).Round(time.Millisecond).String()
		}
		what := fmt.Sprintf("source %q", printable(r.Source))
		if r.Kind == "reindex" {
			what = "generation ?"
			if r.GenerationID != nil {
				what = fmt.Sprintf("generation %d", *r.GenerationID)
			}
			what += " (" + printable(r.Embedder) + ")"
		}
		fmt.Fprintf(e.stdout, "run %d  %s  %s  %s  started %s  %s\n", r.ID, printable(r.Kind), what, printable(r.Status),
			r.StartedAt.Local().Format("2006-01-02 15:04:05"), took)
		if r.Kind == "reindex" {
			fmt.Fprintf(e.stdout, "  vectors written: %d\n", c.ChunksWritten)
		} else {
			fmt.Fprintf(e.stdout, "  documents: %d added, %d updated, %d unchanged, %d deleted, %d re-tagged, %d skipped, %d failed; chunks: %d written, %d deleted\n",
				c.Added, c.Updated, c.Unchanged, c.Deleted, c.ACLChanged, c.Skipped, c.Failed, c.ChunksWritten, c.ChunksDeleted)
		}
		if r.Error != "" {
			fmt.Fprintf(e.stdout, "  error: %s\n", strings.ReplaceAll(printableLines(r.Error), "\n", "\n         "))
		}
		failed := 0
		for _, f := range r.Failures {
			what := "failed"
			if ingest.IsRefusal(f.Reason) {
				what = "not read"
			} else {
				failed++
			}
			fmt.Fprintf(e.stdout, "  %s: %s: %s: %s\n", what, printable(f.URI), printable(f.Reason), printable(firstLine(f.Message)))
		}
		if c.Failed > failed && len(r.Failures) == *failures {
			fmt.Fprintf(e.stdout, "  ... and %d more failures (--failures N)\n", c.Failed-failed)
		}
	}
	return exitOK
}

// statusRun is a run as `ingest status --json` prints it.
type statusRun struct {
	ID         int64            `json:"id"`
	Kind       string           `json:"kind"`
	Source     string           `json:"source"`
	Status     string           `json:"status"`
	Generation *int             `json:"generation"`
	StartedAt  time.Time        `json:"started_at"`
	FinishedAt *time.Time       `json:"finished_at"`
	Host       string           `json:"host"`
	PID        int              `json:"pid"`
	InvokedBy  string           `json:"invoked_by"`
	Embedder   string           `json:"embedder"`
	Documents  map[string]int   `json:"documents"`
	Chunks     map[string]int64 `json:"chunks"`
	Pages      int64            `json:"pages"`
	Bytes      int64            `json:"bytes"`
	Error      string           `json:"error,omitempty"`
	Failures   []index.Failure  `json:"failures"`
}

func toStatusRun(r index.Run) statusRun {
	c := r.Counts
	failures := r.Failures
	if failures == nil {
		failures = []index.Failure{}
	}
	return statusRun{ID: r.ID, Kind: r.Kind, Source: r.Source, Status: r.Status, Generation: r.GenerationID,
		StartedAt: r.StartedAt, FinishedAt: r.FinishedAt, Host: r.Host, PID: r.PID, InvokedBy: r.InvokedBy, Embedder: r.Embedder,
		Documents: map[string]int{"added": c.Added, "updated": c.Updated, "unchanged": c.Unchanged, "deleted": c.Deleted,
			"acl_changed": c.ACLChanged, "failed": c.Failed, "skipped": c.Skipped},
		Chunks: map[string]int64{"written": c.ChunksWritten, "deleted": c.ChunksDeleted},
		Pages:  c.Pages, Bytes: c.Bytes, Error: r.Error, Failures: failures}
}
