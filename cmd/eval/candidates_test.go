package main

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/docent-rag/docent/internal/retrieve"
)

// TestPassageCandidates checks each passage candidate on hand-made evidence.
func TestPassageCandidates(t *testing.T) {
	t.Parallel()
	terms := []retrieve.QueryTerm{{Lexeme: "eiffel", IDF: 3}, {Lexeme: "tower", IDF: 1}, {Lexeme: "built", IDF: 1}, {Lexeme: "pari", IDF: 2}}
	q := "When was the Eiffel tower built in Paris?"
	items := []retrieve.Item{
		{Title: "Eiffel Tower", Text: "The tower is in Paris. Gustave Eiffel's company built the tower between 1887 and 1889."},
		{Title: "Paris", Text: "Paris is the capital of France. The Eiffel tower has many visitors."},
	}
	c := map[string]float64{}
	passageCandidates(c, q, terms, items)
	// Best sentence: "Gustave Eiffel's company built the tower ..." holds eiffel, built, tower (5 of 7).
	want := map[string]float64{"sentence": 5.0 / 7, "passage": 1, "rare": 1, "answer_type": 1}
	for k, v := range want {
		if math.Abs(c[k]-v) > 1e-9 {
			t.Errorf("%s = %v, want %v", k, c[k], v)
		}
	}
	// Beyond its title ("Paris"), the second item's "The Eiffel tower has many visitors."
	// holds eiffel and tower of eiffel, tower and built (4 of 5 of IDF); the first item's
	// best, beyond "Eiffel Tower", holds pari of built and pari (2 of 3).
	if math.Abs(c["rest_sentence"]-0.8) > 1e-9 {
		t.Errorf("rest_sentence = %v", c["rest_sentence"])
	}
	// The query's word pairs (stop words out): eiffel tower, tower built, built paris; the
	// second item holds the first.
	if math.Abs(c["pairs"]-1.0/3) > 1e-9 || c["proximity"] <= 0 {
		t.Errorf("pairs %v (want 1/3), proximity %v (want > 0)", c["pairs"], c["proximity"])
	}

	// The same question over a passage without a year: no value of the asked type.
	c = map[string]float64{}
	passageCandidates(c, q, terms, []retrieve.Item{{Title: "Eiffel Tower", Text: "Gustave Eiffel's company built the tower in Paris."}})
	if c["answer_type"] != 0 || c["sentence"] != 1 {
		t.Errorf("answer_type %v, sentence %v: want 0 (no date) and 1 (every term)", c["answer_type"], c["sentence"])
	}
	// A question asking for no typed value counts as satisfied.
	c = map[string]float64{}
	passageCandidates(c, "Describe the Eiffel tower", terms, nil)
	if c["answer_type"] != 1 || c["sentence"] != 0 {
		t.Errorf("untyped question without evidence: %v", c)
	}
}

