package extract

import (
	"archive/zip"
	"bytes"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/docent-rag/docent/internal/chunk"
)

const simpleMail = "From: =?UTF-8?Q?Ad=C3=A9la?= <a@example.com>\r\nTo: b@example.com\r\nCc: c@example.com\r\n" +
	"Subject: =?ISO-8859-1?Q?R=E9sum=E9?= of the week\r\nDate: Mon, 2 Jun 2025 10:00:00 +0200\r\nMIME-Version: 1.0\r\n" +
	"Content-Type: multipart/mixed; boundary=\"M\"\r\n\r\n--M\r\nContent-Type: multipart/alternative; boundary=\"A\"\r\n\r\n" +
	"--A\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nCaf=E9 opens at nine.\r\n" +
	"--A\r\nContent-Type: text/html\r\n\r\n<p>HTML copy</p>\r\n--A--\r\n" +
	"--M\r\nContent-Type: text/csv; name=\"t.csv\"\r\nContent-Disposition: attachment; filename=\"../../t.csv\"\r\n\r\nk,v\r\na,1\r\n" +
	"--M\r\nContent-Type: image/png\r\nContent-Disposition: attachment; filename=\"x.png\"\r\nContent-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n--M--\r\n"

func TestEMLStructure(t *testing.T) {
	t.Parallel()
	doc, err := EML([]byte(simpleMail))
	if err != nil {
		t.Fatal(err)
	}
	checkDocument(t, "mail", doc)
	if doc.Title != "Résumé of the week" {
		t.Errorf("title %q", doc.Title)
	}
	wantText := "From: Adéla <a@example.com>\nTo: b@example.com\nCc: c@example.com\nDate: Mon, 2 Jun 2025 10:00:00 +0200\nSubject: Résumé of the week\n\nCafé opens at nine."
	if doc.Text != wantText {
		t.Errorf("text %q, want %q (the plain alternative, not the HTML one)", doc.Text, wantText)
	}
	for k, want := range map[string]any{"from": "Adéla <a@example.com>", "cc": "c@example.com", "date": "2025-06-02T08:00:00Z"} {
		if doc.Metadata[k] != want {
			t.Errorf("metadata %s = %v, want %v", k, doc.Metadata[k], want)
		}
	}
	if len(doc.Parts) != 1 || doc.Parts[0].Fragment != "attachment/1/t.csv" || doc.Parts[0].Err != nil {
		t.Fatalf("parts %+v: want the CSV only, named without its path", doc.Parts)
	}
	if got := tableBlocks(doc.Parts[0].Document); len(got) != 1 || got[0].Text != "k | v\na | 1" || got[0].HeaderRows != 1 {
		t.Errorf("attachment blocks %+v", got)
	}
	if diff := cmp.Diff([]string{"t.csv (text/csv)", "x.png (image/png)"}, doc.Metadata["attachments"]); diff != "" {
		t.Errorf("attachments listed (-want +got):\n%s", diff)
	}
}

// TestEMLThroughChild: attachments cross the child's wire as derived documents, with their
// block fields; an attachment's own permission tags do not survive.
func TestEMLThroughChild(t *testing.T) {
	t.Parallel()
	md := "---\nacl: [public]\n---\n# Secret\n\nThe plan.\n"
	eml := "Subject: s\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\nbody\r\n" +
		"--B\r\nContent-Disposition: attachment; filename=a.md\r\nContent-Transfer-Encoding: base64\r\n\r\n" + base64.StdEncoding.EncodeToString([]byte(md)) + "\r\n" +
		"--B\r\nContent-Disposition: attachment; filename=b.pdf\r\n\r\nnot a pdf\r\n--B--\r\n"
	r := testRunner(t, Config{Workers: 1})
	doc, err := r.Extract(t.Context(), "m.eml", []byte(eml))
	if err != nil {
		t.Fatal(err)
	}
	if len(doc.Parts) != 2 {
		t.Fatalf("%d parts, want 2", len(doc.Parts))
	}
	a, b := doc.Parts[0], doc.Parts[1]
	if a.Fragment != "attachment/1/a.md" || a.ACL != nil || !strings.Contains(a.Text, "The plan.") {
		t.Errorf("markdown attachment %q: acl %v, text %q", a.Fragment, a.ACL, a.Text)
	}
	if b.Fragment != "attachment/2/b.pdf" || ReasonOf(b.Err) != ReasonPDFInvalid {
		t.Errorf("broken PDF attachment %q: %v, want a pdf_invalid failure", b.Fragment, b.Err)
	}
}

