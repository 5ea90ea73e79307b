package pdf

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/docent-rag/docent/internal/testing/pdfgen"
	"github.com/google/go-cmp/cmp"
)

func TestParagraphs(t *testing.T) {
	ln := func(text string, x, x1, y float64) line {
		return line{Text: text, X: x, X1: x1, Y: y, Size: 10}
	}
	tests := []struct {
		name  string
		lines []line
		want  []string
	}{
		{
			name: "leading gap",
			lines: []line{
				ln("First paragraph line one", 72, 540, 700), ln("and line two.", 72, 300, 688),
				ln("Second paragraph", 72, 400, 664),
			},
			want: []string{"First paragraph line one\nand line two.", "Second paragraph"},
		},
		{
			name: "indent after a short line",
			lines: []line{
				ln("A paragraph set with an indent", 87, 540, 700), ln("whose last line is short.", 72, 300, 688),
				ln("The next paragraph is indented", 87, 540, 676), ln("and goes on here", 72, 540, 664),
			},
			want: []string{"A paragraph set with an indent\nwhose last line is short.", "The next paragraph is indented\nand goes on here"},
		},
		{
			name: "bigger font is a heading",
			lines: []line{
				{Text: "1 Introduction", X: 72, X1: 200, Y: 720, Size: 14},
				ln("Body text", 72, 540, 700),
			},
			want: []string{"1 Introduction", "Body text"},
		},
		{
			name: "sentence runs on into the next column",
			lines: []line{
				ln("the left column ends with a hyphen-", 72, 290, 100), ln("ated word", 310, 400, 700),
				ln("A new column, a new sentence.", 310, 500, 680),
			},
			want: []string{"the left column ends with a hyphen-\nated word", "A new column, a new sentence."},
		},
		{
			name: "same baseline continues, going back does not",
			lines: []line{
				ln("Name:", 72, 100, 700), ln("Ada", 110, 130, 700), ln("Cell", 72, 90, 700),
			},
			want: []string{"Name:\nAda", "Cell"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, paragraphs(tt.lines)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestRemoveRunningLines(t *testing.T) {
	pg := func(lines ...line) page { return page{Lines: lines} }
	at := func(text string, y float64) line { return line{Text: text, Y: y, Size: 10} }
	pages := []page{
		pg(at("Title page", 700), at("Body one", 600)),
		pg(at("12 1.1 Topological spaces", 760), at("Body two", 600), at("Annual report 2024", 40)),
		pg(at("Body three", 600), at("13 1.1 Topological spaces", 760), at("Annual report 2024", 40)),
		pg(at("14 1.2 Metric spaces", 760), at("Body four", 600), at("Annual report 2024", 40)),
		pg(at("15 2 Continuity", 760), at("Body five", 600), at("Annual Report 2025", 40)),
	}
	removeRunningLines(pages)
	var got [][]string
	for _, p := range pages {
		var texts []string
		for _, l := range p.Lines {
			texts = append(texts, l.Text)
		}
		got = append(got, texts)
	}
	want := [][]string{{"Title page", "Body one"}, {"Body two"}, {"Body three"}, {"Body four"}, {"Body five"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}

	// Two pages are too few to tell a header from content.
	two := []page{pg(at("Same", 700), at("a", 600)), pg(at("Same", 700), at("b", 600))}
	removeRunningLines(two)
	if len(two[0].Lines) != 2 || len(two[1].Lines) != 2 {
		t.Errorf("lines removed from a two-page document: %+v", two)
	}
}

func TestTitle(t *testing.T) {
	lines := []line{
		{Text: "Journal of Things, vol. 3", Size: 8},
		{Text: "A Study of", Size: 18},
		{Text: "Interesting Things", Size: 18},
		{Text: "Jane Doe", Size: 11},
		{Text: "Body text body text body text", Size: 10},
		{Text: "more body text", Size: 10},
	}
	tests := []struct {
		info  string
		lines []line
		want  string
	}{
		{"A Proper Title", lines, "A Proper Title"},
		{"Microsoft Word - thesis.doc", lines, "A Study of Interesting Things"},
		{"untitled", lines, "A Study of Interesting Things"},
		{"", []line{{Text: "12", Size: 10}, {Text: "Plain first line", Size: 10}, {Text: "x", Size: 10}}, "Plain first line"},
		{"", nil, ""},
	}
	for _, tt := range tests {
		if got := title(tt.info, []page{{Lines: tt.lines}}); got != tt.want {
			t.Errorf("title(%q) = %q, want %q", tt.info, got, tt.want)
		}
	}
}

func TestDate(t *testing.T) {
	tests := map[string]string{
		"D:20180530132733+02'00'": "2018-05-30T13:27:33+02:00",
		"D:20061214":              "2006-12-14T00:00:00Z",
		"D:19981028120000Z":       "1998-10-28T12:00:00Z",
		"D:20240102030405-05'30":  "2024-01-02T03:04:05-05:30",
		"yesterday":               "",
		"D:2024130":               "",
	}
	for in, want := range tests {
		if got := date(in); got != want {
			t.Errorf("date(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNormalize(t *testing.T) {
	tests := []struct{ in, want string }{
		{"%PDF-2.0\n1 0 obj", "%PDF-1.7\n1 0 obj"},
		{"%PDF-1.3 \n1 0 obj", "%PDF-1.3\n\n1 0 obj"},
		{"%PDF-1.4\n%%EOF\n" + strings.Repeat("<junk>", 10), "%PDF-1.4\n%%EOF"},
		{"%PDF-1.4\nfine\n%%EOF\n", "%PDF-1.4\nfine\n%%EOF\n"},
	}
	for _, tt := range tests {
		in := []byte(tt.in)
		if got := string(normalize(in)); got != tt.want {
			t.Errorf("normalize(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if string(in) != tt.in {
			t.Errorf("normalize modified its input %q", tt.in)
		}
	}
}

func TestCMap(t *testing.T) {
	src := `/CIDInit /ProcSet findresource begin 12 dict begin begincmap
/CMapName /Test def
1 begincodespacerange <0000> <FFFF> endcodespacerange
2 beginbfchar <0003> <0020> <0011> <00660069> endbfchar
2 beginbfrange <0024> <0026> <0041> <0030> <0031> [<0078> <D835DC00>] endbfrange
1 begincidrange <4E00> <4E01> 19968 endcidrange
endcmap CMapName currentdict /CMap defineresource pop end end`
	m := parseCMapForTest(t, src)
	want := map[string]string{
		"\x00\x03": " ", "\x00\x11": "fi", "\x00\x24": "A", "\x00\x26": "C",
		"\x00\x30": "x", "\x00\x31": "\U0001D400", "\x4e\x01": "丁", "\x00\x99": "",
	}
	for code, w := range want {
		if got := m.decode(code); got != w {
			t.Errorf("decode(%x) = %q, want %q", code, got, w)
		}
	}
	if n := m.codeLen("\x00\x24\x00", true); n != 2 {
		t.Errorf("codeLen = %d, want 2", n)
	}
}

// parseCMapForTest parses a CMap given as text, through a one-page PDF whose font has
// it as its ToUnicode stream.
func parseCMapForTest(t *testing.T, src string) *cmap {
	t.Helper()
	objs := []string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /Resources << /Font << /F1 4 0 R >> >> >>",
		"<< /Type /Font /Subtype /Type0 /BaseFont /X /Encoding /Identity-H /ToUnicode 5 0 R >>",
		fmt.Sprintf("<< /Length %d >>\nstream\n%s\nendstream", len(src), src),
	}
	r, _, err := open(pdfgen.Objects(objs), "")
	if err != nil {
		t.Fatal(err)
	}
	pages, err := collectPages(r)
	if err != nil || len(pages) != 1 {
		t.Fatalf("pages %d, err %v", len(pages), err)
	}
	m := readCMap(inherited(pages[0], "Resources").Key("Font").Key("F1").Key("ToUnicode"))
	if m == nil {
		t.Fatal("no CMap parsed")
	}
	return m
}

func TestReadingOrder(t *testing.T) {
	// Two columns of running text, 72-282 and 318-528, ten rows.
	left := func(i int) line {
		return line{Text: fmt.Sprintf("left column line %d of running text here", i), X: 72, X1: 280, Y: 700 - 12*float64(i), Size: 10}
	}
	right := func(i int) line {
		return line{Text: fmt.Sprintf("right column line %d of running text too", i), X: 318, X1: 526, Y: 700 - 12*float64(i), Size: 10}
	}
	title := line{Text: "A heading across both columns of the page", X: 72, X1: 526, Y: 730, Size: 14}
	var rowMajor, colMajor, wantCols []line
	rowMajor = append(rowMajor, title)
	colMajor = append(colMajor, title)
	for i := range 10 {
		rowMajor = append(rowMajor, left(i), right(i))
	}
	for i := range 10 {
		colMajor = append(colMajor, left(i))
	}
	for i := range 10 {
		colMajor = append(colMajor, right(i))
	}
	wantCols = colMajor

	// A table: short cells drawn row by row.
	var table []line
	for i := range 10 {
		y := 700 - 12*float64(i)
		table = append(table,
			line{Text: fmt.Sprintf("item %d", i), X: 72, X1: 110, Y: y, Size: 10},
			line{Text: "12.50", X: 300, X1: 330, Y: y, Size: 10},
			line{Text: "EUR", X: 450, X1: 475, Y: y, Size: 10})
	}

	tests := []struct {
		name  string
		lines []line
		want  []line
	}{
		{"row-major columns are read column by column", rowMajor, wantCols},
		{"column-major drawing is kept", colMajor, colMajor},
		{"a table keeps its rows", table, table},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := readingOrder(slices.Clone(tt.lines))
			var g, w []string
			for _, l := range got {
				g = append(g, l.Text)
			}
			for _, l := range tt.want {
				w = append(w, l.Text)
			}
			if diff := cmp.Diff(w, g); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestRebuiltFilesKeepTheirDates: a file only the pdfcpu path reads (its cross-reference
// offsets are wrong) reports the producer and creation date it has, not those pdfcpu stamps
// on the copy it writes (itself, and the time of extraction); a file without them reports
// none.
func TestRebuiltFilesKeepTheirDates(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	if err := pdfgen.Write(&buf, pdfgen.Document{Title: "Dated report", Author: "Ops",
		Pages: []pdfgen.Page{{Lines: []string{"Robot 7 completed 412 deliveries in March."}}}}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, entries     string
		producer, created string
	}{
		{"dated", " /CreationDate (D:20200102030405Z)", "Docent pdfgen", "2020-01-02T03:04:05Z"},
		{"undated", " /Keywords (padding that moves every later object)", "Docent pdfgen", ""},
	} {
		// Adding entries to the information dictionary moves every later object: the
		// cross-reference table no longer matches the file.
		data := bytes.Replace(buf.Bytes(), []byte("/Author (Ops)"), []byte("/Author (Ops)"+c.entries), 1)
		doc, err := Extract(data, "")
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if doc.Path != PathPdfcpu {
			t.Fatalf("%s: read by %s, want %s (the test needs the rebuilt path)", c.name, doc.Path, PathPdfcpu)
		}
		if doc.Info.Producer != c.producer || doc.Created != c.created {
			t.Errorf("%s: producer %q, created %q; want %q, %q", c.name, doc.Info.Producer, doc.Created, c.producer, c.created)
		}
	}
}
