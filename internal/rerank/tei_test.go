package rerank

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
)

// teiServer answers POST /rerank as TEI does: [{"index", "score"[, "text"]}] sorted by
// descending score.
func teiServer(w http.ResponseWriter, r *http.Request, _ int, body []byte) {
	if r.Method != http.MethodPost || r.URL.Path != "/rerank" {
		writeRaw(w, http.StatusNotFound, "")
		return
	}
	var req struct {
		Query      string   `json:"query"`
		Texts      []string `json:"texts"`
		ReturnText bool     `json:"return_text"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]string{"error": err.Error(), "error_type": "validation"})
		return
	}
	writeJSON(w, http.StatusOK, teiAnswer(req.Query, req.Texts, true))
}

func teiAnswer(query string, texts []string, withText bool) []map[string]any {
	out := []map[string]any{}
	for _, i := range ranked(query, texts) {
		rank := map[string]any{"index": i, "score": fakeScore(query, texts[i])}
		if withText {
			rank["text"] = texts[i]
		}
		out = append(out, rank)
	}
	return out
}

func newTEI(t *testing.T, cfg TEIConfig) *TEI {
	t.Helper()
	r, err := NewTEI(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

type teiBody struct {
	Query     string   `json:"query"`
	Texts     []string `json:"texts"`
	Truncate  *bool    `json:"truncate"`
	RawScores *bool    `json:"raw_scores"`
}

func decodeTEIBody(t *testing.T, c call) teiBody {
	t.Helper()
	var b teiBody
	if err := json.Unmarshal(c.body, &b); err != nil {
		t.Fatalf("request %d: %v", c.n, err)
	}
	return b
}

func TestTEIRerank(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		passages []string
	}{
		{"one", []string{"Kubernetes deploys containers."}},
		{"several, answered out of order", []string{
			"Pods are the smallest deployable units.",
			"The cafeteria opens at noon.",
			"A Deployment manages a ReplicaSet.",
			"",
			"Deployments roll out new versions gradually.",
		}},
		{"duplicates", []string{"same text", "same text", "other text"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t, teiServer)
			r := newTEI(t, TEIConfig{BaseURL: f.URL()})
			const query = "how do deployments roll out?"
			got, err := r.Rerank(t.Context(), query, tt.passages)
			if err != nil {
				t.Fatal(err)
			}
			if diff := gocmp.Diff(fakeScores(query, tt.passages), got); diff != "" {
				t.Errorf("scores (-want +got):\n%s", diff)
			}
			reqs := f.requests()
			if len(reqs) != 1 {
				t.Fatalf("%d requests, want 1", len(reqs))
			}
			c := reqs[0]
			if c.path != "/rerank" || c.contentType != "application/json" || c.auth != "" {
				t.Errorf("request: path %q, Content-Type %q, Authorization %q; want /rerank, application/json, none",
					c.path, c.contentType, c.auth)
			}
			b := decodeTEIBody(t, c)
			yes, no := true, false
			want := teiBody{Query: query, Texts: tt.passages, Truncate: &yes, RawScores: &no}
			if diff := gocmp.Diff(want, b); diff != "" {
				t.Errorf("request body (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTEITruncateOff(t *testing.T) {
	t.Parallel()
	f := newFake(t, teiServer)
	r := newTEI(t, TEIConfig{BaseURL: f.URL(), Truncate: new(false)})
	if _, err := r.Rerank(t.Context(), "q", []string{"a"}); err != nil {
		t.Fatal(err)
	}
	if b := decodeTEIBody(t, f.requests()[0]); b.Truncate == nil || *b.Truncate {
		t.Errorf("truncate = %v, want false", b.Truncate)
	}
}

func TestTEINoPassages(t *testing.T) {
	t.Parallel()
	f := newFake(t, teiServer)
	r := newTEI(t, TEIConfig{BaseURL: f.URL()})
	for _, passages := range [][]string{nil, {}} {
		got, err := r.Rerank(t.Context(), "q", passages)
		if err != nil || got == nil || len(got) != 0 {
			t.Errorf("Rerank(%#v) = %#v, %v; want an empty result", passages, got, err)
		}
	}
	if n := len(f.requests()); n != 0 {
		t.Errorf("%d requests, want none", n)
	}
}

func TestTEIEmptyQuery(t *testing.T) {
	t.Parallel()
	f := newFake(t, teiServer)
	r := newTEI(t, TEIConfig{BaseURL: f.URL()})
	for _, q := range []string{"", " \t\n"} {
		if _, err := r.Rerank(t.Context(), q, []string{"a"}); !errors.Is(err, ErrEmptyQuery) {
			t.Errorf("query %q: err = %v, want ErrEmptyQuery", q, err)
		}
	}
	if n := len(f.requests()); n != 0 {
		t.Errorf("%d requests, want none", n)
	}
}

// TestTEIBatching: N passages go out in ceil(N/MaxBatch) requests, each a contiguous run of
// the passages in order, and every score comes back to its own passage.
func TestTEIBatching(t *testing.T) {
	t.Parallel()
	tests := []struct {
		n, maxBatch  int
		wantRequests int
	}{
		{1, 0, 1},
		{32, 0, 1}, // the default, TEI's --max-client-batch-size
		{33, 0, 2},
		{64, 0, 2},
		{65, 0, 3},
		{100, 0, 4},
		{25, 10, 3},
		{7, 1, 7},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d passages by %d", tt.n, tt.maxBatch), func(t *testing.T) {
			t.Parallel()
			f := newFake(t, teiServer)
			r := newTEI(t, TEIConfig{BaseURL: f.URL(), MaxBatch: tt.maxBatch})
			passages := passagesN(tt.n)
			got, err := r.Rerank(t.Context(), "query", passages)
			if err != nil {
				t.Fatal(err)
			}
			if diff := gocmp.Diff(fakeScores("query", passages), got); diff != "" {
				t.Errorf("scores (-want +got):\n%s", diff)
			}
			reqs := f.requests()
			if len(reqs) != tt.wantRequests {
				t.Fatalf("%d requests, want %d", len(reqs), tt.wantRequests)
			}
			size := cmp.Or(tt.maxBatch, DefaultTEIMaxBatch)
			seen := map[int]bool{}
			for _, c := range reqs {
				texts := decodeTEIBody(t, c).Texts
				start := slices.Index(passages, texts[0])
				if start%size != 0 || seen[start] {
					t.Fatalf("request %d starts at passage %d", c.n, start)
				}
				seen[start] = true
				if want := passages[start:min(start+size, len(passages))]; !slices.Equal(texts, want) {
					t.Errorf("request %d: texts %q, want %q", c.n, texts, want)
				}
			}
		})
	}
}

// TestTEIConcurrency: no more batches are in flight at once than Concurrency.
func TestTEIConcurrency(t *testing.T) {
	t.Parallel()
	for _, limit := range []int{1, 2} {
		t.Run(fmt.Sprint(limit), func(t *testing.T) {
			t.Parallel()
			f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int, body []byte) {
				time.Sleep(20 * time.Millisecond)
				teiServer(w, r, n, body)
			})
			r := newTEI(t, TEIConfig{BaseURL: f.URL(), MaxBatch: 1, Concurrency: limit})
			if _, err := r.Rerank(t.Context(), "q", passagesN(6)); err != nil {
				t.Fatal(err)
			}
			if got := f.maxInFlight.Load(); got > int64(limit) {
				t.Errorf("%d requests in flight at once, want at most %d", got, limit)
			}
		})
	}
}

// TestTEIFirstFailureCancels: when one batch fails, the call fails at once with that
// batch's error; it does not wait for the other batches.
func TestTEIFirstFailureCancels(t *testing.T) {
	t.Parallel()
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int, body []byte) {
		if strings.Contains(string(body), "passage 002") {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "Unauthorized", "error_type": "unauthorized"})
			return
		}
		<-r.Context().Done() // until the client gives up on this batch
	})
	r := newTEI(t, TEIConfig{BaseURL: f.URL(), MaxBatch: 1, Concurrency: 4})
	var err error
	within(t, 2*time.Second, func() { _, err = r.Rerank(t.Context(), "q", passagesN(4)) })
	if !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("err = %v, want ErrUnauthorized", err)
	}
	if !strings.Contains(err.Error(), "batch 3 of 4 (passages 2 to 2)") {
		t.Errorf("err = %v, want it to name batch 3 of 4", err)
	}
}

func TestTEIStatusErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		status   int
		body     string
		truncOff bool
		wantIs   error // nil: none of the sentinels
		wantText []string
	}{
		{"401", 401, `{"error":"Unauthorized","error_type":"unauthorized"}`, false, ErrUnauthorized,
			[]string{"API key missing or rejected", "no APIKey is configured", "HTTP 401"}},
		{"403", 403, ``, false, ErrUnauthorized, []string{"HTTP 403"}},
		{"404", 404, ``, false, ErrNotFound, []string{"no TEI /rerank endpoint at http://", "root URL", "HTTP 404"}},
		{"413 batch size", 413, `{"error":"batch size 40 > maximum allowed batch size 32","error_type":"validation"}`, false, ErrTooLarge,
			[]string{"input too large", "lower MaxBatch", "--max-client-batch-size", "batch size 40 > maximum allowed batch size 32"}},
		{"413 payload", 413, `Failed to buffer the request body: length limit exceeded`, false, ErrTooLarge,
			[]string{"input too large", "--payload-limit", "length limit exceeded"}},
		{"422 too many tokens", 422, `{"error":"Input validation error: ` + "`inputs`" + ` must have less than 512 tokens. Given: 700","error_type":"validation"}`, true, ErrTooLarge,
			[]string{"input too large", "enable Truncate", "less than 512 tokens"}},
		{"424 not a reranker", 424, `{"error":"model is not a re-ranker model","error_type":"backend"}`, false, ErrNotFound,
			[]string{"not a reranker", "HTTP 424"}},
		{"429", 429, `{"error":"Model is overloaded","error_type":"overloaded"}`, false, ErrOverloaded,
			[]string{"overloaded", "HTTP 429: Model is overloaded (overloaded)"}},
		{"503", 503, `{"error":"unhealthy","error_type":"unhealthy"}`, false, ErrOverloaded, []string{"HTTP 503"}},
		{"500", 500, `internal error`, false, nil, []string{"server error (HTTP 500: internal error)"}},
		{"502 from a proxy", 502, "<html><body>\n<h1>502 Bad Gateway</h1>\n</body></html>", false, nil,
			[]string{"server error (HTTP 502: <html><body> <h1>502 Bad Gateway</h1> </body></html>)"}},
		{"400", 400, `{"error":"` + "`texts`" + ` cannot be empty","error_type":"empty"}`, false, nil,
			[]string{"request refused (HTTP 400: `texts` cannot be empty (empty))"}},
	}
	sentinels := []error{ErrUnauthorized, ErrNotFound, ErrTooLarge, ErrOverloaded, ErrBadResponse, ErrEmptyQuery}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t, func(w http.ResponseWriter, _ *http.Request, _ int, _ []byte) {
				writeRaw(w, tt.status, tt.body)
			})
			cfg := TEIConfig{BaseURL: f.URL()}
			if tt.truncOff {
				cfg.Truncate = new(false)
			}
			_, err := newTEI(t, cfg).Rerank(t.Context(), "q", []string{"a", "b"})
			if err == nil {
				t.Fatal("no error")
			}
			for _, s := range sentinels {
				if want := s == tt.wantIs; errors.Is(err, s) != want {
					t.Errorf("errors.Is(err, %q) = %v, want %v; err: %v", s, !want, want, err)
				}
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "rerank: tei at "+f.URL()+": ") {
				t.Errorf("err = %q, want it to start with the reranker and URL", msg)
			}
			for _, s := range tt.wantText {
				if !strings.Contains(msg, s) {
					t.Errorf("err = %q, want it to contain %q", msg, s)
				}
			}
			if n := len(f.requests()); n != 1 {
				t.Errorf("%d requests, want 1 (no retries by default)", n)
			}
		})
	}
}

func TestTEIBadResponses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, body, wantText string
	}{
		{"not JSON", `<html>ok</html>`, "not a JSON array"},
		{"an object", `{"results":[]}`, "not a JSON array"},
		{"null", `null`, "null instead of an array"},
		{"trailing garbage", `[{"index":0,"score":0.5},{"index":1,"score":0.4}] x`, "not a JSON array"},
		{"empty array", `[]`, "0 results for 2 passages: index 0 is missing"},
		{"missing index", `[{"index":1,"score":0.4}]`, "1 results for 2 passages: index 0 is missing"},
		{"duplicate index", `[{"index":1,"score":0.4},{"index":1,"score":0.4}]`, "index 1 appears more than once"},
		{"index out of range", `[{"index":0,"score":0.5},{"index":2,"score":0.4}]`, "result 1 has index 2, outside 0 to 1"},
		{"negative index", `[{"index":-1,"score":0.5},{"index":1,"score":0.4}]`, "result 0 has index -1"},
		{"extra result", `[{"index":0,"score":0.5},{"index":1,"score":0.4},{"index":2,"score":0.3}]`, "index 2, outside 0 to 1"},
		{"no index field", `[{"score":0.5},{"index":1,"score":0.4}]`, "result 0 lacks its index or score"},
		{"no score field", `[{"index":0},{"index":1,"score":0.4}]`, "result 0 lacks its index or score"},
		{"null entry", `[null,{"index":1,"score":0.4}]`, "result 0 lacks its index or score"},
		{"NaN", `[{"index":0,"score":NaN},{"index":1,"score":0.4}]`, "not a JSON array"},
		{"NaN as a string", `[{"index":0,"score":"NaN"},{"index":1,"score":0.4}]`, "not a JSON array"},
		{"infinite", `[{"index":0,"score":1e999},{"index":1,"score":0.4}]`, "not a JSON array"},
		{"fractional index", `[{"index":0.5,"score":0.5},{"index":1,"score":0.4}]`, "not a JSON array"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t, func(w http.ResponseWriter, _ *http.Request, _ int, _ []byte) {
				writeRaw(w, http.StatusOK, tt.body)
			})
			got, err := newTEI(t, TEIConfig{BaseURL: f.URL()}).Rerank(t.Context(), "q", []string{"a", "b"})
			if !errors.Is(err, ErrBadResponse) {
				t.Fatalf("Rerank = %v, %v; want ErrBadResponse", got, err)
			}
			if got != nil {
				t.Errorf("scores %v returned with the error", got)
			}
			if !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("err = %q, want it to contain %q", err, tt.wantText)
			}
		})
	}
}

// TestTEIBadResponseInOneBatch: a wrong answer to any batch fails the whole call.
func TestTEIBadResponseInOneBatch(t *testing.T) {
	t.Parallel()
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int, body []byte) {
		var req teiBody
		_ = json.Unmarshal(body, &req) // checked by the other tests
		answer := teiAnswer(req.Query, req.Texts, false)
		if req.Texts[0] == "passage 004 about deploying services" {
			answer[0]["index"] = 0 // a duplicate, unless it already was 0
			answer[1]["index"] = 0
		}
		writeJSON(w, http.StatusOK, answer)
	})
	r := newTEI(t, TEIConfig{BaseURL: f.URL(), MaxBatch: 2})
	_, err := r.Rerank(t.Context(), "q", passagesN(6))
	if !errors.Is(err, ErrBadResponse) || !strings.Contains(err.Error(), "batch 3 of 3 (passages 4 to 5)") {
		t.Errorf("err = %v, want ErrBadResponse in batch 3", err)
	}
}

func TestTEITimeouts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		handle  func(f *fake) handler
		timeout time.Duration
		ctx     func(t *testing.T) context.Context
		want    []string
	}{
		{
			name: "server never answers",
			handle: func(f *fake) handler {
				return func(_ http.ResponseWriter, r *http.Request, _ int, _ []byte) { f.hang(r) }
			},
			timeout: 200 * time.Millisecond,
			want:    []string{"no answer within 200ms (Timeout)"},
		},
		{
			name: "server stalls in the body",
			handle: func(f *fake) handler {
				return func(w http.ResponseWriter, r *http.Request, _ int, _ []byte) {
					writeRaw(w, http.StatusOK, `[{"index":0,`)
					w.(http.Flusher).Flush()
					f.hang(r)
				}
			},
			timeout: 200 * time.Millisecond,
			want:    []string{"read answer (HTTP 200): no answer within 200ms (Timeout)"},
		},
		{
			name: "the caller's deadline comes first",
			handle: func(f *fake) handler {
				return func(_ http.ResponseWriter, r *http.Request, _ int, _ []byte) { f.hang(r) }
			},
			timeout: time.Minute,
			ctx: func(t *testing.T) context.Context {
				ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
				t.Cleanup(cancel)
				return ctx
			},
			want: []string{"stopped by the caller: context deadline exceeded"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var f *fake
			f = newFake(t, func(w http.ResponseWriter, r *http.Request, n int, body []byte) {
				tt.handle(f)(w, r, n, body)
			})
			r := newTEI(t, TEIConfig{BaseURL: f.URL(), Timeout: tt.timeout, MaxBatch: 2})
			ctx := t.Context()
			if tt.ctx != nil {
				ctx = tt.ctx(t)
			}
			var err error
			within(t, 2*time.Second, func() { _, err = r.Rerank(ctx, "q", passagesN(5)) })
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("err = %v, want context.DeadlineExceeded", err)
			}
			for _, s := range tt.want {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("err = %q, want it to contain %q", err, s)
				}
			}
		})
	}
}

func TestTEICancel(t *testing.T) {
	t.Parallel()
	arrived := make(chan struct{}, 8)
	var f *fake
	f = newFake(t, func(_ http.ResponseWriter, r *http.Request, _ int, _ []byte) {
		arrived <- struct{}{}
		f.hang(r)
	})
	r := newTEI(t, TEIConfig{BaseURL: f.URL()})
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		<-arrived
		cancel()
	}()
	var err error
	within(t, 2*time.Second, func() { _, err = r.Rerank(ctx, "q", []string{"a"}) })
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "stopped by the caller: context canceled") {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

func TestTEIConnectionRefused(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	r := newTEI(t, TEIConfig{BaseURL: url})
	_, err := r.Rerank(t.Context(), "q", []string{"a"})
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("err = %v, want ECONNREFUSED", err)
	}
	if want := "rerank: tei at " + url + ": cannot connect (is the server running, and BaseURL right?)"; !strings.HasPrefix(err.Error(), want) {
		t.Errorf("err = %q, want it to start with %q", err, want)
	}
}

func TestTEIAPIKey(t *testing.T) {
	t.Parallel()
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int, body []byte) {
		if r.Header.Get("Authorization") != "Bearer "+testKey {
			// A server that echoes what it was given, whole and in part.
			writeJSON(w, http.StatusUnauthorized, map[string]string{
				"error":      "bad token " + r.Header.Get("Authorization") + ", ending in " + testKey[len(testKey)-10:],
				"error_type": "unauthorized",
			})
			return
		}
		teiServer(w, r, n, body)
	})
	good := newTEI(t, TEIConfig{BaseURL: f.URL(), APIKey: testKey})
	if _, err := good.Rerank(t.Context(), "q", []string{"a"}); err != nil {
		t.Fatal(err)
	}
	if got := f.requests()[0].auth; got != "Bearer "+testKey {
		t.Errorf("Authorization = %q, want the bearer key", got)
	}

	var logs bytes.Buffer
	bad := newTEI(t, TEIConfig{BaseURL: f.URL(), APIKey: testKey + "-revoked",
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	_, err := bad.Rerank(t.Context(), "q", []string{"a"})
	if !errors.Is(err, ErrUnauthorized) || !strings.Contains(err.Error(), "check APIKey") {
		t.Fatalf("err = %v, want ErrUnauthorized", err)
	}
	if !strings.Contains(err.Error(), "[redacted]") {
		t.Errorf("err = %q, want the echoed key redacted", err)
	}
	checkNoKey(t, "error", err.Error())
	checkNoKey(t, "Name", bad.Name())
	checkNoKey(t, "log", logs.String())
}

func TestTEIRetries(t *testing.T) {
	t.Parallel()
	type step struct {
		status     int
		retryAfter string
	}
	tests := []struct {
		name         string
		maxRetries   int
		timeout      time.Duration
		steps        []step // answers before a good one
		wantRequests int
		wantIs       error // nil: success
		maxTime      time.Duration
	}{
		{"429 not retried by default", 0, 0, []step{{429, ""}}, 1, ErrOverloaded, time.Second},
		{"429 retried after Retry-After 0", 1, 0, []step{{429, "0"}}, 2, nil, time.Second},
		{"503 retried after a short backoff", 1, 0, []step{{503, ""}}, 2, nil, time.Second},
		{"twice", 2, 0, []step{{503, ""}, {429, "0"}}, 3, nil, time.Second},
		{"503 still failing", 1, 0, []step{{503, ""}, {503, ""}}, 2, ErrOverloaded, time.Second},
		{"500 not retried", 1, 0, []step{{500, ""}}, 1, nil, time.Second},
		{"Retry-After beyond the deadline", 1, time.Second, []step{{429, "60"}}, 1, ErrOverloaded, 500 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int, body []byte) {
				if n <= len(tt.steps) {
					s := tt.steps[n-1]
					if s.retryAfter != "" {
						w.Header().Set("Retry-After", s.retryAfter)
					}
					writeJSON(w, s.status, map[string]string{"error": http.StatusText(s.status)})
					return
				}
				teiServer(w, r, n, body)
			})
			var logs bytes.Buffer
			r := newTEI(t, TEIConfig{BaseURL: f.URL(), MaxRetries: tt.maxRetries, Timeout: tt.timeout,
				APIKey: testKey, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			var got []float64
			var err error
			within(t, tt.maxTime, func() { got, err = r.Rerank(t.Context(), "q", []string{"a", "b"}) })
			if n := len(f.requests()); n != tt.wantRequests {
				t.Errorf("%d requests, want %d", n, tt.wantRequests)
			}
			switch {
			case tt.wantIs == nil && tt.steps[len(tt.steps)-1].status == 500:
				if err == nil || !strings.Contains(err.Error(), "server error (HTTP 500") {
					t.Errorf("err = %v, want the 500", err)
				}
			case tt.wantIs == nil:
				if err != nil {
					t.Fatal(err)
				}
				if diff := gocmp.Diff(fakeScores("q", []string{"a", "b"}), got); diff != "" {
					t.Errorf("scores (-want +got):\n%s", diff)
				}
				if retries := strings.Count(logs.String(), "rerank: retrying"); retries != tt.wantRequests-1 {
					t.Errorf("%d retries logged, want %d:\n%s", retries, tt.wantRequests-1, logs.String())
				}
			default:
				if !errors.Is(err, tt.wantIs) {
					t.Errorf("err = %v, want %v", err, tt.wantIs)
				}
				if tt.wantRequests > 1 && !strings.Contains(err.Error(), fmt.Sprintf("still after %d attempts", tt.wantRequests)) {
					t.Errorf("err = %q, want it to count the attempts", err)
				}
			}
			checkNoKey(t, "log", logs.String())
		})
	}
}

func TestTEIConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		cfg      TEIConfig
		wantErr  string // "": valid
		wantURL  string // the endpoint, when valid
		wantName string
	}{
		{"root", TEIConfig{BaseURL: "http://tei:8080"}, "", "http://tei:8080/rerank", "tei:http://tei:8080"},
		{"trailing slash", TEIConfig{BaseURL: "http://tei:8080/"}, "", "http://tei:8080/rerank", "tei:http://tei:8080"},
		{"behind a gateway", TEIConfig{BaseURL: "https://gw.example/tei/"}, "", "https://gw.example/tei/rerank", "tei:https://gw.example/tei"},
		{"password in the URL", TEIConfig{BaseURL: "https://user:hunter2@gw.example"}, "", "https://user:hunter2@gw.example/rerank", "tei:https://user:xxxxx@gw.example"},
		{"no BaseURL", TEIConfig{}, "rerank: TEIConfig.BaseURL: required", "", ""},
		{"BaseURL is the endpoint", TEIConfig{BaseURL: "http://tei:8080/rerank"},
			`rerank: TEIConfig.BaseURL: "http://tei:8080/rerank" ends in /rerank; give the server's root URL, the client appends /rerank`, "", ""},
		{"no scheme", TEIConfig{BaseURL: "tei:8080"}, "TEIConfig.BaseURL", "", ""},
		{"no host", TEIConfig{BaseURL: "http:///rerank"}, "TEIConfig.BaseURL", "", ""},
		{"query", TEIConfig{BaseURL: "http://tei:8080?token=secret"}, "TEIConfig.BaseURL", "", ""},
		{"Timeout", TEIConfig{BaseURL: "http://tei", Timeout: -1}, "rerank: TEIConfig.Timeout: -1ns is negative", "", ""},
		{"MaxBatch", TEIConfig{BaseURL: "http://tei", MaxBatch: -3}, "rerank: TEIConfig.MaxBatch: -3 is not between 1 and 4096", "", ""},
		{"Concurrency", TEIConfig{BaseURL: "http://tei", Concurrency: -1}, "rerank: TEIConfig.Concurrency: -1 is not between 1 and 32", "", ""},
		{"MaxRetries", TEIConfig{BaseURL: "http://tei", MaxRetries: -1},
			"rerank: TEIConfig.MaxRetries: -1 is not between 0 (fail fast, the default) and 3", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r, err := NewTEI(tt.cfg)
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
			if r.c.endpoint != tt.wantURL || r.Name() != tt.wantName {
				t.Errorf("endpoint %q, Name %q; want %q, %q", r.c.endpoint, r.Name(), tt.wantURL, tt.wantName)
			}
			if r.c.timeout != DefaultTimeout || r.c.maxBatch != DefaultTEIMaxBatch || r.c.concurrency != DefaultConcurrency ||
				r.c.maxRetries != 0 || !r.truncate {
				t.Errorf("defaults: timeout %s, max batch %d, concurrency %d, retries %d, truncate %v",
					r.c.timeout, r.c.maxBatch, r.c.concurrency, r.c.maxRetries, r.truncate)
			}
		})
	}
}