func TestSplitMBOX(t *testing.T) {
	t.Parallel()
	box := "From a@x Mon Jan  1 00:00:00 2024\nSubject: one\n\nFirst.\nFrom the start, a line (mboxo, unquoted).\n>From quoted\n>>From twice\n\n" +
		"From b@x Mon Jan  1 00:00:00 2024\nSubject: two\n\nSecond.\n"
	msgs, truncated := SplitMBOX([]byte(box))
	want := []string{"Subject: one\n\nFirst.\nFrom the start, a line (mboxo, unquoted).\nFrom quoted\n>From twice\n\n", "Subject: two\n\nSecond.\n"}
	var got []string
	for _, m := range msgs {
		got = append(got, string(m))
	}
	if diff := cmp.Diff(want, got); diff != "" || truncated {
		t.Errorf("messages (-want +got):\n%s (truncated %v)", diff, truncated)
	}
	doc, err := MBOX([]byte(box))
	if err != nil {
		t.Fatal(err)
	}
	if doc.Skip != SkipContainer || len(doc.Parts) != 2 || doc.Parts[1].Fragment != "message/2" || doc.Parts[1].Title != "two" {
		t.Errorf("mbox: skip %q, parts %+v", doc.Skip, doc.Parts)
	}
	if _, err := MBOX([]byte("just some text\n")); ReasonOf(err) != ReasonInvalid {
		t.Errorf("text that is not a mailbox: %v", err)
	}
}

// TestMailBounds: hostile messages are read within their bounds, quickly, and say what
// was cut.
func TestMailBounds(t *testing.T) {
	t.Parallel()
	var many strings.Builder
	many.WriteString("Subject: many\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n")
	for i := range 10_000 {
		fmt.Fprintf(&many, "--B\r\nContent-Disposition: attachment; filename=f%d.txt\r\n\r\npart %d\r\n", i, i)
	}
	many.WriteString("--B--\r\n")
	var deep strings.Builder
	deep.WriteString("Subject: deep\r\nContent-Type: multipart/mixed; boundary=b0\r\n\r\n")
	for i := range 5000 {
		fmt.Fprintf(&deep, "--b%d\r\nContent-Type: multipart/mixed; boundary=b%d\r\n\r\n", i, i+1)
	}
	deep.WriteString("--b5000\r\nContent-Type: text/plain\r\n\r\ndeepest\r\n")
	huge := "Subject: huge\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\nsmall body\r\n" +
		"--B\r\nContent-Disposition: attachment; filename=big.txt\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		strings.Repeat(base64.StdEncoding.EncodeToString(bytes.Repeat([]byte("A"), 57))+"\r\n", (mailMaxDecoded/57)+1000) + "--B--\r\n"
	tests := []struct {
		name, data, note string
		maxParts         int
	}{
		{"10,000 parts", many.String(), "only the first 1000 MIME parts", mailMaxAttachments},
		{"nesting 5,000 deep", deep.String(), "nested deeper than 16", 0},
		{"a huge base64 part", huge, "larger than 32 MiB", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			doc, err := EML([]byte(tt.data))
			if err != nil {
				t.Fatal(err)
			}
			checkDocument(t, tt.name, doc)
			if note := fmt.Sprint(doc.Metadata[noteKey]); !strings.Contains(note, tt.note) {
				t.Errorf("note %q, want it to say %q", note, tt.note)
			}
			if len(doc.Parts) > tt.maxParts {
				t.Errorf("%d parts, want at most %d", len(doc.Parts), tt.maxParts)
			}
			t.Logf("%s: %d bytes in %v", tt.name, len(tt.data), time.Since(start))
		})
	}
}

