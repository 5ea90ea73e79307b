package rerank

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
)

type cohereBody struct {
	Model           string   `json:"model"`
	Query           string   `json:"query"`
	Documents       []string `json:"documents"`
	TopN            *int     `json:"top_n"`
	ReturnDocuments *bool    `json:"return_documents"`
}

func decodeCohereBody(t *testing.T, c call) cohereBody {
	t.Helper()
	var b cohereBody
	if err := json.Unmarshal(c.body, &b); err != nil {
		t.Fatalf("request %d: %v", c.n, err)
	}
	return b
}

// cohereAnswer is Cohere's answer to a rerank request: results sorted by score, the
// documents if asked for, and the billing metadata.
func cohereAnswer(b cohereBody) map[string]any {
	results := []any{}
	for _, i := range ranked(b.Query, b.Documents) {
		res := map[string]any{"index": i, "relevance_score": fakeScore(b.Query, b.Documents[i])}
		if b.ReturnDocuments != nil && *b.ReturnDocuments {
			res["document"] = map[string]any{"text": b.Documents[i]}
		}
		results = append(results, res)
	}
	if b.TopN != nil && *b.TopN < len(results) {
		results = results[:*b.TopN]
	}
	return map[string]any{
		"id":      "07734bd2-2473-4f07-94e1-0d9f0e6843cf",
		"results": results,
		"meta":    map[string]any{"api_version": map[string]any{"version": "1"}, "billed_units": map[string]any{"search_units": 1}},
	}
}

// jinaAnswer is Jina's: the model, token usage, and each document's text unless
// return_documents is false.
func jinaAnswer(b cohereBody) map[string]any {
	results := []any{}
	for _, i := range ranked(b.Query, b.Documents) {
		res := map[string]any{"index": i, "relevance_score": fakeScore(b.Query, b.Documents[i])}
		if b.ReturnDocuments == nil || *b.ReturnDocuments {
			res["document"] = map[string]any{"text": b.Documents[i]}
		}
		results = append(results, res)
	}
	if b.TopN != nil && *b.TopN < len(results) {
		results = results[:*b.TopN]
	}
	return map[string]any{
		"model":   b.Model,
		"usage":   map[string]any{"total_tokens": 815},
		"results": results,
	}
}

// cohereServer serves POST {prefix}/v1/rerank with answer, and wants the test key.
func cohereServer(prefix string, answer func(cohereBody) map[string]any) handler {
	return func(w http.ResponseWriter, r *http.Request, _ int, body []byte) {
		if r.Method != http.MethodPost || r.URL.Path != prefix+"/v1/rerank" {
			writeJSON(w, http.StatusNotFound, map[string]string{"message": "404 page not found"})
			return
		}
		if r.Header.Get("Authorization") != "Bearer "+testKey {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"message": "invalid api token"})
			return
		}
		var b cohereBody
		if err := json.Unmarshal(body, &b); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"message": "invalid request: " + err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, answer(b))
	}
}

