// Package api is Docent's HTTP API on echo: routes, handlers and the mapping of errors to
// status codes and a stable JSON body, {"error": {"code": "...", "message": "..."}}.
//
// Today it serves the operational endpoints (/healthz, /readyz); the answer, search and trace
// endpoints are built on the same server.
package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/docent-rag/docent/internal/index"
)

// Config configures the API.
type Config struct {
	// ReadyTimeout bounds the database checks of /readyz.
	ReadyTimeout time.Duration
}

// Server holds the handlers' dependencies.
type Server struct {
	cfg    Config
	db     index.DBTX
	logger *slog.Logger
}

// New returns the API's echo instance with every route registered.
func New(cfg Config, db index.DBTX, logger *slog.Logger) *echo.Echo {
	if cfg.ReadyTimeout == 0 {
		cfg.ReadyTimeout = 2 * time.Second
	}
	s := &Server{cfg: cfg, db: db, logger: logger}
	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	e.HTTPErrorHandler = s.handleError
	s.routes(e)
	return e
}

// routes registers every route, in one place.
func (s *Server) routes(e *echo.Echo) {
	e.GET("/healthz", s.health)
	e.GET("/readyz", s.ready)
}

// Error is an error with an HTTP status and a stable code for API clients. Its message is
// shown to the client, so it must not carry internal details.
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// handleError writes every error as {"error": {"code", "message"}}. Only *Error and echo's
// own HTTP errors (unknown route, wrong method) reach the client with their text; anything
// else is logged and answered with a generic 500.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	var body errorBody
	status := http.StatusInternalServerError
	var apiErr *Error
	var httpErr *echo.HTTPError
	switch {
	case errors.As(err, &apiErr):
		status, body.Error.Code, body.Error.Message = apiErr.Status, apiErr.Code, apiErr.Message
	case errors.As(err, &httpErr):
		status = httpErr.Code
		body.Error.Code = codeForStatus(status)
		body.Error.Message = fmt.Sprint(httpErr.Message)
		if status >= 500 {
			body.Error.Message = http.StatusText(status)
		}
	default:
		body.Error.Code = "internal"
		body.Error.Message = "internal error"
	}
	if status >= 500 {
		s.logger.ErrorContext(c.Request().Context(), "request failed",
			"method", c.Request().Method, "path", c.Path(), "status", status, "err", err)
	}
	if err := c.JSON(status, body); err != nil {
		s.logger.DebugContext(c.Request().Context(), "write error response", "err", err)
	}
}

func codeForStatus(status int) string {
	switch status {
	case http.StatusNotFound:
		return "not_found"
	case http.StatusMethodNotAllowed:
		return "method_not_allowed"
	case http.StatusRequestEntityTooLarge:
		return "too_large"
	case http.StatusUnauthorized:
		return "unauthorized"
	case http.StatusForbidden:
		return "forbidden"
	case http.StatusTooManyRequests:
		return "rate_limited"
	}
	if status >= 500 {
		return "internal"
	}
	return "invalid_request"
}

// health answers as long as the process serves HTTP.
func (s *Server) health(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

// ready answers 200 when the server can answer questions: the database is reachable, its
// schema is the one this binary needs, and an index generation is active. Otherwise 503 with
// what is missing.
func (s *Server) ready(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), s.cfg.ReadyTimeout)
	defer cancel()
	if err := index.CheckSchema(ctx, s.db); err != nil {
		var se *index.SchemaError
		if errors.As(err, &se) {
			return &Error{Status: http.StatusServiceUnavailable, Code: "not_ready", Message: se.Error()}
		}
		s.logger.WarnContext(ctx, "readiness: database check failed", "err", err)
		return &Error{Status: http.StatusServiceUnavailable, Code: "not_ready", Message: "database unavailable"}
	}
	g, err := index.ActiveGeneration(ctx, s.db)
	switch {
	case errors.Is(err, index.ErrNotFound):
		return &Error{Status: http.StatusServiceUnavailable, Code: "not_ready",
			Message: "no active index generation: ingest documents first (`ingest run`)"}
	case err != nil:
		s.logger.WarnContext(ctx, "readiness: database check failed", "err", err)
		return &Error{Status: http.StatusServiceUnavailable, Code: "not_ready", Message: "database unavailable"}
	}
	return c.JSON(http.StatusOK, map[string]any{"status": "ready", "generation": g.ID})
}
