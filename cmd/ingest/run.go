package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/docent-rag/docent/internal/chunk"
	"github.com/docent-rag/docent/internal/config"
	"github.com/docent-rag/docent/internal/extract"
	"github.com/docent-rag/docent/internal/index"
	"github.com/docent-rag/docent/internal/ingest"
)

// Exit codes of `ingest run` beyond the common ones.
const (
	exitPartial     = 3   // finished, but some files failed (listed)
	exitLocked      = 75  // another run holds the source's lock (EX_TEMPFAIL: try again later)
	exitInterrupted = 130 // stopped by SIGINT or SIGTERM; what was written is complete
)

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

const runSynopsis = `Ingest files and directories into the index, as source NAME: new and changed documents are
extracted, chunked, embedded and written (each document atomically); unchanged ones cost a
hash; documents whose files are gone are deleted (--prune). Safe to run from cron: a second
run of the same source exits 75 while the first holds its lock.

Permission tags of a document, first found wins: its own front matter (acl:) or JSON Lines
"acl"; a sidecar <file>.acl; the nearest .docent-acl in its directory or an ancestor up to
the root; --acl. A document with none is stored but visible to no one.

Exit status: 0 all good, 3 some files failed (listed), 75 another run holds the lock,
2 usage error, 1 fatal error, 130 interrupted.`

