package extract

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"image"
	_ "image/jpeg" // DecodeConfig of standalone images
	_ "image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	_ "golang.org/x/image/tiff"

	"github.com/docent-rag/docent/internal/chunk"
)

// OCR: pages of a PDF without a text layer (or with a garbage one) and, when enabled,
// standalone images are rendered with poppler's pdftoppm and recognised with Tesseract.
// Both are external programs: the child runs them one page at a time, each in its own
// process group under the page's time limit, with the file's memory limit as its address
// space limit and a bounded output, and kills the group when the time is up. The tools are
// found on PATH when the Runner starts (the child's environment has no PATH); when they are
// missing, the pages that needed them are reported as ocr_unavailable, never silently
// empty. A run's budget (OCRConfig.MaxPages) bounds how many pages it recognises; the
// documents it could not finish are stored with what they have and redone by the next run
// (see UpToDate).

// OCRMode says what is recognised.
type OCRMode string

// OCR modes.
const (
	OCRPDF OCRMode = "pdf" // PDF pages without a usable text layer (the default)
	OCRAll OCRMode = "all" // also standalone images (PNG, JPEG, TIFF) and images in office files
	OCROff OCRMode = "off" // nothing: such pages are skipped as before (no_text)
)

// Defaults of OCRConfig.
const (
	DefaultOCRLanguages    = "eng"
	DefaultOCRMaxPages     = 500
	DefaultOCRPageTimeout  = 60 * time.Second
	DefaultOCRMaxFilePages = 100
	// ocrDPI is the resolution pages are rendered at: Tesseract is trained on text of
	// 10-12 pt at 300 dpi.
	ocrDPI = 300
	// ocrMaxPixels bounds a rendered page's width and height: 7,000 pixels is 23 inches at
	// 300 dpi; a larger page (a poster, a drawing) is cropped to its top-left 23 inches.
	ocrMaxPixels = 7000
	// ocrMaxImagePixels bounds a standalone image (width × height) before it reaches
	// Tesseract: 100 megapixels is an A4 page scanned at 1,200 dpi.
	ocrMaxImagePixels = 100_000_000
	// ocrMaxText bounds the text recognised on one page (a dense page has 10 KB).
	ocrMaxText = 1 << 20
	// ocrMaxRendered bounds the image file pdftoppm writes for a page (RLIMIT_FSIZE): a
	// 7,000 × 7,000 grey page is 49 MB.
	ocrMaxRendered = 64 << 20
)

// OCRConfig configures OCR. The zero value recognises the PDF pages without a text layer in
// English, with the tools found on PATH.
type OCRConfig struct {
	Mode OCRMode // default OCRPDF
	// Languages are Tesseract's language codes joined by "+" (e.g. "eng+fra"), each
	// installed (tesseract --list-langs); default "eng".
	Languages string
	// MaxPages bounds the pages a Runner (an ingest run) recognises; the documents that need
	// more are stored with the pages they have and redone by the next run. Default 500.
	MaxPages int
	// MaxFilePages bounds the pages recognised in one file: beyond it the file's remaining
	// pages are left without text (reported as truncated), and the file's time budget grows
	// by PageTimeout for each page it may recognise. Default 100.
	MaxFilePages int
	// PageTimeout bounds the rendering and the recognition of one page; default 60s.
	PageTimeout time.Duration
	// Tesseract and Pdftoppm are the programs' paths; default: found on PATH by NewRunner.
	// Tests set them to a missing path to simulate a machine without OCR.
	Tesseract, Pdftoppm string
}

// languagesRE is what Languages may be: codes joined by "+", so that nothing in it can be
// read by Tesseract as an option.
var languagesRE = regexp.MustCompile(`^[A-Za-z0-9_]{1,64}(\+[A-Za-z0-9_]{1,64}){0,15}$`)

