package extract

import (
	"strings"

	"github.com/docent-rag/docent/internal/chunk"
)

// builder assembles a chunk.Document block by block: each block's text is appended to the
// document text, separated from the previous block by a blank line, and its offsets recorded.
// Every extractor builds its output through it, so the blocks always lie exactly within the
// text and in order.
type builder struct {
	text   strings.Builder
	blocks []chunk.Block
	pages  []int // byte offset where each page starts, for paged formats
}

// add appends a block. Text is used as given (normalise it first); a block that is empty
// after trimming is dropped.
func (b *builder) add(kind chunk.Kind, level, page int, text string) {
	b.addBlock(chunk.Block{Kind: kind, Level: level, Page: page}, text)
}

// addOCR appends a block of text recognised from an image (Block.OCR).
func (b *builder) addOCR(kind chunk.Kind, page int, text string) {
	b.addBlock(chunk.Block{Kind: kind, Page: page, OCR: true}, text)
}

// addBlock appends block with text, setting its offsets.
func (b *builder) addBlock(block chunk.Block, text string) {
	text = strings.TrimSpace(text)
	if text == "" {
		return
	}
	if b.text.Len() > 0 {
		b.text.WriteString("\n\n")
	}
	start := b.text.Len()
	b.text.WriteString(text)
	block.Start, block.End = start, b.text.Len()
	b.blocks = append(b.blocks, block)
}

// startPage records that page n (1-based) starts at the current end of the text. Call it for
// every page in order, including pages that add no blocks.
func (b *builder) startPage() {
	offset := b.text.Len()
	if offset > 0 {
		offset += len("\n\n") // the separator before the page's first block
	}
	b.pages = append(b.pages, offset)
}

// document returns the assembled document.
func (b *builder) document(title string) chunk.Document {
	return chunk.Document{Title: title, Text: b.text.String(), Blocks: b.blocks}
}

// addTable appends a Table block of rows (one per line, without blank lines) whose first
// headerRows lines are its header, with its locator (see chunk.Block).
func (b *builder) addTable(rows []string, headerRows int, locator string) {
	n := len(b.blocks)
	b.add(chunk.Table, 0, 0, strings.Join(rows, "\n"))
	if len(b.blocks) > n {
		blk := &b.blocks[n]
		blk.Locator = locator
		if headerRows < len(rows) {
			blk.HeaderRows = headerRows
		}
	}
}

// addLocated appends a block of the given kind with its locator.
func (b *builder) addLocated(kind chunk.Kind, level int, text, locator string) {
	n := len(b.blocks)
	b.add(kind, level, 0, text)
	if len(b.blocks) > n {
		b.blocks[n].Locator = locator
	}
}
