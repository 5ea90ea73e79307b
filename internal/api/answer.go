package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/docent-rag/docent/internal/answer"
	"github.com/docent-rag/docent/internal/auth"
	"github.com/docent-rag/docent/internal/index"
	"github.com/docent-rag/docent/internal/retrieve"
)

// Reasons for a refusal.
const (
	reasonNoEvidence       = "no_evidence"
	reasonModelUnavailable = "model_unavailable"
)

// cached is what the answer cache keeps: the response, the sources event, and the chunks
// the answer was built from (for the traces of the requests it answers).
type cached struct {
	resp     AnswerResponse
	sources  []Source
	involved []int64
}

// answer serves POST /v1/answer: JSON, or Server-Sent Events with Accept: text/event-stream.
//
// The steps: rewrite the question into a standalone query when there is history; look up the
// answer cache (keyed by the caller's principal set, the index generation, the corpus version,
// the prompt version, the model and the query); retrieve what the caller may see; refuse
// without calling the model when the evidence is too weak; generate (streaming), validate
// and cite; cache; record the trace.
func (s *Server) answer(c echo.Context) error {
	var req AnswerRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	if err := req.validate(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), s.cfg.RequestTimeout)
	defer cancel()
	p := principalOf(c)
	start := time.Now()
	tr := newTrace(c, "/v1/answer", p, req.Question)
	id := tr.ID
	streaming := wantsStream(c)
	var stream *eventStream
	if streaming {
		stream = newEventStream(c)
	}
	fail := func(err error) error {
		tr.Outcome, tr.Error = "error", err.Error()
		s.finishTrace(tr, start)
		if stream != nil && stream.started {
			return stream.error(err, s.publicError(c, err))
		}
		return err
	}

	history := make([]answer.Turn, len(req.History))
	for i, t := range req.History {
		history[i] = answer.Turn{Role: t.Role, Content: t.Content}
	}
	query := req.Question
	if len(history) > 0 {
		t := time.Now()
		q, method, err := s.answerer.Rewrite(ctx, req.Question, history)
		tr.step("rewrite", time.Since(t))
		if err != nil {
			return fail(fmt.Errorf("rewrite: %w", err))
		}
		query = q
		tr.RewrittenQuery = q
		tr.rewriteMethod = method
	}
	norm, err := retrieve.Normalize(query, s.cfg.MaxQueryChars)
	if err != nil {
		return fail(queryError("question", err))
	}
	tr.NormalizedQuery = norm.Text

	gen, version, err := s.indexState(ctx)
	if err != nil {
		return fail(err)
	}
	tr.GenerationID = gen
	key := cacheKey(p, gen, version, s.answerer.PromptVersion(), s.answerer.Model(), norm.Text, req)
	if hit, ok := s.cacheGet(key); ok {
		resp := hit.resp
		resp.ID, resp.TraceID, resp.Cached = id, id, true
		resp.TimingsMS = map[string]float64{"total": ms(time.Since(start))}
		tr.Outcome, tr.PromptVersion, tr.Model = outcomeOf(resp), resp.PromptVersion, resp.Model
		tr.cachedAnswer(hit)
		s.finishTrace(tr, start)
		if stream != nil {
			return stream.replay(hit.sources, resp)
		}
		return c.JSON(http.StatusOK, resp)
	}

	// On the generation the cache key and the trace name, even if another is activated now.
	res, err := s.retriever.Retrieve(ctx, retrieve.Request{Query: query, Principals: p.Principals, Sources: req.Filters.Sources, Generation: gen})
	if err != nil {
		return fail(retrievalError(err))
	}
	tr.retrieval(res)
	evidence := res.Evidence[:min(len(res.Evidence), req.MaxSources)]
	sources := toSources(evidence)
	resp := AnswerResponse{ID: id, TraceID: id, Citations: []Citation{}, Sentences: []Sentence{},
		Model: s.answerer.Model(), PromptVersion: s.answerer.PromptVersion()}

	if len(evidence) == 0 || res.Strength < s.cfg.MinEvidence {
		// Too weak to answer from: refuse without calling the model.
		s.metrics.Refusal(reasonNoEvidence)
		resp.Refused, resp.Reason = true, ptr(reasonNoEvidence)
		resp.Answer = "I can't find that in the documents you can access."
		resp.TimingsMS = timings(res.Timings, nil, time.Since(start))
		tr.Outcome, tr.Reason = "refused", reasonNoEvidence
		tr.PromptVersion, tr.Model = resp.PromptVersion, resp.Model
		s.cachePut(key, cached{resp: resp, sources: []Source{}, involved: slices.Clone(tr.Involved)})
		s.finishTrace(tr, start)
		if stream != nil {
			if err := stream.event("sources", []Source{}); err != nil {
				return nil
			}
			return stream.final(resp)
		}
		return c.JSON(http.StatusOK, resp)
	}

	if stream != nil {
		if err := stream.event("sources", sources); err != nil {
			return nil // the client went away
		}
	}
	var onDelta func(string)
	if stream != nil {
		onDelta = func(text string) { _ = stream.event("delta", map[string]string{"text": text}) }
	}
	ares, err := s.answerer.Answer(ctx, answer.Prompt{Question: req.Question, Sources: evidence, History: history}, onDelta)
	if err != nil {
		if ctx.Err() != nil && c.Request().Context().Err() != nil {
			tr.Outcome, tr.Error = "error", "the client disconnected"
			s.finishTrace(tr, start)
			return nil
		}
		return fail(fmt.Errorf("answer: %w", err))
	}
	s.fillAnswer(&resp, ares)
	resp.TimingsMS = timings(res.Timings, ares, time.Since(start))
	tr.answer(ares, &resp)
	if ares.Fallback != "" {
		s.metrics.Fallback(ares.Fallback)
	}
	if ares.ModelError != "" {
		s.metrics.ModelError(modelErrorKind(ares))
	}
	if resp.Refused {
		s.metrics.Refusal(*resp.Reason)
	}
	// Answers written by the fallback because the model failed are not cached: the next
	// request should try the model again.
	if ares.Fallback == "" {
		s.cachePut(key, cached{resp: resp, sources: sources, involved: slices.Clone(tr.Involved)})
	}
	s.finishTrace(tr, start)
	if stream != nil {
		return stream.final(resp)
	}
	return c.JSON(http.StatusOK, resp)
}

