package pdf

import (
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	lpdf "github.com/ledongthuc/pdf"
)

// ToUnicode CMaps: a lexer and parser for the small PostScript subset they are written in.

// cmap is a parsed ToUnicode CMap.
type cmap struct {
	space  [4][][2]uint32 // code space ranges by code length - 1
	single map[uint32]string
	ranges []cmapRange // ranges too large to expand into single
}

type cmapRange struct {
	n      int // code length
	lo, hi uint32
	dst    string   // UTF-16BE of lo's text; later codes increment the last unit
	dstArr []string // or one text per code
}

func codeValue(s string) uint32 {
	var c uint32
	for i := 0; i < len(s) && i < 4; i++ {
		c = c<<8 | uint32(s[i])
	}
	return c
}

// readCMap parses a ToUnicode CMap stream. It returns nil when the stream yields no
// mappings, so that the font's encoding is used instead. CMaps are a small PostScript
// subset; only the code space and bfchar/bfrange sections matter here.
func readCMap(strm lpdf.Value) (m *cmap) {
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
	m = &cmap{single: map[uint32]string{}}
	entries := 0
	var operands []cmapToken
	lx := cmapLexer{data: data}
	for {
		tok, ok := lx.next()
		if !ok {
			break
		}
		if tok.kind != tokOp {
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
				m.space[len(lo)-1] = append(m.space[len(lo)-1], [2]uint32{codeValue(lo), codeValue(hi)})
			}
		case "endbfchar":
			for i := 0; i+1 < len(operands); i += 2 {
				src, dst := operands[i], operands[i+1]
				if len(src.s) == 0 || len(src.s) > 4 || dst.kind != tokString {
					continue
				}
				m.single[codeValue(src.s)] = decodeUTF16(dst.s)
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
				lo, hi := codeValue(los), codeValue(his)
				for c := lo; c <= hi && entries < maxCMapEntries; c++ {
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
				var r cmapRange
				next := i + 3
				switch dst := operands[i+2]; dst.kind {
				case tokString:
					r.dst = dst.s
				case tokArrayStart:
					j := i + 3
					for ; j < len(operands) && operands[j].kind == tokString; j++ {
						r.dstArr = append(r.dstArr, decodeUTF16(operands[j].s))
					}
					next = j + 1 // past the closing bracket
				}
				i = next
				if len(los) == 0 || len(los) > 4 || len(los) != len(his) {
					continue
				}
				r.n, r.lo, r.hi = len(los), codeValue(los), codeValue(his)
				if r.hi < r.lo || r.dst == "" && r.dstArr == nil {
					continue
				}
				if size := int(r.hi-r.lo) + 1; entries+size <= maxCMapEntries {
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
	tokOp         = iota // an operator or other bare word
	tokString            // a hex or literal string, decoded to bytes
	tokArrayStart        // [
	tokArrayEnd          // ]
	tokOther             // a number, name or dictionary delimiter
)

type cmapToken struct {
	kind int
	s    string
}

// cmapLexer splits a CMap into tokens.
type cmapLexer struct {
	data []byte
	pos  int
}

func (lx *cmapLexer) next() (cmapToken, bool) {
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
			return cmapToken{kind: tokArrayStart}, true
		case c == ']':
			lx.pos++
			return cmapToken{kind: tokArrayEnd}, true
		case c == '<' && lx.pos+1 < len(d) && d[lx.pos+1] == '<', c == '>' && lx.pos+1 < len(d) && d[lx.pos+1] == '>':
			lx.pos += 2
			return cmapToken{kind: tokOther}, true
		case c == '<':
			lx.pos++
			var b []byte
			hi, half := byte(0), false
			for lx.pos < len(d) && d[lx.pos] != '>' {
				v, ok := unhex(d[lx.pos])
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
			return cmapToken{kind: tokString, s: string(b)}, true
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
			return cmapToken{kind: tokString, s: string(b)}, true
		default:
			start := lx.pos
			lx.pos++
			for lx.pos < len(d) && !strings.ContainsRune(" \t\r\n\f\x00[]<>()/%{}", rune(d[lx.pos])) {
				lx.pos++
			}
			w := string(d[start:lx.pos])
			if c == '/' || c == '{' || c == '}' || c == '-' || c == '+' || c == '.' || c >= '0' && c <= '9' {
				return cmapToken{kind: tokOther, s: w}, true
			}
			return cmapToken{kind: tokOp, s: w}, true
		}
	}
	return cmapToken{}, false
}

func unhex(c byte) (byte, bool) {
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

func (r cmapRange) text(c uint32) string {
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
func (m *cmap) codeLen(s string, twoByte bool) int {
	for n := 1; n <= 4 && n <= len(s); n++ {
		c := codeValue(s[:n])
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

func (m *cmap) decode(code string) string {
	c := codeValue(code)
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
