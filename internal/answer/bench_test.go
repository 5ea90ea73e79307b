package answer

import (
	"fmt"
	"strings"
	"testing"

	"github.com/docent-rag/docent/internal/retrieve"
)

// realisticSources returns 8 passages of about 400 tokens of documentation-like prose,
// with a few sentences on the benchmark's question.
func realisticSources() []retrieve.Item {
	topics := []string{"garbage collector", "scheduler", "module proxy", "race detector", "escape analysis", "linker", "profiler", "test cache"}
	var items []retrieve.Item
	for i, topic := range topics {
		var b strings.Builder
		for j := range 14 {
			fmt.Fprintf(&b, "The %s handles case %d by checking the state of each goroutine and its stack before it resumes work. ", topic, j)
			if j%4 == 1 {
				fmt.Fprintf(&b, "Since Go 1.%d the %s pauses for less than %d microseconds on typical heaps of %d MB. ", 10+i, topic, 100*(i+1), 64<<i)
			}
			if j == 7 {
				b.WriteString("See the runtime documentation [3] for the tuning variables GOGC and GOMEMLIMIT.\n\n")
			}
		}
		items = append(items, retrieve.Item{
			ChunkID: int64(i + 1), Title: "The Go " + topic, URI: fmt.Sprintf("https://go.dev/doc/%d", i),
			HeadingPath: []string{"Runtime", topic}, Text: b.String(), Tokens: 400,
		})
	}
	return items
}

// BenchmarkExtractiveValidate measures what the server does per answer without a model:
// the extractive answer and its validation over 8 sources of ~400 tokens.
func BenchmarkExtractiveValidate(b *testing.B) {
	ext := newExtractive(b, ExtractiveConfig{})
	p := Prompt{Question: "How long does the garbage collector pause on typical heaps?", Sources: realisticSources()}
	if v := Validate(ext.Compose(p), p.Sources, ValidateConfig{}); !v.Grounded {
		b.Fatalf("the benchmark's answer is not grounded: %+v", v)
	}
	for b.Loop() {
		text := ext.Compose(p)
		Validate(text, p.Sources, ValidateConfig{})
	}
}

// BenchmarkValidate measures the validation of a model-like answer over 8 sources.
func BenchmarkValidate(b *testing.B) {
	sources := realisticSources()
	text := "Since Go 1.10 the garbage collector pauses for less than 100 microseconds on typical heaps of 64 MB [1]. " +
		"The scheduler checks the state of each goroutine before it resumes work [2][9]. Tuning uses GOGC and GOMEMLIMIT [1]."
	for b.Loop() {
		Validate(text, sources, ValidateConfig{})
	}
}

// BenchmarkAnswererExtractive measures the whole Answerer without a model.
func BenchmarkAnswererExtractive(b *testing.B) {
	a, err := New(Config{}, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	p := Prompt{Question: "How long does the garbage collector pause on typical heaps?", Sources: realisticSources()}
	for b.Loop() {
		if _, err := a.Answer(b.Context(), p, nil); err != nil {
			b.Fatal(err)
		}
	}
}
