package extract

import (
	"bytes"
	"errors"
	"fmt"
	"mime"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
	"golang.org/x/net/html/charset"

	"github.com/docent-rag/docent/internal/chunk"
	"github.com/docent-rag/docent/internal/extract/textnorm"
)

// HTML extracts an HTML page or fragment. Only the main content is kept: the <main>
// element, else an element with role="main", else the only <article>, else <body>; and
// within it, navigation, page headers and footers, sidebars, forms, scripts, styles,
// embedded objects and hidden elements are dropped. Headings, paragraphs, list items,
// preformatted text and tables become blocks. The title is the front matter's, else
// <title>'s, else the first <h1>'s.
//
// The charset is UTF-8 unless a byte-order mark or a <meta> charset says otherwise (a page
// whose bytes are valid UTF-8 with non-ASCII characters is read as UTF-8 whatever its meta
// says: editors convert files and forget the tag). go.dev's HTML fragments, with JSON front
// matter in a comment and template actions, are handled as in Markdown.
func HTML(data []byte) (Document, error) {
	doc := newDocument("text/html")
	s, ok := decodeInto(&doc, data, decodeHTML)
	if !ok {
		return doc, nil
	}
	fields, body, err := splitJSONComment(s)
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
	doc.ACL = fm.acl
	if fm.redirect {
		doc.Title = fm.title
		doc.Skip = SkipRedirect
		return doc, nil
	}
	if fm.template {
		body = expandDirectives(body, fields, true)
	}
	var root *html.Node
	err = errTooManyElements
	if countTags(body) <= maxHTMLElements {
		root, err = html.Parse(strings.NewReader(body))
	}
	if err != nil {
		// x/net/html refuses elements nested more than 512 deep (and fails on nothing else
		// from a string), and a tree of millions of elements would take gigabytes: read
		// such a page's text without its structure.
		title, paras := htmlTextOnly(body)
		if fm.title != "" {
			title = fm.title
		}
		var e emitter
		for _, p := range paras {
			e.paragraph(paragraphText(p, !fm.template))
		}
		doc.Document = e.document(textnorm.CollapseLine(title))
		addNote(&doc, fmt.Sprintf("HTML read as text without its structure: %v", err))
		return finish(doc), nil
	}
	for k, v := range pageMetadata(root) {
		if _, ok := doc.Metadata[k]; !ok {
			doc.Metadata[k] = v
		}
	}
	if doc.URL == "" && doc.URLRefused == "" {
		// The page's canonical link, when its front matter gives no url.
		if href, ok := canonicalLink(root); ok {
			doc.URL, doc.URLRefused = documentURL(href, true)
		}
	}

	w := newHTMLWalker(&emitter{}, !fm.template)
	content := mainContent(root)
	w.walk(content)
	w.flush()
	if body := findElement(root, atom.Body); len(w.e.b.blocks) == 0 && content != body && body != nil {
		// The main element is empty (filled in by script, say): take the whole body.
		w = newHTMLWalker(&emitter{}, !fm.template)
		w.walk(body)
	}
	title := fm.title
	if title == "" {
		if t := findElement(root, atom.Title); t != nil {
			title = textnorm.CollapseLine(textContent(t))
		}
	}
	if title == "" {
		title = w.h1
	}
	doc.Document = w.document(title)
	return finish(doc), nil
}

// htmlWalker walks an HTML tree and emits its blocks.
type htmlWalker struct {
	e            *emitter
	stripActions bool            // remove template actions from text outside code
	inline       strings.Builder // running text not yet emitted, with markers
	lists        []htmlList      // open <ul>/<ol>, innermost last
	sections     int             // depth inside <article>, <main> or <section>
	code         int             // depth inside inline code (<code>, <kbd>, ...)
	h1           string          // the text of the first <h1>
}

type htmlList struct {
	ordered bool
	next    int // the number of the next item of an ordered list
}

func newHTMLWalker(e *emitter, stripActions bool) *htmlWalker {
	return &htmlWalker{e: e, stripActions: stripActions}
}

// document emits the pending text and returns the document.
func (w *htmlWalker) document(title string) chunk.Document {
	w.flush()
	return w.e.document(title)
}

// flush emits the pending running text as a paragraph.
func (w *htmlWalker) flush() {
	if w.inline.Len() == 0 {
		return
	}
	s := w.inline.String()
	w.inline.Reset()
	w.e.paragraph(paragraphText(s, w.stripActions))
}