// fillAnswer copies the answerer's validated result into the response.
func (s *Server) fillAnswer(resp *AnswerResponse, a *answer.Result) {
	resp.Answer = a.Answer
	resp.Grounded = a.Grounded
	resp.Model = a.Model
	resp.PromptVersion = a.PromptVersion
	if a.Refused {
		// The API's reasons: no_evidence, or model_unavailable when the model failed and no
		// answer could be quoted either.
		reason := reasonNoEvidence
		if a.Reason == reasonModelUnavailable {
			reason = reasonModelUnavailable
		}
		resp.Refused, resp.Reason = true, ptr(reason)
	}
	if a.Fallback != "" {
		resp.Fallback = ptr(a.Fallback)
	}
	for _, ct := range a.Citations {
		resp.Citations = append(resp.Citations, Citation{N: ct.N, ChunkID: ct.ChunkID,
			Document: Document{URI: ct.URI, Title: ct.Title, Source: ct.Source},
			Pages:    pages(ct.PageStart, ct.PageEnd), Heading: strings.Join(ct.Heading, " > "), Snippet: ct.Snippet})
	}
	for _, st := range a.Sentences {
		cites := st.Citations
		if cites == nil {
			cites = []int{}
		}
		resp.Sentences = append(resp.Sentences, Sentence{Text: st.Text, Citations: cites, Supported: st.Supported})
	}
}

// indexState returns the active generation and the corpus version, for cache keys.
func (s *Server) indexState(ctx context.Context) (int, int64, error) {
	gen, err := s.retriever.ActiveGeneration(ctx)
	if err != nil {
		return 0, 0, retrievalError(err)
	}
	v, err := index.CorpusVersion(ctx, s.db)
	if err != nil {
		return 0, 0, err
	}
	return gen, v, nil
}

