package embed

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// The remote embedders are tested through the real langchaingo clients against fake servers
// that speak each provider's wire format: OpenAI's POST /v1/embeddings and Ollama's POST
// /api/embed (which langchaingo's client calls once per text).

const testDim = 8

// vecFor is the fake model: a fixed pseudo-random vector per text.
func vecFor(text string, dim int) []float32 {
	h := fnv.New32a()
	h.Write([]byte(text))
	x := h.Sum32()
	v := make([]float32, dim)
	for i := range v {
		x = x*1664525 + 1013904223
		v[i] = float32(int32(x)>>8) / (1 << 23)
	}
	return v
}

func vecsFor(texts []string, dim int) [][]float32 {
	out := make([][]float32, len(texts))
	for i, t := range texts {
		out[i] = vecFor(t, dim)
	}
	return out
}

// request is what a fake server received.
type request struct {
	Path       string
	Auth       string // Authorization header
	Org        string // OpenAI-Organization header
	Model      string
	Inputs     []string
	Dimensions int
}

// reply is what a fake server answers. The zero reply is a correct answer.
type reply struct {
	status  int               // default 200
	header  map[string]string // extra headers
	message string            // error message, put in the provider's error JSON
	raw     string            // the body as is, instead of JSON
	vecs    [][]float32       // the vectors; default vecFor of each input
	hang    bool              // never answer
	drop    bool              // close the connection without an answer
	delay   time.Duration     // wait before answering
}

// provider describes one provider's wire format and how to build its embedder.
type provider struct {
	name    string
	path    string
	perText bool // langchaingo sends one request per text
	decode  func(body []byte) (request, error)
	encode  func(model string, vecs [][]float32) any
	errBody func(msg string) any
	new     func(baseURL string, c testConfig) (remoteEmbedder, error)
}

// remoteEmbedder is what both remote embedders offer.
type remoteEmbedder interface {
	Embedder
	DetectDimension(ctx context.Context) (int, error)
}

// testConfig holds the settings the tests vary, for either provider.
type testConfig struct {
	APIKey         string
	Model          string
	Dimension      int
	BatchSize      int
	Concurrency    int
	Timeout        time.Duration
	MaxRetries     int
	RetryMaxDelay  time.Duration
	RequestDim     bool
	HTTPClient     *http.Client
	Logger         *slog.Logger
	retryBaseDelay time.Duration
}

func (c testConfig) withDefaults() testConfig {
	if c.Model == "" {
		c.Model = "test-embed"
	}
	if c.retryBaseDelay == 0 {
		c.retryBaseDelay = time.Millisecond
	}
	if c.RetryMaxDelay == 0 {
		c.RetryMaxDelay = 20 * time.Millisecond
	}
	return c
}

var openAIProvider = provider{
	name: "openai",
	path: "/v1/embeddings",
	decode: func(body []byte) (request, error) {
		var p struct {
			Model      string   `json:"model"`
			Input      []string `json:"input"`
			Dimensions int      `json:"dimensions"`
		}
		err := json.Unmarshal(body, &p)
		return request{Model: p.Model, Inputs: p.Input, Dimensions: p.Dimensions}, err
	},
	encode: func(model string, vecs [][]float32) any {
		return openAIAnswer(model, vecs, nil)
	},
	errBody: func(msg string) any {
		return map[string]any{"error": map[string]any{"message": msg, "type": "invalid_request_error", "param": nil, "code": nil}}
	},
	new: func(baseURL string, c testConfig) (remoteEmbedder, error) {
		c = c.withDefaults()
		return NewOpenAI(OpenAIConfig{
			BaseURL: baseURL + "/v1", APIKey: c.APIKey, Model: c.Model, Dimension: c.Dimension,
			RequestDimension: c.RequestDim, BatchSize: c.BatchSize, Concurrency: c.Concurrency,
			Timeout: c.Timeout, MaxRetries: c.MaxRetries, RetryBaseDelay: c.retryBaseDelay,
			RetryMaxDelay: c.RetryMaxDelay, HTTPClient: c.HTTPClient, Logger: c.Logger,
		})
	},
}

