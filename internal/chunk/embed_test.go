package chunk

import (
	"strings"
	"testing"
)

func TestEmbeddingText(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("word ", 40)
	tests := []struct {
		name  string
		title string
		path  []string
		want  string
	}{
		{"title and path", "Guide", []string{"Install", "Linux"}, "Guide > Install > Linux\n\nbody"},
		{"title only", "Guide", []string{}, "Guide\n\nbody"},
		{"path only", "", []string{"Install"}, "Install\n\nbody"},
		{"nothing", "", nil, "body"},
		{"blank parts", "  ", []string{"", " \n"}, "body"},
		{"first heading repeats the title", "Docent Guide", []string{"docent guide", "Install"}, "Docent Guide > Install\n\nbody"},
		{"only the first heading is compared with the title", "A", []string{"B", "A"}, "A > B > A\n\nbody"},
		{"whitespace collapsed", "The\n  Title", []string{"Two\tWords"}, "The Title > Two Words\n\nbody"},
		{"long part cut at a word", "T", []string{long}, "T > " + strings.TrimSpace(long[:119]) + "…\n\nbody"},
		{"long word cut at a character", "T", []string{strings.Repeat("語", 50)}, "T > " + strings.Repeat("語", 40) + "…\n\nbody"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := EmbeddingText(tt.title, Chunk{Text: "body", HeadingPath: tt.path}); got != tt.want {
				t.Errorf("EmbeddingText(%q, %q) =\n%q\nwant\n%q", tt.title, tt.path, got, tt.want)
			}
		})
	}
}
