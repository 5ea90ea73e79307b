package embed

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestOpenAIOrder: langchaingo keeps the order in which embeddings arrive; the embedder puts
// them in the order of their "index" fields.
func TestOpenAIOrder(t *testing.T) {
	t.Parallel()
	in := texts(5)
	want := vecsFor(in, testDim)
	tests := []struct {
		name    string
		raw     func(req request) any
		wantErr bool
	}{
		{"reversed", func(req request) any {
			return openAIAnswer(req.Model, vecsFor(req.Inputs, testDim), []int{4, 3, 2, 1, 0})
		}, false},
		{"shuffled", func(req request) any {
			return openAIAnswer(req.Model, vecsFor(req.Inputs, testDim), []int{2, 0, 4, 1, 3})
		}, false},
		{"no indexes", func(req request) any {
			data := []any{}
			for _, v := range vecsFor(req.Inputs, testDim) {
				data = append(data, map[string]any{"object": "embedding", "embedding": v})
			}
			return map[string]any{"object": "list", "data": data, "model": req.Model}
		}, false},
		{"duplicate index", func(req request) any {
			return openAIAnswer(req.Model, vecsFor(req.Inputs, testDim), []int{0, 1, 2, 3, 3})
		}, true},
		{"index out of range", func(req request) any {
			a := openAIAnswer(req.Model, vecsFor(req.Inputs, testDim), nil).(map[string]any)
			a["data"].([]any)[4].(map[string]any)["index"] = 5
			return a
		}, true},
		{"some indexes missing", func(req request) any {
			a := openAIAnswer(req.Model, vecsFor(req.Inputs, testDim), []int{1, 0, 2, 3, 4}).(map[string]any)
			delete(a["data"].([]any)[0].(map[string]any), "index")
			return a
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeServer(t, openAIProvider, func(_ int, req request) reply {
				return reply{raw: mustJSON(t, tt.raw(req))}
			})
			e := newRemoteEmbedder(t, openAIProvider, f, testConfig{})
			got, err := e.Embed(t.Context(), in)
			if tt.wantErr {
				if !errors.Is(err, ErrBadResponse) {
					t.Errorf("err = %v, want ErrBadResponse", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("vectors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestOpenAIAPIKey(t *testing.T) {
	t.Parallel()
	f := newFakeServer(t, openAIProvider, nil)
	withKey := newRemoteEmbedder(t, openAIProvider, f, testConfig{APIKey: "sk-local"})
	if _, err := withKey.Embed(t.Context(), []string{"a"}); err != nil {
		t.Fatal(err)
	}
	without := newRemoteEmbedder(t, openAIProvider, f, testConfig{})
	if _, err := without.Embed(t.Context(), []string{"a"}); err != nil {
		t.Fatal(err)
	}
	var auth []string
	for _, r := range f.received() {
		auth = append(auth, r.Auth)
	}
	if diff := cmp.Diff([]string{"Bearer sk-local", ""}, auth); diff != "" {
		t.Errorf("Authorization headers (-want +got):\n%s", diff)
	}

	for _, base := range []string{"", "https://api.openai.com/v1", "https://api.openai.com/v1/"} {
		_, err := NewOpenAI(OpenAIConfig{BaseURL: base, Model: "text-embedding-3-small"})
		if err == nil || !strings.Contains(err.Error(), "OpenAIConfig.APIKey") {
			t.Errorf("BaseURL %q without a key: err = %v, want one naming OpenAIConfig.APIKey", base, err)
		}
	}
	if _, err := NewOpenAI(OpenAIConfig{Model: "text-embedding-3-small", APIKey: "sk-x"}); err != nil {
		t.Errorf("OpenAI with a key: %v", err)
	}
}

// TestOpenAIKeyNotShown: a server may echo the key, whole or masked; errors must not.
func TestOpenAIKeyNotShown(t *testing.T) {
	t.Parallel()
	const key = "sk-proj-0123456789abcdefghij"
	f := newFakeServer(t, openAIProvider, func(int, request) reply {
		return reply{status: 401, message: "Incorrect API key provided: " + key + ". Also known as sk-proj-*************ghij or 0123456789abcdef."}
	})
	e := newRemoteEmbedder(t, openAIProvider, f, testConfig{APIKey: key})
	_, err := e.Embed(t.Context(), []string{"hello"})
	if !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("err = %v, want ErrUnauthorized", err)
	}
	for _, leak := range []string{key, "***", "456789ab"} {
		if strings.Contains(err.Error(), leak) {
			t.Errorf("error %q shows %q", err, leak)
		}
	}
	if !strings.Contains(err.Error(), "Incorrect API key provided") {
		t.Errorf("error %q lost the server's message", err)
	}
}

func TestOpenAINoKeyHint(t *testing.T) {
	t.Parallel()
	f := newFakeServer(t, openAIProvider, func(int, request) reply { return reply{status: 401, message: "missing key"} })
	e := newRemoteEmbedder(t, openAIProvider, f, testConfig{})
	if _, err := e.Embed(t.Context(), []string{"hello"}); err == nil || !strings.Contains(err.Error(), "no API key is configured") {
		t.Errorf("err = %v, want a hint that no key is configured", err)
	}
}

func TestOpenAIRequestDimension(t *testing.T) {
	t.Parallel()
	f := newFakeServer(t, openAIProvider, nil)
	for _, c := range []testConfig{{Dimension: testDim, RequestDim: true}, {Dimension: testDim}} {
		e := newRemoteEmbedder(t, openAIProvider, f, c)
		if _, err := e.Embed(t.Context(), []string{"a"}); err != nil {
			t.Fatal(err)
		}
	}
	var dims []int
	for _, r := range f.received() {
		dims = append(dims, r.Dimensions)
	}
	if diff := cmp.Diff([]int{testDim, 0}, dims); diff != "" {
		t.Errorf("dimensions sent (-want +got):\n%s", diff)
	}
	if _, err := NewOpenAI(OpenAIConfig{BaseURL: f.url, Model: "m", RequestDimension: true}); err == nil || !strings.Contains(err.Error(), "RequestDimension") {
		t.Errorf("RequestDimension without Dimension: err = %v", err)
	}
}

// TestOpenAIIgnoresEnvironment: langchaingo reads OPENAI_* variables; the configuration
// alone must decide.
func TestOpenAIIgnoresEnvironment(t *testing.T) {
	t.Setenv("OPENAI_API_KEY", "sk-from-env")
	t.Setenv("OPENAI_BASE_URL", "http://127.0.0.1:1/v1")
	t.Setenv("OPENAI_ORGANIZATION", "org-env")
	f := newFakeServer(t, openAIProvider, nil)
	e := newRemoteEmbedder(t, openAIProvider, f, testConfig{})
	if _, err := e.Embed(t.Context(), []string{"a"}); err != nil {
		t.Fatal(err)
	}
	if r := f.received(); len(r) != 1 || r[0].Auth != "" || r[0].Org != "" {
		t.Errorf("requests %+v, want one without Authorization and OpenAI-Organization", r)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestOpenAIRetryLog(t *testing.T) {
	t.Parallel()
	const key = "sk-proj-0123456789abcdefghij"
	f := newFakeServer(t, openAIProvider, func(n int, _ request) reply {
		if n == 1 {
			return reply{status: 503, message: "overloaded"}
		}
		return reply{}
	})
	var buf bytes.Buffer
	e := newRemoteEmbedder(t, openAIProvider, f, testConfig{APIKey: key, Logger: slog.New(slog.NewTextHandler(&buf, nil))})
	if _, err := e.Embed(t.Context(), []string{"hello"}); err != nil {
		t.Fatal(err)
	}
	log := buf.String()
	for _, want := range []string{`msg="embed: retrying"`, "kind=openai", "attempt=1", "status=503", "/v1/embeddings"} {
		if !strings.Contains(log, want) {
			t.Errorf("log %q lacks %q", log, want)
		}
	}
	if strings.Contains(log, "0123456789") {
		t.Errorf("log %q shows the API key", log)
	}
}
