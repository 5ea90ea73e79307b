package pdfgen

import (
	"bytes"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

func write(t *testing.T, d Document) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Write(&buf, d); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestWriteStructure checks what a reader relies on: the header, that every xref entry
// points at its object, that startxref points at the xref table, and stream lengths.
func TestWriteStructure(t *testing.T) {
	for _, d := range []Document{
		{Pages: []Page{{Lines: []string{"one page"}}}},
		{Title: "T", Author: "A", Header: "h {page}/{pages}", Footer: "f", Pages: []Page{{Lines: []string{"a"}}, {}, {Lines: []string{"", "c"}}}},
	} {
		data := write(t, d)
		if !bytes.HasPrefix(data, []byte("%PDF-1.4\n")) || !bytes.HasSuffix(data, []byte("%%EOF\n")) {
			t.Fatalf("header or trailer missing:\n%s", data)
		}
		m := regexp.MustCompile(`startxref\n(\d+)\n%%EOF\n$`).FindSubmatch(data)
		if m == nil {
			t.Fatal("no startxref")
		}
		xref, _ := strconv.Atoi(string(m[1]))
		if !bytes.HasPrefix(data[xref:], []byte("xref\n0 ")) {
			t.Fatalf("startxref %d does not point at the xref table", xref)
		}
		var n int
		if _, err := fmt.Sscanf(string(data[xref:]), "xref\n0 %d\n", &n); err != nil {
			t.Fatal(err)
		}
		entries := regexp.MustCompile(`(\d{10}) 00000 n \n`).FindAllSubmatch(data[xref:], -1)
		if len(entries) != n-1 {
			t.Fatalf("%d in-use entries, /Size %d", len(entries), n)
		}
		for i, e := range entries {
			off, _ := strconv.Atoi(string(e[1]))
			if want := fmt.Sprintf("%d 0 obj\n", i+1); !bytes.HasPrefix(data[off:], []byte(want)) {
				t.Errorf("xref entry %d points at %q", i+1, data[off:min(off+12, len(data))])
			}
		}
		if !bytes.Contains(data, []byte(fmt.Sprintf("/Size %d ", n))) {
			t.Errorf("trailer /Size is not %d", n)
		}
		for _, s := range regexp.MustCompile(`(?s)<< /Length (\d+) >>\nstream\n(.*?)\nendstream`).FindAllSubmatch(data, -1) {
			if l, _ := strconv.Atoi(string(s[1])); l != len(s[2]) {
				t.Errorf("stream /Length %d, has %d bytes", l, len(s[2]))
			}
		}
		if got := bytes.Count(data, []byte("/Type /Page ")); got != len(d.Pages) {
			t.Errorf("%d page objects for %d pages", got, len(d.Pages))
		}
	}
}

func TestWriteText(t *testing.T) {
	data := write(t, Document{
		Title:  "Über Ünicode",
		Header: "Report",
		Footer: "Page {page} of {pages}",
		Pages:  []Page{{Lines: []string{`a (b) c\d`, "", "€ – “quoted”"}}, {Lines: []string{"x"}}},
	})
	for _, want := range []string{
		`(a \(b\) c\\d) Tj`,
		"(\x80 \x96 \x93quoted\x94) Tj",
		"(Page 1 of 2) Tj", "(Page 2 of 2) Tj", "(Report) Tj",
		"/Title <FEFF00DC006200650072002000DC006E00690063006F00640065>",
		"/BaseFont /Helvetica /Encoding /WinAnsiEncoding /FirstChar 32 /LastChar 255 /Widths [",
	} {
		if !bytes.Contains(data, []byte(want)) {
			t.Errorf("output lacks %q", want)
		}
	}
	// A blank line moves down without drawing.
	if !bytes.Contains(data, []byte("Tj\nT*\nT*\n(")) {
		t.Error("a blank line is not an empty line in the content stream")
	}
}

func TestWriteErrors(t *testing.T) {
	tests := []struct {
		name string
		doc  Document
		want string
	}{
		{"no pages", Document{}, "no pages"},
		{"not WinAnsi", Document{Pages: []Page{{Lines: []string{"ok", "日本"}}}}, "page 1 line 2: character '日' (U+65E5) is not in WinAnsiEncoding"},
		{"header not WinAnsi", Document{Header: "→", Pages: []Page{{}}}, "U+2192"},
		{"too many lines", Document{Pages: []Page{{Lines: make([]string, LinesPerPage+1)}}}, fmt.Sprintf("page 1 has %d lines after wrapping; %d fit", LinesPerPage+1, LinesPerPage)},
		{"invalid UTF-8", Document{Pages: []Page{{Lines: []string{"a\xffb"}}}}, "invalid UTF-8"},
	}
	for _, tt := range tests {
		var buf bytes.Buffer
		err := Write(&buf, tt.doc)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want %q", tt.name, err, tt.want)
		}
		if buf.Len() != 0 {
			t.Errorf("%s: %d bytes written despite the error", tt.name, buf.Len())
		}
	}
}

func TestWrap(t *testing.T) {
	line := strings.Repeat("The quick brown fox jumps over the lazy dog. ", 8) + "Supercalifragilisticexpialidocious" + strings.Repeat("x", 120)
	enc, err := encode(line)
	if err != nil {
		t.Fatal(err)
	}
	lines := wrap(enc, FontSize, textWidth)
	if len(lines) < 4 {
		t.Fatalf("%d lines, want the long line wrapped", len(lines))
	}
	var joined []string
	for _, l := range lines {
		w := 0.0
		for _, c := range l {
			w += float64(helveticaWidths[c]) * FontSize / 1000
		}
		if w > textWidth {
			t.Errorf("line %q is %.1fpt wide, more than %d", l, w, textWidth)
		}
		joined = append(joined, string(l))
	}
	if got := strings.Join(joined, " "); strings.ReplaceAll(got, " ", "") != strings.ReplaceAll(line, " ", "") {
		t.Errorf("wrapping lost or changed text:\n%s\n%s", got, line)
	}
}

func TestFlow(t *testing.T) {
	var paras []string
	for i := range 60 {
		paras = append(paras, fmt.Sprintf("Paragraph %d. ", i)+strings.Repeat("Lorem ipsum dolor sit amet, consectetur adipiscing elit. ", i%5+1))
	}
	pages, err := Flow(paras...)
	if err != nil {
		t.Fatal(err)
	}
	if len(pages) < 3 {
		t.Fatalf("%d pages, want several", len(pages))
	}
	var words []string
	for i, p := range pages {
		if len(p.Lines) > LinesPerPage || len(p.Lines) == 0 {
			t.Errorf("page %d has %d lines", i+1, len(p.Lines))
		}
		if p.Lines[0] == "" || p.Lines[len(p.Lines)-1] == "" {
			t.Errorf("page %d starts or ends with a blank line", i+1)
		}
		for _, l := range p.Lines {
			words = append(words, strings.Fields(l)...)
		}
	}
	if got, want := strings.Join(words, " "), strings.Join(strings.Fields(strings.Join(paras, " ")), " "); got != want {
		t.Error("Flow lost or reordered words")
	}
	if err := Write(&bytes.Buffer{}, Document{Pages: pages}); err != nil {
		t.Errorf("Flow's pages do not fit: %v", err)
	}
}
