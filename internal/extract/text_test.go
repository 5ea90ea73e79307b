package extract

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestPlainText(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		title   string
		want    []blk
		skip    string
		charset any
	}{
		{
			name:  "title and paragraphs",
			in:    "Release notes\n\nThe first paragraph\nwraps   here.\n\n\n\nSecond paragraph, with an exam-\nple.\n",
			title: "Release notes",
			want:  []blk{p("Release notes"), p("The first paragraph wraps here."), p("Second paragraph, with an example.")},
		},
		{
			name: "first line not followed by a blank line is no title",
			in:   "Line one\nline two\n\nMore.\n",
			want: []blk{p("Line one line two"), p("More.")},
		},
		{
			name: "long first line is no title",
			in:   strings.Repeat("word ", 25) + "\n\nMore.\n",
			want: []blk{p(strings.TrimSpace(strings.Repeat("word ", 25))), p("More.")},
		},
		{
			name: "a single line is no title",
			in:   "Just this.\n",
			want: []blk{p("Just this.")},
		},
		{
			name:  "leading blank lines, crlf, blank lines with spaces",
			in:    "\r\n\r\nTitle\r\n  \t\r\nBody\r\n",
			title: "Title",
			want:  []blk{p("Title"), p("Body")},
		},
		{
			name:  "separator lines dropped",
			in:    "a\n\n----------\n\nb\n",
			title: "a",
			want:  []blk{p("a"), p("b")},
		},
		{
			name:    "windows-1252",
			in:      "Caf\xe9 cr\xe8me \x93quoted\x94\n",
			want:    []blk{p("Café crème “quoted”")},
			charset: "windows-1252",
		},
		{
			name: "utf-8 with a stray bad byte stays utf-8",
			in:   "naïve café \xff end\n",
			want: []blk{p("naïve café \uFFFD end")},
		},
		{
			name:    "utf-16be with bom",
			in:      "\xFE\xFF\x00h\x00i\x00\n",
			want:    []blk{p("hi")},
			charset: "utf-16be",
		},
		{name: "empty", in: "", skip: SkipEmpty},
		{name: "whitespace", in: " \n\t\r\n \u00a0\n", skip: SkipEmpty},
		{name: "nul bytes", in: "text\x00with\x00nul", skip: SkipBinary},
		{name: "control characters", in: strings.Repeat("\x01\x02\x03abc", 100), skip: SkipBinary},
		{name: "random high bytes", in: strings.Repeat("\xc3\x28\xa0\xa1\xe2\x28\xa1\xf0\x28\x8c\xbcab", 50), skip: SkipBinary},
		{name: "terminal escapes are text", in: "\x1b[31mred\x1b[0m log line\n", want: []blk{p("[31mred[0m log line")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			doc, err := PlainText([]byte(tt.in))
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
			if doc.Skip != tt.skip {
				t.Errorf("Skip = %q, want %q", doc.Skip, tt.skip)
			}
			if got := doc.Metadata["charset"]; got != tt.charset {
				t.Errorf("charset = %v, want %v", got, tt.charset)
			}
			if doc.ContentType != "text/plain" {
				t.Errorf("ContentType = %q", doc.ContentType)
			}
		})
	}
}

func TestText(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, file, in string
		contentType    string
		skip           string
		text           string
	}{
		{"markdown", "doc/intro.md", "# Intro\n\n*hi*", "text/markdown", "", "Intro\n\nhi"},
		{"html", "page.HTM", "<p>hi</p>", "text/html", "", "hi"},
		{"text", "notes.txt", "*hi*", "text/plain", "", "*hi*"},
		{"sniffed html", "page", "<!DOCTYPE html><p>hi</p>", "text/html", "", "hi"},
		{"sniffed text", "README", "# not parsed as markdown", "text/plain", "", "# not parsed as markdown"},
		{"binary extension", "photo.gif", "looks like text", "application/octet-stream", SkipBinary, ""},
		{"sniffed binary", "blob", "\x00\x01\x02", "application/octet-stream", SkipBinary, ""},
		{"binary content with a text extension", "data.txt", "a\x00b", "text/plain", SkipBinary, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			doc, err := Text(tt.file, []byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if doc.ContentType != tt.contentType || doc.Skip != tt.skip || doc.Text != tt.text {
				t.Errorf("Text(%q) = type %q skip %q text %q, want %q %q %q", tt.file, doc.ContentType, doc.Skip, doc.Text, tt.contentType, tt.skip, tt.text)
			}
		})
	}
	for _, name := range []string{"paper.pdf", "corpus.jsonl"} {
		if _, err := Text(name, []byte("x")); err == nil {
			t.Errorf("Text(%q) did not refuse a format it does not handle", name)
		}
	}
}

func TestBlankLines(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"":                  "",
		"a\nb":              "a\nb",
		"a\n \t\nb":         "a\n\nb",
		"  \na":             "\na",
		"a\n  ":             "a\n",
		"a\n\u00a0\nb\n \n": "a\n\nb\n\n",
		" x \n":             " x \n",
	}
	for in, want := range tests {
		if got := blankLines(in); got != want {
			t.Errorf("blankLines(%q) = %q, want %q", in, got, want)
		}
	}
}
