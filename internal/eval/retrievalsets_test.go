package eval

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// mtragRetrievalFiles is a small MTRAG set in the layout of the real one: two turns of one
// conversation (the second a follow-up with two reference passages), an unanswerable task
// without any, an underspecified one with a reference passage, and a task on another
// collection.
func mtragRetrievalFiles() map[string]string {
	return map[string]string{
		"corpus.jsonl": `{"_id": "g-1", "title": "Benefits", "text": "Apply online.", "metadata": {"collection": "govt"}}
{"_id": "g-2", "title": "Benefits", "text": "Or by mail.", "metadata": {"collection": "govt"}}
{"_id": "f-1", "title": "", "text": "Index funds are cheap.", "metadata": {"collection": "fiqa"}}
`,
		"tasks.jsonl": `{"task_id": "c1<::>1", "conversation_id": "c1", "turn": "1", "collection": "govt", "answerability": "ANSWERABLE", "history": [], "question": "How do I apply for benefits?", "reference_contexts": [{"document_id": "g-1"}], "reference_answer": "Online."}
{"task_id": "c1<::>3", "conversation_id": "c1", "turn": "3", "collection": "govt", "answerability": "PARTIAL", "history": [{"speaker": "user", "text": "How do I apply for benefits?"}, {"speaker": "agent", "text": "Online."}], "question": "Or by mail?", "reference_contexts": [{"document_id": "g-1", "title": "Benefits", "text": "Apply online."}, {"document_id": "g-2", "title": "Benefits", "text": "Or by mail."}], "reference_answer": "Yes."}
{"task_id": "c2<::>2", "conversation_id": "c2", "turn": "2", "collection": "govt", "answerability": "UNANSWERABLE", "history": [], "question": "Who won in 1822?", "reference_contexts": [], "reference_answer": ""}
{"task_id": "c4<::>1", "conversation_id": "c4", "turn": "1", "collection": "govt", "answerability": "UNDERSPECIFIED", "history": [], "question": "And the other one?", "reference_contexts": [{"document_id": "g-2"}], "reference_answer": "Which one?"}
{"task_id": "c3<::>1", "conversation_id": "c3", "turn": "1", "collection": "fiqa", "answerability": "ANSWERABLE", "history": [], "question": "Are index funds cheap?", "reference_contexts": [{"document_id": "f-1", "title": "", "text": "Index funds are cheap."}], "reference_answer": "Yes."}
`,
	}
}

func TestLoadMTRAGRetrieval(t *testing.T) {
	t.Parallel()
	dir := writeFiles(t, mtragRetrievalFiles())
	got, format, err := LoadRetrievalSet(dir, "", "")
	if err != nil {
		t.Fatal(err)
	}
	want := &BEIR{
		// The last question as asked (the set has no rewritten one), keyed for folds by its
		// conversation; the unanswerable task, without reference passages, is left out; the
		// underspecified one keeps its reference passage.
		Queries: []Query{
			{ID: "c1<::>1", Text: "How do I apply for benefits?", Subset: "govt", FoldKey: "c1"},
			{ID: "c1<::>3", Text: "Or by mail?", Subset: "govt", FoldKey: "c1"},
			{ID: "c4<::>1", Text: "And the other one?", Subset: "govt", FoldKey: "c4"},
			{ID: "c3<::>1", Text: "Are index funds cheap?", Subset: "fiqa", FoldKey: "c3"},
		},
		Qrels: map[string]map[string]int{"c1<::>1": {"g-1": 1}, "c1<::>3": {"g-1": 1, "g-2": 1}, "c4<::>1": {"g-2": 1},
			"c3<::>1": {"f-1": 1}},
		CorpusPath: filepath.Join(dir, "corpus.jsonl"),
	}
	if format != FormatMTRAG {
		t.Errorf("format %q, want %q", format, FormatMTRAG)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("LoadRetrievalSet (-want +got):\n%s", diff)
	}
}

