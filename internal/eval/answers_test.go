package eval

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestAnswerTokens(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want []string
	}{
		{"The Cat sat on a mat.", []string{"cat", "sat", "on", "mat"}},
		{"don't e.g. well-known", []string{"dont", "eg", "wellknown"}}, // deleted, not split
		{"“Quoted” — $100, 50%!", []string{"quoted", "100", "50"}},
		{"An answer\tan\nTHE end", []string{"answer", "end"}},
		{"theory another", []string{"theory", "another"}}, // articles are whole words only
		{"", nil},
		{"... [] ()", nil},
	} {
		if got := AnswerTokens(tt.in); !cmp.Equal(got, tt.want) {
			t.Errorf("AnswerTokens(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestWordOverlap(t *testing.T) {
	for _, tt := range []struct {
		answer, gold string
		want         Overlap
	}{
		{"The cat sat.", "cat sat", Overlap{1, 1, 1}},
		// Citation markers are not words of the answer.
		{"Go 1.20 [1].", "Go 1.20", Overlap{1, 1, 1}},
		{"Go 1.20 [1][2] [12]", "go 120", Overlap{1, 1, 1}},
		// 2 common words of 4 answered and 3 gold: P 1/2, R 2/3, F1 4/7.
		{"b c d f", "b c e", Overlap{4.0 / 7, 0.5, 2.0 / 3}},
		// Bags, not sets: a repeated word counts as often as the gold has it.
		{"x x x", "x", Overlap{0.5, 1.0 / 3, 1}},
		{"x x", "x x y y", Overlap{2.0 / 3, 1, 0.5}},
		{"nothing shared", "at all", Overlap{}},
		{"", "gold", Overlap{}},
		{"answer", "", Overlap{}},
		{"the a an", "the", Overlap{}}, // only articles: no word on either side
	} {
		got := WordOverlap(tt.answer, tt.gold)
		if !near(got.F1, tt.want.F1) || !near(got.Precision, tt.want.Precision) || !near(got.Recall, tt.want.Recall) {
			t.Errorf("WordOverlap(%q, %q) = %+v, want %+v", tt.answer, tt.gold, got, tt.want)
		}
	}
	// Each measure is its maximum over the gold answers, as SQuAD's script takes it.
	got := BestOverlap("w b c d", []string{"b c d e f g h", "d"})
	if !near(got.Precision, 0.75) || !near(got.Recall, 1) || !near(got.F1, 2*0.75*(3.0/7)/(0.75+3.0/7)) {
		t.Errorf("BestOverlap = %+v, want precision 0.75 (first gold), recall 1 (second), F1 of the first", got)
	}
	if got := BestOverlap("x", nil); got != (Overlap{}) {
		t.Errorf("BestOverlap without gold = %+v, want zero", got)
	}
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestFold(t *testing.T) {
	// Computed independently: int.from_bytes(hashlib.sha256(key).digest()[:8], "big") % n.
	for _, tt := range []struct {
		key     string
		n, want int
	}{
		{"6401197308716204890", 5, 3},
		{"b3b321e9ea81d1d90e528f85fff72d63", 5, 4},
		{"go-001", 7, 6},
		{"", 3, 1},
		{"anything", 1, 0},
	} {
		if got := Fold(tt.key, tt.n); got != tt.want {
			t.Errorf("Fold(%q, %d) = %d, want %d", tt.key, tt.n, got, tt.want)
		}
	}
	// The folds are about even.
	counts := make([]int, 5)
	for i := range 5000 {
		counts[Fold(fmt.Sprint("q", i), 5)]++
	}
	for k, c := range counts {
		if c < 900 || c > 1100 {
			t.Errorf("fold %d has %d of 5000 keys: %v", k, c, counts)
		}
	}
}

func TestParseFolds(t *testing.T) {
	for _, tt := range []struct {
		n    int
		spec string
		want FoldSelection
		err  string
	}{
		{0, "", FoldSelection{}, ""},
		{1, "", FoldSelection{}, ""},
		{5, "", FoldSelection{N: 5}, ""},
		{5, "3,0, 1", FoldSelection{N: 5, Keep: []int{0, 1, 3}}, ""},
		{0, "1", FoldSelection{}, "needs --folds"},
		{5, "5", FoldSelection{}, "from 0 to 4"},
		{5, "-1", FoldSelection{}, "from 0 to 4"},
		{5, "1,1", FoldSelection{}, "twice"},
		{5, "x", FoldSelection{}, "from 0 to 4"},
		{-2, "", FoldSelection{}, "--folds -2"},
		{MaxFolds + 1, "", FoldSelection{}, "--folds"},
	} {
		got, err := ParseFolds(tt.n, tt.spec)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseFolds(%d, %q): error %v, want one with %q", tt.n, tt.spec, err, tt.err)
			}
			continue
		}
		if err != nil || !cmp.Equal(got, tt.want) {
			t.Errorf("ParseFolds(%d, %q) = %+v, %v; want %+v", tt.n, tt.spec, got, err, tt.want)
		}
	}
	sel := FoldSelection{N: 4, Keep: []int{2}}
	kept := 0
	for i := range 400 {
		key := fmt.Sprint("k", i)
		if sel.Selects(key) != (Fold(key, 4) == 2) {
			t.Fatalf("Selects(%q) disagrees with Fold", key)
		}
		if sel.Selects(key) {
			kept++
		}
	}
	if kept == 0 || kept == 400 {
		t.Errorf("fold 2 of 4 kept %d of 400", kept)
	}
	if !(FoldSelection{}).Selects("x") || (FoldSelection{}).Folds() != nil || !cmp.Equal(FoldSelection{N: 3}.Folds(), []int{0, 1, 2}) {
		t.Error("the zero selection must keep everything, and --folds 3 report folds 0, 1, 2")
	}
}

// TestFoldsIgnoreFileOrder loads the same sets with their lines in other orders: every
// case keeps its fold, so a fold never depends on the order of the file.
func TestFoldsIgnoreFileOrder(t *testing.T) {
	var pairs, tasks, questions, corpus []string
	for i := range 40 {
		pairs = append(pairs, fmt.Sprintf(`{"id":"p%d","question":"q %d?","answer":"a %d"}`, i, i, i))
		tasks = append(tasks, fmt.Sprintf(`{"task_id":"t%d<::>2","conversation_id":"c%d","answerability":"UNANSWERABLE","question":"q%d","history":[{"speaker":"user","text":"h"}]}`, i, i, i))
		corpus = append(corpus, fmt.Sprintf(`{"_id":"d%d","title":"","text":"passage %d"}`, i, i))
		questions = append(questions, fmt.Sprintf(`{"id":"%d","question":"q%d","answerable":true,"passage_id":"d%d","answers":["a"]}`, 1000+i, i, i))
	}
	load := func(order []int) map[string]int {
		dir := t.TempDir()
		write := func(name string, lines []string) {
			var b strings.Builder
			for _, i := range order {
				b.WriteString(lines[i] + "\n")
			}
			if err := os.WriteFile(filepath.Join(dir, name), []byte(b.String()), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		write("pairs.jsonl", pairs)
		write("tasks.jsonl", tasks)
		write("questions.jsonl", questions)
		write("corpus.jsonl", corpus)
		folds := map[string]int{}
		p, err := LoadPairs(filepath.Join(dir, "pairs.jsonl"), dir)
		if err != nil {
			t.Fatal(err)
		}
		m, err := LoadMTRAG(dir)
		if err != nil {
			t.Fatal(err)
		}
		c, err := LoadClapNQAnswers(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, set := range []*AnswerSet{p, m, c} {
			for _, k := range set.Cases {
				folds[set.Kind+"/"+k.ID] = Fold(k.FoldKey, 5)
			}
		}
		return folds
	}
	order := make([]int, 40)
	for i := range order {
		order[i] = i
	}
	want := load(order)
	if len(want) != 120 {
		t.Fatalf("%d cases, want 120", len(want))
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 3 {
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		if diff := cmp.Diff(want, load(order)); diff != "" {
			t.Errorf("folds changed with the order of the lines (-before +after):\n%s", diff)
		}
	}
	// MTRAG folds follow the conversation, not the turn.
	c, _ := parseMTRAGTask([]byte(tasks[0]), nil)
	if c.FoldKey != "c0" {
		t.Errorf("MTRAG fold key %q, want the conversation id c0", c.FoldKey)
	}
}

func TestParsePair(t *testing.T) {
	c, err := parsePair([]byte(`{"id":"g1","question":"What is X?","answer":"X is Y.","answers":["Y"],"sources":["doc/x.md"],"section":"Intro","type":"definition",
		"history":[{"role":"user","content":"Tell me about X"},{"role":"assistant","content":"X is a thing."}]}`))
	if err != nil {
		t.Fatal(err)
	}
	want := AnswerCase{ID: "g1", FoldKey: "g1", Question: "What is X?", Answers: []string{"X is Y.", "Y"}, Answerability: Answerable,
		GoldSources: []string{"doc/x.md"}, Groups: []string{"definition"}, Section: "Intro",
		History: []HistoryTurn{{SpeakerUser, "Tell me about X"}, {SpeakerAssistant, "X is a thing."}}}
	if diff := cmp.Diff(want, c); diff != "" {
		t.Errorf("parsePair (-want +got):\n%s", diff)
	}
	c, err = parsePair([]byte(`{"id":"g2","question":"Is there Z?","answerable":false}`))
	if err != nil || c.Answerability != Unanswerable || len(c.Answers) != 0 {
		t.Errorf("unanswerable pair: %+v, %v", c, err)
	}
	for _, tt := range []struct{ line, want string }{
		{`{"question":"q","answer":"a"}`, `without "id"`},
		{`{"id":" x","question":"q","answer":"a"}`, "blanks"},
		{`{"id":"x","question":" ","answer":"a"}`, `empty "question"`},
		{`{"id":"x","question":"q"}`, `no "answer"`},
		{`{"id":"x","question":"q","answer":"a","answerable":false}`, "unanswerable, but"},
		{`{"id":"x","question":"q","answers":[""]}`, "empty answer"},
		{`{"id":"x","question":"q","answer":"a","sources":[""]}`, "empty source"},
		{`{"id":"x","question":"q","answer":"a","histroy":[]}`, "unknown field"},
		{`{"id":"x","question":"q","answer":"a","history":[{"role":"system","content":"c"}]}`, `role "system"`},
		{`{"id":"x","question":"q","answer":"a"} {"id":"y"}`, "more than one value"},
		{`{"id":"x","question":"` + strings.Repeat("w", maxCaseQuestionChars+1) + `","answer":"a"}`, "more than 8000"},
		{`[1]`, "invalid JSON"},
	} {
		if _, err := parsePair([]byte(tt.line)); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("parsePair(%.60s): error %v, want one with %q", tt.line, err, tt.want)
		}
	}
}

func TestLoadPairsErrors(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "p.jsonl")
	if err := os.WriteFile(path, []byte(`{"id":"a","question":"q","answer":"x"}`+"\n\n"+`{"id":"a","question":"q2","answer":"y"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadPairs(path, dir); err == nil || !strings.Contains(err.Error(), "p.jsonl:3: duplicate id") {
		t.Errorf("duplicate id: %v, want the file and line named", err)
	}
	if _, err := LoadPairs(path, filepath.Join(dir, "nowhere")); err == nil || !strings.Contains(err.Error(), "corpus") {
		t.Errorf("missing corpus: %v", err)
	}
	empty := filepath.Join(dir, "empty.jsonl")
	if err := os.WriteFile(empty, []byte("\n \n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadPairs(empty, dir); err == nil || !strings.Contains(err.Error(), "no pairs") {
		t.Errorf("no pairs: %v", err)
	}
}

func TestParseMTRAGTask(t *testing.T) {
	corpus := map[string]struct{}{"d1": {}, "d2": {}}
	c, err := parseMTRAGTask([]byte(`{"task_id":"c1<::>3","conversation_id":"c1","collection":"govt","answerability":"PARTIAL",
		"history":[{"speaker":"user","text":"u"},{"speaker":"agent","text":"a"}],"question":"and then?",
		"reference_contexts":[{"document_id":"d1","title":"","text":"t"},{"document_id":"d2"}],"reference_answer":"then this"}`), corpus)
	if err != nil {
		t.Fatal(err)
	}
	want := AnswerCase{ID: "c1<::>3", FoldKey: "c1", Question: "and then?", Answers: []string{"then this"}, Answerability: Answerable,
		Partial: true, Collection: "govt", GoldSources: []string{"d1", "d2"}, Groups: []string{"govt", "follow-up"},
		History: []HistoryTurn{{SpeakerUser, "u"}, {SpeakerAssistant, "a"}}}
	if diff := cmp.Diff(want, c); diff != "" {
		t.Errorf("parseMTRAGTask (-want +got):\n%s", diff)
	}
	c, err = parseMTRAGTask([]byte(`{"task_id":"t","answerability":"UNDERSPECIFIED","question":"which?","reference_answer":"Which one?"}`), corpus)
	if err != nil || c.Answerability != Underspecified || c.Answers != nil || c.FoldKey != "t" || !cmp.Equal(c.Groups, []string{"first turn"}) {
		t.Errorf("underspecified task: %+v, %v", c, err)
	}
	for _, tt := range []struct{ line, want string }{
		{`{"question":"q","answerability":"UNANSWERABLE"}`, `without "task_id"`},
		{`{"task_id":"t","question":"q","answerability":"MAYBE"}`, `"MAYBE"`},
		{`{"task_id":"t","question":"q","answerability":"ANSWERABLE"}`, "no \"reference_answer\""},
		{`{"task_id":"t","question":"q","answerability":"ANSWERABLE","reference_answer":"a","reference_contexts":[{"document_id":"d9"}]}`, `"d9" is not in the corpus`},
		{`{"task_id":"t","question":"q","answerability":"UNANSWERABLE","history":[{"speaker":"bot","text":"x"}]}`, `speaker "bot"`},
		{`{"task_id":"t","question":"","answerability":"UNANSWERABLE"}`, "empty"},
		{`{"task_id":"t","question":"q","answerability":"ANSWERABLE","reference_answer":"a"}`, "answerable but no reference passage"},
		{`{"task_id":"t","question":"q","answerability":"UNANSWERABLE","reference_contexts":[{"document_id":"d1"}]}`, "unanswerable but with reference"},
	} {
		if _, err := parseMTRAGTask([]byte(tt.line), corpus); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("parseMTRAGTask(%.60s): error %v, want one with %q", tt.line, err, tt.want)
		}
	}
}

const faqFixture = "---\ntitle: FAQ\n---\n\n" +
	"## Origins {#origins}\n\n" +
	"### Why a new language? {#why}\n\n" +
	"Because *existing* ones were [slow to build](https://example.com) and\nhard to use.\n\nMore text.\n\n" +
	"### How do methods on `*T` work? {#ptr}\n\n" +
	"```\nfunc (t *T) M() {}\n```\n\n" +
	"\tindented code\n\n" +
	"The method set of `*T` includes those of `T`, and <b>more</b> \\*stars\\*.\n\n" +
	"### A heading without prose\n\n" +
	"```\ncode only\n```\n\n" +
	"## Usage\n\n" +
	"### Why a new language? {#why}\n\n" +
	"Asked twice.\n"

func TestParseFAQ(t *testing.T) {
	got := ParseFAQ([]byte(faqFixture), "doc/faq.md")
	want := []AnswerCase{
		{ID: "why", FoldKey: "why", Question: "Why a new language?", Answers: []string{"Because existing ones were slow to build and hard to use."},
			Answerability: Answerable, GoldSources: []string{"doc/faq.md"}, Groups: []string{"Origins"}, Section: "Why a new language?"},
		{ID: "ptr", FoldKey: "ptr", Question: "How do methods on *T work?", Answers: []string{"The method set of *T includes those of T, and more *stars*."},
			Answerability: Answerable, GoldSources: []string{"doc/faq.md"}, Groups: []string{"Origins"}, Section: "How do methods on *T work?"},
		{ID: "why-2", FoldKey: "why-2", Question: "Why a new language?", Answers: []string{"Asked twice."},
			Answerability: Answerable, GoldSources: []string{"doc/faq.md"}, Groups: []string{"Usage"}, Section: "Why a new language?"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ParseFAQ (-want +got):\n%s", diff)
	}
}

func TestLoadFAQOutsideCorpus(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "faq.md")
	if err := os.WriteFile(path, []byte(faqFixture), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadFAQ(path, filepath.Join(dir, "sub")); err == nil || !strings.Contains(err.Error(), "not inside") {
		t.Errorf("FAQ outside the corpus: %v", err)
	}
	set, err := LoadFAQ(path, dir)
	if err != nil || len(set.Cases) != 3 || set.Cases[0].GoldSources[0] != "faq.md" || set.Corpus != dir {
		t.Errorf("LoadFAQ: %+v, %v", set, err)
	}
}

func TestMeasureAnswers(t *testing.T) {
	ans := &AnswerCase{ID: "a", Answerability: Answerable, Answers: []string{"b c e"}, GoldSources: []string{"d1"}}
	noSources := &AnswerCase{ID: "n", Answerability: Answerable, Answers: []string{"x"}}
	un := &AnswerCase{ID: "u", Answerability: Unanswerable}
	under := &AnswerCase{ID: "s", Answerability: Underspecified}
	m := MeasureAnswers([]AnswerOutcome{
		// Answered, cites the gold passage: F1 4/7; 3 of 4 claims supported.
		{Case: ans, Answer: "b c d f [1]", Cited: []string{"d1", "x.jsonl#d1"}, Given: []string{"d1", "d2"}, Claims: 4, Supported: 3, LatencyMS: 10},
		// Refused: F1 0, nothing cited.
		{Case: ans, Refused: true, Given: []string{"d1"}, LatencyMS: 2},
		// Answered from other sources: cites none of the gold.
		{Case: ans, Answer: "zzz", Cited: []string{"d2"}, Given: []string{"d2"}, Claims: 1, Supported: 1, Grounded: true, LatencyMS: 4},
		{Case: noSources, Answer: "x", Claims: 1, Supported: 1, Grounded: true, LatencyMS: 1},
		{Case: un, Refused: true, LatencyMS: 1},
		{Case: un, Answer: "wrong", Claims: 1, LatencyMS: 1},
		{Case: under, Answer: "a guess", LatencyMS: 1},
	})
	f := func(v float64) *float64 { return &v }
	want := AnswerMeasures{Cases: 7, Answerable: 4, Unanswerable: 2, Underspecified: 1,
		F1: f((4.0/7 + 0 + 0 + 1) / 4), Precision: f((0.5 + 0 + 0 + 1) / 4), Recall: f((2.0/3 + 0 + 0 + 1) / 4),
		F1Answered:             f((4.0/7 + 0 + 1) / 3),
		GoldCited:              f(1.0 / 3),
		GoldGiven:              f(2.0 / 3 * 0.5), // the refusal's sources do not count: it answered nothing
		SentenceSupport:        f(5.0 / 7),       // 3+1+1+0 of 4+1+1+1 claims
		Grounded:               f(2.0 / 5),       // of the five answers given
		AnswerableAnswered:     f(3.0 / 4),
		UnanswerableRefused:    f(0.5),
		UnderspecifiedAnswered: f(1),
		Latency:                Latency{P50: 1, P95: 10, P99: 10},
	}
	if diff := cmp.Diff(want, m, cmp.Comparer(func(a, b *float64) bool {
		return a == nil && b == nil || a != nil && b != nil && near(*a, *b)
	})); diff != "" {
		t.Errorf("MeasureAnswers (-want +got):\n%s", diff)
	}
	empty := MeasureAnswers(nil)
	if empty.F1 != nil || empty.UnanswerableRefused != nil || empty.Latency != (Latency{}) {
		t.Errorf("MeasureAnswers(nil) = %+v, want no share and no latency", empty)
	}
}
