package extract

import (
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/docent-rag/docent/internal/chunk"
)

// DOCX (and DOCM): word/document.xml read as a stream of paragraphs and tables.
//
//   - A paragraph whose style is a heading (its outline level, or a style named
//     "heading N" or "Title", through the styles it is based on) or that has an outline
//     level of its own is a Heading; one with numbering (numPr) is a ListItem.
//   - A table is a Table block, one row per line, cells joined by " | "; its header rows are
//     the rows marked as such (tblHeader), else the first row. A table inside a cell is
//     flattened into the cell.
//   - Text boxes (w:txbxContent) are paragraphs of their own; the VML fallback of a drawing
//     (mc:Fallback), which repeats them, is skipped.
//   - Tracked changes: insertions are kept, deletions (w:del, w:delText, w:moveFrom) dropped:
//     the text is the document as it reads with the changes accepted.
//   - Hyperlinks keep their text; field codes (w:instrText) are dropped, their results kept.
//   - Pictures of the body (a:blip, v:imagedata) are recognised with OCR when it is enabled
//     (see officeImages): their text follows the paragraph or table that anchors them.
//   - Footnotes, endnotes and comments are appended as marked blocks ("Footnote 1: ...",
//     "Endnote 1: ...", "Comment (author): ..."), then headers and footers ("Header: ...").

// docxExtract extracts a DOCX or DOCM package; its pictures are recognised with ocr (nil:
// OCR off).
func docxExtract(ctx context.Context, data []byte, ocr *OCR) (Document, error) {
	p, err := openOffice(data)
	if err != nil {
		return Document{}, err
	}
	main := "word/document.xml"
	if rels, err := relationships(p, "_rels/.rels", ""); err == nil {
		for _, target := range rels {
			if strings.HasSuffix(target, ".xml") && strings.HasPrefix(target, "word/") && strings.Contains(target, "ocument") {
				main = target
			}
		}
	}
	body, rels, err := p.main(main, "a Word document")
	if err != nil {
		return Document{}, err
	}
	styles, err := docxStyles(p)
	if err != nil {
		return Document{}, err
	}
	var b officeBuilder
	images := newOfficeImages(ctx, p, ocr)
	wp := &wordParser{styles: styles, b: &b, images: images, rels: rels}
	if err := wp.parse(body, ""); err != nil {
		return Document{}, err
	}
	// Notes and comments, then headers and footers, in a stable order (their pictures are
	// not read).
	wp.images, wp.rels = nil, nil
	for _, part := range []struct{ name, label string }{
		{"word/footnotes.xml", "Footnote"}, {"word/endnotes.xml", "Endnote"}, {"word/comments.xml", "Comment"},
	} {
		w, err := p.walker(part.name)
		if err != nil {
			return Document{}, err
		}
		if w != nil {
			if err := wp.parse(w, part.label); err != nil {
				return Document{}, err
			}
		}
	}
	seen := map[string]bool{}
	for _, kind := range []string{"header", "footer"} {
		for i := 1; i <= 32; i++ {
			name := fmt.Sprintf("word/%s%d.xml", kind, i)
			w, err := p.walker(name)
			if err != nil {
				return Document{}, err
			}
			if w == nil {
				continue
			}
			var hb officeBuilder
			hp := &wordParser{styles: styles, b: &hb}
			if err := hp.parse(w, ""); err != nil {
				return Document{}, err
			}
			if t := cleanOffice(hb.text.String()); t != "" && !seen[t] {
				seen[t] = true
				label := "Header: "
				if kind == "footer" {
					label = "Footer: "
				}
				b.add(chunk.Paragraph, 0, 0, label+t)
			}
		}
	}
	doc := newDocument("application/vnd.openxmlformats-officedocument.wordprocessingml.document")
	doc.Document = b.document(officeTitle(p))
	doc.Metadata["format"] = "docx"
	doc.Warnings = b.warnings(nil)
	images.finish(&doc)
	if doc.Title == "" {
		doc.Title = firstHeading(doc.Document)
	}
	if doc.Text == "" {
		doc.Skip = SkipEmpty
	}
	return doc, nil
}

