package answer

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode"
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
	MaxSentences int // sentences in a prose answer, at most; default 3
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
	// divided by 1 + RankDecay·i, so that retrieval's order counts in choosing the passage
	// that answers. Default 0.5 (tuned on ClapNQ folds 0–2 and the go.dev pairs; see
	// docs/retrieval.md, "Extractive answers").
	RankDecay float64
	// MaxAnswerWords bounds the words of a prose answer: a sentence after the first is
	// quoted only if the answer stays within it. Default 70.
	MaxAnswerWords int
	// MoreShare is the least share of the best sentence's score that another sentence of
	// the passage must match to be quoted beside it (and a list's items to be a how-to's
	// steps); below it a sentence adds nothing the question asked for. Default 0.6.
	MoreShare float64
	// DefinitionShare: for a definition question, the first sentence of the passage that
	// matches at least this share of the best sentence's coverage is quoted first instead
	// of the best one. Default 0.8.
	DefinitionShare float64
}

func (c *ExtractiveConfig) defaults() {
	c.MaxSentences = cmp.Or(c.MaxSentences, 3)
	c.MinWords = cmp.Or(c.MinWords, 4)
	c.MaxWords = cmp.Or(c.MaxWords, 60)
	c.MinCoverage = cmp.Or(c.MinCoverage, DefaultMinCoverage)
	c.Redundancy = cmp.Or(c.Redundancy, 0.6)
	c.RankDecay = cmp.Or(c.RankDecay, 0.5)
	c.MaxAnswerWords = cmp.Or(c.MaxAnswerWords, 70)
	c.MoreShare = cmp.Or(c.MoreShare, 0.6)
	c.DefinitionShare = cmp.Or(c.DefinitionShare, 0.8)
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
	case c.MaxAnswerWords < c.MinWords:
		return fmt.Errorf("answer: ExtractiveConfig.MaxAnswerWords: %d is below MinWords (%d)", c.MaxAnswerWords, c.MinWords)
	case c.MoreShare <= 0 || c.MoreShare > 1:
		return fmt.Errorf("answer: ExtractiveConfig.MoreShare: %g is not in (0, 1]", c.MoreShare)
	case c.DefinitionShare <= 0 || c.DefinitionShare > 1:
		return fmt.Errorf("answer: ExtractiveConfig.DefinitionShare: %g is not in (0, 1]", c.DefinitionShare)
	}
	return nil
}

// Extractive answers by quoting the passage that answers the question, each quoted
// sentence, list item or table row followed by its citation. It makes no network call, is
// deterministic, and is the default generator and the fallback of the others. It is safe
// for concurrent use.
//
// A sentence's coverage is the share of the question's content words it contains, each
// weighted by its rarity across the given sources (BM25's idf over the sources), a word
// found only in the source's title, heading path or the heading the sentence is under in
// the passage counting half. The answering passage is the one whose best sentence's
// coverage, divided by 1 + RankDecay·rank, is highest; the answer quotes that passage only,
// in its order (Compose has the shapes).
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

// candidate is a unit of a source that may be quoted.
type candidate struct {
	src      int
	unit     int     // index in the source's units
	upto     int     // the last unit quoted: unit, or the value line after a lead-in
	terms    []int32 // distinct term ids
	words    int
	lead     bool    // the lead-in of a numbered list ("To install Go:"), for a how-to only
	coverage float64 // the share of the question's weight it matches
	score    float64 // coverage, lowered by the source's rank
}

// source is one source as Compose reads it.
type source struct {
	units []unit
	terms [][]int32 // of each unit
	title []int32   // the terms of its title and heading path
}

