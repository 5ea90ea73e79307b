package extract

import (
	"cmp"
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/docent-rag/docent/internal/chunk"
)

// PPTX (and PPTM): one page per slide, in the presentation's order (Document.PageUnit
// "slide", Block.Page the slide's number). A slide's title (its title placeholder) is a
// Heading, "Slide N" when it has none, so that a slide's text is never filed under the
// title of the slide before; the text of its other shapes is ListItems, one per
// paragraph (bullets are paragraphs); its tables are Table blocks (header: the first row);
// its speaker notes a marked block ("Notes: ..."). Its pictures, when OCR recognises them
// (see officeImages), are paragraphs marked OCR on the slide, in the order of its shapes.

// maxSlides bounds the slides read: more is not a presentation but an attack.
const maxSlides = 5_000

func pptxExtract(ctx context.Context, data []byte, ocr *OCR) (Document, error) {
	p, err := openOffice(data)
	if err != nil {
		return Document{}, err
	}
	w, rels, err := p.main("ppt/presentation.xml", "a PowerPoint presentation")
	if err != nil {
		return Document{}, err
	}
	var slides []string
	err = w.each(func(tok xml.Token) error {
		if e, ok := tok.(xml.StartElement); ok && e.Name.Local == "sldId" {
			if target, ok := rels[relID(e)]; ok && p.has(target) {
				slides = append(slides, target)
			}
			if len(slides) > maxSlides {
				return &Error{Reason: ReasonTooLarge, Err: fmt.Errorf("more than %d slides: %w", maxSlides, errOfficeLimit)}
			}
		}
		return nil
	})
	if err != nil {
		return Document{}, err
	}
	var b officeBuilder
	images := newOfficeImages(ctx, p, ocr)
	for i, slide := range slides {
		n := i + 1
		b.startPage()
		srels, err := relationships(p, relsOf(slide), path.Dir(slide))
		if err != nil {
			return Document{}, err
		}
		sw, err := p.walker(slide)
		if err != nil {
			return Document{}, err
		}
		s, err := readSlide(sw, func(id string) string { return images.text(srels[id]) })
		if err != nil {
			return Document{}, err
		}
		b.add(chunk.Heading, 1, n, cmp.Or(s.title, fmt.Sprintf("Slide %d", n)))
		s.emit(&b, n)
		for _, target := range srels {
			if !strings.Contains(target, "notesSlide") {
				continue
			}
			nw, err := p.walker(target)
			if err != nil {
				return Document{}, err
			}
			if nw == nil {
				continue
			}
			notes, err := readSlide(nw, nil)
			if err != nil {
				return Document{}, err
			}
			if t := notes.allText(); t != "" {
				b.add(chunk.Paragraph, 0, n, "Notes: "+t)
			}
		}
	}
	doc := newDocument("application/vnd.openxmlformats-officedocument.presentationml.presentation")
	doc.Document = b.document(officeTitle(p))
	if doc.Title == "" {
		doc.Title = firstHeading(doc.Document)
	}
	setSlides(&doc, len(slides), b.pages)
	doc.Metadata["format"] = "pptx"
	doc.Warnings = b.warnings(nil)
	images.finish(&doc)
	if doc.Text == "" {
		doc.Skip = SkipEmpty
	}
	return doc, nil
}

// setSlides makes doc a deck of n slides starting at the offsets pages: its pages are
// slides, and metadata "slides" their number.
func setSlides(doc *Document, n int, pages []int) {
	doc.Pages, doc.PageStarts, doc.PageUnit = n, pages, PageUnitSlide
	for i, off := range doc.PageStarts {
		doc.PageStarts[i] = min(off, len(doc.Text))
	}
	if doc.PageStarts == nil {
		doc.PageStarts = []int{}
	}
	doc.Metadata["slides"] = int64(n)
}

// relID returns the relationship id attribute (r:id) of an element.
func relID(e xml.StartElement) string {
	for _, a := range e.Attr {
		if a.Name.Local == "id" && a.Name.Space != "" {
			return a.Value
		}
	}
	return ""
}

