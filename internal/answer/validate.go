package answer

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/docent-rag/docent/internal/retrieve"
)

// DefaultMinSupport is the share of a claim's content words that the passages it cites
// must contain for the claim to count as supported. It was chosen on ClapNQ (see the
// package documentation and TestSupportClapNQ).
const DefaultMinSupport = 0.7

// maxRange is the widest citation range ("[2-5]") expanded into its numbers; a wider one
// counts as its two ends.
const maxRange = 20

// ValidateConfig tunes Validate. Zero values take the defaults.
type ValidateConfig struct {
	// MinSupport is the share, in (0, 1], of a cited sentence's content words (stemmed,
	// stop words removed) that must occur in the passages it cites; default
	// DefaultMinSupport. Every number in the sentence must occur there too.
	MinSupport float64
}

func (c *ValidateConfig) defaults() {
	c.MinSupport = cmp.Or(c.MinSupport, DefaultMinSupport)
	c.MinSupport = min(max(c.MinSupport, 0.01), 1)
}

// Sentence is one sentence of an answer as Validate judged it.
type Sentence struct {
	// Text is the sentence without its citation markers.
	Text string `json:"text"`
	// Citations are the valid source numbers the sentence cites, in order of appearance.
	Citations []int `json:"citations,omitempty"`
	// Claim is false for sentences that assert nothing about the world: connectives and
	// lead-ins ("In short:"), headings, and statements that the sources lack the answer.
	// Every cited sentence is a claim.
	Claim bool `json:"claim"`
	// Supported: a claim whose cited passages contain at least MinSupport of its content
	// words and all its numbers. An uncited claim is never supported. A sentence that is
	// not a claim counts as supported: there is nothing to support.
	Supported bool `json:"supported"`
	// Support is the share of the claim's content words found in its cited passages (0 for
	// an uncited claim and for non-claims).
	Support float64 `json:"support"`
	// MissingNumbers are the numbers of the sentence that no cited passage contains.
	MissingNumbers []string `json:"missing_numbers,omitempty"`
	// MissingNames are the names of the sentence (capitalised words past its first, and
	// acronyms) that no cited passage contains.
	MissingNames []string `json:"missing_names,omitempty"`
}

// extent delimits a sentence in Validation.Answer, its markers and the lines of bare
// citations that belong to it included.
type extent struct{ start, end int }

// Validation is what Validate found in an answer.
type Validation struct {
	// Answer is the text with its citations rewritten as [n] markers ("[1, 3]" and "[1-3]"
	// become "[1][3]" and "[1][2][3]") and the invalid ones removed.
	Answer    string     `json:"answer"`
	Sentences []Sentence `json:"sentences"`
	// Dropped are the distinct citation numbers outside 1..len(sources), sorted.
	Dropped []int `json:"dropped,omitempty"`
	// Cited are the distinct valid citation numbers, sorted.
	Cited []int `json:"cited,omitempty"`
	// Grounded: at least one valid citation, and every claim supported.
	Grounded bool `json:"grounded"`
	// NoAnswer: an uncited sentence says that the sources do not contain the answer.
	NoAnswer bool `json:"no_answer"`

	extents []extent // of Sentences, in order
}

// Validate checks an answer against the sources it was written from: it removes the
// citations of sources that do not exist, splits the answer into sentences and checks each
// claim against the passages it cites. It is deterministic and does no I/O.
//
// Citations are bracketed groups of numbers: [1], [1, 2], [1; 2], [1][2] and ranges [1-3]
// (a hyphen or an en dash). Any such group is read as a citation, so a bracketed year
// ("[2020]") in an answer is dropped as the citation of a source that does not exist.
// Other brackets ("[a]", "[citation needed]", Markdown links) are left alone.
func Validate(text string, sources []retrieve.Item, cfg ValidateConfig) Validation {
	return newValidator(sources, cfg).validate(text)
}

// validator validates answers against one set of sources, keeping each passage's terms
// once computed (a stream validates its growing text again and again).
type validator struct {
	sources  []retrieve.Item
	cfg      ValidateConfig
	passages []*passageTerms
}

func newValidator(sources []retrieve.Item, cfg ValidateConfig) *validator {
	cfg.defaults()
	return &validator{sources: sources, cfg: cfg, passages: make([]*passageTerms, len(sources))}
}

func (vd *validator) terms(n int) *passageTerms {
	if vd.passages[n-1] == nil {
		vd.passages[n-1] = newPassageTerms(vd.sources[n-1])
	}
	return vd.passages[n-1]
}

