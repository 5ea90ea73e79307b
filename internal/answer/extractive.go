package answer

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// NoEvidenceAnswer is the answer given when the sources do not answer the question. Validate
// recognises it as a statement that the sources lack the answer.
const NoEvidenceAnswer = "The available sources do not contain the answer to this question."

// ExtractiveModel is the Model of the drafts that Extractive writes.
const ExtractiveModel = "extractive"

// DefaultMinCoverage is the default of ExtractiveConfig.MinCoverage.
const DefaultMinCoverage = 0.3

// ExtractiveConfig tunes Extractive. Zero values take the defaults.
type ExtractiveConfig struct {
	MaxSentences int // sentences in an answer, at most; default 3
	MinWords     int // shorter sentences are not quoted; default 4
	MaxWords     int // longer sentences are not quoted; default 60
	// MinCoverage is the least share of the question's weight that a sentence must match
	// to be quoted; below it for every sentence, the answer is NoEvidenceAnswer. Default
	// 0.3, chosen on ClapNQ (see the package documentation and TestExtractiveClapNQ).
	MinCoverage float64
	// Redundancy is the largest share of a candidate's content words that may also be in a
	// sentence already chosen; above it the candidate repeats that sentence. Default 0.6.
	Redundancy float64
	// RankDecay lowers the scores of later sources: source i (0-based) has its scores
	// divided by 1 + RankDecay·i. Default 0.05.
	RankDecay float64
}

func (c *ExtractiveConfig) defaults() {
	c.MaxSentences = cmp.Or(c.MaxSentences, 3)
	c.MinWords = cmp.Or(c.MinWords, 4)
	c.MaxWords = cmp.Or(c.MaxWords, 60)
	c.MinCoverage = cmp.Or(c.MinCoverage, DefaultMinCoverage)
	c.Redundancy = cmp.Or(c.Redundancy, 0.6)
	c.RankDecay = cmp.Or(c.RankDecay, 0.05)
}

func (c *ExtractiveConfig) validate() error {
	switch {
	case c.MaxSentences < 1 || c.MaxSentences > 20:
		return fmt.Errorf("answer: ExtractiveConfig.MaxSentences: %d is not between 1 and 20", c.MaxSentences)
	case c.MinWords < 1 || c.MaxWords < c.MinWords:
		return fmt.Errorf("answer: ExtractiveConfig.MinWords, MaxWords: need 1 <= MinWords (%d) <= MaxWords (%d)", c.MinWords, c.MaxWords)
	case c.MinCoverage <= 0 || c.MinCoverage > 1:
		return fmt.Errorf("answer: ExtractiveConfig.MinCoverage: %g is not in (0, 1]", c.MinCoverage)
	case c.Redundancy <= 0 || c.Redundancy > 1:
		return fmt.Errorf("answer: ExtractiveConfig.Redundancy: %g is not in (0, 1]", c.Redundancy)
	case c.RankDecay < 0:
		return fmt.Errorf("answer: ExtractiveConfig.RankDecay: %g is negative", c.RankDecay)
	}
	return nil
}

// Extractive answers by quoting the source sentences that best match the question, each
// followed by its citation. It makes no network call, is deterministic, and is the default
// generator and the fallback of the others. It is safe for concurrent use.
//
// A sentence's score is the share of the question's content words it contains, each
// weighted by its rarity across the given sources (BM25's idf over the sources), a word
// found only in the source's title or headings counting half; scores fall slowly with the
// source's rank. Sentences are chosen best first, skipping those that mostly repeat one
// already chosen, until MaxSentences or until the best remaining one matches less than
// half as well as the first.
type Extractive struct {
	cfg ExtractiveConfig
}

var _ Generator = (*Extractive)(nil)

// NewExtractive returns an extractive generator.
func NewExtractive(cfg ExtractiveConfig) (*Extractive, error) {
	cfg.defaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Extractive{cfg: cfg}, nil
}

// Generate writes the extractive answer and passes it whole to onDelta. It fails only when
// ctx is done.
func (e *Extractive) Generate(ctx context.Context, p Prompt, onDelta func(string)) (Draft, error) {
	if err := ctx.Err(); err != nil {
		return Draft{}, fmt.Errorf("extractive answer: %w", err)
	}
	d := Draft{Text: e.Compose(p), Model: ExtractiveModel}
	if onDelta != nil {
		onDelta(d.Text)
	}
	return d, nil
}

// candidate is a source sentence that may be quoted.
type candidate struct {
	src        int
	start, end int     // in the source's text
	terms      []int32 // distinct term ids
	coverage   float64 // the share of the question's weight it matches
	score      float64 // coverage, lowered by the source's rank
}

