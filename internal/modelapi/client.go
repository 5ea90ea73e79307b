package modelapi

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"
)

// maxErrorBody bounds what is read of an error answer: its beginning says what went wrong.
const maxErrorBody = 64 << 10

// Config configures a Client. The caller's package fills in its defaults and checks its
// own settings; a Client only reads these.
type Config struct {
	// Component names the caller in log lines: "embed" logs "embed: retrying".
	Component string
	// Kind names the provider in log lines: "openai", "ollama", "tei", "cohere".
	Kind string
	// APIKey, if set, is sent as "Authorization: Bearer <APIKey>"; if empty, no
	// Authorization header is sent at all (langchaingo's OpenAI client insists on a token of
	// its own). It is kept out of every server message recorded.
	APIKey string
	// AttemptTimeout bounds each attempt, reading the answer included; 0 sets none (the
	// caller's context bounds the call). It needs MaxBody: a streamed body outlives the
	// attempt.
	AttemptTimeout time.Duration
	// MaxRetries is how many times a request that failed in a way RetryStatus or
	// RetryNetwork accepts is sent again; 0 for none.
	MaxRetries int
	// BaseDelay is the ceiling of the first backoff, doubled after each retry up to
	// MaxDelay, which also caps a server's Retry-After.
	BaseDelay, MaxDelay time.Duration
	// RetryStatus tells which HTTP statuses are worth another attempt; nil means Failing
	// (429 and every 5xx).
	RetryStatus func(status int) bool
	// RetryNetwork retries attempts that got no answer (connection errors, AttemptTimeout)
	// too; never a bad certificate or an oversized answer.
	RetryNetwork bool
	// MaxBody, if positive, makes every successful answer be read whole, within the
	// attempt, and refused (ErrTooLarge, not retried) beyond MaxBody bytes. 0 leaves it
	// streaming (chat), its failures recorded.
	MaxBody int64
	// HTTPClient sends the requests; nil uses http.DefaultTransport. It is copied, not
	// modified.
	HTTPClient *http.Client
	// Logger receives each retry at Info level; nil discards.
	Logger *slog.Logger
}

// Client sends requests to one model provider as its Config says. It is safe for
// concurrent use.
type Client struct {
	cfg    Config
	hc     *http.Client      // the caller's client (or a new one): Do sends through it
	base   http.RoundTripper // its transport: HTTPClient's transports send through it
	logger *slog.Logger
}

// ErrTooLarge: a successful answer larger than Config.MaxBody.
var ErrTooLarge = errors.New("response too large")

// New returns a Client for cfg.
func New(cfg Config) *Client {
	c := &Client{cfg: cfg, hc: cfg.HTTPClient, logger: cfg.Logger}
	if c.hc == nil {
		c.hc = new(http.Client)
	}
	if c.base = c.hc.Transport; c.base == nil {
		c.base = http.DefaultTransport
	}
	if c.cfg.RetryStatus == nil {
		c.cfg.RetryStatus = Failing
	}
	if c.logger == nil {
		c.logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Response is an answer read whole.
type Response struct {
	Status   int
	Header   http.Header
	Body     []byte // up to MaxBody for a success, the first 64 KiB of an error
	Attempts int
}

// Do sends req, retrying as configured, and returns the last answer, success or not.
// Attempts go through the configured HTTPClient, whose Timeout, if set, bounds each. The
// error is for no answer at all (the last attempt's), the caller's context ending, or
// ErrTooLarge. req's body must be resendable (GetBody set) for retries.
func (c *Client) Do(req *http.Request) (*Response, error) {
	call := new(Call)
	resp, err := c.send(req, call, c.hc.Do)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body) // in memory: cannot fail
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: body, Attempts: call.Outcome().Attempts}, nil
}

// HTTPClient returns an *http.Client for one call through a langchaingo client: a copy of
// the configured one (its Timeout, if set, bounds the whole call, retries included) whose
// transport sends as configured and records in call what happened. Use it for one call;
// the call's requests must be sequential.
func (c *Client) HTTPClient(call *Call) *http.Client {
	hc := *c.hc
	hc.Transport = &transport{c: c, call: call}
	return &hc
}

type transport struct {
	c    *Client
	call *Call
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	return t.c.send(req, t.call, t.c.base.RoundTrip)
}