// Compose returns the extractive answer to p: verbatim source text, each sentence, list
// item or table row followed by its citation [n], or NoEvidenceAnswer.
//
// It answers from one passage, the one holding the unit that matches the question best,
// and quotes it in the passage's order: the steps of a how-to as a numbered list, the
// table row that holds the value with its column names, the first sentence that defines
// what a definition question asks about, else the best sentence with the passage's other
// sentences that match the question nearly as well, within MaxSentences and MaxWords.
// Headings and questions (a FAQ's question, a heading that repeats the user's) are never
// quoted, nor code or lines that do not end as sentences do.
func (e *Extractive) Compose(p Prompt) string {
	ex := extraction{vocab: make(map[string]int32, 1024)}
	srcs := make([]source, len(p.Sources))
	shape := questionShape(p.Question)
	var cands []candidate
	for i, it := range p.Sources {
		s := &srcs[i]
		s.units = passageUnits(it.Text)
		s.terms = make([][]int32, len(s.units))
		words := make([]int, len(s.units))
		for k, u := range s.units {
			s.terms[k], words[k] = ex.countTerms(it.Text[u.start:u.end], i)
		}
		for k, u := range s.units {
			terms, n, upto := s.terms[k], words[k], k
			lead := shape == howTo && leadIn(it.Text, s.units, k)
			if !lead && valueLine(it.Text, s.units, k, words) {
				// "The default value of GOPROXY is:" and the line below it, quoted together.
				upto, n = k+1, n+words[k+1]
				terms = slices.Clone(terms)
				for _, id := range s.terms[k+1] {
					if !slices.Contains(terms, id) {
						terms = append(terms, id)
					}
				}
			}
			if (lead || upto > k || e.quotable(it.Text, u, n)) && len(terms) > 0 {
				cands = append(cands, candidate{src: i, unit: k, upto: upto, terms: terms, words: n, lead: lead})
			}
		}
		for _, h := range append([]string{it.Title}, it.HeadingPath...) {
			eachWord(h, func(w string) {
				if x := term(w); x != "" {
					if id, ok := ex.vocab[x]; ok && !slices.Contains(s.title, id) {
						s.title = append(s.title, id)
					}
				}
			})
		}
	}
	query := ex.query(p.Question, p.History, len(p.Sources))
	if query.total == 0 || len(cands) == 0 {
		return NoEvidenceAnswer
	}
	for k := range cands {
		c := &cands[k]
		s := &srcs[c.src]
		var heading []int32 // the terms of the heading the unit is under, in the passage
		if h := s.units[c.unit].heading; h >= 0 {
			heading = s.terms[h]
		}
		got := 0.0
		for j, id := range query.ids {
			switch {
			case id < 0:
			case slices.Contains(c.terms, id):
				got += query.weights[j]
			case slices.Contains(heading, id) || slices.Contains(s.title, id):
				got += query.weights[j] / 2
			}
		}
		if got == 0 || !query.matchesAny(c.terms) && !query.matchesAny(heading) {
			continue
		}
		c.coverage = got / query.total
		c.score = c.coverage / (1 + e.cfg.RankDecay*float64(c.src))
	}
	// The answering passage: the one whose best sentence matches best, its coverage
	// divided by 1 + RankDecay·rank. Retrieval's order counts: a later passage must match
	// clearly better to be preferred.
	pick, pickScore := -1, 0.0
	for _, c := range cands {
		if c.coverage >= e.cfg.MinCoverage && c.score > pickScore {
			pick, pickScore = c.src, c.score
		}
	}
	if pick < 0 {
		return NoEvidenceAnswer
	}
	var own []candidate // the answering passage's candidates, best first
	for _, c := range cands {
		if c.src == pick && c.coverage >= e.cfg.MinCoverage {
			own = append(own, c)
		}
	}
	// Best first; ties go to the earlier unit.
	slices.SortStableFunc(own, func(a, b candidate) int { return cmp.Compare(b.score, a.score) })
	best := own[0]
	text, s := p.Sources[best.src].Text, &srcs[best.src]
	var b answerWriter
	b.cite = " [" + strconv.Itoa(best.src+1) + "]"
	switch {
	case shape == howTo && e.steps(&b, text, s, own):
	case s.units[best.unit].kind == unitRow:
		b.row(text, s.units, best.unit)
	default:
		var opening *candidate
		if shape != definition && len(p.Sources[best.src].HeadingPath) == 0 {
			opening = openingSentence(cands, best.src, s)
		}
		e.prose(&b, text, s, own, shape == definition, opening)
	}
	if b.Len() == 0 {
		return NoEvidenceAnswer
	}
	return b.String()
}

// quotable reports whether a unit may be quoted: a sentence that ends as a statement, of
// MinWords to MaxWords words; a list item or a table row of at most MaxWords words. A
// question is never an answer, nor a bare number (but a table row, named by its header).
func (e *Extractive) quotable(text string, u unit, words int) bool {
	s := text[u.start:u.end]
	if !strings.ContainsFunc(s, unicode.IsLetter) && (u.kind != unitRow || u.header < 0) {
		return false // "0." before its citation would read as a list's marker
	}
	end := strings.TrimRight(stripMarkers(s), " \"')”’»*_")
	switch u.kind {
	case unitProse:
		return words >= e.cfg.MinWords && words <= e.cfg.MaxWords && (strings.HasSuffix(end, ".") || strings.HasSuffix(end, "!"))
	case unitItem, unitRow:
		return words <= e.cfg.MaxWords && !strings.HasSuffix(end, "?") && !strings.HasSuffix(end, ":")
	}
	return false
}

