package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/docent-rag/docent/internal/answer"
	"github.com/docent-rag/docent/internal/ask"
	"github.com/docent-rag/docent/internal/index"
	"github.com/docent-rag/docent/internal/retrieve"
)

// answer serves POST /v1/answer: JSON, or Server-Sent Events with Accept: text/event-stream
// (sources, delta..., then answer; or error once the stream has started). The use case is
// ask.Service.Ask; this handler decodes, starts the trace, picks the encoding and encodes.
func (s *Server) answer(c echo.Context) error {
	var req AnswerRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	if err := req.validate(); err != nil {
		return err
	}
	caller := ask.NewCaller(principalOf(c))
	tr := s.startTrace(c, index.AnswerRoute, caller, req.Question)
	var stream *eventStream
	var sink ask.Sink
	if wantsStream(c) {
		stream = newEventStream(c)
		sink = stream
	}
	a, err := s.asker.Ask(c.Request().Context(), req.question(), caller, tr, sink)
	if err != nil {
		return s.answerFailed(c, tr, stream, err)
	}
	s.finishTrace(tr)
	resp := toAnswerResponse(tr.ID, a)
	if stream != nil {
		return stream.final(resp)
	}
	return c.JSON(http.StatusOK, resp)
}

// answerFailed finishes the trace of a failed answer and tells the client, in the stream
// when it has started: nothing when the client went away.
func (s *Server) answerFailed(c echo.Context, tr *ask.Trace, stream *eventStream, err error) error {
	if errors.Is(err, ask.ErrClientGone) {
		tr.Fail(ask.ErrClientGone)
		s.finishTrace(tr)
		return nil
	}
	err = conversationError(retrievalError(queryError("question", err)))
	tr.Fail(err)
	s.finishTrace(tr)
	if stream != nil && stream.started {
		return stream.error(s.publicError(c, err))
	}
	return err
}

// question is the request as the use case takes it.
func (r *AnswerRequest) question() ask.Question {
	history := make([]answer.Turn, len(r.History))
	for i, t := range r.History {
		history[i] = answer.Turn{Role: t.Role, Content: t.Content}
	}
	return ask.Question{Text: r.Question, History: history, MaxSources: r.MaxSources, Sources: r.Filters.Sources,
		ConversationID: r.ConversationID}
}

// toAnswerResponse encodes the answer of the request whose trace is id.
func toAnswerResponse(id string, a *ask.Answer) AnswerResponse {
	resp := AnswerResponse{ID: id, TraceID: id, Answer: a.Text, Refused: a.Refused, Grounded: a.Grounded,
		Citations: make([]Citation, 0, len(a.Citations)), Sentences: make([]Sentence, 0, len(a.Sentences)),
		Model: a.Model, PromptVersion: a.PromptVersion, Cached: a.Cached, TimingsMS: answerTimings(a), QueryTruncated: a.QueryTruncated}
	if a.Reason != "" {
		resp.Reason = ptr(a.Reason)
	}
	if a.Fallback != "" {
		resp.Fallback = ptr(a.Fallback)
		if a.FallbackReason != "" {
			resp.FallbackReason = ptr(a.FallbackReason)
		}
	}
	resp.DroppedSentences = a.DroppedSentences
	if a.ConversationID != "" {
		resp.ConversationID = ptr(a.ConversationID)
	}
	resp.Citations = toCitations(a.Citations)
	for _, st := range a.Sentences {
		cites := st.Citations
		if cites == nil {
			cites = []int{}
		}
		resp.Sentences = append(resp.Sentences, Sentence{Text: st.Text, Citations: cites, Supported: st.Supported})
	}
	return resp
}

// toCitations encodes an answer's citations, as the answer and a restored conversation show them.
func toCitations(cs []answer.Citation) []Citation {
	out := make([]Citation, 0, len(cs))
	for _, ct := range cs {
		out = append(out, Citation{N: ct.N, ChunkID: ct.ChunkID,
			Document: Document{URI: ct.URI, Title: ct.Title, Source: ct.Source, URL: documentURL(ct.URL, ct.PageStart, ct.PageUnit)},
			Pages:    pages(ct.PageStart, ct.PageEnd, ct.PageUnit), Locator: locator(ct.Locator), OCR: ct.OCR,
			Heading: strings.Join(ct.Heading, " > "), Snippet: ct.Snippet})
	}
	return out
}

