package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docent-rag/docent/internal/answer"
	"github.com/docent-rag/docent/internal/ask"
	"github.com/docent-rag/docent/internal/testing/dbtest"
)

// answersJSON runs `eval answers ... --json` and decodes the report.
func answersJSON(t *testing.T, vars map[string]string, args ...string) answersReport {
	t.Helper()
	code, stdout, stderr := runEvalEnv(t, vars, append([]string{"answers", "--json"}, args...)...)
	dropEvalDatabases(t, stderr)
	if code != exitOK {
		t.Fatalf("eval answers %v: exit %d\n%s\n%s", args, code, stdout, stderr)
	}
	var rep answersReport
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("--json: %v\n%s", err, stdout)
	}
	if !strings.Contains(stderr, "answerable answered") {
		t.Errorf("no summary on standard error: %s", stderr)
	}
	return rep
}

func share(t *testing.T, name string, v *float64) float64 {
	t.Helper()
	if v == nil {
		t.Fatalf("%s is null", name)
	}
	return *v
}

// readCases reads a --cases file.
func readCases(t *testing.T, path string) []caseLine {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []caseLine
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var l caseLine
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatalf("--cases line %q: %v", line, err)
		}
		out = append(out, l)
	}
	return out
}

// TestAnswersPairsEndToEnd asks question/answer pairs over a JSON Lines corpus through the
// answer path: each answerable question shares distinctive words with its passage, which is
// cited in an extractive answer; the question about nothing in the corpus is refused.
func TestAnswersPairsEndToEnd(t *testing.T) {
	dbtest.New(t)
	cases := filepath.Join(t.TempDir(), "cases.jsonl")
	rep := answersJSON(t, nil, "--pairs", "testdata/answers/pairs.jsonl", "--corpus", "testdata/answers/corpus.jsonl", "--cases", cases)
	defaultMin, _ := minEvidence(func(string) string { return "" })
	if rep.Kind != "pairs" || rep.Generator != "extractive" || rep.MinEvidence != defaultMin || rep.Cases != 6 || len(rep.Runs) != 1 || rep.Runs[0].History != "none" {
		t.Fatalf("report %+v", rep)
	}
	m := rep.Runs[0].Overall
	if m.Answerable != 5 || m.Unanswerable != 1 || share(t, "gold_cited", m.GoldCited) != 1 || share(t, "answerable_answered", m.AnswerableAnswered) != 1 ||
		share(t, "unanswerable_refused", m.UnanswerableRefused) != 1 || share(t, "sentence_support", m.SentenceSupport) != 1 {
		t.Errorf("overall %+v: want every answerable answered citing its passage, the other refused", m)
	}
	if f1, r := share(t, "answer_f1", m.F1), share(t, "answer_recall", m.Recall); f1 < 0.3 || f1 > 0.95 || r < 0.9 {
		t.Errorf("F1 %.3f, recall %.3f: the extractive answers quote the gold answers' words and more", f1, r)
	}
	if len(rep.Runs[0].Groups) != 3 || rep.Runs[0].PerFold != nil {
		t.Errorf("groups %+v, folds %+v: want the three types, no folds", rep.Runs[0].Groups, rep.Runs[0].PerFold)
	}
	lines := readCases(t, cases)
	if len(lines) != 6 {
		t.Fatalf("%d lines in --cases, want 6", len(lines))
	}
	for _, l := range lines {
		switch {
		case l.ID == "nothing":
			// The use case's own refusal: the answer path ran, not a copy of it.
			if !l.Refused || l.Answer != ask.NoEvidenceText {
				t.Errorf("unanswerable case: %+v", l)
			}
		case l.Refused || !strings.Contains(l.Answer, "[1]") || l.GoldCited == nil || !*l.GoldCited || l.Overlap == nil:
			t.Errorf("case %s: %+v, want a cited extractive answer", l.ID, l)
		case len(l.Sources) == 0 || len(l.Cited) != 1 || l.Cited[0] != l.Sources[0]:
			// Each pair's passage ranks first and is the one quoted.
			t.Errorf("case %s: sources %q, cited %q: want the sources in order and the one cited", l.ID, l.Sources, l.Cited)
		}
	}
	if rep.MinCoverage != answer.DefaultMinCoverage {
		t.Errorf("min_coverage %g, want the answerer's default %g", rep.MinCoverage, answer.DefaultMinCoverage)
	}
	// --min-coverage is the extractive answerer's: at 1 a sentence must hold every word of its
	// question, which some of these passages' sentences do not, so fewer are answered.
	strict := answersJSON(t, nil, "--pairs", "testdata/answers/pairs.jsonl", "--corpus", "testdata/answers/corpus.jsonl", "--min-coverage", "1")
	if strict.MinCoverage != 1 || share(t, "answerable_answered", strict.Runs[0].Overall.AnswerableAnswered) == 1 {
		t.Errorf("--min-coverage 1: min_coverage %g, answered %v: want fewer answered", strict.MinCoverage, *strict.Runs[0].Overall.AnswerableAnswered)
	}
	if code, _, stderr := runEval(t, "answers", "--pairs", "testdata/answers/pairs.jsonl", "--corpus", "testdata/answers/corpus.jsonl", "--min-coverage", "1.5"); code != exitUsage || !strings.Contains(stderr, "--min-coverage") {
		t.Errorf("--min-coverage 1.5: exit %d, %s", code, stderr)
	}

	// Folds partition the cases.
	total := 0
	for _, k := range []string{"0", "1"} {
		total += answersJSON(t, nil, "--pairs", "testdata/answers/pairs.jsonl", "--corpus", "testdata/answers/corpus.jsonl", "--folds", "2", "--fold", k).Cases
	}
	if total != 6 {
		t.Errorf("folds 0 and 1 of 2 hold %d cases, want 6", total)
	}
	if rep := answersJSON(t, nil, "--pairs", "testdata/answers/pairs.jsonl", "--corpus", "testdata/answers/corpus.jsonl", "--limit", "2", "--folds", "3"); rep.Cases != 2 || len(rep.Runs[0].PerFold) != 3 {
		t.Errorf("--limit 2 --folds 3: %d cases, %d folds reported", rep.Cases, len(rep.Runs[0].PerFold))
	}
}

