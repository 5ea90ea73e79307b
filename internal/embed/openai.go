package embed

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/tmc/langchaingo/llms/openai"
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

var _ embedder = (*OpenAI)(nil)

// NewOpenAI returns an OpenAI-compatible embedder. It does not contact the server.
func NewOpenAI(cfg OpenAIConfig) (*OpenAI, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	rc := cfg.remote()
	t, hc := rc.transport("openai")
	t.secret = cfg.APIKey
	t.check = sortByIndex
	token := cfg.APIKey
	if token == "" {
		// langchaingo insists on a token; the transport drops the header made of this one.
		token = "none"
		t.stripAuth = true
	}
	// Every option is given, so that langchaingo reads none of its OPENAI_* variables.
	opts := []openai.Option{
		openai.WithToken(token),
		openai.WithBaseURL(rc.baseURL),
		openai.WithAPIType(openai.APITypeOpenAI),
		openai.WithOrganization(""),
		openai.WithModel(rc.model),
		openai.WithEmbeddingModel(rc.model),
		openai.WithHTTPClient(hc),
	}
	if cfg.RequestDimension {
		opts = append(opts, openai.WithEmbeddingDimensions(cfg.Dimension))
	}
	llm, err := openai.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("embed: openai client: %w", err)
	}
	hint := ""
	if cfg.APIKey == "" {
		hint = " (no API key is configured)"
	}
	r := newRemote("openai", rc, hint)
	r.call = llm.CreateEmbedding
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

// sortByIndex puts the embeddings of an OpenAI answer in the order of their "index"
// fields. langchaingo keeps the order in which they arrive, and the API does not promise
// that it is the order of the inputs. It fails on an answer that is not an embeddings list
// or whose indexes do not number its items.
func sortByIndex(body []byte) ([]byte, error) {
	var resp struct {
		Object string `json:"object"`
		Data   []struct {
			Object    string          `json:"object"`
			Index     *int            `json:"index"`
			Embedding json.RawMessage `json:"embedding"`
		} `json:"data"`
		Model string          `json:"model"`
		Usage json.RawMessage `json:"usage"`
	}
	if err := json.Unmarshal(body, &resp); err != nil {
		return nil, fmt.Errorf("not an embeddings list: %w", err)
	}
	n := len(resp.Data)
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
		sorted = sorted && *d.Index == i
	}
	switch {
	case missing == n || sorted:
		return body, nil // without indexes, the order of the answer is all there is
	case missing > 0:
		return nil, fmt.Errorf("%d of %d embeddings have no index", missing, n)
	}
	data := make([]struct {
		Object    string          `json:"object"`
		Index     *int            `json:"index"`
		Embedding json.RawMessage `json:"embedding"`
	}, n)
	for _, d := range resp.Data {
		data[*d.Index] = d
	}
	resp.Data = data
	return json.Marshal(resp)
}
