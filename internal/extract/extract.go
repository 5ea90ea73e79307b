// Package extract turns files into text with structure: one Document per file, or one per
// line of a JSON Lines collection. Each format keeps what retrieval and citation need: the
// title, headings, paragraphs, list items, code and tables as blocks, page numbers for PDFs,
// and front matter as metadata (including a document's own permission tags).
//
// Files are extracted in child processes, each file under a time and memory budget (see
// Runner), because every parser here has inputs on which it crashes, runs for minutes or
// exhausts memory in ways a goroutine cannot be stopped or recovered from. The extractors
// also bound what they can cheaply (Markdown container nesting, HTML element counts, YAML
// aliases, PDF page trees), so that most hostile inputs yield a degraded but complete
// extraction rather than a failure.
//
// The PDF engine (content-stream interpreter, fonts and CMaps, layout) is package
// extract/pdf, called in the child; the text normalisation every format shares is package
// extract/textnorm.
package extract

import (
	"errors"
	"fmt"

	"github.com/docent-rag/docent/internal/chunk"
)

// Version identifies the extraction code. Stored with each document; when it changes, the
// next ingest re-extracts documents whose files did not change. Bump it when a change to
// this package or to the packages below it (pdf, textnorm) changes the text or structure
// it produces.
const Version = "3" // 3: pictures in office files, legacy files through LibreOffice

// Document is what extraction produced from a file, or from one record of a collection.
type Document struct {
	chunk.Document        // title, normalised text and blocks
	ContentType    string // MIME type of the source, e.g. text/markdown
	Pages          int    // number of pages of a paged format (PDF), slides of a deck; 0 otherwise
	// PageUnit names what a page is: PageUnitPage ("" means the same) or PageUnitSlide.
	PageUnit    string
	PageStarts  []int          // byte offset in Text where each page starts (len == Pages)
	NoTextPages []int          // pages without a text layer (scans), 1-based
	Metadata    map[string]any // front matter and format properties; never nil
	// ACL holds the permission tags the document declares itself (front matter `acl:` or a
	// JSON Lines record's "acl"), unvalidated. nil when it declares none; an empty non-nil
	// slice when it declares an empty list.
	ACL []string
	// URL is the document's own source URL (front matter `url:`, a JSON Lines record's
	// "url", an HTML page's <link rel="canonical">), checked by SourceURL; "" when it
	// declares none or declares one that is refused.
	URL string
	// URLRefused, when not empty, says why the URL the document declares was dropped (a
	// javascript: or data: URL, say): a warning for the run's summary.
	URLRefused string
	// Warnings are what extraction left out of a document it did extract: a spreadsheet cut
	// at its row limit (WarnTruncated), a hidden sheet skipped (WarnHiddenSheet), a picture
	// of an office file that could not be recognised (WarnOCRFailed).
	Warnings []Warning
	// Skip, when not empty, says why the document yields no chunks although nothing failed:
	// SkipEmpty, SkipRedirect, SkipBinary, SkipNoText, SkipContainer, SkipOCRUnavailable,
	// SkipOCRDeferred.
	Skip string
	// OCR says what OCR did (pages recognised, failed, deferred, unavailable, and its time);
	// the zero value when it did nothing. Blocks of recognised text have Block.OCR set.
	// Each document has its own: a PDF attached to an e-mail has it in its Part.
	OCR OCRReport
	// Parts are the documents derived from the file beside this one (see Part): an e-mail's
	// attachments, a mailbox's messages. Only a file's top document has them.
	Parts []Part
}

// Page units (Document.PageUnit).
const (
	PageUnitPage  = "page"
	PageUnitSlide = "slide"
)

// Warning is something extraction left out of a document, with a stable reason.
type Warning struct {
	Reason  string `json:"reason"`
	Message string `json:"message"`
}

// maxWarnings bounds the warnings a document carries (a workbook of many hidden sheets).
const maxWarnings = 20

// Reasons a file is skipped rather than failed.
const (
	SkipEmpty    = "empty"    // no text at all
	SkipRedirect = "redirect" // only a redirect stub (e.g. a go.dev page with `redirect:` front matter)
	SkipBinary   = "binary"   // not a document format and not text
	SkipNoText   = "no_text"  // a PDF without any text layer (scanned) and OCR off, or OCR found no text
	// SkipContainer: the file only holds other documents (a mailbox's messages, as Parts).
	SkipContainer = "container"
)

// Reasons of OCR: a document skipped, or a warning for a document written with some pages
// left without text.
const (
	SkipOCRUnavailable = "ocr_unavailable" // pages need OCR, and tesseract or pdftoppm is not installed
	SkipOCRDeferred    = "ocr_deferred"    // pages need OCR, and the run's budget (DOCENT_OCR_MAX_PAGES) is spent: the next run does them
	WarnOCRFailed      = "ocr_failed"      // pages whose OCR failed (time limit, a tool's error): left without text
	WarnOCRTruncated   = "ocr_truncated"   // pages beyond the file's OCR page limit: left without text
)

// Error is an extraction failure with a stable reason code for reports and `ingest status`.
type Error struct {
	Reason string // one of the Reason* constants
	Err    error
}

// Failure reasons.
const (
	ReasonTimeout      = "timeout"       // extraction did not finish within the file's time budget
	ReasonMemory       = "memory"        // extraction went over the file's memory budget
	ReasonCrash        = "crash"         // a parser panicked, or the child process died
	ReasonPDFEncrypted = "pdf_encrypted" // encrypted with a password we do not have
	ReasonPDFInvalid   = "pdf_invalid"   // not a PDF the parsers can read
	ReasonInvalid      = "invalid"       // malformed input (bad front matter, bad JSON record, bad UTF-8 ...)
	ReasonTooLarge     = "too_large"     // over the configured size limit
)

// Failure reasons of the mail, e-book, RTF, CSV and legacy office formats.
const (
	// ReasonConverterMissing: a legacy binary office file (DOC, XLS, PPT) needs LibreOffice,
	// which is not installed.
	ReasonConverterMissing = "converter_missing"
	// ReasonConverterFailed: LibreOffice ran but did not convert the file.
	ReasonConverterFailed = "converter_failed"
)

func (e *Error) Error() string { return fmt.Sprintf("%s: %v", e.Reason, e.Err) }
func (e *Error) Unwrap() error { return e.Err }

// ReasonOf returns the reason code of an extraction error, or "error" for another error.
func ReasonOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return "error"
}
