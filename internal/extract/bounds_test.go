package extract

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestMarkdownNestingBounded: the inputs of issue 9 (finding 10) that took goldmark 15 s to
// minutes are read in one linear pass, nested at most maxMarkdownNesting deep, with their
// text and a note; documents within the limit are untouched.
func TestMarkdownNestingBounded(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, src, last string
	}{
		{"bullets on one line", strings.Repeat("- ", 100_000) + "deepest\n", "deepest"},
		{"block quotes on one line", strings.Repeat("> ", 100_000) + "deepest\n", "deepest"},
		{"ordered on one line", strings.Repeat("1. ", 50_000) + "deepest\n", "deepest"},
		{"mixed on one line", strings.Repeat("> - 1) : ", 20_000) + "deepest\n", "deepest"},
		{"indented list", indentedList(1000), "item 999"},
		{"indented with tabs", strings.ReplaceAll(indentedList(500), "  ", "\t"), "item 499"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var doc Document
			var err error
			checkBudget(t, len(tt.src), func() { doc, err = Markdown([]byte(tt.src)) })
			if err != nil {
				t.Fatal(err)
			}
			checkDocument(t, tt.name, doc)
			if !strings.Contains(doc.Text, tt.last) {
				t.Errorf("the deepest text %q is lost: %.200q", tt.last, doc.Text)
			}
			if note, _ := doc.Metadata[noteKey].(string); !strings.Contains(note, "nested deeper than 32") {
				t.Errorf("note %q", doc.Metadata[noteKey])
			}
			out, changed, bound := limitNesting(tt.src, maxMarkdownNesting)
			if changed == 0 || bound > maxMarkdownNesting {
				t.Errorf("changed %d lines, bound %d", changed, bound)
			}
			if d := markdownDepth(out); d > maxMarkdownNesting {
				t.Errorf("goldmark nests %d containers after the limit", d)
			}
		})
	}
}

func TestLimitNesting(t *testing.T) {
	t.Parallel()
	tests := []struct {
		src, want string
		limit     int
	}{
		// Within the limit: untouched, blank-line and lazy-continuation rules included.
		{"- a\n  - b\n    - c\n", "- a\n  - b\n    - c\n", 3},
		{"> > a\n> > b\n\n- c\n  - d\n", "> > a\n> > b\n\n- c\n  - d\n", 2},
		{"- - - -\n", "- - \\- -\n", 2}, // a thematic break counts as markers: over-counting is safe
		{"- a\n  - b\n    - c\n", "- a\n  - b\n    \\- c\n", 2},
		{"> > > a\n", "> > \\> a\n", 2},
		{"1. 2) 3. a\n", "1. 2) 3\\. a\n", 2},
		{"- a\nb\n  - c\n", "- a\nb\n  \\- c\n", 1}, // "b" may be lazy: the bound keeps the item open
		{"Term\n: a\n  : b\n", "Term\n: a\n  \\: b\n", 1},
		{strings.Repeat(" ", 300) + "- - x\n", strings.Repeat(" ", 132) + "- \\- x\n", 1},
	}
	for _, tt := range tests {
		got, changed, bound := limitNesting(tt.src, tt.limit)
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("limitNesting(%q, %d) (-want +got):\n%s", tt.src, tt.limit, diff)
		}
		if (changed > 0) != (got != tt.src) || bound > tt.limit {
			t.Errorf("limitNesting(%q, %d): changed %d, bound %d", tt.src, tt.limit, changed, bound)
		}
		if d := markdownDepth(got); d > tt.limit {
			t.Errorf("limitNesting(%q, %d): goldmark nests %d", tt.src, tt.limit, d)
		}
	}
}

// TestHTMLBounded: a page nested deeper than x/net/html accepts (which failed before) or with
// more elements than maxHTMLElements is read as text, in one pass, with a note.
func TestHTMLBounded(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"nested 600 deep":   "<title>Deep</title>" + strings.Repeat("<div>", 600) + "<p>the text</p><script>var x</script>",
		"too many elements": "<title>Wide</title>" + strings.Repeat("<td>", maxHTMLElements) + "<p>the text</p>",
	}
	for name, src := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var doc Document
			var err error
			checkBudget(t, len(src), func() { doc, err = HTML([]byte(src)) })
			if err != nil {
				t.Fatal(err)
			}
			checkDocument(t, name, doc)
			if !strings.Contains(doc.Text, "the text") || strings.Contains(doc.Text, "var x") || doc.Title == "" {
				t.Errorf("title %q, text %.200q", doc.Title, doc.Text)
			}
			if note, _ := doc.Metadata[noteKey].(string); !strings.Contains(note, "without its structure") {
				t.Errorf("note %q", doc.Metadata[noteKey])
			}
		})
	}
	// The same in Markdown's HTML blocks.
	doc, err := Markdown([]byte("# Page\n\n<div>\n" + strings.Repeat("<div>", 600) + "deep text\n"))
	if err != nil || !strings.Contains(doc.Text, "deep text") {
		t.Errorf("Markdown with a deep HTML block: %v, text %q", err, doc.Text)
	}
}

// TestJSONLRecordBounded: a JSON Lines record is decoded in the run, not in a child, because
// its cost is bounded by its size: encoding/json is linear and stops nesting at 10,000.
func TestJSONLRecordBounded(t *testing.T) {
	t.Parallel()
	deep := strings.Repeat("[", 9_999) + strings.Repeat("]", 9_999)
	records := map[string]string{
		"deep metadata": `{"id":1,"metadata":{"x":` + deep + `}}`,
		"too deep":      `{"id":1,"x":` + strings.Repeat("[", 20_000) + strings.Repeat("]", 20_000) + `}`,
		"long text":     `{"id":1,"text":"` + strings.Repeat("word ", 400_000) + `"}`,
		"many fields":   `{"id":1` + strings.Repeat(`,"k":1`, 100_000) + `}`,
		"many distinct": fmt.Sprintf(`{"id":1%s}`, manyKeys(50_000)),
		"escapes":       `{"id":1,"text":"` + strings.Repeat(`\u00e9\n\n`, 100_000) + `"}`,
		"long number":   `{"id":1,"n":` + strings.Repeat("9", 500_000) + `}`,
	}
	for name, rec := range records {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var doc Document
			var err error
			checkBudget(t, len(rec), func() { doc, err = JSONLRecord([]byte(rec)) })
			if err == nil {
				checkDocument(t, name, doc)
			}
		})
	}
}

func manyKeys(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, `,"k%d":%d`, i, i)
	}
	return b.String()
}
