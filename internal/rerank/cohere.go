package rerank

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/docent-rag/docent/internal/modelapi"
)

const (
	// DefaultCohereBaseURL is Cohere's API.
	DefaultCohereBaseURL = "https://api.cohere.com"
	// DefaultCohereMaxBatch: Cohere bills one "search unit" per query of up to 100
	// documents, so batches of 100 use whole units and 100 candidates cost one. Jina bills
	// by tokens, where the batch size makes no difference.
	DefaultCohereMaxBatch = 100
	// maxCohereBatch is the most documents Cohere recommends sending in one request.
	maxCohereBatch = 1000
)

// hostedNeedingKey are the hosted APIs that refuse every request without a key: a missing
// APIKey there is a configuration error, not a 401 at the first question.
var hostedNeedingKey = []string{"api.cohere.com", "api.cohere.ai", "api.jina.ai"}

// CohereConfig configures a reranker for the Cohere-style rerank API.
type CohereConfig struct {
	// BaseURL is the API's root URL: "https://api.cohere.com" (the default),
	// "https://api.jina.ai", or a self-hosted server's. The client posts to
	// {BaseURL}/v1/rerank.
	BaseURL string
	// APIKey is sent as a bearer token. Required for Cohere's and Jina's hosted APIs;
	// optional for a self-hosted server.
	APIKey string
	// Model names the reranker model: "rerank-v3.5", "jina-reranker-v2-base-multilingual",
	// or the name a self-hosted server serves it under. Required.
	Model string
	// Timeout bounds a whole Rerank call: every batch, and any retry. Default 10s. The
	// caller's context may end it sooner.
	Timeout time.Duration
	// MaxBatch is the most passages sent in one request. Default 100 (one Cohere search
	// unit); at most 1000.
	MaxBatch int
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

// Cohere reranks through the rerank API that Cohere defined and Jina and many self-hosted
// servers (vLLM, Infinity, LocalAI) also answer: POST /v1/rerank with plain-string documents.
type Cohere struct {
	c     *client
	model string
}

var _ reranker = (*Cohere)(nil)

// NewCohere returns a Cohere-style reranker; it sends nothing until Rerank is called.
func NewCohere(cfg CohereConfig) (*Cohere, error) {
	u, err := parseBaseURL("CohereConfig", cmp.Or(cfg.BaseURL, DefaultCohereBaseURL), "/v1/rerank")
	if err != nil {
		return nil, err
	}
	com := common{
		typ:         "CohereConfig",
		baseURL:     u,
		timeout:     cmp.Or(cfg.Timeout, DefaultTimeout),
		maxBatch:    cmp.Or(cfg.MaxBatch, DefaultCohereMaxBatch),
		concurrency: cmp.Or(cfg.Concurrency, DefaultConcurrency),
		maxRetries:  cfg.MaxRetries,
		httpClient:  cfg.HTTPClient,
		logger:      cfg.Logger,
	}
	model := strings.TrimSpace(cfg.Model)
	if model == "" {
		return nil, com.bad("Model", "required")
	}
	if cfg.APIKey == "" {
		for _, h := range hostedNeedingKey {
			if strings.EqualFold(u.Hostname(), h) {
				return nil, com.bad("APIKey", "required for %s", h)
			}
		}
	}
	if err := com.validate(maxCohereBatch); err != nil {
		return nil, err
	}
	r := &Cohere{c: newClient("cohere", com, cfg.APIKey, "v1/rerank"), model: model}
	r.c.where += " (model " + model + ")"
	r.c.notFoundHint = fmt.Sprintf("no rerank endpoint at %s, or the server does not know the model %q",
		redactedURL(u.JoinPath("v1/rerank")), model)
	r.c.tooLargeHint = "the server refused the batch; lower MaxBatch, or send shorter passages"
	r.c.encode = r.encode
	r.c.decode = r.decode
	return r, nil
}

// Name returns "cohere:" and the model.
func (r *Cohere) Name() string { return "cohere:" + r.model }

// Rerank scores passages against query, one score per passage in the same order; higher is
// more relevant. Scores are the server's relevance_score (between 0 and 1 for Cohere and
// Jina). No passages means no request and an empty result.
func (r *Cohere) Rerank(ctx context.Context, query string, passages []string) ([]float64, error) {
	return r.c.rerank(ctx, query, passages)
}

// cohereRequest is the body of POST /v1/rerank.
type cohereRequest struct {
	Model     string   `json:"model"`
	Query     string   `json:"query"`
	Documents []string `json:"documents"`
	// TopN is the batch's size: a score for every passage, not only the best.
	TopN int `json:"top_n"`
	// ReturnDocuments false: the passages are not echoed back. Cohere's v1 and Jina's
	// current default, stated because older Jina versions echoed them.
	ReturnDocuments bool `json:"return_documents"`
}

func (r *Cohere) encode(query string, passages []string) ([]byte, error) {
	return json.Marshal(cohereRequest{Model: r.model, Query: query, Documents: passages, TopN: len(passages)})
}

// decode parses the answer: {"results": [{"index", "relevance_score"}, ...]} sorted by
// score, beside fields this client does not need ("id", "meta" with billed units at Cohere;
// "model", "usage" at Jina; "document" in each result when documents are returned).
func (r *Cohere) decode(body []byte) ([]scored, error) {
	var v struct {
		Results []struct {
			Index          *int     `json:"index"`
			RelevanceScore *float64 `json:"relevance_score"`
		} `json:"results"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return nil, fmt.Errorf("not a JSON object with results: %w", err)
	}
	if v.Results == nil {
		return nil, fmt.Errorf("no results in the answer (%s)", modelapi.ServerMessage(body, r.c.apiKey))
	}
	out := make([]scored, len(v.Results))
	for i, res := range v.Results {
		if res.Index == nil || res.RelevanceScore == nil {
			return nil, fmt.Errorf("result %d lacks its index or relevance_score", i)
		}
		out[i] = scored{index: *res.Index, score: *res.RelevanceScore}
	}
	return out, nil
}