func runRun(ctx context.Context, args []string, e env) int {
	fs, dbURL := newFlagSet("run", "[flags] PATH...", runSynopsis)
	var (
		source, report, maxSize, embedder string
		asJSON, dryRun, prune             bool
		concurrency                       int
		pdfTimeout                        time.Duration
		pdfMemory                         string
		tags, include, exclude            stringList
	)
	fs.StringVar(&source, "source", "", "source name (default: derived from the first PATH)")
	fs.Var(&tags, "acl", "default permission tag of the run (repeatable): public, group:<name>, user:<id>")
	fs.BoolVar(&asJSON, "json", false, "print a machine-readable summary on stdout")
	fs.StringVar(&report, "report", "", "write one JSON line per document to `FILE`")
	fs.BoolVar(&dryRun, "dry-run", false, "compute and print the changes without writing anything")
	fs.BoolVar(&prune, "prune", true, "delete the source's documents whose files no longer exist")
	fs.Var(&include, "include", "only ingest paths matching this glob (repeatable; ** matches directories)")
	fs.Var(&exclude, "exclude", "skip paths matching this glob (repeatable)")
	fs.StringVar(&maxSize, "max-file-size", "100MiB", "skip larger files")
	fs.IntVar(&concurrency, "concurrency", 0, "files processed at once (default: the number of CPUs)")
	fs.StringVar(&embedder, "embedder", "", "embedding model (default: env "+config.Embedder+", else builtin)")
	fs.DurationVar(&pdfTimeout, "pdf-timeout", 0, "time limit per PDF (default: env "+config.PDFTimeout+", else 30s)")
	fs.StringVar(&pdfMemory, "pdf-memory-limit", "", "memory limit per PDF parser (default: env "+config.PDFMemoryLimit+", else 1GiB)")
	if code := parse(fs, args, true, e); code >= 0 {
		return code
	}
	usageErr := func(format string, a ...any) int {
		fmt.Fprintf(e.stderr, "ingest run: "+format+"\n", a...)
		return exitUsage
	}
	if fs.NArg() == 0 {
		return usageErr("no PATH given (see ingest run --help)")
	}
	if source == "" {
		source = sourceName(fs.Arg(0))
	}
	if !validSourceName.MatchString(source) {
		return usageErr("--source %q: use lower-case letters, digits, '.', '_' and '-'", source)
	}
	limit, err := parseSize(maxSize)
	if err != nil {
		return usageErr("--max-file-size: %v", err)
	}
	pdfOpts, err := pdfOptions(pdfTimeout, pdfMemory, e)
	if err != nil {
		return usageErr("%v", err)
	}
	if embedder != "" {
		e.getenv = overrideEnv(e.getenv, config.Embedder, embedder)
	}
	logger, err := config.NewLogger(e.getenv, e.stderr, e.stderrTerminal)
	if err != nil {
		return usageErr("%v", err)
	}
	var reportFile *os.File
	if report != "" {
		if reportFile, err = os.Create(report); err != nil {
			return usageErr("--report: %v", err)
		}
		defer reportFile.Close()
	}
	emb, err := newEmbedder(ctx, e.getenv)
	if err != nil {
		fmt.Fprintf(e.stderr, "ingest run: %s\n", printableLines(err.Error()))
		return exitFatal
	}

	pool, err := index.Open(ctx, databaseURL(*dbURL, e))
	if err != nil {
		fmt.Fprintf(e.stderr, "ingest run: %s\n", printableLines(err.Error()))
		return exitFatal
	}
	defer pool.Close()
	if err := index.CheckSchema(ctx, pool); err != nil {
		fmt.Fprintf(e.stderr, "ingest run: %s\n", printableLines(err.Error()))
		return exitFatal
	}

	target, maxTokens, err := config.ChunkConfig(e.getenv)
	if err != nil {
		return usageErr("%v", err)
	}
	progress := newProgress(e, logger, dryRun)
	cfg := ingest.Config{
		Source: source, Roots: fs.Args(), ACL: tags, Include: include, Exclude: exclude,
		MaxFileSize: limit, Concurrency: concurrency, Prune: prune, DryRun: dryRun,
		TextSearchConfig: config.Lookup(e.getenv, config.TextSearch), PDF: pdfOpts,
		Chunking: chunk.Config{TargetTokens: target, MaxTokens: maxTokens},
		Args:     append([]string{"ingest", "run"}, args...), Progress: progress.update,
	}
	if reportFile != nil {
		cfg.Report = reportFile
	}
	in, err := ingest.New(cfg, pool, emb, logger)
	if err != nil {
		return usageErr("%v", err)
	}
	summary, err := in.Run(ctx)
	progress.done()
	if err != nil {
		var locked *index.LockedError
		var mismatch *index.MismatchError
		switch {
		case errors.As(err, &locked):
			fmt.Fprintf(e.stderr, "ingest run: %s; try again when it has finished\n", printableLines(err.Error()))
			return exitLocked
		case errors.As(err, &mismatch):
			fmt.Fprintf(e.stderr, "ingest run: %s\n", printableLines(err.Error()))
			return exitUsage
		}
		// The run started: its summary (status failed or interrupted, and the error) is
		// printed all the same, for the scripts that read it.
		if summary.RunID != 0 {
			if asJSON {
				if err := writeJSON(e.stdout, summary); err != nil {
					fmt.Fprintf(e.stderr, "ingest run: %s\n", printableLines(err.Error()))
				}
			} else {
				printSummary(e, source, summary)
			}
		}
		if ctx.Err() != nil {
			fmt.Fprintf(e.stderr, "ingest run: interrupted: %s\n", printableLines(err.Error()))
			return exitInterrupted
		}
		fmt.Fprintf(e.stderr, "ingest run: %s\n", printableLines(err.Error()))
		if summary.RunID != 0 {
			fmt.Fprintf(e.stderr, "ingest run: run %d failed; documents written before the error are complete\n", summary.RunID)
		}
		return exitFatal
	}
	if asJSON {
		if err := writeJSON(e.stdout, summary); err != nil {
			fmt.Fprintf(e.stderr, "ingest run: %s\n", printableLines(err.Error()))
			return exitFatal
		}
	} else {
		printSummary(e, source, summary)
	}
	switch summary.Status {
	case index.RunInterrupted:
		return exitInterrupted
	case index.RunPartial:
		return exitPartial
	}
	return exitOK
}

