package eval

import (
	"strings"
	"testing"
)

func mtragFiles(tasks string) map[string]string {
	return map[string]string{
		"corpus.jsonl": `{"_id": "d1", "title": "Bots", "text": "Good bots obey robots.txt.", "metadata": {"collection": "ibmcloud"}}
{"_id": "d2", "title": "", "text": "Index funds are cheap.", "metadata": {"collection": "fiqa"}}
`,
		"tasks.jsonl": tasks,
	}
}

const mtragOK = `{"task_id": "c1<::>2", "conversation_id": "c1", "turn": "2", "collection": "ibmcloud", "answerability": "ANSWERABLE", "history": [{"speaker": "user", "text": "What are bots?"}, {"speaker": "agent", "text": "Programs."}], "question": "Which are good?", "reference_contexts": [{"document_id": "d1", "title": "Bots", "text": "Good bots obey robots.txt."}], "reference_answer": "Those that obey robots.txt."}
{"task_id": "c2<::>1", "conversation_id": "c2", "turn": "1", "collection": "fiqa", "answerability": "UNANSWERABLE", "history": [], "question": "Is gold a good hedge?", "reference_contexts": [], "reference_answer": "Sorry, I do not have that information."}
`

func TestLoadMTRAG(t *testing.T) {
	t.Parallel()
	got, err := LoadMTRAG(writeFiles(t, mtragFiles(mtragOK)))
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Cases) != 2 || got.Kind != "mtrag" || !strings.HasSuffix(got.Corpus, "corpus.jsonl") {
		t.Fatalf("%d cases of kind %q over %s; want 2 mtrag over corpus.jsonl", len(got.Cases), got.Kind, got.Corpus)
	}
	a, u := got.Cases[0], got.Cases[1]
	if a.ID != "c1<::>2" || a.FoldKey != "c1" || a.Answerability != Answerable || a.Partial || a.Question != "Which are good?" ||
		len(a.History) != 2 || a.History[1] != (HistoryTurn{Speaker: SpeakerAssistant, Text: "Programs."}) ||
		len(a.GoldSources) != 1 || a.GoldSources[0] != "d1" || a.Collection != "ibmcloud" || len(a.Answers) != 1 {
		t.Errorf("first task %+v", a)
	}
	if u.Answerability != Unanswerable || len(u.GoldSources) != 0 || len(u.History) != 0 || u.FoldKey != "c2" || u.Collection != "fiqa" {
		t.Errorf("second task %+v", u)
	}
}

// TestLoadMTRAGErrors: a malformed task is an error naming what is wrong, never a case
// that would be scored as something it is not.
func TestLoadMTRAGErrors(t *testing.T) {
	t.Parallel()
	line := func(s string) string { return s + "\n" }
	for _, tt := range []struct{ tasks, want string }{
		{line(`{"task_id": "", "question": "q", "answerability": "ANSWERABLE"}`), `without "task_id"`},
		{line(`{"task_id": "t", "question": " ", "answerability": "ANSWERABLE"}`), `empty "question"`},
		{line(`{"task_id": "t", "question": "q", "answerability": "MAYBE"}`), `"MAYBE"`},
		{line(`{"task_id": "t", "question": "q", "answerability": "UNANSWERABLE", "history": [{"speaker": "system", "text": "x"}]}`), `speaker "system"`},
		{line(`{"task_id": "t", "question": "q", "answerability": "ANSWERABLE", "reference_answer": "a", "reference_contexts": [{"document_id": "d9"}]}`), `"d9" is not in the corpus`},
		{line(`{"task_id": "t", "question": "q", "answerability": "ANSWERABLE", "reference_answer": "a"}`), "answerable but no reference passage"},
		{line(`{"task_id": "t", "question": "q", "answerability": "PARTIAL", "reference_answer": "a"}`), "answerable but no reference passage"},
		{line(`{"task_id": "t", "question": "q", "answerability": "UNANSWERABLE", "reference_contexts": [{"document_id": "d1"}]}`), "unanswerable but with reference"},
		{strings.Repeat(line(`{"task_id": "t", "question": "q", "answerability": "UNANSWERABLE"}`), 2), `duplicate task id "t"`},
		{line(`{"task_id": "t", "question": [1]}`), "invalid JSON"},
		{"\n", "no tasks"},
	} {
		_, err := LoadMTRAG(writeFiles(t, mtragFiles(tt.tasks)))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("tasks %q: error %v, want %q", tt.tasks, err, tt.want)
		}
	}
}
