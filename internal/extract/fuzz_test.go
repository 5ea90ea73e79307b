package extract

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"runtime/metrics"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/yuin/goldmark/ast"
	extast "github.com/yuin/goldmark/extension/ast"
	"github.com/yuin/goldmark/text"

	"github.com/docent-rag/docent/internal/chunk"
	"github.com/docent-rag/docent/internal/testing/evaldata"
	"github.com/docent-rag/docent/internal/testing/pdfgen"
)

// addSeeds adds the golden-test documents with one of the given extensions, the go.dev
// site's files with one of them from the shared evaluation data (up to 64 KiB each), and
// extra inputs, to a fuzz corpus.
func addSeeds(f *testing.F, exts []string, extra ...string) {
	files, _ := filepath.Glob("testdata/text/*")
	for _, file := range files {
		for _, ext := range exts {
			if strings.HasSuffix(file, ext) {
				data, err := os.ReadFile(file)
				if err != nil {
					f.Fatal(err)
				}
				f.Add(data)
			}
		}
	}
	for _, data := range sharedSeeds(f, "docs/go-website/content", exts, 64<<10) {
		f.Add(data)
	}
	for _, s := range extra {
		f.Add([]byte(s))
	}
}

// sharedSeeds returns the files under sub in the shared evaluation data (DOCENT_EVAL_DATA)
// with one of the extensions and at most max bytes. Without the data the corpus is seeded
// from the repository alone, except under CI=true, where that is an error.
func sharedSeeds(f *testing.F, sub string, exts []string, max int64) [][]byte {
	dir := filepath.Join(evaldata.Dir(), filepath.FromSlash(sub))
	if _, err := os.Stat(dir); err != nil {
		if os.Getenv("CI") == "true" {
			f.Fatalf("evaluation data missing (CI=true): %v", err)
		}
		f.Logf("evaluation data missing, seeding from the repository only: %v", err)
		return nil
	}
	var out [][]byte
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !slices.Contains(exts, strings.ToLower(filepath.Ext(path))) {
			return err
		}
		if info, err := d.Info(); err != nil || info.Size() > max {
			return err
		}
		data, err := os.ReadFile(path)
		out = append(out, data)
		return err
	})
	if err != nil {
		f.Fatal(err)
	}
	return out
}

// hostileMarkdown are small versions of the inputs that made parsers run for minutes or
// exhaust memory (issue 9): nested containers on one line and by indentation, a YAML alias
// bomb (three levels here), delimiter runs that goldmark parses in quadratic time.
var hostileMarkdown = []string{
	strings.Repeat("- ", 300) + "a",
	strings.Repeat("> ", 300) + "a",
	strings.Repeat("1. ", 200) + "a",
	strings.Repeat("> - 1. ", 100) + "a",
	indentedList(60),
	"---\na: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n---\nbody\n",
	"a**b" + strings.Repeat("c* ", 300),
	strings.Repeat("[", 300) + "a" + strings.Repeat("]", 300),
	strings.Repeat("*a_ ", 200),
	strings.Repeat("[a](b", 200),
	"a\n" + strings.Repeat(": ", 200),
	strings.Repeat("<div>", 600) + "deep",
}

// indentedList is a list of n items, each nested in the previous one by indentation.
func indentedList(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "%s- item %d\n", strings.Repeat("  ", i), i)
	}
	return b.String()
}

// checkResult asserts what every extractor promises for any input: an error is an *Error
// that is not a recovered panic, and a document satisfies checkDocument.
func checkResult(t *testing.T, doc Document, err error) {
	t.Helper()
	if err != nil {
		var e *Error
		if !errors.As(err, &e) || e.Reason != ReasonInvalid {
			t.Fatalf("error %v (%T) is not an *Error with reason %q", err, err, ReasonInvalid)
		}
		if strings.Contains(err.Error(), "panic") {
			t.Fatalf("parser panicked: %v", err)
		}
		return
	}
	checkDocument(t, "fuzz input", doc)
}

