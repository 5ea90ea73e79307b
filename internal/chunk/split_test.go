package chunk

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// split parses src in the fixture format (see fixture), splits it, checks the result
// against the contract and returns it.
func split(t *testing.T, src string) (Document, []Chunk) {
	t.Helper()
	fx, err := parseFixture(src)
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(fx.cfg)
	if err != nil {
		t.Fatal(err)
	}
	chunks := c.Split(fx.doc)
	if err := checkChunks(fx.doc, c.Config(), chunks); err != nil {
		t.Fatal(err)
	}
	return fx.doc, chunks
}

type textPath struct {
	Text string
	Path []string
}

func textPaths(chunks []Chunk) []textPath {
	var out []textPath
	for _, c := range chunks {
		out = append(out, textPath{c.Text, c.HeadingPath})
	}
	return out
}

func TestSplitHeadingPath(t *testing.T) {
	t.Parallel()
	_, chunks := split(t, `% config: target=12 max=16 overlap=2 min=1
# Guide
Read this first, it is short.
## Install
Run the installer as root.
### Linux
Use the tarball on Linux.
## Configure
Set the variables you need.
# Appendix
Nothing else to add here.
`)
	want := []textPath{
		{"Guide\n\nRead this first, it is short.", []string{"Guide"}},
		{"Install\n\nRun the installer as root.", []string{"Guide", "Install"}},
		{"Linux\n\nUse the tarball on Linux.", []string{"Guide", "Install", "Linux"}},
		{"Configure\n\nSet the variables you need.", []string{"Guide", "Configure"}}, // level 2 replaces level 2 and deeper
		{"Appendix\n\nNothing else to add here.", []string{"Appendix"}},
	}
	if diff := cmp.Diff(want, textPaths(chunks)); diff != "" {
		t.Errorf("chunks (-want +got):\n%s", diff)
	}
}

func TestSplitPacksSmallSections(t *testing.T) {
	t.Parallel()
	_, chunks := split(t, `% config: target=40 max=60 overlap=4 min=8
# FAQ
## Is it free?
Yes.
## Does it run offline?
Yes, with a local model.
## Who wrote it?
A small team.
`)
	// All sections fit in one chunk: they are packed, and the chunk's path is where it starts.
	want := []textPath{{
		"FAQ\n\nIs it free?\n\nYes.\n\nDoes it run offline?\n\nYes, with a local model.\n\nWho wrote it?\n\nA small team.",
		[]string{"FAQ"},
	}}
	if diff := cmp.Diff(want, textPaths(chunks)); diff != "" {
		t.Errorf("chunks (-want +got):\n%s", diff)
	}
}

func TestSplitStartsAtHeading(t *testing.T) {
	t.Parallel()
	_, chunks := split(t, `% config: target=30 max=40 overlap=4 min=4
## One
The first section has a few words in it, enough to be real.
## Two
The second section is about as long as the first one, not more.
`)
	// Together they exceed the target: each section gets its own chunk, starting at its
	// heading, without overlap.
	want := []textPath{
		{"One\n\nThe first section has a few words in it, enough to be real.", []string{"One"}},
		{"Two\n\nThe second section is about as long as the first one, not more.", []string{"Two"}},
	}
	if diff := cmp.Diff(want, textPaths(chunks)); diff != "" {
		t.Errorf("chunks (-want +got):\n%s", diff)
	}
}

func TestSplitHeadingOnlySectionLeads(t *testing.T) {
	t.Parallel()
	_, chunks := split(t, `% config: target=20 max=24 overlap=2 min=4
# Report
This section has enough words to stand alone here.
## Incidents
### March
The storage failed and the replica took over quickly.
`)
	// "Incidents" has no text of its own: it opens the chunk of its first subsection
	// instead of ending the chunk before it.
	want := []textPath{
		{"Report\n\nThis section has enough words to stand alone here.", []string{"Report"}},
		{"Incidents\n\nMarch\n\nThe storage failed and the replica took over quickly.", []string{"Report", "Incidents"}},
	}
	if diff := cmp.Diff(want, textPaths(chunks)); diff != "" {
		t.Errorf("chunks (-want +got):\n%s", diff)
	}
}