// TestAnswersConversations asks MTRAG-style tasks with their history and without it.
func TestAnswersConversations(t *testing.T) {
	dbtest.New(t)
	rep := answersJSON(t, nil, "--dataset", "testdata/answers/mtrag", "--folds", "2")
	if rep.Kind != "mtrag" || len(rep.Runs) != 2 || rep.Runs[0].History != "with" || rep.Runs[1].History != "without" {
		t.Fatalf("runs %+v: want with and without history", rep.Runs)
	}
	for _, run := range rep.Runs {
		m := run.Overall
		if m.Cases != 3 || m.Answerable != 2 || m.Unanswerable != 1 || len(run.PerFold) != 2 || run.PerFold[0].Cases+run.PerFold[1].Cases != 3 {
			t.Errorf("%s history: %+v, folds %+v", run.History, m, run.PerFold)
		}
		if share(t, "unanswerable_refused", m.UnanswerableRefused) != 1 {
			t.Errorf("%s history: the question about nothing in the corpus was answered", run.History)
		}
		groups := map[string]int{}
		for _, g := range run.Groups {
			groups[g.Group] = g.Cases
		}
		if groups["first turn"] != 1 || groups["follow-up"] != 2 || groups["nature"] != 2 || groups["games"] != 1 {
			t.Errorf("%s history: groups %v", run.History, groups)
		}
	}
}

// TestAnswersFAQ asks a Markdown FAQ's headings over the folder that holds it: the gold
// source is the FAQ, by its path in the folder.
func TestAnswersFAQ(t *testing.T) {
	dbtest.New(t)
	rep := answersJSON(t, nil, "--faq", "testdata/answers/docs/faq.md", "--corpus", "testdata/answers/docs")
	m := rep.Runs[0].Overall
	if rep.Kind != "faq" || m.Cases != 2 || share(t, "gold_cited", m.GoldCited) != 1 || share(t, "answer_recall", m.Recall) < 0.99 {
		t.Errorf("report %+v, overall %+v", rep, m)
	}
}

