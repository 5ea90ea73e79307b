package extract

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/docent-rag/docent/internal/chunk"
)

// officeFuzzFormats are the formats FuzzOfficeXML chooses from, with the package that
// wraps the fuzzed XML as the format's main part.
var officeFuzzFormats = []struct {
	format Format
	wrap   func(t testing.TB, xml []byte) []byte
}{
	{FormatDOCX, func(t testing.TB, x []byte) []byte { return zipPackage(t, "word/document.xml", string(x)) }},
	{FormatPPTX, func(t testing.TB, x []byte) []byte {
		return zipPackage(t, "ppt/presentation.xml", `<p:presentation `+pNS+`><p:sldIdLst><p:sldId id="1" r:id="rId1"/></p:sldIdLst></p:presentation>`,
			"ppt/_rels/presentation.xml.rels", `<Relationships><Relationship Id="rId1" Target="slides/slide1.xml"/></Relationships>`,
			"ppt/slides/slide1.xml", string(x))
	}},
	{FormatXLSX, func(t testing.TB, x []byte) []byte {
		return zipPackage(t, "xl/workbook.xml", `<workbook `+xNS+`><sheets><sheet name="S" sheetId="1" r:id="rId1"/></sheets></workbook>`,
			"xl/_rels/workbook.xml.rels", `<Relationships><Relationship Id="rId1" Target="worksheets/sheet1.xml"/></Relationships>`,
			"xl/sharedStrings.xml", `<sst><si><t>a</t></si><si><t>b</t></si></sst>`, "xl/worksheets/sheet1.xml", string(x))
	}},
	{FormatODT, func(t testing.TB, x []byte) []byte { return zipPackage(t, "content.xml", string(x)) }},
	{FormatODS, func(t testing.TB, x []byte) []byte { return zipPackage(t, "content.xml", string(x)) }},
	{FormatODP, func(t testing.TB, x []byte) []byte { return zipPackage(t, "content.xml", string(x)) }},
}

// extractOffice runs the extractor of a format in this process.
func extractOffice(format Format, data []byte) (Document, error) {
	switch format {
	case FormatDOCX:
		return docxExtract(context.Background(), data, nil)
	case FormatPPTX:
		return pptxExtract(context.Background(), data, nil)
	case FormatXLSX:
		return xlsxExtract(data)
	}
	return odfExtract(context.Background(), data, format, nil)
}

// FuzzOfficeXML extracts arbitrary XML as the main part of each office format (the first
// byte chooses it), in this process so that the engine sees the parsers' coverage. The
// result is a Document that satisfies checkDocument and officeCheckDocument, whose blocks
// the chunker takes with its invariants (header rows included), or an *Error with reason
// corrupt or too_large; never a panic, and within an allocation and time budget.
func FuzzOfficeXML(f *testing.F) {
	seeds := []string{
		`<w:document ` + wNS + `><w:body><w:tbl><w:tr><w:trPr><w:tblHeader/></w:trPr><w:tc><w:p><w:r><w:t>h</w:t></w:r></w:p></w:tc></w:tr><w:tr><w:tc><w:p><w:r><w:t>1</w:t></w:r></w:p></w:tc></w:tr></w:tbl></w:body></w:document>`,
		slideXML("T", "a", "b") + `</p:spTree></p:cSld></p:sld>`,
		`<worksheet><sheetData><row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c></row><row r="2"><c r="A2"><v>1</v></c></row></sheetData><mergeCells><mergeCell ref="A1:A3"/></mergeCells></worksheet>`,
		`<office:document-content ` + odfNS + `><office:body><office:text><text:h text:outline-level="2">H</text:h><text:p>p<text:note><text:note-body><text:p>n</text:p></text:note-body></text:note></text:p></office:text></office:body></office:document-content>`,
		`<office:document-content ` + odfNS + `><office:body><office:spreadsheet><table:table table:name="S"><table:table-row table:number-rows-repeated="99999"><table:table-cell table:number-columns-repeated="999"><text:p>x</text:p></table:table-cell></table:table-row></table:table></office:spreadsheet></office:body></office:document-content>`,
		`<office:document-content ` + odfNS + `><office:body><office:presentation><draw:page><draw:frame presentation:class="title"><draw:text-box><text:p>t</text:p></draw:text-box></draw:frame></draw:page></office:presentation></office:body></office:document-content>`,
		strings.Repeat("<a>", 300), `<!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>`, "<x>\x00</x>", "",
	}
	for i, s := range seeds {
		f.Add(append([]byte{byte(i % len(officeFuzzFormats))}, s...))
	}
	c, err := chunk.New(chunk.Config{TargetTokens: 40, MaxTokens: 60, OverlapTokens: 8, MinTokens: 10})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		ff := officeFuzzFormats[int(data[0])%len(officeFuzzFormats)]
		pkg := ff.wrap(t, data[1:])
		var doc Document
		var err error
		checkBudget(t, len(pkg), func() { doc, err = extractOffice(ff.format, pkg) })
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Reason != ReasonCorrupt && e.Reason != ReasonTooLarge {
				t.Fatalf("%s: error %v (%T) is not an *Error with reason corrupt or too_large", ff.format, err, err)
			}
			return
		}
		checkDocument(t, string(ff.format), doc)
		if err := officeCheckDocument(doc); err != nil {
			t.Fatalf("%s: %v", ff.format, err)
		}
		for i, ch := range c.Split(doc.Document) {
			if ch.Tokens > c.Config().MaxTokens || ch.Text != doc.Text[ch.Start:ch.End] {
				t.Fatalf("%s: chunk %d breaks the chunker's contract: %+v", ff.format, i, ch)
			}
		}
	})
}

// FuzzOfficeChild extracts arbitrary bytes as an office file in a child, as ingestion does
// (the first byte chooses the extension), seeded with the packages of the structure tests
// and the office corpus of the shared evaluation data. See FuzzExtractChild for what it
// checks; a timeout, memory or crash failure is a finding.
func FuzzOfficeChild(f *testing.F) {
	exts := []string{".docx", ".pptx", ".xlsx", ".odt", ".ods", ".odp"}
	for i, data := range [][]byte{testDOCX(f), testPPTX(f), testXLSX(f, 40), encryptedOOXML()} {
		f.Add(append([]byte{byte(i)}, data...))
	}
	for i, ext := range exts {
		// Seeds up to 256 KiB: larger real files take seconds under the race detector, longer
		// than the fuzz budget on a loaded machine; TestOfficeReferenceCorpus extracts them
		// all with ingestion's own budget.
		for _, data := range sharedSeeds(f, "office/files", []string{ext}, 256<<10) {
			f.Add(append([]byte{byte(i)}, data...))
		}
	}
	r := testRunner(f, childFuzzConfig)
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		ext := exts[int(data[0])%len(exts)]
		checkChildExtract(t, r, ext, data[1:])
	})
}
