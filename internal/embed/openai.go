package embed

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/tmc/langchaingo/llms/openai"

	"github.com/docent-rag/docent/internal/modelapi"
)

// DefaultOpenAIBaseURL is OpenAI's API.
const DefaultOpenAIBaseURL = "https://api.openai.com/v1"

// OpenAIConfig configures an OpenAI-compatible embedder. Zero values take the defaults.
type OpenAIConfig struct {
	// BaseURL is the API's root, to which /embeddings is appended: default
	// https://api.openai.com/v1; e.g. http://localhost:8000/v1 for vLLM or llama.cpp.
	BaseURL string
	// APIKey is sent as a bearer token. Required for api.openai.com; may be empty for
	// servers without authentication, and then no Authorization header is sent.
	APIKey string
	// Model is the embedding model, e.g. text-embedding-3-small; required.
	Model string
	// Dimension is the vectors' length. 0 learns it from the first answer (see
	// DetectDimension); otherwise every answer must have it.
	Dimension int
	// RequestDimension sends Dimension as the "dimensions" parameter, which OpenAI's
	// text-embedding-3 models use to shorten their vectors (e.g. 3,072 to 1,024). Servers
	// and models that do not support it refuse the request.
	RequestDimension bool
	BatchSize        int           // texts per request; default 96, at most 2048
	Concurrency      int           // requests in flight per Embed call; default 2
	Timeout          time.Duration // per attempt, including reading the answer; default 60s
	// MaxRetries is how many times a request that failed with HTTP 429, 5xx, a network
	// error or a timeout is retried; default 4, -1 for none.
	MaxRetries     int
	RetryBaseDelay time.Duration // backoff before the first retry, at most; default 500ms
	RetryMaxDelay  time.Duration // cap on any wait, Retry-After included; default 30s
	// HTTPClient is optional. It is copied and its transport wrapped, not modified; its
	// Timeout, if set, bounds a whole request, retries included.
	HTTPClient *http.Client
	Logger     *slog.Logger // retries are logged at info level; default none
}

func (c OpenAIConfig) remote() remoteConfig {
	return remoteConfig{
		baseURL: c.BaseURL, model: c.Model, dimension: c.Dimension, batchSize: c.BatchSize,
		concurrency: c.Concurrency, timeout: c.Timeout, maxRetries: c.MaxRetries,
		retryBaseDelay: c.RetryBaseDelay, retryMaxDelay: c.RetryMaxDelay,
		httpClient: c.HTTPClient, logger: c.Logger,
	}.withDefaults(DefaultOpenAIBaseURL)
}

func (c OpenAIConfig) validate() error {
	rc := c.remote()
	if err := rc.validate("OpenAIConfig"); err != nil {
		return err
	}
	if u, _ := url.Parse(rc.baseURL); c.APIKey == "" && u.Hostname() == "api.openai.com" {
		return fmt.Errorf("embed: OpenAIConfig.APIKey: required for %s", u.Redacted())
	}
	if c.RequestDimension && c.Dimension == 0 {
		return errors.New("embed: OpenAIConfig.RequestDimension: needs a Dimension")
	}
	return nil
}

// OpenAI embeds texts with an OpenAI-compatible POST /embeddings endpoint, through
// langchaingo's OpenAI client. It is safe for concurrent use.
type OpenAI struct {
	r *remote
}

