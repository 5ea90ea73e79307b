package extract

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/docent-rag/docent/internal/chunk"
)

// blk is a block with its text, for comparing extraction results.
type blk struct {
	Kind  chunk.Kind
	Level int
	Text  string
}

func blocksOf(doc Document) []blk {
	var out []blk
	for _, b := range doc.Blocks {
		out = append(out, blk{b.Kind, b.Level, doc.Text[b.Start:b.End]})
	}
	return out
}

func h(level int, text string) blk { return blk{chunk.Heading, level, text} }
func p(text string) blk            { return blk{chunk.Paragraph, 0, text} }
func li(text string) blk           { return blk{chunk.ListItem, 0, text} }
func code(text string) blk         { return blk{chunk.Code, 0, text} }
func table(text string) blk        { return blk{chunk.Table, 0, text} }

func TestMarkdownFrontMatter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		in       string
		title    string
		metadata map[string]any
		acl      []string
		skip     string
	}{
		{
			name:     "yaml",
			in:       "---\ntitle: Go Turns 10\ndate: 2019-11-08\nby:\n- Russ Cox\nacl: [group:eng, public]\n---\n\nHappy birthday.\n",
			title:    "Go Turns 10",
			metadata: map[string]any{"title": "Go Turns 10", "date": "2019-11-08", "by": []any{"Russ Cox"}, "acl": []any{"group:eng", "public"}},
			acl:      []string{"group:eng", "public"},
		},
		{
			name:     "yaml closed with dots, crlf",
			in:       "---\r\nTitle: Dots\r\n...\r\nBody text.\r\n",
			title:    "Dots",
			metadata: map[string]any{"Title": "Dots"},
		},
		{
			name:     "toml",
			in:       "+++\ntitle = \"TOML page\"\ndate = 2024-05-01\nacl = \"group:ops\"\n[params]\nweight = 3\n+++\n\nBody.\n",
			title:    "TOML page",
			metadata: map[string]any{"title": "TOML page", "date": "2024-05-01", "acl": "group:ops", "params": map[string]any{"weight": int64(3)}},
			acl:      []string{"group:ops"},
		},
		{
			name:     "json comment as go.dev writes it",
			in:       "<!--{\n  \"Title\": \"Managing dependencies\",\n  \"Template\": true,\n  \"Breadcrumb\": true\n}-->\n\nBody.\n",
			title:    "Managing dependencies",
			metadata: map[string]any{"Title": "Managing dependencies", "Template": true, "Breadcrumb": true},
		},
		{
			name:     "yaml redirect stub",
			in:       "---\nredirect: /blog/appengine\n---\n",
			metadata: map[string]any{"redirect": "/blog/appengine"},
			skip:     SkipRedirect,
		},
		{
			name:     "json redirect stub",
			in:       "<!--{\n\t\"Redirect\": \"/doc/modules/managing-dependencies\"\n}-->\n",
			metadata: map[string]any{"Redirect": "/doc/modules/managing-dependencies"},
			skip:     SkipRedirect,
		},
		{
			name:     "empty acl list is not nil",
			in:       "---\nacl: []\n---\ntext\n",
			metadata: map[string]any{"acl": []any{}},
			acl:      []string{},
		},
		{
			name:     "title from first h1 when front matter has none",
			in:       "---\nauthor: x\n---\n\nIntro.\n\n## Sub\n\n# The Title\n\n# Second\n",
			title:    "The Title",
			metadata: map[string]any{"author": "x"},
		},
		{
			name:     "no title",
			in:       "## Only a level-2 heading\n\ntext\n",
			metadata: map[string]any{},
		},
		{
			name:     "unclosed dashes are a thematic break, not front matter",
			in:       "---\n\nSome text.\n",
			metadata: map[string]any{},
		},
		{
			name:     "setext h1 title",
			in:       "Setext *Title*\n=============\n\ntext\n",
			title:    "Setext Title",
			metadata: map[string]any{},
		},
		{
			name:     "empty body",
			in:       "---\ntitle: Nothing here\n---\n\n<!-- just a comment -->\n",
			title:    "Nothing here",
			metadata: map[string]any{"title": "Nothing here"},
			skip:     SkipEmpty,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			doc, err := Markdown([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			checkDocument(t, tt.name, doc)
			if doc.Title != tt.title {
				t.Errorf("Title = %q, want %q", doc.Title, tt.title)
			}
			if diff := cmp.Diff(tt.metadata, doc.Metadata); diff != "" {
				t.Errorf("Metadata (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.acl, doc.ACL); diff != "" || (tt.acl == nil) != (doc.ACL == nil) {
				t.Errorf("ACL = %#v, want %#v", doc.ACL, tt.acl)
			}
			if doc.Skip != tt.skip {
				t.Errorf("Skip = %q, want %q", doc.Skip, tt.skip)
			}
			if doc.ContentType != "text/markdown" {
				t.Errorf("ContentType = %q", doc.ContentType)
			}
		})
	}
}

func TestMarkdownFrontMatterErrors(t *testing.T) {
	t.Parallel()
	tests := map[string]struct{ in, want string }{
		"yaml syntax":     {"---\ntitle: ok\nbad: : x\n---\ntext", "YAML front matter: line 3"},
		"toml syntax":     {"+++\ntitle = \"x\"\nbad line\n+++\ntext", "TOML front matter: line 3"},
		"json syntax":     {"<!--{\n  \"Title\": \"x\",\n  \"Template\": tru\n}-->\ntext", "JSON front matter: line 3"},
		"json not closed": {"<!--{ \"Title\": \"x\" }\n\ntext", "not closed"},
		"acl not strings": {"---\nacl: [1, 2]\n---\ntext", "acl: item 1 is a number"},
		"acl null":        {"---\nacl:\n---\ntext", "acl has no value"},
		"acl mapping":     {"---\nacl: {a: b}\n---\ntext", "acl is a mapping"},
		"acl empty tag":   {"---\nacl: ['  ']\n---\ntext", "item 1 is empty"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := Markdown([]byte(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want one containing %q", err, tt.want)
			}
			if ReasonOf(err) != ReasonInvalid {
				t.Errorf("reason = %q, want %q", ReasonOf(err), ReasonInvalid)
			}
		})
	}
}

func TestMarkdownStructure(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want []blk
	}{
		{
			name: "headings and paragraphs",
			in:   "# One\n\ntext  with\nsoft breaks\n\n## Two {#two}\n\n### Three ###\n\n#### Four\n\n##### Five\n\n###### Six\n",
			want: []blk{h(1, "One"), p("text with soft breaks"), h(2, "Two"), h(3, "Three"), h(4, "Four"), h(5, "Five"), h(6, "Six")},
		},
		{
			name: "hard breaks stay line breaks",
			in:   "Roses are red,  \nviolets are blue\\\nand so on.\n",
			want: []blk{p("Roses are red,\nviolets are blue\nand so on.")},
		},
		{
			name: "inline formatting",
			in:   "Some *emphasis*, **strong**, ~~gone~~, `code  span`, [a link](https://x.y \"t\"), ![alt text](i.png), <https://auto.link>, a &amp; b &copy; \\*not em\\*.\n",
			want: []blk{p("Some emphasis, strong, gone, code span, a link, alt text, https://auto.link, a & b © *not em*.")},
		},
		{
			name: "reference links",
			in:   "See [the spec][spec] and [faq].\n\n[spec]: https://go.dev/ref/spec\n[faq]: /doc/faq\n",
			want: []blk{p("See the spec and faq.")},
		},
		{
			name: "nested lists",
			in:   "- one\n- two\n  - two.a\n  - two.b\n\n    more of two.b\n- three\n\n3. third\n4. fourth\n   1. inner\n",
			want: []blk{
				li("- one"), li("- two"), li("- two.a"), li("- two.b\n\nmore of two.b"), li("- three"),
				li("3. third"), li("4. fourth"), li("1. inner"),
			},
		},
		{
			name: "list item interrupted by code",
			in:   "1. Run:\n\n   ```\n   go mod init example.com/m\n   ```\n\n   Then build.\n2. Done.\n",
			want: []blk{li("1. Run:"), code("go mod init example.com/m"), li("Then build."), li("2. Done.")},
		},
		{
			name: "fenced code kept verbatim",
			in:   "```go\nfunc main() {\n\tif x  {\n\t\treturn   // keep   spacing\n\t}\n}\n```\n",
			want: []blk{code("func main() {\n\tif x  {\n\t\treturn   // keep   spacing\n\t}\n}")},
		},
		{
			name: "indented code",
			in:   "Text:\n\n\tfor i := 0; i < 3; i++ {\n\t\tfmt.Println(i)\n\t}\n",
			want: []blk{p("Text:"), code("for i := 0; i < 3; i++ {\n\tfmt.Println(i)\n}")},
		},
		{
			name: "code is not unescaped",
			in:   "```\na &amp; b \\* <b>\n```\n",
			want: []blk{code("a &amp; b \\* <b>")},
		},
		{
			name: "gfm table",
			in:   "| Name | Value |\n|------|------:|\n| *a*  | 1 |\n| b \\| c | `2` |\n|  |  |\n",
			want: []blk{table("Name | Value\na | 1\nb | c | 2")},
		},
		{
			name: "gfm table with an empty column and a short row",
			in:   "| | a | b |\n|-|---|---|\n| | 1 |\n| | 2 | 3 |\n",
			want: []blk{table("a | b\n1 |\n2 | 3")},
		},
		{
			name: "block quote",
			in:   "> Quoted *text*\n> continues.\n>\n> > nested\n",
			want: []blk{p("Quoted text continues."), p("nested")},
		},
		{
			name: "definition list",
			in:   "[archive/tar](/pkg/archive/tar/)\n\n:   <!-- https://go.dev/issue/58000 -->\n    The new method `Writer.AddFS` adds files.\n",
			want: []blk{p("archive/tar"), p("The new method Writer.AddFS adds files.")},
		},
		{
			name: "dashes around text that is not yaml mapping: markdown",
			in:   "---\nA setext heading\n---\n\n- a\n",
			want: []blk{h(2, "A setext heading"), li("- a")},
		},
		{
			name: "thematic break and punctuation-only text dropped",
			in:   "a\n\n***\n\n--\n\nb\n",
			want: []blk{p("a"), p("b")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			doc, err := Markdown([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			checkDocument(t, tt.name, doc)
			if diff := cmp.Diff(tt.want, blocksOf(doc)); diff != "" {
				t.Errorf("blocks (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMarkdownHTML(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want []blk
	}{
		{
			name: "html block becomes blocks",
			in:   "Intro.\n\n<div class=\"note\">\n<p>A <b>bold</b> note.</p>\n<ul><li>first</li><li>second</li></ul>\n</div>\n\nAfter.\n",
			want: []blk{p("Intro."), p("A bold note."), li("- first"), li("- second"), p("After.")},
		},
		{
			name: "html table",
			in:   "<table>\n<tr><th>Old</th><th>New</th></tr>\n<tr><td><code>asn1</code></td><td>encoding/asn1</td></tr>\n</table>\n",
			want: []blk{table("Old | New\nasn1 | encoding/asn1")},
		},
		{
			name: "html pre",
			in:   "<pre>\n$ <b>go</b> build\n$ ./hello\n</pre>\n",
			want: []blk{code("$ go build\n$ ./hello")},
		},
		{
			name: "inline html in a paragraph",
			in:   "Press <kbd>Ctrl</kbd>+<kbd>C</kbd> to stop<br>the server, H<sub>2</sub>O &lt;ok&gt;.\n",
			want: []blk{p("Press Ctrl+C to stop\nthe server, H2O <ok>.")},
		},
		{
			name: "inline html in a heading",
			in:   "## The <code>go</code> command\n",
			want: []blk{h(2, "The go command")},
		},
		{
			name: "comments and scripts dropped",
			in:   "<!-- TODO: write more -->\n\nText <!-- inline comment --> here.\n\n<script>alert(1)</script>\n\n<style>p{}</style>\n",
			want: []blk{p("Text here.")},
		},
		{
			name: "markdown inside html blocks",
			in:   "<div class=\"x\">\n\nSome *markdown* here.\n\n</div>\n",
			want: []blk{p("Some markdown here.")},
		},
		{
			name: "html h1 gives the title",
			in:   "<h1>Title in HTML</h1>\n\ntext\n",
			want: []blk{h(1, "Title in HTML"), p("text")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			doc, err := Markdown([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			checkDocument(t, tt.name, doc)
			if diff := cmp.Diff(tt.want, blocksOf(doc)); diff != "" {
				t.Errorf("blocks (-want +got):\n%s", diff)
			}
			if strings.HasPrefix(tt.name, "html h1") && doc.Title != "Title in HTML" {
				t.Errorf("Title = %q", doc.Title)
			}
		})
	}
}

func TestMarkdownTemplateDirectives(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want []blk
	}{
		{
			name: "template document",
			in: "---\ntitle: Strings\ntemplate: true\n---\n\n{{donotedit}}\n\n# {{.title}}, bytes\n\n" +
				"The loop is {{raw \"<code>for i < n</code>\"}} here.\n\n" +
				"{{code \"/doc/progs/go1.go\" `/greeting := ..byte/` `/append.*hello/`}}\n\n" +
				"{{image \"strings/image.png\"}}\n\n" +
				"{{if .Minor}}Minor{{else}}Major{{end}} release.\n\n" +
				"\tfor i := 0; i {{raw \"<\"}} len(b)/2; i++ {\n\t}\n\n" +
				"The piece from `{{\"{{if .}}\"}}` prints.\n",
			want: []blk{
				h(1, "Strings, bytes"),
				p("The loop is for i < n here."),
				p("MinorMajor release."),
				code("for i := 0; i < len(b)/2; i++ {\n}"),
				p("The piece from {{if .}} prints."),
			},
		},
		{
			name: "not a template: actions in text go, code keeps its braces",
			in: "{{image \"gif-decoder/image00.jpg\"}}\n\nThe `go list -f '{{.Export}}'` flag, and {{.Title}} here.\n\n" +
				"```\nvar t = [][]int{{1, 2}, {3}}\n{{if eq .A 1}} X {{end}}\n```\n",
			want: []blk{
				p("The go list -f '{{.Export}}' flag, and here."),
				code("var t = [][]int{{1, 2}, {3}}\n{{if eq .A 1}} X {{end}}"),
			},
		},
		{
			name: "directive in inline html of a non-template",
			in:   "<h1>Editing {{.Title}}</h1>\n\n<div>{{printf \"%s\" .Body}}</div>\n",
			want: []blk{h(1, "Editing")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			doc, err := Markdown([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			checkDocument(t, tt.name, doc)
			if diff := cmp.Diff(tt.want, blocksOf(doc)); diff != "" {
				t.Errorf("blocks (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMarkdownSkips(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		in   []byte
		skip string
	}{
		"empty":           {nil, SkipEmpty},
		"whitespace":      {[]byte(" \n\t\n\n  "), SkipEmpty},
		"only a rule":     {[]byte("---\n"), SkipEmpty},
		"binary":          {[]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00"), SkipBinary},
		"text with bom":   {[]byte("\xEF\xBB\xBF# Title\n"), ""},
		"utf-16 with bom": {[]byte("\xFF\xFE#\x00 \x00H\x00i\x00\n\x00"), ""},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			doc, err := Markdown(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if doc.Skip != tt.skip {
				t.Errorf("Skip = %q, want %q (text %q)", doc.Skip, tt.skip, doc.Text)
			}
			if doc.Metadata == nil {
				t.Error("nil Metadata")
			}
		})
	}
}
