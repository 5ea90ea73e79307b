package retrieve

import (
	"context"
	"math"
	"slices"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/docent-rag/docent/internal/index"
)

// lexicalResult is the lexical leg's output with what evidence strength needs.
type lexicalResult struct {
	hits  []index.Scored
	exact bool
	// maxScore is the BM25 score a chunk would get by containing every query term with
	// saturated frequency: the scale on which a hit's score says how much of the query
	// it matches. The question's own terms only, also with context (coverage).
	maxScore float64
	// hasContext is whether context terms (Query.Context) joined the query.
	hasContext bool
	// idfSum is the sum of the IDFs of the query terms the caller can find (for the
	// normalised-BM25 baseline that evaluations compare strength with).
	idfSum float64
	// terms are the query lexemes the caller can find, with their IDFs (Result.QueryTerms).
	terms []QueryTerm
}

// mergeScored merges two rankings of the same scoring (a chunk in both has the same score),
// best first, at most limit long.
func mergeScored(a, b []index.Scored, limit int) []index.Scored {
	seen := make(map[int64]bool, len(a))
	out := append([]index.Scored(nil), a...)
	for _, s := range a {
		seen[s.ChunkID] = true
	}
	for _, s := range b {
		if !seen[s.ChunkID] {
			out = append(out, s)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Score != out[j].Score {
			return out[i].Score > out[j].Score
		}
		return out[i].ChunkID < out[j].ChunkID
	})
	return out[:min(len(out), limit)]
}