// TestAnswersModel evaluates the answers of the model DOCENT_GENERATOR names, as the server
// would use it: a fake OpenAI-compatible server writes them.
func TestAnswersModel(t *testing.T) {
	dbtest.New(t)
	const text = "Hekla erupted more than twenty times since the year 874 [1]."
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/chat/completions") {
			http.NotFound(w, r)
			return
		}
		calls++
		w.Header().Set("Content-Type", "text/event-stream")
		chunk, _ := json.Marshal(map[string]any{"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "test-model",
			"choices": []map[string]any{{"index": 0, "delta": map[string]string{"role": "assistant", "content": text}}}})
		fmt.Fprintf(w, "data: %s\n\n", chunk)
		stop, _ := json.Marshal(map[string]any{"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "test-model",
			"choices": []map[string]any{{"index": 0, "delta": map[string]string{}, "finish_reason": "stop"}}})
		fmt.Fprintf(w, "data: %s\n\ndata: [DONE]\n\n", stop)
	}))
	defer srv.Close()
	dir := t.TempDir()
	pairs := filepath.Join(dir, "pairs.jsonl")
	if err := os.WriteFile(pairs, []byte(`{"id":"hekla","question":"How many times has Hekla erupted since 874?","answer":"More than twenty times.","sources":["volcano"]}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := filepath.Join(dir, "cases.jsonl")
	rep := answersJSON(t, map[string]string{"DOCENT_GENERATOR": "openai:test-model", "DOCENT_OPENAI_BASE_URL": srv.URL, "DOCENT_OPENAI_API_KEY": "k"},
		"--pairs", pairs, "--corpus", "testdata/answers/corpus.jsonl", "--cases", cases)
	if rep.Generator != "openai:test-model" || calls == 0 {
		t.Fatalf("generator %q after %d model calls", rep.Generator, calls)
	}
	if l := readCases(t, cases); len(l) != 1 || l[0].Answer != text || l[0].GoldCited == nil || !*l[0].GoldCited {
		t.Errorf("cases %+v: want the model's answer, citing the gold passage", l)
	}
}

func TestAnswersUsage(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"answers"}, "give one of --dataset"},
		{[]string{"answers", "--dataset", "testdata/answers/mtrag", "--corpus", "x"}, "give one of --dataset"},
		{[]string{"answers", "--pairs", "testdata/answers/pairs.jsonl"}, "give one of --dataset"},
		{[]string{"answers", "--pairs", "p", "--faq", "f", "--corpus", "c"}, "give one of --dataset"},
		{[]string{"answers", "--dataset", "testdata/answers", "--fold", "1"}, "needs --folds"},
		{[]string{"answers", "--dataset", "testdata/answers"}, "neither tasks.jsonl"},
		{[]string{"answers", "--pairs", "testdata/answers/corpus.jsonl", "--corpus", "testdata/answers/corpus.jsonl"}, "corpus.jsonl:1: invalid JSON record"},
		{[]string{"answers", "--dataset", "testdata/answers/mtrag", "--mode", "dense"}, "flag provided but not defined: -mode"},
		{[]string{"beir", "--dataset", "testdata/mini", "--folds", "2", "--fold", "2"}, "from 0 to 1"},
		{[]string{"qa", "--dataset", "x", "--folds", "-1"}, "--folds -1"},
	} {
		code, stdout, stderr := runEval(t, tt.args...)
		if code != exitUsage || !strings.Contains(stdout+stderr, tt.want) {
			t.Errorf("%v: exit %d, output %s%s; want %d with %q", tt.args, code, stdout, stderr, exitUsage, tt.want)
		}
	}
}

// TestBEIRFolds: --folds selects queries by fold, and without it the report is as before.
func TestBEIRFolds(t *testing.T) {
	dbtest.New(t)
	total := 0
	for _, k := range []string{"0", "1"} {
		code, stdout, stderr := runEval(t, "beir", "--dataset", "testdata/mini", "--mode", "lexical", "--rerank", "none", "--json", "--folds", "2", "--fold", k)
		dropEvalDatabases(t, stderr)
		var rep map[string]any
		if code != exitOK || json.Unmarshal([]byte(stdout), &rep) != nil || rep["folds"] != float64(2) {
			t.Fatalf("fold %s: exit %d\n%s\n%s", k, code, stdout, stderr)
		}
		total += int(rep["queries"].(float64))
	}
	if total != 4 {
		t.Errorf("the two folds hold %d queries, want the 4", total)
	}
	code, stdout, stderr := runEval(t, "beir", "--dataset", "testdata/mini", "--mode", "lexical", "--rerank", "none", "--json")
	dropEvalDatabases(t, stderr)
	if code != exitOK || strings.Contains(stdout, "fold") {
		t.Errorf("without --folds: exit %d, %s", code, stdout)
	}
}