// setup applies the defaults and finds the tools. It returns the reason OCR is unavailable
// ("" when it is available or off), or an error for a setting that is wrong (a language
// that is not installed: the operator must fix it, not have every scan skipped).
func (c *OCRConfig) setup() (unavailable string, err error) {
	c.Mode = cmp.Or(c.Mode, OCRPDF)
	c.Languages = cmp.Or(c.Languages, DefaultOCRLanguages)
	c.MaxPages = cmp.Or(c.MaxPages, DefaultOCRMaxPages)
	c.MaxFilePages = cmp.Or(c.MaxFilePages, DefaultOCRMaxFilePages)
	c.PageTimeout = cmp.Or(c.PageTimeout, DefaultOCRPageTimeout)
	switch {
	case c.Mode != OCRPDF && c.Mode != OCRAll && c.Mode != OCROff:
		return "", fmt.Errorf("extract: OCR mode %q: want pdf, all or off", c.Mode)
	case !languagesRE.MatchString(c.Languages):
		return "", fmt.Errorf("extract: OCR languages %q: want Tesseract language codes joined by + (e.g. eng+fra)", c.Languages)
	case c.MaxPages < 0 || c.MaxFilePages < 0 || c.PageTimeout < 0:
		return "", errors.New("extract: OCR MaxPages, MaxFilePages and PageTimeout must not be negative")
	case c.Mode == OCROff:
		return "", nil
	}
	var missing []string
	for _, tool := range []struct {
		path *string
		name string
	}{{&c.Tesseract, "tesseract"}, {&c.Pdftoppm, "pdftoppm"}} {
		p, err := exec.LookPath(cmp.Or(*tool.path, tool.name))
		if err != nil {
			missing = append(missing, tool.name)
			continue
		}
		if *tool.path, err = filepath.Abs(p); err != nil {
			missing = append(missing, tool.name)
		}
	}
	if len(missing) > 0 {
		return fmt.Sprintf("%s not found (install Debian's tesseract-ocr, tesseract-ocr-eng and poppler-utils: scripts/ocr.sh)",
			strings.Join(missing, " and ")), nil
	}
	installed, err := tesseractLanguages(c.Tesseract)
	if err != nil {
		return "tesseract does not run: " + err.Error(), nil
	}
	for _, lang := range strings.Split(c.Languages, "+") {
		if !slices.Contains(installed, lang) {
			return "", fmt.Errorf("extract: OCR language %q is not installed for Tesseract (installed: %s; Debian: apt-get install tesseract-ocr-%s)",
				lang, strings.Join(installed, ", "), strings.ToLower(lang))
		}
	}
	return "", nil
}

// tesseractLanguages returns the languages `tesseract --list-langs` lists.
func tesseractLanguages(tesseract string) ([]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := runTool(ctx, toolLimits{memory: 1 << 30, output: 1 << 20}, tesseract, "--list-langs")
	if err != nil {
		return nil, err
	}
	var langs []string
	for line := range strings.Lines(string(out)) {
		line = strings.TrimSpace(line)
		if line != "" && !strings.Contains(line, " ") && !strings.HasSuffix(line, ":") {
			langs = append(langs, line)
		}
	}
	return langs, nil
}

// OCRReport says what OCR did for a document; its page numbers are 1-based.
type OCRReport struct {
	Pages       []int `json:"pages,omitempty"`       // recognised
	Failed      []int `json:"failed,omitempty"`      // the tools failed or ran out of time: left without text
	Unavailable []int `json:"unavailable,omitempty"` // needed OCR, but the tools are missing
	Deferred    []int `json:"deferred,omitempty"`    // the run's budget was spent: the next run does them
	Truncated   []int `json:"truncated,omitempty"`   // beyond the file's page limit: left without text
	Millis      int64 `json:"ms,omitempty"`          // time spent rendering and recognising
	// Pending, when not empty, says why the document should be extracted again although its
	// file does not change: "deferred" (always), "unavailable" (once OCR is installed),
	// "mode:<mode>" (once the OCR mode is another). See StoredVersion.
	Pending string `json:"pending,omitempty"`
}

// Why a document's OCR is pending (OCRReport.Pending).
const (
	pendingDeferred    = "deferred"
	pendingUnavailable = "unavailable"
	pendingMode        = "mode:"
)

