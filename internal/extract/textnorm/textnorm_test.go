package textnorm

import "testing"

func TestClean(t *testing.T) {
	tests := map[string]struct{ in, want string }{
		"ligatures":       {"ﬁnd the ﬂow", "find the flow"},
		"nfc":             {"cafe\u0301", "café"},
		"soft hyphen":     {"co\u00ADoperate", "cooperate"},
		"zero width":      {"a\u200Bb\uFEFF", "ab"},
		"controls":        {"a\x00b\x07c", "abc"},
		"crlf":            {"a\r\nb\rc", "a\nb\nc"},
		"nbsp":            {"a\u00A0b", "a b"},
		"keeps indent":    {"    code\n\tmore", "    code\n\tmore"},
		"invalid utf8":    {"a\xffb", "a\uFFFDb"},
		"line separator":  {"a\u2028b", "a\nb"},
		"keeps non-latin": {"日本語 العربية", "日本語 العربية"},
	}
	for name, tt := range tests {
		if got := Clean(tt.in); got != tt.want {
			t.Errorf("%s: Clean(%q) = %q, want %q", name, tt.in, got, tt.want)
		}
	}
}

func TestCollapse(t *testing.T) {
	tests := map[string]struct{ in, want string }{
		"spaces":             {"a   b\t\tc", "a b c"},
		"line breaks":        {"one\ntwo\n\n\n\nthree", "one two\n\nthree"},
		"hyphenated":         {"an exam-\nple of it", "an example of it"},
		"hyphen then spaces": {"exam- \n  ple", "example"},
		"capital after":      {"Jean-\nPaul", "Jean- Paul"},
		"real dash":          {"pages 3 -\n5", "pages 3 - 5"},
		"trim":               {"  \n  a  \n  ", "a"},
		"empty":              {" \n\n \t", ""},
	}
	for name, tt := range tests {
		if got := Collapse(tt.in); got != tt.want {
			t.Errorf("%s: Collapse(%q) = %q, want %q", name, tt.in, got, tt.want)
		}
	}
	if got := CollapseLine(" A\n  title\t"); got != "A title" {
		t.Errorf("CollapseLine = %q", got)
	}
}

func FuzzCollapse(f *testing.F) {
	for _, s := range []string{"exam-\nple", "a\n\n\nb", "ﬁ\u00AD", "-\n", "\xff-\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := Collapse(s)
		if Collapse(got) != got {
			t.Errorf("Collapse is not idempotent on %q: %q then %q", s, got, Collapse(got))
		}
	})
}
