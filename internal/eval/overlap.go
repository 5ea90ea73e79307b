package eval

import (
	"regexp"
	"strings"
	"unicode"
)

// Word overlap between an answer and a gold answer, as SQuAD's official evaluation script
// (v1.1, evaluate-v1.1.py) computes it, so that the figures compare with published ones:
//
//  1. The answer's citation markers ("[1]", "[2][3]") are removed first: they are not words
//     of the answer.
//  2. Normalisation: lower case; every punctuation or symbol character (Unicode categories
//     P and S, a superset of Python's string.punctuation that the script deletes) is
//     deleted, not replaced by a space ("don't" → "dont", "e.g." → "eg"); the articles
//     "a", "an" and "the" are removed; the rest is split on white space.
//  3. With the bags (multisets) of words of the answer and of the gold answer, common is
//     the size of their intersection: precision = common / |answer|, recall = common /
//     |gold|, F1 their harmonic mean; all 0 when common is 0 (also when either side has no
//     word).
//  4. Against several gold answers (ClapNQ's annotators), each measure is the maximum over
//     them, as the script takes the maximum over the ground truths.

// citationMarker matches the [n] markers answers cite with.
var citationMarker = regexp.MustCompile(`\[\d+\]`)

// StripCitations removes the [n] citation markers from an answer.
func StripCitations(s string) string {
	return citationMarker.ReplaceAllString(s, " ")
}

// AnswerTokens returns the normalised words of s (steps 2 of the rules above).
func AnswerTokens(s string) []string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if unicode.IsPunct(r) || unicode.IsSymbol(r) {
			continue
		}
		if unicode.IsSpace(r) {
			r = ' '
		}
		b.WriteRune(r)
	}
	var out []string
	for _, w := range strings.Fields(b.String()) {
		if w != "a" && w != "an" && w != "the" {
			out = append(out, w)
		}
	}
	return out
}

// Overlap is the word overlap of an answer with a gold answer.
type Overlap struct {
	F1        float64 `json:"f1"`
	Precision float64 `json:"precision"`
	Recall    float64 `json:"recall"`
}

// WordOverlap returns the overlap of answer with gold (rules 2 and 3); answer's citation
// markers are removed first.
func WordOverlap(answer, gold string) Overlap {
	pred, ref := AnswerTokens(StripCitations(answer)), AnswerTokens(gold)
	if len(pred) == 0 || len(ref) == 0 {
		return Overlap{}
	}
	counts := make(map[string]int, len(ref))
	for _, w := range ref {
		counts[w]++
	}
	common := 0
	for _, w := range pred {
		if counts[w] > 0 {
			counts[w]--
			common++
		}
	}
	if common == 0 {
		return Overlap{}
	}
	p, r := float64(common)/float64(len(pred)), float64(common)/float64(len(ref))
	return Overlap{F1: 2 * p * r / (p + r), Precision: p, Recall: r}
}

// BestOverlap returns, for each measure, its maximum over the gold answers (rule 4); the
// zero Overlap when there is none.
func BestOverlap(answer string, golds []string) Overlap {
	var best Overlap
	for _, g := range golds {
		o := WordOverlap(answer, g)
		best.F1 = max(best.F1, o.F1)
		best.Precision = max(best.Precision, o.Precision)
		best.Recall = max(best.Recall, o.Recall)
	}
	return best
}
