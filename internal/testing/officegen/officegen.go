// Package officegen writes small Word, PowerPoint and Excel files (DOCX, PPTX, XLSX) from
// plain Go values, deterministically: the same input gives the same bytes (a fixed
// timestamp, parts in a fixed order, stored without compression so that a new version of
// compress/flate changes nothing). It makes the demo corpus's office files
// (testdata/DEMO.md) and test documents; it writes what Word, PowerPoint and Excel need to
// open a file (content types, relationships, a slide master and layout, styles), and no
// more.
package officegen

import (
	"archive/zip"
	"bytes"
	"fmt"
	"slices"
	"strings"
	"time"
)

// modified is every part's timestamp.
var modified = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// pkg is a package being written.
type pkg struct {
	buf bytes.Buffer
	zw  *zip.Writer
	err error
}

func newPkg() *pkg {
	p := &pkg{}
	p.zw = zip.NewWriter(&p.buf)
	return p
}

func (p *pkg) add(name, content string) {
	if p.err != nil {
		return
	}
	w, err := p.zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Store, Modified: modified})
	if err != nil {
		p.err = err
		return
	}
	_, p.err = w.Write([]byte(content))
}

func (p *pkg) bytes() ([]byte, error) {
	if p.err != nil {
		return nil, p.err
	}
	if err := p.zw.Close(); err != nil {
		return nil, err
	}
	return p.buf.Bytes(), nil
}

// Package writes a package of raw parts, names and contents in the order given (stored,
// with the fixed timestamp), for tests that need parts the builders below do not write.
func Package(parts ...string) ([]byte, error) {
	if len(parts)%2 != 0 {
		return nil, fmt.Errorf("officegen: %d strings are not name and content pairs", len(parts))
	}
	p := newPkg()
	for i := 0; i < len(parts); i += 2 {
		p.add(parts[i], parts[i+1])
	}
	return p.bytes()
}

// esc escapes text for XML character data and attribute values.
func esc(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '&':
			b.WriteString("&amp;")
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '"':
			b.WriteString("&quot;")
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

const xmlHeader = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>` + "\n"

const (
	nsRels    = "http://schemas.openxmlformats.org/package/2006/relationships"
	nsR       = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
	relOffice = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument"
	relCore   = "http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties"
	relStyles = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles"

	relNotesMaster = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/notesMaster"
)

// rels writes a relationships part: id, type, target triples.
func rels(triples ...string) string {
	var b strings.Builder
	b.WriteString(xmlHeader + `<Relationships xmlns="` + nsRels + `">`)
	for i := 0; i+2 < len(triples); i += 3 {
		fmt.Fprintf(&b, `<Relationship Id="%s" Type="%s" Target="%s"/>`, triples[i], triples[i+1], triples[i+2])
	}
	b.WriteString(`</Relationships>`)
	return b.String()
}

// contentTypes writes [Content_Types].xml: part name, content type pairs.
func contentTypes(overrides ...string) string {
	var b strings.Builder
	b.WriteString(xmlHeader + `<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">` +
		`<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>` +
		`<Default Extension="xml" ContentType="application/xml"/>`)
	for i := 0; i+1 < len(overrides); i += 2 {
		fmt.Fprintf(&b, `<Override PartName="/%s" ContentType="%s"/>`, overrides[i], overrides[i+1])
	}
	b.WriteString(`</Types>`)
	return b.String()
}

// core writes docProps/core.xml with a title and an author.
func core(title, author string) string {
	return xmlHeader + `<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">` +
		`<dc:title>` + esc(title) + `</dc:title><dc:creator>` + esc(author) + `</dc:creator>` +
		`<dcterms:created xsi:type="dcterms:W3CDTF">2026-01-01T00:00:00Z</dcterms:created></cp:coreProperties>`
}

// newOffice starts an Office Open XML package whose main part is main: its content types
// (types, from contentTypes), the package relationships to main and to the core
// properties, and the core properties with title and author.
func newOffice(types, main, title, author string) *pkg {
	p := newPkg()
	p.add("[Content_Types].xml", types)
	p.add("_rels/.rels", rels("rId1", relOffice, main, "rId2", relCore, "docProps/core.xml"))
	p.add("docProps/core.xml", core(title, author))
	return p
}

