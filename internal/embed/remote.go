package embed

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/docent-rag/docent/internal/modelapi"
)

// Errors that a remote embedder's error can wrap, for callers that react to them.
var (
	// ErrUnauthorized: the server refused the API key (HTTP 401 or 403), or wants one.
	ErrUnauthorized = errors.New("API key missing or rejected")
	// ErrModelNotFound: the server does not know the model, or the base URL does not lead
	// to an embeddings API (HTTP 404).
	ErrModelNotFound = errors.New("model not found")
	// ErrBadResponse: the server answered with something that is not the vectors asked for
	// (not JSON, wrong count or dimension, non-finite or zero vectors).
	ErrBadResponse = errors.New("invalid response")
	// ErrEmptyText: an input text is empty; providers refuse those.
	ErrEmptyText = errors.New("empty text")
)

// Defaults shared by the remote embedders.
const (
	DefaultBatchSize      = 96
	DefaultConcurrency    = 2
	DefaultTimeout        = 60 * time.Second
	DefaultMaxRetries     = 4
	DefaultRetryBaseDelay = 500 * time.Millisecond
	DefaultRetryMaxDelay  = 30 * time.Second
)

// maxResponseBytes bounds what one response may hold. A batch of 2,048 vectors of 4,000
// dimensions in JSON is about 180 MB, far beyond the defaults (96 texts: a few MB).
const maxResponseBytes = 256 << 20

// remoteConfig holds the settings that OpenAIConfig and OllamaConfig share.
type remoteConfig struct {
	baseURL        string
	model          string
	dimension      int
	batchSize      int
	concurrency    int
	timeout        time.Duration
	maxRetries     int
	retryBaseDelay time.Duration
	retryMaxDelay  time.Duration
	httpClient     *http.Client
	logger         *slog.Logger
}