// epubFile builds an EPUB with the given chapters (file name -> XHTML).
func epubFile(t testing.TB, chapters [][2]string, extra map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	add := func(name, content string) {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(content)); err != nil {
			t.Fatal(err)
		}
	}
	add("mimetype", "application/epub+zip")
	add("META-INF/container.xml", `<?xml version="1.0"?><container xmlns="urn:oasis:names:tc:opendocument:xmlns:container"><rootfiles><rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/></rootfiles></container>`)
	var manifest, spine strings.Builder
	for i, c := range chapters {
		fmt.Fprintf(&manifest, `<item id="c%d" href="%s" media-type="application/xhtml+xml"/>`, i, c[0])
		// The spine is in reverse order of the manifest: the spine decides.
		spine.WriteString(fmt.Sprintf(`<itemref idref="c%d"/>`, len(chapters)-1-i))
		add("OEBPS/"+c[0], c[1])
	}
	add("OEBPS/content.opf", `<?xml version="1.0"?><package xmlns="http://www.idpf.org/2007/opf" version="3.0"><metadata xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>The Book</dc:title><dc:creator>A. Writer</dc:creator></metadata><manifest>`+
		manifest.String()+`</manifest><spine>`+spine.String()+`</spine></package>`)
	for k, v := range extra {
		add(k, v)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestEPUBStructure(t *testing.T) {
	t.Parallel()
	data := epubFile(t, [][2]string{
		{"two.xhtml", `<html><head><title>The Book</title></head><body><h1>Second</h1><p>Later text.</p></body></html>`},
		{"one.xhtml", `<html><head><title>Opening</title></head><body><p>First text.</p><table><tr><th>A</th><th>B</th></tr><tr><td>1</td><td>2</td></tr></table></body></html>`},
	}, nil)
	doc, err := EPUB(data)
	if err != nil {
		t.Fatal(err)
	}
	checkDocument(t, "epub", doc)
	type blk struct {
		Kind    chunk.Kind
		Text    string
		Locator string
	}
	var got []blk
	for _, b := range doc.Blocks {
		got = append(got, blk{b.Kind, doc.Text[b.Start:b.End], b.Locator})
	}
	want := []blk{
		{chunk.Heading, "Opening", "Opening"}, {chunk.Paragraph, "First text.", "Opening"}, {chunk.Table, "A | B\n1 | 2", "Opening"},
		{chunk.Heading, "Second", "Second"}, {chunk.Paragraph, "Later text.", "Second"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("blocks (-want +got):\n%s", diff)
	}
	if doc.Title != "The Book" || doc.Metadata["author"] != "A. Writer" {
		t.Errorf("title %q, metadata %v", doc.Title, doc.Metadata)
	}
}

// TestEPUBBomb: a chapter that decompresses beyond the bound fails the book as too_large,
// without inflating it.
func TestEPUBBomb(t *testing.T) {
	t.Parallel()
	bomb := "<html><body><p>" + strings.Repeat("a", epubMaxFile+1) + "</p></body></html>"
	data := epubFile(t, [][2]string{{"c.xhtml", bomb}}, nil)
	if len(data) > 1<<20 {
		t.Fatalf("the bomb is %d bytes compressed", len(data))
	}
	if _, err := EPUB(data); ReasonOf(err) != ReasonTooLarge {
		t.Errorf("bomb: %v, want too_large", err)
	}
	if _, err := EPUB([]byte("PK\x03\x04 not really")); ReasonOf(err) != ReasonInvalid {
		t.Errorf("not a zip: %v", err)
	}
}

func TestRTFStructure(t *testing.T) {
	t.Parallel()
	rtf := `{\rtf1\ansi\ansicpg1252\uc1{\fonttbl{\f0 Times;}{\f1\fcharset238 Arial CE;}}{\colortbl;\red0\green0\blue0;}{\info{\title Hidden}}` +
		`{\*\generator Hidden;}Caf\'e9 \u8364? euro\par{\f1 \'e8\'e1st}\par{\pict 0123abcd}` +
		`\trowd\trhdr\intbl Name\cell Qty\cell\row\trowd\intbl Pens\cell 3\cell\row\pard After\par}`
	doc, err := RTF([]byte(rtf))
	if err != nil {
		t.Fatal(err)
	}
	checkDocument(t, "rtf", doc)
	want := "Café € euro\n\nčást\n\nName | Qty\nPens | 3\n\nAfter"
	if doc.Text != want {
		t.Errorf("text %q, want %q", doc.Text, want)
	}
	if got := tableBlocks(doc); len(got) != 1 || got[0].HeaderRows != 1 {
		t.Errorf("table %+v, want one with a header row", got)
	}
}

// TestRTFBounds: 100,000 nested groups are read in linear time with bounded state, and
// the text after them is still read.
func TestRTFBounds(t *testing.T) {
	t.Parallel()
	rtf := `{\rtf1 before\par` + strings.Repeat("{", 100_000) + "inside" + strings.Repeat("}", 100_000) + `\par after}`
	doc, err := RTF([]byte(rtf))
	if err != nil {
		t.Fatal(err)
	}
	if doc.Text != "before\n\ninside\n\nafter" {
		t.Errorf("text %q", doc.Text)
	}
	if !strings.Contains(fmt.Sprint(doc.Metadata[noteKey]), "nested deeper") {
		t.Errorf("no note about the nesting: %v", doc.Metadata)
	}
	if _, err := RTF([]byte("plain text")); ReasonOf(err) != ReasonInvalid {
		t.Errorf("not RTF: %v", err)
	}
}

// TestDecodeDerivedDocumentsRejects: what a child says about derived documents and block
// fields is checked.
func TestDecodeDerivedDocumentsRejects(t *testing.T) {
	t.Parallel()
	good, err := encodeDocument(Document{Document: chunk.Document{Text: "ab"}, Metadata: map[string]any{},
		Parts: []Part{{Fragment: "attachment/1/x.txt", Document: Document{Document: chunk.Document{Text: "cd", Blocks: []chunk.Block{{Start: 0, End: 2}}}}}}})
	if err != nil {
		t.Fatal(err)
	}
	if doc, err := decodeDocument(good); err != nil || len(doc.Parts) != 1 || doc.Parts[0].Text != "cd" {
		t.Fatalf("round trip: %+v, %v", doc, err)
	}
	for _, frag := range []string{"", "../x", "a//b", "a#b", "a\x00b", strings.Repeat("x", maxFragment+1)} {
		p, err := encodeDocument(Document{Metadata: map[string]any{}, Parts: []Part{{Fragment: frag}}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := decodeDocument(p); err == nil {
			t.Errorf("fragment %q accepted", frag)
		}
	}
	p, _ := encodeDocument(Document{Metadata: map[string]any{}, Parts: []Part{{Fragment: "a"}, {Fragment: "a"}}})
	if _, err := decodeDocument(p); err == nil {
		t.Error("a fragment twice accepted")
	}
	for _, info := range []string{`[{"b":0,"h":1}]`, `[{"b":0,"h":-1}]`, `[{"b":5,"l":"x"}]`, `[{"b":0,"l":"a\nb"}]`} {
		if _, err := decodeDocument(wirePayload(`{"blocks":[[4,0,0,2,0]],"block_info":`+info+`}`, "ab")); err == nil {
			t.Errorf("block info %s accepted", info)
		}
	}
}
