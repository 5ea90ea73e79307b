package answer

import (
	"strings"
	"testing"

	"github.com/docent-rag/docent/internal/retrieve"
)

// passportSources are a small hand-made source set, best first.
func passportSources() []retrieve.Item {
	return []retrieve.Item{
		{ChunkID: 1, Title: "Renewing a passport", URI: "https://example.org/renew", HeadingPath: []string{"Passports", "Renewal"},
			Text: "You can renew your passport online or by post. Online renewal usually takes about three weeks. " +
				"Renewal by post takes longer, around six weeks. You need a digital photo for an online application."},
		{ChunkID: 2, Title: "Passport fees", URI: "https://example.org/fees",
			Text: "An online renewal costs 88 euros.[12] A postal renewal costs 100 euros. " +
				"Fees are not refunded if the application is withdrawn."},
		{ChunkID: 3, Title: "Lost or stolen passports", URI: "https://example.org/lost",
			Text: "If your passport is lost or stolen, report it to the police first. " +
				"You cannot renew a lost passport; you must apply for a replacement instead."},
		{ChunkID: 4, Title: "Renewing a passport (copy)", URI: "https://example.org/renew-copy",
			Text: "Online renewal usually takes about three weeks. Children's passports are valid for five years."},
	}
}

func TestExtractive(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		question string
		history  []Turn
		sources  []retrieve.Item
		first    string // the first sentence of the answer, with its citation
		want     []string
		not      []string
	}{
		{
			name:     "duration",
			question: "How long does it take to renew a passport online?",
			// From the passage that answers, in its order.
			want: []string{"Online renewal usually takes about three weeks. [1]"},
			not:  []string{"[4]", "[2]"}, // the same sentence again, from the copy; another passage
		},
		{
			name:     "price",
			question: "How much does an online renewal cost?",
			first:    "An online renewal costs 88 euros. [2]", // the footnote [12] is gone
			not:      []string{"[12]"},
		},
		{
			name:     "stolen",
			question: "What should I do if my passport is stolen?",
			first:    "If your passport is lost or stolen, report it to the police first. [3]",
		},
		{
			name:     "follow-up uses the conversation",
			question: "and how much does that cost?",
			history:  []Turn{{RoleUser, "Can I renew my passport with a postal application?"}, {RoleAssistant, "Yes [1]."}},
			want:     []string{"A postal renewal costs 100 euros. [2]"},
			not:      []string{"[1]"},
		},
		{
			// The question has words of its own, which two passages answer alike; the one
			// about the conversation's subject is the answer, though retrieval ranked the
			// other first.
			name:     "follow-up with words of its own keeps to the conversation's subject",
			question: "How long is it valid?",
			history:  []Turn{{RoleUser, "What does a driving licence cost?"}, {RoleAssistant, "It costs 40 euros [1]."}},
			sources: []retrieve.Item{
				{ChunkID: 11, Title: "Passports", Text: "A passport is valid for ten years."},
				{ChunkID: 12, Title: "Licences", Text: "A driving licence is valid for fifteen years."},
			},
			want: []string{"A driving licence is valid for fifteen years. [2]"},
			not:  []string{"[1]"},
		},
		{
			name:     "unrelated question",
			question: "What is the capital of France?",
			want:     []string{NoEvidenceAnswer},
		},
		{
			name:     "no sources",
			question: "How long does renewal take?",
			sources:  []retrieve.Item{},
			want:     []string{NoEvidenceAnswer},
		},
	}
	ext := newExtractive(t, ExtractiveConfig{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sources := tt.sources
			if sources == nil {
				sources = passportSources()
			}
			var streamed strings.Builder
			d, err := ext.Generate(t.Context(), Prompt{Question: tt.question, Sources: sources, History: tt.history}, func(s string) { streamed.WriteString(s) })
			if err != nil {
				t.Fatal(err)
			}
			if d.Model != ExtractiveModel || streamed.String() != d.Text {
				t.Errorf("Model %q, streamed %q; want %q and the text %q", d.Model, streamed.String(), ExtractiveModel, d.Text)
			}
			if tt.first != "" && !strings.HasPrefix(d.Text, tt.first) {
				t.Errorf("answer %q\ndoes not start with %q", d.Text, tt.first)
			}
			for _, w := range tt.want {
				if !strings.Contains(d.Text, w) {
					t.Errorf("answer %q lacks %q", d.Text, w)
				}
			}
			for _, w := range tt.not {
				if strings.Contains(d.Text, w) {
					t.Errorf("answer %q has %q", d.Text, w)
				}
			}
			if d.Text == NoEvidenceAnswer {
				return
			}
			// Verbatim sentences, each cited: the answer validates as grounded.
			v := Validate(d.Text, sources, ValidateConfig{})
			if !v.Grounded || len(v.Dropped) > 0 || v.Answer != d.Text {
				t.Errorf("the extractive answer %q does not validate: %+v", d.Text, v)
			}
			if n := len(v.Sentences); n > 3 {
				t.Errorf("%d sentences, want at most 3", n)
			}
		})
	}
}

func TestExtractiveDeterministic(t *testing.T) {
	t.Parallel()
	ext := newExtractive(t, ExtractiveConfig{MaxSentences: 2})
	p := Prompt{Question: "How long does passport renewal take online or by post?", Sources: passportSources()}
	first := ext.Compose(p)
	for range 20 {
		if got := ext.Compose(p); got != first {
			t.Fatalf("Compose gave %q, then %q", first, got)
		}
	}
	if v := Validate(first, p.Sources, ValidateConfig{}); len(v.Sentences) != 2 {
		t.Errorf("MaxSentences 2: got %d sentences in %q", len(v.Sentences), first)
	}
}

func TestExtractiveConfig(t *testing.T) {
	t.Parallel()
	for _, cfg := range []ExtractiveConfig{
		{MaxSentences: -1},
		{MinWords: 10, MaxWords: 5},
		{MinCoverage: 1.5},
		{Redundancy: -0.2},
		{RankDecay: -1},
		{MaxAnswerWords: 2},
		{MoreShare: 1.5},
		{DefinitionShare: -1},
	} {
		if _, err := NewExtractive(cfg); err == nil {
			t.Errorf("NewExtractive(%+v) accepted", cfg)
		}
	}
}

// newExtractive returns the extractive composer with cfg, failing tb if cfg is refused.
func newExtractive(tb testing.TB, cfg ExtractiveConfig) *Extractive {
	tb.Helper()
	ext, err := NewExtractive(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return ext
}