// check refuses a report a child could not have made: its Pending is stored in the
// documents' extraction version (StoredVersion), which decides what a later run extracts
// again.
func (r OCRReport) check() error {
	valid := r.Pending == "" || r.Pending == pendingDeferred || r.Pending == pendingUnavailable
	if m, ok := strings.CutPrefix(r.Pending, pendingMode); ok {
		valid = OCRMode(m) == OCRPDF || OCRMode(m) == OCRAll || OCRMode(m) == OCROff
	}
	if !valid {
		return fmt.Errorf("pending %q", truncate(r.Pending, 64))
	}
	for _, pages := range [][]int{r.Pages, r.Failed, r.Unavailable, r.Deferred, r.Truncated} {
		for _, n := range pages {
			if n < 0 {
				return fmt.Errorf("page %d", n)
			}
		}
	}
	if r.Millis < 0 {
		return fmt.Errorf("%d ms", r.Millis)
	}
	return nil
}

// StoredVersion is the extraction version to store with doc: Version, with a suffix when its
// OCR is pending, so that UpToDate tells a later run to extract it again.
func StoredVersion(doc Document) string {
	if doc.OCR.Pending == "" {
		return Version
	}
	return Version + "+ocr:" + doc.OCR.Pending
}

// UpToDate reports whether a document stored with extraction version stored needs no new
// extraction by this Runner (its file unchanged): it is this version, and its OCR is not
// pending, or pending for a reason that still holds (the tools are still missing, the mode
// is the same). A document whose OCR was deferred is never up to date.
func (r *Runner) UpToDate(stored string) bool {
	base, pending, found := strings.Cut(stored, "+ocr:")
	switch {
	case base != Version:
		return false
	case !found:
		return true
	case pending == pendingUnavailable:
		return r.cfg.OCR.Mode != OCROff && r.ocrUnavailable != ""
	case strings.HasPrefix(pending, pendingMode):
		return OCRMode(strings.TrimPrefix(pending, pendingMode)) == r.cfg.OCR.Mode
	}
	return false
}

// OCRStatus reports the Runner's OCR: its mode, and why it is unavailable ("" when the tools
// were found, or the mode is off).
func (r *Runner) OCRStatus() (mode OCRMode, unavailable string) {
	return r.cfg.OCR.Mode, r.ocrUnavailable
}

// ocrRequest is what a child needs to recognise a file's pages.
type ocrRequest struct {
	Tesseract     string `json:"tesseract,omitempty"`
	Pdftoppm      string `json:"pdftoppm,omitempty"`
	Languages     string `json:"languages,omitempty"`
	PageTimeoutMS int64  `json:"page_timeout_ms,omitempty"`
	Mode          OCRMode
	// Unavailable: the tools are missing; the pages that need them are reported.
	Unavailable bool `json:"unavailable,omitempty"`
	// Pages is how many pages this file may recognise (reserved from the run's budget).
	// Defer says what happens to the pages beyond: deferred to the next run (the run's
	// budget ran short) or truncated (the file's own limit).
	Pages int  `json:"pages"`
	Defer bool `json:"defer,omitempty"`
}

// reserveOCR takes up to the file limit of pages from the run's budget for one file.
func (r *Runner) reserveOCR() *ocrRequest {
	c := r.cfg.OCR
	req := &ocrRequest{Mode: c.Mode, Unavailable: r.ocrUnavailable != ""}
	if req.Unavailable {
		return req
	}
	r.ocrMu.Lock()
	req.Pages = min(r.ocrLeft, c.MaxFilePages)
	r.ocrLeft -= req.Pages
	r.ocrMu.Unlock()
	req.Defer = req.Pages < c.MaxFilePages
	req.Tesseract, req.Pdftoppm, req.Languages = c.Tesseract, c.Pdftoppm, c.Languages
	req.PageTimeoutMS = c.PageTimeout.Milliseconds()
	return req
}

// releaseOCR gives back to the run's budget what a file reserved and did not use.
func (r *Runner) releaseOCR(req *ocrRequest, used int) {
	if req == nil || req.Unavailable {
		return
	}
	r.ocrMu.Lock()
	r.ocrLeft += max(0, req.Pages-used)
	r.ocrMu.Unlock()
}

// OCR recognises images for one file, in a child, within the file's share of the run's
// budget. Extractors of formats that embed images (DOCX, PPTX, ODT, ODP) call Image for each; the
// pages it recognised, failed, deferred go to the document's OCRReport.
type OCR struct {
	req      ocrRequest
	memory   int64 // the address space limit of each tool: the file's memory limit
	tmp      string
	mu       sync.Mutex
	report   OCRReport
	used     int
	warnings []string
	extend   func(time.Duration) // asks the parent for a page's time
}

