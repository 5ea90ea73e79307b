package main

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/docent-rag/docent/internal/retrieve"
)

// Candidate inputs of the evidence strength model: signals read from the passages
// themselves and from the rankings beyond the model's coverage, gap and agreement, computed
// by `eval qa --features` for every question (the "candidates" of a dump) so that `eval qa
// --fit --fit-inputs` can measure whether they separate answerable from unanswerable
// questions on held-out folds. None is used by the server: docs/retrieval.md ("Evidence
// strength") has what each gave. Each is within [0, 1], grows with the evidence, and is a
// ratio of the query's own quantities from what the caller sees (its IDFs, its visible
// passages and rankings), so that it would not leak hidden chunks nor grow with the corpus.

// candidatePassages is how many evidence items (best first) the passage candidates read.
const candidatePassages = 5

// maxCandidateBytes bounds what is read of one evidence item.
const maxCandidateBytes = 16 << 10

// candidateNames are the candidates, in the order they are documented.
var candidateNames = []string{
	"sentence", "passage", "rare", "rest_sentence", "answer_type", "pairs", "proximity",
	"overlap3", "overlap5", "doc_gap",
}

// candidateInputs computes the candidates of one retrieval of question.
func candidateInputs(question string, res *retrieve.Result) map[string]float64 {
	c := make(map[string]float64, len(candidateNames))
	for _, n := range candidateNames {
		c[n] = 0
	}
	items := res.Evidence[:min(candidatePassages, len(res.Evidence))]
	passageCandidates(c, question, res.QueryTerms(), items)
	c["overlap3"], c["overlap5"] = retrieve.Agreement(res.Lexical, res.Dense, 3), retrieve.Agreement(res.Lexical, res.Dense, 5)
	if len(res.Lexical) > 0 && res.Lexical[0].Score > 0 {
		top := res.Lexical[0]
		c["doc_gap"] = 1 // no other document matched
		for _, h := range res.Lexical[1:] {
			if h.DocumentID != top.DocumentID {
				c["doc_gap"] = min(1, max(0, 1-h.Score/top.Score))
				break
			}
		}
	}
	return c
}

// passageCandidates sets the candidates read from the evidence items' text:
//
//   - sentence: the share of the query terms' IDF mass in the best sentence (of any item);
//   - passage: the same in the best item as a whole (term coverage, without BM25's
//     saturation and length normalisation);
//   - rare: the share of the IDF mass of the query's two rarest terms in one item;
//   - rest_sentence: the best sentence's share of the IDF mass of the query terms that are
//     not in its item's title or headings (what the question asks beyond its topic);
//   - answer_type: for a question asking for a number, a date or a name ("how many",
//     "when", "who"...), whether the best sentence holds one that the question does not;
//     1 for other questions;
//   - pairs and proximity: the built-in reranker's features of the best item (the query's
//     word pairs it holds in order; how close its matches are, times the share matched).
func passageCandidates(c map[string]float64, question string, terms []retrieve.QueryTerm, items []retrieve.Item) {
	total := 0.0
	for _, t := range terms {
		total += t.IDF
	}
	typ := questionType(question)
	if typ == "" {
		c["answer_type"] = 1
	}
	if total <= 0 || len(items) == 0 {
		return
	}
	byIDF := slices.Clone(terms)
	slices.SortStableFunc(byIDF, func(a, b retrieve.QueryTerm) int { return cmp.Compare(b.IDF, a.IDF) })
	rare := byIDF[:min(2, len(byIDF))]
	rareTotal := 0.0
	for _, t := range rare {
		rareTotal += t.IDF
	}
	qwords := map[string]bool{}
	for _, w := range splitWords(question) {
		qwords[strings.ToLower(w)] = true
	}
	bestSentence, bestType := -1.0, 0.0
	passages := make([]string, 0, len(items))
	for _, it := range items {
		text := it.Text
		if len(text) > maxCandidateBytes {
			text = text[:maxCandidateBytes]
		}
		title := strings.Join(append([]string{it.Title}, it.HeadingPath...), " ")
		passages = append(passages, title+"\n\n"+text)
		inTitle := termsIn(title, terms)
		restTotal := 0.0
		for _, t := range terms {
			if !inTitle[t.Lexeme] {
				restTotal += t.IDF
			}
		}
		inItem := map[string]bool{}
		for _, s := range sentences(text) {
			ws := splitWords(s)
			found := termsInWords(ws, terms)
			share, rest := 0.0, 0.0
			for _, t := range terms {
				if found[t.Lexeme] {
					inItem[t.Lexeme] = true
					share += t.IDF
					if !inTitle[t.Lexeme] {
						rest += t.IDF
					}
				}
			}
			share /= total
			if restTotal > 0 {
				c["rest_sentence"] = max(c["rest_sentence"], rest/restTotal)
			}
			st := 0.0
			if typ != "" && hasAnswerType(typ, ws, qwords) {
				st = 1
			}
			if share > bestSentence || (share == bestSentence && st > bestType) {
				bestSentence, bestType = share, st
			}
		}
		share, rs := 0.0, 0.0
		for _, t := range terms {
			if inItem[t.Lexeme] {
				share += t.IDF
			}
		}
		for _, t := range rare {
			if inItem[t.Lexeme] {
				rs += t.IDF
			}
		}
		c["passage"] = max(c["passage"], share/total)
		if rareTotal > 0 {
			c["rare"] = max(c["rare"], rs/rareTotal)
		}
	}
	c["sentence"] = max(0, bestSentence)
	if typ != "" {
		c["answer_type"] = bestType
	}
	for name, b := range map[string]*retrieve.Builtin{"pairs": {Pairs: 1}, "proximity": {Proximity: 1}} {
		scores, err := b.Rerank(context.Background(), question, passages)
		if err != nil {
			continue
		}
		for _, s := range scores {
			c[name] = min(1, max(c[name], s))
		}
	}
}

