package extract

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

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
//
// With ocr (nil: OCR off), the pages without a text layer or with a garbage one
// (garbageText) are rendered and recognised: their blocks are marked OCR, and the
// document's OCRReport and metadata say which pages were recognised, failed, deferred to
// the next run (the run's budget), truncated (the file's) or need OCR that is unavailable.
func pdfExtract(ctx context.Context, data []byte, password string, ocr *OCR) (Document, error) {
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
	if ocr == nil {
		return pdfDocument(res, nil), nil
	}
	recognised := map[int]string{} // page (1-based) → recognised text
	var file string
	for i, paras := range res.Pages {
		n := i + 1
		if len(paras) > 0 && !garbageText(paras) {
			continue
		}
		if ocr.req.Unavailable {
			ocr.note(n, &ocr.report.Unavailable)
			continue
		}
		if !ocr.take(n) {
			continue
		}
		if file == "" {
			dir, err := ocr.dir()
			if err != nil {
				return Document{}, err
			}
			file = filepath.Join(dir, "file.pdf")
			if err := os.WriteFile(file, data, 0o600); err != nil {
				return Document{}, fmt.Errorf("OCR: write the PDF: %w", err)
			}
		}
		if text, err := ocr.pdfPage(ctx, file, n); err == nil {
			recognised[n] = text
		}
	}
	return pdfDocument(res, recognised), nil
}

// pdfDocument builds the Document from the engine's, with the text recognised on some of
// its pages (page number → text), which replaces their text layer.
func pdfDocument(res pdf.Document, recognised map[int]string) Document {
	var b builder
	var noText []int
	for i, paras := range res.Pages {
		b.startPage()
		if text, ok := recognised[i+1]; ok {
			n := len(b.blocks)
			if ocrBlocks(&b, i+1, text); len(b.blocks) == n {
				noText = append(noText, i+1)
			}
			continue
		}
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
