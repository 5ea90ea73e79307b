// Package api is Docent's HTTP API on echo: the answer, search and trace endpoints, the
// operational ones (/healthz, /readyz, /metrics, /openapi.json), the middleware that
// identifies, authenticates and limits callers, and the mapping of errors to status codes
// and a stable JSON body, {"error": {"code": "...", "message": "..."}}.
package api

import (
	"bytes"
	"cmp"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/docent-rag/docent/internal/ask"
	"github.com/docent-rag/docent/internal/auth"
	"github.com/docent-rag/docent/internal/index"
	"github.com/docent-rag/docent/internal/metrics"
	"github.com/docent-rag/docent/internal/widget"
)

// Authenticator identifies callers from their Authorization header (internal/auth).
type Authenticator interface {
	Authenticate(ctx context.Context, authorization string) (auth.Principal, error)
}

// TraceRecorder keeps traces without blocking (internal/trace): false when one was dropped.
type TraceRecorder interface {
	Record(t index.Trace) bool
}

// Config configures the API.
type Config struct {
	ReadyTimeout time.Duration // bounds /readyz's database checks; default 2s
	// Replicas are the read replicas whose state /readyz reports; nil: none.
	Replicas *index.Replicas
	// AuthTimeout bounds authenticating a request (the key or issuer lookup): a database that
	// stops answering, or a connection that died without a word, costs a request this long,
	// then 503 timeout. Default 10s.
	AuthTimeout time.Duration
	// RequestTimeout, MinEvidence, CacheSize and CacheTTL configure the use case that the API
	// serves: they are ask.Config's Timeout, MinEvidence, CacheSize and CacheTTL, with its
	// defaults and checks.
	RequestTimeout time.Duration
	MinEvidence    float64
	CacheSize      int
	CacheTTL       time.Duration
	RateLimit      float64  // requests per second per caller; 0 disables the limit
	RateBurst      int      // default 20
	CORSOrigins    []string // origins allowed to call from a browser
	MaxBodyBytes   int64    // default 64 KiB
	// TrustedProxies are the reverse proxies whose X-Forwarded-For is believed: the client is
	// the rightmost address in it that is not one of them. Empty: the TCP peer is the client,
	// and forwarding headers are ignored.
	TrustedProxies []netip.Prefix
	// AuthFailureRate and AuthFailureBurst bound failed authentications per client address:
	// AuthFailureBurst at once (default 20), then AuthFailureRate per second (default 1).
	// Beyond, the address gets 429 before its credentials are looked at.
	AuthFailureRate  float64
	AuthFailureBurst int
	// WidgetKeyRate and WidgetKeyBurst bound the requests made with one widget key (and the
	// sessions of one issuer key) from all browsers together: default 5 per second, 100 at
	// once. WidgetAddressRate and WidgetAddressBurst bound them per key and client address:
	// default one every 2 seconds, 10 at once. They apply on top of RateLimit, and are never
	// off.
	WidgetKeyRate      float64
	WidgetKeyBurst     int
	WidgetAddressRate  float64
	WidgetAddressBurst int
	// InstanceLimits keeps the rate limits above (RateLimit, the widget limits) in this
	// process only: with several server instances on one database, each then allows a caller
	// the whole limit. By default (false) they are kept in the database, shared by every
	// instance, at the cost of one statement per limit per request (docs/operations.md,
	// "Several server instances"); without a database they are always the process's own. The
	// failed-authentication limit and the preflight limit are always per instance: they bound
	// an instance's own work before it touches the database.
	InstanceLimits bool
	// Demo, when set, serves /demo and the paths below it: the demo host site that
	// `make run` turns on (internal/demo). Never set in production.
	Demo http.Handler
	// Now is the clock of the rate limits; default time.Now.
	Now func() time.Time
}

func (c *Config) defaults() {
	c.ReadyTimeout = cmp.Or(c.ReadyTimeout, 2*time.Second)
	c.AuthTimeout = cmp.Or(c.AuthTimeout, 10*time.Second)
	c.RateBurst = cmp.Or(c.RateBurst, 20)
	c.MaxBodyBytes = cmp.Or(c.MaxBodyBytes, 64<<10)
	c.AuthFailureRate = cmp.Or(c.AuthFailureRate, 1)
	c.AuthFailureBurst = cmp.Or(c.AuthFailureBurst, 20)
	c.WidgetKeyRate = cmp.Or(c.WidgetKeyRate, 5)
	c.WidgetKeyBurst = cmp.Or(c.WidgetKeyBurst, 100)
	c.WidgetAddressRate = cmp.Or(c.WidgetAddressRate, 0.5)
	c.WidgetAddressBurst = cmp.Or(c.WidgetAddressBurst, 10)
	if c.Now == nil {
		c.Now = time.Now
	}
}

