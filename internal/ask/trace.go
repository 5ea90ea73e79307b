package ask

import (
	"encoding/json"
	"maps"
	"time"

	"github.com/docent-rag/docent/internal/answer"
	"github.com/docent-rag/docent/internal/index"
	"github.com/docent-rag/docent/internal/metrics"
	"github.com/docent-rag/docent/internal/retrieve"
	"github.com/docent-rag/docent/internal/trace"
)

// Trace is the trace of one request (index.Trace) as it is filled: started by the handler
// (NewTrace, and the request id), filled by Ask or Search, failed by the handler when they
// fail, and completed by Finish. Every request that starts a trace must finish it, so that
// a trace id sent to a client never names a trace that will not exist.
type Trace struct {
	index.Trace
	start         time.Time
	steps         []traceStep
	retrievalInfo map[string]any // the Retrieval record until Finish encodes it
	rewriteMethod string
	// rewriteContext is what of the conversation the rule's rewrite added to the lexical
	// query: each piece's role and weight, not its text (an earlier answer may quote
	// documents that this request does not involve, and whose readers the trace's readers
	// need not be); rewriteShift, that the rule found a new topic.
	rewriteContext []contextPiece
	rewriteShift   bool
	cacheHit       bool
	// questionClipped: the answerer read the question's beginning and end only
	// (Config.MaxQuestionChars).
	questionClipped bool
}

// contextPiece is a piece of a rewrite's context as the trace records it.
type contextPiece struct {
	Turn   string  `json:"turn"` // "user" or "assistant"
	Chars  int     `json:"chars"`
	Weight float64 `json:"weight"`
}

// NewTrace starts the trace of a request on route, asked by caller, under a new trace id
// (made here, never by a client: a client could otherwise take another request's first).
func NewTrace(route string, caller Caller, question string) *Trace {
	t := &Trace{Trace: index.Trace{ID: trace.NewID(), Route: route, PrincipalHash: caller.hash, Question: question,
		Involved: []int64{}}, start: time.Now()}
	t.CallerHash = caller.identity
	if caller.keyID != 0 {
		id := caller.keyID
		t.APIKeyID = &id
	}
	return t
}

// cite records the documents the answer cited (index.Trace.CitedURIs).
func (t *Trace) cite(citations []answer.Citation) {
	for _, ct := range citations {
		t.CitedURIs = append(t.CitedURIs, ct.URI)
	}
}

// Fail records that the request failed with err, as the client was told.
func (t *Trace) Fail(err error) {
	t.Outcome, t.Error = "error", err.Error()
}

// elapsed is the time since the trace started.
func (t *Trace) elapsed() time.Duration { return time.Since(t.start) }

// Involve adds chunks to those the trace involves (index.Trace.Involved): a reader is shown
// the trace's content only when it may read every one of them.
func (t *Trace) Involve(ids ...int64) {
	t.Involved = append(t.Involved, ids...)
}

type traceStep struct {
	Step string  `json:"step"`
	MS   float64 `json:"ms"`
}

