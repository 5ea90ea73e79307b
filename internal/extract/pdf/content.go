package pdf

import (
	"fmt"
	"math"
	"strings"

	lpdf "github.com/ledongthuc/pdf"
)

// The content-stream interpreter: it follows a page's text operators (and the form XObjects
// it draws) through the graphics state into glyphs in page space, and groups the glyphs into
// lines of text with their geometry (lineBuilder).

// matrix is an affine transform [a b c d e f] as in PDF: x' = a*x + c*y + e, y' = b*x + d*y + f.
type matrix [6]float64

var identity = matrix{1, 0, 0, 1, 0, 0}

// mul returns m × n: apply m first, then n.
func (m matrix) mul(n matrix) matrix {
	return matrix{
		m[0]*n[0] + m[1]*n[2], m[0]*n[1] + m[1]*n[3],
		m[2]*n[0] + m[3]*n[2], m[2]*n[1] + m[3]*n[3],
		m[4]*n[0] + m[5]*n[2] + n[4], m[4]*n[1] + m[5]*n[3] + n[5],
	}
}

func (m matrix) apply(x, y float64) (float64, float64) {
	return m[0]*x + m[2]*y + m[4], m[1]*x + m[3]*y + m[5]
}

func (m matrix) applyVec(x, y float64) (float64, float64) {
	return m[0]*x + m[2]*y, m[1]*x + m[3]*y
}

func matrixOf(args []lpdf.Value) (matrix, bool) {
	if len(args) != 6 {
		return matrix{}, false
	}
	var m matrix
	for i, a := range args {
		if a.Kind() != lpdf.Integer && a.Kind() != lpdf.Real {
			return matrix{}, false
		}
		m[i] = a.Float64()
		if math.IsNaN(m[i]) || math.IsInf(m[i], 0) {
			return matrix{}, false
		}
	}
	return m, true
}

// gstate is the part of the graphics state that positions text.
type gstate struct {
	ctm   matrix
	font  *font
	size  float64 // Tfs
	tc    float64 // character spacing
	tw    float64 // word spacing
	th    float64 // horizontal scaling, 1 = 100%
	tl    float64 // leading
	trise float64
}

// pageState interprets one page's content, forms included.
type pageState struct {
	fonts     map[string]*font
	lines     lineBuilder
	formCalls int
	glyphs    int
}

// pageLines returns the page's text as lines.
func pageLines(page lpdf.Value, fonts map[string]*font) (lines []line, err error) {
	st := &pageState{fonts: fonts}
	defer func() {
		st.lines.flush()
		lines = st.lines.lines
	}()
	defer recoverPanic(&err)
	contents := page.Key("Contents")
	if contents.IsNull() {
		return nil, nil
	}
	st.run(contents, inherited(page, "Resources"), identity, 0)
	return nil, nil
}

// errGlyphLimit stops interpreting a page that draws too many glyphs.
var errGlyphLimit = fmt.Errorf("more than %d glyphs on the page", maxGlyphsPage)

