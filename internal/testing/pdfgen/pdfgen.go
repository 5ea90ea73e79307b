// Package pdfgen writes simple PDF files: pages of text lines set in Helvetica, with an
// optional document title and author, and optional running header and footer lines. The
// project uses it to make its own test and demo PDFs without a dependency; it is not a
// layout engine.
//
// The output is PDF 1.4 with uncompressed content streams, one standard Type 1 font
// (Helvetica, WinAnsiEncoding, with its widths) and a cross-reference table, readable by
// any PDF reader. Text must be representable in WinAnsiEncoding (Windows-1252): ASCII,
// Latin-1 and a few typographic characters such as “ ” – — … € •.
package pdfgen

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Document is a PDF to write.
type Document struct {
	Title  string // document information /Title; omitted when empty
	Author string // document information /Author; omitted when empty
	// Header and Footer, when not empty, are drawn at the top and bottom of every page in a
	// smaller size; "{page}" in them is replaced by the page number and "{pages}" by the
	// number of pages.
	Header string
	Footer string
	Pages  []Page
}

// Page is one page of body text.
type Page struct {
	// Lines are drawn top to bottom. A line wider than the text area is wrapped at spaces;
	// an empty line leaves a blank line, which readers take as a paragraph break.
	Lines []string
}

// Page geometry in points: US Letter with one-inch margins.
const (
	PageWidth  = 612
	PageHeight = 792
	Margin     = 72
	FontSize   = 11 // body text
	Leading    = 14 // body line spacing
	// LinesPerPage is how many body lines (after wrapping) fit on a page.
	LinesPerPage = (PageHeight - 2*Margin) / Leading

	runningSize = 9 // header and footer text
	textWidth   = PageWidth - 2*Margin
)

// Write writes d as a PDF file to w. It fails, writing nothing, when a text contains a
// character WinAnsiEncoding cannot represent or a page's lines do not fit on it.
func Write(w io.Writer, d Document) error {
	if len(d.Pages) == 0 {
		return errors.New("pdfgen: no pages")
	}
	type page struct{ header, footer, body []byte }
	pages := make([]page, len(d.Pages))
	for i, p := range d.Pages {
		var lines [][]byte
		for j, l := range p.Lines {
			enc, err := encode(l)
			if err != nil {
				return fmt.Errorf("pdfgen: page %d line %d: %w", i+1, j+1, err)
			}
			lines = append(lines, wrap(enc, FontSize, textWidth)...)
		}
		if len(lines) > LinesPerPage {
			return fmt.Errorf("pdfgen: page %d has %d lines after wrapping; %d fit", i+1, len(lines), LinesPerPage)
		}
		for _, r := range []struct {
			text string
			dst  *[]byte
		}{{d.Header, &pages[i].header}, {d.Footer, &pages[i].footer}} {
			if r.text == "" {
				continue
			}
			text := strings.ReplaceAll(r.text, "{page}", strconv.Itoa(i+1))
			enc, err := encode(strings.ReplaceAll(text, "{pages}", strconv.Itoa(len(d.Pages))))
			if err != nil {
				return fmt.Errorf("pdfgen: page %d header or footer: %w", i+1, err)
			}
			*r.dst = enc
		}
		pages[i].body = content(lines, pages[i].header, pages[i].footer)
	}
	var info []byte
	if d.Title != "" || d.Author != "" {
		var b strings.Builder
		b.WriteString("<<")
		if d.Title != "" {
			b.WriteString(" /Title " + textString(d.Title))
		}
		if d.Author != "" {
			b.WriteString(" /Author " + textString(d.Author))
		}
		b.WriteString(" /Producer (Docent pdfgen) >>")
		info = []byte(b.String())
	}

	// Objects: 1 catalog, 2 page tree, 3 font, [4 info], then a page and its content per page.
	pw := &pdfWriter{w: bufio.NewWriter(w)}
	pw.printf("%%PDF-1.4\n%%\xe2\xe3\xcf\xd3\n")
	first := 4
	if info != nil {
		first = 5
	}
	var kids strings.Builder
	for i := range pages {
		fmt.Fprintf(&kids, "%d 0 R ", first+2*i)
	}
	pw.object("<< /Type /Catalog /Pages 2 0 R >>")
	pw.object(fmt.Sprintf("<< /Type /Pages /Kids [ %s] /Count %d /MediaBox [0 0 %d %d] >>", kids.String(), len(pages), PageWidth, PageHeight))
	pw.object(fontDict())
	if info != nil {
		pw.object(string(info))
	}
	for i, p := range pages {
		pw.object(fmt.Sprintf("<< /Type /Page /Parent 2 0 R /Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>", first+2*i+1))
		pw.stream(p.body)
	}
	xref := pw.n
	pw.printf("xref\n0 %d\n0000000000 65535 f \n", len(pw.offsets)+1)
	for _, off := range pw.offsets {
		pw.printf("%010d 00000 n \n", off)
	}
	trailer := fmt.Sprintf("<< /Size %d /Root 1 0 R", len(pw.offsets)+1)
	if info != nil {
		trailer += " /Info 4 0 R"
	}
	pw.printf("trailer\n%s >>\nstartxref\n%d\n%%%%EOF\n", trailer, xref)
	if pw.err != nil {
		return fmt.Errorf("pdfgen: %w", pw.err)
	}
	if err := pw.w.Flush(); err != nil {
		return fmt.Errorf("pdfgen: %w", err)
	}
	return nil
}

