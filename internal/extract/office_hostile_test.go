package extract

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"errors"
	"hash/crc32"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"
)

// encryptedOOXML returns an OLE compound file like the one Office writes for a
// password-protected DOCX/PPTX/XLSX: the header, and the directory naming the
// EncryptionInfo and EncryptedPackage streams (UTF-16).
func encryptedOOXML() []byte {
	b := append([]byte{}, oleMagic...)
	b = append(b, make([]byte, 504)...)
	b = append(b, utf16le("EncryptionInfo")...)
	b = append(b, make([]byte, 50)...)
	b = append(b, utf16le("EncryptedPackage")...)
	return append(b, make([]byte, 1024)...)
}

// zipBomb returns a package whose part name decompresses to size bytes of zeros (a few
// hundred kilobytes compressed), with the parts a format needs around it.
func zipBomb(t testing.TB, name string, size int64, parts ...string) []byte {
	t.Helper()
	return zipFill(t, name, size, make([]byte, 1<<20), parts...)
}

// zipFill is zipBomb with the part made of fill repeated (len(fill) divides 1 MiB).
func zipFill(t testing.TB, name string, size int64, fill []byte, parts ...string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	zw.RegisterCompressor(zip.Deflate, func(w io.Writer) (io.WriteCloser, error) { return flate.NewWriter(w, flate.BestSpeed) })
	w, err := zw.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	zeros := bytes.Repeat(fill, (1<<20)/len(fill))
	for left := size; left > 0; left -= int64(len(zeros)) {
		if _, err := w.Write(zeros[:min(int64(len(zeros)), left)]); err != nil {
			t.Fatal(err)
		}
	}
	writeParts(t, zw, parts...)
	return buf.Bytes()
}

