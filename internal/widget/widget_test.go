package widget_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/docent-rag/docent/internal/widget"
)

// maxGzip is the budget for widget.js, gzipped.
const maxGzip = 30 << 10

func TestSizeWithinBudget(t *testing.T) {
	if n := widget.GzipSize(); n > maxGzip {
		t.Errorf("widget.js is %d bytes gzipped, over the %d-byte budget", n, maxGzip)
	}
	t.Logf("widget.js: %d bytes, %d gzipped", len(widget.Source()), widget.GzipSize())
}

// TestNoHTMLSinks: the script never turns text into HTML or code. Comments are left out of
// the check (the file's header names the forbidden calls).
func TestNoHTMLSinks(t *testing.T) {
	code := regexp.MustCompile(`(?s)/\*.*?\*/`).ReplaceAllString(string(widget.Source()), "")
	var lines []string
	for _, l := range strings.Split(code, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "//") {
			lines = append(lines, l)
		}
	}
	code = strings.Join(lines, "\n")
	for _, sink := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function",
		"setTimeout('", `setTimeout("`, "createContextualFragment", "srcdoc", "javascript:", ".style.cssText", "setAttribute('style'", "style: '"} {
		if strings.Contains(code, sink) {
			t.Errorf("widget.js uses %s", sink)
		}
	}
}

func get(t *testing.T, target string, header ...string) *http.Response {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, target, nil)
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	widget.ServeHTTP(w, r)
	return w.Result()
}

func TestServe(t *testing.T) {
	t.Parallel()
	plain := get(t, "/widget.js")
	body, _ := io.ReadAll(plain.Body)
	if plain.StatusCode != http.StatusOK || !bytes.Equal(body, widget.Source()) {
		t.Fatalf("GET /widget.js: %d, %d bytes", plain.StatusCode, len(body))
	}
	for name, want := range map[string]string{
		"Content-Type":                 "text/javascript; charset=utf-8",
		"X-Content-Type-Options":       "nosniff",
		"Access-Control-Allow-Origin":  "*",
		"Cross-Origin-Resource-Policy": "cross-origin",
		"Cache-Control":                "public, max-age=300, must-revalidate",
		"ETag":                         `"` + widget.Hash() + `"`,
		"Vary":                         "Accept-Encoding",
	} {
		if got := plain.Header.Get(name); got != want {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}

	pinned := get(t, widget.Path())
	if got := pinned.Header.Get("Cache-Control"); got != "public, max-age=31536000, immutable" {
		t.Errorf("%s: Cache-Control %q", widget.Path(), got)
	}
	// Another version's URL gets today's script, but must not be cached as immutable.
	if got := get(t, "/widget.js?v=0123456789abcdef").Header.Get("Cache-Control"); strings.Contains(got, "immutable") {
		t.Errorf("another version's URL: Cache-Control %q", got)
	}

	zipped := get(t, "/widget.js", "Accept-Encoding", "br, gzip;q=0.8")
	if zipped.Header.Get("Content-Encoding") != "gzip" || zipped.Header.Get("ETag") == plain.Header.Get("ETag") {
		t.Fatalf("gzip: %v", zipped.Header)
	}
	zr, err := gzip.NewReader(zipped.Body)
	if err != nil {
		t.Fatal(err)
	}
	if unzipped, _ := io.ReadAll(zr); !bytes.Equal(unzipped, widget.Source()) {
		t.Error("the gzipped script is not the script")
	}
	if get(t, "/widget.js", "Accept-Encoding", "gzip;q=0").Header.Get("Content-Encoding") != "" {
		t.Error("gzip;q=0 got gzip")
	}

	for _, inm := range []string{plain.Header.Get("ETag"), zipped.Header.Get("ETag"), "W/" + plain.Header.Get("ETag"), `"x", ` + plain.Header.Get("ETag"), "*"} {
		res := get(t, "/widget.js", "If-None-Match", inm)
		if body, _ := io.ReadAll(res.Body); res.StatusCode != http.StatusNotModified || len(body) != 0 {
			t.Errorf("If-None-Match %s: %d, %d bytes", inm, res.StatusCode, len(body))
		}
	}
	if res := get(t, "/widget.js", "If-None-Match", `"0123456789abcdef"`); res.StatusCode != http.StatusOK {
		t.Errorf("a stale ETag: %d", res.StatusCode)
	}
	r := httptest.NewRequest(http.MethodPost, "/widget.js", nil)
	w := httptest.NewRecorder()
	widget.ServeHTTP(w, r)
	if w.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", w.Code)
	}
}

// FuzzServe: whatever Accept-Encoding and If-None-Match a client sends, the script is served
// whole (plain or gzipped, as its headers say) or 304 for one of its own ETags, never
// anything else.
func FuzzServe(f *testing.F) {
	for _, s := range [][2]string{{"gzip", ""}, {"gzip;q=0", `"x"`}, {"br, GZIP ; Q=0.5", "W/*"}, {"", `"` + widget.Hash() + `"`}, {";;=,", ",,"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, acceptEncoding, ifNoneMatch string) {
		res := get(t, "/widget.js", "Accept-Encoding", acceptEncoding, "If-None-Match", ifNoneMatch)
		body, _ := io.ReadAll(res.Body)
		switch res.StatusCode {
		case http.StatusNotModified:
			if len(body) != 0 || !strings.Contains(ifNoneMatch, widget.Hash()) && !strings.Contains(ifNoneMatch, "*") {
				t.Fatalf("304 for If-None-Match %q", ifNoneMatch)
			}
		case http.StatusOK:
			if res.Header.Get("Content-Encoding") == "gzip" {
				zr, err := gzip.NewReader(bytes.NewReader(body))
				if err != nil {
					t.Fatal(err)
				}
				body, _ = io.ReadAll(zr)
			}
			if !bytes.Equal(body, widget.Source()) {
				t.Fatal("not the script")
			}
		default:
			t.Fatalf("status %d", res.StatusCode)
		}
	})
}

// TestDocumented: docs/widget.md lists every visible string, every CSS custom property and
// every data-docent-* attribute that widget.js reads.
func TestDocumented(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "widget.md"))
	if err != nil {
		t.Fatal(err)
	}
	src := string(widget.Source())
	block := regexp.MustCompile(`(?s)const DEFAULT_STRINGS = \{(.*?)\n  \};`).FindStringSubmatch(src)
	if block == nil {
		t.Fatal("no DEFAULT_STRINGS in widget.js")
	}
	var names []string
	for _, m := range regexp.MustCompile(`(?m)^\s+(\w+): `).FindAllStringSubmatch(block[1], -1) {
		names = append(names, "`"+m[1]+"`")
	}
	for _, m := range regexp.MustCompile(`var\((--docent-[a-z-]+)`).FindAllStringSubmatch(src, -1) {
		names = append(names, "`"+m[1]+"`")
	}
	for _, m := range regexp.MustCompile(`ds\.docent(\w+)`).FindAllStringSubmatch(src, -1) {
		kebab := regexp.MustCompile(`[A-Z]`).ReplaceAllStringFunc(m[1][1:], func(c string) string { return "-" + strings.ToLower(c) })
		names = append(names, "`data-docent-"+strings.ToLower(m[1][:1])+kebab+"`")
	}
	if len(names) < 60 {
		t.Fatalf("only %d names found in widget.js", len(names))
	}
	for _, n := range names {
		if !strings.Contains(string(doc), n) {
			t.Errorf("docs/widget.md does not document %s", n)
		}
	}
}