// Budget of an in-process extraction of n bytes. Measured on the go.dev site (485 files):
// at most about 450 bytes allocated and 2 µs per byte of input, plus goldmark's start-up
// (about 0.5 MB). goldmark allocates about 1 KB per byte on nested brackets and is
// quadratic in time on some delimiter runs (see hostileMarkdown), which only the child's
// time budget bounds; the budget below stops exponential or runaway growth, such as an
// alias bomb's.
func allocBudget(n int) uint64       { return 4<<20 + 2048*uint64(n) }
func timeBudget(n int) time.Duration { return 2*time.Second + 100*time.Microsecond*time.Duration(n) }

// checkBudget runs extract on n bytes and fails if it allocates or takes more than the
// budget.
func checkBudget(t *testing.T, n int, extract func()) {
	t.Helper()
	sample := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(sample)
	before := sample[0].Value.Uint64()
	start := time.Now()
	extract()
	elapsed := time.Since(start)
	metrics.Read(sample)
	if alloc := sample[0].Value.Uint64() - before; alloc > allocBudget(n) {
		t.Fatalf("%d bytes of input: %d MiB allocated, over the budget of %d MiB", n, alloc>>20, allocBudget(n)>>20)
	}
	if elapsed > timeBudget(n) {
		t.Fatalf("%d bytes of input: took %v, over the budget of %v", n, elapsed, timeBudget(n))
	}
}

func FuzzMarkdown(f *testing.F) {
	addSeeds(f, []string{".md"}, append([]string{
		"---\ntitle: x\n---\n# a\n", "+++\na = 1\n+++\n", "<!--{\"Title\": 1}-->\n{{raw `<b>`}}",
		"- a\n  - b\n    1. c\n\n  ```\n  x\n  ```\n", "| a | b |\n|---|---|\n| 1 |\n", "> - a\n> > b\n",
		"<div>\n<p>x</p>\n", "a  \nb\\\nc", "`{{.X}}` {{image \"x\"}}", "[a]: /x\n[a]", "\x00\x01\x02",
		"---\ntemplate: true\n---\n{{- if .X -}}\n\tcode {{raw \"<\"}}\n{{end}}", "<table><tr><td>a</td></tr></table>\n",
	}, hostileMarkdown...)...)
	f.Fuzz(func(t *testing.T, data []byte) {
		var doc Document
		var err error
		checkBudget(t, len(data), func() { doc, err = Markdown(data) })
		checkResult(t, doc, err)
	})
}

func FuzzHTML(f *testing.F) {
	addSeeds(f, []string{".html"},
		"<main><h1>a</h1><ul><li>b<ol><li>c</li></ol></li></ul></main>", "<table><caption>c</caption><tr><td>1<td>2</table>",
		"<pre>\n\tx\n\t y</pre>", "<meta charset=latin1><p>\xe9</p>", "<!--{\"Template\": true}-->{{raw \"<p>\"}}x",
		"<form><h1>x</h1></form>", "<p hidden>x</p><br><br>", "<code>{{.X}}</code>{{if}}", "<svg><title>t</title></svg>",
		strings.Repeat("<div>", 600)+"deep", strings.Repeat("<b><i>", 300)+"x</b>y", strings.Repeat("<table><tr><td>", 200),
		"<title>t</title>"+strings.Repeat("<p>a<script>x</script>", 100))
	f.Fuzz(func(t *testing.T, data []byte) {
		var doc Document
		var err error
		checkBudget(t, len(data), func() { doc, err = HTML(data) })
		checkResult(t, doc, err)
	})
}

func FuzzPlainText(f *testing.F) {
	addSeeds(f, []string{".txt"}, "Title\n\nBody", "a\r\nb\r\n\r\nc", "\xFE\xFF\x00a", "caf\xe9", "  \n \t\n",
		strings.Repeat("\n", 1000), strings.Repeat(" \t", 1000)+"x", strings.Repeat("ab-\n", 500))
	f.Fuzz(func(t *testing.T, data []byte) {
		var doc Document
		var err error
		checkBudget(t, len(data), func() { doc, err = PlainText(data) })
		checkResult(t, doc, err)
	})
}

