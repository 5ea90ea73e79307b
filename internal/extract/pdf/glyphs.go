package pdf

import (
	"bytes"
	"io"
	"regexp"
	"strconv"
	"strings"

	lpdf "github.com/ledongthuc/pdf"
	"golang.org/x/text/unicode/norm"
)

// Simple fonts without an /Encoding and without a ToUnicode CMap use the encoding built
// into the embedded font program. pdfTeX's Computer Modern fonts are the common case: their
// built-in encoding puts the ligatures fi, fl, ff at codes 11-15 and quotes and dashes
// where ASCII has other characters, so reading the codes as ASCII loses every "fi".

// type1Encoding returns the code-to-text map of the built-in encoding of a font's
// embedded Type 1 program (FontDescriptor /FontFile), or nil when there is none or it is
// StandardEncoding.
func type1Encoding(font lpdf.Value) map[byte]string {
	ff := font.Key("FontDescriptor").Key("FontFile")
	if ff.Kind() != lpdf.Stream {
		return nil
	}
	n := ff.Key("Length1").Int64()
	if n <= 0 || n > 1<<20 {
		n = 1 << 20
	}
	rd := ff.Reader()
	clear, err := io.ReadAll(io.LimitReader(rd, n))
	rd.Close()
	if err != nil && len(clear) == 0 {
		return nil
	}
	i := bytes.Index(clear, []byte("/Encoding"))
	if i < 0 || bytes.HasPrefix(bytes.TrimLeft(clear[i+len("/Encoding"):], " \t\r\n"), []byte("StandardEncoding")) {
		return nil
	}
	out := map[byte]string{}
	for _, m := range dupPut.FindAllSubmatch(clear[i:], -1) {
		code, err := strconv.Atoi(string(m[1]))
		if err != nil || code < 0 || code > 255 {
			continue
		}
		if t := glyphText(string(m[2])); t != "" {
			out[byte(code)] = t
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

var dupPut = regexp.MustCompile(`dup\s+(\d+)\s*/([^\s/\[\]{}()<>%]+)\s+put`)

// glyphText returns the text of a glyph name, following the Adobe Glyph List's
// conventions for the names fonts use most: letters and digits, uniXXXX and uXXXX[XX],
// ligatures, punctuation, accented Latin letters (base letter + accent name) and Greek.
// It returns "" for a name it does not know.
func glyphText(name string) string {
	if i := strings.IndexByte(name, '.'); i > 0 { // "a.sc", "one.oldstyle": variants
		name = name[:i]
	}
	if len(name) == 1 && (name[0] >= 'a' && name[0] <= 'z' || name[0] >= 'A' && name[0] <= 'Z') {
		return name
	}
	if t, ok := glyphNames[name]; ok {
		return t
	}
	if hex, ok := strings.CutPrefix(name, "uni"); ok && len(hex) >= 4 && len(hex)%4 == 0 {
		var b strings.Builder
		for i := 0; i < len(hex); i += 4 {
			v, err := strconv.ParseUint(hex[i:i+4], 16, 32)
			if err != nil {
				return ""
			}
			b.WriteRune(rune(v))
		}
		return b.String()
	}
	if hex, ok := strings.CutPrefix(name, "u"); ok && len(hex) >= 4 && len(hex) <= 6 {
		if v, err := strconv.ParseUint(hex, 16, 32); err == nil && v <= 0x10FFFF {
			return string(rune(v))
		}
	}
	for accent, mark := range accents {
		if base, ok := strings.CutSuffix(name, accent); ok && len(base) == 1 {
			return norm.NFC.String(base + mark)
		}
	}
	if r, ok := greek[strings.ToLower(name)]; ok {
		if name[0] >= 'A' && name[0] <= 'Z' {
			return strings.ToUpper(string(r))
		}
		return string(r)
	}
	return ""
}

var accents = map[string]string{
	"acute": "\u0301", "grave": "\u0300", "circumflex": "\u0302", "dieresis": "\u0308",
	"tilde": "\u0303", "ring": "\u030A", "cedilla": "\u0327", "caron": "\u030C",
	"macron": "\u0304", "breve": "\u0306", "ogonek": "\u0328", "dotaccent": "\u0307",
	"hungarumlaut": "\u030B",
}

var greek = map[string]rune{
	"alpha": 'α', "beta": 'β', "gamma": 'γ', "delta": 'δ', "epsilon": 'ε', "zeta": 'ζ',
	"eta": 'η', "theta": 'θ', "iota": 'ι', "kappa": 'κ', "lambda": 'λ', "mu": 'μ', "nu": 'ν',
	"xi": 'ξ', "omicron": 'ο', "pi": 'π', "rho": 'ρ', "sigma": 'σ', "tau": 'τ',
	"upsilon": 'υ', "phi": 'φ', "chi": 'χ', "psi": 'ψ', "omega": 'ω',
}

var glyphNames = map[string]string{
	"space": " ", "exclam": "!", "quotedbl": "\"", "numbersign": "#", "dollar": "$",
	"percent": "%", "ampersand": "&", "quotesingle": "'", "quoteright": "’", "quoteleft": "‘",
	"parenleft": "(", "parenright": ")", "asterisk": "*", "plus": "+", "comma": ",",
	"hyphen": "-", "period": ".", "slash": "/", "colon": ":", "semicolon": ";", "less": "<",
	"equal": "=", "greater": ">", "question": "?", "at": "@", "bracketleft": "[",
	"backslash": "\\", "bracketright": "]", "asciicircum": "^", "underscore": "_",
	"braceleft": "{", "bar": "|", "braceright": "}", "asciitilde": "~",
	"zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6",
	"seven": "7", "eight": "8", "nine": "9",
	"ff": "ff", "fi": "fi", "fl": "fl", "ffi": "ffi", "ffl": "ffl",
	"dotlessi": "ı", "dotlessj": "ȷ", "germandbls": "ß", "ae": "æ", "AE": "Æ", "oe": "œ",
	"OE": "Œ", "oslash": "ø", "Oslash": "Ø", "lslash": "ł", "Lslash": "Ł", "eth": "ð",
	"Eth": "Ð", "thorn": "þ", "Thorn": "Þ",
	"endash": "–", "emdash": "—", "quotedblleft": "“", "quotedblright": "”",
	"quotesinglbase": "‚", "quotedblbase": "„", "guillemotleft": "«", "guillemotright": "»",
	"guilsinglleft": "‹", "guilsinglright": "›", "exclamdown": "¡", "questiondown": "¿",
	"bullet": "•", "ellipsis": "…", "dagger": "†", "daggerdbl": "‡", "section": "§",
	"paragraph": "¶", "copyright": "©", "registered": "®", "trademark": "™", "degree": "°",
	"plusminus": "±", "multiply": "×", "divide": "÷", "minus": "−", "periodcentered": "·",
	"perthousand": "‰", "Euro": "€", "sterling": "£", "yen": "¥", "cent": "¢", "florin": "ƒ",
	"fraction": "⁄", "logicalnot": "¬", "mu": "µ", "ordfeminine": "ª", "ordmasculine": "º",
	"onehalf": "½", "onequarter": "¼", "threequarters": "¾",
	"grave": "`", "acute": "´", "circumflex": "ˆ", "tilde": "˜", "dieresis": "¨",
	"macron": "¯", "breve": "˘", "dotaccent": "˙", "ring": "˚", "cedilla": "¸",
	"hungarumlaut": "˝", "ogonek": "˛", "caron": "ˇ",
}
