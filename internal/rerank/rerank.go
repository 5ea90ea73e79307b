package rerank

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/docent-rag/docent/internal/modelapi"
)

// reranker is the retrieval package's Reranker, which this package's types implement, plus
// Name. Each type asserts it beside itself.
type reranker interface {
	// Rerank scores candidate passages against a query: one score per passage, same order,
	// higher is more relevant. Scores are comparable within one call only.
	Rerank(ctx context.Context, query string, passages []string) ([]float64, error)
	// Name identifies the reranker in logs and traces: "tei:<url>" or "cohere:<model>".
	Name() string
}

// Errors that a reranker's error can wrap, for callers that react to them. Timeouts and
// cancellations wrap context.DeadlineExceeded and context.Canceled.
var (
	// ErrUnauthorized: the server refused the API key (HTTP 401 or 403), or wants one.
	ErrUnauthorized = errors.New("API key missing or rejected")
	// ErrNotFound: nothing reranks at that URL (HTTP 404), the server does not know the
	// model, or the model it serves is not a reranker.
	ErrNotFound = errors.New("reranker not found")
	// ErrTooLarge: the server refused the input as too large (HTTP 413; TEI's 422, which it
	// sends for over-long inputs; or a message saying so): too many passages in one
	// request, or passages too long.
	ErrTooLarge = errors.New("input too large")
	// ErrOverloaded: the server is rate-limiting (HTTP 429) or unavailable (HTTP 503).
	ErrOverloaded = errors.New("server overloaded or rate-limiting")
	// ErrBadResponse: a successful answer that is not the scores asked for: not JSON, an
	// index missing, repeated or out of range, a score missing or not finite.
	ErrBadResponse = errors.New("invalid response")
	// ErrEmptyQuery: the query is empty or only white space; nothing was sent.
	ErrEmptyQuery = errors.New("empty query")
)

// Defaults shared by the rerankers.
const (
	// DefaultTimeout bounds a whole Rerank call. A cross-encoder scores a few dozen passages
	// in tens to hundreds of milliseconds; ten seconds means the server is in trouble.
	DefaultTimeout = 10 * time.Second
	// DefaultConcurrency is how many batches of one call are in flight at once.
	DefaultConcurrency = 4
)

const (
	maxConcurrency = 32
	maxRetries     = 3
	// retryBaseDelay is the first backoff ceiling when a 429 or 503 has no Retry-After;
	// short, because a user is waiting.
	retryBaseDelay = 100 * time.Millisecond
	// maxResponseBytes bounds a successful answer. Scores for 1,000 passages are about
	// 50 kB; servers that echo the passages back may send a few MB.
	maxResponseBytes = 16 << 20
)

// scored is one entry of a server's answer: a passage's index in the request and its score.
type scored struct {
	index int
	score float64
}

// client is what the TEI and Cohere rerankers share: batching, bounded concurrency, the
// deadline, optional retries, error reporting and the checks on every answer.
type client struct {
	where       string // "tei at http://host:8080", for messages; no credentials
	endpoint    string // the URL posted to
	apiKey      string
	api         *modelapi.Client
	timeout     time.Duration
	maxBatch    int
	concurrency int
	maxRetries  int // as configured; api applies it
	// hints completing error messages, per provider.
	notFoundHint, tooLargeHint string
	// tooLargeOn422: the server's 422 means the input is too large (TEI's validation and
	// tokenizer errors). Elsewhere 422 is any malformed request (FastAPI servers).
	tooLargeOn422 bool
	// encode builds the body of one request; decode parses a successful answer.
	encode func(query string, passages []string) ([]byte, error)
	decode func(body []byte) ([]scored, error)
}

// common holds the settings that TEIConfig and CohereConfig share, with defaults filled.
type common struct {
	typ         string // "TEIConfig", for messages
	baseURL     *url.URL
	timeout     time.Duration
	maxBatch    int
	concurrency int
	maxRetries  int
	httpClient  *http.Client
	logger      *slog.Logger
}

// bad formats a configuration error naming the field.
func (c common) bad(field, format string, args ...any) error {
	return fmt.Errorf("rerank: %s.%s: %s", c.typ, field, fmt.Sprintf(format, args...))
}

// parseBaseURL checks a BaseURL: http or https, a host, no query or fragment, and not ending
// in one of the path segments that the client appends itself (path, e.g. "/v1/rerank").
func parseBaseURL(typ, raw, path string) (*url.URL, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("rerank: %s.BaseURL: %s", typ, fmt.Sprintf(format, args...))
	}
	if strings.TrimSpace(raw) == "" {
		return nil, bad("required")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, bad("not a URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, bad("%q is not an http:// or https:// URL", redactedURL(u))
	}
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return nil, bad("%q has a query or fragment; give the server's root URL", redactedURL(u))
	}
	u.Path, u.RawPath = strings.TrimRight(u.Path, "/"), ""
	for _, seg := range strings.Split(strings.Trim(path, "/"), "/") {
		if strings.HasSuffix(u.Path, "/"+seg) {
			return nil, bad("%q ends in /%s; give the server's root URL, the client appends %s",
				redactedURL(u), seg, path)
		}
	}
	return u, nil
}