func toSources(items []retrieve.Item) []Source {
	out := make([]Source, len(items))
	for i, it := range items {
		out[i] = Source{N: i + 1, ChunkID: it.ChunkID, ChunkIDs: it.ChunkIDs,
			Document: Document{URI: it.URI, Title: it.Title, Source: it.Source, URL: documentURL(it.URL, it.PageStart, it.PageUnit)},
			Pages:    pages(it.PageStart, it.PageEnd, it.PageUnit), Locator: locator(it.Locator), OCR: it.OCR,
			Heading: strings.Join(it.HeadingPath, " > "), Text: it.Text}
	}
	return out
}

// answerTimings are an answer's timings_ms: the total only for a cached answer.
func answerTimings(a *ask.Answer) map[string]float64 {
	if a.Cached {
		return map[string]float64{"total": ms(a.Timings.Total)}
	}
	return timings(a.Timings)
}

func timings(at ask.Timings) map[string]float64 {
	rt := at.Retrieval
	t := map[string]float64{
		"normalize": ms(rt.Normalize), "embed": ms(rt.Embed), "lexical": ms(rt.Lexical), "dense": ms(rt.Dense),
		"fuse": ms(rt.Fuse), "rerank": ms(rt.Rerank), "assemble": ms(rt.Assemble), "retrieve": ms(rt.Total),
		"total": ms(at.Total),
	}
	if a := at.Answer; a != nil {
		t["generate"], t["validate"] = ms(a.Generate), ms(a.Validate)
	}
	return t
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func ptr[T any](v T) *T { return &v }

// queryError maps a query normalisation error to a 400 naming the field; other errors pass.
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

// sse writes Server-Sent Events: the headers with the first, each flushed at once. Once one
// could not be sent (the client went away), it sends nothing more and returns that error.
type sse struct {
	c       echo.Context
	started bool
	gone    error
}

// emit writes one event: "event: name" (none when name is empty) and "data: data".
func (s *sse) emit(name string, data []byte) error {
	if s.gone != nil {
		return s.gone
	}
	w := s.c.Response()
	if !s.started {
		h := w.Header()
		h.Set(echo.HeaderContentType, "text/event-stream")
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
		w.WriteHeader(http.StatusOK)
		s.started = true
	}
	var err error
	if name != "" {
		_, err = fmt.Fprintf(w, "event: %s\ndata: %s\n\n", name, data)
	} else {
		_, err = fmt.Fprintf(w, "data: %s\n\n", data)
	}
	if err != nil {
		s.gone = err
		return err
	}
	w.Flush()
	if err := s.c.Request().Context().Err(); err != nil {
		s.gone = err
		return err
	}
	return nil
}

// eventStream writes an answer as Server-Sent Events, and is the use case's ask.Sink.
type eventStream struct{ sse }

func newEventStream(c echo.Context) *eventStream { return &eventStream{sse{c: c}} }

// Sources sends the sources event.
func (e *eventStream) Sources(evidence []retrieve.Item) error {
	return e.event("sources", toSources(evidence))
}

// Delta sends a delta event; a failure is remembered (see event) and otherwise ignored, as
// the generation stops with the request's context.
func (e *eventStream) Delta(text string) {
	_ = e.event("delta", map[string]string{"text": text})
}

func (e *eventStream) event(name string, v any) error {
	if e.gone != nil {
		return e.gone
	}
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return e.emit(name, data)
}

func (e *eventStream) final(resp AnswerResponse) error {
	_ = e.event("answer", resp)
	return nil
}

// error sends an error event (the status is already 200 once a stream has started).
func (e *eventStream) error(body errorBody) error {
	_ = e.event("error", body)
	return nil
}
