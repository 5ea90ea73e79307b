package rerank

import (
	"cmp"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
)

// testKey is the API key of the tests; no error may contain it, nor any 8 of its characters.
const testKey = "sk-test-0123456789abcdefXYZ"

// call is one request as the fake server received it.
type call struct {
	n           int // 1-based, in order of arrival
	path        string
	auth        string
	contentType string
	body        []byte
}

// fake is an httptest server that records its requests and answers through handle.
type fake struct {
	srv     *httptest.Server
	release chan struct{} // closed at cleanup: frees handlers that hang

	mu    sync.Mutex
	calls []call

	inFlight, maxInFlight atomic.Int64
}

// handler answers one request; n counts requests from 1.
type handler func(w http.ResponseWriter, r *http.Request, n int, body []byte)

func newFake(t *testing.T, handle handler) *fake {
	t.Helper()
	f := &fake{release: make(chan struct{})}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cur := f.inFlight.Add(1)
		defer f.inFlight.Add(-1)
		for {
			old := f.maxInFlight.Load()
			if cur <= old || f.maxInFlight.CompareAndSwap(old, cur) {
				break
			}
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		f.mu.Lock()
		n := len(f.calls) + 1
		f.calls = append(f.calls, call{n: n, path: r.URL.Path, auth: r.Header.Get("Authorization"),
			contentType: r.Header.Get("Content-Type"), body: body})
		f.mu.Unlock()
		handle(w, r, n, body)
	}))
	t.Cleanup(f.srv.Close)
	t.Cleanup(func() { close(f.release) }) // runs before Close, which waits for handlers
	return f
}

func (f *fake) URL() string { return f.srv.URL }

func (f *fake) requests() []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// hang blocks until the client goes away or the test ends.
func (f *fake) hang(r *http.Request) {
	select {
	case <-r.Context().Done():
	case <-f.release:
	}
}

// fakeScore is the fake cross-encoder: a fixed score in [0, 1) for each passage, unrelated
// to its position, so that answers sorted by score are out of index order.
func fakeScore(query, passage string) float64 {
	h := fnv.New64a()
	fmt.Fprintf(h, "%s\x00%s", query, passage)
	return float64(h.Sum64()%1_000_000) / 1_000_000
}

func fakeScores(query string, passages []string) []float64 {
	out := make([]float64, len(passages))
	for i, p := range passages {
		out[i] = fakeScore(query, p)
	}
	return out
}

// ranked is the fake's answer before encoding: indexes sorted by descending score, as real
// servers send them.
func ranked(query string, passages []string) []int {
	idx := make([]int, len(passages))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		return cmp.Compare(fakeScore(query, passages[b]), fakeScore(query, passages[a]))
	})
	return idx
}

func passagesN(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("passage %03d about deploying services", i)
	}
	return out
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // the client may have gone: nothing to do about it
}

func writeRaw(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body) // the client may have gone: nothing to do about it
}

// checkNoKey fails if err's text or s contains the test key or 8 of its characters in a row.
func checkNoKey(t *testing.T, what, s string) {
	t.Helper()
	for i := 0; i+8 <= len(testKey); i++ {
		if strings.Contains(s, testKey[i:i+8]) {
			t.Fatalf("%s contains part of the API key (%q): %s", what, testKey[i:i+8], s)
		}
	}
}

// within runs f and fails the test if it takes longer than limit.
func within(t *testing.T, limit time.Duration, f func()) {
	t.Helper()
	start := time.Now()
	f()
	if d := time.Since(start); d > limit {
		t.Errorf("took %s, want at most %s", d.Round(time.Millisecond), limit)
	}
}

func TestPlace(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		results []scored
		want    []float64
		wantErr string
	}{
		{"any order", []scored{{2, 0.9}, {0, 0.5}, {1, -3}}, []float64{0.5, -3, 0.9}, ""},
		{"missing", []scored{{2, 0.9}, {0, 0.5}}, nil, "2 results for 3 passages: index 1 is missing"},
		{"duplicate", []scored{{2, 0.9}, {2, 0.9}, {0, 0.5}}, nil, "index 2 appears more than once"},
		{"too many", []scored{{0, 1}, {1, 1}, {2, 1}, {3, 1}}, nil, "result 3 has index 3, outside 0 to 2"},
		{"negative", []scored{{-1, 1}, {1, 1}, {2, 1}}, nil, "result 0 has index -1, outside 0 to 2"},
		{"NaN", []scored{{0, 1}, {1, math.NaN()}, {2, 1}}, nil, "index 1 has the non-finite score NaN"},
		{"infinite", []scored{{0, 1}, {1, 1}, {2, math.Inf(-1)}}, nil, "index 2 has the non-finite score -Inf"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out := make([]float64, 3)
			err := place(tt.results, out)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := gocmp.Diff(tt.want, out); diff != "" {
				t.Errorf("scores (-want +got):\n%s", diff)
			}
		})
	}
}