// FuzzMarkdownNesting checks limitNesting's proof against goldmark: the bound it computes
// for any input is at least the container nesting goldmark builds from it, and what it
// gives goldmark nests no deeper than the limit (a small one here, so that short inputs
// reach it).
func FuzzMarkdownNesting(f *testing.F) {
	addSeeds(f, []string{".md"}, hostileMarkdown...)
	for _, s := range []string{"- a\n  - b\n    - c\n      - d", "> a\nb\n> > c\nd", "- a\n\n  b\n\n      code", "1.\n  2)\n   - x",
		"-\t-\t- a", "* a\n  *\n   * b\n\n> * > 1) x", "Term\n: def\n  : more\n    : x", "- a\n  > b\nlazy\n  - c"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		src := normalizeNewlines(string(data))
		_, changed, bound := limitNesting(src, math.MaxInt)
		if changed != 0 {
			t.Fatalf("changed %d lines without a limit", changed)
		}
		if got := markdownDepth(src); got > bound {
			t.Fatalf("goldmark nests %d containers, over the proven bound %d:\n%q", got, bound, src)
		}
		for _, limit := range []int{2, maxMarkdownNesting} {
			out, changed, bound := limitNesting(src, limit)
			if changed == 0 && out != src || changed > 0 && out == src {
				t.Fatalf("limit %d: %d lines changed, output %q", limit, changed, out)
			}
			if bound > limit {
				t.Fatalf("limit %d: bound %d", limit, bound)
			}
			if got := markdownDepth(out); got > limit {
				t.Fatalf("limit %d: goldmark nests %d containers in\n%q\n(from %q)", limit, got, out, src)
			}
			if len(out) > len(src)+changed {
				t.Fatalf("limit %d: output of %d bytes from %d bytes and %d changed lines", limit, len(out), len(src), changed)
			}
		}
	})
}

// markdownDepth returns the deepest nesting of containers (block quotes, list items,
// definition descriptions) in goldmark's tree of src.
func markdownDepth(src string) int {
	var depth func(n ast.Node) int
	depth = func(n ast.Node) int {
		deepest := 0
		for c := n.FirstChild(); c != nil; c = c.NextSibling() {
			deepest = max(deepest, depth(c))
		}
		switch n.(type) {
		case *ast.Blockquote, *ast.ListItem, *extast.DefinitionDescription:
			deepest++
		}
		return deepest
	}
	return depth(newMarkdownParser().Parse(text.NewReader([]byte(src))))
}

// FuzzExtractChild extracts inputs in a child, through the real protocol and under a
// budget, as ingestion does; the first byte chooses the format. Whatever the input, the
// answer comes within the budget (plus the time to kill and replace a child), is a
// Document that satisfies checkDocument or an *Error with a known reason, and the child
// or its replacement extracts the next input. A timeout, memory or crash failure of a
// Markdown, HTML or text input of this size is a finding: their parsers must not come near
// the budget on a few kilobytes. PDFs may fail so (ledongthuc panics, recovered, on many
// broken files).
//
// The fuzzing engine sees the coverage of this process only, not of the child's parsers:
// FuzzMarkdown, FuzzHTML and FuzzPlainText explore those; this target checks the pool and
// the protocol around them.
func FuzzExtractChild(f *testing.F) {
	for i, ext := range childFuzzFormats[:3] { // FuzzPDF seeds PDFs
		files, _ := filepath.Glob("testdata/text/*" + ext)
		for _, file := range files {
			if data, err := os.ReadFile(file); err == nil {
				f.Add(append([]byte{byte(i)}, data...))
			}
		}
	}
	for _, s := range hostileMarkdown {
		f.Add(append([]byte{0}, s...))
	}
	f.Add(append([]byte{3}, bombPDF(f, 2)...))
	r := testRunner(f, childFuzzConfig)
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		checkChildExtract(t, r, childFuzzFormats[int(data[0])%len(childFuzzFormats)], data[1:])
	})
}

