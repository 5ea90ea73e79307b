package extract

import (
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestSourceURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in, want string // want "" means refused
	}{
		{"https://docs.example/guide/install", "https://docs.example/guide/install"},
		{"  HTTP://Docs.Example/A?b=c#d  ", "http://docs.example/A?b=c#d"},
		{"https://docs.example:8443/x", "https://docs.example:8443/x"},
		{"https://docs.example/ünï", "https://docs.example/%C3%BCn%C3%AF"},
		{"https://docs.example/a%20b", "https://docs.example/a%20b"},
		{"javascript:alert(1)", ""},
		{"JavaScript:alert(document.cookie)", ""},
		{" javascript:alert(1)", ""},
		{"java\tscript:alert(1)", ""},
		{"data:text/html,<script>alert(1)</script>", ""},
		{"vbscript:msgbox(1)", ""},
		{"file:///etc/passwd", ""},
		{"ftp://docs.example/x", ""},
		{"//docs.example/x", ""},
		{"/guide/install", ""},
		{"guide/install.html", ""},
		{"https:///nohost", ""},
		{"https://user:pw@docs.example/", ""},
		{"https://docs.example/a b", ""},
		{"https://docs.example/a\nb", ""},
		{"https://docs.example/\u0000", ""},
		{"https://docs.example/" + strings.Repeat("a", MaxURLLen), ""},
		{"", ""},
		{"https://docs.example/\ufffd", ""},
		{"https://docs.example/\u202egnp.exe", ""},
		{"https://docs\u200b.example/", ""},
	} {
		got, err := SourceURL(tc.in)
		if tc.want == "" {
			if err == nil {
				t.Errorf("SourceURL(%q) = %q, want refused", tc.in, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("SourceURL(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestJoinURLPath(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ prefix, rel, want string }{
		{"https://docs.example/", "guide/install.md", "https://docs.example/guide/install.md"},
		{"https://docs.example/base", "a.md", "https://docs.example/base/a.md"},
		{"https://docs.example/", "my notes/Übersicht 2026.md", "https://docs.example/my%20notes/%C3%9Cbersicht%202026.md"},
		{"https://docs.example/", "what?#100%.md", "https://docs.example/what%3F%23100%25.md"},
		{"https://docs.example/", "日本語/文書.md", "https://docs.example/%E6%97%A5%E6%9C%AC%E8%AA%9E/%E6%96%87%E6%9B%B8.md"},
	} {
		got, err := JoinURLPath(tc.prefix, tc.rel)
		if err != nil || got != tc.want {
			t.Errorf("JoinURLPath(%q, %q) = %q, %v; want %q", tc.prefix, tc.rel, got, err, tc.want)
			continue
		}
		// The path decodes back to the file's path, under the prefix's.
		u, _ := url.Parse(got)
		if !strings.HasSuffix(u.Path, "/"+tc.rel) || u.RawQuery != "" || u.Fragment != "" {
			t.Errorf("JoinURLPath(%q, %q) = %q: path %q, query %q, fragment %q", tc.prefix, tc.rel, got, u.Path, u.RawQuery, u.Fragment)
		}
	}
}

func TestValidURLPrefix(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"https://docs.example":      "https://docs.example/",
		"https://docs.example/kb/":  "https://docs.example/kb/",
		"https://docs.example/?a=b": "",
		"https://docs.example/#x":   "",
		"javascript:alert(1)//":     "",
		"docs.example/":             "",
		"https://docs.example/kb?":  "",
	} {
		got, err := ValidURLPrefix(in)
		if want == "" {
			if err == nil {
				t.Errorf("ValidURLPrefix(%q) = %q, want refused", in, got)
			}
			continue
		}
		if err != nil || got != want {
			t.Errorf("ValidURLPrefix(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

// TestDocumentURL: a document's url from YAML, TOML and JSON front matter, a JSON Lines
// record and an HTML canonical link; a javascript: or data: url is dropped with a reason and
// never kept, not even in Metadata.
func TestDocumentURL(t *testing.T) {
	t.Parallel()
	md := func(s string) (Document, error) { return Markdown([]byte(s)) }
	html := func(s string) (Document, error) { return HTML([]byte(s)) }
	jsonl := func(s string) (Document, error) { return JSONLRecord([]byte(s)) }
	for _, tc := range []struct {
		name    string
		extract func(string) (Document, error)
		in      string
		want    string
		refused bool
	}{
		{"yaml", md, "---\ntitle: T\nurl: https://docs.example/t\n---\n# T\nbody\n", "https://docs.example/t", false},
		{"yaml capitalised", md, "---\nURL: https://docs.example/t\n---\nbody\n", "https://docs.example/t", false},
		{"toml", md, "+++\ntitle = \"T\"\nurl = \"https://docs.example/toml\"\n+++\nbody\n", "https://docs.example/toml", false},
		{"json comment", html, "<!--{\n\"Title\": \"T\", \"URL\": \"https://go.example/doc\"\n}-->\n<p>body</p>", "https://go.example/doc", false},
		{"none", md, "# T\nbody\n", "", false},
		{"javascript", md, "---\nurl: javascript:alert(1)\n---\nbody\n", "", true},
		{"data", md, "---\nurl: \"data:text/html,<script>alert(1)</script>\"\n---\nbody\n", "", true},
		{"relative", md, "---\nurl: /guide/x\n---\nbody\n", "", true},
		{"not a string", md, "---\nurl: [https://a.example/]\n---\nbody\n", "", true},
		{"canonical", html, `<html><head><title>T</title><link rel="canonical" href="https://www.example/page"></head><body><p>x</p></body></html>`, "https://www.example/page", false},
		{"canonical javascript", html, `<html><head><link rel="Canonical" href="javascript:alert(1)"></head><body><p>x</p></body></html>`, "", true},
		{"front matter beats canonical", html, "<!--{\"url\": \"https://a.example/fm\"}-->\n" + `<html><head><link rel="canonical" href="https://a.example/canon"></head><body><p>x</p></body></html>`, "https://a.example/fm", false},
		{"jsonl", jsonl, `{"id": "1", "text": "x", "url": "https://kb.example/1"}`, "https://kb.example/1", false},
		{"jsonl metadata", jsonl, `{"id": "1", "text": "x", "metadata": {"url": "https://kb.example/m"}}`, "https://kb.example/m", false},
		{"jsonl top beats metadata", jsonl, `{"id": "1", "text": "x", "url": "https://kb.example/top", "metadata": {"url": "https://kb.example/m"}}`, "https://kb.example/top", false},
		{"jsonl javascript", jsonl, `{"id": "1", "text": "x", "url": "javascript:alert(1)"}`, "", true},
		{"jsonl data in metadata", jsonl, `{"id": "1", "text": "x", "metadata": {"URL": "data:text/html;base64,PHNjcmlwdD4="}}`, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc, err := tc.extract(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if doc.URL != tc.want {
				t.Errorf("URL = %q, want %q", doc.URL, tc.want)
			}
			if (doc.URLRefused != "") != tc.refused {
				t.Errorf("URLRefused = %q, want refused %v", doc.URLRefused, tc.refused)
			}
			for k, v := range doc.Metadata {
				if strings.EqualFold(k, "url") {
					t.Errorf("Metadata[%q] = %v: the url must not be kept as metadata", k, v)
				}
			}
			// Through the child's wire format too.
			payload, err := encodeDocument(doc)
			if err != nil {
				t.Fatal(err)
			}
			back, err := decodeDocument(payload)
			if err != nil || back.URL != doc.URL || back.URLRefused != doc.URLRefused {
				t.Errorf("after the trip from the child: %q %q %v", back.URL, back.URLRefused, err)
			}
		})
	}
}

// TestDecodeDocumentRefusesAnUnsafeURL: a child whose output carries a javascript: url (a
// bug, or a file that got around the check) fails the file rather than storing it.
func TestDecodeDocumentRefusesAnUnsafeURL(t *testing.T) {
	t.Parallel()
	doc := newDocument("text/markdown")
	doc.URL = "javascript:alert(1)"
	payload, err := encodeDocument(doc)
	if err != nil {
		t.Fatal(err)
	}
	if back, err := decodeDocument(payload); err == nil {
		t.Errorf("decoded a document with url %q", back.URL)
	}
}

// FuzzSourceURL: whatever SourceURL accepts is an absolute http(s) URL with a host, without
// spaces or control characters, within MaxURLLen, and a fixed point.
func FuzzSourceURL(f *testing.F) {
	for _, s := range []string{"https://docs.example/a", "javascript:alert(1)", "HTTP://X/%zz", "https://[::1]:80/", "http://a b/",
		"data:,x", "https://x/\u00e9?#", "http://\u212a.example/", "https://%00/", "http:/x", "https:x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := SourceURL(s)
		if err != nil {
			return
		}
		if !strings.HasPrefix(got, "http://") && !strings.HasPrefix(got, "https://") {
			t.Fatalf("SourceURL(%q) = %q: not http(s)", s, got)
		}
		if len(got) > MaxURLLen || !utf8.ValidString(got) || strings.ContainsAny(got, " \t\r\n\x00\x7f") {
			t.Fatalf("SourceURL(%q) = %q", s, got)
		}
		u, err := url.Parse(got)
		if err != nil || u.Host == "" || u.User != nil {
			t.Fatalf("SourceURL(%q) = %q: %v", s, got, err)
		}
		if again, err := SourceURL(got); err != nil || again != got {
			t.Fatalf("SourceURL(%q) = %q, but SourceURL(%q) = %q, %v", s, got, got, again, err)
		}
	})
}