// TestRetrievalFoldsByConversation: the turns of a conversation are in one fold whatever
// their task ids (main's one fold rule, keyed by the conversation), and a query without a
// fold key is keyed by its id.
func TestRetrievalFoldsByConversation(t *testing.T) {
	t.Parallel()
	var tasks strings.Builder
	for turn := range 40 {
		tasks.WriteString(`{"task_id": "conv-7<::>` + string(rune('a'+turn%26)) + string(rune('0'+turn/26)) + `", "conversation_id": "conv-7", "collection": "govt", "answerability": "ANSWERABLE", "question": "q", "reference_contexts": [{"document_id": "g-1"}], "reference_answer": "a"}` + "\n")
	}
	files := mtragRetrievalFiles()
	files["tasks.jsonl"] = tasks.String()
	b, _, err := LoadRetrievalSet(writeFiles(t, files), FormatMTRAG, "all")
	if err != nil {
		t.Fatal(err)
	}
	taskFolds := map[int]bool{}
	for _, q := range b.Queries {
		if q.Key() != "conv-7" || Fold(q.Key(), 5) != Fold("conv-7", 5) {
			t.Errorf("task %s: fold key %q, want its conversation", q.ID, q.Key())
		}
		taskFolds[Fold(q.ID, 5)] = true
	}
	if len(taskFolds) < 2 {
		t.Fatal("the test's task ids all fall in one fold: it would not see tasks keyed by their ids")
	}
	if k := (Query{ID: "q1"}).Key(); k != "q1" {
		t.Errorf("Key of a query without a fold key = %q, want its id", k)
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
		Queries:    []Query{{ID: "-17", Text: "what causes tides", FoldKey: "-17"}},
		Qrels:      map[string]map[string]int{"-17": {"p1": 1}},
		CorpusPath: filepath.Join(dir, "corpus.jsonl"),
	}
	if format != FormatClapNQ {
		t.Errorf("format %q, want %q", format, FormatClapNQ)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("LoadRetrievalSet (-want +got):\n%s", diff)
	}
}

// TestPairsAsRetrieval: question/answer pairs judge their sources relevant (a corpus-relative
// path, as a folder's documents are named); a pair without sources, or an unanswerable one,
// is no query.
func TestPairsAsRetrieval(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "pairs.jsonl")
	pairs := `{"id": "a", "question": "What does go mod tidy do?", "answer": "Tidies.", "sources": ["doc/modules.md", "ref/mod.md"]}
{"id": "b", "question": "Who wrote it?", "answer": "Someone."}
{"id": "c", "question": "What is the moon made of?", "answerable": false}
`
	if err := os.WriteFile(path, []byte(pairs), 0o644); err != nil {
		t.Fatal(err)
	}
	set, err := LoadPairs(path, dir)
	if err != nil {
		t.Fatal(err)
	}
	got, err := set.Retrieval()
	if err != nil {
		t.Fatal(err)
	}
	want := &BEIR{
		Queries:    []Query{{ID: "a", Text: "What does go mod tidy do?", FoldKey: "a"}},
		Qrels:      map[string]map[string]int{"a": {"doc/modules.md": 1, "ref/mod.md": 1}},
		CorpusPath: dir,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Retrieval (-want +got):\n%s", diff)
	}
}

func TestLoadRetrievalSetErrors(t *testing.T) {
	t.Parallel()
	mtrag := mtragRetrievalFiles()
	task := func(id, question, refs string) string {
		return `{"task_id": "` + id + `", "conversation_id": "c", "answerability": "ANSWERABLE", "question": "` + question + `", "reference_contexts": [` + refs + `], "reference_answer": "a"}` + "\n"
	}
	withTasks := func(tasks string) map[string]string {
		return map[string]string{"corpus.jsonl": mtrag["corpus.jsonl"], "tasks.jsonl": tasks}
	}
	badRef := withTasks(task("t", "q", `{"document_id": "nowhere"}`))
	noQuestion := withTasks(task("t", " ", `{"document_id": "g-1"}`))
	dupTask := withTasks(task("t", "q", `{"document_id": "g-1"}`) + task("t", "q", `{"document_id": "g-1"}`))
	noRefs := withTasks(`{"task_id": "t", "answerability": "UNANSWERABLE", "question": "q", "reference_contexts": []}` + "\n")
	both := mtragRetrievalFiles()
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
		{"no task with references", noRefs, "", "", "no question with a gold source"},
		{"two formats", both, "", "", "several formats (clapnq, mtrag)"},
		{"nothing", map[string]string{"corpus.jsonl": mtrag["corpus.jsonl"]}, "", "", "no queries.jsonl (BEIR), questions.jsonl (ClapNQ) or tasks.jsonl (MTRAG)"},
		{"a split of MTRAG", mtrag, FormatMTRAG, "test", `has no splits (got "test")`},
		{"unknown format", mtrag, "trec", "", `unknown format "trec"`},
		{"ClapNQ without answerable questions", clapUnanswerable, "", "", "no question with a gold source"},
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
