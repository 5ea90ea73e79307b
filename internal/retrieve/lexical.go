package retrieve

import (
	"context"
	"math"
	"sort"

	"github.com/docent-rag/docent/internal/index"
)

// lexicalResult is the lexical leg's output with what evidence strength needs.
type lexicalResult struct {
	hits  []index.Scored
	exact bool
	// maxScore is the BM25 score a chunk would get by containing every query term with
	// saturated frequency: the scale on which a hit's score says how much of the query
	// it matches.
	maxScore float64
	// topCoverage is the share of the query's IDF weight whose terms the best hit contains.
	topCoverage float64
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
//
// Scoring every chunk that contains some query term is slow when a term is common. So
// candidates are first the chunks containing one of the rarest terms, taken while their
// document frequencies add up to at most LexicalBudget, and all of them are scored with
// every query term. A chunk outside the candidates contains only the other terms, so it
// scores at most the sum of their upper bounds w_t·(k1+1) (MaxScore). The rarest terms are
// then added until the bound of the rest is at most the ExactTop-th score found, and a second
// pass scores the chunks of the added terms; the top ExactTop is then exact. When the added
// terms would make the candidates exceed LexicalMaxCandidates, only those within it are
// added and the result is marked approximate. Ranks below ExactTop are not guaranteed.
func (r *Retriever) lexical(ctx context.Context, chunking int, q Query, req Request) (*lexicalResult, error) {
	terms, corpus, err := index.QueryTerms(ctx, r.db, chunking, q.Text)
	if err != nil {
		return nil, err
	}
	res := &lexicalResult{exact: true}
	if corpus.Chunks == 0 {
		return res, nil
	}
	type weighted struct {
		index.Term
		w, ub float64
	}
	var ws []weighted
	var totalW float64
	for _, t := range terms {
		if t.DF == 0 {
			continue // in no chunk: cannot match
		}
		idf := math.Log(1 + (float64(corpus.Chunks)-float64(t.DF)+0.5)/(float64(t.DF)+0.5))
		w := idf * float64(t.QTF)
		ws = append(ws, weighted{Term: t, w: w, ub: w * (r.cfg.K1 + 1)})
		totalW += w
	}
	if len(ws) == 0 {
		return res, nil
	}
	sort.SliceStable(ws, func(i, j int) bool { return ws[i].DF < ws[j].DF })
	lexemes := make([]string, len(ws))
	weights := make([]float64, len(ws))
	for i, t := range ws {
		lexemes[i], weights[i] = t.Lexeme, t.w
		res.maxScore += t.ub
	}

	// Pass 1: the chunks containing one of the rarest terms, within the budget (always at
	// least one term).
	n, sum := 0, int64(0)
	for n < len(ws) && (n == 0 || sum+ws[n].DF <= int64(r.cfg.LexicalBudget)) {
		sum += ws[n].DF
		n++
	}
	bq := index.BM25Query{ChunkingID: chunking, Principals: req.Principals, Sources: req.Sources,
		Lexemes: lexemes, Weights: weights, Phrases: q.Phrases, K1: r.cfg.K1, B: r.cfg.B,
		AvgLength: corpus.AvgLength, Limit: r.cfg.Depth}
	bq.Candidates = lexemes[:n]
	hits, err := index.BM25(ctx, r.db, bq)
	if err != nil {
		return nil, err
	}
	if n < len(ws) {
		// A chunk containing none of the first m terms scores at most the sum of the upper
		// bounds of the others. The smallest m for which that sum is at most the ExactTop-th
		// score found makes those terms "essential": only chunks containing one of them can
		// still enter the top ExactTop (MaxScore).
		threshold := 0.0
		if len(hits) >= r.cfg.ExactTop {
			threshold = hits[r.cfg.ExactTop-1].Score
		}
		rest := 0.0
		for _, t := range ws[n:] {
			rest += t.ub
		}
		m := n
		for m < len(ws) && rest > threshold {
			rest -= ws[m].ub
			m++
		}
		if m > n {
			// Pass 2 scores the chunks of the newly essential terms, as far as the hard cap
			// allows; those of pass 1 are scored already.
			capped := n
			for capped < m && sum+ws[capped].DF <= int64(r.cfg.LexicalMaxCandidates) {
				sum += ws[capped].DF
				capped++
			}
			res.exact = capped == m
			if capped > n {
				bq.Candidates = lexemes[n:capped]
				more, err := index.BM25(ctx, r.db, bq)
				if err != nil {
					return nil, err
				}
				hits = mergeScored(hits, more, r.cfg.Depth)
			}
		}
	}
	res.hits = hits
	if len(hits) > 0 && totalW > 0 {
		// The top hit's score relative to what a chunk with every term would score, on a
		// saturation scale: 1 for a chunk containing all terms often, ~1/(k1+1) per term
		// found once in a chunk of average length.
		res.topCoverage = min(1, hits[0].Score/res.maxScore)
	}
	return res, nil
}
