package embed

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/docent-rag/docent/internal/modelapi"
)

// maxResponseBytes bounds what one response may hold. A batch of 2,048 vectors of 4,000
// dimensions in JSON is about 180 MB, far beyond the defaults (96 texts: a few MB).
const maxResponseBytes = 256 << 20

// retryTransport is the http.RoundTripper under langchaingo's clients. It gives every
// attempt its own deadline, retries what may succeed later (HTTP 429 and 5xx, network
// errors, timeouts) with capped exponential backoff and full jitter or the server's
// Retry-After, and reads each response whole, within the attempt's deadline.
//
// langchaingo's clients reduce HTTP failures to strings (the OpenAI client even replaces
// transport errors with a fixed text), so the transport records what happened in the
// exchange found in the request's context, from which the embedder builds its error.
type retryTransport struct {
	base       http.RoundTripper
	timeout    time.Duration // per attempt, including reading the body
	maxRetries int           // attempts after the first
	baseDelay  time.Duration // backoff ceiling after the first failure, doubled after each
	maxDelay   time.Duration // cap on the backoff and on Retry-After
	stripAuth  bool          // no API key is configured: send no Authorization header
	secret     string        // the API key, removed from any server message kept
	// check validates a successful response body and may rewrite it; nil accepts any.
	check  func(body []byte) ([]byte, error)
	logger *slog.Logger
	kind   string // for log lines
}

// errAttemptTimeout reports that one attempt ran out of time while the caller's context
// had time left, which is worth a retry.
type errAttemptTimeout struct{ after time.Duration }

func (e errAttemptTimeout) Error() string {
	return fmt.Sprintf("no complete response within %s", e.after)
}

func (errAttemptTimeout) Unwrap() error { return context.DeadlineExceeded }

// errTooLarge is a response bigger than maxResponseBytes.
var errTooLarge = fmt.Errorf("response larger than %d bytes", maxResponseBytes)

// RoundTrip implements http.RoundTripper.
func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	ex := exchangeFrom(ctx)
	if t.stripAuth && req.Header.Get("Authorization") != "" {
		req = req.Clone(ctx)
		req.Header.Del("Authorization")
	}
	resendable := req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
	for attempt := 1; ; attempt++ {
		resp, err := t.try(req, attempt)
		if cerr := ctx.Err(); cerr != nil {
			// The caller gave up (or its deadline passed): no retry, and its reason wins.
			ex.fail(attempt, cerr)
			return nil, cerr
		}
		delay, retry := time.Duration(0), false
		if err != nil {
			ex.fail(attempt, err)
			retry = retryableError(err)
			delay = t.backoff(attempt)
		} else {
			ex.answer(attempt, resp.StatusCode, t.message(resp))
			if retry = resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500; retry {
				delay = t.delay(attempt, resp.Header, time.Now())
			}
		}
		if retry && resendable && attempt <= t.maxRetries {
			if deadline, ok := ctx.Deadline(); !ok || time.Until(deadline) > delay {
				t.logRetry(ctx, req, attempt, resp, err, delay)
				if err := modelapi.Sleep(ctx, delay); err != nil {
					ex.fail(attempt, err)
					return nil, err
				}
				continue
			}
			// Waiting would outlive the caller's deadline: report this failure instead of
			// a bare "deadline exceeded".
		}
		if err != nil {
			return nil, err
		}
		if resp.StatusCode/100 == 2 && t.check != nil {
			if err := t.rewrite(resp); err != nil {
				ex.badResponse(err)
			}
		}
		return resp, nil
	}
}

