package cmdconfig

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
)

func TestProgramRun(t *testing.T) {
	t.Parallel()
	type env struct{ broken bool }
	ran := ""
	p := Program[env]{
		Name: "tool",
		Commands: []Command[env]{{Name: "go", Summary: "do it", Run: func(_ context.Context, args []string, _ env) int {
			fs := NewFlagSet("tool go", "usage: tool go [flags]")
			fs.Bool("fast", false, "quickly")
			var out, errOut bytes.Buffer
			if code := Parse(fs, args, false, &out, &errOut); code >= 0 {
				ran = out.String() + errOut.String()
				return code
			}
			ran = "went"
			return ExitOK
		}}},
		Check: func(e env) error {
			if e.broken {
				return errors.New("DOCENT_X: broken")
			}
			return nil
		},
	}
	for _, tc := range []struct {
		args           []string
		e              env
		code           int
		stdout, stderr string
		ran            string
	}{
		{nil, env{}, ExitUsage, "", "usage: tool <command>", ""},
		{[]string{"help"}, env{}, ExitOK, "  go         do it", "", ""},
		{[]string{"-help"}, env{}, ExitOK, "usage: tool <command>", "", ""},
		{[]string{"help", "go"}, env{}, ExitOK, "", "", "usage: tool go [flags]\n\nflags:\n  -fast"},
		{[]string{"nope"}, env{}, ExitUsage, "", "tool: unknown command \"nope\"\n\nusage: tool", ""},
		{[]string{"go"}, env{}, ExitOK, "", "", "went"},
		{[]string{"go", "extra"}, env{}, ExitUsage, "", "", `tool go: unexpected argument "extra"`},
		{[]string{"go", "--slow"}, env{}, ExitUsage, "", "", "flag provided but not defined: -slow"},
		// The check stops a command, but not a request for its help.
		{[]string{"go"}, env{broken: true}, ExitUsage, "", "tool go: DOCENT_X: broken", ""},
		{[]string{"go", "--help"}, env{broken: true}, ExitOK, "", "", "usage: tool go"},
	} {
		ran = ""
		var out, errOut bytes.Buffer
		code := p.Run(context.Background(), tc.args, tc.e, &out, &errOut)
		if code != tc.code || !strings.Contains(out.String(), tc.stdout) || !strings.Contains(errOut.String(), tc.stderr) || !strings.Contains(ran, tc.ran) {
			t.Errorf("%v (%+v): exit %d, stdout %q, stderr %q, ran %q; want %d, %q, %q, %q",
				tc.args, tc.e, code, out.String(), errOut.String(), ran, tc.code, tc.stdout, tc.stderr, tc.ran)
		}
	}
}

func TestRerankerKinds(t *testing.T) {
	t.Parallel()
	getenv := func(k string) string {
		return map[string]string{"DOCENT_RERANKER_URL": "http://127.0.0.1:1", "DOCENT_RERANKER_MODEL": "rerank-v3"}[k]
	}
	for kind, name := range map[string]string{"none": "", "builtin": "builtin"} {
		if _, got, err := Reranker("DOCENT_RERANKER", kind, getenv); err != nil || got != name {
			t.Errorf("%s: %q, %v", kind, got, err)
		}
	}
	for _, kind := range []string{"tei", "cohere"} {
		if rr, _, err := Reranker("DOCENT_RERANKER", kind, getenv); err != nil || rr == nil {
			t.Errorf("%s: %v", kind, err)
		}
	}
	for _, kind := range []string{"http", "", "TEI"} {
		if _, _, err := Reranker("--rerank", kind, getenv); err == nil || !strings.HasPrefix(err.Error(), "--rerank: ") {
			t.Errorf("%q: %v, want refused, naming --rerank", kind, err)
		}
	}
}
