package answer

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/docent-rag/docent/internal/modelapi"
	"github.com/tmc/langchaingo/llms"
	"github.com/tmc/langchaingo/llms/ollama"
	"github.com/tmc/langchaingo/llms/openai"
)

// Defaults of LLMConfig.
const (
	DefaultOpenAIBaseURL = "https://api.openai.com/v1"
	DefaultOllamaBaseURL = "http://127.0.0.1:11434"
	DefaultLLMTimeout    = 30 * time.Second
	DefaultMaxTokens     = 512
	DefaultHistoryTurns  = 4
	DefaultOllamaNumCtx  = 8192
)

// rewriteMaxTokens bounds a rewritten query.
const rewriteMaxTokens = 96

// LLMConfig configures a generator that calls a language model. Zero values take the
// defaults.
type LLMConfig struct {
	// BaseURL is the API's root: for OpenAI-compatible servers the part before
	// /chat/completions (default https://api.openai.com/v1; e.g. http://localhost:8000/v1
	// for vLLM or llama.cpp's server), for Ollama the server (default
	// http://127.0.0.1:11434).
	BaseURL string
	// APIKey is sent as a bearer token; it may be empty for servers without
	// authentication (then no Authorization header is sent). Required for api.openai.com.
	// It never appears in errors or logs.
	APIKey string
	// Model is the chat model, e.g. gpt-4o-mini or llama3.1:8b; required.
	Model string
	// Timeout bounds each model call, reading the whole streamed answer included; default
	// 30s. The caller's context may end it sooner.
	Timeout     time.Duration
	Temperature float64 // 0 to 2; default 0
	MaxTokens   int     // tokens of an answer, at most; default 512
	// HistoryTurns is how many of the last conversation turns go into the prompt; default
	// 4, -1 for none.
	HistoryTurns int
	// LegacyMaxTokens sends the limit as "max_tokens" instead of "max_completion_tokens",
	// for OpenAI-compatible servers that only know the old field. OpenAI only.
	LegacyMaxTokens bool
	// NumCtx is Ollama's context window (num_ctx) in tokens; default 8192. Ollama's own
	// default (2,048 or 4,096) silently cuts prompts with a few sources, starting with the
	// instructions. Ollama only.
	NumCtx int
	// HTTPClient is optional. It is copied and its transport wrapped, not modified.
	HTTPClient *http.Client
}

func (c *LLMConfig) defaults(baseURL string) {
	c.BaseURL = cmp.Or(c.BaseURL, baseURL)
	c.Timeout = cmp.Or(c.Timeout, DefaultLLMTimeout)
	c.MaxTokens = cmp.Or(c.MaxTokens, DefaultMaxTokens)
	c.HistoryTurns = cmp.Or(c.HistoryTurns, DefaultHistoryTurns)
	c.NumCtx = cmp.Or(c.NumCtx, DefaultOllamaNumCtx)
}

func (c *LLMConfig) validate(kind string) error {
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("answer: %s LLMConfig.%s: %s", kind, field, fmt.Sprintf(format, args...))
	}
	if strings.TrimSpace(c.Model) == "" {
		return bad("Model", "required")
	}
	u, err := url.Parse(c.BaseURL)
	if err != nil {
		return bad("BaseURL", "not a URL")
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https" || u.Host == "":
		return bad("BaseURL", "%q is not an http:// or https:// URL", u.Redacted())
	case kind == "openai" && c.APIKey == "" && u.Hostname() == "api.openai.com":
		return bad("APIKey", "required for %s", u.Redacted())
	case c.Timeout < 0:
		return bad("Timeout", "%s is negative", c.Timeout)
	case c.Temperature < 0 || c.Temperature > 2:
		return bad("Temperature", "%g is not between 0 and 2", c.Temperature)
	case c.MaxTokens < 1:
		return bad("MaxTokens", "%d is not positive", c.MaxTokens)
	case c.HistoryTurns < -1:
		return bad("HistoryTurns", "%d is not -1 (none) or more", c.HistoryTurns)
	case c.NumCtx < 512:
		return bad("NumCtx", "%d is below 512", c.NumCtx)
	}
	return nil
}

