package chunk

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCountTokens(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want int
	}{
		{"", 0},
		{" \t\r\n\u00a0\u3000", 0},             // whitespace is free, ASCII or not
		{"hello", 1},                           // a short word
		{"hello world", 2},                     //
		{"chunker", 2},                         // 7 letters: past the 6 a run gets for one token
		{"information", 3},                     // 11 letters: 1 + ceil(5/4)
		{"getUserName", 3},                     // camelCase humps are words
		{"HTTPServer", 2},                      // no hump: one 10-letter run
		{"2025", 2},                            // digits in threes
		{"3.14159", 4},                         // 3 . 141 59
		{"Hello, world!", 4},                   // each punctuation mark is a token
		{"a+b=c", 5},                           //
		{"café", 1},                            // é weighs 3: run weight 6
		{"Привет", 4},                          // 6 Cyrillic letters weigh 18: 1 + ceil(12/4)
		{"日本語", 3},                             // CJK: one each ...
		{"日本語の文章", 7},                          // ... plus one per four in a run
		{"中文English", 4},                       // a CJK run, then a 7-letter word
		{"\xff", 1},                            // an invalid byte
		{"a\xffb", 3},                          //
		{"=== \"quoted\" ===", 9},              // 3 + 1 + 1 + 1 + 3
		{"The quick brown fox jumps.", 6},      //
		{"func (c *Cache) Get(key K) V {", 13}, // code: symbols cost
		{strings.Repeat("x", 1000), 1 + 249},   // an unbroken run: 1 per 4 past the first 6
		{strings.Repeat("ab ", 1000), 1000},    // 1000 short words
		{strings.Repeat("語", 100), 125},        //
		{strings.Repeat("9", 10), 4},           //
		{"\u0301", 1},                          // a lone combining mark is a letter
		{"🙂", 1},                               // a symbol
		{"x\u200by", 3},                        // zero-width space is not whitespace
	}
	for _, tt := range tests {
		if got := CountTokens(tt.in); got != tt.want {
			t.Errorf("CountTokens(%q) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

func TestCutTokens(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in       string
		budget   int
		wantN    int
		wantWord bool
	}{
		{"", 3, 0, true},
		{"hello world foo", 2, len("hello world"), true},
		{"hello world foo", 3, len("hello world foo"), true},
		{"hello world foo", 1, len("hello"), true},
		{"helloworld", 1, len("hellow"), false},             // 6 letters fit in one token
		{"abcdefghijklmnop", 2, 10, false},                  // 1 + ceil(4/4)
		{"日本語の文章", 2, len("日本"), false},                     // CJK has no word boundaries
		{"a b", 0, 1, false},                                // no budget: still one character
		{"one two, three", 3, len("one two,"), true},        // ends after the comma
		{"     spaces", 1, len("     spaces"), true},        //
		{"ab" + strings.Repeat(" ", 50) + "cd", 1, 2, true}, // whitespace is free, but "cd" is not
	}
	for _, tt := range tests {
		n, word := cutTokens(tt.in, tt.budget)
		if n != tt.wantN || word != tt.wantWord {
			t.Errorf("cutTokens(%q, %d) = %d, %v; want %d, %v", tt.in, tt.budget, n, word, tt.wantN, tt.wantWord)
		}
	}
}

// FuzzCountTokens checks the properties the splitter relies on: counts are additive over
// whitespace, joining two texts anywhere else adds at most one token, prefixes never count
// more than the text they start, no character costs more than one token, and cutTokens
// returns the longest prefix within its budget.
func FuzzCountTokens(f *testing.F) {
	for _, s := range []string{"", "hello world", "getUserName", "日本語の文章", "3.14159", "café\xff", "a+b=c", strings.Repeat("x", 40)} {
		f.Add(s, "more text", uint8(3))
	}
	f.Fuzz(func(t *testing.T, a, b string, budget uint8) {
		na, nb := CountTokens(a), CountTokens(b)
		var c counter
		for i := 0; i < len(a); {
			i, _ = c.next(a, i)
		}
		if c.total() != na {
			t.Errorf("counter counts %q as %d, CountTokens as %d", a, c.total(), na)
		}
		if got := CountTokens(a + " " + b); got != na+nb {
			t.Errorf("CountTokens(%q + %q) = %d, want %d + %d", a+" ", b, got, na, nb)
		}
		if got := CountTokens(a + b); got > na+nb+1 {
			t.Errorf("CountTokens(%q) = %d > %d + %d + 1", a+b, got, na, nb)
		}
		if len(a) > 256 {
			return
		}
		prev := 0
		for i := 0; i < len(a); {
			_, size := utf8.DecodeRuneInString(a[i:])
			if n := CountTokens(a[i : i+size]); n > 1 {
				t.Errorf("CountTokens(%q) = %d > 1", a[i:i+size], n)
			}
			i += size
			n := CountTokens(a[:i])
			if n < prev {
				t.Errorf("CountTokens(%q) = %d < %d, the count of a shorter prefix", a[:i], n, prev)
			}
			prev = n
		}
		n, word := cutTokens(a, int(budget))
		if n > len(a) || (len(a) > 0 && n == 0) || !runeStart(a, n) {
			t.Fatalf("cutTokens(%q, %d) = %d: not a character boundary in (0, len]", a, budget, n)
		}
		if got := CountTokens(a[:n]); got > int(budget) && budget > 0 {
			t.Errorf("cutTokens(%q, %d) = %d: prefix counts %d", a, budget, n, got)
		}
		if !word && n < len(a) && budget > 0 {
			_, size := utf8.DecodeRuneInString(a[n:])
			if CountTokens(a[:n+size]) <= int(budget) {
				t.Errorf("cutTokens(%q, %d) = %d: one more character would fit", a, budget, n)
			}
		}
	})
}

func BenchmarkCountTokens(b *testing.B) {
	for _, bc := range []struct{ name, text string }{
		{"prose", strings.Repeat("Long before computers, libraries faced the same problem that search engines face today: how to find the few relevant items among very many. ", 64)},
		{"code", strings.Repeat("func (c *Cache[K, V]) Get(key K) (V, bool) {\n\tc.mu.Lock()\n\tdefer c.mu.Unlock()\n\tel, ok := c.entries[key]\n", 64)},
		{"cjk", strings.Repeat("检索增强生成是一种把信息检索和文本生成结合起来的方法。", 64)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(bc.text)))
			b.ReportAllocs()
			for b.Loop() {
				CountTokens(bc.text)
			}
		})
	}
}