// termsIn returns the query terms (by lexeme) that text holds.
func termsIn(text string, terms []retrieve.QueryTerm) map[string]bool {
	return termsInWords(splitWords(text), terms)
}

func termsInWords(ws []string, terms []retrieve.QueryTerm) map[string]bool {
	found := map[string]bool{}
	for _, w := range ws {
		lw := strings.ToLower(w)
		for _, t := range terms {
			if matchesLexeme(lw, t.Lexeme) {
				found[t.Lexeme] = true
			}
		}
	}
	return found
}

// matchesLexeme says whether a lower-case word is a form of a stemmed lexeme (PostgreSQL's
// Snowball stems): the word begins with it and adds at most a short suffix ("forecasting"
// of "forecast"), a final "i" standing for "y" ("study" of "studi").
func matchesLexeme(w, lexeme string) bool {
	if lexeme == "" {
		return false
	}
	if strings.HasPrefix(w, lexeme) {
		return len(w)-len(lexeme) <= 4
	}
	if y, ok := strings.CutSuffix(lexeme, "i"); ok {
		y += "y"
		return strings.HasPrefix(w, y) && len(w)-len(y) <= 3
	}
	return false
}

func splitWords(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
}

// sentences splits text at sentence ends (".", "!" or "?" before a space or the end) and
// line breaks.
func sentences(text string) []string {
	var out []string
	start := 0
	for i := 0; i < len(text); {
		r, size := utf8.DecodeRuneInString(text[i:])
		end := i + size
		if r == '\n' || ((r == '.' || r == '!' || r == '?') && (end == len(text) || text[end] == ' ' || text[end] == '\n')) {
			if s := strings.TrimSpace(text[start:end]); s != "" {
				out = append(out, s)
			}
			start = end
		}
		i = end
	}
	if s := strings.TrimSpace(text[start:]); s != "" {
		out = append(out, s)
	}
	return out
}

// questionType is the kind of value a question asks for: "number", "date", "name" or "".
func questionType(q string) string {
	q = " " + strings.Join(strings.Fields(strings.ToLower(q)), " ") + " "
	for _, p := range []struct{ cue, typ string }{
		{" how many ", "number"}, {" how much ", "number"}, {" how long ", "number"}, {" how old ", "number"},
		{" how far ", "number"}, {" how big ", "number"}, {" how tall ", "number"}, {" what percentage ", "number"},
		{" when ", "date"}, {" what year ", "date"}, {" which year ", "date"}, {" what date ", "date"},
		{" who ", "name"}, {" whom ", "name"}, {" whose ", "name"}, {" where ", "name"},
	} {
		if strings.Contains(q, p.cue) {
			return p.typ
		}
	}
	return ""
}

var monthNames = map[string]bool{"january": true, "february": true, "march": true, "april": true, "may": true,
	"june": true, "july": true, "august": true, "september": true, "october": true, "november": true, "december": true}

var numberWords = map[string]bool{"one": true, "two": true, "three": true, "four": true, "five": true, "six": true,
	"seven": true, "eight": true, "nine": true, "ten": true, "eleven": true, "twelve": true, "twenty": true,
	"hundred": true, "thousand": true, "million": true, "billion": true, "dozen": true, "half": true}

// hasAnswerType says whether the sentence's words hold a value of the type that the
// question does not hold itself: a number (digits or a number word), a date (a month, a
// year 1000–2099 or its decade), a name (a capitalised word past the sentence's first).
func hasAnswerType(typ string, ws []string, qwords map[string]bool) bool {
	for i, w := range ws {
		lw := strings.ToLower(w)
		if qwords[lw] {
			continue
		}
		switch typ {
		case "number":
			if strings.ContainsAny(w, "0123456789") || numberWords[lw] {
				return true
			}
		case "date":
			if monthNames[lw] || isYear(w) {
				return true
			}
		case "name":
			if r, _ := utf8.DecodeRuneInString(w); i > 0 && unicode.IsUpper(r) {
				return true
			}
		}
	}
	return false
}

func isYear(w string) bool {
	w = strings.TrimSuffix(w, "s")
	if len(w) != 4 {
		return false
	}
	for _, r := range w {
		if r < '0' || r > '9' {
			return false
		}
	}
	return w >= "1000" && w <= "2099"
}
