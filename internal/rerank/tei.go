package rerank

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"time"
)

// DefaultTEIMaxBatch is TEI's default --max-client-batch-size: a TEI server refuses a
// request with more texts than that (HTTP 413 or 422).
const DefaultTEIMaxBatch = 32

// TEIConfig configures a TEI reranker.
type TEIConfig struct {
	// BaseURL is the TEI server's root URL, e.g. "http://tei:8080"; the client posts to
	// {BaseURL}/rerank. Required.
	BaseURL string
	// Timeout bounds a whole Rerank call: every batch, and any retry. Default 10s. The
	// caller's context may end it sooner.
	Timeout time.Duration
	// MaxBatch is the most passages sent in one request. Default 32, TEI's default
	// --max-client-batch-size; raise both together.
	MaxBatch int
	// Truncate asks TEI to cut a (query, passage) pair that is longer than the model's
	// maximum input, instead of refusing it. nil means true; new(false) makes an
	// over-long pair fail the call with ErrTooLarge.
	Truncate *bool
	// APIKey, if set, is sent as a bearer token: TEI's --api-key, or a gateway's key.
	APIKey string
	// Concurrency is how many batches of one call are in flight at once. Default 4.
	Concurrency int
	// MaxRetries is how many times a batch answered with 429 or 503 is sent again, after a
	// short backoff or the server's Retry-After, and only while the deadline allows. Default
	// 0: reranking is on the request path, and the caller falls back instead. At most 3.
	MaxRetries int
	// HTTPClient sends the requests. Default: a client of this package's own; its Timeout,
	// if set, also applies per request.
	HTTPClient *http.Client
	// Logger receives retries at Info level. Default: discard.
	Logger *slog.Logger
}

// TEI reranks with a Hugging Face Text Embeddings Inference server that serves a reranker
// (sequence-classification) model, through its POST /rerank endpoint.
type TEI struct {
	c        *client
	name     string
	truncate bool
}

var _ reranker = (*TEI)(nil)

// NewTEI returns a TEI reranker; it sends nothing until Rerank is called.
func NewTEI(cfg TEIConfig) (*TEI, error) {
	u, err := parseBaseURL("TEIConfig", cfg.BaseURL, "/rerank")
	if err != nil {
		return nil, err
	}
	com := common{
		typ:         "TEIConfig",
		baseURL:     u,
		timeout:     cmp.Or(cfg.Timeout, DefaultTimeout),
		maxBatch:    cmp.Or(cfg.MaxBatch, DefaultTEIMaxBatch),
		concurrency: cmp.Or(cfg.Concurrency, DefaultConcurrency),
		maxRetries:  cfg.MaxRetries,
		httpClient:  cfg.HTTPClient,
		logger:      cfg.Logger,
	}
	// TEI's --max-client-batch-size has no upper bound; this one catches typos.
	if err := com.validate(4096); err != nil {
		return nil, err
	}
	t := &TEI{c: newClient("tei", com, cfg.APIKey, "rerank"), name: "tei:" + redactedURL(u), truncate: true}
	if cfg.Truncate != nil {
		t.truncate = *cfg.Truncate
	}
	t.c.notFoundHint = "no TEI /rerank endpoint at " + redactedURL(u.JoinPath("rerank")) +
		"; BaseURL should be the TEI server's root URL"
	t.c.tooLargeHint = "the server refused the batch; lower MaxBatch to at most the server's " +
		"--max-client-batch-size (TEI's default: 32), or send shorter passages (TEI's --payload-limit defaults to 2 MB)"
	if !t.truncate {
		t.c.tooLargeHint += ", or enable Truncate"
	}
	t.c.tooLargeOn422 = true
	t.c.encode = t.encode
	t.c.decode = decodeTEI
	return t, nil
}

// Name returns "tei:" and the server's URL, without credentials.
func (t *TEI) Name() string {
	return t.name
}

// Rerank scores passages against query, one score per passage in the same order; higher is
// more relevant. Scores are TEI's sigmoid of the model's logit, between 0 and 1. No passages
// means no request and an empty result.
func (t *TEI) Rerank(ctx context.Context, query string, passages []string) ([]float64, error) {
	return t.c.rerank(ctx, query, passages)
}

// teiRequest is the body of POST /rerank.
type teiRequest struct {
	Query    string   `json:"query"`
	Texts    []string `json:"texts"`
	Truncate bool     `json:"truncate"`
	// RawScores false: TEI applies the sigmoid; either way the order is the same.
	RawScores bool `json:"raw_scores"`
}

func (t *TEI) encode(query string, passages []string) ([]byte, error) {
	return json.Marshal(teiRequest{Query: query, Texts: passages, Truncate: t.truncate})
}

// decodeTEI parses TEI's answer: a JSON array of {"index", "score"} (and "text" when asked
// for), sorted by score rather than by index.
func decodeTEI(body []byte) ([]scored, error) {
	var ranks []struct {
		Index *int     `json:"index"`
		Score *float64 `json:"score"`
	}
	if err := json.Unmarshal(body, &ranks); err != nil {
		return nil, fmt.Errorf("not a JSON array of {index, score}: %w", err)
	}
	if ranks == nil {
		return nil, fmt.Errorf("null instead of an array of {index, score}")
	}
	out := make([]scored, len(ranks))
	for i, r := range ranks {
		if r.Index == nil || r.Score == nil {
			return nil, fmt.Errorf("result %d lacks its index or score", i)
		}
		out[i] = scored{index: *r.Index, score: *r.Score}
	}
	return out, nil
}
