package answer

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestStem(t *testing.T) {
	t.Parallel()
	groups := [][]string{
		{"study", "studies", "studied", "studying"},
		{"run", "runs", "running"},
		{"create", "creates", "created", "creating"},
		{"passport", "passports"},
		{"renew", "renewed", "renewing", "renews"},
		{"class", "classes"},
	}
	for _, g := range groups {
		want := stem(g[0])
		for _, w := range g[1:] {
			if got := stem(w); got != want {
				t.Errorf("stem(%q) = %q, stem(%q) = %q: want the same", w, got, g[0], want)
			}
		}
	}
	for _, w := range []string{"bus", "this", "analysis", "café"} {
		if got := stem(w); got == "" {
			t.Errorf("stem(%q) is empty", w)
		}
	}
}

func TestNumbers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want []string
	}{
		{"It cost $1,000 in 1998.", []string{"1000", "1998"}},
		{"3.5 kg, or 3,5 kg", []string{"3.5", "3.5"}},
		{"the 19th century, the 1990s", []string{"19", "1990"}},
		{"COVID-19 and MP3", []string{"19", "3"}},
		{"no numbers here", nil},
		{"1,234,567 people", []string{"1234567"}},
	}
	for _, tt := range tests {
		if got := numbers(nil, tt.in); !cmp.Equal(got, tt.want) {
			t.Errorf("numbers(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestSentences(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"plain", "One sentence here. Another one follows! A question?", []string{"One sentence here.", "Another one follows!", "A question?"}},
		{"abbreviations and initials", "Dr. Smith met J. K. Rowling, e.g. at home. Then left.", []string{"Dr. Smith met J. K. Rowling, e.g. at home.", "Then left."}},
		{"decimals and domains", "It is 3.5 kg on example.com today. Yes.", []string{"It is 3.5 kg on example.com today.", "Yes."}},
		{"lower case after a stop", "See fig. three for details. Done.", []string{"See fig. three for details.", "Done."}},
		{"citations after the stop", "It was built in 1990. [1] It is tall [2]. It is old.[3][4] End", []string{"It was built in 1990. [1]", "It is tall [2].", "It is old.[3][4]", "End"}},
		{"quotes", `He said "stop." Then he left.`, []string{`He said "stop."`, "Then he left."}},
		{"markdown", "# Title\n\nFirst para\ncontinues here.\n\n- item one\n- item two [1]\n\n```\ncode. Not. Sentences.\n```\n| a | b |\nLast.", []string{"Title", "First para\ncontinues here.", "item one", "item two [1]", "| a | b |", "Last."}},
		{"tokenised text", "Seasonality is a characteristic . Any change can be seasonal .", []string{"Seasonality is a characteristic .", "Any change can be seasonal ."}},
		{"numbered list", "1. First step.\n2. Second step.", []string{"First step.", "Second step."}},
		{"empty", "  \n\n ", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got []string
			for _, sp := range sentences(tt.in) {
				got = append(got, tt.in[sp.start:sp.end])
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("sentences(%q) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestIsNoAnswer(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want bool
	}{
		{NoEvidenceAnswer, true},
		{"The sources do not contain the answer to this question.", true},
		{"I couldn't find this in the provided documents.", true},
		{"The passages don't mention the price.", true},
		{"There is no information about the release date.", true},
		{"The drug does not contain gluten.", false},
		{"Paris is the capital of France.", false},
		{"The sources say the bridge opened in 1990.", false},
	}
	for _, tt := range tests {
		if got := isNoAnswer(tt.in); got != tt.want {
			t.Errorf("isNoAnswer(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}
