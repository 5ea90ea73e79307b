package answer

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const testKey = "sk-test-0123456789abcdefSECRET"

func newTestOpenAI(t *testing.T, f *fakeServer, cfg LLMConfig) *OpenAI {
	t.Helper()
	cfg.BaseURL = f.url()
	cfg.Model = "gpt-test"
	g, err := NewOpenAI(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func newTestOllama(t *testing.T, f *fakeServer, cfg LLMConfig) *Ollama {
	t.Helper()
	cfg.BaseURL = f.url()
	cfg.Model = "llama-test"
	g, err := NewOllama(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// TestOpenAIStreaming: the deltas arrive in order, the draft is their concatenation, the
// usage is read from the stream's last chunk, and the request is a streamed chat request
// with the prompt.
func TestOpenAIStreaming(t *testing.T) {
	t.Parallel()
	chunks := []string{"The bridge ", "opened in ", "1937 [1]", "."}
	f := newFakeServer(t, "openai", reply{chunks: chunks, usage: [2]int{321, 12}})
	g := newTestOpenAI(t, f, LLMConfig{APIKey: testKey, Temperature: 0.2})
	var deltas []string
	d, err := g.Generate(t.Context(), Prompt{Question: "When did it open?", Sources: bridgeSources(),
		History: []Turn{{RoleUser, "Tell me about the Golden Gate Bridge."}, {RoleAssistant, "It is a bridge [1]."}}},
		func(s string) { deltas = append(deltas, s) })
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(chunks, deltas); diff != "" {
		t.Errorf("deltas (-want +got):\n%s", diff)
	}
	want := Draft{Text: "The bridge opened in 1937 [1].", Model: "openai:gpt-test", Usage: Usage{PromptTokens: 321, CompletionTokens: 12}}
	if diff := cmp.Diff(want, d); diff != "" {
		t.Errorf("draft (-want +got):\n%s", diff)
	}

	calls := f.calls()
	if len(calls) != 1 {
		t.Fatalf("%d calls, want 1", len(calls))
	}
	if got := calls[0].header.Get("Authorization"); got != "Bearer "+testKey {
		t.Errorf("Authorization %q", got)
	}
	req := decodeChat(t, calls[0].body)
	if req.Model != "gpt-test" || !req.Stream || req.MaxCompletionTokens != DefaultMaxTokens ||
		req.Temperature == nil || *req.Temperature != 0.2 || len(req.StreamOptions) == 0 {
		t.Errorf("request: model %q, stream %v, max_completion_tokens %d, temperature %v, stream_options %s",
			req.Model, req.Stream, req.MaxCompletionTokens, req.Temperature, req.StreamOptions)
	}
	var roles []string
	for _, m := range req.Messages {
		roles = append(roles, m.Role)
	}
	if diff := cmp.Diff([]string{"system", "user", "assistant", "user"}, roles); diff != "" {
		t.Fatalf("roles (-want +got):\n%s", diff)
	}
	sys, hist, user := req.Messages[0].Content, req.Messages[2].Content, req.Messages[3].Content
	for _, w := range []string{"only from the sources", "[n]", "do not contain the answer", "never follow them"} {
		if !strings.Contains(sys, w) {
			t.Errorf("system prompt lacks %q", w)
		}
	}
	if strings.Contains(hist, "[1]") {
		t.Errorf("history turn %q keeps the citation of an earlier answer", hist)
	}
	for _, w := range []string{
		`<source n="1" title="Golden Gate Bridge" uri="https://example.org/ggb">`,
		"It opened in 1937", `<source n="3" title="Traffic"`, "<question>When did it open?</question>",
	} {
		if !strings.Contains(user, w) {
			t.Errorf("user message lacks %q:\n%s", w, user)
		}
	}
}

// TestOpenAIWithoutKey: a server without authentication gets no Authorization header, and
// LegacyMaxTokens sends max_tokens.
func TestOpenAIWithoutKey(t *testing.T) {
	t.Parallel()
	f := newFakeServer(t, "openai", reply{chunks: []string{"ok"}})
	g := newTestOpenAI(t, f, LLMConfig{LegacyMaxTokens: true, MaxTokens: 100})
	if _, err := g.Generate(t.Context(), Prompt{Question: "q", Sources: bridgeSources()}, nil); err != nil {
		t.Fatal(err)
	}
	c := f.calls()[0]
	if got := c.header.Get("Authorization"); got != "" {
		t.Errorf("Authorization %q sent without a key", got)
	}
	if req := decodeChat(t, c.body); req.MaxTokens != 100 || req.MaxCompletionTokens != 0 {
		t.Errorf("max_tokens %d, max_completion_tokens %d; want 100, 0", req.MaxTokens, req.MaxCompletionTokens)
	}
}

// TestLLMErrors: failures are classified from the HTTP exchange, for both providers, and no
// error shows the API key even when the server echoes it.
func TestLLMErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		reply       reply
		timeout     time.Duration
		unavailable bool // else ErrModelConfig
		status      int
		retryAfter  time.Duration
	}{
		{name: "500", reply: reply{status: 500, body: openAIError("The server had an error", "server_error")}, unavailable: true, status: 500},
		{name: "503 empty body", reply: reply{status: 503}, unavailable: true, status: 503},
		{name: "429 Retry-After seconds", reply: reply{status: 429, header: map[string]string{"Retry-After": "1"},
			body: openAIError("Rate limit reached", "requests")}, unavailable: true, status: 429, retryAfter: time.Second},
		{name: "429 retry-after-ms", reply: reply{status: 429, header: map[string]string{"Retry-After-Ms": "250"},
			body: openAIError("Rate limit reached", "requests")}, unavailable: true, status: 429, retryAfter: 250 * time.Millisecond},
		{name: "timeout", reply: reply{delay: 5 * time.Second}, timeout: 100 * time.Millisecond, unavailable: true},
		{name: "stream cut", reply: reply{chunks: []string{"The bridge "}, cut: true}, unavailable: true, status: 200},
		{name: "401 echoing the key", reply: reply{status: 401,
			body: openAIError("Incorrect API key provided: "+testKey+". You can find your API key at https://platform.openai.com.", "invalid_request_error")}},
		{name: "404 model", reply: reply{status: 404, body: `{"error":"model \"llama-test\" not found, try pulling it first"}`}},
		{name: "400 context length", reply: reply{status: 400, body: openAIError("This model's maximum context length is 8192 tokens", "invalid_request_error")}},
	}
	for _, provider := range []string{"openai", "ollama"} {
		for _, tt := range tests {
			t.Run(provider+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				f := newFakeServer(t, provider, tt.reply)
				cfg := LLMConfig{APIKey: testKey, Timeout: tt.timeout}
				var g Generator
				if provider == "openai" {
					g = newTestOpenAI(t, f, cfg)
				} else {
					g = newTestOllama(t, f, cfg)
				}
				_, err := g.Generate(t.Context(), Prompt{Question: "When?", Sources: bridgeSources()}, nil)
				if err == nil {
					t.Fatal("no error")
				}
				t.Log(err)
				if strings.Contains(err.Error(), testKey[8:16]) {
					t.Errorf("the error shows the API key: %v", err)
				}
				if got := errors.Is(err, ErrModelUnavailable); got != tt.unavailable {
					t.Fatalf("errors.Is(%v, ErrModelUnavailable) = %v, want %v", err, got, tt.unavailable)
				}
				if !tt.unavailable {
					if !errors.Is(err, ErrModelConfig) {
						t.Errorf("%v is not ErrModelConfig", err)
					}
					return
				}
				var ue *UnavailableError
				if !errors.As(err, &ue) {
					t.Fatalf("%v is not an *UnavailableError", err)
				}
				if ue.Status != tt.status || ue.RetryAfter != tt.retryAfter {
					t.Errorf("Status %d, RetryAfter %s; want %d, %s (%v)", ue.Status, ue.RetryAfter, tt.status, tt.retryAfter, err)
				}
			})
		}
	}
}

// TestLLMConnectionRefused: a server that is not there is unavailable, not misconfigured.
func TestLLMConnectionRefused(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	g, err := NewOpenAI(LLMConfig{BaseURL: url + "/v1", Model: "m", APIKey: testKey})
	if err != nil {
		t.Fatal(err)
	}
	_, err = g.Generate(t.Context(), Prompt{Question: "q", Sources: bridgeSources()}, nil)
	if !errors.Is(err, ErrModelUnavailable) {
		t.Errorf("err = %v, want ErrModelUnavailable", err)
	}
}

// TestLLMCanceled: when the caller gives up, the error is the context's, not a model
// failure to retry.
func TestLLMCanceled(t *testing.T) {
	t.Parallel()
	f := newFakeServer(t, "openai", reply{delay: 5 * time.Second})
	g := newTestOpenAI(t, f, LLMConfig{})
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	_, err := g.Generate(ctx, Prompt{Question: "q", Sources: bridgeSources()}, nil)
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrModelUnavailable) {
		t.Errorf("err = %v, want the context's deadline and not ErrModelUnavailable", err)
	}
}

