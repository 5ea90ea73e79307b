package retrieve

import (
	"cmp"
	"context"
	"math"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/docent-rag/docent/internal/index"
)

// Shortening says how a query longer than MaxQueryChars was shortened (see shorten).
type Shortening struct {
	Chars     int `json:"chars"`      // characters of the normalised query
	KeptChars int `json:"kept_chars"` // characters of the query retrieval ran
	// Words are the query's distinct words (case-insensitive), Considered those weighed
	// (the first maxShortenWords), Kept those retrieval ran with.
	Words      int `json:"words"`
	Considered int `json:"considered"`
	Kept       int `json:"kept"`
	// Phrases and KeptPhrases count the quoted phrases, before and after.
	Phrases     int `json:"phrases"`
	KeptPhrases int `json:"kept_phrases"`
}

// maxShortenWords bounds the distinct words of a long query that are weighed: the rest (in
// order of first occurrence) are dropped unweighed. At the default 64 KiB body limit a
// query has fewer distinct words than this; the bound is there for larger limits.
const maxShortenWords = 10000

// shortWord is a distinct word of a long query.
type shortWord struct {
	text   string // as first written
	first  int    // position of the first occurrence among the query's words
	count  int
	weight float64
	kept   bool
}

// shorten returns q within MaxQueryChars characters: its most informative words, in the
// order of their first occurrence, and the quoted phrases that fit in a quarter of the
// budget (whose words are kept first). A word's weight is the largest of its lexemes'
// idf·(1 + ln qtf), qtf being the lexeme's occurrences in the whole query and idf BM25's
// from the caller's own statistics (index.QueryTerms, as the lexical leg computes it, with
// the MinIDFChunks floor): which words are kept depends on what the caller may see, never
// on chunks it may not (a word that only hidden chunks contain weighs 0, like an absent
// one). Words without a lexeme (stop words) are dropped; words the caller's chunks do not
// contain come last, by first occurrence, when room is left. Without principals nothing is
// read, and the words are kept by first occurrence.
func (r *Retriever) shorten(ctx context.Context, chunking int, q Query, principals []string) (Query, *Shortening, error) {
	limit := r.cfg.MaxQueryChars
	info := &Shortening{Chars: utf8.RuneCountInString(q.Text), Phrases: len(q.Phrases)}
	byKey := map[string]int{}
	var words []shortWord
	n := 0
	for _, tok := range strings.Fields(q.Text) {
		tok = strings.TrimFunc(tok, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
		if tok == "" {
			continue
		}
		key := strings.ToLower(tok)
		if i, ok := byKey[key]; ok {
			words[i].count++
		} else {
			byKey[key] = len(words)
			words = append(words, shortWord{text: tok, first: n, count: 1})
		}
		n++
	}
	info.Words = len(words)
	words = words[:min(len(words), maxShortenWords)]
	info.Considered = len(words)

	if len(principals) > 0 && len(words) > 0 {
		texts := make([]string, len(words))
		for i, w := range words {
			texts[i] = w.text
		}
		lexemes, err := index.WordLexemes(ctx, r.db, chunking, texts)
		if err != nil {
			return Query{}, nil, err
		}
		terms, corpus, err := r.termStats(ctx, r.db, chunking, strings.Join(texts, " "), principals)
		if err != nil {
			return Query{}, nil, err
		}
		qtf := map[string]int{}
		for i, ls := range lexemes {
			for _, l := range ls {
				qtf[l] += words[i].count
			}
		}
		idf := map[string]float64{}
		chunks := float64(max(corpus.Chunks, int64(r.cfg.MinIDFChunks)))
		for _, t := range terms {
			if t.DF > 0 && corpus.Chunks > 0 {
				idf[t.Lexeme] = math.Log(1 + (chunks-float64(t.DF)+0.5)/(float64(t.DF)+0.5))
			}
		}
		var kept []shortWord
		for i, ls := range lexemes {
			if len(ls) == 0 {
				continue // a stop word
			}
			for _, l := range ls {
				words[i].weight = max(words[i].weight, idf[l]*(1+math.Log(float64(qtf[l]))))
			}
			kept = append(kept, words[i])
		}
		words = kept
	}

	budget := limit
	take := func(w *shortWord) {
		if size := utf8.RuneCountInString(w.text); !w.kept && size <= budget {
			w.kept = true
			budget -= size + 1 // and a space before the next word
		}
	}
	at := make(map[string]int, len(words))
	for i, w := range words {
		at[strings.ToLower(w.text)] = i
	}
	// Quoted phrases first, within a quarter of the budget, with their words.
	var phrases []string
	phraseBudget := limit / 4
	for _, p := range q.Phrases {
		size := utf8.RuneCountInString(p)
		if size > phraseBudget {
			continue
		}
		var need []int
		for _, tok := range strings.Fields(p) {
			tok = strings.TrimFunc(tok, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
			if tok == "" {
				continue
			}
			i, ok := at[strings.ToLower(tok)]
			if !ok {
				continue // a stop word, or past the words considered
			}
			need = append(need, i)
		}
		cost := 0
		for _, i := range need {
			if !words[i].kept {
				cost += utf8.RuneCountInString(words[i].text) + 1
			}
		}
		if cost > budget+1 {
			continue
		}
		for _, i := range need {
			take(&words[i])
		}
		phrases = append(phrases, p)
		phraseBudget -= size
	}
	order := make([]int, len(words))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		return cmp.Or(cmp.Compare(words[b].weight, words[a].weight), cmp.Compare(words[a].first, words[b].first))
	})
	for _, i := range order {
		take(&words[i])
	}
	slices.SortFunc(words, func(a, b shortWord) int { return cmp.Compare(a.first, b.first) })
	var b strings.Builder
	for _, w := range words {
		if !w.kept {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(w.text)
		info.Kept++
	}
	out := Query{Text: b.String(), Phrases: phrases, Context: q.Context}
	info.KeptChars, info.KeptPhrases = utf8.RuneCountInString(out.Text), len(phrases)
	if out.Text == "" {
		// Nothing informative: the query's first words, so that retrieval still runs.
		out.Text = truncateWords(q.Text, limit)
		info.KeptChars = utf8.RuneCountInString(out.Text)
		info.Kept = len(strings.Fields(out.Text))
	}
	return out, info, nil
}

// truncateWords returns the longest prefix of s of whole words within limit characters
// (the first limit characters when its first word is longer).
func truncateWords(s string, limit int) string {
	if utf8.RuneCountInString(s) <= limit {
		return s
	}
	rs := []rune(s)[:limit]
	if i := strings.LastIndexByte(string(rs), ' '); i > 0 {
		return string(rs)[:i]
	}
	return string(rs)
}