// lexical runs BM25 over the chunks the caller can see.
//
// BM25 of chunk d: Σ_t w_t · tf(t,d)·(k1+1) / (tf(t,d) + k1·(1 − b + b·|d|/avgdl)), with
// w_t = idf_t · qtf_t and idf_t = ln(1 + (N − df_t + 0.5)/(df_t + 0.5)) (Lucene's), over
// PostgreSQL's lexemes (the chunking's text search configuration: stemming, stop words).
// N, df_t and avgdl are the caller's (index.QueryTerms): computed from the statistics of the
// caller's own tags, so that neither the scores nor the work done depend on chunks the
// caller cannot see. A term that only such chunks contain has df 0 for the caller and is
// dropped before any chunk is read, exactly like a term that no chunk contains.
//
// Scoring every chunk that contains some query term is slow when a term is common, so the
// top ExactTop is found in two passes (MaxScore). Each term has an upper bound: the most it
// can add to any chunk's score, from the largest tf and tf/|d| any chunk the caller can see
// has for it (termBound). The first pass scores, with every term, the chunks containing one
// of the rarest terms, taken while their document frequencies (the caller's: an upper bound
// of the chunks it would score) stay within LexicalBudget (firstPassBudget); when even the
// rarest term is in more chunks than that, the chunks containing both of the two rarest. A
// chunk outside the first pass scores at most the sum of the bounds of the terms it can
// contain, so to enter the top ExactTop it must contain a set of them whose bounds add up to
// more than the ExactTop-th score found: the second pass scores exactly the chunks that
// match that condition, written as a tsquery of ANDs and ORs (candidateQuery) that the GIN
// index evaluates, loosened where reading a common term's postings again would cost more
// than scoring the chunks the loosening adds. The top ExactTop is then exact. Only when the
// second pass would cost more than scoring LexicalMaxCandidates chunks (candidateCost) is
// its condition raised until it does not, and the result marked approximate; and the
// statement scores at most LexicalMaxCandidates chunks whatever the estimate (also marked
// approximate when it reaches them). Ranks below ExactTop are not guaranteed.
func (r *Retriever) lexical(ctx context.Context, chunking int, q Query, req Request) (*lexicalResult, error) {
	terms, corpus, err := r.termStats(ctx, r.db, chunking, q.Text, req.Principals)
	if err != nil {
		return nil, err
	}
	res := &lexicalResult{exact: true}
	if corpus.Chunks == 0 || corpus.AvgLength <= 0 {
		return res, nil
	}
	chunks := max(corpus.Chunks, int64(r.cfg.MinIDFChunks))
	var ws []weighted
	var totalW float64
	for _, t := range terms {
		if t.DF == 0 {
			continue // in no chunk the caller can see: cannot match
		}
		idf := math.Log(1 + (float64(chunks)-float64(t.DF)+0.5)/(float64(t.DF)+0.5))
		w := idf * float64(t.QTF)
		ws = append(ws, weighted{Term: t, w: w, ub: r.termBound(t, w, corpus.AvgLength)})
		totalW += w
		res.idfSum += idf
		res.terms = append(res.terms, QueryTerm{Lexeme: t.Lexeme, IDF: idf})
		res.maxScore += w * (r.cfg.K1 + 1)
	}
	ctxTerms, err := r.contextTerms(ctx, chunking, q, req, ws, chunks, corpus.AvgLength)
	if err != nil {
		return nil, err
	}
	for _, t := range ctxTerms {
		// Context terms rank the chunks but are not part of the question: each hit's score
		// is split into the question's own part and the context's (index.Scored.Own), and
		// the evidence strength's coverage measures the own part against the question's
		// maximum (maxScore stays the question's) and credits the context's part at a
		// discount, within a bound (coverage).
		t.context = true
		ws = append(ws, t)
		totalW += t.w
		res.hasContext = true
	}
	if len(ws) == 0 {
		return res, nil
	}
	sort.SliceStable(ws, func(i, j int) bool { return ws[i].DF < ws[j].DF })
	lexemes := make([]string, len(ws))
	weights := make([]float64, len(ws))
	matches := make([]index.TSQuery, len(ws))
	isContext := make([]bool, len(ws))
	for i, t := range ws {
		lexemes[i], weights[i], matches[i], isContext[i] = t.Lexeme, t.w, t.Match(), t.context
	}

	// Pass 1: the chunks containing one of the rarest terms, within the budget; at least one
	// term, and enough for ExactTop hits (a threshold) if the caller can see them.
	n, sum, budget := 0, 0.0, r.cfg.firstPassBudget(corpus.Chunks)
	for n < len(ws) && (n == 0 || sum+float64(ws[n].DF) <= budget ||
		sum < float64(r.cfg.ExactTop)) {
		sum += float64(ws[n].DF)
		n++
	}
	visible := float64(corpus.Chunks)
	first := index.AnyOf(matches[:n]...)
	rest := slices.Clone(ws[n:])
	bar := 0.0 // > 0: no chunk outside pass 1 can score more than bar
	if n == 1 && len(ws) > 1 && float64(ws[0].DF) > budget {
		// Even the rarest term is in more chunks than the budget (a question of common words
		// at a million chunks: 20,000 chunks, 200 ms to score). Pass 1 then scores the chunks
		// with both of the two rarest terms, usually far fewer and among the best: a chunk
		// without one of them scores at most the bar, the other terms' bounds and the larger
		// of the two's; if ExactTop of them score more, the top is found.
		first = index.AllOf(matches[0], matches[1])
		rest = slices.Clone(ws)
		bar = -min(ws[0].ub, ws[1].ub)
		for _, t := range ws {
			bar += t.ub
		}
	}
	bq := index.BM25Query{ChunkingID: chunking, Principals: req.Principals, Sources: req.Sources,
		Lexemes: lexemes, Weights: weights, Context: isContext, Phrases: q.Phrases, K1: r.cfg.K1, B: r.cfg.B,
		AvgLength: corpus.AvgLength, Limit: r.cfg.Depth, Candidates: first, MaxCandidates: r.cfg.LexicalFirstPassMax}
	// A first pass past LexicalFirstPassMax chunks (a question of one or two common words)
	// scores the first that many found and the top is approximate: every question has a
	// budget.
	hits, capped, err := index.BM25Capped(ctx, r.db, bq)
	if err != nil {
		return nil, err
	}
	if bar > 0 && len(hits) < r.cfg.ExactTop && !capped {
		// Too few chunks have both for a threshold: the rarest term's others too, as below.
		bq.Candidates = index.Without(matches[0], first)
		var more []index.Scored
		if more, capped, err = index.BM25Capped(ctx, r.db, bq); err != nil {
			return nil, err
		}
		hits = mergeScored(hits, more, r.cfg.Depth)
		first, rest, bar = matches[0], slices.Clone(ws[1:]), 0
	}
	if capped {
		res.exact = false
	}
	// A chunk that pass 1 did not score can enter the top ExactTop only by scoring more
	// than the ExactTop-th score found (ties included, whatever float rounding does).
	threshold := 0.0
	if len(hits) >= r.cfg.ExactTop {
		threshold = hits[r.cfg.ExactTop-1].Score * (1 - 1e-9)
	}
	if len(rest) > 0 && !(bar > 0 && threshold >= bar) {
		sort.SliceStable(rest, func(i, j int) bool { return rest[i].ub > rest[j].ub })
		// The condition's cost (reading the index, scoring what it matches: candidateCost)
		// is kept within what scoring LexicalMaxCandidates chunks costs, and the statement
		// scores at most that many chunks whatever the estimate said.
		most := scorePostings * float64(r.cfg.LexicalMaxCandidates)
		cand, _, cost := candidateQuery(rest, threshold, visible)
		if cost > most {
			// Too costly: raise the bar until it fits; the top is then approximate.
			res.exact = false
			lo, hi := threshold, 0.0
			for _, t := range rest {
				hi += t.ub
			}
			for range 30 {
				mid := (lo + hi) / 2
				if _, _, c := candidateQuery(rest, mid, visible); c > most {
					lo = mid
				} else {
					hi = mid
				}
			}
			cand, _, _ = candidateQuery(rest, hi, visible)
		}
		if cand != "" {
			// Chunks that pass 1 scored are not scored again.
			bq.Candidates, bq.MaxCandidates = index.Without(cand, first), r.cfg.LexicalMaxCandidates
			more, capped, err := index.BM25Capped(ctx, r.db, bq)
			if err != nil {
				return nil, err
			}
			if capped {
				res.exact = false
			}
			hits = mergeScored(hits, more, r.cfg.Depth)
		}
	}
	res.hits = hits
	return res, nil
}

