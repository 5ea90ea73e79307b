package chunk

import (
	"fmt"
	"strings"
	"testing"
)

// A long table is cut between rows, and every chunk that carries rows after the header
// starts with the header, within MaxTokens; its locator spans the chunk's row ranges.
func TestTableHeaderRepeated(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString("Budget\n\n")
	tableStart := b.Len()
	header := "Region | Quarter | Revenue | Costs"
	b.WriteString(header)
	for i := range 200 {
		fmt.Fprintf(&b, "\nRegion %d | Q%d | %d EUR | %d EUR", i, i%4+1, 1000+i*7, 500+i*3)
	}
	text := b.String()
	// The table comes as blocks of 40 rows, like a spreadsheet's: the first holds the header.
	blocks := []Block{{Kind: Heading, Level: 1, Start: 0, End: len("Budget")}}
	lines := strings.SplitAfter(text[tableStart:], "\n")
	at := tableStart
	for i := 0; i < len(lines); i += 40 {
		n := 0
		for _, l := range lines[i:min(i+40, len(lines))] {
			n += len(l)
		}
		blk := Block{Kind: Table, Start: at, End: at + n, Locator: fmt.Sprintf("Budget!A%d:D%d", i+1, min(i+40, len(lines)))}
		if i == 0 {
			blk.HeaderRows = 1
		}
		blocks = append(blocks, blk)
		at += n
	}
	doc := Document{Title: "Budget", Text: text, Blocks: blocks}
	// Only the first block has a header: one table block for the test of repetition.
	doc.Blocks = []Block{blocks[0], {Kind: Table, Start: tableStart, End: len(text), HeaderRows: 1, Locator: "Budget!A1:D201", OCR: true}}
	c, err := New(Config{TargetTokens: 120, MaxTokens: 160, OverlapTokens: 20, MinTokens: 30})
	if err != nil {
		t.Fatal(err)
	}
	chunks := c.Split(doc)
	if len(chunks) < 5 {
		t.Fatalf("%d chunks, want the table cut into several", len(chunks))
	}
	if err := checkChunks(doc, c.Config(), chunks); err != nil {
		t.Fatal(err)
	}
	for i, ch := range chunks {
		if want := header + "\n"; i > 0 && !strings.HasPrefix(ch.Content(), want) || i == 0 && !strings.HasPrefix(ch.Content(), "Budget\n\n"+want) {
			t.Errorf("chunk %d does not start with the header: %q", i, ch.Content()[:min(60, len(ch.Content()))])
		}
		if strings.Count(ch.Content(), header) != 1 {
			t.Errorf("chunk %d has the header %d times", i, strings.Count(ch.Content(), header))
		}
		if (i == 0) != (ch.Header == "") {
			t.Errorf("chunk %d: Header %q", i, ch.Header)
		}
		if ch.Locator != "Budget!A1:D201" || !ch.OCR {
			t.Errorf("chunk %d: Locator %q, OCR %v", i, ch.Locator, ch.OCR)
		}
	}

	// Without HeaderRows nothing is repeated.
	doc.Blocks[1].HeaderRows = 0
	for i, ch := range c.Split(doc) {
		if ch.Header != "" || (i > 0 && strings.Contains(ch.Content(), header)) {
			t.Errorf("without HeaderRows, chunk %d repeats the header", i)
		}
	}

	// Blocks of 40 rows: a chunk's locator merges the ranges of the blocks it touches.
	doc.Blocks = blocks
	chunks = c.Split(doc)
	if err := checkChunks(doc, c.Config(), chunks); err != nil {
		t.Fatal(err)
	}
	blockLocs := map[string]bool{}
	for _, b := range blocks {
		blockLocs[b.Locator] = true
	}
	merged := 0
	for i, ch := range chunks {
		if !strings.HasPrefix(ch.Locator, "Budget!A") || strings.Contains(ch.Locator, " – ") {
			t.Errorf("chunk %d: locator %q", i, ch.Locator)
		}
		if !blockLocs[ch.Locator] {
			merged++
		}
		if inFirst := ch.Start > blocks[1].Start && ch.Start < blocks[1].End; (ch.Header != "") != inFirst {
			t.Errorf("chunk %d at %d: Header %q; only chunks starting in the first block of rows (which has the header) repeat it", i, ch.Start, ch.Header)
		}
	}
	if merged == 0 {
		t.Error("no chunk spans two blocks of rows with a merged range")
	}
}

// A header too large for the budget is not repeated, and rows still fit.
func TestTableHugeHeaderNotRepeated(t *testing.T) {
	t.Parallel()
	header := strings.Repeat("column ", 60)
	var b strings.Builder
	b.WriteString(header)
	for i := range 100 {
		fmt.Fprintf(&b, "\nrow %d value %d", i, i*i)
	}
	doc := Document{Text: b.String(), Blocks: []Block{{Kind: Table, Start: 0, End: b.Len(), HeaderRows: 1}}}
	c, err := New(Config{TargetTokens: 80, MaxTokens: 100, OverlapTokens: 10, MinTokens: 20})
	if err != nil {
		t.Fatal(err)
	}
	chunks := c.Split(doc)
	if err := checkChunks(doc, c.Config(), chunks); err != nil {
		t.Fatal(err)
	}
	for i, ch := range chunks {
		if ch.Header != "" {
			t.Errorf("chunk %d repeats a header of %d tokens", i, CountTokens(header))
		}
	}
}

func TestMergeLocators(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ a, b, want string }{
		{"", "", ""},
		{"S!A1:F40", "", "S!A1:F40"},
		{"", "S!A1:F40", "S!A1:F40"},
		{"S!A1:F40", "S!A1:F40", "S!A1:F40"},
		{"S!A1:F40", "S!A41:F80", "S!A1:F80"},
		{"My!Sheet!B2:C3", "My!Sheet!A10:AA12", "My!Sheet!A2:AA12"},
		{"S!A1:F40", "T!A1:F40", "S!A1:F40 – T!A1:F40"},
		{"Chapter 1", "Chapter 2", "Chapter 1 – Chapter 2"},
		{"A1:F26", "A27:F51", "A1:F51"}, // a CSV file's ranges: one table, no sheet
		{"A2:F26", "S!A27:F51", "A2:F26 – S!A27:F51"},
		{"B2", "C3", "B2 – C3"}, // chapters, not cells
		{"!A1:B2", "!A3:B4", "!A1:B2 – !A3:B4"},
		{"S!A1:F40", "S!A+1:F2", "S!A1:F40 – S!A+1:F2"},
		{"S!XFD1048576", "S!A1", "S!A1:XFD1048576"},
	} {
		if got := MergeLocators(tc.a, tc.b); got != tc.want {
			t.Errorf("MergeLocators(%q, %q) = %q, want %q", tc.a, tc.b, got, tc.want)
		}
	}
}