// openAIAnswer is an OpenAI embeddings answer; order lists the input indexes in the order
// the data items appear (nil: in order).
func openAIAnswer(model string, vecs [][]float32, order []int) any {
	if order == nil {
		for i := range vecs {
			order = append(order, i)
		}
	}
	data := []any{}
	for _, i := range order {
		data = append(data, map[string]any{"object": "embedding", "index": i, "embedding": vecs[i]})
	}
	return map[string]any{
		"object": "list", "data": data, "model": model,
		"usage": map[string]int{"prompt_tokens": 5 * len(vecs), "total_tokens": 5 * len(vecs)},
	}
}

var ollamaProvider = provider{
	name:    "ollama",
	path:    "/api/embed",
	perText: true,
	decode: func(body []byte) (request, error) {
		var p struct {
			Model string          `json:"model"`
			Input json.RawMessage `json:"input"`
		}
		if err := json.Unmarshal(body, &p); err != nil {
			return request{}, err
		}
		var one string
		if err := json.Unmarshal(p.Input, &one); err == nil {
			return request{Model: p.Model, Inputs: []string{one}}, nil
		}
		var many []string
		err := json.Unmarshal(p.Input, &many)
		return request{Model: p.Model, Inputs: many}, err
	},
	encode: func(model string, vecs [][]float32) any {
		return map[string]any{
			"model": model, "embeddings": vecs,
			"total_duration": 14143917, "load_duration": 1019500, "prompt_eval_count": 8,
		}
	},
	errBody: func(msg string) any { return map[string]string{"error": msg} },
	new: func(baseURL string, c testConfig) (remoteEmbedder, error) {
		c = c.withDefaults()
		return NewOllama(OllamaConfig{
			BaseURL: baseURL, Model: c.Model, Dimension: c.Dimension, BatchSize: c.BatchSize,
			Concurrency: c.Concurrency, Timeout: c.Timeout, MaxRetries: c.MaxRetries,
			RetryBaseDelay: c.retryBaseDelay, RetryMaxDelay: c.RetryMaxDelay, HTTPClient: c.HTTPClient,
			Logger: c.Logger,
		})
	},
}

var providers = []provider{openAIProvider, ollamaProvider}

// fakeServer is a provider's embeddings endpoint whose answers the test decides.
type fakeServer struct {
	t       *testing.T
	p       provider
	url     string
	respond func(n int, req request) reply // n counts requests from 1

	mu       sync.Mutex
	requests []request
	inflight int
	maxIn    int
}

func newFakeServer(t *testing.T, p provider, respond func(n int, req request) reply) *fakeServer {
	t.Helper()
	f := &fakeServer{t: t, p: p, respond: respond}
	if f.respond == nil {
		f.respond = func(int, request) reply { return reply{} }
	}
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.serve(w, r, done)
	}))
	t.Cleanup(func() {
		close(done)
		srv.Close()
	})
	f.url = srv.URL
	return f
}

func (f *fakeServer) serve(w http.ResponseWriter, r *http.Request, done chan struct{}) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	if r.Method != http.MethodPost || r.URL.Path != f.p.path {
		http.Error(w, "404 page not found", http.StatusNotFound)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		http.Error(w, "bad content type "+ct, http.StatusUnsupportedMediaType)
		return
	}
	req, err := f.p.decode(body)
	if err != nil {
		http.Error(w, "bad request: "+err.Error(), http.StatusBadRequest)
		return
	}
	req.Path, req.Auth, req.Org = r.URL.Path, r.Header.Get("Authorization"), r.Header.Get("OpenAI-Organization")

	f.mu.Lock()
	f.requests = append(f.requests, req)
	n := len(f.requests)
	f.inflight++
	f.maxIn = max(f.maxIn, f.inflight)
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.inflight--
		f.mu.Unlock()
	}()

	rep := f.respond(n, req)
	if rep.delay > 0 {
		select {
		case <-time.After(rep.delay):
		case <-r.Context().Done():
			return
		}
	}
	switch {
	case rep.hang:
		select {
		case <-r.Context().Done():
		case <-done:
		}
		return
	case rep.drop:
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
		return
	}
	for k, v := range rep.header {
		w.Header().Set(k, v)
	}
	status := rep.status
	if status == 0 {
		status = http.StatusOK
	}
	if rep.raw != "" {
		w.WriteHeader(status)
		io.WriteString(w, rep.raw)
		return
	}
	var answer any
	if status >= 400 {
		answer = f.p.errBody(rep.message)
	} else {
		vecs := rep.vecs
		if vecs == nil {
			vecs = vecsFor(req.Inputs, testDim)
		}
		answer = f.p.encode(req.Model, vecs)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if err := json.NewEncoder(w).Encode(answer); err != nil {
		f.t.Errorf("encode answer: %v", err)
	}
}

