package extract

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/docent-rag/docent/internal/chunk"
	"github.com/docent-rag/docent/internal/extract/textnorm"
)

// maxTitleRunes is the length below which the first line of a plain-text file, followed by
// a blank line, is taken for its title.
const maxTitleRunes = 100

// Text extracts a Markdown, HTML or plain-text file, choosing the extractor with Detect.
// A binary file is not an error: it is returned with Skip = SkipBinary. PDF and JSON Lines
// files have their own entry points and are an error here.
func Text(name string, data []byte) (Document, error) {
	f := Detect(name, data)
	if text := textExtractor(f); text != nil {
		return text(data)
	}
	if f == FormatBinary {
		doc := newDocument("application/octet-stream")
		doc.Skip = SkipBinary
		return doc, nil
	}
	return Document{}, fmt.Errorf("extract %s: a %s file needs its own extractor, not Text", name, f)
}

// textExtractor returns the extractor of a text format (Markdown, HTML, plain text), which
// needs neither a context nor a password, or nil for another format.
func textExtractor(f Format) func(data []byte) (Document, error) {
	switch f {
	case FormatMarkdown:
		return Markdown
	case FormatHTML:
		return HTML
	case FormatText:
		return PlainText
	}
	return nil
}

// PlainText extracts a plain-text file: paragraphs separated by blank lines become
// Paragraph blocks, with their line breaks and spacing collapsed. The title is the first
// line when it is short and followed by a blank line. Text that is not UTF-8 is read as
// Windows-1252 (see decodeText); binary content is skipped.
func PlainText(data []byte) (Document, error) {
	doc := newDocument("text/plain")
	s, ok := decodeInto(&doc, data, decodeText)
	if !ok {
		return doc, nil
	}
	var e emitter
	for _, para := range strings.Split(textnorm.Collapse(blankLines(s)), "\n\n") {
		e.paragraph(para)
	}
	doc.Document = e.document(plainTitle(s))
	return finish(doc), nil
}

// decodeInto returns data as text, read by decode (decodeText, decodeHTML), and notes in doc
// the charset it was read in when not UTF-8. Binary data is not read: doc is marked skipped
// (SkipBinary) and ok is false.
func decodeInto(doc *Document, data []byte, decode func([]byte) (text, charset string)) (s string, ok bool) {
	if isBinary(data) {
		doc.Skip = SkipBinary
		return "", false
	}
	s, enc := decode(data)
	if enc != "" {
		doc.Metadata["charset"] = enc
	}
	return s, true
}

// plainTitle returns the first non-blank line of s if it is shorter than maxTitleRunes and
// followed by a blank line and more text; otherwise "".
func plainTitle(s string) string {
	s = strings.TrimLeft(s, " \t\n\uFEFF")
	first, rest, ok := strings.Cut(s, "\n")
	if !ok {
		return ""
	}
	next, more, _ := strings.Cut(rest, "\n")
	if strings.TrimSpace(next) != "" || strings.TrimSpace(more) == "" {
		return ""
	}
	title := textnorm.CollapseLine(first)
	if utf8.RuneCountInString(title) >= maxTitleRunes || !hasWordChar(title) {
		return ""
	}
	return title
}

// blankLines empties the lines of s that hold only white space, so that textnorm.Collapse sees them
// as the paragraph breaks they are.
func blankLines(s string) string {
	var b strings.Builder
	copied := 0 // s[:copied] is in b once the first such line is found
	for start := 0; start < len(s); {
		end := strings.IndexByte(s[start:], '\n')
		if end < 0 {
			end = len(s)
		} else {
			end += start
		}
		if line := s[start:end]; line != "" && strings.TrimSpace(line) == "" {
			if b.Len() == 0 && copied == 0 {
				b.Grow(len(s))
			}
			b.WriteString(s[copied:start])
			copied = end
		}
		start = end + 1
	}
	if copied == 0 {
		return s
	}
	b.WriteString(s[copied:])
	return b.String()
}

// newDocument returns an empty document of the given content type, with its metadata map.
func newDocument(contentType string) Document {
	return Document{ContentType: contentType, Metadata: map[string]any{}}
}

// noteKey is the Metadata key of what an extractor did to keep within its bounds (nesting
// flattened, markup ignored), for whoever wonders why a document reads as it does.
const noteKey = "extract_note"

// addNote adds a note to doc's Metadata[noteKey].
func addNote(doc *Document, note string) {
	if prev, ok := doc.Metadata[noteKey].(string); ok && prev != "" {
		note = prev + "; " + note
	}
	doc.Metadata[noteKey] = note
}

// finish marks a document without any block as empty, unless it is already skipped.
func finish(doc Document) Document {
	if len(doc.Blocks) == 0 && doc.Skip == "" {
		doc.Skip = SkipEmpty
	}
	return doc
}

// emitter turns the structure an extractor walks into blocks. It adds what a builder
// cannot know: list items. Text inside an open list item is held back and becomes one
// ListItem block, prefixed with the item's marker ("- ", "3. "), when the item closes or
// when another block (a nested list, code, a table) interrupts it; text after such an
// interruption becomes a further ListItem block without the marker.
type emitter struct {
	b     builder
	items []*listItem // open list items, innermost last
}

type listItem struct {
	marker  string
	pending []string // paragraphs of the item not yet emitted
	marked  bool     // the marker has been emitted
}