// NewOpenAI returns an OpenAI-compatible embedder. It does not contact the server.
func NewOpenAI(cfg OpenAIConfig) (*OpenAI, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	rc := cfg.remote()
	hint := ""
	if cfg.APIKey == "" {
		hint = " (no API key is configured)"
	}
	r := newRemote("openai", rc, cfg.APIKey, hint)
	// Every option is given, so that langchaingo reads none of its OPENAI_* variables.
	// langchaingo insists on a token; without a key, the request goes without the header.
	opts := []openai.Option{
		openai.WithToken(cmp.Or(cfg.APIKey, "none")),
		openai.WithBaseURL(rc.baseURL),
		openai.WithAPIType(openai.APITypeOpenAI),
		openai.WithOrganization(""),
		openai.WithModel(rc.model),
		openai.WithEmbeddingModel(rc.model),
	}
	if cfg.RequestDimension {
		opts = append(opts, openai.WithEmbeddingDimensions(cfg.Dimension))
	}
	if _, err := openai.New(opts...); err != nil {
		return nil, fmt.Errorf("embed: openai client: %w", err)
	}
	// A client per call, cheap to make (the connections are the transport's), gives each
	// call its own record of what happened.
	r.call = func(ctx context.Context, rec *modelapi.Call, texts []string) ([][]float32, error) {
		var order []int
		rec.Inspect = func(body []byte) (err error) {
			order, err = embeddingOrder(body)
			return err
		}
		llm, err := openai.New(append(slices.Clip(opts), openai.WithHTTPClient(r.api.HTTPClient(rec)))...)
		if err != nil {
			return nil, fmt.Errorf("openai client: %w", err)
		}
		vecs, err := llm.CreateEmbedding(ctx, texts)
		return inOrder(vecs, order), err
	}
	return &OpenAI{r: r}, nil
}

// Kind returns "openai".
func (*OpenAI) Kind() string { return "openai" }

// Model returns the configured model name.
func (e *OpenAI) Model() string { return e.r.model }

// Dimension returns the vectors' length: the configured one, or the one learned from the
// first answer; 0 before that.
func (e *OpenAI) Dimension() int { return int(e.r.dim.Load()) }

// DetectDimension returns the dimension, first embedding a short text to learn it when it
// is neither configured nor learned yet. Call it before Dimension when the dimension is
// needed before any text is embedded (e.g. to create an index generation).
func (e *OpenAI) DetectDimension(ctx context.Context) (int, error) {
	return e.r.detectDimension(ctx)
}

// Embed returns one vector per text, in order, each of Dimension values. Texts are sent in
// batches of BatchSize, Concurrency at a time; a text must not be empty.
func (e *OpenAI) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	return e.r.embed(ctx, texts)
}

// embeddingOrder reads the "index" fields of an OpenAI embeddings answer: nil when the
// embeddings come in the order of the inputs (or carry no index, and their order is all
// there is), else the input position of each. langchaingo keeps the order in which they
// arrive, and the API does not promise that it is the order of the inputs. It fails on an
// answer that is not an embeddings list or whose indexes do not number its items.
func embeddingOrder(body []byte) ([]int, error) {
	var resp struct {
		Data []struct {
			Index *int `json:"index"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &resp); err != nil {
		return nil, fmt.Errorf("not an embeddings list: %w", err)
	}
	n := len(resp.Data)
	order := make([]int, n)
	seen := make([]bool, n)
	missing, sorted := 0, true
	for i, d := range resp.Data {
		switch {
		case d.Index == nil:
			missing++
			continue
		case *d.Index < 0 || *d.Index >= n:
			return nil, fmt.Errorf("index %d out of range for %d embeddings", *d.Index, n)
		case seen[*d.Index]:
			return nil, fmt.Errorf("index %d given twice", *d.Index)
		}
		seen[*d.Index] = true
		order[i] = *d.Index
		sorted = sorted && *d.Index == i
	}
	switch {
	case missing == n || sorted:
		return nil, nil
	case missing > 0:
		return nil, fmt.Errorf("%d of %d embeddings have no index", missing, n)
	}
	return order, nil
}

// inOrder puts vecs, in the order of an answer's items, at the input positions order gives.
func inOrder(vecs [][]float32, order []int) [][]float32 {
	if order == nil || len(order) != len(vecs) {
		return vecs
	}
	out := make([][]float32, len(vecs))
	for i, v := range vecs {
		out[order[i]] = v
	}
	return out
}
