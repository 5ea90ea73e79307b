package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docent-rag/docent/internal/testing/dbtest"
)

// runEval runs the command in-process against the test server. The evaluation database it
// creates is dropped when the test ends.
func runEval(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	server := dbtest.ServerURL()
	getenv := func(k string) string {
		if k == "DOCENT_DATABASE_URL" {
			return server
		}
		return ""
	}
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, env{getenv: getenv, stdout: &out, stderr: &errOut})
	return code, out.String(), errOut.String()
}

func dropEvalDatabases(t *testing.T, stderr string) {
	t.Helper()
	// "eval: ingesting X into database NAME ..."
	for _, line := range strings.Split(stderr, "\n") {
		_, rest, ok := strings.Cut(line, "into database ")
		if !ok {
			continue
		}
		name := strings.Fields(rest)[0]
		t.Cleanup(func() { dbtest.Drop(t, name) })
	}
}

func TestBEIREndToEnd(t *testing.T) {
	dbtest.New(t) // skips or fails like every database test when there is no server
	code, stdout, stderr := runEval(t, "beir", "--dataset", "testdata/mini", "--mode", "lexical", "--rerank", "none", "--json")
	dropEvalDatabases(t, stderr)
	if code != exitOK {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	var rep map[string]any
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("--json: %v\n%s", err, stdout)
	}
	for _, key := range []string{"dataset", "split", "mode", "rerank", "queries", "ndcg@10", "recall@10", "recall@100", "mrr@10", "latency_ms"} {
		if _, ok := rep[key]; !ok {
			t.Errorf("report has no %q: %s", key, stdout)
		}
	}
	// Each query's relevant document shares its distinctive words: BM25 ranks it first.
	if rep["queries"] != float64(4) || rep["mrr@10"].(float64) < 0.99 || rep["recall@10"].(float64) < 0.99 {
		t.Errorf("report %s: want 4 queries, each with its relevant documents found first", stdout)
	}
	// A second run reuses the ingested corpus.
	code, _, stderr = runEval(t, "beir", "--dataset", "testdata/mini", "--mode", "hybrid")
	if code != exitOK || !strings.Contains(stderr, "0 added, 6 unchanged") {
		t.Errorf("second run: exit %d, stderr %s", code, stderr)
	}
}

func TestUsage(t *testing.T) {
	for _, tt := range []struct {
		args []string
		code int
		want string
	}{
		{nil, exitUsage, "usage: eval"},
		{[]string{"nope"}, exitUsage, `unknown command "nope"`},
		{[]string{"beir"}, exitUsage, "give one of --dataset DIR"},
		{[]string{"beir", "--dataset", "testdata/mini", "--mode", "psychic"}, exitUsage, `--mode "psychic"`},
		{[]string{"beir", "--dataset", "testdata/nowhere"}, exitUsage, "testdata/nowhere"},
		{[]string{"qa", "--k", "0", "--dataset", "x"}, exitUsage, "--k must be at least 1"},
	} {
		code, stdout, stderr := runEval(t, tt.args...)
		if code != tt.code || !strings.Contains(stdout+stderr, tt.want) {
			t.Errorf("%v: exit %d, output %s%s; want %d with %q", tt.args, code, stdout, stderr, tt.code, tt.want)
		}
	}
	if code, stdout, _ := runEval(t, "beir", "--help"); code != exitOK || !strings.Contains(stdout, "usage: eval beir") {
		t.Errorf("beir --help: exit %d, %s", code, stdout)
	}
}

// TestBEIRGoesOnPastAFailingQuery: a query that fails is counted and listed, scores 0, and
// the run goes on to the end (exit 3); a query of 2,023 characters is not one (it runs with
// its most informative words). Before, the first failing query, and any query over 2,000
// characters, ended the run with exit 1 and no report.
func TestBEIRGoesOnPastAFailingQuery(t *testing.T) {
	dbtest.New(t)
	dir := t.TempDir()
	for _, name := range []string{"corpus.jsonl", "qrels/test.tsv"} {
		data, err := os.ReadFile(filepath.Join("testdata/mini", name))
		if err != nil {
			t.Fatal(err)
		}
		if name == "qrels/test.tsv" {
			data = append(data, "q5\td2\t1\nq6\td2\t1\n"...)
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	queries, err := os.ReadFile("testdata/mini/queries.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("Please tell me, ", 125) + "where are robots parked overnight?" // 2,034 characters
	q5, _ := json.Marshal(map[string]string{"_id": "q5", "text": long})
	// A query of format characters only: not blank to the loader, empty once normalised.
	q6, _ := json.Marshal(map[string]string{"_id": "q6", "text": "\u200b\u200b"})
	queries = append(queries, string(q5)+"\n"+string(q6)+"\n"...)
	if err := os.WriteFile(filepath.Join(dir, "queries.jsonl"), queries, 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runEval(t, "beir", "--dataset", dir, "--mode", "lexical", "--rerank", "none", "--json")
	dropEvalDatabases(t, stderr)
	if code != exitPartial {
		t.Fatalf("exit %d, want %d\n%s\n%s", code, exitPartial, stdout, stderr)
	}
	var rep struct {
		Queries  int     `json:"queries"`
		MRR      float64 `json:"mrr@10"`
		Failed   int     `json:"failed"`
		Failures []struct {
			ID, Error string
		} `json:"failures"`
	}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("--json: %v\n%s", err, stdout)
	}
	// Five queries find their document first; the failed one counts as 0.
	if rep.Queries != 6 || rep.Failed != 1 || len(rep.Failures) != 1 || rep.Failures[0].ID != "q6" ||
		!strings.Contains(rep.Failures[0].Error, "empty") || rep.MRR < 5.0/6-0.01 || rep.MRR > 5.0/6+0.01 {
		t.Errorf("report %s", stdout)
	}
	if !strings.Contains(stderr, "1 of 6 queries failed") {
		t.Errorf("stderr does not say how many queries failed: %s", stderr)
	}
}
