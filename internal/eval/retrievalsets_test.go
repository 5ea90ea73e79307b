package eval

import (
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// mtragFiles is a small MTRAG set in the layout of the real one: a follow-up with two
// reference passages, an unanswerable task without any, and a task on another collection.
func mtragFiles() map[string]string {
	return map[string]string{
		"corpus.jsonl": `{"_id": "g-1", "title": "Benefits", "text": "Apply online.", "metadata": {"collection": "govt"}}
{"_id": "g-2", "title": "Benefits", "text": "Or by mail.", "metadata": {"collection": "govt"}}
{"_id": "f-1", "title": "", "text": "Index funds are cheap.", "metadata": {"collection": "fiqa"}}
`,
		"tasks.jsonl": `{"task_id": "c1<::>3", "conversation_id": "c1", "turn": "3", "collection": "govt", "answerability": "ANSWERABLE", "history": [{"speaker": "user", "text": "How do I apply for benefits?"}, {"speaker": "agent", "text": "Online."}], "question": "Or by mail?", "reference_contexts": [{"document_id": "g-1", "title": "Benefits", "text": "Apply online."}, {"document_id": "g-2", "title": "Benefits", "text": "Or by mail."}], "reference_answer": "Yes."}
{"task_id": "c2<::>2", "conversation_id": "c2", "turn": "2", "collection": "govt", "answerability": "UNANSWERABLE", "history": [], "question": "Who won in 1822?", "reference_contexts": [], "reference_answer": ""}
{"task_id": "c3<::>1", "conversation_id": "c3", "turn": "1", "collection": "fiqa", "answerability": "ANSWERABLE", "history": [], "question": "Are index funds cheap?", "reference_contexts": [{"document_id": "f-1", "title": "", "text": "Index funds are cheap."}], "reference_answer": "Yes."}
`,
	}
}

func TestLoadMTRAGRetrieval(t *testing.T) {
	t.Parallel()
	dir := writeFiles(t, mtragFiles())
	got, format, err := LoadRetrievalSet(dir, "", "")
	if err != nil {
		t.Fatal(err)
	}
	want := &BEIR{
		// The last question as asked (the set has no rewritten one); the unanswerable task,
		// without reference passages, is left out.
		Queries:    []Query{{ID: "c1<::>3", Text: "Or by mail?", Subset: "govt"}, {ID: "c3<::>1", Text: "Are index funds cheap?", Subset: "fiqa"}},
		Qrels:      map[string]map[string]int{"c1<::>3": {"g-1": 1, "g-2": 1}, "c3<::>1": {"f-1": 1}},
		CorpusPath: filepath.Join(dir, "corpus.jsonl"), CorpusDocs: 3,
	}
	if format != FormatMTRAG {
		t.Errorf("format %q, want %q", format, FormatMTRAG)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("LoadRetrievalSet (-want +got):\n%s", diff)
	}
}

func TestClapNQAsRetrieval(t *testing.T) {
	t.Parallel()
	dir := writeFiles(t, clapnqFiles())
	got, format, err := LoadRetrievalSet(dir, "", "all")
	if err != nil {
		t.Fatal(err)
	}
	// Only the answerable question, judging its gold passage.
	want := &BEIR{
		Queries:    []Query{{ID: "-17", Text: "what causes tides"}},
		Qrels:      map[string]map[string]int{"-17": {"p1": 1}},
		CorpusPath: filepath.Join(dir, "corpus.jsonl"), CorpusDocs: 3,
	}
	if format != FormatClapNQ {
		t.Errorf("format %q, want %q", format, FormatClapNQ)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("LoadRetrievalSet (-want +got):\n%s", diff)
	}
}

func TestLoadRetrievalSetErrors(t *testing.T) {
	t.Parallel()
	mtrag := mtragFiles()
	badRef := map[string]string{"corpus.jsonl": mtrag["corpus.jsonl"],
		"tasks.jsonl": `{"task_id": "t", "question": "q", "reference_contexts": [{"document_id": "nowhere"}]}` + "\n"}
	noQuestion := map[string]string{"corpus.jsonl": mtrag["corpus.jsonl"],
		"tasks.jsonl": `{"task_id": "t", "question": " ", "reference_contexts": [{"document_id": "g-1"}]}` + "\n"}
	dupTask := map[string]string{"corpus.jsonl": mtrag["corpus.jsonl"],
		"tasks.jsonl": `{"task_id": "t", "question": "q", "reference_contexts": []}` + "\n" + `{"task_id": "t", "question": "q", "reference_contexts": []}` + "\n"}
	noRefs := map[string]string{"corpus.jsonl": mtrag["corpus.jsonl"],
		"tasks.jsonl": `{"task_id": "t", "question": "q", "reference_contexts": []}` + "\n"}
	both := mtragFiles()
	both["questions.jsonl"] = clapnqFiles()["questions.jsonl"]
	clapUnanswerable := clapnqFiles()
	clapUnanswerable["questions.jsonl"] = `{"id": "42", "question": "how old is the moon", "answerable": false, "passage_id": "p2"}` + "\n"
	for _, tt := range []struct {
		name   string
		files  map[string]string
		format string
		split  string
		want   string
	}{
		{"reference passage not in the corpus", badRef, "", "", `tasks.jsonl:1: task t: reference passage "nowhere" is not in`},
		{"empty question", noQuestion, "", "", `task t: empty "question"`},
		{"duplicate task", dupTask, "", "", `tasks.jsonl:2: duplicate task id "t"`},
		{"no task with references", noRefs, "", "", "no task with reference passages"},
		{"two formats", both, "", "", "several formats (clapnq, mtrag)"},
		{"nothing", map[string]string{"corpus.jsonl": mtrag["corpus.jsonl"]}, "", "", "no queries.jsonl (BEIR), questions.jsonl (ClapNQ) or tasks.jsonl (MTRAG)"},
		{"a split of MTRAG", mtrag, FormatMTRAG, "test", `has no splits (got "test")`},
		{"unknown format", mtrag, "trec", "", `unknown format "trec"`},
		{"ClapNQ without answerable questions", clapUnanswerable, "", "", "no answerable question"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeFiles(t, tt.files)
			_, _, err := LoadRetrievalSet(dir, tt.format, tt.split)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestFolds(t *testing.T) {
	t.Parallel()
	// The fold is FNV-1a (64 bits) of the id modulo n: of the id only, never of the order.
	if got := []int{Fold("1", 5), Fold("2", 5), Fold("6401197308716204890", 5)}; !cmp.Equal(got, []int{fnvFold("1", 5), fnvFold("2", 5), fnvFold("6401197308716204890", 5)}) {
		t.Errorf("folds %v are not FNV-1a 64 modulo 5", got)
	}
	// Every fold of a large set gets about its share, and the folds partition the set.
	counts := make([]int, 5)
	b := &BEIR{Qrels: map[string]map[string]int{}}
	for i := range 1000 {
		id := "q" + strconv.Itoa(i)
		b.Queries = append(b.Queries, Query{ID: id})
		b.Qrels[id] = map[string]int{"d": 1}
		counts[Fold(id, 5)]++
	}
	for f, c := range counts {
		if c < 150 || c > 250 {
			t.Errorf("fold %d holds %d of 1000 queries", f, c)
		}
	}
	tune, err := b.InFolds(5, []int{0, 1})
	if err != nil {
		t.Fatal(err)
	}
	held, err := b.InFolds(5, []int{2, 3, 4})
	if err != nil {
		t.Fatal(err)
	}
	if len(tune.Queries)+len(held.Queries) != 1000 || len(tune.Qrels) != len(tune.Queries) {
		t.Errorf("folds 0,1 hold %d and 2,3,4 %d queries of 1000", len(tune.Queries), len(held.Queries))
	}
	for _, q := range tune.Queries {
		if f := Fold(q.ID, 5); f > 1 {
			t.Errorf("query %s of fold %d among folds 0,1", q.ID, f)
		}
	}
	if _, err := b.InFolds(5, []int{5}); err == nil {
		t.Error("fold 5 of 5 accepted")
	}
}

func fnvFold(id string, n int) int {
	const offset, prime = 14695981039346656037, 1099511628211
	h := uint64(offset)
	for i := range len(id) {
		h ^= uint64(id[i])
		h *= prime
	}
	return int(h % uint64(n))
}
