package modelapi

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// server answers with the replies in turn (the last one repeats) and records the requests'
// Authorization headers.
type server struct {
	*httptest.Server
	mu    sync.Mutex
	auth  []string
	calls int
}

type reply struct {
	status int
	header map[string]string
	body   string
	stall  time.Duration // before the body
}

func newServer(t *testing.T, replies ...reply) *server {
	t.Helper()
	s := &server{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		s.mu.Lock()
		s.auth = append(s.auth, r.Header.Get("Authorization"))
		rp := replies[min(s.calls, len(replies)-1)]
		s.calls++
		s.mu.Unlock()
		for k, v := range rp.header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(rp.status)
		if rp.stall > 0 {
			w.(http.Flusher).Flush()
			select {
			case <-time.After(rp.stall):
			case <-r.Context().Done():
				return
			}
		}
		io.WriteString(w, rp.body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *server) requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

func post(t *testing.T, ctx context.Context, c *Client, url string) (*Response, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(`{"q":1}`))
	if err != nil {
		t.Fatal(err)
	}
	return c.Do(req)
}

func TestClientRetries(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		cfg          Config
		replies      []reply
		wantStatus   int
		wantRequests int
	}{
		{"429 then success", Config{MaxRetries: 2}, []reply{{status: 429, header: map[string]string{"Retry-After": "0"}}, {status: 200, body: "ok"}}, 200, 2},
		{"Retry-After-Ms honoured", Config{MaxRetries: 1}, []reply{{status: 503, header: map[string]string{"Retry-After-Ms": "10"}}, {status: 200}}, 200, 2},
		{"retries run out", Config{MaxRetries: 2}, []reply{{status: 500}}, 500, 3},
		{"no retries", Config{}, []reply{{status: 429}}, 429, 1},
		{"status not in the policy", Config{MaxRetries: 2, RetryStatus: Overloaded}, []reply{{status: 500}}, 500, 1},
		{"4xx never", Config{MaxRetries: 2}, []reply{{status: 400}}, 400, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t, tt.replies...)
			cfg := tt.cfg
			cfg.BaseDelay, cfg.MaxDelay, cfg.MaxBody = time.Millisecond, time.Second, 1<<20
			resp, err := post(t, t.Context(), New(cfg), s.URL)
			if err != nil {
				t.Fatal(err)
			}
			if resp.Status != tt.wantStatus || resp.Attempts != tt.wantRequests || s.requests() != tt.wantRequests {
				t.Errorf("status %d after %d attempts (%d requests); want %d after %d", resp.Status, resp.Attempts, s.requests(), tt.wantStatus, tt.wantRequests)
			}
		})
	}
}

func TestClientRetryAfterCapped(t *testing.T) {
	t.Parallel()
	s := newServer(t, reply{status: 503, header: map[string]string{"Retry-After": "3600"}}, reply{status: 200})
	c := New(Config{MaxRetries: 1, BaseDelay: time.Millisecond, MaxDelay: 50 * time.Millisecond, MaxBody: 1 << 20})
	start := time.Now()
	resp, err := post(t, t.Context(), c, s.URL)
	if err != nil || resp.Status != 200 {
		t.Fatalf("%v, %v", resp, err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %s: Retry-After was not capped at MaxDelay", d)
	}
	if d := c.delay(1, http.Header{"Retry-After": {"0"}}); d != 0 {
		t.Errorf("Retry-After 0: delay %s, want 0", d)
	}
	if d := c.delay(1, http.Header{"Retry-After": {"30"}}); d != 50*time.Millisecond {
		t.Errorf("Retry-After 30 with a 50ms cap: delay %s", d)
	}
}

func TestClientNoWaitPastDeadline(t *testing.T) {
	t.Parallel()
	s := newServer(t, reply{status: 429, header: map[string]string{"Retry-After": "60"}})
	c := New(Config{MaxRetries: 3, BaseDelay: time.Millisecond, MaxDelay: time.Hour, MaxBody: 1 << 20})
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	resp, err := post(t, ctx, c, s.URL)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != 429 || s.requests() != 1 || ctx.Err() != nil {
		t.Errorf("status %d after %d requests, ctx %v: want the 429 at once", resp.Status, s.requests(), ctx.Err())
	}
}

func TestClientAttemptTimeout(t *testing.T) {
	t.Parallel()
	s := newServer(t, reply{status: 200, body: "late", stall: time.Hour})
	for _, network := range []bool{false, true} {
		c := New(Config{AttemptTimeout: 50 * time.Millisecond, MaxRetries: 1, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond,
			RetryNetwork: network, MaxBody: 1 << 20})
		before := s.requests()
		_, err := post(t, t.Context(), c, s.URL)
		var te AttemptTimeoutError
		if !errors.As(err, &te) || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v, want an AttemptTimeoutError", err)
		}
		want := 1
		if network {
			want = 2
		}
		if n := s.requests() - before; n != want {
			t.Errorf("RetryNetwork %v: %d requests, want %d", network, n, want)
		}
	}
}

