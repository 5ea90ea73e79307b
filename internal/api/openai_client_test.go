package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docent-rag/docent/internal/api"
)

// openAIClientDir is the Node project that drives the server with the official openai
// package (pinned in its package.json and package-lock.json).
var openAIClientDir = filepath.Join("testdata", "openai-client")

// nodeTools returns the paths of node and npm; without them the test skips with a hint,
// except under CI=true, where it fails: CI must never pass by skipping.
func nodeTools(t *testing.T) (node, npm string) {
	t.Helper()
	node, errNode := exec.LookPath("node")
	npm, errNPM := exec.LookPath("npm")
	if errNode != nil || errNPM != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("node and npm are needed to test the openai client (CI=true, so this fails instead of skipping): %v %v", errNode, errNPM)
		}
		t.Skip("node and npm not found: install Node.js 20 or later (apt-get install nodejs npm) to test the official openai client")
	}
	return node, npm
}

// TestOfficialOpenAIClient runs the official openai npm client against the real server,
// non-streaming and streaming, as a front end or an SDK user would call Docent.
func TestOfficialOpenAIClient(t *testing.T) {
	t.Parallel()
	node, npm := nodeTools(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	install := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund", "--prefer-offline", "--loglevel=error")
	install.Dir = openAIClientDir
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("npm ci in %s: %v\n%s", openAIClientDir, err, out)
	}

	// A model that streams word by word; under the default validation policy (drop) the
	// client receives one validated sentence at a time.
	reply := "Employees get 25 days of paid vacation per calendar year [1]. Unused days carry over [1, 1]."
	e := newEnv(t, options{model: &fakeModel{reply: reply}, urlPrefix: "https://intranet.example/docs/"})
	cmd := exec.CommandContext(ctx, node, "client.mjs")
	cmd.Dir = openAIClientDir
	cmd.Env = append(os.Environ(), "DOCENT_BASE_URL="+e.srv.URL+"/v1", "DOCENT_API_KEY="+e.keys["eng"],
		"DOCENT_QUESTION="+vacationQ, "DOCENT_UNANSWERABLE=What is the capital of Mongolia and its population?")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("node client.mjs: %v\n%s", err, stderr.Bytes())
	}
	var out struct {
		Models     []string `json:"models"`
		Model      string   `json:"model"`
		Completion struct {
			ID, Object, Model, Role, Content string
			FinishReason                     string         `json:"finish_reason"`
			Usage                            *api.ChatUsage `json:"usage"`
			Docent                           *api.ChatDocent
		} `json:"completion"`
		Stream struct {
			Deltas       []string
			Role         string
			Sources      []api.Source
			FinishReason string `json:"finish_reason"`
			Docent       *api.ChatDocent
			Usage        *api.ChatUsage
			Chunks       int
		} `json:"stream"`
		Accumulated string `json:"accumulated"`
		Refusal     struct {
			Content string
			Docent  *api.ChatDocent
		} `json:"refusal"`
		Errors map[string]*struct {
			Class      string  `json:"class"`
			IsAPIError bool    `json:"isAPIError"`
			Status     int     `json:"status"`
			Code       string  `json:"code"`
			Type       string  `json:"type"`
			Param      *string `json:"param"`
		} `json:"errors"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("the client's output: %v\n%s\n%s", err, stdout.Bytes(), stderr.Bytes())
	}
	defer func() {
		if t.Failed() {
			t.Logf("the openai client saw: %s", stdout.Bytes())
		}
	}()

	if len(out.Models) != 1 || out.Models[0] != "docent" || out.Model != "docent" {
		t.Errorf("models %v, model %q", out.Models, out.Model)
	}
	want := "Employees get 25 days of paid vacation per calendar year [1]. Unused days carry over [1]."
	c := out.Completion
	if c.Object != "chat.completion" || c.Model != "docent" || c.Role != "assistant" || c.FinishReason != "stop" || c.Content != want {
		t.Errorf("completion: %+v", c)
	}
	if c.Docent == nil || c.Docent.Refused || len(c.Docent.Citations) != 1 || c.Docent.Citations[0].Document.URL == nil ||
		!strings.HasPrefix(*c.Docent.Citations[0].Document.URL, "https://intranet.example/docs/handbook/") || c.Usage == nil {
		t.Errorf("the SDK does not see the docent extension with the citation and its URL: %+v", c.Docent)
	}
	s := out.Stream
	if got := strings.Join(s.Deltas, ""); got != want || len(s.Deltas) < 2 || s.Role != "assistant" || s.FinishReason != "stop" {
		t.Errorf("stream: %d deltas %q (want %q), role %q, finish %q", len(s.Deltas), got, want, s.Role, s.FinishReason)
	}
	if len(s.Sources) == 0 || s.Docent == nil || s.Docent.Answer == nil || *s.Docent.Answer != want || len(s.Docent.Citations) != 1 || s.Usage == nil {
		t.Errorf("stream extension: sources %d, docent %+v, usage %v", len(s.Sources), s.Docent, s.Usage)
	}
	if out.Accumulated != want {
		t.Errorf("the SDK's accumulated stream: %q", out.Accumulated)
	}
	if out.Refusal.Content != "I can't find that in the documents you can access." || out.Refusal.Docent == nil || !out.Refusal.Docent.Refused {
		t.Errorf("refusal: %+v", out.Refusal)
	}
	for name, want := range map[string]struct {
		class  string
		status int
		code   string
		typ    string
	}{
		"unknownModel": {"NotFoundError", 404, "model_not_found", "invalid_request_error"},
		"image":        {"BadRequestError", 400, "invalid_request", "invalid_request_error"},
		"badKey":       {"AuthenticationError", 401, "unauthorized", "authentication_error"},
	} {
		got := out.Errors[name]
		if got == nil || !got.IsAPIError || got.Class != want.class || got.Status != want.status || got.Code != want.code || got.Type != want.typ {
			t.Errorf("%s: the SDK raised %+v, want %+v", name, got, want)
		}
	}
	if p := out.Errors["image"]; p != nil && (p.Param == nil || *p.Param != "messages[0].content[0].type") {
		t.Errorf("image: param %v", p.Param)
	}
}