func (w *htmlWalker) walk(n *html.Node) {
	if n == nil {
		return
	}
	switch n.Type {
	case html.TextNode:
		w.inline.WriteString(sanitize(n.Data))
		return
	case html.DocumentNode:
		w.children(n)
		return
	case html.ElementNode:
	default: // comments, doctypes
		return
	}
	if w.dropped(n) {
		return
	}
	switch a := n.DataAtom; a {
	case atom.Br:
		w.inline.WriteByte(hardBreak)
	case atom.Img:
		if alt := strings.TrimSpace(attr(n, "alt")); alt != "" {
			w.inline.WriteString(" " + sanitize(alt) + " ")
		}
	case atom.H1, atom.H2, atom.H3, atom.H4, atom.H5, atom.H6:
		w.flush()
		level := int(n.Data[1] - '0')
		text := lineText(w.collect(n), w.stripActions)
		if level == 1 && w.h1 == "" {
			w.h1 = text
		}
		w.e.block(chunk.Heading, level, text)
	case atom.Pre, atom.Listing, atom.Xmp, atom.Plaintext:
		w.flush()
		w.e.block(chunk.Code, 0, codeText(textContent(n)))
	case atom.Table:
		w.flush()
		w.table(n)
	case atom.Ul, atom.Ol, atom.Menu, atom.Dir:
		w.flush()
		l := htmlList{ordered: a == atom.Ol, next: 1}
		if v, err := strconv.Atoi(attr(n, "start")); err == nil {
			l.next = v
		}
		w.lists = append(w.lists, l)
		w.children(n)
		w.flush()
		w.lists = w.lists[:len(w.lists)-1]
	case atom.Li:
		w.flush()
		w.e.openItem(w.marker(n))
		w.children(n)
		w.flush()
		w.e.closeItem()
	case atom.Code, atom.Kbd, atom.Samp, atom.Tt:
		w.inlineCode(n)
	case atom.Article, atom.Main, atom.Section:
		w.flush()
		w.sections++
		w.children(n)
		w.sections--
		w.flush()
	default:
		if isBlockElement(a) {
			w.flush()
			w.children(n)
			w.flush()
		} else {
			w.children(n)
		}
	}
}

func (w *htmlWalker) children(n *html.Node) {
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		w.walk(c)
	}
}

// inlineCode walks inline code, protected from template action removal.
func (w *htmlWalker) inlineCode(n *html.Node) {
	if w.code == 0 {
		w.inline.WriteByte(protectStart)
	}
	w.code++
	w.children(n)
	w.code--
	if w.code == 0 {
		w.inline.WriteByte(protectEnd)
	}
}

// marker returns the prefix of a list item: "- ", or "N. " in an ordered list.
func (w *htmlWalker) marker(li *html.Node) string {
	if len(w.lists) == 0 {
		return "- "
	}
	l := &w.lists[len(w.lists)-1]
	if !l.ordered {
		return "- "
	}
	if v, err := strconv.Atoi(attr(li, "value")); err == nil {
		l.next = v
	}
	m := strconv.Itoa(l.next) + ". "
	l.next++
	return m
}

// collect returns the running text of n's subtree, with markers, as for a heading or a
// table cell: dropped elements are left out and block boundaries become spaces.
func (w *htmlWalker) collect(n *html.Node) string {
	var b strings.Builder
	var rec func(n *html.Node, code bool)
	rec = func(n *html.Node, code bool) {
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			switch c.Type {
			case html.TextNode:
				b.WriteString(sanitize(c.Data))
				continue
			case html.ElementNode:
			default:
				continue
			}
			if w.dropped(c) {
				continue
			}
			switch a := c.DataAtom; {
			case a == atom.Br:
				b.WriteByte(hardBreak)
			case a == atom.Img:
				if alt := strings.TrimSpace(attr(c, "alt")); alt != "" {
					b.WriteString(" " + sanitize(alt) + " ")
				}
			case !code && (a == atom.Code || a == atom.Kbd || a == atom.Samp || a == atom.Tt || a == atom.Pre):
				b.WriteByte(protectStart)
				rec(c, true)
				b.WriteByte(protectEnd)
			case isBlockElement(a) || a == atom.Td || a == atom.Th || a == atom.Tr || a == atom.Li:
				b.WriteByte(' ')
				rec(c, code)
				b.WriteByte(' ')
			default:
				rec(c, code)
			}
		}
	}
	rec(n, false)
	return b.String()
}

