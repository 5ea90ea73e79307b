package extract

import (
	"bytes"
	"cmp"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/docent-rag/docent/internal/chunk"
)

// OpenDocument (ODT, ODS, ODP): content.xml of the package, read as a stream, with the same
// structures as the OOXML formats:
//
//   - text: text:h is a Heading (its outline level), text:p in a list item a ListItem,
//     other text:p Paragraphs; tables are Table blocks whose header rows are the
//     table:table-header-rows, else the first row; text boxes (draw:text-box) are paragraphs
//     of their own; footnotes and endnotes (text:note) are appended as "Footnote N: ...",
//     comments (office:annotation) as "Comment (author): ..."; tracked changes: the
//     deletions, kept aside in text:tracked-changes, are dropped, insertions (inline) kept;
//   - spreadsheets: each visible table a sheet, as for XLSX (sheetBuilder), with the cells'
//     displayed text; repeated rows and columns (table:number-rows-repeated) are expanded
//     only where they hold content, within the row and cell limits, so a sheet that
//     declares 999,999,999 empty rows costs nothing; sheets hidden by their style
//     (table:display="false") are skipped and reported;
//   - presentations: one page per draw:page (PageUnit "slide"), its title frame a Heading
//     ("Slide N" without one), other frames' paragraphs ListItems, tables, and its notes
//     (presentation:notes) "Notes: ...".
//
// Pictures (draw:image) of a text or a presentation are recognised with OCR when it is
// enabled (see officeImages): a text's after the paragraph, list or table that anchors
// them, a presentation's on its slide in the order of its frames.
//
// A package whose manifest lists encryption data is ReasonEncrypted.

func odfExtract(ctx context.Context, data []byte, format Format, ocr *OCR) (Document, error) {
	p, err := openOffice(data)
	if err != nil {
		return Document{}, err
	}
	manifest, err := p.part("META-INF/manifest.xml")
	if err != nil {
		return Document{}, err
	}
	if bytes.Contains(manifest, []byte("encryption-data")) {
		return Document{}, &Error{Reason: ReasonEncrypted, Err: errors.New("the document is encrypted with a password")}
	}
	content, err := p.walker("content.xml")
	if err != nil {
		return Document{}, err
	}
	if content == nil {
		return Document{}, &Error{Reason: ReasonCorrupt, Err: errors.New("no content.xml: not an OpenDocument file")}
	}
	op := &odfParser{format: format, hidden: map[string]bool{}}
	if format != FormatODS {
		op.images = newOfficeImages(ctx, p, ocr)
	}
	op.sheets.b = &op.b
	op.sheets.cellsLeft = officeMaxCells
	if err := op.parse(content); err != nil {
		return Document{}, err
	}
	for _, n := range op.notes {
		op.b.add(chunk.Paragraph, 0, 0, n)
	}
	// Headers and footers: of the page styles (styles.xml), of the slides (declared in
	// content.xml).
	var marks []string
	if format == FormatODT { // a spreadsheet's or deck's page styles hold fields ("Page 1"), not text
		styles, err := p.walker("styles.xml")
		if err != nil {
			return Document{}, err
		}
		if marks, err = odfHeaderFooters(styles); err != nil {
			return Document{}, err
		}
	}
	for _, m := range append(marks, op.decls...) {
		op.b.add(chunk.Paragraph, 0, 0, m)
	}
	types := map[Format]string{
		FormatODT: "application/vnd.oasis.opendocument.text",
		FormatODS: "application/vnd.oasis.opendocument.spreadsheet",
		FormatODP: "application/vnd.oasis.opendocument.presentation",
	}
	doc := newDocument(types[format])
	doc.Document = op.b.document(odfTitle(p))
	if doc.Title == "" {
		doc.Title = firstHeading(doc.Document)
	}
	doc.Warnings = op.b.warnings(op.warnings)
	op.images.finish(&doc)
	doc.Metadata["format"] = string(format)
	if format == FormatODS {
		doc.Metadata["sheets"] = int64(op.sheetCount)
	}
	if format == FormatODP {
		setSlides(&doc, op.slide, op.b.pages)
	}
	if doc.Text == "" {
		doc.Skip = SkipEmpty
	}
	return doc, nil
}

// odfTitle returns meta.xml's dc:title, or "".
func odfTitle(p *officePackage) string { return partTitle(p, "meta.xml", "dc") }

