package extract

import (
	"bytes"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	xunicode "golang.org/x/text/encoding/unicode"
)

// Format is a file format that extraction knows how to handle (or knows to skip).
type Format string

// Formats.
const (
	FormatPDF      Format = "pdf"
	FormatMarkdown Format = "markdown"
	FormatHTML     Format = "html"
	FormatText     Format = "text"
	FormatJSONL    Format = "jsonl"
	FormatBinary   Format = "binary" // not a document format and not text: skipped
	// FormatImage is a PNG, JPEG or TIFF image: recognised (OCR) when OCRConfig.Mode is
	// OCRAll, else skipped as binary.
	FormatImage Format = "image"
)

// Office formats (zip packages of XML).
const (
	FormatDOCX Format = "docx" // Word, and macro-enabled Word (.docm)
	FormatPPTX Format = "pptx" // PowerPoint, and .pptm
	FormatXLSX Format = "xlsx" // Excel, and .xlsm
	FormatODT  Format = "odt"  // OpenDocument text
	FormatODS  Format = "ods"  // OpenDocument spreadsheet
	FormatODP  Format = "odp"  // OpenDocument presentation
)

// Formats of the mail, e-book, RTF, table and legacy office extractors.
const (
	FormatCSV    Format = "csv"    // comma-separated values (delimiter sniffed)
	FormatTSV    Format = "tsv"    // tab-separated values
	FormatEML    Format = "eml"    // one e-mail message (RFC 5322)
	FormatMBOX   Format = "mbox"   // a mailbox of messages
	FormatEPUB   Format = "epub"   // an e-book
	FormatRTF    Format = "rtf"    // Rich Text Format
	FormatLegacy Format = "legacy" // DOC, XLS, PPT: converted by LibreOffice when installed
)

// SniffLen is how much of a file Detect looks at; passing more does no harm.
const SniffLen = 8 << 10

// extFormats maps lower-case file extensions to formats. Extensions that are not listed are
// sniffed from the content.
var extFormats = map[string]Format{
	".md": FormatMarkdown, ".markdown": FormatMarkdown, ".mdown": FormatMarkdown,
	".mkd": FormatMarkdown, ".mkdn": FormatMarkdown, ".mdx": FormatMarkdown,

	".html": FormatHTML, ".htm": FormatHTML, ".xhtml": FormatHTML,

	// reStructuredText and AsciiDoc are read as plain text: their words are what retrieval
	// needs, and their markup is light enough to leave in.
	".txt": FormatText, ".text": FormatText, ".rst": FormatText, ".adoc": FormatText,
	".log": FormatText,

	".csv": FormatCSV, ".tsv": FormatTSV, ".tab": FormatTSV,
	".eml": FormatEML, ".mbox": FormatMBOX, ".mbx": FormatMBOX,
	".epub": FormatEPUB, ".rtf": FormatRTF,
	".doc": FormatLegacy, ".xls": FormatLegacy, ".ppt": FormatLegacy,

	".pdf": FormatPDF,

	".jsonl": FormatJSONL, ".ndjson": FormatJSONL,

	".docx": FormatDOCX, ".docm": FormatDOCX, ".pptx": FormatPPTX, ".pptm": FormatPPTX,
	".xlsx": FormatXLSX, ".xlsm": FormatXLSX, ".odt": FormatODT, ".ods": FormatODS, ".odp": FormatODP,

	// Images, archives, executables, media, fonts, databases.
	".png": FormatImage, ".jpg": FormatImage, ".jpeg": FormatImage, ".tif": FormatImage, ".tiff": FormatImage,
	".gif": FormatBinary, ".webp": FormatBinary, ".bmp": FormatBinary, ".ico": FormatBinary,
	".heic": FormatBinary, ".avif": FormatBinary, ".svg": FormatBinary,
	".psd": FormatBinary,
	".zip": FormatBinary, ".gz": FormatBinary, ".tgz": FormatBinary, ".bz2": FormatBinary,
	".xz": FormatBinary, ".zst": FormatBinary, ".7z": FormatBinary, ".rar": FormatBinary,
	".tar": FormatBinary, ".jar": FormatBinary, ".war": FormatBinary, ".iso": FormatBinary,
	".dmg": FormatBinary,
	".exe": FormatBinary, ".dll": FormatBinary, ".so": FormatBinary, ".dylib": FormatBinary,
	".bin": FormatBinary, ".o": FormatBinary, ".a": FormatBinary, ".class": FormatBinary,
	".pyc": FormatBinary, ".wasm": FormatBinary,
	".mp3": FormatBinary, ".mp4": FormatBinary, ".m4a": FormatBinary, ".wav": FormatBinary,
	".ogg": FormatBinary, ".flac": FormatBinary, ".avi": FormatBinary, ".mov": FormatBinary,
	".mkv": FormatBinary, ".webm": FormatBinary,
	".woff": FormatBinary, ".woff2": FormatBinary, ".ttf": FormatBinary, ".otf": FormatBinary,
	".eot":    FormatBinary,
	".sqlite": FormatBinary, ".db": FormatBinary, ".parquet": FormatBinary,
}