var validSourceName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,99}$`)

// sourceName derives a source name from a path: its base name, lower-cased, with other
// characters replaced by '-'.
func sourceName(path string) string {
	abs, err := filepath.Abs(path)
	if err == nil {
		path = abs
	}
	base := strings.ToLower(filepath.Base(filepath.Clean(path)))
	name := strings.Trim(regexp.MustCompile(`[^a-z0-9._-]+`).ReplaceAllString(base, "-"), "-._")
	if name == "" {
		return "default"
	}
	return name
}

// parseSize parses "100MiB", "2GB", "512k", "1048576".
func parseSize(s string) (int64, error) {
	m := regexp.MustCompile(`^\s*(\d+(?:\.\d+)?)\s*([kKmMgGtT]?)(i?)[bB]?\s*$`).FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("%q is not a size such as 512KiB, 100MiB or 2GB", s)
	}
	n, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return 0, fmt.Errorf("%q: %w", s, err)
	}
	base := 1000.0
	if m[3] == "i" {
		base = 1024
	}
	exp := strings.Index("kmgt", strings.ToLower(m[2])) + 1
	for range exp {
		n *= base
	}
	if n < 1 {
		return 0, fmt.Errorf("%q: must be at least 1 byte", s)
	}
	return int64(n), nil
}

func pdfOptions(timeout time.Duration, memory string, e env) (extract.PDFOptions, error) {
	var opts extract.PDFOptions
	if timeout == 0 {
		d, err := time.ParseDuration(config.Lookup(e.getenv, config.PDFTimeout))
		if err != nil {
			return opts, fmt.Errorf("%s: %w", config.PDFTimeout, err)
		}
		timeout = d
	}
	if memory == "" {
		memory = config.Lookup(e.getenv, config.PDFMemoryLimit)
	}
	limit, err := parseSize(memory)
	if err != nil {
		return opts, fmt.Errorf("PDF memory limit: %w", err)
	}
	opts.Timeout = timeout
	opts.MemoryLimit = limit
	return opts, nil
}

func overrideEnv(getenv func(string) string, name, value string) func(string) string {
	return func(k string) string {
		if k == name {
			return value
		}
		return getenv(k)
	}
}

// printSummary prints a run's summary for people. Names and messages are escaped.
func printSummary(e env, source string, s ingest.Summary) {
	d := s.Documents
	w := e.stdout
	what := fmt.Sprintf("run %d", s.RunID)
	if s.Status == "dry_run" {
		what = "dry run (nothing written)"
	}
	fmt.Fprintf(w, "%s of source %q: %s in %s\n", what, source, s.Status, (time.Duration(s.DurationMS) * time.Millisecond).Round(time.Millisecond))
	fmt.Fprintf(w, "  documents: %d added, %d updated, %d unchanged, %d deleted, %d re-tagged, %d skipped, %d failed\n",
		d.Added, d.Updated, d.Unchanged, d.Deleted, d.ACLChanged, d.Skipped, d.Failed)
	fmt.Fprintf(w, "  chunks: %d written, %d deleted; %d pages, %s read; embedder %s, index generation %d\n",
		s.Chunks.Written, s.Chunks.Deleted, s.Pages, humanBytes(s.Bytes), printable(s.Embedder), s.Generation)
	for _, n := range s.Notes {
		fmt.Fprintf(w, "  note: %s\n", printable(n))
	}
	if s.Error != "" {
		fmt.Fprintf(w, "  error: %s\n", printable(firstLine(s.Error)))
	}
	if n := len(s.Untagged); n > 0 {
		fmt.Fprintf(w, "  warning: %d documents have no permission tags and are visible to no one, e.g. %s\n", n, printable(strings.Join(s.Untagged[:min(n, 5)], ", ")))
	}
	if n := len(s.Hidden); n > 0 {
		fmt.Fprintf(w, "  warning: %d documents are now hidden (visible to no one) because their tags cannot be known, e.g. %s\n", n, printable(strings.Join(s.Hidden[:min(n, 5)], ", ")))
	}
	if len(s.Refused) > 0 {
		fmt.Fprintf(w, "  not read (links out of the folders, loops, FIFOs, devices, names that are not UTF-8):\n")
		for _, f := range s.Refused {
			fmt.Fprintf(w, "    %s: %s: %s\n", printable(f.URI), printable(f.Reason), printable(firstLine(f.Message)))
		}
	}
	if len(s.Failures) > 0 {
		fmt.Fprintf(w, "  failed:\n")
		for _, f := range s.Failures {
			fmt.Fprintf(w, "    %s: %s: %s\n", printable(f.URI), printable(f.Reason), printable(firstLine(f.Message)))
		}
	}
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " ..."
	}
	return s
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
