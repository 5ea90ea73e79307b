package extract

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/docent-rag/docent/internal/chunk"
)

// zipPackage builds a zip package from part names and contents, in the order given.
func zipPackage(t testing.TB, parts ...string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	writeParts(t, zw, parts...)
	return buf.Bytes()
}

// writeParts writes parts (names and contents, in the order given) and closes the package.
func writeParts(t testing.TB, zw *zip.Writer, parts ...string) {
	t.Helper()
	for i := 0; i+1 < len(parts); i += 2 {
		w, err := zw.Create(parts[i])
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(parts[i+1])); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
}

// blockView is a block as the tests compare it.
type blockView struct {
	Kind       chunk.Kind
	Level      int
	Page       int
	HeaderRows int
	Locator    string
	Text       string
}

func viewBlocks(doc Document) []blockView {
	out := make([]blockView, len(doc.Blocks))
	for i, b := range doc.Blocks {
		out[i] = blockView{b.Kind, b.Level, b.Page, b.HeaderRows, b.Locator, doc.Text[b.Start:b.End]}
	}
	return out
}

func checkBlocks(t *testing.T, doc Document, want []blockView) {
	t.Helper()
	checkDocument(t, "doc", doc)
	got := viewBlocks(doc)
	if len(got) != len(want) {
		t.Errorf("%d blocks, want %d", len(got), len(want))
	}
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			t.Errorf("block %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
	if t.Failed() {
		for i, b := range got {
			t.Logf("%d: %+v", i, b)
		}
	}
}

const wNS = `xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main" xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"`

// testDOCX is a Word document with every structure the extractor keeps.
func testDOCX(t testing.TB) []byte {
	body := `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w:document ` + wNS + `><w:body>
<w:p><w:pPr><w:pStyle w:val="Title"/></w:pPr><w:r><w:t>Quarterly report</w:t></w:r></w:p>
<w:p><w:pPr><w:pStyle w:val="Heading1"/></w:pPr><w:r><w:t>Sales</w:t></w:r></w:p>
<w:p><w:r><w:t xml:space="preserve">Revenue grew </w:t></w:r><w:ins w:id="1" w:author="A"><w:r><w:t>strongly</w:t></w:r></w:ins><w:del w:id="2" w:author="A"><w:r><w:delText>slightly</w:delText></w:r></w:del><w:r><w:t xml:space="preserve"> in </w:t></w:r><w:hyperlink r:id="rId9"><w:r><w:t>Europe</w:t></w:r></w:hyperlink><w:r><w:fldChar w:fldCharType="begin"/></w:r><w:r><w:instrText>PAGE</w:instrText></w:r><w:r><w:t>.</w:t></w:r><w:r><w:footnoteReference w:id="2"/></w:r><w:commentRangeStart w:id="0"/></w:p>
<w:p><w:pPr><w:pStyle w:val="Sub"/></w:pPr><w:r><w:t>By region</w:t></w:r></w:p>
<w:p><w:pPr><w:numPr><w:ilvl w:val="0"/><w:numId w:val="3"/></w:numPr></w:pPr><w:r><w:t>North</w:t></w:r></w:p>
<w:p><w:pPr><w:numPr><w:ilvl w:val="0"/><w:numId w:val="3"/></w:numPr></w:pPr><w:r><w:t>South</w:t></w:r></w:p>
<w:tbl>
<w:tr><w:trPr><w:tblHeader/></w:trPr><w:tc><w:p><w:r><w:t>Region</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>Q1</w:t></w:r></w:p></w:tc></w:tr>
<w:tr><w:trPr><w:tblHeader/></w:trPr><w:tc><w:p><w:r><w:t>(EUR)</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>(k)</w:t></w:r></w:p></w:tc></w:tr>
<w:tr><w:tc><w:p><w:r><w:t>North</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>10</w:t></w:r></w:p><w:p><w:r><w:t>est.</w:t></w:r></w:p></w:tc></w:tr>
<w:tr><w:tc><w:p><w:r><w:t>South</w:t></w:r></w:p></w:tc><w:tc><w:tbl><w:tr><w:tc><w:p><w:r><w:t>nested</w:t></w:r></w:p></w:tc></w:tr></w:tbl></w:tc></w:tr>
</w:tbl>
<w:p><w:r><mc:AlternateContent><mc:Choice Requires="wps"><w:drawing><w:txbxContent><w:p><w:r><w:t>Boxed note</w:t></w:r></w:p></w:txbxContent></w:drawing></mc:Choice><mc:Fallback><w:pict><w:txbxContent><w:p><w:r><w:t>Boxed note</w:t></w:r></w:p></w:txbxContent></w:pict></mc:Fallback></mc:AlternateContent></w:r><w:r><w:t>Anchor text</w:t></w:r></w:p>
<w:p><w:pPr><w:outlineLvl w:val="2"/></w:pPr><w:r><w:t>Direct outline</w:t></w:r></w:p>
</w:body></w:document>`
	styles := `<w:styles ` + wNS + `>
<w:style w:type="paragraph" w:styleId="Title"><w:name w:val="Title"/></w:style>
<w:style w:type="paragraph" w:styleId="Heading1"><w:name w:val="heading 1"/><w:pPr><w:outlineLvl w:val="0"/></w:pPr></w:style>
<w:style w:type="paragraph" w:styleId="Heading2"><w:name w:val="heading 2"/></w:style>
<w:style w:type="paragraph" w:styleId="Sub"><w:name w:val="My sub"/><w:basedOn w:val="Heading2"/></w:style>
</w:styles>`
	footnotes := `<w:footnotes ` + wNS + `><w:footnote w:type="separator" w:id="-1"><w:p><w:r><w:separator/></w:r></w:p></w:footnote><w:footnote w:id="2"><w:p><w:r><w:t>Unaudited figures.</w:t></w:r></w:p></w:footnote></w:footnotes>`
	comments := `<w:comments ` + wNS + `><w:comment w:id="0" w:author="Ana Ruiz"><w:p><w:r><w:t>Check the EU number</w:t></w:r></w:p></w:comment></w:comments>`
	header := `<w:hdr ` + wNS + `><w:p><w:r><w:t>ACME confidential</w:t></w:r></w:p></w:hdr>`
	return zipPackage(t, "[Content_Types].xml", `<Types/>`, "word/document.xml", body, "word/styles.xml", styles,
		"word/footnotes.xml", footnotes, "word/comments.xml", comments, "word/header1.xml", header, "word/header2.xml", header)
}

func TestDOCXStructure(t *testing.T) {
	t.Parallel()
	doc, err := docxExtract(context.Background(), testDOCX(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	checkBlocks(t, doc, []blockView{
		{Kind: chunk.Heading, Level: 1, Text: "Quarterly report"},
		{Kind: chunk.Heading, Level: 1, Text: "Sales"},
		{Kind: chunk.Paragraph, Text: "Revenue grew strongly in Europe."},
		{Kind: chunk.Heading, Level: 2, Text: "By region"},
		{Kind: chunk.ListItem, Text: "North"},
		{Kind: chunk.ListItem, Text: "South"},
		{Kind: chunk.Table, HeaderRows: 2, Text: "Region | Q1\n(EUR) | (k)\nNorth | 10 est.\nSouth | nested"},
		{Kind: chunk.Paragraph, Text: "Boxed note"},
		{Kind: chunk.Paragraph, Text: "Anchor text"},
		{Kind: chunk.Heading, Level: 3, Text: "Direct outline"},
		{Kind: chunk.Paragraph, Text: "Footnote 1: Unaudited figures."},
		{Kind: chunk.Paragraph, Text: "Comment (Ana Ruiz): Check the EU number"},
		{Kind: chunk.Paragraph, Text: "Header: ACME confidential"},
	})
	if doc.Title != "Quarterly report" || doc.ContentType != "application/vnd.openxmlformats-officedocument.wordprocessingml.document" {
		t.Errorf("title %q, content type %q", doc.Title, doc.ContentType)
	}
	if strings.Contains(doc.Text, "slightly") || strings.Contains(doc.Text, "PAGE") {
		t.Errorf("deleted text or a field code kept: %q", doc.Text)
	}
}

// A long table in a Word document reaches every chunk that carries its rows with its
// header: extraction sets HeaderRows, the chunker repeats them.
func TestDOCXTableHeaderInEveryChunk(t *testing.T) {
	t.Parallel()
	var rows strings.Builder
	rows.WriteString(`<w:tr><w:tc><w:p><w:r><w:t>Part number</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>Torque (Nm)</w:t></w:r></w:p></w:tc></w:tr>`)
	for i := range 300 {
		fmt.Fprintf(&rows, `<w:tr><w:tc><w:p><w:r><w:t>P-%04d</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>%d</w:t></w:r></w:p></w:tc></w:tr>`, i, 10+i%50)
	}
	data := zipPackage(t, "word/document.xml", `<w:document `+wNS+`><w:body><w:tbl>`+rows.String()+`</w:tbl></w:body></w:document>`)
	doc, err := docxExtract(context.Background(), data, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := chunk.New(chunk.Config{})
	if err != nil {
		t.Fatal(err)
	}
	chunks := c.Split(doc.Document)
	if len(chunks) < 3 {
		t.Fatalf("%d chunks, want the table in several", len(chunks))
	}
	for i, ch := range chunks {
		if !strings.HasPrefix(ch.Content(), "Part number | Torque (Nm)\n") {
			t.Errorf("chunk %d does not start with the table's header: %.60q", i, ch.Content())
		}
	}
}

const pNS = `xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships" xmlns:p="http://schemas.openxmlformats.org/presentationml/2006/main"`

func slideXML(title string, body ...string) string {
	var b strings.Builder
	b.WriteString(`<p:sld ` + pNS + `><p:cSld><p:spTree>`)
	for _, text := range body {
		fmt.Fprintf(&b, `<p:sp><p:nvSpPr><p:nvPr><p:ph type="body" idx="1"/></p:nvPr></p:nvSpPr><p:txBody><a:p><a:r><a:t>%s</a:t></a:r></a:p></p:txBody></p:sp>`, text)
	}
	if title != "" {
		fmt.Fprintf(&b, `<p:sp><p:nvSpPr><p:nvPr><p:ph type="title"/></p:nvPr></p:nvSpPr><p:txBody><a:p><a:r><a:t>%s</a:t></a:r></a:p></p:txBody></p:sp>`, title)
	}
	b.WriteString(`<p:sp><p:nvSpPr><p:nvPr><p:ph type="sldNum"/></p:nvPr></p:nvSpPr><p:txBody><a:p><a:r><a:t>‹#›</a:t></a:r></a:p></p:txBody></p:sp>`)
	return b.String()
}

// testPPTX is a deck of three slides: a title, bullets, a table and notes; a slide without
// a title; the slides listed out of their parts' order.
func testPPTX(t testing.TB) []byte {
	s1 := slideXML("Roadmap", "Ship the API", "Hire two engineers") + `<p:graphicFrame><a:graphic><a:graphicData><a:tbl>
<a:tr><a:tc><a:txBody><a:p><a:r><a:t>Milestone</a:t></a:r></a:p></a:txBody></a:tc><a:tc><a:txBody><a:p><a:r><a:t>Date</a:t></a:r></a:p></a:txBody></a:tc></a:tr>
<a:tr><a:tc><a:txBody><a:p><a:r><a:t>Beta</a:t></a:r></a:p></a:txBody></a:tc><a:tc><a:txBody><a:p><a:r><a:t>March</a:t></a:r></a:p></a:txBody></a:tc></a:tr>
</a:tbl></a:graphicData></a:graphic></p:graphicFrame></p:spTree></p:cSld></p:sld>`
	s2 := slideXML("", "Questions?") + `</p:spTree></p:cSld></p:sld>`
	s3 := slideXML("Budget") + `</p:spTree></p:cSld></p:sld>`
	notes := `<p:notes ` + pNS + `><p:cSld><p:spTree><p:sp><p:nvSpPr><p:nvPr><p:ph type="sldImg"/></p:nvPr></p:nvSpPr></p:sp><p:sp><p:nvSpPr><p:nvPr><p:ph type="body" idx="1"/></p:nvPr></p:nvSpPr><p:txBody><a:p><a:r><a:t>Mention the hiring freeze.</a:t></a:r></a:p></p:txBody></p:sp></p:spTree></p:cSld></p:notes>`
	pres := `<p:presentation ` + pNS + `><p:sldIdLst><p:sldId id="256" r:id="rId3"/><p:sldId id="257" r:id="rId2"/><p:sldId id="258" r:id="rId4"/></p:sldIdLst></p:presentation>`
	rels := `<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">
<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/slide" Target="slides/slide2.xml"/>
<Relationship Id="rId3" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/slide" Target="slides/slide1.xml"/>
<Relationship Id="rId4" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/slide" Target="/ppt/slides/slide3.xml"/>
<Relationship Id="rId9" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/hyperlink" Target="http://example.com/" TargetMode="External"/>
</Relationships>`
	s1rels := `<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/notesSlide" Target="../notesSlides/notesSlide1.xml"/></Relationships>`
	return zipPackage(t, "ppt/presentation.xml", pres, "ppt/_rels/presentation.xml.rels", rels,
		"ppt/slides/slide1.xml", s1, "ppt/slides/slide2.xml", s2, "ppt/slides/slide3.xml", s3,
		"ppt/slides/_rels/slide1.xml.rels", s1rels, "ppt/notesSlides/notesSlide1.xml", notes)
}

func TestPPTXStructure(t *testing.T) {
	t.Parallel()
	doc, err := pptxExtract(context.Background(), testPPTX(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	checkBlocks(t, doc, []blockView{
		{Kind: chunk.Heading, Level: 1, Page: 1, Text: "Roadmap"},
		{Kind: chunk.ListItem, Page: 1, Text: "Ship the API"},
		{Kind: chunk.ListItem, Page: 1, Text: "Hire two engineers"},
		{Kind: chunk.Table, Page: 1, HeaderRows: 1, Text: "Milestone | Date\nBeta | March"},
		{Kind: chunk.Paragraph, Page: 1, Text: "Notes: Mention the hiring freeze."},
		{Kind: chunk.Heading, Level: 1, Page: 2, Text: "Slide 2"},
		{Kind: chunk.ListItem, Page: 2, Text: "Questions?"},
		{Kind: chunk.Heading, Level: 1, Page: 3, Text: "Budget"},
	})
	if doc.Pages != 3 || doc.PageUnit != PageUnitSlide || len(doc.PageStarts) != 3 {
		t.Errorf("pages %d, unit %q, starts %v", doc.Pages, doc.PageUnit, doc.PageStarts)
	}
	if err := officeCheckDocument(doc); err != nil {
		t.Error(err)
	}
}

const xNS = `xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"`

// testXLSX is a workbook with a data sheet of many rows (header, shared strings, a formula's
// cached value, a value merged down, a comment), a hidden sheet and a small sheet.
func testXLSX(t testing.TB, dataRows int) []byte {
	var rows strings.Builder
	rows.WriteString(`<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c><c r="C1" t="inlineStr"><is><t>Total</t></is></c></row>`)
	for i := 2; i <= dataRows+1; i++ {
		a := fmt.Sprintf(`<c r="A%d" t="str"><v>Item %d</v></c>`, i, i-1)
		if i == 3 || i == 4 {
			a = "" // under the merged A2:A4
		}
		fmt.Fprintf(&rows, `<row r="%d">%s<c r="B%d"><v>%d.5</v></c><c r="C%d"><f>B%d*2</f><v>%d</v></c></row>`, i, a, i, i, i, i, 2*i+1)
	}
	sheet1 := `<worksheet ` + xNS + `><sheetData>` + rows.String() + `</sheetData><mergeCells count="1"><mergeCell ref="A2:A4"/></mergeCells></worksheet>`
	sheet3 := `<worksheet ` + xNS + `><sheetData><row r="3"><c r="C3" t="b"><v>1</v></c><c r="D3" t="e"><v>#DIV/0!</v></c><c r="E3"><v>0.30000000000000004</v></c><c r="F3" s="1"><v>45352</v></c><c r="G3" s="2"><v>45352.75</v></c><c r="H3" s="1"><v>17</v></c></row></sheetData></worksheet>`
	book := `<workbook ` + xNS + `><sheets><sheet name="Budget" sheetId="1" r:id="rId1"/><sheet name="Secret" sheetId="2" state="hidden" r:id="rId2"/><sheet name="Misc" sheetId="3" r:id="rId3"/></sheets></workbook>`
	rels := `<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">
<Relationship Id="rId1" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Target="worksheets/sheet2.xml"/><Relationship Id="rId3" Target="worksheets/sheet3.xml"/></Relationships>`
	shared := `<sst ` + xNS + `><si><t>Name</t></si><si><r><t>Pri</t></r><r><t>ce</t></r><rPh><t>ぷらいす</t></rPh></si></sst>`
	comments := `<comments ` + xNS + `><authors><author>Bo</author></authors><commentList><comment ref="B3" authorId="0"><text><r><t>Discounted</t></r></text></comment></commentList></comments>`
	s1rels := `<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Target="../comments1.xml"/></Relationships>`
	styles := `<styleSheet ` + xNS + `><numFmts><numFmt numFmtId="164" formatCode="yyyy\-mm\-dd\ hh:mm"/></numFmts><cellXfs><xf numFmtId="0"/><xf numFmtId="14"/><xf numFmtId="164"/></cellXfs></styleSheet>`
	return zipPackage(t, "xl/styles.xml", styles, "xl/workbook.xml", book, "xl/_rels/workbook.xml.rels", rels, "xl/sharedStrings.xml", shared,
		"xl/worksheets/sheet1.xml", sheet1, "xl/worksheets/sheet2.xml", `<worksheet `+xNS+`><sheetData><row r="1"><c><v>42</v></c></row></sheetData></worksheet>`,
		"xl/worksheets/sheet3.xml", sheet3, "xl/worksheets/_rels/sheet1.xml.rels", s1rels, "xl/comments1.xml", comments)
}

func TestXLSXStructure(t *testing.T) {
	t.Parallel()
	doc, err := xlsxExtract(testXLSX(t, 30))
	if err != nil {
		t.Fatal(err)
	}
	var first, second strings.Builder
	first.WriteString("Name | Price | Total")
	for i := 2; i <= 25; i++ {
		item := fmt.Sprintf("Item %d", i-1)
		if i == 3 || i == 4 {
			item = "Item 1" // merged down from A2
		}
		fmt.Fprintf(&first, "\n%s | %d.5 | %d", item, i, 2*i+1)
	}
	second.WriteString("Name | Price | Total")
	for i := 26; i <= 31; i++ {
		fmt.Fprintf(&second, "\nItem %d | %d.5 | %d", i-1, i, 2*i+1)
	}
	checkBlocks(t, doc, []blockView{
		{Kind: chunk.Heading, Level: 1, Text: "Budget"},
		{Kind: chunk.Table, HeaderRows: 1, Locator: "Budget!A1:C25", Text: first.String()},
		{Kind: chunk.Table, HeaderRows: 1, Locator: "Budget!A26:C31", Text: second.String()},
		{Kind: chunk.Paragraph, Locator: "Budget!B3", Text: "Comment (Bo): Discounted"},
		{Kind: chunk.Heading, Level: 1, Text: "Misc"},
		{Kind: chunk.Table, Locator: "Misc!C3:H3", Text: "TRUE | #DIV/0! | 0.3 | 2024-03-01 | 2024-03-01 18:00:00 | 1900-01-17"},
	})
	if len(doc.Warnings) != 1 || doc.Warnings[0].Reason != WarnHiddenSheet || !strings.Contains(doc.Warnings[0].Message, "Secret") {
		t.Errorf("warnings %+v, want the hidden sheet", doc.Warnings)
	}
	if strings.Contains(doc.Text, "42") || strings.Contains(doc.Text, "ぷらいす") || strings.Contains(doc.Text, "B2*2") {
		t.Errorf("hidden sheet, phonetic run or formula in the text")
	}
}

// A sheet with more rows than the limit is cut, with a warning, and the rest of the
// workbook is read.
func TestXLSXRowLimit(t *testing.T) {
	t.Parallel()
	doc, err := xlsxExtract(testXLSX(t, officeMaxRows+10))
	if err != nil {
		t.Fatal(err)
	}
	var truncated bool
	for _, w := range doc.Warnings {
		truncated = truncated || w.Reason == WarnTruncated && strings.Contains(w.Message, `"Budget"`)
	}
	if !truncated {
		t.Errorf("warnings %+v, want the sheet truncated", doc.Warnings)
	}
	if n := strings.Count(doc.Text, "Item "); n > officeMaxRows+sheetBlockRows || n < officeMaxRows-1 {
		t.Errorf("%d rows kept, want about %d", n, officeMaxRows)
	}
	if !strings.Contains(doc.Text, "#DIV/0!") {
		t.Error("the sheet after the cut one is missing")
	}
}

const odfNS = `xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" xmlns:draw="urn:oasis:names:tc:opendocument:xmlns:drawing:1.0" xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0" xmlns:presentation="urn:oasis:names:tc:opendocument:xmlns:presentation:1.0" xmlns:dc="http://purl.org/dc/elements/1.1/"`

func odfPackage(t testing.TB, mime, body string, extra ...string) []byte {
	parts := []string{"mimetype", mime, "content.xml", `<office:document-content ` + odfNS + `>` + body + `</office:document-content>`,
		"META-INF/manifest.xml", `<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"/>`}
	return zipPackage(t, append(parts, extra...)...)
}

func TestODTStructure(t *testing.T) {
	t.Parallel()
	body := `<office:body><office:text>
<text:tracked-changes><text:changed-region text:id="c1"><text:deletion><text:p>removed words</text:p></text:deletion></text:changed-region></text:tracked-changes>
<text:h text:outline-level="1">Introduction</text:h>
<text:p>Plain <text:span>styled</text:span>  text<text:s text:c="2"/>here<text:note text:note-class="footnote"><text:note-citation>1</text:note-citation><text:note-body><text:p>A footnote.</text:p></text:note-body></text:note>.<office:annotation><dc:creator>Li Wei</dc:creator><dc:date>2024-01-01</dc:date><text:p>Rephrase</text:p></office:annotation> Added<text:change text:change-id="c1"/> words.</text:p>
<text:h text:outline-level="2">Steps</text:h>
<text:list><text:list-item><text:p>First</text:p></text:list-item><text:list-item><text:p>Second</text:p><text:list><text:list-item><text:p>Nested</text:p></text:list-item></text:list></text:list-item></text:list>
<table:table table:name="T"><table:table-header-rows><table:table-row><table:table-cell><text:p>Key</text:p></table:table-cell><table:table-cell><text:p>Value</text:p></table:table-cell></table:table-row></table:table-header-rows>
<table:table-row><table:table-cell><text:p>a</text:p></table:table-cell><table:table-cell><text:p>1</text:p></table:table-cell></table:table-row></table:table>
<text:p><draw:frame><draw:text-box><text:p>In a box</text:p></draw:text-box></draw:frame></text:p>
<text:p>Last<text:line-break/>line</text:p>
</office:text></office:body>`
	styles := `<office:document-styles ` + odfNS + `><office:master-styles><style:master-page style:name="Standard"><style:header><text:p>Draft</text:p></style:header><style:footer><text:p>Page <text:page-number>1</text:page-number></text:p></style:footer></style:master-page></office:master-styles></office:document-styles>`
	doc, err := odfExtract(context.Background(), odfPackage(t, "application/vnd.oasis.opendocument.text", body, "styles.xml", styles), FormatODT, nil)
	if err != nil {
		t.Fatal(err)
	}
	checkBlocks(t, doc, []blockView{
		{Kind: chunk.Heading, Level: 1, Text: "Introduction"},
		{Kind: chunk.Paragraph, Text: "Plain styled text here. Added words."},
		{Kind: chunk.Heading, Level: 2, Text: "Steps"},
		{Kind: chunk.ListItem, Text: "First"},
		{Kind: chunk.ListItem, Text: "Second"},
		{Kind: chunk.ListItem, Text: "Nested"},
		{Kind: chunk.Table, HeaderRows: 1, Text: "Key | Value\na | 1"},
		{Kind: chunk.Paragraph, Text: "In a box"},
		{Kind: chunk.Paragraph, Text: "Last\nline"},
		{Kind: chunk.Paragraph, Text: "Footnote 1: A footnote."},
		{Kind: chunk.Paragraph, Text: "Comment (Li Wei): Rephrase"},
		{Kind: chunk.Paragraph, Text: "Header: Draft"},
		{Kind: chunk.Paragraph, Text: "Footer: Page 1"},
	})
	if strings.Contains(doc.Text, "removed") || strings.Contains(doc.Text, "2024") {
		t.Errorf("deleted text or a comment's date kept: %q", doc.Text)
	}
}

func TestODSStructure(t *testing.T) {
	t.Parallel()
	body := `<office:automatic-styles><style:style style:name="ta2" style:family="table"><style:table-properties table:display="false"/></style:style></office:automatic-styles>
<office:body><office:spreadsheet>
<table:table table:name="Plan"><table:table-column table:number-columns-repeated="3"/>
<table:table-row><table:table-cell><text:p>Task</text:p></table:table-cell><table:table-cell table:number-columns-repeated="2"/><table:table-cell><text:p>Owner</text:p></table:table-cell><table:table-cell table:number-columns-repeated="16380"/></table:table-row>
<table:table-row table:number-rows-repeated="3"><table:table-cell office:value-type="float" office:value="7"/><table:table-cell table:number-columns-repeated="2"/><table:table-cell><text:p>Kim</text:p></table:table-cell></table:table-row>
<table:table-row table:number-rows-repeated="1048570"><table:table-cell table:number-columns-repeated="16384"/></table:table-row>
</table:table>
<table:table table:name="Hidden" table:style-name="ta2"><table:table-row><table:table-cell><text:p>secret</text:p></table:table-cell></table:table-row></table:table>
<table:table table:name="Bomb"><table:table-row table:number-rows-repeated="999999999"><table:table-cell table:number-columns-repeated="999999999" office:value-type="string"><text:p>X</text:p></table:table-cell></table:table-row></table:table>
</office:spreadsheet></office:body>`
	doc, err := odfExtract(context.Background(), odfPackage(t, "application/vnd.oasis.opendocument.spreadsheet", body), FormatODS, nil)
	if err != nil {
		t.Fatal(err)
	}
	blocks := viewBlocks(doc)
	if len(blocks) < 3 {
		t.Fatalf("blocks %+v", blocks)
	}
	want := []blockView{
		{Kind: chunk.Heading, Level: 1, Text: "Plan"},
		{Kind: chunk.Table, HeaderRows: 1, Locator: "Plan!A1:D4", Text: "Task |  |  | Owner\n7 |  |  | Kim\n7 |  |  | Kim\n7 |  |  | Kim"},
		{Kind: chunk.Heading, Level: 1, Text: "Bomb"},
	}
	for i, w := range want {
		if blocks[i] != w {
			t.Errorf("block %d:\n got %+v\nwant %+v", i, blocks[i], w)
		}
	}
	if strings.Contains(doc.Text, "secret") {
		t.Error("the hidden sheet was read")
	}
	if rows := strings.Count(doc.Text, "\nX"); rows > officeMaxRepeat+officeMaxRepeat/sheetBlockRows || len(doc.Text) > 1<<20 {
		t.Errorf("the bomb sheet yields %d rows, %d bytes", rows, len(doc.Text))
	}
	var hidden, truncated bool
	for _, w := range doc.Warnings {
		hidden = hidden || w.Reason == WarnHiddenSheet && strings.Contains(w.Message, "Hidden")
		truncated = truncated || w.Reason == WarnTruncated && strings.Contains(w.Message, "Bomb")
	}
	if !hidden || !truncated {
		t.Errorf("warnings %+v, want the hidden sheet and the truncated one", doc.Warnings)
	}
}

func TestODPStructure(t *testing.T) {
	t.Parallel()
	body := `<office:body><office:presentation>
<presentation:footer-decl presentation:name="ftr1">ACME 2025</presentation:footer-decl>
<draw:page draw:name="p1"><draw:frame presentation:class="title"><draw:text-box><text:p>Welcome</text:p></draw:text-box></draw:frame>
<draw:frame presentation:class="outline"><draw:text-box><text:list><text:list-item><text:p>Agenda</text:p></text:list-item><text:list-item><text:p>Goals</text:p></text:list-item></text:list></draw:text-box></draw:frame>
<draw:frame presentation:class="page-number"><draw:text-box><text:p>1</text:p></draw:text-box></draw:frame>
<presentation:notes><draw:page-thumbnail/><draw:frame presentation:class="notes"><draw:text-box><text:p>Smile.</text:p></draw:text-box></draw:frame></presentation:notes></draw:page>
<draw:page draw:name="p2"><draw:frame><table:table><table:table-row><table:table-cell><text:p>A</text:p></table:table-cell><table:table-cell><text:p>B</text:p></table:table-cell></table:table-row><table:table-row><table:table-cell><text:p>1</text:p></table:table-cell><table:table-cell><text:p>2</text:p></table:table-cell></table:table-row></table:table></draw:frame></draw:page>
</office:presentation></office:body>`
	doc, err := odfExtract(context.Background(), odfPackage(t, "application/vnd.oasis.opendocument.presentation", body), FormatODP, nil)
	if err != nil {
		t.Fatal(err)
	}
	checkBlocks(t, doc, []blockView{
		{Kind: chunk.Heading, Level: 1, Page: 1, Text: "Welcome"},
		{Kind: chunk.ListItem, Page: 1, Text: "Agenda"},
		{Kind: chunk.ListItem, Page: 1, Text: "Goals"},
		{Kind: chunk.Paragraph, Page: 1, Text: "Notes: Smile."},
		{Kind: chunk.Heading, Level: 1, Page: 2, Text: "Slide 2"},
		{Kind: chunk.Table, Page: 2, HeaderRows: 1, Text: "A | B\n1 | 2"},
		{Kind: chunk.Paragraph, Text: "Footer: ACME 2025"},
	})
	if doc.Pages != 2 || doc.PageUnit != PageUnitSlide {
		t.Errorf("pages %d, unit %q", doc.Pages, doc.PageUnit)
	}
}

func TestIsDateFormat(t *testing.T) {
	t.Parallel()
	for code, want := range map[string]bool{
		"General": false, "0.00": false, "#,##0": false, "0%": false, "0.00E+00": false, `[Red]#,##0`: false,
		`0 "days"`: false, `[$-409]#,##0.00`: false, `\d0`: false,
		"yyyy-mm-dd": true, "d/m/yy": true, "h:mm AM/PM": true, "[h]:mm:ss": true, `[$-409]mmm\ yy`: true, "mm:ss": true,
	} {
		if got := isDateFormat(code); got != want {
			t.Errorf("isDateFormat(%q) = %v, want %v", code, got, want)
		}
	}
}

// TestOfficeAttachmentsThroughChild: office files attached to an e-mail are extracted by
// the office extractors, structure included (a workbook's header rows, cell ranges and
// hidden-sheet warning; a deck's slides), and all of it crosses the child's wire; an
// attachment named only by its media type is recognised too.
func TestOfficeAttachmentsThroughChild(t *testing.T) {
	t.Parallel()
	b64 := func(data []byte) string {
		var s strings.Builder
		enc := base64.StdEncoding.EncodeToString(data)
		for len(enc) > 76 {
			s.WriteString(enc[:76] + "\r\n")
			enc = enc[76:]
		}
		return s.String() + enc + "\r\n"
	}
	eml := "Subject: figures\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n" +
		"--B\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=budget.xlsx\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64(testXLSX(t, 30)) +
		"--B\r\nContent-Type: application/vnd.openxmlformats-officedocument.presentationml.presentation\r\nContent-Disposition: attachment\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64(testPPTX(t)) +
		"--B--\r\n"
	r := testRunner(t, Config{Workers: 1})
	doc, err := r.Extract(t.Context(), "m.eml", []byte(eml))
	if err != nil {
		t.Fatal(err)
	}
	if len(doc.Parts) != 2 {
		t.Fatalf("%d parts, want 2", len(doc.Parts))
	}
	xl, deck := doc.Parts[0], doc.Parts[1]
	if xl.Err != nil || deck.Err != nil {
		t.Fatalf("attachments failed: %v, %v", xl.Err, deck.Err)
	}
	var tables []string
	for _, b := range xl.Blocks {
		if b.Kind == chunk.Table && b.HeaderRows == 1 {
			tables = append(tables, b.Locator)
		}
	}
	if !slices.Equal(tables, []string{"Budget!A1:C25", "Budget!A26:C31"}) {
		t.Errorf("workbook attachment %q: tables with a header %q", xl.Fragment, tables)
	}
	if len(xl.Warnings) != 1 || xl.Warnings[0].Reason != WarnHiddenSheet {
		t.Errorf("workbook attachment: warnings %+v, want the hidden sheet", xl.Warnings)
	}
	if deck.PageUnit != PageUnitSlide || deck.Pages != 3 || !strings.Contains(deck.Text, "Roadmap") {
		t.Errorf("deck attachment %q: %d %s(s), text %.60q", deck.Fragment, deck.Pages, deck.PageUnit, deck.Text)
	}
}
