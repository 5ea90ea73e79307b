package answer

import (
	"fmt"
	"strings"
)

// Policy says what becomes of the claim sentences of an answer that their citations do not
// support (Sentence.Supported false): model output is untrusted until validated.
type Policy string

// Policies.
const (
	// PolicyDrop removes unsupported claims from the answer before anyone sees them
	// (Result.DroppedSentences says which), and falls back to the extractive answer when no
	// supported claim is left. The default.
	PolicyDrop Policy = "drop"
	// PolicyFallback drops like PolicyDrop, and falls back to the extractive answer when too
	// little survives: fewer than half of the answer's claims (or no supported claim).
	PolicyFallback Policy = "fallback"
	// PolicyMark keeps every sentence and marks the unsupported ones (Supported false,
	// Grounded false), for clients that show and mark them.
	PolicyMark Policy = "mark"
)

// Policies lists the policies, the default first.
func Policies() []Policy { return []Policy{PolicyDrop, PolicyFallback, PolicyMark} }

// ParsePolicy parses a policy's name ("" is the default, drop).
func ParsePolicy(s string) (Policy, error) {
	if s == "" {
		return PolicyDrop, nil
	}
	for _, p := range Policies() {
		if string(p) == s {
			return p, nil
		}
	}
	return "", fmt.Errorf("%q is not a validation policy (drop, fallback or mark)", s)
}

// minSurviving is the share of an answer's claims that must be supported under
// PolicyFallback for the rest to be dropped rather than the whole answer replaced.
const minSurviving = 0.5

// unsupported reports whether s is a claim its citations do not support.
func unsupported(s Sentence) bool { return s.Claim && !s.Supported }

// enforce applies policy p to v, the validation of an answer against vd's sources: under
// drop and fallback, the unsupported claims are removed from the text and the rest is
// validated again (until nothing unsupported is left; removing a sentence cannot make
// another one unsupported, so once in practice). It returns the validation of what is left,
// the sentences removed, and whether too little is left to answer with (no supported claim
// with a valid citation; under fallback also fewer than minSurviving of the claims).
func enforce(p Policy, vd *validator, v Validation) (Validation, []Sentence, bool) {
	claims := 0
	for _, s := range v.Sentences {
		if s.Claim {
			claims++
		}
	}
	var removed []Sentence
	if p != PolicyMark {
		for range 3 {
			drop := make([]bool, len(v.Sentences))
			n := 0
			for i, s := range v.Sentences {
				if unsupported(s) {
					drop[i] = true
					removed = append(removed, s)
					n++
				}
			}
			if n == 0 {
				break
			}
			v = vd.validate(withoutSentences(v, drop))
		}
	}
	supported := 0
	for _, s := range v.Sentences {
		if s.Claim && s.Supported && len(s.Citations) > 0 {
			supported++
		}
	}
	tooLittle := len(v.Cited) == 0 || supported == 0
	if p == PolicyFallback && float64(supported) < minSurviving*float64(claims) {
		tooLittle = true
	}
	if p != PolicyMark && !v.Grounded {
		tooLittle = true // still something unsupported after three passes: trust none of it
	}
	return v, removed, tooLittle
}

// withoutSentences returns v.Answer without the sentences marked in drop: a sentence alone
// on its line (or list item, or heading) goes with its line; one that begins a line leaves
// the blanks after it; one inside a line takes the blanks before it. Runs of blank lines
// left behind are collapsed.
func withoutSentences(v Validation, drop []bool) string {
	text := v.Answer
	for i := len(v.extents) - 1; i >= 0; i-- {
		if !drop[i] {
			continue
		}
		start, end := v.extents[i].start, v.extents[i].end
		ls := strings.LastIndexByte(text[:start], '\n') + 1
		le := strings.IndexByte(text[end:], '\n')
		if le < 0 {
			le = len(text)
		} else {
			le += end
		}
		before, after := text[ls:start], text[end:le]
		switch {
		case onlyMarker(before) && strings.TrimSpace(after) == "":
			if le < len(text) {
				le++ // the line's newline
			}
			text = text[:ls] + text[le:]
		case onlyMarker(before):
			k := end
			for k < le && (text[k] == ' ' || text[k] == '\t') {
				k++
			}
			text = text[:start] + text[k:]
		default:
			k := start
			for k > ls && (text[k-1] == ' ' || text[k-1] == '\t') {
				k--
			}
			text = text[:k] + text[end:]
		}
	}
	for strings.Contains(text, "\n\n\n") {
		text = strings.ReplaceAll(text, "\n\n\n", "\n\n")
	}
	return strings.TrimSpace(text)
}

// onlyMarker reports whether the start of a line before a sentence holds nothing but
// blanks, a list marker or a heading's #s.
func onlyMarker(s string) bool {
	s = strings.TrimSpace(s)
	return s == "" || listMarker(s+" ") == len(s)+1 || strings.Trim(s, "#") == ""
}

// gate passes a generator's streamed text on to out one sentence at a time, and only the
// sentences that validation keeps: a sentence is judged when the next one has begun (its
// citations, which may follow its full stop, are then known), or at the end; a claim its
// citations do not support is never sent. The text between sentences is sent with the
// sentence after it. What is sent is provisional like any streamed text: the final answer
// may still fall back.
type gate struct {
	vd   *validator
	out  func(string)
	buf  strings.Builder
	next int // the first sentence not yet judged
	sent int // the offset in the validated text up to which it was judged
}

func newGate(vd *validator, out func(string)) *gate { return &gate{vd: vd, out: out} }

// write adds streamed text.
func (g *gate) write(s string) {
	g.buf.WriteString(s)
	g.pass(false)
}

// flush judges the sentences left once the generator is done.
func (g *gate) flush() { g.pass(true) }

func (g *gate) pass(final bool) {
	v := g.vd.validate(g.buf.String())
	for ; g.next < len(v.Sentences); g.next++ {
		e := v.extents[g.next]
		if !final {
			if g.next == len(v.Sentences)-1 {
				return // the last sentence may go on
			}
			if rest := strings.TrimLeft(v.Answer[e.end:], " \t\n"); strings.HasPrefix(rest, "[") {
				return // a citation of this sentence may be arriving
			}
		}
		if e.end < g.sent || e.start < g.sent {
			// The text before the judged offset changed (it cannot, as citations are
			// cleaned where they stand): send nothing more than the final answer will.
			return
		}
		if !unsupported(v.Sentences[g.next]) {
			g.out(v.Answer[g.sent:e.end])
		}
		g.sent = e.end
	}
}
