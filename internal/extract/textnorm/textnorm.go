// Package textnorm normalises the text that every extractor produces, whatever the format:
// Unicode NFC, ligatures expanded, invisible characters removed, whitespace collapsed and
// words hyphenated at line ends joined. It lies below package extract and its format
// engines (package pdf) so that all of them normalise text the same way.
package textnorm

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// ligatures maps the Latin ligature code points (U+FB00..U+FB06) that PDFs and typeset text
// often contain to their letters, so that "ﬁnd" matches a search for "find". NFKC would do
// this too, but also rewrites much that must stay (superscripts, fractions, full-width forms).
var ligatures = strings.NewReplacer(
	"\uFB00", "ff", "\uFB01", "fi", "\uFB02", "fl", "\uFB03", "ffi", "\uFB04", "ffl", "\uFB05", "st", "\uFB06", "st",
)

// Clean returns s in Unicode NFC with ligatures expanded, line ends as "\n", and the
// characters that carry no text removed: soft hyphens, zero-width spaces and joiners, the
// byte-order mark, and control characters other than tab and newline. Invalid UTF-8 becomes
// U+FFFD. Spacing is kept as it is, so Clean is safe for code.
func Clean(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = ligatures.Replace(s)
	s = strings.Map(func(r rune) rune {
		switch r {
		case '\n', '\t':
			return r
		case '\r', '\v', '\f', '\u2028', '\u2029':
			return '\n'
		case '\u00AD', '\u200B', '\u200C', '\u200D', '\u2060', '\uFEFF':
			return -1
		case '\u00A0', '\u2007', '\u202F':
			return ' '
		}
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, s)
	return norm.NFC.String(s)
}

// Collapse cleans s (see Clean) and normalises its whitespace as running text: a word
// hyphenated across a line end ("exam-\nple") is joined, runs of spaces and tabs become one
// space, lines are trimmed, single line breaks inside a paragraph become spaces, and
// paragraphs (separated by blank lines) are kept apart by exactly one blank line.
func Collapse(s string) string {
	s = Clean(s)
	var b strings.Builder
	b.Grow(len(s))
	for i, para := range paragraphs(s) {
		if i > 0 {
			b.WriteString("\n\n")
		}
		b.WriteString(para)
	}
	return b.String()
}

// CollapseLine is Collapse for text that is one line by nature (a title, a heading, a table
// cell): every run of whitespace, newlines included, becomes one space.
func CollapseLine(s string) string {
	return strings.Join(strings.Fields(dehyphenate(Clean(s))), " ")
}

// paragraphs splits cleaned text at blank lines and returns each paragraph joined into one
// line, dehyphenated, with its whitespace collapsed. Empty paragraphs are dropped.
func paragraphs(s string) []string {
	var out []string
	for _, block := range strings.Split(s, "\n\n") {
		if p := strings.Join(strings.Fields(dehyphenate(block)), " "); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// dehyphenate joins words broken across a line end by a hyphen: a lower-case letter, "-",
// optional spaces, a newline, optional spaces and a lower-case letter. Hyphenated compounds
// that happen to end a line ("well-\nknown") are joined too; that is the usual trade-off, and
// the lost hyphen rarely changes what a search matches.
func dehyphenate(s string) string {
	if !strings.Contains(s, "-\n") && !strings.Contains(s, "- \n") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		if s[i] == '-' && i > 0 {
			prev, _ := utf8.DecodeLastRuneInString(s[:i])
			j := i + 1
			for j < len(s) && (s[j] == ' ' || s[j] == '\t') {
				j++
			}
			if j < len(s) && s[j] == '\n' && unicode.IsLower(prev) {
				k := j + 1
				for k < len(s) && (s[k] == ' ' || s[k] == '\t') {
					k++
				}
				if next, _ := utf8.DecodeRuneInString(s[k:]); unicode.IsLower(next) {
					i = k
					continue
				}
			}
		}
		b.WriteByte(s[i])
		i++
	}
	return b.String()
}
