package extract

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/docent-rag/docent/internal/chunk"
)

// The child side of extraction, and the protocol between a Runner and its children.
//
// A child is the running binary re-executed with DOCENT_EXTRACT_CHILD set to the protocol
// version. It never opens a path: it reads requests on file descriptor 3 and answers on
// file descriptor 4, one file at a time, until the parent closes descriptor 3. Its standard
// output and error go to the parent, which keeps them only to explain a crash.
//
// Every message, both ways, is a frame: a 4-byte big-endian length, a JSON header of that
// length (at most maxFrameHeader bytes), then header.Size bytes of payload. A request's
// payload is the file's bytes; a response's is the Document (see encodeDocument). The
// child's first message is a hello carrying the protocol version.

// childEnv is the environment variable that makes the binary act as a child; its value is
// the protocol version, so that a binary speaking another version refuses at once.
const (
	childEnv      = "DOCENT_EXTRACT_CHILD"
	childProtocol = "2"
)

// File descriptors of the child's request and response pipes (os/exec's ExtraFiles start
// at 3).
const (
	childRequestFD  = 3
	childResponseFD = 4
)

// Exit statuses of a child.
const (
	childExitProtocol = 2 // a broken request or pipe
	childExitTimeout  = 3 // its own time limit fired: the parent should have killed it first
)

// Protocol limits.
const (
	maxFrameHeader = 64 << 10 // bytes of JSON header
	maxMessage     = 4 << 10  // bytes of an error message in a response
	maxRequestSize = 1 << 40  // bytes of a file; the parent enforces its own, smaller limit
)

// hookCalled records that RunChildIfRequested has run in this process (and returned: this
// process is not a child). NewRunner refuses to start children from a binary that has not
// called it, since such a child would run the binary's normal work (a test binary would
// run its tests, again and again) instead of extracting. It is the package's only mutable
// state: a fact about the process, set once by main.
var hookCalled atomic.Bool

// RunChildIfRequested makes this process act as an extraction child when it was started as
// one by a Runner (the environment variable DOCENT_EXTRACT_CHILD is set): it serves
// requests until its parent closes the pipe, then exits the process without returning.
// Otherwise it returns at once.
//
// Call it first thing in main, and in TestMain of every test package that extracts files
// (through a Runner, or through ingestion), because a Runner re-executes the running
// binary as its children:
//
//	func main() {
//		extract.RunChildIfRequested()
//		...
//	}
func RunChildIfRequested() {
	v, ok := os.LookupEnv(childEnv)
	if !ok {
		hookCalled.Store(true)
		return
	}
	if v != childProtocol {
		fmt.Fprintf(os.Stderr, "docent extract child: asked for protocol %q, this binary speaks %q\n", v, childProtocol)
		os.Exit(childExitProtocol)
	}
	in := os.NewFile(childRequestFD, "extract-requests")
	out := os.NewFile(childResponseFD, "extract-responses")
	if in == nil || out == nil {
		fmt.Fprintln(os.Stderr, "docent extract child: no request or response pipe")
		os.Exit(childExitProtocol)
	}
	os.Exit(childMain(in, out, os.Stderr))
}

// childRequest is the header of a request: extract the payload as Format, within the
// limits given.
type childRequest struct {
	Format      Format `json:"format"`
	Size        int64  `json:"size"`         // bytes of payload: the file
	TimeoutMS   int64  `json:"timeout_ms"`   // the parent kills the child after this; the child stops itself a little later
	MemoryLimit int64  `json:"memory_limit"` // bytes; the parent kills the child above this resident size
	Password    string `json:"password,omitempty"`
	// TestMode makes the child misbehave on purpose, so that tests can exercise the
	// parent's defences: "hang" (busy loop), "grow" (allocate until stopped, without the
	// address-space cap), "crash" (an unrecovered panic in a goroutine), "exit" (exit
	// without answering), "garbage" (answer with a broken frame), "big" (announce a
	// response larger than the parent accepts). Only a Runner's unexported test hook sets it.
	TestMode string `json:"test_mode,omitempty"`
	// OCR, when set, says how to recognise pages without text (nil: OCR is off).
	OCR *ocrRequest `json:"ocr,omitempty"`
	// Legacy, when set, says how to convert legacy office files (nil: LibreOffice is missing).
	Legacy *legacyRequest `json:"legacy,omitempty"`
}

