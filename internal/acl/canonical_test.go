package acl_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"unicode"

	"golang.org/x/text/cases"
	"golang.org/x/text/language"
	"golang.org/x/text/unicode/norm"

	"github.com/docent-rag/docent/internal/acl"
)

// equivalents returns what Unicode would consider s equal to under each relation a system
// comparing identities "case-insensitively" or "normalised" might apply: simple folding
// partners, simple and full case mappings, full case folding, NFKC, and NFKC with case folding.
func equivalents(s string) []string {
	out := []string{strings.ToLower(s), strings.ToUpper(s), strings.ToTitle(s),
		cases.Fold().String(s), cases.Lower(language.Und).String(s), cases.Upper(language.Und).String(s),
		norm.NFKC.String(s), cases.Fold().String(norm.NFKC.String(s)), norm.NFKC.String(cases.Fold().String(s))}
	for _, r := range s {
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			out = append(out, string(f))
		}
	}
	return out
}

func hasASCIILetter(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool { return r < 0x80 && unicode.IsLetter(r) }) >= 0
}

// TestCanonicalNameOverEveryRune checks every assigned non-ASCII rune: any that some Unicode
// relation equates with something containing an ASCII letter, any upper-case letter and any
// non-NFKC form is refused; whatever is accepted is its own lower-case, NFKC form, and
// equivalent to no ASCII text.
func TestCanonicalNameOverEveryRune(t *testing.T) {
	t.Parallel()
	var refusedFolding []string
	accepted := 0
	for r := rune(0x80); r <= unicode.MaxRune; r++ {
		if !unicode.In(r, unicode.L, unicode.M, unicode.N, unicode.P, unicode.S, unicode.Z, unicode.Cc, unicode.Cf) {
			continue // unassigned, private use or a surrogate
		}
		s := string(r)
		name := "x" + s // a combining mark needs a base
		got, err := acl.CanonicalName(name)
		foldsToASCII := slices.ContainsFunc(equivalents(s), hasASCIILetter)
		switch {
		case foldsToASCII:
			if err == nil {
				t.Errorf("%U %q is equivalent to ASCII text but accepted", r, s)
			}
			refusedFolding = append(refusedFolding, fmt.Sprintf("%U", r))
		case unicode.IsUpper(r) || unicode.IsTitle(r) || unicode.ToLower(r) != r:
			if err == nil {
				t.Errorf("%U %q is upper-case but accepted", r, s)
			}
		case !norm.NFKC.IsNormalString(name):
			if err == nil {
				t.Errorf("%U %q is not NFKC but accepted", r, s)
			}
		case !unicode.In(r, unicode.L, unicode.M, unicode.N):
			if err == nil {
				t.Errorf("%U %q is not a letter, mark or digit but accepted", r, s)
			}
		default:
			if err != nil {
				t.Errorf("%U %q refused: %v", r, s, err)
				continue
			}
			accepted++
			if got != name {
				t.Errorf("%U: %q became %q", r, name, got)
			}
		}
		if err != nil && !errors.Is(err, acl.ErrNotCanonical) {
			t.Errorf("%U: error %v does not wrap ErrNotCanonical", r, err)
		}
	}
	// The well-known ones are among them, and letters of every script get through.
	for _, want := range []string{"U+00DF", "U+0130", "U+0131", "U+017F", "U+1E9E", "U+212A", "U+FB01"} {
		if !slices.Contains(refusedFolding, want) {
			t.Errorf("%s is not among the runes equivalent to ASCII: %v", want, refusedFolding)
		}
	}
	if accepted < 100000 {
		t.Errorf("only %d runes accepted: letters of other scripts must remain usable", accepted)
	}
	t.Logf("%d runes refused as equivalent to ASCII text (%v ...), %d accepted", len(refusedFolding), refusedFolding[:20], accepted)
}

func TestCanonicalName(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"ann":                      "ann",
		"Ann@Example.COM":          "ann@example.com",
		"auth0|5f7c8ec7c3":         "auth0|5f7c8ec7c3",
		"jos\u00e9":                "jos\u00e9",
		"JOS\u00e9":                "jos\u00e9",
		"\u5f20\u4f1f":             "\u5f20\u4f1f", // 张伟
		"\u0434\u0438\u043c\u0430": "\u0434\u0438\u043c\u0430",
		"Ann Smith":                "ann smith", // valid here; acl.Validate refuses the tag later
	} {
		got, err := acl.CanonicalName(in)
		if err != nil || got != want {
			t.Errorf("CanonicalName(%+q) = %+q, %v; want %+q", in, got, err, want)
		}
	}
	for _, in := range []string{"\u212Aate", "S\u0130D", "\u017Fid", "s\u0131d", "stra\u00dfe", "\uff4bate", "kate\u200b",
		"JOS\u00c9", "jose\u0301", "kat\xffe", "kat\ufffde", "\u0414\u0438\u043c\u0430", "ann\u00a0smith", "a\u2028b", "\u1e9e"} {
		if got, err := acl.CanonicalName(in); err == nil {
			t.Errorf("CanonicalName(%+q) = %+q, want an error", in, got)
		}
	}
}

// TestValidateIsCanonical: a tag's name is the one spelling of an identity, so that no
// document can be tagged for a name no identity can have (a KELVIN SIGN, a decomposed accent).
func TestValidateIsCanonical(t *testing.T) {
	t.Parallel()
	for _, tag := range []string{"public", "group:eng", "user:ann@example.com", "user:jos\u00e9", "user:\u5f20\u4f1f"} {
		if err := acl.Validate(tag); err != nil {
			t.Errorf("Validate(%q): %v", tag, err)
		}
	}
	for _, tag := range []string{"group:Eng", "user:\u017Fam", "group:\u212A8s", "user:s\u0131d", "user:jose\u0301",
		"user:JOS\u00c9", "group:a b", "Public", "everyone", "user:kate\u200b"} {
		if err := acl.Validate(tag); err == nil {
			t.Errorf("Validate(%+q) accepted it", tag)
		}
	}
}
