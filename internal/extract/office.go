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
	officeMaxPart    = 128 << 20 // streamed: never held whole
	officeMaxTotal   = 384 << 20
	officeMaxSmall   = 8 << 20   // a part read whole (a manifest)
	officeMaxText    = 64 << 20  // text a document yields (a sheet of cells that repeat one long string)
	officeMaxCell    = 32 << 10  // a cell's text, as in the spreadsheets' own limit
	officeMaxRowText = 256 << 10 // a table row's text
	// officeMaxRun bounds a run of a part without markup (a text node, a tag): encoding/xml
	// holds a token whole, so this bounds its memory whatever the part's size.
	officeMaxRun     = 16 << 20
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

// part returns the decompressed bytes of a small part (a manifest), at most
// officeMaxSmall, within the total budget. A missing part is nil, nil.
func (p *officePackage) part(name string) ([]byte, error) {
	return p.read(name, officeMaxSmall)
}

// walker returns an XML walker over a part, streamed within the part and total budgets:
// its decompressed bytes are never held whole. A missing part is nil, nil.
func (p *officePackage) walker(name string) (*xmlWalker, error) {
	r, ok, err := p.open(name, officeMaxPart)
	if err != nil || !ok {
		return nil, err
	}
	return newXMLWalker(name, r), nil
}

// open returns a reader of a part's decompressed bytes that fails (errOfficeLimit) past
// limit bytes or the package's total budget.
func (p *officePackage) open(name string, limit int64) (io.Reader, bool, error) {
	f, ok := p.files[strings.TrimPrefix(path.Clean("/"+name), "/")]
	if !ok {
		return nil, false, nil
	}
	// archive/zip yields no more than the size an entry declares (more is ErrFormat), so a
	// declared size over the limit is refused before anything is decompressed; the counts
	// below hold the rest (the package's total, and sizes that lie low).
	if f.UncompressedSize64 > uint64(limit) || f.UncompressedSize64 > uint64(max(p.left, 0)) {
		return nil, false, &Error{Reason: ReasonTooLarge, Err: fmt.Errorf("part %s declares %d MiB decompressed, over the limit of %d MiB per part or %d MiB per package: %w",
			name, f.UncompressedSize64>>20, limit>>20, officeMaxTotal>>20, errOfficeLimit)}
	}
	rc, err := f.Open()
	if err != nil {
		return nil, false, &Error{Reason: ReasonCorrupt, Err: fmt.Errorf("part %s: %w", name, err)}
	}
	// The reader is read to its end or abandoned with the package: a zip.File's reader
	// holds no resource but memory.
	return &budgetReader{r: rc, name: name, part: limit, pkg: &p.left}, true, nil
}

// budgetReader counts what a part yields against its limit and the package's budget.
type budgetReader struct {
	r    io.Reader
	name string
	part int64  // bytes this part may still yield
	pkg  *int64 // bytes the package may still yield
	run  int    // bytes since the last '<'
}

func (b *budgetReader) Read(buf []byte) (int, error) {
	if b.part <= 0 || *b.pkg <= 0 {
		// One more byte says whether the part ends here or goes over.
		var one [1]byte
		if n, _ := io.ReadFull(b.r, one[:]); n == 0 {
			return 0, io.EOF
		}
		return 0, fmt.Errorf("part %s decompresses to more than %d MiB per part or %d MiB per package: %w",
			b.name, officeMaxPart>>20, officeMaxTotal>>20, errOfficeLimit)
	}
	n, err := b.r.Read(buf[:min(int64(len(buf)), b.part, *b.pkg)])
	b.part -= int64(n)
	*b.pkg -= int64(n)
	if i := bytes.LastIndexByte(buf[:n], '<'); i >= 0 {
		b.run = n - i - 1
	} else {
		b.run += n
	}
	if b.run > officeMaxRun {
		return 0, fmt.Errorf("part %s has more than %d MiB without markup: %w", b.name, officeMaxRun>>20, errOfficeLimit)
	}
	return n, err
}

// officeReadError classifies an error reading a part: over a limit, or a broken package.
func officeReadError(name string, err error) error {
	if errors.Is(err, errOfficeLimit) {
		return &Error{Reason: ReasonTooLarge, Err: err}
	}
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	return &Error{Reason: ReasonCorrupt, Err: fmt.Errorf("part %s: %w", name, err)}
}

// xmlWalker reads an XML part token by token within the nesting and token bounds.
type xmlWalker struct {
	dec    *xml.Decoder
	name   string
	depth  int
	tokens int
}

func newXMLWalker(name string, r io.Reader) *xmlWalker {
	dec := xml.NewDecoder(r)
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
		if w.depth > 0 {
			return nil, &Error{Reason: ReasonCorrupt, Err: fmt.Errorf("part %s ends inside an element", w.name)}
		}
		return nil, io.EOF
	}
	if err != nil {
		return nil, officeReadError(w.name, err)
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
	w, err := p.walker(relsPath)
	if err != nil || w == nil {
		return map[string]string{}, err
	}
	out := map[string]string{}
	err = w.each(func(tok xml.Token) error {
		if e, ok := tok.(xml.StartElement); ok && e.Name.Local == "Relationship" && xattr(e, "TargetMode") != "External" {
			target := xattr(e, "Target")
			if strings.HasPrefix(target, "/") {
				target = strings.TrimPrefix(target, "/")
			} else {
				target = path.Join(base, target)
			}
			out[xattr(e, "Id")] = target
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// main returns a walker over the package's main part name and the part's relationships;
// a package without it is ReasonCorrupt, not what (e.g. "a Word document").
func (p *officePackage) main(name, what string) (*xmlWalker, map[string]string, error) {
	w, err := p.walker(name)
	if err != nil {
		return nil, nil, err
	}
	if w == nil {
		return nil, nil, &Error{Reason: ReasonCorrupt, Err: fmt.Errorf("no %s: not %s", name, what)}
	}
	rels, err := relationships(p, relsOf(name), path.Dir(name))
	if err != nil {
		return nil, nil, err
	}
	return w, rels, nil
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

// officeBuilder is a builder with the office formats' extra block fields and a bound on
// the text.
type officeBuilder struct {
	builder
	cut bool // text was dropped at officeMaxText
}

// add appends a block unless the document's text would go over officeMaxText.
func (b *officeBuilder) add(kind chunk.Kind, level, page int, text string) {
	if b.cut || b.text.Len()+len(text) > officeMaxText {
		b.cut = true
		return
	}
	b.builder.add(kind, level, page, text)
}

// warnings returns the warning of a document whose text was cut, if it was.
func (b *officeBuilder) warnings(ws []Warning) []Warning {
	if b.cut {
		ws = append(ws, Warning{Reason: WarnTruncated, Message: fmt.Sprintf("the document's text was cut at %d MiB", officeMaxText>>20)})
	}
	return ws
}

// addTable appends a table block, one row per line, its cells joined by " | ".
func (b *officeBuilder) addTable(rows [][]string, headerRows, page int, locator string) {
	var lines []string
	for _, r := range rows {
		size := 0
		for i := range r {
			r[i] = textnorm.CollapseLine(truncate(r[i], officeMaxCell))
			if size += len(r[i]); size > officeMaxRowText {
				r = r[:i]
				break
			}
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

// each calls fn with every token of the part, to its end, and returns the first error of
// the part or of fn.
func (w *xmlWalker) each(fn func(xml.Token) error) error {
	for {
		tok, err := w.next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := fn(tok); err != nil {
			return err
		}
	}
}
