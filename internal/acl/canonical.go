package acl

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/language"
	"golang.org/x/text/unicode/norm"
)

// ErrNotCanonical is wrapped by the errors of CanonicalName, and of Validate for a name that
// is not canonical: the value could be mistaken for, or turned into, another identity, so it
// is refused rather than normalised.
var ErrNotCanonical = errors.New("not a canonical identity")

// CanonicalName returns the principal name (the part after "user:" or "group:") for a name
// an identity provider gave: a JWT's sub or one of its groups.
//
// Identities are compared byte for byte everywhere (here, in caches and in PostgreSQL), so
// one identity must have exactly one spelling. The only change made is ASCII lower-casing
// (A-Z to a-z): identity providers commonly treat e-mail addresses and account names as
// case-insensitive in ASCII. Anything that Unicode case mapping, case folding or
// normalisation would turn into another string is refused instead of being folded onto
// someone else's name:
//
//   - bytes that are not valid UTF-8 (JSON decoders turn them into U+FFFD, so that two
//     different names would become one), and U+FFFD itself;
//   - a string that is not in Unicode normalisation form NFKC: decomposed accents
//     ("e\u0301"), fullwidth and other compatibility forms ("ｋ", "ﬁ", "ſ", KELVIN SIGN);
//   - a non-ASCII rune that simple case folding, lower-, upper- or title-casing, or full
//     case folding and casing (SpecialCasing) relate to an ASCII letter: KELVIN SIGN, LONG S,
//     dotted and dotless i (U+0130, U+0131), sharp s (ß, ẞ), ǰ, ẖ, ẗ, ẘ, ẙ, ẚ, ŉ and the
//     Latin ligatures;
//   - a non-ASCII upper-case or title-case letter ("É" is refused, not lower-cased: only the
//     identity provider knows whether "JOSÉ" and "josé" are one person);
//   - a non-ASCII rune that is not a letter, a combining mark or a digit (spaces, format
//     characters such as ZERO WIDTH SPACE, controls, symbols, punctuation).
//
// What remains must still be a valid tag name (Validate: no ASCII space, comma or quote, at
// most 200 bytes); the caller decides what to do with one that is not. Validate applies the
// same rule to every tag, so that a document can only be tagged with names an identity can
// have.
func CanonicalName(name string) (string, error) {
	if !utf8.ValidString(name) {
		return "", fmt.Errorf("%w: not valid UTF-8", ErrNotCanonical)
	}
	lowered := asciiLower(name)
	if !norm.NFKC.IsNormalString(lowered) {
		return "", fmt.Errorf("%w: not in Unicode normalisation form NFKC (a decomposed accent, or a compatibility form such as a fullwidth letter)", ErrNotCanonical)
	}
	for _, r := range lowered {
		if r < utf8.RuneSelf {
			continue
		}
		var problem string
		switch {
		case r == utf8.RuneError:
			problem = "is the replacement character (the identity provider sent invalid text)"
		case foldsToASCII(r):
			problem = "case-maps or folds to an ASCII letter"
		case unicode.IsUpper(r) || unicode.IsTitle(r) || unicode.ToLower(r) != r:
			problem = "is an upper-case letter outside ASCII"
		case !unicode.In(r, unicode.L, unicode.M, unicode.N):
			problem = "is not a letter, mark or digit"
		}
		if problem != "" {
			return "", fmt.Errorf("%w: %U %s", ErrNotCanonical, r, problem)
		}
	}
	return lowered, nil
}

// asciiLower lower-cases A-Z and nothing else.
func asciiLower(s string) string {
	return strings.Map(func(r rune) rune {
		if 'A' <= r && r <= 'Z' {
			return r + ('a' - 'A')
		}
		return r
	}, s)
}

// foldsToASCII reports whether r, which is not ASCII, is related to an ASCII letter by case:
// in its simple case-folding orbit, by simple lower-, upper- or title-casing, or by full case
// folding, lower-casing or upper-casing (which may turn one rune into several, "ß" into "ss").
func foldsToASCII(r rune) bool {
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		if f < utf8.RuneSelf {
			return true
		}
	}
	for _, m := range []rune{unicode.ToLower(r), unicode.ToUpper(r), unicode.ToTitle(r)} {
		if m < utf8.RuneSelf {
			return true
		}
	}
	// Casers keep state between calls: one each, per call. Only non-ASCII runes get here.
	s := string(r)
	for _, c := range []cases.Caser{cases.Fold(), cases.Lower(language.Und), cases.Upper(language.Und)} {
		if hasASCIILetter(c.String(s)) {
			return true
		}
	}
	return false
}

func hasASCIILetter(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i] | 0x20; 'a' <= c && c <= 'z' {
			return true
		}
	}
	return false
}
