package api

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/docent-rag/docent/internal/index"
	"github.com/docent-rag/docent/internal/retrieve"
)

// search serves POST /v1/search: the ranked evidence the caller may see, without generation.
// Scores are not shown: BM25's statistics are global, so a score would say something about
// documents the caller cannot see.
func (s *Server) search(c echo.Context) error {
	var req SearchRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	if err := req.validate(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), s.cfg.RequestTimeout)
	defer cancel()
	p := principalOf(c)
	id := requestIDOf(c)
	start := time.Now()
	tr := newTrace(id, "/v1/search", p, req.Query)
	norm, err := retrieve.Normalize(req.Query, s.cfg.MaxQueryChars)
	if err != nil {
		return queryError("query", err)
	}
	tr.NormalizedQuery = norm.Text
	res, err := s.retriever.Retrieve(ctx, retrieve.Request{Query: req.Query, Principals: p.Principals, Sources: req.Filters.Sources})
	if err != nil {
		tr.Outcome, tr.Error = "error", err.Error()
		s.finishTrace(tr, start)
		return retrievalError(err)
	}
	tr.retrieval(res)
	tr.GenerationID = res.Generation
	evidence := res.Evidence[:min(len(res.Evidence), req.Limit)]
	tr.Outcome = "answered"
	s.finishTrace(tr, start)
	return c.JSON(http.StatusOK, SearchResponse{ID: id, TraceID: id, Query: norm.Text, Results: toSources(evidence),
		TimingsMS: timings(res.Timings, nil, time.Since(start))})
}

// trace serves GET /v1/traces/:id to admins.
func (s *Server) trace(c echo.Context) error {
	id := c.Param("id")
	if !validRequestID.MatchString(id) {
		return &Error{Status: http.StatusNotFound, Code: "not_found", Message: "no such trace"}
	}
	t, err := index.GetTrace(c.Request().Context(), s.db, id)
	if errors.Is(err, index.ErrNotFound) {
		return &Error{Status: http.StatusNotFound, Code: "not_found", Message: "no such trace (traces are written asynchronously: retry in a second)"}
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toTraceResponse(t))
}
