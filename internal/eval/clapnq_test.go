package eval

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// clapnqFiles is a small valid ClapNQ set in the layout of the real one: an answerable
// question on p1 with two annotators, and an unanswerable one with the related passage p2.
func clapnqFiles() map[string]string {
	return map[string]string{
		"corpus.jsonl": `{"_id": "p1", "title": "Tides", "text": "The moon pulls the sea. Tides follow.", "metadata": {"sentences": ["The moon pulls the sea.", "Tides follow."], "clapnq_doc_ids": ["1_0-10"]}}
{"_id": "p2", "title": "Moon", "text": "The moon is far away.", "metadata": {"sentences": ["The moon is far away."], "clapnq_doc_ids": []}}
{"_id": "p3", "title": "Sea", "text": "The sea is salty.", "metadata": {"sentences": [], "clapnq_doc_ids": []}}
`,
		"questions.jsonl": `{"id": "-17", "question": "what causes tides", "answerable": true, "passage_id": "p1", "passage_title": "Tides", "answers": ["The moon.", "The pull of the moon."], "selected_sentences": [["The moon pulls the sea."], ["The moon pulls the sea.", "Tides follow."]], "answer_meta": [{}], "clapnq_doc_id": "1_0-10"}
{"id": "42", "question": "how old is the moon", "answerable": false, "passage_id": "p2", "passage_title": "Moon", "answers": [], "selected_sentences": [], "answer_meta": [{}], "clapnq_doc_id": null}
`,
	}
}

func TestLoadClapNQ(t *testing.T) {
	t.Parallel()
	dir := writeFiles(t, clapnqFiles())
	got, err := LoadClapNQ(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := &ClapNQ{
		Questions: []Question{
			{
				ID: "-17", Text: "what causes tides", Answerable: true, PassageID: "p1",
				GoldPassageIDs: []string{"p1"},
				Answers:        []string{"The moon.", "The pull of the moon."},
				GoldSentences:  [][]string{{"The moon pulls the sea."}, {"The moon pulls the sea.", "Tides follow."}},
			},
			{
				ID: "42", Text: "how old is the moon", Answerable: false, PassageID: "p2",
				Answers: []string{}, GoldSentences: [][]string{},
			},
		},
		CorpusPath: filepath.Join(dir, "corpus.jsonl"),
		CorpusDocs: 3,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("LoadClapNQ (-want +got):\n%s", diff)
	}
}

func TestLoadClapNQErrors(t *testing.T) {
	t.Parallel()
	const ok = `{"id": "1", "question": "q", "answerable": false, "passage_id": "p1"}` + "\n"
	tests := []struct {
		name      string
		questions string
		want      []string
	}{
		{"not JSON", ok + "{\"id\": \"2\",\n", []string{"questions.jsonl:2:", "invalid JSON record"}},
		{"no id", `{"question": "q", "answerable": false, "passage_id": "p1"}`, []string{"questions.jsonl:1:", `question without "id"`}},
		{"duplicate id", ok + ok, []string{"questions.jsonl:2:", `duplicate question id "1"`}},
		{"no text", `{"id": "1", "question": "", "answerable": false, "passage_id": "p1"}`, []string{"questions.jsonl:1:", `question 1: empty "question"`}},
		{"no answerable flag", `{"id": "1", "question": "q", "passage_id": "p1"}`, []string{"questions.jsonl:1:", `no "answerable" flag`}},
		{"answerable not a bool", `{"id": "1", "question": "q", "answerable": "yes", "passage_id": "p1"}`, []string{"questions.jsonl:1:", "invalid JSON record"}},
		{"no passage", `{"id": "1", "question": "q", "answerable": false}`, []string{"questions.jsonl:1:", `no "passage_id"`}},
		{"passage not in corpus", ok + `{"id": "2", "question": "q", "answerable": true, "passage_id": "p9", "answers": ["a"]}`,
			[]string{"questions.jsonl:2:", `passage "p9" is not in`, "corpus.jsonl"}},
		{"answerable without answer", `{"id": "1", "question": "q", "answerable": true, "passage_id": "p1", "answers": [" "]}`,
			[]string{"questions.jsonl:1:", "answerable but no answer"}},
		{"no questions", "\n\n", []string{"questions.jsonl: no questions"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			files := clapnqFiles()
			files["questions.jsonl"] = tc.questions
			_, err := LoadClapNQ(writeFiles(t, files))
			if err == nil {
				t.Fatal("LoadClapNQ succeeded, want an error")
			}
			for _, s := range tc.want {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not contain %q", err, s)
				}
			}
		})
	}
}
