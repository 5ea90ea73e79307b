package extract

import (
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/encoding/korean"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/encoding/traditionalchinese"

	"github.com/docent-rag/docent/internal/chunk"
	"github.com/docent-rag/docent/internal/extract/textnorm"
)

// RTF is read by a small reader of its own (no well-kept Go library reads RTF): groups,
// control words and symbols, \uN characters (skipping the \ucN fallback characters that
// follow them), \'hh bytes in the document's code page (\ansicpg, single- and double-byte),
// paragraphs (\par, \sect, \page), and tables (\cell, \row; rows marked \trhdr are the
// table's header). Destinations that are not text are skipped: the font, colour and style
// tables, the document information, pictures, objects' data, field instructions (their
// results are kept), and every \* destination the reader does not know.
//
// Bounds: groups nested deeper than rtfMaxDepth share their parent's state (they are still
// counted, so the text after them is read right), and the text is at most as long as the
// file, as RTF only ever shrinks.

const rtfMaxDepth = 256

// rtfSkip are the destinations whose content is not the document's text.
var rtfSkip = map[string]bool{
	"fonttbl": true, "colortbl": true, "stylesheet": true, "info": true, "pict": true, "object": false,
	"objdata": true, "fldinst": true, "themedata": true, "colorschememapping": true, "datastore": true,
	"latentstyles": true, "listtable": true, "listoverridetable": true, "rsidtbl": true, "generator": true,
	"xmlnstbl": true, "filetbl": true, "revtbl": true, "pgdsctbl": true, "userprops": true, "nonshppict": true,
	"header": true, "footer": true, "headerl": true, "headerr": true, "headerf": true, "footerl": true,
	"footerr": true, "footerf": true, "bkmkstart": true, "bkmkend": true, "protusertbl": true, "mmathPr": true,
	"shpinst": false, "sp": true, "xe": true, "tc": true, "template": true, "docvar": true, "wgrffmtfilter": true,
	"operator": true, "author": true, "title": true, "subject": true, "keywords": true, "comment": true,
}

// rtfSymbols are control words that stand for a character.
var rtfSymbols = map[string]string{
	"emdash": "—", "endash": "–", "lquote": "‘", "rquote": "’", "ldblquote": "“", "rdblquote": "”",
	"bullet": "•", "emspace": " ", "enspace": " ", "qmspace": " ", "tab": "\t", "line": "\n",
}

type rtfState struct {
	skip    bool
	uc      int  // characters to skip after \uN
	font    int  // the current font (\fN), whose charset may say how \'hh bytes read
	fonttbl bool // inside the font table
}

type rtfReader struct {
	data   []byte
	i      int
	enc    encoding.Encoding         // the document's code page (\ansicpg)
	fonts  map[int]encoding.Encoding // fonts whose \fcharset is not the code page's
	stack  []rtfState
	excess int  // groups open beyond rtfMaxDepth
	deep   bool // some were
	st     rtfState
	pend   []byte // \'hh bytes awaiting decoding
	para   strings.Builder
	cells  []string
	rows   []string
	header int // \trhdr rows at the start of the current table
	rowHdr bool
	inTbl  bool
	skipN  int // fallback characters still to skip after \uN
	b      builder
}

// RTF extracts a Rich Text Format file.
func RTF(data []byte) (Document, error) {
	doc := newDocument("application/rtf")
	// Fragments (pandoc writes them) start with a group or a control word without \rtf1.
	if head := strings.TrimLeft(string(data[:min(len(data), 64)]), " \t\r\n\uFEFF"); head != "" && head[0] != '{' && head[0] != '\\' {
		return Document{}, &Error{Reason: ReasonInvalid, Err: fmt.Errorf(`not an RTF file: it does not start with "{" or "\\"`)}
	}
	r := &rtfReader{data: data, enc: charmap.Windows1252, fonts: map[int]encoding.Encoding{}, st: rtfState{uc: 1}}
	r.read()
	r.endParagraph()
	r.endTable()
	if r.deep {
		addNote(&doc, fmt.Sprintf("groups nested deeper than %d read with their parent's settings", rtfMaxDepth))
	}
	doc.Document = r.b.document("")
	return finish(doc), nil
}

