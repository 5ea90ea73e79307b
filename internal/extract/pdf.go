package extract

import (
	"errors"
	"fmt"
)

// PDF extraction: the parser (github.com/ledongthuc/pdf, with pdfcpu as a second path; see
// pdf_child.go) turns each page's content stream into lines with their geometry, and the
// layout code (pdf_layout.go) turns lines into paragraphs. Both run in a Runner's child:
// on hostile files the parser panics, loops forever on a cyclic structure, or asks the
// runtime for an allocation so large that the Go runtime aborts with a fatal error that
// recover cannot catch. The child's budget (Config.PDF) bounds all of that.

// pdfExtract extracts the text of a PDF file, page by page: each page's text is split into
// paragraphs (Block.Page set); running headers and footers repeated on most pages are
// removed; pages without text are listed in NoTextPages, and a file without any text is
// returned with Skip = SkipNoText.
//
// A file the parsers cannot read yields an *Error with reason ReasonPDFEncrypted,
// ReasonPDFInvalid, ReasonMemory (an impossible allocation, refused) or ReasonCrash (a
// parser panicked). It runs in a child process only (see childExtract).
func pdfExtract(data []byte, password string) (Document, error) {
	res := pdfParse(data, password)
	if res.Failure != nil {
		reason := ReasonPDFInvalid
		switch res.Failure.Kind {
		case pdfFailEncrypted:
			reason = ReasonPDFEncrypted
		case pdfFailPanic:
			reason = ReasonCrash
		case pdfFailMemory:
			reason = ReasonMemory
		}
		return Document{}, &Error{Reason: reason, Err: errors.New(res.Failure.Message)}
	}
	return pdfSafeDocument(res)
}

// pdfSafeDocument builds the Document from the parser's result; a bug in the layout code
// fails the file with ReasonCrash.
func pdfSafeDocument(res pdfResult) (doc Document, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &Error{Reason: ReasonCrash, Err: fmt.Errorf("layout: panic: %v", v)}
		}
	}()
	return pdfDocument(res), nil
}
