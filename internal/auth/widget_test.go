package auth_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docent-rag/docent/internal/auth"
	"github.com/docent-rag/docent/internal/index"
)

func TestKeyOrigin(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"https://intranet.example":        "https://intranet.example",
		"HTTPS://Intranet.Example":        "https://intranet.example",
		"https://intranet.example:443":    "https://intranet.example",
		"https://intranet.example:8443":   "https://intranet.example:8443",
		"http://localhost:5173":           "http://localhost:5173",
		"http://127.0.0.1":                "http://127.0.0.1",
		"http://127.0.0.1:80":             "http://127.0.0.1",
		"http://[::1]:8080":               "http://[::1]:8080",
		"https://[2001:db8::1]":           "https://[2001:db8::1]",
		"https://xn--bcher-kva.example":   "https://xn--bcher-kva.example",
		"https://docs.intranet.example:1": "https://docs.intranet.example:1",
	} {
		got, err := auth.KeyOrigin(in)
		if err != nil || got != want {
			t.Errorf("KeyOrigin(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for in, want := range map[string]string{
		"":                                    "not an origin",
		"null":                                "not an origin",
		"intranet.example":                    "not an origin",
		"//intranet.example":                  "use https",
		"http://intranet.example":             "plain http",
		"http://localhost.evil.example":       "plain http",
		"ftp://intranet.example":              "use https",
		"javascript:alert(1)":                 "not an origin",
		"https://intranet.example/":           "no path",
		"https://intranet.example/x":          "no path",
		"https://intranet.example?":           "no path",
		"https://intranet.example#":           "no path",
		"https://intranet.example#x":          "no path",
		"https://*.intranet.example":          "wildcards",
		"https://u:p@intranet.example":        "user info",
		"https://intranet.example:":           "empty port",
		"https://intranet.example:0":          "port",
		"https://intranet.example:65536":      "port",
		"https://intranet.example:08443":      "port",
		"https://intranet.example.":           "not a name",
		"https://intra net.example":           "printable ASCII",
		"https://bücher.example":              "xn--",
		"https://intranet.example\n":          "printable ASCII",
		"https://" + strings.Repeat("a", 300): "longer than",
	} {
		if got, err := auth.KeyOrigin(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("KeyOrigin(%q) = %q, %v; want an error with %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "null", "file://", "https://intranet.example/"} {
		if o, ok := auth.RequestOrigin(in); ok {
			t.Errorf("RequestOrigin(%q) = %q, accepted", in, o)
		}
	}
}

// FuzzOrigin: a normal form is a fixed point, has no path, and is what both functions return.
func FuzzOrigin(f *testing.F) {
	for _, s := range []string{"https://intranet.example", "HTTP://LOCALHOST:80", "https://[::1]:443", "https://a.b:1/x", "null", "https://*.x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		o, err := auth.KeyOrigin(s)
		r, ok := auth.RequestOrigin(s)
		if (err == nil) != ok || o != r {
			t.Fatalf("KeyOrigin(%q) = %q, %v but RequestOrigin = %q, %v", s, o, err, r, ok)
		}
		if err != nil {
			return
		}
		again, err := auth.KeyOrigin(o)
		if err != nil || again != o {
			t.Fatalf("normal form %q of %q is not a fixed point: %q, %v", o, s, again, err)
		}
		rest, found := strings.CutPrefix(o, "https://")
		if !found {
			rest, found = strings.CutPrefix(o, "http://")
		}
		if !found || rest == "" || strings.ContainsAny(rest, "/?#*@ ") || strings.ToLower(o) != o {
			t.Fatalf("normal form %q of %q", o, s)
		}
	})
}

// issuerKeys is a KeyStore with one secret key, one widget key and one session issuer key.
type issuerKeys struct{ byHash map[string]index.APIKey }

func (k issuerKeys) APIKeyByHash(_ context.Context, hash []byte) (index.APIKey, error) {
	if key, ok := k.byHash[string(hash)]; ok {
		return key, nil
	}
	return index.APIKey{}, index.ErrNotFound
}

func (k issuerKeys) APIKeyByID(_ context.Context, id int64) (index.APIKey, error) {
	for _, key := range k.byHash {
		if key.ID == id {
			return key, nil
		}
	}
	return index.APIKey{}, index.ErrNotFound
}

func (issuerKeys) TouchAPIKeys(context.Context, []int64, time.Time) error { return nil }

var sessionSecret = []byte("the session secret of the auth tests, 32+ bytes")

func widgetSetup(t *testing.T, now func() time.Time) (a *auth.Authenticator, secretKey, widgetKey, issuerKey string, store issuerKeys) {
	t.Helper()
	store = issuerKeys{byHash: map[string]index.APIKey{}}
	add := func(id int64, key string, k index.APIKey) {
		k.ID, k.Hash, k.Name = id, auth.HashKey(key), key[:8]
		store.byHash[string(k.Hash)] = k
	}
	secretKey, _, _, _ = auth.GenerateKey()
	widgetKey, _, _, _ = auth.GenerateWidgetKey()
	issuerKey, _, _, _ = auth.GenerateKey()
	add(1, secretKey, index.APIKey{Kind: index.KindSecret, Principals: []string{"group:eng"}, Role: index.RoleAdmin})
	add(2, widgetKey, index.APIKey{Kind: index.KindWidget, Principals: []string{"public", "group:staff"}, Role: index.RoleUser,
		Origins: []string{"https://intranet.example"}})
	add(3, issuerKey, index.APIKey{Kind: index.KindSessionIssuer, Principals: []string{"group:eng", "group:hr"}, Role: index.RoleUser,
		Origins: []string{"https://intranet.example"}, UserDomain: "example.com"})
	a = newAuthenticator(t, auth.Config{SessionSecret: sessionSecret, Now: now}, store, nil)
	return a, secretKey, widgetKey, issuerKey, store
}

func TestWidgetKeyAndSessionPrincipals(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, secretKey, widgetKey, issuerKey, store := widgetSetup(t, nil)

	w, err := a.Authenticate(ctx, "Bearer "+widgetKey)
	if err != nil || w.Kind != auth.KindWidgetKey || w.Admin || !w.BrowserBound() ||
		!slices.Equal(w.Principals, []string{"group:staff", "public"}) || !slices.Equal(w.Origins, []string{"https://intranet.example"}) {
		t.Errorf("widget key: %+v, %v", w, err)
	}
	iss, err := a.Authenticate(ctx, "Bearer "+issuerKey)
	if err != nil || iss.Kind != auth.KindSessionIssuer || iss.BrowserBound() || !slices.Equal(iss.Principals, []string{"public"}) {
		t.Errorf("issuer key: %+v, %v (it must read nothing itself)", iss, err)
	}
	// A key whose prefix and kind disagree is refused: a dpk_ string stored as a secret key
	// (a mistake or a forged row) does not become a secret key, nor the other way round.
	for _, k := range store.byHash {
		if k.ID == 1 {
			k.Kind = index.KindWidget
			store.byHash[string(k.Hash)] = k
		}
	}
	if p, err := a.Authenticate(ctx, "Bearer "+secretKey); reasonOf(err) != auth.ReasonUnknownKey {
		t.Errorf("a dk_ key stored as a widget key: %+v, %v", p, err)
	}
	asSecret := "dk_" + strings.TrimPrefix(widgetKey, "dpk_")
	if p, err := a.Authenticate(ctx, "Bearer "+asSecret); err == nil {
		t.Errorf("a widget key's secret under dk_: %+v", p)
	}

	for name, p := range map[string]auth.Principal{"widget key": w, "secret key": {Kind: auth.KindAPIKey, KeyID: 1}, "no key": {}} {
		var ge *auth.GrantError
		if _, err := a.IssueSession(ctx, p, auth.SessionRequest{User: "ana@example.com"}); !errors.As(err, &ge) || !ge.Forbidden {
			t.Errorf("%s issues a session: %v", name, err)
		}
	}
	s, err := a.IssueSession(ctx, iss, auth.SessionRequest{User: "ana@example.com", Groups: []string{"hr", "eng", "hr"}})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"group:eng", "group:hr", "public", "user:ana@example.com"}
	if !slices.Equal(s.Principals, want) {
		t.Errorf("issued principals %v, want %v", s.Principals, want)
	}
	p, err := a.Authenticate(ctx, "Bearer "+s.Token)
	if err != nil || p.Kind != auth.KindSession || p.Admin || p.Subject != "ana@example.com" || p.KeyID != 3 ||
		!slices.Equal(p.Principals, want) || !slices.Equal(p.Origins, []string{"https://intranet.example"}) {
		t.Errorf("session: %+v, %v", p, err)
	}
	// Without a secret, sessions are neither issued nor accepted.
	off := newAuthenticator(t, auth.Config{}, store, nil)
	if _, err := off.Authenticate(ctx, "Bearer "+s.Token); reasonOf(err) != auth.ReasonSessionsDisabled {
		t.Errorf("a server without a session secret: %v", err)
	}
	// Another server's secret: refused.
	other := newAuthenticator(t, auth.Config{SessionSecret: []byte("another server's secret, 32+ bytes!!")}, store, nil)
	if _, err := other.Authenticate(ctx, "Bearer "+s.Token); reasonOf(err) != auth.ReasonBadSignature {
		t.Errorf("another secret: %v", err)
	}
	if err := (auth.Config{SessionSecret: []byte("short")}).Validate(); err == nil || !strings.Contains(err.Error(), "SessionSecret") {
		t.Errorf("a short session secret: %v", err)
	}
}

// FuzzSessionToken: a session token is accepted only exactly as issued; any change to it is
// refused.
func FuzzSessionToken(f *testing.F) {
	now := time.Now()
	f.Add("", 0, byte(0))
	f.Add("x", 10, byte('A'))
	f.Add("", 40, byte('.'))
	f.Fuzz(func(t *testing.T, insert string, at int, flip byte) {
		a, _, _, issuerKey, _ := widgetSetup(t, func() time.Time { return now })
		ctx := context.Background()
		iss, err := a.Authenticate(ctx, "Bearer "+issuerKey)
		if err != nil {
			t.Fatal(err)
		}
		s, err := a.IssueSession(ctx, iss, auth.SessionRequest{User: "ana@example.com", Groups: []string{"eng"}})
		if err != nil {
			t.Fatal(err)
		}
		b := []byte(s.Token)
		if at < 0 {
			at = -at
		}
		i := at % (len(b) + 1)
		changed := string(b[:i]) + insert + string(b[i:])
		if flip != 0 && i < len(b) {
			c := []byte(changed)
			c[i] ^= flip
			changed = string(c)
		}
		p, err := a.Authenticate(ctx, "Bearer "+changed)
		if strings.TrimSpace(changed) == s.Token {
			return
		}
		if err == nil {
			t.Fatalf("a changed token was accepted: %q -> %+v", changed, p)
		}
	})
}

// TestSessionSecretRotationReachesARunningServer: with a SessionSecretSource (the database's
// secret, which every server shares), a rotation is picked up within SessionSecretRefresh,
// without a restart: sessions signed with the old secret are refused from then on, and
// sessions minted by a server that has the new secret are accepted. A source that fails or
// returns a secret too short keeps the secret in use. (Before, each server read the secret
// once, at start: after a rotation, servers not yet restarted refused the sessions of
// restarted ones and kept accepting the old secret's sessions.)
func TestSessionSecretRotationReachesARunningServer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, _, _, issuerKey, store := widgetSetup(t, nil)
	var mu sync.Mutex
	stored, failing := sessionSecret, false
	source := func(context.Context) ([]byte, error) {
		mu.Lock()
		defer mu.Unlock()
		if failing {
			return nil, errors.New("database unreachable")
		}
		return stored, nil
	}
	newServer := func() *auth.Authenticator {
		first, _ := source(ctx)
		return newAuthenticator(t, auth.Config{SessionSecret: first, SessionSecretSource: source,
			SessionSecretRefresh: 20 * time.Millisecond}, store, nil)
	}
	a := newServer()
	issuer, err := a.Authenticate(ctx, "Bearer "+issuerKey)
	if err != nil {
		t.Fatal(err)
	}
	mint := func(a *auth.Authenticator) string {
		s, err := a.IssueSession(ctx, issuer, auth.SessionRequest{User: "erin@example.com"})
		if err != nil {
			t.Fatal(err)
		}
		return s.Token
	}
	old := mint(a)
	if _, err := a.Authenticate(ctx, "Bearer "+old); err != nil {
		t.Fatalf("a fresh session: %v", err)
	}

	// A failing source, or a short secret, changes nothing.
	mu.Lock()
	failing = true
	mu.Unlock()
	time.Sleep(100 * time.Millisecond)
	mu.Lock()
	failing, stored = false, []byte("short")
	mu.Unlock()
	time.Sleep(100 * time.Millisecond)
	if _, err := a.Authenticate(ctx, "Bearer "+old); err != nil {
		t.Fatalf("after a failed read and a short secret, the session is refused: %v", err)
	}

	mu.Lock()
	stored = []byte("the rotated session secret, also 32 bytes or more")
	mu.Unlock()
	b := newServer() // a server started after the rotation
	fresh := mint(b)
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, errOld := a.Authenticate(ctx, "Bearer "+old)
		_, errFresh := a.Authenticate(ctx, "Bearer "+fresh)
		var ae *auth.Error
		if errors.As(errOld, &ae) && ae.Reason == auth.ReasonBadSignature && errFresh == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("5 s after the rotation, the running server: old session %v, new session %v", errOld, errFresh)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