func (r *rtfReader) read() {
	for r.i < len(r.data) {
		c := r.data[r.i]
		switch c {
		case '{':
			r.i++
			r.flushBytes()
			if len(r.stack) < rtfMaxDepth {
				r.stack = append(r.stack, r.st)
			} else {
				r.excess++
				r.deep = true
			}
			// A group starting with \* is a destination to skip unless known.
			if r.i+1 < len(r.data) && r.data[r.i] == '\\' && r.data[r.i+1] == '*' {
				r.st.skip = true
				r.i += 2
			}
		case '}':
			r.i++
			r.flushBytes()
			if r.excess > 0 {
				r.excess--
			} else if n := len(r.stack); n > 0 {
				r.st = r.stack[n-1]
				r.stack = r.stack[:n-1]
			}
		case '\\':
			r.control()
		case '\r', '\n':
			r.i++
		default:
			r.i++
			r.char(string(c), true)
		}
	}
	r.flushBytes()
}

// char adds text, unless skipped; raw says it is a byte of the code page (counted as one
// fallback character after \uN).
func (r *rtfReader) char(s string, raw bool) {
	if r.skipN > 0 {
		r.skipN--
		return
	}
	if r.st.skip {
		return
	}
	if raw && len(s) == 1 && s[0] >= 0x80 {
		r.pend = append(r.pend, s[0])
		return
	}
	r.flushBytes()
	r.para.WriteString(s)
}

func (r *rtfReader) flushBytes() {
	if len(r.pend) == 0 {
		return
	}
	enc := r.enc
	if e, ok := r.fonts[r.st.font]; ok {
		enc = e
	}
	out, err := enc.NewDecoder().Bytes(r.pend)
	if err != nil {
		out = []byte(strings.ToValidUTF8(string(r.pend), "\uFFFD"))
	}
	r.pend = r.pend[:0]
	r.para.Write(out)
}

func (r *rtfReader) control() {
	r.i++ // the backslash
	if r.i >= len(r.data) {
		return
	}
	c := r.data[r.i]
	if !isASCIILetter(c) {
		r.i++
		switch c {
		case '\'':
			if r.i+2 <= len(r.data) {
				if v, err := strconv.ParseUint(string(r.data[r.i:r.i+2]), 16, 8); err == nil {
					r.i += 2
					if r.skipN > 0 {
						r.skipN--
					} else if !r.st.skip {
						r.pend = append(r.pend, byte(v))
					}
					return
				}
			}
		case '\\', '{', '}':
			r.char(string(c), false)
		case '~':
			r.char("\u00a0", false)
		case '_':
			r.char("-", false)
		case '\r', '\n':
			r.paragraphMark()
		case '*':
			r.st.skip = true
		}
		return
	}
	start := r.i
	for r.i < len(r.data) && isASCIILetter(r.data[r.i]) && r.i-start < 32 {
		r.i++
	}
	word := string(r.data[start:r.i])
	numStart := r.i
	if r.i < len(r.data) && r.data[r.i] == '-' {
		r.i++
	}
	for r.i < len(r.data) && r.data[r.i] >= '0' && r.data[r.i] <= '9' && r.i-numStart < 11 {
		r.i++
	}
	num, hasNum := 0, r.i > numStart
	if hasNum {
		num, _ = strconv.Atoi(string(r.data[numStart:r.i]))
	}
	if r.i < len(r.data) && r.data[r.i] == ' ' {
		r.i++
	}
	r.word(word, num, hasNum)
}

