package ingest_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/docent-rag/docent/internal/index"
	"github.com/docent-rag/docent/internal/ingest"
)

var urlCorpus = map[string]string{
	".docent-acl":                      "public\n",
	"guide/install.md":                 "# Install\n\nRun the installer.\n",
	"guide/my notes/Übersicht 2026.md": "# Übersicht\n\nDie Übersicht für 2026.\n",
	"guide/what?#100%.txt":             "A file name with a question mark, a hash and a percent sign.\n",
	"own.md":                           "---\nurl: https://wiki.example/own-page\n---\n# Own\n\nA page that knows its own URL.\n",
	"evil.md":                          "---\nurl: javascript:alert(document.cookie)\n---\n# Evil\n\nA page with a hostile link.\n",
	"data.md":                          "---\nurl: \"data:text/html,<script>alert(1)</script>\"\n---\n# Data\n\nAnother hostile link.\n",
	"faq.jsonl": `{"id":"q1","title":"Parking","text":"Parking is free.","url":"https://kb.example/q1"}
{"id":"q2","title":"Lunch","text":"Lunch is subsidised."}
{"id":"q3","title":"Bad","text":"Bad link.","url":"javascript:alert(1)"}
`,
}

// urls returns each document's stored url and url_source.
func (h *harness) urls() map[string]string {
	h.t.Helper()
	rows, err := h.db.Pool.Query(context.Background(), `SELECT uri, coalesce(url, '') || ' (' || url_source || ')' FROM documents`)
	if err != nil {
		h.t.Fatal(err)
	}
	out := map[string]string{}
	for rows.Next() {
		var uri, u string
		if err := rows.Scan(&uri, &u); err != nil {
			h.t.Fatal(err)
		}
		out[uri] = u
	}
	if err := rows.Err(); err != nil {
		h.t.Fatal(err)
	}
	return out
}

// TestDocumentURLs: urls from front matter, JSON Lines and --url-prefix (paths with spaces,
// non-ASCII, '?', '#' and '%' percent-encoded); a document's own url wins over the prefix;
// javascript: and data: urls are dropped with a warning and never stored; a change of the
// prefix updates the stored urls of unchanged files without re-extracting them, a re-run
// with the same prefix changes nothing, and removing the prefix removes them.
func TestDocumentURLs(t *testing.T) {
	t.Parallel()
	h := newHarness(t, urlCorpus)
	prefix := func(p string) func(*ingest.Config) { return func(c *ingest.Config) { c.URLPrefix = p } }

	s, _ := h.mustRun(prefix("https://docs.example/kb"))
	want := map[string]string{
		"guide/install.md":                 "https://docs.example/kb/guide/install.md (prefix)",
		"guide/my notes/Übersicht 2026.md": "https://docs.example/kb/guide/my%20notes/%C3%9Cbersicht%202026.md (prefix)",
		"guide/what?#100%.txt":             "https://docs.example/kb/guide/what%3F%23100%25.txt (prefix)",
		"own.md":                           "https://wiki.example/own-page (document)",
		"evil.md":                          "https://docs.example/kb/evil.md (prefix)",
		"data.md":                          "https://docs.example/kb/data.md (prefix)",
		"faq.jsonl#q1":                     "https://kb.example/q1 (document)",
		"faq.jsonl#q2":                     " (none)",
		"faq.jsonl#q3":                     " (none)",
	}
	if diff := cmp.Diff(want, h.urls()); diff != "" {
		t.Errorf("urls after the first run (-want +got):\n%s", diff)
	}
	var warned []string
	for _, w := range s.Warnings {
		warned = append(warned, w.URI)
	}
	if diff := cmp.Diff([]string{"data.md", "evil.md", "faq.jsonl#q3"}, sortedCopy(warned)); diff != "" {
		t.Errorf("warnings (-want +got):\n%s\n%+v", diff, s.Warnings)
	}
	var unsafe int
	if err := h.db.Pool.QueryRow(context.Background(), `
		SELECT count(*) FROM documents
		WHERE url !~ '^https?://' OR metadata::text ILIKE '%javascript:%' OR metadata::text ILIKE '%data:text%'`).Scan(&unsafe); err != nil {
		t.Fatal(err)
	}
	if unsafe != 0 {
		t.Errorf("%d documents store an unsafe url (in url or metadata)", unsafe)
	}

	// The same prefix again: nothing changes.
	s, outcomes := h.mustRun(prefix("https://docs.example/kb/"))
	if s.Documents.URLChanged != 0 || s.Documents.Updated != 0 || s.Documents.Unchanged != len(want) {
		t.Errorf("re-run with the same prefix: %+v %v", s.Documents, outcomes)
	}

	// A new prefix: the prefix-made urls change, without re-extraction or embedding; the
	// documents' own urls stay.
	h.emb.embedded()
	s, outcomes = h.mustRun(prefix("https://help.example/"))
	if s.Documents.URLChanged != 5 || s.Documents.Updated != 0 || h.emb.embedded() != 0 {
		t.Errorf("new prefix: %+v, embedded again; outcomes %v", s.Documents, outcomes)
	}
	if outcomes["guide/install.md"] != ingest.OutcomeURLChanged || outcomes["own.md"] != ingest.OutcomeUnchanged {
		t.Errorf("outcomes: %v", outcomes)
	}
	got := h.urls()
	for uri, u := range map[string]string{
		"guide/my notes/Übersicht 2026.md": "https://help.example/guide/my%20notes/%C3%9Cbersicht%202026.md (prefix)",
		"own.md":                           "https://wiki.example/own-page (document)",
		"faq.jsonl#q1":                     "https://kb.example/q1 (document)",
		"faq.jsonl#q2":                     " (none)",
	} {
		if got[uri] != u {
			t.Errorf("%s: url %q, want %q", uri, got[uri], u)
		}
	}

	// The url a document declares changes with the document.
	write(t, filepath.Join(h.dir, "own.md"), "---\nurl: https://wiki.example/moved\n---\n# Own\n\nA page that knows its own URL.\n")
	// A document that drops its own url falls back to the prefix.
	write(t, filepath.Join(h.dir, "faq.jsonl"), `{"id":"q1","title":"Parking","text":"Parking is free."}
{"id":"q2","title":"Lunch","text":"Lunch is subsidised."}
{"id":"q3","title":"Bad","text":"Bad link.","url":"javascript:alert(1)"}
`)
	// Without a prefix: the prefix-made urls go.
	h.mustRun()
	got = h.urls()
	for uri, u := range map[string]string{
		"guide/install.md": " (none)",
		"own.md":           "https://wiki.example/moved (document)",
		"faq.jsonl#q1":     " (none)",
	} {
		if got[uri] != u {
			t.Errorf("%s: url %q, want %q", uri, got[uri], u)
		}
	}
}

