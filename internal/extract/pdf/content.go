package extract

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"runtime"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/ledongthuc/pdf"
)

// This file is the PDF child's parsing: it runs only inside the child process (see
// pdf_child.go), where a panic, a hang or a runaway allocation in the parser cannot hurt the
// caller. It turns a page's content stream into lines of text with their geometry; the
// parent turns lines into paragraphs (pdf_layout.go).

// Limits that keep one hostile file from costing more than a bounded amount of work even
// before the child's time and memory limits apply.
const (
	pdfMaxPages       = 100_000   // pages collected from the page tree
	pdfMaxTreeNodes   = 1_000_000 // page-tree nodes visited (a cyclic tree revisits nodes)
	pdfMaxTreeDepth   = 64        // nesting of Pages nodes
	pdfMaxInherit     = 32        // Parent links followed for inherited attributes
	pdfMaxFormDepth   = 12        // nesting of form XObjects
	pdfMaxFormCalls   = 2_000     // form XObjects drawn on one page
	pdfMaxGlyphsPage  = 2_000_000 // glyphs taken from one page
	pdfMaxTextBytes   = 64 << 20  // text taken from one file; the rest is dropped (Truncated)
	pdfMaxCMapEntries = 1 << 17   // code mappings expanded from one ToUnicode CMap
)

// pdfResult is what the child reports to the parent, as JSON on stdout.
type pdfResult struct {
	Pages     []pdfPage   `json:"pages"`
	Info      pdfInfo     `json:"info"`
	Encrypted bool        `json:"encrypted,omitempty"`
	Path      string      `json:"path,omitempty"` // which extraction path produced the pages
	Truncated bool        `json:"truncated,omitempty"`
	Failure   *pdfFailure `json:"failure,omitempty"`
}

// pdfPage is one page's text as lines in content-stream order.
type pdfPage struct {
	Lines []pdfLine `json:"lines,omitempty"`
	// Err is the error that stopped reading the page; the lines before it are kept.
	Err string `json:"err,omitempty"`
}

// pdfLine is a run of text on one baseline. Coordinates are in points in the line's own
// frame: X along the writing direction, Y across it (up is positive), so that lines of a
// rotated page compare like those of an upright one.
type pdfLine struct {
	Text string  `json:"t"`
	X    float64 `json:"x"`  // start along the writing direction
	X1   float64 `json:"x1"` // end along the writing direction
	Y    float64 `json:"y"`  // baseline position across the writing direction
	Size float64 `json:"s"`  // font size in points, as drawn
	Dir  int     `json:"d"`  // writing direction in degrees counter-clockwise, 0 = left to right
}

// pdfInfo is the document information dictionary, cleaned.
type pdfInfo struct {
	Title        string `json:"title,omitempty"`
	Author       string `json:"author,omitempty"`
	Subject      string `json:"subject,omitempty"`
	Creator      string `json:"creator,omitempty"`
	Producer     string `json:"producer,omitempty"`
	CreationDate string `json:"creation_date,omitempty"` // raw PDF date string
}

// pdfFailure says why the child could not read the file.
type pdfFailure struct {
	Kind    string `json:"kind"` // pdfFail* below
	Message string `json:"message"`
}

// Failure kinds the child reports.
const (
	pdfFailEncrypted = "encrypted" // needs a password we do not have
	pdfFailInvalid   = "invalid"   // the parsers reject the file
	pdfFailPanic     = "panic"     // a parser panicked (recovered)
	pdfFailMemory    = "memory"    // a parser asked for an impossible allocation (recovered)
)

// pdfPanicError is a recovered panic from a parser.
type pdfPanicError struct {
	Value any
	Stack string
}

func (e *pdfPanicError) Error() string { return fmt.Sprintf("panic: %v", e.Value) }

// pdfRecover turns a panic into *pdfPanicError in *err. Use as `defer pdfRecover(&err)`.
func pdfRecover(err *error) {
	if v := recover(); v != nil {
		buf := make([]byte, 8<<10)
		buf = buf[:runtime.Stack(buf, false)]
		*err = &pdfPanicError{Value: v, Stack: string(buf)}
	}
}

// pdfIsAllocPanic reports whether a recovered panic is an allocation the runtime refused
// (a size computed from hostile input), which we report as a memory failure.
func pdfIsAllocPanic(err error) bool {
	var pe *pdfPanicError
	if !errors.As(err, &pe) {
		return false
	}
	msg := fmt.Sprint(pe.Value)
	return strings.Contains(msg, "out of range") && strings.Contains(msg, "make") ||
		strings.Contains(msg, "out of memory")
}