func (r *rtfReader) word(word string, num int, hasNum bool) {
	switch word {
	case "fonttbl":
		r.st.fonttbl = true
	case "f":
		r.flushBytes()
		r.st.font = num
		return
	case "fcharset":
		if r.st.fonttbl {
			if enc := fontCharset(num); enc != nil && len(r.fonts) < 4096 {
				r.fonts[r.st.font] = enc
			}
		}
		return
	}
	if skip, ok := rtfSkip[word]; ok {
		if skip {
			r.st.skip = true
		}
		return
	}
	if s, ok := rtfSymbols[word]; ok {
		r.char(s, false)
		return
	}
	switch word {
	case "ansicpg":
		if enc := codePage(num); enc != nil {
			r.enc = enc
		}
	case "uc":
		if hasNum && num >= 0 && num < 16 {
			r.st.uc = num
		}
	case "u":
		if !hasNum {
			return
		}
		if num < 0 {
			num += 65536
		}
		if r.skipN == 0 && !r.st.skip {
			r.flushBytes()
			r.para.WriteRune(rune(num))
		}
		r.skipN = r.st.uc
	case "par", "sect", "page":
		r.paragraphMark()
	case "intbl":
		r.inTbl = true
	case "trhdr":
		r.rowHdr = true
	case "cell", "nestcell":
		if !r.st.skip {
			r.flushBytes()
			r.cells = append(r.cells, textnorm.CollapseLine(r.para.String()))
			r.para.Reset()
		}
	case "row", "nestrow":
		if !r.st.skip {
			r.endRow()
		}
	case "pard":
		r.inTbl = false
	}
}

func (r *rtfReader) paragraphMark() {
	if r.st.skip {
		return
	}
	if r.inTbl {
		r.para.WriteByte(' ')
		return
	}
	r.endParagraph()
}

func (r *rtfReader) endParagraph() {
	r.flushBytes()
	if len(r.rows) > 0 && strings.TrimSpace(r.para.String()) != "" {
		r.endTable()
	}
	if text := textnorm.Collapse(r.para.String()); hasWordChar(text) {
		r.b.add(chunk.Paragraph, 0, 0, text)
	}
	r.para.Reset()
}

func (r *rtfReader) endRow() {
	r.flushBytes()
	if s := strings.TrimSpace(r.para.String()); s != "" {
		r.cells = append(r.cells, textnorm.CollapseLine(s))
	}
	r.para.Reset()
	if hasWordChar(strings.Join(r.cells, "")) {
		if r.rowHdr && r.header == len(r.rows) {
			r.header++
		}
		r.rows = append(r.rows, strings.TrimSpace(strings.Join(r.cells, csvSeparator)))
	}
	r.cells, r.rowHdr, r.inTbl = r.cells[:0], false, false
}

func (r *rtfReader) endTable() {
	if len(r.rows) > 0 {
		r.b.addTable(r.rows, r.header, "")
	}
	r.rows, r.header = nil, 0
}

func isASCIILetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// fontCharset returns the encoding of a font's \fcharset, nil for ANSI (the code page)
// and the charsets not known.
func fontCharset(n int) encoding.Encoding {
	switch n {
	case 77:
		return charmap.Macintosh
	case 128:
		return japanese.ShiftJIS
	case 129:
		return korean.EUCKR
	case 134:
		return simplifiedchinese.GBK
	case 136:
		return traditionalchinese.Big5
	case 161:
		return charmap.Windows1253
	case 162:
		return charmap.Windows1254
	case 163:
		return charmap.Windows1258
	case 177:
		return charmap.Windows1255
	case 178:
		return charmap.Windows1256
	case 186:
		return charmap.Windows1257
	case 204:
		return charmap.Windows1251
	case 222:
		return charmap.Windows874
	case 238:
		return charmap.Windows1250
	}
	return nil
}

// codePage returns the encoding of a Windows code page, nil for one not known.
func codePage(n int) encoding.Encoding {
	switch n {
	case 437:
		return charmap.CodePage437
	case 850:
		return charmap.CodePage850
	case 874:
		return charmap.Windows874
	case 932:
		return japanese.ShiftJIS
	case 936:
		return simplifiedchinese.GBK
	case 949:
		return korean.EUCKR
	case 950:
		return traditionalchinese.Big5
	case 1250:
		return charmap.Windows1250
	case 1251:
		return charmap.Windows1251
	case 1252:
		return charmap.Windows1252
	case 1253:
		return charmap.Windows1253
	case 1254:
		return charmap.Windows1254
	case 1255:
		return charmap.Windows1255
	case 1256:
		return charmap.Windows1256
	case 1257:
		return charmap.Windows1257
	case 1258:
		return charmap.Windows1258
	case 10000:
		return charmap.Macintosh
	}
	return nil
}
