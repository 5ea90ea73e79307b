// Package pdf is the PDF engine of package extract: it turns the bytes of a PDF file into
// the text of each page, as paragraphs in reading order, with the document's title and
// information dictionary.
//
// The file is read with github.com/ledongthuc/pdf, and, when that fails or yields noise,
// again after github.com/pdfcpu/pdfcpu has rewritten it (decrypted, with a rebuilt
// cross-reference table); see parse.go. Each page's content stream is interpreted here
// (content.go, with the fonts and ToUnicode CMaps of font.go, cmap.go and glyphs.go) into
// lines with their geometry, and the layout (layout.go) turns lines into paragraphs, drops
// running headers and footers, and finds the title.
//
// The engine bounds what it can cheaply (the max* limits below), but on hostile files the
// parsers still panic, loop on a cyclic structure the limits do not cover, or ask the
// runtime for an allocation so large that the Go runtime aborts with a fatal error that
// recover cannot catch. Call Extract only in a process that may die: package extract runs it
// in a child process under a time and memory budget.
package pdf

import "fmt"

// Limits that keep one hostile file from costing more than a bounded amount of work even
// before the child's time and memory limits apply.
const (
	maxPages       = 100_000   // pages collected from the page tree
	maxTreeNodes   = 1_000_000 // page-tree nodes visited (a cyclic tree revisits nodes)
	maxTreeDepth   = 64        // nesting of Pages nodes
	maxInherit     = 32        // Parent links followed for inherited attributes
	maxFormDepth   = 12        // nesting of form XObjects
	maxFormCalls   = 2_000     // form XObjects drawn on one page
	maxGlyphsPage  = 2_000_000 // glyphs taken from one page
	maxTextBytes   = 64 << 20  // text taken from one file; the rest is dropped (Truncated)
	maxCMapEntries = 1 << 17   // code mappings expanded from one ToUnicode CMap
)

// Document is the text of a PDF file.
type Document struct {
	// Title is the information dictionary's Title when it looks like a title, else the
	// largest text at the top of page 1 when it stands out, else the first short line of
	// page 1; "" when there is none.
	Title string
	// Pages holds each page's paragraphs in reading order, normalised with
	// textnorm.Collapse, none empty. A page without text (a scan) has none.
	Pages [][]string
	Info  Info // the document information dictionary, as read
	// Created is Info.CreationDate in RFC 3339, or "" when it is missing or unreadable.
	Created    string
	Encrypted  bool   // the file is encrypted (and was decrypted)
	Path       string // the extraction path that produced the pages: PathPrimary or PathPdfcpu
	PageErrors int    // pages whose reading stopped at an error; the text before it is kept
	Truncated  bool   // the file held more than maxTextBytes of text; later pages are empty
}

// Info is the document information dictionary, cleaned: each entry is a line
// (textnorm.CollapseLine), CreationDate is the raw PDF date string.
type Info struct {
	Title, Author, Subject, Creator, Producer string
	CreationDate                              string
}

// Extraction paths (Document.Path).
const (
	PathPrimary = "ledongthuc"        // ledongthuc/pdf on the file as it is
	PathPdfcpu  = "pdfcpu+ledongthuc" // pdfcpu rewrites the file (decrypts, rebuilds the xref), then ledongthuc
)

// Error says why a file could not be read.
type Error struct {
	Kind    string // FailEncrypted, FailInvalid, FailPanic or FailMemory
	Message string // the first line of the parser's error
}

func (e *Error) Error() string { return e.Message }

// Failure kinds (Error.Kind).
const (
	FailEncrypted = "encrypted" // needs a password we do not have
	FailInvalid   = "invalid"   // the parsers reject the file
	FailPanic     = "panic"     // a parser or the layout panicked (recovered)
	FailMemory    = "memory"    // a parser asked for an impossible allocation (recovered)
)

// Extract reads the text of the PDF file data, opening it with password when it is
// encrypted with a user password: each page's text is split into paragraphs, and running
// headers and footers repeated on most pages are removed.
//
// A file the parsers cannot read yields an *Error. Extract bounds its own work, but hostile
// files can still exhaust time or memory: see the package comment.
func Extract(data []byte, password string) (Document, error) {
	res, err := parse(data, password)
	if err != nil {
		return Document{}, err
	}
	return safeLayout(res)
}

// safeLayout lays out the parsed pages; a bug in the layout code fails the file with
// FailPanic.
func safeLayout(res result) (doc Document, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &Error{Kind: FailPanic, Message: fmt.Sprintf("layout: panic: %v", v)}
		}
	}()
	return layout(res), nil
}
