package main

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/docent-rag/docent/internal/eval"
)

func TestExitStatus(t *testing.T) {
	t.Parallel()
	var failed eval.QueryFailures
	failed.Fail("q1", errors.New("the query is empty"))
	for _, tc := range []struct {
		err  error
		code int
		want string
	}{
		{nil, exitOK, ""},
		{usagef("--k %d", 0), exitUsage, "eval qa: --k 0\n"},
		{fmt.Errorf("prepare: %w", usage(errors.New("bad"))), exitUsage, "eval qa: prepare: bad\n"},
		{errors.New("connect"), exitFatal, "eval qa: connect\n"},
		{errInterrupted, exitFatal, "eval qa: interrupted\n"},
		{partial(failed, 4), exitPartial, "eval qa: 1 of 4 queries failed and count as finding nothing\n"},
		{partial(eval.QueryFailures{}, 4), exitOK, ""},
	} {
		var stderr bytes.Buffer
		c := command{name: "qa", e: env{stderr: &stderr}}
		if code := c.exit(tc.err); code != tc.code || stderr.String() != tc.want {
			t.Errorf("exit(%v) = %d, %q; want %d, %q", tc.err, code, stderr.String(), tc.code, tc.want)
		}
	}
}

func TestSourceFlags(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		f  sourceFlags
		ok bool
	}{
		{sourceFlags{dir: "d"}, true},
		{sourceFlags{pairs: "p", corpus: "c"}, true},
		{sourceFlags{faq: "f", corpus: "c"}, true},
		{sourceFlags{}, false},
		{sourceFlags{dir: "d", corpus: "c"}, false},
		{sourceFlags{pairs: "p"}, false},
		{sourceFlags{pairs: "p", faq: "f", corpus: "c"}, false},
		{sourceFlags{dir: "d", pairs: "p", corpus: "c"}, false},
	} {
		err := tc.f.check()
		if (err == nil) != tc.ok || err != nil && !errors.As(err, new(usageError)) {
			t.Errorf("%+v: %v, want ok %v (or a usage error)", tc.f, err, tc.ok)
		}
	}
}

// A run that is not on a terminal logs its progress at each tenth, whatever its size; on a
// terminal the line is rewritten in place and ended.
func TestProgress(t *testing.T) {
	t.Parallel()
	for _, total := range []int{5, 100, 1234} {
		var stderr bytes.Buffer
		p := command{name: "beir", e: env{stderr: &stderr}}.progress("queries", total)
		for range total {
			p.step()
		}
		p.end()
		lines := strings.Count(stderr.String(), "\n")
		want := 10
		if total < 100 {
			want = 0
		}
		if lines != want || want > 0 && !strings.HasSuffix(stderr.String(), fmt.Sprintf("eval beir: %d/%d queries\n", total, total)) {
			t.Errorf("%d steps: %d lines, want %d ending with the total:\n%s", total, lines, want, stderr.String())
		}
	}
	var stderr bytes.Buffer
	p := command{name: "beir", e: env{stderr: &stderr, terminal: true}}.progress("queries", 25)
	for range 25 {
		p.step()
	}
	p.end()
	if got, want := stderr.String(), "\rqueries 10/25\rqueries 20/25\rqueries 25/25\n"; got != want {
		t.Errorf("terminal: %q, want %q", got, want)
	}
}