// Errors of the model generators, to test with errors.Is.
var (
	// ErrModelUnavailable: the model did not answer in time, the server was overloaded
	// (HTTP 429) or failing (5xx), or could not be reached. Worth a retry later; the error
	// is an *UnavailableError, which may carry the server's Retry-After.
	ErrModelUnavailable = errors.New("model unavailable")
	// ErrModelConfig: the server refused the request as configured: API key missing or
	// rejected (401, 403), unknown model or wrong base URL (404), or another 4xx. A retry
	// will not help.
	ErrModelConfig = errors.New("model request refused")
	// ErrBadResponse: the server answered 2xx with something that is not a chat answer.
	ErrBadResponse = errors.New("invalid model response")
)

// UnavailableError is a model call that failed in a way that may pass: see
// ErrModelUnavailable, which it matches with errors.Is.
type UnavailableError struct {
	Where      string        // the provider and base URL
	Status     int           // the HTTP status; 0 for timeouts and connection errors
	RetryAfter time.Duration // the wait the server asked for; 0 when it did not say
	Err        error         // what happened
}

func (e *UnavailableError) Error() string {
	s := fmt.Sprintf("%s: %s: %v", e.Where, ErrModelUnavailable, e.Err)
	if e.RetryAfter > 0 {
		s += fmt.Sprintf(" (retry after %s)", e.RetryAfter)
	}
	return s
}

// Is makes errors.Is(err, ErrModelUnavailable) true.
func (e *UnavailableError) Is(target error) bool { return target == ErrModelUnavailable }

func (e *UnavailableError) Unwrap() error { return e.Err }

// OpenAI generates answers with an OpenAI-compatible chat completions API (OpenAI, vLLM,
// llama.cpp's server, ...), streaming, through langchaingo's OpenAI client. It is safe for
// concurrent use.
type OpenAI struct{ c *llmClient }

// Ollama generates answers with Ollama's chat API, streaming, through langchaingo's Ollama
// client. It is safe for concurrent use.
type Ollama struct{ c *llmClient }

var (
	_ Generator     = (*OpenAI)(nil)
	_ QueryRewriter = (*OpenAI)(nil)
	_ Generator     = (*Ollama)(nil)
	_ QueryRewriter = (*Ollama)(nil)
)

// NewOpenAI returns an OpenAI-compatible generator. It does not contact the server.
func NewOpenAI(cfg LLMConfig) (*OpenAI, error) {
	cfg.defaults(DefaultOpenAIBaseURL)
	if err := cfg.validate("openai"); err != nil {
		return nil, err
	}
	// Every option is given, so that langchaingo reads none of its OPENAI_* variables.
	// langchaingo insists on a token; without a key, the request goes without the header.
	opts := []openai.Option{
		openai.WithToken(cmp.Or(cfg.APIKey, "none")),
		openai.WithBaseURL(cfg.BaseURL),
		openai.WithAPIType(openai.APITypeOpenAI),
		openai.WithOrganization(""),
		openai.WithModel(cfg.Model),
	}
	if _, err := openai.New(opts...); err != nil {
		return nil, fmt.Errorf("answer: openai client: %w", err)
	}
	c := newLLMClient("openai", cfg, func(hc *http.Client) (llms.Model, error) {
		return openai.New(append(slices.Clip(opts), openai.WithHTTPClient(hc))...)
	})
	if cfg.LegacyMaxTokens {
		c.opts = append(c.opts, openai.WithLegacyMaxTokensField())
	}
	return &OpenAI{c: c}, nil
}

// NewOllama returns an Ollama generator. It does not contact the server, and does not pull
// the model.
func NewOllama(cfg LLMConfig) (*Ollama, error) {
	cfg.defaults(DefaultOllamaBaseURL)
	if err := cfg.validate("ollama"); err != nil {
		return nil, err
	}
	// WithServerURL exits the process on a URL it cannot parse; validate parsed it already.
	// An API key, if set, is for an Ollama behind an authenticating proxy.
	opts := []ollama.Option{
		ollama.WithServerURL(cfg.BaseURL),
		ollama.WithModel(cfg.Model),
		ollama.WithRunnerNumCtx(cfg.NumCtx),
	}
	if _, err := ollama.New(opts...); err != nil {
		return nil, fmt.Errorf("answer: ollama client: %w", err)
	}
	return &Ollama{c: newLLMClient("ollama", cfg, func(hc *http.Client) (llms.Model, error) {
		return ollama.New(append(slices.Clip(opts), ollama.WithHTTPClient(hc))...)
	})}, nil
}