// paragraph adds running text (normalised by the caller): a Paragraph block, or part of the
// innermost open list item. Text without a letter or digit (a stray ",", a row of dashes)
// carries nothing to retrieve and is dropped.
func (e *emitter) paragraph(text string) {
	text = strings.TrimSpace(text)
	if !hasWordChar(text) {
		return
	}
	if n := len(e.items); n > 0 {
		it := e.items[n-1]
		it.pending = append(it.pending, text)
		return
	}
	e.b.add(chunk.Paragraph, 0, 0, text)
}

// block adds a block of another kind, after the text of the open list item. Like
// paragraph, it drops headings and tables without a letter or digit; code is kept if not
// blank.
func (e *emitter) block(kind chunk.Kind, level int, text string) {
	if strings.TrimSpace(text) == "" || kind != chunk.Code && !hasWordChar(text) {
		return
	}
	e.flushItem()
	e.b.add(kind, level, 0, text)
}

// openItem starts a list item whose text will be prefixed with marker.
func (e *emitter) openItem(marker string) {
	e.flushItem()
	e.items = append(e.items, &listItem{marker: marker})
}

// closeItem ends the innermost list item.
func (e *emitter) closeItem() {
	e.flushItem()
	if n := len(e.items); n > 0 {
		e.items = e.items[:n-1]
	}
}

func (e *emitter) flushItem() {
	n := len(e.items)
	if n == 0 {
		return
	}
	it := e.items[n-1]
	if len(it.pending) == 0 {
		return
	}
	text := strings.Join(it.pending, "\n\n")
	if !it.marked {
		text = it.marker + text
		it.marked = true
	}
	it.pending = it.pending[:0]
	e.b.add(chunk.ListItem, 0, 0, text)
}

// document closes any open list items and returns the assembled document.
func (e *emitter) document(title string) chunk.Document {
	for len(e.items) > 0 {
		e.closeItem()
	}
	return e.b.document(title)
}

// hasWordChar reports whether s has a letter or a digit.
func hasWordChar(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }) >= 0
}

// sanitize removes from source text the control characters that extractors use as markers
// (hardBreak, protectStart, protectEnd). textnorm.Clean would remove them anyway.
func sanitize(s string) string {
	if strings.IndexByte(s, hardBreak) < 0 && strings.IndexByte(s, protectStart) < 0 && strings.IndexByte(s, protectEnd) < 0 {
		return s
	}
	return strings.Map(func(r rune) rune {
		if r == hardBreak || r == protectStart || r == protectEnd {
			return -1
		}
		return r
	}, s)
}

// paragraphText normalises collected running text: template actions outside protected
// (code) spans are removed when stripActions is set, the markers are resolved, and each
// hard-broken line is collapsed (see textnorm.Collapse) and kept on its own line.
func paragraphText(s string, stripActions bool) string {
	s = resolveMarkers(s, stripActions)
	if strings.IndexByte(s, hardBreak) < 0 {
		return textnorm.Collapse(s)
	}
	var lines []string
	for part := range strings.SplitSeq(s, string(rune(hardBreak))) {
		if p := textnorm.Collapse(part); p != "" {
			lines = append(lines, p)
		}
	}
	return strings.Join(lines, "\n")
}

// lineText normalises collected text that is one line by nature (a heading, a table cell),
// as paragraphText does but with everything on one line.
func lineText(s string, stripActions bool) string {
	return textnorm.CollapseLine(strings.ReplaceAll(resolveMarkers(s, stripActions), string(rune(hardBreak)), " "))
}

// resolveMarkers removes template actions outside protected spans, if asked, and then the
// protection markers.
func resolveMarkers(s string, stripActions bool) string {
	if stripActions {
		s = expandDirectives(s, nil, false)
	}
	if strings.IndexByte(s, protectStart) < 0 && strings.IndexByte(s, protectEnd) < 0 {
		return s
	}
	return strings.Map(func(r rune) rune {
		if r == protectStart || r == protectEnd {
			return -1
		}
		return r
	}, s)
}

// codeText normalises preformatted text: textnorm.Clean, no leading blank lines or trailing white
// space, and the indentation that all its lines share removed (the builder trims the first
// line, which would otherwise lose its indentation alone).
func codeText(s string) string {
	s = textnorm.Clean(s)
	s = strings.TrimRight(s, " \t\n")
	for {
		line, rest, ok := strings.Cut(s, "\n")
		if !ok || strings.TrimSpace(line) != "" {
			break
		}
		s = rest
	}
	if strings.TrimSpace(s) == "" {
		return ""
	}
	return dedent(s)
}

// dedent removes the longest run of leading spaces and tabs common to all non-blank lines.
func dedent(s string) string {
	prefix := ""
	first := true
	for line := range strings.SplitSeq(s, "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		indent := line[:len(line)-len(strings.TrimLeft(line, " \t"))]
		if first {
			prefix, first = indent, false
			continue
		}
		for !strings.HasPrefix(indent, prefix) {
			prefix = prefix[:len(prefix)-1]
		}
		if prefix == "" {
			return s
		}
	}
	if prefix == "" {
		return s
	}
	lines := strings.Split(s, "\n")
	for i, line := range lines {
		lines[i] = strings.TrimPrefix(line, prefix)
	}
	return strings.Join(lines, "\n")
}
