package extract

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/docent-rag/docent/internal/chunk"
)

// tableBlock is what a test checks of a Table block.
type tableBlock struct {
	Text       string
	HeaderRows int
	Locator    string
}

func tableBlocks(doc Document) []tableBlock {
	var out []tableBlock
	for _, b := range doc.Blocks {
		if b.Kind == chunk.Table {
			out = append(out, tableBlock{doc.Text[b.Start:b.End], b.HeaderRows, b.Locator})
		}
	}
	return out
}

func TestCSVStructure(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		data string
		tab  bool
		want []tableBlock
	}{
		{"header", "Name,Amount,City\nAda,12,London\n\"Grace, Rear Admiral\",\"1,200\",\"New\nYork\"\n", false,
			[]tableBlock{{"Name | Amount | City\nAda | 12 | London\nGrace, Rear Admiral | 1,200 | New York", 1, "A1:C3"}}},
		{"numeric first row: no header", "1,2,3\n4,5,6\n", false, []tableBlock{{"1 | 2 | 3\n4 | 5 | 6", 0, "A1:C2"}}},
		{"repeated names: no header", "a,a\nb,c\n", false, []tableBlock{{"a | a\nb | c", 0, "A1:B2"}}},
		{"semicolons sniffed", "Jahr;Umsatz\n2024;1.234,5\n2025;2.000\n", false,
			[]tableBlock{{"Jahr | Umsatz\n2024 | 1.234,5\n2025 | 2.000", 1, "A1:B3"}}},
		{"tsv", "k\tv\nx\t\"quoted \"\"v\"\"\"\n", true, []tableBlock{{"k | v\nx | quoted \"v\"", 1, "A1:B2"}}},
		{"lazy quotes and blank rows", "h1,h2\na\"b,c\n,,\n\nd,e\n", false, []tableBlock{{"h1 | h2\na\"b | c\nd | e", 1, "A1:B3"}}},
		{"one row", "only,row\n", false, []tableBlock{{"only | row", 0, "A1:B1"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, err := CSV([]byte(tt.data), tt.tab)
			if err != nil {
				t.Fatal(err)
			}
			checkDocument(t, tt.name, doc)
			if diff := cmp.Diff(tt.want, tableBlocks(doc)); diff != "" {
				t.Errorf("blocks (-want +got):\n%s", diff)
			}
		})
	}
}

// TestCSVBlocksRepeatTheHeader: a long file is cut into blocks of rows, each starting with
// the header and naming its rows.
func TestCSVBlocksRepeatTheHeader(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString("id,name,score,team,city,notes\n")
	for i := range 60 {
		fmt.Fprintf(&b, "%d,n%d,%d,t,c,x\n", i, i, i*3)
	}
	doc, err := CSV([]byte(b.String()), false)
	if err != nil {
		t.Fatal(err)
	}
	blocks := tableBlocks(doc)
	var locators []string
	for _, blk := range blocks {
		locators = append(locators, blk.Locator)
		if !strings.HasPrefix(blk.Text, "id | name | score | team | city | notes\n") || blk.HeaderRows != 1 {
			t.Errorf("block %s does not start with its header: %q (header rows %d)", blk.Locator, blk.Text[:40], blk.HeaderRows)
		}
	}
	if diff := cmp.Diff([]string{"A1:F26", "A27:F51", "A52:F61"}, locators); diff != "" {
		t.Errorf("locators (-want +got):\n%s", diff)
	}
	if got := strings.Count(blocks[2].Text, "\n"); got != 10 {
		t.Errorf("last block has %d lines after its header, want 10", got)
	}
}

// TestCSVBounds: rows beyond the limit are dropped and reported, cells and columns are cut.
func TestCSVBounds(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString("a,b\n")
	for i := range csvMaxRows + 10 {
		fmt.Fprintf(&b, "%d,x\n", i)
	}
	doc, err := CSV([]byte(b.String()), false)
	if err != nil {
		t.Fatal(err)
	}
	if doc.Metadata["truncated"] != true || doc.Metadata["rows"] != int64(csvMaxRows) ||
		!strings.Contains(fmt.Sprint(doc.Metadata[noteKey]), "truncated") {
		t.Errorf("metadata %v: want truncated at %d rows", doc.Metadata, csvMaxRows)
	}
	if len(doc.Warnings) != 1 || doc.Warnings[0].Reason != WarnTruncated {
		t.Errorf("warnings %+v, want truncated", doc.Warnings)
	}
	wide := strings.Repeat("c,", 5000) + strings.Repeat("z", 100<<10) + "\n"
	doc, err = CSV([]byte(wide), false)
	if err != nil {
		t.Fatal(err)
	}
	if doc.Metadata["columns"] != int64(csvMaxColumns) || len(doc.Text) > csvMaxColumns*4+10 {
		t.Errorf("a row of 5001 cells: %v columns, %d bytes of text", doc.Metadata["columns"], len(doc.Text))
	}
	doc, err = CSV([]byte("h\n"+strings.Repeat("y", 1<<20)+"\n"), false)
	if err != nil {
		t.Fatal(err)
	}
	if len(doc.Text) > csvMaxCell+16 {
		t.Errorf("a cell of 1 MiB became %d bytes", len(doc.Text))
	}
}