func (vd *validator) validate(text string) Validation {
	cfg, sources, terms := vd.cfg, vd.sources, vd.terms
	clean, cites, dropped := cleanCitations(text, len(sources))
	v := Validation{Answer: clean, Dropped: dropped}
	next := 0 // the first citation not yet assigned to a sentence
	for _, sp := range sentences(clean) {
		var nums []int
		for next < len(cites) && cites[next].at < sp.start {
			next++ // inside skipped text (code)
		}
		for next < len(cites) && cites[next].at < sp.end {
			for _, n := range cites[next].nums {
				if !slices.Contains(nums, n) {
					nums = append(nums, n)
				}
			}
			next++
		}
		body := stripMarkers(clean[sp.start:sp.end])
		if !hasWord(body) {
			// A line of bare citations: they belong to the sentence before.
			if len(v.Sentences) > 0 && len(nums) > 0 {
				last := &v.Sentences[len(v.Sentences)-1]
				for _, n := range nums {
					if !slices.Contains(last.Citations, n) {
						last.Citations = append(last.Citations, n)
					}
				}
				last.Claim = true
				v.extents[len(v.extents)-1].end = sp.end
			}
			continue
		}
		v.Sentences = append(v.Sentences, Sentence{Text: body, Citations: nums})
		v.extents = append(v.extents, extent{sp.start, sp.end})
		s := &v.Sentences[len(v.Sentences)-1]
		s.Claim = len(nums) > 0 || isClaim(body, sp.kind)
		if len(nums) == 0 && isNoAnswer(body) {
			s.Claim = false
			v.NoAnswer = true
		}
	}
	for i := range v.Sentences {
		s := &v.Sentences[i]
		v.Cited = append(v.Cited, s.Citations...)
		switch {
		case !s.Claim:
			s.Supported = true
		case len(s.Citations) == 0:
			s.Supported = false
		default:
			s.Support, s.MissingNumbers = support(s.Text, s.Citations, terms)
			s.MissingNames = missingNames(s.Text, s.Citations, terms)
			s.Supported = s.Support >= cfg.MinSupport && len(s.MissingNumbers) == 0 && len(s.MissingNames) == 0
		}
	}
	slices.Sort(v.Cited)
	v.Cited = slices.Compact(v.Cited)
	v.Grounded = len(v.Cited) > 0
	for _, s := range v.Sentences {
		v.Grounded = v.Grounded && s.Supported
	}
	return v
}

// support returns the share of the content words of sentence found in the cited passages
// and the numbers of the sentence that none of them contains.
func support(sentence string, cited []int, terms func(n int) *passageTerms) (float64, []string) {
	var words, nums []string
	words = contentTerms(words, sentence)
	nums = numbers(nums, sentence)
	total, found := 0, 0
	for _, w := range words {
		if metaWords[w] {
			continue
		}
		total++
		for _, n := range cited {
			if terms(n).words[w] {
				found++
				break
			}
		}
	}
	var missing []string
	for _, x := range nums {
		ok := false
		for _, n := range cited {
			if terms(n).numbers[x] {
				ok = true
				break
			}
		}
		if !ok && !slices.Contains(missing, x) {
			missing = append(missing, x)
		}
	}
	if total == 0 {
		return 1, missing
	}
	return float64(found) / float64(total), missing
}

// missingNames returns the names of sentence that none of the cited passages contains. A
// name is a word written with a capital past the sentence's first word, or an acronym (two
// capitals or more) anywhere, that is not a stop word: the people, places, organisations and
// titles a claim is about, which one word's share of the content words cannot guard (a
// claim with its subject swapped keeps nearly all its words).
func missingNames(sentence string, cited []int, terms func(n int) *passageTerms) []string {
	var missing []string
	first := true
	for _, w := range nameWords(sentence) {
		w = strings.Trim(w, "'’-")
		isFirst := first
		first = false
		r, _ := utf8.DecodeRuneInString(strings.TrimLeftFunc(w, func(r rune) bool { return unicode.Is(unicode.Mn, r) }))
		if w == "" || !unicode.IsUpper(r) || utf8.RuneCountInString(w) < 2 {
			continue
		}
		acronym := strings.ToUpper(w) == w && !hasDigit(w)
		if isFirst && !acronym {
			continue
		}
		found := false
		eachWord(w, func(part string) {
			t := term(part)
			if t == "" || metaWords[t] {
				found = true // a stop word with a capital ("The", "It"): not a name
				return
			}
			for _, n := range cited {
				if terms(n).words[t] {
					found = true
					return
				}
			}
		})
		if !found && !slices.Contains(missing, w) {
			missing = append(missing, w)
		}
	}
	return missing
}

