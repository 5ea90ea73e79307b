package extract

import (
	"strings"
	"testing"
)

func TestDetect(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		head string
		want Format
	}{
		{"a.md", "", FormatMarkdown},
		{"A.MARKDOWN", "", FormatMarkdown},
		{"page.mdx", "", FormatMarkdown},
		{"x.html", "", FormatHTML},
		{"x.htm", "", FormatHTML},
		{"x.xhtml", "", FormatHTML},
		{"x.txt", "", FormatText},
		{"x.text", "", FormatText},
		{"x.rst", "", FormatText},
		{"x.csv", "", FormatCSV},
		{"X.TSV", "", FormatTSV},
		{"m.eml", "", FormatEML},
		{"box.mbox", "", FormatMBOX},
		{"b.epub", "", FormatEPUB},
		{"r.rtf", "", FormatRTF},
		{"old.doc", "", FormatLegacy},
		{"old.xls", "", FormatLegacy},
		{"old.ppt", "", FormatLegacy},
		{"x.pdf", "", FormatPDF},
		{"corpus.jsonl", "", FormatJSONL},
		{"corpus.ndjson", "", FormatJSONL},
		{"x.png", "text", FormatImage}, {"x.TIFF", "", FormatImage}, {"x.gif", "text", FormatBinary},
		{"x.docx", "", FormatDOCX}, {"X.XLSM", "", FormatXLSX}, {"x.odp", "", FormatODP},
		{"x.zip", "", FormatBinary},
		{"x.exe", "", FormatBinary},
		{"dir.md/file", "%PDF-1.7\n", FormatPDF}, // the extension is the file's, not a folder's
		{"noext", "%PDF-1.4\n%\xe2\xe3\xcf\xd3", FormatPDF},
		{"noext", "junk before\n%PDF-1.4", FormatPDF},
		{"noext", "\x7fELF\x02\x01\x01\x00\x00", FormatBinary},
		{"noext", "<!DOCTYPE html>\n<html>", FormatHTML},
		{"noext", "\xEF\xBB\xBF  <!-- saved page -->\n<HTML lang=en>", FormatHTML},
		{"noext", "<p>a fragment is text</p>", FormatText},
		{"Makefile", "all:\n\tgo build\n", FormatText},
		{"main.go", "package main\n", FormatText},
		{"noext", "", FormatText},
		{"noext", "\xFF\xFEh\x00i\x00", FormatText}, // UTF-16 with a byte-order mark
		{"noext", strings.Repeat("\x01\x02\x03\x04abcdef", 10), FormatBinary},
	}
	for _, tt := range tests {
		if got := Detect(tt.name, []byte(tt.head)); got != tt.want {
			t.Errorf("Detect(%q, %q) = %q, want %q", tt.name, tt.head, got, tt.want)
		}
	}
}

func TestIsBinaryLongText(t *testing.T) {
	t.Parallel()
	// Latin-1 text has invalid UTF-8 bytes but is not binary; a multi-byte rune cut off by the
	// sniffing limit is not an invalid byte.
	latin1 := strings.Repeat("Le caf\xe9 est tr\xe8s bon. ", 1000)
	if isBinary([]byte(latin1)) {
		t.Error("Latin-1 text detected as binary")
	}
	cut := strings.Repeat("a", SniffLen-1) + "é"
	if isBinary([]byte(cut)) {
		t.Error("a rune cut at the sniffing limit made text binary")
	}
	if isBinary([]byte(strings.Repeat("x", SniffLen) + "\x00")) {
		t.Error("a NUL byte after the first SniffLen bytes was seen")
	}
}