// table emits a table's caption as a paragraph and its rows as one Table block (see
// tableText), header rows (<thead>) first and footer rows last. Rows of nested tables stay
// inside their cell's text.
func (w *htmlWalker) table(t *html.Node) {
	var head, body, foot [][]string
	var caption string
	var rows func(n *html.Node, dst *[][]string)
	rows = func(n *html.Node, dst *[][]string) {
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			if c.Type != html.ElementNode || w.dropped(c) {
				continue
			}
			switch c.DataAtom {
			case atom.Caption:
				caption = lineText(w.collect(c), w.stripActions)
			case atom.Thead:
				rows(c, &head)
			case atom.Tfoot:
				rows(c, &foot)
			case atom.Tbody:
				rows(c, dst)
			case atom.Tr:
				*dst = append(*dst, w.row(c))
			}
		}
	}
	rows(t, &body)
	w.e.paragraph(caption)
	w.e.block(chunk.Table, 0, tableText(append(append(head, body...), foot...)))
}

// row returns the text of a row's cells.
func (w *htmlWalker) row(tr *html.Node) []string {
	var cells []string
	for c := tr.FirstChild; c != nil; c = c.NextSibling {
		if c.Type == html.ElementNode && (c.DataAtom == atom.Td || c.DataAtom == atom.Th) && !w.dropped(c) {
			cells = append(cells, lineText(w.collect(c), w.stripActions))
		}
	}
	return cells
}

// tableText renders table rows as text: a line per row, cells separated by " | ". Rows
// whose cells are all empty (spacers, rules) are left out, and so are columns empty in every
// row (layout padding); an empty cell elsewhere keeps its place, so that columns line up.
func tableText(rows [][]string) string {
	width := 0
	for _, r := range rows {
		width = max(width, len(r))
	}
	used := make([]bool, width)
	for _, r := range rows {
		for i, c := range r {
			used[i] = used[i] || c != ""
		}
	}
	var b strings.Builder
	for _, r := range rows {
		if !slices.ContainsFunc(r, func(c string) bool { return c != "" }) {
			continue
		}
		var cells []string
		for i, c := range r {
			if used[i] {
				cells = append(cells, c)
			}
		}
		if b.Len() > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(strings.TrimRight(strings.Join(cells, " | "), " "))
	}
	return b.String()
}

// dropped reports whether an element is not main content.
func (w *htmlWalker) dropped(n *html.Node) bool {
	switch n.DataAtom {
	case atom.Script, atom.Style, atom.Noscript, atom.Template, atom.Nav, atom.Aside,
		atom.Button, atom.Svg, atom.Iframe, atom.Head, atom.Object, atom.Embed, atom.Canvas,
		atom.Select, atom.Input, atom.Textarea, atom.Audio, atom.Video, atom.Datalist,
		atom.Frameset, atom.Frame, atom.Dialog, atom.Footer, atom.Title:
		return true
	case atom.Header:
		// A page header (logo, menu) is boilerplate; the header of an article or section
		// holds its heading.
		return w.sections == 0
	case atom.Form:
		// Search and login forms go; a form that wraps the whole page (ASP.NET Web Forms
		// does that) holds the content.
		return !containsContent(n)
	}
	if n.Namespace == "svg" {
		return true
	}
	if isHidden(n) { // hidden="until-found" is content: in-page search reveals it
		return true
	}
	for _, a := range n.Attr {
		switch a.Key {
		case "role":
			switch strings.ToLower(strings.TrimSpace(a.Val)) {
			case "navigation", "search", "banner", "contentinfo", "complementary":
				return true
			}
		case "style":
			style := strings.ToLower(strings.Join(strings.Fields(a.Val), ""))
			if strings.Contains(style, "display:none") || strings.Contains(style, "visibility:hidden") {
				return true
			}
		}
	}
	return false
}

// containsContent reports whether n has a main-content element or a top-level heading
// inside it.
func containsContent(n *html.Node) bool {
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if c.Type != html.ElementNode {
			continue
		}
		switch c.DataAtom {
		case atom.Main, atom.Article, atom.H1, atom.H2:
			return true
		}
		if attr(c, "role") == "main" || containsContent(c) {
			return true
		}
	}
	return false
}

// mainContent returns the element holding the page's main content: the first visible
// <main>, else the first element with role="main", else the only <article>, else <body>.
func mainContent(root *html.Node) *html.Node {
	var mainEl, roleMain *html.Node
	var articles []*html.Node
	var visit func(n *html.Node)
	visit = func(n *html.Node) {
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			if c.Type != html.ElementNode {
				continue
			}
			if c.DataAtom == atom.Template || c.DataAtom == atom.Head || isHidden(c) {
				continue
			}
			switch {
			case c.DataAtom == atom.Main && mainEl == nil:
				mainEl = c
			case strings.EqualFold(attr(c, "role"), "main") && roleMain == nil:
				roleMain = c
			case c.DataAtom == atom.Article:
				articles = append(articles, c)
			}
			visit(c)
		}
	}
	visit(root)
	switch {
	case mainEl != nil:
		return mainEl
	case roleMain != nil:
		return roleMain
	case len(articles) == 1:
		return articles[0]
	}
	if body := findElement(root, atom.Body); body != nil {
		return body
	}
	return root
}