// TestCSVThroughChild: the header rows and locators survive the trip from the child.
func TestCSVThroughChild(t *testing.T) {
	t.Parallel()
	r := testRunner(t, Config{Workers: 1})
	doc, err := r.Extract(t.Context(), "budget.csv", []byte("Item,Cost\nPaper,3\nInk,40\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []tableBlock{{"Item | Cost\nPaper | 3\nInk | 40", 1, "A1:B3"}}
	if diff := cmp.Diff(want, tableBlocks(doc)); diff != "" {
		t.Errorf("blocks (-want +got):\n%s", diff)
	}
	if doc.ContentType != "text/csv" {
		t.Errorf("content type %q", doc.ContentType)
	}
}

func TestColumnName(t *testing.T) {
	t.Parallel()
	for n, want := range map[int]string{1: "A", 26: "Z", 27: "AA", 52: "AZ", 53: "BA", 702: "ZZ", 703: "AAA"} {
		if got := columnName(n); got != want {
			t.Errorf("columnName(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestTablesThroughTheChunker: a CSV file and a sheet of the same rows reach the chunker
// with the same convention (every block starts with the header line, HeaderRows 1, a cell
// range as Locator), so that every chunk of rows starts with the header exactly once, no
// row is lost, and a chunk across blocks cites one merged range.
func TestTablesThroughTheChunker(t *testing.T) {
	t.Parallel()
	const rows = 300
	var b strings.Builder
	b.WriteString("Name,Price,Total\n")
	for i := 2; i <= rows+1; i++ {
		fmt.Fprintf(&b, "Item %d,%d.5,%d\n", i-1, i, 2*i+1)
	}
	csvDoc, err := CSV([]byte(b.String()), false)
	if err != nil {
		t.Fatal(err)
	}
	xlsxDoc, err := xlsxExtract(testXLSX(t, rows))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, sheet string
		doc         Document
	}{{"csv", "", csvDoc}, {"xlsx", "Budget!", xlsxDoc}} {
		t.Run(tc.name, func(t *testing.T) {
			checkTableChunks(t, tc.doc, "Name | Price | Total", tc.sheet, rows)
		})
	}
}

// checkTableChunks chunks doc (small chunks, so that blocks are cut) and checks its rows'
// chunks: each starts with header once, each row "Item n" is in one, and each cites a
// single range of the sheet (sheet is "" for a CSV file).
func checkTableChunks(t *testing.T, doc Document, header, sheet string, rows int) {
	t.Helper()
	c, err := chunk.New(chunk.Config{TargetTokens: 120, MaxTokens: 160, OverlapTokens: 0, MinTokens: 20})
	if err != nil {
		t.Fatal(err)
	}
	chunks := c.Split(doc.Document)
	seen := map[string]bool{}
	repeated, merged := 0, 0
	for i, ch := range chunks {
		if !strings.Contains(ch.Text, "Item ") {
			continue
		}
		content := ch.Content()
		if ch.Header != "" {
			repeated++
			if ch.Header != header || strings.HasPrefix(ch.Text, header) {
				t.Errorf("chunk %d: header %q repeated over %.40q", i, ch.Header, ch.Text)
			}
		}
		if at := strings.Index(content, header+"\n"); at < 0 || at > 0 && !strings.HasPrefix(content, "Budget") {
			t.Errorf("chunk %d does not start with its header: %.80q", i, content)
		}
		// Once at the start; again only where the next block of rows starts (its own
		// first line, in the document's text), never twice in a row.
		for at, n := strings.Index(content, header), 0; n < 100; n++ {
			next := strings.Index(content[at+len(header):], header)
			if next < 0 {
				break
			}
			at += len(header) + next
			if !strings.HasSuffix(content[:at], "\n\n") || strings.HasSuffix(content[:at], header+"\n\n") {
				t.Errorf("chunk %d repeats its header within a block: %q", i, content)
				break
			}
		}
		if !strings.HasPrefix(ch.Locator, sheet) || strings.Contains(ch.Locator, " – ") || !strings.Contains(ch.Locator, ":") {
			t.Errorf("chunk %d: locator %q, want one range of %q", i, ch.Locator, sheet)
		}
		if strings.Count(ch.Text, "Item ") > 25 {
			merged++
		}
		for line := range strings.Lines(ch.Text) {
			if name, _, ok := strings.Cut(line, " | "); ok && strings.HasPrefix(name, "Item ") {
				seen[name] = true
			}
		}
	}
	if repeated < 5 {
		t.Errorf("%d chunks repeat the header, want the table cut into many", repeated)
	}
	for i := 1; i <= rows; i++ {
		if name := fmt.Sprintf("Item %d", i); !seen[name] && (sheet == "" || i > 3) { // the sheet's A3:A4 are merged into A2
			t.Errorf("%s is in no chunk", name)
		}
	}
}
