package extract

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSplitJSONL(t *testing.T) {
	t.Parallel()
	in := "\xEF\xBB\xBF" + `{"_id": "4983", "title": "Micro", "text": "Alterations"}` + "\r\n" +
		"\n" +
		`  {"id": 42, "text": "numeric id"}  ` + "\n" +
		`{"text": "id last, escaped key", "\u0069d": "a\"b"}` + "\n" +
		`{"id": "x", "_id": "y"}` + "\n" +
		`{"_id": "4983", "text": "duplicate"}` + "\n" +
		`{"title": "no id"}` + "\n" +
		`["not", "an", "object"]` + "\n" +
		`{"_id": "5", "text": "unterminated}` + "\n" +
		`{"_id": "6"} trailing` + "\n" +
		`{"_id": null}` + "\n" +
		`{"_id": {"$oid": "abc"}}` + "\n" +
		`{"_id": ""}` + "\n" +
		`{"_id": "7", "nested": {"a": [1, 2.5e-3, true, false, null, {"b": "c"}]}, "text": "tab\tin string"}` + "\n" +
		`{"_id": "8", "bad": 01}` + "\n" +
		"{\"_id\": \"8b\", \"text\": \"raw\ttab\"}\n" +
		`{"_id": "9", "bad": "\x"}` + "\n" +
		`{"id": -1.5e3}` // no final newline
	got := SplitJSONL([]byte(in))
	type rec struct {
		ID   string
		Line int
		Err  string // a part of the error message, "" for none
	}
	want := []rec{
		{"4983", 1, `line 1: id "4983" is also the id of line 6: which record is the document cannot be known`},
		{"42", 3, ""},
		{`a"b`, 4, ""},
		{"x", 5, ""},
		{"4983", 6, `line 6: duplicate id "4983" (first on line 1)`},
		{"", 7, `line 7: no "id" or "_id" field`},
		{"", 8, "line 8: not a JSON object"},
		{"5", 9, "line 9: invalid JSON"},
		{"6", 10, "line 10: invalid JSON at column 14: unexpected data after the object"},
		{"", 11, `line 11: "_id" must be a string or a number, not null`},
		{"", 12, `"_id" must be a string or a number, not {"$oid": "abc"}`},
		{"", 13, `line 13: "_id" is empty`},
		{"7", 14, ""},
		{"8", 15, "line 15: invalid JSON"},
		{"8b", 16, "line 16: invalid JSON at column 27: control character in string"},
		{"9", 17, `line 17: invalid JSON at column 22: invalid escape \x`},
		{"-1.5e3", 18, ""},
	}
	var gotRecs []rec
	for _, r := range got {
		msg := ""
		if r.Err != nil {
			msg = r.Err.Error()
			if ReasonOf(r.Err) != ReasonInvalid {
				t.Errorf("line %d: reason %q", r.Line, ReasonOf(r.Err))
			}
		}
		gotRecs = append(gotRecs, rec{r.ID, r.Line, msg})
		if strings.TrimSpace(string(r.Raw)) != string(r.Raw) || len(r.Raw) == 0 {
			t.Errorf("line %d: Raw %q not trimmed", r.Line, r.Raw)
		}
	}
	if len(gotRecs) != len(want) {
		t.Fatalf("got %d records, want %d: %+v", len(gotRecs), len(want), gotRecs)
	}
	for i := range want {
		if gotRecs[i].ID != want[i].ID || gotRecs[i].Line != want[i].Line || !strings.Contains(gotRecs[i].Err, want[i].Err) || (want[i].Err == "") != (gotRecs[i].Err == "") {
			t.Errorf("record %d = %+v, want %+v", i, gotRecs[i], want[i])
		}
	}
	// The scanner agrees with encoding/json on what is valid.
	for _, r := range got {
		if valid := json.Valid(r.Raw); valid && r.Err != nil && !strings.Contains(r.Err.Error(), "id") {
			t.Errorf("line %d: valid JSON rejected: %v", r.Line, r.Err)
		} else if !valid && r.Err == nil {
			t.Errorf("line %d: invalid JSON accepted: %s", r.Line, r.Raw)
		}
	}
	if recs := SplitJSONL(nil); len(recs) != 0 {
		t.Errorf("SplitJSONL(nil) = %v", recs)
	}
}

