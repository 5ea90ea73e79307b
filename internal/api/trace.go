package api

import (
	"encoding/json"
	"time"

	"github.com/docent-rag/docent/internal/answer"
	"github.com/docent-rag/docent/internal/auth"
	"github.com/docent-rag/docent/internal/index"
	"github.com/docent-rag/docent/internal/retrieve"
)

// traceBuilder collects a request's trace as the request goes.
type traceBuilder struct {
	index.Trace
	steps         []traceStep
	rewriteMethod string
	cacheHit      bool
}

// newTrace starts the trace of request id on route, asked by p.
func newTrace(id, route string, p auth.Principal, question string) *traceBuilder {
	tr := &traceBuilder{Trace: index.Trace{ID: id, Route: route, PrincipalHash: p.Hash(), Question: question}}
	if p.KeyID != 0 {
		tr.APIKeyID = &p.KeyID
	}
	return tr
}

type traceStep struct {
	Step string  `json:"step"`
	MS   float64 `json:"ms"`
}

func (t *traceBuilder) step(name string, d time.Duration) {
	t.steps = append(t.steps, traceStep{Step: name, MS: ms(d)})
}

// traceHit is a candidate of a leg as the trace keeps it.
type traceHit struct {
	ChunkID int64   `json:"chunk_id"`
	Rank    int     `json:"rank"`
	Score   float64 `json:"score"`
}

func traceHits(hits []retrieve.Hit, limit int) []traceHit {
	out := make([]traceHit, 0, min(len(hits), limit))
	for i, h := range hits[:min(len(hits), limit)] {
		out = append(out, traceHit{ChunkID: h.ChunkID, Rank: i + 1, Score: h.Score})
	}
	return out
}

// retrieval records what retrieval found: each leg's candidates with ranks and scores, the
// final order, the plans, and the assembled context.
func (t *traceBuilder) retrieval(res *retrieve.Result) {
	rt := res.Timings
	for _, s := range []struct {
		name string
		d    time.Duration
	}{{"normalize", rt.Normalize}, {"embed", rt.Embed}, {"lexical", rt.Lexical}, {"dense", rt.Dense},
		{"fuse", rt.Fuse}, {"rerank", rt.Rerank}, {"assemble", rt.Assemble}} {
		t.step(s.name, s.d)
	}
	t.GenerationID = res.Generation
	tokens := 0
	for _, it := range res.Evidence {
		t.ChunkIDs = append(t.ChunkIDs, it.ChunkID)
		tokens += it.Tokens
	}
	t.ContextTokens = tokens
	t.Retrieval, _ = json.Marshal(map[string]any{
		"lexical": traceHits(res.Lexical, 50), "dense": traceHits(res.Dense, 50), "ranked": traceHits(res.Ranked, 50),
		"lexical_exact": res.LexicalExact, "dense_plan": res.DensePlan, "reranked": res.Reranked,
		"rerank_error": res.RerankError, "strength": res.Strength, "phrases": res.Query.Phrases,
	})
}

// answer records what generation and validation did.
func (t *traceBuilder) answer(a *answer.Result, resp *AnswerResponse) {
	t.step("generate", a.Timings.Generate)
	t.step("validate", a.Timings.Validate)
	t.PromptVersion, t.Model, t.Fallback = a.PromptVersion, a.Model, a.Fallback
	t.Outcome = outcomeOf(*resp)
	if resp.Reason != nil {
		t.Reason = *resp.Reason
	}
	t.Usage, _ = json.Marshal(a.Usage)
	t.Validation, _ = json.Marshal(map[string]any{
		"grounded": a.Grounded, "dropped_citations": a.Dropped, "sentences": a.Sentences,
		"model_error": a.ModelError, "attempts": a.Attempts,
	})
}

// finishTrace completes the trace and hands it to the asynchronous writer, which never
// blocks the request (a full buffer drops the trace and counts it).
func (s *Server) finishTrace(t *traceBuilder, start time.Time) {
	total := time.Since(start)
	t.TotalMS = ms(total)
	s.metrics.ObserveStep("total", total)
	for _, st := range t.steps {
		s.metrics.ObserveStep(st.Step, time.Duration(st.MS*float64(time.Millisecond)))
	}
	steps := append(t.steps, traceStep{Step: "total", MS: t.TotalMS})
	t.Steps, _ = json.Marshal(steps)
	if t.Outcome == "" {
		t.Outcome = "answered"
	}
	if t.Retrieval == nil {
		t.Retrieval = json.RawMessage(`{}`)
	}
	meta := map[string]any{"cache_hit": t.cacheHit}
	if t.rewriteMethod != "" {
		meta["rewrite"] = t.rewriteMethod
	}
	var r map[string]any
	if json.Unmarshal(t.Retrieval, &r) == nil {
		for k, v := range meta {
			r[k] = v
		}
		t.Retrieval, _ = json.Marshal(r)
	}
	s.traces.Record(t.Trace)
}
