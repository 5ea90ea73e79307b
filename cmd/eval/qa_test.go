package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docent-rag/docent/internal/testing/dbtest"
)

// clapNQFixture writes a ClapNQ set over the mini corpus: the four questions of the mini
// BEIR set, answerable from their passage, one unanswerable question, and q6, whose text is
// format characters only: not blank to the loader, empty once normalised, so that its
// retrieval fails.
func clapNQFixture(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	corpus, err := os.ReadFile("testdata/mini/corpus.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "corpus.jsonl"), corpus, 0o644); err != nil {
		t.Fatal(err)
	}
	var questions strings.Builder
	enc := json.NewEncoder(&questions)
	for _, q := range []struct {
		id, text, passage string
		answerable        bool
	}{
		{"q1", "How long do robots charge?", "d3", true},
		{"q2", "Which battery cells last more charge cycles?", "d1", true},
		{"q3", "What happens when a person walks in front of a robot?", "d4", true},
		{"q4", "Where are robots parked overnight?", "d2", true},
		{"q5", "Which aisle holds the forklift fuel?", "d2", false},
		{"q6", "\u200b\u200b", "d3", true},
	} {
		rec := map[string]any{"id": q.id, "question": q.text, "answerable": q.answerable, "passage_id": q.passage}
		if q.answerable {
			rec["answers"] = []string{"an answer"}
		}
		if err := enc.Encode(rec); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "questions.jsonl"), []byte(questions.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// runEvalJSON runs the command with --json, wants the exit status want, decodes the report
// into v and returns the output.
func runEvalJSON(t *testing.T, want int, v any, args ...string) (stdout, stderr string) {
	t.Helper()
	code, stdout, stderr := runEval(t, append(args, "--json")...)
	dropEvalDatabases(t, stderr)
	if code != want {
		t.Fatalf("%v: exit %d, want %d\n%s\n%s", args, code, want, stdout, stderr)
	}
	if err := json.Unmarshal([]byte(stdout), v); err != nil {
		t.Fatalf("%v --json: %v\n%s", args, err, stdout)
	}
	return stdout, stderr
}

// TestQAGoesOnPastAFailingQuestion: a question whose retrieval fails is counted and listed,
// finds nothing, and the run goes on to a complete report (exit 3, as eval beir); with
// --groups, each of its retrievals (one per view) likewise. Before, the first failing
// question ended eval qa with exit 1 and no report.
func TestQAGoesOnPastAFailingQuestion(t *testing.T) {
	dbtest.New(t)
	dir := clapNQFixture(t)
	features := filepath.Join(t.TempDir(), "features.jsonl")
	var rep qaReport
	stdout, stderr := runEvalJSON(t, exitPartial, &rep, "qa", "--dataset", dir, "--mode", "lexical", "--rerank", "none", "--k", "1", "--features", features)
	// Four of the five answerable questions find their passage first; q6 counts as not.
	if rep.Questions != 6 || rep.Answerable != 5 || rep.Failed != 1 || len(rep.Failures) != 1 || rep.Failures[0].ID != "q6" ||
		!strings.Contains(rep.Failures[0].Error, "empty") || rep.RecallAtK < 0.79 || rep.RecallAtK > 0.81 {
		t.Errorf("report %s: want 6 questions, q6 failed, gold recall@1 4/5", stdout)
	}
	if !strings.Contains(stderr, "1 of 6 queries failed") || !strings.Contains(stderr, "question q6 failed") {
		t.Errorf("stderr does not say which question failed and how many: %s", stderr)
	}
	// The failed question is not a row to fit the strength model on.
	dump, err := readFeatures(features)
	if err != nil {
		t.Fatal(err)
	}
	if len(dump) != 5 {
		t.Errorf("--features has %d rows, want the 5 questions retrieved", len(dump))
	}
	for _, r := range dump {
		if r.ID == "q6" {
			t.Errorf("--features has the failed question: %+v", r)
		}
	}
	// The table says it too.
	code, stdout, _ := runEval(t, "qa", "--dataset", dir, "--mode", "lexical", "--rerank", "none")
	if code != exitPartial || !strings.Contains(stdout, "1 questions failed") || !strings.Contains(stdout, "q6") {
		t.Errorf("table: exit %d\n%s", code, stdout)
	}

	var sliced sliceReport
	stdout, stderr = runEvalJSON(t, exitPartial, &sliced, "qa", "--dataset", dir, "--mode", "lexical", "--rerank", "none", "--groups", "2")
	// Two views (the whole corpus, 1/2 of it), one floor: q6 fails in each.
	if len(sliced.Rows) != 2 || sliced.Failed != 2 || len(sliced.Failures) != 2 || sliced.Failures[0].ID != "q6" {
		t.Fatalf("--groups report %s: want 2 rows and q6 failed in each", stdout)
	}
	for _, row := range sliced.Rows {
		if row.Queries != 6 || row.Failed != 1 || row.Quality < 0.79 || row.Quality > 0.81 {
			t.Errorf("--groups row %+v: want 6 queries, 1 failed, gold recall@5 4/5", row)
		}
	}
	if !strings.Contains(stderr, "2 of 12 queries failed") {
		t.Errorf("--groups: stderr does not say how many retrievals failed: %s", stderr)
	}
	code, stdout, _ = runEval(t, "qa", "--dataset", dir, "--mode", "lexical", "--rerank", "none", "--groups", "2")
	if code != exitPartial || !strings.Contains(stdout, "2 retrievals failed") || !strings.Contains(stdout, "q6: as the caller of the whole corpus") {
		t.Errorf("--groups table: exit %d\n%s", code, stdout)
	}
}
