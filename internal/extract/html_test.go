package extract

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestHTMLStructure(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		in    string
		title string
		want  []blk
	}{
		{
			name:  "boilerplate dropped",
			title: "Page title",
			in: `<!DOCTYPE html><html><head><title>Page  title</title><style>body{}</style><script>var x = 1;</script></head>
<body>
<header><a href="/">Logo</a><nav><ul><li><a href="/a">Menu A</a></li></ul></nav></header>
<aside>Related links</aside>
<h1>Heading</h1>
<p>First <b>paragraph</b>
   over two lines.</p>
<form action="/search"><input name="q"><button>Search</button></form>
<noscript>Enable JavaScript</noscript>
<template><p>Template content</p></template>
<iframe src="ad.html">Ad</iframe>
<svg><text>chart label</text></svg>
<p hidden>Hidden text</p>
<div aria-hidden="true">Screen readers skip this</div>
<div style="display: none">Invisible</div>
<div role="navigation">Breadcrumbs</div>
<footer>Copyright 2025</footer>
</body></html>`,
			want: []blk{h(1, "Heading"), p("First paragraph over two lines.")},
		},
		{
			name:  "main preferred over body",
			title: "Main heading",
			in:    `<body><div class="sidebar"><p>Sidebar text</p></div><main><h1>Main heading</h1><p>Main text.</p></main><div>After main</div></body>`,
			want:  []blk{h(1, "Main heading"), p("Main text.")},
		},
		{
			name: "role=main",
			in:   `<body><div>Chrome</div><div role="main"><p>The content.</p></div></body>`,
			want: []blk{p("The content.")},
		},
		{
			name: "single article, with its header kept",
			in:   `<body><header>Site</header><article><header><h2>Post</h2></header><p>Post text.</p><footer>Tags: x</footer></article><div>Comments</div></body>`,
			want: []blk{h(2, "Post"), p("Post text.")},
		},
		{
			name: "several articles: the body",
			in:   `<body><article><p>One.</p></article><article><p>Two.</p></article></body>`,
			want: []blk{p("One."), p("Two.")},
		},
		{
			name: "empty main falls back to body",
			in:   `<body><main></main><div><p>Rendered elsewhere.</p></div></body>`,
			want: []blk{p("Rendered elsewhere.")},
		},
		{
			name:  "form wrapping the page is kept",
			title: "Report",
			in:    `<body><form id="aspnetForm"><h1>Report</h1><p>Quarterly numbers.</p><input type="hidden" value="x"></form></body>`,
			want:  []blk{h(1, "Report"), p("Quarterly numbers.")},
		},
		{
			name: "headings, div text, line breaks",
			in:   `<h2>Two</h2><div>Loose div text<br>on two lines</div><h3>Three <small>(note)</small></h3><h6>Six</h6>`,
			want: []blk{h(2, "Two"), p("Loose div text\non two lines"), h(3, "Three (note)"), h(6, "Six")},
		},
		{
			name: "lists",
			in: `<ul><li>one</li><li>two<ul><li>two.a</li></ul>after nested</li></ul>
<ol start="3"><li><p>third</p><p>more third</p></li><li value="10">tenth</li><li>eleventh</li></ol>`,
			want: []blk{
				li("- one"), li("- two"), li("- two.a"), li("after nested"),
				li("3. third\n\nmore third"), li("10. tenth"), li("11. eleventh"),
			},
		},
		{
			name: "pre kept verbatim",
			in:   "<p>Run:</p><pre>\n\t$ go   build\n\t$ ./hello &amp;&amp; echo ok\n\t\tindented\n</pre>",
			want: []blk{p("Run:"), code("$ go   build\n$ ./hello && echo ok\n\tindented")},
		},
		{
			name: "table with header, body and footer",
			in: `<table><caption>Moved packages</caption>
<tfoot><tr><td>total</td><td>2</td></tr></tfoot>
<tbody><tr><td><code>asn1</code></td><td>encoding/asn1</td></tr><tr><td colspan="2"><hr></td></tr><tr><td>csv</td><td>encoding/<b>csv</b></td></tr></tbody>
<thead><tr><th>Old path</th><th>New path</th></tr></thead>
</table>`,
			want: []blk{p("Moved packages"), table("Old path | New path\nasn1 | encoding/asn1\ncsv | encoding/csv\ntotal | 2")},
		},
		{
			name: "empty columns dropped, empty cells kept in place",
			in:   `<table><tr><td></td><th>OS</th><th>Arch</th><th>Note</th></tr><tr><td> </td><td>linux</td><td></td><td>all</td></tr><tr><td></td><td>aix</td><td>ppc64</td><td></td></tr></table>`,
			want: []blk{table("OS | Arch | Note\nlinux |  | all\naix | ppc64 |")},
		},
		{
			name: "nested table stays in its cell",
			in:   `<table><tr><td>outer</td><td><table><tr><td>in1</td><td>in2</td></tr></table></td></tr></table>`,
			want: []blk{table("outer | in1 in2")},
		},
		{
			name: "inline code and images",
			in:   `<p>Call <code>fmt.Println</code> <img src="x.png" alt="a gopher"> now.</p><p><img src="decor.png" alt=""></p>`,
			want: []blk{p("Call fmt.Println a gopher now.")},
		},
		{
			name: "entities and whitespace",
			in:   "<p>caf&eacute; &nbsp; &lt;tag&gt; &#8212; ok&shy;ay</p>",
			want: []blk{p("café <tag> — okay")},
		},
		{
			name: "block quote and definition list",
			in:   `<blockquote><p>Quoted.</p></blockquote><dl><dt>Term</dt><dd>Definition.</dd></dl>`,
			want: []blk{p("Quoted."), p("Term"), p("Definition.")},
		},
		{
			name:  "title from h1 without title element",
			title: "First",
			in:    `<h1>First</h1><h1>Second</h1>`,
			want:  []blk{h(1, "First"), h(1, "Second")},
		},
		{
			name: "svg title is not the page title",
			in:   `<body><svg><title>icon</title></svg><p>Body.</p></body>`,
			want: []blk{p("Body.")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			doc, err := HTML([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			checkDocument(t, tt.name, doc)
			if diff := cmp.Diff(tt.want, blocksOf(doc)); diff != "" {
				t.Errorf("blocks (-want +got):\n%s", diff)
			}
			if doc.Title != tt.title {
				t.Errorf("Title = %q, want %q", doc.Title, tt.title)
			}
			if doc.ContentType != "text/html" {
				t.Errorf("ContentType = %q", doc.ContentType)
			}
		})
	}
}

func TestHTMLGoDevFragment(t *testing.T) {
	t.Parallel()
	in := `<!--{
	"Title": "Managing Go installations",
	"Template": true,
	"acl": ["group:docs"]
}-->

<p>
This topic describes how to install {{if .Future}}future{{end}} versions.
</p>
{{code "/doc/progs/install.go" ` + "`/START/` `/END/`" + `}}
<pre>
for i := 0; i {{raw "<"}} n; i++ {}
</pre>
<p>The piece <code>{{"{{.Title}}"}}</code> prints {{.Title}}.</p>
`
	doc, err := HTML([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	checkDocument(t, "fragment", doc)
	want := []blk{
		p("This topic describes how to install future versions."),
		code("for i := 0; i < n; i++ {}"),
		p("The piece {{.Title}} prints Managing Go installations."),
	}
	if diff := cmp.Diff(want, blocksOf(doc)); diff != "" {
		t.Errorf("blocks (-want +got):\n%s", diff)
	}
	if doc.Title != "Managing Go installations" {
		t.Errorf("Title = %q", doc.Title)
	}
	if diff := cmp.Diff([]string{"group:docs"}, doc.ACL); diff != "" {
		t.Errorf("ACL (-want +got):\n%s", diff)
	}
	if doc.Metadata["Template"] != true {
		t.Errorf("Metadata = %v", doc.Metadata)
	}

	// Not a template: actions in text are removed, code keeps its braces.
	doc, err = HTML([]byte("<h1>Editing {{.Title}}</h1>\n<pre>var t = []*T{{}, {}}</pre>\n<p>Use <code>{{.Export}}</code>.</p>"))
	if err != nil {
		t.Fatal(err)
	}
	want = []blk{h(1, "Editing"), code("var t = []*T{{}, {}}"), p("Use {{.Export}}.")}
	if diff := cmp.Diff(want, blocksOf(doc)); diff != "" {
		t.Errorf("non-template blocks (-want +got):\n%s", diff)
	}

	// A redirect stub.
	doc, err = HTML([]byte("<!--{\n\t\"Redirect\": \"/doc/install\"\n}-->\n"))
	if err != nil {
		t.Fatal(err)
	}
	if doc.Skip != SkipRedirect {
		t.Errorf("redirect stub: Skip = %q", doc.Skip)
	}

	// Bad front matter.
	if _, err := HTML([]byte("<!--{ \"Title\": }-->\n<p>x</p>")); ReasonOf(err) != ReasonInvalid {
		t.Errorf("bad front matter: error %v, want reason %q", err, ReasonInvalid)
	}
}

func TestHTMLCharset(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      []byte
		want    string
		charset any
	}{
		{"utf-8 by default", []byte("<p>café — ok</p>"), "café — ok", nil},
		{"meta charset latin-1", []byte("<html><head><meta charset=\"iso-8859-1\"></head><body><p>caf\xe9 \x80</p></body></html>"), "café €", "windows-1252"},
		{"http-equiv", []byte("<head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=windows-1251\"></head><p>\xcf\xf0\xe8\xe2\xe5\xf2</p>"), "Привет", "windows-1251"},
		{"shift_jis", []byte("<meta charset=shift_jis><p>\x93\xfa\x96\x7b</p>"), "日本", "shift_jis"},
		{"mislabelled utf-8 stays utf-8", []byte("<meta charset=\"iso-8859-1\"><p>café</p>"), "café", nil},
		{"meta utf-8", []byte("<meta charset=\"utf-8\"><p>naïve</p>"), "naïve", nil},
		{"undeclared latin-1", []byte("<p>caf\xe9</p>"), "café", "windows-1252"},
		{"utf-8 bom", []byte("\xEF\xBB\xBF<p>bom</p>"), "bom", nil},
		{"utf-16le bom", []byte("\xFF\xFE<\x00p\x00>\x00h\x00i\x00"), "hi", "utf-16le"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			doc, err := HTML(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if doc.Text != tt.want {
				t.Errorf("Text = %q, want %q", doc.Text, tt.want)
			}
			if got := doc.Metadata["charset"]; got != tt.charset {
				t.Errorf("charset = %v, want %v", got, tt.charset)
			}
		})
	}
}

func TestHTMLMetadataAndSkips(t *testing.T) {
	t.Parallel()
	doc, err := HTML([]byte(`<html lang="en"><head><meta name="description" content=" A  page. "><meta name="viewport" content="x"></head><body><p>x1</p></body></html>`))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]any{"lang": "en", "description": "A page."}, doc.Metadata); diff != "" {
		t.Errorf("Metadata (-want +got):\n%s", diff)
	}
	if doc.ACL != nil {
		t.Errorf("ACL = %#v, want nil", doc.ACL)
	}
	for name, in := range map[string]string{
		"empty":            "",
		"whitespace":       "  \n ",
		"only boilerplate": "<html><head><title>T</title></head><body><nav>menu</nav><script>x()</script></body></html>",
	} {
		doc, err := HTML([]byte(in))
		if err != nil {
			t.Fatal(err)
		}
		if doc.Skip != SkipEmpty {
			t.Errorf("%s: Skip = %q, want %q", name, doc.Skip, SkipEmpty)
		}
	}
	doc, err = HTML([]byte("\x00\x01\x02\x03binary"))
	if err != nil || doc.Skip != SkipBinary {
		t.Errorf("binary: Skip = %q, err %v", doc.Skip, err)
	}
	if strings.Contains(doc.Text, "binary") {
		t.Error("binary content extracted")
	}
}
