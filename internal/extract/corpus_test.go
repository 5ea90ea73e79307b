package extract

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/docent-rag/docent/internal/chunk"
	"github.com/docent-rag/docent/internal/testing/evaldata"
)

// garbage is markup that must not survive extraction into running text.
var garbage = regexp.MustCompile(`\{\{-? ?(raw|code|play|image|video|donotedit|if|else|end|range|with)\b|</?(div|p|span|a|img|br|table|tr|td|th|ul|ol|li|pre|code|h[1-6]|iframe|script|style)\b[^>]*>|<!--|-->`)

// TestGoDevCorpus extracts the go.dev site source: every file must extract, redirect stubs
// must be skipped, and no markup or template action may be left in the text outside code.
func TestGoDevCorpus(t *testing.T) {
	dir := evaldata.Path(t, "docs/go-website/content")
	var files, chars, blocks int
	skipped := map[string]int{}
	braces := map[string]int{} // file -> "{{" or "}}" left in the text (code included)
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		files++
		doc, err := Text(path, data)
		if err != nil {
			t.Errorf("%s: %v", rel, err)
			return nil
		}
		checkDocument(t, rel, doc)
		if wantRedirect := isRedirectStub(data); wantRedirect != (doc.Skip == SkipRedirect) {
			t.Errorf("%s: Skip = %q, redirect stub: %v", rel, doc.Skip, wantRedirect)
		}
		if doc.Skip != "" {
			if doc.Skip != SkipRedirect {
				t.Logf("%s: skipped: %s", rel, doc.Skip)
			}
			skipped[doc.Skip]++
			return nil
		}
		chars += len(doc.Text)
		blocks += len(doc.Blocks)
		for _, b := range doc.Blocks {
			text := doc.Text[b.Start:b.End]
			if n := strings.Count(text, "{{") + strings.Count(text, "}}"); n > 0 {
				braces[rel] += n
			}
			if b.Kind == chunk.Code {
				continue
			}
			for _, m := range garbage.FindAllString(text, -1) {
				if !literalInSource(string(data), m) {
					t.Errorf("%s: markup %q left in %q", rel, m, truncate(text, 200))
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for name := range braces {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		t.Logf("braces left (content, not actions): %s: %d", name, braces[name])
	}
	t.Logf("go.dev corpus: %d files, skipped %v, %d blocks, %d bytes of text", files, skipped, blocks, chars)
	if files < 400 {
		t.Errorf("only %d files in %s", files, dir)
	}
}

// literalInSource reports whether markup found in extracted text is there because the
// source shows it as text: escaped (&lt;p&gt;), in a code span, or in a template string
// constant ({{"{{if .}}"}}).
func literalInSource(src, m string) bool {
	escaped := strings.NewReplacer("<", "&lt;", ">", "&gt;").Replace(m)
	return strings.Contains(src, escaped) || strings.Contains(src, strings.ReplaceAll(m, "<", `\<`)) ||
		regexp.MustCompile("`[^`\n]*"+regexp.QuoteMeta(m)).MatchString(src) ||
		strings.Contains(src, `"`+m) ||
		regexp.MustCompile(`<code>[^<]*`+regexp.QuoteMeta(escaped)).MatchString(src)
}

// isRedirectStub reports whether a go.dev source file is a redirect stub, by looking at its
// front matter with a regular expression rather than the code under test.
func isRedirectStub(data []byte) bool {
	head := string(data[:min(len(data), 400)])
	return regexp.MustCompile(`(?m)^---\n(.*\n)*?redirect:`).MatchString(head) ||
		regexp.MustCompile(`^<!--\{[^}]*"Redirect"`).MatchString(head)
}

// checkDocument asserts the invariants of every extracted document.
func checkDocument(t testing.TB, name string, doc Document) {
	t.Helper()
	if doc.Metadata == nil {
		t.Errorf("%s: nil Metadata", name)
	}
	if !utf8.ValidString(doc.Text) || !utf8.ValidString(doc.Title) {
		t.Errorf("%s: text or title is not valid UTF-8", name)
	}
	prev := 0
	for i, b := range doc.Blocks {
		if b.Start < prev || b.End <= b.Start || b.End > len(doc.Text) {
			t.Fatalf("%s: block %d [%d,%d) out of order or outside the text (%d bytes, previous end %d)", name, i, b.Start, b.End, len(doc.Text), prev)
		}
		if gap := doc.Text[prev:b.Start]; strings.TrimSpace(gap) != "" {
			t.Errorf("%s: text %q between blocks %d and %d", name, gap, i-1, i)
		}
		text := doc.Text[b.Start:b.End]
		if strings.TrimSpace(text) != text || text == "" {
			t.Errorf("%s: block %d %q is empty or not trimmed", name, i, text)
		}
		if (b.Kind == chunk.Heading) != (b.Level >= 1 && b.Level <= 6) || (b.Kind != chunk.Heading && b.Level != 0) {
			t.Errorf("%s: block %d kind %d has level %d", name, i, b.Kind, b.Level)
		}
		prev = b.End
	}
	if strings.TrimSpace(doc.Text[prev:]) != "" {
		t.Errorf("%s: text after the last block", name)
	}
	if doc.Skip == "" && len(doc.Blocks) == 0 {
		t.Errorf("%s: no blocks but not skipped", name)
	}
}