// validate checks the shared settings.
func (c common) validate(maxBatchLimit int) error {
	switch {
	case c.timeout < 0:
		return c.bad("Timeout", "%s is negative", c.timeout)
	case c.maxBatch < 1 || c.maxBatch > maxBatchLimit:
		return c.bad("MaxBatch", "%d is not between 1 and %d", c.maxBatch, maxBatchLimit)
	case c.concurrency < 1 || c.concurrency > maxConcurrency:
		return c.bad("Concurrency", "%d is not between 1 and %d", c.concurrency, maxConcurrency)
	case c.maxRetries < 0 || c.maxRetries > maxRetries:
		return c.bad("MaxRetries", "%d is not between 0 (fail fast, the default) and %d", c.maxRetries, maxRetries)
	}
	return nil
}

// newClient builds the client for c; the provider fills in the rest.
func newClient(kind string, c common, apiKey, path string) *client {
	hc := c.httpClient
	if hc == nil {
		// Our own transport: the default keeps only 2 idle connections per host, fewer than
		// the batches of one call.
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = 2 * maxConcurrency
		hc = &http.Client{Transport: t}
	}
	return &client{
		where:    kind + " at " + redactedURL(c.baseURL),
		endpoint: c.baseURL.JoinPath(path).String(),
		apiKey:   apiKey,
		// Only 429 and 503 are retried, only if asked, and never past the call's deadline
		// (MaxDelay: a Retry-After longer than the whole call fails it at once).
		api: modelapi.New(modelapi.Config{
			Component: "rerank", Kind: kind, APIKey: apiKey,
			MaxRetries: c.maxRetries, BaseDelay: retryBaseDelay, MaxDelay: c.timeout,
			RetryStatus: modelapi.Overloaded, MaxBody: maxResponseBytes,
			HTTPClient: hc, Logger: c.logger,
		}),
		timeout:     c.timeout,
		maxBatch:    c.maxBatch,
		concurrency: c.concurrency,
		maxRetries:  c.maxRetries,
	}
}

// redactedURL is u without its password, query and fragment.
func redactedURL(u *url.URL) string {
	v := *u
	v.RawQuery, v.ForceQuery, v.Fragment, v.RawFragment = "", false, "", ""
	return v.Redacted()
}

// timeoutError is the cause of a call's context when its own Timeout ran out.
type timeoutError struct{ after time.Duration }

func (e timeoutError) Error() string {
	return fmt.Sprintf("no answer within %s (Timeout)", e.after)
}

func (timeoutError) Unwrap() error { return context.DeadlineExceeded }

// rerank scores passages against query: it splits them into batches of at most maxBatch,
// sends up to concurrency batches at once, and puts each batch's scores back at the
// passages' positions. The first failure cancels the other batches and is returned.
func (c *client) rerank(ctx context.Context, query string, passages []string) ([]float64, error) {
	if len(passages) == 0 {
		return []float64{}, nil
	}
	if strings.TrimSpace(query) == "" {
		return nil, fmt.Errorf("rerank: %s: %w", c.where, ErrEmptyQuery)
	}
	ctx, cancel := context.WithTimeoutCause(ctx, c.timeout, timeoutError{c.timeout})
	defer cancel()

	scores := make([]float64, len(passages))
	batches := (len(passages) + c.maxBatch - 1) / c.maxBatch
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(c.concurrency)
	started := 0
	for b := range batches {
		if gctx.Err() != nil {
			break // a batch failed, or the deadline passed: start no more
		}
		started++
		start := b * c.maxBatch
		end := min(start+c.maxBatch, len(passages))
		g.Go(func() error {
			err := c.batch(gctx, query, passages[start:end], scores[start:end])
			if err != nil && batches > 1 {
				return fmt.Errorf("batch %d of %d (passages %d to %d): %w", b+1, batches, start, end-1, err)
			}
			return err
		})
	}
	err := g.Wait()
	if err == nil && started < batches {
		err = abandoned(ctx) // the caller gave up between batches
	}
	if err != nil {
		return nil, fmt.Errorf("rerank: %s: %w", c.where, err)
	}
	return scores, nil
}