func (c *Config) validate() error {
	switch {
	case c.RateLimit < 0:
		return errors.New("api config: RateLimit must not be negative")
	case c.MaxBodyBytes < 1024:
		return errors.New("api config: MaxBodyBytes must be at least 1 KiB")
	case c.AuthFailureRate < 0 || c.AuthFailureBurst < 1:
		return errors.New("api config: AuthFailureRate must not be negative and AuthFailureBurst must be at least 1")
	case c.WidgetKeyRate < 0 || c.WidgetKeyBurst < 1 || c.WidgetAddressRate < 0 || c.WidgetAddressBurst < 1:
		return errors.New("api config: widget rates must not be negative and their bursts must be at least 1")
	}
	for _, p := range c.TrustedProxies {
		if !p.IsValid() || p.Bits() == 0 {
			return fmt.Errorf("api config: TrustedProxies: %s would trust every client's X-Forwarded-For", p)
		}
	}
	return nil
}

// Server holds the handlers' dependencies.
type Server struct {
	cfg      Config
	db       ask.DB
	asker    *ask.Service
	auth     Authenticator
	traces   TraceRecorder
	metrics  *metrics.Metrics
	logger   *slog.Logger
	extra    []echo.MiddlewareFunc
	callers  taker    // requests per caller (RateLimit); nil: no limit
	failures *limiter // failed authentications per client address
	// widgetKeys and widgetAddrs limit browser-bound callers per key, and per key and address
	widgetKeys, widgetAddrs taker
	preflights              *limiter      // widget preflights per client address, at WidgetAddressRate
	sessions                SessionIssuer // nil: end-user sessions are not minted
	started                 time.Time     // the created time of the model GET /v1/models lists
}

// New returns the API's echo instance with every route registered, serving the use case
// (package ask) over r and a. extra middleware (e.g. OpenTelemetry's) runs first.
func New(cfg Config, db ask.DB, r ask.Retriever, a ask.Answerer, authn Authenticator, traces TraceRecorder,
	m *metrics.Metrics, logger *slog.Logger, extra ...echo.MiddlewareFunc) (*echo.Echo, error) {
	cfg.defaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	var conv ask.Conversations
	if db != nil {
		conv = ask.DBConversations{DB: db}
	}
	asker, err := ask.New(ask.Config{MinEvidence: cfg.MinEvidence, Timeout: cfg.RequestTimeout,
		CacheSize: cfg.CacheSize, CacheTTL: cfg.CacheTTL}, r, a, conv, m)
	if err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, db: db, asker: asker, auth: authn, traces: traces, metrics: m, logger: logger, extra: extra,
		failures:   newLimiter(cfg.AuthFailureRate, cfg.AuthFailureBurst, cfg.Now),
		preflights: newLimiter(cfg.WidgetAddressRate, cfg.WidgetAddressBurst, cfg.Now), started: cfg.Now()}
	s.sessions, _ = authn.(SessionIssuer)
	// Each limit in the database, shared by every instance, or in this process.
	newTaker := func(name string, rate float64, burst int) taker {
		if db == nil || cfg.InstanceLimits {
			return newLimiter(rate, burst, cfg.Now)
		}
		return newSharedLimiter(db, name, rate, burst, cfg.Now, logger)
	}
	s.widgetKeys = newTaker("widget-key", cfg.WidgetKeyRate, cfg.WidgetKeyBurst)
	s.widgetAddrs = newTaker("widget-address", cfg.WidgetAddressRate, cfg.WidgetAddressBurst)
	if cfg.RateLimit > 0 {
		s.callers = newTaker("caller", cfg.RateLimit, cfg.RateBurst)
	}
	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	e.HTTPErrorHandler = s.handleError
	e.IPExtractor = clientAddress(cfg.TrustedProxies)
	s.routes(e)
	return e, nil
}

//go:embed openapi.json
var openAPI []byte