// childResponse is the header of a response.
type childResponse struct {
	Hello   string `json:"hello,omitempty"`   // the protocol version: the first message only
	Reason  string `json:"reason,omitempty"`  // the file failed with this reason (an Error's)
	Message string `json:"message,omitempty"` // and this message
	// ACL says that the failure is an *ACLError: the file tries to declare its permission
	// tags and they cannot be read exactly (ingestion then hides the document).
	ACL bool  `json:"acl,omitempty"`
	RSS int64 `json:"rss,omitempty"` // the child's resident memory once the file is done (or at its start), in bytes
	// ExtendMS, in a message before the answer, asks for that much more time for the file:
	// the child is about to recognise a page (OCR). The parent grants it up to the pages
	// reserved for the file.
	ExtendMS int64 `json:"extend_ms,omitempty"`
	Size     int64 `json:"size"` // bytes of payload: the document, as JSON
}

// writeFrame writes one frame: header, then payload.
func writeFrame(w io.Writer, header any, payload []byte) error {
	h, err := json.Marshal(header)
	if err != nil {
		return fmt.Errorf("encode frame header: %w", err)
	}
	if len(h) > maxFrameHeader {
		return fmt.Errorf("frame header of %d bytes, over %d", len(h), maxFrameHeader)
	}
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(h)))
	if _, err := w.Write(n[:]); err != nil {
		return err
	}
	if _, err := w.Write(h); err != nil {
		return err
	}
	if _, err := w.Write(payload); err != nil {
		return err
	}
	return nil
}

// readFrameHeader reads a frame's header into v. It returns io.EOF when r ends before the
// frame starts, io.ErrUnexpectedEOF when it ends inside.
func readFrameHeader(r io.Reader, v any) error {
	var n [4]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return err
	}
	size := binary.BigEndian.Uint32(n[:])
	if size > maxFrameHeader {
		return fmt.Errorf("frame header of %d bytes, over %d", size, maxFrameHeader)
	}
	h := make([]byte, size)
	if _, err := io.ReadFull(r, h); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return err
	}
	if err := json.Unmarshal(h, v); err != nil {
		return fmt.Errorf("frame header: %w", err)
	}
	return nil
}

// readPayload reads a frame's payload of size bytes, refusing more than limit before
// allocating anything.
func readPayload(r io.Reader, size, limit int64) ([]byte, error) {
	if size < 0 || size > limit {
		return nil, fmt.Errorf("frame payload of %d bytes, over the limit of %d", size, limit)
	}
	p := make([]byte, size)
	if _, err := io.ReadFull(r, p); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return p, nil
}

// childMain serves requests from in until it ends, answering on out; it returns the exit
// status.
func childMain(in io.Reader, out io.Writer, stderr io.Writer) int {
	r := bufio.NewReaderSize(in, 64<<10)
	w := bufio.NewWriterSize(out, 64<<10)
	send := func(resp childResponse, payload []byte) bool {
		resp.Size = int64(len(payload))
		if err := writeFrame(w, resp, payload); err != nil {
			fmt.Fprintf(stderr, "docent extract child: write response: %v\n", err)
			return false
		}
		if err := w.Flush(); err != nil {
			fmt.Fprintf(stderr, "docent extract child: write response: %v\n", err)
			return false
		}
		return true
	}
	// A child's live heap is small (one file's document at a time), so at the default GOGC
	// it collects after every few megabytes of parser garbage. Collecting less often made
	// the extraction of the go.dev site 25% faster (BenchmarkGoDevRunner); the heap stays
	// bounded by each file's memory limit, which the collector honours (SetMemoryLimit).
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	// Memory is handed back to the system after a file that left the process big, so that
	// the parent sees what the next file starts from (and does not replace the child).
	startRSS, _ := processRSS(os.Getpid())
	tidyAbove := max(64<<20, 2*startRSS)
	if !send(childResponse{Hello: childProtocol, RSS: startRSS}, nil) {
		return childExitProtocol
	}
	for {
		var req childRequest
		if err := readFrameHeader(r, &req); err != nil {
			if errors.Is(err, io.EOF) {
				return 0 // the parent is done with this child
			}
			fmt.Fprintf(stderr, "docent extract child: read request: %v\n", err)
			return childExitProtocol
		}
		stop, extendBackstop := childLimits(req, stderr)
		data, err := readPayload(r, req.Size, maxRequestSize)
		if err != nil {
			fmt.Fprintf(stderr, "docent extract child: read request: %v\n", err)
			return childExitProtocol
		}
		childTestMode(req, w, stderr)
		var resp childResponse
		extend := func(d time.Duration) {
			extendBackstop(d)
			if !send(childResponse{ExtendMS: d.Milliseconds()}, nil) {
				os.Exit(childExitProtocol)
			}
		}
		payload, err := childExtract(req, data, extend)
		if err != nil {
			resp.Reason, resp.Message = childFailure(err)
			resp.ACL = IsACLError(err)
		}
		if rss, err := processRSS(os.Getpid()); err == nil {
			if rss > tidyAbove {
				debug.FreeOSMemory()
				rss, _ = processRSS(os.Getpid())
			}
			resp.RSS = rss
		}
		stop()
		if !send(resp, payload) {
			return childExitProtocol
		}
	}
}