// FuzzPDF extracts PDFs in a child, seeded from the reference corpus in the shared
// evaluation data (36 files from the pypdf, pdfminer.six and pdf.js test suites) and from
// hostile files built here. See FuzzExtractChild for what it checks.
func FuzzPDF(f *testing.F) {
	for _, data := range sharedSeeds(f, "pdfs/files", []string{".pdf"}, 4<<20) {
		f.Add(data)
	}
	var good bytes.Buffer
	if err := pdfgen.Write(&good, pdfHandbook); err != nil {
		f.Fatal(err)
	}
	for _, data := range [][]byte{good.Bytes(), bombPDF(f, 2), pdfgen.HugeXref(), pdfgen.HugeXrefStream(),
		pdfgen.CyclicPageTree(true), pdfgen.CyclicPageTree(false)} {
		f.Add(data)
	}
	r := testRunner(f, childFuzzConfig)
	f.Fuzz(func(t *testing.T, data []byte) {
		checkChildExtract(t, r, ".pdf", data)
	})
}

// childFuzzFormats are the extensions FuzzExtractChild chooses from.
var childFuzzFormats = []string{".md", ".html", ".txt", ".pdf", ".eml", ".mbox", ".rtf", ".csv", ".epub"}

// childFuzzConfig is the budget of the fuzzed children: small, so that a runaway input
// costs little time.
//
// OCR is off: these targets check the parsers, the pool and the protocol within the
// parsing budget; a scanned page gets a page's time more (TestOCRPageTimeout and the other
// OCR tests check that path).
var childFuzzConfig = Config{Workers: 1, Timeout: 5 * time.Second, MemoryLimit: 256 << 20, OCR: OCRConfig{Mode: OCROff}}

// checkChildExtract extracts data as a file with extension ext through r and checks the
// result (see FuzzExtractChild).
func checkChildExtract(t *testing.T, r *Runner, ext string, data []byte) {
	t.Helper()
	start := time.Now()
	doc, err := r.Extract(t.Context(), "fuzz"+ext, data)
	elapsed := time.Since(start)
	// Killing and replacing a child takes a few milliseconds; the rest is slack for a loaded
	// machine and the race detector.
	if limit := childFuzzConfig.Timeout + 5*time.Second; elapsed > limit {
		t.Fatalf("%s input of %d bytes: the answer took %v, over the budget of %v", ext, len(data), elapsed, childFuzzConfig.Timeout)
	}
	switch reason := ReasonOf(err); reason {
	case "error":
		if err != nil {
			t.Fatalf("%s input of %d bytes: %v (not a reason: the runner failed)", ext, len(data), err)
		}
		checkDocument(t, "fuzz"+ext, doc)
	case ReasonInvalid, ReasonPDFInvalid, ReasonPDFEncrypted, ReasonEncrypted, ReasonCorrupt, ReasonTooLarge:
	case ReasonTimeout, ReasonMemory, ReasonCrash:
		if ext != ".pdf" {
			t.Fatalf("%s input of %d bytes went over its budget or crashed: %v", ext, len(data), err)
		}
	default:
		t.Fatalf("%s input: unknown reason %q: %v", ext, reason, err)
	}
}

