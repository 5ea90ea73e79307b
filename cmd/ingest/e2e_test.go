package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/docent-rag/docent/internal/dbtest"
	"github.com/docent-rag/docent/internal/extract"
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

// TestKilledRunLeavesEveryDocumentWholeAndReRunCompletes kills an ingest run with SIGKILL
// in the middle, then checks that every document in the index is complete (its chunks, their
// vectors, consistent statistics) and that a re-run finishes the work.
func TestKilledRunLeavesEveryDocumentWholeAndReRunCompletes(t *testing.T) {
	t.Parallel()
	db := dbtest.New(t)
	dir := t.TempDir()
	files := map[string]string{".docent-acl": "public\n"}
	const n = 1500
	for i := range n {
		files[fmt.Sprintf("doc%04d.md", i)] = fmt.Sprintf("# Document %d\n\n%s\n\n## Part two\n\n%s\n", i,
			strings.Repeat(fmt.Sprintf("Robot %d reports its battery level every minute. ", i), 30),
			strings.Repeat("The fleet manager schedules charging when the level drops. ", 30))
	}
	writeFiles(t, dir, files)
	ctx := context.Background()

	cmd := ingestCmd(ctx, db.URL, "run", "--source", "big", "--concurrency", "2", dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Kill it once some documents are committed, well before the end.
	deadline := time.Now().Add(60 * time.Second)
	for {
		var docs int
		if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM documents`).Scan(&docs); err != nil {
			t.Fatal(err)
		}
		if docs >= 100 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no progress; stderr:\n%s", stderr.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()

	checkWhole := func(step string) int {
		t.Helper()
		var docs, incomplete, badStats int
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
		err = db.Pool.QueryRow(ctx, `
			WITH truth AS (SELECT chunking_id, lexeme, count(*)::int AS df FROM chunks, unnest(tsvector_to_array(tsv)) lexeme GROUP BY 1, 2)
			SELECT count(*) FROM truth FULL JOIN (SELECT * FROM lexeme_stats WHERE df > 0) s USING (chunking_id, lexeme)
			WHERE truth.df IS DISTINCT FROM s.df`).Scan(&badStats)
		if err != nil {
			t.Fatal(err)
		}
		if badStats != 0 {
			t.Errorf("%s: %d lexemes have statistics that differ from the chunks", step, badStats)
		}
		return docs
	}
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
