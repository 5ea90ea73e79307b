package chunk

import (
	"fmt"
	"os"
	"testing"
	"time"
)

// FuzzSplit splits arbitrary text with arbitrary blocks (well-formed or not) and sizes, and
// checks the contract with checkChunks: every chunk within MaxTokens, an exact trimmed
// slice of the text with consistent character offsets, not empty, in order; overlaps within
// OverlapTokens; every non-space character of every block covered; and for well-formed
// blocks, heading paths, pages and no overlap across a heading.
func FuzzSplit(f *testing.F) {
	for _, path := range []string{"testdata/guide.md", "testdata/paged.md", "testdata/cjk.md", "testdata/blob.md", "testdata/longcode.md"} {
		b, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		fx, err := parseFixture(string(b))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(fx.doc.Text, encodeLayout(fx.doc), uint8(40), uint8(60), uint8(8), uint8(10))
	}
	f.Add("One. Two. Three.\n\nFour five six.", []byte{}, uint8(2), uint8(3), uint8(1), uint8(1))
	f.Add("日本語の文章です。もう一つ。", []byte{0x41, 5, 0, 0x00, 40, 1}, uint8(3), uint8(4), uint8(1), uint8(2))
	f.Add("a\xffb\xe2\x82 c", []byte{0x80, 3, 9, 0x01, 200, 200}, uint8(1), uint8(1), uint8(0), uint8(1))
	f.Fuzz(func(t *testing.T, text string, layout []byte, target, max, overlap, minimum uint8) {
		cfg := Config{MaxTokens: 1 + int(max)%200}
		cfg.TargetTokens = 1 + int(target)%cfg.MaxTokens
		cfg.OverlapTokens = int(overlap) % cfg.TargetTokens
		if cfg.OverlapTokens == 0 {
			cfg.OverlapTokens = cfg.TargetTokens - 1 // 0 would mean the default
		}
		cfg.MinTokens = 1 + int(minimum)%cfg.TargetTokens
		c, err := New(cfg)
		if err != nil {
			if cfg.TargetTokens == 1 {
				return // overlap cannot be below a target of 1 without meaning the default
			}
			t.Fatalf("New(%+v): %v", cfg, err)
		}
		doc := Document{Title: "T", Text: text, Blocks: decodeLayout(layout, len(text))}
		start := time.Now()
		chunks := c.Split(doc)
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("Split took %v for %d bytes, %d blocks, %+v", d, len(text), len(doc.Blocks), c.Config())
		}
		if err := checkChunks(doc, c.Config(), chunks); err != nil {
			t.Fatalf("%+v, blocks %+v: %v", c.Config(), doc.Blocks, err)
		}
	})
}

// decodeLayout turns fuzz bytes into blocks, three bytes each: kind and level (a set high
// bit makes an absolute, possibly out-of-range or overlapping block), a length and a gap or
// start, and a page.
func decodeLayout(layout []byte, n int) []Block {
	var blocks []Block
	pos := 0
	for i := 0; i+2 < len(layout); i += 3 {
		k, l, g := layout[i], int(layout[i+1]), int(layout[i+2])
		b := Block{Kind: Kind(k & 7 % 6), Level: int(k>>3) & 7, Page: g >> 5, OCR: g&4 != 0}
		if b.Kind == Table {
			// Tables use the level bits as header rows, and name a cell range.
			b.HeaderRows, b.Level = b.Level, 0
			b.Locator = fmt.Sprintf("S%d!A%d:C%d", g&1, i+1, i+l)
		}
		if k&0x80 != 0 {
			b.Start, b.End = g*n/64-8, g*n/64+l*n/64
		} else {
			b.Start = pos + g&3
			b.End = min(b.Start+l, n)
			pos = b.End
		}
		blocks = append(blocks, b)
	}
	return blocks
}

// encodeLayout is the inverse of decodeLayout for a well-formed document with blocks shorter
// than 256 bytes and gaps of at most 3 (longer blocks are cut, which is still valid input).
func encodeLayout(doc Document) []byte {
	var layout []byte
	pos := 0
	for _, b := range doc.Blocks {
		gap := min(max(b.Start-pos, 0), 3)
		length := min(b.End-b.Start, 255)
		layout = append(layout, byte(b.Kind)|byte(b.Level&7)<<3, byte(length), byte(gap|(b.Page&7)<<5))
		pos = pos + gap + length
	}
	return layout
}
