package retrieve

import "math"

// StrengthModel is evidence strength as a function of its inputs (StrengthInputs):
//
//	σ(Intercept + Coverage·coverage + Gap·gap + Agreement·agreement)
//
// Every weight is positive, so strength is bounded in (0, 1) and grows with each input; each
// input is itself a ratio within [0, 1] that does not grow with the corpus (see
// StrengthInputs), so that one refusal threshold means the same on every corpus. The
// weights were fitted by logistic regression on the tuning folds (0–2 of 5, eval.Fold) of
// ClapNQ and MTRAG together, each set weighted equally (label: the question is answerable),
// from `eval qa --features` dumps; docs/retrieval.md has the fit and the figures on the
// held-out folds.
type StrengthModel struct {
	Intercept, Coverage, Gap, Agreement float64
}

// DefaultStrengthModel is the model retrieval uses.
var DefaultStrengthModel = StrengthModel{Intercept: -2.40, Coverage: 4.28, Gap: 1.81, Agreement: 0.71}

// DefaultMinStrength is the refusal threshold fitted with DefaultStrengthModel: the server's
// default DOCENT_MIN_EVIDENCE (TestDefaultMinEvidenceIsTheFittedThreshold keeps them equal).
const DefaultMinStrength = 0.45

// StrengthInputs are what evidence strength is computed from, all from the caller's own
// statistics and rankings (nothing a hidden chunk changes).
type StrengthInputs struct {
	// Coverage is the best lexical hit's BM25 score divided by the score a chunk would get
	// by containing every query term with saturated frequency (the query's own maximum,
	// Σ w_t·(k1+1)), in [0, 1]: a ratio of the query's own IDF weights, so a corpus ten
	// times larger, whose IDFs are all larger, leaves it about where it was.
	Coverage float64 `json:"coverage"`
	// Gap is how far the best lexical hit stands out: its score minus the 10th best's, on
	// the same scale, in [0, Coverage] (the 10th counts 0 when there are fewer hits).
	Gap float64 `json:"gap"`
	// Agreement is whether the dense leg finds the best lexical hit too: 1/(1 + ln r) for
	// its rank r in the dense ranking, 0 when the dense leg did not rank it (or did not
	// run: lexical-only retrieval gets no credit for agreement).
	Agreement float64 `json:"agreement"`
	// DenseRank is that rank r (0: not ranked).
	DenseRank int `json:"dense_rank_of_lexical_top"`
	// NormalizedBM25 is the best lexical score divided by the sum of the query terms'
	// IDFs: the plain baseline evaluations compare strength with. Not used by the model.
	NormalizedBM25 float64 `json:"normalized_bm25"`
	// DenseTop is the best dense hit's cosine similarity to the query (0 without one): an
	// input of the previous strength model, which evaluations compare with. Not used by the
	// model: a cosine's scale depends on the embedder and the corpus.
	DenseTop float64 `json:"dense_top"`
}

// Strength returns the strength of the inputs in (0, 1).
func (m StrengthModel) Strength(in StrengthInputs) float64 {
	z := m.Intercept + m.Coverage*in.Coverage + m.Gap*in.Gap + m.Agreement*in.Agreement
	return 1 / (1 + math.Exp(-z))
}

// strength returns the evidence strength of a result, in (0, 1), and records its inputs;
// 0 without evidence.
func strength(lex *lexicalResult, res *Result) float64 {
	if len(res.Ranked) == 0 {
		return 0
	}
	res.strengthInputs = strengthInputs(lex, res.Dense)
	return DefaultStrengthModel.Strength(res.strengthInputs)
}

// strengthInputs computes the inputs from the lexical leg's result and the dense ranking.
func strengthInputs(lex *lexicalResult, dense []Hit) StrengthInputs {
	var in StrengthInputs
	if len(dense) > 0 {
		in.DenseTop = max(0, dense[0].Score)
	}
	if lex == nil || len(lex.hits) == 0 || lex.maxScore <= 0 {
		return in
	}
	top := lex.hits[0]
	in.Coverage = lex.coverage(top)
	tenth := 0.0
	if len(lex.hits) >= 10 {
		tenth = lex.coverage(lex.hits[9])
	}
	in.Gap = min(in.Coverage, max(0, in.Coverage-tenth))
	for i, h := range dense {
		if h.ChunkID == top.ChunkID {
			in.DenseRank = i + 1
			in.Agreement = 1 / (1 + math.Log(float64(i+1)))
			break
		}
	}
	if lex.idfSum > 0 {
		in.NormalizedBM25 = top.Score / lex.idfSum
	}
	return in
}

// StrengthInputs returns what the result's evidence strength was computed from (zero
// without evidence).
func (res *Result) StrengthInputs() StrengthInputs { return res.strengthInputs }

// QueryTerm is a query lexeme that some chunk the caller can see contains, with its IDF
// from the caller's own statistics (see lexical).
type QueryTerm struct {
	Lexeme string  `json:"lexeme"`
	IDF    float64 `json:"idf"`
}

// QueryTerms returns the lexical leg's query terms that the caller can find, in the
// query's order, with their IDFs (nil without a lexical leg): what evaluations compute
// candidate strength inputs from.
func (res *Result) QueryTerms() []QueryTerm { return res.queryTerms }