// cacheKey identifies an answer: everything it depends on. The principal set is part of it,
// so an answer is never shared between callers who may see different documents; the corpus
// version changes with every change to the chunks, tag changes included.
func cacheKey(p auth.Principal, gen int, version int64, promptVersion, model, query string, req AnswerRequest) string {
	h := sha256.New()
	sources := slices.Clone(req.Filters.Sources)
	slices.Sort(sources)
	fmt.Fprintf(h, "%x\x00%d\x00%d\x00%s\x00%s\x00%d\x00%q\x00", p.Hash(), gen, version, promptVersion, model, req.MaxSources, sources)
	for _, t := range req.History {
		fmt.Fprintf(h, "%s\x00%s\x00", t.Role, t.Content)
	}
	h.Write([]byte(query))
	return hex.EncodeToString(h.Sum(nil))
}

func (s *Server) cacheGet(key string) (cached, bool) {
	if s.cache == nil {
		return cached{}, false
	}
	v, ok := s.cache.Get(key)
	s.metrics.Cache(ok)
	return v, ok
}

func (s *Server) cachePut(key string, v cached) {
	if s.cache != nil {
		s.cache.Add(key, v)
	}
}

func toSources(items []retrieve.Item) []Source {
	out := make([]Source, len(items))
	for i, it := range items {
		out[i] = Source{N: i + 1, ChunkID: it.ChunkID, ChunkIDs: it.ChunkIDs,
			Document: Document{URI: it.URI, Title: it.Title, Source: it.Source},
			Pages:    pages(it.PageStart, it.PageEnd), Heading: strings.Join(it.HeadingPath, " > "), Text: it.Text}
	}
	return out
}

func timings(rt retrieve.Timings, a *answer.Result, total time.Duration) map[string]float64 {
	t := map[string]float64{
		"normalize": ms(rt.Normalize), "embed": ms(rt.Embed), "lexical": ms(rt.Lexical), "dense": ms(rt.Dense),
		"fuse": ms(rt.Fuse), "rerank": ms(rt.Rerank), "assemble": ms(rt.Assemble), "retrieve": ms(rt.Total),
		"total": ms(total),
	}
	if a != nil {
		t["generate"], t["validate"] = ms(a.Timings.Generate), ms(a.Timings.Validate)
	}
	return t
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func ptr[T any](v T) *T { return &v }

func outcomeOf(r AnswerResponse) string {
	switch {
	case r.Refused:
		return "refused"
	case r.Fallback != nil:
		return "fallback"
	}
	return "answered"
}

// modelErrorKind classifies a model failure for the metrics, from the answerer's reason.
func modelErrorKind(a *answer.Result) string {
	switch a.Reason {
	case reasonModelUnavailable:
		return "unavailable"
	case "model_error":
		return "error"
	}
	return "other"
}

// queryError maps a query normalisation error to a 400 naming the field.
func queryError(field string, err error) error {
	var long *retrieve.QueryTooLongError
	switch {
	case errors.As(err, &long):
		return invalid(field, "longer than %d characters", long.Limit)
	case errors.Is(err, retrieve.ErrEmptyQuery):
		return invalid(field, "required")
	}
	return err
}

// retrievalError maps retrieval's errors: no index is 503 (not ready), the rest stay internal.
func retrievalError(err error) error {
	if errors.Is(err, retrieve.ErrNoIndex) {
		return &Error{Status: http.StatusServiceUnavailable, Code: "not_ready", Message: "no documents are indexed yet"}
	}
	return err
}

// eventStream writes Server-Sent Events.
type eventStream struct {
	c       echo.Context
	started bool
}

func newEventStream(c echo.Context) *eventStream { return &eventStream{c: c} }

func (e *eventStream) event(name string, v any) error {
	w := e.c.Response()
	if !e.started {
		h := w.Header()
		h.Set(echo.HeaderContentType, "text/event-stream")
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
		w.WriteHeader(http.StatusOK)
		e.started = true
	}
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", name, data); err != nil {
		return err
	}
	w.Flush()
	return e.c.Request().Context().Err()
}

func (e *eventStream) final(resp AnswerResponse) error {
	_ = e.event("answer", resp)
	return nil
}

func (e *eventStream) replay(sources []Source, resp AnswerResponse) error {
	if err := e.event("sources", sources); err != nil {
		return nil
	}
	if resp.Answer != "" && !resp.Refused {
		if err := e.event("delta", map[string]string{"text": resp.Answer}); err != nil {
			return nil
		}
	}
	return e.final(resp)
}

// error sends an error event (the status is already 200 once a stream has started).
func (e *eventStream) error(_ error, body errorBody) error {
	_ = e.event("error", body)
	return nil
}
