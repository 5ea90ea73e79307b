package retrieve_test

import (
	"context"
	"math"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/docent-rag/docent/internal/index"
	"github.com/docent-rag/docent/internal/retrieve"
)

// followUpCorpus: three public pages that are all "free" of something, the one about the
// private network the longest (so that "free" alone ranks it last), and a page of
// group:research that alone holds the word hiddenWord.
func followUpCorpus() map[string]string {
	return map[string]string{
		"p/.docent-acl": "public\n",
		"p/network.md": "# Private network\n\nThe IBM Cloud private network connects the servers of every data centre " +
			"over back-end switches, apart from the public network, and carries backups and replication. " +
			"Traffic on the private network is free of charge.\n",
		"p/bus.md":      "# Buses\n\nThe city bus is free on Sundays.\n",
		"p/museum.md":   "# Museum\n\nEntry to the museum is free for children. The museum is open daily from nine.\n",
		"r/.docent-acl": "group:research\n",
		"r/secret.md":   "# Project\n\nThe " + hiddenWord + " bus network is free for staff.\n",
	}
}

// lexicalTop returns the URI of the public caller's top evidence for q, lexical leg only.
func lexicalTop(t *testing.T, r *retrieve.Retriever, q retrieve.Query) string {
	t.Helper()
	res, err := r.Retrieve(t.Context(), retrieve.Request{Query: q.Text, Normalized: &q, Principals: []string{"public"}, Mode: retrieve.Lexical})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Evidence) == 0 {
		t.Fatalf("%+v: no evidence", q)
	}
	return res.Evidence[0].URI
}

// TestContextRanksWhatTheFollowUpIsAbout: "Is it free?" alone finds the shortest page that
// is free of something; with the previous question as context ("it" is the private
// network) the network's page comes first, while the question's own words still decide:
// a new question on another topic, with the old topic as (weaker) context, finds its own
// page. Without Context (the code before it) the follow-up's top page is the bus's.
func TestContextRanksWhatTheFollowUpIsAbout(t *testing.T) {
	t.Parallel()
	db, emb := corpus(t, followUpCorpus())
	r := newRetriever(t, db, emb, retrieve.Config{}, nil)
	network := []retrieve.ContextText{{Text: "What is the IBM Cloud private network?", Weight: 0.5}}

	if got := lexicalTop(t, r, retrieve.Query{Text: "Is it free?"}); got == "p/network.md" {
		t.Fatalf("without context the network's page is first already: the test shows nothing")
	}
	if got := lexicalTop(t, r, retrieve.Query{Text: "Is it free?", Context: network}); got != "p/network.md" {
		t.Errorf("follow-up with its context: top %s, want p/network.md", got)
	}
	// A topic shift: the old topic at half its weight does not drag its page in.
	shifted := []retrieve.ContextText{{Text: network[0].Text, Weight: 0.25}}
	if got := lexicalTop(t, r, retrieve.Query{Text: "When is the museum open?", Context: shifted}); got != "p/museum.md" {
		t.Errorf("new topic: top %s, want p/museum.md", got)
	}
	// Weights outside (0, 1] are no weight (NaN, zero, negative) or a full one (above 1):
	// never more than a question term.
	for _, w := range []float64{math.NaN(), 0, -3, math.Inf(-1)} {
		bad := []retrieve.ContextText{{Text: network[0].Text, Weight: w}}
		if got := lexicalTop(t, r, retrieve.Query{Text: "Is it free?", Context: bad}); got == "p/network.md" {
			t.Errorf("weight %v counted", w)
		}
	}
	// A question whose words no chunk has: the context still ranks, the strength stays a
	// number (the question's maximum is 0).
	q := retrieve.Query{Text: "Is it " + absentWord + "?", Context: network}
	res, err := r.Retrieve(t.Context(), retrieve.Request{Query: q.Text, Normalized: &q, Principals: []string{"public"}})
	if err != nil || len(res.Lexical) == 0 || math.IsNaN(res.Strength) || res.Strength < 0 || res.Strength > 1 {
		t.Errorf("question without known words: %d lexical hits, strength %v, %v", len(res.Lexical), res.Strength, err)
	}
	huge := []retrieve.ContextText{{Text: "museum museum museum", Weight: math.Inf(1)}}
	if got := lexicalTop(t, r, retrieve.Query{Text: "city bus", Context: huge}); got != "p/bus.md" {
		t.Errorf("a context of infinite weight outweighed the question: top %s", got)
	}
}

