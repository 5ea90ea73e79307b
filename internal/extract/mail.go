package extract

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"path"
	"strings"
	"time"

	"golang.org/x/text/encoding/htmlindex"

	"github.com/docent-rag/docent/internal/chunk"
	"github.com/docent-rag/docent/internal/extract/textnorm"
)

// E-mail: an .eml file is one message (RFC 5322, MIME), an .mbox file a mailbox of them.
//
// A message's document starts with a paragraph of its headers (From, To, Cc, Date,
// Subject), which are also its metadata; its title is the Subject. Its text is the inline
// text of its body: of a multipart/alternative, the text/plain part, else the text/html
// part (through the HTML extractor); of other multiparts (mixed, related ...), every inline
// text part in order. Every other part is an attachment: one in a format Docent reads (PDF,
// Markdown, HTML, text, CSV, RTF, EPUB, an attached message, a legacy office file when
// LibreOffice is installed) becomes a document of its own, a Part named
// "attachment/<n>/<file name>", n counting the message's attachments from 1; the others
// (images, archives) are listed in the metadata only.
//
// A mailbox's messages are Parts named "message/<n>" (n from 1, in file order), and their
// attachments "message/<n>/attachment/<k>/<file name>"; the mailbox file itself is a
// container (Skip = SkipContainer).
//
// Everything is bounded: MIME parts walked per message, multipart nesting, the decoded size
// of a part, attachments per message, messages per mailbox; what a bound cuts is said in
// the document's extract_note.

// Bounds of e-mail extraction.
const (
	mailMaxParts       = 1_000    // MIME parts walked per message
	mailMaxDepth       = 16       // nesting of multiparts
	mailMaxDecoded     = 32 << 20 // bytes of a part once decoded (base64, quoted-printable)
	mailMaxAttachments = 100      // attachments extracted per message
	mailMaxBodyParts   = 100      // inline text parts joined into a message's body
	mboxMaxMessages    = 5_000    // messages per mailbox
)

// EML extracts one e-mail message, its attachments as Parts (without OCR: the child
// extracts with it).
func EML(data []byte) (Document, error) {
	return emlMessage(context.Background(), data, "attachment", true, nil)
}

// emlMessage extracts a message; its attachments' fragments start with prefix. Without
// attachments (an attached message) they are only listed. Scanned PDF attachments (and
// images, when ocr recognises them) are recognised with ocr (nil: no OCR), from the file's
// page budget; an image left out because images are not recognised in this OCR mode makes
// the message pending (OCRReport.Pending), so that a run in another mode extracts it again.
func emlMessage(ctx context.Context, data []byte, prefix string, attachments bool, ocr *OCR) (Document, error) {
	msg, err := mail.ReadMessage(bufio.NewReader(bytes.NewReader(data)))
	if err != nil {
		return Document{}, &Error{Reason: ReasonInvalid, Err: fmt.Errorf("not an e-mail message: %w", err)}
	}
	w := &mailWalker{}
	w.walk(textproto.MIMEHeader(msg.Header), msg.Body, 0, false)
	doc := w.body()
	doc.ContentType = "message/rfc822"
	meta, header := mailHeaders(msg.Header)
	for k, v := range meta {
		doc.Metadata[k] = v
	}
	if s, ok := meta["subject"].(string); ok && s != "" {
		doc.Title = s
	}
	prependParagraph(&doc, header)
	var names []string
	for i, a := range w.attachments {
		names = append(names, a.name+" ("+a.mediaType+")")
		if !attachments || i >= mailMaxAttachments || len(a.data) == 0 {
			continue
		}
		p, ok, imageOff := attachmentPart(ctx, a, partFragment(prefix, i+1, a.name), ocr)
		if ok {
			doc.Parts = append(doc.Parts, p)
		}
		if imageOff {
			doc.OCR.Pending = pendingMode + string(ocr.mode())
		}
	}
	if len(names) > 0 {
		doc.Metadata["attachments"] = names
	}
	if len(w.attachments) > mailMaxAttachments && attachments {
		w.note(fmt.Sprintf("only the first %d attachments are extracted", mailMaxAttachments))
	}
	if len(w.notes) > 0 {
		addNote(&doc, strings.Join(w.notes, "; "))
	}
	if len(doc.Blocks) == 0 {
		doc.Skip = SkipEmpty
	} else {
		doc.Skip = ""
	}
	return doc, nil
}

