package retrieve

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Query is a normalised query.
type Query struct {
	Text    string   // NFKC, without control characters, whitespace collapsed
	Phrases []string // quoted phrases of two words or more, which results must contain
	// Context is text around the query that the lexical leg weighs less than Text: a
	// follow-up's conversation (answer.RuleRewrite). Its terms add to a chunk's BM25 score
	// with their IDF times the weight, never restrict the results, and are not embedded.
	// Empty for a query on its own.
	Context []ContextText
}

// ContextText is a piece of a query's context and its weight in the lexical leg.
type ContextText struct {
	Text   string  `json:"text"`
	Weight float64 `json:"weight"` // in (0, 1]: a share of the IDF a query term gets
}

// Context budgets: at most MaxContextTexts pieces, each read within MaxContextChars
// characters, and MaxContextTerms lexemes from all of them (the most weighted first), so
// that a long conversation costs a lexical query of bounded size.
const (
	MaxContextTexts = 8
	MaxContextChars = 1000
	MaxContextTerms = 32
)

// ErrEmptyQuery is returned for a query with no text.
var ErrEmptyQuery = errors.New("the query is empty")

// QueryTooLongError is returned for a query over the input limit (Config.MaxQueryInput):
// a query over MaxQueryChars but within it is shortened, not refused.
type QueryTooLongError struct {
	Length, Limit int
}

func (e *QueryTooLongError) Error() string {
	return fmt.Sprintf("the query has %d characters, more than the limit of %d", e.Length, e.Limit)
}

// Normalize cleans a query as ingestion cleans documents, so that both meet on the same
// characters: Unicode NFKC (full-width letters, ligatures and compatibility forms become the
// plain ones users type), control and format characters removed, whitespace collapsed. Text
// between double quotes (straight or typographic) of two words or more is a phrase that
// results must contain; the phrase's words also count as ordinary terms. The text search
// configuration (stemming, stop words) is applied by the database, with the chunking's own
// configuration. A query over maxChars characters (0: no limit) is a *QueryTooLongError.
func Normalize(raw string, maxChars int) (Query, error) {
	if !utf8.ValidString(raw) {
		raw = strings.ToValidUTF8(raw, " ")
	}
	s := norm.NFKC.String(raw)
	s = strings.Map(func(r rune) rune {
		switch {
		case r == '\u201C' || r == '\u201D' || r == '\u201E' || r == '\u00AB' || r == '\u00BB':
			return '"'
		case unicode.IsSpace(r):
			return ' '
		case unicode.IsControl(r) || unicode.Is(unicode.Cf, r):
			return -1
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	if s == "" {
		return Query{}, ErrEmptyQuery
	}
	if n := utf8.RuneCountInString(s); maxChars > 0 && n > maxChars {
		return Query{}, &QueryTooLongError{Length: n, Limit: maxChars}
	}
	q := Query{Text: s}
	parts := strings.Split(s, `"`)
	for i := 1; i < len(parts); i += 2 {
		if i == len(parts)-1 {
			break // an unclosed quote is not a phrase
		}
		if p := strings.TrimSpace(parts[i]); len(strings.Fields(p)) >= 2 {
			q.Phrases = append(q.Phrases, p)
		}
	}
	q.Text = strings.Join(strings.Fields(strings.ReplaceAll(s, `"`, " ")), " ")
	return q, nil
}