// childLimits applies a request's limits to this process and returns the function that
// lifts them: a Go memory limit (the collector works harder near it), a cap on the growth
// of the address space (outside race builds), and a timer that ends the process if the
// parent has not killed it a little after the timeout (a backstop; the parent's kill is
// the rule).
func childLimits(req childRequest, stderr io.Writer) (stop func(), extend func(time.Duration)) {
	var timer *time.Timer
	backstop := time.Duration(req.TimeoutMS)*time.Millisecond + 2*time.Second
	if req.TimeoutMS > 0 {
		timer = time.AfterFunc(backstop, func() {
			fmt.Fprintln(stderr, "docent extract child: time limit exceeded")
			os.Exit(childExitTimeout)
		})
	}
	capped := false
	if req.MemoryLimit > 0 {
		debug.SetMemoryLimit(req.MemoryLimit)
		if !raceEnabled && req.TestMode != "grow" {
			if err := limitAddressSpace(req.MemoryLimit); err != nil {
				fmt.Fprintf(stderr, "docent extract child: %v\n", err)
			} else {
				capped = true
			}
		}
	}
	start := time.Now()
	extend = func(d time.Duration) {
		if timer != nil {
			backstop += d
			timer.Reset(backstop - time.Since(start))
		}
	}
	return func() {
		if timer != nil {
			timer.Stop()
		}
		if capped {
			if err := limitAddressSpace(0); err != nil {
				fmt.Fprintf(stderr, "docent extract child: %v\n", err)
			}
		}
		debug.SetMemoryLimit(math.MaxInt64)
	}, extend
}

// childTestMode misbehaves as the request's TestMode asks (see childRequest).
func childTestMode(req childRequest, w *bufio.Writer, stderr io.Writer) {
	switch req.TestMode {
	case "hang":
		for {
			runtime.Gosched()
		}
	case "grow":
		var keep [][]byte
		for range 1 << 20 { // 16 TiB: far beyond any limit
			b := make([]byte, 16<<20)
			for i := 0; i < len(b); i += 4096 {
				b[i] = 1
			}
			keep = append(keep, b)
		}
		fmt.Fprintf(stderr, "docent extract child: allocated %d buffers without being stopped\n", len(keep))
		os.Exit(childExitProtocol)
	case "crash":
		done := make(chan struct{})
		go func() {
			panic("extract child test crash\nsecond line")
		}()
		<-done
	case "exit":
		os.Exit(7)
	case "garbage":
		_, _ = w.WriteString("\x00\x00\x00\x05{oops")
		_ = w.Flush()
		select {} // until killed
	case "big":
		_ = writeFrame(w, childResponse{Size: 1 << 50}, nil)
		_ = w.Flush()
		select {}
	}
}

