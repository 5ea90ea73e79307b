package chunk

import (
	"strconv"
	"strings"
	"testing"
)

// benchDoc builds a realistic document of about 100 KB from the fixtures in testdata/: a
// documentation page with code and a table, a paged report, a long essay paragraph, a code
// walkthrough and some CJK text, repeated as chapters under numbered top-level headings.
func benchDoc(tb testing.TB) Document {
	tb.Helper()
	var parts []Document
	for _, name := range []string{"guide.md", "paged.md", "longpara.md", "longcode.md", "cjk.md"} {
		parts = append(parts, loadFixture(tb, "testdata/"+name).doc)
	}
	var text strings.Builder
	var blocks []Block
	add := func(kind Kind, level, page int, s string) {
		if text.Len() > 0 {
			text.WriteString("\n\n")
		}
		start := text.Len()
		text.WriteString(s)
		blocks = append(blocks, Block{Kind: kind, Level: level, Start: start, End: text.Len(), Page: page})
	}
	for chapter := 1; text.Len() < 100_000; chapter++ {
		for _, p := range parts {
			add(Heading, 1, 0, "Chapter "+strconv.Itoa(chapter)+": "+p.Title)
			for _, b := range p.Blocks {
				level := b.Level
				if b.Kind == Heading {
					level = min(level+1, 6)
				}
				add(b.Kind, level, 0, p.Text[b.Start:b.End])
			}
		}
	}
	return Document{Title: "Benchmark", Text: text.String(), Blocks: blocks}
}

// BenchmarkSplit measures chunking alone. Ingestion's end-to-end target is 1,500 chunks/s
// on two cores including embedding and database writes, so this should be far above it.
func BenchmarkSplit(b *testing.B) {
	doc := benchDoc(b)
	for _, bc := range []struct {
		name string
		cfg  Config
	}{
		{"default", Config{}},
		{"small", Config{TargetTokens: 120, MaxTokens: 160, OverlapTokens: 24, MinTokens: 24}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			c, err := New(bc.cfg)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(doc.Text)))
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				n = len(c.Split(doc))
			}
			b.ReportMetric(float64(n), "chunks/op")
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "chunks/s")
		})
	}
}

func TestBenchDocIsRealistic(t *testing.T) {
	t.Parallel()
	doc := benchDoc(t)
	if len(doc.Text) < 100_000 || len(doc.Text) > 130_000 {
		t.Errorf("benchmark document is %d bytes, want about 100 KB", len(doc.Text))
	}
	c, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := checkChunks(doc, c.Config(), c.Split(doc)); err != nil {
		t.Fatal(err)
	}
}
