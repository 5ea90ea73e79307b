package retrieve

import (
	"cmp"
	"math"
	"slices"
)

// Fuse merges the legs' rankings (each best first) into one, best first, at most
// cfg.Depth long, with each hit's rank in each leg, and returns the weight it gave the
// dense leg. cfg's zero fields take their defaults. In Lexical or Dense mode it is that
// leg's ranking; in Hybrid mode with one leg empty, the other leg's ranking.
//
// Lexical and dense scores live on different scales (BM25 is unbounded, a cosine
// similarity is not), so they are combined either by rank (weighted reciprocal rank
// fusion: Σ w/(k + rank)) or after normalising each leg's scores to [0, 1] over its own list
// (convex: a weighted mean; a lexical list shorter than Depth over [0, top], see below). The weights let the stronger leg dominate: with equal weights
// a weak leg pulls the fused ranking below the strong leg alone. And how much the dense leg
// can add depends on the corpus and the query: an embedder that knows nothing of a corpus's
// vocabulary ranks by noise, and a fixed weight then reorders the lexical leg's near-ties at
// random. So, with AgreementDepth, the dense weight is scaled by how much the two legs agree
// on this query (see denseWeight): nothing in common, no say.
//
// Fuse only reorders the hits it is given: every hit it returns is in lex or dense (so a
// caller sees nothing fusion was not given, whatever the weights).
func Fuse(cfg Config, lex, dense []Hit, mode Mode) ([]Hit, float64) {
	cfg.defaults()
	if mode == Hybrid {
		// One leg empty (no lexeme in the caller's view, no vector, no embedder): the other
		// leg's order as it is, not its scores scaled by a weight that may be 0.
		switch {
		case len(dense) == 0:
			mode = Lexical
		case len(lex) == 0:
			mode = Dense
		}
	}
	byID := map[int64]*Hit{}
	var order []int64
	add := func(hits []Hit, lexical bool) {
		for i, h := range hits {
			f, ok := byID[h.ChunkID]
			if !ok {
				f = &Hit{ChunkID: h.ChunkID, DocumentID: h.DocumentID}
				byID[h.ChunkID] = f
				order = append(order, h.ChunkID)
			}
			if lexical {
				f.LexicalRank = i + 1
			} else {
				f.DenseRank = i + 1
			}
		}
	}
	if mode != Dense {
		add(lex, true)
	}
	if mode != Lexical {
		add(dense, false)
	}
	wd := 0.0
	switch {
	case mode == Lexical:
		for _, h := range lex {
			byID[h.ChunkID].Score = h.Score
		}
	case mode == Dense:
		wd = 1
		for _, h := range dense {
			byID[h.ChunkID].Score = h.Score
		}
	case cfg.Fusion == FusionConvex:
		wl := cfg.LexicalWeight
		wd = cfg.denseWeight(lex, dense)
		// BM25 scores start at 0 (a chunk without any query term). A lexical list cut at
		// Depth leaves out chunks that score at most its last, so its range is [last, top];
		// a shorter one ended because few chunks hold the query's terms (or can reach its
		// top ExactTop: see lexical), so the chunks it left out may score anything down to
		// 0, and min–max would put its last hit level with them: a chunk with the query's
		// rare term scored like one without any query term, which any dense score then
		// outranks. Its range is [0, top].
		floor := math.Inf(1)
		if len(lex) < cfg.Depth {
			floor = 0
		}
		for id, v := range normalizedAbove(lex, floor) {
			byID[id].Score += wl * v
		}
		for id, v := range normalized(dense) {
			byID[id].Score += wd * v
		}
		if s := wl + wd; s > 0 {
			for _, h := range byID {
				h.Score /= s
			}
		}
	default:
		k := cfg.RRFK
		wd = cfg.denseWeight(lex, dense)
		for _, h := range byID {
			if h.LexicalRank > 0 {
				h.Score += cfg.LexicalWeight / (k + float64(h.LexicalRank))
			}
			if h.DenseRank > 0 {
				h.Score += wd / (k + float64(h.DenseRank))
			}
		}
	}
	out := make([]Hit, 0, len(order))
	for _, id := range order {
		out = append(out, *byID[id])
	}
	// Ties (equal fused scores: duplicated passages, or a dense weight of 0) go to a chunk
	// the lexical leg found, then to the lower chunk id, so that the order never depends on
	// the order in which a leg returned equal scores, and a dense weight of 0 gives the
	// lexical ranking.
	slices.SortFunc(out, func(a, b Hit) int {
		if c := cmp.Compare(b.Score, a.Score); c != 0 {
			return c
		}
		if (a.LexicalRank > 0) != (b.LexicalRank > 0) {
			if a.LexicalRank > 0 {
				return -1
			}
			return 1
		}
		return cmp.Compare(a.ChunkID, b.ChunkID)
	})
	return out[:min(len(out), cfg.Depth)], wd
}

// denseWeight is the dense leg's weight for one query: DenseWeight, scaled by agreement
// when AgreementDepth > 0. The agreement is the share of the lexical leg's first
// AgreementDepth chunks that are also among the dense leg's first AgreementDepth, in
// [0, 1]; the weight grows linearly with it up to DenseWeight at AgreementFull. It is
// monotone in the agreement and never above DenseWeight.
//
// Why agreement: on corpora where the built-in embedder is informative its top 10 shares
// chunks with BM25's, and where it ranks by noise (another language, identifiers, a
// vocabulary its n-grams do not separate) it shares almost none, so the same default
// holds on both without knowing the corpus (docs/retrieval.md, "Fusion").
func (c Config) denseWeight(lex, dense []Hit) float64 {
	if c.AgreementDepth <= 0 {
		return c.DenseWeight
	}
	share := Agreement(lex, dense, c.AgreementDepth)
	if c.AgreementFull <= 0 || share >= c.AgreementFull {
		return c.DenseWeight
	}
	return c.DenseWeight * share / c.AgreementFull
}

// Agreement is the share of the first k hits of a that are among the first k of b: k
// counts, so a list shorter than k agrees less. It is 0 when k <= 0.
func Agreement(a, b []Hit, k int) float64 {
	if k <= 0 {
		return 0
	}
	top := make(map[int64]bool, k)
	for _, h := range b[:min(k, len(b))] {
		top[h.ChunkID] = true
	}
	common := 0
	for _, h := range a[:min(k, len(a))] {
		if top[h.ChunkID] {
			common++
		}
	}
	return float64(common) / float64(k)
}

// normalized maps each hit's score to [0, 1] over the list (min–max; all 1 when equal).
func normalized(hits []Hit) map[int64]float64 { return normalizedAbove(hits, math.Inf(1)) }

// normalizedAbove maps each hit's score to [0, 1] over the range from the lower of floor
// and the list's least score up to its greatest (all 1 when the range is empty).
func normalizedAbove(hits []Hit, floor float64) map[int64]float64 {
	out := make(map[int64]float64, len(hits))
	if len(hits) == 0 {
		return out
	}
	lo, hi := floor, hits[0].Score
	for _, h := range hits {
		lo, hi = min(lo, h.Score), max(hi, h.Score)
	}
	for _, h := range hits {
		if hi > lo {
			out[h.ChunkID] = (h.Score - lo) / (hi - lo)
		} else {
			out[h.ChunkID] = 1
		}
	}
	return out
}