// childExtract extracts the request's payload and returns the document as JSON. A panic
// becomes an Error with ReasonCrash (the parent then replaces this child, whose state the
// panic may have left broken).
func childExtract(req childRequest, data []byte, extend func(time.Duration)) (payload []byte, err error) {
	defer func() {
		if v := recover(); v != nil {
			payload, err = nil, &Error{Reason: ReasonCrash, Err: fmt.Errorf("panic: %v", v)}
		}
	}()
	ocr := newOCR(req, extend)
	defer ocr.close() // its temporary files
	// Each OCR page has its own time limit; the parent, the file's.
	ctx := withLegacyConverter(context.Background(), newLegacyConverter(req, time.Now()))
	doc, err := extractFormat(ctx, req.Format, data, req.Password, ocr)
	if err != nil {
		return nil, err
	}
	finishOCR(&doc, ocr)
	return encodeDocument(doc)
}

// extractFormat extracts data as format, in this process: the child's dispatch, also used
// for the files found inside others (e-mail attachments). Scanned PDF pages and images are
// recognised with ocr (nil: OCR off), within the file's page budget.
func extractFormat(ctx context.Context, format Format, data []byte, password string, ocr *OCR) (Document, error) {
	if text := textExtractor(format); text != nil {
		return text(data)
	}
	switch format {
	case FormatPDF:
		return pdfExtract(ctx, data, password, ocr)
	case FormatImage:
		return imageExtract(ctx, data, ocr)
	case FormatCSV, FormatTSV:
		return CSV(data, format == FormatTSV)
	case FormatEML:
		return emlMessage(ctx, data, "attachment", true, ocr)
	case FormatMBOX:
		return mboxExtract(ctx, data, ocr)
	case FormatEPUB:
		return EPUB(data)
	case FormatRTF:
		return RTF(data)
	case FormatDOCX:
		return docxExtract(ctx, data, ocr)
	case FormatPPTX:
		return pptxExtract(ctx, data, ocr)
	case FormatXLSX:
		return xlsxExtract(data)
	case FormatODT, FormatODS, FormatODP:
		return odfExtract(ctx, data, format, ocr)
	case FormatLegacy:
		return legacyExtract(ctx, data, legacyConverterFrom(ctx), ocr)
	}
	return Document{}, &Error{Reason: ReasonInvalid, Err: fmt.Errorf("format %q is not extracted by a child", format)}
}

// childFailure returns the reason and message of an extraction error.
func childFailure(err error) (reason, message string) {
	var e *Error
	if errors.As(err, &e) {
		reason, err = e.Reason, e.Err
	} else {
		reason = ReasonInvalid
	}
	message = "unknown error"
	if err != nil {
		message = err.Error()
	}
	return reason, truncate(message, maxMessage)
}

// wireDocument is a Document as the child sends it: everything but the text, as JSON.
type wireDocument struct {
	Title       string         `json:"title"`
	Blocks      [][5]int       `json:"blocks"` // kind, level, start, end, page
	ContentType string         `json:"content_type"`
	Pages       int            `json:"pages"`
	PageUnit    string         `json:"page_unit,omitempty"`
	Warnings    []Warning      `json:"warnings,omitempty"`
	PageStarts  []int          `json:"page_starts"`   // null and [] both survive the trip
	NoTextPages []int          `json:"no_text_pages"` //
	Metadata    map[string]any `json:"metadata"`
	ACL         []string       `json:"acl"` // null: none declared; []: an empty list declared
	URL         string         `json:"url,omitempty"`
	URLRefused  string         `json:"url_refused,omitempty"`
	Skip        string         `json:"skip,omitempty"`
	// BlockInfo carries the block fields beyond the five numbers, for the blocks that have
	// any (see wireBlockInfo).
	BlockInfo []wireBlockInfo `json:"block_info,omitempty"`
	// TextLen is the length of the text that follows the JSON (absent: all the rest); the
	// rest of the payload is Parts derived documents, each as a 4-byte big-endian length and
	// its own encoding.
	TextLen *int `json:"text_len,omitempty"`
	Parts   int  `json:"parts,omitempty"`
	// Fragment names a derived document (Part.Fragment); Reason and Message say why it
	// failed, when it did.
	Fragment string `json:"fragment,omitempty"`
	Reason   string `json:"reason,omitempty"`
	Message  string `json:"message,omitempty"`
	// OCR is what OCR did for this document (its recognised blocks are marked in BlockInfo).
	OCR OCRReport `json:"ocr"`
}

