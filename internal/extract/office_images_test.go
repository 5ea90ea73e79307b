package extract

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"slices"
	"strings"
	"testing"

	"github.com/docent-rag/docent/internal/chunk"
	"github.com/docent-rag/docent/internal/testing/pdfgen"
)

// Pictures in office documents, recognised with OCR in mode all (office_images.go).

const (
	pictureText  = "Whiteboard photo: deploy on Friday."
	pictureText2 = "Second picture: rollback plan is ready."
)

// picturePNG renders text as a scanned picture (the top of a page at 200 dpi) as PNG.
func picturePNG(t testing.TB, text string) []byte {
	t.Helper()
	imgs, err := pdfgen.ScanImages(text, pdfgen.ScanOptions{DPI: 200, FontSize: 16})
	if err != nil {
		t.Fatal(err)
	}
	crop := imgs[0].SubImage(image.Rect(0, 0, imgs[0].Bounds().Dx(), 400))
	var buf bytes.Buffer
	if err := pngEncode(&buf, crop); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

const wpNS = ` xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main" xmlns:v="urn:schemas-microsoft-com:vml"`

// docxWithPictures is a Word document: a heading, a paragraph, a paragraph anchoring each
// picture (media/imageN, with the given parts' bytes; a VML picture for the second), a
// paragraph after.
func docxWithPictures(t testing.TB, pictures ...[]byte) []byte {
	t.Helper()
	var body, rels strings.Builder
	body.WriteString(`<w:document ` + wNS + wpNS + `><w:body>
<w:p><w:pPr><w:outlineLvl w:val="0"/></w:pPr><w:r><w:t>Release board</w:t></w:r></w:p>
<w:p><w:r><w:t>Before the picture.</w:t></w:r></w:p>`)
	rels.WriteString(`<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">`)
	parts := []string{}
	for i, data := range pictures {
		name := fmt.Sprintf("media/image%d.png", i+1)
		fmt.Fprintf(&rels, `<Relationship Id="rIdImg%d" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/image" Target="%s"/>`, i+1, name)
		if i == 1 {
			fmt.Fprintf(&body, `<w:p><w:r><w:pict><v:shape><v:imagedata r:id="rIdImg%d" o:title=""/></v:shape></w:pict></w:r></w:p>`, i+1)
		} else {
			fmt.Fprintf(&body, `<w:p><w:r><w:t>Figure %d</w:t></w:r><w:r><w:drawing><a:graphic><a:graphicData><a:blip r:embed="rIdImg%d"/></a:graphicData></a:graphic></w:drawing></w:r></w:p>`, i+1, i+1)
		}
		parts = append(parts, "word/"+name, string(data))
	}
	body.WriteString(`<w:p><w:r><w:t>After the picture.</w:t></w:r></w:p></w:body></w:document>`)
	rels.WriteString(`</Relationships>`)
	return zipPackage(t, append([]string{"word/document.xml", body.String(), "word/_rels/document.xml.rels", rels.String()}, parts...)...)
}

// pptxWithPicture is a deck of two slides, the first with a bullet and a picture.
func pptxWithPicture(t testing.TB, picture []byte) []byte {
	t.Helper()
	s1 := slideXML("Release", "Freeze starts Thursday") +
		`<p:pic><p:blipFill><a:blip r:embed="rId7"/></p:blipFill></p:pic></p:spTree></p:cSld></p:sld>`
	s2 := slideXML("Questions", "Ask in #release") + `</p:spTree></p:cSld></p:sld>`
	pres := `<p:presentation ` + pNS + `><p:sldIdLst><p:sldId id="256" r:id="rId1"/><p:sldId id="257" r:id="rId2"/></p:sldIdLst></p:presentation>`
	rels := `<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">
<Relationship Id="rId1" Type="x/slide" Target="slides/slide1.xml"/><Relationship Id="rId2" Type="x/slide" Target="slides/slide2.xml"/></Relationships>`
	s1rels := `<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId7" Type="x/image" Target="../media/image1.png"/></Relationships>`
	return zipPackage(t, "ppt/presentation.xml", pres, "ppt/_rels/presentation.xml.rels", rels,
		"ppt/slides/slide1.xml", s1, "ppt/slides/slide2.xml", s2, "ppt/slides/_rels/slide1.xml.rels", s1rels,
		"ppt/media/image1.png", string(picture))
}

const xlinkNS = ` xmlns:xlink="http://www.w3.org/1999/xlink"`

func odtWithPicture(t testing.TB, picture []byte) []byte {
	body := `<office:body><office:text><text:h text:outline-level="1">Release board</text:h>
<text:p>Before the picture.</text:p>
<text:p>Figure 1<draw:frame draw:name="img1"><draw:image xlink:href="Pictures/board.png"` + xlinkNS + `/></draw:frame></text:p>
<text:p>After the picture.</text:p></office:text></office:body>`
	return odfPackage(t, "application/vnd.oasis.opendocument.text", body, "Pictures/board.png", string(picture))
}

func odpWithPicture(t testing.TB, picture []byte) []byte {
	body := `<office:body><office:presentation>
<draw:page draw:name="p1"><draw:frame presentation:class="title"><draw:text-box><text:p>Release</text:p></draw:text-box></draw:frame>
<draw:frame presentation:class="outline"><draw:text-box><text:p>Freeze starts Thursday</text:p></draw:text-box></draw:frame>
<draw:frame><draw:image xlink:href="Pictures/board.png"` + xlinkNS + `/></draw:frame></draw:page>
<draw:page draw:name="p2"><draw:frame presentation:class="title"><draw:text-box><text:p>Questions</text:p></draw:text-box></draw:frame></draw:page>
</office:presentation></office:body>`
	return odfPackage(t, "application/vnd.oasis.opendocument.presentation", body, "Pictures/board.png", string(picture))
}

// ocrView is a block with its OCR mark.
type ocrView struct {
	Kind chunk.Kind
	Page int
	OCR  bool
	Text string
}

func ocrViews(doc Document) []ocrView {
	var out []ocrView
	for _, b := range doc.Blocks {
		out = append(out, ocrView{b.Kind, b.Page, b.OCR, doc.Text[b.Start:b.End]})
	}
	return out
}

// TestOfficePicturesOCR: with DOCENT_OCR=all the picture of a DOCX, PPTX, ODT and ODP is
// recognised in the child; its text is a paragraph marked OCR right after the paragraph
// that anchors it (on its slide for a deck), and the OCR report counts it.
func TestOfficePicturesOCR(t *testing.T) {
	requireOCR(t)
	pic := picturePNG(t, pictureText)
	r := ocrRunner(t, OCRConfig{Mode: OCRAll})
	text := []ocrView{
		{chunk.Heading, 0, false, "Release board"},
		{chunk.Paragraph, 0, false, "Before the picture."},
		{chunk.Paragraph, 0, false, "Figure 1"},
		{chunk.Paragraph, 0, true, pictureText},
		{chunk.Paragraph, 0, false, "After the picture."},
	}
	deck := []ocrView{
		{chunk.Heading, 1, false, "Release"},
		{chunk.ListItem, 1, false, "Freeze starts Thursday"},
		{chunk.Paragraph, 1, true, pictureText},
		{chunk.Heading, 2, false, "Questions"},
	}
	for _, c := range []struct {
		name string
		data []byte
		want []ocrView
	}{
		{"board.docx", docxWithPictures(t, pic), text},
		{"board.odt", odtWithPicture(t, pic), text},
		{"release.pptx", pptxWithPicture(t, pic), append(slices.Clone(deck[:3]), deck[3], ocrView{chunk.ListItem, 2, false, "Ask in #release"})},
		{"release.odp", odpWithPicture(t, pic), deck},
	} {
		t.Run(c.name, func(t *testing.T) {
			doc, err := r.Extract(context.Background(), c.name, c.data)
			if err != nil {
				t.Fatal(err)
			}
			got := ocrViews(doc)
			if len(got) != len(c.want) {
				t.Fatalf("blocks %+v\nwant %+v", got, c.want)
			}
			for i := range got {
				g, w := got[i], c.want[i]
				if g.OCR {
					// Recognised text: compared up to the recogniser's white space.
					g.Text = strings.Join(strings.Fields(g.Text), " ")
				}
				if g.Kind != w.Kind || g.Page != w.Page || g.OCR != w.OCR || g.Text != w.Text {
					t.Errorf("block %d: %+v, want %+v", i, got[i], w)
				}
			}
			if !slices.Equal(doc.OCR.Pages, []int{1}) || doc.OCR.Pending != "" || doc.Metadata["images"] != int64(1) || doc.Metadata["ocr_pages"] == nil {
				t.Errorf("OCR %+v, metadata %v", doc.OCR, doc.Metadata)
			}
		})
	}
}

// TestOfficePicturesOff: in mode pdf (the default) or off, pictures are left out, counted,
// and the document is stored pending for the mode, so that turning images on extracts it
// again; nothing of the OCR budget is spent. Without the tools (mode all) the pictures are
// ocr_unavailable and the text is still extracted.
func TestOfficePicturesOff(t *testing.T) {
	pic := picturePNG(t, pictureText)
	data := docxWithPictures(t, pic)
	for _, mode := range []OCRMode{OCRPDF, OCROff} {
		r := ocrRunner(t, OCRConfig{Mode: mode})
		doc, err := r.Extract(context.Background(), "board.docx", data)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(doc.Text, "Whiteboard") || !strings.Contains(doc.Text, "After the picture.") || doc.Metadata["images"] != int64(1) {
			t.Errorf("mode %s: text %q, metadata %v", mode, doc.Text, doc.Metadata)
		}
		v := StoredVersion(doc)
		if doc.OCR.Pending != pendingMode+string(mode) || !r.UpToDate(v) || ocrRunner(t, OCRConfig{Mode: OCRAll}).UpToDate(v) {
			t.Errorf("mode %s: pending %q: want up to date in this mode only", mode, doc.OCR.Pending)
		}
		if r.cfg.OCR.Mode != OCROff && r.ocrLeft != r.cfg.OCR.MaxPages {
			t.Errorf("mode %s: budget %d left of %d", mode, r.ocrLeft, r.cfg.OCR.MaxPages)
		}
	}
	// A document without pictures is not pending.
	doc, err := ocrRunner(t, OCRConfig{}).Extract(context.Background(), "plain.docx", docxWithPictures(t))
	if err != nil || doc.OCR.Pending != "" || doc.Metadata["images"] != nil {
		t.Errorf("no pictures: pending %q, metadata %v, err %v", doc.OCR.Pending, doc.Metadata, err)
	}

	missing := OCRConfig{Mode: OCRAll, Tesseract: "/nonexistent/tesseract", Pdftoppm: "/nonexistent/pdftoppm"}
	r := ocrRunner(t, missing)
	doc, err = r.Extract(context.Background(), "board.docx", data)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(doc.OCR.Unavailable, []int{1}) || doc.OCR.Pending != pendingUnavailable || !strings.Contains(doc.Text, "After the picture.") || doc.Skip != "" {
		t.Errorf("unavailable: OCR %+v, skip %q, text %q", doc.OCR, doc.Skip, doc.Text)
	}
}

// TestOfficePicturesBudget: pictures count against the run's OCR budget; those over it are
// deferred (the document is stored pending, extracted again by the next run); a picture
// shown twice is recognised once.
func TestOfficePicturesBudget(t *testing.T) {
	requireOCR(t)
	one, two := picturePNG(t, pictureText), picturePNG(t, pictureText2)
	r := ocrRunner(t, OCRConfig{Mode: OCRAll, MaxPages: 1})
	doc, err := r.Extract(context.Background(), "board.docx", docxWithPictures(t, one, two))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(doc.OCR.Pages, []int{1}) || !slices.Equal(doc.OCR.Deferred, []int{2}) || doc.OCR.Pending != pendingDeferred {
		t.Fatalf("OCR %+v: want picture 1 recognised, 2 deferred", doc.OCR)
	}
	if !strings.Contains(doc.Text, "deploy on Friday") || strings.Contains(doc.Text, "rollback") {
		t.Errorf("text %q: want the first picture's only", doc.Text)
	}
	if v := StoredVersion(doc); r.UpToDate(v) {
		t.Errorf("a deferred document (%q) is up to date", v)
	}
	if r.ocrLeft != 0 {
		t.Errorf("budget left %d, want 0", r.ocrLeft)
	}
	// The budget is spent: the next file's picture is deferred, its text still stored.
	doc, err = r.Extract(context.Background(), "release.pptx", pptxWithPicture(t, one))
	if err != nil || !slices.Equal(doc.OCR.Deferred, []int{1}) || doc.Skip != "" || !strings.Contains(doc.Text, "Freeze starts Thursday") {
		t.Errorf("second file: OCR %+v, skip %q, err %v", doc.OCR, doc.Skip, err)
	}

	// The same picture in two places: recognised once, its text at both.
	r = ocrRunner(t, OCRConfig{Mode: OCRAll})
	doubled := zipPackage(t, "word/document.xml", `<w:document `+wNS+wpNS+`><w:body>
<w:p><w:r><w:drawing><a:blip r:embed="rIdImg1"/></w:drawing></w:r></w:p><w:p><w:r><w:t>Between.</w:t></w:r></w:p>
<w:p><w:r><w:drawing><a:blip r:embed="rIdImg1"/></w:drawing></w:r></w:p></w:body></w:document>`,
		"word/_rels/document.xml.rels", `<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rIdImg1" Type="x/image" Target="media/image1.png"/></Relationships>`,
		"word/media/image1.png", string(one))
	doc, err = r.Extract(context.Background(), "logo.docx", doubled)
	if err != nil {
		t.Fatal(err)
	}
	if len(doc.OCR.Pages) != 1 || strings.Count(doc.Text, "deploy on Friday") != 2 {
		t.Errorf("OCR %+v, text %q: want one recognition, its text twice", doc.OCR, doc.Text)
	}
}

// TestOfficePicturesHostile: a picture that declares huge dimensions, a corrupt one, one
// over the size bound and one in a format Tesseract is not given are left out with a
// warning (or counted); the document is still extracted, in mode all, with or without the
// tools.
func TestOfficePicturesHostile(t *testing.T) {
	corrupt := append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{0xFF}, 64)...)
	emf := append([]byte{1, 0, 0, 0}, bytes.Repeat([]byte{0}, 80)...)
	data := docxWithPictures(t, hugePNG(t), corrupt, emf)
	// Without the tools every picture is unavailable before it is looked at.
	requireOCR(t)
	r := ocrRunner(t, OCRConfig{Mode: OCRAll})
	doc, err := r.Extract(context.Background(), "hostile.docx", data)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(doc.Text, "After the picture.") || doc.Metadata["images"] != int64(3) || doc.Metadata["images_unsupported"] != int64(1) {
		t.Errorf("text %q, metadata %v", doc.Text, doc.Metadata)
	}
	var failed []string
	for _, w := range doc.Warnings {
		if w.Reason == WarnOCRFailed {
			failed = append(failed, w.Message)
		}
	}
	if len(failed) != 2 || !strings.Contains(failed[0], "megapixels") || !strings.Contains(failed[1], "not a PNG") {
		t.Errorf("warnings %+v: want the huge and the corrupt picture", doc.Warnings)
	}
	if len(doc.OCR.Pages)+len(doc.OCR.Failed) != 0 || r.ocrLeft != r.cfg.OCR.MaxPages {
		t.Errorf("OCR %+v, budget %d: nothing should reach Tesseract or the budget", doc.OCR, r.ocrLeft)
	}

	// A picture part over the size bound: refused before it is decompressed.
	big := zipFill(t, "word/media/image1.png", officeMaxImage+1, []byte("\x89PNG"),
		"word/document.xml", `<w:document `+wNS+wpNS+`><w:body><w:p><w:r><w:t>Text.</w:t></w:r><w:r><w:drawing><a:blip r:embed="rIdImg1"/></w:drawing></w:r></w:p></w:body></w:document>`,
		"word/_rels/document.xml.rels", `<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rIdImg1" Type="x/image" Target="media/image1.png"/></Relationships>`)
	doc, err = r.Extract(context.Background(), "big.docx", big)
	if err != nil || doc.Text != "Text." || len(doc.Warnings) != 1 || !strings.Contains(doc.Warnings[0].Message, "over the limit") {
		t.Errorf("big picture: text %q, warnings %+v, err %v", doc.Text, doc.Warnings, err)
	}
}