// isHidden reports whether an element is hidden by its attributes (see dropped).
func isHidden(n *html.Node) bool {
	for _, a := range n.Attr {
		switch a.Key {
		case "hidden":
			if !strings.EqualFold(a.Val, "until-found") {
				return true
			}
		case "aria-hidden":
			if strings.EqualFold(strings.TrimSpace(a.Val), "true") {
				return true
			}
		}
	}
	return false
}

// pageMetadata returns what the page says about itself: its language and description.
func pageMetadata(root *html.Node) map[string]any {
	m := map[string]any{}
	if h := findElement(root, atom.Html); h != nil {
		if lang := strings.TrimSpace(attr(h, "lang")); lang != "" {
			m["lang"] = lang
		}
	}
	var visit func(n *html.Node)
	visit = func(n *html.Node) {
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			if c.Type == html.ElementNode && c.DataAtom == atom.Meta {
				name := strings.ToLower(attr(c, "name"))
				if name == "description" || name == "author" || name == "keywords" {
					if v := textnorm.CollapseLine(attr(c, "content")); v != "" {
						m[name] = v
					}
				}
			}
			visit(c)
		}
	}
	if head := findElement(root, atom.Head); head != nil {
		visit(head)
	}
	return m
}

// canonicalLink returns the href of the page's first <link rel="canonical"> in its head.
func canonicalLink(root *html.Node) (string, bool) {
	head := findElement(root, atom.Head)
	if head == nil {
		return "", false
	}
	for c := head.FirstChild; c != nil; c = c.NextSibling {
		if c.Type != html.ElementNode || c.DataAtom != atom.Link {
			continue
		}
		for _, rel := range strings.Fields(strings.ToLower(attr(c, "rel"))) {
			if rel == "canonical" {
				return attr(c, "href"), true
			}
		}
	}
	return "", false
}

// findElement returns the first element of kind a in document order, not counting SVG's
// elements (an SVG <title> is not the page's).
func findElement(n *html.Node, a atom.Atom) *html.Node {
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if c.Type != html.ElementNode && c.Type != html.DocumentNode {
			continue
		}
		if c.Namespace != "" {
			continue
		}
		if c.DataAtom == a {
			return c
		}
		if f := findElement(c, a); f != nil {
			return f
		}
	}
	return nil
}

// textContent returns all the text of n's subtree, with <br> as a line break: what <pre>
// and <title> hold.
func textContent(n *html.Node) string {
	var b strings.Builder
	var rec func(n *html.Node)
	rec = func(n *html.Node) {
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			switch {
			case c.Type == html.TextNode:
				b.WriteString(c.Data)
			case c.Type == html.ElementNode && c.DataAtom == atom.Br:
				b.WriteByte('\n')
			case c.Type == html.ElementNode && (c.DataAtom == atom.Script || c.DataAtom == atom.Style):
			default:
				rec(c)
			}
		}
	}
	rec(n)
	return b.String()
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key && a.Namespace == "" {
			return a.Val
		}
	}
	return ""
}

// isBlockElement reports whether an element starts a new block of text.
func isBlockElement(a atom.Atom) bool {
	switch a {
	case atom.Address, atom.Article, atom.Aside, atom.Blockquote, atom.Body, atom.Center,
		atom.Dd, atom.Details, atom.Dialog, atom.Div, atom.Dl, atom.Dt, atom.Fieldset,
		atom.Figcaption, atom.Figure, atom.Footer, atom.Form, atom.H1, atom.H2, atom.H3,
		atom.H4, atom.H5, atom.H6, atom.Header, atom.Hgroup, atom.Hr, atom.Li, atom.Main,
		atom.Menu, atom.Nav, atom.Ol, atom.P, atom.Pre, atom.Section, atom.Summary,
		atom.Table, atom.Ul, atom.Caption, atom.Html, atom.Legend, atom.Option, atom.Search:
		return true
	}
	return false
}