// pdfOpen opens data with ledongthuc/pdf, trying the empty password and then password.
// encrypted reports whether the file has an /Encrypt dictionary (as far as could be seen).
func pdfOpen(data []byte, password string) (r *pdf.Reader, encrypted bool, err error) {
	defer pdfRecover(&err)
	tried := false
	r, err = pdf.NewReaderEncrypted(bytes.NewReader(data), int64(len(data)), func() string {
		if tried {
			return ""
		}
		tried = true
		return password
	})
	if err != nil {
		msg := err.Error()
		encrypted = errors.Is(err, pdf.ErrInvalidPassword) || strings.Contains(msg, "encrypt")
		return nil, encrypted, err
	}
	enc := r.Trailer().Key("Encrypt")
	if enc.IsNull() {
		return r, false, nil
	}
	// ledongthuc/pdf derives 40-bit RC4 object keys with the wrong length and yields noise
	// without an error: leave such files to the pdfcpu path.
	if v := enc.Key("V").Int64(); v <= 2 && (enc.Key("Length").IsNull() || enc.Key("Length").Int64() == 40) {
		return nil, true, errPdfRC440
	}
	return r, true, nil
}

// errPdfRC440 rejects a file encrypted with 40-bit RC4 from the primary parser.
var errPdfRC440 = errors.New("40-bit RC4 encryption, which ledongthuc/pdf decrypts wrongly")

// pdfReadInfo reads the document information dictionary.
func pdfReadInfo(r *pdf.Reader) (info pdfInfo, err error) {
	defer pdfRecover(&err)
	d := r.Trailer().Key("Info")
	if d.Kind() != pdf.Dict {
		return info, nil
	}
	get := func(key string) string {
		v := d.Key(key)
		if v.Kind() != pdf.String {
			return ""
		}
		return CollapseLine(v.Text())
	}
	info = pdfInfo{
		Title: get("Title"), Author: get("Author"), Subject: get("Subject"),
		Creator: get("Creator"), Producer: get("Producer"),
	}
	if v := d.Key("CreationDate"); v.Kind() == pdf.String {
		info.CreationDate = strings.TrimSpace(v.RawString())
	}
	return info, nil
}