// slideItem is a block of a slide: a paragraph of text, a table, or the text of a picture
// (ocr).
type slideItem struct {
	text string
	rows [][]string
	ocr  bool
}

// slideText is what a slide (or a notes page) says.
type slideText struct {
	title string
	items []slideItem
}

func (s *slideText) emit(b *officeBuilder, page int) {
	for _, it := range s.items {
		switch {
		case it.rows != nil:
			b.addTable(it.rows, 1, page, "")
		case it.ocr:
			b.addOCR(page, it.text)
		default:
			b.add(chunk.ListItem, 0, page, it.text)
		}
	}
}

// allText is the slide's text on one line (for notes).
func (s *slideText) allText() string {
	var parts []string
	for _, it := range s.items {
		if it.rows != nil {
			for _, r := range it.rows {
				parts = append(parts, strings.Join(r, " "))
			}
		} else {
			parts = append(parts, it.text)
		}
	}
	return strings.Join(strings.Fields(strings.Join(parts, " ")), " ")
}

// readSlide reads a slide or notes part: shapes' paragraphs, title placeholders, tables.
// Placeholders that repeat the slide image, number, date, header or footer are skipped.
// picture, when not nil, returns the recognised text of the picture of a relationship id
// (a:blip r:embed).
func readSlide(w *xmlWalker, picture func(id string) string) (slideText, error) {
	var s slideText
	if w == nil {
		return s, nil
	}
	type shape struct{ ph string }
	var shapes []*shape
	var para *strings.Builder
	var table [][]string
	var row []string
	var cell *strings.Builder
	inTable := 0
	for {
		tok, err := w.next()
		if err == io.EOF {
			return s, nil
		}
		if err != nil {
			return slideText{}, err
		}
		switch e := tok.(type) {
		case xml.StartElement:
			switch e.Name.Local {
			case "sp", "graphicFrame", "cxnSp", "pic":
				shapes = append(shapes, &shape{})
			case "ph":
				if len(shapes) > 0 {
					shapes[len(shapes)-1].ph = cmp.Or(xattr(e, "type"), "body")
				}
			case "Fallback":
				if err := w.skip(); err != nil {
					return slideText{}, err
				}
			case "p":
				para = &strings.Builder{}
			case "t":
				if para != nil {
					t, err := elementText(w)
					if err != nil {
						return slideText{}, err
					}
					para.WriteString(t)
				}
			case "br":
				if para != nil {
					para.WriteByte('\n')
				}
			case "blip":
				if picture != nil && inTable == 0 {
					if t := picture(xattr(e, "embed")); t != "" {
						s.items = append(s.items, slideItem{text: t, ocr: true})
					}
				}
			case "tbl":
				inTable++
				if inTable == 1 {
					table = [][]string{}
				}
			case "tr":
				if inTable == 1 {
					row = nil
				}
			case "tc":
				if inTable == 1 {
					cell = &strings.Builder{}
				}
			}
		case xml.EndElement:
			switch e.Name.Local {
			case "sp", "graphicFrame", "cxnSp", "pic":
				if len(shapes) > 0 {
					shapes = shapes[:len(shapes)-1]
				}
			case "p":
				if para == nil {
					continue
				}
				text := cleanOffice(para.String())
				para = nil
				if text == "" {
					continue
				}
				ph := ""
				if len(shapes) > 0 {
					ph = shapes[len(shapes)-1].ph
				}
				switch {
				case cell != nil:
					appendSpaced(cell, text)
				case ph == "sldImg" || ph == "sldNum" || ph == "dt" || ph == "ftr" || ph == "hdr":
				case ph == "title" || ph == "ctrTitle":
					s.title = strings.TrimSpace(s.title + " " + strings.ReplaceAll(text, "\n", " "))
				default:
					s.items = append(s.items, slideItem{text: text})
				}
			case "tc":
				if inTable == 1 && cell != nil {
					row = append(row, cell.String())
					cell = nil
				}
			case "tr":
				if inTable == 1 {
					table = append(table, row)
				}
			case "tbl":
				inTable--
				if inTable == 0 {
					s.items = append(s.items, slideItem{rows: table})
				}
			}
		}
	}
}
