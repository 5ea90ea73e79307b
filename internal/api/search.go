package api

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

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
	start := time.Now()
	tr := newTrace(c, "/v1/search", p, req.Query)
	id := tr.ID
	norm, err := retrieve.Normalize(req.Query, s.cfg.MaxQueryChars)
	if err != nil {
		err = queryError("query", err)
		tr.Outcome, tr.Error = "error", err.Error()
		s.finishTrace(tr, start)
		return err
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