// TestURLPrefixRefused: a prefix that is not an http(s) URL, or that has a query or a
// fragment, is a configuration error before anything is read or written.
func TestURLPrefixRefused(t *testing.T) {
	t.Parallel()
	if _, err := ingest.New(ingest.Config{Source: "demo", Roots: []string{"."}, URLPrefix: "https://docs.example/kb"}, nil, &fakeEmbedder{}, nil); err != nil {
		t.Fatalf("a valid prefix refused: %v", err)
	}
	for _, p := range []string{"javascript:alert(1)//", "data:text/html,x/", "docs.example/", "https://docs.example/?v=1", "https://docs.example/#top", "https://u:p@docs.example/"} {
		_, err := ingest.New(ingest.Config{Source: "demo", Roots: []string{"."}, URLPrefix: p}, nil, &fakeEmbedder{}, nil)
		if err == nil {
			t.Errorf("--url-prefix %q accepted", p)
		}
	}
}

// TestStoredURLsAreHTTPOnly: whatever writes a document row, the schema refuses a url that
// is not http(s) (the check constraint of migration 00013).
func TestStoredURLsAreHTTPOnly(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{".docent-acl": "public\n", "a.md": "# A\n\ntext\n"})
	h.mustRun()
	ctx := context.Background()
	var id int64
	if err := h.db.Pool.QueryRow(ctx, `SELECT id FROM documents WHERE uri = 'a.md'`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"javascript:alert(1)", "JAVASCRIPT:alert(1)", "data:text/html,x", "//evil.example/", "https:///x", "https:// evil"} {
		if err := index.SetURL(ctx, h.db.Pool, id, u, "document"); err == nil {
			t.Errorf("stored url %q", u)
		}
	}
	if err := index.SetURL(ctx, h.db.Pool, id, "https://ok.example/a", "prefix"); err != nil {
		t.Errorf("a valid url refused: %v", err)
	}
}

func sortedCopy(s []string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}