func (f *fakeServer) received() []request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.requests)
}

func (f *fakeServer) maxInflight() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.maxIn
}

func newRemoteEmbedder(t *testing.T, p provider, f *fakeServer, c testConfig) remoteEmbedder {
	t.Helper()
	e, err := p.new(f.url, c)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func texts(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("text number %d", i)
	}
	return out
}

func TestRemoteBatches(t *testing.T) {
	t.Parallel()
	for _, p := range providers {
		for _, tt := range []struct {
			n, batch int
		}{{1, 3}, {3, 3}, {10, 3}, {10, 96}, {200, 96}} {
			t.Run(fmt.Sprintf("%s/%d texts, batches of %d", p.name, tt.n, tt.batch), func(t *testing.T) {
				t.Parallel()
				f := newFakeServer(t, p, nil)
				e := newRemoteEmbedder(t, p, f, testConfig{BatchSize: tt.batch, Concurrency: 3})
				in := texts(tt.n)
				got, err := e.Embed(t.Context(), in)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(vecsFor(in, testDim), got); diff != "" {
					t.Errorf("vectors (-want +got):\n%s", diff)
				}
				// OpenAI: ceil(n/batch) requests of at most batch texts. Ollama: one per text.
				var sizes, wantSizes []int
				var sent []string
				for _, r := range f.received() {
					sizes = append(sizes, len(r.Inputs))
					sent = append(sent, r.Inputs...)
					if r.Model != "test-embed" {
						t.Errorf("model sent = %q, want test-embed", r.Model)
					}
				}
				for i := 0; i < tt.n; i += tt.batch {
					wantSizes = append(wantSizes, min(tt.batch, tt.n-i))
				}
				if p.perText {
					wantSizes = slices.Repeat([]int{1}, tt.n)
				}
				slices.Sort(sizes)
				slices.Sort(wantSizes)
				slices.Sort(sent)
				slices.Sort(in)
				if diff := cmp.Diff(wantSizes, sizes); diff != "" {
					t.Errorf("request sizes (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff(in, sent); diff != "" {
					t.Errorf("texts sent (-want +got):\n%s", diff)
				}
				if e.Dimension() != testDim {
					t.Errorf("Dimension() = %d, want %d (learned)", e.Dimension(), testDim)
				}
			})
		}
	}
}

// TestRemoteFailures runs each failure, and each retry that ends well, against both
// providers with one text, so one attempt is one request.
func TestRemoteFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		cfg          testConfig
		respond      func(n int, req request) reply
		wantErr      error    // errors.Is; nil means success
		wantMsg      []string // substrings of the error
		wantRequests int
	}{
		{
			name: "500 then success",
			respond: func(n int, _ request) reply {
				if n == 1 {
					return reply{status: 500, message: "internal error"}
				}
				return reply{}
			},
			wantRequests: 2,
		},
		{
			name: "503, 502 then success",
			respond: func(n int, _ request) reply {
				if n <= 2 {
					return reply{status: 501 + n, raw: "<html>bad gateway</html>"}
				}
				return reply{}
			},
			wantRequests: 3,
		},
		{
			name: "429 with Retry-After 0 then success",
			respond: func(n int, _ request) reply {
				if n == 1 {
					return reply{status: 429, message: "Rate limit reached", header: map[string]string{"Retry-After": "0"}}
				}
				return reply{}
			},
			wantRequests: 2,
		},
		{
			name: "connection dropped then success",
			respond: func(n int, _ request) reply {
				return reply{drop: n == 1}
			},
			wantRequests: 2,
		},
		{
			name:         "persistent 500",
			cfg:          testConfig{MaxRetries: 3},
			respond:      func(int, request) reply { return reply{status: 500, message: "model crashed"} },
			wantMsg:      []string{"4 attempts", "HTTP 500: model crashed"},
			wantRequests: 4,
		},
		{
			name: "persistent 502 with a long HTML page",
			cfg:  testConfig{MaxRetries: -1},
			respond: func(int, request) reply {
				return reply{status: 502, raw: "<html><body>" + strings.Repeat("Bad Gateway ", 1000) + "</body></html>"}
			},
			wantMsg:      []string{"after 1 attempt (HTTP 502: <html><body>Bad Gateway"},
			wantRequests: 1,
		},
		{
			name:         "400 is not retried",
			respond:      func(int, request) reply { return reply{status: 400, message: "input too long"} },
			wantMsg:      []string{"request refused (HTTP 400: input too long)"},
			wantRequests: 1,
		},
		{
			name:         "401 is not retried",
			respond:      func(int, request) reply { return reply{status: 401, message: "unauthorized"} },
			wantErr:      ErrUnauthorized,
			wantMsg:      []string{"HTTP 401: unauthorized"},
			wantRequests: 1,
		},
		{
			name:         "403 is not retried",
			respond:      func(int, request) reply { return reply{status: 403, message: "forbidden"} },
			wantErr:      ErrUnauthorized,
			wantRequests: 1,
		},
		{
			name: "404 unknown model",
			cfg:  testConfig{Model: "no-such-model"},
			respond: func(int, request) reply {
				return reply{status: 404, message: `model "no-such-model" not found, try pulling it first`}
			},
			wantErr:      ErrModelNotFound,
			wantMsg:      []string{`"no-such-model" is unknown there`, "127.0.0.1"},
			wantRequests: 1,
		},
		{
			name: "400 unknown model",
			cfg:  testConfig{Model: "no-such-model"},
			respond: func(int, request) reply {
				return reply{status: 400, message: "The model `no-such-model` does not exist."}
			},
			wantErr:      ErrModelNotFound,
			wantRequests: 1,
		},
		{
			name:         "too many vectors",
			respond:      func(_ int, req request) reply { return reply{vecs: vecsFor([]string{"a", "b"}, testDim)} },
			wantErr:      ErrBadResponse,
			wantRequests: 1,
		},
		{
			name:         "no vectors",
			respond:      func(int, request) reply { return reply{vecs: [][]float32{}} },
			wantErr:      ErrBadResponse,
			wantRequests: 1,
		},
		{
			name:         "wrong dimension",
			cfg:          testConfig{Dimension: testDim},
			respond:      func(_ int, req request) reply { return reply{vecs: vecsFor(req.Inputs, testDim-1)} },
			wantErr:      ErrBadResponse,
			wantMsg:      []string{"has 7 dimensions, want 8"},
			wantRequests: 1,
		},
		{
			name:         "empty vector",
			respond:      func(int, request) reply { return reply{vecs: [][]float32{{}}} },
			wantErr:      ErrBadResponse,
			wantRequests: 1,
		},
		{
			name:         "zero vector",
			respond:      func(int, request) reply { return reply{vecs: [][]float32{make([]float32, testDim)}} },
			wantErr:      ErrBadResponse,
			wantMsg:      []string{"all zeros"},
			wantRequests: 1,
		},
		{
			name: "NaN in the JSON",
			respond: func(int, request) reply {
				return reply{raw: `{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.1,NaN,0.3]}],"model":"m","embeddings":[[0.1,NaN,0.3]]}`}
			},
			wantErr:      ErrBadResponse,
			wantRequests: 1,
		},
		{
			name: "overflowing float",
			respond: func(int, request) reply {
				return reply{raw: `{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.1,1e39,0.3]}],"model":"m","embeddings":[[0.1,1e39,0.3]]}`}
			},
			wantErr:      ErrBadResponse,
			wantRequests: 1,
		},
		{
			name:         "HTML instead of JSON",
			respond:      func(int, request) reply { return reply{raw: "<html><body>Welcome to nginx!</body></html>"} },
			wantErr:      ErrBadResponse,
			wantRequests: 1,
		},
	}
	for _, p := range providers {
		for _, tt := range tests {
			t.Run(p.name+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				f := newFakeServer(t, p, tt.respond)
				e := newRemoteEmbedder(t, p, f, tt.cfg)
				got, err := e.Embed(t.Context(), []string{"hello world"})
				if n := len(f.received()); n != tt.wantRequests {
					t.Errorf("%d requests, want %d", n, tt.wantRequests)
				}
				if len(tt.wantMsg) == 0 && tt.wantErr == nil {
					if err != nil {
						t.Fatalf("Embed: %v", err)
					}
					if diff := cmp.Diff(vecsFor([]string{"hello world"}, testDim), got); diff != "" {
						t.Errorf("vectors (-want +got):\n%s", diff)
					}
					return
				}
				if err == nil {
					t.Fatalf("Embed succeeded, want an error")
				}
				if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
					t.Errorf("error %q is not %q", err, tt.wantErr)
				}
				for _, s := range append(tt.wantMsg, "embed batch 0", p.name+" at http://127.0.0.1") {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not contain %q", err, s)
					}
				}
				if len(err.Error()) > 600 {
					t.Errorf("error of %d bytes: %q", len(err.Error()), err)
				}
			})
		}
	}
}