// run interprets a content stream (a page's or a form's) with resources res and initial
// transform ctm.
func (st *pageState) run(strm, res lpdf.Value, ctm matrix, depth int) {
	g := gstate{ctm: ctm, th: 1}
	var stack []gstate
	var tm, tlm matrix = identity, identity

	show := func(s string) {
		if g.font == nil {
			g.font = fallbackFont
		}
		trm0 := matrix{g.size * g.th, 0, 0, g.size, 0, g.trise}
		for _, c := range g.font.codes(s) {
			st.glyphs++
			if st.glyphs > maxGlyphsPage {
				panic(errGlyphLimit)
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
			st.lines.add(glyph{text: c.text, x: x, y: y, ex: x + ex, ey: y + ey, ux: ux, uy: uy, size: size})
			tm = matrix{1, 0, 0, 1, tx, 0}.mul(tm)
		}
	}
	nextLine := func() {
		tlm = matrix{1, 0, 0, 1, 0, -g.tl}.mul(tlm)
		tm = tlm
	}

	lpdf.Interpret(strm, func(stk *lpdf.Stack, op string) {
		n := stk.Len()
		args := make([]lpdf.Value, n)
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
			if m, ok := matrixOf(args); ok {
				g.ctm = m.mul(g.ctm)
			}
		case "BT":
			tm, tlm = identity, identity
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
				tlm = matrix{1, 0, 0, 1, num(0), num(1)}.mul(tlm)
				tm = tlm
			}
		case "Tm":
			if m, ok := matrixOf(args); ok {
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
				case lpdf.String:
					show(x.RawString())
				case lpdf.Integer, lpdf.Real:
					f := x.Float64()
					if math.IsNaN(f) || math.IsInf(f, 0) {
						continue
					}
					tm = matrix{1, 0, 0, 1, -f / 1000 * g.size * g.th, 0}.mul(tm)
				}
			}
		case "Do":
			if len(args) != 1 || depth >= maxFormDepth {
				return
			}
			xo := res.Key("XObject").Key(args[0].Name())
			if xo.Kind() != lpdf.Stream || xo.Key("Subtype").Name() != "Form" {
				return
			}
			st.formCalls++
			if st.formCalls > maxFormCalls {
				return
			}
			m := identity
			if mv := xo.Key("Matrix"); mv.Kind() == lpdf.Array {
				vals := make([]lpdf.Value, mv.Len())
				for i := range vals {
					vals[i] = mv.Index(i)
				}
				if mm, ok := matrixOf(vals); ok {
					m = mm
				}
			}
			fres := xo.Key("Resources")
			if fres.Kind() != lpdf.Dict {
				fres = res
			}
			st.run(xo, fres, m.mul(g.ctm), depth+1)
		}
	})
}

// font returns the decoder for a font dictionary, cached by the dictionary's contents.
func (st *pageState) font(v lpdf.Value) *font {
	if v.Kind() != lpdf.Dict {
		return fallbackFont
	}
	key := v.String()
	if f, ok := st.fonts[key]; ok {
		return f
	}
	f := newFont(v)
	st.fonts[key] = f
	return f
}

// glyph is one drawn glyph in page space.
type glyph struct {
	text   string
	x, y   float64 // origin
	ex, ey float64 // where the glyph's own width ends
	ux, uy float64 // unit writing direction
	size   float64
}

// lineBuilder groups glyphs, in drawing order, into lines and words: a glyph continues
// the current line when it sits on the same baseline not far behind the previous glyph's
// end, and a space is inserted where the gap to the previous glyph is wider than a
// fraction of the font size (PDFs often position words instead of drawing spaces).
type lineBuilder struct {
	lines   []line
	cur     strings.Builder
	open    bool
	ux, uy  float64 // writing direction of the current line
	x0, y0  float64 // start in the line frame
	ex, ey  float64 // end of the last glyph, page space
	size    float64
	space   bool // a space glyph was seen since the last visible glyph
	lastSpc bool // the line text ends with a space
}

// columnGap is the gap, as a fraction of the font size, above which text on the same
// baseline is taken to be in another column (or table cell) and starts a new line: wider
// than the widest word spaces of justified text, narrower than most column gutters. The
// layout joins such lines again when they turn out to belong together.
const columnGap = 1.2

// spaceGap is the gap, as a fraction of the font size, above which two glyphs are taken
// to be separate words. Spaces are about 0.25 em wide; kerning rarely exceeds 0.1 em.
const spaceGap = 0.15

func (b *lineBuilder) add(g glyph) {
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
			along > columnGap*math.Max(math.Min(b.size, g.size), 0.1):
			b.flush()
		case blank:
			b.space = true
			b.ex, b.ey = g.ex, g.ey
			return
		default:
			if (b.space || along > spaceGap*s) && !b.lastSpc {
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

func (b *lineBuilder) write(g glyph) {
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
func (b *lineBuilder) flush() {
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
		b.lines = append(b.lines, line{
			Text: text, X: round(b.x0), X1: round(x1), Y: round(b.y0),
			Size: round(b.size), Dir: dir % 360,
		})
	}
	b.cur.Reset()
	b.open, b.space, b.lastSpc = false, false, false
}

// round rounds to 0.01 pt: enough for layout.
func round(f float64) float64 { return math.Round(f*100) / 100 }
