package answer

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/docent-rag/docent/internal/retrieve"
)

// bridgeSources are three small passages for validation tests.
func bridgeSources() []retrieve.Item {
	return []retrieve.Item{
		{ChunkID: 11, Title: "Golden Gate Bridge", URI: "https://example.org/ggb",
			Text: "The Golden Gate Bridge is a suspension bridge spanning the Golden Gate strait. It opened in 1937 and was the longest suspension bridge in the world at the time. Its main span is 1,280 metres long."},
		{ChunkID: 22, Title: "Paint", URI: "https://example.org/paint",
			Text: "The bridge is painted in a colour called International Orange. The colour was chosen because it is visible in fog."},
		{ChunkID: 33, Title: "Traffic", URI: "https://example.org/traffic",
			Text: "About 112,000 vehicles cross the bridge every day. Tolls are collected only from southbound traffic."},
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		text      string
		answer    string
		dropped   []int
		cited     []int
		grounded  bool
		noAnswer  bool
		sentences []Sentence // Text, Citations, Claim, Supported, MissingNumbers compared
	}{
		{
			name:     "supported and cited",
			text:     "The Golden Gate Bridge opened in 1937 [1]. It is painted International Orange [2].",
			answer:   "The Golden Gate Bridge opened in 1937 [1]. It is painted International Orange [2].",
			cited:    []int{1, 2},
			grounded: true,
			sentences: []Sentence{
				{Text: "The Golden Gate Bridge opened in 1937.", Citations: []int{1}, Claim: true, Supported: true},
				{Text: "It is painted International Orange.", Citations: []int{2}, Claim: true, Supported: true},
			},
		},
		{
			name:    "invalid citation dropped",
			text:    "The bridge opened in 1937 [7]. Its colour is International Orange [2][0].",
			answer:  "The bridge opened in 1937. Its colour is International Orange [2].",
			dropped: []int{0, 7},
			cited:   []int{2},
			sentences: []Sentence{
				{Text: "The bridge opened in 1937.", Claim: true},
				{Text: "Its colour is International Orange.", Citations: []int{2}, Claim: true, Supported: true},
			},
		},
		{
			name:     "list, range and repeated groups",
			text:     "The bridge is a suspension bridge [1, 2]. It opened in 1937 [1-2]. Its colour is visible in fog [2; 2][2].",
			answer:   "The bridge is a suspension bridge [1][2]. It opened in 1937 [1][2]. Its colour is visible in fog [2].",
			cited:    []int{1, 2},
			grounded: true,
			sentences: []Sentence{
				{Text: "The bridge is a suspension bridge.", Citations: []int{1, 2}, Claim: true, Supported: true},
				{Text: "It opened in 1937.", Citations: []int{1, 2}, Claim: true, Supported: true},
				{Text: "Its colour is visible in fog.", Citations: []int{2}, Claim: true, Supported: true},
			},
		},
		{
			name:    "range beyond the sources",
			text:    "Vehicles cross the bridge every day [2-4].",
			answer:  "Vehicles cross the bridge every day [2][3].",
			dropped: []int{4},
			cited:   []int{2, 3},
			// "vehicl", "cross", "bridg", "everi"? stop words aside, the words are in [3]
			grounded: true,
			sentences: []Sentence{
				{Text: "Vehicles cross the bridge every day.", Citations: []int{2, 3}, Claim: true, Supported: true},
			},
		},
		{
			name:   "uncited claim flagged",
			text:   "The bridge opened in 1937 [1]. It was designed by Joseph Strauss and cost 35 million dollars.",
			answer: "The bridge opened in 1937 [1]. It was designed by Joseph Strauss and cost 35 million dollars.",
			cited:  []int{1},
			sentences: []Sentence{
				{Text: "The bridge opened in 1937.", Citations: []int{1}, Claim: true, Supported: true},
				{Text: "It was designed by Joseph Strauss and cost 35 million dollars.", Claim: true},
			},
		},
		{
			name:   "wrong number",
			text:   "The bridge opened in 1938 [1].",
			answer: "The bridge opened in 1938 [1].",
			cited:  []int{1},
			sentences: []Sentence{
				{Text: "The bridge opened in 1938.", Citations: []int{1}, Claim: true, MissingNumbers: []string{"1938"}},
			},
		},
		{
			name:     "number with thousands separator",
			text:     "Its main span is 1280 metres long [1]. About 112,000 vehicles cross it daily [3].",
			answer:   "Its main span is 1280 metres long [1]. About 112,000 vehicles cross it daily [3].",
			cited:    []int{1, 3},
			grounded: true,
			sentences: []Sentence{
				{Text: "Its main span is 1280 metres long.", Citations: []int{1}, Claim: true, Supported: true},
				{Text: "About 112,000 vehicles cross it daily.", Citations: []int{3}, Claim: true, Supported: true},
			},
		},
		{
			name:   "claim not in the cited passage",
			text:   "Tolls are collected only from southbound traffic [1].",
			answer: "Tolls are collected only from southbound traffic [1].",
			cited:  []int{1},
			sentences: []Sentence{
				{Text: "Tolls are collected only from southbound traffic.", Citations: []int{1}, Claim: true},
			},
		},
		{
			name:     "connectives are not claims",
			text:     "In short:\n\n- The bridge opened in 1937. [1]\n- It is orange.[2]",
			answer:   "In short:\n\n- The bridge opened in 1937. [1]\n- It is orange.[2]",
			cited:    []int{1, 2},
			grounded: true,
			sentences: []Sentence{
				{Text: "In short:", Supported: true},
				{Text: "The bridge opened in 1937.", Citations: []int{1}, Claim: true, Supported: true},
				{Text: "It is orange.", Citations: []int{2}, Claim: true, Supported: true},
			},
		},
		{
			name:     "no answer",
			text:     "The sources do not contain the answer to this question.",
			answer:   "The sources do not contain the answer to this question.",
			noAnswer: true,
			sentences: []Sentence{
				{Text: "The sources do not contain the answer to this question.", Supported: true},
			},
		},
		{
			name:    "only invalid citations",
			text:    "The bridge is in Paris [9].",
			answer:  "The bridge is in Paris.",
			dropped: []int{9},
			sentences: []Sentence{
				{Text: "The bridge is in Paris.", Claim: true},
			},
		},
		{
			name:     "bare citation line joins the sentence before",
			text:     "The bridge opened in 1937.\n[1]",
			answer:   "The bridge opened in 1937.\n[1]",
			cited:    []int{1},
			grounded: true,
			sentences: []Sentence{
				{Text: "The bridge opened in 1937.", Citations: []int{1}, Claim: true, Supported: true},
			},
		},
		{
			name:     "other brackets are text",
			text:     "The bridge [over the strait] opened in 1937 [1]. See [a].",
			answer:   "The bridge [over the strait] opened in 1937 [1]. See [a].",
			cited:    []int{1},
			grounded: true,
			sentences: []Sentence{
				{Text: "The bridge [over the strait] opened in 1937.", Citations: []int{1}, Claim: true, Supported: true},
				{Text: "See [a].", Supported: true},
			},
		},
		{
			name:   "empty",
			text:   "",
			answer: "",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v := Validate(tt.text, bridgeSources(), ValidateConfig{})
			if v.Answer != tt.answer {
				t.Errorf("Answer = %q, want %q", v.Answer, tt.answer)
			}
			if diff := cmp.Diff(tt.dropped, v.Dropped, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Dropped (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.cited, v.Cited, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Cited (-want +got):\n%s", diff)
			}
			if v.Grounded != tt.grounded || v.NoAnswer != tt.noAnswer {
				t.Errorf("Grounded, NoAnswer = %v, %v; want %v, %v", v.Grounded, v.NoAnswer, tt.grounded, tt.noAnswer)
			}
			if diff := cmp.Diff(tt.sentences, v.Sentences, cmpopts.EquateEmpty(), cmpopts.IgnoreFields(Sentence{}, "Support")); diff != "" {
				t.Errorf("Sentences (-want +got):\n%s", diff)
			}
			for _, s := range v.Sentences {
				if s.Claim && len(s.Citations) > 0 && (s.Support < 0 || s.Support > 1) {
					t.Errorf("Support %g out of [0, 1]", s.Support)
				}
			}
		})
	}
}