// odfFrame is an open element that collects text or rows.
type odfFrame struct {
	kind  string // "p", "h", "list-item", "cell", "row", "table", "note", "annotation", "title", "notes", "box", "skip"
	text  strings.Builder
	level int
	// tables
	rows    [][]string
	header  int
	inHead  bool
	cells   []string
	repeat  int64  // rows or columns repeated
	empty   int    // a row's empty cells not yet materialised (only before a cell with content)
	value   string // a spreadsheet cell's value (office:value), for a cell that shows no text
	author  string
	noteCls string
}

type odfParser struct {
	format     Format
	b          officeBuilder
	sheets     sheetBuilder
	hidden     map[string]bool // table styles with table:display="false"
	notes      []string
	decls      []string // a presentation's header and footer texts, marked
	counts     map[string]int
	warnings   []Warning
	slide      int
	slideTitle string
	slideItems []slideItem
	slideNotes strings.Builder
	// images recognises the pictures (nil: a spreadsheet's are not read); pending holds a
	// text's until the block that anchors them is added.
	images  *officeImages
	pending []string

	// the sheet being read (ODS)
	sheet       *odfFrame // its table
	sheetName   string
	sheetHidden bool
	sheetRows   []sheetRow
	rowN        int64 // next row's number
	sheetCount  int
	sheetCut    bool // stopped at a limit
	sheetTrunc  bool // a repetition cut to officeMaxRepeat
}

// officeMaxRepeat bounds how many times a spreadsheet row or cell with content that says it
// repeats is repeated (empty ones cost nothing): real sheets repeat a few identical rows;
// a hostile one declares a billion.
const officeMaxRepeat = 100

