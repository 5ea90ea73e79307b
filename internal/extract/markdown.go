package extract

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	extast "github.com/yuin/goldmark/extension/ast"
	"github.com/yuin/goldmark/parser"
	gmhtml "github.com/yuin/goldmark/renderer/html"
	"github.com/yuin/goldmark/text"
	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"

	"github.com/docent-rag/docent/internal/chunk"
)

// Markdown extracts a Markdown file (CommonMark with GitHub tables, strikethrough and
// definition lists, and {#id} heading attributes, as go.dev writes them).
//
// Front matter (YAML, TOML or go.dev's JSON comment; see splitFrontMatter) goes into
// Metadata; its title, else the first level-1 heading, is the title; its acl is the ACL; a
// `redirect` makes the document a skipped redirect stub. Headings, paragraphs, list items
// (prefixed "- " or "N. "), code (verbatim), tables (a line per row, cells separated by
// " | ") become blocks; block quotes read as paragraphs. Inline markup is reduced to its
// text: links to their text, images to their alt text. Raw HTML is converted as HTML is.
// Go template actions are removed (see expandDirectives).
func Markdown(data []byte) (doc Document, err error) {
	doc = newDocument("text/markdown")
	if isBinary(data) {
		doc.Skip = SkipBinary
		return doc, nil
	}
	s, enc := decodeText(data)
	fields, body, err := splitFrontMatter(s)
	if err != nil {
		return Document{}, err
	}
	fm, err := interpret(fields)
	if err != nil {
		return Document{}, err
	}
	for k, v := range fields {
		doc.Metadata[k] = v
	}
	doc.URL, doc.URLRefused = documentURL(takeURL(doc.Metadata))
	if _, ok := doc.Metadata["charset"]; !ok && enc != "" {
		doc.Metadata["charset"] = enc
	}
	doc.ACL = fm.acl
	if fm.redirect {
		doc.Title = fm.title
		doc.Skip = SkipRedirect
		return doc, nil
	}
	if fm.template {
		body = expandDirectives(body, fields, true)
	}

	defer func() {
		// A parser bug on some input must fail that file, not the whole ingest.
		if r := recover(); r != nil {
			doc, err = Document{}, &Error{Reason: ReasonCrash, Err: fmt.Errorf("markdown parser panic: %v", r)}
		}
	}()
	body, flattened, _ := limitNesting(body, maxMarkdownNesting)
	if flattened > 0 {
		addNote(&doc, fmt.Sprintf("Markdown nested deeper than %d block quotes and list items: the markers beyond that depth read as text (%d lines)", maxMarkdownNesting, flattened))
	}
	src := []byte(body)
	root := newMarkdownParser().Parse(text.NewReader(src))
	w := newMDWalker(src, !fm.template)
	w.blocks(root)
	title := fm.title
	if title == "" {
		title = w.h1
	}
	doc.Document = w.e.document(title)
	return finish(doc), nil
}

// newMarkdownParser returns a goldmark parser configured as go.dev's renderer is.
func newMarkdownParser() parser.Parser {
	md := goldmark.New(
		goldmark.WithExtensions(extension.Table, extension.Strikethrough, extension.DefinitionList),
		goldmark.WithParserOptions(parser.WithHeadingAttribute()),
	)
	return md.Parser()
}

// mdWalker walks a goldmark AST and emits its blocks.
type mdWalker struct {
	src          []byte
	e            *emitter
	stripActions bool   // remove template actions from text outside code
	h1           string // the first level-1 heading

	// Goldmark's HTML writer resolves backslash escapes and entity references exactly as
	// rendering would; esc collects its output.
	esc bytes.Buffer
	bw  *bufio.Writer
}

func newMDWalker(src []byte, stripActions bool) *mdWalker {
	w := &mdWalker{src: src, e: &emitter{}, stripActions: stripActions}
	w.bw = bufio.NewWriter(&w.esc)
	return w
}

func (w *mdWalker) blocks(n ast.Node) {
	for c := n.FirstChild(); c != nil; c = c.NextSibling() {
		w.block(c)
	}
}

func (w *mdWalker) block(n ast.Node) {
	switch n := n.(type) {
	case *ast.Heading:
		text := w.line(n)
		if n.Level == 1 && w.h1 == "" {
			w.h1 = text
		}
		w.e.block(chunk.Heading, n.Level, text)
	case *ast.Paragraph, *ast.TextBlock, *extast.DefinitionTerm:
		t := w.inline(n)
		if t.hasRaw {
			w.htmlBlocks(t.html.String())
			return
		}
		w.e.paragraph(paragraphText(t.plain.String(), w.stripActions))
	case *ast.CodeBlock, *ast.FencedCodeBlock:
		w.e.block(chunk.Code, 0, codeText(w.lines(n.Lines())))
	case *ast.HTMLBlock:
		src := w.lines(n.Lines())
		if n.HasClosure() {
			src += string(n.ClosureLine.Value(w.src))
		}
		w.htmlBlocks(src)
	case *ast.List:
		num := n.Start
		for item := n.FirstChild(); item != nil; item = item.NextSibling() {
			marker := "- "
			if n.IsOrdered() {
				marker = strconv.Itoa(num) + ". "
				num++
			}
			w.e.openItem(marker)
			w.blocks(item)
			w.e.closeItem()
		}
	case *extast.Table:
		var rows [][]string
		for r := n.FirstChild(); r != nil; r = r.NextSibling() {
			var cells []string
			for c := r.FirstChild(); c != nil; c = c.NextSibling() {
				cells = append(cells, w.line(c))
			}
			rows = append(rows, cells)
		}
		w.e.block(chunk.Table, 0, tableText(rows))
	case *ast.ThematicBreak:
	default: // block quotes, definition lists and descriptions, list items, extensions
		w.blocks(n)
	}
}