// nameWords splits a sentence into the words that may be names: runs of letters, digits
// and combining marks, with apostrophes and hyphens inside ("O'Brien", "Jean-Luc"), and a
// '.' or ',' between two digits ("A1,5"), as eachWord reads them, so that a name is looked
// up as the passage's terms hold it.
func nameWords(s string) []string {
	var out []string
	start := -1
	for i, r := range s {
		keep := unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r) || r == '\'' || r == '’' || r == '-' ||
			(r == '.' || r == ',') && start >= 0 && isDigit(s[i-1]) && i+1 < len(s) && isDigit(s[i+1])
		switch {
		case keep && start < 0:
			start = i
		case !keep && start >= 0:
			out = append(out, s[start:i])
			start = -1
		}
	}
	if start >= 0 {
		out = append(out, s[start:])
	}
	return out
}

// passageTerms are the content terms and numbers of a passage, its title and headings.
type passageTerms struct {
	words   map[string]bool
	numbers map[string]bool
}

func newPassageTerms(it retrieve.Item) *passageTerms {
	p := &passageTerms{words: make(map[string]bool, it.Tokens/2+16), numbers: make(map[string]bool)}
	add := func(s string) {
		eachWord(s, func(w string) {
			if t := term(w); t != "" {
				p.words[t] = true
			}
		})
		for _, n := range numbers(nil, s) {
			p.numbers[n] = true
		}
	}
	add(it.Text)
	add(it.Title)
	for _, h := range it.HeadingPath {
		add(h)
	}
	return p
}

// isClaim tells whether an uncited sentence asserts something: not a heading or a lead-in
// ending with a colon, and at least two content words (words about the sources aside) or a
// number.
func isClaim(s string, kind blockKind) bool {
	if kind == heading || strings.HasSuffix(strings.TrimRight(s, " *_"), ":") {
		return false
	}
	n, num := 0, false
	eachWord(s, func(w string) {
		if t := term(w); t != "" && !metaWords[t] {
			n++
		}
		num = num || hasDigit(w)
	})
	return n >= 2 || num
}

// negations, sourceRefs and lackVerbs make up a statement that the sources lack the
// answer: "The sources do not mention ...", "I could not find ... in the provided text".
var (
	negations  = toSet(`no not nothing none cannot unable insufficient neither nor without lack lacks`)
	sourceRefs = toSet(`source sources passage passages document documents context text texts
excerpt excerpts information material materials i we`)
	lackVerbs = stemSet(`contain mention provide answer say find include specify address cover know
discuss state give explain describe detail information determine tell`)
)

// isNoAnswer recognises a statement that the sources do not contain the answer.
func isNoAnswer(s string) bool {
	neg, ref, verb := false, false, false
	prev := ""
	eachWord(s, func(w string) {
		if negations[w] || w == "t" && (strings.HasSuffix(prev, "n") || prev == "can") {
			neg = true // "not", "don't", "can't"
		}
		ref = ref || sourceRefs[w]
		verb = verb || lackVerbs[stem(w)]
		prev = w
	})
	return neg && ref && verb
}

// hasWord reports whether s has a letter or a digit.
func hasWord(s string) bool {
	found := false
	eachWord(s, func(string) { found = true })
	return found
}

// A cite is a citation group in the cleaned answer: its offset and valid numbers.
type cite struct {
	at   int
	nums []int
}

// CleanCitations rewrites text's citations as Validate does for an answer written from
// sources sources (Validation.Answer), without checking anything else: cheap enough to run
// on a streamed answer's text as it grows.
func CleanCitations(text string, sources int) string {
	clean, _, _ := cleanCitations(text, sources)
	return clean
}

// cleanCitations rewrites the citation groups of text as [n] markers of the numbers within
// 1..n, removing the others (and a group left empty, with the space before it). It returns
// the new text, the groups' offsets in it and the dropped numbers, sorted and distinct.
func cleanCitations(text string, n int) (string, []cite, []int) {
	var dropped []int
	for {
		clean, cites, d := cleanOnce(text, n)
		dropped = append(dropped, d...)
		if len(d) == 0 || clean == text {
			slices.Sort(dropped)
			return clean, cites, slices.Compact(dropped)
		}
		// Removing a group can make a new one of the brackets around it: "[[11]0]".
		text = clean
	}
}

