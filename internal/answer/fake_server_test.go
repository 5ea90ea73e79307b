package answer

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// fakeServer is an httptest server speaking OpenAI's chat completions API (streamed as
// server-sent events) or Ollama's /api/chat (streamed as NDJSON), answering each call with
// the next scripted reply (the last one repeats) and recording the requests.
type fakeServer struct {
	t        *testing.T
	srv      *httptest.Server
	provider string // "openai" or "ollama"

	mu       sync.Mutex
	replies  []reply
	requests []recorded
}

// reply is one scripted answer.
type reply struct {
	status int               // default 200
	header map[string]string // e.g. Retry-After
	body   string            // the body of a non-200 answer
	chunks []string          // the content deltas of a 200 answer
	usage  [2]int            // prompt and completion tokens; reported when not zero
	delay  time.Duration     // before answering; ends early when the client goes away
	cut    bool              // drop the connection after the chunks, without finishing
}

// recorded is a request the server received.
type recorded struct {
	path   string
	header http.Header
	body   []byte
}

func newFakeServer(t *testing.T, provider string, replies ...reply) *fakeServer {
	t.Helper()
	f := &fakeServer{t: t, provider: provider, replies: replies}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

// url is the base URL to configure a generator with.
func (f *fakeServer) url() string {
	if f.provider == "openai" {
		return f.srv.URL + "/v1"
	}
	return f.srv.URL
}

func (f *fakeServer) calls() []recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]recorded(nil), f.requests...)
}

func (f *fakeServer) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		f.t.Errorf("read request: %v", err)
		return
	}
	f.mu.Lock()
	n := len(f.requests)
	f.requests = append(f.requests, recorded{path: r.URL.Path, header: r.Header.Clone(), body: body})
	rep := f.replies[min(n, len(f.replies)-1)]
	f.mu.Unlock()

	wantPath := map[string]string{"openai": "/v1/chat/completions", "ollama": "/api/chat"}[f.provider]
	if r.Method != http.MethodPost || r.URL.Path != wantPath {
		http.Error(w, `{"error":{"message":"not found"}}`, http.StatusNotFound)
		return
	}
	if rep.delay > 0 {
		select {
		case <-time.After(rep.delay):
		case <-r.Context().Done():
			return
		}
	}
	for k, v := range rep.header {
		w.Header().Set(k, v)
	}
	if rep.status != 0 && rep.status != http.StatusOK {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(rep.status)
		io.WriteString(w, rep.body)
		return
	}
	if f.provider == "openai" {
		f.streamOpenAI(w, rep)
	} else {
		f.streamOllama(w, rep)
	}
}

// streamOpenAI writes a chat completion stream as OpenAI does: a first chunk with the role,
// one chunk per delta, a chunk with the finish reason, a usage chunk with no choices (asked
// for with stream_options.include_usage), then [DONE].
func (f *fakeServer) streamOpenAI(w http.ResponseWriter, rep reply) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	flusher := w.(http.Flusher)
	event := func(v any) {
		b, err := json.Marshal(v)
		if err != nil {
			f.t.Error(err)
		}
		fmt.Fprintf(w, "data: %s\n\n", b)
		flusher.Flush()
	}
	chunk := func(delta map[string]any, finish any) map[string]any {
		return map[string]any{
			"id": "chatcmpl-test", "object": "chat.completion.chunk", "created": 1700000000,
			"model": "gpt-test", "system_fingerprint": "fp_test",
			"choices": []any{map[string]any{"index": 0, "delta": delta, "logprobs": nil, "finish_reason": finish}},
			"usage":   nil,
		}
	}
	event(chunk(map[string]any{"role": "assistant", "content": ""}, nil))
	for _, c := range rep.chunks {
		event(chunk(map[string]any{"content": c}, nil))
	}
	if rep.cut {
		panic(http.ErrAbortHandler) // the connection drops mid-answer
	}
	event(chunk(map[string]any{}, "stop"))
	if rep.usage != [2]int{} {
		event(map[string]any{
			"id": "chatcmpl-test", "object": "chat.completion.chunk", "created": 1700000000,
			"model": "gpt-test", "choices": []any{},
			"usage": map[string]any{"prompt_tokens": rep.usage[0], "completion_tokens": rep.usage[1],
				"total_tokens": rep.usage[0] + rep.usage[1]},
		})
	}
	io.WriteString(w, "data: [DONE]\n\n")
	flusher.Flush()
}

// streamOllama writes an /api/chat stream as Ollama does: one JSON object per line, the
// last with done true and the token counts.
func (f *fakeServer) streamOllama(w http.ResponseWriter, rep reply) {
	w.Header().Set("Content-Type", "application/x-ndjson")
	flusher := w.(http.Flusher)
	line := func(v any) {
		b, err := json.Marshal(v)
		if err != nil {
			f.t.Error(err)
		}
		fmt.Fprintf(w, "%s\n", b)
		flusher.Flush()
	}
	for _, c := range rep.chunks {
		line(map[string]any{"model": "llama-test", "created_at": "2026-01-01T00:00:00Z",
			"message": map[string]any{"role": "assistant", "content": c}, "done": false})
	}
	if rep.cut {
		panic(http.ErrAbortHandler)
	}
	line(map[string]any{"model": "llama-test", "created_at": "2026-01-01T00:00:01Z",
		"message": map[string]any{"role": "assistant", "content": ""}, "done": true, "done_reason": "stop",
		"total_duration": 1000000, "prompt_eval_count": rep.usage[0], "eval_count": rep.usage[1]})
}

// openAIError is OpenAI's error body.
func openAIError(msg, typ string) string {
	b, _ := json.Marshal(map[string]any{"error": map[string]any{"message": msg, "type": typ, "param": nil, "code": nil}})
	return string(b)
}

// chatRequest is the part of a chat request the tests look at (both providers).
type chatRequest struct {
	Model    string `json:"model"`
	Messages []struct {
		Role    string `json:"role"`
		Content string `json:"content"`
	} `json:"messages"`
	Stream              bool            `json:"stream"`
	Temperature         *float64        `json:"temperature"`
	MaxCompletionTokens int             `json:"max_completion_tokens"`
	MaxTokens           int             `json:"max_tokens"`
	StreamOptions       json.RawMessage `json:"stream_options"`
	Options             struct {        // Ollama
		NumCtx      int     `json:"num_ctx"`
		NumPredict  int     `json:"num_predict"`
		Temperature float64 `json:"temperature"`
	} `json:"options"`
}

func decodeChat(t *testing.T, body []byte) chatRequest {
	t.Helper()
	var r chatRequest
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatalf("request body %s: %v", body, err)
	}
	return r
}
