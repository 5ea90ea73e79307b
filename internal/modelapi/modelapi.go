// Package modelapi is what every client of a model provider shares, whatever speaks the
// provider's wire format: langchaingo's OpenAI and Ollama clients (embeddings, chat) or this
// project's own TEI and Cohere reranker clients. langchaingo has no timeouts per attempt, no
// retries and reduces HTTP failures to strings; a Client adds them under it, in one place:
//
//   - a deadline per attempt, the body of a successful answer read whole within it (or left
//     streaming, for chat), an error answer read up to 64 KiB;
//   - retries of the answers and failures that may pass (which ones is the caller's
//     policy), with capped exponential backoff and jitter or the server's Retry-After, never
//     past the caller's deadline;
//   - the Authorization header: "Bearer <APIKey>", or none at all;
//   - what happened, per call (a Call), classified by Failure into an *Error that the
//     caller's package turns into its own errors, with the server's message on one line
//     and the API key kept out of it and out of the logs.
//
// A langchaingo client gets an *http.Client made for one call (Client.HTTPClient), so the
// outcome of that call is recorded in a value the caller holds, not passed back through
// the request's context.
package modelapi

import (
	"context"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// MaxRetryAfter is the longest wait a server may ask for and be heeded. Longer (in seconds,
// milliseconds or as a date) is taken for a broken header and ignored, as if absent: no
// client here can wait that long (the embedders cap any wait at RetryMaxDelay, the
// rerankers at their deadline), and a chat client passes the wait on to its own callers.
const MaxRetryAfter = 24 * time.Hour

// RetryAfter parses the wait a server asks for: OpenAI's Retry-After-Ms (preferred, being
// finer), else Retry-After in seconds or as an HTTP date. It reports false when there is
// none, when it is malformed or negative, or beyond MaxRetryAfter.
func RetryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	if v := strings.TrimSpace(h.Get("Retry-After-Ms")); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms >= 0 && ms <= float64(MaxRetryAfter/time.Millisecond) {
			return time.Duration(ms * float64(time.Millisecond)), true
		}
	}
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		if s < 0 || s > int64(MaxRetryAfter/time.Second) {
			return 0, false
		}
		return time.Duration(s) * time.Second, true
	}
	if at, err := http.ParseTime(v); err == nil {
		if d := at.Sub(now); d <= MaxRetryAfter {
			return max(d, 0), true
		}
	}
	return 0, false
}

// Backoff is the wait before retry number attempt (1 for the first) when the server did not
// say: "equal jitter", uniform between half and all of min(maxDelay, base·2^(attempt-1)).
// The random half spreads out clients that failed together; the fixed half gives a server
// that just refused a moment to recover.
func Backoff(attempt int, base, maxDelay time.Duration) time.Duration {
	ceiling := maxDelay
	if shift := attempt - 1; shift >= 0 && shift < 32 && base<<shift > 0 && base<<shift < maxDelay {
		ceiling = base << shift
	}
	return ceiling/2 + rand.N(ceiling/2+1)
}

// Sleep waits for d or until ctx is done.
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}
