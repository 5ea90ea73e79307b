package reindex

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/docent-rag/docent/internal/eval"
	"github.com/docent-rag/docent/internal/index"
	"github.com/docent-rag/docent/internal/retrieve"
)

// Gate is the evaluation gate of a reindex: an admin's queries with relevance judgments in
// the BEIR layout (queries.jsonl and qrels/<split>.tsv; no corpus: the judged documents are
// the indexed ones). A judged document id matches an indexed document whose URI is that id,
// or ends in "#<id>" (a record of a JSON Lines collection).
//
// Every query runs against the active and the new generation as a caller who sees every
// document, in hybrid mode (what callers get) and dense mode (what a new embedding changes;
// hybrid can mask a worse embedding behind the lexical leg). The new generation passes
// when neither nDCG@10 drops by more than Tolerance.
type Gate struct {
	Dir       string
	Split     string  // default test
	Tolerance float64 // absolute nDCG@10; default 0.01
}

// GateResult is the gate's comparison.
type GateResult struct {
	Dataset   string     `json:"dataset"`
	Queries   int        `json:"queries"`
	Baseline  int        `json:"baseline_generation"`
	Candidate int        `json:"candidate_generation"`
	Hybrid    [2]float64 `json:"hybrid_ndcg_at_10"` // baseline, candidate
	Dense     [2]float64 `json:"dense_ndcg_at_10"`
	Tolerance float64    `json:"tolerance"`
	Passed    bool       `json:"passed"`
	EvalID    int64      `json:"eval_id"`
}

// Summary is the comparison in one line.
func (r *GateResult) Summary() string {
	verdict := "passed"
	if !r.Passed {
		verdict = "refused"
	}
	return verdict + ": " + r.comparison()
}

// comparison is the measured nDCG@10 of both generations.
func (r *GateResult) comparison() string {
	return fmt.Sprintf("nDCG@10 on %d queries of %s, generation %d → %d: hybrid %.4f → %.4f (%+.4f), dense %.4f → %.4f (%+.4f); tolerance %.4f",
		r.Queries, r.Dataset, r.Baseline, r.Candidate, r.Hybrid[0], r.Hybrid[1], r.Hybrid[1]-r.Hybrid[0],
		r.Dense[0], r.Dense[1], r.Dense[1]-r.Dense[0], r.Tolerance)
}

// evaluate compares baseline and candidate on the gate's queries and records the result.
// The candidate's embedder is given (it is the one building it); others builds the
// baseline's.
func (gt *Gate) evaluate(ctx context.Context, pool *pgxpool.Pool, candidateEmb retrieve.Embedder,
	others func(context.Context, index.Generation) (retrieve.Embedder, error), baseline, candidate index.Generation) (*GateResult, error) {
	split := gt.Split
	if split == "" {
		split = "test"
	}
	tol := gt.Tolerance
	if tol == 0 {
		tol = 0.01
	}
	data, err := eval.LoadJudgments(gt.Dir, split)
	if err != nil {
		return nil, fmt.Errorf("evaluation gate: %w", err)
	}
	if len(data.Queries) == 0 {
		return nil, fmt.Errorf("evaluation gate: %s has no judged queries in split %s", gt.Dir, split)
	}
	embedders := func(ctx context.Context, g index.Generation) (retrieve.Embedder, error) {
		if g.ID == candidate.ID {
			return candidateEmb, nil
		}
		if others == nil {
			return nil, fmt.Errorf("no embedder for generation %d", g.ID)
		}
		return others(ctx, g)
	}
	r, err := retrieve.New(retrieve.Config{Embedders: embedders}, pool, nil, nil, "", slog.New(slog.DiscardHandler))
	if err != nil {
		return nil, err
	}
	principals := map[int][]string{}
	for _, g := range []index.Generation{baseline, candidate} {
		if principals[g.ID], err = index.VisibleTags(ctx, pool, g.ChunkingID); err != nil {
			return nil, err
		}
	}
	uris := map[int64]string{}
	var sums [2][2]float64 // [generation][mode]
	for _, q := range data.Queries {
		for gi, g := range []index.Generation{baseline, candidate} {
			for mi, mode := range []retrieve.Mode{retrieve.Hybrid, retrieve.Dense} {
				res, err := r.Retrieve(ctx, retrieve.Request{Query: q.Text, Principals: principals[g.ID], Mode: mode, Generation: g.ID})
				if err != nil {
					return nil, fmt.Errorf("evaluation gate: query %s on generation %d: %w", q.ID, g.ID, err)
				}
				ranked, err := documentKeys(ctx, pool, res.Ranked, uris)
				if err != nil {
					return nil, err
				}
				sums[gi][mi] += eval.NDCG(ranked, data.Qrels[q.ID], 10)
			}
		}
	}
	n := float64(len(data.Queries))
	gr := &GateResult{Dataset: filepath.Base(filepath.Clean(gt.Dir)), Queries: len(data.Queries), Baseline: baseline.ID,
		Candidate: candidate.ID, Hybrid: [2]float64{sums[0][0] / n, sums[1][0] / n}, Dense: [2]float64{sums[0][1] / n, sums[1][1] / n},
		Tolerance: tol}
	gr.Passed = gr.Hybrid[1] >= gr.Hybrid[0]-tol && gr.Dense[1] >= gr.Dense[0]-tol
	gr.EvalID, err = index.RecordEval(ctx, pool, index.Eval{GenerationID: candidate.ID, BaselineID: baseline.ID, Dataset: gt.Dir,
		Queries: gr.Queries, NDCG: gr.Hybrid[1], BaselineNDCG: gr.Hybrid[0], Tolerance: tol, Passed: gr.Passed,
		Details: map[string]any{"split": split, "mode": "hybrid", "dense_ndcg_at_10": gr.Dense[1], "baseline_dense_ndcg_at_10": gr.Dense[0]}})
	if err != nil {
		return nil, err
	}
	return gr, nil
}

// documentKeys turns a ranking of chunks into the ranking of their documents' judgment ids
// (a document ranks where its best chunk does), looking up URIs not in cache.
func documentKeys(ctx context.Context, pool *pgxpool.Pool, hits []retrieve.Hit, cache map[int64]string) ([]string, error) {
	var missing []int64
	for _, h := range hits {
		if _, ok := cache[h.DocumentID]; !ok {
			missing = append(missing, h.DocumentID)
		}
	}
	if len(missing) > 0 {
		found, err := index.DocumentURIs(ctx, pool, missing)
		if err != nil {
			return nil, err
		}
		for id, uri := range found {
			cache[id] = uri
		}
	}
	ids := make([]int64, len(hits))
	for i, h := range hits {
		ids[i] = h.DocumentID
	}
	return eval.DocumentRanking(ids, func(id int64) string { return cache[id] }), nil
}