// FuzzChildFrames feeds arbitrary bytes to what the parent reads from a child: frames and
// the document they carry. Nothing may panic, allocate beyond the limits, or yield a
// document the chunker cannot take.
func FuzzChildFrames(f *testing.F) {
	var frame bytes.Buffer
	doc, err := Markdown([]byte("# Title\n\nSome text.\n\n- an item\n"))
	if err != nil {
		f.Fatal(err)
	}
	payload, err := encodeDocument(doc)
	if err != nil {
		f.Fatal(err)
	}
	if err := writeFrame(&frame, childResponse{Size: int64(len(payload))}, payload); err != nil {
		f.Fatal(err)
	}
	f.Add(frame.Bytes())
	frame.Reset()
	if err := writeFrame(&frame, childResponse{Reason: ReasonTimeout, Message: "x"}, nil); err != nil {
		f.Fatal(err)
	}
	f.Add(frame.Bytes())
	f.Add([]byte("\x00\x00\x00\x02{}"))
	f.Add([]byte("\xff\xff\xff\xff"))
	f.Add(wirePayload(`{"blocks":[[0,0,0,2,0]],"pages":1,"page_starts":[0],"metadata":{"n":1},"acl":null}`, "ab"))
	f.Add(payload)
	chunker, err := chunk.New(chunk.Config{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		const limit = 1 << 20
		r := bytes.NewReader(data)
		var resp childResponse
		if err := readFrameHeader(r, &resp); err == nil {
			if p, err := readPayload(r, resp.Size, limit); err == nil && int64(len(p)) != resp.Size {
				t.Fatalf("payload of %d bytes for a size of %d", len(p), resp.Size)
			}
		}
		var req childRequest
		_ = readFrameHeader(bytes.NewReader(data), &req)
		// The payload on its own, as a document.
		doc, err := decodeDocument(data)
		if err != nil {
			return
		}
		chunker.Split(doc.Document) // must not panic
		for _, off := range doc.PageStarts {
			if off < 0 || off > len(doc.Text) {
				t.Fatalf("page start %d outside the text", off)
			}
		}
	})
}

// FuzzJSONL checks SplitJSONL against encoding/json: a record without an error is valid
// JSON whose id is what encoding/json finds, and a valid object with a usable id that is not
// a duplicate gets no error. It also decodes every record.
func FuzzJSONL(f *testing.F) {
	addSeeds(f, []string{".jsonl"}, `{"id": 1}`, `{"_id": "a\u00e9", "text": "x"}`+"\n"+`{"_id": "a\u00e9"}`,
		`{"id": -0.5e+7, "acl": []}`, `{"id": {"a": [1, [2, {}]]}}`, `[1]`, `{"a":1,"a":2,"id":"x","id":"y"}`, "{\"id\":\"\\ud800\"}")
	f.Fuzz(func(t *testing.T, data []byte) {
		prevLine := 0
		for _, r := range SplitJSONL(data) {
			if r.Line <= prevLine || len(r.Raw) == 0 || !bytes.Contains(data, r.Raw) {
				t.Fatalf("bad record %+v after line %d", r, prevLine)
			}
			prevLine = r.Line
			wantID, usable := idByEncodingJSON(r.Raw)
			switch {
			case r.Err == nil && !usable:
				t.Fatalf("line %d accepted with id %q; encoding/json finds no usable id in %q", r.Line, r.ID, r.Raw)
			case r.Err == nil && r.ID != wantID:
				t.Fatalf("line %d: id %q, encoding/json says %q", r.Line, r.ID, wantID)
			case r.Err != nil && usable && !strings.Contains(r.Err.Error(), "duplicate id") && !strings.Contains(r.Err.Error(), "is also the id of") &&
				!IsACLError(r.Err) && !strings.Contains(r.Err.Error(), "nested deeper than"):
				t.Fatalf("line %d rejected (%v), but encoding/json finds id %q in %q", r.Line, r.Err, wantID, r.Raw)
			}
			doc, err := JSONLRecord(r.Raw)
			checkResult(t, doc, err)
		}
	})
}

// idByEncodingJSON returns the id of a JSON Lines record as encoding/json sees it, and
// whether it is usable (a non-blank string or a number).
func idByEncodingJSON(raw []byte) (string, bool) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil || fields == nil || bytes.HasPrefix(bytes.TrimSpace(raw), []byte("null")) {
		return "", false
	}
	v, ok := fields["id"]
	if !ok {
		if v, ok = fields["_id"]; !ok {
			return "", false
		}
	}
	var s string
	if err := json.Unmarshal(v, &s); err == nil {
		return s, strings.TrimSpace(s) != ""
	}
	var n json.Number
	if err := json.Unmarshal(v, &n); err == nil && len(v) > 0 && v[0] != '"' {
		return string(v), true
	}
	return "", false
}
