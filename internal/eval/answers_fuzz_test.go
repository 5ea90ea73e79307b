package eval

import (
	"strings"
	"testing"
)

// checkCase asserts what every parsed case must hold, whatever its file said.
func checkCase(t *testing.T, c AnswerCase) {
	t.Helper()
	switch {
	case c.ID == "" || c.FoldKey == "":
		t.Fatalf("case without id or fold key: %+v", c)
	case strings.TrimSpace(c.Question) == "":
		t.Fatalf("case %q without a question", c.ID)
	case c.Answerability == Answerable && len(c.Answers) == 0 && c.Question != "":
		t.Fatalf("answerable case %q without an answer", c.ID)
	case c.Answerability != Answerable && len(c.Answers) > 0:
		t.Fatalf("case %q is %s but has answers", c.ID, c.Answerability)
	case len(c.History) > maxCaseHistory || len(c.Question) > maxCaseQuestionChars:
		t.Fatalf("case %q beyond the limits: %d turns, %d characters", c.ID, len(c.History), len(c.Question))
	}
	for _, h := range c.History {
		if h.Speaker != SpeakerUser && h.Speaker != SpeakerAssistant {
			t.Fatalf("case %q: speaker %q", c.ID, h.Speaker)
		}
	}
	if k := Fold(c.FoldKey, 7); k < 0 || k >= 7 {
		t.Fatalf("fold %d", k)
	}
}

// FuzzParsePair: a pairs line is a valid case or an error, never a panic or a case that
// breaks the invariants.
func FuzzParsePair(f *testing.F) {
	f.Add([]byte(`{"id":"g1","question":"What is X?","answer":"X is Y.","sources":["doc/x.md"],"type":"definition"}`))
	f.Add([]byte(`{"id":"g2","question":"Is there Z?","answerable":false,"history":[{"role":"user","content":"hi"}]}`))
	f.Add([]byte(`{"id":"g3","question":"q","answers":["a","b"],"answer":"c"}`))
	f.Add([]byte(`{"id":1}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		c, err := parsePair(line)
		if err != nil {
			return
		}
		checkCase(t, c)
		if c.FoldKey != c.ID {
			t.Fatalf("pair fold key %q, want its id %q", c.FoldKey, c.ID)
		}
	})
}

// FuzzParseMTRAGTask: the same for MTRAG's task lines.
func FuzzParseMTRAGTask(f *testing.F) {
	f.Add([]byte(`{"task_id":"c1<::>3","conversation_id":"c1","collection":"govt","answerability":"PARTIAL","history":[{"speaker":"user","text":"u"},{"speaker":"agent","text":"a"}],"question":"and then?","reference_contexts":[{"document_id":"d1"}],"reference_answer":"then this"}`))
	f.Add([]byte(`{"task_id":"t","answerability":"UNDERSPECIFIED","question":"which?"}`))
	f.Add([]byte(`{"task_id":"t","answerability":"UNANSWERABLE","question":"q","reference_answer":"Sorry"}`))
	f.Add([]byte(`{"task_id":"t","answerability":"ANSWERABLE","question":"q","reference_answer":"a"}`))
	f.Add([]byte(`{"task_id":"t","answerability":"UNANSWERABLE","question":"q","reference_contexts":[{"document_id":"d1"}]}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		c, err := parseMTRAGTask(line, map[string]struct{}{"d1": {}})
		if err != nil {
			return
		}
		checkCase(t, c)
		for _, g := range c.GoldSources {
			if g != "d1" {
				t.Fatalf("gold source %q is not in the corpus", g)
			}
		}
		switch {
		case c.Answerability == Answerable && len(c.GoldSources) == 0:
			t.Fatalf("answerable task %q without a reference passage", c.ID)
		case c.Answerability == Unanswerable && len(c.GoldSources) > 0:
			t.Fatalf("unanswerable task %q with reference passages", c.ID)
		case c.Partial && c.Answerability != Answerable:
			t.Fatalf("partial task %q is %s", c.ID, c.Answerability)
		}
	})
}

// FuzzParseFAQ: every case of any Markdown has a heading as question, a non-empty answer
// without Markdown code fences, the given source, and an id unique in the set.
func FuzzParseFAQ(f *testing.F) {
	f.Add([]byte(faqFixture))
	f.Add([]byte("### Q?\n\n```\nx\n```\n\ntext `*p` *a* [l](u) {{raw `<b>x</b>`}}\n"))
	f.Add([]byte("# a\n## b {#}\n### c {#c}\nd\n### c {#c}\ne"))
	f.Fuzz(func(t *testing.T, data []byte) {
		seen := map[string]bool{}
		for _, c := range ParseFAQ(data, "faq.md") {
			checkCase(t, c)
			if seen[c.ID] {
				t.Fatalf("duplicate id %q", c.ID)
			}
			seen[c.ID] = true
			a := c.Answers[0]
			if a == "" || strings.TrimSpace(a) != a || strings.Contains(a, "\n") || strings.HasPrefix(a, "```") {
				t.Fatalf("answer %q", a)
			}
			if len(c.GoldSources) != 1 || c.GoldSources[0] != "faq.md" {
				t.Fatalf("gold sources %q", c.GoldSources)
			}
		}
	})
}
