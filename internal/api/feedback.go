package api

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/docent-rag/docent/internal/index"
)

// FeedbackRequest is the body of POST /v1/answers/{id}/feedback.
type FeedbackRequest struct {
	Rating  string `json:"rating"`
	Reason  string `json:"reason,omitempty"`
	Comment string `json:"comment,omitempty"`
}

func (r *FeedbackRequest) validate() error {
	if r.Rating != index.RatingUp && r.Rating != index.RatingDown {
		return invalid("rating", "required: up or down")
	}
	if r.Reason != "" && !slices.Contains(index.FeedbackReasons, r.Reason) {
		return invalid("reason", "must be one of %s", strings.Join(index.FeedbackReasons, ", "))
	}
	if strings.TrimSpace(r.Comment) == "" {
		r.Comment = ""
	}
	if n := utf8.RuneCountInString(r.Comment); n > index.MaxFeedbackComment {
		return invalid("comment", "longer than %d characters", index.MaxFeedbackComment)
	}
	return nil
}

// FeedbackResponse answers POST /v1/answers/{id}/feedback.
type FeedbackResponse struct {
	AnswerID string `json:"answer_id"`
	Rating   string `json:"rating"`
	Reason   string `json:"reason,omitempty"`
	Replaced bool   `json:"replaced"` // a rating given before was replaced
}

// errNoSuchAnswer is the one answer to feedback on an answer the caller did not get, whether
// it exists for someone else or not at all.
var errNoSuchAnswer = &Error{Status: http.StatusNotFound, Code: "not_found",
	Message: "no such answer of yours (answers are recorded asynchronously: retry in a second)"}

// feedback serves POST /v1/answers/:id/feedback: the caller's rating of an answer it got,
// stored with the answer's trace and replacing the caller's earlier rating. Only the caller
// who got the answer (the same API key or JWT subject, with the same principal set) may rate
// it; to anyone else the answer does not exist. Anonymous callers have no identity to bind a
// rating to and are refused.
func (s *Server) feedback(c echo.Context) error {
	id := c.Param("id")
	p := principalOf(c)
	caller := p.CallerHash()
	if caller == nil {
		return &Error{Status: http.StatusForbidden, Code: "forbidden",
			Message: "feedback needs an identity: authenticate with an API key or a token with a subject"}
	}
	var req FeedbackRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	if err := req.validate(); err != nil {
		return err
	}
	if id == "" || len(id) > index.MaxTraceIDLen {
		return errNoSuchAnswer
	}
	replaced, err := index.PutFeedback(c.Request().Context(), s.db, index.Feedback{TraceID: id,
		PrincipalHash: p.Hash(), CallerHash: caller, Rating: req.Rating, Reason: req.Reason, Comment: req.Comment})
	if errors.Is(err, index.ErrNotFound) {
		return errNoSuchAnswer
	}
	if err != nil {
		return err
	}
	s.metrics.Feedback(req.Rating)
	return c.JSON(http.StatusOK, FeedbackResponse{AnswerID: id, Rating: req.Rating, Reason: req.Reason, Replaced: replaced})
}
