package chunk

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// fixture is a test document written in a small Markdown-like format, so that test inputs
// are easy to read and edit:
//
//	% title: The title             header lines, before the body
//	% config: target=120 max=160 overlap=24 min=24
//	% blocks: none                 no blocks: the body is the text as is
//	%page 2                        the following blocks are on page 2
//	# Heading                      a heading; the number of '#' is its level
//	- item, * item, 1. item        a list item (until a blank line or the next item)
//	```lang ... ```                a code block (the lines between the fences)
//	| a | b |                      a table: consecutive lines that start with '|'
//	anything else                  a paragraph, up to the next blank line
//
// Like extraction, it joins the blocks' trimmed texts with blank lines.
type fixture struct {
	doc Document
	cfg Config
}

func loadFixture(t testing.TB, path string) fixture {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fx, err := parseFixture(string(b))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return fx
}

func parseFixture(src string) (fixture, error) {
	var fx fixture
	lines := strings.Split(src, "\n")
	noBlocks := false
	for len(lines) > 0 && strings.HasPrefix(lines[0], "% ") {
		key, val, _ := strings.Cut(strings.TrimPrefix(lines[0], "% "), ":")
		val = strings.TrimSpace(val)
		switch key {
		case "title":
			fx.doc.Title = val
		case "blocks":
			noBlocks = val == "none"
		case "config":
			for _, kv := range strings.Fields(val) {
				k, v, _ := strings.Cut(kv, "=")
				n, err := strconv.Atoi(v)
				if err != nil {
					return fx, fmt.Errorf("config %q: %w", kv, err)
				}
				switch k {
				case "target":
					fx.cfg.TargetTokens = n
				case "max":
					fx.cfg.MaxTokens = n
				case "overlap":
					fx.cfg.OverlapTokens = n
				case "min":
					fx.cfg.MinTokens = n
				default:
					return fx, fmt.Errorf("unknown config key %q", k)
				}
			}
		default:
			return fx, fmt.Errorf("unknown header %q", key)
		}
		lines = lines[1:]
	}
	if noBlocks {
		fx.doc.Text = strings.Join(lines, "\n")
		return fx, nil
	}
	var text strings.Builder
	page := 0
	add := func(kind Kind, level int, s string) {
		s = strings.TrimSpace(s)
		if s == "" {
			return
		}
		if text.Len() > 0 {
			text.WriteString("\n\n")
		}
		start := text.Len()
		text.WriteString(s)
		fx.doc.Blocks = append(fx.doc.Blocks, Block{Kind: kind, Level: level, Start: start, End: text.Len(), Page: page})
	}
	isItem := func(l string) bool {
		if strings.HasPrefix(l, "- ") || strings.HasPrefix(l, "* ") {
			return true
		}
		n, rest, ok := strings.Cut(l, ". ")
		_, err := strconv.Atoi(n)
		return ok && err == nil && rest != ""
	}
	for i := 0; i < len(lines); {
		l := lines[i]
		switch {
		case strings.TrimSpace(l) == "":
			i++
		case strings.HasPrefix(l, "%page "):
			n, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(l, "%page ")))
			if err != nil {
				return fx, fmt.Errorf("line %q: %w", l, err)
			}
			page = n
			i++
		case strings.HasPrefix(l, "#"):
			level := len(l) - len(strings.TrimLeft(l, "#"))
			add(Heading, level, l[level:])
			i++
		case strings.HasPrefix(l, "```"):
			j := i + 1
			for j < len(lines) && !strings.HasPrefix(lines[j], "```") {
				j++
			}
			add(Code, 0, strings.Join(lines[i+1:min(j, len(lines))], "\n"))
			i = j + 1
		case strings.HasPrefix(l, "|"):
			j := i
			for j < len(lines) && strings.HasPrefix(lines[j], "|") {
				j++
			}
			add(Table, 0, strings.Join(lines[i:j], "\n"))
			i = j
		case isItem(l):
			j := i + 1
			for j < len(lines) && strings.TrimSpace(lines[j]) != "" && !isItem(lines[j]) && strings.HasPrefix(lines[j], " ") {
				j++
			}
			add(ListItem, 0, strings.Join(lines[i:j], "\n"))
			i = j
		default:
			j := i + 1
			for j < len(lines) && strings.TrimSpace(lines[j]) != "" && !strings.HasPrefix(lines[j], "#") &&
				!strings.HasPrefix(lines[j], "```") && !strings.HasPrefix(lines[j], "|") && !strings.HasPrefix(lines[j], "%page ") {
				j++
			}
			add(Paragraph, 0, strings.Join(lines[i:j], "\n"))
			i = j
		}
	}
	fx.doc.Text = text.String()
	return fx, nil
}

