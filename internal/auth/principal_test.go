package auth_test

import (
	"bytes"
	"testing"

	"github.com/docent-rag/docent/internal/auth"
)

func TestPrincipalHash(t *testing.T) {
	t.Parallel()
	hash := func(kind, subject string, admin bool, tags ...string) []byte {
		return auth.Principal{Kind: kind, Subject: subject, Admin: admin, Principals: tags}.Hash()
	}
	base := hash(auth.KindJWT, "ann", false, "group:eng", "public", "user:ann")

	same := []struct {
		name string
		got  []byte
	}{
		{"other order", hash(auth.KindJWT, "ann", false, "user:ann", "group:eng", "public")},
		{"duplicates", hash(auth.KindJWT, "ann", false, "public", "user:ann", "group:eng", "public", "user:ann")},
		// Only the set counts: another kind of caller with the same tags sees the same chunks.
		{"other kind, subject and role", hash(auth.KindAPIKey, "ci", true, "public", "group:eng", "user:ann")},
	}
	for _, tt := range same {
		if !bytes.Equal(tt.got, base) {
			t.Errorf("%s: hash differs from the same set's", tt.name)
		}
	}

	different := []struct {
		name string
		got  []byte
	}{
		{"one tag fewer", hash(auth.KindJWT, "ann", false, "group:eng", "public")},
		{"one tag more", hash(auth.KindJWT, "ann", false, "group:eng", "group:ops", "public", "user:ann")},
		{"another tag", hash(auth.KindJWT, "ann", false, "group:eng", "public", "user:bob")},
		{"empty set", hash(auth.KindJWT, "ann", false)},
	}
	for _, tt := range different {
		if bytes.Equal(tt.got, base) {
			t.Errorf("%s: hash equals another set's", tt.name)
		}
	}

	// Tags are delimited unambiguously: no concatenation of one set equals another's.
	if bytes.Equal(hash("", "", false, "ab", "c"), hash("", "", false, "a", "bc")) {
		t.Error(`{"ab","c"} and {"a","bc"} hash alike`)
	}
	if len(base) != 32 {
		t.Errorf("hash is %d bytes, want 32 (SHA-256)", len(base))
	}
	// Hash must not reorder the caller's slice.
	p := auth.Principal{Principals: []string{"user:b", "public"}}
	p.Hash()
	if p.Principals[0] != "user:b" {
		t.Errorf("Hash modified Principals: %q", p.Principals)
	}
}

func TestCallerHashNamesOneCaller(t *testing.T) {
	t.Parallel()
	set := []string{"group:engineering", "public", "user:ana@northwind.example"}
	callers := map[string]auth.Principal{
		"key 1":         {Kind: auth.KindAPIKey, Subject: "eng", KeyID: 1, Principals: set},
		"key 2":         {Kind: auth.KindAPIKey, Subject: "eng", KeyID: 2, Principals: set},
		"jwt ana":       {Kind: auth.KindJWT, Subject: "ana@northwind.example", Principals: set},
		"jwt 1":         {Kind: auth.KindJWT, Subject: "1", Principals: set},
		"jwt api_key1":  {Kind: auth.KindJWT, Subject: "api_key1", Principals: set},
		"jwt ana admin": {Kind: auth.KindJWT, Subject: "ana@northwind.example", Principals: set, Admin: true},
	}
	seen := map[string]string{}
	for name, p := range callers {
		h := p.CallerHash()
		if len(h) != 32 {
			t.Fatalf("%s: caller hash of %d bytes", name, len(h))
		}
		if other, ok := seen[string(h)]; ok && !(name == "jwt ana admin" || other == "jwt ana admin") {
			t.Errorf("%s and %s share a caller hash", name, other)
		}
		seen[string(h)] = name
	}
	if string(callers["jwt ana"].CallerHash()) != string(callers["jwt ana admin"].CallerHash()) {
		t.Error("the same subject's hash depends on the admin flag")
	}
	for name, p := range map[string]auth.Principal{
		"anonymous":           {Kind: auth.KindAnonymous, Principals: []string{"public"}},
		"jwt without subject": {Kind: auth.KindJWT, Principals: set},
		"key without id":      {Kind: auth.KindAPIKey, Subject: "eng", Principals: set},
	} {
		if h := p.CallerHash(); h != nil {
			t.Errorf("%s: caller hash %x, want none", name, h)
		}
	}
}