// mailHeaders returns a message's headers as metadata and as the paragraph that starts its
// text. Encoded words (RFC 2047) are decoded; a date that parses is given in RFC 3339.
func mailHeaders(h mail.Header) (map[string]any, string) {
	meta := map[string]any{}
	var lines []string
	for _, k := range []string{"From", "To", "Cc", "Date", "Subject"} {
		v := textnorm.CollapseLine(decodeWords(h.Get(k)))
		if v == "" {
			continue
		}
		lines = append(lines, k+": "+v)
		key := strings.ToLower(k)
		meta[key] = v
		if k == "Date" {
			if t, err := mail.ParseDate(v); err == nil {
				meta[key] = t.UTC().Format(time.RFC3339)
			}
		}
	}
	if id := strings.TrimSpace(h.Get("Message-Id")); id != "" {
		meta["message_id"] = truncate(textnorm.CollapseLine(id), 256)
	}
	return meta, strings.Join(lines, "\n")
}

// wordDecoder decodes RFC 2047 encoded words in any charset x/text knows.
var wordDecoder = &mime.WordDecoder{CharsetReader: func(charset string, r io.Reader) (io.Reader, error) {
	enc, err := htmlindex.Get(charset)
	if err != nil {
		return nil, err
	}
	return enc.NewDecoder().Reader(r), nil
}}

// decodeWords decodes a header's encoded words; a header that does not decode is kept as is.
func decodeWords(s string) string {
	if out, err := wordDecoder.DecodeHeader(s); err == nil {
		return out
	}
	return s
}

// prependParagraph puts a paragraph before a document's blocks.
func prependParagraph(doc *Document, text string) {
	text = strings.TrimSpace(textnorm.Clean(text))
	if text == "" {
		return
	}
	shift := len(text)
	if doc.Text != "" {
		shift += len("\n\n")
		doc.Text = text + "\n\n" + doc.Text
	} else {
		doc.Text = text
	}
	for i := range doc.Blocks {
		doc.Blocks[i].Start += shift
		doc.Blocks[i].End += shift
	}
	for i := range doc.PageStarts {
		doc.PageStarts[i] += shift
	}
	doc.Blocks = append([]chunk.Block{{Kind: chunk.Paragraph, Start: 0, End: len(text)}}, doc.Blocks...)
}

// mailWalker walks a message's MIME tree, collecting its inline text and its attachments.
type mailWalker struct {
	texts       []mailText
	attachments []mailAttachment
	parts       int
	notes       []string
	noted       map[string]bool
}

type mailText struct {
	html bool
	text []byte // UTF-8
}

type mailAttachment struct {
	name      string
	mediaType string
	data      []byte
}

func (w *mailWalker) note(s string) {
	if w.noted == nil {
		w.noted = map[string]bool{}
	}
	if !w.noted[s] {
		w.noted[s] = true
		w.notes = append(w.notes, s)
	}
}

// walk reads one MIME entity. skipText: its inline text is not the body (another
// alternative is); only its attachments are kept.
func (w *mailWalker) walk(h textproto.MIMEHeader, body io.Reader, depth int, skipText bool) {
	w.parts++
	if w.parts > mailMaxParts {
		w.note(fmt.Sprintf("only the first %d MIME parts are read", mailMaxParts))
		return
	}
	mediaType, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil || mediaType == "" {
		mediaType, params = "text/plain", map[string]string{}
	}
	disposition, dparams, _ := mime.ParseMediaType(h.Get("Content-Disposition"))
	name := decodeWords(cmp.Or(dparams["filename"], params["name"]))
	if strings.HasPrefix(mediaType, "multipart/") {
		if depth >= mailMaxDepth {
			w.note(fmt.Sprintf("multiparts nested deeper than %d are not read", mailMaxDepth))
			return
		}
		boundary := params["boundary"]
		if boundary == "" {
			w.note("a multipart without a boundary is not read")
			return
		}
		w.multipart(mediaType, multipart.NewReader(decodeTransfer(h, body), boundary), depth, skipText)
		return
	}
	data, err := io.ReadAll(io.LimitReader(decodeTransfer(h, body), mailMaxDecoded+1))
	if err != nil {
		w.note(fmt.Sprintf("a %s part could not be decoded: %v", mediaType, err))
		if len(data) == 0 {
			return
		}
	}
	if len(data) > mailMaxDecoded {
		w.note(fmt.Sprintf("a %s part larger than %d MiB is not read", mediaType, mailMaxDecoded>>20))
		return
	}
	inline := disposition != "attachment" && name == ""
	if inline && (mediaType == "text/plain" || mediaType == "text/html") {
		if !skipText && len(w.texts) < mailMaxBodyParts {
			w.texts = append(w.texts, mailText{html: mediaType == "text/html", text: toUTF8(data, params["charset"])})
		}
		return
	}
	if name = fragmentName(name); name == "" {
		name = "part" + extensionFor(mediaType)
	}
	w.attachments = append(w.attachments, mailAttachment{name: name, mediaType: mediaType, data: data})
}

