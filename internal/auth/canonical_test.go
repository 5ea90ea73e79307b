package auth_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/docent-rag/docent/internal/auth"
)

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