// TestValidateThreshold: the support threshold is configurable and applies.
func TestValidateThreshold(t *testing.T) {
	t.Parallel()
	text := "The Golden Gate Bridge was painted bright orange by engineers [1]." // orange, engineers, bright, painted: not in [1]
	loose := Validate(text, bridgeSources(), ValidateConfig{MinSupport: 0.3})
	strict := Validate(text, bridgeSources(), ValidateConfig{})
	if !loose.Grounded || strict.Grounded {
		t.Errorf("grounded at 0.3: %v, at the default: %v; want true, false (support %.2f)",
			loose.Grounded, strict.Grounded, strict.Sentences[0].Support)
	}
}

// FuzzValidate checks Validate's invariants on any text: no invalid citation is left in the
// answer, Cited and Dropped are sorted, distinct and in and out of range, every sentence's
// citations are valid, and Grounded implies every claim supported.
func FuzzValidate(f *testing.F) {
	for _, s := range []string{
		"The bridge opened in 1937 [1]. It is orange [2][9].",
		"[1-3] [0] [4, 2] [x] [] [1;;2] [12345678]",
		"# h\n\n- a [1]\n- b [7]\n```\n[3]\n```",
		"Ünïcödé… text. [2] «quoted.» [1]",
	} {
		f.Add(s, 3)
	}
	f.Fuzz(func(t *testing.T, text string, n int) {
		n = min(max(n, 0), 10)
		sources := slices.Repeat(bridgeSources(), 4)[:n]
		v := Validate(text, sources, ValidateConfig{})
		if !slices.IsSorted(v.Cited) || !slices.IsSorted(v.Dropped) {
			t.Fatalf("Cited %v or Dropped %v not sorted", v.Cited, v.Dropped)
		}
		for _, c := range v.Cited {
			if c < 1 || c > n {
				t.Fatalf("Cited %d of %d sources", c, n)
			}
		}
		for _, d := range v.Dropped {
			if d >= 1 && d <= n {
				t.Fatalf("Dropped %d of %d sources", d, n)
			}
		}
		again := Validate(v.Answer, sources, ValidateConfig{})
		if len(again.Dropped) > 0 {
			t.Fatalf("the cleaned answer %q still has invalid citations %v", v.Answer, again.Dropped)
		}
		for _, s := range v.Sentences {
			for _, c := range s.Citations {
				if !slices.Contains(v.Cited, c) {
					t.Fatalf("sentence cites %d, not in Cited %v", c, v.Cited)
				}
			}
			if v.Grounded && !s.Supported {
				t.Fatalf("grounded with an unsupported sentence %q", s.Text)
			}
			if strings.TrimSpace(s.Text) == "" {
				t.Fatal("empty sentence")
			}
		}
	})
}
