package api

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/docent-rag/docent/internal/ask"
	"github.com/docent-rag/docent/internal/index"
	"github.com/docent-rag/docent/internal/trace"
)

// headerTraceID carries a response's trace id, the answer's or search's trace_id.
const headerTraceID = "X-Trace-Id"

// startTrace starts the trace of the request c on route, asked by caller, and sends its id
// in X-Trace-Id. The request's X-Request-ID (the client's, when valid, else the server's) is
// kept beside it, never used as the trace id. Every path of a handler after startTrace must
// finish the trace, so that the header never names a trace that will not exist.
func (s *Server) startTrace(c echo.Context, route string, caller ask.Caller, question string) *ask.Trace {
	tr := ask.NewTrace(route, caller, question)
	if id := requestIDOf(c); index.ValidRequestID(id) {
		tr.RequestID = id
	}
	c.Response().Header().Set(headerTraceID, tr.ID)
	return tr
}

// finishTrace completes the trace and hands it to the asynchronous writer, which never
// blocks the request (a full buffer drops the trace and counts it).
func (s *Server) finishTrace(tr *ask.Trace) {
	s.traces.Record(tr.Finish(s.metrics))
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