// multipart reads the parts of a multipart entity. Of an alternative, only the richest
// text the extractors read well is kept as body: text/plain, else text/html, else the
// first part.
func (w *mailWalker) multipart(mediaType string, mr *multipart.Reader, depth int, skipText bool) {
	type raw struct {
		h    textproto.MIMEHeader
		body []byte
	}
	var parts []raw
	for {
		p, err := mr.NextRawPart()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				w.note(fmt.Sprintf("a multipart ends early: %v", err))
			}
			break
		}
		if w.parts+len(parts) >= mailMaxParts {
			w.note(fmt.Sprintf("only the first %d MIME parts are read", mailMaxParts))
			break
		}
		body, err := io.ReadAll(io.LimitReader(p, 2*mailMaxDecoded))
		if err != nil && len(body) == 0 {
			w.note(fmt.Sprintf("a part could not be read: %v", err))
			continue
		}
		parts = append(parts, raw{p.Header, body})
	}
	if mediaType == "multipart/alternative" && !skipText {
		best := -1
		for _, want := range []string{"text/plain", "text/html", "multipart/"} {
			for i, p := range parts {
				mt, _, _ := mime.ParseMediaType(p.h.Get("Content-Type"))
				if best < 0 && strings.HasPrefix(cmp.Or(mt, "text/plain"), want) {
					best = i
				}
			}
		}
		if best >= 0 {
			// The body is the best alternative; the others may still carry attachments.
			for i, p := range parts {
				w.walk(p.h, bytes.NewReader(p.body), depth+1, i != best)
			}
			return
		}
	}
	for _, p := range parts {
		w.walk(p.h, bytes.NewReader(p.body), depth+1, skipText)
	}
}

// decodeTransfer undoes a part's Content-Transfer-Encoding.
func decodeTransfer(h textproto.MIMEHeader, body io.Reader) io.Reader {
	switch strings.ToLower(strings.TrimSpace(h.Get("Content-Transfer-Encoding"))) {
	case "base64":
		return base64.NewDecoder(base64.StdEncoding, &base64Filter{r: body})
	case "quoted-printable":
		return quotedprintable.NewReader(body)
	}
	return body
}

// base64Filter drops what is not base64 from a part (line ends, spaces, stray
// characters), and what follows its padding, as mail readers do.
type base64Filter struct {
	r    io.Reader
	done bool
}

func (f *base64Filter) Read(p []byte) (int, error) {
	for {
		if f.done {
			return 0, io.EOF
		}
		n, err := f.r.Read(p)
		k := 0
		for _, c := range p[:n] {
			switch {
			case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '+', c == '/':
				p[k] = c
				k++
			case c == '=':
				p[k] = c
				k++
			}
		}
		if k > 0 || err != nil {
			return k, err
		}
	}
}

// toUTF8 converts text in charset to UTF-8; an unknown charset leaves the bytes to
// decodeText's guess.
func toUTF8(data []byte, charset string) []byte {
	charset = strings.ToLower(strings.TrimSpace(charset))
	if charset == "" || charset == "utf-8" || charset == "us-ascii" || charset == "utf8" {
		return data
	}
	enc, err := htmlindex.Get(charset)
	if err != nil {
		return data
	}
	out, err := enc.NewDecoder().Bytes(data)
	if err != nil {
		return data
	}
	return out
}

