package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/docent-rag/docent/internal/extract"
	"github.com/docent-rag/docent/internal/index"
	"github.com/docent-rag/docent/internal/testing/dbtest"
	"github.com/docent-rag/docent/internal/testing/pdfgen"
)

// TestMain lets the test binary stand in for the ingest binary: re-executed with
// DOCENT_TEST_AS_INGEST=1 it runs main(), and as a PDF child it parses a PDF.
func TestMain(m *testing.M) {
	extract.RunChildIfRequested()
	if os.Getenv("DOCENT_TEST_AS_INGEST") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// ingestCmd returns the ingest binary (this test binary) with args, on database url.
func ingestCmd(ctx context.Context, url string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Env = append(os.Environ(), "DOCENT_TEST_AS_INGEST=1", "DOCENT_DATABASE_URL="+url, "DOCENT_LOG_FORMAT=json")
	return cmd
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// bigCorpus writes n two-chunk Markdown documents, tagged public, and returns the folder.
func bigCorpus(t *testing.T, n int) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{".docent-acl": "public\n"}
	for i := range n {
		files[fmt.Sprintf("doc%04d.md", i)] = fmt.Sprintf("# Document %d\n\n%s\n\n## Part two\n\n%s\n", i,
			strings.Repeat(fmt.Sprintf("Robot %d reports its battery level every minute. ", i), 30),
			strings.Repeat("The fleet manager schedules charging when the level drops. ", 30))
	}
	writeFiles(t, dir, files)
	return dir
}

// startRun starts `ingest run` over dir and returns once at least 100 documents are
// committed, well before the end.
func startRun(t *testing.T, db *dbtest.DB, dir string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	ctx := context.Background()
	cmd := ingestCmd(ctx, db.URL, "run", "--source", "big", "--concurrency", "2", dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		var docs int
		if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM documents`).Scan(&docs); err != nil {
			t.Fatal(err)
		}
		if docs >= 100 {
			return cmd, &stderr
		}
		if time.Now().After(deadline) {
			t.Fatalf("no progress; stderr:\n%s", stderr.String())
		}
	}
}

// TestKilledRunLeavesEveryDocumentWholeAndReRunCompletes kills an ingest run with SIGKILL
// in the middle, then checks that every document in the index is complete (its chunks, their
// vectors, consistent statistics) and that a re-run finishes the work.
func TestKilledRunLeavesEveryDocumentWholeAndReRunCompletes(t *testing.T) {
	t.Parallel()
	db := dbtest.New(t)
	const n = 1500
	dir := bigCorpus(t, n)
	ctx := context.Background()
	cmd, _ := startRun(t, db, dir)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	checkWhole := wholeChecker(t, db)
	killedAt := checkWhole("after SIGKILL")
	if killedAt >= n {
		t.Fatalf("the run finished (%d documents) before it was killed; make the corpus bigger", killedAt)
	}

	out, err := ingestCmd(ctx, db.URL, "run", "--source", "big", "--json", dir).Output()
	if code := exitCode(err); code != 0 {
		t.Fatalf("re-run exit %d: %v", code, err)
	}
	var s struct {
		Status    string
		Documents map[string]int
	}
	if err := json.Unmarshal(out, &s); err != nil {
		t.Fatalf("re-run --json: %v\n%s", err, out)
	}
	if s.Status != "succeeded" || s.Documents["added"] != n-killedAt || s.Documents["unchanged"] != killedAt {
		t.Errorf("re-run: %+v (killed with %d documents written)", s, killedAt)
	}
	if docs := checkWhole("after the re-run"); docs != n {
		t.Errorf("%d documents after the re-run, want %d", docs, n)
	}
	var dead string
	if err := db.Pool.QueryRow(ctx, `SELECT status FROM ingest_runs ORDER BY id LIMIT 1`).Scan(&dead); err != nil {
		t.Fatal(err)
	}
	if dead != "failed" {
		t.Errorf("the killed run is recorded as %q, want failed", dead)
	}
}

// wholeChecker returns a check that every document has all its chunks (the corpus of
// bigCorpus has two per document), every chunk its vector, and the statistics agree with the
// chunks; it returns the number of documents.
func wholeChecker(t *testing.T, db *dbtest.DB) func(step string) int {
	ctx := context.Background()
	return func(step string) int {
		t.Helper()
		var docs, incomplete int
		err := db.Pool.QueryRow(ctx, `
			SELECT count(*),
			       count(*) FILTER (WHERE (SELECT count(*) FROM chunks c WHERE c.document_id = d.id) <> 2)
			FROM documents d`).Scan(&docs, &incomplete)
		if err != nil {
			t.Fatal(err)
		}
		if incomplete != 0 {
			t.Errorf("%s: %d of %d documents do not have all their chunks", step, incomplete, docs)
		}
		var table string
		if err := db.Pool.QueryRow(ctx, `SELECT table_name FROM index_generations`).Scan(&table); err != nil {
			t.Fatal(err)
		}
		var missing int
		if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM chunks c LEFT JOIN `+table+` e ON e.chunk_id = c.id WHERE e.chunk_id IS NULL`).Scan(&missing); err != nil {
			t.Fatal(err)
		}
		if missing != 0 {
			t.Errorf("%s: %d chunks have no vector", step, missing)
		}
		badStats, err := index.StatisticsMismatches(ctx, db.Pool)
		if err != nil {
			t.Fatal(err)
		}
		if badStats != 0 {
			t.Errorf("%s: %d statistics differ from the chunks", step, badStats)
		}
		return docs
	}
}