func TestRemoteRetryAfter(t *testing.T) {
	t.Parallel()
	for _, p := range providers {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			var first time.Time
			var waited time.Duration
			f := newFakeServer(t, p, func(n int, _ request) reply {
				if n == 1 {
					first = time.Now()
					return reply{status: 429, message: "slow down", header: map[string]string{"Retry-After": "1"}}
				}
				waited = time.Since(first)
				return reply{}
			})
			e := newRemoteEmbedder(t, p, f, testConfig{RetryMaxDelay: 5 * time.Second})
			if _, err := e.Embed(t.Context(), []string{"hello"}); err != nil {
				t.Fatal(err)
			}
			if waited < 900*time.Millisecond || waited > 3*time.Second {
				t.Errorf("retried after %s, want about the 1s of Retry-After", waited)
			}
		})
	}
}

func TestRemoteRetryAfterCapped(t *testing.T) {
	t.Parallel()
	for _, p := range providers {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeServer(t, p, func(n int, _ request) reply {
				if n == 1 {
					return reply{status: 503, header: map[string]string{"Retry-After": "3600"}}
				}
				return reply{}
			})
			e := newRemoteEmbedder(t, p, f, testConfig{RetryMaxDelay: 50 * time.Millisecond})
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			start := time.Now()
			if _, err := e.Embed(ctx, []string{"hello"}); err != nil {
				t.Fatal(err)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("took %s: Retry-After was not capped at RetryMaxDelay", d)
			}
		})
	}
}