const ctCore = "application/vnd.openxmlformats-package.core-properties+xml"

// Block is a block of a Word document: a paragraph (Text, with a Style: "Title",
// "Heading1", "Heading2", "ListBullet" or "" for body text) or a table (Rows, whose first
// row is its header, repeated on every page).
type Block struct {
	Style string
	Text  string
	Rows  [][]string
}

// DOCX writes a Word document.
func DOCX(title, author string, blocks []Block) ([]byte, error) {
	const w = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
	var body strings.Builder
	body.WriteString(xmlHeader + `<w:document xmlns:w="` + w + `" xmlns:r="` + nsR + `"><w:body>`)
	para := func(style, text string) {
		body.WriteString(`<w:p>`)
		if style != "" {
			body.WriteString(`<w:pPr><w:pStyle w:val="` + style + `"/>`)
			if style == "ListBullet" {
				body.WriteString(`<w:numPr><w:ilvl w:val="0"/><w:numId w:val="1"/></w:numPr>`)
			}
			body.WriteString(`</w:pPr>`)
		}
		body.WriteString(`<w:r><w:t xml:space="preserve">` + esc(text) + `</w:t></w:r></w:p>`)
	}
	for _, b := range blocks {
		if b.Rows == nil {
			para(b.Style, b.Text)
			continue
		}
		body.WriteString(`<w:tbl><w:tblPr><w:tblStyle w:val="TableGrid"/><w:tblW w:w="0" w:type="auto"/></w:tblPr>`)
		for i, row := range b.Rows {
			body.WriteString(`<w:tr>`)
			if i == 0 {
				body.WriteString(`<w:trPr><w:tblHeader/></w:trPr>`)
			}
			for _, cell := range row {
				body.WriteString(`<w:tc><w:tcPr><w:tcW w:w="0" w:type="auto"/></w:tcPr>`)
				para("", cell)
				body.WriteString(`</w:tc>`)
			}
			body.WriteString(`</w:tr>`)
		}
		body.WriteString(`</w:tbl>`)
	}
	body.WriteString(`<w:sectPr><w:pgSz w:w="12240" w:h="15840"/><w:pgMar w:top="1440" w:right="1440" w:bottom="1440" w:left="1440" w:header="720" w:footer="720" w:gutter="0"/></w:sectPr></w:body></w:document>`)

	style := func(id, name, basedOn string, outline int, size int) string {
		s := `<w:style w:type="paragraph" w:styleId="` + id + `"><w:name w:val="` + name + `"/>`
		if basedOn != "" {
			s += `<w:basedOn w:val="` + basedOn + `"/>`
		}
		s += `<w:qFormat/><w:pPr>`
		if outline >= 0 {
			s += fmt.Sprintf(`<w:keepNext/><w:spacing w:before="240" w:after="120"/><w:outlineLvl w:val="%d"/>`, outline)
		}
		s += `</w:pPr>`
		if size > 0 {
			s += fmt.Sprintf(`<w:rPr><w:b/><w:sz w:val="%d"/></w:rPr>`, size)
		}
		return s + `</w:style>`
	}
	styles := xmlHeader + `<w:styles xmlns:w="` + w + `">` +
		`<w:docDefaults><w:rPrDefault><w:rPr><w:rFonts w:ascii="Calibri" w:hAnsi="Calibri"/><w:sz w:val="22"/></w:rPr></w:rPrDefault><w:pPrDefault><w:pPr><w:spacing w:after="120"/></w:pPr></w:pPrDefault></w:docDefaults>` +
		`<w:style w:type="paragraph" w:default="1" w:styleId="Normal"><w:name w:val="Normal"/><w:qFormat/></w:style>` +
		style("Title", "Title", "Normal", -1, 48) +
		style("Heading1", "heading 1", "Normal", 0, 32) +
		style("Heading2", "heading 2", "Normal", 1, 26) +
		`<w:style w:type="paragraph" w:styleId="ListBullet"><w:name w:val="List Bullet"/><w:basedOn w:val="Normal"/><w:pPr><w:ind w:left="720" w:hanging="360"/></w:pPr></w:style>` +
		`<w:style w:type="table" w:styleId="TableGrid"><w:name w:val="Table Grid"/><w:tblPr><w:tblBorders><w:top w:val="single" w:sz="4" w:space="0" w:color="auto"/><w:left w:val="single" w:sz="4" w:space="0" w:color="auto"/><w:bottom w:val="single" w:sz="4" w:space="0" w:color="auto"/><w:right w:val="single" w:sz="4" w:space="0" w:color="auto"/><w:insideH w:val="single" w:sz="4" w:space="0" w:color="auto"/><w:insideV w:val="single" w:sz="4" w:space="0" w:color="auto"/></w:tblBorders></w:tblPr></w:style>` +
		`</w:styles>`
	numbering := xmlHeader + `<w:numbering xmlns:w="` + w + `"><w:abstractNum w:abstractNumId="0"><w:lvl w:ilvl="0"><w:start w:val="1"/><w:numFmt w:val="bullet"/><w:lvlText w:val="•"/><w:lvlJc w:val="left"/><w:pPr><w:ind w:left="720" w:hanging="360"/></w:pPr></w:lvl></w:abstractNum><w:num w:numId="1"><w:abstractNumId w:val="0"/></w:num></w:numbering>`

	p := newOffice(contentTypes(
		"word/document.xml", "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml",
		"word/styles.xml", "application/vnd.openxmlformats-officedocument.wordprocessingml.styles+xml",
		"word/numbering.xml", "application/vnd.openxmlformats-officedocument.wordprocessingml.numbering+xml",
		"docProps/core.xml", ctCore), "word/document.xml", title, author)
	p.add("word/document.xml", body.String())
	p.add("word/_rels/document.xml.rels", rels("rId1", relStyles, "styles.xml",
		"rId2", "http://schemas.openxmlformats.org/officeDocument/2006/relationships/numbering", "numbering.xml"))
	p.add("word/styles.xml", styles)
	p.add("word/numbering.xml", numbering)
	return p.bytes()
}

