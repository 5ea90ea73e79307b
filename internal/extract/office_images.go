package extract

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/docent-rag/docent/internal/chunk"
	"github.com/docent-rag/docent/internal/extract/textnorm"
)

// Pictures in office documents (DOCX, PPTX, ODT, ODP). With DOCENT_OCR=all each picture a
// document shows (a PNG, JPEG or TIFF part of its package) is recognised with OCR.Image, in
// the child, under the per-page time limit and counted as one page of the run's OCR budget;
// its text becomes paragraphs marked OCR where the picture stands: after the paragraph (or
// the table) that anchors it, on its slide for a deck. In another mode pictures are left
// out, counted in the metadata (images) and the document is stored pending for that mode
// (OCRReport.Pending), so that turning images on extracts it again.
//
// The numbers of the OCR report (ocr_pages, ocr_deferred_pages...) of an office document
// are its pictures' numbers, in the order the document shows them. A picture shown several
// times (a logo on every slide) is recognised once and its text placed at each place.
//
// Bounds: officeMaxImages distinct pictures per document (the rest are left out with a
// truncated warning), officeMaxImage decompressed bytes per picture (within the package's
// total budget), and OCR.Image's own check (PNG, JPEG or TIFF by its header, at most
// ocrMaxImagePixels); a picture over a bound, or corrupt, is left out with an ocr_failed
// warning and the document is still extracted. Pictures in other formats (EMF, WMF, GIF,
// SVG: drawings rather than scans) are counted (images_unsupported) and left out.
const (
	officeMaxImages = 200
	officeMaxImage  = 32 << 20
)

// officeImages recognises a document's pictures.
type officeImages struct {
	ctx         context.Context
	p           *officePackage
	ocr         *OCR // nil: OCR off
	seen        map[string]string
	n           int // distinct pictures met
	left        int // pictures left out in this OCR mode
	unsupported int
	cut         bool
	warnings    []Warning
}

func newOfficeImages(ctx context.Context, p *officePackage, ocr *OCR) *officeImages {
	return &officeImages{ctx: ctx, p: p, ocr: ocr, seen: map[string]string{}}
}

// text returns the recognised text of the picture at part name ("" when there is none, or
// it is left out).
func (im *officeImages) text(name string) string {
	if im == nil || name == "" {
		return ""
	}
	if t, ok := im.seen[name]; ok {
		return t
	}
	if !im.p.has(name) {
		return ""
	}
	if im.n >= officeMaxImages {
		im.cut = true
		return ""
	}
	im.n++
	im.seen[name] = ""
	if !im.ocr.ImagesEnabled() {
		im.left++
		return ""
	}
	data, err := im.p.read(name, officeMaxImage)
	if err == nil && imageType(data) == "octet-stream" {
		im.unsupported++
		return ""
	}
	var text string
	if err == nil {
		text, err = im.ocr.Image(im.ctx, im.n, data)
	}
	var xe *Error
	switch {
	case err == nil:
		text = textnorm.Clean(text)
		im.seen[name] = text
		return text
	case errors.As(err, &xe):
		// Refused before Tesseract (not an image, too large) or over the package's bounds:
		// not in the OCR report, so a warning of its own.
		im.warn(fmt.Sprintf("picture %d (%s) is not recognised: %v", im.n, truncate(name, 100), err))
	}
	// Unavailable, over the budget, or the tool failed: in the OCR report.
	return ""
}

func (im *officeImages) warn(msg string) {
	if len(im.warnings) < 5 {
		im.warnings = append(im.warnings, Warning{Reason: WarnOCRFailed, Message: msg})
	}
}

// finish records the pictures in the document: their count, those left out in this OCR
// mode (the document is then pending for the mode), those not read.
func (im *officeImages) finish(doc *Document) {
	if im == nil || im.n == 0 && !im.cut {
		return
	}
	doc.Metadata["images"] = int64(im.n)
	if im.unsupported > 0 {
		doc.Metadata["images_unsupported"] = int64(im.unsupported)
	}
	if im.left > 0 {
		doc.OCR.Pending = pendingMode + string(im.ocr.mode())
	}
	doc.Warnings = append(doc.Warnings, im.warnings...)
	if im.cut {
		doc.Warnings = append(doc.Warnings, Warning{Reason: WarnTruncated,
			Message: fmt.Sprintf("only the first %d pictures are recognised", officeMaxImages)})
	}
}

// read returns the decompressed bytes of a part read whole, at most limit, within the
// package's total budget. A missing part is nil, nil.
func (p *officePackage) read(name string, limit int64) ([]byte, error) {
	r, ok, err := p.open(name, limit)
	if err != nil || !ok {
		return nil, err
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, officeReadError(name, err)
	}
	return data, nil
}

// addOCR appends text recognised from a picture as paragraphs marked OCR (Tesseract's
// blank-line separated blocks), unless the document's text would go over officeMaxText.
func (b *officeBuilder) addOCR(page int, text string) {
	for _, para := range ocrParagraphs(text) {
		if b.cut || b.text.Len()+len(para) > officeMaxText {
			b.cut = true
			return
		}
		b.builder.addOCR(chunk.Paragraph, page, para)
	}
}

// ocrParagraphs splits the text Tesseract recognised into its blank-line separated
// paragraphs, each on one line.
func ocrParagraphs(text string) []string {
	var out []string
	for para := range strings.SplitSeq(strings.ReplaceAll(textnorm.Clean(text), "\f", "\n\n"), "\n\n") {
		if p := textnorm.Collapse(para); strings.TrimSpace(p) != "" {
			out = append(out, p)
		}
	}
	return out
}
