package chunk

import (
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

func TestSentences(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"plain", "One two. Three four! Five six? Seven.", []string{"One two.", "Three four!", "Five six?", "Seven."}},
		{"abbreviations", "Dr. Smith met Mr. Jones, e.g. at noon, i.e. late. They left etc. Then vs. now.",
			[]string{"Dr. Smith met Mr. Jones, e.g. at noon, i.e. late.", "They left etc. Then vs. now."}},
		{"numbers", "Pi is 3.14 and e is 2.71. Version 1.2.3 shipped.", []string{"Pi is 3.14 and e is 2.71.", "Version 1.2.3 shipped."}},
		{"initials", "J. R. R. Tolkien wrote it. It sold well.", []string{"J. R. R. Tolkien wrote it.", "It sold well."}},
		{"lowercase after", "It costs approx. five euros. Cheap.", []string{"It costs approx. five euros.", "Cheap."}},
		{"list number", "1. Install it. 2. Run it.", []string{"1. Install it.", "2. Run it."}},
		{"closers", `He said "stop." Then (quietly.) she left.`, []string{`He said "stop."`, "Then (quietly.) she left."}},
		{"ellipsis and marks", "Wait... What?! Fine.", []string{"Wait...", "What?!", "Fine."}},
		{"no space after", "See example.com/a.b for more.Really.", []string{"See example.com/a.b for more.Really."}},
		{"blank line", "First part\n\nsecond part without a stop\nsame sentence.", []string{"First part", "second part without a stop\nsame sentence."}},
		{"cjk", "这是第一句。这是第二句！第三句？好的。", []string{"这是第一句。", "这是第二句！", "第三句？", "好的。"}},
		{"cjk closers", "他说：“好。”然后走了。", []string{"他说：“好。”", "然后走了。"}},
		{"japanese", "検索します。回答を書きます。", []string{"検索します。", "回答を書きます。"}},
		{"trailing space", "  One. Two.  \n", []string{"One.", "Two."}},
		{"only punctuation", "... !!! ???", []string{"... !!! ???"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got []string
			for _, u := range appendSentences(nil, tt.in, 0, len(tt.in), atBlock) {
				got = append(got, tt.in[u.start:u.end])
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("sentences (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSentenceStrengths(t *testing.T) {
	t.Parallel()
	in := "One. Two.\n\nThree. Four\n\nFive."
	var got []strength
	for _, u := range appendSentences(nil, in, 0, len(in), atBlock) {
		got = append(got, u.strength)
	}
	want := []strength{atBlock, atSentence, atParagraph, atSentence, atParagraph}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("strengths (-want +got):\n%s", diff)
	}
}

func TestLines(t *testing.T) {
	t.Parallel()
	in := "func a() {\n\treturn\n}\n\n\nfunc b() {}\n   \nvar c"
	var got []string
	var strs []strength
	for _, u := range appendLines(nil, in, 0, len(in), atBlock) {
		got = append(got, in[u.start:u.end])
		strs = append(strs, u.strength)
	}
	if diff := cmp.Diff([]string{"func a() {", "return", "}", "func b() {}", "var c"}, got); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]strength{atBlock, atLine, atLine, atParagraph, atParagraph}, strs); diff != "" {
		t.Errorf("strengths (-want +got):\n%s", diff)
	}
}

// TestRuneStart checks runeStart against decoding from the start, on valid and invalid text.
func TestRuneStart(t *testing.T) {
	t.Parallel()
	for _, s := range []string{
		"", "abc", "héllo", "日本語", "🙂x", "\xff\xfe", "a\xe2\x82", "\xe2\x82\xac\x82", "é\xa9\xa9", "\xf0\x9f\x99", "\xc3\xa9\xc3",
	} {
		boundary := make([]bool, len(s)+1)
		for i := 0; i < len(s); {
			boundary[i] = true
			_, size := utf8.DecodeRuneInString(s[i:])
			i += size
		}
		boundary[len(s)] = true
		for i := range boundary {
			if got := runeStart(s, i); got != boundary[i] {
				t.Errorf("runeStart(%q, %d) = %v, want %v", s, i, got, boundary[i])
			}
		}
	}
}

func TestTrimSpace(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ in, want string }{
		{"  a b  ", "a b"},
		{"\u00a0\u3000x\u2003", "x"},
		{" \n\t ", ""},
		{"\xffa\xa0", "\xffa\xa0"}, // a stray continuation byte is not a no-break space
	} {
		s, e := trimSpace(tt.in, 0, len(tt.in))
		if got := tt.in[s:e]; got != tt.want {
			t.Errorf("trimSpace(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