// routes registers every route, in one place.
func (s *Server) routes(e *echo.Echo) {
	e.Use(middleware.RecoverWithConfig(middleware.RecoverConfig{DisablePrintStack: true,
		LogErrorFunc: func(c echo.Context, err error, stack []byte) error {
			s.logger.Error("panic serving a request", "request_id", requestIDOf(c), "err", err, "stack", string(stack))
			return err
		}}))
	e.Use(requestID())
	e.Use(s.deadline())
	e.Use(s.extra...)
	e.Use(s.accessLog())
	e.Use(s.metrics.Middleware())
	if len(s.cfg.CORSOrigins) > 0 {
		e.Use(middleware.CORSWithConfig(middleware.CORSConfig{
			AllowOrigins:  s.cfg.CORSOrigins,
			AllowMethods:  []string{http.MethodGet, http.MethodPost, http.MethodDelete, http.MethodOptions},
			AllowHeaders:  []string{echo.HeaderAuthorization, echo.HeaderContentType, echo.HeaderAccept, echo.HeaderXRequestID},
			ExposeHeaders: []string{echo.HeaderXRequestID, headerTraceID, "Retry-After"},
			MaxAge:        600,
			Skipper:       s.skipStaticCORS,
		}))
	}
	// Chat front ends send whole conversations: OpenAI's route has a larger limit of its own.
	e.Use(middleware.BodyLimitWithConfig(middleware.BodyLimitConfig{Limit: fmt.Sprintf("%dB", s.cfg.MaxBodyBytes),
		Skipper: func(c echo.Context) bool { return c.Path() == chatRoute }}))

	e.GET("/healthz", s.health)
	e.GET("/readyz", s.ready)
	e.GET("/metrics", echo.WrapHandler(s.metrics.Handler()))
	e.GET("/openapi.json", func(c echo.Context) error { return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, openAPI) })
	e.GET("/widget.js", echo.WrapHandler(http.HandlerFunc(widget.ServeHTTP)))

	// Route by route rather than as a group: a group's middleware would also run for the
	// group's unknown paths and methods, turning a 405 into a 401 or a 404.
	authenticated := []echo.MiddlewareFunc{s.authenticate(), s.callerPolicy(), s.rateLimit()}
	e.POST("/v1/answer", s.answer, authenticated...)
	e.POST("/v1/search", s.search, authenticated...)
	e.POST("/v1/answers/:id/feedback", s.feedback, authenticated...)
	e.GET("/v1/conversations/:id", s.conversation, authenticated...)
	e.DELETE("/v1/conversations/:id", s.deleteConversation, authenticated...)
	e.POST(sessionsRoute, s.createSession, authenticated...)
	for _, path := range widgetRoutes {
		e.OPTIONS(path, s.widgetPreflight)
	}
	e.GET("/v1/chunks/:id", s.chunk, authenticated...)
	e.POST(chatRoute, s.chatCompletions, append([]echo.MiddlewareFunc{
		middleware.BodyLimit(fmt.Sprintf("%dB", s.chatBodyLimit()))}, authenticated...)...)
	e.GET("/v1/models", s.models, authenticated...)
	e.GET("/v1/models/:id", s.model, authenticated...)
	admins := append(slices.Clone(authenticated), admin)
	e.GET("/v1/traces", s.findTraces, admins...)
	e.GET("/v1/traces/:id", s.trace, admins...)
	if s.cfg.Demo != nil {
		demo := echo.WrapHandler(s.cfg.Demo)
		e.Any("/demo", demo)
		e.Any("/demo/*", demo)
	}
}

// Error is an error with an HTTP status and a stable code for API clients. Its message is
// shown to the client, so it must not carry internal details.
type Error struct {
	Status  int
	Code    string
	Field   string // the request field at fault, for 400s
	Reason  string // why authentication failed, for 401s (auth's Reason constants)
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
	Reason  string `json:"reason,omitempty"`
}

// publicError returns the body a client may see for err (see classify).
func (s *Server) publicError(c echo.Context, err error) errorBody {
	_, body := s.classify(c, err)
	return body
}

// classify is the one place where errors become statuses: *Error and echo's own HTTP errors
// with their text; a deadline as 503 timeout; the database unreachable (a lost connection, a
// restart, too many connections: see unavailable) as 503 unavailable, for the client to
// retry; anything else, a statement that failed included, as a generic 500, logged with the
// request id.
//
// Lost connections are recognised by their type, not by who made them: an embedding or
// reranking provider that cannot be reached mid-request is a 503 too, which is also right.
func (s *Server) classify(c echo.Context, err error) (int, errorBody) {
	var body errorBody
	var apiErr *Error
	var httpErr *echo.HTTPError
	ctx := c.Request().Context()
	switch {
	case errors.As(err, &apiErr):
		body.Error = errorDetail{Code: apiErr.Code, Message: apiErr.Message, Field: apiErr.Field, Reason: apiErr.Reason}
		return apiErr.Status, body
	case errors.As(err, &httpErr):
		status := httpErr.Code
		body.Error = errorDetail{Code: codeForStatus(status), Message: fmt.Sprint(httpErr.Message)}
		if status == http.StatusRequestEntityTooLarge {
			limit := s.cfg.MaxBodyBytes
			if c.Path() == chatRoute {
				limit = s.chatBodyLimit()
			}
			body.Error.Message = fmt.Sprintf("the request body is larger than %d bytes", limit)
		}
		if status >= 500 {
			body.Error.Message = http.StatusText(status)
		}
		return status, body
	case errors.Is(err, context.DeadlineExceeded):
		body.Error = errorDetail{Code: "timeout", Message: "the request took too long"}
		return http.StatusServiceUnavailable, body
	case errors.Is(err, context.Canceled) && ctx.Err() != nil:
		// The client went away: nobody reads this, and it is not a failure of ours.
		body.Error = errorDetail{Code: "canceled", Message: "the request was cancelled"}
		return http.StatusServiceUnavailable, body
	case unavailable(err):
		s.logger.WarnContext(ctx, "request failed: unreachable", "request_id", requestIDOf(c),
			"method", c.Request().Method, "route", c.Path(), "err", err)
		body.Error = errorDetail{Code: "unavailable", Message: "the database (or another service this server needs) is unreachable: retry in a few seconds"}
		return http.StatusServiceUnavailable, body
	}
	s.logger.ErrorContext(ctx, "request failed", "request_id", requestIDOf(c),
		"method", c.Request().Method, "route", c.Path(), "err", err)
	body.Error = errorDetail{Code: "internal", Message: "internal error (request " + requestIDOf(c) + ")"}
	return http.StatusInternalServerError, body
}

