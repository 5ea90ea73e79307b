package retrieve_test

import (
	"context"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/docent-rag/docent/internal/retrieve"
)

// longQuery is a query of about n characters: filler words most public chunks contain,
// around the given words, each once.
func longQuery(n int, words ...string) string {
	var b strings.Builder
	for i := 0; b.Len() < n; i++ {
		b.WriteString("the morning route holds pallet and crate for aisle ")
		if i == 3 {
			for _, w := range words {
				b.WriteString(w + " ")
			}
		}
	}
	return b.String()
}

// TestLongQueriesKeepTheirMostInformativeWords: a query longer than MaxQueryChars runs with
// its most informative words for the caller, within MaxQueryChars, and finds what the
// informative word points to; both legs get the shortened query.
func TestLongQueriesKeepTheirMostInformativeWords(t *testing.T) {
	t.Parallel()
	db, emb := corpus(t, hiddenCorpus())
	r := newRetriever(t, db, emb, retrieve.Config{}, nil)
	ctx := context.Background()
	for _, n := range []int{2023, 60000} {
		q := longQuery(n, publicWord)
		res, err := r.Retrieve(ctx, retrieve.Request{Query: q, Principals: []string{"public"}})
		if err != nil {
			t.Fatalf("%d characters: %v", n, err)
		}
		sh := res.Shortened
		if sh == nil || sh.Chars < n || sh.KeptChars > 2000 || utf8.RuneCountInString(res.Query.Text) != sh.KeptChars {
			t.Fatalf("%d characters: shortening %+v, query of %d characters", n, sh, utf8.RuneCountInString(res.Query.Text))
		}
		if !strings.Contains(res.Query.Text, publicWord) || strings.Contains(" "+res.Query.Text+" ", " the ") {
			t.Errorf("%d characters: the shortened query %q lacks the rare word or keeps a stop word", n, res.Query.Text)
		}
		if len(res.Evidence) == 0 || !strings.Contains(res.Evidence[0].Text, publicWord) {
			t.Errorf("%d characters: the best evidence does not hold the rare word: %+v", n, res.Evidence)
		}
	}
}

// TestShorteningIgnoresHiddenChunks: which words a long query keeps depends on the caller's
// own statistics only. For a caller who sees public chunks, a word that only hidden chunks
// contain weighs what an absent word weighs, so the two queries shorten to the same words
// (but for that one) and find the same thing; a caller of the hidden group keeps the word.
// With corpus-wide statistics the hidden word would be kept for everyone and the absent one
// dropped: a way to probe for hidden words.
func TestShorteningIgnoresHiddenChunks(t *testing.T) {
	t.Parallel()
	db, emb := corpus(t, hiddenCorpus())
	r := newRetriever(t, db, emb, retrieve.Config{MaxQueryChars: 60}, nil)
	ctx := context.Background()
	// Many distinct words the public caller can find, so that 60 characters cannot hold them
	// all: what is kept is decided by weight.
	words := []string{"charging", "schedule", "robot", "warehouse", "visitors", "front", "desk", "overnight", "night", "shift", "logs", "docks"}
	run := func(word string, principals ...string) *retrieve.Result {
		t.Helper()
		q := strings.Join(words, " ") + " " + word + " " + longQuery(300)
		res, err := r.Retrieve(ctx, retrieve.Request{Query: q, Principals: principals, Mode: retrieve.Lexical})
		if err != nil {
			t.Fatal(err)
		}
		if res.Shortened == nil {
			t.Fatalf("a query of %d characters was not shortened", len(q))
		}
		return res
	}
	hidden, absent := run(hiddenWord, "public"), run(absentWord, "public")
	if got, want := strings.ReplaceAll(hidden.Query.Text, hiddenWord, absentWord), absent.Query.Text; got != want {
		t.Errorf("the public caller's shortened queries differ:\nwith the hidden word %q\nwith an absent word %q", hidden.Query.Text, absent.Query.Text)
	}
	if strings.Contains(hidden.Query.Text, hiddenWord) {
		t.Errorf("the public caller kept a word only hidden chunks contain: %q", hidden.Query.Text)
	}
	if describeResult(hidden) != describeResult(absent) {
		t.Errorf("the public caller's results differ:\n%s\n%s", describeResult(hidden), describeResult(absent))
	}
	if research := run(hiddenWord, "group:research"); !strings.Contains(research.Query.Text, hiddenWord) {
		t.Errorf("the research caller's shortened query %q lacks its rare word", research.Query.Text)
	}
}
