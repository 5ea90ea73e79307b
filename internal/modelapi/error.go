package modelapi

import (
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Error is a call that a provider refused or never answered, as the last attempt saw it.
// Its predicates classify it; the caller's package turns them into its own errors, with
// hints of its own.
type Error struct {
	Status     int           // the HTTP status; 0 when no answer came
	Message    string        // the server's message, one line, without the API key
	Attempts   int           // attempts made, retries included
	RetryAfter time.Duration // the wait the server asked for; 0 when it did not say
	Err        error         // why no answer came, when Status is 0
}

func (e *Error) Error() string {
	if e.Status == 0 {
		return fmt.Sprintf("no answer after %s: %v", Attempts(e.Attempts), e.Err)
	}
	return fmt.Sprintf("HTTP %d: %s", e.Status, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// Unauthorized: the server refused the API key, or wants one (HTTP 401, 403).
func (e *Error) Unauthorized() bool {
	return e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden
}

// ModelNotFound: nothing answers at that path (HTTP 404), or the server says it does not
// know the model, which some send with 400.
func (e *Error) ModelNotFound() bool {
	if e.Status == http.StatusNotFound {
		return true
	}
	m := strings.ToLower(e.Message)
	return e.Status >= 400 && strings.Contains(m, "model") &&
		(strings.Contains(m, "not found") || strings.Contains(m, "not exist") || strings.Contains(m, "unknown model"))
}

// TooLarge: the server refused the input as too large: HTTP 413, or a 400 that says so
// (Cohere's "too many tokens", vLLM's "maximum context length").
func (e *Error) TooLarge() bool {
	if e.Status == http.StatusRequestEntityTooLarge {
		return true
	}
	m := strings.ToLower(e.Message)
	for _, s := range []string{"too many tokens", "too long", "too large", "maximum context length", "exceeds the maximum", "payload limit"} {
		if e.Status >= 400 && strings.Contains(m, s) {
			return true
		}
	}
	return false
}

// Overloaded: the server is rate-limiting (HTTP 429) or unavailable (503).
func (e *Error) Overloaded() bool { return Overloaded(e.Status) }

// Failing: no answer, or one that may pass: rate-limiting (429) or a server error (5xx).
func (e *Error) Failing() bool { return e.Status == 0 || Failing(e.Status) }

// Overloaded tells whether status is 429 or 503: the server asks to be called later.
func Overloaded(status int) bool {
	return status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable
}

// Failing tells whether status is 429 or any 5xx: the server may answer a repeated request.
func Failing(status int) bool {
	return status == http.StatusTooManyRequests || status >= 500
}

// Attempts is "1 attempt" or "n attempts".
func Attempts(n int) string {
	if n == 1 {
		return "1 attempt"
	}
	return fmt.Sprintf("%d attempts", n)
}
