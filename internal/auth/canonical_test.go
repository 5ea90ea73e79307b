package auth_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/text/cases"
	"golang.org/x/text/language"
	"golang.org/x/text/unicode/norm"

	"github.com/docent-rag/docent/internal/auth"
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
		got, err := auth.CanonicalName(name)
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
		if err != nil && !errors.Is(err, auth.ErrNotCanonical) {
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
		got, err := auth.CanonicalName(in)
		if err != nil || got != want {
			t.Errorf("CanonicalName(%+q) = %+q, %v; want %+q", in, got, err, want)
		}
	}
	for _, in := range []string{"\u212Aate", "S\u0130D", "\u017Fid", "s\u0131d", "stra\u00dfe", "\uff4bate", "kate\u200b",
		"JOS\u00c9", "jose\u0301", "kat\xffe", "kat\ufffde", "\u0414\u0438\u043c\u0430", "ann\u00a0smith", "a\u2028b", "\u1e9e"} {
		if got, err := auth.CanonicalName(in); err == nil {
			t.Errorf("CanonicalName(%+q) = %+q, want an error", in, got)
		}
	}
}

func TestCheckTag(t *testing.T) {
	t.Parallel()
	for _, tag := range []string{"public", "group:eng", "user:ann@example.com", "user:jos\u00e9"} {
		if err := auth.CheckTag(tag); err != nil {
			t.Errorf("CheckTag(%q): %v", tag, err)
		}
	}
	for _, tag := range []string{"group:Eng", "user:\u017Fam", "group:\u212A8s", "user:s\u0131d", "user:jose\u0301",
		"user:JOS\u00c9", "group:a b", "Public", "everyone", "user:kate\u200b"} {
		if err := auth.CheckTag(tag); err == nil {
			t.Errorf("CheckTag(%+q) accepted it", tag)
		}
	}
}

// signRaw signs header and claims given as JSON text with the HS256 test secret.
func signRaw(t *testing.T, header, claims string) string {
	t.Helper()
	signing := b64([]byte(header)) + "." + b64([]byte(claims))
	sig, err := jwt.SigningMethodHS256.Sign(signing, hmacKey)
	if err != nil {
		t.Fatal(err)
	}
	return signing + "." + b64(sig)
}

func TestJWTIdentitiesAreCanonical(t *testing.T) {
	t.Parallel()
	a := newAuthenticator(t, auth.Config{JWTSecret: hmacKey, Issuer: issuer, Audience: audience, AdminGroup: "k8s-admins",
		Now: newClock().Now}, nil, nil)
	hs := func(c jwt.MapClaims) string { return "Bearer " + mint(t, jwt.SigningMethodHS256, hmacKey, "", c) }
	for name, tt := range map[string]struct {
		header string
		want   []string // principals; nil when refused
		admin  bool
		reason string
		claim  string
	}{
		"ASCII capitals folded":      {hs(claims(jwt.MapClaims{"sub": "KATE", "groups": []any{"K8S-ADMINS"}})), []string{"group:k8s-admins", "public", "user:kate"}, true, "", ""},
		"KELVIN SIGN in sub":         {hs(claims(jwt.MapClaims{"sub": "\u212Aate"})), nil, false, auth.ReasonNonCanonical, "sub"},
		"KELVIN SIGN in a group":     {hs(claims(jwt.MapClaims{"groups": []any{"eng", "\u212A8S-ADMINS"}})), nil, false, auth.ReasonNonCanonical, "groups"},
		"dotted I in a group":        {hs(claims(jwt.MapClaims{"groups": "k8s-adm\u0130ns"})), nil, false, auth.ReasonNonCanonical, "groups"},
		"long s in sub":              {hs(claims(jwt.MapClaims{"sub": "\u017Fid"})), nil, false, auth.ReasonNonCanonical, "sub"},
		"non-ASCII capital in sub":   {hs(claims(jwt.MapClaims{"sub": "JOS\u00c9"})), nil, false, auth.ReasonNonCanonical, "sub"},
		"decomposed accent":          {hs(claims(jwt.MapClaims{"sub": "jose\u0301"})), nil, false, auth.ReasonNonCanonical, "sub"},
		"invalid UTF-8 in claims":    {"Bearer " + signRaw(t, `{"alg":"HS256"}`, fmt.Sprintf(`{"iss":%q,"aud":%q,"exp":%d,"sub":"kat`+"\xff"+`e"}`, issuer, audience, start.Add(time.Hour).Unix())), nil, false, auth.ReasonMalformed, ""},
		"group with a space dropped": {hs(claims(jwt.MapClaims{"groups": []any{"eng", "Domain Users"}})), []string{"group:eng", "public", "user:ann"}, false, "", ""},
	} {
		t.Run(name, func(t *testing.T) {
			p, err := a.Authenticate(context.Background(), tt.header)
			if tt.want != nil {
				if err != nil || !slices.Equal(p.Principals, tt.want) || p.Admin != tt.admin {
					t.Errorf("got %+v, %v; want %v admin %v", p, err, tt.want, tt.admin)
				}
				return
			}
			var ae *auth.Error
			if !errors.As(err, &ae) || ae.Reason != tt.reason || ae.Claim != tt.claim {
				t.Fatalf("err = %#v, want reason %s on claim %q", err, tt.reason, tt.claim)
			}
			if tt.claim != "" && !strings.Contains(err.Error(), "claim "+tt.claim) {
				t.Errorf("the message does not name the claim: %v", err)
			}
		})
	}
}

func TestDuplicateKeysAreRefused(t *testing.T) {
	t.Parallel()
	a := newAuthenticator(t, auth.Config{JWTSecret: hmacKey, Issuer: issuer, Audience: audience, Now: newClock().Now}, nil, nil)
	base := fmt.Sprintf(`"iss":%q,"aud":%q,"exp":%d`, issuer, audience, start.Add(time.Hour).Unix())
	h := `{"alg":"HS256","typ":"JWT"}`
	if _, err := a.Authenticate(context.Background(), "Bearer "+signRaw(t, h, `{`+base+`,"sub":"ann","ext":{"a":[{"a":1},{"a":2}],"b":{"a":1}}}`)); err != nil {
		t.Fatalf("the same key in different objects: %v", err)
	}
	for name, tok := range map[string]string{
		"claim":         signRaw(t, h, `{`+base+`,"sub":"eve","sub":"ann"}`),
		"escaped claim": signRaw(t, h, `{`+base+`,"sub":"eve","\u0073ub":"ann"}`),
		"nested":        signRaw(t, h, `{`+base+`,"sub":"ann","ext":{"x":{"y":1,"y":2}}}`),
		"in an array":   signRaw(t, h, `{`+base+`,"sub":"ann","ext":[1,{"y":1,"y":2}]}`),
		"after a nest":  signRaw(t, h, `{`+base+`,"ext":{"a":{}},"sub":"ann","ext":1}`),
		"header":        signRaw(t, `{"alg":"HS256","kid":"a","kid":"b"}`, `{`+base+`,"sub":"ann"}`),
	} {
		_, err := a.Authenticate(context.Background(), "Bearer "+tok)
		if reasonOf(err) != auth.ReasonDuplicateKey {
			t.Errorf("%s: err = %v, want %s", name, err, auth.ReasonDuplicateKey)
		}
	}
}