// newOCR returns the OCR of a request; nil when OCR is off.
func newOCR(req childRequest, extend func(time.Duration)) *OCR {
	if req.OCR == nil || req.OCR.Mode == OCROff {
		return nil
	}
	if extend == nil {
		extend = func(time.Duration) {}
	}
	return &OCR{req: *req.OCR, memory: cmp.Or(req.MemoryLimit, DefaultMemoryLimit), extend: extend}
}

// Errors of OCR.Image.
var (
	// ErrOCROff: OCR of images is not enabled (DOCENT_OCR is not "all"): leave the image out.
	ErrOCROff = errors.New("OCR of images is off")
	// ErrOCRUnavailable: the OCR tools are not installed.
	ErrOCRUnavailable = errors.New("OCR is unavailable: tesseract or pdftoppm is not installed")
	// ErrOCRBudget: the run's or the file's page budget is spent.
	ErrOCRBudget = errors.New("OCR page budget spent")
)

// mode is the OCR mode (OCROff for nil).
func (o *OCR) mode() OCRMode {
	if o == nil {
		return OCROff
	}
	return o.req.Mode
}

// ImagesEnabled reports whether images (standalone or in office files) are to be recognised.
func (o *OCR) ImagesEnabled() bool { return o != nil && o.req.Mode == OCRAll }

// Image recognises the text of an image (PNG, JPEG or TIFF; a multi-page TIFF's pages are
// joined), for extractors of formats that embed images, counting as one page of the budget
// (page is the number it is reported under in the OCRReport; 0 for none). It returns
// ErrOCROff when images are not to be recognised, ErrOCRUnavailable when the tools are
// missing, ErrOCRBudget when the budget is spent (the document is then deferred or
// truncated as a PDF's pages are), or the tool's failure.
func (o *OCR) Image(ctx context.Context, page int, data []byte) (string, error) {
	switch {
	case !o.ImagesEnabled():
		return "", ErrOCROff
	case o.req.Unavailable:
		o.note(page, &o.report.Unavailable)
		return "", ErrOCRUnavailable
	}
	if err := checkImage(data); err != nil {
		return "", err
	}
	if !o.take(page) {
		return "", ErrOCRBudget
	}
	dir, err := o.dir()
	if err != nil {
		return "", err
	}
	img := filepath.Join(dir, fmt.Sprintf("image-%d", o.used))
	if err := os.WriteFile(img, data, 0o600); err != nil {
		return "", fmt.Errorf("OCR: write the image: %w", err)
	}
	defer os.Remove(img)
	start := time.Now()
	text, err := o.tesseract(ctx, img, 0)
	o.done(page, start, err)
	return text, err
}

// checkImage refuses an image that is not PNG, JPEG or TIFF, or too large to recognise.
func checkImage(data []byte) error {
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return &Error{Reason: ReasonInvalid, Err: fmt.Errorf("not a PNG, JPEG or TIFF image: %w", err)}
	}
	if int64(cfg.Width)*int64(cfg.Height) > ocrMaxImagePixels || cfg.Width <= 0 || cfg.Height <= 0 {
		return &Error{Reason: ReasonTooLarge, Err: fmt.Errorf("a %s image of %d × %d pixels, over the limit of %d megapixels",
			format, cfg.Width, cfg.Height, ocrMaxImagePixels/1_000_000)}
	}
	return nil
}

// take counts one page against the file's budget; false when it is spent (the page is then
// listed as deferred or truncated).
func (o *OCR) take(page int) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.used >= o.req.Pages {
		if o.req.Defer {
			o.report.Deferred = append(o.report.Deferred, page)
		} else {
			o.report.Truncated = append(o.report.Truncated, page)
		}
		return false
	}
	o.used++
	o.extend(time.Duration(o.req.PageTimeoutMS) * time.Millisecond)
	return true
}

func (o *OCR) note(page int, list *[]int) {
	o.mu.Lock()
	*list = append(*list, page)
	o.mu.Unlock()
}

// done records a page's outcome and time.
func (o *OCR) done(page int, start time.Time, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.report.Millis += time.Since(start).Milliseconds()
	if err != nil {
		o.report.Failed = append(o.report.Failed, page)
		if len(o.warnings) < 5 {
			o.warnings = append(o.warnings, fmt.Sprintf("page %d: %v", page, err))
		}
		return
	}
	o.report.Pages = append(o.report.Pages, page)
}