// withDefaults fills the zero values.
func (c remoteConfig) withDefaults(baseURL string) remoteConfig {
	c.baseURL = cmp.Or(c.baseURL, baseURL)
	c.batchSize = cmp.Or(c.batchSize, DefaultBatchSize)
	c.concurrency = cmp.Or(c.concurrency, DefaultConcurrency)
	c.timeout = cmp.Or(c.timeout, DefaultTimeout)
	c.maxRetries = cmp.Or(c.maxRetries, DefaultMaxRetries)
	c.retryBaseDelay = cmp.Or(c.retryBaseDelay, DefaultRetryBaseDelay)
	c.retryMaxDelay = cmp.Or(c.retryMaxDelay, DefaultRetryMaxDelay)
	if c.logger == nil {
		c.logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// validate checks the shared settings; typ names the config type in messages.
func (c remoteConfig) validate(typ string) error {
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("embed: %s.%s: %s", typ, field, fmt.Sprintf(format, args...))
	}
	if strings.TrimSpace(c.model) == "" {
		return bad("Model", "required")
	}
	u, err := url.Parse(c.baseURL)
	if err != nil {
		return bad("BaseURL", "not a URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return bad("BaseURL", "%q is not an http:// or https:// URL", u.Redacted())
	}
	switch {
	case c.dimension < 0 || c.dimension > maxDimension:
		return bad("Dimension", "%d is not between 0 (learn it) and %d", c.dimension, maxDimension)
	case c.batchSize < 1 || c.batchSize > 2048:
		return bad("BatchSize", "%d is not between 1 and 2048", c.batchSize)
	case c.concurrency < 1 || c.concurrency > 64:
		return bad("Concurrency", "%d is not between 1 and 64", c.concurrency)
	case c.timeout < 0:
		return bad("Timeout", "%s is negative", c.timeout)
	case c.maxRetries < -1 || c.maxRetries > 20:
		return bad("MaxRetries", "%d is not between -1 (no retries) and 20", c.maxRetries)
	case c.retryBaseDelay < 0:
		return bad("RetryBaseDelay", "%s is negative", c.retryBaseDelay)
	case c.retryMaxDelay < c.retryBaseDelay:
		return bad("RetryMaxDelay", "%s is less than RetryBaseDelay %s", c.retryMaxDelay, c.retryBaseDelay)
	}
	return nil
}

// remote is what the OpenAI and Ollama embedders share: batching, bounded concurrency,
// error reporting and the checks on every answer.
type remote struct {
	kind, model string
	where       string // "openai at https://…", for messages; no credentials
	keyHint     string // added to ErrUnauthorized errors
	batchSize   int
	concurrency int
	dim         atomic.Int64 // configured, or learned from the first answer; 0 until known
	api         *modelapi.Client
	// call sends one batch through the provider's langchaingo client, made for this call
	// with api.HTTPClient(rec) so that rec records what happened.
	call func(ctx context.Context, rec *modelapi.Call, texts []string) ([][]float32, error)
}

func newRemote(kind string, c remoteConfig, apiKey, keyHint string) *remote {
	u, _ := url.Parse(c.baseURL) // validated
	r := &remote{
		kind: kind, model: c.model, where: kind + " at " + u.Redacted(), keyHint: keyHint,
		batchSize: c.batchSize, concurrency: c.concurrency,
		// Every attempt has its own deadline and is read whole within it; what may succeed
		// later (HTTP 429 and 5xx, network errors, timeouts) is retried.
		api: modelapi.New(modelapi.Config{
			Component: "embed", Kind: kind, APIKey: apiKey,
			AttemptTimeout: c.timeout, MaxRetries: max(c.maxRetries, 0),
			BaseDelay: c.retryBaseDelay, MaxDelay: c.retryMaxDelay,
			RetryStatus: modelapi.Failing, RetryNetwork: true, MaxBody: maxResponseBytes,
			HTTPClient: c.httpClient, Logger: c.logger,
		}),
	}
	r.dim.Store(int64(c.dimension))
	return r
}

// embed splits texts into batches and embeds them, at most r.concurrency at once. The first
// failure cancels the other batches.
func (r *remote) embed(ctx context.Context, texts []string) ([][]float32, error) {
	for i, t := range texts {
		if t == "" {
			return nil, fmt.Errorf("embed text %d: %w", i, ErrEmptyText)
		}
	}
	out := make([][]float32, len(texts))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(r.concurrency)
	for start := 0; start < len(texts) && gctx.Err() == nil; start += r.batchSize {
		end := min(start+r.batchSize, len(texts))
		g.Go(func() error {
			vecs, err := r.batch(gctx, texts[start:end])
			if err != nil {
				which := fmt.Sprintf("texts %d to %d", start, end-1)
				if end-start == 1 {
					which = fmt.Sprintf("text %d", start)
				}
				return fmt.Errorf("embed batch %d (%s): %w", start/r.batchSize, which, err)
			}
			copy(out[start:end], vecs)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil { // batches may have been skipped
		return nil, fmt.Errorf("embed: %w", err)
	}
	return out, nil
}

// batch embeds one batch with one client call and checks the answer.
func (r *remote) batch(ctx context.Context, texts []string) ([][]float32, error) {
	rec := new(modelapi.Call)
	vecs, err := r.call(ctx, rec, texts)
	o := rec.Outcome()
	if err != nil && o.Status/100 == 2 && o.Bad == nil && vecs != nil {
		// The client decoded the answer but disliked it (it checks the count): say why.
		if cerr := r.check(len(texts), vecs); cerr != nil {
			return nil, fmt.Errorf("%s: %w: %w", r.where, ErrBadResponse, cerr)
		}
	}
	if err != nil {
		return nil, r.explain(ctx, o, err)
	}
	if o.Bad != nil {
		return nil, fmt.Errorf("%s: %w: %w", r.where, ErrBadResponse, o.Bad)
	}
	if err := r.check(len(texts), vecs); err != nil {
		return nil, fmt.Errorf("%s: %w: %w", r.where, ErrBadResponse, err)
	}
	return vecs, nil
}

// explain turns a failed client call into an error that says what went wrong, from what
// was recorded of the exchange. langchaingo's own error is used only when the server
// answered 2xx: it then says why the answer could not be decoded.
func (r *remote) explain(ctx context.Context, o modelapi.Outcome, err error) error {
	f := o.Failure()
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("%s: %w", r.where, ctx.Err())
	case o.Bad != nil:
		return fmt.Errorf("%s: %w: %w", r.where, ErrBadResponse, o.Bad)
	case f == nil && o.Status/100 == 2:
		return fmt.Errorf("%s: %w: %w", r.where, ErrBadResponse, err)
	case f == nil:
		// The client failed without a request reaching the server.
		return fmt.Errorf("%s: %w", r.where, err)
	case f.Status == 0:
		return fmt.Errorf("%s: %w", r.where, f)
	case f.ModelNotFound():
		return fmt.Errorf("%s: %w: %q is unknown there, or the base URL is not an embeddings API (%s)",
			r.where, ErrModelNotFound, r.model, f)
	case f.Unauthorized():
		return fmt.Errorf("%s: %w%s (%s)", r.where, ErrUnauthorized, r.keyHint, f)
	case f.Failing():
		return fmt.Errorf("%s: still failing after %s (%s)", r.where, modelapi.Attempts(f.Attempts), f)
	}
	return fmt.Errorf("%s: request refused (%s)", r.where, f)
}

// check verifies an answer: one vector per text, each of the dimension (learning it from
// the first answer if not configured), finite and not zero.
func (r *remote) check(n int, vecs [][]float32) error {
	if len(vecs) != n {
		return fmt.Errorf("%d vectors for %d texts", len(vecs), n)
	}
	for i, v := range vecs {
		want := int(r.dim.Load())
		if want == 0 {
			if len(v) == 0 || len(v) > maxDimension {
				return fmt.Errorf("vector %d has %d dimensions; Docent's index holds 1 to %d", i, len(v), maxDimension)
			}
			r.dim.CompareAndSwap(0, int64(len(v)))
			want = int(r.dim.Load())
		}
		if len(v) != want {
			return fmt.Errorf("vector %d has %d dimensions, want %d", i, len(v), want)
		}
		zero := true
		for j, x := range v {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				return fmt.Errorf("vector %d has the non-finite value %v at %d", i, x, j)
			}
			if x != 0 {
				zero = false
			}
		}
		if zero {
			return fmt.Errorf("vector %d is all zeros", i)
		}
	}
	return nil
}

// probeText is what DetectDimension embeds.
const probeText = "dimension probe"

// detectDimension returns the dimension, embedding a short text first if it is not known.
func (r *remote) detectDimension(ctx context.Context) (int, error) {
	if d := int(r.dim.Load()); d > 0 {
		return d, nil
	}
	if _, err := r.embed(ctx, []string{probeText}); err != nil {
		return 0, fmt.Errorf("detect dimension: %w", err)
	}
	return int(r.dim.Load()), nil
}