// TestCandidatesAreCorpusIndependentAndBounded: scaling every IDF (a larger corpus) leaves the
// passage candidates unchanged, and on random evidence every candidate stays within [0, 1].
func TestCandidatesAreCorpusIndependentAndBounded(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(11, 12))
	vocab := strings.Fields("alpha beta gamma delta epsilon zeta eta theta iota kappa lambda 1999 March Smith")
	text := func(n int) string {
		var b strings.Builder
		for i := range n {
			b.WriteString(vocab[rng.IntN(len(vocab))])
			if i%7 == 6 {
				b.WriteString(". ")
			} else {
				b.WriteString(" ")
			}
		}
		return b.String()
	}
	for range 200 {
		var terms []retrieve.QueryTerm
		var q []string
		for _, w := range vocab[:rng.IntN(6)+1] {
			terms = append(terms, retrieve.QueryTerm{Lexeme: w, IDF: 0.1 + 5*rng.Float64()})
			q = append(q, w)
		}
		question := []string{"who", "when", "how many", "what"}[rng.IntN(4)] + " " + strings.Join(q, " ")
		items := make([]retrieve.Item, rng.IntN(6))
		for i := range items {
			items[i] = retrieve.Item{Title: text(2), Text: text(rng.IntN(60))}
		}
		lex := []retrieve.Hit{{ChunkID: 1, DocumentID: 1, Score: 5}, {ChunkID: 2, DocumentID: 1, Score: 4}, {ChunkID: 3, DocumentID: 2, Score: 1}}
		res := &retrieve.Result{Evidence: items, Lexical: lex, Dense: []retrieve.Hit{{ChunkID: 3}, {ChunkID: 1}}}
		c := candidateInputs(question, res)
		if len(c) != len(candidateNames) {
			t.Fatalf("candidates %v: want each of %v", c, candidateNames)
		}
		for k, v := range c {
			if !(v >= 0 && v <= 1) {
				t.Fatalf("%s = %v outside [0, 1]", k, v)
			}
		}
		if c["doc_gap"] != 0.8 || c["overlap3"] != 2.0/3 {
			t.Fatalf("doc_gap %v (want 0.8: the best other document's 1 against 5), overlap3 %v (want 2/3)", c["doc_gap"], c["overlap3"])
		}
		a, b := map[string]float64{}, map[string]float64{}
		passageCandidates(a, question, terms, items)
		scaled := make([]retrieve.QueryTerm, len(terms))
		for i, t := range terms {
			scaled[i] = retrieve.QueryTerm{Lexeme: t.Lexeme, IDF: 3 * t.IDF}
		}
		passageCandidates(b, question, scaled, items)
		for k := range a {
			if math.Abs(a[k]-b[k]) > 1e-9 {
				t.Fatalf("%s: %v with the IDFs, %v with them tripled", k, a[k], b[k])
			}
		}
	}
}

func TestMatchesLexeme(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		w, lexeme string
		want      bool
	}{
		{"forecasting", "forecast", true}, {"studies", "studi", true}, {"study", "studi", true},
		{"average", "averag", true}, {"art", "art", true}, {"artificially", "art", false}, {"tower", "", false},
		{"cat", "dog", false},
	} {
		if got := matchesLexeme(tt.w, tt.lexeme); got != tt.want {
			t.Errorf("matchesLexeme(%q, %q) = %v, want %v", tt.w, tt.lexeme, got, tt.want)
		}
	}
	if got := questionType("How  many episodes"); got != "number" {
		t.Errorf("questionType = %q, want number", got)
	}
	if s := sentences("One. Two?\nThree 3.5 four"); len(s) != 3 {
		t.Errorf("sentences %q, want 3", s)
	}
}

// BenchmarkCandidateInputs: the passage candidates of one question over 5 evidence items of
// 300 words each (what `eval qa --features` adds per question, and what a strength model
// using them would add to each answer; compare with a retrieval's latency, `eval qa`'s p50).
func BenchmarkCandidateInputs(b *testing.B) {
	rng := rand.New(rand.NewPCG(13, 14))
	words := strings.Fields("the robot charges overnight in the depot while night shift logs record each battery cycle and the schedule of maintenance in 2024 by Smith")
	var items []retrieve.Item
	for range 5 {
		var t strings.Builder
		for j := range 300 {
			t.WriteString(words[rng.IntN(len(words))])
			if j%15 == 14 {
				t.WriteString(". ")
			} else {
				t.WriteString(" ")
			}
		}
		items = append(items, retrieve.Item{Title: "Depot operations", HeadingPath: []string{"Charging"}, Text: t.String()})
	}
	terms := []retrieve.QueryTerm{{Lexeme: "robot", IDF: 2.1}, {Lexeme: "charg", IDF: 3.2}, {Lexeme: "overnight", IDF: 4.5},
		{Lexeme: "depot", IDF: 3.9}, {Lexeme: "batteri", IDF: 2.8}}
	for b.Loop() {
		passageCandidates(map[string]float64{}, "when are the robots charged overnight in the depot battery", terms, items)
	}
}
