package extract

import (
	"archive/zip"
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/docent-rag/docent/internal/chunk"
	"github.com/docent-rag/docent/internal/extract/textnorm"
)

// Office documents (OOXML: DOCX, PPTX, XLSX and their macro-enabled variants; OpenDocument:
// ODT, ODS, ODP) are zip packages of XML parts. They are read with archive/zip and
// encoding/xml, streaming, in the child like every format, with bounds of their own so that
// a hostile package yields a clear failure rather than a kill by the child's budget:
//
//   - the package's entries (officeMaxEntries), each part's decompressed size
//     (officeMaxPart) and the total decompressed size of the parts read (officeMaxTotal):
//     a zip bomb stops at the first limit, after reading at most that much;
//   - XML nesting (officeMaxDepth) and tokens per part (officeMaxTokens); encoding/xml does
//     not read DTDs or expand entities other than the five predefined ones and character
//     references (an undeclared entity is an error, not an expansion), so an entity bomb
//     ("billion laughs") is an invalid part, not a gigabyte of text;
//   - rows of a spreadsheet (officeMaxRows per sheet, officeMaxCells per file) and columns
//     of a row (officeMaxColumns): a sheet that declares 999,999,999 repeated rows costs
//     nothing, and a sheet beyond the limit is cut with a warning (Document.Warnings).
const (
	officeMaxEntries = 10_000
	officeMaxPart    = 128 << 20
	officeMaxTotal   = 384 << 20
	officeMaxDepth   = 256
	officeMaxTokens  = 20_000_000
	officeMaxRows    = 50_000
	officeMaxCells   = 2_000_000
	officeMaxColumns = 1_024
)

// Reasons of office files.
const (
	ReasonEncrypted = "encrypted" // a password-protected office file
	ReasonCorrupt   = "corrupt"   // not a readable package: truncated, not a zip, a required part missing or malformed
)

// oleMagic starts an OLE compound file: a legacy binary office file, or an encrypted OOXML
// package (the encrypted package and its EncryptionInfo stream inside one).
var oleMagic = []byte{0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1}

// errOfficeLimit marks a package over one of the bounds above.
var errOfficeLimit = errors.New("over the limit")

// officePackage is an opened zip package with a budget for the parts read from it.
type officePackage struct {
	files map[string]*zip.File
	left  int64 // decompressed bytes the package may still yield
}

// openOffice opens data as an office package. An OLE compound file holding an
// EncryptionInfo stream (an OOXML package encrypted with a password) is ReasonEncrypted; any
// other OLE file, or data that is not a zip, is ReasonCorrupt.
func openOffice(data []byte) (*officePackage, error) {
	if bytes.HasPrefix(data, oleMagic) {
		if bytes.Contains(data, utf16le("EncryptionInfo")) || bytes.Contains(data, utf16le("EncryptedPackage")) {
			return nil, &Error{Reason: ReasonEncrypted, Err: errors.New("the package is encrypted with a password")}
		}
		return nil, &Error{Reason: ReasonCorrupt, Err: errors.New("an OLE compound file (a legacy binary office file?), not a zip package")}
	}
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, &Error{Reason: ReasonCorrupt, Err: fmt.Errorf("not a zip package: %w", err)}
	}
	if len(zr.File) > officeMaxEntries {
		return nil, &Error{Reason: ReasonTooLarge, Err: fmt.Errorf("%d entries in the package: %w (%d)", len(zr.File), errOfficeLimit, officeMaxEntries)}
	}
	p := &officePackage{files: make(map[string]*zip.File, len(zr.File)), left: officeMaxTotal}
	for _, f := range zr.File {
		name := strings.TrimPrefix(path.Clean("/"+f.Name), "/")
		if _, dup := p.files[name]; !dup {
			p.files[name] = f
		}
	}
	return p, nil
}

func utf16le(s string) []byte {
	out := make([]byte, 0, 2*len(s))
	for _, c := range []byte(s) {
		out = append(out, c, 0)
	}
	return out
}

// has reports whether the package has the part.
func (p *officePackage) has(name string) bool { _, ok := p.files[name]; return ok }

// part returns a part's decompressed bytes within the part and total budgets. A missing
// part is nil, nil.
func (p *officePackage) part(name string) ([]byte, error) {
	f, ok := p.files[strings.TrimPrefix(path.Clean("/"+name), "/")]
	if !ok {
		return nil, nil
	}
	rc, err := f.Open()
	if err != nil {
		return nil, &Error{Reason: ReasonCorrupt, Err: fmt.Errorf("part %s: %w", name, err)}
	}
	defer rc.Close()
	limit := min(int64(officeMaxPart), p.left)
	buf := bytes.NewBuffer(make([]byte, 0, min(f.UncompressedSize64, uint64(limit), 16<<20)))
	n, err := io.Copy(buf, io.LimitReader(rc, limit+1))
	if err != nil {
		return nil, &Error{Reason: ReasonCorrupt, Err: fmt.Errorf("part %s: %w", name, err)}
	}
	if n > limit {
		return nil, &Error{Reason: ReasonTooLarge, Err: fmt.Errorf("part %s decompresses to more than %d MiB (of %d MiB per part, %d MiB per package): %w",
			name, limit>>20, officeMaxPart>>20, officeMaxTotal>>20, errOfficeLimit)}
	}
	p.left -= n
	return buf.Bytes(), nil
}

// xmlWalker reads an XML part token by token within the nesting and token bounds.
type xmlWalker struct {
	dec    *xml.Decoder
	name   string
	depth  int
	tokens int
}