// body builds the message's document from its inline texts.
func (w *mailWalker) body() Document {
	doc := newDocument("message/rfc822")
	var e emitter
	for _, t := range w.texts {
		var part Document
		var err error
		if t.html {
			part, err = HTML(t.text)
			if err == nil && doc.Title == "" {
				doc.Title = part.Title
			}
		} else {
			part, err = PlainText(t.text)
		}
		if err != nil {
			w.note(fmt.Sprintf("a text part could not be read: %v", err))
			continue
		}
		for _, b := range part.Blocks {
			e.block(b.Kind, b.Level, part.Text[b.Start:b.End])
		}
	}
	title := doc.Title
	doc.Document = e.document("")
	doc.Title = title
	return doc
}

// attachmentPart extracts an attachment whose format Docent reads, as a Part; ok is false
// for a format it does not (the attachment is then only listed), and for an image when ocr
// does not recognise images (imageOff).
func attachmentPart(ctx context.Context, a mailAttachment, fragment string, ocr *OCR) (p Part, ok, imageOff bool) {
	name := a.name
	if path.Ext(name) == "" {
		name += extensionFor(a.mediaType)
	}
	format := Detect(name, a.data)
	switch format {
	case FormatBinary, FormatJSONL, FormatMBOX:
		return Part{}, false, false
	case FormatImage:
		if !ocr.ImagesEnabled() {
			return Part{}, false, true
		}
	}
	p.Fragment = fragment
	doc, err := extractEmbedded(ctx, format, a.data, ocr)
	if err != nil {
		p.Err = err
		p.Document = newDocument("")
		if ocr != nil {
			// The pages it used, for the parent's accounting of the run's budget.
			p.Document.OCR, _ = ocr.takeReport()
		}
		return p, true, false
	}
	finishOCR(&doc, ocr)
	doc.Parts, doc.ACL, doc.URL, doc.URLRefused = nil, nil, "", ""
	if doc.Title == "" {
		doc.Title = a.name
	}
	doc.Metadata["attachment"] = a.name
	doc.Metadata["attachment_type"] = a.mediaType
	p.Document = doc
	return p, true, false
}

// extractEmbedded extracts a file found inside another (an attachment): as the child
// would, but an attached message's own attachments are not extracted, and a panic fails
// this file only.
func extractEmbedded(ctx context.Context, format Format, data []byte, ocr *OCR) (doc Document, err error) {
	defer func() {
		if v := recover(); v != nil {
			doc, err = Document{}, &Error{Reason: ReasonCrash, Err: fmt.Errorf("panic: %v", v)}
		}
	}()
	if format == FormatEML {
		return emlMessage(ctx, data, "", false, ocr)
	}
	return extractFormat(ctx, format, data, "", ocr)
}

// extensionFor is the file extension of a media type, for attachments without a name.
func extensionFor(mediaType string) string {
	switch mediaType {
	case "application/pdf":
		return ".pdf"
	case "text/html":
		return ".html"
	case "text/markdown":
		return ".md"
	case "text/csv":
		return ".csv"
	case "text/tab-separated-values":
		return ".tsv"
	case "text/rtf", "application/rtf":
		return ".rtf"
	case "application/epub+zip":
		return ".epub"
	case "message/rfc822":
		return ".eml"
	case "application/msword":
		return ".doc"
	case "application/vnd.ms-excel":
		return ".xls"
	case "application/vnd.ms-powerpoint":
		return ".ppt"
	case "application/vnd.openxmlformats-officedocument.wordprocessingml.document":
		return ".docx"
	case "application/vnd.ms-word.document.macroEnabled.12":
		return ".docm"
	case "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet":
		return ".xlsx"
	case "application/vnd.ms-excel.sheet.macroEnabled.12":
		return ".xlsm"
	case "application/vnd.openxmlformats-officedocument.presentationml.presentation":
		return ".pptx"
	case "application/vnd.ms-powerpoint.presentation.macroEnabled.12":
		return ".pptm"
	case "application/vnd.oasis.opendocument.text":
		return ".odt"
	case "application/vnd.oasis.opendocument.spreadsheet":
		return ".ods"
	case "application/vnd.oasis.opendocument.presentation":
		return ".odp"
	case "text/plain":
		return ".txt"
	}
	if strings.HasPrefix(mediaType, "text/") {
		return ".txt"
	}
	return ".bin"
}

