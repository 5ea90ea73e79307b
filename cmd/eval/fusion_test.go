package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docent-rag/docent/internal/testing/dbtest"
)

// TestRankingsAndFusion: `eval beir --rankings` writes both legs of every query, and
// `eval fusion` replays them: its lexical-only figures are those of `eval beir --mode lexical`.
func TestRankingsAndFusion(t *testing.T) {
	dbtest.New(t)
	path := filepath.Join(t.TempDir(), "mini.jsonl")
	code, stdout, stderr := runEval(t, "beir", "--dataset", "testdata/mini", "--rerank", "none", "--rankings", path, "--json")
	dropEvalDatabases(t, stderr)
	if code != exitOK {
		t.Fatalf("beir --rankings: exit %d\n%s\n%s", code, stdout, stderr)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) != 4 {
		t.Fatalf("%d lines of rankings, want one per query (4)", len(lines))
	}
	var q rankedQuery
	if err := json.Unmarshal([]byte(lines[0]), &q); err != nil {
		t.Fatal(err)
	}
	if q.Dataset != "mini-test" || q.ID == "" || len(q.Qrels) == 0 || len(q.Lexical) == 0 || len(q.Dense) == 0 || q.Lexical[0].Doc == "" {
		t.Errorf("first line %s: want the dataset, the query, its judgments and both legs", lines[0])
	}
	_, lexOut, _ := runEval(t, "beir", "--dataset", "testdata/mini", "--rerank", "none", "--mode", "lexical", "--json")
	var lex struct {
		NDCG float64 `json:"ndcg@10"`
	}
	if err := json.Unmarshal([]byte(lexOut), &lex); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = runEval(t, "fusion", "--rankings", path, "--folds", "1", "--tune", "0", "--json")
	if code != exitOK {
		t.Fatalf("fusion: exit %d\n%s\n%s", code, stdout, stderr)
	}
	var rep fusionReport
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("fusion --json: %v\n%s", err, stdout)
	}
	if len(rep.Rows) != 1 || rep.Rows[0].Tune["lexical"].Queries != 4 || rep.Rows[0].Tune["lexical"].NDCG10 != lex.NDCG || rep.Chosen == "" {
		t.Errorf("fusion report %s: want 4 queries with lexical nDCG@10 %v", stdout, lex.NDCG)
	}
}

func TestFusionUsage(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.jsonl")
	if err := os.WriteFile(bad, []byte("{\"dataset\": \"x\", \"id\": \"1\"}\nnot json\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"fusion"}, "--rankings is required"},
		{[]string{"fusion", "--rankings", bad, "--folds", "3", "--tune", "3"}, "want at least one fold"},
		{[]string{"fusion", "--rankings", bad}, "bad.jsonl:2"},
		{[]string{"beir", "--dataset", "testdata/mini", "--mode", "lexical", "--rankings", bad}, "--rankings needs --mode hybrid"},
		{[]string{"beir", "--dataset", "testdata/mini", "--folds", "2", "--fold", "2"}, "--fold"},
	} {
		code, stdout, stderr := runEval(t, tt.args...)
		if code != exitUsage || !strings.Contains(stdout+stderr, tt.want) {
			t.Errorf("%v: exit %d, output %s%s; want %d with %q", tt.args, code, stdout, stderr, exitUsage, tt.want)
		}
	}
}

// TestRankingsOfAnswerSets: `eval beir` reads MTRAG and question/answer pairs as retrieval
// sets, and the rankings carry each query's fold key: an MTRAG task's conversation, so that
// `eval fusion` keeps the turns of a conversation in one fold (main's one fold rule).
func TestRankingsOfAnswerSets(t *testing.T) {
	dbtest.New(t)
	dir := t.TempDir()
	for _, tt := range []struct {
		name string
		args []string
	}{
		{"mtrag", []string{"--dataset", "testdata/answers/mtrag"}},
		{"pairs", []string{"--pairs", "testdata/answers/pairs.jsonl", "--corpus", "testdata/answers/corpus.jsonl"}},
	} {
		path := filepath.Join(dir, tt.name+".jsonl")
		code, stdout, stderr := runEval(t, append([]string{"beir", "--rerank", "none", "--rankings", path, "--json"}, tt.args...)...)
		dropEvalDatabases(t, stderr)
		if code != exitOK {
			t.Fatalf("%s: exit %d\n%s\n%s", tt.name, code, stdout, stderr)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			var q rankedQuery
			if err := json.Unmarshal([]byte(line), &q); err != nil {
				t.Fatal(err)
			}
			conv, _, isTask := strings.Cut(q.ID, "<::>")
			switch {
			case tt.name == "mtrag" && (!isTask || q.FoldKey != conv || q.Subset == ""):
				t.Errorf("MTRAG task %s: fold key %q, subset %q; want its conversation %q and its collection", q.ID, q.FoldKey, q.Subset, conv)
			case tt.name == "pairs" && q.FoldKey != q.ID:
				t.Errorf("pair %s: fold key %q, want its id", q.ID, q.FoldKey)
			case len(q.Qrels) == 0 || len(q.Lexical) == 0:
				t.Errorf("%s: %s has no judgments or no lexical ranking", tt.name, line)
			}
		}
	}
	for _, args := range [][]string{
		{"beir", "--pairs", "testdata/answers/pairs.jsonl"},
		{"beir", "--dataset", "testdata/answers/mtrag", "--pairs", "testdata/answers/pairs.jsonl", "--corpus", "testdata/answers/corpus.jsonl"},
		{"beir", "--pairs", "testdata/answers/pairs.jsonl", "--corpus", "testdata/answers/corpus.jsonl", "--split", "test"},
	} {
		if code, stdout, stderr := runEval(t, args...); code != exitUsage {
			t.Errorf("%v: exit %d, want %d\n%s%s", args, code, exitUsage, stdout, stderr)
		}
	}
}
