package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/docent-rag/docent/cmd/internal/cmdconfig"
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
		urlPrefix                         string
		asJSON, dryRun, prune             bool
		concurrency                       int
		extractTimeout, pdfTimeout        string
		extractMemory, pdfMemory          string
		tags, include, exclude            stringList
	)
	fs.StringVar(&source, "source", "", "source name (default: derived from the first PATH)")
	fs.Var(&tags, "acl", "default permission tag of the run (repeatable): public, group:<name>, user:<id>")
	fs.BoolVar(&asJSON, "json", false, "print a machine-readable summary on stdout")
	fs.StringVar(&report, "report", "", "write one JSON line per document to `FILE`")
	fs.BoolVar(&dryRun, "dry-run", false, "compute and print the changes without writing anything")
	fs.BoolVar(&prune, "prune", true, "delete the source's documents whose files no longer exist")
	fs.StringVar(&urlPrefix, "url-prefix", "", "give each file without a url of its own the URL `PREFIX` + its path under its PATH (http or https)")
	fs.Var(&include, "include", "only ingest paths matching this glob (repeatable; ** matches directories)")
	fs.Var(&exclude, "exclude", "skip paths matching this glob (repeatable)")
	fs.StringVar(&maxSize, "max-file-size", "100MiB", "skip larger files")
	fs.IntVar(&concurrency, "concurrency", 0, "files processed at once (default: the number of CPUs)")
	fs.StringVar(&embedder, "embedder", "", "embedding model (default: env "+config.Embedder+", else builtin)")
	fs.StringVar(&extractTimeout, "extract-timeout", "", "time limit of one file's extraction (default: env "+config.ExtractTimeout+", else 30s)")
	fs.StringVar(&extractMemory, "extract-memory-limit", "", "memory limit of one file's extraction (default: env "+config.ExtractMemory+", else 1GiB)")
	fs.StringVar(&pdfTimeout, "pdf-timeout", "", "time limit of one PDF (default: env "+config.PDFTimeout+", else the extraction time limit)")
	fs.StringVar(&pdfMemory, "pdf-memory-limit", "", "memory limit of one PDF (default: env "+config.PDFMemoryLimit+", else the extraction memory limit)")
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
	limit, err := config.ParseSize(maxSize)
	if err != nil {
		return usageErr("--max-file-size: %v", err)
	}
	if urlPrefix != "" {
		if urlPrefix, err = extract.ValidURLPrefix(urlPrefix); err != nil {
			return usageErr("--url-prefix: %v", err)
		}
	}
	budgetEnv := e.getenv
	for name, flag := range map[string]string{config.ExtractTimeout: extractTimeout, config.ExtractMemory: extractMemory,
		config.PDFTimeout: pdfTimeout, config.PDFMemoryLimit: pdfMemory} {
		if flag != "" {
			budgetEnv = overrideEnv(budgetEnv, name, flag)
		}
	}
	extractCfg, err := extractConfig(budgetEnv)
	if err != nil {
		return usageErr("%v", err)
	}
	tagGraphs, err := tagIndexes(e.getenv)
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
	emb, err := cmdconfig.Embedder(ctx, e.getenv)
	if err != nil {
		fmt.Fprintf(e.stderr, "ingest run: %s\n", printableLines(err.Error()))
		return exitFatal
	}

	pool, code := openChecked(ctx, "run", *dbURL, e)
	if pool == nil {
		return code
	}
	defer pool.Close()

	target, maxTokens, err := config.ChunkConfig(e.getenv)
	if err != nil {
		return usageErr("%v", err)
	}
	progress := newProgress(e, logger, dryRun)
	cfg := ingest.Config{
		Source: source, Roots: fs.Args(), ACL: tags, Include: include, Exclude: exclude, URLPrefix: urlPrefix,
		MaxFileSize: limit, Concurrency: concurrency, Prune: prune, DryRun: dryRun,
		TextSearchConfig: config.Lookup(e.getenv, config.TextSearch), Extract: extractCfg, TagIndexes: tagGraphs,
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

// tagIndexes reads DOCENT_TAG_GRAPHS into the options of the large tags' graphs.
func tagIndexes(getenv func(string) string) (index.TagIndexOptions, error) {
	n, err := config.TagGraphsMax(getenv)
	if n == 0 {
		n = -1 // none (the options' zero value is the default)
	}
	return index.TagIndexOptions{MaxTags: n}, err
}

// extractConfig returns the extraction budget of each file from the environment
// (DOCENT_EXTRACT_*, DOCENT_PDF_*).
func extractConfig(getenv func(string) string) (extract.Config, error) {
	b, err := config.ReadExtractBudget(getenv)
	if err != nil {
		return extract.Config{}, err
	}
	for _, m := range []int64{b.MemoryLimit, b.PDFMemoryLimit} {
		if m < extract.MinMemoryLimit {
			return extract.Config{}, fmt.Errorf("a memory limit of %d MiB is below the minimum of %d MiB", m>>20, extract.MinMemoryLimit>>20)
		}
	}
	ocr, err := config.ReadOCR(getenv)
	if err != nil {
		return extract.Config{}, err
	}
	return extract.Config{Timeout: b.Timeout, MemoryLimit: b.MemoryLimit,
		PDF: extract.PDFOptions{Timeout: b.PDFTimeout, MemoryLimit: b.PDFMemoryLimit},
		OCR: extract.OCRConfig{Mode: extract.OCRMode(ocr.Mode), Languages: ocr.Languages, MaxPages: ocr.MaxPages,
			PageTimeout: ocr.PageTimeout}}, nil
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
	if d.URLChanged > 0 {
		fmt.Fprintf(w, "  urls: %d documents got a new url (--url-prefix changed)\n", d.URLChanged)
	}
	fmt.Fprintf(w, "  chunks: %d written, %d deleted; %d pages, %s read; embedder %s, index generation %d\n",
		s.Chunks.Written, s.Chunks.Deleted, s.Pages, humanBytes(s.Bytes), printable(s.Embedder), s.Generation)
	if o := s.OCR; o.Pages+o.Failed+o.Unavailable+o.Deferred+o.Truncated > 0 {
		fmt.Fprintf(w, "  ocr: %d pages recognised in %s, %d failed, %d unavailable, %d deferred to the next run (%d documents), %d over a file's limit\n",
			o.Pages, (time.Duration(o.Millis) * time.Millisecond).Round(time.Millisecond), o.Failed, o.Unavailable, o.Deferred, o.DeferredDocuments, o.Truncated)
	}
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
	if len(s.Warnings) > 0 {
		fmt.Fprintf(w, "  warnings (written without what is named):\n")
		for _, f := range s.Warnings {
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