// prose quotes the best sentence of the passage and those of its other sentences that match
// the question at least half as well, each adding a question term or new words, in the
// passage's order, within MaxSentences and MaxWords. For a definition, the first sentence
// that matches the question about as well as the best one (a definition comes first) takes
// the best one's place. opening, when not nil, is the passage's opening sentence
// (openingSentence): quoted first, beside the others and beyond their limits.
func (e *Extractive) prose(b *answerWriter, text string, s *source, own []candidate, define bool, opening *candidate) {
	own = slices.DeleteFunc(slices.Clone(own), func(c candidate) bool { return c.lead })
	if len(own) == 0 {
		return
	}
	anchor := own[0]
	if define {
		for _, c := range own {
			if c.unit < anchor.unit && c.coverage >= e.cfg.DefinitionShare*own[0].coverage && s.units[c.unit].kind == unitProse {
				anchor = c
			}
		}
	}
	chosen := []candidate{anchor}
	words := anchor.words
	for _, c := range own {
		if len(chosen) == e.cfg.MaxSentences {
			break
		}
		if c.unit == anchor.unit || c.score < anchor.score*e.cfg.MoreShare || words+c.words > e.cfg.MaxAnswerWords {
			continue
		}
		if slices.ContainsFunc(chosen, func(o candidate) bool { return overlap(c.terms, o.terms) > e.cfg.Redundancy }) {
			continue
		}
		chosen = append(chosen, c)
		words += c.words
	}
	if opening != nil && !slices.ContainsFunc(chosen, func(o candidate) bool { return o.unit == opening.unit }) {
		chosen = append(chosen, *opening)
	}
	slices.SortFunc(chosen, func(a, b candidate) int { return cmp.Compare(a.unit, b.unit) })
	for _, c := range chosen {
		b.sentence(text[s.units[c.unit].start:s.units[c.upto].end])
	}
}

// openingSentence returns the candidate of source src that is the passage's first unit, when
// that unit is a quotable sentence holding one of the question's own words (coverage > 0:
// a word of its own or of the heading it is under, not of the title alone); else nil.
//
// Compose quotes it beside the answer of a passage that opens with prose under no heading
// (a document's lead, or a passage stored without a heading path): such a first sentence
// says what the passage is about ("Insulin is a peptide hormone produced by ..."), which
// the sentences that answer often leave to it ("It regulates ..."). Measured on the tuning
// folds 0–2 (docs/benchmarks.md, "Direct extractive answers"): ClapNQ answer F1 +0.013, the
// go.dev sets (whose passages have headings) and MTRAG unchanged or higher.
func openingSentence(cands []candidate, src int, s *source) *candidate {
	if len(s.units) == 0 || s.units[0].kind != unitProse {
		return nil
	}
	for i := range cands {
		if c := &cands[i]; c.src == src && c.unit == 0 && !c.lead && c.coverage > 0 {
			return c
		}
	}
	return nil
}

// steps answers a how-to with the numbered list of the passage whose lead-in or items match
// the question best, with its lead-in (the sentence before the list, ending with a colon);
// it reports false when the passage has no numbered list that matches.
func (e *Extractive) steps(b *answerWriter, text string, s *source, own []candidate) bool {
	list := -1
	for _, c := range own {
		u := s.units[c.unit]
		if u.kind == unitItem && u.ordered && c.coverage >= stepsShare*own[0].coverage {
			list = u.block
			break
		}
	}
	if list < 0 {
		// The lead-in may match where the steps do not ("To install Go: 1. Download ...").
		for _, c := range own {
			if c.lead && c.coverage >= stepsShare*own[0].coverage {
				list = s.units[c.unit+1].block
				break
			}
		}
	}
	if list < 0 {
		return false
	}
	first := slices.IndexFunc(s.units, func(u unit) bool { return u.block == list })
	if first > 0 {
		if lead := s.units[first-1]; lead.kind == unitProse && strings.HasSuffix(strings.TrimSpace(stripMarkers(text[lead.start:lead.end])), ":") {
			b.sentence(text[lead.start:lead.end])
		}
	}
	n, item := 0, -1
	for _, u := range s.units[first:] {
		if u.block != list {
			break
		}
		if u.item != item {
			if n == maxSteps {
				break
			}
			n, item = n+1, u.item
			b.step(n)
		}
		b.sentence(text[u.start:u.end])
	}
	return true
}

// leadIn reports whether units[k] introduces a numbered list: a sentence ending with a
// colon, the last of its paragraph, right before the list's first item.
func leadIn(text string, units []unit, k int) bool {
	u := units[k]
	return u.kind == unitProse && k+1 < len(units) && units[k+1].kind == unitItem && units[k+1].ordered &&
		units[k+1].block != u.block && strings.HasSuffix(strings.TrimSpace(stripMarkers(text[u.start:u.end])), ":")
}

// valueWords is the most words of a value line quoted with its lead-in.
const valueWords = 25