// Generate streams an answer to p: each piece of text goes to onDelta (if not nil) as it
// arrives. Errors match ErrModelUnavailable, ErrModelConfig or ErrBadResponse, or wrap the
// error of ctx when ctx ended first.
func (g *OpenAI) Generate(ctx context.Context, p Prompt, onDelta func(string)) (Draft, error) {
	return g.c.generate(ctx, p, onDelta)
}

// RewriteQuery asks the model for a standalone version of a follow-up question.
func (g *OpenAI) RewriteQuery(ctx context.Context, question string, history []Turn) (string, error) {
	return g.c.rewrite(ctx, question, history)
}

// Generate streams an answer to p: each piece of text goes to onDelta (if not nil) as it
// arrives. Errors match ErrModelUnavailable, ErrModelConfig or ErrBadResponse, or wrap the
// error of ctx when ctx ended first.
func (g *Ollama) Generate(ctx context.Context, p Prompt, onDelta func(string)) (Draft, error) {
	return g.c.generate(ctx, p, onDelta)
}

// RewriteQuery asks the model for a standalone version of a follow-up question.
func (g *Ollama) RewriteQuery(ctx context.Context, question string, history []Turn) (string, error) {
	return g.c.rewrite(ctx, question, history)
}

// llmClient is what the OpenAI and Ollama generators share.
type llmClient struct {
	kind, model  string
	where        string // "openai at https://…", for messages; no credentials
	timeout      time.Duration
	maxTokens    int
	historyTurns int
	api          *modelapi.Client
	// llm makes the provider's langchaingo client for one call, sending through hc. A
	// client per call, cheap to make (the connections are the transport's), gives each
	// call its own record of what happened.
	llm  func(hc *http.Client) (llms.Model, error)
	opts []llms.CallOption
}

func newLLMClient(kind string, cfg LLMConfig, llm func(hc *http.Client) (llms.Model, error)) *llmClient {
	u, _ := url.Parse(cfg.BaseURL) // validated
	return &llmClient{
		kind: kind, model: cfg.Model, where: kind + " at " + u.Redacted(),
		timeout: cfg.Timeout, maxTokens: cfg.MaxTokens, historyTurns: max(cfg.HistoryTurns, 0),
		// No retries: a user is waiting, and the answerer falls back instead. The answer
		// streams; the timeout bounds the whole call.
		api: modelapi.New(modelapi.Config{Component: "answer", Kind: kind, APIKey: cfg.APIKey, HTTPClient: cfg.HTTPClient}),
		llm: llm, opts: []llms.CallOption{llms.WithTemperature(cfg.Temperature)},
	}
}

func (c *llmClient) generate(ctx context.Context, p Prompt, onDelta func(string)) (Draft, error) {
	msgs, err := buildMessages(p, c.historyTurns)
	if err != nil {
		return Draft{}, err
	}
	d, err := c.call(ctx, msgs, c.maxTokens, onDelta)
	if err != nil {
		return Draft{}, fmt.Errorf("generate answer: %w", err)
	}
	return d, nil
}

func (c *llmClient) rewrite(ctx context.Context, question string, history []Turn) (string, error) {
	prompt, err := buildRewrite(question, history, max(c.historyTurns, 2))
	if err != nil {
		return "", err
	}
	d, err := c.call(ctx, []chatMessage{{Role: RoleUser, Content: prompt}}, rewriteMaxTokens, nil)
	if err != nil {
		return "", fmt.Errorf("rewrite query: %w", err)
	}
	return d.Text, nil
}