// pdfCollectPages walks the page tree. Unlike the library's Page(n), it is bounded: a cyclic
// or absurdly deep tree is an error rather than an endless loop.
func pdfCollectPages(r *pdf.Reader) (pages []pdf.Value, err error) {
	defer pdfRecover(&err)
	root := r.Trailer().Key("Root").Key("Pages")
	if root.Kind() != pdf.Dict {
		return nil, errors.New("no page tree")
	}
	visited := 0
	var walk func(node pdf.Value, depth int) error
	walk = func(node pdf.Value, depth int) error {
		visited++
		if visited > pdfMaxTreeNodes {
			return fmt.Errorf("page tree has more than %d nodes (cyclic?)", pdfMaxTreeNodes)
		}
		if depth > pdfMaxTreeDepth {
			return fmt.Errorf("page tree deeper than %d levels (cyclic?)", pdfMaxTreeDepth)
		}
		kids := node.Key("Kids")
		typ := node.Key("Type").Name()
		if typ == "Page" || typ != "Pages" && kids.Kind() != pdf.Array {
			if len(pages) >= pdfMaxPages {
				return fmt.Errorf("more than %d pages", pdfMaxPages)
			}
			pages = append(pages, node)
			return nil
		}
		for i := 0; i < kids.Len(); i++ {
			kid := kids.Index(i)
			if kid.Kind() != pdf.Dict {
				continue
			}
			if err := walk(kid, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(root, 0); err != nil {
		return nil, err
	}
	return pages, nil
}

// pdfInherited returns key from the page or the nearest ancestor that has it.
func pdfInherited(page pdf.Value, key string) pdf.Value {
	v := page
	for i := 0; i < pdfMaxInherit && v.Kind() == pdf.Dict; i++ {
		if x := v.Key(key); !x.IsNull() {
			return x
		}
		v = v.Key("Parent")
	}
	return pdf.Value{}
}

// pdfExtractPages reads the text of every page. A page that fails keeps the text read
// before the failure and records the error; the other pages are unaffected.
func pdfExtractPages(pages []pdf.Value) (out []pdfPage, truncated bool) {
	fonts := map[string]*pdfFont{} // shared across pages: keyed by the font dictionary's text
	total := 0
	for _, pv := range pages {
		var pg pdfPage
		if total >= pdfMaxTextBytes {
			truncated = true
			out = append(out, pg)
			continue
		}
		lines, err := pdfPageLines(pv, fonts)
		pg.Lines = lines
		if err != nil {
			pg.Err = pdfFirstLine(err.Error())
		}
		for _, l := range pg.Lines {
			total += len(l.Text)
		}
		out = append(out, pg)
	}
	return out, truncated
}

// pdfFirstLine returns the first line of s, shortened to a readable length.
func pdfFirstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	s = strings.TrimSpace(s)
	if len(s) > 300 {
		s = strings.ToValidUTF8(s[:300], "") + "…"
	}
	return s
}

// pdfMatrix is an affine transform [a b c d e f] as in PDF: x' = a*x + c*y + e, y' = b*x + d*y + f.
type pdfMatrix [6]float64

var pdfIdentity = pdfMatrix{1, 0, 0, 1, 0, 0}

// mul returns m × n: apply m first, then n.
func (m pdfMatrix) mul(n pdfMatrix) pdfMatrix {
	return pdfMatrix{
		m[0]*n[0] + m[1]*n[2], m[0]*n[1] + m[1]*n[3],
		m[2]*n[0] + m[3]*n[2], m[2]*n[1] + m[3]*n[3],
		m[4]*n[0] + m[5]*n[2] + n[4], m[4]*n[1] + m[5]*n[3] + n[5],
	}
}

func (m pdfMatrix) apply(x, y float64) (float64, float64) {
	return m[0]*x + m[2]*y + m[4], m[1]*x + m[3]*y + m[5]
}

func (m pdfMatrix) applyVec(x, y float64) (float64, float64) {
	return m[0]*x + m[2]*y, m[1]*x + m[3]*y
}

func pdfMatrixOf(args []pdf.Value) (pdfMatrix, bool) {
	if len(args) != 6 {
		return pdfMatrix{}, false
	}
	var m pdfMatrix
	for i, a := range args {
		if a.Kind() != pdf.Integer && a.Kind() != pdf.Real {
			return pdfMatrix{}, false
		}
		m[i] = a.Float64()
		if math.IsNaN(m[i]) || math.IsInf(m[i], 0) {
			return pdfMatrix{}, false
		}
	}
	return m, true
}

// pdfGState is the part of the graphics state that positions text.
type pdfGState struct {
	ctm   pdfMatrix
	font  *pdfFont
	size  float64 // Tfs
	tc    float64 // character spacing
	tw    float64 // word spacing
	th    float64 // horizontal scaling, 1 = 100%
	tl    float64 // leading
	trise float64
}

// pdfPageState interprets one page's content, forms included.
type pdfPageState struct {
	fonts     map[string]*pdfFont
	lines     pdfLineBuilder
	formCalls int
	glyphs    int
}

// pdfPageLines returns the page's text as lines.
func pdfPageLines(page pdf.Value, fonts map[string]*pdfFont) (lines []pdfLine, err error) {
	st := &pdfPageState{fonts: fonts}
	defer func() {
		st.lines.flush()
		lines = st.lines.lines
	}()
	defer pdfRecover(&err)
	contents := page.Key("Contents")
	if contents.IsNull() {
		return nil, nil
	}
	st.run(contents, pdfInherited(page, "Resources"), pdfIdentity, 0)
	return nil, nil
}

// errPdfGlyphLimit stops interpreting a page that draws too many glyphs.
var errPdfGlyphLimit = fmt.Errorf("more than %d glyphs on the page", pdfMaxGlyphsPage)

// run interprets a content stream (a page's or a form's) with resources res and initial
// transform ctm.
func (st *pdfPageState) run(strm, res pdf.Value, ctm pdfMatrix, depth int) {
	g := pdfGState{ctm: ctm, th: 1}
	var stack []pdfGState
	var tm, tlm pdfMatrix = pdfIdentity, pdfIdentity

	show := func(s string) {
		if g.font == nil {
			g.font = pdfFallbackFont
		}
		trm0 := pdfMatrix{g.size * g.th, 0, 0, g.size, 0, g.trise}
		for _, c := range g.font.codes(s) {
			st.glyphs++
			if st.glyphs > pdfMaxGlyphsPage {
				panic(errPdfGlyphLimit)
			}
			m := trm0.mul(tm).mul(g.ctm)
			x, y := m.apply(0, 0)
			dx, dy := m.applyVec(1, 0)
			ux, uy := 1.0, 0.0
			if n := math.Hypot(dx, dy); n > 1e-9 {
				ux, uy = dx/n, dy/n
			}
			vx, vy := m.applyVec(0, 1)
			size := math.Hypot(vx, vy)
			w := c.width * g.font.scale // in text space units per unit of font size
			tx := (w*g.size + g.tc) * g.th
			if c.wordSpace {
				tx += g.tw * g.th
			}
			// The glyph ends where its own width ends; Tc and Tw are spacing after it.
			ex, ey := (tm.mul(g.ctm)).applyVec(w*g.size*g.th, 0)
			st.lines.add(pdfGlyph{text: c.text, x: x, y: y, ex: x + ex, ey: y + ey, ux: ux, uy: uy, size: size})
			tm = pdfMatrix{1, 0, 0, 1, tx, 0}.mul(tm)
		}
	}
	nextLine := func() {
		tlm = pdfMatrix{1, 0, 0, 1, 0, -g.tl}.mul(tlm)
		tm = tlm
	}

	pdf.Interpret(strm, func(stk *pdf.Stack, op string) {
		n := stk.Len()
		args := make([]pdf.Value, n)
		for i := n - 1; i >= 0; i-- {
			args[i] = stk.Pop()
		}
		num := func(i int) float64 {
			if i >= len(args) {
				return 0
			}
			f := args[i].Float64()
			if math.IsNaN(f) || math.IsInf(f, 0) {
				return 0
			}
			return f
		}
		switch op {
		case "q":
			if len(stack) < 256 {
				stack = append(stack, g)
			}
		case "Q":
			if k := len(stack); k > 0 {
				g = stack[k-1]
				stack = stack[:k-1]
			}
		case "cm":
			if m, ok := pdfMatrixOf(args); ok {
				g.ctm = m.mul(g.ctm)
			}
		case "BT":
			tm, tlm = pdfIdentity, pdfIdentity
		case "Tf":
			if len(args) == 2 {
				g.font = st.font(res.Key("Font").Key(args[0].Name()))
				g.size = num(1)
			}
		case "Tc":
			g.tc = num(0)
		case "Tw":
			g.tw = num(0)
		case "Tz":
			g.th = num(0) / 100
		case "TL":
			g.tl = num(0)
		case "Ts":
			g.trise = num(0)
		case "Td", "TD":
			if len(args) == 2 {
				if op == "TD" {
					g.tl = -num(1)
				}
				tlm = pdfMatrix{1, 0, 0, 1, num(0), num(1)}.mul(tlm)
				tm = tlm
			}
		case "Tm":
			if m, ok := pdfMatrixOf(args); ok {
				tm, tlm = m, m
			}
		case "T*":
			nextLine()
		case "Tj":
			if len(args) == 1 {
				show(args[0].RawString())
			}
		case "'":
			if len(args) == 1 {
				nextLine()
				show(args[0].RawString())
			}
		case "\"":
			if len(args) == 3 {
				g.tw, g.tc = num(0), num(1)
				nextLine()
				show(args[2].RawString())
			}
		case "TJ":
			if len(args) != 1 {
				return
			}
			a := args[0]
			for i := 0; i < a.Len(); i++ {
				x := a.Index(i)
				switch x.Kind() {
				case pdf.String:
					show(x.RawString())
				case pdf.Integer, pdf.Real:
					f := x.Float64()
					if math.IsNaN(f) || math.IsInf(f, 0) {
						continue
					}
					tm = pdfMatrix{1, 0, 0, 1, -f / 1000 * g.size * g.th, 0}.mul(tm)
				}
			}
		case "Do":
			if len(args) != 1 || depth >= pdfMaxFormDepth {
				return
			}
			xo := res.Key("XObject").Key(args[0].Name())
			if xo.Kind() != pdf.Stream || xo.Key("Subtype").Name() != "Form" {
				return
			}
			st.formCalls++
			if st.formCalls > pdfMaxFormCalls {
				return
			}
			m := pdfIdentity
			if mv := xo.Key("Matrix"); mv.Kind() == pdf.Array {
				vals := make([]pdf.Value, mv.Len())
				for i := range vals {
					vals[i] = mv.Index(i)
				}
				if mm, ok := pdfMatrixOf(vals); ok {
					m = mm
				}
			}
			fres := xo.Key("Resources")
			if fres.Kind() != pdf.Dict {
				fres = res
			}
			st.run(xo, fres, m.mul(g.ctm), depth+1)
		}
	})
}

// font returns the decoder for a font dictionary, cached by the dictionary's contents.
func (st *pdfPageState) font(v pdf.Value) *pdfFont {
	if v.Kind() != pdf.Dict {
		return pdfFallbackFont
	}
	key := v.String()
	if f, ok := st.fonts[key]; ok {
		return f
	}
	f := pdfNewFont(v)
	st.fonts[key] = f
	return f
}

// pdfGlyph is one drawn glyph in page space.
type pdfGlyph struct {
	text   string
	x, y   float64 // origin
	ex, ey float64 // where the glyph's own width ends
	ux, uy float64 // unit writing direction
	size   float64
}

// pdfLineBuilder groups glyphs, in drawing order, into lines and words: a glyph continues
// the current line when it sits on the same baseline not far behind the previous glyph's
// end, and a space is inserted where the gap to the previous glyph is wider than a
// fraction of the font size (PDFs often position words instead of drawing spaces).
type pdfLineBuilder struct {
	lines   []pdfLine
	cur     strings.Builder
	open    bool
	ux, uy  float64 // writing direction of the current line
	x0, y0  float64 // start in the line frame
	ex, ey  float64 // end of the last glyph, page space
	size    float64
	space   bool // a space glyph was seen since the last visible glyph
	lastSpc bool // the line text ends with a space
}

// pdfColumnGap is the gap, as a fraction of the font size, above which text on the same
// baseline is taken to be in another column (or table cell) and starts a new line: wider
// than the widest word spaces of justified text, narrower than most column gutters. The
// parent joins such lines again when they turn out to belong together.
const pdfColumnGap = 1.2

// pdfSpaceGap is the gap, as a fraction of the font size, above which two glyphs are taken
// to be separate words. Spaces are about 0.25 em wide; kerning rarely exceeds 0.1 em.
const pdfSpaceGap = 0.15

func (b *pdfLineBuilder) add(g pdfGlyph) {
	if g.text == "" { // a glyph without known text: it only moves the pen
		if b.open {
			b.ex, b.ey = g.ex, g.ey
		}
		return
	}
	blank := strings.TrimSpace(g.text) == ""
	if b.open {
		dot := g.ux*b.ux + g.uy*b.uy
		dx, dy := g.x-b.ex, g.y-b.ey
		along := dx*b.ux + dy*b.uy
		across := -dx*b.uy + dy*b.ux
		// The line's size sets the tolerances; a much larger glyph (a big operator in a
		// formula) must not stretch them over the next line.
		s := math.Max(math.Max(b.size, math.Min(g.size, 1.5*b.size)), 0.1)
		// Across the line, measure from the line's baseline, so that text returning from
		// a superscript joins it again; a smaller glyph (a superscript or subscript, a
		// footnote mark) may sit further off it.
		fromBase := -g.x*b.uy + g.y*b.ux - b.y0
		tol := 0.5 * s
		if g.size < 0.85*b.size {
			tol = 0.8 * b.size
		}
		switch {
		case dot < 0.98, math.Abs(across) > tol && math.Abs(fromBase) > tol, along < -1.0*s,
			along > pdfColumnGap*math.Max(math.Min(b.size, g.size), 0.1):
			b.flush()
		case blank:
			b.space = true
			b.ex, b.ey = g.ex, g.ey
			return
		default:
			if (b.space || along > pdfSpaceGap*s) && !b.lastSpc {
				b.cur.WriteByte(' ')
			}
			b.write(g)
			return
		}
	}
	if blank {
		return
	}
	b.open = true
	b.ux, b.uy = g.ux, g.uy
	b.x0 = g.x*b.ux + g.y*b.uy
	b.y0 = -g.x*b.uy + g.y*b.ux
	b.size = g.size
	b.write(g)
}

func (b *pdfLineBuilder) write(g pdfGlyph) {
	if g.size > 1.15*b.size {
		// Larger text than the line so far (which began with a superscript, say): its
		// baseline is the line's.
		b.y0 = -g.x*b.uy + g.y*b.ux
	}
	b.cur.WriteString(g.text)
	b.lastSpc = strings.HasSuffix(g.text, " ")
	b.space = false
	b.ex, b.ey = g.ex, g.ey
	b.size = math.Max(b.size, g.size)
}

// flush ends the current line.
func (b *pdfLineBuilder) flush() {
	if !b.open {
		return
	}
	text := strings.TrimSpace(b.cur.String())
	if text != "" {
		x1 := b.ex*b.ux + b.ey*b.uy
		dir := int(math.Round(math.Atan2(b.uy, b.ux) * 180 / math.Pi))
		if dir < 0 {
			dir += 360
		}
		b.lines = append(b.lines, pdfLine{
			Text: text, X: pdfRound(b.x0), X1: pdfRound(x1), Y: pdfRound(b.y0),
			Size: pdfRound(b.size), Dir: dir % 360,
		})
	}
	b.cur.Reset()
	b.open, b.space, b.lastSpc = false, false, false
}

// pdfRound rounds to 0.01 pt: enough for layout, and keeps the child's JSON small.
func pdfRound(f float64) float64 { return math.Round(f*100) / 100 }

// pdfCode is one character code of a shown string, decoded.
type pdfCode struct {
	text      string
	width     float64 // glyph width in glyph units (thousandths of an em for most fonts)
	wordSpace bool    // single-byte code 32: word spacing applies
}

// pdfFont decodes strings shown with one font into characters and widths.
type pdfFont struct {
	twoByte   bool            // Type0 (composite) font: codes are two bytes
	scale     float64         // glyph units to text space: 0.001, or FontMatrix[0] for Type3
	firstChar int             // simple fonts: code of widths[0]
	widths    []float64       // simple fonts
	cidWidths map[int]float64 // Type0: widths by CID (= code for Identity encodings)
	dw        float64         // Type0 default width; simple fonts: MissingWidth
	toUni     *pdfCMap        // ToUnicode, when present and usable
	builtin   map[byte]string // simple fonts: the embedded program's own encoding, where it applies
	enc       pdf.TextEncoding
}

// pdfFallbackFont decodes bytes as PDFDocEncoding-ish Latin-1 when a page uses a font it
// does not define.
var pdfFallbackFont = &pdfFont{scale: 0.001, dw: 500}

func pdfNewFont(v pdf.Value) *pdfFont {
	f := &pdfFont{scale: 0.001}
	subtype := v.Key("Subtype").Name()
	f.twoByte = subtype == "Type0"
	if subtype == "Type3" {
		if fm := v.Key("FontMatrix"); fm.Kind() == pdf.Array && fm.Len() == 6 {
			if s := fm.Index(0).Float64(); s > 0 && s < 1 {
				f.scale = s
			}
		}
	}
	if f.twoByte {
		f.dw = 1000
		desc := v.Key("DescendantFonts").Index(0)
		if d := desc.Key("DW"); d.Kind() == pdf.Integer || d.Kind() == pdf.Real {
			f.dw = d.Float64()
		}
		f.cidWidths = pdfCIDWidths(desc.Key("W"))
	} else {
		f.firstChar = int(v.Key("FirstChar").Int64())
		w := v.Key("Widths")
		for i := 0; i < w.Len() && i < 256; i++ {
			f.widths = append(f.widths, w.Index(i).Float64())
		}
		f.dw = v.Key("FontDescriptor").Key("MissingWidth").Float64()
	}
	if tu := v.Key("ToUnicode"); tu.Kind() == pdf.Stream {
		f.toUni = pdfReadCMap(tu)
	}
	enc := v.Key("Encoding")
	if f.toUni == nil && !f.twoByte && (enc.IsNull() || enc.Kind() == pdf.Dict && enc.Key("BaseEncoding").IsNull()) {
		f.builtin = pdfType1Encoding(v)
		diffs := enc.Key("Differences") // Differences override the built-in encoding
		code := 0
		for i := 0; i < diffs.Len() && f.builtin != nil; i++ {
			switch x := diffs.Index(i); x.Kind() {
			case pdf.Integer:
				code = int(x.Int64())
			case pdf.Name:
				if code >= 0 && code < 256 {
					delete(f.builtin, byte(code))
				}
				code++
			}
		}
	}
	switch {
	case !f.twoByte:
		font := pdf.Font{V: v}
		f.enc = font.Encoder()
	case enc.Kind() == pdf.Name && strings.Contains(enc.Name(), "UCS2"):
		f.enc = pdfUCS2{}
	}
	// A composite font with neither a ToUnicode CMap nor a Unicode encoding has no text we
	// can know without reading the font program: its glyphs yield nothing rather than noise.
	return f
}

// pdfUCS2 decodes two-byte codes of the predefined UCS2 CMaps (UniJIS-UCS2-H and friends).
type pdfUCS2 struct{}

func (pdfUCS2) Decode(raw string) string { return pdfUTF16(raw) }

func pdfUTF16(raw string) string {
	u := make([]uint16, 0, len(raw)/2)
	for i := 0; i+1 < len(raw); i += 2 {
		u = append(u, uint16(raw[i])<<8|uint16(raw[i+1]))
	}
	return string(utf16.Decode(u))
}

// pdfCIDWidths parses a CIDFont's W array: [c [w1 w2 ...]] or [cfirst clast w].
func pdfCIDWidths(w pdf.Value) map[int]float64 {
	out := map[int]float64{}
	for i := 0; i < w.Len() && len(out) < pdfMaxCMapEntries; {
		first := int(w.Index(i).Int64())
		next := w.Index(i + 1)
		if next.Kind() == pdf.Array {
			for j := 0; j < next.Len() && len(out) < pdfMaxCMapEntries; j++ {
				out[first+j] = next.Index(j).Float64()
			}
			i += 2
			continue
		}
		last := int(next.Int64())
		width := w.Index(i + 2).Float64()
		for c := first; c <= last && len(out) < pdfMaxCMapEntries; c++ {
			out[c] = width
		}
		i += 3
	}
	return out
}

// codes splits a shown string into character codes and decodes each.
func (f *pdfFont) codes(s string) []pdfCode {
	var out []pdfCode
	for len(s) > 0 {
		n := 1
		if f.toUni != nil {
			n = f.toUni.codeLen(s, f.twoByte)
		} else if f.twoByte && len(s) >= 2 {
			n = 2
		}
		code := s[:n]
		s = s[n:]
		var text string
		switch {
		case f.toUni != nil:
			text = f.toUni.decode(code)
			if text == "" && f.enc != nil {
				text = f.enc.Decode(code) // a ToUnicode that misses a code of a simple font
			}
		case f.builtin != nil && f.builtin[code[0]] != "":
			text = f.builtin[code[0]]
		case f.enc != nil:
			text = f.enc.Decode(code)
		case !f.twoByte:
			text = pdfLatin1(code)
		}
		out = append(out, pdfCode{text: pdfCleanGlyph(text), width: f.width(code), wordSpace: code == " "})
	}
	return out
}

func pdfLatin1(code string) string {
	r := make([]rune, len(code))
	for i := range len(code) {
		r[i] = rune(code[i])
	}
	return string(r)
}

// pdfCleanGlyph drops what a glyph's text must not contribute: control characters (the
// result of a missing mapping), U+FFFD and the library's noRune marker.
func pdfCleanGlyph(s string) string {
	ok := true
	for _, r := range s {
		if r < 0x20 && r != '\t' || r == utf8.RuneError || r == 0x7f {
			ok = false
			break
		}
	}
	if ok {
		return s
	}
	return strings.Map(func(r rune) rune {
		if r == '\t' {
			return ' '
		}
		if r < 0x20 || r == utf8.RuneError || r == 0x7f {
			return -1
		}
		return r
	}, s)
}

// width returns the width of code in glyph units.
func (f *pdfFont) width(code string) float64 {
	var w float64
	if f.twoByte {
		c := 0
		for i := 0; i < len(code); i++ {
			c = c<<8 | int(code[i])
		}
		var ok bool
		if w, ok = f.cidWidths[c]; !ok {
			w = f.dw
		}
	} else {
		i := int(code[0]) - f.firstChar
		if i >= 0 && i < len(f.widths) {
			w = f.widths[i]
		}
		if w == 0 {
			w = f.dw
		}
	}
	if w <= 0 && f.scale == 0.001 && !f.twoByte && len(f.widths) == 0 {
		// Unknown width (standard fonts without /Widths): assume an average glyph so that
		// gaps between separately positioned words still show.
		if code == " " {
			return 250
		}
		return 500
	}
	return w
}

// pdfCMap is a parsed ToUnicode CMap.
type pdfCMap struct {
	space  [4][][2]uint32 // code space ranges by code length - 1
	single map[uint32]string
	ranges []pdfCMapRange // ranges too large to expand into single
}

type pdfCMapRange struct {
	n      int // code length
	lo, hi uint32
	dst    string   // UTF-16BE of lo's text; later codes increment the last unit
	dstArr []string // or one text per code
}

func pdfCodeValue(s string) uint32 {
	var c uint32
	for i := 0; i < len(s) && i < 4; i++ {
		c = c<<8 | uint32(s[i])
	}
	return c
}

// pdfReadCMap parses a ToUnicode CMap stream. It returns nil when the stream yields no
// mappings, so that the font's encoding is used instead. CMaps are a small PostScript
// subset; only the code space and bfchar/bfrange sections matter here.
func pdfReadCMap(strm pdf.Value) (m *pdfCMap) {
	defer func() {
		if recover() != nil {
			m = nil
		}
	}()
	rd := strm.Reader()
	data, err := io.ReadAll(io.LimitReader(rd, 4<<20))
	rd.Close()
	if err != nil && len(data) == 0 {
		return nil
	}
	m = &pdfCMap{single: map[uint32]string{}}
	entries := 0
	var operands []pdfCMapToken
	lx := pdfCMapLexer{data: data}
	for {
		tok, ok := lx.next()
		if !ok {
			break
		}
		if tok.kind != pdfTokOp {
			if len(operands) < 1<<16 {
				operands = append(operands, tok)
			}
			continue
		}
		switch tok.s {
		case "endcodespacerange":
			for i := 0; i+1 < len(operands); i += 2 {
				lo, hi := operands[i].s, operands[i+1].s
				if len(lo) == 0 || len(lo) > 4 || len(lo) != len(hi) {
					continue
				}
				m.space[len(lo)-1] = append(m.space[len(lo)-1], [2]uint32{pdfCodeValue(lo), pdfCodeValue(hi)})
			}
		case "endbfchar":
			for i := 0; i+1 < len(operands); i += 2 {
				src, dst := operands[i], operands[i+1]
				if len(src.s) == 0 || len(src.s) > 4 || dst.kind != pdfTokString {
					continue
				}
				m.single[pdfCodeValue(src.s)] = pdfUTF16(dst.s)
			}
		case "endcidrange", "endcidchar":
			// Code-to-CID mappings have no place in a ToUnicode CMap, but some producers
			// write them there meaning code to Unicode code point; readers honour that.
			step := 3
			if tok.s == "endcidchar" {
				step = 2
			}
			for i := 0; i+step-1 < len(operands); i += step {
				los, his := operands[i].s, operands[i].s
				if step == 3 {
					his = operands[i+1].s
				}
				var dst int
				if _, err := fmt.Sscan(operands[i+step-1].s, &dst); err != nil || dst < 0 || dst > unicode.MaxRune {
					continue
				}
				if len(los) == 0 || len(los) > 4 || len(los) != len(his) {
					continue
				}
				lo, hi := pdfCodeValue(los), pdfCodeValue(his)
				for c := lo; c <= hi && entries < pdfMaxCMapEntries; c++ {
					entries++
					if _, dup := m.single[c]; !dup {
						if r := rune(dst + int(c-lo)); utf8.ValidRune(r) {
							m.single[c] = string(r)
						}
					}
				}
			}
		case "endbfrange":
			for i := 0; i+2 < len(operands); {
				los, his := operands[i].s, operands[i+1].s
				var r pdfCMapRange
				next := i + 3
				switch dst := operands[i+2]; dst.kind {
				case pdfTokString:
					r.dst = dst.s
				case pdfTokArrayStart:
					j := i + 3
					for ; j < len(operands) && operands[j].kind == pdfTokString; j++ {
						r.dstArr = append(r.dstArr, pdfUTF16(operands[j].s))
					}
					next = j + 1 // past the closing bracket
				}
				i = next
				if len(los) == 0 || len(los) > 4 || len(los) != len(his) {
					continue
				}
				r.n, r.lo, r.hi = len(los), pdfCodeValue(los), pdfCodeValue(his)
				if r.hi < r.lo || r.dst == "" && r.dstArr == nil {
					continue
				}
				if size := int(r.hi-r.lo) + 1; entries+size <= pdfMaxCMapEntries {
					entries += size
					for c := r.lo; ; c++ {
						if _, dup := m.single[c]; !dup {
							if t := r.text(c); t != "" {
								m.single[c] = t
							}
						}
						if c == r.hi {
							break
						}
					}
				} else {
					m.ranges = append(m.ranges, r)
				}
			}
		}
		operands = operands[:0]
	}
	if len(m.single) == 0 && len(m.ranges) == 0 {
		return nil
	}
	return m
}

// Token kinds of the CMap lexer.
const (
	pdfTokOp         = iota // an operator or other bare word
	pdfTokString            // a hex or literal string, decoded to bytes
	pdfTokArrayStart        // [
	pdfTokArrayEnd          // ]
	pdfTokOther             // a number, name or dictionary delimiter
)

type pdfCMapToken struct {
	kind int
	s    string
}

// pdfCMapLexer splits a CMap into tokens.
type pdfCMapLexer struct {
	data []byte
	pos  int
}

func (lx *pdfCMapLexer) next() (pdfCMapToken, bool) {
	d := lx.data
	for lx.pos < len(d) {
		c := d[lx.pos]
		switch {
		case c == '%':
			for lx.pos < len(d) && d[lx.pos] != '\n' && d[lx.pos] != '\r' {
				lx.pos++
			}
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == 0:
			lx.pos++
		case c == '[':
			lx.pos++
			return pdfCMapToken{kind: pdfTokArrayStart}, true
		case c == ']':
			lx.pos++
			return pdfCMapToken{kind: pdfTokArrayEnd}, true
		case c == '<' && lx.pos+1 < len(d) && d[lx.pos+1] == '<', c == '>' && lx.pos+1 < len(d) && d[lx.pos+1] == '>':
			lx.pos += 2
			return pdfCMapToken{kind: pdfTokOther}, true
		case c == '<':
			lx.pos++
			var b []byte
			hi, half := byte(0), false
			for lx.pos < len(d) && d[lx.pos] != '>' {
				v, ok := pdfUnhex(d[lx.pos])
				lx.pos++
				if !ok {
					continue
				}
				if half {
					b = append(b, hi<<4|v)
				} else {
					hi = v
				}
				half = !half
			}
			if half {
				b = append(b, hi<<4)
			}
			lx.pos++
			return pdfCMapToken{kind: pdfTokString, s: string(b)}, true
		case c == '(':
			lx.pos++
			var b []byte
			depth := 1
			for lx.pos < len(d) {
				c := d[lx.pos]
				lx.pos++
				if c == '\\' && lx.pos < len(d) {
					e := d[lx.pos]
					lx.pos++
					switch e {
					case 'n':
						b = append(b, '\n')
					case 'r':
						b = append(b, '\r')
					case 't':
						b = append(b, '\t')
					case 'b':
						b = append(b, '\b')
					case 'f':
						b = append(b, '\f')
					default:
						if e >= '0' && e <= '7' {
							v := int(e - '0')
							for k := 0; k < 2 && lx.pos < len(d) && d[lx.pos] >= '0' && d[lx.pos] <= '7'; k++ {
								v = v*8 + int(d[lx.pos]-'0')
								lx.pos++
							}
							b = append(b, byte(v))
						} else {
							b = append(b, e)
						}
					}
					continue
				}
				if c == '(' {
					depth++
				} else if c == ')' {
					depth--
					if depth == 0 {
						break
					}
				}
				b = append(b, c)
			}
			return pdfCMapToken{kind: pdfTokString, s: string(b)}, true
		default:
			start := lx.pos
			lx.pos++
			for lx.pos < len(d) && !strings.ContainsRune(" \t\r\n\f\x00[]<>()/%{}", rune(d[lx.pos])) {
				lx.pos++
			}
			w := string(d[start:lx.pos])
			if c == '/' || c == '{' || c == '}' || c == '-' || c == '+' || c == '.' || c >= '0' && c <= '9' {
				return pdfCMapToken{kind: pdfTokOther, s: w}, true
			}
			return pdfCMapToken{kind: pdfTokOp, s: w}, true
		}
	}
	return pdfCMapToken{}, false
}

func pdfUnhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

func (r pdfCMapRange) text(c uint32) string {
	off := int(c - r.lo)
	if r.dstArr != nil {
		if off < len(r.dstArr) {
			return r.dstArr[off]
		}
		return ""
	}
	if len(r.dst) < 2 {
		return ""
	}
	u := make([]uint16, 0, len(r.dst)/2)
	for i := 0; i+1 < len(r.dst); i += 2 {
		u = append(u, uint16(r.dst[i])<<8|uint16(r.dst[i+1]))
	}
	u[len(u)-1] += uint16(off)
	return string(utf16.Decode(u))
}

// codeLen returns the length of the code at the start of s according to the code space
// ranges, or the font's natural code length when the CMap declares none that match.
func (m *pdfCMap) codeLen(s string, twoByte bool) int {
	for n := 1; n <= 4 && n <= len(s); n++ {
		c := pdfCodeValue(s[:n])
		for _, r := range m.space[n-1] {
			if r[0] <= c && c <= r[1] {
				return n
			}
		}
	}
	if twoByte && len(s) >= 2 {
		return 2
	}
	return 1
}

func (m *pdfCMap) decode(code string) string {
	c := pdfCodeValue(code)
	if t, ok := m.single[c]; ok {
		return t
	}
	for _, r := range m.ranges {
		if r.n == len(code) && r.lo <= c && c <= r.hi {
			return r.text(c)
		}
	}
	return ""
}

// pdfTextScore measures how much real text pages hold: letters, digits and punctuation,
// not counting spaces, replacement characters or private-use code points (what a font
// without a usable mapping yields). Used to choose between extraction paths.
func pdfTextScore(pages []pdfPage) int {
	n := 0
	for _, p := range pages {
		for _, l := range p.Lines {
			for _, r := range l.Text {
				if unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsPunct(r) {
					if !unicode.Is(unicode.Co, r) {
						n++
					}
				}
			}
		}
	}
	return n
}
