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

// strength returns the calibrated evidence strength of a result, in [0, 1]; 0 without
// evidence.
func strength(lex *lexicalResult, res *Result) float64 {
	if len(res.Ranked) == 0 {
		return 0
	}
	cov, dense := features(lex, res)
	res.strengthCoverage, res.strengthDense = cov, dense
	z := strengthModel.Intercept + strengthModel.Coverage*cov + strengthModel.Dense*dense
	return 1 / (1 + math.Exp(-z))
}

// features returns the inputs of the strength model.
func features(lex *lexicalResult, res *Result) (coverage, dense float64) {
	if lex != nil {
		coverage = lex.topCoverage
	}
	if len(res.Dense) > 0 {
		dense = max(0, res.Dense[0].Score)
	}
	return coverage, dense
}

// StrengthFeatures returns the inputs of the strength model for a result, for fitting it
// (`eval beir --fit-strength`).
func StrengthFeatures(res *Result) (coverage, dense float64) {
	return res.strengthCoverage, res.strengthDense
}