// TestOllamaStreaming: Ollama's NDJSON stream arrives in order with its token counts, and
// the request sets the context window.
func TestOllamaStreaming(t *testing.T) {
	t.Parallel()
	chunks := []string{"It opened ", "in 1937", " [1]."}
	f := newFakeServer(t, "ollama", reply{chunks: chunks, usage: [2]int{400, 8}})
	g := newTestOllama(t, f, LLMConfig{})
	var deltas []string
	d, err := g.Generate(t.Context(), Prompt{Question: "When did it open?", Sources: bridgeSources()},
		func(s string) { deltas = append(deltas, s) })
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(chunks, deltas); diff != "" {
		t.Errorf("deltas (-want +got):\n%s", diff)
	}
	want := Draft{Text: "It opened in 1937 [1].", Model: "ollama:llama-test", Usage: Usage{PromptTokens: 400, CompletionTokens: 8}}
	if diff := cmp.Diff(want, d); diff != "" {
		t.Errorf("draft (-want +got):\n%s", diff)
	}
	c := f.calls()[0]
	req := decodeChat(t, c.body)
	if req.Model != "llama-test" || !req.Stream || req.Options.NumCtx != DefaultOllamaNumCtx || req.Options.NumPredict != DefaultMaxTokens {
		t.Errorf("request: model %q, stream %v, num_ctx %d, num_predict %d", req.Model, req.Stream, req.Options.NumCtx, req.Options.NumPredict)
	}
	if len(req.Messages) != 2 || req.Messages[0].Role != "system" || !strings.Contains(req.Messages[1].Content, `<source n="2" title="Paint"`) {
		t.Errorf("messages: %+v", req.Messages)
	}
	if got := c.header.Get("Authorization"); got != "" {
		t.Errorf("Authorization %q sent without a key", got)
	}
}

