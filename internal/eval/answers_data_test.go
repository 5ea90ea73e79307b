package eval

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/docent-rag/docent/internal/testing/evaldata"
)

func TestMTRAGData(t *testing.T) {
	t.Parallel()
	set, err := LoadMTRAG(evaldata.Path(t, "qa/mtrag"))
	if err != nil {
		t.Fatal(err)
	}
	counts := map[Answerability]int{}
	followUps, partial := 0, 0
	for _, c := range set.Cases {
		counts[c.Answerability]++
		if c.Partial {
			partial++
		}
		if len(c.History) > 0 {
			followUps++
		}
	}
	// As the data's README states: ANSWERABLE 141 + PARTIAL 18, UNANSWERABLE 52,
	// UNDERSPECIFIED 43; 22 tasks are first turns.
	if len(set.Cases) != 254 || counts[Answerable] != 159 || partial != 18 || counts[Unanswerable] != 52 || counts[Underspecified] != 43 || followUps != 232 {
		t.Errorf("%d tasks, %v (%d partial), %d follow-ups; want 254, 159/52/43 (18 partial), 232", len(set.Cases), counts, partial, followUps)
	}
	if !set.Conversational() || filepath.Base(set.Corpus) != "corpus.jsonl" {
		t.Errorf("set %s: conversational %v", set.Corpus, set.Conversational())
	}
}

func TestGoFAQData(t *testing.T) {
	t.Parallel()
	content := evaldata.Path(t, "docs/go-website/content")
	set, err := LoadFAQ(filepath.Join(content, "doc", "faq.md"), content)
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Cases) < 80 || set.Cases[0].Question != "What is the purpose of the project?" || set.Cases[0].GoldSources[0] != "doc/faq.md" {
		t.Errorf("%d cases, the first %+v", len(set.Cases), set.Cases[0])
	}
	for _, c := range set.Cases {
		if c.ID == "methods_on_values_or_pointers" && c.Answers[0][:4] == "func" {
			t.Errorf("the first paragraph of %s is its code block: %q", c.ID, c.Answers[0])
		}
	}
}

// TestGoDocsSet checks our own go.dev question set (testdata/eval/go-docs.jsonl): it loads,
// every source is a document of the corpus, none is the FAQ kept for checking, and the
// questions are spread over documents and kinds.
func TestGoDocsSet(t *testing.T) {
	t.Parallel()
	content := evaldata.Path(t, "docs/go-website/content")
	_, file, _, _ := runtime.Caller(0)
	set, err := LoadPairs(filepath.Join(filepath.Dir(file), "..", "..", "testdata", "eval", "go-docs.jsonl"), content)
	if err != nil {
		t.Fatal(err)
	}
	docs, types := map[string]int{}, map[string]int{}
	for _, c := range set.Cases {
		if len(c.GoldSources) != 1 || len(c.Groups) != 1 || c.Section == "" {
			t.Errorf("case %s: want one source, a type and a section", c.ID)
			continue
		}
		src := c.GoldSources[0]
		if src == "doc/faq.md" || src == "doc/go_faq.md" {
			t.Errorf("case %s is written from the FAQ, which is kept for checking", c.ID)
		}
		if _, err := os.Stat(filepath.Join(content, filepath.FromSlash(src))); err != nil {
			t.Errorf("case %s: %v", c.ID, err)
		}
		docs[src]++
		types[c.Groups[0]]++
	}
	if len(set.Cases) < 60 || len(docs) < 10 || len(types) != 4 {
		t.Errorf("%d questions over %d documents, types %v; want 60 or more over 10 or more, of 4 types", len(set.Cases), len(docs), types)
	}
}