// handleError writes every error as {"error": {"code", "message"}}, or in OpenAI's shape on
// OpenAI's routes (openAIRoutes).
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	status, body := s.classify(c, err)
	if body.Error.Code == "unavailable" || body.Error.Code == "timeout" {
		c.Response().Header().Set("Retry-After", retryAfterUnavailable)
	}
	if status == http.StatusUnauthorized {
		s.corsForRefusal(c)
	}
	var out any = body
	if slices.Contains(openAIRoutes, c.Path()) {
		out = toOpenAIError(status, body)
	}
	if err := c.JSON(status, out); err != nil {
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
	case http.StatusUnsupportedMediaType:
		return "unsupported_media_type"
	}
	if status >= 500 {
		return "internal"
	}
	return "invalid_request"
}

// decode reads a JSON body strictly: a Content-Type other than application/json is a 415;
// invalid UTF-8 (lone surrogate escapes included), unknown fields, trailing data, and strings
// with NUL or other control characters are 400s naming what is wrong; an oversized body is a
// 413 (the body limit middleware).
func decode(c echo.Context, v any) error {
	return decodeJSON(c, v, true)
}

// decodeJSON is decode, with unknown fields refused when strict and ignored otherwise.
func decodeJSON(c echo.Context, v any, strict bool) error {
	if err := checkContentType(c.Request().Header.Values(echo.HeaderContentType)); err != nil {
		return err
	}
	data, err := io.ReadAll(c.Request().Body)
	if err != nil {
		var tooLarge *echo.HTTPError
		if errors.As(err, &tooLarge) {
			return tooLarge
		}
		return invalid("body", "could not be read")
	}
	if err := checkEncoding(data); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if strict {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(v); err != nil {
		var tooLarge *echo.HTTPError
		var syntax *json.SyntaxError
		var typeErr *json.UnmarshalTypeError
		switch {
		case errors.As(err, &tooLarge):
			return tooLarge
		case errors.Is(err, io.EOF):
			return invalid("body", "empty: send a JSON object")
		case errors.As(err, &syntax):
			return invalid("body", "not valid JSON (at byte %d)", syntax.Offset)
		case errors.As(err, &typeErr):
			return invalid(typeErr.Field, "must be %s", typeErr.Type.String())
		}
		return invalid("body", "%s", err.Error())
	}
	if dec.More() {
		return invalid("body", "one JSON object expected")
	}
	return checkStrings(v)
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
	body := map[string]any{"status": "ready", "generation": g.ID}
	if s.cfg.Replicas != nil {
		// The primary serves whatever the replicas cannot: their state does not make the
		// server unready, it says where reads go.
		body["replicas"] = replicaStates(s.cfg.Replicas.Status())
	}
	return c.JSON(http.StatusOK, body)
}

// replicaState is a read replica's state as /readyz reports it.
type replicaState struct {
	Name       string  `json:"name"`
	Address    string  `json:"address"`
	InUse      bool    `json:"in_use"`
	Reason     string  `json:"reason,omitempty"`
	Detail     string  `json:"detail,omitempty"`
	Staleness  float64 `json:"staleness_seconds"`
	Generation int     `json:"generation,omitempty"`
	CheckedAt  *string `json:"checked_at"`
}

func replicaStates(sts []index.ReplicaStatus) []replicaState {
	out := make([]replicaState, len(sts))
	for i, st := range sts {
		out[i] = replicaState{Name: st.Name, Address: st.Address, InUse: st.InUse, Reason: st.Reason, Detail: st.Detail,
			Staleness: st.Staleness.Seconds(), Generation: st.Generation}
		if !st.CheckedAt.IsZero() {
			at := st.CheckedAt.UTC().Format(time.RFC3339Nano)
			out[i].CheckedAt = &at
		}
	}
	return out
}
