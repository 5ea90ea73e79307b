package extract

import (
	"errors"

	"github.com/docent-rag/docent/internal/chunk"
	"github.com/docent-rag/docent/internal/extract/pdf"
)

// PDF extraction: the engine (package pdf) reads the file into paragraphs per page, here
// they become a Document. It runs in a Runner's child only (see childExtract): on hostile
// files the parsers panic, loop forever on a cyclic structure, or ask the runtime for an
// allocation so large that the Go runtime aborts with a fatal error that recover cannot
// catch. The child's budget (Config.PDF) bounds all of that.

// pdfExtract extracts the text of a PDF file, page by page: each page's paragraphs are
// blocks (Block.Page set); pages without text are listed in NoTextPages, and a file without
// any text is returned with Skip = SkipNoText.
//
// A file the engine cannot read yields an *Error with reason ReasonPDFEncrypted,
// ReasonPDFInvalid, ReasonMemory (an impossible allocation, refused) or ReasonCrash (a
// parser or the layout panicked).
func pdfExtract(data []byte, password string) (Document, error) {
	res, err := pdf.Extract(data, password)
	if err != nil {
		reason := ReasonPDFInvalid
		if e, ok := errors.AsType[*pdf.Error](err); ok {
			switch e.Kind {
			case pdf.FailEncrypted:
				reason = ReasonPDFEncrypted
			case pdf.FailPanic:
				reason = ReasonCrash
			case pdf.FailMemory:
				reason = ReasonMemory
			}
		}
		return Document{}, &Error{Reason: reason, Err: err}
	}
	return pdfDocument(res), nil
}

// pdfDocument builds the Document from the engine's.
func pdfDocument(res pdf.Document) Document {
	var b builder
	var noText []int
	for i, paras := range res.Pages {
		b.startPage()
		for _, text := range paras {
			b.add(chunk.Paragraph, 0, i+1, text)
		}
		if len(paras) == 0 {
			noText = append(noText, i+1)
		}
	}
	doc := Document{
		Document:    b.document(res.Title),
		ContentType: "application/pdf",
		Pages:       len(res.Pages),
		PageStarts:  b.pages,
		NoTextPages: noText,
		Metadata:    map[string]any{"pages": int64(len(res.Pages)), "encrypted": res.Encrypted}, // int64 as after a trip through JSON
	}
	for i, off := range doc.PageStarts {
		doc.PageStarts[i] = min(off, len(doc.Text))
	}
	if doc.PageStarts == nil {
		doc.PageStarts = []int{}
	}
	if doc.Text == "" {
		doc.Skip = SkipNoText
	}
	meta := doc.Metadata
	for k, v := range map[string]string{
		"title": res.Info.Title, "author": res.Info.Author, "subject": res.Info.Subject,
		"creator": res.Info.Creator, "producer": res.Info.Producer,
		"creation_date": res.Created,
		"pdf_extractor": res.Path,
	} {
		if v != "" {
			meta[k] = v
		}
	}
	if res.PageErrors > 0 {
		meta["pdf_page_errors"] = int64(res.PageErrors)
	}
	if res.Truncated {
		meta["pdf_truncated"] = true
	}
	return doc
}
