package answer

import (
	"iter"
	"strings"
	"unicode"
	"unicode/utf8"
)

// This file holds the text processing that Extractive, Validate and Rewrite share: words,
// a light stemmer, stop words, numbers and a sentence splitter. It is deliberately simple
// and allocation-light: it runs on every answer.

// eachWord calls fn with every word of s, lower-cased: a maximal run of letters and
// digits, where a '.' or ',' between two digits stays inside the word ("3.5", "1,000").
func eachWord(s string, fn func(w string)) {
	start := -1
	for i := 0; i < len(s); {
		r, size := rune(s[i]), 1
		if r >= utf8.RuneSelf {
			r, size = utf8.DecodeRuneInString(s[i:])
		}
		word := unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r)
		if !word && start >= 0 && (r == '.' || r == ',') && i > 0 && isDigit(s[i-1]) && i+1 < len(s) && isDigit(s[i+1]) {
			word = true
		}
		switch {
		case word && start < 0:
			start = i
		case !word && start >= 0:
			fn(lower(s[start:i]))
			start = -1
		}
		i += size
	}
	if start >= 0 {
		fn(lower(s[start:]))
	}
}

func isDigit(b byte) bool { return '0' <= b && b <= '9' }

// lower lower-cases w without allocating when it is already lower-case ASCII.
func lower(w string) string {
	for i := 0; i < len(w); i++ {
		c := w[i]
		if c >= utf8.RuneSelf || 'A' <= c && c <= 'Z' {
			return strings.ToLower(w)
		}
	}
	return w
}

// hasDigit reports whether w contains an ASCII digit.
func hasDigit(w string) bool {
	for i := 0; i < len(w); i++ {
		if isDigit(w[i]) {
			return true
		}
	}
	return false
}

// term returns the form of a word used for matching: "" for stop words and single letters,
// the normalised number for numbers, the stem otherwise.
func term(w string) string {
	if hasDigit(w) {
		if numeric(w) {
			return number(w) // "1,000" and "1000" match
		}
		return w // "19th", "mp3": as written
	}
	if len(w) < 2 || stopWords[w] {
		return ""
	}
	return stem(w)
}

// numeric reports whether w is made of digits and separators only.
func numeric(w string) bool {
	for i := 0; i < len(w); i++ {
		if !isDigit(w[i]) && w[i] != '.' && w[i] != ',' {
			return false
		}
	}
	return true
}

// number returns the first number in w in a normal form: thousands separators removed, a
// decimal comma made a point, leading zeros kept. "" if w has no digit.
func number(w string) string {
	i := 0
	for i < len(w) && !isDigit(w[i]) {
		i++
	}
	if i == len(w) {
		return ""
	}
	j := i
	for j < len(w) && (isDigit(w[j]) || (w[j] == '.' || w[j] == ',') && j+1 < len(w) && isDigit(w[j+1])) {
		j++
	}
	n := w[i:j]
	if !strings.ContainsRune(n, ',') {
		return n
	}
	// "1,000,000" is a thousands grouping; "3,5" a decimal comma.
	var b strings.Builder
	parts := strings.Split(n, ",")
	grouping := true
	for _, p := range parts[1:] {
		if len(p) < 3 || !isDigit(p[0]) || !isDigit(p[1]) || !isDigit(p[2]) || len(p) > 3 && p[3] != '.' {
			grouping = false
		}
	}
	for k, p := range parts {
		if k > 0 && !grouping {
			b.WriteByte('.')
		}
		b.WriteString(p)
	}
	return b.String()
}

// numbers appends the numbers in s (see number) to dst.
func numbers(dst []string, s string) []string {
	eachWord(s, func(w string) {
		for w != "" {
			i := strings.IndexFunc(w, func(r rune) bool { return r < utf8.RuneSelf && isDigit(byte(r)) })
			if i < 0 {
				return
			}
			w = w[i:]
			n := number(w)
			dst = append(dst, n)
			j := 0
			for j < len(w) && (isDigit(w[j]) || w[j] == '.' || w[j] == ',') {
				j++
			}
			w = w[j:]
		}
	})
	return dst
}

