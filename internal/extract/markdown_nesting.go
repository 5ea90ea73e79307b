package extract

import (
	"fmt"
	"strings"
)

// maxMarkdownNesting is the deepest nesting of Markdown containers (block quotes and list
// items) that goldmark is given. Its block parser walks the open containers for every
// line, so its time grows with lines × depth: "- " 100,000 times followed by a letter (one
// line, 100,000 nested list items) takes it 15-30 s, a 25 MB indented list 98 s and 1.6 GB.
// Documentation nests a few levels. (Definition descriptions, ": " in goldmark's extension,
// nest like list items and count as containers.)
const maxMarkdownNesting = 32

// maxFlatIndent is the leading white space (in columns) kept on a line whose markers
// limitNesting escapes: enough to continue maxMarkdownNesting list items of the usual
// widths ("- ", "1. ", "10. ") and to start indented code.
const maxFlatIndent = 4*maxMarkdownNesting + 4

// limitNesting returns src with its container nesting bounded by limit, and the number of
// lines it changed: on a line that would open containers beyond the limit, the first
// marker too many (">", "-", "+", "*", ":", or the "." or ")" of "1.") is escaped with a
// backslash, so that it and the rest of the line are read as text inside the deepest
// container allowed (and its leading white space is cut to maxFlatIndent columns). Other
// lines are not touched; a document within the limit is returned as it is.
//
// The bound is proven, not guessed. In CommonMark a line first continues some of the open
// containers, then opens new ones with its markers, and closes the rest, unless it is a
// lazy paragraph continuation, which opens and closes nothing. A block quote is continued
// by a ">" and a list item by at least two columns of indentation (a marker and a space),
// both before the first new marker; a list marker always opens a new item. So on a line
// whose prefix (the white space and markers it starts with) holds g ">" and l list
// markers, and w columns of white space before its first list marker (not counting the
// space that belongs to a ">", a tab counted as 4), each ">" continues or opens one block
// quote, at most w/2 list items are continued, and at most l are opened. Hence, with B an
// upper bound on the open containers before the line,
//
//	open after the line <= max(B, g + min(B, w/2) + l)
//
// where the first term (the lazy case) does not apply after a blank line, which ends any
// paragraph. limitNesting keeps that bound at or below limit; FuzzMarkdownNesting checks it
// against goldmark's own tree.
//
// It also returns the bound it proved for the result: with limit = math.MaxInt nothing is
// changed and bound is an upper bound on src's nesting.
func limitNesting(src string, limit int) (out string, changed, bound int) {
	var b strings.Builder
	copied := 0        // src[:copied] is in b
	open := 0          // upper bound on the containers open after the previous line
	afterBlank := true // no paragraph is open: the next line cannot be a lazy continuation
	for start := 0; start <= len(src); {
		end := strings.IndexByte(src[start:], '\n')
		if end < 0 {
			end = len(src)
		} else {
			end += start
		}
		line := src[start:end]
		p := scanPrefix(line)
		switch {
		case p.blank:
			afterBlank = true
		default:
			base := min(open, p.ws/2) // list items continued; each ">" is among the markers
			markers := p.gt + p.lists
			if base+markers > limit {
				keep := limit - base
				at := p.marker(line, keep) // the first marker too many
				if b.Len() == 0 {
					b.Grow(len(src) + 64)
				}
				b.WriteString(src[copied:start])
				// goldmark scans a line once per open container: the deep indentation of
				// such a line costs depth × width, and once its markers are text it carries
				// no structure beyond the containers it may continue.
				lead := len(line) - len(strings.TrimLeft(line, " \t"))
				if p.indent > maxFlatIndent {
					b.WriteString(strings.Repeat(" ", maxFlatIndent))
				} else {
					b.WriteString(line[:lead])
				}
				b.WriteString(line[lead:at])
				b.WriteByte('\\')
				copied = start + at
				changed++
				markers = keep
			}
			next := base + markers
			if !afterBlank {
				next = max(next, open)
			}
			open, afterBlank = next, false
			bound = max(bound, open)
		}
		if end == len(src) {
			break
		}
		start = end + 1
	}
	if changed == 0 {
		return src, 0, bound
	}
	b.WriteString(src[copied:])
	return b.String(), changed, bound
}

// linePrefix describes the white space and container markers a line starts with.
type linePrefix struct {
	gt, lists int // block quote markers, list item markers
	// ws is the columns of white space before the first list marker, a tab counted as 4,
	// without the space (or column of a tab) that belongs to a ">" before it.
	ws     int
	indent int // columns of white space before the first non-blank character
	blank  bool
}

// scanPrefix reads the white space and container markers at the start of line: ">", a
// bullet ("-", "+", "*"), a definition (":") or an ordered marker (1 to 9 digits, then "." or ")") followed by
// white space or the end of the line. It counts more than CommonMark would open (a
// thematic break "- - -", markers in indented code), never fewer.
func scanPrefix(line string) linePrefix {
	var p linePrefix
	p.blank = true
	afterGT := false // the previous character is a ">": a space after it is part of it
	for i := 0; i < len(line); {
		c := line[i]
		if c == ' ' || c == '\t' {
			cols := 1
			if c == '\t' {
				cols = 4
			}
			if p.blank {
				p.indent += cols
			}
			if afterGT {
				cols-- // the space, or a column of the tab, that belongs to the ">"
			}
			if p.lists == 0 {
				p.ws += cols
			}
			afterGT = false
			i++
			continue
		}
		afterGT = false
		if c == '>' {
			p.gt++
			p.blank = false
			afterGT = true
			i++
			continue
		}
		n := markerLen(line[i:])
		if n == 0 {
			if c != '\r' {
				p.blank = false
			}
			return p
		}
		p.lists++
		p.blank = false
		i += n
	}
	return p
}

// marker returns the byte offset in line of the character to escape to end the prefix
// after keep markers: the (keep+1)th marker's ">" or bullet, or an ordered marker's "." or
// ")". The line must have more than keep markers.
func (linePrefix) marker(line string, keep int) int {
	seen := 0
	for i := 0; i < len(line); {
		c := line[i]
		if c == ' ' || c == '\t' {
			i++
			continue
		}
		n := 1
		if c != '>' {
			n = markerLen(line[i:])
		}
		if seen == keep {
			return i + n - 1 // ">", the bullet, or the delimiter after the digits
		}
		seen++
		i += n
	}
	panic(fmt.Sprintf("limitNesting: no marker %d in %q", keep+1, line))
}

// markerLen returns the length of the list item marker at the start of s ("-", "+", "*",
// or 1 to 9 digits and "." or ")"; or ":", which starts a definition description, nested
// as list items are), which must be followed by white space or the end of s; 0 if there is
// none.
func markerLen(s string) int {
	n := 0
	switch {
	case s == "":
		return 0
	case s[0] == '-' || s[0] == '+' || s[0] == '*' || s[0] == ':': // ":" opens a definition (extension)
		n = 1
	default:
		for n < len(s) && n < 10 && s[n] >= '0' && s[n] <= '9' {
			n++
		}
		if n == 0 || n > 9 || n >= len(s) || (s[n] != '.' && s[n] != ')') {
			return 0
		}
		n++
	}
	if n < len(s) && s[n] != ' ' && s[n] != '\t' && s[n] != '\r' {
		return 0
	}
	return n
}