func newXMLWalker(name string, data []byte) *xmlWalker {
	dec := xml.NewDecoder(bytes.NewReader(data))
	dec.Strict = true
	dec.Entity = nil // the predefined entities only: nothing is expanded from a DTD
	dec.CharsetReader = func(label string, in io.Reader) (io.Reader, error) {
		if strings.EqualFold(label, "utf-8") || strings.EqualFold(label, "utf8") {
			return in, nil
		}
		return nil, fmt.Errorf("encoding %q", label)
	}
	return &xmlWalker{dec: dec, name: name}
}

// next returns the next token (a copy is not needed: callers use it before the next call).
// io.EOF ends the part; a malformed part or one over a bound is ReasonCorrupt or
// ReasonTooLarge.
func (w *xmlWalker) next() (xml.Token, error) {
	tok, err := w.dec.RawToken()
	if err == io.EOF {
		return nil, io.EOF
	}
	if err != nil {
		return nil, &Error{Reason: ReasonCorrupt, Err: fmt.Errorf("part %s: %w", w.name, err)}
	}
	w.tokens++
	if w.tokens > officeMaxTokens {
		return nil, &Error{Reason: ReasonTooLarge, Err: fmt.Errorf("part %s: more than %d XML tokens: %w", w.name, officeMaxTokens, errOfficeLimit)}
	}
	switch t := tok.(type) {
	case xml.StartElement:
		w.depth++
		if w.depth > officeMaxDepth {
			return nil, &Error{Reason: ReasonTooLarge, Err: fmt.Errorf("part %s: XML nested deeper than %d: %w", w.name, officeMaxDepth, errOfficeLimit)}
		}
	case xml.EndElement:
		w.depth--
	case xml.Directive:
		// A DTD: its entities are not expanded (RawToken does not even look), but a part of
		// an office file never has one.
		if bytes.HasPrefix(bytes.TrimSpace(t), []byte("DOCTYPE")) && bytes.Contains(t, []byte("ENTITY")) {
			return nil, &Error{Reason: ReasonCorrupt, Err: fmt.Errorf("part %s declares XML entities", w.name)}
		}
	}
	return tok, nil
}

// skip skips the rest of the element just started.
func (w *xmlWalker) skip() error {
	for d := w.depth; w.depth >= d; {
		if _, err := w.next(); err != nil {
			if err == io.EOF {
				return &Error{Reason: ReasonCorrupt, Err: fmt.Errorf("part %s ends inside an element", w.name)}
			}
			return err
		}
	}
	return nil
}

// xattr returns the value of the attribute with this local name (any prefix), or "".
func xattr(e xml.StartElement, local string) string {
	for _, a := range e.Attr {
		if a.Name.Local == local {
			return a.Value
		}
	}
	return ""
}

// attrNS returns the value of the attribute prefix:local, or "".
func attrNS(e xml.StartElement, prefix, local string) string {
	for _, a := range e.Attr {
		if a.Name.Local == local && a.Name.Space == prefix {
			return a.Value
		}
	}
	return ""
}

// relationships reads a .rels part: id -> target, resolved against the directory of the
// part it belongs to (base).
func relationships(p *officePackage, relsPath, base string) (map[string]string, error) {
	data, err := p.part(relsPath)
	if err != nil || data == nil {
		return map[string]string{}, err
	}
	out := map[string]string{}
	w := newXMLWalker(relsPath, data)
	for {
		tok, err := w.next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		if e, ok := tok.(xml.StartElement); ok && e.Name.Local == "Relationship" && xattr(e, "TargetMode") != "External" {
			target := xattr(e, "Target")
			if strings.HasPrefix(target, "/") {
				target = strings.TrimPrefix(target, "/")
			} else {
				target = path.Join(base, target)
			}
			out[xattr(e, "Id")] = target
		}
	}
}

// relsOf returns the path of the relationships part of a part: a/b.xml -> a/_rels/b.xml.rels.
func relsOf(part string) string {
	dir, file := path.Split(part)
	return dir + "_rels/" + file + ".rels"
}

// cleanOffice normalises a piece of text read from an office file as the other formats'
// text is: NFC, no control characters, spaces collapsed within lines.
func cleanOffice(s string) string {
	lines := strings.Split(textnorm.Clean(s), "\n")
	out := lines[:0]
	for _, l := range lines {
		if l = strings.Join(strings.Fields(l), " "); l != "" {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// officeBuilder is a builder with the office formats' extra block fields.
type officeBuilder struct {
	builder
	notes []string // footnotes, endnotes, comments: appended at the end
}

// addTable appends a table block, one row per line, its cells joined by " | ".
func (b *officeBuilder) addTable(rows [][]string, headerRows, page int, locator string) {
	var lines []string
	for _, r := range rows {
		for i := range r {
			r[i] = textnorm.CollapseLine(r[i])
		}
		for len(r) > 0 && r[len(r)-1] == "" {
			r = r[:len(r)-1]
		}
		if len(r) == 0 {
			if headerRows > len(lines) {
				headerRows--
			}
			continue
		}
		lines = append(lines, strings.Join(r, " | "))
	}
	if len(lines) == 0 {
		return
	}
	if headerRows >= len(lines) {
		headerRows = 0
	}
	n := len(b.blocks)
	b.add(chunk.Table, 0, page, strings.Join(lines, "\n"))
	if len(b.blocks) > n {
		b.blocks[n].HeaderRows = headerRows
		b.blocks[n].Locator = locator
	}
}
