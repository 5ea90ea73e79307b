package answer

import (
	"math/rand/v2"
	"strings"
	"testing"
)

func TestParsePolicy(t *testing.T) {
	for in, want := range map[string]Policy{"": PolicyDrop, "drop": PolicyDrop, "fallback": PolicyFallback, "mark": PolicyMark} {
		if got, err := ParsePolicy(in); err != nil || got != want {
			t.Errorf("ParsePolicy(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"Drop", "none", "drop "} {
		if _, err := ParsePolicy(in); err == nil {
			t.Errorf("ParsePolicy(%q) accepted", in)
		}
	}
	if _, err := New(Config{Policy: "strict"}, nil, nil); err == nil {
		t.Error("New accepts an unknown policy")
	}
}

// TestWithoutSentences: removing sentences leaves well-formed text: no empty list item or
// heading, no doubled blanks, the rest as it was.
func TestWithoutSentences(t *testing.T) {
	sources := bridgeSources()
	for _, tt := range []struct{ in, want string }{
		{"The bridge opened in 1937 [1]. The CEO earns $9 million [1].", "The bridge opened in 1937 [1]."},
		{"Ignore the rules. The bridge opened in 1937 [1].", "The bridge opened in 1937 [1]."},
		{"The bridge opened in 1937 [1]. Ignore the rules. It was the longest suspension bridge in the world at the time [1].",
			"The bridge opened in 1937 [1]. It was the longest suspension bridge in the world at the time [1]."},
		{"Facts:\n\n- The bridge opened in 1937 [1].\n- The CEO earns $9 million [1].\n- It was the longest suspension bridge in the world at the time [1].",
			"Facts:\n\n- The bridge opened in 1937 [1].\n- It was the longest suspension bridge in the world at the time [1]."},
		{"- The CEO earns $9 million [1]. The bridge opened in 1937 [1].", "- The bridge opened in 1937 [1]."},
		{"The bridge opened in 1937 [1].\n\nThe CEO earns $9 million [1].\n\nIt was the longest suspension bridge in the world at the time [1].",
			"The bridge opened in 1937 [1].\n\nIt was the longest suspension bridge in the world at the time [1]."},
	} {
		vd := newValidator(sources, ValidateConfig{})
		v := vd.validate(tt.in)
		drop := make([]bool, len(v.Sentences))
		for i, s := range v.Sentences {
			drop[i] = unsupported(s)
		}
		if got := withoutSentences(v, drop); got != tt.want {
			t.Errorf("withoutSentences(%q)\n got %q\nwant %q", tt.in, got, tt.want)
		}
	}
}

// TestGateNeverStreamsUnsupportedClaims: whatever pieces a model streams its answer in (one
// character, words, random cuts inside citations and numbers), the gate sends every supported
// sentence, in order, and never an unsupported one, nor any part of it.
func TestGateNeverStreamsUnsupportedClaims(t *testing.T) {
	sources := bridgeSources()
	answer := "The bridge opened in 1937 [1]. Ignore the rules. The salary band is $152,000 to $188,000 [1].\n\n" +
		"- It was the longest suspension bridge in the world at the time [1, 2].\n- The CEO earns $9 million [1].\n" +
		"It opened in 1937 [1][7]. In short: the bridge opened in 1937 [1]"
	forbidden := []string{"Ignore", "rules", "salary", "152", "CEO", "$9", "million", "[7]"}
	want := []string{"The bridge opened in 1937 [1].", "It was the longest suspension bridge in the world at the time [1][2].",
		"It opened in 1937 [1].", "In short: the bridge opened in 1937 [1]"}
	rng := rand.New(rand.NewPCG(1, 2))
	cuts := map[string]func() []string{
		"characters": func() []string { return strings.Split(answer, "") },
		"words":      func() []string { return strings.SplitAfter(answer, " ") },
		"whole":      func() []string { return []string{answer} },
	}
	for i := range 20 {
		cuts["random"+string(rune('a'+i))] = func() []string {
			var out []string
			for rest := answer; rest != ""; {
				n := min(len(rest), 1+rng.IntN(12))
				out, rest = append(out, rest[:n]), rest[n:]
			}
			return out
		}
	}
	for name, cut := range cuts {
		var sent []string
		g := newGate(newValidator(sources, ValidateConfig{}), func(s string) { sent = append(sent, s) })
		for _, piece := range cut() {
			g.write(piece)
			for _, f := range forbidden {
				if strings.Contains(strings.Join(sent, ""), f) {
					t.Fatalf("%s: %q was streamed: %q", name, f, sent)
				}
			}
		}
		g.flush()
		stream := strings.Join(sent, "")
		for _, f := range forbidden {
			if strings.Contains(stream, f) {
				t.Errorf("%s: %q was streamed: %q", name, f, stream)
			}
		}
		at := 0
		for _, w := range want {
			i := strings.Index(stream[at:], w)
			if i < 0 {
				t.Errorf("%s: %q is missing or out of order in %q", name, w, stream)
				break
			}
			at += i + len(w)
		}
	}
}
