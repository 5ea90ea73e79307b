package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"regexp"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"golang.org/x/time/rate"

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

// accessLog logs every request after it is served: route template, status, duration, caller
// kind. Never the token, the question or the body.
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
				"status", status, "duration_ms", float64(time.Since(start).Microseconds()) / 1000}
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
func (s *Server) authenticate() echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := time.Now()
			p, err := s.auth.Authenticate(c.Request().Context(), c.Request().Header.Get(echo.HeaderAuthorization))
			s.metrics.ObserveStep("auth", time.Since(start))
			if err != nil {
				c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="docent"`)
				var ae *auth.Error
				if errors.As(err, &ae) {
					return &Error{Status: http.StatusUnauthorized, Code: "unauthorized", Message: ae.Error()}
				}
				if errors.Is(err, context.Canceled) {
					return err
				}
				s.logger.ErrorContext(c.Request().Context(), "authentication failed", "request_id", requestIDOf(c), "err", err)
				return &Error{Status: http.StatusServiceUnavailable, Code: "unavailable", Message: "authentication is unavailable"}
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

// rateLimit limits each caller (API key, JWT subject, or address for anonymous callers)
// with a token bucket; a caller over it gets 429 with Retry-After.
func (s *Server) rateLimit() echo.MiddlewareFunc {
	if s.cfg.RateLimit <= 0 {
		return func(next echo.HandlerFunc) echo.HandlerFunc { return next }
	}
	store := middleware.NewRateLimiterMemoryStoreWithConfig(middleware.RateLimiterMemoryStoreConfig{
		Rate: rate.Limit(s.cfg.RateLimit), Burst: s.cfg.RateBurst, ExpiresIn: 10 * time.Minute,
	})
	retryAfter := strconv.Itoa(int(math.Ceil(1 / s.cfg.RateLimit)))
	return middleware.RateLimiterWithConfig(middleware.RateLimiterConfig{
		Store: store,
		IdentifierExtractor: func(c echo.Context) (string, error) {
			p := principalOf(c)
			if p.Kind == "anonymous" || p.Kind == "" {
				return "ip:" + c.RealIP(), nil
			}
			return p.Kind + ":" + p.Subject, nil
		},
		DenyHandler: func(c echo.Context, _ string, _ error) error {
			s.metrics.RateLimited()
			c.Response().Header().Set("Retry-After", retryAfter)
			return &Error{Status: http.StatusTooManyRequests, Code: "rate_limited", Message: "too many requests: retry after " + retryAfter + "s"}
		},
		ErrorHandler: func(c echo.Context, err error) error {
			return &Error{Status: http.StatusInternalServerError, Code: "internal", Message: "internal error"}
		},
	})
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