// stem strips common English inflections: a light, deterministic cousin of Porter's step 1
// ("studies", "studied", "study" → "studi"; "running" → "run"; "created" → "creat").
// It only has to map the forms of one word together, not to produce words.
func stem(w string) string {
	if len(w) <= 3 {
		return w
	}
	for i := 0; i < len(w); i++ {
		if w[i] >= utf8.RuneSelf {
			return w // not English: leave it
		}
	}
	switch {
	case strings.HasSuffix(w, "sses"):
		w = w[:len(w)-2]
	case strings.HasSuffix(w, "ies") && len(w) > 4:
		w = w[:len(w)-2] // "studies" → "studi"
	case strings.HasSuffix(w, "s") && !strings.HasSuffix(w, "ss") && !strings.HasSuffix(w, "us") && !strings.HasSuffix(w, "is"):
		w = w[:len(w)-1]
	}
	switch {
	case strings.HasSuffix(w, "ing") && len(w) >= 6:
		w = undouble(w[:len(w)-3])
	case strings.HasSuffix(w, "ed") && len(w) >= 5:
		w = undouble(w[:len(w)-2])
	case strings.HasSuffix(w, "ly") && len(w) >= 6:
		w = w[:len(w)-2]
	}
	switch {
	case len(w) > 3 && w[len(w)-1] == 'y':
		w = w[:len(w)-1] + "i"
	case len(w) > 4 && w[len(w)-1] == 'e':
		w = w[:len(w)-1]
	}
	return w
}

// undouble turns a final doubled consonant into one ("runn" → "run"), except l, s and z.
func undouble(w string) string {
	n := len(w)
	if n >= 3 && w[n-1] == w[n-2] && !strings.ContainsRune("aeiouylsz", rune(w[n-1])) {
		return w[:n-1]
	}
	return w
}

// stopWords are English function words: they carry no claim. Question words and auxiliary
// verbs are included, and the stubs that contractions leave ("don't" → "don", "t").
var stopWords = toSet(`a about above after again against all also am an and any are aren as at be
because been before being below between both but by can cannot could couldn did didn do does
doesn doing don down during each either else etc ever few for from further had hadn has hasn have
haven having he her here hers herself him himself his how however i if in into is isn it its
itself just ll many me might more most much must mustn my myself neither no nor not now of off on once only
get gets got getting
or other ought our ours ourselves out over own per re same shall shan she should shouldn so some
such than that the their theirs them themselves then there these they this those through thus to
too under until up upon us ve very via was wasn we were weren what whatever when whenever where
whereas wherever whether which while who whom whose why will with won would wouldn yes yet you
your yours yourself yourselves`)

// metaWords are words an answer uses about its sources rather than about the world
// ("according to the sources, ..."); support is not expected for them.
var metaWords = stemSet(`according answer context document documents excerpt information mention
mentioned mentions passage passages provided say says source sources state stated states text`)

func toSet(words string) map[string]bool {
	m := make(map[string]bool)
	for _, w := range strings.Fields(words) {
		m[w] = true
	}
	return m
}

func stemSet(words string) map[string]bool {
	m := make(map[string]bool)
	for _, w := range strings.Fields(words) {
		m[stem(w)] = true
	}
	return m
}

// contentTerms appends the distinct terms of s (see term) to dst.
func contentTerms(dst []string, s string) []string {
	eachWord(s, func(w string) {
		t := term(w)
		if t == "" {
			return
		}
		for _, d := range dst {
			if d == t {
				return
			}
		}
		dst = append(dst, t)
	})
	return dst
}

// A span is a sentence of a text: s[start:end], trimmed.
type span struct {
	start, end int
	kind       blockKind
}

type blockKind uint8

const (
	prose   blockKind = iota // a paragraph's sentence
	item                     // a list item's sentence (the marker is outside the span)
	heading                  // a Markdown heading line (the #s are outside the span)
	table                    // a table row
)

// sentences splits s into sentences. Blank lines, Markdown headings, list items and table
// rows start new blocks; fenced code is skipped; other line breaks are spaces. Within a
// block a sentence ends at . ! ? (with any closing quotes or brackets) followed by a space
// and not followed by a lower-case letter, unless the word before the full stop is an
// abbreviation or an initial. Citation groups right after the end ("... 2009. [1]") belong
// to the sentence they follow.
func sentences(s string) []span {
	var out []span
	blockStart, blockKind := -1, prose
	flush := func(end int) {
		if blockStart >= 0 {
			out = splitBlock(out, s, blockStart, end, blockKind)
		}
		blockStart = -1
	}
	inFence := false
	for lineStart, lineEnd := range lines(s) {
		line := s[lineStart:lineEnd]
		trimmed := strings.TrimSpace(line)
		indent := lineStart + strings.Index(line, trimmed) // offset of trimmed in s
		switch {
		case strings.HasPrefix(trimmed, "```") || strings.HasPrefix(trimmed, "~~~"):
			flush(lineStart)
			inFence = !inFence
		case inFence:
		case trimmed == "":
			flush(lineStart)
		case trimmed[0] == '#':
			flush(lineStart)
			h := strings.TrimLeft(trimmed, "#")
			if h != "" && (h[0] == ' ' || h[0] == '\t') {
				off := indent + len(trimmed) - len(h)
				out = splitBlock(out, s, off, indent+len(trimmed), heading)
			} else {
				blockStart, blockKind = indent, prose // "#hashtag": text
			}
		case trimmed[0] == '|':
			flush(lineStart)
			out = append(out, span{indent, indent + len(trimmed), table})
		default:
			if n := listMarker(trimmed); n > 0 {
				flush(lineStart)
				blockStart, blockKind = indent+n, item
			} else if blockStart < 0 {
				blockStart, blockKind = indent, prose
			}
		}
	}
	flush(len(s))
	return out
}