// MBOX extracts a mailbox: each message (with its attachments) is a Part; the file's own
// document is a container. Without OCR: the child extracts with it.
func MBOX(data []byte) (Document, error) {
	return mboxExtract(context.Background(), data, nil)
}

// mboxExtract is MBOX, its attachments recognised with ocr as EML's are.
func mboxExtract(ctx context.Context, data []byte, ocr *OCR) (Document, error) {
	doc := newDocument("application/mbox")
	doc.Skip = SkipContainer
	msgs, truncated := SplitMBOX(data)
	doc.Metadata["messages"] = int64(len(msgs))
	if truncated {
		doc.Metadata["truncated"] = true
		addNote(&doc, fmt.Sprintf("truncated: only the first %d messages are read", mboxMaxMessages))
	}
	if len(msgs) == 0 && len(bytes.TrimSpace(data)) > 0 {
		return Document{}, &Error{Reason: ReasonInvalid, Err: errors.New(`not a mailbox: no line starts with "From " followed by a header`)}
	}
	for i, m := range msgs {
		prefix := fmt.Sprintf("message/%d", i+1)
		if len(doc.Parts) >= maxParts {
			doc.Metadata["truncated"] = true
			addNote(&doc, fmt.Sprintf("truncated: at most %d documents per file", maxParts))
			break
		}
		msg, err := emlMessage(ctx, m, prefix+"/attachment", true, ocr)
		attached := msg.Parts
		msg.Parts = nil
		doc.Parts = append(doc.Parts, Part{Fragment: prefix, Document: msg, Err: err})
		for _, a := range attached {
			if len(doc.Parts) >= maxParts {
				break
			}
			doc.Parts = append(doc.Parts, a)
		}
	}
	return doc, nil
}

// SplitMBOX splits a mailbox into its messages (mboxo and mboxrd): a message starts at a
// line beginning "From " (the envelope line, dropped) that starts the file or follows a
// blank line, or is followed by a header line ("Name: value"); in its body, lines quoted as
// ">From " (any number of '>') lose one '>'. At most mboxMaxMessages are returned;
// truncated says that there were more.
func SplitMBOX(data []byte) (msgs [][]byte, truncated bool) {
	data = bytes.TrimPrefix(data, []byte("\xEF\xBB\xBF"))
	var starts []int // offsets of envelope lines
	prevBlank := true
	for off := 0; off < len(data); {
		end := bytes.IndexByte(data[off:], '\n')
		if end < 0 {
			end = len(data)
		} else {
			end += off
		}
		line := data[off:end]
		if bytes.HasPrefix(line, []byte("From ")) && (prevBlank || looksLikeHeader(data[min(end+1, len(data)):])) {
			starts = append(starts, off)
		}
		prevBlank = len(bytes.TrimRight(line, "\r")) == 0
		off = end + 1
	}
	for i, s := range starts {
		if len(msgs) == mboxMaxMessages {
			return msgs, true
		}
		end := len(data)
		if i+1 < len(starts) {
			end = starts[i+1]
		}
		body := data[s:end]
		if nl := bytes.IndexByte(body, '\n'); nl >= 0 {
			body = body[nl+1:]
		} else {
			body = nil
		}
		msgs = append(msgs, unquoteFrom(body))
	}
	return msgs, false
}

// looksLikeHeader reports whether rest starts with a header field line: a name of
// printable characters without spaces, then ':'.
func looksLikeHeader(rest []byte) bool {
	line := rest
	if i := bytes.IndexByte(rest, '\n'); i >= 0 {
		line = rest[:i]
	}
	colon := bytes.IndexByte(line, ':')
	if colon <= 0 {
		return false
	}
	for _, c := range line[:colon] {
		if c <= ' ' || c > '~' {
			return false
		}
	}
	return true
}

// unquoteFrom removes one '>' from the lines of a message that start with ">From " after
// any number of '>'.
func unquoteFrom(msg []byte) []byte {
	if !bytes.Contains(msg, []byte(">From ")) {
		return msg
	}
	var out bytes.Buffer
	out.Grow(len(msg))
	for line := range bytes.Lines(msg) {
		if t := bytes.TrimLeft(line, ">"); len(t) < len(line) && bytes.HasPrefix(t, []byte("From ")) {
			line = line[1:]
		}
		out.Write(line)
	}
	return out.Bytes()
}
