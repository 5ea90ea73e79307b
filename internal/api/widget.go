package api

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/docent-rag/docent/internal/auth"
	"github.com/docent-rag/docent/internal/index"
)

// Widget keys and end-user sessions (docs/widget.md): who may call which route from where.

// widgetRoutes are the routes a browser-bound caller (a publishable widget key or an end-user
// session) may call, by route template: asking, rating its own answers, restoring and
// deleting its own conversations, and opening a cited passage (each permission checked as
// for any caller). Everything else (search, traces, sessions, chat completions) answers such
// a caller 403, and a preflight for a route not listed here is not answered with CORS
// headers for widget origins.
var widgetRoutes = []string{
	"/v1/answer",
	"/v1/answers/:id/feedback",
	"/v1/conversations/:id",
	"/v1/chunks/:id",
}

// sessionsRoute mints end-user sessions; only session issuer keys may call it, and they may
// call nothing else.
const sessionsRoute = "/v1/widget/sessions"

// SessionIssuer mints end-user sessions (auth.Authenticator does).
type SessionIssuer interface {
	IssueSession(ctx context.Context, issuer auth.Principal, req auth.SessionRequest) (auth.Session, error)
}

// corsAllowHeaders are the request headers a widget may send.
const corsAllowHeaders = "Authorization, Content-Type, Accept, X-Request-ID"

func forbidden(code, message string) *Error {
	return &Error{Status: http.StatusForbidden, Code: code, Message: message}
}

// callerPolicy lets each kind of caller through to its routes only. A session issuer key may
// only mint sessions; only it may. A widget key or session may only call the widget's routes,
// and only with an Origin header (not "null") that is one of its origins: then, and only
// then, the response carries CORS headers for that origin, and the request is counted
// against the key's limits (per key, and per key and client address).
func (s *Server) callerPolicy() echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			p := principalOf(c)
			path := c.Path()
			switch {
			case p.Kind == auth.KindSessionIssuer:
				if path != sessionsRoute {
					return forbidden("forbidden_route", "a session issuer key may only mint sessions (POST "+sessionsRoute+")")
				}
			case p.BrowserBound():
				if !slices.Contains(widgetRoutes, path) {
					return forbidden("forbidden_route", "a widget key or session may only call "+strings.Join(widgetRoutes, ", "))
				}
				c.Response().Header().Add(echo.HeaderVary, echo.HeaderOrigin)
				origin, ok := browserOrigin(c)
				if !ok {
					return forbidden("forbidden_origin", "a widget key or session is accepted only from a web page on one of its origins: this request has no Origin header, or a null or invalid one")
				}
				if !slices.Contains(p.Origins, origin) {
					return forbidden("forbidden_origin", "origin "+origin+" is not one of the origins of this key or session")
				}
				h := c.Response().Header()
				h.Set(echo.HeaderAccessControlAllowOrigin, origin)
				h.Set(echo.HeaderAccessControlExposeHeaders, strings.Join([]string{echo.HeaderXRequestID, headerTraceID, "Retry-After"}, ", "))
				key := strconv.FormatInt(p.KeyID, 10)
				if ok, wait := s.widgetKeys.take(c.Request().Context(), key); !ok {
					s.metrics.RateLimited()
					return tooMany(c, wait, "too many requests for this widget key")
				}
				if ok, wait := s.widgetAddrs.take(c.Request().Context(), key+"|"+addressKey(c.RealIP())); !ok {
					s.metrics.RateLimited()
					return tooMany(c, wait, "too many requests from this address")
				}
			case path == sessionsRoute:
				return forbidden("forbidden_route", "only a session issuer key may mint sessions (server keys create --session-issuer)")
			}
			return next(c)
		}
	}
}

// browserOrigin returns the web origin a request comes from: its Origin header, in normal
// form (auth.RequestOrigin); or, for a same-origin request without one (browsers omit Origin
// on a same-origin GET), the server's own origin as the browser addressed it, which the
// browser vouches for with Sec-Fetch-Site: same-origin (a header no page can set or forge).
// ok is false for no origin, "null", or an invalid one.
func browserOrigin(c echo.Context) (string, bool) {
	r := c.Request()
	if o := r.Header.Get(echo.HeaderOrigin); o != "" {
		return auth.RequestOrigin(o)
	}
	if r.Header.Get("Sec-Fetch-Site") != "same-origin" {
		return "", false
	}
	scheme := "http"
	if r.TLS != nil || c.Scheme() == "https" {
		scheme = "https"
	}
	return auth.RequestOrigin(scheme + "://" + r.Host)
}