// cleanOnce is one pass of cleanCitations; the dropped numbers are not sorted.
func cleanOnce(text string, n int) (string, []cite, []int) {
	var b strings.Builder
	b.Grow(len(text))
	var cites []cite
	var dropped []int
	last := 0
	for i := 0; i < len(text); i++ {
		if text[i] != '[' {
			continue
		}
		var nums []int
		size := citationGroup(text[i:], func(k int) {
			if k < 1 || k > n {
				dropped = append(dropped, k)
			} else if !slices.Contains(nums, k) {
				nums = append(nums, k)
			}
		})
		if size == 0 {
			continue
		}
		if len(cites) > 0 && strings.TrimSpace(text[last:i]) == "" && cites[len(cites)-1].at+markersLen(cites[len(cites)-1].nums) == b.Len() {
			// Right after another group ("[1][1, 2]", "[1] [2]"): one run of markers.
			prev := &cites[len(cites)-1]
			nums = slices.DeleteFunc(nums, func(k int) bool { return slices.Contains(prev.nums, k) })
			for _, k := range nums {
				prev.nums = append(prev.nums, k)
				b.WriteString("[" + strconv.Itoa(k) + "]")
			}
			last = i + size
			i = last - 1
			continue
		}
		b.WriteString(text[last:i])
		last = i + size
		if len(nums) == 0 {
			// Remove the group, and the space before it when punctuation or a space follows.
			if last == len(text) || strings.ContainsRune(" \t\n.,;:!?)", rune(text[last])) {
				s := b.String()
				trimmed := strings.TrimRight(s, " \t")
				if len(trimmed) < len(s) {
					b.Reset()
					b.WriteString(trimmed)
				}
			}
		} else {
			cites = append(cites, cite{at: b.Len(), nums: nums})
			for _, k := range nums {
				b.WriteByte('[')
				b.WriteString(strconv.Itoa(k))
				b.WriteByte(']')
			}
		}
		i = last - 1
	}
	b.WriteString(text[last:])
	return b.String(), cites, dropped
}

// markersLen is the length of the [n] markers of nums.
func markersLen(nums []int) int {
	n := 0
	for _, k := range nums {
		n += len(strconv.Itoa(k)) + 2
	}
	return n
}

// citationGroup returns the length of the citation group at the start of s, or 0 if s does
// not start with one, and calls fn (if not nil) with each of its numbers. A group is "[",
// numbers or ranges ("2-4", "2–4") separated by commas or semicolons, then "]".
func citationGroup(s string, fn func(n int)) int {
	if len(s) < 3 || s[0] != '[' {
		return 0
	}
	var found [][2]int
	i := 1
	for {
		i = skipBlank(s, i)
		lo, next := citationNumber(s, i)
		if next == i {
			return 0
		}
		i = skipBlank(s, next)
		hi := lo
		if dash := dashAt(s, i); dash > 0 {
			j := skipBlank(s, i+dash)
			h, next := citationNumber(s, j)
			if next == j {
				return 0
			}
			hi, i = h, skipBlank(s, next)
		}
		found = append(found, [2]int{lo, hi})
		if i >= len(s) {
			return 0
		}
		switch s[i] {
		case ']':
			if fn != nil {
				for _, r := range found {
					if r[1] >= r[0] && r[1]-r[0] <= maxRange {
						for k := r[0]; k <= r[1]; k++ {
							fn(k)
						}
					} else {
						fn(r[0])
						fn(r[1])
					}
				}
			}
			return i + 1
		case ',', ';':
			i++
		default:
			return 0
		}
	}
}

// citationNumber parses up to six digits at s[i:].
func citationNumber(s string, i int) (int, int) {
	v, j := 0, i
	for j < len(s) && isDigit(s[j]) && j-i < 6 {
		v = v*10 + int(s[j]-'0')
		j++
	}
	if j < len(s) && isDigit(s[j]) {
		return 0, i // too long to be a citation
	}
	return v, j
}

func skipBlank(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	return i
}

// dashAt returns the length of a hyphen or en dash at s[i:], or 0.
func dashAt(s string, i int) int {
	switch {
	case i < len(s) && s[i] == '-':
		return 1
	case strings.HasPrefix(s[i:], "–"):
		return len("–")
	}
	return 0
}

// stripMarkers removes the [n] markers of a cleaned sentence, with the spaces before them,
// and collapses its white space.
func stripMarkers(s string) string {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '[' {
			if n := citationGroup(s[i:], nil); n > 0 {
				for len(b) > 0 && isSpace(b[len(b)-1]) {
					b = b[:len(b)-1]
				}
				i += n - 1
				continue
			}
		}
		b = append(b, s[i])
	}
	return strings.Join(strings.Fields(string(b)), " ")
}