// TestTerminatedRunIsRecordedAsInterrupted sends SIGTERM in the middle of a run: it finishes
// the transaction in progress, records the run as interrupted, exits 130, and leaves every
// document whole.
func TestTerminatedRunIsRecordedAsInterrupted(t *testing.T) {
	t.Parallel()
	db := dbtest.New(t)
	dir := bigCorpus(t, 1500)
	cmd, stderr := startRun(t, db, dir)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := exitCode(cmd.Wait()); code != exitInterrupted {
		t.Errorf("exit %d after SIGTERM, want %d; stderr:\n%s", code, exitInterrupted, stderr.String())
	}
	docs := wholeChecker(t, db)("after SIGTERM")
	var status string
	var added int
	if err := db.Pool.QueryRow(context.Background(), `SELECT status, docs_added FROM ingest_runs`).Scan(&status, &added); err != nil {
		t.Fatal(err)
	}
	if status != "interrupted" || added != docs || docs >= 1500 {
		t.Errorf("run recorded as %s with %d documents added; %d documents in the index", status, added, docs)
	}
	// The first load wrote without keeping the lexical statistics (index.DeferStatistics) and
	// was stopped before it computed them: they stay deferred and nothing is active. The next
	// run resumes the load, computes them and activates the generation.
	ctx := context.Background()
	var deferred, active int
	if err := db.Pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM statistics_deferred),
		(SELECT count(*) FROM index_generations WHERE status = 'active')`).Scan(&deferred, &active); err != nil {
		t.Fatal(err)
	}
	if deferred != 1 || active != 0 {
		t.Errorf("after the interrupted first load: %d chunkings deferred, %d generations active; want 1, 0", deferred, active)
	}
	if out, err := ingestCmd(ctx, db.URL, "run", "--source", "big", dir).CombinedOutput(); err != nil {
		t.Fatalf("the run after the interruption: %v\n%s", err, out)
	}
	if docs := wholeChecker(t, db)("after the next run"); docs != 1500 {
		t.Errorf("%d documents after the next run, want 1500", docs)
	}
	if err := db.Pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM statistics_deferred),
		(SELECT count(*) FROM index_generations WHERE status = 'active')`).Scan(&deferred, &active); err != nil {
		t.Fatal(err)
	}
	if deferred != 0 || active != 1 {
		t.Errorf("after the next run: %d chunkings deferred, %d generations active; want 0, 1", deferred, active)
	}
}