// odfHeaderFooters returns the text of the page styles' headers and footers (styles.xml),
// each once, marked "Header: " or "Footer: ".
func odfHeaderFooters(w *xmlWalker) ([]string, error) {
	if w == nil {
		return nil, nil
	}
	var out []string
	mark := ""
	depth := 0
	var cur strings.Builder
	err := w.each(func(tok xml.Token) error {
		switch e := tok.(type) {
		case xml.StartElement:
			if e.Name.Space == "style" && mark == "" {
				switch e.Name.Local {
				case "header", "header-left", "header-first":
					mark, depth = "Header: ", w.depth
				case "footer", "footer-left", "footer-first":
					mark, depth = "Footer: ", w.depth
				}
				cur.Reset()
			}
			if mark != "" && e.Name.Space == "text" && (e.Name.Local == "p" || e.Name.Local == "h") {
				cur.WriteByte(' ')
			}
		case xml.CharData:
			if mark != "" {
				cur.Write(e)
			}
		case xml.EndElement:
			if mark != "" && w.depth < depth {
				if t := textnormLine(cur.String()); t != "" && !slices.Contains(out, mark+t) && len(out) < 100 {
					out = append(out, mark+t)
				}
				mark = ""
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (op *odfParser) parse(w *xmlWalker) error {
	var stack []*odfFrame
	find := func(kinds ...string) *odfFrame {
		for i := len(stack) - 1; i >= 0; i-- {
			for _, k := range kinds {
				if stack[i].kind == k {
					return stack[i]
				}
			}
		}
		return nil
	}
	var styleName string // the automatic style being read
	push := func(kind string) *odfFrame {
		f := &odfFrame{kind: kind}
		stack = append(stack, f)
		return f
	}
	// text appends to the innermost paragraph.
	text := func(s string) {
		if f := find("p", "h"); f != nil {
			f.text.WriteString(s)
		}
	}
	err := w.each(func(tok xml.Token) error {
		switch e := tok.(type) {
		case xml.CharData:
			if len(stack) > 0 {
				text(string(e))
			}
		case xml.StartElement:
			name := e.Name.Space + ":" + e.Name.Local
			switch name {
			case "style:style":
				styleName = ""
				if xattr(e, "family") == "table" {
					styleName = attrNS(e, "style", "name")
				}
			case "style:table-properties":
				if styleName != "" && attrNS(e, "table", "display") == "false" {
					op.hidden[styleName] = true
				}
			case "draw:image":
				op.picture(attrNS(e, "xlink", "href"), stack)
				if err := w.skip(); err != nil {
					return err
				}
			case "text:tracked-changes", "text:note-citation", "office:annotation-end", "svg:title", "svg:desc",
				"office:forms", "text:sequence-decls", "office:scripts", "dc:date", "presentation:notes-style",
				"office:event-listeners", "office:binary-data":
				if err := w.skip(); err != nil {
					return err
				}
			case "text:p", "text:h":
				f := push(e.Name.Local)
				if e.Name.Local == "h" {
					f.level = 1
					if n, err := strconv.Atoi(attrNS(e, "text", "outline-level")); err == nil && n > 0 {
						f.level = min(n, 6)
					}
				}
			case "text:list-item", "text:list-header":
				push("list-item")
			case "text:s":
				n, err := strconv.Atoi(attrNS(e, "text", "c"))
				if err != nil || n < 1 {
					n = 1
				}
				text(strings.Repeat(" ", min(n, 8)))
			case "text:tab":
				text(" ")
			case "text:line-break":
				text("\n")
			case "text:note":
				f := push("note")
				f.noteCls = attrNS(e, "text", "note-class")
			case "office:annotation":
				push("annotation")
			case "dc:creator":
				if a := find("annotation"); a != nil {
					t, err := elementText(w)
					if err != nil {
						return err
					}
					a.author = t
				}
			case "draw:text-box":
				push("box")
			case "draw:frame", "draw:custom-shape":
				switch attrNS(e, "presentation", "class") {
				case "title":
					push("title")
				case "page-number", "footer", "date-time", "header":
					if err := w.skip(); err != nil {
						return err
					}
				default:
					push("shape")
				}
			case "presentation:notes":
				push("notes")
			case "presentation:footer-decl", "presentation:header-decl":
				t, err := elementText(w)
				if err != nil {
					return err
				}
				mark := "Footer: "
				if e.Name.Local == "header-decl" {
					mark = "Header: "
				}
				if t = textnormLine(t); t != "" && !slices.Contains(op.decls, mark+t) && len(op.decls) < 100 {
					op.decls = append(op.decls, mark+t)
				}
			case "draw:page":
				op.slide++
				op.slideTitle, op.slideItems = "", nil
				op.slideNotes.Reset()
			case "table:table":
				outer := find("table") == nil
				f := push("table")
				if op.format == FormatODS && outer {
					op.startSheet(f, attrNS(e, "table", "name"), attrNS(e, "table", "style-name"))
				}
			case "table:table-header-rows":
				if t := find("table"); t != nil {
					t.inHead = true
				}
			case "table:table-row":
				f := push("row")
				f.repeat = repeatAttr(e, "number-rows-repeated")
			case "table:table-cell", "table:covered-table-cell":
				f := push("cell")
				f.repeat = repeatAttr(e, "number-columns-repeated")
				f.value = attrNS(e, "office", "value")
			}
		case xml.EndElement:
			name := e.Name.Space + ":" + e.Name.Local
			switch name {
			case "table:table-header-rows":
				if t := find("table"); t != nil {
					t.inHead = false
				}
				return nil
			case "draw:page":
				op.endSlide()
				return nil
			case "style:style":
				styleName = ""
				return nil
			}
			want := map[string]string{
				"text:p": "p", "text:h": "h", "text:list-item": "list-item", "text:list-header": "list-item",
				"text:note": "note", "office:annotation": "annotation", "draw:text-box": "box",
				"draw:frame": "", "draw:custom-shape": "", "presentation:notes": "notes",
				"table:table": "table", "table:table-row": "row", "table:table-cell": "cell", "table:covered-table-cell": "cell",
			}
			kind, ok := want[name]
			if !ok || len(stack) == 0 {
				return nil
			}
			f := stack[len(stack)-1]
			if kind == "" { // a frame: title or shape
				if f.kind != "title" && f.kind != "shape" {
					return nil
				}
			} else if f.kind != kind {
				return nil
			}
			stack = stack[:len(stack)-1]
			if err := op.close(f, stack); err != nil {
				return err
			}
			if len(stack) == 0 {
				op.flushPictures()
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	op.flushPictures()
	return nil
}

// repeatAttr reads a repetition count (at least 1).
func repeatAttr(e xml.StartElement, local string) int64 {
	n, err := strconv.ParseInt(attrNS(e, "table", local), 10, 64)
	if err != nil || n < 1 {
		return 1
	}
	return n
}

// close handles the end of frame f, whose enclosing frames are stack.
func (op *odfParser) close(f *odfFrame, stack []*odfFrame) error {
	var parent *odfFrame
	if len(stack) > 0 {
		parent = stack[len(stack)-1]
	}
	// sink returns the innermost frame that collects paragraphs rather than emitting them.
	sink := func() *odfFrame {
		for i := len(stack) - 1; i >= 0; i-- {
			switch stack[i].kind {
			case "cell", "note", "annotation", "title", "notes":
				return stack[i]
			}
		}
		return nil
	}
	inside := func(kind string) bool {
		for i := len(stack) - 1; i >= 0; i-- {
			if stack[i].kind == kind {
				return true
			}
		}
		return false
	}
	switch f.kind {
	case "p", "h":
		text := cleanOffice(f.text.String())
		if text == "" {
			return nil
		}
		if s := sink(); s != nil {
			if s.kind == "notes" {
				appendSpaced(&s.text, strings.ReplaceAll(text, "\n", " "))
			} else {
				appendSpaced(&s.text, text)
			}
			return nil
		}
		if parent != nil && (parent.kind == "p" || parent.kind == "h") {
			// Text of a frame anchored in a paragraph, outside a text box: part of it.
			appendSpaced(&parent.text, text)
			return nil
		}
		switch {
		case f.kind == "h":
			op.item(chunk.Heading, f.level, strings.ReplaceAll(text, "\n", " "))
		case inside("list-item") || op.format == FormatODP:
			op.item(chunk.ListItem, 0, text)
		default:
			op.item(chunk.Paragraph, 0, text)
		}
	case "note", "annotation":
		text := strings.ReplaceAll(cleanOffice(f.text.String()), "\n", " ")
		if text == "" {
			return nil
		}
		if op.counts == nil {
			op.counts = map[string]int{}
		}
		var mark string
		if f.kind == "annotation" {
			mark = "Comment: "
			if a := textnormLine(f.author); a != "" {
				mark = "Comment (" + a + "): "
			}
		} else {
			label := "Footnote"
			if f.noteCls == "endnote" {
				label = "Endnote"
			}
			op.counts[label]++
			mark = fmt.Sprintf("%s %d: ", label, op.counts[label])
		}
		if op.format == FormatODP {
			op.slideItems = append(op.slideItems, slideItem{text: mark + text})
		} else {
			op.notes = append(op.notes, mark+text)
		}
	case "title":
		if t := textnormLine(f.text.String()); t != "" {
			op.slideTitle = strings.TrimSpace(op.slideTitle + " " + t)
		}
	case "notes":
		op.slideNotes.WriteString(textnormLine(f.text.String()))
	case "cell":
		text := f.text.String()
		if strings.TrimSpace(text) == "" && op.format == FormatODS {
			text = f.value
		}
		if parent == nil || parent.kind != "row" {
			return nil
		}
		n := f.repeat
		if strings.TrimSpace(text) == "" {
			// Empty cells only move the column; they are materialised if content follows.
			parent.empty = int(min(int64(parent.empty)+n, officeMaxColumns))
			return nil
		}
		for ; parent.empty > 0 && len(parent.cells) < officeMaxColumns; parent.empty-- {
			parent.cells = append(parent.cells, "")
		}
		parent.empty = 0
		if n > officeMaxRepeat {
			n, op.sheetTrunc = officeMaxRepeat, true
		}
		for i := int64(0); i < n && len(parent.cells) < officeMaxColumns; i++ {
			parent.cells = append(parent.cells, text)
		}
	case "row":
		t := parent
		if t == nil || t.kind != "table" {
			return nil
		}
		if t == op.sheet {
			op.sheetRow(f)
			return nil
		}
		if len(f.cells) == 0 {
			return nil
		}
		for i := int64(0); i < f.repeat && i < 100; i++ {
			if t.inHead {
				t.header++
			}
			t.rows = append(t.rows, f.cells)
		}
	case "table":
		if f == op.sheet {
			op.endSheet()
			return nil
		}
		if c := findIn(stack, "cell"); c != nil {
			for _, r := range f.rows {
				appendSpaced(&c.text, strings.Join(r, " "))
			}
			return nil
		}
		header := f.header
		if header == 0 {
			header = 1
		}
		if op.format == FormatODP {
			op.slideItems = append(op.slideItems, slideItem{rows: f.rows})
			return nil
		}
		op.b.addTable(f.rows, header, 0, "")
	}
	return nil
}

func findIn(stack []*odfFrame, kind string) *odfFrame {
	for i := len(stack) - 1; i >= 0; i-- {
		if stack[i].kind == kind {
			return stack[i]
		}
	}
	return nil
}

// picture recognises the picture at href (a part of the package), inside the frames stack:
// on the slide being read, or kept until the text's block that anchors it is added. The
// pictures of notes, comments and a presentation's notes page are not read.
func (op *odfParser) picture(href string, stack []*odfFrame) {
	if op.images == nil || strings.Contains(href, ":") || findIn(stack, "note") != nil ||
		findIn(stack, "annotation") != nil || findIn(stack, "notes") != nil {
		return
	}
	t := op.images.text(strings.TrimPrefix(href, "./"))
	switch {
	case t == "":
	case op.format == FormatODP && op.slide > 0:
		op.slideItems = append(op.slideItems, slideItem{text: t, ocr: true})
	default:
		op.pending = append(op.pending, t)
	}
}

// flushPictures adds the text of the pictures read since the last block, marked OCR.
func (op *odfParser) flushPictures() {
	for _, t := range op.pending {
		op.b.addOCR(0, t)
	}
	op.pending = nil
}

// item adds a block to the document, or to the slide being read.
func (op *odfParser) item(kind chunk.Kind, level int, text string) {
	if op.format == FormatODP && op.slide > 0 {
		op.slideItems = append(op.slideItems, slideItem{text: text})
		return
	}
	op.b.add(kind, level, 0, text)
}

// endSlide writes the slide just read: its title, items and notes, on its page.
func (op *odfParser) endSlide() {
	n := op.slide
	op.b.startPage()
	op.b.add(chunk.Heading, 1, n, cmp.Or(op.slideTitle, fmt.Sprintf("Slide %d", n)))
	s := slideText{items: op.slideItems}
	s.emit(&op.b, n)
	if t := strings.TrimSpace(op.slideNotes.String()); t != "" {
		op.b.add(chunk.Paragraph, 0, n, "Notes: "+t)
	}
	op.slideTitle, op.slideItems = "", nil
	op.slideNotes.Reset()
}

func (op *odfParser) startSheet(f *odfFrame, name, style string) {
	op.sheet, op.sheetName, op.sheetRows, op.rowN, op.sheetCut, op.sheetTrunc, op.sheetHidden = f, textnormLine(name), nil, 1, false, false, op.hidden[style]
	if op.sheetHidden {
		op.warnings = append(op.warnings, Warning{Reason: WarnHiddenSheet, Message: fmt.Sprintf("hidden sheet %q skipped", truncate(op.sheetName, 100))})
	}
}

// sheetRow adds a row of the sheet being read, repeated as it says (within the limits).
func (op *odfParser) sheetRow(f *odfFrame) {
	n := op.rowN
	op.rowN = min(op.rowN+f.repeat, 1<<40)
	if len(f.cells) == 0 || op.sheetCut || op.sheetHidden {
		return
	}
	repeat := f.repeat
	if repeat > officeMaxRepeat {
		repeat, op.sheetTrunc = officeMaxRepeat, true
	}
	for i := int64(0); i < repeat; i++ {
		if len(op.sheetRows) >= officeMaxRows || op.sheets.cellsLeft < len(f.cells) {
			op.sheetCut = true
			return
		}
		op.sheets.cellsLeft -= len(f.cells)
		op.sheetRows = append(op.sheetRows, sheetRow{n: n + i, cells: f.cells})
	}
}

func (op *odfParser) endSheet() {
	if !op.sheetHidden {
		op.sheets.add(op.sheetName, op.sheetRows)
		switch {
		case op.sheetCut:
			op.warnings = append(op.warnings, Warning{Reason: WarnTruncated,
				Message: fmt.Sprintf("sheet %q cut after %d rows (or the workbook after %d cells)", truncate(op.sheetName, 100), len(op.sheetRows), officeMaxCells)})
		case op.sheetTrunc:
			op.warnings = append(op.warnings, Warning{Reason: WarnTruncated,
				Message: fmt.Sprintf("sheet %q repeats a row or cell with content more than %d times: repeated %d times", truncate(op.sheetName, 100), officeMaxRepeat, officeMaxRepeat)})
		}
	}
	op.sheet, op.sheetRows = nil, nil
	op.sheetCount++
}