// firstPassBudget is the first lexical pass's budget for a caller who sees visible chunks:
// LexicalBudget, or LexicalBudgetShare of the visible chunks when that is more.
func (c *Config) firstPassBudget(visible int64) float64 {
	return max(float64(c.LexicalBudget), c.LexicalBudgetShare*float64(visible))
}

// coverage is how much of the query hit h matches, in [0, 1]: its score relative to what a
// chunk with every query term would score, on a saturation scale (1 for a chunk containing
// all terms often, ~1/(k1+1) per term found once in a chunk of average length).
//
// With context (a follow-up's conversation, Query.Context), the hit's score is split into
// the question's own part and the context's (index.Scored.Own), both on the scale of the
// question's own maximum (maxScore), and the context's part adds a bounded, discounted
// credit:
//
//	min(1, own + min(ContextCoverageCap, ContextCoverageCredit · context))
//
// So coverage stays in [0, 1], grows with either part, is the question's own coverage
// without context, and a hit that matches the conversation but none of the question's terms
// gets at most ContextCoverageCap, never full coverage. (Counting the context's part at full
// weight capped most follow-ups, answerable or not, at full coverage; counting the context
// in the maximum made every follow-up look weak; the question's part alone refused
// answerable follow-ups that the conversation's passages answer: docs/retrieval.md,
// "Evidence strength".)
func (res *lexicalResult) coverage(h index.Scored) float64 {
	if res.maxScore <= 0 {
		return 0
	}
	if !res.hasContext {
		return clamp01(h.Score / res.maxScore)
	}
	own := clamp01(h.Own / res.maxScore)
	credit := min(ContextCoverageCap, clamp01(ContextCoverageCredit*(h.Score-h.Own)/res.maxScore))
	return min(1, own+credit)
}

// ContextCoverageCredit and ContextCoverageCap weigh a follow-up's context in its coverage
// (lexicalResult.coverage): the context's part of a hit's score counts ContextCoverageCredit
// of the question's own, and adds at most ContextCoverageCap. Chosen on MTRAG's tuning
// folds (docs/retrieval.md, "Evidence strength").
const (
	ContextCoverageCredit = 0.7
	ContextCoverageCap    = 0.5
)

// clamp01 returns x within [0, 1] (0 for NaN).
func clamp01(x float64) float64 {
	if !(x > 0) {
		return 0
	}
	return min(x, 1)
}