// Slide is a slide of a deck: a title, bullets, an optional table (its first row the
// header) and the speaker's notes (paragraphs).
type Slide struct {
	Title   string
	Bullets []string
	Table   [][]string
	Notes   []string
}

const (
	nsA = "http://schemas.openxmlformats.org/drawingml/2006/main"
	nsP = "http://schemas.openxmlformats.org/presentationml/2006/main"
)

// PPTX writes a 16:9 deck, one slide layout (title and content) for every slide.
func PPTX(title, author string, slides []Slide) ([]byte, error) {
	ns := `xmlns:a="` + nsA + `" xmlns:r="` + nsR + `" xmlns:p="` + nsP + `"`
	const cx, cy = 12192000, 6858000
	sp := func(id int, name, ph string, x, y, w, h int, paras []string) string {
		var b strings.Builder
		fmt.Fprintf(&b, `<p:sp><p:nvSpPr><p:cNvPr id="%d" name="%s"/><p:cNvSpPr><a:spLocks noGrp="1"/></p:cNvSpPr><p:nvPr>%s</p:nvPr></p:nvSpPr>`, id, name, ph)
		fmt.Fprintf(&b, `<p:spPr><a:xfrm><a:off x="%d" y="%d"/><a:ext cx="%d" cy="%d"/></a:xfrm></p:spPr><p:txBody><a:bodyPr/><a:lstStyle/>`, x, y, w, h)
		if len(paras) == 0 {
			b.WriteString(`<a:p><a:endParaRPr lang="en-US"/></a:p>`)
		}
		for _, t := range paras {
			b.WriteString(`<a:p><a:r><a:rPr lang="en-US" dirty="0"/><a:t>` + esc(t) + `</a:t></a:r></a:p>`)
		}
		b.WriteString(`</p:txBody></p:sp>`)
		return b.String()
	}
	tree := func(shapes string) string {
		return `<p:cSld><p:spTree><p:nvGrpSpPr><p:cNvPr id="1" name=""/><p:cNvGrpSpPr/><p:nvPr/></p:nvGrpSpPr><p:grpSpPr><a:xfrm><a:off x="0" y="0"/><a:ext cx="0" cy="0"/><a:chOff x="0" y="0"/><a:chExt cx="0" cy="0"/></a:xfrm></p:grpSpPr>` + shapes + `</p:spTree></p:cSld>`
	}
	titlePh, bodyPh := `<p:ph type="title"/>`, `<p:ph idx="1"/>`
	const tx, ty, tw, th = 838200, 365125, 10515600, 1325563
	const bx, by, bw, bh = 838200, 1825625, 10515600, 4351338

	overrides := []string{
		"ppt/presentation.xml", "application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml",
		"ppt/slideMasters/slideMaster1.xml", "application/vnd.openxmlformats-officedocument.presentationml.slideMaster+xml",
		"ppt/slideLayouts/slideLayout1.xml", "application/vnd.openxmlformats-officedocument.presentationml.slideLayout+xml",
		"ppt/theme/theme1.xml", "application/vnd.openxmlformats-officedocument.theme+xml",
		"ppt/notesMasters/notesMaster1.xml", "application/vnd.openxmlformats-officedocument.presentationml.notesMaster+xml",
		"ppt/theme/theme2.xml", "application/vnd.openxmlformats-officedocument.theme+xml",
		"docProps/core.xml", ctCore,
	}
	for i, s := range slides {
		overrides = append(overrides, fmt.Sprintf("ppt/slides/slide%d.xml", i+1), "application/vnd.openxmlformats-officedocument.presentationml.slide+xml")
		if len(s.Notes) > 0 {
			overrides = append(overrides, fmt.Sprintf("ppt/notesSlides/notesSlide%d.xml", i+1), "application/vnd.openxmlformats-officedocument.presentationml.notesSlide+xml")
		}
	}
	p := newOffice(contentTypes(overrides...), "ppt/presentation.xml", title, author)

	var pres, presRels strings.Builder
	pres.WriteString(xmlHeader + `<p:presentation ` + ns + ` saveSubsetFonts="1"><p:sldMasterIdLst><p:sldMasterId id="2147483648" r:id="rId1"/></p:sldMasterIdLst><p:notesMasterIdLst><p:notesMasterId r:id="rId3"/></p:notesMasterIdLst><p:sldIdLst>`)
	triples := []string{"rId1", "http://schemas.openxmlformats.org/officeDocument/2006/relationships/slideMaster", "slideMasters/slideMaster1.xml",
		"rId2", "http://schemas.openxmlformats.org/officeDocument/2006/relationships/theme", "theme/theme1.xml",
		"rId3", relNotesMaster, "notesMasters/notesMaster1.xml"}
	for i := range slides {
		id := fmt.Sprintf("rId%d", i+10)
		fmt.Fprintf(&pres, `<p:sldId id="%d" r:id="%s"/>`, 256+i, id)
		triples = append(triples, id, "http://schemas.openxmlformats.org/officeDocument/2006/relationships/slide", fmt.Sprintf("slides/slide%d.xml", i+1))
	}
	fmt.Fprintf(&pres, `</p:sldIdLst><p:sldSz cx="%d" cy="%d"/><p:notesSz cx="6858000" cy="9144000"/></p:presentation>`, cx, cy)
	presRels.WriteString(rels(triples...))
	p.add("ppt/presentation.xml", pres.String())
	p.add("ppt/_rels/presentation.xml.rels", presRels.String())

	relLayout := "http://schemas.openxmlformats.org/officeDocument/2006/relationships/slideLayout"
	p.add("ppt/slideMasters/slideMaster1.xml", xmlHeader+`<p:sldMaster `+ns+`>`+
		tree(sp(2, "Title Placeholder 1", titlePh, tx, ty, tw, th, nil)+sp(3, "Text Placeholder 2", `<p:ph type="body" idx="1"/>`, bx, by, bw, bh, nil))+
		`<p:clrMap bg1="lt1" tx1="dk1" bg2="lt2" tx2="dk2" accent1="accent1" accent2="accent2" accent3="accent3" accent4="accent4" accent5="accent5" accent6="accent6" hlink="hlink" folHlink="folHlink"/>`+
		`<p:sldLayoutIdLst><p:sldLayoutId id="2147483649" r:id="rId1"/></p:sldLayoutIdLst></p:sldMaster>`)
	p.add("ppt/slideMasters/_rels/slideMaster1.xml.rels", rels("rId1", relLayout, "../slideLayouts/slideLayout1.xml",
		"rId2", "http://schemas.openxmlformats.org/officeDocument/2006/relationships/theme", "../theme/theme1.xml"))
	p.add("ppt/slideLayouts/slideLayout1.xml", xmlHeader+`<p:sldLayout `+ns+` type="obj" preserve="1">`+
		strings.Replace(tree(sp(2, "Title 1", titlePh, tx, ty, tw, th, nil)+sp(3, "Content Placeholder 2", bodyPh, bx, by, bw, bh, nil)), `<p:cSld>`, `<p:cSld name="Title and Content">`, 1)+
		`<p:clrMapOvr><a:masterClrMapping/></p:clrMapOvr></p:sldLayout>`)
	p.add("ppt/slideLayouts/_rels/slideLayout1.xml.rels", rels("rId1", "http://schemas.openxmlformats.org/officeDocument/2006/relationships/slideMaster", "../slideMasters/slideMaster1.xml"))
	p.add("ppt/theme/theme1.xml", theme)
	clrMap := `<p:clrMap bg1="lt1" tx1="dk1" bg2="lt2" tx2="dk2" accent1="accent1" accent2="accent2" accent3="accent3" accent4="accent4" accent5="accent5" accent6="accent6" hlink="hlink" folHlink="folHlink"/>`
	const nx, ny, nw, nh = 685800, 4400550, 5486400, 3600450
	p.add("ppt/notesMasters/notesMaster1.xml", xmlHeader+`<p:notesMaster `+ns+`>`+tree(sp(2, "Notes Placeholder 1", `<p:ph type="body" idx="1"/>`, nx, ny, nw, nh, nil))+clrMap+`</p:notesMaster>`)
	p.add("ppt/notesMasters/_rels/notesMaster1.xml.rels", rels("rId1", "http://schemas.openxmlformats.org/officeDocument/2006/relationships/theme", "../theme/theme2.xml"))
	p.add("ppt/theme/theme2.xml", theme)

	for i, s := range slides {
		shapes := sp(2, "Title 1", titlePh, tx, ty, tw, th, []string{s.Title})
		if len(s.Bullets) > 0 {
			shapes += sp(3, "Content Placeholder 2", bodyPh, bx, by, bw, bh, s.Bullets)
		}
		if s.Table != nil {
			var t strings.Builder
			cols := len(s.Table[0])
			fmt.Fprintf(&t, `<p:graphicFrame><p:nvGraphicFramePr><p:cNvPr id="4" name="Table 3"/><p:cNvGraphicFramePr><a:graphicFrameLocks noGrp="1"/></p:cNvGraphicFramePr><p:nvPr/></p:nvGraphicFramePr><p:xfrm><a:off x="%d" y="%d"/><a:ext cx="%d" cy="%d"/></p:xfrm>`, bx, by+bh/2, bw, 370840*len(s.Table))
			t.WriteString(`<a:graphic><a:graphicData uri="http://schemas.openxmlformats.org/drawingml/2006/table"><a:tbl><a:tblPr firstRow="1" bandRow="1"/><a:tblGrid>`)
			for range cols {
				fmt.Fprintf(&t, `<a:gridCol w="%d"/>`, bw/cols)
			}
			t.WriteString(`</a:tblGrid>`)
			for _, row := range s.Table {
				t.WriteString(`<a:tr h="370840">`)
				for _, c := range row {
					t.WriteString(`<a:tc><a:txBody><a:bodyPr/><a:lstStyle/><a:p><a:r><a:rPr lang="en-US" dirty="0"/><a:t>` + esc(c) + `</a:t></a:r></a:p></a:txBody><a:tcPr/></a:tc>`)
				}
				t.WriteString(`</a:tr>`)
			}
			t.WriteString(`</a:tbl></a:graphicData></a:graphic></p:graphicFrame>`)
			shapes += t.String()
		}
		p.add(fmt.Sprintf("ppt/slides/slide%d.xml", i+1), xmlHeader+`<p:sld `+ns+`>`+tree(shapes)+`<p:clrMapOvr><a:masterClrMapping/></p:clrMapOvr></p:sld>`)
		slideRels := []string{"rId1", relLayout, "../slideLayouts/slideLayout1.xml"}
		if len(s.Notes) > 0 {
			notes := fmt.Sprintf("notesSlide%d.xml", i+1)
			slideRels = append(slideRels, "rId2", "http://schemas.openxmlformats.org/officeDocument/2006/relationships/notesSlide", "../notesSlides/"+notes)
			p.add("ppt/notesSlides/"+notes, xmlHeader+`<p:notes `+ns+`>`+tree(sp(2, "Slide Image Placeholder 1", `<p:ph type="sldImg"/>`, nx, 685800, nw, 3429000, nil)+
				sp(3, "Notes Placeholder 2", `<p:ph type="body" idx="1"/>`, nx, ny, nw, nh, s.Notes))+`<p:clrMapOvr><a:masterClrMapping/></p:clrMapOvr></p:notes>`)
			p.add("ppt/notesSlides/_rels/"+notes+".rels", rels("rId1", relNotesMaster, "../notesMasters/notesMaster1.xml",
				"rId2", "http://schemas.openxmlformats.org/officeDocument/2006/relationships/slide", fmt.Sprintf("../slides/slide%d.xml", i+1)))
		}
		p.add(fmt.Sprintf("ppt/slides/_rels/slide%d.xml.rels", i+1), rels(slideRels...))
	}
	return p.bytes()
}

