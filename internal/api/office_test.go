package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/docent-rag/docent/internal/api"
	"github.com/docent-rag/docent/internal/testing/officegen"
)

// officeZip builds an office package from part names and contents.
func officeZip(t *testing.T, parts ...string) string {
	t.Helper()
	b, err := officegen.Package(parts...)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// officeCorpus is a workbook, a deck and a Word document for the engineering group.
func officeCorpus(t *testing.T) map[string]string {
	var rows strings.Builder
	rows.WriteString(`<row r="1"><c r="A1" t="inlineStr"><is><t>Part</t></is></c><c r="B1" t="inlineStr"><is><t>Flange torque</t></is></c></row>`)
	for i := 2; i <= 120; i++ {
		fmt.Fprintf(&rows, `<row r="%d"><c r="A%d" t="inlineStr"><is><t>Bolt P-%04d</t></is></c><c r="B%d"><v>%d</v></c></row>`, i, i, i, i, 20+i)
	}
	const ns = `xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"`
	xlsx := officeZip(t, "xl/workbook.xml", `<workbook `+ns+`><sheets><sheet name="Torque" sheetId="1" r:id="rId1"/></sheets></workbook>`,
		"xl/_rels/workbook.xml.rels", `<Relationships><Relationship Id="rId1" Target="worksheets/sheet1.xml"/></Relationships>`,
		"xl/worksheets/sheet1.xml", `<worksheet `+ns+`><sheetData>`+rows.String()+`</sheetData></worksheet>`)

	const pns = `xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships" xmlns:p="http://schemas.openxmlformats.org/presentationml/2006/main"`
	slide := func(title, body string) string {
		return `<p:sld ` + pns + `><p:cSld><p:spTree><p:sp><p:nvSpPr><p:nvPr><p:ph type="title"/></p:nvPr></p:nvSpPr><p:txBody><a:p><a:r><a:t>` + title +
			`</a:t></a:r></a:p></p:txBody></p:sp><p:sp><p:nvSpPr><p:nvPr><p:ph idx="1"/></p:nvPr></p:nvSpPr><p:txBody><a:p><a:r><a:t>` + body +
			`</a:t></a:r></a:p></p:txBody></p:sp></p:spTree></p:cSld></p:sld>`
	}
	pptx := officeZip(t, "ppt/presentation.xml", `<p:presentation `+pns+`><p:sldIdLst><p:sldId id="256" r:id="rId1"/><p:sldId id="257" r:id="rId2"/></p:sldIdLst></p:presentation>`,
		"ppt/_rels/presentation.xml.rels", `<Relationships><Relationship Id="rId1" Target="slides/slide1.xml"/><Relationship Id="rId2" Target="slides/slide2.xml"/></Relationships>`,
		"ppt/slides/slide1.xml", slide("Fleet roadmap", strings.Repeat("Charging stations are installed in every depot by autumn, one bay at a time. ", 30)),
		"ppt/slides/slide2.xml", slide("Airship pilot", "The zeppelin survey flights start over the northern warehouses in spring."))

	const wns = `xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"`
	docx := officeZip(t, "word/document.xml", `<w:document `+wns+`><w:body><w:p><w:pPr><w:outlineLvl w:val="0"/></w:pPr><w:r><w:t>Gearbox maintenance</w:t></w:r></w:p>`+
		`<w:p><w:r><w:t>Replace the gearbox oil of the quokka conveyor every 400 hours.</w:t></w:r></w:p></w:body></w:document>`)
	return map[string]string{"engineering/torque.xlsx": xlsx, "engineering/roadmap.pptx": pptx, "engineering/gearbox.docx": docx}
}

// TestOfficeCitations: passages from a workbook name the sheet and cell range and start
// with the column names; passages from a deck count slides; a Word document's passages have
// neither; the passage view says the same. Through the HTTP API, over an ingested corpus.
func TestOfficeCitations(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{extraDocuments: officeCorpus(t)})
	search := func(q string) []api.Source {
		t.Helper()
		status, _, body := e.post("/v1/search", e.keys["eng"], map[string]any{"query": q, "limit": 10})
		if status != http.StatusOK {
			t.Fatalf("search %q: %d %s", q, status, body)
		}
		var r api.SearchResponse
		if err := json.Unmarshal(body, &r); err != nil {
			t.Fatal(err)
		}
		return r.Results
	}
	find := func(results []api.Source, uri string) *api.Source {
		for i := range results {
			if strings.HasSuffix(results[i].Document.URI, uri) {
				return &results[i]
			}
		}
		t.Fatalf("no result from %s", uri)
		return nil
	}

	// A row deep in the sheet: its passage repeats the header and names its range.
	r := find(search("Bolt P-0097 flange torque"), "torque.xlsx")
	if r.Locator == nil || !strings.HasPrefix(*r.Locator, "Torque!A") {
		t.Errorf("workbook passage: locator %v, want the sheet and range", r.Locator)
	}
	if !strings.Contains(r.Text, "Part | Flange torque") || r.Pages != nil || r.OCR {
		t.Errorf("workbook passage: pages %+v, OCR %v, text %.80q: want the header, no pages", r.Pages, r.OCR, r.Text)
	}
	if r.Heading != "Torque" {
		t.Errorf("workbook passage heading %q, want the sheet's name", r.Heading)
	}

	s := find(search("zeppelin survey flights"), "roadmap.pptx")
	// The passage may carry the slide before as context; its own chunk is on slide 2.
	if s.Pages == nil || s.Pages.End != 2 || s.Pages.Unit != "slide" || s.Locator != nil {
		t.Errorf("deck passage: pages %+v, locator %v, want slides ending at 2 and no locator", s.Pages, s.Locator)
	}
	if s.Document.URL != nil {
		t.Errorf("deck passage url %q", *s.Document.URL)
	}
	d := find(search("quokka conveyor gearbox oil"), "gearbox.docx")
	if d.Pages != nil || d.Locator != nil || d.Heading != "Gearbox maintenance" {
		t.Errorf("Word passage: pages %+v, locator %v, heading %q", d.Pages, d.Locator, d.Heading)
	}

	p := getPassage(t, e, s.ChunkID)
	if p.Document.PageUnit != "slide" || p.Chunk.Pages == nil || p.Chunk.Pages.End != 2 || p.Chunk.Pages.Unit != "slide" {
		t.Errorf("passage of a slide: document %+v, chunk pages %+v", p.Document, p.Chunk.Pages)
	}
	p = getPassage(t, e, r.ChunkID)
	if p.Document.PageUnit != "page" || p.Chunk.Locator == nil || *p.Chunk.Locator == "" {
		t.Errorf("passage of a sheet: document %+v, locator %v", p.Document, p.Chunk.Locator)
	}

	// An answer's citations say the same.
	status, _, body := e.post("/v1/answer", e.keys["eng"], map[string]any{"question": "When do the zeppelin survey flights start?"})
	if status != http.StatusOK {
		t.Fatalf("answer: %d %s", status, body)
	}
	cited := false
	for _, c := range decodeJSON[api.AnswerResponse](t, body).Citations {
		if strings.HasSuffix(c.Document.URI, "roadmap.pptx") {
			cited = true
			if c.Pages == nil || c.Pages.Unit != "slide" || c.Pages.End != 2 || c.Locator != nil {
				t.Errorf("citation of the deck: pages %+v, locator %v", c.Pages, c.Locator)
			}
		}
	}
	if !cited {
		t.Errorf("the answer does not cite the deck: %s", body)
	}

	// The HR caller sees none of it.
	status, _, body = e.post("/v1/search", e.keys["hr"], map[string]any{"query": "zeppelin survey flights Bolt P-0097"})
	if status != http.StatusOK || strings.Contains(string(body), "roadmap.pptx") || strings.Contains(string(body), "torque.xlsx") {
		t.Errorf("HR search: %d, sees engineering's office files: %s", status, body)
	}
}

func getPassage(t *testing.T, e *env, id int64) api.ChunkResponse {
	t.Helper()
	status, body := e.get(fmt.Sprintf("/v1/chunks/%d", id), e.keys["eng"])
	if status != http.StatusOK {
		t.Fatalf("chunk %d: %d %s", id, status, body)
	}
	var r api.ChunkResponse
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatal(err)
	}
	return r
}