// Flow sets paragraphs as running text: each paragraph wrapped to the text width, a blank
// line between paragraphs, and a new page whenever a page is full. It is for demo documents
// longer than a page; the result goes into Document.Pages.
func Flow(paragraphs ...string) ([]Page, error) {
	var pages []Page
	var cur []string
	for i, para := range paragraphs {
		enc, err := encode(strings.Join(strings.Fields(para), " "))
		if err != nil {
			return nil, fmt.Errorf("pdfgen: paragraph %d: %w", i+1, err)
		}
		lines := wrap(enc, FontSize, textWidth)
		if len(cur) > 0 {
			if len(cur)+1 >= LinesPerPage {
				pages = append(pages, Page{Lines: cur})
				cur = nil
			} else {
				cur = append(cur, "")
			}
		}
		for _, l := range lines {
			if len(cur) == LinesPerPage {
				pages = append(pages, Page{Lines: cur})
				cur = nil
			}
			cur = append(cur, decode(l))
		}
	}
	if len(cur) > 0 || len(pages) == 0 {
		pages = append(pages, Page{Lines: cur})
	}
	return pages, nil
}

// pdfWriter writes numbered objects and remembers their offsets for the xref table.
type pdfWriter struct {
	w       *bufio.Writer
	n       int   // bytes written
	offsets []int // offset of object i+1
	err     error
}

func (pw *pdfWriter) printf(format string, args ...any) {
	if pw.err != nil {
		return
	}
	n, err := fmt.Fprintf(pw.w, format, args...)
	pw.n += n
	pw.err = err
}

func (pw *pdfWriter) object(body string) {
	pw.offsets = append(pw.offsets, pw.n)
	pw.printf("%d 0 obj\n%s\nendobj\n", len(pw.offsets), body)
}

func (pw *pdfWriter) stream(data []byte) {
	pw.offsets = append(pw.offsets, pw.n)
	pw.printf("%d 0 obj\n<< /Length %d >>\nstream\n%s\nendstream\nendobj\n", len(pw.offsets), len(data), data)
}

// content returns a page's content stream: the body lines from the top margin down, the
// header above them and the footer below.
func content(lines [][]byte, header, footer []byte) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "BT\n/F1 %d Tf\n%d TL\n%d %d Td\n", FontSize, Leading, Margin, PageHeight-Margin-FontSize)
	for i, l := range lines {
		if i > 0 {
			b.WriteString("T*\n")
		}
		if len(l) > 0 {
			b.WriteString(literal(l) + " Tj\n")
		}
	}
	b.WriteString("ET\n")
	if len(header) > 0 {
		fmt.Fprintf(&b, "BT\n/F1 %d Tf\n%d %d Td\n%s Tj\nET\n", runningSize, Margin, PageHeight-Margin/2, literal(header))
	}
	if len(footer) > 0 {
		fmt.Fprintf(&b, "BT\n/F1 %d Tf\n%d %d Td\n%s Tj\nET\n", runningSize, Margin, Margin/2, literal(footer))
	}
	return []byte(b.String())
}

// literal returns s as a PDF literal string.
func literal(s []byte) string {
	var b strings.Builder
	b.WriteByte('(')
	for _, c := range s {
		switch c {
		case '(', ')', '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte(')')
	return b.String()
}

// textString returns s as a PDF text string (for the information dictionary): a literal
// string when s is ASCII, else UTF-16BE with a byte-order mark, in hex.
func textString(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			ascii = false
			break
		}
	}
	if ascii {
		return literal([]byte(s))
	}
	var b strings.Builder
	b.WriteString("<FEFF")
	for _, r := range s {
		if r > 0xffff {
			r -= 0x10000
			fmt.Fprintf(&b, "%04X%04X", 0xd800+(r>>10), 0xdc00+(r&0x3ff))
			continue
		}
		if !utf8.ValidRune(r) {
			r = utf8.RuneError
		}
		fmt.Fprintf(&b, "%04X", r)
	}
	b.WriteByte('>')
	return b.String()
}

