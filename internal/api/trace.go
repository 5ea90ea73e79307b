package api

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/docent-rag/docent/internal/answer"
	"github.com/docent-rag/docent/internal/auth"
	"github.com/docent-rag/docent/internal/index"
	"github.com/docent-rag/docent/internal/retrieve"
	"github.com/docent-rag/docent/internal/trace"
)

// headerTraceID carries a response's trace id, the answer's or search's trace_id.
const headerTraceID = "X-Trace-Id"

// traceBuilder collects a request's trace as the request goes.
type traceBuilder struct {
	index.Trace
	steps         []traceStep
	rewriteMethod string
	cacheHit      bool
}

// newTrace starts the trace of the request c on route, asked by p, under a new trace id that
// it sends in X-Trace-Id. The request's X-Request-ID (the client's, when valid, else the
// server's) is kept beside it, never used as the trace id: a client could otherwise take
// another request's trace id first. Every path of a handler after newTrace must finish the
// trace, so that the header never names a trace that will not exist.
func newTrace(c echo.Context, route string, p auth.Principal, question string) *traceBuilder {
	tr := &traceBuilder{Trace: index.Trace{ID: trace.NewID(), Route: route, PrincipalHash: p.Hash(), Question: question,
		Involved: []int64{}}}
	if id := requestIDOf(c); index.ValidRequestID(id) {
		tr.RequestID = id
	}
	if p.KeyID != 0 {
		tr.APIKeyID = &p.KeyID
	}
	c.Response().Header().Set(headerTraceID, tr.ID)
	return tr
}

