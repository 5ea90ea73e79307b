package retrieve

import (
	"testing"

	"github.com/docent-rag/docent/internal/index"
)

// A chunk that repeats its table's header shows it when it leads a passage, and not when
// the passage already has the rows before it; the overlap is still dropped from the text
// after the header. The passage's locator spans its chunks', and OCR and the page unit carry.
func TestMakeItemRepeatedHeader(t *testing.T) {
	t.Parallel()
	// Document text: "Name | Qty\nbolts | 4\nnuts | 9\nwashers | 2" (chars 0..44).
	a := index.Evidence{ChunkID: 1, Ordinal: 0, Text: "Name | Qty\nbolts | 4\nnuts | 9", CharStart: 0, CharEnd: 29,
		Locator: "Parts!A1:B3", PageUnit: "slide"}
	// The second chunk overlaps the first by "nuts | 9" and repeats the header (11 chars).
	b := index.Evidence{ChunkID: 2, Ordinal: 1, Text: "Name | Qty\nnuts | 9\nwashers | 2", CharStart: 21, CharEnd: 43,
		HeaderChars: 11, Locator: "Parts!A3:B4", OCR: true, PageUnit: "slide"}

	it := makeItem(a, []index.Evidence{a, b}, 1)
	if want := "Name | Qty\nbolts | 4\nnuts | 9\n\nwashers | 2"; it.Text != want {
		t.Errorf("joined passage %q, want %q", it.Text, want)
	}
	if it.Locator != "Parts!A1:B4" || !it.OCR || it.PageUnit != "slide" {
		t.Errorf("locator %q, OCR %v, unit %q", it.Locator, it.OCR, it.PageUnit)
	}
	it = makeItem(b, []index.Evidence{b}, 1)
	if want := "Name | Qty\nnuts | 9\nwashers | 2"; it.Text != want {
		t.Errorf("leading chunk %q, want %q", it.Text, want)
	}
}