// TestRemoteRetryPastDeadline: when the wait the server asks for would outlive the caller's
// deadline, the embedder reports the server's answer at once.
func TestRemoteRetryPastDeadline(t *testing.T) {
	t.Parallel()
	for _, p := range providers {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeServer(t, p, func(int, request) reply {
				return reply{status: 503, message: "overloaded", header: map[string]string{"Retry-After": "30"}}
			})
			e := newRemoteEmbedder(t, p, f, testConfig{RetryMaxDelay: time.Minute})
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
			defer cancel()
			start := time.Now()
			_, err := e.Embed(ctx, []string{"hello"})
			if err == nil || !strings.Contains(err.Error(), "HTTP 503: overloaded") {
				t.Errorf("err = %v, want the 503", err)
			}
			if d := time.Since(start); d > time.Second {
				t.Errorf("took %s, want an immediate answer", d)
			}
		})
	}
}

func TestRemoteTimeout(t *testing.T) {
	t.Parallel()
	for _, p := range providers {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeServer(t, p, func(int, request) reply { return reply{hang: true} })
			e := newRemoteEmbedder(t, p, f, testConfig{Timeout: 100 * time.Millisecond, MaxRetries: 1})
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second) // fail, not hang
			defer cancel()
			start := time.Now()
			_, err := e.Embed(ctx, []string{"hello"})
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("took %s with a 100ms timeout and one retry", d)
			}
			if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "no answer after 2 attempts: no complete response within 100ms") {
				t.Errorf("err = %v, want the request timeout after 2 attempts", err)
			}
			if n := len(f.received()); n != 2 {
				t.Errorf("%d requests, want 2", n)
			}
		})
	}
}

// TestRemoteSlowBody: the timeout covers reading the answer, not only its headers.
func TestRemoteSlowBody(t *testing.T) {
	t.Parallel()
	for _, p := range providers {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			done := make(chan struct{})
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusOK)
				io.WriteString(w, `{"object":"list","data":[`)
				w.(http.Flusher).Flush()
				select {
				case <-r.Context().Done():
				case <-done:
				}
			}))
			t.Cleanup(func() { close(done); srv.Close() })
			e, err := p.new(srv.URL, testConfig{Timeout: 100 * time.Millisecond, MaxRetries: -1})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second) // fail, not hang
			defer cancel()
			start := time.Now()
			if _, err := e.Embed(ctx, []string{"hello"}); !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "within 100ms") {
				t.Errorf("err = %v, want the request timeout", err)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("took %s with a 100ms timeout", d)
			}
		})
	}
}

