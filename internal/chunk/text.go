package chunk

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// strength ranks the boundary before a piece of text: the higher, the better a place to end
// one chunk and start the next.
type strength uint8

const (
	atRune      strength = iota // inside an unbroken run: the last resort
	atWord                      // between words of an over-long sentence or line
	atLine                      // a line break: between code lines and table rows
	atSentence                  // after a sentence
	atParagraph                 // a blank line inside a block
	atBlock                     // between blocks: paragraphs, list items, code, tables
	atSection                   // before a heading
)

// unit is a piece of a block, Text[start:end], trimmed of whitespace.
type unit struct {
	start, end int
	strength   strength // of the boundary before it
}

// isSpaceAt reports whether the character at s[i] is whitespace, and its size.
func isSpaceAt(s string, i int) (bool, int) {
	b := s[i]
	if b < utf8.RuneSelf {
		return b == ' ' || '\t' <= b && b <= '\r', 1
	}
	r, size := utf8.DecodeRuneInString(s[i:])
	return unicode.IsSpace(r), size
}

// skipSpace returns the index of the first non-space character of s[i:e], or e.
func skipSpace(s string, i, e int) int {
	for i < e {
		sp, size := isSpaceAt(s, i)
		if !sp {
			return i
		}
		i += size
	}
	return e
}

// trimSpace narrows s[start:end] to exclude leading and trailing whitespace. The result is
// empty (start == end) when there is nothing else.
func trimSpace(s string, start, end int) (int, int) {
	start = skipSpace(s, start, end)
	for end > start {
		b := s[end-1]
		if b < utf8.RuneSelf {
			if b == ' ' || '\t' <= b && b <= '\r' {
				end--
				continue
			}
			break
		}
		r, size := utf8.DecodeLastRuneInString(s[start:end])
		if !unicode.IsSpace(r) {
			break
		}
		end -= size
	}
	return start, end
}

// runeStart reports whether i is a character boundary of s as utf8 decodes it from the
// start (where each invalid byte is one character).
func runeStart(s string, i int) bool {
	if i <= 0 || i >= len(s) || s[i] < 0x80 || s[i] >= 0xC0 {
		return true // ASCII or a leading byte: never inside a valid encoding
	}
	// A continuation byte: inside a character only if a valid encoding that starts at the
	// leading byte before it covers it.
	for q := i - 1; q >= 0 && q >= i-3; q-- {
		if s[q] < 0x80 {
			return true
		}
		if s[q] >= 0xC0 {
			r, size := utf8.DecodeRuneInString(s[q:])
			return (r == utf8.RuneError && size == 1) || q+size <= i
		}
	}
	return true
}

// alignBack moves i back to the start of the character that contains it.
func alignBack(s string, i int) int {
	for i > 0 && !runeStart(s, i) {
		i--
	}
	return i
}

// alignForward moves i forward to the end of the character that contains it.
func alignForward(s string, i int) int {
	for i < len(s) && !runeStart(s, i) {
		i++
	}
	return i
}

// appendLines appends the non-blank lines of s[start:end] as units. The first gets
// strength first; a line after a blank line gets atParagraph, others atLine.
func appendLines(dst []unit, s string, start, end int, first strength) []unit {
	str := first
	for i := start; i < end; {
		nl := strings.IndexByte(s[i:end], '\n')
		lineEnd := end
		if nl >= 0 {
			lineEnd = i + nl
		}
		ls, le := trimSpace(s, i, lineEnd)
		if ls < le {
			dst = append(dst, unit{start: ls, end: le, strength: str})
			str = atLine
		} else if len(dst) > 0 && str == atLine {
			str = atParagraph
		}
		i = lineEnd + 1
	}
	return dst
}