// wireBlockInfo is a block's HeaderRows, Locator and OCR, by its index in Blocks.
type wireBlockInfo struct {
	Block      int    `json:"b"`
	HeaderRows int    `json:"h,omitempty"`
	Locator    string `json:"l,omitempty"`
	OCR        bool   `json:"o,omitempty"`
}

// Limits on what a child may send about blocks and derived documents.
const (
	maxLocator  = 256    // bytes of a block's Locator
	maxParts    = 10_000 // derived documents of one file
	maxFragment = 512    // bytes of a derived document's Fragment
)

// encodeDocument encodes doc for the trip to the parent: the length of the JSON that
// follows (4 bytes, big-endian), a wireDocument as JSON, then the text as it is, so that
// the bulk of the document is neither escaped nor unescaped; then each of its Parts, as its
// length (4 bytes) and its own encoding.
func encodeDocument(doc Document) ([]byte, error) {
	out, err := encodeOne(doc, len(doc.Parts), nil)
	if err != nil {
		return nil, err
	}
	for i := range doc.Parts {
		p := &doc.Parts[i]
		if len(p.Parts) > 0 {
			return nil, &Error{Reason: ReasonInvalid, Err: fmt.Errorf("derived document %q has derived documents of its own", p.Fragment)}
		}
		enc, err := encodeOne(p.Document, 0, p)
		if err != nil {
			return nil, err
		}
		if len(enc) > math.MaxUint32 {
			return nil, &Error{Reason: ReasonMemory, Err: fmt.Errorf("derived document %q is over 4 GiB", p.Fragment)}
		}
		out = binary.BigEndian.AppendUint32(out, uint32(len(enc)))
		out = append(out, enc...)
	}
	return out, nil
}

// encodeOne encodes one document (see encodeDocument), announcing parts derived
// documents after it; part is the Part it is, nil for a file's document.
func encodeOne(doc Document, parts int, part *Part) ([]byte, error) {
	w := wireDocument{
		Title: doc.Title, ContentType: doc.ContentType, Pages: doc.Pages, PageStarts: doc.PageStarts,
		NoTextPages: doc.NoTextPages, Metadata: doc.Metadata, ACL: doc.ACL, Skip: doc.Skip,
		URL: doc.URL, URLRefused: doc.URLRefused, TextLen: new(len(doc.Text)), Parts: parts, OCR: doc.OCR,
		Blocks: make([][5]int, len(doc.Blocks)),
	}
	w.PageUnit = doc.PageUnit
	w.Warnings = doc.Warnings[:min(len(doc.Warnings), maxWarnings)]
	if part != nil {
		w.Fragment = part.Fragment
		if part.Err != nil {
			w.Reason, w.Message = childFailure(part.Err)
		}
	}
	for i, b := range doc.Blocks {
		w.Blocks[i] = [5]int{int(b.Kind), b.Level, b.Start, b.End, b.Page}
		if b.HeaderRows != 0 || b.Locator != "" || b.OCR {
			w.BlockInfo = append(w.BlockInfo, wireBlockInfo{Block: i, HeaderRows: b.HeaderRows, Locator: b.Locator, OCR: b.OCR})
		}
	}
	buf := bytes.NewBuffer(make([]byte, 4, 4+64*len(doc.Blocks)+len(doc.Text)+1024))
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(w); err != nil {
		return nil, &Error{Reason: ReasonInvalid, Err: fmt.Errorf("encode the extracted document: %w", err)}
	}
	out := buf.Bytes()
	if len(out)-4 > math.MaxUint32 {
		return nil, &Error{Reason: ReasonMemory, Err: errors.New("the extracted document's structure is over 4 GiB")}
	}
	binary.BigEndian.PutUint32(out, uint32(len(out)-4))
	return append(out, doc.Text...), nil
}