// lyingZip returns a package whose part declares declared bytes but decompresses to more:
// archive/zip stops it at what it declares.
func lyingZip(t testing.TB, name string, declared, actual int) []byte {
	t.Helper()
	var data bytes.Buffer
	fw, err := flate.NewWriter(&data, flate.BestSpeed)
	if err != nil {
		t.Fatal(err)
	}
	body := "<a>" + strings.Repeat("x", actual) + "</a>"
	if _, err := fw.Write([]byte(body)); err != nil {
		t.Fatal(err)
	}
	if err := fw.Close(); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.CreateRaw(&zip.FileHeader{Name: name, Method: zip.Deflate, CRC32: crc32.ChecksumIEEE([]byte(body)),
		CompressedSize64: uint64(data.Len()), UncompressedSize64: uint64(declared)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data.Bytes()); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// Password-protected, corrupt and hostile office files fail with their reason, quickly and
// within a small budget, through the child as ingestion runs them.
func TestOfficeHostileFiles(t *testing.T) {
	t.Parallel()
	entityBomb := `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">` +
		`<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;"><!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">]>` +
		`<w:document ` + wNS + `><w:body><w:p><w:r><w:t>&lol9;</w:t></w:r></w:p></w:body></w:document>`
	external := `<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><w:document ` + wNS + `><w:body><w:p><w:r><w:t>&xxe;</w:t></w:r></w:p></w:body></w:document>`
	undeclared := `<w:document ` + wNS + `><w:body><w:p><w:r><w:t>&lol9;</w:t></w:r></w:p></w:body></w:document>`
	deep := `<w:document ` + wNS + `><w:body>` + strings.Repeat("<w:sdt>", officeMaxDepth+10) + `</w:body></w:document>`
	good := testDOCX(t)
	// Well-formed markup that decompresses past the part limit: elements of 1 MiB of text.
	bigText := []byte("<a>" + strings.Repeat("x", 1<<20-7) + "</a>")
	odtEncrypted := zipPackage(t, "mimetype", "application/vnd.oasis.opendocument.text", "content.xml", "\x8f\x11binary",
		"META-INF/manifest.xml", `<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"><manifest:file-entry manifest:full-path="content.xml"><manifest:encryption-data manifest:checksum-type="SHA1/1K"/></manifest:file-entry></manifest:manifest>`)
	for _, tc := range []struct {
		name, file string
		data       []byte
		reason     string
	}{
		{"encrypted docx", "a.docx", encryptedOOXML(), ReasonEncrypted},
		{"encrypted pptx", "a.pptx", encryptedOOXML(), ReasonEncrypted},
		{"encrypted xlsm", "a.xlsm", encryptedOOXML(), ReasonEncrypted},
		{"encrypted odt", "a.odt", odtEncrypted, ReasonEncrypted},
		{"legacy doc named docx", "a.docx", append(append([]byte{}, oleMagic...), make([]byte, 2048)...), ReasonCorrupt},
		{"truncated", "a.docx", good[:len(good)/2], ReasonCorrupt},
		{"not a zip", "a.odt", []byte("this is plain text, not a package"), ReasonCorrupt},
		{"empty", "a.xlsx", nil, ReasonCorrupt},
		{"no main part", "a.pptx", zipPackage(t, "x.xml", "<x/>"), ReasonCorrupt},
		{"docx without document", "a.docx", zipPackage(t, "word/styles.xml", "<x/>"), ReasonCorrupt},
		{"malformed xml", "a.docx", zipPackage(t, "word/document.xml", "<w:document><w:body><w:p>"), ReasonCorrupt},
		{"entity bomb", "a.docx", zipPackage(t, "word/document.xml", entityBomb), ReasonCorrupt},
		{"external entity", "a.docx", zipPackage(t, "word/document.xml", external), ReasonCorrupt},
		{"undeclared entity", "a.docx", zipPackage(t, "word/document.xml", undeclared), ReasonCorrupt},
		{"deep nesting", "a.docx", zipPackage(t, "word/document.xml", deep), ReasonTooLarge},
		{"zip bomb of zeros", "a.docx", zipBomb(t, "word/document.xml", officeMaxPart+1), ReasonTooLarge},
		{"zeros within the limit", "a.docx", zipBomb(t, "word/document.xml", 20<<20), ReasonCorrupt},
		{"a part that lies about its size", "a.docx", lyingZip(t, "word/document.xml", 1<<20, 64<<20), ReasonCorrupt},
		{"zip bomb part", "a.docx", zipFill(t, "word/document.xml", officeMaxPart+1, bigText), ReasonTooLarge},
		{"text without markup", "a.docx", zipFill(t, "word/document.xml", officeMaxRun+1, bytes.Repeat([]byte("a"), 1<<20)), ReasonTooLarge},
		{"zip bomb sheet", "a.xlsx", zipFill(t, "xl/worksheets/sheet1.xml", officeMaxPart+1, bigText,
			"xl/workbook.xml", `<workbook `+xNS+`><sheets><sheet name="S" sheetId="1" r:id="rId1"/></sheets></workbook>`,
			"xl/_rels/workbook.xml.rels", `<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Target="worksheets/sheet1.xml"/></Relationships>`), ReasonTooLarge},
		{"zip bomb content", "a.ods", zipFill(t, "content.xml", officeMaxPart+1, bigText), ReasonTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := testRunner(t, Config{Workers: 1, Timeout: 20 * time.Second, MemoryLimit: 256 << 20})
			start := time.Now()
			_, err := r.Extract(t.Context(), tc.file, tc.data)
			if got := ReasonOf(err); got != tc.reason {
				t.Errorf("%s: reason %q (%v), want %q", tc.name, got, err, tc.reason)
			}
			if d := time.Since(start); d > 15*time.Second {
				t.Errorf("%s took %v", tc.name, d)
			}
		})
	}
}

// The total decompressed budget holds across parts: parts each under the part limit stop
// the package once they add up to more than the total.
func TestOfficePackageTotalBudget(t *testing.T) {
	t.Parallel()
	const part = officeMaxTotal/4 + 1
	data := zipFill(t, "a.xml", part, []byte("<a></a>\n"), "b.xml", "")
	p, err := openOffice(data)
	if err != nil {
		t.Fatal(err)
	}
	// Read the same large part repeatedly, as several parts of that size would be.
	var last error
	reads := 0
	for range 5 {
		r, _, err := p.open("a.xml", officeMaxPart)
		if err != nil {
			last = err // refused on the size it declares
			break
		}
		if _, err := io.Copy(io.Discard, r); err != nil {
			last = officeReadError("a.xml", err)
			break
		}
		reads++
	}
	if ReasonOf(last) != ReasonTooLarge || !errors.Is(last, errOfficeLimit) || reads != 3 {
		t.Errorf("after %d reads of %d MiB: %v, want the total budget of %d MiB to stop the fourth", reads, part>>20, last, officeMaxTotal>>20)
	}
}

// A package with more entries than the limit is refused before any is read.
func TestOfficeTooManyEntries(t *testing.T) {
	t.Parallel()
	parts := make([]string, 0, 2*(officeMaxEntries+1))
	for i := range officeMaxEntries + 1 {
		parts = append(parts, "p/"+itoa(i), "")
	}
	if _, err := openOffice(zipPackage(t, parts...)); ReasonOf(err) != ReasonTooLarge {
		t.Errorf("%d entries: %v, want %s", officeMaxEntries+1, err, ReasonTooLarge)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