func newCohere(t *testing.T, cfg CohereConfig) *Cohere {
	t.Helper()
	if cfg.Model == "" {
		cfg.Model = "rerank-v3.5"
	}
	r, err := NewCohere(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestCohereRerank(t *testing.T) {
	t.Parallel()
	passages := []string{
		"Carson City is the capital city of Nevada.",
		"Washington, D.C. is the capital of the United States.",
		"Capital punishment has existed in the United States since before it was a country.",
		"The capital city of France is Paris.",
	}
	const query = "What is the capital of the United States?"
	tests := []struct {
		name   string
		prefix string // a path before /v1/rerank, as behind a gateway
		answer func(cohereBody) map[string]any
		model  string
	}{
		{"cohere", "", cohereAnswer, "rerank-v3.5"},
		{"jina", "", jinaAnswer, "jina-reranker-v2-base-multilingual"},
		{"behind a gateway", "/gateway/rerankers", cohereAnswer, "BAAI/bge-reranker-v2-m3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t, cohereServer(tt.prefix, tt.answer))
			r := newCohere(t, CohereConfig{BaseURL: f.URL() + tt.prefix + "/", APIKey: testKey, Model: tt.model})
			got, err := r.Rerank(t.Context(), query, passages)
			if err != nil {
				t.Fatal(err)
			}
			if diff := gocmp.Diff(fakeScores(query, passages), got); diff != "" {
				t.Errorf("scores (-want +got):\n%s", diff)
			}
			reqs := f.requests()
			if len(reqs) != 1 {
				t.Fatalf("%d requests, want 1", len(reqs))
			}
			if c := reqs[0]; c.contentType != "application/json" || c.auth != "Bearer "+testKey {
				t.Errorf("Content-Type %q, Authorization %q; want application/json and the bearer key", c.contentType, c.auth)
			}
			n, no := len(passages), false
			want := cohereBody{Model: tt.model, Query: query, Documents: passages, TopN: &n, ReturnDocuments: &no}
			if diff := gocmp.Diff(want, decodeCohereBody(t, reqs[0])); diff != "" {
				t.Errorf("request body (-want +got):\n%s", diff)
			}
			if got, want := r.Name(), "cohere:"+tt.model; got != want {
				t.Errorf("Name() = %q, want %q", got, want)
			}
		})
	}
}

func TestCohereBatching(t *testing.T) {
	t.Parallel()
	tests := []struct {
		n, maxBatch int
		wantSizes   []int // in order of the batches' first passage
	}{
		{100, 0, []int{100}}, // the default: one Cohere search unit
		{101, 0, []int{100, 1}},
		{250, 0, []int{100, 100, 50}},
		{5, 2, []int{2, 2, 1}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d passages by %d", tt.n, tt.maxBatch), func(t *testing.T) {
			t.Parallel()
			f := newFake(t, cohereServer("", cohereAnswer))
			r := newCohere(t, CohereConfig{BaseURL: f.URL(), APIKey: testKey, MaxBatch: tt.maxBatch})
			passages := passagesN(tt.n)
			got, err := r.Rerank(t.Context(), "query", passages)
			if err != nil {
				t.Fatal(err)
			}
			if diff := gocmp.Diff(fakeScores("query", passages), got); diff != "" {
				t.Errorf("scores (-want +got):\n%s", diff)
			}
			sizes := make([]int, len(tt.wantSizes))
			for _, c := range f.requests() {
				b := decodeCohereBody(t, c)
				var first int
				if _, err := fmt.Sscanf(b.Documents[0], "passage %d", &first); err != nil {
					t.Fatal(err)
				}
				size := cmp.Or(tt.maxBatch, DefaultCohereMaxBatch)
				i := first / size
				if first%size != 0 || i >= len(sizes) || sizes[i] != 0 {
					t.Fatalf("request %d starts at passage %d", c.n, first)
				}
				sizes[i] = len(b.Documents)
				if b.TopN == nil || *b.TopN != len(b.Documents) {
					t.Errorf("request %d: top_n %v for %d documents, want all", c.n, b.TopN, len(b.Documents))
				}
			}
			if diff := gocmp.Diff(tt.wantSizes, sizes); diff != "" {
				t.Errorf("batch sizes (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCohereStatusErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		status   int
		body     string
		wantIs   error // nil: none of the sentinels
		wantText []string
	}{
		{"401 cohere", 401, `{"message":"invalid api token"}`, ErrUnauthorized,
			[]string{"API key missing or rejected: check APIKey (HTTP 401: invalid api token)"}},
		{"401 jina", 401, `{"detail":"Unauthorized: invalid API key"}`, ErrUnauthorized, []string{"invalid API key"}},
		{"403", 403, `<html>403 Forbidden</html>`, ErrUnauthorized, []string{"HTTP 403"}},
		{"404 wrong URL", 404, `404 page not found`, ErrNotFound,
			[]string{"reranker not found: no rerank endpoint at http://", "/v1/rerank, or the server does not know the model \"rerank-v3.5\""}},
		{"404 model", 404, `{"message":"model 'rerank-v9' not found, make sure the correct model ID was used and that you have access to the model."}`, ErrNotFound,
			[]string{"model 'rerank-v9' not found"}},
		{"400 model", 400, `{"message":"invalid request: model 'rerank-v9' is not supported"}`, ErrNotFound, []string{"HTTP 400"}},
		{"400 too many tokens", 400, `{"message":"too many tokens: size limit exceeded by 11326 tokens. Try using shorter or fewer inputs."}`, ErrTooLarge,
			[]string{"input too large: the server refused the batch; lower MaxBatch, or send shorter passages (HTTP 400: too many tokens"}},
		{"413", 413, `request entity too large`, ErrTooLarge, []string{"HTTP 413"}},
		{"422 malformed is not too large", 422, `{"detail":[{"loc":["body","query"],"msg":"Field required","type":"missing"}]}`, nil,
			[]string{"request refused (HTTP 422: body.query: Field required)"}},
		{"402", 402, `{"message":"Please add a payment method"}`, nil, []string{"request refused (HTTP 402: Please add a payment method)"}},
		{"429", 429, `{"message":"You are using a Trial key, which is limited to 10 API calls / minute."}`, ErrOverloaded,
			[]string{"HTTP 429: You are using a Trial key"}},
		{"503", 503, `{"message":"service unavailable"}`, ErrOverloaded, []string{"HTTP 503"}},
		{"500", 500, `{"message":"internal server error"}`, nil, []string{"server error (HTTP 500: internal server error)"}},
	}
	sentinels := []error{ErrUnauthorized, ErrNotFound, ErrTooLarge, ErrOverloaded, ErrBadResponse, ErrEmptyQuery}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t, func(w http.ResponseWriter, _ *http.Request, _ int, _ []byte) {
				writeRaw(w, tt.status, tt.body)
			})
			_, err := newCohere(t, CohereConfig{BaseURL: f.URL(), APIKey: testKey}).Rerank(t.Context(), "q", []string{"a", "b"})
			if err == nil {
				t.Fatal("no error")
			}
			for _, s := range sentinels {
				if want := s == tt.wantIs; errors.Is(err, s) != want {
					t.Errorf("errors.Is(err, %q) = %v, want %v; err: %v", s, !want, want, err)
				}
			}
			msg := err.Error()
			if want := "rerank: cohere at " + f.URL() + " (model rerank-v3.5): "; !strings.HasPrefix(msg, want) {
				t.Errorf("err = %q, want it to start with %q", msg, want)
			}
			for _, s := range tt.wantText {
				if !strings.Contains(msg, s) {
					t.Errorf("err = %q, want it to contain %q", msg, s)
				}
			}
			if n := len(f.requests()); n != 1 {
				t.Errorf("%d requests, want 1", n)
			}
		})
	}
}