// theme is a minimal Office theme: the colours, fonts and formats a deck must declare.
const theme = xmlHeader + `<a:theme xmlns:a="` + nsA + `" name="Office Theme"><a:themeElements>` +
	`<a:clrScheme name="Office"><a:dk1><a:sysClr val="windowText" lastClr="000000"/></a:dk1><a:lt1><a:sysClr val="window" lastClr="FFFFFF"/></a:lt1>` +
	`<a:dk2><a:srgbClr val="44546A"/></a:dk2><a:lt2><a:srgbClr val="E7E6E6"/></a:lt2><a:accent1><a:srgbClr val="4472C4"/></a:accent1><a:accent2><a:srgbClr val="ED7D31"/></a:accent2>` +
	`<a:accent3><a:srgbClr val="A5A5A5"/></a:accent3><a:accent4><a:srgbClr val="FFC000"/></a:accent4><a:accent5><a:srgbClr val="5B9BD5"/></a:accent5><a:accent6><a:srgbClr val="70AD47"/></a:accent6>` +
	`<a:hlink><a:srgbClr val="0563C1"/></a:hlink><a:folHlink><a:srgbClr val="954F72"/></a:folHlink></a:clrScheme>` +
	`<a:fontScheme name="Office"><a:majorFont><a:latin typeface="Calibri Light"/><a:ea typeface=""/><a:cs typeface=""/></a:majorFont><a:minorFont><a:latin typeface="Calibri"/><a:ea typeface=""/><a:cs typeface=""/></a:minorFont></a:fontScheme>` +
	`<a:fmtScheme name="Office"><a:fillStyleLst><a:solidFill><a:schemeClr val="phClr"/></a:solidFill><a:solidFill><a:schemeClr val="phClr"/></a:solidFill><a:solidFill><a:schemeClr val="phClr"/></a:solidFill></a:fillStyleLst>` +
	`<a:lnStyleLst><a:ln w="6350"><a:solidFill><a:schemeClr val="phClr"/></a:solidFill></a:ln><a:ln w="12700"><a:solidFill><a:schemeClr val="phClr"/></a:solidFill></a:ln><a:ln w="19050"><a:solidFill><a:schemeClr val="phClr"/></a:solidFill></a:ln></a:lnStyleLst>` +
	`<a:effectStyleLst><a:effectStyle><a:effectLst/></a:effectStyle><a:effectStyle><a:effectLst/></a:effectStyle><a:effectStyle><a:effectLst/></a:effectStyle></a:effectStyleLst>` +
	`<a:bgFillStyleLst><a:solidFill><a:schemeClr val="phClr"/></a:solidFill><a:solidFill><a:schemeClr val="phClr"/></a:solidFill><a:solidFill><a:schemeClr val="phClr"/></a:solidFill></a:bgFillStyleLst></a:fmtScheme>` +
	`</a:themeElements></a:theme>`

