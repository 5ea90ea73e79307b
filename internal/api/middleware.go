package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/docent-rag/docent/internal/auth"
)

// Context keys of the values middleware passes to handlers.
const (
	keyRequestID = "docent.request_id"
	keyPrincipal = "docent.principal"
	keyStart     = "docent.start"
)

// validRequestID is what an incoming X-Request-ID may look like to be kept: anything else
// (too long, odd characters that could forge log lines) is replaced.
var validRequestID = regexp.MustCompile(`^[A-Za-z0-9._:-]{8,64}$`)

// requestID gives every request an id: a valid incoming X-Request-ID, or a new one. It is
// sent back in X-Request-ID, used as the trace id and logged with every line.
func requestID() echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			id := c.Request().Header.Get(echo.HeaderXRequestID)
			if !validRequestID.MatchString(id) {
				id = newID()
			}
			c.Set(keyRequestID, id)
			c.Set(keyStart, time.Now())
			c.Response().Header().Set(echo.HeaderXRequestID, id)
			return next(c)
		}
	}
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b[:])
}

func requestIDOf(c echo.Context) string {
	id, _ := c.Get(keyRequestID).(string)
	return id
}

// accessLog logs every request after it is served: route template, status, duration, client
// address, caller kind. Never the token, the question or the body.
func (s *Server) accessLog() echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := time.Now()
			err := next(c)
			if err != nil {
				c.Error(err)
			}
			status := c.Response().Status
			attrs := []any{"request_id", requestIDOf(c), "method", c.Request().Method, "route", c.Path(),
				"status", status, "duration_ms", float64(time.Since(start).Microseconds()) / 1000, "client", c.RealIP()}
			if p, ok := c.Get(keyPrincipal).(auth.Principal); ok {
				attrs = append(attrs, "caller", p.Kind+":"+p.Subject)
			}
			level := slog.LevelInfo
			if c.Path() == "/healthz" || c.Path() == "/readyz" || c.Path() == "/metrics" {
				level = slog.LevelDebug
			}
			s.logger.Log(c.Request().Context(), level, "request", attrs...)
			return nil
		}
	}
}

// authenticate resolves the caller from the Authorization header; unauthenticated
// requests get 401 with a reason that says nothing about the token.
//
// Failed authentications are limited per client address (not per key, so that nobody can
// lock another's key out): once an address has failed AuthFailureBurst times faster than
// AuthFailureRate per second, its requests get 429 before their credentials are looked at,
// so that a flood of made-up keys costs no database lookups and fills no logs.
func (s *Server) authenticate() echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			addr := addressKey(c.RealIP())
			if ok, wait := s.failures.ready(addr); !ok {
				s.metrics.RateLimited()
				return tooMany(c, wait, "too many failed authentications from this address")
			}
			start := time.Now()
			ctx, cancel := context.WithTimeout(c.Request().Context(), s.cfg.AuthTimeout)
			p, err := s.auth.Authenticate(ctx, c.Request().Header.Get(echo.HeaderAuthorization))
			cancel()
			s.metrics.ObserveStep("auth", time.Since(start))
			if err != nil {
				c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="docent"`)
				var ae *auth.Error
				if errors.As(err, &ae) {
					s.failures.charge(addr)
					return &Error{Status: http.StatusUnauthorized, Code: "unauthorized", Reason: ae.Reason, Message: ae.Error()}
				}
				// Not the caller's fault: the key store failed (503 when the database is
				// unreachable, see classify) or the request was cancelled.
				return fmt.Errorf("authenticate: %w", err)
			}
			c.Set(keyPrincipal, p)
			return next(c)
		}
	}
}

func principalOf(c echo.Context) auth.Principal {
	p, _ := c.Get(keyPrincipal).(auth.Principal)
	return p
}

// rateLimit limits each caller with a token bucket: an API key by its id, a JWT by its user
// tag, an end-user session by its issuer and user, an anonymous caller by its address (see clientAddress and addressKey). A caller over
// the limit gets 429 with Retry-After.
func (s *Server) rateLimit() echo.MiddlewareFunc {
	if s.callers == nil {
		return func(next echo.HandlerFunc) echo.HandlerFunc { return next }
	}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if ok, wait := s.callers.take(c.Request().Context(), callerKey(c)); !ok {
				s.metrics.RateLimited()
				return tooMany(c, wait, "too many requests")
			}
			return next(c)
		}
	}
}

// callerKey identifies a caller for the rate limit.
func callerKey(c echo.Context) string {
	p := principalOf(c)
	switch p.Kind {
	case auth.KindAPIKey, auth.KindWidgetKey, auth.KindSessionIssuer:
		return "key:" + strconv.FormatInt(p.KeyID, 10)
	case auth.KindSession:
		// One end user of one issuer.
		return "session:" + strconv.FormatInt(p.KeyID, 10) + ":" + p.Subject
	case auth.KindJWT:
		// The user tag, canonical: "KATE" and "kate" are one caller.
		for _, tag := range p.Principals {
			if strings.HasPrefix(tag, "user:") {
				return "jwt:" + tag
			}
		}
		return "jwt-sub:" + p.Subject
	}
	return "addr:" + addressKey(c.RealIP())
}

// admin lets only admins through.
func admin(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if !principalOf(c).Admin {
			return &Error{Status: http.StatusForbidden, Code: "forbidden", Message: "this endpoint is for admins"}
		}
		return next(c)
	}
}

// deadline bounds every request: whatever a handler waits for (the database, a model, a
// connection that died without a word), the request ends within the use case's timeout and a
// margin to write its answer. Answers and searches have their own deadline inside it
// (ask.Config.Timeout); a stream that outlives it is cut.
func (s *Server) deadline() echo.MiddlewareFunc {
	limit := s.asker.Timeout() + 5*time.Second
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			ctx, cancel := context.WithTimeout(c.Request().Context(), limit)
			defer cancel()
			c.SetRequest(c.Request().WithContext(ctx))
			return next(c)
		}
	}
}