// toolMemory is the address space a tool may use: what the file's memory limit leaves
// beside this process's resident memory, and at least MinMemoryLimit.
func (o *OCR) toolMemory() int64 { return toolMemory(o.memory) }

// dir returns the file's temporary directory, made on first use.
func (o *OCR) dir() (string, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.tmp == "" {
		d, err := os.MkdirTemp("", "docent-ocr-")
		if err != nil {
			return "", fmt.Errorf("OCR: temporary directory: %w", err)
		}
		o.tmp = d
	}
	return o.tmp, nil
}

// close removes the temporary files (after the file's last document).
func (o *OCR) close() {
	if o == nil {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.tmp != "" {
		_ = os.RemoveAll(o.tmp)
		o.tmp = ""
	}
}

// takeReport returns what OCR did since the last call, with Pending set, and its errors,
// and starts afresh: a file's documents (an e-mail's attachments) each have their own
// report, while the page budget is the file's.
func (o *OCR) takeReport() (OCRReport, []string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	r, warnings := o.report, o.warnings
	o.report, o.warnings = OCRReport{}, nil
	switch {
	case len(r.Deferred) > 0:
		r.Pending = pendingDeferred
	case len(r.Unavailable) > 0:
		r.Pending = pendingUnavailable
	}
	return r, warnings
}

// pdfPage renders page n of the PDF in file pdf and recognises it.
func (o *OCR) pdfPage(ctx context.Context, pdf string, n int) (string, error) {
	dir, err := o.dir()
	if err != nil {
		return "", err
	}
	start := time.Now()
	text, err := o.renderAndRecognise(ctx, dir, pdf, n)
	o.done(n, start, err)
	return text, err
}

func (o *OCR) renderAndRecognise(ctx context.Context, dir, pdf string, n int) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(o.req.PageTimeoutMS)*time.Millisecond)
	defer cancel()
	prefix := filepath.Join(dir, "page-"+strconv.Itoa(n))
	page := strconv.Itoa(n)
	px := strconv.Itoa(ocrMaxPixels)
	// -q: a broken file makes poppler print an error per operator (megabytes).
	if _, err := runTool(ctx, toolLimits{memory: o.toolMemory(), output: 64 << 10, fileSize: ocrMaxRendered}, o.req.Pdftoppm,
		"-q", "-r", strconv.Itoa(ocrDPI), "-f", page, "-l", page, "-W", px, "-H", px, "-gray", "-singlefile", pdf, prefix); err != nil {
		return "", fmt.Errorf("render: %w", err)
	}
	img := prefix + ".pgm"
	defer os.Remove(img)
	return o.tesseract(ctx, img, ocrDPI)
}

// tesseract recognises the image in file img (dpi 0: read from the image).
func (o *OCR) tesseract(ctx context.Context, img string, dpi int) (string, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(o.req.PageTimeoutMS)*time.Millisecond)
		defer cancel()
	}
	args := []string{img, "stdout", "-l", o.req.Languages, "--psm", "3"}
	if dpi > 0 {
		args = append(args, "--dpi", strconv.Itoa(dpi))
	}
	out, err := runTool(ctx, toolLimits{memory: o.toolMemory(), output: ocrMaxText}, o.req.Tesseract, args...)
	if err != nil {
		return "", fmt.Errorf("recognise: %w", err)
	}
	return string(out), nil
}

// ocrBlocks adds the text Tesseract recognised on a page as paragraphs (its blank-line
// separated blocks), marked OCR.
func ocrBlocks(b *builder, page int, text string) {
	for _, para := range ocrParagraphs(text) {
		b.addOCR(chunk.Paragraph, page, para)
	}
}

// garbageText reports whether a page's text layer is garbage: of its characters other than
// white space, at least half are unreadable, that is the replacement character U+FFFD,
// private-use code points (where fonts without a Unicode mapping put their glyphs), control
// characters, or code points that Unicode does not assign. Such a page is recognised as if
// it had no text layer; a page with some readable text among a few odd glyphs is not.
func garbageText(paras []string) bool {
	var total, bad int
	for _, p := range paras {
		for _, r := range p {
			if unicode.IsSpace(r) {
				continue
			}
			total++
			if unreadable(r) {
				bad++
			}
		}
	}
	return total > 0 && 2*bad >= total
}