// decodeHTML returns an HTML file's text as UTF-8 and the name of the charset it was
// converted from ("" for UTF-8). See HTML for the rules.
func decodeHTML(data []byte) (string, string) {
	if bytes.HasPrefix(data, []byte("\xEF\xBB\xBF")) || hasUTF16BOM(data) {
		return decodeText(data)
	}
	label := metaCharset(data[:min(len(data), 1024)])
	if label == "" {
		return decodeText(data)
	}
	enc, name := charset.Lookup(label)
	if enc == nil || name == "utf-8" || strings.HasPrefix(name, "utf-16") || name == "replacement" {
		return decodeText(data) // unknown label, UTF-8, or UTF-16 without a BOM (read as UTF-8 per the HTML standard)
	}
	if utf8.Valid(data) && hasNonASCII(data) {
		return decodeText(data)
	}
	out, err := enc.NewDecoder().Bytes(data)
	if err != nil {
		return decodeText(data)
	}
	return normalizeNewlines(string(out)), name
}

// metaCharset returns the charset that a <meta charset> or <meta http-equiv=Content-Type>
// tag in head declares, or "".
func metaCharset(head []byte) string {
	z := html.NewTokenizer(bytes.NewReader(head))
	for {
		switch z.Next() {
		case html.ErrorToken:
			return ""
		case html.StartTagToken, html.SelfClosingTagToken:
			name, hasAttr := z.TagName()
			if string(name) != "meta" || !hasAttr {
				continue
			}
			var cs, equiv, content string
			for {
				k, v, more := z.TagAttr()
				switch strings.ToLower(string(k)) {
				case "charset":
					cs = string(v)
				case "http-equiv":
					equiv = string(v)
				case "content":
					content = string(v)
				}
				if !more {
					break
				}
			}
			if cs = strings.TrimSpace(cs); cs != "" {
				return cs
			}
			if strings.EqualFold(equiv, "content-type") {
				if _, params, err := mime.ParseMediaType(content); err == nil && params["charset"] != "" {
					return params["charset"]
				}
			}
		}
	}
}

func hasNonASCII(data []byte) bool {
	for _, c := range data {
		if c >= utf8.RuneSelf {
			return true
		}
	}
	return false
}

// maxHTMLElements bounds the elements of an HTML document (or of an HTML fragment in
// Markdown) that is parsed into a tree: x/net/html allocates some 200 bytes per element,
// and a page of "<td>" repeated 100 MB deep would need gigabytes. Larger documents are read
// as text without their structure (htmlTextOnly). The largest go.dev page has about 30,000.
const maxHTMLElements = 500_000

var errTooManyElements = errors.New("more than 500,000 elements")

// countTags counts the start and end tags of s, an upper bound on the elements an HTML
// parser builds from it apart from the few it implies (html, head, body, tbody ...).
func countTags(s string) int {
	n := 0
	for i := strings.IndexByte(s, '<'); i >= 0; {
		if i+1 < len(s) {
			c := s[i+1]
			if c == '/' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' {
				n++
			}
		}
		j := strings.IndexByte(s[i+1:], '<')
		if j < 0 {
			break
		}
		i += 1 + j
	}
	return n
}

// htmlTextOnly reads an HTML document with the tokenizer alone, in one pass and without
// building a tree: the text of <title>, and the text outside script, style and the like,
// split into paragraphs at block elements and <br>.
func htmlTextOnly(s string) (title string, paragraphs []string) {
	z := html.NewTokenizer(strings.NewReader(s))
	var para, titleText strings.Builder
	skip := 0 // inside raw-text elements whose content is not text (script, style ...)
	inTitle := false
	flush := func() {
		if t := para.String(); strings.TrimSpace(t) != "" {
			paragraphs = append(paragraphs, t)
		}
		para.Reset()
	}
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			flush()
			return textnorm.CollapseLine(titleText.String()), paragraphs
		case html.TextToken:
			switch {
			case inTitle:
				titleText.Write(z.Text())
			case skip == 0:
				para.WriteString(sanitize(string(z.Text())))
			}
		case html.StartTagToken, html.EndTagToken, html.SelfClosingTagToken:
			name, _ := z.TagName()
			a := atom.Lookup(name)
			switch a {
			case atom.Title:
				inTitle = tt == html.StartTagToken
			case atom.Script, atom.Style, atom.Template, atom.Noscript, atom.Textarea, atom.Svg:
				if tt == html.StartTagToken {
					skip++
				} else if tt == html.EndTagToken && skip > 0 {
					skip--
				}
			case atom.Br:
				para.WriteByte(hardBreak)
			default:
				if isBlockElement(a) || a == atom.Td || a == atom.Th || a == atom.Tr {
					flush()
				}
			}
		}
	}
}
