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
	if len(got.Tasks) != 2 || got.CorpusDocs != 2 {
		t.Fatalf("%d tasks, %d passages; want 2 and 2", len(got.Tasks), got.CorpusDocs)
	}
	a, u := got.Tasks[0], got.Tasks[1]
	if a.ID != "c1<::>2" || a.Answerability != Answerable || a.Question != "Which are good?" || len(a.History) != 2 ||
		a.History[1] != (Turn{Speaker: "agent", Text: "Programs."}) || len(a.ReferenceIDs) != 1 || a.ReferenceIDs[0] != "d1" ||
		a.Collection != "ibmcloud" || a.ReferenceAnswer == "" {
		t.Errorf("first task %+v", a)
	}
	if u.Answerability != Unanswerable || len(u.ReferenceIDs) != 0 || len(u.History) != 0 {
		t.Errorf("second task %+v", u)
	}
}

func TestLoadMTRAGErrors(t *testing.T) {
	t.Parallel()
	line := func(s string) string { return s + "\n" }
	for _, tt := range []struct{ tasks, want string }{
		{line(`{"task_id": "", "question": "q", "answerability": "ANSWERABLE"}`), `without "task_id"`},
		{line(`{"task_id": "t", "question": " ", "answerability": "ANSWERABLE"}`), `empty "question"`},
		{line(`{"task_id": "t", "question": "q", "answerability": "MAYBE"}`), `answerability "MAYBE"`},
		{line(`{"task_id": "t", "question": "q", "answerability": "UNANSWERABLE", "history": [{"speaker": "system", "text": "x"}]}`), `speaker "system"`},
		{line(`{"task_id": "t", "question": "q", "answerability": "ANSWERABLE", "reference_contexts": [{"document_id": "d9"}]}`), `"d9" is not in the corpus`},
		{line(`{"task_id": "t", "question": "q", "answerability": "ANSWERABLE"}`), "answerable but no reference"},
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

// FuzzParseMTRAGTask: no input makes the task parser panic, and a task it accepts has what
// LoadMTRAG promises: an id, a question, a known answerability, turns of the user or the
// agent, reference passages from the corpus, and references exactly when it must.
func FuzzParseMTRAGTask(f *testing.F) {
	for _, l := range strings.Split(strings.TrimSpace(mtragOK), "\n") {
		f.Add([]byte(l))
	}
	f.Add([]byte(`{"task_id": "x", "question": "q", "answerability": "PARTIAL", "history": [{"speaker": "agent"}]}`))
	corpus := map[string]struct{}{"d1": {}, "d2": {}}
	f.Fuzz(func(t *testing.T, line []byte) {
		task, err := parseMTRAGTask(line, corpus)
		if err != nil {
			return
		}
		if task.ID == "" || strings.TrimSpace(task.Question) == "" {
			t.Fatalf("accepted a task without id or question: %+v", task)
		}
		switch task.Answerability {
		case Answerable:
			if len(task.ReferenceIDs) == 0 {
				t.Fatalf("accepted an answerable task without references: %+v", task)
			}
		case Unanswerable:
			if len(task.ReferenceIDs) > 0 {
				t.Fatalf("accepted an unanswerable task with references: %+v", task)
			}
		case Partial, Underspecified:
		default:
			t.Fatalf("accepted answerability %q", task.Answerability)
		}
		for _, h := range task.History {
			if h.Speaker != "user" && h.Speaker != "agent" {
				t.Fatalf("accepted speaker %q", h.Speaker)
			}
		}
		for _, id := range task.ReferenceIDs {
			if _, ok := corpus[id]; !ok {
				t.Fatalf("accepted reference %q outside the corpus", id)
			}
		}
	})
}

// TestFold: a question's fold depends on its id alone, is within 0..n−1, and the folds of
// many ids are about equally full.
func TestFold(t *testing.T) {
	t.Parallel()
	// Pinned: FNV-1a of the id, so folds never change between versions or file orders.
	if got := Fold("6401197308716204890", 5); got != fnvFold("6401197308716204890", 5) {
		t.Fatalf("Fold = %d, want FNV-1a modulo 5 = %d", got, fnvFold("6401197308716204890", 5))
	}
	count := make([]int, 5)
	for i := range 5000 {
		f := Fold("q"+strings.Repeat("x", i%7)+string(rune('a'+i%26))+itoa(i), 5)
		if f < 0 || f >= 5 {
			t.Fatalf("fold %d outside 0..4", f)
		}
		count[f]++
	}
	for f, c := range count {
		if c < 850 || c > 1150 {
			t.Errorf("fold %d holds %d of 5000 ids: %v", f, c, count)
		}
	}
}

// fnvFold is FNV-1a (32 bits) written out, modulo n.
func fnvFold(id string, n int) int {
	h := uint32(2166136261)
	for _, c := range []byte(id) {
		h ^= uint32(c)
		h *= 16777619
	}
	return int(h % uint32(n))
}

func itoa(i int) string {
	var b []byte
	for {
		b = append([]byte{byte('0' + i%10)}, b...)
		if i /= 10; i == 0 {
			return string(b)
		}
	}
}