// fontDict is Helvetica with WinAnsiEncoding and its glyph widths, so that readers (and
// text extractors that measure gaps between words) know where each glyph ends.
func fontDict() string {
	var b strings.Builder
	b.WriteString("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding /FirstChar 32 /LastChar 255 /Widths [")
	for c := 32; c <= 255; c++ {
		if c%16 == 0 {
			b.WriteByte('\n')
		} else if c > 32 {
			b.WriteByte(' ')
		}
		b.WriteString(strconv.Itoa(int(helveticaWidths[c])))
	}
	b.WriteString("] >>")
	return b.String()
}

// encode converts s to WinAnsiEncoding bytes.
func encode(s string) ([]byte, error) {
	out := make([]byte, 0, len(s))
	for i, r := range s {
		switch {
		case r == utf8.RuneError && !strings.HasPrefix(s[i:], "\uFFFD"):
			return nil, fmt.Errorf("invalid UTF-8 at byte %d", i)
		case r == '\t':
			out = append(out, ' ')
		case r >= 0x20 && r < 0x7f || r >= 0xa0 && r <= 0xff:
			out = append(out, byte(r))
		default:
			c, ok := winAnsiHigh[r]
			if !ok {
				return nil, fmt.Errorf("character %q (U+%04X) is not in WinAnsiEncoding", r, r)
			}
			out = append(out, c)
		}
	}
	return out, nil
}

// decode converts WinAnsiEncoding bytes back to a string.
func decode(b []byte) string {
	var s strings.Builder
	for _, c := range b {
		if c >= 0x80 && c < 0xa0 {
			for r, cc := range winAnsiHigh {
				if cc == c {
					s.WriteRune(r)
					break
				}
			}
			continue
		}
		s.WriteRune(rune(c))
	}
	return s.String()
}

// wrap breaks an encoded line into lines no wider than width at the given font size,
// breaking at spaces (or inside a word longer than a whole line).
func wrap(line []byte, size, width float64) [][]byte {
	if len(line) == 0 {
		return [][]byte{nil}
	}
	limit := width * 1000 / size // in glyph units
	var out [][]byte
	for len(line) > 0 {
		w, lastSpace, cut := 0.0, -1, len(line)
		for i, c := range line {
			w += float64(helveticaWidths[c])
			if c == ' ' {
				lastSpace = i
			}
			if w > limit {
				cut = i
				break
			}
		}
		if cut == len(line) {
			out = append(out, line)
			break
		}
		if lastSpace > 0 {
			out = append(out, line[:lastSpace])
			line = line[lastSpace+1:]
		} else {
			out = append(out, line[:max(cut, 1)])
			line = line[max(cut, 1):]
		}
	}
	return out
}

// winAnsiHigh maps the characters of WinAnsiEncoding's 0x80-0x9F range.
var winAnsiHigh = map[rune]byte{
	'€': 0x80, '‚': 0x82, 'ƒ': 0x83, '„': 0x84, '…': 0x85, '†': 0x86, '‡': 0x87, 'ˆ': 0x88,
	'‰': 0x89, 'Š': 0x8a, '‹': 0x8b, 'Œ': 0x8c, 'Ž': 0x8e, '‘': 0x91, '’': 0x92, '“': 0x93,
	'”': 0x94, '•': 0x95, '–': 0x96, '—': 0x97, '˜': 0x98, '™': 0x99, 'š': 0x9a, '›': 0x9b,
	'œ': 0x9c, 'ž': 0x9e, 'Ÿ': 0x9f,
}

// helveticaWidths are the widths of Helvetica's glyphs in WinAnsiEncoding, in thousandths
// of the font size (from Adobe's Helvetica AFM); 0 for unused codes.
var helveticaWidths = [256]uint16{
	// 0x20
	32: 278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278,
	556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556,
	1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778,
	667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556,
	333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556,
	556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584, 0,
	// 0x80
	556, 0, 222, 556, 333, 1000, 556, 556, 333, 1000, 667, 333, 1000, 0, 611, 0,
	0, 222, 222, 333, 333, 350, 556, 1000, 333, 1000, 500, 333, 944, 0, 500, 667,
	// 0xA0
	278, 333, 556, 556, 556, 556, 260, 556, 333, 737, 370, 556, 584, 333, 737, 333,
	400, 584, 333, 333, 333, 556, 537, 278, 333, 333, 365, 556, 834, 834, 834, 611,
	667, 667, 667, 667, 667, 667, 1000, 722, 667, 667, 667, 667, 278, 278, 278, 278,
	722, 722, 778, 778, 778, 778, 778, 584, 778, 722, 722, 722, 722, 667, 667, 611,
	556, 556, 556, 556, 556, 556, 889, 500, 556, 556, 556, 556, 278, 278, 278, 278,
	556, 556, 556, 556, 556, 556, 556, 584, 611, 556, 556, 556, 556, 500, 556, 500,
}