// send makes attempts at req with do until one succeeds, fails in a way not worth
// repeating, or the retries or the caller's time run out; it records each in call.
func (c *Client) send(req *http.Request, call *Call, do func(*http.Request) (*http.Response, error)) (*http.Response, error) {
	ctx := req.Context()
	req = c.authorize(req)
	resendable := req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
	for attempt := 1; ; attempt++ {
		resp, err := c.try(req, attempt, call, do)
		if cerr := ctx.Err(); cerr != nil {
			// The caller gave up (or its deadline passed): no retry, and its reason wins.
			if resp != nil {
				resp.Body.Close()
			}
			if rerr, ok := errors.AsType[*ReadError](err); ok {
				cerr = &ReadError{Status: rerr.Status, Err: cerr}
			}
			call.fail(attempt, cerr)
			return nil, cerr
		}
		delay, retry := time.Duration(0), false
		if err != nil {
			call.fail(attempt, err)
			retry = c.cfg.RetryNetwork && retryableError(err)
			delay = Backoff(attempt, c.cfg.BaseDelay, c.cfg.MaxDelay)
		} else {
			call.answer(attempt, resp, c.cfg.APIKey)
			if retry = resp.StatusCode >= 400 && c.cfg.RetryStatus(resp.StatusCode); retry {
				delay = c.delay(attempt, resp.Header)
			}
		}
		if retry && resendable && attempt <= c.cfg.MaxRetries {
			if deadline, ok := ctx.Deadline(); !ok || time.Until(deadline) > delay {
				c.logRetry(ctx, req, attempt, resp, err, delay)
				if resp != nil {
					resp.Body.Close()
				}
				if err := Sleep(ctx, delay); err != nil {
					call.fail(attempt, err)
					return nil, err
				}
				continue
			}
			// Waiting would outlive the caller's deadline: report this failure now rather
			// than a bare "deadline exceeded" later.
		}
		if err != nil {
			return nil, err
		}
		if resp.StatusCode/100 == 2 && c.cfg.MaxBody > 0 && call.Inspect != nil {
			body, _ := io.ReadAll(resp.Body) // in memory: cannot fail
			call.inspected(call.Inspect(body))
			resp.Body = io.NopCloser(bytes.NewReader(body))
		}
		return resp, nil
	}
}

// authorize sets the Authorization header this Client owns: the API key, or none.
func (c *Client) authorize(req *http.Request) *http.Request {
	if c.cfg.APIKey == "" && req.Header.Get("Authorization") == "" {
		return req
	}
	req = req.Clone(req.Context())
	req.Header.Del("Authorization")
	if c.cfg.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+c.cfg.APIKey)
	}
	return req
}

// try makes one attempt. With MaxBody it returns the answer read whole, within the
// attempt's deadline; without, a successful body streams and an error body is read up to
// 64 KiB.
func (c *Client) try(req *http.Request, attempt int, call *Call, do func(*http.Request) (*http.Response, error)) (*http.Response, error) {
	ctx := req.Context()
	if c.cfg.AttemptTimeout > 0 && c.cfg.MaxBody > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.cfg.AttemptTimeout)
		defer cancel()
	}
	r := req.WithContext(ctx)
	if attempt > 1 && r.Body != nil && r.Body != http.NoBody {
		body, err := req.GetBody()
		if err != nil {
			return nil, fmt.Errorf("resend request body: %w", err)
		}
		r.Body = body
	}
	resp, err := do(r)
	if err != nil {
		return nil, c.timedOut(ctx, req, err)
	}
	limit := int64(maxErrorBody)
	if resp.StatusCode/100 == 2 {
		if c.cfg.MaxBody <= 0 {
			resp.Body = &recordingBody{ReadCloser: resp.Body, call: call}
			return resp, nil
		}
		limit = c.cfg.MaxBody
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, &ReadError{Status: resp.StatusCode, Err: c.timedOut(ctx, req, err)}
	}
	if int64(len(body)) > limit {
		if resp.StatusCode/100 == 2 {
			return nil, fmt.Errorf("%w: larger than %d bytes", ErrTooLarge, limit)
		}
		body = body[:limit] // an error page: its beginning is enough
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	return resp, nil
}

// ReadError is an answer whose body broke off while it was read.
type ReadError struct {
	Status int // the answer's
	Err    error
}

func (e *ReadError) Error() string { return fmt.Sprintf("read answer (HTTP %d): %v", e.Status, e.Err) }

func (e *ReadError) Unwrap() error { return e.Err }

// AttemptTimeoutError reports that one attempt ran out of AttemptTimeout while the caller's
// context had time left. It matches context.DeadlineExceeded.
type AttemptTimeoutError struct{ After time.Duration }

