// Package chunk splits a document's extracted text into retrieval chunks along the document's
// structure: headings first, then paragraphs, list items and table rows, then sentences, and
// only as a last resort inside an unbroken run of characters. It is pure: no I/O.
//
// Limits are in tokens, counted by CountTokens, an approximation of the BPE tokenizers that
// embedding models use (see its comment for what it measures).
package chunk

import "unicode/utf8"

// Kind is the kind of a structural block.
type Kind uint8

// Block kinds.
const (
	Paragraph Kind = iota // running text; split between sentences when too long
	Heading               // a section heading; Level says which
	ListItem              // one item of a list
	Code                  // preformatted text: split only between lines
	Table                 // a table, one row per line: split only between rows
)

// Block is one structural unit of a document: Document.Text[Start:End].
type Block struct {
	Kind  Kind
	Level int // heading level, 1 (top) to 6; 0 for other kinds
	Start int // byte offset into Document.Text
	End   int // byte offset into Document.Text, exclusive
	Page  int // 1-based page number in paged formats (PDF), slide number in decks; 0 otherwise
	// HeaderRows is, for a Table, how many of its first lines are its header: repeated at the
	// start of every chunk that carries later rows of the table (issue 13). 0: none.
	HeaderRows int
	// Locator names where the block is for a person looking for it, beyond its page: a
	// spreadsheet's sheet and cell range ("Budget!A1:F40"), an e-book's chapter. "" when the
	// page (or nothing) says it all.
	Locator string
	// OCR: the block's text was recognised from an image (a scanned page), not read.
	OCR bool
}

// Document is the chunker's input: a document's extracted, normalised text and its
// structure. Blocks are in order, do not overlap, and lie within Text; text between blocks
// is only separators (whitespace).
type Document struct {
	Title  string
	Text   string
	Blocks []Block
}

// Config sets the chunk sizes, in tokens as counted by CountTokens.
type Config struct {
	TargetTokens  int `json:"target_tokens"`  // aim for chunks about this size; default 350
	MaxTokens     int `json:"max_tokens"`     // never exceed; default 512
	OverlapTokens int `json:"overlap_tokens"` // repeat up to this much of the previous chunk; default 48
	MinTokens     int `json:"min_tokens"`     // merge a smaller trailing fragment into its neighbour; default 64
}

// Chunk is one piece of a document, ready to store and embed.
type Chunk struct {
	Ordinal int    // position in the document, from 0
	Text    string // exactly Document.Text[Start:End]
	// Header is the header rows of the table the chunk starts inside of, repeated because
	// the chunk carries later rows of it without them; "" otherwise. It is exactly the
	// header's text in Document.Text (before Start). Content is what is stored and embedded.
	Header      string
	Start, End  int      // byte offsets into Document.Text
	CharStart   int      // Start in characters (Unicode code points), as the database stores it
	CharEnd     int      // End in characters
	HeadingPath []string // the headings that enclose the chunk's start, outermost first; never nil (so it stores as '{}'); chunks that start in one section share it: do not modify
	PageStart   int      // first page the chunk touches; 0 without pages
	PageEnd     int      // last page the chunk touches; 0 without pages
	Tokens      int      // CountTokens(Content()): at most MaxTokens, the header included
	// Locator is where the chunk is beyond its pages (Block.Locator): the locator of its
	// blocks when they share one, a merged cell range for consecutive ranges of one sheet
	// ("Budget!A1:F80"), else the first and last joined by " – ". "" when none has one.
	Locator string
	OCR     bool // some of the chunk's text was recognised from an image (Block.OCR)
}

// Content returns the chunk as it is stored, shown and embedded: the repeated table header
// (if any) on its own line, then Text.
func (c Chunk) Content() string {
	if c.Header == "" {
		return c.Text
	}
	return c.Header + "\n" + c.Text
}

// HeaderChars is the number of characters (code points) that Content has before Text.
func (c Chunk) HeaderChars() int {
	if c.Header == "" {
		return 0
	}
	return utf8.RuneCountInString(c.Header) + 1
}