// unreadable reports whether r carries no text for a reader.
func unreadable(r rune) bool {
	return r == unicode.ReplacementChar || unicode.Is(unicode.Co, r) || unicode.IsControl(r) ||
		!unicode.In(r, unicode.L, unicode.M, unicode.N, unicode.P, unicode.S, unicode.Z)
}

// imageExtract recognises a standalone image (PNG, JPEG, TIFF): one page per page of the
// image (a multi-page TIFF has several), its paragraphs marked OCR.
func imageExtract(ctx context.Context, data []byte, ocr *OCR) (Document, error) {
	doc := newDocument("image/" + imageType(data))
	if !ocr.ImagesEnabled() {
		return Document{}, &Error{Reason: ReasonInvalid, Err: errors.New("an image, and OCR of images is off")}
	}
	text, err := ocr.Image(ctx, 1, data)
	switch {
	case errors.Is(err, ErrOCRUnavailable):
		doc.Skip = SkipOCRUnavailable
		return doc, nil
	case errors.Is(err, ErrOCRBudget):
		doc.Skip = SkipOCRDeferred
		if !ocr.req.Defer {
			doc.Skip = SkipNoText
		}
		return doc, nil
	case err != nil:
		var xe *Error
		if errors.As(err, &xe) {
			return Document{}, err
		}
		return Document{}, &Error{Reason: ReasonInvalid, Err: fmt.Errorf("OCR: %w", err)}
	}
	var b builder
	pages := strings.Split(strings.TrimRight(text, "\f\n "), "\f")
	for i, page := range pages {
		b.startPage()
		ocrBlocks(&b, i+1, page)
	}
	doc.Document = b.document("")
	doc.Pages, doc.PageStarts = len(pages), b.pages
	for i, off := range doc.PageStarts {
		doc.PageStarts[i] = min(off, len(doc.Text))
	}
	doc.Metadata["pages"] = int64(len(pages))
	if doc.Text == "" {
		doc.Skip = SkipNoText
	}
	return doc, nil
}

// imageType returns the subtype of an image's MIME type from its first bytes.
func imageType(data []byte) string {
	switch {
	case bytes.HasPrefix(data, []byte("\x89PNG")):
		return "png"
	case bytes.HasPrefix(data, []byte("\xFF\xD8")):
		return "jpeg"
	case bytes.HasPrefix(data, []byte("II*\x00")), bytes.HasPrefix(data, []byte("MM\x00*")):
		return "tiff"
	}
	return "octet-stream"
}

// finishOCR records what OCR did in the document: its OCRReport, metadata (ocr_pages and
// the pages failed, deferred, truncated or unavailable, ocr_languages, ocr_ms), and the
// reason a document without text is skipped when OCR could not run.
func finishOCR(doc *Document, ocr *OCR) {
	if ocr == nil {
		return
	}
	r, warnings := ocr.takeReport()
	if doc.OCR.Pending != "" && r.Pending == "" {
		r.Pending = doc.OCR.Pending // set by the extractor (images left out in this mode)
	}
	doc.OCR = r
	if doc.Metadata == nil {
		doc.Metadata = map[string]any{}
	}
	for key, pages := range map[string][]int{"ocr_pages": r.Pages, "ocr_failed_pages": r.Failed,
		"ocr_deferred_pages": r.Deferred, "ocr_truncated_pages": r.Truncated, "ocr_unavailable_pages": r.Unavailable} {
		if len(pages) > 0 {
			doc.Metadata[key] = pages
		}
	}
	if len(r.Pages)+len(r.Failed) > 0 {
		doc.Metadata["ocr_languages"] = ocr.req.Languages
		doc.Metadata["ocr_ms"] = r.Millis
	}
	if len(warnings) > 0 {
		doc.Metadata["ocr_errors"] = warnings
	}
	if doc.Text == "" && (doc.Skip == "" || doc.Skip == SkipNoText) {
		switch {
		case len(r.Deferred) > 0:
			doc.Skip = SkipOCRDeferred
		case len(r.Unavailable) > 0:
			doc.Skip = SkipOCRUnavailable
		}
	}
}