// lines yields the start and end of each line of s (end at its "\n" or the end of s).
func lines(s string) iter.Seq2[int, int] {
	return func(yield func(int, int) bool) {
		for start := 0; start < len(s); {
			end := strings.IndexByte(s[start:], '\n')
			if end < 0 {
				end = len(s)
			} else {
				end += start
			}
			if !yield(start, end) {
				return
			}
			start = end + 1
		}
	}
}

// listMarker returns the length of a list marker and the space after it at the start of
// line ("- ", "* ", "+ ", "1. ", "2) "), or 0.
func listMarker(line string) int {
	if len(line) >= 2 && strings.ContainsRune("-*+•", rune(line[0])) && (line[1] == ' ' || line[1] == '\t') {
		return 2
	}
	if strings.HasPrefix(line, "• ") {
		return len("• ")
	}
	i := 0
	for i < len(line) && i < 3 && isDigit(line[i]) {
		i++
	}
	if i > 0 && i+1 < len(line) && (line[i] == '.' || line[i] == ')') && (line[i+1] == ' ' || line[i+1] == '\t') {
		return i + 2
	}
	return 0
}

// splitBlock appends the sentences of s[start:end] to out.
func splitBlock(out []span, s string, start, end int, kind blockKind) []span {
	emit := func(a, b int) {
		for a < b && isSpace(s[a]) {
			a++
		}
		for b > a && isSpace(s[b-1]) {
			b--
		}
		if a < b {
			out = append(out, span{a, b, kind})
		}
	}
	sent := start
	for i := start; i < end; i++ {
		c := s[i]
		if c != '.' && c != '!' && c != '?' {
			continue
		}
		j := i + 1
		for j < end && (s[j] == '.' || s[j] == '!' || s[j] == '?') {
			j++
		}
		j = skipClosers(s, j, end)
		stop := j // the end of the sentence, past any citations
		k := skipSpaces(s, j, end)
		for k < end && s[k] == '[' {
			n := citationGroup(s[k:end], nil)
			if n == 0 {
				break
			}
			stop = k + n
			k = skipSpaces(s, stop, end)
		}
		if k >= end {
			break // the block ends here
		}
		if k == j {
			continue // no space after the mark: "3.5", "e.g.x", "example.com"
		}
		if c == '.' && j == i+1 && abbreviation(s[start:i]) {
			continue
		}
		if r, _ := utf8.DecodeRuneInString(s[k:]); unicode.IsLower(r) {
			continue
		}
		emit(sent, stop)
		sent = k
		i = k - 1
	}
	emit(sent, end)
	return out
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipSpaces(s string, i, end int) int {
	for i < end && isSpace(s[i]) {
		i++
	}
	return i
}

// skipClosers skips closing quotes, brackets and emphasis after a sentence mark.
func skipClosers(s string, i, end int) int {
	for i < end {
		switch c := s[i]; {
		case c == '"' || c == '\'' || c == ')' || c == '*' || c == '_':
			i++
		case strings.HasPrefix(s[i:end], "”") || strings.HasPrefix(s[i:end], "’") || strings.HasPrefix(s[i:end], "»"):
			_, n := utf8.DecodeRuneInString(s[i:end])
			i += n
		default:
			return i
		}
	}
	return i
}

// abbreviations end with a full stop that does not end a sentence.
var abbreviations = toSet(`al approx ca cf co corp dept dr e.g eg esp est etc fig figs gen gov i.e
ie inc jr lt ltd mr mrs ms mt no nos p pp prof rev sen sgt sr st vol vols vs`)

// abbreviation reports whether before (the text up to a full stop) ends with an
// abbreviation or a single capital initial.
func abbreviation(before string) bool {
	i := len(before)
	for i > 0 {
		r, n := utf8.DecodeLastRuneInString(before[:i])
		if !unicode.IsLetter(r) && r != '.' {
			break
		}
		i -= n
	}
	w := before[i:]
	if w == "" {
		return false
	}
	if r, n := utf8.DecodeRuneInString(w); n == len(w) && unicode.IsUpper(r) {
		return true // an initial: "J. K. Rowling"
	}
	return abbreviations[strings.ToLower(w)]
}
