package api

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/docent-rag/docent/internal/ask"
)

// search serves POST /v1/search: the ranked evidence the caller may see, without generation
// (ask.Service.Search). Scores are not shown: BM25's statistics are global, so a score would
// say something about documents the caller cannot see.
func (s *Server) search(c echo.Context) error {
	var req SearchRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	if err := req.validate(); err != nil {
		return err
	}
	caller := ask.NewCaller(principalOf(c))
	tr := s.startTrace(c, "/v1/search", caller, req.Query)
	found, err := s.asker.Search(c.Request().Context(), ask.Search{Query: req.Query, Limit: req.Limit, Sources: req.Filters.Sources}, caller, tr)
	if err != nil {
		err = queryError("query", err)
		tr.Fail(err) // a retrieval error as it is: only the client's copy is mapped
		s.finishTrace(tr)
		return retrievalError(err)
	}
	s.finishTrace(tr)
	return c.JSON(http.StatusOK, SearchResponse{ID: tr.ID, TraceID: tr.ID, Query: found.Query, QueryTruncated: found.Shortened != nil, Results: toSources(found.Evidence),
		TimingsMS: timings(found.Timings)})
}
