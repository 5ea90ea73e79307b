package chunk

import (
	"strings"
	"unicode/utf8"
)

// maxPrefixPart bounds each part of the prefix EmbeddingText adds, in bytes, so that a
// heading mis-detected from a large line of a PDF cannot crowd out the chunk's own text.
const maxPrefixPart = 120

// EmbeddingText returns the text to embed for c: the document title and the chunk's
// heading path as one short line ("Title > Section > Subsection"), a blank line, then the
// chunk's content (its repeated table header, then its text). The prefix places a chunk that says "Run the command below" in its document,
// which improves retrieval; it is not stored (Chunk.Text stays an exact slice of the
// document, for citations).
//
// Empty parts are skipped, and so is a heading equal to the part before it (a first heading
// that repeats the title, as Markdown documents often do). Whitespace in a part is collapsed
// and a part longer than 120 bytes is cut at a word boundary with "…". Without title and
// headings the result is c.Text alone. The prefix adds at most about 30 tokens per part, so
// an embedding model's input limit should leave room for it beside MaxTokens.
func EmbeddingText(title string, c Chunk) string {
	var b strings.Builder
	text := c.Content()
	b.Grow(len(title) + len(text) + 16*len(c.HeadingPath) + 8)
	prev := ""
	for i := -1; i < len(c.HeadingPath); i++ {
		part := title
		if i >= 0 {
			part = c.HeadingPath[i]
		}
		part = prefixPart(part)
		if part == "" || strings.EqualFold(part, prev) {
			continue
		}
		prev = part
		if b.Len() > 0 {
			b.WriteString(" > ")
		}
		b.WriteString(part)
	}
	if b.Len() == 0 {
		return text
	}
	b.WriteString("\n\n")
	b.WriteString(text)
	return b.String()
}

// prefixPart returns s with runs of whitespace collapsed to one space, cut after
// maxPrefixPart bytes at a word boundary (or a character boundary in a long word).
func prefixPart(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) <= maxPrefixPart {
		return s
	}
	cut := maxPrefixPart
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	if space := strings.LastIndexByte(s[:cut], ' '); space > maxPrefixPart/2 {
		cut = space
	}
	return s[:cut] + "…"
}