// call makes one streamed chat call within the configured timeout and classifies its
// failure from what was recorded of the exchange.
func (c *llmClient) call(ctx context.Context, msgs []chatMessage, maxTokens int, onDelta func(string)) (Draft, error) {
	content := make([]llms.MessageContent, 0, len(msgs))
	for _, m := range msgs {
		role := llms.ChatMessageTypeHuman
		switch m.Role {
		case "system":
			role = llms.ChatMessageTypeSystem
		case RoleAssistant:
			role = llms.ChatMessageTypeAI
		}
		content = append(content, llms.TextParts(role, m.Content))
	}
	callCtx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	rec := new(modelapi.Call)
	llm, err := c.llm(c.api.HTTPClient(rec))
	if err != nil {
		return Draft{}, fmt.Errorf("%s: client: %w", c.where, err)
	}
	var streamed strings.Builder
	opts := append(slices.Clone(c.opts),
		llms.WithMaxTokens(maxTokens),
		llms.WithStreamingFunc(func(_ context.Context, chunk []byte) error {
			if len(chunk) == 0 {
				return nil
			}
			streamed.Write(chunk)
			if onDelta != nil {
				onDelta(string(chunk))
			}
			return nil
		}))
	resp, err := llm.GenerateContent(callCtx, content, opts...)
	o := rec.Outcome()
	switch {
	case ctx.Err() != nil:
		return Draft{}, fmt.Errorf("%s: %w", c.where, ctx.Err())
	case errors.Is(callCtx.Err(), context.DeadlineExceeded):
		// langchaingo may return what it had so far without an error: a cut answer is
		// not an answer.
		return Draft{}, &UnavailableError{Where: c.where,
			Err: fmt.Errorf("no complete answer within %s: %w", c.timeout, context.DeadlineExceeded)}
	}
	if err := c.explain(o, err); err != nil {
		return Draft{}, err
	}
	if resp == nil || len(resp.Choices) == 0 || resp.Choices[0] == nil {
		return Draft{}, fmt.Errorf("%s: %w: no choices", c.where, ErrBadResponse)
	}
	choice := resp.Choices[0]
	text := choice.Content
	if text == "" {
		text = streamed.String()
	}
	return Draft{
		Text:  stripThinking(text),
		Model: c.kind + ":" + c.model,
		Usage: Usage{
			PromptTokens:     intInfo(choice.GenerationInfo, "PromptTokens"),
			CompletionTokens: intInfo(choice.GenerationInfo, "CompletionTokens"),
		},
	}, nil
}

// explain turns what was recorded of the exchange, and langchaingo's error, into our
// error: nil for a successful exchange. The status decides, since langchaingo reduces HTTP
// failures to strings (and the Ollama client reports an error status with an empty body as
// success).
func (c *llmClient) explain(o modelapi.Outcome, err error) error {
	f := o.Failure()
	switch {
	case f != nil && f.Status == 0:
		return &UnavailableError{Where: c.where, Err: fmt.Errorf("no answer: %w", o.Err)}
	case f != nil && f.Failing():
		return &UnavailableError{Where: c.where, Status: f.Status, RetryAfter: f.RetryAfter, Err: errors.New(f.Error())}
	case f != nil && f.Unauthorized():
		return fmt.Errorf("%s: %w: API key missing or rejected (%s)", c.where, ErrModelConfig, f)
	case f != nil && f.ModelNotFound():
		return fmt.Errorf("%s: %w: model %q is unknown there, or the base URL is not a chat API (%s)",
			c.where, ErrModelConfig, c.model, f)
	case f != nil:
		return fmt.Errorf("%s: %w (%s)", c.where, ErrModelConfig, f)
	case o.BodyErr != nil:
		return &UnavailableError{Where: c.where, Status: o.Status,
			Err: fmt.Errorf("answer cut off: %w", o.BodyErr)}
	case err != nil && o.Status == 0:
		return fmt.Errorf("%s: %w", c.where, err) // failed before sending
	case err != nil:
		return fmt.Errorf("%s: %w: %w", c.where, ErrBadResponse, err)
	}
	return nil
}

// intInfo reads a token count from langchaingo's GenerationInfo.
func intInfo(info map[string]any, key string) int {
	switch v := info[key].(type) {
	case int:
		return v
	case int64:
		return int(v)
	case float64:
		return int(v)
	}
	return 0
}

// stripThinking removes a leading <think>…</think> block that reasoning models served by
// Ollama or vLLM put in the answer.
func stripThinking(s string) string {
	t := strings.TrimSpace(s)
	if !strings.HasPrefix(t, "<think>") {
		return s
	}
	if i := strings.Index(t, "</think>"); i >= 0 {
		return strings.TrimSpace(t[i+len("</think>"):])
	}
	return "" // only thinking: cut off before the answer
}