func TestRemoteCanceled(t *testing.T) {
	t.Parallel()
	for _, p := range providers {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeServer(t, p, func(int, request) reply { return reply{hang: true} })
			e := newRemoteEmbedder(t, p, f, testConfig{BatchSize: 1, Concurrency: 2})
			ctx, cancel := context.WithCancel(t.Context())
			time.AfterFunc(50*time.Millisecond, cancel)
			start := time.Now()
			_, err := e.Embed(ctx, texts(10))
			if !errors.Is(err, context.Canceled) {
				t.Errorf("err = %v, want context.Canceled", err)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("took %s to notice the cancellation", d)
			}
			if n := len(f.received()); n > 2 {
				t.Errorf("%d requests after cancellation, want at most 2 (the ones in flight)", n)
			}
		})
	}
}

func TestRemoteConcurrency(t *testing.T) {
	t.Parallel()
	for _, p := range providers {
		for _, limit := range []int{1, 3} {
			t.Run(fmt.Sprintf("%s/%d", p.name, limit), func(t *testing.T) {
				t.Parallel()
				f := newFakeServer(t, p, func(int, request) reply { return reply{delay: 20 * time.Millisecond} })
				e := newRemoteEmbedder(t, p, f, testConfig{BatchSize: 1, Concurrency: limit})
				in := texts(12)
				got, err := e.Embed(t.Context(), in)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(vecsFor(in, testDim), got); diff != "" {
					t.Errorf("vectors (-want +got):\n%s", diff)
				}
				if m := f.maxInflight(); m != limit {
					t.Errorf("%d requests in flight at most, want %d", m, limit)
				}
			})
		}
	}
}

// TestRemoteFailureStopsBatches: a batch that fails for good cancels the others.
func TestRemoteFailureStopsBatches(t *testing.T) {
	t.Parallel()
	for _, p := range providers {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeServer(t, p, func(n int, _ request) reply {
				if n == 1 {
					return reply{status: 404, message: "model not found"}
				}
				return reply{delay: 20 * time.Millisecond}
			})
			e := newRemoteEmbedder(t, p, f, testConfig{BatchSize: 1, Concurrency: 2})
			if _, err := e.Embed(t.Context(), texts(50)); !errors.Is(err, ErrModelNotFound) {
				t.Errorf("err = %v, want ErrModelNotFound", err)
			}
			if n := len(f.received()); n > 4 {
				t.Errorf("%d requests: the failure did not stop the other batches", n)
			}
		})
	}
}

func TestRemoteDimension(t *testing.T) {
	t.Parallel()
	for _, p := range providers {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			dim := atomic.Int32{}
			dim.Store(testDim)
			f := newFakeServer(t, p, func(_ int, req request) reply {
				return reply{vecs: vecsFor(req.Inputs, int(dim.Load()))}
			})
			e := newRemoteEmbedder(t, p, f, testConfig{})
			if d := e.Dimension(); d != 0 {
				t.Errorf("Dimension() before any answer = %d, want 0", d)
			}
			d, err := e.DetectDimension(t.Context())
			if err != nil || d != testDim || e.Dimension() != testDim {
				t.Errorf("DetectDimension() = %d, %v; Dimension() = %d; want %d", d, err, e.Dimension(), testDim)
			}
			if _, err := e.DetectDimension(t.Context()); err != nil {
				t.Fatal(err)
			}
			if n := len(f.received()); n != 1 {
				t.Errorf("%d requests, want 1: a known dimension needs no probe", n)
			}
			dim.Store(testDim + 1) // the server changed its model
			if _, err := e.Embed(t.Context(), []string{"hello"}); !errors.Is(err, ErrBadResponse) {
				t.Errorf("err = %v after a change of dimension, want ErrBadResponse", err)
			}

			configured := newRemoteEmbedder(t, p, f, testConfig{Dimension: 1024})
			if d := configured.Dimension(); d != 1024 {
				t.Errorf("configured Dimension() = %d, want 1024", d)
			}
		})
	}
}