// docxStyles maps paragraph style ids to what they make a paragraph: a heading level (1-6)
// or -1 for a list; 0 for neither. Styles inherit through basedOn.
func docxStyles(p *officePackage) (map[string]int, error) {
	w, err := p.walker("word/styles.xml")
	if err != nil || w == nil {
		return map[string]int{}, err
	}
	type style struct {
		name, basedOn string
		outline       int // 0: none; else level+1
		list          bool
	}
	all := map[string]*style{}
	var cur *style
	err = w.each(func(tok xml.Token) error {
		e, ok := tok.(xml.StartElement)
		if !ok {
			if end, ok := tok.(xml.EndElement); ok && end.Name.Local == "style" {
				cur = nil
			}
			return nil
		}
		switch e.Name.Local {
		case "style":
			if xattr(e, "type") == "paragraph" {
				cur = &style{}
				all[xattr(e, "styleId")] = cur
			}
		case "name":
			if cur != nil {
				cur.name = strings.ToLower(xattr(e, "val"))
			}
		case "basedOn":
			if cur != nil {
				cur.basedOn = xattr(e, "val")
			}
		case "outlineLvl":
			if cur != nil {
				if n, err := strconv.Atoi(xattr(e, "val")); err == nil && n >= 0 && n < 9 {
					cur.outline = n + 1
				}
			}
		case "numPr":
			if cur != nil {
				cur.list = true
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make(map[string]int, len(all))
	for id, s := range all {
		level, list := 0, false
		for i, st := 0, s; st != nil && i < 16; i, st = i+1, all[st.basedOn] {
			if level == 0 {
				switch {
				case st.outline > 0:
					level = st.outline
				case st.name == "title":
					level = 1
				case strings.HasPrefix(st.name, "heading "):
					if n, err := strconv.Atoi(strings.TrimPrefix(st.name, "heading ")); err == nil && n > 0 {
						level = n
					}
				}
			}
			list = list || st.list
		}
		switch {
		case level > 0:
			out[id] = min(level, 6)
		case list:
			out[id] = -1
		}
	}
	return out, nil
}

// wordParser turns WordprocessingML parts into blocks.
type wordParser struct {
	styles map[string]int
	b      *officeBuilder
	counts map[string]int // notes numbered per label
	// images recognises the part's pictures, whose relationships are rels (nil: pictures
	// are not read); pending holds their text until the block that anchors them is added.
	images  *officeImages
	rels    map[string]string
	pending []string
}

// wordFrame is an open paragraph, table or cell.
type wordFrame struct {
	kind   byte // 'p', 't' (table), 'r' (row), 'c' (cell)
	text   strings.Builder
	level  int  // heading level of a paragraph
	list   bool // a paragraph with numbering
	rows   [][]string
	header int  // a table's rows marked as header
	inHead bool // a row marked as header (while the table's header rows are leading)
	cells  []string
}

// parse reads one part. label, for notes and comments parts, marks each note's text.
func (wp *wordParser) parse(w *xmlWalker, label string) error {
	var stack []*wordFrame
	top := func(kind byte) *wordFrame {
		for i := len(stack) - 1; i >= 0; i-- {
			if stack[i].kind == kind {
				return stack[i]
			}
		}
		return nil
	}
	var note strings.Builder // the note or comment being read
	author := ""
	inNote := false
	err := w.each(func(tok xml.Token) error {
		switch e := tok.(type) {
		case xml.StartElement:
			switch e.Name.Local {
			case "Fallback", "del", "delText", "moveFrom", "instrText", "delInstrText":
				if err := w.skip(); err != nil {
					return err
				}
			case "footnote", "endnote", "comment":
				if label == "" || e.Name.Local == "comment" && label != "Comment" {
					return nil
				}
				typ := xattr(e, "type")
				if typ == "separator" || typ == "continuationSeparator" || typ == "continuationNotice" {
					if err := w.skip(); err != nil {
						return err
					}
					return nil
				}
				inNote, author = true, xattr(e, "author")
				note.Reset()
			case "p":
				stack = append(stack, &wordFrame{kind: 'p'})
			case "pStyle":
				if f := top('p'); f != nil {
					if v := wp.styles[xattr(e, "val")]; v > 0 {
						f.level = v
					} else if v < 0 {
						f.list = true
					}
				}
			case "outlineLvl":
				if f := top('p'); f != nil {
					if n, err := strconv.Atoi(xattr(e, "val")); err == nil && n >= 0 && n < 6 {
						f.level = n + 1
					}
				}
			case "numId":
				if f := top('p'); f != nil && xattr(e, "val") != "0" {
					f.list = true
				}
			case "t":
				if f := top('p'); f != nil {
					text, err := elementText(w)
					if err != nil {
						return err
					}
					f.text.WriteString(text)
				}
			case "tab", "ptab":
				if f := top('p'); f != nil {
					f.text.WriteByte(' ')
				}
			case "br", "cr":
				if f := top('p'); f != nil {
					f.text.WriteByte('\n')
				}
			case "noBreakHyphen":
				if f := top('p'); f != nil {
					f.text.WriteByte('-')
				}
			case "sym":
				if f := top('p'); f != nil {
					if n, err := strconv.ParseUint(xattr(e, "char"), 16, 32); err == nil && n >= 0x20 && n < 0xF000 {
						f.text.WriteRune(rune(n))
					}
				}
			case "tbl":
				stack = append(stack, &wordFrame{kind: 't'})
			case "tr":
				stack = append(stack, &wordFrame{kind: 'r'})
			case "tblHeader":
				if r := top('r'); r != nil && xattr(e, "val") != "0" && xattr(e, "val") != "false" {
					r.inHead = true
				}
			case "tc":
				stack = append(stack, &wordFrame{kind: 'c'})
			case "footnoteReference", "endnoteReference":
				// The note's text is appended at the end, marked.
			case "blip", "imagedata":
				// A picture: a:blip r:embed (DrawingML), v:imagedata r:id (VML).
				id := xattr(e, "embed")
				if e.Name.Local == "imagedata" {
					id = relID(e)
				}
				if wp.rels != nil && !inNote {
					if t := wp.images.text(wp.rels[id]); t != "" {
						wp.pending = append(wp.pending, t)
					}
				}
			}
		case xml.EndElement:
			if len(stack) == 0 {
				if inNote && (e.Name.Local == "footnote" || e.Name.Local == "endnote" || e.Name.Local == "comment") {
					inNote = false
					if t := cleanOffice(note.String()); t != "" {
						if wp.counts == nil {
							wp.counts = map[string]int{}
						}
						wp.counts[label]++
						mark := fmt.Sprintf("%s %d: ", label, wp.counts[label])
						if label == "Comment" {
							mark = "Comment: "
							if a := textnormLine(author); a != "" {
								mark = "Comment (" + a + "): "
							}
						}
						wp.b.add(chunk.Paragraph, 0, 0, mark+strings.ReplaceAll(t, "\n", " "))
					}
				}
				return nil
			}
			f := stack[len(stack)-1]
			want := map[string]byte{"p": 'p', "tbl": 't', "tr": 'r', "tc": 'c'}[e.Name.Local]
			if want == 0 || f.kind != want {
				return nil
			}
			stack = stack[:len(stack)-1]
			var parent *wordFrame
			if len(stack) > 0 {
				parent = stack[len(stack)-1]
			}
			switch f.kind {
			case 'p':
				text := cleanOffice(f.text.String())
				switch {
				case text == "":
				case parent != nil && parent.kind == 'c':
					appendSpaced(&parent.text, strings.ReplaceAll(text, "\n", " "))
				default:
					// A text box's paragraph, inside the paragraph that anchors it, is a
					// block of its own too.
					wp.emitPara(f, text, inNote, &note)
				}
			case 'c':
				if parent != nil && parent.kind == 'r' {
					parent.cells = append(parent.cells, f.text.String())
				}
			case 'r':
				if parent != nil && parent.kind == 't' {
					if f.inHead && parent.header == len(parent.rows) {
						parent.header++
					}
					parent.rows = append(parent.rows, f.cells)
				}
			case 't':
				header := tableHeader(f)
				if cell := top('c'); cell != nil {
					// A table in a cell: flattened into the cell.
					for _, r := range f.rows {
						appendSpaced(&cell.text, strings.Join(r, " "))
					}
					return nil
				}
				if inNote {
					for _, r := range f.rows {
						appendSpaced(&note, strings.Join(r, " "))
					}
					return nil
				}
				wp.b.addTable(f.rows, header, 0, "")
			}
			if len(stack) == 0 {
				wp.flushPictures()
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	wp.flushPictures()
	return nil
}

// flushPictures adds the text of the pictures read since the last block, marked OCR.
func (wp *wordParser) flushPictures() {
	for _, t := range wp.pending {
		wp.b.addOCR(0, t)
	}
	wp.pending = nil
}

// tableHeader is a table's header rows: those marked, else the first.
func tableHeader(t *wordFrame) int {
	if t.header > 0 {
		return t.header
	}
	return 1
}

func (wp *wordParser) emitPara(f *wordFrame, text string, inNote bool, note *strings.Builder) {
	if inNote {
		appendSpaced(note, text)
		return
	}
	switch {
	case f.level > 0:
		wp.b.add(chunk.Heading, f.level, 0, strings.ReplaceAll(text, "\n", " "))
	case f.list:
		wp.b.add(chunk.ListItem, 0, 0, text)
	default:
		wp.b.add(chunk.Paragraph, 0, 0, text)
	}
}

func appendSpaced(b *strings.Builder, s string) {
	if s == "" {
		return
	}
	if b.Len() > 0 {
		b.WriteByte(' ')
	}
	b.WriteString(s)
}

// elementText returns the character data of the element just started, up to its end.
func elementText(w *xmlWalker) (string, error) {
	var sb strings.Builder
	for d := w.depth; w.depth >= d; {
		tok, err := w.next()
		if err == io.EOF {
			return "", &Error{Reason: ReasonCorrupt, Err: fmt.Errorf("part %s ends inside an element", w.name)}
		}
		if err != nil {
			return "", err
		}
		if c, ok := tok.(xml.CharData); ok {
			sb.Write(c)
		}
	}
	return sb.String(), nil
}

func textnormLine(s string) string { return strings.Join(strings.Fields(cleanOffice(s)), " ") }

// officeTitle returns the title of docProps/core.xml (dc:title), or "".
func officeTitle(p *officePackage) string { return partTitle(p, "docProps/core.xml", "") }

// partTitle returns the text of a part's first title element (in the namespace prefix
// space, any when ""), or "".
func partTitle(p *officePackage, name, space string) string {
	w, err := p.walker(name)
	if err != nil || w == nil {
		return ""
	}
	for {
		tok, err := w.next()
		if err != nil {
			return ""
		}
		if e, ok := tok.(xml.StartElement); ok && e.Name.Local == "title" && (space == "" || e.Name.Space == space) {
			t, err := elementText(w)
			if err != nil {
				return ""
			}
			return truncate(textnormLine(t), 500)
		}
	}
}

// firstHeading returns the text of the document's first heading, or "".
func firstHeading(d chunk.Document) string {
	for _, b := range d.Blocks {
		if b.Kind == chunk.Heading {
			return truncate(d.Text[b.Start:b.End], 500)
		}
	}
	return ""
}