// appendSentences appends the sentences of the running text s[start:end] as units. A blank
// line also ends a sentence (with strength atParagraph). The first unit gets strength first.
//
// A sentence ends after '.', '!' or '?' (with any closing quotes and brackets) followed by
// whitespace and then not by a lowercase letter; after '.' not when the word before it is a
// common abbreviation (e.g. "e.g.", "Dr.", "etc.") or a single letter (an initial), and never
// when the sentence holds no letter yet (the "1." of a list). It also ends after the
// ideographic '。', '！' and '？', which need no space after them.
func appendSentences(dst []unit, s string, start, end int, first strength) []unit {
	str := first
	uStart := skipSpace(s, start, end)
	letter := false // the current sentence has a letter (or any non-ASCII character)
	emit := func(uEnd, next int, nextStr strength) {
		us, ue := trimSpace(s, uStart, uEnd)
		if us < ue {
			dst = append(dst, unit{start: us, end: ue, strength: str})
			str = nextStr
		} else if nextStr > str {
			str = nextStr
		}
		uStart = next
		letter = false
	}
	for i := uStart; i < end; {
		b := s[i]
		switch {
		case b == '\n':
			j := i + 1
			blank := false
			for j < end && (s[j] == ' ' || '\t' <= s[j] && s[j] <= '\r') {
				blank = blank || s[j] == '\n'
				j++
			}
			if blank && j < end {
				emit(i, j, atParagraph)
			}
			i = j
		case b == '.' || b == '!' || b == '?':
			j := i + 1
			for j < end && (s[j] == '.' || s[j] == '!' || s[j] == '?') {
				j++
			}
			j = skipClosers(s, j, end)
			if j >= end {
				i = end
				continue
			}
			if sp, _ := isSpaceAt(s, j); !sp || !letter || (b == '.' && j == i+1 && abbreviation(s, start, i)) {
				i = j
				continue
			}
			k, next := skipBreak(s, j, end)
			if k >= end {
				i = end
				continue
			}
			if r, _ := utf8.DecodeRuneInString(s[k:]); unicode.IsLower(r) && next < atParagraph {
				i = k
				continue
			}
			emit(j, k, next)
			i = k
		case b >= utf8.RuneSelf:
			letter = true
			r, size := utf8.DecodeRuneInString(s[i:])
			i += size
			if r == '。' || r == '！' || r == '？' {
				for i < end {
					r2, size2 := utf8.DecodeRuneInString(s[i:])
					if r2 != '。' && r2 != '！' && r2 != '？' {
						break
					}
					i += size2
				}
				j := skipClosers(s, i, end)
				k, next := skipBreak(s, j, end)
				if k < end {
					emit(j, k, next)
				}
				i = k
			}
		default:
			if 'a' <= b|0x20 && b|0x20 <= 'z' {
				letter = true
			}
			i++
		}
	}
	emit(end, end, atSentence)
	return dst
}

// skipBreak skips the whitespace at s[i:end] and says what break it is: atParagraph if it
// holds a blank line, else atSentence.
func skipBreak(s string, i, end int) (int, strength) {
	newlines := 0
	for i < end {
		sp, size := isSpaceAt(s, i)
		if !sp {
			break
		}
		if s[i] == '\n' {
			newlines++
		}
		i += size
	}
	if newlines >= 2 {
		return i, atParagraph
	}
	return i, atSentence
}

// skipClosers skips closing quotes and brackets that belong to the sentence before them.
func skipClosers(s string, i, end int) int {
	for i < end {
		switch b := s[i]; {
		case b == '"' || b == '\'' || b == ')' || b == ']' || b == '}':
			i++
			continue
		case b >= utf8.RuneSelf:
			r, size := utf8.DecodeRuneInString(s[i:end])
			switch r {
			case '’', '”', '»', '」', '』', '）', '】', '〉', '》':
				i += size
				continue
			}
		}
		return i
	}
	return i
}

// abbreviation reports whether the '.' at s[dot] ends an abbreviation rather than a
// sentence: a single letter (an initial), a dotted form ("e.g", "U.S") or a common
// abbreviation. start bounds the look-back.
func abbreviation(s string, start, dot int) bool {
	w := dot
	dotted := false
	for w > start {
		b := s[w-1]
		if 'a' <= b|0x20 && b|0x20 <= 'z' {
			w--
			continue
		}
		if b == '.' && w-1 > start && 'a' <= s[w-2]|0x20 && s[w-2]|0x20 <= 'z' {
			dotted = true
			w--
			continue
		}
		break
	}
	word := s[w:dot]
	if word == "" || w > start && s[w-1] >= utf8.RuneSelf {
		return false // not an ASCII word: a number, a symbol or another script
	}
	if dotted || len(word) == 1 {
		return true
	}
	if len(word) > 6 {
		return false
	}
	// Words that are usually followed by '.' in mid-sentence.
	for _, a := range [...]string{
		"mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "mt", "rev", "gen", "col", "capt", "lt",
		"vs", "etc", "cf", "al", "approx", "ca", "esp", "incl", "resp", "viz",
		"fig", "figs", "eq", "eqs", "ref", "refs", "sec", "ch", "vol", "vols", "no", "nos", "pp",
		"ed", "eds", "inc", "ltd", "co", "corp", "dept", "univ", "est",
		"jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec",
	} {
		if strings.EqualFold(word, a) {
			return true
		}
	}
	return false
}