// try makes one attempt and returns the response with its body read whole.
func (t *retryTransport) try(req *http.Request, attempt int) (*http.Response, error) {
	ctx, cancel := context.WithTimeout(req.Context(), t.timeout)
	defer cancel()
	r := req.WithContext(ctx)
	if attempt > 1 && r.Body != nil && r.Body != http.NoBody {
		body, err := req.GetBody()
		if err != nil {
			return nil, fmt.Errorf("resend request body: %w", err)
		}
		r.Body = body
	}
	resp, err := t.base.RoundTrip(r)
	if err != nil {
		return nil, t.timedOut(ctx, req, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read response: %w", t.timedOut(ctx, req, err))
	}
	if len(body) > maxResponseBytes {
		return nil, errTooLarge
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	return resp, nil
}

// timedOut replaces err by errAttemptTimeout when the attempt's own deadline, not the
// caller's context, ended it.
func (t *retryTransport) timedOut(attemptCtx context.Context, req *http.Request, err error) error {
	if errors.Is(attemptCtx.Err(), context.DeadlineExceeded) && req.Context().Err() == nil {
		return errAttemptTimeout{after: t.timeout}
	}
	return err
}

// rewrite passes the body of a successful response through t.check.
func (t *retryTransport) rewrite(resp *http.Response) error {
	body, err := io.ReadAll(resp.Body) // an in-memory reader: cannot fail
	if err != nil {
		return err
	}
	fixed, err := t.check(body)
	if err != nil {
		fixed = body // let the client see what came; the exchange records the fault
	}
	resp.Body = io.NopCloser(bytes.NewReader(fixed))
	resp.ContentLength = int64(len(fixed))
	return err
}

// retryableError tells whether a failed attempt may succeed when repeated: network errors
// and timeouts may, a bad certificate or an oversized answer will not.
func retryableError(err error) bool {
	var certErr *tls.CertificateVerificationError
	return !errors.Is(err, errTooLarge) && !errors.As(err, &certErr)
}

// delay is how long to wait after a retryable HTTP answer: the server's Retry-After (in
// seconds, as an HTTP date, or OpenAI's retry-after-ms) when it gives one, capped at
// maxDelay; the jittered backoff otherwise.
func (t *retryTransport) delay(attempt int, h http.Header, now time.Time) time.Duration {
	if d, ok := modelapi.RetryAfter(h, now); ok {
		return min(d, t.maxDelay)
	}
	return t.backoff(attempt)
}

// backoff is "full jitter": a uniform wait between 0 and min(maxDelay, baseDelay·2^(n-1)),
// which spreads out clients that failed together.
func (t *retryTransport) backoff(attempt int) time.Duration {
	ceiling := t.maxDelay
	if shift := attempt - 1; shift < 32 && t.baseDelay<<shift < t.maxDelay && t.baseDelay<<shift > 0 {
		ceiling = t.baseDelay << shift
	}
	return rand.N(ceiling + 1)
}

// message extracts a short, single-line error message from a failed response, without the
// API key.
func (t *retryTransport) message(resp *http.Response) string {
	if resp.StatusCode < 400 {
		return ""
	}
	body, _ := io.ReadAll(resp.Body) // an in-memory reader: cannot fail
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return modelapi.Redact(modelapi.ServerMessage(body), t.secret)
}

// logRetry logs a retry: the failure and the wait, never the request's headers.
func (t *retryTransport) logRetry(ctx context.Context, req *http.Request, attempt int, resp *http.Response, err error, delay time.Duration) {
	attrs := []slog.Attr{
		slog.String("kind", t.kind), slog.String("url", req.URL.Redacted()),
		slog.Int("attempt", attempt), slog.Duration("delay", delay),
	}
	if err != nil {
		attrs = append(attrs, slog.String("error", err.Error()))
	} else {
		attrs = append(attrs, slog.Int("status", resp.StatusCode))
	}
	t.logger.LogAttrs(ctx, slog.LevelInfo, "embed: retrying", attrs...)
}

// exchange records how one call through a langchaingo client went: the last attempt's
// status and message or error, and any fault found in a successful body. The embedder puts
// it in the call's context and reads it when the client returns.
type exchange struct {
	mu       sync.Mutex
	attempts int
	status   int    // HTTP status of the last answer; 0 if none
	message  string // the server's error message, for status >= 400
	err      error  // the last attempt's transport error, if it got no answer
	bad      error  // what was wrong with a successful answer
}

type exchangeKey struct{}

func withExchange(ctx context.Context, ex *exchange) context.Context {
	return context.WithValue(ctx, exchangeKey{}, ex)
}

// exchangeFrom returns the exchange in ctx, or a throwaway one.
func exchangeFrom(ctx context.Context) *exchange {
	if ex, ok := ctx.Value(exchangeKey{}).(*exchange); ok {
		return ex
	}
	return new(exchange)
}

func (ex *exchange) answer(attempt, status int, message string) {
	ex.mu.Lock()
	defer ex.mu.Unlock()
	ex.attempts, ex.status, ex.message, ex.err = attempt, status, message, nil
}

func (ex *exchange) fail(attempt int, err error) {
	ex.mu.Lock()
	defer ex.mu.Unlock()
	ex.attempts, ex.status, ex.message, ex.err = attempt, 0, "", err
}

func (ex *exchange) badResponse(err error) {
	ex.mu.Lock()
	defer ex.mu.Unlock()
	ex.bad = err
}

// exchangeState is a copy of an exchange's fields.
type exchangeState struct {
	attempts, status int
	message          string
	err, bad         error
}

func (ex *exchange) state() exchangeState {
	ex.mu.Lock()
	defer ex.mu.Unlock()
	return exchangeState{ex.attempts, ex.status, ex.message, ex.err, ex.bad}
}