// corsForRefusal lets the widget read a 401 on one of its routes (an expired or revoked
// session, a revoked key), so that it can say so or fetch a new session rather than report a
// network failure: the response gets CORS headers for the request's origin when a live widget
// or session issuer key lists it, or DOCENT_CORS_ORIGINS does (widget JWTs), as its preflight
// was answered. A refusal carries nothing but its reason; any other origin gets none.
func (s *Server) corsForRefusal(c echo.Context) {
	h := c.Response().Header()
	if !slices.Contains(widgetRoutes, c.Path()) || h.Get(echo.HeaderAccessControlAllowOrigin) != "" {
		return
	}
	origin, ok := auth.RequestOrigin(c.Request().Header.Get(echo.HeaderOrigin))
	if !ok {
		return
	}
	allowed := slices.Contains(s.cfg.CORSOrigins, origin)
	if !allowed {
		var err error
		if allowed, err = index.OriginAllowed(c.Request().Context(), s.db, origin); err != nil {
			s.logger.WarnContext(c.Request().Context(), "look up a refused request's origin", "err", err)
			return
		}
	}
	h.Add(echo.HeaderVary, echo.HeaderOrigin)
	if allowed {
		h.Set(echo.HeaderAccessControlAllowOrigin, origin)
		h.Set(echo.HeaderAccessControlExposeHeaders, strings.Join([]string{echo.HeaderXRequestID, headerTraceID, "Retry-After"}, ", "))
	}
}

// skipStaticCORS reports whether the configured CORS allow-list (Config.CORSOrigins) stays
// out of a request: one to a widget route from an origin it does not list, which the widget's
// own CORS handling answers (callerPolicy, widgetPreflight).
func (s *Server) skipStaticCORS(c echo.Context) bool {
	return slices.Contains(widgetRoutes, c.Path()) &&
		!slices.Contains(s.cfg.CORSOrigins, c.Request().Header.Get(echo.HeaderOrigin))
}

// widgetPreflight answers a CORS preflight on a widget route. A preflight carries no
// credentials, so it is answered for an origin that some live widget or session issuer key
// lists; the request itself is then checked against its own key's origins (callerPolicy).
// Any other origin gets 403 without CORS headers, which the browser treats as a refusal.
// Preflights are limited per client address, as they cost a database lookup.
func (s *Server) widgetPreflight(c echo.Context) error {
	h := c.Response().Header()
	h.Add(echo.HeaderVary, echo.HeaderOrigin)
	if ok, wait := s.preflights.takeLocal(addressKey(c.RealIP())); !ok {
		s.metrics.RateLimited()
		return tooMany(c, wait, "too many preflight requests from this address")
	}
	origin, ok := auth.RequestOrigin(c.Request().Header.Get(echo.HeaderOrigin))
	if !ok {
		return forbidden("forbidden_origin", "a preflight needs an Origin header that is not null")
	}
	allowed, err := index.OriginAllowed(c.Request().Context(), s.db, origin)
	if err != nil {
		return err
	}
	if !allowed {
		return forbidden("forbidden_origin", "origin "+origin+" is not an origin of any widget key")
	}
	h.Set(echo.HeaderAccessControlAllowOrigin, origin)
	h.Set(echo.HeaderAccessControlAllowMethods, "GET, POST, DELETE, OPTIONS")
	h.Set(echo.HeaderAccessControlAllowHeaders, corsAllowHeaders)
	h.Set(echo.HeaderAccessControlMaxAge, "600")
	return c.NoContent(http.StatusNoContent)
}

// SessionRequest is the body of POST /v1/widget/sessions.
type SessionRequest struct {
	User       string   `json:"user"`
	Groups     []string `json:"groups"`
	TTLSeconds int      `json:"ttl_seconds"`
}

// SessionResponse is a minted end-user session.
type SessionResponse struct {
	Token      string    `json:"token"`
	ExpiresAt  time.Time `json:"expires_at"`
	ExpiresIn  int       `json:"expires_in"` // seconds
	Principals []string  `json:"principals"`
	Origins    []string  `json:"origins"`
}

// createSession mints an end-user session for the issuer key's user (auth.IssueSession has
// the rule). The token is shown once and never cached.
func (s *Server) createSession(c echo.Context) error {
	var req SessionRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	if req.TTLSeconds < 0 || req.TTLSeconds > int(auth.MaxSessionTTL.Seconds()) {
		return invalid("ttl_seconds", "must be between 60 and %d (0: the maximum)", int(auth.MaxSessionTTL.Seconds()))
	}
	if s.sessions == nil {
		return forbidden("sessions_disabled", "end-user sessions are not enabled on this server")
	}
	sess, err := s.sessions.IssueSession(c.Request().Context(), principalOf(c), auth.SessionRequest{
		User: req.User, Groups: req.Groups, TTL: time.Duration(req.TTLSeconds) * time.Second})
	var ge *auth.GrantError
	if errors.As(err, &ge) {
		if ge.Forbidden {
			return &Error{Status: http.StatusForbidden, Code: "forbidden", Field: ge.Field, Message: ge.Message}
		}
		return &Error{Status: http.StatusBadRequest, Code: "invalid_request", Field: ge.Field, Message: ge.Message}
	}
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
	return c.JSON(http.StatusCreated, SessionResponse{Token: sess.Token, ExpiresAt: sess.ExpiresAt,
		ExpiresIn: int(sess.ExpiresAt.Sub(s.cfg.Now()).Round(time.Second).Seconds()), Principals: sess.Principals, Origins: sess.Origins})
}