// Compose returns the extractive answer to p: verbatim source sentences each followed by
// its citation [n], or NoEvidenceAnswer.
func (e *Extractive) Compose(p Prompt) string {
	ex := extraction{vocab: make(map[string]int32, 1024)}
	var cands []candidate
	title := make([][]int32, len(p.Sources))
	for i, it := range p.Sources {
		for _, sp := range sentences(it.Text) {
			if sp.kind == heading || sp.kind == table {
				ex.countTerms(it.Text[sp.start:sp.end], i) // they still tell what is rare
				continue
			}
			terms, words := ex.countTerms(it.Text[sp.start:sp.end], i)
			if words >= e.cfg.MinWords && words <= e.cfg.MaxWords && len(terms) > 0 {
				cands = append(cands, candidate{src: i, start: sp.start, end: sp.end, terms: terms})
			}
		}
		var t []int32
		for _, s := range append([]string{it.Title}, it.HeadingPath...) {
			eachWord(s, func(w string) {
				if x := term(w); x != "" {
					if id, ok := ex.vocab[x]; ok && !slices.Contains(t, id) {
						t = append(t, id)
					}
				}
			})
		}
		title[i] = t
	}
	query := ex.query(p.Question, p.History, len(p.Sources))
	if query.total == 0 || len(cands) == 0 {
		return NoEvidenceAnswer
	}
	for k := range cands {
		c := &cands[k]
		got := 0.0
		for j, id := range query.ids {
			switch {
			case id < 0:
			case slices.Contains(c.terms, id):
				got += query.weights[j]
			case slices.Contains(title[c.src], id):
				got += query.weights[j] / 2
			}
		}
		if got == 0 || !query.matchesAny(c.terms) {
			continue
		}
		c.coverage = got / query.total
		c.score = c.coverage / (1 + e.cfg.RankDecay*float64(c.src))
	}
	chosen := e.choose(cands)
	if len(chosen) == 0 {
		return NoEvidenceAnswer
	}
	var b strings.Builder
	for k, c := range chosen {
		if k > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(quote(p.Sources[c.src].Text[c.start:c.end]))
		b.WriteString(" [")
		b.WriteString(strconv.Itoa(c.src + 1))
		b.WriteByte(']')
	}
	return b.String()
}

// choose picks the sentences to quote, best first.
func (e *Extractive) choose(cands []candidate) []candidate {
	// Best first; ties go to the earlier source, then the earlier sentence.
	slices.SortStableFunc(cands, func(a, b candidate) int { return cmp.Compare(b.score, a.score) })
	var chosen []candidate
	for _, c := range cands {
		if len(chosen) == e.cfg.MaxSentences || c.score == 0 || len(chosen) > 0 && c.score < chosen[0].score/2 {
			break
		}
		if c.coverage < e.cfg.MinCoverage {
			continue
		}
		if slices.ContainsFunc(chosen, func(o candidate) bool { return overlap(c.terms, o.terms) > e.cfg.Redundancy }) {
			continue
		}
		chosen = append(chosen, c)
	}
	return chosen
}

// overlap is the share of a's terms that are also in b.
func overlap(a, b []int32) float64 {
	if len(a) == 0 {
		return 0
	}
	n := 0
	for _, t := range a {
		if slices.Contains(b, t) {
			n++
		}
	}
	return float64(n) / float64(len(a))
}

// quote returns a source sentence fit to quote: white space collapsed, footnote markers
// ("[3]", which would read as citations) removed, ending with a full stop or another mark.
func quote(s string) string {
	s, _, _ = cleanCitations(s, 0)
	s = strings.Join(strings.Fields(s), " ")
	end := strings.TrimRight(s, "\"')”’»*_")
	if end != "" && !strings.ContainsRune(".!?", rune(end[len(end)-1])) {
		s += "."
	}
	return s
}

// extraction holds the term statistics of one Compose call. Terms are numbered per call.
type extraction struct {
	vocab map[string]int32
	df    []int32 // sources containing each term
	last  []int32 // the last source that counted each term, plus one
}

// countTerms returns the distinct term ids of s and its number of words, and counts the
// terms' document frequencies for source src.
func (x *extraction) countTerms(s string, src int) ([]int32, int) {
	var ids []int32
	words := 0
	eachWord(s, func(w string) {
		words++
		t := term(w)
		if t == "" {
			return
		}
		id, ok := x.vocab[t]
		if !ok {
			id = int32(len(x.df))
			x.vocab[t] = id
			x.df = append(x.df, 0)
			x.last = append(x.last, 0)
		}
		if x.last[id] != int32(src+1) {
			x.last[id] = int32(src + 1)
			x.df[id]++
		}
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	})
	return ids, words
}

// weightedQuery is a question's terms: their ids (-1 when no source has them) and weights.
type weightedQuery struct {
	ids     []int32
	weights []float64
	own     int // the first own is the question's; the rest come from the conversation
	total   float64
}

// matchesAny reports whether terms contain one of the question's own terms: context from
// the conversation alone does not make a sentence an answer.
func (q weightedQuery) matchesAny(terms []int32) bool {
	for _, id := range q.ids[:q.own] {
		if id >= 0 && slices.Contains(terms, id) {
			return true
		}
	}
	return false
}

// query weighs the question's terms by their rarity across the n sources; for a follow-up
// question, the terms of the earlier question count at half weight.
func (x *extraction) query(question string, history []Turn, n int) weightedQuery {
	var q weightedQuery
	add := func(terms []string, w float64) {
		for _, t := range terms {
			id, ok := x.vocab[t]
			df := 0.0
			if ok {
				df = float64(x.df[id])
			} else {
				id = -1
			}
			if slices.Contains(q.ids, id) && id >= 0 {
				continue
			}
			// Smoothed: with a handful of sources, the usual ln(1 + (n−df+0.5)/(df+0.5))
			// gives a term found in every source almost no weight (0.1 for n = 4) against 2.3
			// for a question word found in none, so any filler word the sources lack
			// ("get") made every sentence fall short of MinCoverage. Here a term in every
			// source still weighs a third of an absent one.
			idf := math.Log(1 + (float64(n)+1)/(df+0.5))
			q.ids = append(q.ids, id)
			q.weights = append(q.weights, w*idf)
			q.total += w * idf
		}
	}
	add(contentTerms(nil, question), 1)
	q.own = len(q.ids)
	if prev := previousQuestions(question, history); len(prev) > 0 {
		var terms []string
		for _, p := range prev {
			terms = contentTerms(terms, p)
		}
		add(terms, 0.5)
	}
	return q
}