// contextTerms returns the lexemes of q's context that the query itself lacks, weighted
// idf × the piece's weight (a lexeme in several pieces takes its largest weight; repeats
// count once), with the caller's statistics like the query's own terms: at most
// MaxContextTerms, the most weighted first, from at most MaxContextTexts pieces read within
// MaxContextChars characters each.
func (r *Retriever) contextTerms(ctx context.Context, chunking int, q Query, req Request, own []weighted, chunks int64, avgLength float64) ([]weighted, error) {
	have := make(map[string]bool, len(own))
	for _, t := range own {
		have[t.Lexeme] = true
	}
	byLexeme := map[string]int{}
	var out []weighted
	for i, c := range q.Context {
		if i == MaxContextTexts {
			break
		}
		if !(c.Weight > 0) || strings.TrimSpace(c.Text) == "" {
			continue // NaN, zero or negative: no weight
		}
		weight := min(c.Weight, 1)
		text := c.Text
		if utf8.RuneCountInString(text) > MaxContextChars {
			text = string([]rune(text)[:MaxContextChars])
		}
		terms, _, err := r.termStats(ctx, r.db, chunking, text, req.Principals)
		if err != nil {
			return nil, err
		}
		for _, t := range terms {
			if t.DF == 0 || have[t.Lexeme] {
				continue
			}
			idf := math.Log(1 + (float64(chunks)-float64(t.DF)+0.5)/(float64(t.DF)+0.5))
			w := idf * weight
			if k, ok := byLexeme[t.Lexeme]; ok {
				if w > out[k].w {
					out[k].w, out[k].ub = w, r.termBound(out[k].Term, w, avgLength)
				}
				continue
			}
			t.QTF = 1
			byLexeme[t.Lexeme] = len(out)
			out = append(out, weighted{Term: t, w: w, ub: r.termBound(t, w, avgLength)})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].w > out[j].w })
	return out[:min(len(out), MaxContextTerms)], nil
}

// weighted is a query term with its BM25 weight and upper bound.
type weighted struct {
	index.Term
	w       float64 // idf × occurrences in the query
	ub      float64 // the most the term can add to any chunk's score
	context bool    // a context term (Query.Context), not the question's own
}

// termBound is the most term t with weight w can add to the BM25 score of any chunk:
// w·(k1+1)·f with f = tf/(tf + k1·(1−b) + k1·b·|d|/avgdl) = 1/(1 + α/tf + β·|d|/tf). Since
// every chunk has tf ≤ MaxTF and tf/|d| ≤ MaxTFRatio, f ≤ 1/(1 + α/MaxTF + β/MaxTFRatio),
// whatever k1, b and avgdl are. Without statistics the bound is w·(k1+1), the limit of large
// tf. A hair is added for float rounding in the database's sum.
func (r *Retriever) termBound(t index.Term, w, avgLength float64) float64 {
	bound := w * (r.cfg.K1 + 1)
	if t.MaxTF > 0 && t.MaxTFRatio > 0 {
		alpha, beta := r.cfg.K1*(1-r.cfg.B), r.cfg.K1*r.cfg.B/avgLength
		bound /= 1 + alpha/float64(t.MaxTF) + beta/t.MaxTFRatio
	}
	return bound * (1 + 1e-9)
}

// maxQueryNodes caps the decision nodes of a candidate query, and maxFallbackLeaves the
// lexemes of each "at least m of the remaining terms" subtree that replaces the tree past
// them (see atLeast). The GIN index evaluates the whole query for every chunk containing one
// of its lexemes, so a larger query costs time in the index scan while a looser one costs
// time scoring the chunks it matches. Measured at 100k chunks (docs/retrieval.md): 48 nodes
// with an "any of the rest" tail scored 14k chunks in 60 ms for questions whose exact
// condition matches a dozen; 512 or 1,024 nodes, or "at least m" subtrees of 64 lexemes,
// made the index scan take 50–190 ms for questions of fifteen terms.
const (
	maxQueryNodes     = 128
	maxFallbackLeaves = 16
)