// Sheet is a worksheet: its name and rows of cells, each a string or a number (int or
// float64); the first row is its header. Comments are notes on its cells.
type Sheet struct {
	Name     string
	Rows     [][]any
	Comments []Comment
}

// Comment is a note on a cell (Row and Col 0-based, as in Sheet.Rows) by Author.
type Comment struct {
	Row, Col     int
	Author, Text string
}

// XLSX writes a workbook; strings are inline, numbers stored as numbers.
func XLSX(title, author string, sheets []Sheet) ([]byte, error) {
	const main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
	overrides := []string{
		"xl/workbook.xml", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
		"xl/styles.xml", "application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml",
		"docProps/core.xml", ctCore,
	}
	for i, s := range sheets {
		overrides = append(overrides, fmt.Sprintf("xl/worksheets/sheet%d.xml", i+1), "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml")
		if len(s.Comments) > 0 {
			overrides = append(overrides, fmt.Sprintf("xl/comments%d.xml", i+1), "application/vnd.openxmlformats-officedocument.spreadsheetml.comments+xml")
		}
	}
	p := newOffice(strings.Replace(contentTypes(overrides...), `<Default Extension="xml"`,
		`<Default Extension="vml" ContentType="application/vnd.openxmlformats-officedocument.vmlDrawing"/><Default Extension="xml"`, 1),
		"xl/workbook.xml", title, author)
	var wb strings.Builder
	wb.WriteString(xmlHeader + `<workbook xmlns="` + main + `" xmlns:r="` + nsR + `"><sheets>`)
	triples := []string{"rId1", relStyles, "styles.xml"}
	for i, s := range sheets {
		fmt.Fprintf(&wb, `<sheet name="%s" sheetId="%d" r:id="rId%d"/>`, esc(s.Name), i+1, i+10)
		triples = append(triples, fmt.Sprintf("rId%d", i+10), "http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet", fmt.Sprintf("worksheets/sheet%d.xml", i+1))
	}
	wb.WriteString(`</sheets></workbook>`)
	p.add("xl/workbook.xml", wb.String())
	p.add("xl/_rels/workbook.xml.rels", rels(triples...))
	p.add("xl/styles.xml", xmlHeader+`<styleSheet xmlns="`+main+`"><fonts count="2"><font><sz val="11"/><name val="Calibri"/></font><font><b/><sz val="11"/><name val="Calibri"/></font></fonts>`+
		`<fills count="2"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/></fill></fills><borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>`+
		`<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs><cellXfs count="2"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/><xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/></cellXfs>`+
		`<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles></styleSheet>`)
	for i, s := range sheets {
		var ws strings.Builder
		ws.WriteString(xmlHeader + `<worksheet xmlns="` + main + `"><sheetData>`)
		for r, row := range s.Rows {
			fmt.Fprintf(&ws, `<row r="%d">`, r+1)
			for c, v := range row {
				ref := fmt.Sprintf("%s%d", column(c), r+1)
				style := ""
				if r == 0 {
					style = ` s="1"`
				}
				switch v := v.(type) {
				case string:
					fmt.Fprintf(&ws, `<c r="%s"%s t="inlineStr"><is><t>%s</t></is></c>`, ref, style, esc(v))
				case int:
					fmt.Fprintf(&ws, `<c r="%s"%s><v>%d</v></c>`, ref, style, v)
				case float64:
					fmt.Fprintf(&ws, `<c r="%s"%s><v>%v</v></c>`, ref, style, v)
				default:
					return nil, fmt.Errorf("officegen: sheet %q cell %s: a %T, want a string or a number", s.Name, ref, v)
				}
			}
			ws.WriteString(`</row>`)
		}
		ws.WriteString(`</sheetData>`)
		if len(s.Comments) > 0 {
			ws.WriteString(`<legacyDrawing r:id="rId2"/>`)
			n := i + 1
			p.add(fmt.Sprintf("xl/worksheets/_rels/sheet%d.xml.rels", n), rels(
				"rId1", "http://schemas.openxmlformats.org/officeDocument/2006/relationships/comments", fmt.Sprintf("../comments%d.xml", n),
				"rId2", "http://schemas.openxmlformats.org/officeDocument/2006/relationships/vmlDrawing", fmt.Sprintf("../drawings/vmlDrawing%d.vml", n)))
			p.add(fmt.Sprintf("xl/comments%d.xml", n), comments(main, s.Comments))
			p.add(fmt.Sprintf("xl/drawings/vmlDrawing%d.vml", n), commentShapes(n, s.Comments))
		}
		ws.WriteString(`</worksheet>`)
		p.add(fmt.Sprintf("xl/worksheets/sheet%d.xml", i+1), strings.Replace(ws.String(), `<worksheet xmlns="`+main+`">`, `<worksheet xmlns="`+main+`" xmlns:r="`+nsR+`">`, 1))
	}
	return p.bytes()
}