// involve adds chunks to those the trace involves (index.Trace.Involved): a reader is shown
// the trace's content only when it may read every one of them.
func (t *traceBuilder) involve(ids ...int64) {
	t.Involved = append(t.Involved, ids...)
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
	// Every candidate of every leg, not only those the trace lists, and every chunk of the
	// context: what the reader would be shown was drawn from all of them.
	for _, hits := range [][]retrieve.Hit{res.Lexical, res.Dense, res.Ranked} {
		for _, h := range hits {
			t.involve(h.ChunkID)
		}
	}
	tokens := 0
	for _, it := range res.Evidence {
		t.ChunkIDs = append(t.ChunkIDs, it.ChunkID)
		t.involve(it.ChunkID)
		t.involve(it.ChunkIDs...)
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
	for _, ct := range a.Citations {
		t.involve(ct.ChunkID)
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

// cachedAnswer records that the answer came from the cache: the chunks the cached answer was
// built from are involved in this trace as well.
func (t *traceBuilder) cachedAnswer(hit cached) {
	t.cacheHit = true
	t.involve(hit.involved...)
}

// Limits of GET /v1/traces.
const (
	defaultTraceLimit = 20
	maxTraceLimit     = 100
)

// trace serves GET /v1/traces/:id to admins, redacted unless the admin's own principals
// cover every chunk the trace involves (trace.Redact).
func (s *Server) trace(c echo.Context) error {
	id := c.Param("id")
	if !validRequestID.MatchString(id) {
		return &Error{Status: http.StatusNotFound, Code: "not_found", Message: "no such trace"}
	}
	v, err := trace.Read(c.Request().Context(), s.db, id, principalOf(c).Principals)
	if errors.Is(err, index.ErrNotFound) {
		return &Error{Status: http.StatusNotFound, Code: "not_found", Message: "no such trace (traces are written asynchronously: retry in a second)"}
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toTraceResponse(v))
}

// TraceList answers GET /v1/traces.
type TraceList struct {
	Traces []TraceResponse `json:"traces"`
}

// findTraces serves GET /v1/traces?request_id=...&limit=... to admins: the newest traces of the
// requests that carried that X-Request-ID, each redacted as GET /v1/traces/{id} would.
func (s *Server) findTraces(c echo.Context) error {
	requestID := c.QueryParam("request_id")
	if !index.ValidRequestID(requestID) {
		return invalid("request_id", "required: 1 to %d printable ASCII characters", index.MaxRequestIDLen)
	}
	limit := defaultTraceLimit
	if l := c.QueryParam("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > maxTraceLimit {
			return invalid("limit", "must be between 1 and %d", maxTraceLimit)
		}
		limit = n
	}
	vs, err := trace.Find(c.Request().Context(), s.db, requestID, principalOf(c).Principals, limit)
	if err != nil {
		return err
	}
	out := TraceList{Traces: make([]TraceResponse, len(vs))}
	for i, v := range vs {
		out.Traces[i] = toTraceResponse(v)
	}
	return c.JSON(http.StatusOK, out)
}

// TraceResponse is a stored trace, as GET /v1/traces/{id} shows it to an admin. The fields
// that come from documents or from the asker's words are null when Redacted is set.
type TraceResponse struct {
	ID              string          `json:"id"`
	RequestID       *string         `json:"request_id"`
	CreatedAt       time.Time       `json:"created_at"`
	Route           string          `json:"route"`
	PrincipalHash   string          `json:"principal_hash"` // hex SHA-256 of the caller's principal set
	APIKeyID        *int64          `json:"api_key_id"`
	Redacted        *string         `json:"redacted"`
	RedactedFields  []string        `json:"redacted_fields"`
	Question        *string         `json:"question"`
	NormalizedQuery *string         `json:"normalized_query"`
	RewrittenQuery  *string         `json:"rewritten_query"`
	GenerationID    int             `json:"generation_id"`
	ChunkIDs        []int64         `json:"chunk_ids"`
	InvolvedChunks  *int            `json:"involved_chunks"`
	InvolvedIDs     []int64         `json:"involved_chunk_ids"`
	Retrieval       json.RawMessage `json:"retrieval"`
	ContextTokens   int             `json:"context_tokens"`
	PromptVersion   string          `json:"prompt_version"`
	Model           string          `json:"model"`
	Usage           json.RawMessage `json:"usage"`
	Validation      json.RawMessage `json:"validation"`
	Steps           json.RawMessage `json:"steps"`
	Outcome         string          `json:"outcome"`
	Reason          string          `json:"reason"`
	Fallback        string          `json:"fallback"`
	TotalMS         float64         `json:"total_ms"`
	Error           *string         `json:"error"`
}

func toTraceResponse(v trace.View) TraceResponse {
	t := v.Trace
	orNull := func(m json.RawMessage) json.RawMessage {
		if len(m) == 0 {
			return json.RawMessage("null")
		}
		return m
	}
	r := TraceResponse{ID: t.ID, CreatedAt: t.CreatedAt, Route: t.Route, PrincipalHash: hex.EncodeToString(t.PrincipalHash),
		APIKeyID: t.APIKeyID, RedactedFields: []string{}, GenerationID: t.GenerationID, Retrieval: orNull(t.Retrieval),
		ContextTokens: t.ContextTokens, PromptVersion: t.PromptVersion, Model: t.Model, Usage: orNull(t.Usage),
		Validation: orNull(t.Validation), Steps: orNull(t.Steps), Outcome: t.Outcome, Reason: t.Reason,
		Fallback: t.Fallback, TotalMS: t.TotalMS}
	if t.RequestID != "" {
		r.RequestID = &t.RequestID
	}
	if v.InvolvedCount >= 0 {
		r.InvolvedChunks = &v.InvolvedCount
	}
	if v.Redacted != "" {
		r.Redacted = &v.Redacted
		r.RedactedFields = trace.RedactedFields
		return r
	}
	r.Question, r.NormalizedQuery, r.RewrittenQuery, r.Error = &t.Question, &t.NormalizedQuery, &t.RewrittenQuery, &t.Error
	r.ChunkIDs, r.InvolvedIDs = t.ChunkIDs, t.Involved
	if r.ChunkIDs == nil {
		r.ChunkIDs = []int64{}
	}
	if r.InvolvedIDs == nil {
		r.InvolvedIDs = []int64{}
	}
	return r
}