// checkChunks returns the first way in which chunks, split from doc with cfg (defaults
// filled), break the contract of Split, or nil.
func checkChunks(doc Document, cfg Config, chunks []Chunk) error {
	text := doc.Text
	covered := make([]bool, len(text)+1)
	// runesBefore[i] is utf8.RuneCountInString(text[:i]) where i is a character boundary,
	// and -1 inside a character.
	runesBefore := make([]int, len(text)+1)
	for i, n := 0, 0; i <= len(text); n++ {
		runesBefore[i] = n
		if i == len(text) {
			break
		}
		_, size := utf8.DecodeRuneInString(text[i:])
		for j := i + 1; j < i+size; j++ {
			runesBefore[j] = -1
		}
		i += size
	}
	spans := blocksOf(doc, cfg.MaxTokens)
	for i, c := range chunks {
		if c.Ordinal != i {
			return fmt.Errorf("chunk %d: Ordinal %d", i, c.Ordinal)
		}
		if c.Start < 0 || c.Start >= c.End || c.End > len(text) {
			return fmt.Errorf("chunk %d: bad range [%d,%d) in a text of %d bytes", i, c.Start, c.End, len(text))
		}
		if c.Text != text[c.Start:c.End] {
			return fmt.Errorf("chunk %d: Text is not Document.Text[%d:%d]", i, c.Start, c.End)
		}
		if s, e := trimSpace(text, c.Start, c.End); s != c.Start || e != c.End {
			return fmt.Errorf("chunk %d: %q is not trimmed", i, c.Text)
		}
		if c.Tokens != CountTokens(c.Content()) {
			return fmt.Errorf("chunk %d: Tokens %d, CountTokens %d", i, c.Tokens, CountTokens(c.Content()))
		}
		if c.Tokens > cfg.MaxTokens {
			return fmt.Errorf("chunk %d: %d tokens > MaxTokens %d: %q", i, c.Tokens, cfg.MaxTokens, c.Content())
		}
		// A chunk that starts among a table's rows after its header repeats the header.
		wantHeader := ""
		for _, b := range spans {
			if b.start <= c.Start && c.Start < b.end {
				if b.needsHeader(c.Start) {
					wantHeader = text[b.start:b.hdrEnd]
				}
				break
			}
		}
		if c.Header != wantHeader {
			return fmt.Errorf("chunk %d at %d: Header %q, want %q", i, c.Start, c.Header, wantHeader)
		}
		if c.HeaderChars() != utf8.RuneCountInString(c.Content())-utf8.RuneCountInString(c.Text) {
			return fmt.Errorf("chunk %d: HeaderChars %d", i, c.HeaderChars())
		}
		if runesBefore[c.Start] < 0 || runesBefore[c.End] < 0 {
			return fmt.Errorf("chunk %d: [%d,%d) cuts a character", i, c.Start, c.End)
		}
		if want := runesBefore[c.Start]; c.CharStart != want {
			return fmt.Errorf("chunk %d: CharStart %d, want %d", i, c.CharStart, want)
		}
		if want := runesBefore[c.End]; c.CharEnd != want {
			return fmt.Errorf("chunk %d: CharEnd %d, want %d", i, c.CharEnd, want)
		}
		if c.HeadingPath == nil {
			return fmt.Errorf("chunk %d: nil HeadingPath", i)
		}
		if c.PageStart < 0 || c.PageStart > c.PageEnd || (c.PageStart == 0) != (c.PageEnd == 0) {
			return fmt.Errorf("chunk %d: pages %d-%d", i, c.PageStart, c.PageEnd)
		}
		if i > 0 {
			p := chunks[i-1]
			if c.Start <= p.Start || c.End <= p.End {
				return fmt.Errorf("chunk %d [%d,%d) is not after chunk %d [%d,%d)", i, c.Start, c.End, i-1, p.Start, p.End)
			}
			if c.Start < p.End {
				if n := CountTokens(text[c.Start:p.End]); n > cfg.OverlapTokens {
					return fmt.Errorf("chunk %d overlaps chunk %d by %d tokens > OverlapTokens %d", i, i-1, n, cfg.OverlapTokens)
				}
			}
		}
		for j := c.Start; j < c.End; j++ {
			covered[j] = true
		}
	}
	// Every non-space character of every block (of the whole text without blocks) is in a chunk.
	inBlock := make([]int, len(text)+1) // a difference array: +1 where a block starts, -1 where it ends
	if len(doc.Blocks) == 0 {
		inBlock[0], inBlock[len(text)] = 1, -1
	}
	for _, b := range doc.Blocks {
		s, e := min(max(b.Start, 0), len(text)), min(max(b.End, 0), len(text))
		if s < e {
			inBlock[s]++
			inBlock[e]--
		}
	}
	space := spaceBytes(text)
	for j, depth := 0, 0; j < len(text); j++ {
		depth += inBlock[j]
		if depth > 0 && !covered[j] && !space[j] {
			return fmt.Errorf("byte %d (%q) is in a block but in no chunk", j, text[max(0, j-10):min(len(text), j+10)])
		}
	}
	if !wellFormed(doc) {
		return nil
	}
	// With well-formed blocks, heading paths, pages and overlaps can be checked exactly. The
	// blocks are in order, and so are the chunks: one sweep keeps this linear.
	type tb struct {
		Block
		s, e int // trimmed
	}
	var blocks []tb
	for _, b := range doc.Blocks {
		if s, e := trimSpace(text, b.Start, b.End); s < e {
			blocks = append(blocks, tb{b, s, e})
		}
	}
	var stack []tb
	nextHeading := 0 // blocks[:nextHeading] are on the stack if headings
	firstLive := 0   // blocks[:firstLive] end before the current chunk
	for i, c := range chunks {
		for ; nextHeading < len(blocks) && blocks[nextHeading].s <= c.Start; nextHeading++ {
			if b := blocks[nextHeading]; b.Kind == Heading {
				for len(stack) > 0 && stack[len(stack)-1].Level >= b.Level {
					stack = stack[:len(stack)-1]
				}
				stack = append(stack, b)
			}
		}
		path := []string{}
		for _, h := range stack {
			path = append(path, text[h.s:h.e])
		}
		if !slices.Equal(path, c.HeadingPath) {
			return fmt.Errorf("chunk %d: HeadingPath %q, want %q", i, c.HeadingPath, path)
		}
		for firstLive < len(blocks) && blocks[firstLive].e <= c.Start {
			firstLive++
		}
		pageStart, pageEnd := 0, 0
		for _, b := range blocks[firstLive:] {
			if b.s >= c.End {
				break
			}
			if b.Page > 0 {
				if pageStart == 0 || b.Page < pageStart {
					pageStart = b.Page
				}
				pageEnd = max(pageEnd, b.Page)
			}
			if i > 0 && b.Kind == Heading && b.s < chunks[i-1].End && c.Start < chunks[i-1].End {
				return fmt.Errorf("chunk %d overlaps chunk %d across heading %q", i, i-1, text[b.s:b.e])
			}
		}
		if c.PageStart != pageStart || c.PageEnd != pageEnd {
			return fmt.Errorf("chunk %d: pages %d-%d, want %d-%d", i, c.PageStart, c.PageEnd, pageStart, pageEnd)
		}
	}
	return nil
}

// spaceBytes marks the bytes of text that belong to whitespace characters.
func spaceBytes(text string) []bool {
	space := make([]bool, len(text))
	for i := 0; i < len(text); {
		sp, size := isSpaceAt(text, i)
		for j := i; j < i+size; j++ {
			space[j] = sp
		}
		i += size
	}
	return space
}

// wellFormed reports whether doc keeps the promises of Document: blocks in order, not
// overlapping, within the text, on character boundaries, of known kinds and levels.
func wellFormed(doc Document) bool {
	prev := 0
	for _, b := range doc.Blocks {
		if b.Start < prev || b.End < b.Start || b.End > len(doc.Text) || b.Kind > Table || b.Page < 0 ||
			!runeStart(doc.Text, b.Start) || !runeStart(doc.Text, b.End) ||
			(b.Kind == Heading && (b.Level < 1 || b.Level > 6)) {
			return false
		}
		prev = b.End
	}
	return true
}