func TestSplitTitleLeadsLongSection(t *testing.T) {
	t.Parallel()
	_, chunks := split(t, `% config: target=20 max=24 overlap=2 min=6
# Title
## Long
First sentence of a long section here. Second sentence of the long section. Third sentence, near the end. Fourth and last sentence.
`)
	// The title alone would be a useless chunk: it leads the first chunk of the section
	// after it, which is cut in two.
	if len(chunks) != 2 {
		t.Fatalf("got %d chunks, want 2: %q", len(chunks), textPaths(chunks))
	}
	if !strings.HasPrefix(chunks[0].Text, "Title\n\nLong\n\nFirst sentence") {
		t.Errorf("first chunk %q does not start with the title and the section", chunks[0].Text)
	}
	if diff := cmp.Diff([]string{"Title"}, chunks[0].HeadingPath); diff != "" {
		t.Errorf("first chunk's HeadingPath (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"Title", "Long"}, chunks[1].HeadingPath); diff != "" {
		t.Errorf("second chunk's HeadingPath (-want +got):\n%s", diff)
	}
}

func TestSplitPages(t *testing.T) {
	t.Parallel()
	_, chunks := split(t, `% config: target=20 max=30 overlap=2 min=1
%page 1
# Title
First page text that is long enough.
%page 2
More text on the second page here.
%page 3
## Next
Third page text, in a new section.
`)
	type pages struct{ Start, End int }
	var got []pages
	for _, c := range chunks {
		got = append(got, pages{c.PageStart, c.PageEnd})
	}
	if diff := cmp.Diff([]pages{{1, 2}, {3, 3}}, got); diff != "" {
		t.Errorf("pages (-want +got):\n%s", diff)
	}
}

func TestSplitNoPages(t *testing.T) {
	t.Parallel()
	_, chunks := split(t, "Some text.\n\nMore text.\n")
	for _, c := range chunks {
		if c.PageStart != 0 || c.PageEnd != 0 {
			t.Errorf("chunk %d: pages %d-%d in a document without pages", c.Ordinal, c.PageStart, c.PageEnd)
		}
	}
}

// TestSplitOverlap checks that chunks that continue a section repeat whole sentences of
// the previous chunk, within OverlapTokens.
func TestSplitOverlap(t *testing.T) {
	t.Parallel()
	sentences := []string{
		"The first sentence opens the paragraph.",
		"A second one follows it closely.",
		"Then comes a third, a little longer than the others.",
		"The fourth is short.",
		"A fifth sentence adds some more words to the text.",
		"Sixth.",
		"The seventh sentence is the one before the last.",
		"And the eighth one closes the paragraph.",
	}
	doc, chunks := split(t, "% config: target=24 max=32 overlap=14 min=1\n"+strings.Join(sentences, " ")+"\n")
	if len(chunks) < 3 {
		t.Fatalf("got %d chunks, want at least 3 to see overlaps", len(chunks))
	}
	overlapped := 0
	for i, c := range chunks {
		if !startsWithSentence(c.Text, sentences) {
			t.Errorf("chunk %d does not start at a sentence: %q", i, c.Text)
		}
		if i > 0 && c.Start < chunks[i-1].End {
			overlapped++
			rep := doc.Text[c.Start:chunks[i-1].End]
			if n := CountTokens(rep); n > 14 {
				t.Errorf("chunk %d repeats %d tokens > 14: %q", i, n, rep)
			}
		}
	}
	if overlapped == 0 {
		t.Errorf("no chunk overlaps the one before it: %q", textPaths(chunks))
	}
}

func startsWithSentence(text string, sentences []string) bool {
	for _, s := range sentences {
		if strings.HasPrefix(text, s) {
			return true
		}
	}
	return false
}

func TestSplitNoOverlapAcrossHeading(t *testing.T) {
	t.Parallel()
	doc, chunks := split(t, `% config: target=16 max=20 overlap=8 min=1
## A
Short one. Short two. Short three. Short four. Short five. Short six.
## B
Short seven. Short eight.
`)
	for i := 1; i < len(chunks); i++ {
		if strings.HasPrefix(chunks[i].Text, "B") && chunks[i].Start < chunks[i-1].End {
			t.Errorf("chunk %d starts at a heading but repeats %q", i, doc.Text[chunks[i].Start:chunks[i-1].End])
		}
	}
	if last := chunks[len(chunks)-1]; !strings.HasPrefix(last.Text, "B\n\n") {
		t.Errorf("last chunk %q does not start at heading B", last.Text)
	}
}

func TestSplitCodeByLines(t *testing.T) {
	t.Parallel()
	var code strings.Builder
	for i := range 40 {
		code.WriteString("\tx := compute(a, b, c) // step " + strings.Repeat("i", i%5+1) + "\n")
		if i%10 == 9 {
			code.WriteString("\n")
		}
	}
	doc, chunks := split(t, "% config: target=40 max=50 overlap=12 min=4\n```go\n"+code.String()+"```\n")
	if len(chunks) < 4 {
		t.Fatalf("got %d chunks, want at least 4", len(chunks))
	}
	for i, c := range chunks {
		if c.Start > 0 && !strings.HasSuffix(strings.TrimRight(doc.Text[:c.Start], "\t "), "\n") {
			t.Errorf("chunk %d starts mid-line: %q", i, c.Text)
		}
		if c.End < len(doc.Text) && doc.Text[c.End] != '\n' {
			t.Errorf("chunk %d ends mid-line: %q", i, c.Text)
		}
	}
}

func TestSplitLongLineAsLastResort(t *testing.T) {
	t.Parallel()
	blob := strings.Repeat("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo", 20)
	_, chunks := split(t, "% config: target=40 max=50 overlap=8 min=4\n```\nshort line\n"+blob+"\nanother short line\n```\n")
	var joined strings.Builder
	for _, c := range chunks {
		if c.Tokens > 50 {
			t.Errorf("chunk %d has %d tokens", c.Ordinal, c.Tokens)
		}
		joined.WriteString(c.Text)
	}
	if !strings.Contains(joined.String(), blob) {
		t.Errorf("the blob is not covered exactly once by the chunks in order")
	}
}

func TestSplitMergesTinyTail(t *testing.T) {
	t.Parallel()
	// Sizes are chosen so that the paragraph "Tiny bit." would make a chunk of its own (with
	// a repeat of the sentences before it): the first paragraph fills the first chunk's aim,
	// and the last paragraph does not fit beside it. It is merged back into the first chunk
	// instead, and the next chunk repeats it as overlap.
	doc, chunks := split(t, `% config: target=24 max=32 overlap=10 min=8
## Section
One two three. Four five six. Seven eight nine. Ten and eleven. Twelve, thirteen.

Tiny bit.

This closing paragraph is one long sentence that has about twenty-five tokens in all of its many words.
`)
	want := []string{
		"Section\n\nOne two three. Four five six. Seven eight nine. Ten and eleven. Twelve, thirteen.\n\nTiny bit.",
		"Twelve, thirteen.\n\nTiny bit.\n\nThis closing paragraph is one long sentence that has about twenty-five tokens in all of its many words.",
	}
	var got []string
	for _, c := range chunks {
		got = append(got, c.Text)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("chunks (-want +got):\n%s\n(tokens: %d, %d)", diff, CountTokens(doc.Text[:strings.Index(doc.Text, "Tiny")]), CountTokens("This closing paragraph is one long sentence that has about twenty-five tokens in all of its many words."))
	}
}

func TestSplitKeepsSectionThatFitsWhole(t *testing.T) {
	t.Parallel()
	// Section B is above the target but within MaxTokens: it is not cut.
	_, chunks := split(t, `% config: target=20 max=40 overlap=4 min=2
## A
Short opening section here.
## B
One sentence of this section. Another sentence of the same section. And a third to make it longer.
`)
	want := []textPath{
		{"A\n\nShort opening section here.", []string{"A"}},
		{"B\n\nOne sentence of this section. Another sentence of the same section. And a third to make it longer.", []string{"B"}},
	}
	if diff := cmp.Diff(want, textPaths(chunks)); diff != "" {
		t.Errorf("chunks (-want +got):\n%s", diff)
	}
}

func TestSplitCharOffsets(t *testing.T) {
	t.Parallel()
	doc, chunks := split(t, "% config: target=8 max=10 overlap=2 min=1\n# Überblick\nÄpfel und Birnen. 日本語の文章です。\n## Zweiter\nNoch ein Satz hier.\n")
	for _, c := range chunks {
		if got := []rune(doc.Text)[c.CharStart:c.CharEnd]; string(got) != c.Text {
			t.Errorf("chunk %d: runes [%d,%d) = %q, Text %q", c.Ordinal, c.CharStart, c.CharEnd, string(got), c.Text)
		}
	}
}

// TestSplitRobust splits malformed documents: none may panic or break the contract.
func TestSplitRobust(t *testing.T) {
	t.Parallel()
	text := "Heading\n\nA paragraph of text. Another sentence.\n\nfunc main() {}\n"
	tests := []struct {
		name       string
		doc        Document
		wantChunks bool
	}{
		{"empty", Document{}, false},
		{"whitespace", Document{Text: " \n\t\u3000 "}, false},
		{"no blocks", Document{Text: text}, true},
		{"empty blocks", Document{Text: text, Blocks: []Block{{Start: 3, End: 3}}}, true},
		// No usable block: rather than lose the text, it is taken as one paragraph.
		{"whitespace blocks", Document{Text: "a  \n  b", Blocks: []Block{{Start: 1, End: 5}}}, true},
		{"out of range", Document{Text: text, Blocks: []Block{{Start: -10, End: 7}, {Start: 50, End: 1000}}}, true},
		{"beyond the text", Document{Text: text, Blocks: []Block{{Start: 1000, End: 2000}}}, true},
		{"reversed", Document{Text: text, Blocks: []Block{{Start: 7, End: 3}}}, true},
		{"overlapping", Document{Text: text, Blocks: []Block{{Start: 0, End: 30}, {Start: 10, End: 40}, {Start: 20, End: len(text)}}}, true},
		{"out of order", Document{Text: text, Blocks: []Block{{Start: 9, End: 48}, {Kind: Heading, Level: 1, Start: 0, End: 7}}}, true},
		{"bad kinds and levels", Document{Text: text, Blocks: []Block{{Kind: Heading, Level: 99, Start: 0, End: 7}, {Kind: 42, Start: 9, End: 48, Page: -3}, {Kind: Heading, Level: -1, Start: 50, End: len(text)}}}, true},
		{"mid-character offsets", Document{Text: "日本語の文章", Blocks: []Block{{Start: 1, End: 5}, {Start: 5, End: 17}}}, true},
		{"invalid UTF-8", Document{Text: "ok \xff\xfe\xa9 text \xe2\x82 end", Blocks: []Block{{Start: 0, End: 20}}}, true},
		{"only a heading", Document{Text: "Title", Blocks: []Block{{Kind: Heading, Level: 1, Start: 0, End: 5}}}, true},
		{"NUL bytes", Document{Text: "a\x00b\x00\x00c"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for _, cfg := range []Config{{}, {TargetTokens: 2, MaxTokens: 3, OverlapTokens: 1, MinTokens: 1}} {
				c, err := New(cfg)
				if err != nil {
					t.Fatal(err)
				}
				chunks := c.Split(tt.doc)
				if err := checkChunks(tt.doc, c.Config(), chunks); err != nil {
					t.Fatalf("%+v: %v", cfg, err)
				}
				if got := len(chunks) > 0; got != tt.wantChunks {
					t.Errorf("%+v: got %d chunks, want chunks: %v", cfg, len(chunks), tt.wantChunks)
				}
			}
		})
	}
}

func TestSplitDoesNotModifyInput(t *testing.T) {
	t.Parallel()
	blocks := []Block{{Start: 20, End: 30}, {Start: 0, End: 10}}
	doc := Document{Text: strings.Repeat("word ", 8), Blocks: blocks}
	c, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	c.Split(doc)
	if diff := cmp.Diff([]Block{{Start: 20, End: 30}, {Start: 0, End: 10}}, blocks); diff != "" {
		t.Errorf("Split reordered the caller's blocks (-want +got):\n%s", diff)
	}
}