func TestJSONLRecord(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		in       string
		title    string
		want     []blk
		acl      []string
		metadata map[string]any
		skip     string
		err      string
	}{
		{
			name:     "beir",
			in:       `{"_id": "4983", "title": "Microstructural  development", "text": "Alterations of the\narchitecture.\n\nSecond paragraph.", "metadata": {}}`,
			title:    "Microstructural development",
			want:     []blk{p("Alterations of the architecture."), p("Second paragraph.")},
			metadata: map[string]any{},
		},
		{
			name:     "acl, metadata object and other fields",
			in:       `{"id": 1, "text": "t", "acl": ["group:eng", " public "], "source": "wiki", "year": 2021, "score": 0.5, "metadata": {"url": "https://x", "source": "override"}}`,
			want:     []blk{p("t")},
			acl:      []string{"group:eng", "public"},
			metadata: map[string]any{"source": "override", "year": int64(2021), "score": 0.5},
		},
		{
			name:     "acl as one string",
			in:       `{"id": 1, "text": "t", "acl": "group:ops"}`,
			want:     []blk{p("t")},
			acl:      []string{"group:ops"},
			metadata: map[string]any{},
		},
		{
			name:     "empty acl",
			in:       `{"id": 1, "text": "t", "acl": []}`,
			want:     []blk{p("t")},
			acl:      []string{},
			metadata: map[string]any{},
		},
		{
			name:     "title only becomes the text",
			in:       `{"_id": "1", "title": "Only a title", "text": ""}`,
			title:    "Only a title",
			want:     []blk{p("Only a title")},
			metadata: map[string]any{},
		},
		{
			name:     "empty",
			in:       `{"_id": "1", "title": " ", "text": "\n\n"}`,
			metadata: map[string]any{},
			skip:     SkipEmpty,
		},
		{
			name:     "no text fields at all",
			in:       `{"_id": "1"}`,
			metadata: map[string]any{},
			skip:     SkipEmpty,
		},
		{name: "text not a string", in: `{"_id": "1", "text": 5}`, err: `"text" is a number, not a string`},
		{name: "title not a string", in: `{"_id": "1", "title": ["a"]}`, err: `"title" is a list, not a string`},
		{name: "acl with a number", in: `{"_id": "1", "text": "t", "acl": ["a", 2]}`, err: "acl: item 2 is a number"},
		{name: "acl null", in: `{"_id": "1", "text": "t", "acl": null}`, err: "acl has no value"},
		{name: "metadata not an object", in: `{"_id": "1", "text": "t", "metadata": [1]}`, err: `"metadata" is a list`},
		{name: "not json", in: `{"_id": `, err: "decode record"},
		{name: "not an object", in: `null`, err: "not a JSON object"},
		{name: "trailing data", in: `{"_id": "1"} {"_id": "2"}`, err: "after the object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			doc, err := JSONLRecord([]byte(tt.in))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) || ReasonOf(err) != ReasonInvalid {
					t.Fatalf("error = %v, want an invalid error containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			checkDocument(t, tt.name, doc)
			if diff := cmp.Diff(tt.want, blocksOf(doc)); diff != "" {
				t.Errorf("blocks (-want +got):\n%s", diff)
			}
			if doc.Title != tt.title {
				t.Errorf("Title = %q, want %q", doc.Title, tt.title)
			}
			if diff := cmp.Diff(tt.acl, doc.ACL); diff != "" || (tt.acl == nil) != (doc.ACL == nil) {
				t.Errorf("ACL = %#v, want %#v", doc.ACL, tt.acl)
			}
			if diff := cmp.Diff(tt.metadata, doc.Metadata); diff != "" {
				t.Errorf("Metadata (-want +got):\n%s", diff)
			}
			if doc.Skip != tt.skip {
				t.Errorf("Skip = %q, want %q", doc.Skip, tt.skip)
			}
			if doc.ContentType != "application/jsonl" {
				t.Errorf("ContentType = %q", doc.ContentType)
			}
		})
	}
}

// TestSplitJSONLLarge checks ids and line numbers over a generated collection.
func TestSplitJSONLLarge(t *testing.T) {
	t.Parallel()
	data := sciFactLike(500)
	recs := SplitJSONL(data)
	if len(recs) != 500 {
		t.Fatalf("%d records, want 500", len(recs))
	}
	for i, r := range recs {
		if r.Err != nil || r.ID != fmt.Sprint(1000+i) || r.Line != i+1 {
			t.Fatalf("record %d = id %q line %d err %v", i, r.ID, r.Line, r.Err)
		}
		doc, err := JSONLRecord(r.Raw)
		if err != nil || doc.Skip != "" || doc.Title == "" {
			t.Fatalf("record %d: %v %q", i, err, doc.Skip)
		}
	}
}

// sciFactLike generates a BEIR-style corpus of n records shaped like SciFact's (a title of
// about 100 bytes, an abstract of about 1,500, some escapes and non-ASCII text).
func sciFactLike(n int) []byte {
	words := strings.Fields("the of cells protein expression in and to patients with were was mice cancer increased associated activity signaling T-cell β-catenin 5′ \"quoted\" levels p<0.05 risk treatment")
	var b strings.Builder
	for i := range n {
		var title, text strings.Builder
		for j := 0; title.Len() < 90; j++ {
			title.WriteString(words[(i+j*7)%len(words)] + " ")
		}
		for j := 0; text.Len() < 1400; j++ {
			text.WriteString(words[(i*3+j*11)%len(words)])
			if j%17 == 16 {
				text.WriteString(".\n")
			} else {
				text.WriteString(" ")
			}
		}
		line, _ := json.Marshal(map[string]any{"_id": fmt.Sprint(1000 + i), "title": strings.TrimSpace(title.String()), "text": text.String(), "metadata": map[string]any{}})
		b.Write(line)
		b.WriteByte('\n')
	}
	return []byte(b.String())
}