// TestContextIsPermissionNeutral: a context word that only chunks the caller cannot see
// contain changes nothing the caller gets (hits, scores, strength), exactly like a word no
// chunk contains; and the hidden page never comes back.
func TestContextIsPermissionNeutral(t *testing.T) {
	t.Parallel()
	db, emb := corpus(t, followUpCorpus())
	r := newRetriever(t, db, emb, retrieve.Config{}, nil)
	run := func(word string) *retrieve.Result {
		q := retrieve.Query{Text: "Is the bus free?", Context: []retrieve.ContextText{{Text: word + " network", Weight: 0.5}}}
		res, err := r.Retrieve(t.Context(), retrieve.Request{Query: q.Text, Normalized: &q, Principals: []string{"public"}, Mode: retrieve.Lexical})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	hidden, absent := run(hiddenWord), run(absentWord)
	if len(hidden.Lexical) == 0 || len(hidden.Lexical) != len(absent.Lexical) || hidden.Strength != absent.Strength {
		t.Fatalf("hidden word: %d hits, strength %v; absent word: %d hits, strength %v",
			len(hidden.Lexical), hidden.Strength, len(absent.Lexical), absent.Strength)
	}
	for i := range hidden.Lexical {
		if hidden.Lexical[i] != absent.Lexical[i] {
			t.Errorf("hit %d: %+v with the hidden word, %+v with the absent one", i, hidden.Lexical[i], absent.Lexical[i])
		}
	}
	for _, it := range hidden.Evidence {
		if it.URI == "r/secret.md" {
			t.Errorf("the hidden page came back: %+v", it)
		}
	}
}

// TestContextIsBounded: however long the context, the lexical leg looks up at most
// MaxContextTexts pieces of at most MaxContextChars characters each.
func TestContextIsBounded(t *testing.T) {
	t.Parallel()
	db, emb := corpus(t, followUpCorpus())
	r := newRetriever(t, db, emb, retrieve.Config{}, nil)
	var lookups []string
	retrieve.SetTermStatistics(r, func(ctx context.Context, d index.DBTX, chunking int, text string, principals []string) ([]index.Term, index.Corpus, error) {
		lookups = append(lookups, text)
		return index.QueryTerms(ctx, d, chunking, text, principals)
	})
	var conv []retrieve.ContextText
	for range 50 {
		conv = append(conv, retrieve.ContextText{Text: strings.Repeat("private network servers ", 1000), Weight: 0.5})
	}
	q := retrieve.Query{Text: "Is it free?", Context: conv}
	if _, err := r.Retrieve(t.Context(), retrieve.Request{Query: q.Text, Normalized: &q, Principals: []string{"public"}, Mode: retrieve.Lexical}); err != nil {
		t.Fatal(err)
	}
	if len(lookups) != 1+retrieve.MaxContextTexts {
		t.Errorf("%d lookups, want the query's and %d context pieces'", len(lookups), retrieve.MaxContextTexts)
	}
	for _, l := range lookups {
		if n := utf8.RuneCountInString(l); n > retrieve.MaxContextChars {
			t.Errorf("a lookup of %d characters", n)
		}
	}
}

// TestContextDoesNotCoverTheQuestion: a follow-up whose context matches a page at length
// but whose own words that page lacks must not look fully covered: the context adds a
// bounded credit (at most ContextCoverageCap) to the question's own coverage, never the
// question's whole maximum. (Before, the context's part of the score counted against the
// question's own maximum, capped at 1: this page had full coverage.) The page that holds
// the question's own word, with the same context, is covered more.
func TestContextDoesNotCoverTheQuestion(t *testing.T) {
	t.Parallel()
	db, emb := corpus(t, followUpCorpus())
	r := newRetriever(t, db, emb, retrieve.Config{}, nil)
	conv := []retrieve.ContextText{{Text: "How does the IBM Cloud private network connect the servers " +
		"of a data centre over back-end switches, and does it carry backups and replication?", Weight: 0.5}}
	ask := func(q retrieve.Query) *retrieve.Result {
		t.Helper()
		res, err := r.Retrieve(t.Context(), retrieve.Request{Query: q.Text, Normalized: &q, Principals: []string{"public"}, Mode: retrieve.Lexical})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Evidence) == 0 {
			t.Fatalf("%+v: no evidence", q)
		}
		return res
	}
	// "children": only the museum's page has it; the context pulls the network's page first.
	follow := ask(retrieve.Query{Text: "And children?", Context: conv})
	if follow.Evidence[0].URI != "p/network.md" {
		t.Fatalf("top %s: the context does not rank the network's page first, the test shows nothing", follow.Evidence[0].URI)
	}
	in := follow.StrengthInputs()
	if !(in.Coverage > 0 && in.Coverage <= retrieve.ContextCoverageCap) {
		t.Errorf("a page matching only the context: coverage %v, want within (0, %v]", in.Coverage, retrieve.ContextCoverageCap)
	}
	if in.Gap > in.Coverage {
		t.Errorf("gap %v above coverage %v", in.Gap, in.Coverage)
	}
	// The museum's page, found by the question's own words with the same conversation as a
	// lighter context: covered more than the context alone covers the network's page.
	light := []retrieve.ContextText{{Text: conv[0].Text, Weight: 0.1}}
	own := ask(retrieve.Query{Text: "Is the museum open for children?", Context: light})
	if own.Evidence[0].URI != "p/museum.md" {
		t.Fatalf("top %s, want p/museum.md", own.Evidence[0].URI)
	}
	if c := own.StrengthInputs().Coverage; !(c > in.Coverage && c <= 1) {
		t.Errorf("the question's own page: coverage %v, want above %v (the context alone) and at most 1", c, in.Coverage)
	}
	// Without context, coverage is what it was: the question's own (ClapNQ's figures do not move).
	alone := ask(retrieve.Query{Text: "Is the museum open for children?"})
	if c := alone.StrengthInputs().Coverage; !(c > 0 && c <= 1) {
		t.Errorf("no context: coverage %v", c)
	}
}