// candidateQuery returns what a chunk must match to score more than need (>= 0) from the
// terms ts alone (sorted by bound, largest first): contain a set of them whose bounds add up
// to more than need, as a decision tree over ts[i]: with it (need lowered by its bound) or
// without it. The tree has at most maxQueryNodes decision nodes, shared out between the two
// branches of each node (half each, and what one branch does not use goes to the other), so
// that no branch, and in particular none of the broad "without" branches near the root, is
// starved by a deep branch built before it. A subtree past its share becomes a looser
// condition (fallback), which matches more chunks, never fewer. est bounds the chunks
// matching it from above (a conjunction matches at most its rarest part, a disjunction at
// most the sum of its parts, "at least m" at most the sum of the parts / m). The query is
// empty when no chunk can score more than need. cost is the query's candidateCost (without
// visible, only its reading). A chunk "contains" a term when its tag-qualified lexemes match
// the term's keys for the caller (index.Term.Match).
//
// With visible > 0 (the chunks the caller sees), a decision on a term may also be dropped:
// the subtree for ts[i:] becomes the one for ts[i+1:] with need lowered by ts[i]'s bound, as
// if every chunk contained ts[i] (looser again, never tighter). The GIN index reads a term's
// postings once for every time the term occurs in the query (gin_extract_tsquery gives each
// occurrence an entry of its own), and a common term occurs in most branches of the tree: at
// a million chunks one condition of 13 terms read 103 million postings (625 ms) to find no
// chunk, 65 million of them the 205 occurrences of a term in a third of the chunks. So each
// node keeps its decision only when that is cheaper than the chunks the loosened condition
// would add, by the cost model of candidateCost.
func candidateQuery(ts []weighted, need, visible float64) (q index.TSQuery, est, cost float64) {
	suffix := make([]float64, len(ts)+1)
	for i := len(ts) - 1; i >= 0; i-- {
		suffix[i] = suffix[i+1] + ts[i].ub
	}
	// share is the part of the visible chunks that n chunks are (0 without visible).
	share := func(n float64) float64 {
		if visible <= 0 {
			return 0
		}
		return min(1, n/visible)
	}
	read := readCost(ts, need)
	// build returns the subtree for ts[i:] and need: the query, its estimate, the share of
	// the visible chunks it matches if the terms occur independently (p) and the postings
	// the index reads for it (g), and the decision nodes it used (at most budget).
	var build func(i int, need float64, budget int) (index.TSQuery, float64, float64, float64, int)
	build = func(i int, need float64, budget int) (index.TSQuery, float64, float64, float64, int) {
		if suffix[i] <= need {
			return "", 0, 0, 0, 0 // even all of them cannot exceed need
		}
		if budget < 1 {
			q, est, g := fallback(ts[i:], suffix[i:], need, read)
			return q, est, share(est), g, 0
		}
		t := ts[i]
		rest := budget - 1
		with, estWith, pWith, gWith, used := t.Match(), float64(t.DF), share(float64(t.DF)), read(t), 0
		var sub index.TSQuery
		var estSub, pSub, gSub float64
		if t.ub <= need {
			var n int
			sub, estSub, pSub, gSub, n = build(i+1, need-t.ub, (rest+1)/2)
			with, estWith, used = index.AllOf(with, sub), min(estWith, estSub), n
			pWith, gWith = pWith*pSub, gWith+gSub
			if sub == "" {
				estWith, pWith, gWith = 0, 0, 0
			}
		}
		without, estWithout, pWithout, gWithout, n := build(i+1, need, rest-used)
		q, est := index.AnyOf(with, without), estWith+estWithout
		p, g := pWith+(1-share(float64(t.DF)))*pWithout, gWith+gWithout
		if visible > 0 && sub != "" && candidateCost(gSub, pSub, visible) < candidateCost(g, p, visible) {
			q, est, p, g = sub, estSub, pSub, gSub // drop the decision on t
		}
		return q, est, p, g, 1 + used + n
	}
	q, est, p, g, _ := build(0, max(need, 0), maxQueryNodes)
	return q, est, candidateCost(g, p, visible)
}

// candidateCost is the cost model of a second-pass condition that reads g postings in the
// GIN index (readCost) and matches the share p of the visible chunks, in postings: scoring a
// chunk (heap fetch, tsvector, unnest) costs about as much as reading scorePostings
// postings. Measured at a million chunks: 10 µs a chunk scored; the index's time for 67
// conditions of the 100 queries of the benchmark was 4–21 ns per posting of this model
// (median 9.5; counting only the occurrences' document frequencies, 4–38).
func candidateCost(g, p, visible float64) float64 { return g + scorePostings*p*visible }

const scorePostings = 1000