func TestClientTooLarge(t *testing.T) {
	t.Parallel()
	s := newServer(t, reply{status: 200, body: strings.Repeat("x", 100)})
	c := New(Config{MaxRetries: 2, RetryNetwork: true, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond, MaxBody: 99})
	if _, err := post(t, t.Context(), c, s.URL); !errors.Is(err, ErrTooLarge) {
		t.Errorf("err = %v, want ErrTooLarge", err)
	}
	if n := s.requests(); n != 1 {
		t.Errorf("%d requests: an oversized answer was retried", n)
	}
}

// TestClientAuthorization: the header is the API key's, or absent, whatever the client
// above (langchaingo) set.
func TestClientAuthorization(t *testing.T) {
	t.Parallel()
	s := newServer(t, reply{status: 200})
	for _, key := range []string{"", "sk-test"} {
		call := new(Call)
		hc := New(Config{APIKey: key}).HTTPClient(call)
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, s.URL, nil)
		req.Header.Set("Authorization", "Bearer none")
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	want := []string{"", "Bearer sk-test"}
	if strings.Join(s.auth, "|") != strings.Join(want, "|") {
		t.Errorf("Authorization headers %q, want %q", s.auth, want)
	}
}

// TestCallOutcome: what a call through HTTPClient records, message redacted.
func TestCallOutcome(t *testing.T) {
	t.Parallel()
	const key = "sk-abcdefghijklmnop"
	s := newServer(t, reply{status: 401, header: map[string]string{"Retry-After": "3"},
		body: `{"error":{"message":"Incorrect API key provided: sk-abcdefghijklmnop"}}`})
	var logs bytes.Buffer
	call := new(Call)
	hc := New(Config{APIKey: key, Logger: slog.New(slog.NewTextHandler(&logs, nil))}).HTTPClient(call)
	resp, err := hc.Post(s.URL, "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "Incorrect API key") {
		t.Errorf("the client above got %q, want the error body", body)
	}
	f := call.Outcome().Failure()
	if f == nil || f.Status != 401 || !f.Unauthorized() || f.RetryAfter != 3*time.Second || f.Attempts != 1 {
		t.Fatalf("Failure() = %+v", f)
	}
	if got := f.Error(); got != "HTTP 401: Incorrect API key provided: [redacted]" {
		t.Errorf("Error() = %q", got)
	}
}

// TestCallInspect: a successful body is shown to Inspect, and a refusal recorded as Bad
// while the body still goes to the client above.
func TestCallInspect(t *testing.T) {
	t.Parallel()
	s := newServer(t, reply{status: 200, body: "not json"})
	refused := errors.New("refused")
	call := &Call{Inspect: func(body []byte) error {
		if string(body) != "not json" {
			t.Errorf("Inspect saw %q", body)
		}
		return refused
	}}
	resp, err := New(Config{MaxBody: 1 << 20}).HTTPClient(call).Get(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "not json" {
		t.Errorf("body %q", body)
	}
	if o := call.Outcome(); o.Bad != refused || o.Failure() != nil {
		t.Errorf("Outcome = %+v, want Bad", o)
	}
}

// TestCallStreamBroken: a streamed answer (no MaxBody) that breaks off is recorded.
func TestCallStreamBroken(t *testing.T) {
	t.Parallel()
	s := newServer(t, reply{status: 200, body: "partial", stall: time.Hour})
	call := new(Call)
	ctx, cancel := context.WithCancel(t.Context())
	resp, err := New(Config{}).HTTPClient(call).Do(must(http.NewRequestWithContext(ctx, http.MethodGet, s.URL, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	cancel()
	if _, err := io.ReadAll(resp.Body); err == nil {
		t.Fatal("read a cancelled stream without error")
	}
	if o := call.Outcome(); o.Status != 200 || o.BodyErr == nil {
		t.Errorf("Outcome = %+v, want the broken body", o)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