func TestCohereBadResponses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, body, wantText string
	}{
		{"not JSON", `results: none`, "not a JSON object with results"},
		{"an array", `[{"index":0,"score":0.5}]`, "not a JSON object with results"},
		{"no results", `{"id":"x","meta":{}}`, "no results in the answer"},
		{"null results", `{"results":null}`, "no results in the answer"},
		{"a message instead", `{"message":"model is warming up"}`, "no results in the answer (model is warming up)"},
		{"top_n ignored", `{"results":[{"index":1,"relevance_score":0.9}]}`, "1 results for 2 passages: index 0 is missing"},
		{"duplicate", `{"results":[{"index":1,"relevance_score":0.9},{"index":1,"relevance_score":0.9}]}`, "index 1 appears more than once"},
		{"out of range", `{"results":[{"index":0,"relevance_score":0.9},{"index":7,"relevance_score":0.1}]}`, "result 1 has index 7, outside 0 to 1"},
		{"score named score", `{"results":[{"index":0,"score":0.9},{"index":1,"score":0.1}]}`, "result 0 lacks its index or relevance_score"},
		{"NaN", `{"results":[{"index":0,"relevance_score":NaN},{"index":1,"relevance_score":0.1}]}`, "not a JSON object"},
		{"null score", `{"results":[{"index":0,"relevance_score":null},{"index":1,"relevance_score":0.1}]}`, "result 0 lacks"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t, func(w http.ResponseWriter, _ *http.Request, _ int, _ []byte) {
				writeRaw(w, http.StatusOK, tt.body)
			})
			got, err := newCohere(t, CohereConfig{BaseURL: f.URL(), APIKey: testKey}).Rerank(t.Context(), "q", []string{"a", "b"})
			if !errors.Is(err, ErrBadResponse) {
				t.Fatalf("Rerank = %v, %v; want ErrBadResponse", got, err)
			}
			if !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("err = %q, want it to contain %q", err, tt.wantText)
			}
		})
	}
}

// TestCohereKeyNeverShown: a server echoing the key, in an error or in a successful answer
// without results, does not put it in the error.
func TestCohereKeyNeverShown(t *testing.T) {
	t.Parallel()
	for _, status := range []int{http.StatusUnauthorized, http.StatusBadRequest, http.StatusOK} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			t.Parallel()
			f := newFake(t, func(w http.ResponseWriter, r *http.Request, _ int, _ []byte) {
				writeJSON(w, status, map[string]string{"message": "got " + r.Header.Get("Authorization")})
			})
			r := newCohere(t, CohereConfig{BaseURL: f.URL(), APIKey: testKey})
			_, err := r.Rerank(t.Context(), "q", []string{"a"})
			if err == nil {
				t.Fatal("no error")
			}
			checkNoKey(t, "error", err.Error())
			if !strings.Contains(err.Error(), "got Bearer [redacted]") {
				t.Errorf("err = %q, want the server's message with the key redacted", err)
			}
		})
	}
}

func TestCohereTimeout(t *testing.T) {
	t.Parallel()
	var f *fake
	f = newFake(t, func(_ http.ResponseWriter, r *http.Request, _ int, _ []byte) { f.hang(r) })
	r := newCohere(t, CohereConfig{BaseURL: f.URL(), APIKey: testKey, Timeout: 150 * time.Millisecond})
	var err error
	within(t, 2*time.Second, func() { _, err = r.Rerank(t.Context(), "q", passagesN(250)) })
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "no answer within 150ms (Timeout)") {
		t.Errorf("err = %v, want the Timeout", err)
	}
}