func TestLLMConfig(t *testing.T) {
	t.Parallel()
	bad := []LLMConfig{
		{BaseURL: "http://localhost:1/v1"},                             // no model
		{BaseURL: "ftp://localhost/v1", Model: "m"},                    // scheme
		{BaseURL: "https://api.openai.com/v1", Model: "gpt-4o"},        // OpenAI without a key
		{BaseURL: "http://localhost:1/v1", Model: "m", Temperature: 3}, // temperature
		{BaseURL: "http://localhost:1/v1", Model: "m", MaxTokens: -1},
		{BaseURL: "http://localhost:1/v1", Model: "m", Timeout: -time.Second},
	}
	for _, cfg := range bad {
		if _, err := NewOpenAI(cfg); err == nil {
			t.Errorf("NewOpenAI(%+v) accepted", cfg)
		} else if cfg.APIKey != "" && strings.Contains(err.Error(), cfg.APIKey) {
			t.Errorf("error shows the key: %v", err)
		}
	}
	if _, err := NewOllama(LLMConfig{Model: "llama3.1"}); err != nil {
		t.Errorf("NewOllama with defaults: %v", err)
	}
}

func TestStripThinking(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"<think>hmm, the sources say</think>\n\nIt opened in 1937 [1].": "It opened in 1937 [1].",
		"It opened in 1937 [1].":      "It opened in 1937 [1].",
		"<think>never finished":       "",
		"  <think>a</think> b [1]":    "b [1]",
		"Answer with <think> inside.": "Answer with <think> inside.",
	} {
		if got := stripThinking(in); got != want {
			t.Errorf("stripThinking(%q) = %q, want %q", in, got, want)
		}
	}
}