// column returns a spreadsheet column's letters (0: A).
func column(c int) string {
	s := ""
	for c++; c > 0; c = (c - 1) / 26 {
		s = string(rune('A'+(c-1)%26)) + s
	}
	return s
}

// comments writes a sheet's comments part.
func comments(ns string, cs []Comment) string {
	var authors []string
	var list strings.Builder
	for _, c := range cs {
		id := slices.Index(authors, c.Author)
		if id < 0 {
			id = len(authors)
			authors = append(authors, c.Author)
		}
		fmt.Fprintf(&list, `<comment ref="%s%d" authorId="%d"><text><r><t xml:space="preserve">%s</t></r></text></comment>`, column(c.Col), c.Row+1, id, esc(c.Text))
	}
	var b strings.Builder
	b.WriteString(xmlHeader + `<comments xmlns="` + ns + `"><authors>`)
	for _, a := range authors {
		b.WriteString(`<author>` + esc(a) + `</author>`)
	}
	b.WriteString(`</authors><commentList>` + list.String() + `</commentList></comments>`)
	return b.String()
}

// commentShapes writes the VML drawing Excel shows a sheet's comments with (hidden until the
// cell is pointed at).
func commentShapes(sheet int, cs []Comment) string {
	var b strings.Builder
	fmt.Fprintf(&b, `<xml xmlns:v="urn:schemas-microsoft-com:vml" xmlns:o="urn:schemas-microsoft-com:office:office" xmlns:x="urn:schemas-microsoft-com:office:excel">`+
		`<o:shapelayout v:ext="edit"><o:idmap v:ext="edit" data="%d"/></o:shapelayout>`+
		`<v:shapetype id="_x0000_t202" coordsize="21600,21600" o:spt="202" path="m,l,21600r21600,l21600,xe"><v:stroke joinstyle="miter"/><v:path gradientshapeok="t" o:connecttype="rect"/></v:shapetype>`, sheet)
	for i, c := range cs {
		fmt.Fprintf(&b, `<v:shape id="_x0000_s%d" type="#_x0000_t202" style="position:absolute;margin-left:59.25pt;margin-top:1.5pt;width:144pt;height:72pt;z-index:%d;visibility:hidden" fillcolor="#ffffe1" o:insetmode="auto">`+
			`<v:fill color2="#ffffe1"/><v:shadow on="t" color="black" obscured="t"/><v:path o:connecttype="none"/><v:textbox style="mso-direction-alt:auto"><div style="text-align:left"></div></v:textbox>`+
			`<x:ClientData ObjectType="Note"><x:MoveWithCells/><x:SizeWithCells/><x:Anchor>%d, 15, %d, 2, %d, 15, %d, 16</x:Anchor><x:AutoFill>False</x:AutoFill><x:Row>%d</x:Row><x:Column>%d</x:Column></x:ClientData></v:shape>`,
			sheet*1024+1+i, i+1, c.Col+1, c.Row, c.Col+3, c.Row+4, c.Row, c.Col)
	}
	b.WriteString(`</xml>`)
	return b.String()
}
