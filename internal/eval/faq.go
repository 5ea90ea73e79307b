package eval

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// A Markdown FAQ as a held-out answer set (LoadFAQ): every question heading ("### Why ...?",
// at the deepest heading level the file uses for questions: the level below its sections)
// is a question, and the first prose paragraph under it, with its inline Markdown reduced to
// text, the gold answer. Code blocks, indented code, HTML blocks and template directives are
// skipped in looking for that paragraph; a heading without any prose before the next
// heading is left out. The section heading above a question is its group; the heading's
// anchor ("{#history}"), else the heading, is its id and fold key. The gold source is the
// FAQ file itself, by its path relative to the corpus folder.

// maxFAQBytes bounds the FAQ file read (the go.dev FAQ is about 110 kB).
const maxFAQBytes = 8 << 20

var (
	headingAnchor = regexp.MustCompile(`\s*\{#([^}]*)\}\s*$`)
	mdLink        = regexp.MustCompile(`!?\[([^\]]*)\]\([^)]*\)`)
	rawDirective  = regexp.MustCompile("\\{\\{\\s*raw\\s+`([^`]*)`\\s*\\}\\}")
	htmlTag       = regexp.MustCompile(`<[^>]*>`)
	emphasis      = regexp.MustCompile(`(\*\*|\*)([^*\s][^*]*?)(\*\*|\*)`)
	mdEscape      = regexp.MustCompile(`\\([\\*_{}\[\]()#+\-.!])`)
)

// LoadFAQ reads the Markdown FAQ at path as an answer set over corpus, a folder that holds
// the FAQ (its gold source is its path relative to corpus).
func LoadFAQ(path, corpus string) (*AnswerSet, error) {
	rel, err := filepath.Rel(corpus, path)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) || filepath.IsAbs(rel) {
		return nil, fmt.Errorf("load FAQ: %s is not inside the corpus folder %s", path, corpus)
	}
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("load FAQ: %w", err)
	}
	if info.Size() > maxFAQBytes {
		return nil, fmt.Errorf("load FAQ: %s: %d bytes, more than %d", path, info.Size(), maxFAQBytes)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load FAQ: %w", err)
	}
	cases := ParseFAQ(data, filepath.ToSlash(rel))
	if len(cases) == 0 {
		return nil, fmt.Errorf("load FAQ: %s: no question heading followed by a paragraph", path)
	}
	return &AnswerSet{Kind: "faq", Corpus: corpus, Cases: cases}, nil
}

// faqBlock is a paragraph or a skipped block of a FAQ, or a heading.
type faqBlock struct {
	level int    // heading level; 0 for a paragraph
	text  string // the heading or paragraph, lines joined with spaces
	prose bool   // a paragraph of text, not code or markup
}

// ParseFAQ returns the cases of a Markdown FAQ whose gold source is source (see LoadFAQ).
func ParseFAQ(data []byte, source string) []AnswerCase {
	blocks := faqBlocks(data)
	// Questions are at the deepest heading level used; sections at the levels above.
	qLevel := 0
	for _, b := range blocks {
		qLevel = max(qLevel, b.level)
	}
	var cases []AnswerCase
	seen := map[string]int{}
	section := ""
	for i, b := range blocks {
		if b.level == 0 {
			continue
		}
		heading, anchor := b.text, ""
		if m := headingAnchor.FindStringSubmatchIndex(heading); m != nil {
			anchor, heading = heading[m[2]:m[3]], heading[:m[0]]
		}
		heading = inlineText(heading)
		if b.level < qLevel {
			section = heading
			continue
		}
		answer := ""
		for _, next := range blocks[i+1:] {
			if next.level > 0 {
				break
			}
			if next.prose {
				answer = inlineText(next.text)
				break
			}
		}
		if heading == "" || answer == "" {
			continue
		}
		id := strings.TrimSpace(anchor)
		if id == "" {
			id = heading
		}
		if n := seen[id]; n > 0 {
			seen[id]++
			id = fmt.Sprintf("%s-%d", id, n+1)
		} else {
			seen[id] = 1
		}
		c := AnswerCase{ID: id, FoldKey: id, Question: heading, Answers: []string{answer}, Answerability: Answerable,
			GoldSources: []string{source}, Section: heading}
		if section != "" {
			c.Groups = []string{section}
		}
		cases = append(cases, c)
	}
	return cases
}

// faqBlocks splits Markdown into headings and paragraphs (blank-line separated), with
// fenced code blocks kept whole and marked as not prose. Front matter is skipped.
func faqBlocks(data []byte) []faqBlock {
	var blocks []faqBlock
	var para []string
	flush := func() {
		if len(para) > 0 {
			first := strings.TrimSpace(para[0])
			indented := strings.HasPrefix(para[0], "\t") || strings.HasPrefix(para[0], "    ")
			prose := !indented && first != "" && !strings.ContainsAny(first[:1], "<{|`>-=") && !strings.HasPrefix(first, "{{")
			for i := range para {
				para[i] = strings.TrimSpace(para[i])
			}
			blocks = append(blocks, faqBlock{text: strings.Join(para, " "), prose: prose})
			para = nil
		}
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), maxFAQBytes)
	fence, frontMatter := "", false
	for n := 0; sc.Scan(); n++ {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		switch {
		case n == 0 && trimmed == "---":
			frontMatter = true
			continue
		case frontMatter:
			frontMatter = trimmed != "---"
			continue
		case fence != "":
			if strings.HasPrefix(trimmed, fence) {
				fence = ""
			}
			continue
		case strings.HasPrefix(trimmed, "```") || strings.HasPrefix(trimmed, "~~~"):
			flush()
			fence = trimmed[:3]
			blocks = append(blocks, faqBlock{})
			continue
		case trimmed == "":
			flush()
			continue
		}
		if level := headingLevel(line); level > 0 {
			flush()
			blocks = append(blocks, faqBlock{level: level, text: strings.TrimSpace(line[level:])})
			continue
		}
		para = append(para, line)
	}
	flush()
	return blocks
}

// headingLevel is the level of an ATX heading line ("## Title"), 0 for other lines.
func headingLevel(line string) int {
	n := 0
	for n < len(line) && n < 6 && line[n] == '#' {
		n++
	}
	if n == 0 || n >= len(line) || line[n] != ' ' {
		return 0
	}
	return n
}

// inlineText reduces inline Markdown to its text: template raw directives to their content,
// links to their text; outside code spans, HTML tags removed, emphasis unwrapped and
// backslash escapes resolved; code spans unwrapped; entities decoded; white space collapsed.
func inlineText(s string) string {
	s = rawDirective.ReplaceAllString(s, "$1")
	s = mdLink.ReplaceAllString(s, "$1")
	parts := strings.Split(s, "`")
	for i := 0; i < len(parts); i += 2 { // outside code spans
		// An escaped star is kept aside (as a private-use character) from the emphasis.
		p := strings.ReplaceAll(htmlTag.ReplaceAllString(parts[i], ""), `\*`, "\uE000")
		p = mdEscape.ReplaceAllString(emphasis.ReplaceAllString(p, "$2"), "$1")
		parts[i] = strings.ReplaceAll(p, "\uE000", "*")
	}
	s = strings.Join(parts, "")
	for _, e := range [][2]string{{"&lt;", "<"}, {"&gt;", ">"}, {"&quot;", `"`}, {"&#39;", "'"}, {"&nbsp;", " "}, {"&amp;", "&"}} {
		s = strings.ReplaceAll(s, e[0], e[1])
	}
	return strings.Join(strings.Fields(s), " ")
}