// lines returns the source text of a block's lines.
func (w *mdWalker) lines(lines *text.Segments) string {
	var b strings.Builder
	for i := range lines.Len() {
		seg := lines.At(i)
		b.Write(seg.Value(w.src))
	}
	return b.String()
}

// line returns the inline content of n as one line of text (a heading, a table cell).
func (w *mdWalker) line(n ast.Node) string {
	t := w.inline(n)
	if !t.hasRaw {
		return lineText(t.plain.String(), w.stripActions)
	}
	src := t.html.String()
	if countTags(src) > maxHTMLElements {
		return lineText(t.plain.String(), w.stripActions)
	}
	div := &html.Node{Type: html.ElementNode, Data: "div", DataAtom: atom.Div}
	nodes, err := html.ParseFragment(strings.NewReader(src), div)
	if err != nil {
		return lineText(t.plain.String(), w.stripActions)
	}
	for _, c := range nodes {
		div.AppendChild(c)
	}
	hw := newHTMLWalker(w.e, w.stripActions)
	return lineText(hw.collect(div), w.stripActions)
}

// htmlBlocks converts an HTML fragment found in Markdown and emits its blocks in place.
func (w *mdWalker) htmlBlocks(src string) {
	body := &html.Node{Type: html.ElementNode, Data: "body", DataAtom: atom.Body}
	var nodes []*html.Node
	err := errTooManyElements
	if countTags(src) <= maxHTMLElements {
		nodes, err = html.ParseFragment(strings.NewReader(src), body)
	}
	hw := newHTMLWalker(w.e, w.stripActions)
	if err != nil {
		// Nested deeper than x/net/html accepts, or too big a tree: its text only.
		_, paras := htmlTextOnly(src)
		for _, p := range paras {
			hw.e.paragraph(paragraphText(p, w.stripActions))
		}
		return
	}
	for _, c := range nodes {
		hw.walk(c)
	}
	hw.flush()
	if w.h1 == "" {
		w.h1 = hw.h1
	}
}

// inlineText is the collected inline content of a block: as text with markers, and as
// HTML, which is used instead when the content mixes in raw HTML.
type inlineText struct {
	plain  strings.Builder
	html   strings.Builder
	hasRaw bool
}

func (w *mdWalker) inline(n ast.Node) *inlineText {
	t := &inlineText{}
	w.inlineChildren(n, t)
	return t
}

func (w *mdWalker) inlineChildren(n ast.Node, t *inlineText) {
	for c := n.FirstChild(); c != nil; c = c.NextSibling() {
		switch c := c.(type) {
		case *ast.Text:
			w.text(t, c.Segment.Value(w.src), c.IsRaw())
			if c.HardLineBreak() {
				t.plain.WriteByte(hardBreak)
				t.html.WriteString("<br>")
			} else if c.SoftLineBreak() {
				t.plain.WriteByte('\n')
				t.html.WriteByte('\n')
			}
		case *ast.String:
			if c.IsCode() { // already HTML
				t.plain.WriteString(sanitize(html.UnescapeString(string(c.Value))))
				t.html.Write(c.Value)
			} else {
				w.text(t, c.Value, c.IsRaw())
			}
		case *ast.CodeSpan:
			t.plain.WriteByte(protectStart)
			t.html.WriteString("<code>")
			for g := c.FirstChild(); g != nil; g = g.NextSibling() {
				if s, ok := g.(*ast.Text); ok {
					v := s.Segment.Value(w.src)
					if bytes.HasSuffix(v, []byte("\n")) {
						v = append(v[:len(v)-1:len(v)-1], ' ')
					}
					w.text(t, v, true)
				}
			}
			t.plain.WriteByte(protectEnd)
			t.html.WriteString("</code>")
		case *ast.AutoLink:
			w.text(t, c.Label(w.src), true)
		case *ast.RawHTML:
			t.hasRaw = true
			for i := range c.Segments.Len() {
				seg := c.Segments.At(i)
				t.html.Write(seg.Value(w.src))
			}
		default: // emphasis, links, images (their alt text), strikethrough
			w.inlineChildren(c, t)
		}
	}
}

// text appends source text to t: resolved (backslash escapes, entity references) unless
// raw, as goldmark renders it.
func (w *mdWalker) text(t *inlineText, v []byte, raw bool) {
	w.esc.Reset()
	if raw {
		gmhtml.DefaultWriter.RawWrite(w.bw, v)
	} else {
		gmhtml.DefaultWriter.Write(w.bw, v)
	}
	_ = w.bw.Flush() // writes to a bytes.Buffer, which does not fail
	escaped := w.esc.String()
	t.html.WriteString(escaped)
	t.plain.WriteString(sanitize(html.UnescapeString(escaped)))
}