func TestRemoteInputs(t *testing.T) {
	t.Parallel()
	for _, p := range providers {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeServer(t, p, nil)
			e := newRemoteEmbedder(t, p, f, testConfig{})
			got, err := e.Embed(t.Context(), nil)
			if err != nil || len(got) != 0 {
				t.Errorf("Embed(nil) = %v, %v; want no vectors", got, err)
			}
			if _, err := e.Embed(t.Context(), []string{"a", ""}); !errors.Is(err, ErrEmptyText) || !strings.Contains(err.Error(), "text 1") {
				t.Errorf("err = %v, want ErrEmptyText naming text 1", err)
			}
			if n := len(f.received()); n != 0 {
				t.Errorf("%d requests, want none", n)
			}
			if e.Kind() != p.name || e.Model() != "test-embed" {
				t.Errorf("Kind(), Model() = %q, %q", e.Kind(), e.Model())
			}
		})
	}
}

// countingTransport counts the requests that reach it.
type countingTransport struct{ n atomic.Int32 }

func (c *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return http.DefaultTransport.RoundTrip(req)
}

func TestRemoteHTTPClient(t *testing.T) {
	t.Parallel()
	for _, p := range providers {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeServer(t, p, func(n int, _ request) reply {
				if n == 1 {
					return reply{status: 500}
				}
				return reply{}
			})
			ct := &countingTransport{}
			hc := &http.Client{Transport: ct}
			e := newRemoteEmbedder(t, p, f, testConfig{HTTPClient: hc})
			if _, err := e.Embed(t.Context(), []string{"hello"}); err != nil {
				t.Fatal(err)
			}
			if hc.Transport != ct {
				t.Error("the caller's client was modified")
			}
			if n := ct.n.Load(); n != 2 {
				t.Errorf("%d requests through the caller's transport, want 2", n)
			}
		})
	}
}

func TestRemoteConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		openai  OpenAIConfig
		ollama  OllamaConfig
		wantErr string // "" for valid; the field named
	}{
		{"model missing", OpenAIConfig{BaseURL: "http://h/v1"}, OllamaConfig{}, ".Model"},
		{"valid", OpenAIConfig{BaseURL: "http://h/v1", Model: "m"}, OllamaConfig{Model: "m"}, ""},
		{"no scheme", OpenAIConfig{BaseURL: "localhost:8000", Model: "m"}, OllamaConfig{BaseURL: "localhost:11434", Model: "m"}, ".BaseURL"},
		{"bad scheme", OpenAIConfig{BaseURL: "ftp://h", Model: "m"}, OllamaConfig{BaseURL: "ftp://h", Model: "m"}, ".BaseURL"},
		{"bad URL", OpenAIConfig{BaseURL: "http://h:x/%zz", Model: "m"}, OllamaConfig{BaseURL: "http://h:x/%zz", Model: "m"}, ".BaseURL"},
		{"negative dimension", OpenAIConfig{BaseURL: "http://h", Model: "m", Dimension: -1}, OllamaConfig{Model: "m", Dimension: -1}, ".Dimension"},
		{"huge dimension", OpenAIConfig{BaseURL: "http://h", Model: "m", Dimension: 5000}, OllamaConfig{Model: "m", Dimension: 5000}, ".Dimension"},
		{"batch size", OpenAIConfig{BaseURL: "http://h", Model: "m", BatchSize: -1}, OllamaConfig{Model: "m", BatchSize: 5000}, ".BatchSize"},
		{"concurrency", OpenAIConfig{BaseURL: "http://h", Model: "m", Concurrency: -2}, OllamaConfig{Model: "m", Concurrency: -2}, ".Concurrency"},
		{"timeout", OpenAIConfig{BaseURL: "http://h", Model: "m", Timeout: -time.Second}, OllamaConfig{Model: "m", Timeout: -time.Second}, ".Timeout"},
		{"retries", OpenAIConfig{BaseURL: "http://h", Model: "m", MaxRetries: -2}, OllamaConfig{Model: "m", MaxRetries: 100}, ".MaxRetries"},
		{"delays", OpenAIConfig{BaseURL: "http://h", Model: "m", RetryBaseDelay: time.Minute}, OllamaConfig{Model: "m", RetryBaseDelay: time.Minute}, ".RetryMaxDelay"},
	}
	for _, tt := range tests {
		_, err1 := NewOpenAI(tt.openai)
		_, err2 := NewOllama(tt.ollama)
		for i, err := range []error{err1, err2} {
			typ := []string{"OpenAIConfig", "OllamaConfig"}[i]
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("%s: New%s: %v", tt.name, typ, err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), typ+tt.wantErr)):
				t.Errorf("%s: New%s error = %v, want one naming %s%s", tt.name, typ, err, typ, tt.wantErr)
			}
		}
	}
}
