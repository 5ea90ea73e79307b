package api

import (
	"errors"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/docent-rag/docent/internal/ask"
)

// errNoConversation is the 404 of a conversation id that does not exist, has expired, or is
// another caller's: the three are not told apart, so that nobody learns that an id exists.
var errNoConversation = &Error{Status: http.StatusNotFound, Code: "not_found", Message: "no such conversation"}

// conversationError maps the use case's conversation errors to their statuses; others pass.
func conversationError(err error) error {
	switch {
	case errors.Is(err, ask.ErrConversationNotFound):
		return errNoConversation
	case errors.Is(err, ask.ErrConversationFull):
		return &Error{Status: http.StatusConflict, Code: "conversation_full",
			Message: "the conversation holds its maximum number of turns: start a new one (omit conversation_id)"}
	case errors.Is(err, ask.ErrHistoryWithConversation):
		return invalid("history", "give either history or conversation_id, not both")
	}
	return err
}

// ConversationResponse is a stored conversation, as GET /v1/conversations/{id} returns it to
// its owner.
type ConversationResponse struct {
	ID        string             `json:"id"`
	CreatedAt time.Time          `json:"created_at"`
	UpdatedAt time.Time          `json:"updated_at"`
	Turns     []ConversationTurn `json:"turns"`
}

// ConversationTurn is one question of a conversation and its answer. Answer is null and
// Citations empty when Redacted says why: the answer was written from passages the caller
// may no longer read.
type ConversationTurn struct {
	N         int        `json:"n"`
	CreatedAt time.Time  `json:"created_at"`
	Question  string     `json:"question"`
	Answer    *string    `json:"answer"`
	AnswerID  string     `json:"answer_id"` // the answer's id and trace_id
	Refused   bool       `json:"refused"`
	Reason    *string    `json:"reason"`
	Citations []Citation `json:"citations"`
	Redacted  *string    `json:"redacted"`
}

// conversation serves GET /v1/conversations/:id to the conversation's owner.
func (s *Server) conversation(c echo.Context) error {
	conv, err := s.asker.Conversation(c.Request().Context(), c.Param("id"), ask.NewCaller(principalOf(c)))
	if err != nil {
		return conversationError(err)
	}
	resp := ConversationResponse{ID: conv.ID, CreatedAt: conv.CreatedAt, UpdatedAt: conv.UpdatedAt,
		Turns: make([]ConversationTurn, len(conv.Turns))}
	for i, t := range conv.Turns {
		ct := ConversationTurn{N: t.N, CreatedAt: t.CreatedAt, Question: t.Question, AnswerID: t.AnswerID,
			Refused: t.Refused, Citations: toCitations(t.Citations)}
		if t.Reason != "" {
			ct.Reason = ptr(t.Reason)
		}
		if t.Redacted {
			ct.Redacted = ptr(ask.RedactedTurn)
		} else {
			ct.Answer = ptr(t.Answer)
		}
		resp.Turns[i] = ct
	}
	return c.JSON(http.StatusOK, resp)
}

// deleteConversation serves DELETE /v1/conversations/:id to the conversation's owner: 204.
func (s *Server) deleteConversation(c echo.Context) error {
	if err := s.asker.DeleteConversation(c.Request().Context(), c.Param("id"), ask.NewCaller(principalOf(c))); err != nil {
		return conversationError(err)
	}
	return c.NoContent(http.StatusNoContent)
}
