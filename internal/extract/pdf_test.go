package extract

import (
	"bufio"
	"bytes"
	"compress/flate"
	"encoding/binary"
	"fmt"
	"hash/adler32"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/model"

	"github.com/docent-rag/docent/internal/chunk"
	"github.com/docent-rag/docent/internal/extract/pdf"
	"github.com/docent-rag/docent/internal/testing/pdfgen"
)

// writePDF writes d to a file in a temporary directory and returns its path.
func pdfWriteDoc(t testing.TB, d pdfgen.Document) string {
	t.Helper()
	var buf bytes.Buffer
	if err := pdfgen.Write(&buf, d); err != nil {
		t.Fatal(err)
	}
	return pdfWriteFile(t, "doc.pdf", buf.Bytes())
}

func pdfWriteFile(t testing.TB, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// pageTexts returns the text of each page of doc, from PageStarts.
func pdfPageTexts(doc Document) []string {
	out := make([]string, doc.Pages)
	for i, start := range doc.PageStarts {
		end := len(doc.Text)
		if i+1 < len(doc.PageStarts) {
			end = doc.PageStarts[i+1]
		}
		out[i] = strings.TrimSpace(doc.Text[start:end])
	}
	return out
}

var pdfHandbook = pdfgen.Document{
	Title:  "The Docent Handbook",
	Author: "Ada Lovelace",
	Header: "Docent Handbook — internal",
	Footer: "Page {page} of 4",
	Pages: []pdfgen.Page{
		{Lines: []string{
			"Getting started",
			"",
			"Docent answers questions from your documents. It reads Markdown, HTML and",
			"PDF files, splits them into passages and finds the ones that answer a question.",
			"",
			"Each answer cites the passages it used, with page numbers for PDFs.",
		}},
		{Lines: []string{
			"Permissions",
			"",
			"Every document carries permission tags; a user sees only passages whose tags",
			"they hold. Tags come from the document’s front matter or from the folder.",
		}},
		{Lines: []string{
			"Costs: 12 € per seat, “fair use” applies – see § 4.",
		}},
		{Lines: []string{
			"A well-known trade-off: recall versus precision (and latency).",
		}},
	},
}

func TestPDFGenerated(t *testing.T) {
	t.Parallel()
	path := pdfWriteDoc(t, pdfHandbook)
	doc, err := extractPDF(t, path, Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := pdfCheckDocument(doc); err != nil {
		t.Fatal(err)
	}
	if doc.Title != "The Docent Handbook" {
		t.Errorf("Title = %q", doc.Title)
	}
	want := []string{
		"Getting started\n\nDocent answers questions from your documents. It reads Markdown, HTML and PDF files, splits them into passages and finds the ones that answer a question.\n\nEach answer cites the passages it used, with page numbers for PDFs.",
		"Permissions\n\nEvery document carries permission tags; a user sees only passages whose tags they hold. Tags come from the document’s front matter or from the folder.",
		"Costs: 12 € per seat, “fair use” applies – see § 4.",
		"A well-known trade-off: recall versus precision (and latency).",
	}
	// The running header and footer are gone; paragraphs are split at blank lines.
	if diff := cmp.Diff(want, pdfPageTexts(doc)); diff != "" {
		t.Errorf("page texts (-want +got):\n%s", diff)
	}
	var pages []int
	for _, b := range doc.Blocks {
		if b.Kind != chunk.Paragraph {
			t.Errorf("block kind %v, want Paragraph", b.Kind)
		}
		pages = append(pages, b.Page)
	}
	if diff := cmp.Diff([]int{1, 1, 1, 2, 2, 3, 4}, pages); diff != "" {
		t.Errorf("block pages (-want +got):\n%s", diff)
	}
	wantMeta := map[string]any{
		"pages": int64(4), "encrypted": false, "title": "The Docent Handbook", "author": "Ada Lovelace",
		"producer": "Docent pdfgen", "pdf_extractor": "ledongthuc",
	}
	if diff := cmp.Diff(wantMeta, doc.Metadata); diff != "" {
		t.Errorf("metadata (-want +got):\n%s", diff)
	}
	if len(doc.NoTextPages) != 0 || doc.Skip != "" {
		t.Errorf("NoTextPages %v, Skip %q", doc.NoTextPages, doc.Skip)
	}
}

func TestPDFTitleFromFirstPage(t *testing.T) {
	t.Parallel()
	path := pdfWriteDoc(t, pdfgen.Document{Title: "Microsoft Word - draft3.docx", Pages: []pdfgen.Page{{Lines: []string{
		"Quarterly report",
		"",
		"Revenue grew in every region. The details follow on the next pages, with a table per region and a summary.",
	}}}})
	doc, err := extractPDF(t, path, Config{})
	if err != nil {
		t.Fatal(err)
	}
	if doc.Title != "Quarterly report" {
		t.Errorf("Title = %q, want the first line (the information Title is a file name)", doc.Title)
	}
}

func TestPDFNoText(t *testing.T) {
	t.Parallel()
	path := pdfWriteDoc(t, pdfgen.Document{Pages: []pdfgen.Page{{}, {Lines: []string{"Only the second page has text."}}, {}}})
	doc, err := extractPDF(t, path, Config{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]int{1, 3}, doc.NoTextPages); diff != "" {
		t.Errorf("NoTextPages (-want +got):\n%s", diff)
	}
	if doc.Skip != "" || doc.Pages != 3 {
		t.Errorf("Skip %q, Pages %d", doc.Skip, doc.Pages)
	}

	path = pdfWriteDoc(t, pdfgen.Document{Pages: []pdfgen.Page{{}, {}}})
	doc, err = extractPDF(t, path, Config{})
	if err != nil {
		t.Fatal(err)
	}
	if doc.Skip != SkipNoText || doc.Text != "" || doc.Pages != 2 {
		t.Errorf("Skip %q, Text %q, Pages %d; want a no_text skip of 2 pages", doc.Skip, doc.Text, doc.Pages)
	}
	if err := pdfCheckDocument(doc); err != nil {
		t.Error(err)
	}
	if diff := cmp.Diff([]int{0, 0}, doc.PageStarts); diff != "" {
		t.Errorf("PageStarts (-want +got):\n%s", diff)
	}
}

// pdfcpuNoConfigDir keeps pdfcpu from creating its configuration directory under the user's
// config directory in this process, as the engine does in the children (package pdf).
var pdfcpuNoConfigDir = sync.OnceFunc(func() { model.ConfigPath = "disable" })

// encryptPDF encrypts the PDF at path with pdfcpu and returns the new file's path.
func encryptPDF(t *testing.T, path, user, owner string, aes bool, keyLength int) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pdfcpuNoConfigDir()
	conf := model.NewDefaultConfiguration()
	conf.Cmd = model.ENCRYPT
	conf.UserPW, conf.OwnerPW = user, owner
	conf.EncryptUsingAES, conf.EncryptKeyLength = aes, keyLength
	ctx, err := pdfcpu.Read(bytes.NewReader(data), conf)
	if err != nil {
		t.Fatalf("encrypt: %v", err)
	}
	var out bytes.Buffer
	w := bufio.NewWriter(&out)
	ctx.Write.Writer = w
	if err := pdfcpu.WriteContext(ctx); err != nil {
		t.Fatalf("encrypt: %v", err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return pdfWriteFile(t, "encrypted.pdf", out.Bytes())
}

func TestPDFEncrypted(t *testing.T) {
	t.Parallel()
	plain := pdfWriteDoc(t, pdfgen.Document{Pages: []pdfgen.Page{{Lines: []string{"The vault code is 4711."}}}})
	tests := []struct {
		name       string
		user       string
		aes        bool
		keyLength  int
		password   string
		wantReason string // "" for success
		wantPath   string // "" for any
	}{
		// An empty user password opens without asking. ledongthuc decrypts RC4-40 wrongly and
		// does not support the crypt filters pdfcpu writes, so the pdfcpu path reads these.
		{name: "rc4-40 empty user password", keyLength: 40, wantPath: pdf.PathPdfcpu},
		{name: "rc4-128 empty user password", keyLength: 128},
		{name: "aes-256 empty user password", aes: true, keyLength: 256},
		{name: "aes-128 user password missing", user: "s3cret", aes: true, keyLength: 128, wantReason: ReasonPDFEncrypted},
		{name: "aes-128 wrong password", user: "s3cret", aes: true, keyLength: 128, password: "guess", wantReason: ReasonPDFEncrypted},
		{name: "aes-128 right password", user: "s3cret", aes: true, keyLength: 128, password: "s3cret"},
		{name: "aes-256 right password", user: "s3cret", aes: true, keyLength: 256, password: "s3cret"},
		{name: "rc4-40 right password", user: "s3cret", keyLength: 40, password: "s3cret"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := encryptPDF(t, plain, tt.user, "owner-pw", tt.aes, tt.keyLength)
			doc, err := extractPDF(t, path, Config{PDF: PDFOptions{Password: tt.password}})
			if tt.wantReason != "" {
				if ReasonOf(err) != tt.wantReason {
					t.Fatalf("err = %v (reason %s), want reason %s", err, ReasonOf(err), tt.wantReason)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if doc.Text != "The vault code is 4711." {
				t.Errorf("Text = %q", doc.Text)
			}
			if doc.Metadata["encrypted"] != true {
				t.Errorf("Metadata[encrypted] = %v, want true", doc.Metadata["encrypted"])
			}
			if path := doc.Metadata["pdf_extractor"]; tt.wantPath != "" && path != tt.wantPath {
				t.Errorf("extractor path %v, want %s", path, tt.wantPath)
			}
		})
	}
}

// Hostile files, built here: each must fail with its reason within the time limit, and
// extraction must go on working afterwards.

// bombPDF has a page whose small Flate-compressed content stream inflates to a TJ array of
// n times 16384 one-letter strings, which the parser holds in memory as values of some 40
// bytes each. The repeated middle of the stream is one compressed block of 64 KiB of
// "(a) (a) ...", copied: the history it refers to is the same wherever it is placed.
func bombPDF(t testing.TB, n int) []byte {
	t.Helper()
	var z bytes.Buffer
	fw, err := flate.NewWriter(&z, flate.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	chunk := bytes.Repeat([]byte("(a) "), 16<<10)
	sum := adler32.New()
	write := func(p []byte) {
		if _, err := fw.Write(p); err != nil {
			t.Fatal(err)
		}
		if err := fw.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	write(append([]byte("BT /F1 12 Tf ["), chunk...))
	head := z.Len()
	write(chunk)
	block := bytes.Clone(z.Bytes()[head:])
	z.Truncate(head)
	sum.Write([]byte("BT /F1 12 Tf ["))
	for range n {
		z.Write(block)
		sum.Write(chunk)
	}
	z.Truncate(z.Len() - len(block)) // the first chunk was written with the head
	write([]byte("] TJ ET"))
	sum.Write([]byte("] TJ ET"))
	if err := fw.Close(); err != nil {
		t.Fatal(err)
	}
	stream := append([]byte{0x78, 0xda}, z.Bytes()...)
	stream = binary.BigEndian.AppendUint32(stream, sum.Sum32())

	objs := []string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << >> >>",
		fmt.Sprintf("<< /Length %d /Filter /FlateDecode >>\nstream\n%s\nendstream", len(stream), stream),
	}
	return pdfgen.Objects(objs)
}

func TestPDFBomb(t *testing.T) {
	t.Parallel()
	// Small enough to extract: the construction is right.
	start := time.Now()
	doc, err := extractPDF(t, pdfWriteFile(t, "small.pdf", bombPDF(t, 3)), Config{})
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(doc.Text, "a"); n != 3*16<<10 {
		t.Fatalf("small bomb: %d a's, want %d", n, 3*16<<10)
	}
	t.Logf("small bomb extracted in %v", time.Since(start).Round(time.Millisecond))
	// Big (a 1 GiB stream): the parser is stopped at the memory limit.
	start = time.Now()
	_, err = extractPDF(t, pdfWriteFile(t, "bomb.pdf", bombPDF(t, 16<<10)), Config{MemoryLimit: 64 << 20})
	if ReasonOf(err) != ReasonMemory {
		t.Fatalf("err = %v (reason %s), want %s", err, ReasonOf(err), ReasonMemory)
	}
	t.Logf("%s after %v: %v", ReasonMemory, time.Since(start).Round(time.Millisecond), err)
}

func TestPDFHostile(t *testing.T) {
	t.Parallel()
	var good bytes.Buffer
	if err := pdfgen.Write(&good, pdfHandbook); err != nil {
		t.Fatal(err)
	}
	garbage := []byte("%PDF-1.4\n")
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		garbage = append(garbage, byte(rng.UintN(256)))
	}
	garbage = append(garbage, "\n%%EOF\n"...)

	const timeout = 20 * time.Second
	tests := []struct {
		name   string
		data   []byte
		mode   string
		memory int64
		want   string
		inMsg  string // the error message contains this
	}{
		{name: "huge xref table", data: pdfgen.HugeXref(), want: ReasonMemory, inMsg: "out of memory"},
		{name: "huge xref stream", data: pdfgen.HugeXrefStream(), want: ReasonMemory, inMsg: "out of memory"},
		{name: "page tree lists itself", data: pdfgen.CyclicPageTree(true), want: ReasonPDFInvalid, inMsg: "page tree"},
		{name: "page tree lists its parent", data: pdfgen.CyclicPageTree(false), want: ReasonPDFInvalid, inMsg: "page tree"},
		{name: "truncated", data: good.Bytes()[:good.Len()/3], want: ReasonPDFInvalid},
		{name: "garbage after a header", data: garbage, want: ReasonPDFInvalid},
		{name: "empty file", data: nil, want: ReasonPDFInvalid},
		{name: "not a PDF", data: []byte("<html><body>hello</body></html>"), want: ReasonPDFInvalid},
		// Test-only child modes exercise the watchdogs directly.
		{name: "child hangs", data: good.Bytes(), mode: "hang", want: ReasonTimeout},
		{name: "child grows past the memory limit", data: good.Bytes(), mode: "grow", memory: 128 << 20, want: ReasonMemory, inMsg: "more than 128 MiB"},
		{name: "child panics in a goroutine", data: good.Bytes(), mode: "crash", want: ReasonCrash, inMsg: "panic: extract child test crash"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := pdfWriteFile(t, "hostile.pdf", tt.data)
			opts := Config{Timeout: timeout, MemoryLimit: tt.memory, testMode: func(string) string { return tt.mode }}
			if tt.mode == "hang" {
				opts.Timeout = 2 * time.Second
			}
			start := time.Now()
			_, err := extractPDF(t, path, opts)
			elapsed := time.Since(start)
			if got := ReasonOf(err); got != tt.want {
				t.Fatalf("err = %v (reason %s), want reason %s", err, got, tt.want)
			}
			if !strings.Contains(err.Error(), tt.inMsg) {
				t.Errorf("err = %q, want it to mention %q", err, tt.inMsg)
			}
			if strings.Contains(err.Error(), "goroutine ") || strings.Contains(err.Error(), "second line") {
				t.Errorf("err = %q carries more than the first line of the crash", err)
			}
			if elapsed > opts.Timeout+5*time.Second {
				t.Errorf("took %v, timeout %v", elapsed, opts.Timeout)
			}
			t.Logf("%s after %v: %v", tt.want, elapsed.Round(time.Millisecond), err)

			// The next file is extracted as usual.
			doc, err := extractPDF(t, pdfWriteFile(t, "good.pdf", good.Bytes()), Config{})
			if err != nil || doc.Pages != 4 {
				t.Fatalf("good PDF after a hostile one: pages %d, err %v", doc.Pages, err)
			}
		})
	}
}

// TestPDFGenRoundTrip writes documents with pdfgen and reads them back with PDF: every
// page's text must come back exactly, up to the spacing between words.
func TestPDFGenRoundTrip(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("Retrieval-augmented generation grounds answers in passages. ", 12)
	flowed, err := pdfgen.Flow(
		"Chapter one", long, "A short paragraph (with parentheses) and a back\\slash.",
		strings.Repeat("Second part of the text, which goes on for a while. ", 40),
		strings.Repeat("Third part, long enough to need another page or two. ", 60),
	)
	if err != nil {
		t.Fatal(err)
	}
	docs := map[string]pdfgen.Document{
		"one page": {Pages: []pdfgen.Page{{Lines: []string{"Hello, world."}}}},
		"WinAnsi characters": {Pages: []pdfgen.Page{{Lines: []string{
			"Quotes “double” and ‘single’, dashes – and —, an ellipsis… and 5 €.",
			"Accents: café, naïve, Ærø, Straße, señor, Œuvre; symbols © ® ™ ° ± ½ • § ¶.",
		}}}},
		"wrapped lines": {Pages: []pdfgen.Page{{Lines: []string{long, "", long}}}},
		"flowed pages":  {Title: "Flowed", Pages: flowed},
	}
	for name, d := range docs {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			doc, err := extractPDF(t, pdfWriteDoc(t, d), Config{})
			if err != nil {
				t.Fatal(err)
			}
			if doc.Pages != len(d.Pages) {
				t.Fatalf("%d pages, want %d", doc.Pages, len(d.Pages))
			}
			got := pdfPageTexts(doc)
			for i, p := range d.Pages {
				want := strings.Join(strings.Fields(strings.Join(p.Lines, " ")), " ")
				if g := strings.Join(strings.Fields(got[i]), " "); g != want {
					t.Errorf("page %d:\n got %q\nwant %q", i+1, g, want)
				}
			}
			if err := pdfCheckDocument(doc); err != nil {
				t.Error(err)
			}
		})
	}
}