// TestOfficePicturesBounded: at most officeMaxImages distinct pictures are considered per
// document, the rest reported as truncated; a picture outside the package (an external
// link, a missing part, a path out of it) is nothing.
func TestOfficePicturesBounded(t *testing.T) {
	pics := make([][]byte, officeMaxImages+3)
	for i := range pics {
		pics[i] = []byte("\x89PNG")
	}
	doc, err := docxExtract(context.Background(), docxWithPictures(t, pics...), nil)
	if err != nil {
		t.Fatal(err)
	}
	truncated := slices.ContainsFunc(doc.Warnings, func(w Warning) bool { return w.Reason == WarnTruncated })
	if doc.Metadata["images"] != int64(officeMaxImages) || !truncated || doc.OCR.Pending != pendingMode+string(OCROff) {
		t.Errorf("metadata %v, warnings %+v, pending %q", doc.Metadata, doc.Warnings, doc.OCR.Pending)
	}
	body := `<w:document ` + wNS + wpNS + `><w:body><w:p><w:r><w:t>Text.</w:t></w:r>
<w:r><w:drawing><a:blip r:embed="rIdX"/><a:blip r:embed="rIdMissing"/><a:blip r:embed="rIdOut"/><a:blip r:embed="rIdNone"/></w:drawing></w:r></w:p></w:body></w:document>`
	rels := `<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">
<Relationship Id="rIdX" Type="x/image" Target="http://example.com/a.png" TargetMode="External"/>
<Relationship Id="rIdMissing" Type="x/image" Target="media/none.png"/>
<Relationship Id="rIdOut" Type="x/image" Target="../../../etc/passwd"/></Relationships>`
	doc, err = docxExtract(context.Background(), zipPackage(t, "word/document.xml", body, "word/_rels/document.xml.rels", rels), nil)
	if err != nil || doc.Text != "Text." || doc.Metadata["images"] != nil || doc.OCR.Pending != "" {
		t.Errorf("text %q, metadata %v, pending %q, err %v", doc.Text, doc.Metadata, doc.OCR.Pending, err)
	}
}
