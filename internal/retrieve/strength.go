package retrieve

import "math"

// Strength model: a logistic regression on two features of a result set,
//
//	coverage: the best lexical hit's BM25 score divided by the score of a chunk containing
//	          every query term with saturated frequency (see lexicalResult.maxScore), in [0, 1];
//	dense:    the cosine similarity of the best dense hit to the query,
//
// giving the probability that the top evidence is relevant to the query. The coefficients
// were fitted on SciFact's train split (label: the best-ranked document is judged relevant)
// with `eval beir --split train --fit-strength`; docs/retrieval.md has the fit.
var strengthModel = struct {
	Intercept, Coverage, Dense float64
}{Intercept: -3.521, Coverage: 6.307, Dense: 2.716}

// StrengthInputs are the signals evidence strength is computed from.
type StrengthInputs struct {
	Coverage    float64 `json:"coverage"`     // best lexical score / maxScore
	Terms       float64 `json:"terms"`        // share of the query's weight the best lexical hit contains
	TermsFused  float64 `json:"terms_fused"`  // the same for the best fused hit (0 if not a lexical hit)
	Dense       float64 `json:"dense"`        // best dense cosine
	DenseOfLex  float64 `json:"dense_of_lex"` // cosine of the best lexical hit (0 if not in the dense list)
	LexRankOfD  int     `json:"lex_rank_of_dense"`
	DRankOfLex  int     `json:"dense_rank_of_lex"`
	LexicalGap  float64 `json:"lexical_gap"` // (s1 − s2) / s1
	DenseGap    float64 `json:"dense_gap"`   // c1 − c2
	DenseMean   float64 `json:"dense_mean"`  // mean cosine of the dense list
	DenseTenth  float64 `json:"dense_tenth"`
	LexTenth    float64 `json:"lex_tenth"` // 10th lexical score / maxScore
	NormBM25    float64 `json:"norm_bm25"` // best lexical score / Σ IDF (the baseline)
	QueryTerms  int     `json:"query_terms"`
	FusedLexRk  int     `json:"fused_lex_rank"`
	FusedDRk    int     `json:"fused_dense_rank"`
	TopScoreLex float64 `json:"top_lex"`
}

// strength returns the calibrated evidence strength of a result, in [0, 1]; 0 without
// evidence.
func strength(lex *lexicalResult, res *Result) float64 {
	if len(res.Ranked) == 0 {
		return 0
	}
	in := inputs(lex, res)
	res.strengthInputs = in
	z := strengthModel.Intercept + strengthModel.Coverage*in.Coverage + strengthModel.Dense*in.Dense
	return 1 / (1 + math.Exp(-z))
}

func inputs(lex *lexicalResult, res *Result) StrengthInputs {
	var in StrengthInputs
	denseRank := map[int64]int{}
	denseScore := map[int64]float64{}
	for i, h := range res.Dense {
		denseRank[h.ChunkID] = i + 1
		denseScore[h.ChunkID] = h.Score
	}
	if len(res.Dense) > 0 {
		in.Dense = max(0, res.Dense[0].Score)
		var sum float64
		for _, h := range res.Dense {
			sum += h.Score
		}
		in.DenseMean = sum / float64(len(res.Dense))
		if len(res.Dense) > 1 {
			in.DenseGap = res.Dense[0].Score - res.Dense[1].Score
		}
		if len(res.Dense) >= 10 {
			in.DenseTenth = res.Dense[9].Score
		}
	}
	if lex != nil {
		in.Coverage = lex.topCoverage
		in.QueryTerms = lex.terms
		lexRank := map[int64]int{}
		for i, h := range lex.hits {
			lexRank[h.ChunkID] = i + 1
		}
		if len(lex.hits) > 0 && lex.totalWeight > 0 {
			top := lex.hits[0]
			in.TopScoreLex = top.Score
			in.Terms = min(1, top.Matched/lex.totalWeight)
			in.NormBM25 = top.Score / lex.idfSum
			in.DenseOfLex = denseScore[top.ChunkID]
			in.DRankOfLex = denseRank[top.ChunkID]
			if len(lex.hits) > 1 {
				in.LexicalGap = (top.Score - lex.hits[1].Score) / top.Score
			}
			if len(lex.hits) >= 10 {
				in.LexTenth = lex.hits[9].Score / lex.maxScore
			}
			if len(res.Dense) > 0 {
				in.LexRankOfD = lexRank[res.Dense[0].ChunkID]
			}
			f := res.Ranked[0].ChunkID
			in.FusedLexRk = lexRank[f]
			in.FusedDRk = denseRank[f]
			if r := lexRank[f]; r > 0 {
				in.TermsFused = min(1, lex.hits[r-1].Matched/lex.totalWeight)
			}
		}
	}
	return in
}

// StrengthFeatures returns the inputs of the strength model for a result, for fitting it
// (`eval beir --fit-strength`).
func StrengthFeatures(res *Result) (coverage, dense float64) {
	return res.strengthInputs.Coverage, res.strengthInputs.Dense
}

// Inputs returns the signals the result's evidence strength was computed from.
func (res *Result) StrengthInputs() StrengthInputs { return res.strengthInputs }