// decodeDocument decodes a document sent by a child and checks what the chunker relies on:
// blocks in order, within the text, of a known kind; page starts within the text; valid
// UTF-8; derived documents named once each, with plain names. A child is this program, but
// what it sends was shaped by a hostile file: nothing it sends may make the parent panic.
func decodeDocument(payload []byte) (Document, error) {
	doc, w, rest, err := decodeOne(payload)
	if err != nil {
		return Document{}, err
	}
	if w.Fragment != "" || w.Reason != "" {
		return Document{}, errors.New("decode: the file's document is named as a derived one")
	}
	if w.Parts < 0 || w.Parts > maxParts {
		return Document{}, fmt.Errorf("decode: %d derived documents, over %d", w.Parts, maxParts)
	}
	seen := make(map[string]bool, w.Parts)
	for i := range w.Parts {
		if len(rest) < 4 {
			return Document{}, fmt.Errorf("decode: derived document %d missing", i+1)
		}
		n := int64(binary.BigEndian.Uint32(rest))
		if n > int64(len(rest)-4) {
			return Document{}, fmt.Errorf("decode: derived document %d of %d bytes in %d", i+1, n, len(rest)-4)
		}
		pdoc, pw, prest, err := decodeOne(rest[4 : 4+n])
		if err != nil {
			return Document{}, fmt.Errorf("derived document %d: %w", i+1, err)
		}
		rest = rest[4+n:]
		switch {
		case len(prest) > 0 || pw.Parts != 0:
			return Document{}, fmt.Errorf("decode: derived document %d has derived documents of its own", i+1)
		case !validFragment(pw.Fragment):
			return Document{}, fmt.Errorf("decode: derived document %d: bad name %q", i+1, truncate(pw.Fragment, 64))
		case seen[pw.Fragment]:
			return Document{}, fmt.Errorf("decode: derived document %q twice", pw.Fragment)
		}
		seen[pw.Fragment] = true
		p := Part{Fragment: pw.Fragment, Document: pdoc}
		if pw.Reason != "" {
			// Its OCR report only: the pages it used count in the run's budget.
			p.Document = Document{Metadata: map[string]any{}, OCR: pdoc.OCR}
			p.Err = &Error{Reason: truncate(pw.Reason, 64), Err: errors.New(truncate(pw.Message, maxMessage))}
		}
		doc.Parts = append(doc.Parts, p)
	}
	if len(rest) > 0 {
		return Document{}, errors.New("decode: data after the document")
	}
	return doc, nil
}

