package extract

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// addSeeds adds the golden-test documents with one of the given extensions, and extra
// inputs, to a fuzz corpus.
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
	for _, s := range extra {
		f.Add([]byte(s))
	}
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

func FuzzMarkdown(f *testing.F) {
	addSeeds(f, []string{".md"},
		"---\ntitle: x\n---\n# a\n", "+++\na = 1\n+++\n", "<!--{\"Title\": 1}-->\n{{raw `<b>`}}",
		"- a\n  - b\n    1. c\n\n  ```\n  x\n  ```\n", "| a | b |\n|---|---|\n| 1 |\n", "> - a\n> > b\n",
		"<div>\n<p>x</p>\n", "a  \nb\\\nc", "`{{.X}}` {{image \"x\"}}", "[a]: /x\n[a]", "\x00\x01\x02",
		"---\ntemplate: true\n---\n{{- if .X -}}\n\tcode {{raw \"<\"}}\n{{end}}", "<table><tr><td>a</td></tr></table>\n")
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := Markdown(data)
		checkResult(t, doc, err)
	})
}

func FuzzHTML(f *testing.F) {
	addSeeds(f, []string{".html"},
		"<main><h1>a</h1><ul><li>b<ol><li>c</li></ol></li></ul></main>", "<table><caption>c</caption><tr><td>1<td>2</table>",
		"<pre>\n\tx\n\t y</pre>", "<meta charset=latin1><p>\xe9</p>", "<!--{\"Template\": true}-->{{raw \"<p>\"}}x",
		"<form><h1>x</h1></form>", "<p hidden>x</p><br><br>", "<code>{{.X}}</code>{{if}}", "<svg><title>t</title></svg>")
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := HTML(data)
		checkResult(t, doc, err)
	})
}

func FuzzPlainText(f *testing.F) {
	addSeeds(f, []string{".txt"}, "Title\n\nBody", "a\r\nb\r\n\r\nc", "\xFE\xFF\x00a", "caf\xe9", "  \n \t\n")
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := PlainText(data)
		checkResult(t, doc, err)
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
