package answer

import (
	"strings"
	"unicode/utf8"
)

// This file reads a source passage the way the extractive answerer quotes it: as units
// (a paragraph's sentences, list items, table rows) that keep the passage's structure.
// Stored chunk text is plain text from any format: paragraphs separated by blank lines,
// headings as lines of their own (Markdown's "#" already removed), list items with their
// markers ("1. ", "- "), tables one row a line with cells joined by " | ", code as lines.

// unitKind says what a unit is and whether it may be quoted.
type unitKind uint8

const (
	unitProse   unitKind = iota // a sentence of a paragraph
	unitItem                    // a sentence of a list item
	unitRow                     // a table row after the header
	unitHeader                  // a table's header row: labels, not an answer
	unitHeading                 // a heading or a label line: never quoted
)

// A unit is text[start:end] of a passage, trimmed.
type unit struct {
	start, end int
	kind       unitKind
	block      int  // the paragraph, list or table it belongs to, numbered in the passage
	item       int  // a list item's sentence: the item's number in the passage, from 1
	ordered    bool // a list item of a numbered list
	header     int  // a table row: the index of its header row in the units, -1 if none
	heading    int  // the last heading or label line before it in the passage, -1 if none
}

// textLine is a trimmed line of a passage: text[start:end].
type textLine struct{ start, end int }

// passageUnits splits text into units. Paragraphs are runs of non-blank lines; fenced code
// (``` or ~~~) is left out. A paragraph of two or more lines that all hold a " | " is a
// table (its first line the header); a line that starts with a list marker starts an item
// (the lines after it, up to the next marker or blank line, continue it), and a list is a run
// of items, blank lines between them allowed; a paragraph of one short line with no closing
// punctuation, or a Markdown heading, is a heading; any other paragraph is split into
// sentences.
func passageUnits(text string) []unit {
	var out []unit
	block, heading, list, items := 0, -1, false, 0
	var para []textLine
	flush := func() {
		if len(para) == 0 {
			return
		}
		first := text[para[0].start:para[0].end]
		switch {
		case isTable(text, para):
			list = false
			block++
			hdr := -1
			for i, l := range para {
				row := text[l.start:l.end]
				if tableRule(row) {
					continue
				}
				kind := unitRow
				if i == 0 {
					kind, hdr = unitHeader, len(out)
				}
				out = append(out, unit{start: l.start, end: l.end, kind: kind, block: block, header: hdr, heading: heading})
			}
		case listMarker(first) > 0:
			if !list {
				block++
			}
			list = true
			for i := 0; i < len(para); {
				j := i + 1
				for j < len(para) && listMarker(text[para[j].start:para[j].end]) == 0 {
					j++
				}
				m := listMarker(text[para[i].start:para[i].end])
				items++
				for _, sp := range splitBlock(nil, text, para[i].start+m, para[j-1].end, item) {
					out = append(out, unit{start: sp.start, end: sp.end, kind: unitItem, block: block, item: items,
						ordered: isDigit(text[para[i].start]), header: -1, heading: heading})
				}
				i = j
			}
		case len(para) == 1 && isHeadingLine(first):
			list = false
			block++
			heading = len(out)
			start := para[0].start + len(first) - len(strings.TrimLeft(first, "# \t"))
			out = append(out, unit{start: start, end: para[0].end, kind: unitHeading, block: block, header: -1, heading: -1})
		default:
			list = false
			block++
			for _, sp := range splitBlock(nil, text, para[0].start, para[len(para)-1].end, prose) {
				out = append(out, unit{start: sp.start, end: sp.end, kind: unitProse, block: block, header: -1, heading: heading})
			}
		}
		para = para[:0]
	}
	inFence := false
	for lineStart, lineEnd := range lines(text) {
		a, b := lineStart, lineEnd
		for a < b && isSpace(text[a]) {
			a++
		}
		for b > a && isSpace(text[b-1]) {
			b--
		}
		line := text[a:b]
		switch {
		case strings.HasPrefix(line, "```") || strings.HasPrefix(line, "~~~"):
			flush()
			inFence = !inFence
		case inFence:
		case line == "":
			flush()
		case line[0] == '#' || listMarker(line) > 0:
			flush() // a heading or an item starts its own paragraph
			para = append(para, textLine{a, b})
			if line[0] == '#' {
				flush()
			}
		default:
			if len(para) == 1 && text[para[0].start] == '#' {
				flush()
			}
			para = append(para, textLine{a, b})
		}
	}
	flush()
	return out
}

// isTable reports whether the lines are a table: two or more, each with a cell separator.
func isTable(text string, lines []textLine) bool {
	if len(lines) < 2 {
		return false
	}
	for _, l := range lines {
		row := text[l.start:l.end]
		if !strings.Contains(row, " | ") && !strings.HasPrefix(row, "|") {
			return false
		}
	}
	return true
}

// tableRule reports whether a table line is a Markdown rule ("|---|:--:|").
func tableRule(row string) bool {
	return strings.Trim(row, "|-: \t") == ""
}

// headingWords is the most words a line without closing punctuation may have to be taken
// for a heading or a label.
const headingWords = 15

// isHeadingLine reports whether a paragraph of one line is a heading: a Markdown heading,
// a question standing alone ("Does Go have a runtime?", a FAQ's heading once its "#" are
// gone), or a short line that does not end as a sentence does.
func isHeadingLine(line string) bool {
	if strings.HasPrefix(line, "#") {
		h := strings.TrimLeft(line, "#")
		return h != "" && (h[0] == ' ' || h[0] == '\t')
	}
	words := 0
	eachWord(line, func(string) { words++ })
	if words == 0 || words > headingWords {
		return false
	}
	end := strings.TrimRight(line, "\"')”’»*_")
	if strings.HasSuffix(end, "?") {
		// A question on a line of its own heads the answer below it. A whole paragraph that
		// is one question is as good as a heading: it is never an answer.
		return true
	}
	r, _ := utf8.DecodeLastRuneInString(end)
	return !strings.ContainsRune(".!:;,", r)
}

// columns splits a table row into its cells.
func columns(row string) []string {
	row = strings.TrimSpace(row)
	if strings.HasPrefix(row, "|") {
		row = strings.TrimSuffix(strings.TrimPrefix(row, "|"), "|")
	}
	cells := strings.Split(row, "|")
	for i, c := range cells {
		cells[i] = strings.TrimSpace(c)
	}
	return cells
}