// readCost returns the cost, in postings, of an occurrence of a term in a condition over ts
// that matches the chunks whose terms' bounds add up to more than need. GIN reads the
// occurrence's postings (its document frequency; gin_extract_tsquery gives each occurrence an
// entry of its own), and evaluates the whole condition, every occurrence, for each item of
// the postings of its required entries: the rarest terms, taken until the others together
// cannot exceed need (GIN's fast scan finds them that way; a subtree's need is lower, its
// required entries not fewer, so the root's serve for all). Measured at a million chunks:
// about 6 ns a posting read and 2 ns an occurrence evaluated, so an occurrence costs its
// document frequency and a third of those items.
func readCost(ts []weighted, need float64) func(weighted) float64 {
	byDF := slices.Clone(ts)
	sort.SliceStable(byDF, func(i, j int) bool { return byDF[i].DF < byDF[j].DF })
	var left, required float64
	for _, t := range ts {
		left += t.ub
	}
	for _, t := range byDF {
		if left <= need {
			break
		}
		left -= t.ub
		required += float64(t.DF)
	}
	return func(t weighted) float64 { return float64(t.DF) + required/3 }
}

// fallback is the looser condition that replaces a decision subtree over ts (sorted by bound,
// largest first; suffix[k] the sum of the bounds of ts[k:]) past the node budget: "at least
// m of the terms", m being the fewest of them whose bounds can add up to more than need
// (the largest bounds come first: a set of m terms adds up to at most the first m bounds),
// lowered while the subtree would have more than maxFallbackLeaves lexemes. When m falls to
// 1, it is "any of the terms that can be the largest of a winning set": a set's largest
// bound ts[p] and everything after it add up to at most suffix[p], so only the terms with
// suffix[p] > need can head one, and a chunk with none of them cannot win.
func fallback(ts []weighted, suffix []float64, need float64, read func(weighted) float64) (index.TSQuery, float64, float64) {
	m, sum := 0, 0.0
	for _, t := range ts {
		if m++; sum+t.ub > need {
			break
		}
		sum += t.ub
	}
	q, est, used, g := atLeast(ts, m, maxFallbackLeaves, read)
	if used > 1 {
		return q, est, g
	}
	var any []index.TSQuery
	est, g = 0, 0
	for p, t := range ts {
		if suffix[p] <= need {
			break
		}
		any = append(any, t.Match())
		est += float64(t.DF)
		g += read(t)
	}
	return index.AnyOf(any...), est, g
}

// atLeast returns a query matching the chunks that contain at least m of the terms (m >= 1
// and at most len(ts); m is lowered while the query would have more than limit lexemes, down
// to 1), an upper bound of the chunks it matches (each contains at least m of the terms,
// so there are at most Σ df / m of them) and the m it used.
func atLeast(ts []weighted, m, limit int, read func(weighted) float64) (index.TSQuery, float64, int, float64) {
	// size[k][j] is the number of lexemes of the query below for j of the last k terms.
	size := make([][]int, len(ts)+1)
	for k := range size {
		size[k] = make([]int, m+1)
		for j := 1; j <= min(k, m); j++ {
			if j == 1 {
				size[k][j] = k
			} else {
				size[k][j] = 1 + size[k-1][j-1] + size[k-1][j]
			}
		}
	}
	for m > 1 && size[len(ts)][m] > limit {
		m--
	}
	var df float64
	for _, t := range ts {
		df += float64(t.DF)
	}
	// build also returns the postings the index reads for the subtree (each occurrence of a
	// term reads its postings).
	var build func(i, m int) (index.TSQuery, float64)
	build = func(i, m int) (index.TSQuery, float64) {
		if len(ts)-i < m {
			return "", 0
		}
		if m == 1 {
			var any []index.TSQuery
			var g float64
			for _, t := range ts[i:] {
				any = append(any, t.Match())
				g += read(t)
			}
			return index.AnyOf(any...), g
		}
		// With ts[i] and m−1 of the rest, or m of the rest.
		with, gWith := build(i+1, m-1)
		without, gWithout := build(i+1, m)
		if with == "" {
			gWith = 0
		} else {
			gWith += read(ts[i])
		}
		return index.AnyOf(index.AllOf(ts[i].Match(), with), without), gWith + gWithout
	}
	q, g := build(0, m)
	return q, df / float64(m), m, g
}