// Detect returns the format of a file from its name and the first bytes of its content
// (SniffLen bytes are enough). A known extension decides; otherwise the content does: a PDF
// header, then binary content, then an HTML document start, else text.
func Detect(name string, head []byte) Format {
	if f, ok := extFormats[strings.ToLower(filepath.Ext(name))]; ok {
		return f
	}
	if len(head) > SniffLen {
		head = head[:SniffLen]
	}
	// PDF readers accept the header anywhere in the first KB, after junk.
	if bytes.Contains(head[:min(len(head), 1024)], []byte("%PDF-")) {
		return FormatPDF
	}
	if isBinary(head) {
		return FormatBinary
	}
	if looksLikeHTML(head) {
		return FormatHTML
	}
	return FormatText
}

// looksLikeHTML reports whether head starts, after a byte-order mark, white space and
// comments, with an HTML doctype or an <html> tag.
func looksLikeHTML(head []byte) bool {
	s := bytes.TrimPrefix(head, []byte("\xEF\xBB\xBF"))
	for {
		s = bytes.TrimLeft(s, " \t\r\n\f")
		if !bytes.HasPrefix(s, []byte("<!--")) {
			break
		}
		end := bytes.Index(s, []byte("-->"))
		if end < 0 {
			return false
		}
		s = s[end+3:]
	}
	if len(s) > 16 {
		s = s[:16]
	}
	lower := bytes.ToLower(s)
	return bytes.HasPrefix(lower, []byte("<!doctype html")) || bytes.HasPrefix(lower, []byte("<html"))
}

// isBinary reports whether data (its first SniffLen bytes) is not text: it has a NUL byte
// (UTF-16 text with a byte-order mark excepted), or more than 10% control characters, or
// more than 30% bytes that are either control characters or invalid UTF-8. Latin-1 text,
// whose accented letters are invalid UTF-8, stays well under that.
func isBinary(data []byte) bool {
	if len(data) > SniffLen {
		data = data[:SniffLen]
	}
	if hasUTF16BOM(data) {
		return false
	}
	if bytes.IndexByte(data, 0) >= 0 {
		return true
	}
	var control, invalid int
	for i := 0; i < len(data); {
		c := data[i]
		if c < utf8.RuneSelf {
			if isControlByte(c) {
				control++
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && size == 1 {
			if !utf8.FullRune(data[i:]) { // cut off by the sniffing limit
				break
			}
			invalid++
		}
		i += size
	}
	n := len(data)
	return n > 0 && (control*10 > n || (control+invalid)*10 > n*3)
}

// isControlByte reports whether c is an ASCII control character that text does not
// normally contain. Escape is allowed: terminal logs are full of colour codes.
func isControlByte(c byte) bool {
	switch c {
	case '\t', '\n', '\r', '\f', '\v', 0x1B:
		return false
	}
	return c < 0x20 || c == 0x7F
}

func hasUTF16BOM(data []byte) bool {
	return bytes.HasPrefix(data, []byte{0xFE, 0xFF}) || bytes.HasPrefix(data, []byte{0xFF, 0xFE})
}

// decodeText returns data as a UTF-8 string with "\n" line ends, and the name of the
// encoding it was converted from ("" for UTF-8). A byte-order mark decides (UTF-8, UTF-16);
// without one the text is UTF-8, unless it is not valid UTF-8 and its bytes above 0x7F are
// mostly not UTF-8 sequences, in which case it is read as Windows-1252 (a superset of
// Latin-1), the usual encoding of legacy text files. Stray invalid bytes in otherwise valid
// UTF-8 are left for textnorm.Clean to replace.
func decodeText(data []byte) (string, string) {
	var enc encoding.Encoding
	name := ""
	switch {
	case bytes.HasPrefix(data, []byte("\xEF\xBB\xBF")):
		data = data[3:]
	case bytes.HasPrefix(data, []byte{0xFE, 0xFF}):
		enc, name = xunicode.UTF16(xunicode.BigEndian, xunicode.ExpectBOM), "utf-16be"
	case bytes.HasPrefix(data, []byte{0xFF, 0xFE}):
		enc, name = xunicode.UTF16(xunicode.LittleEndian, xunicode.ExpectBOM), "utf-16le"
	case !utf8.Valid(data) && mostlyNotUTF8(data):
		enc, name = charmap.Windows1252, "windows-1252"
	}
	if enc != nil {
		if out, err := enc.NewDecoder().Bytes(data); err == nil {
			data = out
		} else {
			name = "" // cannot happen for these decoders; fall back to replacing bad bytes
		}
	}
	return normalizeNewlines(string(data)), name
}

// mostlyNotUTF8 reports whether data has more invalid bytes than valid multi-byte UTF-8
// sequences.
func mostlyNotUTF8(data []byte) bool {
	var valid, invalid int
	for i := 0; i < len(data); {
		if data[i] < utf8.RuneSelf {
			i++
			continue
		}
		r, size := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && size == 1 {
			invalid++
		} else {
			valid++
		}
		i += size
	}
	return invalid > valid
}

// normalizeNewlines turns "\r\n" and lone "\r" line ends into "\n", so that line-based
// parsing (front matter, blank-line paragraphs) sees one convention.
func normalizeNewlines(s string) string {
	if !strings.Contains(s, "\r") {
		return s
	}
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return strings.ReplaceAll(s, "\r", "\n")
}