// decodeOne decodes one document of a payload (see encodeOne) and returns it, its wire
// header and the bytes after its text.
func decodeOne(payload []byte) (Document, wireDocument, []byte, error) {
	var w wireDocument
	if len(payload) < 4 {
		return Document{}, w, nil, errors.New("decode: no document")
	}
	n := int64(binary.BigEndian.Uint32(payload))
	if n > int64(len(payload)-4) {
		return Document{}, w, nil, fmt.Errorf("decode: %d bytes of structure in a payload of %d", n, len(payload))
	}
	dec := json.NewDecoder(bytes.NewReader(payload[4 : 4+n]))
	dec.UseNumber()
	dec.DisallowUnknownFields() // the child is this program: a field it does not send is a bug
	if err := dec.Decode(&w); err != nil {
		return Document{}, w, nil, fmt.Errorf("decode: %w", err)
	}
	if dec.More() {
		return Document{}, w, nil, errors.New("decode: data after the document")
	}
	body := payload[4+n:]
	textLen := len(body)
	if w.TextLen != nil {
		textLen = *w.TextLen
	}
	if textLen < 0 || textLen > len(body) {
		return Document{}, w, nil, fmt.Errorf("decode: a text of %d bytes in %d", textLen, len(body))
	}
	text, rest := string(body[:textLen]), body[textLen:]
	doc := Document{
		Document:    chunk.Document{Title: w.Title, Text: text, Blocks: make([]chunk.Block, len(w.Blocks))},
		ContentType: w.ContentType, Pages: w.Pages, PageStarts: w.PageStarts, NoTextPages: w.NoTextPages,
		Metadata: map[string]any{}, ACL: w.ACL, Skip: w.Skip, URLRefused: truncate(w.URLRefused, maxMessage),
		OCR: w.OCR,
	}
	if w.URL != "" {
		// Checked again: the child's output was shaped by the file.
		u, err := SourceURL(w.URL)
		if err != nil {
			return Document{}, w, nil, fmt.Errorf("decode: url: %w", err)
		}
		doc.URL = u
	}
	if !utf8.ValidString(text) || !utf8.ValidString(w.Title) {
		return Document{}, w, nil, errors.New("text is not valid UTF-8")
	}
	prev := 0
	for i, b := range w.Blocks {
		kind, level, start, end, page := b[0], b[1], b[2], b[3], b[4]
		switch {
		case kind < 0 || kind > int(chunk.Table) || level < 0 || level > 6 || page < 0:
			return Document{}, w, nil, fmt.Errorf("block %d: kind %d, level %d, page %d", i, kind, level, page)
		case start < prev || end <= start || end > len(text):
			return Document{}, w, nil, fmt.Errorf("block %d: [%d, %d) out of order or outside the text", i, start, end)
		}
		doc.Blocks[i] = chunk.Block{Kind: chunk.Kind(kind), Level: level, Start: start, End: end, Page: page}
		prev = end
	}
	prevInfo := -1
	for _, bi := range w.BlockInfo {
		switch {
		case bi.Block <= prevInfo || bi.Block >= len(doc.Blocks):
			return Document{}, w, nil, fmt.Errorf("block info for block %d: out of order or no such block", bi.Block)
		case bi.HeaderRows < 0 || bi.HeaderRows > 0 && doc.Blocks[bi.Block].Kind != chunk.Table:
			return Document{}, w, nil, fmt.Errorf("block %d: %d header rows", bi.Block, bi.HeaderRows)
		case len(bi.Locator) > maxLocator || !utf8.ValidString(bi.Locator) || strings.ContainsFunc(bi.Locator, unicode.IsControl):
			return Document{}, w, nil, fmt.Errorf("block %d: bad locator", bi.Block)
		}
		blk := &doc.Blocks[bi.Block]
		if lines := strings.Count(text[blk.Start:blk.End], "\n") + 1; bi.HeaderRows >= lines {
			return Document{}, w, nil, fmt.Errorf("block %d: %d header rows of %d lines", bi.Block, bi.HeaderRows, lines)
		}
		blk.HeaderRows, blk.Locator, blk.OCR = bi.HeaderRows, bi.Locator, bi.OCR
		prevInfo = bi.Block
	}
	if len(w.Warnings) > maxWarnings {
		return Document{}, w, nil, fmt.Errorf("%d warnings", len(w.Warnings))
	}
	for _, x := range w.Warnings {
		if x.Reason != WarnTruncated && x.Reason != WarnHiddenSheet && x.Reason != WarnOCRFailed {
			return Document{}, w, nil, fmt.Errorf("warning reason %q", truncate(x.Reason, 32))
		}
		doc.Warnings = append(doc.Warnings, Warning{Reason: x.Reason, Message: truncate(x.Message, maxMessage)})
	}
	switch w.PageUnit {
	case "", PageUnitPage, PageUnitSlide:
		doc.PageUnit = w.PageUnit
	default:
		return Document{}, w, nil, fmt.Errorf("page unit %q", truncate(w.PageUnit, 32))
	}
	if err := w.OCR.check(); err != nil {
		return Document{}, w, nil, fmt.Errorf("decode: ocr: %w", err)
	}
	if w.Pages < 0 || len(w.PageStarts) > w.Pages {
		return Document{}, w, nil, fmt.Errorf("%d page starts for %d pages", len(w.PageStarts), w.Pages)
	}
	prev = 0
	for _, off := range w.PageStarts {
		if off < prev || off > len(text) {
			return Document{}, w, nil, fmt.Errorf("page start %d out of order or outside the text", off)
		}
		prev = off
	}
	for k, v := range w.Metadata {
		doc.Metadata[k] = fromWire(v)
	}
	return doc, w, rest, nil
}

// fromWire turns the numbers of decoded JSON into the types extraction produces: int64
// where the value is an integer that fits, else uint64, else float64.
func fromWire(v any) any {
	switch v := v.(type) {
	case json.Number:
		if i, err := v.Int64(); err == nil {
			return i
		}
		if u, err := strconv.ParseUint(v.String(), 10, 64); err == nil {
			return u
		}
		if f, err := v.Float64(); err == nil {
			return f
		}
		return v.String()
	case map[string]any:
		for k, e := range v {
			v[k] = fromWire(e)
		}
		return v
	case []any:
		for i, e := range v {
			v[i] = fromWire(e)
		}
		return v
	}
	return v
}
