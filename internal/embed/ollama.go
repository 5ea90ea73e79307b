package embed

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/tmc/langchaingo/llms/ollama"

	"github.com/docent-rag/docent/internal/modelapi"
)

// DefaultOllamaBaseURL is where a local Ollama listens.
const DefaultOllamaBaseURL = "http://127.0.0.1:11434"

// OllamaConfig configures an Ollama embedder. Zero values take the defaults.
type OllamaConfig struct {
	// BaseURL is the Ollama server, to which /api/embed is appended; default
	// http://127.0.0.1:11434.
	BaseURL string
	// Model is the embedding model, e.g. nomic-embed-text; required. It must have been
	// pulled: the embedder does not pull models.
	Model string
	// Dimension is the vectors' length. 0 learns it from the first answer (see
	// DetectDimension); otherwise every answer must have it.
	Dimension int
	// BatchSize is the number of texts per client call. langchaingo's Ollama client sends
	// one request per text, so a batch is the unit of concurrency; default 96.
	BatchSize   int
	Concurrency int           // batches in flight per Embed call; default 2
	Timeout     time.Duration // per request, including reading the answer; default 60s
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

func (c OllamaConfig) remote() remoteConfig {
	return remoteConfig{
		baseURL: c.BaseURL, model: c.Model, dimension: c.Dimension, batchSize: c.BatchSize,
		concurrency: c.Concurrency, timeout: c.Timeout, maxRetries: c.MaxRetries,
		retryBaseDelay: c.RetryBaseDelay, retryMaxDelay: c.RetryMaxDelay,
		httpClient: c.HTTPClient, logger: c.Logger,
	}.withDefaults(DefaultOllamaBaseURL)
}

func (c OllamaConfig) validate() error { return c.remote().validate("OllamaConfig") }

// Ollama embeds texts with Ollama's /api/embed endpoint, through langchaingo's Ollama
// client. It is safe for concurrent use.
type Ollama struct {
	r *remote
}

// NewOllama returns an Ollama embedder. It does not contact the server.
func NewOllama(cfg OllamaConfig) (*Ollama, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	rc := cfg.remote()
	// WithServerURL exits the process on a URL it cannot parse; validate parsed it already.
	opts := []ollama.Option{ollama.WithServerURL(rc.baseURL), ollama.WithModel(rc.model)}
	if _, err := ollama.New(opts...); err != nil {
		return nil, fmt.Errorf("embed: ollama client: %w", err)
	}
	r := newRemote("ollama", rc, "", "")
	// A client per call, cheap to make, gives each call its own record of what happened.
	r.call = func(ctx context.Context, rec *modelapi.Call, texts []string) ([][]float32, error) {
		llm, err := ollama.New(append(slices.Clip(opts), ollama.WithHTTPClient(r.api.HTTPClient(rec)))...)
		if err != nil {
			return nil, fmt.Errorf("ollama client: %w", err)
		}
		return llm.CreateEmbedding(ctx, texts)
	}
	return &Ollama{r: r}, nil
}

// Kind returns "ollama".
func (*Ollama) Kind() string { return "ollama" }

// Model returns the configured model name.
func (e *Ollama) Model() string { return e.r.model }

// Dimension returns the vectors' length: the configured one, or the one learned from the
// first answer; 0 before that.
func (e *Ollama) Dimension() int { return int(e.r.dim.Load()) }

// DetectDimension returns the dimension, first embedding a short text to learn it when it
// is neither configured nor learned yet. Call it before Dimension when the dimension is
// needed before any text is embedded (e.g. to create an index generation).
func (e *Ollama) DetectDimension(ctx context.Context) (int, error) {
	return e.r.detectDimension(ctx)
}

// Embed returns one vector per text, in order, each of Dimension values. Texts go in
// batches of BatchSize, Concurrency batches at a time, one request per text; a text must
// not be empty.
func (e *Ollama) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	return e.r.embed(ctx, texts)
}
