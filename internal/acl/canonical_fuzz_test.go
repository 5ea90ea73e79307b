package acl

import (
	"errors"
	"strings"
	"testing"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// FuzzCanonicalName: an accepted name is its own canonical form, NFKC, lower-cased in ASCII
// only, and none of its non-ASCII letters folds to ASCII.
func FuzzCanonicalName(f *testing.F) {
	for _, s := range []string{"ann", "Ann@Example.COM", "\u212Aate", "jos\u00e9", "jose\u0301", "stra\u00dfe", "\uff4b", "\u5f20\u4f1f", "a\xffb"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out, err := CanonicalName(in)
		if err != nil {
			if !errors.Is(err, ErrNotCanonical) {
				t.Fatalf("error %v does not wrap ErrNotCanonical", err)
			}
			return
		}
		if out != asciiLower(in) || strings.ContainsFunc(out, func(r rune) bool { return 'A' <= r && r <= 'Z' }) {
			t.Fatalf("%+q became %+q", in, out)
		}
		if again, err := CanonicalName(out); err != nil || again != out {
			t.Fatalf("not idempotent: %+q -> %+q -> %+q, %v", in, out, again, err)
		}
		if !norm.NFKC.IsNormalString(out) {
			t.Fatalf("%+q is not NFKC", out)
		}
		for _, r := range out {
			if r >= 0x80 && hasASCIILetter(cases.Fold().String(string(r))+strings.ToUpper(string(r))) {
				t.Fatalf("%+q keeps %U, which folds to ASCII", out, r)
			}
		}
	})
}