func TestCohereRetry(t *testing.T) {
	t.Parallel()
	good := cohereServer("", jinaAnswer)
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int, body []byte) {
		if n == 1 {
			w.Header().Set("Retry-After", "0")
			writeJSON(w, http.StatusTooManyRequests, map[string]string{"message": "rate limited"})
			return
		}
		good(w, r, n, body)
	})
	r := newCohere(t, CohereConfig{BaseURL: f.URL(), APIKey: testKey, MaxRetries: 1})
	got, err := r.Rerank(t.Context(), "q", []string{"a", "b", "c"})
	if err != nil {
		t.Fatal(err)
	}
	if diff := gocmp.Diff(fakeScores("q", []string{"a", "b", "c"}), got); diff != "" {
		t.Errorf("scores (-want +got):\n%s", diff)
	}
	if n := len(f.requests()); n != 2 {
		t.Errorf("%d requests, want 2", n)
	}
}

func TestCohereConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		cfg     CohereConfig
		wantErr string // "": valid
		wantURL string // the endpoint, when valid
	}{
		{"defaults to Cohere", CohereConfig{APIKey: "k", Model: "rerank-v3.5"}, "", "https://api.cohere.com/v1/rerank"},
		{"jina", CohereConfig{BaseURL: "https://api.jina.ai", APIKey: "k", Model: "jina-reranker-m0"}, "", "https://api.jina.ai/v1/rerank"},
		{"self-hosted without a key", CohereConfig{BaseURL: "http://vllm:8000/", Model: "BAAI/bge-reranker-v2-m3"}, "", "http://vllm:8000/v1/rerank"},
		{"no model", CohereConfig{APIKey: "k"}, "rerank: CohereConfig.Model: required", ""},
		{"no key for Cohere", CohereConfig{Model: "m"}, "rerank: CohereConfig.APIKey: required for api.cohere.com", ""},
		{"no key for Jina", CohereConfig{BaseURL: "https://API.jina.ai", Model: "m"}, "rerank: CohereConfig.APIKey: required for api.jina.ai", ""},
		{"BaseURL with /v1", CohereConfig{BaseURL: "https://api.jina.ai/v1", APIKey: "k", Model: "m"},
			`rerank: CohereConfig.BaseURL: "https://api.jina.ai/v1" ends in /v1; give the server's root URL, the client appends /v1/rerank`, ""},
		{"BaseURL with /v1/rerank", CohereConfig{BaseURL: "http://h/v1/rerank", Model: "m"}, "CohereConfig.BaseURL", ""},
		{"BaseURL not http", CohereConfig{BaseURL: "ftp://h", Model: "m"}, `rerank: CohereConfig.BaseURL: "ftp://h" is not an http:// or https:// URL`, ""},
		{"BaseURL with a query", CohereConfig{BaseURL: "http://h/?key=secret", Model: "m"}, "CohereConfig.BaseURL", ""},
		{"MaxBatch too large", CohereConfig{BaseURL: "http://h", Model: "m", MaxBatch: 1001}, "rerank: CohereConfig.MaxBatch: 1001 is not between 1 and 1000", ""},
		{"MaxBatch negative", CohereConfig{BaseURL: "http://h", Model: "m", MaxBatch: -1}, "CohereConfig.MaxBatch", ""},
		{"Timeout negative", CohereConfig{BaseURL: "http://h", Model: "m", Timeout: -time.Second}, "rerank: CohereConfig.Timeout: -1s is negative", ""},
		{"MaxRetries", CohereConfig{BaseURL: "http://h", Model: "m", MaxRetries: 4}, "CohereConfig.MaxRetries", ""},
		{"Concurrency", CohereConfig{BaseURL: "http://h", Model: "m", Concurrency: 33}, "CohereConfig.Concurrency", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r, err := NewCohere(tt.cfg)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "secret") {
					t.Errorf("err = %q shows the URL's query", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.c.endpoint != tt.wantURL {
				t.Errorf("endpoint = %q, want %q", r.c.endpoint, tt.wantURL)
			}
			if r.c.timeout != DefaultTimeout || r.c.maxBatch != DefaultCohereMaxBatch || r.c.concurrency != DefaultConcurrency || r.c.maxRetries != 0 {
				t.Errorf("defaults: timeout %s, max batch %d, concurrency %d, retries %d",
					r.c.timeout, r.c.maxBatch, r.c.concurrency, r.c.maxRetries)
			}
		})
	}
}