func (t *Trace) step(name string, d time.Duration) {
	t.steps = append(t.steps, traceStep{Step: name, MS: ms(d)})
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

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
func (t *Trace) retrieval(res *retrieve.Result) {
	rt := res.Timings
	for _, s := range []struct {
		name string
		d    time.Duration
	}{{"normalize", rt.Normalize}, {"embed", rt.Embed}, {"lexical", rt.Lexical}, {"dense", rt.Dense},
		{"fuse", rt.Fuse}, {"rerank", rt.Rerank}, {"assemble", rt.Assemble}} {
		t.step(s.name, s.d)
	}
	t.GenerationID = res.Generation
	// Every candidate of every leg, not only those the trace lists, and every chunk of the
	// context: what the reader would be shown was drawn from all of them.
	for _, hits := range [][]retrieve.Hit{res.Lexical, res.Dense, res.Ranked} {
		for _, h := range hits {
			t.Involve(h.ChunkID)
		}
	}
	tokens := 0
	for _, it := range res.Evidence {
		t.ChunkIDs = append(t.ChunkIDs, it.ChunkID)
		t.Involve(it.ChunkID)
		t.Involve(it.ChunkIDs...)
		tokens += it.Tokens
	}
	t.ContextTokens = tokens
	t.retrievalInfo = map[string]any{
		"lexical": traceHits(res.Lexical, 50), "dense": traceHits(res.Dense, 50), "ranked": traceHits(res.Ranked, 50),
		"lexical_exact": res.LexicalExact, "dense_plan": res.DensePlan, "reranked": res.Reranked,
		"rerank_error": res.RerankError, "strength": res.Strength, "phrases": res.Query.Phrases,
		"dense_weight": res.DenseWeight,
	}
	t.database(res.Database, res.ReplicaSkipped)
	if res.Shortened != nil {
		// The query was too long to run whole: NormalizedQuery becomes what both legs ran.
		t.retrievalInfo["shortened"] = res.Shortened
		t.NormalizedQuery = res.Query.Text
	}
}

// database records which database the request read (retrieve.Primary or a replica's name)
// and, when a replica was left for the primary, why.
func (t *Trace) database(name, skipped string) {
	if t.retrievalInfo == nil {
		t.retrievalInfo = map[string]any{}
	}
	t.retrievalInfo["database"] = name
	if skipped != "" {
		t.retrievalInfo["replica_skipped"] = skipped
	}
}

// answer records what generation and validation did, and the outcome a.
func (t *Trace) answer(r *answer.Result, a *Answer) {
	t.step("generate", r.Timings.Generate)
	t.step("validate", r.Timings.Validate)
	t.PromptVersion, t.Model, t.Fallback = r.PromptVersion, r.Model, r.Fallback
	t.Outcome, t.Reason = a.outcome(), a.Reason
	for _, ct := range r.Citations {
		t.Involve(ct.ChunkID)
	}
	t.cite(a.Citations)
	t.Usage, _ = json.Marshal(r.Usage)
	t.Validation, _ = json.Marshal(map[string]any{
		"grounded": r.Grounded, "dropped_citations": r.Dropped, "sentences": r.Sentences,
		"dropped_sentences": r.DroppedSentences, "model_error": r.ModelError, "attempts": r.Attempts,
		"reason": r.Reason,
	})
}

// Finish completes the trace (total time, steps, outcome, and the retrieval record with the
// cache hit and the rewrite method), observes its steps in m, and returns the record to
// store.
func (t *Trace) Finish(m *metrics.Metrics) index.Trace {
	total := t.elapsed()
	t.TotalMS = ms(total)
	m.ObserveStep("total", total)
	for _, st := range t.steps {
		m.ObserveStep(st.Step, time.Duration(st.MS*float64(time.Millisecond)))
	}
	t.Steps, _ = json.Marshal(append(t.steps, traceStep{Step: "total", MS: t.TotalMS}))
	if t.Outcome == "" {
		t.Outcome = "answered"
	}
	meta := map[string]any{"cache_hit": t.cacheHit}
	if t.questionClipped {
		meta["question_clipped"] = true
	}
	if t.rewriteMethod != "" {
		meta["rewrite"] = t.rewriteMethod
	}
	if len(t.rewriteContext) > 0 {
		meta["rewrite_context"] = t.rewriteContext
		meta["topic_shift"] = t.rewriteShift
	}
	info := maps.Clone(t.retrievalInfo)
	if info == nil {
		info = map[string]any{} // no retrieval: an error before it, or a cached answer
	}
	maps.Copy(info, meta)
	var err error
	if t.Retrieval, err = json.Marshal(info); err != nil {
		// A score that is not a number cannot be encoded: keep what can.
		t.Retrieval, _ = json.Marshal(meta)
	}
	return t.Trace
}
