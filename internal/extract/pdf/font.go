package pdf

import (
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	lpdf "github.com/ledongthuc/pdf"
)

// Fonts: decoding the strings a page shows into characters and their widths, through the
// font's ToUnicode CMap (cmap.go), its encoding or its embedded program's (glyphs.go).

// char is one character code of a shown string, decoded.
type char struct {
	text      string
	width     float64 // glyph width in glyph units (thousandths of an em for most fonts)
	wordSpace bool    // single-byte code 32: word spacing applies
}

// font decodes strings shown with one font into characters and widths.
type font struct {
	twoByte   bool            // Type0 (composite) font: codes are two bytes
	scale     float64         // glyph units to text space: 0.001, or FontMatrix[0] for Type3
	firstChar int             // simple fonts: code of widths[0]
	widths    []float64       // simple fonts
	cidWidths map[int]float64 // Type0: widths by CID (= code for Identity encodings)
	dw        float64         // Type0 default width; simple fonts: MissingWidth
	toUni     *cmap           // ToUnicode, when present and usable
	builtin   map[byte]string // simple fonts: the embedded program's own encoding, where it applies
	enc       lpdf.TextEncoding
}

// fallbackFont decodes bytes as PDFDocEncoding-ish Latin-1 when a page uses a font it
// does not define.
var fallbackFont = &font{scale: 0.001, dw: 500}

func newFont(v lpdf.Value) *font {
	f := &font{scale: 0.001}
	subtype := v.Key("Subtype").Name()
	f.twoByte = subtype == "Type0"
	if subtype == "Type3" {
		if fm := v.Key("FontMatrix"); fm.Kind() == lpdf.Array && fm.Len() == 6 {
			if s := fm.Index(0).Float64(); s > 0 && s < 1 {
				f.scale = s
			}
		}
	}
	if f.twoByte {
		f.dw = 1000
		desc := v.Key("DescendantFonts").Index(0)
		if d := desc.Key("DW"); d.Kind() == lpdf.Integer || d.Kind() == lpdf.Real {
			f.dw = d.Float64()
		}
		f.cidWidths = readCIDWidths(desc.Key("W"))
	} else {
		f.firstChar = int(v.Key("FirstChar").Int64())
		w := v.Key("Widths")
		for i := 0; i < w.Len() && i < 256; i++ {
			f.widths = append(f.widths, w.Index(i).Float64())
		}
		f.dw = v.Key("FontDescriptor").Key("MissingWidth").Float64()
	}
	if tu := v.Key("ToUnicode"); tu.Kind() == lpdf.Stream {
		f.toUni = readCMap(tu)
	}
	enc := v.Key("Encoding")
	if f.toUni == nil && !f.twoByte && (enc.IsNull() || enc.Kind() == lpdf.Dict && enc.Key("BaseEncoding").IsNull()) {
		f.builtin = type1Encoding(v)
		diffs := enc.Key("Differences") // Differences override the built-in encoding
		code := 0
		for i := 0; i < diffs.Len() && f.builtin != nil; i++ {
			switch x := diffs.Index(i); x.Kind() {
			case lpdf.Integer:
				code = int(x.Int64())
			case lpdf.Name:
				if code >= 0 && code < 256 {
					delete(f.builtin, byte(code))
				}
				code++
			}
		}
	}
	switch {
	case !f.twoByte:
		font := lpdf.Font{V: v}
		f.enc = font.Encoder()
	case enc.Kind() == lpdf.Name && strings.Contains(enc.Name(), "UCS2"):
		f.enc = ucs2{}
	}
	// A composite font with neither a ToUnicode CMap nor a Unicode encoding has no text we
	// can know without reading the font program: its glyphs yield nothing rather than noise.
	return f
}

// ucs2 decodes two-byte codes of the predefined UCS2 CMaps (UniJIS-UCS2-H and friends).
type ucs2 struct{}

func (ucs2) Decode(raw string) string { return decodeUTF16(raw) }

func decodeUTF16(raw string) string {
	u := make([]uint16, 0, len(raw)/2)
	for i := 0; i+1 < len(raw); i += 2 {
		u = append(u, uint16(raw[i])<<8|uint16(raw[i+1]))
	}
	return string(utf16.Decode(u))
}

// readCIDWidths parses a CIDFont's W array: [c [w1 w2 ...]] or [cfirst clast w].
func readCIDWidths(w lpdf.Value) map[int]float64 {
	out := map[int]float64{}
	for i := 0; i < w.Len() && len(out) < maxCMapEntries; {
		first := int(w.Index(i).Int64())
		next := w.Index(i + 1)
		if next.Kind() == lpdf.Array {
			for j := 0; j < next.Len() && len(out) < maxCMapEntries; j++ {
				out[first+j] = next.Index(j).Float64()
			}
			i += 2
			continue
		}
		last := int(next.Int64())
		width := w.Index(i + 2).Float64()
		for c := first; c <= last && len(out) < maxCMapEntries; c++ {
			out[c] = width
		}
		i += 3
	}
	return out
}

// codes splits a shown string into character codes and decodes each.
func (f *font) codes(s string) []char {
	var out []char
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
			text = latin1(code)
		}
		out = append(out, char{text: cleanGlyph(text), width: f.width(code), wordSpace: code == " "})
	}
	return out
}

func latin1(code string) string {
	r := make([]rune, len(code))
	for i := range len(code) {
		r[i] = rune(code[i])
	}
	return string(r)
}

// cleanGlyph drops what a glyph's text must not contribute: control characters (the
// result of a missing mapping), U+FFFD and the library's noRune marker.
func cleanGlyph(s string) string {
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
func (f *font) width(code string) float64 {
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
