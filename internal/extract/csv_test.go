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
			[]tableBlock{{"Name | Amount | City\nAda | 12 | London\nGrace, Rear Admiral | 1,200 | New York", 1, "A2:C3"}}},
		{"numeric first row: no header", "1,2,3\n4,5,6\n", false, []tableBlock{{"1 | 2 | 3\n4 | 5 | 6", 0, "A1:C2"}}},
		{"repeated names: no header", "a,a\nb,c\n", false, []tableBlock{{"a | a\nb | c", 0, "A1:B2"}}},
		{"semicolons sniffed", "Jahr;Umsatz\n2024;1.234,5\n2025;2.000\n", false,
			[]tableBlock{{"Jahr | Umsatz\n2024 | 1.234,5\n2025 | 2.000", 1, "A2:B3"}}},
		{"tsv", "k\tv\nx\t\"quoted \"\"v\"\"\"\n", true, []tableBlock{{"k | v\nx | quoted \"v\"", 1, "A2:B2"}}},
		{"lazy quotes and blank rows", "h1,h2\na\"b,c\n,,\n\nd,e\n", false, []tableBlock{{"h1 | h2\na\"b | c\nd | e", 1, "A2:B3"}}},
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
	if diff := cmp.Diff([]string{"A2:F26", "A27:F51", "A52:F61"}, locators); diff != "" {
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
	want := []tableBlock{{"Item | Cost\nPaper | 3\nInk | 40", 1, "A2:B3"}}
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