func (e AttemptTimeoutError) Error() string {
	return fmt.Sprintf("no complete response within %s", e.After)
}

func (AttemptTimeoutError) Unwrap() error { return context.DeadlineExceeded }

// timedOut replaces err by AttemptTimeoutError when the attempt's own deadline, not the
// caller's context, ended it.
func (c *Client) timedOut(attemptCtx context.Context, req *http.Request, err error) error {
	if errors.Is(attemptCtx.Err(), context.DeadlineExceeded) && req.Context().Err() == nil {
		return AttemptTimeoutError{After: c.cfg.AttemptTimeout}
	}
	return err
}

// retryableError tells whether an attempt that got no answer may succeed when repeated:
// network errors and timeouts may, a bad certificate or an oversized answer will not.
func retryableError(err error) bool {
	var certErr *tls.CertificateVerificationError
	return !errors.Is(err, ErrTooLarge) && !errors.As(err, &certErr)
}

// delay is how long to wait after a retryable answer: the server's Retry-After, capped at
// MaxDelay, when it gives one; the backoff otherwise.
func (c *Client) delay(attempt int, h http.Header) time.Duration {
	if d, ok := RetryAfter(h, time.Now()); ok {
		return min(d, c.cfg.MaxDelay)
	}
	return Backoff(attempt, c.cfg.BaseDelay, c.cfg.MaxDelay)
}

// logRetry logs a retry: the failure and the wait, never the request's headers.
func (c *Client) logRetry(ctx context.Context, req *http.Request, attempt int, resp *http.Response, err error, delay time.Duration) {
	attrs := []slog.Attr{
		slog.String("kind", c.cfg.Kind), slog.String("url", req.URL.Redacted()),
		slog.Int("attempt", attempt), slog.Duration("delay", delay),
	}
	if err != nil {
		attrs = append(attrs, slog.String("error", Redact(err.Error(), c.cfg.APIKey)))
	} else {
		attrs = append(attrs, slog.Int("status", resp.StatusCode))
	}
	c.logger.LogAttrs(ctx, slog.LevelInfo, c.cfg.Component+": retrying", attrs...)
}

// Call records how one call went: the last attempt of its last request. Give it to
// Client.HTTPClient, read it with Outcome when the call has returned.
type Call struct {
	// Inspect, if set, sees the body of each successful answer read whole (Config.MaxBody)
	// and may refuse it: the answer still goes to the client, and Outcome reports the
	// fault as Bad.
	Inspect func(body []byte) error

	mu sync.Mutex
	o  Outcome
}

// Outcome is what a Call recorded.
type Outcome struct {
	Attempts   int
	Status     int           // of the last answer; 0 if none came
	Message    string        // the server's message, for a status of 400 or more
	RetryAfter time.Duration // the wait the server asked for
	Err        error         // why no answer came
	Bad        error         // what Inspect found wrong with a successful answer
	BodyErr    error         // how a streamed successful answer broke off
}

// Failure is the call's refusal or failure as an *Error, or nil when the last answer was
// not an error status (Bad and BodyErr are the caller's to judge).
func (o Outcome) Failure() *Error {
	if o.Err == nil && o.Status < 400 {
		return nil
	}
	return &Error{Status: o.Status, Message: o.Message, Attempts: o.Attempts, RetryAfter: o.RetryAfter, Err: o.Err}
}

// Outcome returns a copy of what c recorded.
func (c *Call) Outcome() Outcome {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.o
}

func (c *Call) answer(attempt int, resp *http.Response, secret string) {
	msg := ""
	if resp.StatusCode >= 400 {
		body, _ := io.ReadAll(resp.Body) // in memory: cannot fail
		resp.Body = io.NopCloser(bytes.NewReader(body))
		msg = ServerMessage(body, secret)
	}
	wait, _ := RetryAfter(resp.Header, time.Now())
	c.mu.Lock()
	defer c.mu.Unlock()
	c.o = Outcome{Attempts: attempt, Status: resp.StatusCode, Message: msg, RetryAfter: wait}
}

func (c *Call) fail(attempt int, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.o = Outcome{Attempts: attempt, Err: err}
}

func (c *Call) inspected(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.o.Bad = err
}

func (c *Call) bodyFailed(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.o.BodyErr = err
}

// recordingBody records a failed read of a streamed answer (the connection dropped).
type recordingBody struct {
	io.ReadCloser
	call *Call
}

func (b *recordingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && err != io.EOF {
		b.call.bodyFailed(err)
	}
	return n, err
}