// valueLine reports whether units[k] is a lead-in ending with a colon, the last of its
// paragraph, followed by a line of its own that is not a sentence, a heading or a question:
// a value or a command shown below the sentence that introduces it ("The default value of
// GOPROXY is:" then "https://proxy.golang.org,direct").
func valueLine(text string, units []unit, k int, words []int) bool {
	if k+1 >= len(units) {
		return false
	}
	u, v := units[k], units[k+1]
	line := text[v.start:v.end]
	return u.kind == unitProse && v.kind == unitHeading && v.block != u.block && words[k+1] <= valueWords &&
		(k+2 >= len(units) || units[k+2].block != v.block) &&
		!strings.HasPrefix(line, "#") && !strings.HasSuffix(strings.TrimRight(line, " \"')”’»*_"), "?") &&
		strings.HasSuffix(strings.TrimSpace(stripMarkers(text[u.start:u.end])), ":")
}

// stepsShare is the least share of the best sentence's coverage that a numbered list's
// lead-in or one of its items must match for a how-to to be answered with the list: a list
// that only mentions the question's words in passing is not its steps.
const stepsShare = 0.8

// maxSteps is the most steps of a list quoted.
const maxSteps = 12

// answerWriter writes an answer quoting one source.
type answerWriter struct {
	strings.Builder
	cite string // " [n]"
}

// sentence appends a quoted sentence and its citation. A quote that reads as several
// sentences (a lead-in and its value line, a unit the source did not split) gets the
// citation after each, so that every sentence of the answer carries one.
func (b *answerWriter) sentence(s string) {
	q := quote(s)
	for _, sp := range splitBlock(nil, q, 0, len(q), prose) {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(q[sp.start:sp.end])
		b.WriteString(b.cite)
	}
}

// step starts the numbered item n of a list, on a line of its own; its sentences follow.
func (b *answerWriter) step(n int) {
	if b.Len() > 0 {
		b.WriteByte('\n')
	}
	b.WriteString(strconv.Itoa(n))
	b.WriteString(".")
}

// row appends a table row, each cell named by its column's header ("Version: 1.21;
// Released: August 2023."), or as it is when the table has no header that fits it.
func (b *answerWriter) row(text string, units []unit, k int) {
	u := units[k]
	cells := columns(text[u.start:u.end])
	var names []string
	if u.header >= 0 {
		h := units[u.header]
		names = columns(text[h.start:h.end])
	}
	if len(names) != len(cells) {
		b.sentence(strings.Join(cells, ", "))
		return
	}
	var parts []string
	for i, c := range cells {
		switch {
		case c == "" || strings.HasSuffix(c, "?"): // a question in a FAQ's table is not its answer
		case names[i] == "":
			parts = append(parts, c)
		default:
			parts = append(parts, names[i]+": "+c)
		}
	}
	b.sentence(strings.Join(parts, "; "))
}

// shape is what kind of answer a question asks for.
type shape uint8

const (
	otherShape shape = iota
	howTo            // "How do I ...?", "How to ...", "What are the steps to ...?"
	definition       // "What is ...?", "What does ... mean?", "Define ..."
)

// questionShape tells a how-to and a definition question from others, by their first words.
func questionShape(q string) shape {
	var w []string
	eachWord(q, func(x string) {
		if len(w) < 4 {
			w = append(w, x)
		}
	})
	at := func(i int, words ...string) bool { return i < len(w) && slices.Contains(words, w[i]) }
	switch {
	case at(0, "how") && (at(1, "to") || at(1, "do", "can", "should", "would", "does") && at(2, "i", "you", "we", "one")):
		return howTo
	case at(0, "steps") || at(0, "what", "which") && at(2, "steps") || at(1, "steps"):
		return howTo
	case at(0, "define") || at(0, "what", "who") && at(1, "is", "are", "was", "were") || at(0, "what") && at(1, "does") && strings.Contains(strings.ToLower(q), " mean"):
		return definition
	}
	return otherShape
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
	if n := listMarker(s); n > 0 && !isDigit(s[0]) {
		s = s[n:] // an inline bullet ("... at any time. * You can ...")
	}
	end := strings.TrimRight(s, "\"')”’»*_")
	if end != "" && !strings.ContainsRune(".!?:", rune(end[len(end)-1])) {
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
// question, the terms of the earlier question count at half weight (in the total only when
// the question has at most one word of its own).
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
	if prev := followedQuestions(question, history); len(prev) > 0 {
		var terms []string
		for _, p := range prev {
			terms = contentTerms(terms, p)
		}
		own := q.total
		add(terms, 0.5)
		if len(previousQuestions(question, history)) == 0 {
			// The question has words of its own: coverage stays the share of them a
			// sentence holds, and the earlier question's terms only add to it, so that of
			// two sentences that answer the words asked, the one about the conversation's
			// subject wins. (Counted in the total, they made a follow-up's own answer
			// fall short of MinCoverage: MTRAG follow-ups cited a reference passage less.)
			q.total = own
		}
	}
	return q
}