// batch scores one batch and writes the scores into out, which has one element per
// passage.
func (c *client) batch(ctx context.Context, query string, passages []string, out []float64) error {
	body, err := c.encode(query, passages)
	if err != nil {
		return fmt.Errorf("encode request: %w", err)
	}
	resp, err := c.post(ctx, body)
	if err != nil {
		return err
	}
	if resp.Status/100 != 2 {
		return c.statusError(resp)
	}
	results, err := c.decode(resp.Body)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadResponse, err)
	}
	if err := place(results, out); err != nil {
		return fmt.Errorf("%w: %w", ErrBadResponse, err)
	}
	return nil
}

// place checks a batch's results, each passage's index exactly once and every score finite,
// and writes the scores into out at their indexes.
func place(results []scored, out []float64) error {
	seen := make([]bool, len(out))
	for i, r := range results {
		switch {
		case r.index < 0 || r.index >= len(out):
			return fmt.Errorf("result %d has index %d, outside 0 to %d", i, r.index, len(out)-1)
		case seen[r.index]:
			return fmt.Errorf("index %d appears more than once", r.index)
		case math.IsNaN(r.score) || math.IsInf(r.score, 0):
			return fmt.Errorf("index %d has the non-finite score %v", r.index, r.score)
		}
		seen[r.index] = true
		out[r.index] = r.score
	}
	if len(results) != len(out) {
		for i, ok := range seen {
			if !ok {
				return fmt.Errorf("%d results for %d passages: index %d is missing", len(results), len(out), i)
			}
		}
	}
	return nil
}

// post sends one request, retrying 429 and 503 answers if configured, and returns the last
// answer, read whole within ctx.
func (c *client) post(ctx context.Context, body []byte) (*modelapi.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := c.api.Do(req)
	if errors.Is(err, modelapi.ErrTooLarge) {
		return nil, fmt.Errorf("%w: %w", ErrBadResponse, err)
	}
	if err != nil {
		return nil, transportError(ctx, err)
	}
	return resp, nil
}

// transportError explains a request that got no (complete) answer. The request's URL is left
// out: the error names the server already.
func transportError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		if rerr, ok := errors.AsType[*modelapi.ReadError](err); ok {
			return fmt.Errorf("read answer (HTTP %d): %w", rerr.Status, abandoned(ctx))
		}
		return abandoned(ctx)
	}
	var uerr *url.Error
	if errors.As(err, &uerr) {
		err = uerr.Err
	}
	var operr *net.OpError
	if errors.As(err, &operr) && operr.Op == "dial" {
		return fmt.Errorf("cannot connect (is the server running, and BaseURL right?): %w", err)
	}
	return fmt.Errorf("request failed: %w", err)
}

// abandoned is the error of a call whose context ended: its own Timeout, or the caller's
// cancellation or deadline.
func abandoned(ctx context.Context) error {
	cause := context.Cause(ctx)
	if _, ok := errors.AsType[timeoutError](cause); ok {
		return cause
	}
	return fmt.Errorf("stopped by the caller: %w", cause)
}

// statusError turns an unsuccessful answer into an error that says what to do about it.
func (c *client) statusError(r *modelapi.Response) error {
	f := &modelapi.Error{Status: r.Status, Message: modelapi.ServerMessage(r.Body, c.apiKey), Attempts: r.Attempts}
	lower := strings.ToLower(f.Message)
	switch {
	case f.Unauthorized():
		hint := "check APIKey"
		if c.apiKey == "" {
			hint = "no APIKey is configured"
		}
		return fmt.Errorf("%w: %s (%s)", ErrUnauthorized, hint, f)
	case f.ModelNotFound() || strings.Contains(lower, "model") && strings.Contains(lower, "not supported"):
		return fmt.Errorf("%w: %s (%s)", ErrNotFound, c.notFoundHint, f)
	case strings.Contains(lower, "not a re-ranker") || strings.Contains(lower, "not a reranker"):
		return fmt.Errorf("%w: the model served there is not a reranker (%s)", ErrNotFound, f)
	case f.TooLarge() || r.Status == http.StatusUnprocessableEntity && c.tooLargeOn422:
		return fmt.Errorf("%w: %s (%s)", ErrTooLarge, c.tooLargeHint, f)
	case f.Overloaded():
		after := ""
		if f.Attempts > 1 {
			after = fmt.Sprintf(", still after %d attempts", f.Attempts)
		}
		return fmt.Errorf("%w%s (%s)", ErrOverloaded, after, f)
	case r.Status == http.StatusFailedDependency:
		// TEI's answer when its model backend fails (out of memory, say).
		return fmt.Errorf("the model backend failed (%s)", f)
	case r.Status >= 500:
		return fmt.Errorf("server error (%s)", f)
	case r.Status >= 400:
		return fmt.Errorf("request refused (%s)", f)
	}
	return fmt.Errorf("unexpected answer (%s)", f)
}
