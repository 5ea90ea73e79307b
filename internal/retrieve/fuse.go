package retrieve

import (
	"cmp"
	"slices"
)

// fuse merges the legs' rankings into one, best first, at most Depth long, with each hit's
// rank in each leg. Lexical and dense scores live on different scales (BM25 is unbounded, a
// cosine similarity is not), so they are combined either by rank (weighted reciprocal rank
// fusion: Σ w/(k + rank)) or after normalising each leg's scores to [0, 1] over its own list
// (convex: a weighted mean). The weights let the stronger leg dominate: with equal weights
// a weak leg pulls the fused ranking below the strong leg alone.
func (r *Retriever) fuse(lex, dense []Hit, mode Mode) []Hit {
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
	switch {
	case mode == Lexical:
		for _, h := range lex {
			byID[h.ChunkID].Score = h.Score
		}
	case mode == Dense:
		for _, h := range dense {
			byID[h.ChunkID].Score = h.Score
		}
	case r.cfg.Fusion == FusionConvex:
		wl, wd := r.cfg.LexicalWeight, r.cfg.DenseWeight
		for id, v := range normalized(lex) {
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
		k := r.cfg.RRFK
		for _, h := range byID {
			if h.LexicalRank > 0 {
				h.Score += r.cfg.LexicalWeight / (k + float64(h.LexicalRank))
			}
			if h.DenseRank > 0 {
				h.Score += r.cfg.DenseWeight / (k + float64(h.DenseRank))
			}
		}
	}
	out := make([]Hit, 0, len(order))
	for _, id := range order {
		out = append(out, *byID[id])
	}
	slices.SortStableFunc(out, func(a, b Hit) int {
		if c := cmp.Compare(b.Score, a.Score); c != 0 {
			return c
		}
		return cmp.Compare(a.ChunkID, b.ChunkID)
	})
	return out[:min(len(out), r.cfg.Depth)]
}

// normalized maps each hit's score to [0, 1] over the list (min–max; all 1 when equal).
func normalized(hits []Hit) map[int64]float64 {
	out := make(map[int64]float64, len(hits))
	if len(hits) == 0 {
		return out
	}
	lo, hi := hits[0].Score, hits[0].Score
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