// TestExitCodesAndJSONSummary runs the real command: a bad file makes exit 3 with the
// failure listed; a held lock makes exit 75; --json and --report have their documented shape.
func TestExitCodesAndJSONSummary(t *testing.T) {
	t.Parallel()
	db := dbtest.New(t)
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		".docent-acl": "public\n", "a.md": "# A\n\nalpha\n", "b.txt": "beta\n",
		"bad/.docent-acl": "Not A Tag\n", "bad/c.md": "# C\n\ngamma\n",
	})
	ctx := context.Background()
	report := filepath.Join(t.TempDir(), "report.jsonl")
	out, err := ingestCmd(ctx, db.URL, "run", "--source", "docs", "--json", "--report", report, dir).Output()
	if code := exitCode(err); code != exitPartial {
		t.Fatalf("exit %d, want %d", code, exitPartial)
	}
	var s map[string]any
	if err := json.Unmarshal(out, &s); err != nil {
		t.Fatalf("--json output: %v\n%s", err, out)
	}
	for _, key := range []string{"run_id", "status", "documents", "chunks", "pages", "bytes", "embedder", "generation", "duration_ms", "failures"} {
		if _, ok := s[key]; !ok {
			t.Errorf("--json summary has no %q: %s", key, out)
		}
	}
	failures, _ := s["failures"].([]any)
	if len(failures) != 1 || !strings.Contains(fmt.Sprint(failures[0]), "bad/c.md") || !strings.Contains(fmt.Sprint(failures[0]), "invalid_acl") {
		t.Errorf("failures = %v", failures)
	}
	lines, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(lines)), "\n") {
		var l map[string]any
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatalf("report line %q: %v", line, err)
		}
		for _, key := range []string{"uri", "outcome", "pages", "chars", "chunks"} {
			if _, ok := l[key]; !ok {
				t.Errorf("report line %s has no %q", line, key)
			}
		}
	}

	// Hold the source's lock from another session: the run exits 75 naming the holder.
	conn, err := db.Pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(hashtextextended('docent.source:docs', 0))`); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd := ingestCmd(ctx, db.URL, "run", "--source", "docs", dir)
	cmd.Stderr = &stderr
	if code := exitCode(cmd.Run()); code != exitLocked || !strings.Contains(stderr.String(), "being ingested") {
		t.Errorf("locked: exit %d, stderr %s", code, stderr.String())
	}
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_unlock(hashtextextended('docent.source:docs', 0))`); err != nil {
		t.Fatal(err)
	}

	// Usage errors exit 2.
	for _, args := range [][]string{{"run"}, {"run", "--acl", "Everyone", dir}, {"run", "--max-file-size", "lots", dir}, {"run", "--source", "Bad Name", dir}} {
		if code := exitCode(ingestCmd(ctx, db.URL, args...).Run()); code != exitUsage {
			t.Errorf("%v: exit %d, want %d", args, code, exitUsage)
		}
	}
	// A path that does not exist is fatal and deletes nothing.
	if code := exitCode(ingestCmd(ctx, db.URL, "run", "--source", "docs", filepath.Join(dir, "nope")).Run()); code != exitFatal {
		t.Errorf("missing path: exit %d, want %d", code, exitFatal)
	}
	var docs int
	if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM documents`).Scan(&docs); err != nil || docs != 2 {
		t.Errorf("%d documents after the failed runs, want 2 (%v)", docs, err)
	}
}

// TestHostilePDFsAreIsolated ingests a folder with good PDFs and PDFs built to make a parser
// allocate 137 GB or walk a cyclic page tree: the run survives, records each hostile file
// with its reason, and ingests everything else.
func TestHostilePDFsAreIsolated(t *testing.T) {
	t.Parallel()
	db := dbtest.New(t)
	dir := t.TempDir()
	var good bytes.Buffer
	if err := pdfgen.Write(&good, pdfgen.Document{Title: "Fleet report", Pages: []pdfgen.Page{
		{Lines: []string{"Fleet report", "", "Robot 7 completed 412 deliveries in March."}},
		{Lines: []string{"Charging", "", "Every robot charges for twenty minutes after six hours of work."}},
	}}); err != nil {
		t.Fatal(err)
	}
	writeFiles(t, dir, map[string]string{
		".docent-acl":   "public\n",
		"report.pdf":    good.String(),
		"notes.md":      "# Notes\n\nThe depot opens at six.\n",
		"huge-xref.pdf": string(pdfgen.HugeXref()),
		"cyclic.pdf":    string(pdfgen.CyclicPageTree(true)),
		"zz-after.pdf":  good.String(),
	})
	ctx := context.Background()
	out, err := ingestCmd(ctx, db.URL, "run", "--source", "pdfs", "--json", "--pdf-memory-limit", "256MiB", dir).Output()
	if code := exitCode(err); code != exitPartial {
		t.Fatalf("exit %d, want %d (some files failed); output %s", code, exitPartial, out)
	}
	var s struct {
		Documents map[string]int
		Pages     int
		Failures  []struct{ URI, Reason string }
	}
	if err := json.Unmarshal(out, &s); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	reasons := map[string]string{}
	for _, f := range s.Failures {
		reasons[f.URI] = f.Reason
	}
	want := map[string]string{"huge-xref.pdf": extract.ReasonMemory, "cyclic.pdf": extract.ReasonPDFInvalid}
	if fmt.Sprint(reasons) != fmt.Sprint(want) {
		t.Errorf("failures %v, want %v", reasons, want)
	}
	if s.Documents["added"] != 3 || s.Pages != 4 {
		t.Errorf("documents %v, pages %d: want the two good PDFs (2 pages each) and the Markdown file added", s.Documents, s.Pages)
	}
	var pages []int32
	if err := db.Pool.QueryRow(ctx, `
		SELECT array_agg(c.page_start ORDER BY c.page_start) FROM chunks c JOIN documents d ON d.id = c.document_id
		WHERE d.uri = 'report.pdf'`).Scan(&pages); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(pages) == "[]" || pages[0] != 1 {
		t.Errorf("chunks of report.pdf start on pages %v, want page numbers from 1", pages)
	}
}

// aliasBomb is YAML front matter of 368 bytes whose aliases expand to 9^9 (387 million)
// strings: nine levels of `x: &x [*y, *y, ...]` (issue 9, finding 9).
func aliasBomb() string {
	var b strings.Builder
	b.WriteString("---\na: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n")
	for c := 'b'; c <= 'i'; c++ {
		ref := "*" + string(c-1)
		fmt.Fprintf(&b, "%c: &%c [%s]\n", c, c, strings.Repeat(ref+",", 8)+ref)
	}
	b.WriteString("---\n# Bomb\n\nText.\n")
	return b.String()
}

// TestHostileFilesCostAtMostTheirBudget ingests, beside ordinary files, the Markdown files
// of issue 9 that stopped or killed the run: an alias bomb in front matter (grew the process
// to 23.7 GB), "- " 100,000 times then a letter (15-30 s in goldmark), a deeply indented
// list (quadratic), and a paragraph of emphasis delimiters that goldmark still parses in
// quadratic time. With a budget of 10 s and 256 MiB per file, the run finishes, lists the
// files that went over their budget with their reason, reads the nested lists (flattened
// at depth 32, with a note), ingests everything else, and its memory, children included,
// stays bounded.
func TestHostileFilesCostAtMostTheirBudget(t *testing.T) {
	t.Parallel()
	db := dbtest.New(t)
	dir := t.TempDir()
	var indented strings.Builder
	indented.WriteString("# Indented\n\n")
	for i := range 1500 {
		fmt.Fprintf(&indented, "%s- item %d\n", strings.Repeat("  ", i), i)
	}
	var pdf bytes.Buffer
	if err := pdfgen.Write(&pdf, pdfgen.Document{Title: "Fleet report", Pages: []pdfgen.Page{
		{Lines: []string{"Fleet report", "", "Robot 7 completed 412 deliveries in March."}},
	}}); err != nil {
		t.Fatal(err)
	}
	writeFiles(t, dir, map[string]string{
		".docent-acl":    "public\n",
		"bomb.md":        aliasBomb(),
		"deep-list.md":   strings.Repeat("- ", 100_000) + "deepest\n",
		"deep-indent.md": indented.String(),
		"emphasis.md":    "a**b" + strings.Repeat("c* ", 150_000) + "\n",
		"good.md":        "# Depot\n\nThe depot opens at six.\n",
		"page.html":      "<html><head><title>Charging</title></head><body><main><p>Robots charge for twenty minutes.</p></main></body></html>",
		"notes.txt":      "Notes\n\nThe fleet has forty robots.\n",
		"report.pdf":     pdf.String(),
	})
	if n := len(aliasBomb()); n > 400 {
		t.Fatalf("the alias bomb is %d bytes, not the finding's 368", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute) // the old code ran for minutes, then died
	defer cancel()
	cmd := ingestCmd(ctx, db.URL, "run", "--source", "hostile", "--json", "--concurrency", "2",
		// 10 s: the flattened lists take well under a second, but the children are race-detector
		// builds and CI machines can be loaded; the emphasis paragraph takes minutes.
		"--extract-timeout", "10s", "--extract-memory-limit", "256MiB", dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	out, err := cmd.Output()
	elapsed := time.Since(start)
	if code := exitCode(err); code != exitPartial {
		t.Fatalf("exit %d after %v, want %d (some files failed); stdout %s\nstderr %s", code, elapsed, exitPartial, out, stderr.String())
	}
	// Six small files, one that takes its 10 s, children started again: well under a
	// minute even under the race detector on a loaded machine.
	if elapsed > 90*time.Second {
		t.Errorf("the run took %v", elapsed)
	}
	maxRSS := cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss << 10 // the largest of the process and its children
	if maxRSS > 1<<30 {
		t.Errorf("peak resident memory %d MiB, want it bounded by the budget (256 MiB per child)", maxRSS>>20)
	}
	t.Logf("run of %v, peak resident memory %d MiB (process and children)", elapsed.Round(time.Millisecond), maxRSS>>20)
	var s struct {
		Documents map[string]int
		Failures  []struct{ URI, Reason, Message string }
	}
	if err := json.Unmarshal(out, &s); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	reasons := map[string]string{}
	for _, f := range s.Failures {
		reasons[f.URI] = f.Reason
		t.Logf("%s: %s: %s", f.URI, f.Reason, f.Message)
	}
	// The alias bomb goes over the memory budget or the time budget, whichever it reaches
	// first; a front-matter reader that bounds alias expansion itself refuses it first.
	if r := reasons["bomb.md"]; r != extract.ReasonMemory && r != extract.ReasonTimeout && r != extract.ReasonInvalid {
		t.Errorf("bomb.md: reason %q, want %s, %s or %s", r, extract.ReasonMemory, extract.ReasonTimeout, extract.ReasonInvalid)
	}
	if r := reasons["emphasis.md"]; r != extract.ReasonTimeout {
		t.Errorf("emphasis.md: reason %q, want %s", r, extract.ReasonTimeout)
	}
	if len(reasons) != 2 || s.Documents["failed"] != 2 || s.Documents["added"] != 6 {
		t.Errorf("documents %v, failures %v: want the six other files added", s.Documents, reasons)
	}
	rows, err := db.Pool.Query(ctx, `SELECT uri, coalesce(metadata->>'extract_note', ''), text FROM documents ORDER BY uri`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	notes := map[string]string{}
	for rows.Next() {
		var uri, note, text string
		if err := rows.Scan(&uri, &note, &text); err != nil {
			t.Fatal(err)
		}
		notes[uri] = note
		if uri == "deep-list.md" && !strings.Contains(text, "deepest") {
			t.Errorf("deep-list.md lost its text: %.100q", text)
		}
		if uri == "deep-indent.md" && !strings.Contains(text, "item 1499") {
			t.Errorf("deep-indent.md lost its text")
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for _, uri := range []string{"deep-list.md", "deep-indent.md"} {
		if !strings.Contains(notes[uri], "nested deeper than 32") {
			t.Errorf("%s: note %q, want one saying the nesting was flattened", uri, notes[uri])
		}
	}
	if notes["good.md"] != "" {
		t.Errorf("good.md has a note: %q", notes["good.md"])
	}
}

// fakeOpenAI speaks OpenAI's embeddings API with 16-dimensional vectors.
func fakeOpenAI(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Input []string `json:"input"`
			Model string   `json:"model"`
		}
		if r.URL.Path != "/v1/embeddings" || json.NewDecoder(r.Body).Decode(&req) != nil {
			http.Error(w, `{"error":{"message":"bad request"}}`, http.StatusBadRequest)
			return
		}
		type item struct {
			Object    string    `json:"object"`
			Index     int       `json:"index"`
			Embedding []float32 `json:"embedding"`
		}
		resp := struct {
			Object string `json:"object"`
			Data   []item `json:"data"`
			Model  string `json:"model"`
		}{Object: "list", Model: req.Model}
		for i, text := range req.Input {
			v := make([]float32, 16)
			for j, c := range text {
				v[j%16] += float32(c%7) + 1
			}
			resp.Data = append(resp.Data, item{Object: "embedding", Index: i, Embedding: v})
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(resp)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestProviderEmbedderAndMismatch(t *testing.T) {
	t.Parallel()
	db := dbtest.New(t)
	srv := fakeOpenAI(t)
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{".docent-acl": "public\n", "a.md": "# A\n\nalpha beta\n", "b.md": "# B\n\ngamma delta\n"})
	ingest := func(vars map[string]string, args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		getenv := func(k string) string {
			if k == "DOCENT_DATABASE_URL" {
				return db.URL
			}
			return vars[k]
		}
		code := run(context.Background(), args, env{getenv: getenv, stdout: &out, stderr: &errOut})
		return code, out.String(), errOut.String()
	}
	openai := map[string]string{"DOCENT_EMBEDDER": "openai:fake-embed", "DOCENT_OPENAI_BASE_URL": srv.URL + "/v1"}
	code, stdout, stderr := ingest(openai, "run", "--source", "docs", "--json", dir)
	if code != exitOK || !strings.Contains(stdout, `"embedder": "openai:fake-embed"`) {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	var dim int
	if err := db.Pool.QueryRow(context.Background(), `SELECT dimension FROM index_generations WHERE status = 'active' AND embedder = 'openai'`).Scan(&dim); err != nil || dim != 16 {
		t.Errorf("active generation dimension %d (%v), want 16 learned from the provider", dim, err)
	}
	// The index was built with the provider: the built-in embedder must not write into it.
	code, _, stderr = ingest(nil, "run", "--source", "docs", dir)
	if code != exitUsage || !strings.Contains(stderr, "ingest reindex") || !strings.Contains(stderr, "openai:fake-embed") {
		t.Errorf("switching embedder: exit %d, stderr %s", code, stderr)
	}
	// A provider that is down is a fatal error with a clear message, before anything is written.
	code, _, stderr = ingest(map[string]string{"DOCENT_EMBEDDER": "openai:fake-embed", "DOCENT_OPENAI_BASE_URL": "http://127.0.0.1:1/v1"}, "run", "--source", "docs", dir)
	if code != exitFatal || !strings.Contains(stderr, "127.0.0.1:1") {
		t.Errorf("provider down: exit %d, stderr %s", code, stderr)
	}
}
